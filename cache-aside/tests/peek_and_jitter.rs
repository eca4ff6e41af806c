//! `get` peeks without loading; expiries are spread by the TTL jitter (on by
//! default, negative entries included).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cache_aside::{Cache, Error};

async fn cache(
    url: &str,
    build: impl Fn(cache_aside::CacheBuilder<str, String>) -> cache_aside::CacheBuilder<str, String>,
) -> Cache<str, String> {
    let builder = Cache::<str, String>::builder(redis::Client::open(url).unwrap(), "item")
        .ttl(Duration::from_secs(100));
    build(builder).build().await.unwrap()
}

/// A loader that counts its calls and finds `value`.
fn loader(
    calls: &Arc<AtomicU64>,
    value: Option<&str>,
) -> impl FnOnce() -> std::future::Ready<Result<Option<String>, std::io::Error>> + Send + 'static {
    let (calls, value) = (calls.clone(), value.map(str::to_string));
    move || {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(value))
    }
}

#[tokio::test]
async fn get_answers_from_the_tiers_and_never_loads() {
    let server = testkit::redis().await;
    let a = cache(&server.url(), |b| b.local(100, Duration::from_secs(60))).await;
    let b = cache(&server.url(), |b| b.local(100, Duration::from_secs(60))).await;
    let calls = Arc::new(AtomicU64::new(0));

    assert_eq!(a.get("lamp").await.unwrap(), None, "cold: nothing cached");
    assert_eq!(a.stats().loads, 0);
    a.get_or_load("lamp", loader(&calls, Some("v1")))
        .await
        .unwrap();
    assert_eq!(a.get("lamp").await.unwrap().as_deref(), Some("v1"));
    assert_eq!(a.stats().hits_l1, 1, "{:?}", a.stats());
    assert_eq!(b.get("lamp").await.unwrap().as_deref(), Some("v1"));
    assert_eq!(b.stats().hits_l2, 1, "another instance reads Redis");
    assert_eq!(b.get("lamp").await.unwrap().as_deref(), Some("v1"));
    assert_eq!(b.stats().hits_l1, 1, "and keeps it locally");

    a.invalidate("lamp").await.unwrap();
    assert_eq!(a.get("lamp").await.unwrap(), None);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "only get_or_load loaded");
    assert_eq!(b.stats().loads, 0);
}

#[tokio::test]
async fn get_tells_a_cached_absence_from_nothing_only_by_not_loading() {
    let server = testkit::redis().await;
    let cache = cache(&server.url(), |b| b.negative_ttl(Duration::from_secs(60))).await;
    let calls = Arc::new(AtomicU64::new(0));
    assert_eq!(
        cache
            .get_or_load("gone", loader(&calls, None))
            .await
            .unwrap(),
        None
    );
    assert_eq!(cache.get("gone").await.unwrap(), None);
    assert_eq!(
        cache
            .get_or_load("gone", loader(&calls, None))
            .await
            .unwrap(),
        None
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the absence was cached");
}

#[tokio::test]
async fn get_reports_redis_down_instead_of_guessing() {
    let server = testkit::redis().await;
    let proxy = testkit::proxy(server.addr()).await;
    let cache = cache(&proxy.redis_url(), |b| {
        b.response_timeout(Duration::from_millis(300))
            .circuit_breaker(1, Duration::from_secs(60))
    })
    .await;
    proxy.cut();
    assert!(matches!(cache.get("lamp").await, Err(Error::Redis(_))));
    // The breaker opened: the next peek does not even try.
    assert!(matches!(
        cache.get("lamp").await,
        Err(Error::RedisUnavailable)
    ));
    assert_eq!(cache.stats().redis_skipped, 1);
}

/// The remaining lifetimes (ms) of the entries `item:{0}` … `item:{n-1}`.
async fn ttls(server: &testkit::RedisServer, n: usize) -> Vec<i64> {
    let mut conn = server.connection().await;
    let mut ttls = Vec::new();
    for i in 0..n {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(format!("item:{{{i}}}"))
            .query_async(&mut conn)
            .await
            .unwrap();
        ttls.push(ttl);
    }
    ttls
}

fn spread(ttls: &[i64]) -> (i64, i64) {
    (*ttls.iter().min().unwrap(), *ttls.iter().max().unwrap())
}

#[tokio::test]
async fn expiries_are_spread_by_ten_percent_by_default_negative_entries_too() {
    let server = testkit::redis().await;
    let cache = cache(&server.url(), |b| b.negative_ttl(Duration::from_secs(100))).await;
    let calls = Arc::new(AtomicU64::new(0));
    for i in 0..200 {
        let found = (i % 2 == 0).then_some("v");
        cache
            .get_or_load(&i.to_string(), loader(&calls, found))
            .await
            .unwrap();
    }
    let all = ttls(&server, 200).await;
    let values: Vec<i64> = all.iter().step_by(2).copied().collect();
    let absences: Vec<i64> = all.iter().skip(1).step_by(2).copied().collect();
    for (kind, ttls) in [("values", values), ("absences", absences)] {
        let (low, high) = spread(&ttls);
        assert!(
            low >= 89_000 && high <= 110_000,
            "{kind}: {low}..{high} within ±10 %"
        );
        // 100 uniform draws over 20 s: a range under 10 s has odds of 1e-28.
        assert!(high - low > 10_000, "{kind}: {low}..{high} is spread");
    }
}

#[tokio::test]
async fn no_jitter_when_turned_off() {
    let server = testkit::redis().await;
    let cache = cache(&server.url(), |b| b.ttl_jitter(0.0)).await;
    let calls = Arc::new(AtomicU64::new(0));
    for i in 0..20 {
        cache
            .get_or_load(&i.to_string(), loader(&calls, Some("v")))
            .await
            .unwrap();
    }
    let (low, high) = spread(&ttls(&server, 20).await);
    assert!(
        low > 90_000 && high <= 100_000 && high - low < 5_000,
        "{low}..{high}"
    );
}

//! Early refresh (XFetch), stale-while-revalidate, stale-if-error, negative
//! caching, and the MessagePack codec.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use cache_aside::{Cache, Codec, Error};
use tokio::time::Instant;

const PROMPTLY: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xfetch_refreshes_hot_keys_before_expiry_one_load_at_a_time() {
    let server = testkit::redis().await;
    let ttl = Duration::from_millis(600);
    let cache = Cache::<str, u64>::builder(server.client(), "hot")
        .ttl(ttl)
        .build()
        .await
        .unwrap();
    let loads = Arc::new(AtomicU64::new(0));
    let loading = Arc::new(AtomicBool::new(false));
    let overlapped = Arc::new(AtomicBool::new(false));
    // (start, end) of every load, to compare with the expiry of the previous one.
    let spans = Arc::new(std::sync::Mutex::new(Vec::<(Instant, Instant)>::new()));
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        let (loads, loading, overlapped, spans) = (
            loads.clone(),
            loading.clone(),
            overlapped.clone(),
            spans.clone(),
        );
        cache
            .get_or_load("k", move || async move {
                if loading.swap(true, Ordering::SeqCst) {
                    overlapped.store(true, Ordering::SeqCst);
                }
                let started = Instant::now();
                tokio::time::sleep(Duration::from_millis(50)).await;
                let n = loads.fetch_add(1, Ordering::SeqCst);
                spans.lock().unwrap().push((started, Instant::now()));
                loading.store(false, Ordering::SeqCst);
                Ok::<_, std::io::Error>(Some(n))
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stats = cache.stats();
    assert!(
        !overlapped.load(Ordering::SeqCst),
        "never two loads at once"
    );
    assert!(stats.refreshes >= 1, "{stats:?}");
    let spans = spans.lock().unwrap().clone();
    assert!(
        spans.len() >= 3,
        "a 600 ms TTL over 2 s needs refreshes: {spans:?}"
    );
    for pair in spans.windows(2) {
        let expiry_of_previous = pair[0].1 + ttl;
        assert!(
            pair[1].0 < expiry_of_previous,
            "each refresh starts before the value it replaces expires"
        );
    }
    // A read that lands after expiry but before a refresh finishes waits for
    // that refresh instead of loading: every load is the first or a refresh.
    assert_eq!(
        stats.loads,
        stats.refreshes + 1,
        "no load beyond the refreshes: {stats:?}"
    );
}

#[tokio::test]
async fn stale_while_revalidate_serves_the_old_value_and_refreshes_once() {
    let server = testkit::redis().await;
    let cache = Cache::<str, u64>::builder(server.client(), "swr")
        .ttl(Duration::from_millis(200))
        .stale_while_revalidate(Duration::from_secs(10))
        .early_refresh_beta(0.0)
        .build()
        .await
        .unwrap();
    let version = Arc::new(AtomicU64::new(1));
    let loads = Arc::new(AtomicUsize::new(0));
    let loader = || {
        let (version, loads) = (version.clone(), loads.clone());
        move || async move {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok::<_, std::io::Error>(Some(version.load(Ordering::SeqCst)))
        }
    };
    assert_eq!(cache.get_or_load("k", loader()).await.unwrap(), Some(1));
    version.store(2, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(250)).await; // let the value go stale

    assert_eq!(
        cache.get_or_load("k", loader()).await.unwrap(),
        Some(1),
        "stale, served at once"
    );
    assert_eq!(
        cache.get_or_load("k", loader()).await.unwrap(),
        Some(1),
        "still stale, no second refresh"
    );
    testkit::wait::until(PROMPTLY, "the background refresh to land", || async {
        cache.get_or_load("k", loader()).await.unwrap() == Some(2)
    })
    .await;
    assert_eq!(
        loads.load(Ordering::SeqCst),
        2,
        "one initial load, one refresh"
    );
    assert!(cache.stats().stale_served >= 2);
}

#[tokio::test]
async fn stale_if_error_serves_the_last_value_when_the_loader_fails() {
    let server = testkit::redis().await;
    let build = |window: Duration| {
        Cache::<str, u64>::builder(server.client(), "sie")
            .ttl(Duration::from_millis(150))
            .stale_if_error(window)
            .early_refresh_beta(0.0)
            .build()
    };
    let tolerant = build(Duration::from_secs(10)).await.unwrap();
    tolerant
        .get_or_load("k", || async { Ok::<_, std::io::Error>(Some(1)) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await; // expired, still within the window
    let failing = || async { Err::<Option<u64>, _>(std::io::Error::other("database down")) };
    assert_eq!(tolerant.get_or_load("k", failing).await.unwrap(), Some(1));
    let stats = tolerant.stats();
    assert_eq!((stats.stale_served, stats.load_errors), (1, 1));

    let strict = build(Duration::ZERO).await.unwrap();
    strict
        .get_or_load("j", || async { Ok::<_, std::io::Error>(Some(1)) })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let outcome = strict.get_or_load("j", failing).await;
    assert!(matches!(outcome, Err(Error::Loader(_))), "{outcome:?}");
}

#[tokio::test]
async fn none_is_cached_only_with_a_negative_ttl() {
    let server = testkit::redis().await;
    for (negative_ttl, expected_loads) in [(Some(Duration::from_secs(30)), 1), (None, 2)] {
        let mut builder =
            Cache::<str, String>::builder(server.client(), "neg").ttl(Duration::from_secs(30));
        if let Some(ttl) = negative_ttl {
            builder = builder.negative_ttl(ttl);
        }
        let cache = builder.build().await.unwrap();
        let loads = Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let loads = loads.clone();
            let found = cache
                .get_or_load(&format!("missing-{expected_loads}"), move || async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, std::io::Error>(None)
                })
                .await
                .unwrap();
            assert_eq!(found, None);
        }
        assert_eq!(
            loads.load(Ordering::SeqCst),
            expected_loads,
            "negative_ttl = {negative_ttl:?}"
        );
    }
}

#[tokio::test]
async fn messagepack_values_round_trip_through_redis() {
    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Item {
        id: u64,
        name: String,
        tags: Vec<String>,
    }
    let server = testkit::redis().await;
    let cache = Cache::<u64, Item>::builder(server.client(), "mp")
        .codec(Codec::MessagePack)
        .build()
        .await
        .unwrap();
    let item = Item {
        id: 1,
        name: "lamp".into(),
        tags: vec!["home".into()],
    };
    cache.put(&1, &item).await.unwrap();
    let read = cache
        .get_or_load(&1, || async { Ok::<_, std::io::Error>(None) })
        .await
        .unwrap();
    assert_eq!(read, Some(item));
    assert_eq!(cache.stats().hits_l2, 1);
}

//! Batch reads: each key from the local tier, then one `MGET` for the rest,
//! then a load for each key still missing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cache_aside::Cache;

async fn cache(url: &str) -> Cache<str, String> {
    Cache::<str, String>::builder(redis::Client::open(url).unwrap(), "item")
        .ttl(Duration::from_secs(60))
        .local(100, Duration::from_secs(60))
        .negative_ttl(Duration::from_secs(60))
        .build()
        .await
        .unwrap()
}

/// Calls of `command` Redis has served (`INFO commandstats`).
async fn calls_of(server: &testkit::RedisServer, command: &str) -> u64 {
    let mut conn = server.connection().await;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().unwrap())
}

/// A loader that counts its calls and finds every key but `"gone"`.
fn loader(
    calls: &Arc<AtomicU64>,
) -> impl Fn(&str) -> std::future::Ready<Result<Option<String>, std::io::Error>> + '_ {
    move |key: &str| {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok((key != "gone").then(|| format!("value of {key}"))))
    }
}

#[tokio::test]
async fn a_batch_takes_local_hits_one_mget_and_loads_only_what_is_missing() {
    let server = testkit::redis().await;
    let (a, b) = (cache(&server.url()).await, cache(&server.url()).await);
    let calls = Arc::new(AtomicU64::new(0));
    a.get_or_load_many(&["1", "2", "gone"], loader(&calls))
        .await
        .unwrap();
    b.get_or_load_many(&["3"], loader(&calls)).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 4);

    let mgets = calls_of(&server, "mget").await;
    let values = b
        .get_or_load_many(&["1", "2", "3", "4", "gone"], loader(&calls))
        .await
        .unwrap();
    assert_eq!(
        values,
        vec![
            Some("value of 1".to_string()),
            Some("value of 2".to_string()),
            Some("value of 3".to_string()),
            Some("value of 4".to_string()),
            None,
        ],
        "in the order asked; a cached absence stays absent"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 5, "only \"4\" was loaded");
    assert_eq!(
        calls_of(&server, "mget").await,
        mgets + 1,
        "one MGET for the batch"
    );
    let stats = b.stats();
    assert_eq!((stats.hits_l1, stats.hits_l2), (1, 3), "{stats:?}");

    // get_many never loads.
    assert_eq!(
        b.get_many(&["4", "5"]).await.unwrap(),
        vec![Some("value of 4".to_string()), None]
    );
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn with_redis_down_a_batch_still_loads_every_key() {
    let server = testkit::redis().await;
    let proxy = testkit::proxy(server.addr()).await;
    let cache =
        Cache::<str, String>::builder(redis::Client::open(proxy.redis_url()).unwrap(), "item")
            .response_timeout(Duration::from_millis(300))
            .build()
            .await
            .unwrap();
    proxy.cut();
    let calls = Arc::new(AtomicU64::new(0));
    let values = cache
        .get_or_load_many(&["1", "2"], loader(&calls))
        .await
        .unwrap();
    assert_eq!(
        values,
        vec![
            Some("value of 1".to_string()),
            Some("value of 2".to_string())
        ]
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "fail-open: loaded from the source"
    );
    assert!(
        cache.get_many(&["1"]).await.is_err(),
        "a peek has nothing to fall back on"
    );
}

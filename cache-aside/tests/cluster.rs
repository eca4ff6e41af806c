//! The cache on a local three-master Redis Cluster: keys spread over every
//! master (an entry and its fill lease share a hash tag), a stampede on
//! cold keys still loads each once across two instances, a stale fill is
//! still rejected, a write-through still wins, and an invalidation published
//! on whichever master owns a key reaches another instance's local tier.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cache_aside::Cache;
use support::Database;

const PROMPTLY: Duration = Duration::from_secs(10);

/// Twelve keys: their slots fall on all three masters.
const KEYS: [&str; 12] = [
    "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12",
];

async fn cache<V>(cluster: &testkit::RedisCluster, local: bool) -> Cache<str, V>
where
    V: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
{
    let mut builder =
        Cache::<str, V>::cluster_builder(cluster.urls(), "item").ttl(Duration::from_secs(60));
    if local {
        builder = builder.local(1_000, Duration::from_secs(60));
    }
    builder.build().await.unwrap()
}

/// Which master holds each of `KEYS`' entries, by asking each one.
async fn masters_holding(cluster: &testkit::RedisCluster) -> HashSet<usize> {
    let mut holding = HashSet::new();
    for (index, node) in cluster.nodes().iter().enumerate() {
        let mut conn = node.connection().await;
        let found: Vec<String> = redis::cmd("KEYS")
            .arg("item:*")
            .query_async(&mut conn)
            .await
            .unwrap();
        if !found.is_empty() {
            holding.insert(index);
        }
    }
    holding
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stampede_on_cold_keys_over_every_master_loads_each_once_across_two_instances() {
    let cluster = testkit::redis_cluster().await;
    let (a, b) = (
        cache::<String>(&cluster, true).await,
        cache(&cluster, true).await,
    );
    let calls = Arc::new(AtomicU64::new(0));
    let mut callers = Vec::new();
    for key in KEYS {
        for n in 0..80 {
            let cache = if n % 2 == 0 { a.clone() } else { b.clone() };
            let calls = calls.clone();
            callers.push(tokio::spawn(async move {
                cache
                    .get_or_load(key, move || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        Ok::<_, std::io::Error>(Some(format!("value {key}")))
                    })
                    .await
                    .unwrap()
            }));
        }
    }
    for (index, caller) in callers.into_iter().enumerate() {
        let key = KEYS[index / 80];
        assert_eq!(caller.await.unwrap(), Some(format!("value {key}")));
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        KEYS.len() as u64,
        "one load per key for both instances"
    );
    assert_eq!(
        masters_holding(&cluster).await.len(),
        3,
        "the entries spread over the three masters"
    );
}

#[tokio::test]
async fn an_invalidation_during_a_load_rejects_the_stale_fill_on_a_cluster() {
    let cluster = testkit::redis_cluster().await;
    let cache = cache::<u64>(&cluster, true).await;
    for key in KEYS {
        let db = Database::default();
        db.version.store(1, Ordering::SeqCst);
        let slow = tokio::spawn({
            let (cache, loader) = (cache.clone(), db.loader(Duration::from_millis(300)));
            async move { cache.get_or_load(key, loader).await.unwrap() }
        });
        testkit::wait::until(PROMPTLY, "the slow load to read v1", || async {
            db.reads.load(Ordering::SeqCst) == 1
        })
        .await;
        db.version.store(2, Ordering::SeqCst);
        cache.invalidate(key).await.unwrap();
        assert_eq!(slow.await.unwrap(), Some(1));
        let now = cache
            .get_or_load(key, db.loader(Duration::ZERO))
            .await
            .unwrap();
        assert_eq!(now, Some(2), "key {key}: the cache never ends with v1");
    }
    assert_eq!(cache.stats().fills_rejected, KEYS.len() as u64);
}

#[tokio::test]
async fn a_write_through_and_an_invalidation_reach_the_other_instance_from_every_master() {
    let cluster = testkit::redis_cluster().await;
    let (a, b) = (
        cache::<u64>(&cluster, true).await,
        cache(&cluster, true).await,
    );
    let db = Database::default();
    db.version.store(1, Ordering::SeqCst);
    for key in KEYS {
        assert_eq!(
            b.get_or_load(key, db.loader(Duration::ZERO)).await.unwrap(),
            Some(1)
        );
        assert_eq!(
            b.get_or_load(key, db.loader(Duration::ZERO)).await.unwrap(),
            Some(1)
        );
    }
    assert_eq!(
        b.stats().hits_l1,
        KEYS.len() as u64,
        "B serves them locally"
    );

    db.version.store(2, Ordering::SeqCst);
    for key in KEYS {
        a.invalidate(key).await.unwrap();
    }
    for key in KEYS {
        testkit::wait::until(PROMPTLY, "B to read the fresh value", || async {
            b.get_or_load(key, db.loader(Duration::ZERO)).await.unwrap() == Some(2)
        })
        .await;
    }
    for key in KEYS {
        a.put(key, &99).await.unwrap();
    }
    for key in KEYS {
        testkit::wait::until(PROMPTLY, "B to read the written value", || async {
            b.get_or_load(key, db.loader(Duration::ZERO)).await.unwrap() == Some(99)
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_reads_span_every_master_and_load_only_the_misses() {
    let cluster = testkit::redis_cluster().await;
    let (a, b) = (
        cache::<String>(&cluster, false).await,
        cache::<String>(&cluster, false).await,
    );
    let calls = Arc::new(AtomicU64::new(0));
    let loader = |key: &str| {
        let (calls, key) = (calls.clone(), key.to_string());
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(Some(format!("value of {key}")))
        }
    };
    let first_half: Vec<&str> = KEYS[..6].to_vec();
    a.get_or_load_many(&first_half, loader).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 6);

    let every: Vec<&str> = KEYS.to_vec();
    let values = b.get_or_load_many(&every, loader).await.unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        12,
        "only the six misses loaded"
    );
    let expected: Vec<Option<String>> = KEYS
        .iter()
        .map(|key| Some(format!("value of {key}")))
        .collect();
    assert_eq!(values, expected, "in the order asked");
    assert_eq!(b.stats().hits_l2, 6, "the other six from Redis");
    assert_eq!(masters_holding(&cluster).await.len(), 3);
    assert_eq!(b.get_many(&every).await.unwrap(), expected);
}

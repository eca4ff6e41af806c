//! Stale fills are rejected; write-through; local tiers follow invalidations,
//! and are flushed when their subscription reconnects.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use cache_aside::Cache;
use support::Database;

const PROMPTLY: Duration = Duration::from_secs(10);

async fn cache(url: &str, local: bool) -> Cache<str, u64> {
    let mut builder = Cache::<str, u64>::builder(redis::Client::open(url).unwrap(), "item")
        .ttl(Duration::from_secs(60));
    if local {
        builder = builder.local(100, Duration::from_secs(60));
    }
    builder.build().await.unwrap()
}

#[tokio::test]
async fn an_invalidation_during_a_load_rejects_the_stale_fill() {
    let server = testkit::redis().await;
    let cache = cache(&server.url(), true).await;
    let db = Database::default();
    db.version.store(1, Ordering::SeqCst);

    let slow = tokio::spawn({
        let (cache, loader) = (cache.clone(), db.loader(Duration::from_millis(500)));
        async move { cache.get_or_load("7", loader).await.unwrap() }
    });
    testkit::wait::until(PROMPTLY, "the slow load to read v1", || async {
        db.reads.load(Ordering::SeqCst) == 1
    })
    .await;
    db.version.store(2, Ordering::SeqCst); // the write commits...
    cache.invalidate("7").await.unwrap(); // ...then the cache is told

    assert_eq!(
        slow.await.unwrap(),
        Some(1),
        "the slow caller gets what it read"
    );
    assert_eq!(cache.stats().fills_rejected, 1);
    let now = cache
        .get_or_load("7", db.loader(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(now, Some(2), "the cache never ends with v1");
    let mut conn = server.connection().await;
    let raw: String = redis::cmd("GET")
        .arg("item:{7}")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(raw.contains("\"v\":2"), "{raw}");
}

#[tokio::test]
async fn put_writes_through_and_revokes_older_loads() {
    let server = testkit::redis().await;
    let cache = cache(&server.url(), true).await;
    let db = Database::default();
    let slow = tokio::spawn({
        let (cache, loader) = (cache.clone(), db.loader(Duration::from_millis(400)));
        async move { cache.get_or_load("9", loader).await.unwrap() }
    });
    testkit::wait::until(PROMPTLY, "the load to start", || async {
        db.reads.load(Ordering::SeqCst) == 1
    })
    .await;
    cache.put("9", &99).await.unwrap();
    slow.await.unwrap();
    let reads = db.reads.load(Ordering::SeqCst);
    assert_eq!(
        cache
            .get_or_load("9", db.loader(Duration::ZERO))
            .await
            .unwrap(),
        Some(99)
    );
    assert_eq!(
        db.reads.load(Ordering::SeqCst),
        reads,
        "served from the cache, no load"
    );
}

#[tokio::test]
async fn an_invalidation_on_one_instance_reaches_the_others_local_tier() {
    let server = testkit::redis().await;
    let a = cache(&server.url(), true).await;
    let b = cache(&server.url(), true).await;
    let db = Database::default();
    db.version.store(1, Ordering::SeqCst);
    assert_eq!(
        b.get_or_load("5", db.loader(Duration::ZERO)).await.unwrap(),
        Some(1)
    );
    assert_eq!(
        b.get_or_load("5", db.loader(Duration::ZERO)).await.unwrap(),
        Some(1)
    );
    assert_eq!(b.stats().hits_l1, 1, "B serves 5 from its local tier");

    db.version.store(2, Ordering::SeqCst);
    a.invalidate("5").await.unwrap();
    testkit::wait::until(PROMPTLY, "B to read the fresh value", || async {
        b.get_or_load("5", db.loader(Duration::ZERO)).await.unwrap() == Some(2)
    })
    .await;
}

#[tokio::test]
async fn a_reconnected_subscription_flushes_the_local_tier() {
    let server = testkit::redis().await;
    let proxy = testkit::proxy(server.addr()).await;
    let a = cache(&server.url(), true).await;
    let b = cache(&proxy.redis_url(), true).await; // B reaches Redis through the proxy
    let db = Database::default();
    db.version.store(1, Ordering::SeqCst);
    assert_eq!(
        b.get_or_load("3", db.loader(Duration::ZERO)).await.unwrap(),
        Some(1)
    );

    proxy.cut(); // B's subscription drops...
    a.put("3", &2).await.unwrap(); // ...and misses this invalidation
    proxy.restore();
    testkit::wait::until(PROMPTLY, "B to resubscribe and flush", || async {
        b.stats().l1_flushes >= 1
    })
    .await;
    testkit::wait::until(PROMPTLY, "B to read the fresh value", || async {
        b.get_or_load("3", db.loader(Duration::ZERO))
            .await
            .ok()
            .flatten()
            == Some(2)
    })
    .await;
}

#[tokio::test]
async fn callers_after_an_invalidation_do_not_join_a_load_that_started_before_it() {
    let server = testkit::redis().await;
    let cache = cache(&server.url(), true).await;
    let db = Database::default();
    db.version.store(1, Ordering::SeqCst);
    let early = tokio::spawn({
        let (cache, loader) = (cache.clone(), db.loader(Duration::from_millis(500)));
        async move { cache.get_or_load("11", loader).await.unwrap() }
    });
    testkit::wait::until(PROMPTLY, "the early load to read v1", || async {
        db.reads.load(Ordering::SeqCst) == 1
    })
    .await;
    db.version.store(2, Ordering::SeqCst);
    cache.invalidate("11").await.unwrap();
    // Arrives while the early load still runs: must not get its v1.
    let late = cache
        .get_or_load("11", db.loader(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(late, Some(2));
    assert_eq!(early.await.unwrap(), Some(1));
}

#[tokio::test]
async fn a_silently_dead_subscription_is_noticed_by_its_keepalive() {
    let server = testkit::redis().await;
    let proxy = testkit::proxy(server.addr()).await;
    let a = cache(&server.url(), true).await;
    let b = Cache::<str, u64>::builder(redis::Client::open(proxy.redis_url()).unwrap(), "item")
        .local(100, Duration::from_secs(60))
        .keepalive(Duration::from_millis(200))
        .build()
        .await
        .unwrap();
    let db = Database::default();
    db.version.store(1, Ordering::SeqCst);
    assert_eq!(
        b.get_or_load("4", db.loader(Duration::ZERO)).await.unwrap(),
        Some(1)
    );

    proxy.discard(); // B's connections stay open; what is sent is lost
    a.put("4", &2).await.unwrap(); // B never receives this invalidation
    // Stay silent for longer than one keepalive round (interval + ping
    // timeout), so a ping goes unanswered: the time passing is the point.
    tokio::time::sleep(Duration::from_millis(700)).await;
    proxy.restore();
    testkit::wait::until(
        PROMPTLY,
        "B to reconnect and flush its local tier",
        || async { b.stats().l1_flushes >= 1 },
    )
    .await;
    testkit::wait::until(PROMPTLY, "B to read the fresh value", || async {
        b.get_or_load("4", db.loader(Duration::ZERO))
            .await
            .ok()
            .flatten()
            == Some(2)
    })
    .await;
}

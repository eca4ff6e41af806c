//! The lease: kept alive by the watchdog while held, lost visibly otherwise.

use std::time::Duration;

use redis::AsyncCommands;
use redlock::{Error, LockManager};

mod common;
use common::{PROMPTLY, manager};

#[tokio::test]
async fn the_watchdog_keeps_the_lock_for_three_leases_and_stops_after_unlock() {
    let server = testkit::redis().await;
    let lease = Duration::from_millis(300);
    let holder = manager(&server, lease).await;
    let rival = manager(&server, lease).await;

    let guard = holder.lock("job").await.unwrap();
    let held_until = tokio::time::Instant::now() + lease * 3;
    while tokio::time::Instant::now() < held_until {
        let attempt = rival
            .try_lock("job", Duration::from_millis(50))
            .await
            .unwrap();
        assert!(
            attempt.is_none(),
            "the lock must stay held while its guard lives"
        );
    }
    assert!(!guard.is_lost());
    assert!(holder.stats().renewals >= 6, "{:?}", holder.stats());
    guard.unlock().await.unwrap();

    let renewals = holder.stats().renewals;
    tokio::time::sleep(lease * 2).await; // two leases' worth of renewal chances
    assert_eq!(holder.stats().renewals, renewals, "no renewal after unlock");
    let mut conn = server.connection().await;
    let keys: Vec<String> = conn.keys("redlock:{job}:lock").await.unwrap();
    assert!(keys.is_empty(), "the lock key is gone");
    assert!(
        rival
            .try_lock("job", Duration::ZERO)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_dropped_guard_is_released_in_the_background() {
    let server = testkit::redis().await;
    // A long lease: only an actual release frees the lock in time.
    let holder = manager(&server, Duration::from_secs(30)).await;
    let rival = manager(&server, Duration::from_secs(30)).await;
    let guard = holder.lock("report").await.unwrap();
    drop(guard);
    let next = rival.try_lock("report", PROMPTLY).await.unwrap();
    assert!(next.is_some(), "the dropped guard's lock was released");
    assert_eq!(holder.stats().dropped_releases, 1);
}

#[tokio::test]
async fn max_hold_stops_renewal_and_reports_the_loss() {
    let server = testkit::redis().await;
    let locks = LockManager::builder(server.client())
        .lease(Duration::from_millis(200))
        .max_hold(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let guard = locks.lock("stuck").await.unwrap();
    tokio::time::timeout(PROMPTLY, guard.lost())
        .await
        .expect("lost fires after max_hold + lease");
    assert!(matches!(guard.unlock().await, Err(Error::NotOwner)));
    assert_eq!(locks.stats().lost_leases, 1);
}

#[tokio::test]
async fn with_lock_abandons_the_critical_section_when_the_lease_is_lost() {
    let server = testkit::redis().await;
    let locks = LockManager::builder(server.client())
        .lease(Duration::from_millis(200))
        .max_hold(Duration::from_millis(200))
        .build()
        .await
        .unwrap();
    let outcome = tokio::time::timeout(
        PROMPTLY,
        locks.with_lock("endless", |_held| async {
            std::future::pending::<()>().await
        }),
    )
    .await
    .expect("with_lock returns once the lease is lost");
    assert!(matches!(outcome, Err(Error::LeaseLost)), "{outcome:?}");

    let fine = locks
        .with_lock("endless", |held| async move { held.fencing_token() })
        .await
        .unwrap();
    assert_eq!(fine, 2, "the next acquisition gets the next token");
}

#[tokio::test]
async fn a_redis_restart_while_held_fires_lost() {
    let mut server = testkit::redis().await;
    let locks = manager(&server, Duration::from_millis(600)).await;
    let guard = locks.lock("nightly").await.unwrap();
    server.restart().await; // lock state is gone with the data
    tokio::time::timeout(PROMPTLY, guard.lost())
        .await
        .expect("lost fires after the restart");
    assert!(matches!(guard.unlock().await, Err(Error::NotOwner)));
}

#[tokio::test]
async fn acquiring_while_redis_is_down_is_a_clear_error() {
    let mut server = testkit::redis().await;
    let locks = LockManager::builder(server.client())
        .lease(Duration::from_secs(1))
        .response_timeout(Duration::from_millis(500))
        .build()
        .await
        .unwrap();
    server.kill().await;
    let outcome = tokio::time::timeout(PROMPTLY, locks.lock("orders"))
        .await
        .expect("fails, does not hang");
    match outcome {
        Err(Error::Redis(_) | Error::Timeout) => {}
        other => panic!("expected a Redis error, got {other:?}"),
    }
    server.restart().await;
    let guard = tokio::time::timeout(PROMPTLY, async {
        loop {
            if let Ok(guard) = locks.lock("orders").await {
                return guard;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("works again once Redis is back");
    guard.unlock().await.unwrap();
}

#[tokio::test]
async fn fencing_tokens_increase_across_holders_and_waiters_wake_on_release() {
    let server = testkit::redis().await;
    let a = manager(&server, Duration::from_secs(30)).await;
    let b = manager(&server, Duration::from_secs(30)).await;
    let first = a.lock("stock:1").await.unwrap();
    let waiter = tokio::spawn({
        let b = b.clone();
        async move {
            let guard = b.lock("stock:1").await.unwrap();
            let token = guard.fencing_token();
            guard.unlock().await.unwrap();
            token
        }
    });
    let t1 = first.fencing_token();
    // Asleep: it found the lock held, subscribed, and waits for a release.
    testkit::wait::until(PROMPTLY, "the waiter to fall asleep", || async {
        b.stats().waiting == 1
    })
    .await;
    first.unlock().await.unwrap();
    // Woken by the release: far sooner than the 30 s lease.
    let t2 = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap();
    assert!(t2 > t1, "{t2} > {t1}");
    let stats = b.stats();
    assert_eq!(
        (stats.waits, stats.wakeups, stats.waiting),
        (1, 1, 0),
        "{stats:?}"
    );
}

#[tokio::test]
async fn a_kept_guard_whose_lease_was_lost_does_not_block_local_waiters() {
    let server = testkit::redis().await;
    let locks = LockManager::builder(server.client())
        .lease(Duration::from_millis(200))
        .max_hold(Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    let stuck = locks.lock("report").await.unwrap();
    tokio::time::timeout(PROMPTLY, stuck.lost()).await.unwrap();
    // The guard is still alive, but the lock is free in Redis.
    let next = locks.try_lock("report", PROMPTLY).await.unwrap();
    assert!(next.is_some(), "the same process can take the lock again");
    drop(stuck);
}

#[tokio::test]
async fn a_silently_dead_wakeup_connection_is_noticed_by_its_keepalive() {
    let server = testkit::redis().await;
    let proxy = testkit::proxy(server.addr()).await;
    let holder = manager(&server, Duration::from_secs(30)).await;
    // Only the waiter's wake-up (pub/sub) connection goes through the proxy;
    // its commands use a direct connection. A long lease means only a
    // wake-up, not the lease-bounded sleep, can get it the lock in time.
    let direct = server.client().get_connection_manager().await.unwrap();
    let waiter = LockManager::builder(redis::Client::open(proxy.redis_url()).unwrap())
        .connection(direct)
        .lease(Duration::from_secs(30))
        .keepalive(Duration::from_millis(200))
        .build()
        .await
        .unwrap();
    let guard = holder.lock("report").await.unwrap();
    let waiting = tokio::spawn(async move { waiter.lock("report").await?.unlock().await });
    let conn = server.connection().await;
    testkit::wait::until(PROMPTLY, "the waiter to subscribe", || async {
        let mut conn = conn.clone();
        let subscribers: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("redlock:{report}:released")
            .query_async(&mut conn)
            .await
            .unwrap();
        subscribers[0].1 == 1
    })
    .await;

    proxy.discard(); // the waiter's connections stay open; the release is lost
    guard.unlock().await.unwrap();
    // Silent for longer than one keepalive round: the time passing is the point.
    tokio::time::sleep(Duration::from_millis(700)).await;
    proxy.restore();
    tokio::time::timeout(PROMPTLY, waiting)
        .await
        .expect("the waiter reconnects, looks again and acquires long before the 30 s lease")
        .unwrap()
        .unwrap();
}

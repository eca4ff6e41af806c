//! Looking at a lock from outside, and the operator's tools: `is_locked`,
//! `valid_for`, `force_unlock`, and `try_with_lock`'s wait limit.

use std::time::Duration;

use redlock::{Error, LockManager};

mod common;
use common::{PROMPTLY, manager};

#[tokio::test]
async fn is_locked_follows_the_holder_in_any_process() {
    let server = testkit::redis().await;
    let a = manager(&server, Duration::from_secs(30)).await;
    let b = manager(&server, Duration::from_secs(30)).await;
    assert!(!b.is_locked("report").await.unwrap());
    let guard = a.lock("report").await.unwrap();
    assert!(
        b.is_locked("report").await.unwrap(),
        "seen from another manager"
    );
    assert!(!b.is_locked("other").await.unwrap());
    guard.unlock().await.unwrap();
    assert!(!b.is_locked("report").await.unwrap());
}

#[tokio::test]
async fn valid_for_is_the_lease_the_watchdog_keeps_extending() {
    let server = testkit::redis().await;
    let lease = Duration::from_millis(600);
    let locks = LockManager::builder(server.client())
        .lease(lease)
        .max_hold(Duration::from_millis(900))
        .build()
        .await
        .unwrap();
    let guard = locks.lock("job").await.unwrap();
    let at_start = guard.valid_for();
    assert!(
        at_start > Duration::ZERO && at_start <= lease,
        "{at_start:?}"
    );
    // After a renewal the lock is ours for longer than the first lease gave.
    testkit::wait::until(PROMPTLY, "a renewal", || async {
        locks.stats().renewals >= 1
    })
    .await;
    let renewed = locks.stats();
    assert!(guard.valid_for() > Duration::ZERO, "{renewed:?}");
    // max_hold stops the renewals: the lease runs out, and nothing is left.
    tokio::time::timeout(PROMPTLY, guard.lost()).await.unwrap();
    assert_eq!(guard.valid_for(), Duration::ZERO);
}

#[tokio::test]
async fn force_unlock_frees_the_lock_and_wakes_its_waiters() {
    let server = testkit::redis().await;
    // A long lease: the waiter sleeps until woken, never by its timer here.
    let lease = Duration::from_secs(30);
    let holder = manager(&server, lease).await;
    let waiter = manager(&server, lease).await;
    let operator = manager(&server, lease).await;
    let guard = holder.lock("payout").await.unwrap();
    let waiting = tokio::spawn({
        let waiter = waiter.clone();
        async move { waiter.lock("payout").await.unwrap() }
    });
    testkit::wait::until(PROMPTLY, "the waiter to fall asleep", || async {
        waiter.stats().waiting == 1
    })
    .await;

    assert!(
        operator.force_unlock("payout").await.unwrap(),
        "it was held"
    );
    let next = tokio::time::timeout(PROMPTLY, waiting)
        .await
        .expect("the waiter is woken by the forced release")
        .unwrap();
    assert!(next.fencing_token() > guard.fencing_token());
    assert_eq!(waiter.stats().wakeups, 1);
    // The former holder's release finds another owner.
    assert!(matches!(guard.unlock().await, Err(Error::NotOwner)));
    next.unlock().await.unwrap();
    assert!(
        !operator.force_unlock("free").await.unwrap(),
        "a free lock was not held"
    );
}

#[tokio::test]
async fn a_holder_learns_of_a_forced_release_at_its_next_renewal() {
    let server = testkit::redis().await;
    let holder = manager(&server, Duration::from_millis(600)).await;
    let operator = manager(&server, Duration::from_millis(600)).await;
    let guard = holder.lock("payout").await.unwrap();
    assert!(operator.force_unlock("payout").await.unwrap());
    tokio::time::timeout(PROMPTLY, guard.lost()).await.unwrap();
    assert_eq!(guard.valid_for(), Duration::ZERO);
    assert_eq!(holder.stats().lost_leases, 1);
    assert!(matches!(guard.unlock().await, Err(Error::NotOwner)));
}

#[tokio::test]
async fn try_with_lock_runs_only_when_the_lock_comes_within_the_wait() {
    let server = testkit::redis().await;
    let locks = manager(&server, Duration::from_secs(30)).await;
    let other = manager(&server, Duration::from_secs(30)).await;
    let guard = other.lock("export").await.unwrap();
    let skipped = locks
        .try_with_lock("export", Duration::from_millis(100), |_| async {
            unreachable!("the section must not run without the lock")
        })
        .await
        .unwrap();
    assert_eq!(skipped, None::<()>);
    assert_eq!(locks.stats().timeouts, 1);
    guard.unlock().await.unwrap();

    let ran = locks
        .try_with_lock("export", PROMPTLY, |held| async move {
            assert_eq!(held.name(), "export");
            held.fencing_token()
        })
        .await
        .unwrap();
    assert!(ran.is_some());
    assert!(!locks.is_locked("export").await.unwrap(), "released after");
}

#[tokio::test]
async fn a_quorum_answers_is_locked_and_force_unlock_by_majority() {
    let servers = testkit::redis_servers(3).await;
    let quorum = || {
        LockManager::builder_quorum(servers.iter().map(|server| server.client()).collect())
            .lease(Duration::from_secs(5))
            .build()
    };
    let (holder, operator) = (quorum().await.unwrap(), quorum().await.unwrap());
    let guard = holder.lock("ledger").await.unwrap();
    assert!(operator.is_locked("ledger").await.unwrap());
    assert!(operator.force_unlock("ledger").await.unwrap());
    assert!(!operator.is_locked("ledger").await.unwrap());
    tokio::time::timeout(PROMPTLY, guard.lost()).await.unwrap();
}

//! Locking a name again from the task that holds it fails at once with
//! `WouldDeadlock` instead of waiting for ever; other tasks still wait.
//!
//! The check knows tasks, and a test's own body is not one (it runs in
//! `block_on`), so each scenario runs in a spawned task, as a request
//! handler does.

use std::time::Duration;

use redlock::{Error, LockManager};

mod common;
use common::{PROMPTLY, manager};

/// Runs `scenario` in a task of its own and waits for it.
async fn in_a_task(scenario: impl std::future::Future<Output = ()> + Send + 'static) {
    tokio::spawn(scenario).await.unwrap();
}

fn is_would_deadlock<T: std::fmt::Debug>(result: redlock::Result<T>, name: &str) -> bool {
    matches!(result, Err(Error::WouldDeadlock { name: ref held }) if held == name)
}

#[tokio::test]
async fn the_holding_task_is_told_at_once_and_other_tasks_wait() {
    in_a_task(async move {
        let server = testkit::redis().await;
        let locks = manager(&server, Duration::from_secs(30)).await;
        let guard = locks.lock("order:7").await.unwrap();

        let again = tokio::time::timeout(PROMPTLY, locks.lock("order:7")).await;
        assert!(is_would_deadlock(again.expect("no hang"), "order:7"));
        let tried = tokio::time::timeout(PROMPTLY, locks.try_lock("order:7", PROMPTLY)).await;
        assert!(is_would_deadlock(tried.expect("no hang"), "order:7"));
        assert!(
            locks.try_lock("order:8", PROMPTLY).await.unwrap().is_some(),
            "another name is another lock"
        );

        // Another task of the same manager waits, as before, and gets it.
        let other = tokio::spawn({
            let locks = locks.clone();
            async move {
                locks
                    .lock("order:7")
                    .await
                    .map(|guard| guard.fencing_token())
            }
        });
        // (It queues behind the holder in this process; nothing can let it in.)
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!other.is_finished(), "it waits for the holder");
        let held = guard.fencing_token();
        guard.unlock().await.unwrap();
        let token = tokio::time::timeout(PROMPTLY, other)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(token > held);

        // Released: the first task may lock the name again.
        let again = locks.try_lock("order:7", PROMPTLY).await.unwrap();
        assert!(again.is_some());
    })
    .await;
}

#[tokio::test]
async fn a_fair_manager_tells_the_holding_task_too() {
    in_a_task(async move {
        let server = testkit::redis().await;
        let locks = LockManager::builder(server.client())
            .lease(Duration::from_secs(30))
            .fair(true)
            .build()
            .await
            .unwrap();
        let guard = locks.lock("auction").await.unwrap();
        let again = tokio::time::timeout(PROMPTLY, locks.lock("auction")).await;
        assert!(is_would_deadlock(again.expect("no hang"), "auction"));
        guard.unlock().await.unwrap();
        assert!(locks.try_lock("auction", PROMPTLY).await.unwrap().is_some());
    })
    .await;
}

#[tokio::test]
async fn a_lost_lease_frees_the_name_for_its_task() {
    // The task that kept the lost guard may lock the name again: the
    // watchdog took its pass when the lease was lost.
    in_a_task(async move {
        let server = testkit::redis().await;
        let locks = LockManager::builder(server.client())
            .lease(Duration::from_millis(300))
            .max_hold(Duration::from_millis(100))
            .build()
            .await
            .unwrap();
        let stuck = locks.lock("report").await.unwrap();
        tokio::time::timeout(PROMPTLY, stuck.lost()).await.unwrap();
        // The guard is kept, but the lock is no longer held: locking is fine.
        let next = locks.try_lock("report", PROMPTLY).await.unwrap();
        assert!(next.is_some());
        drop(stuck);
    })
    .await;
}

#[tokio::test]
async fn futures_of_one_task_may_queue_when_the_check_is_off() {
    let server = testkit::redis().await;
    let locks = LockManager::builder(server.client())
        .lease(Duration::from_secs(30))
        .reentry_check(false)
        .build()
        .await
        .unwrap();
    // Two futures of this one task take turns on one name.
    let turn = |n: u32| {
        let locks = locks.clone();
        async move {
            let guard = locks.lock("ledger").await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            guard.unlock().await.unwrap();
            n
        }
    };
    let both = tokio::time::timeout(PROMPTLY, async { tokio::join!(turn(1), turn(2)) }).await;
    assert_eq!(both.expect("they take turns"), (1, 2));
}

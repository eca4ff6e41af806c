//! Semaphores: never more holders than permits, across many tasks and managers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redlock::Error;

mod common;
use common::{PROMPTLY, manager};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_more_holders_than_permits() {
    let server = testkit::redis().await;
    // Two managers, as two processes would share the semaphore.
    let managers = [
        manager(&server, Duration::from_secs(5)).await,
        manager(&server, Duration::from_secs(5)).await,
    ];
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for task in 0..100 {
        let semaphore = managers[task % 2].semaphore("db-writers", 5).unwrap();
        let (inside, most) = (inside.clone(), most.clone());
        tasks.push(tokio::spawn(async move {
            let permit = semaphore.acquire().await.unwrap();
            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(2)).await;
            inside.fetch_sub(1, Ordering::SeqCst);
            permit.release().await.unwrap();
        }));
    }
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .unwrap()
            .unwrap();
    }
    let most = most.load(Ordering::SeqCst);
    assert!(most <= 5, "at most 5 holders at once, saw {most}");
    assert!(most >= 2, "the permits were actually shared, saw {most}");
}

#[tokio::test]
async fn a_crashed_holders_permit_frees_itself_and_a_dropped_one_is_returned() {
    let server = testkit::redis().await;
    let locks = manager(&server, Duration::from_millis(400)).await;
    let semaphore = locks.semaphore("exports", 1).unwrap();
    let permit = semaphore.acquire().await.unwrap();
    assert!(
        semaphore
            .try_acquire(Duration::from_millis(100))
            .await
            .unwrap()
            .is_none()
    );
    drop(permit); // released in the background
    let again = semaphore
        .try_acquire(PROMPTLY)
        .await
        .unwrap()
        .expect("dropped permit returned");

    // A holder that stops renewing (its process died): simulated by removing
    // its renewal with max_hold on another manager.
    let crashed = redlock::LockManager::builder(server.client())
        .lease(Duration::from_millis(300))
        .max_hold(Duration::from_millis(1))
        .build()
        .await
        .unwrap();
    again.release().await.unwrap();
    let stuck = crashed
        .semaphore("exports", 1)
        .unwrap()
        .acquire()
        .await
        .unwrap();
    tokio::time::timeout(PROMPTLY, stuck.lost()).await.unwrap();
    assert!(
        semaphore.try_acquire(PROMPTLY).await.unwrap().is_some(),
        "an expired permit is free"
    );
    assert!(matches!(stuck.release().await, Err(Error::NotOwner)));
}

#[tokio::test]
async fn semaphores_are_refused_on_a_quorum() {
    let servers = testkit::redis_servers(3).await;
    let quorum = redlock::LockManager::builder_quorum(servers.iter().map(|s| s.client()).collect())
        .build()
        .await
        .unwrap();
    assert!(matches!(quorum.semaphore("x", 1), Err(Error::Config(_))));
}

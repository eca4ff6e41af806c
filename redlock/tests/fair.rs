//! Fair mode: waiters acquire in arrival order across processes (one lock
//! manager stands for one process), and a dead waiter loses its place.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redlock::{LockGuard, LockManager};

mod common;
use common::PROMPTLY;

async fn fair_manager(server: &testkit::RedisServer, wait_timeout: Duration) -> LockManager {
    LockManager::builder(server.client())
        .lease(Duration::from_secs(10))
        .fair(true)
        .fair_wait_timeout(wait_timeout)
        .build()
        .await
        .unwrap()
}

async fn queue_length(server: &testkit::RedisServer) -> i64 {
    let mut conn = server.connection().await;
    redis::cmd("LLEN")
        .arg("redlock:{auction}:queue")
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// Queues one waiter per manager, in this order (each waits until it is in
/// line before the next arrives), releases `guard`, and returns the order in
/// which the waiters then acquired the lock.
async fn acquisition_order(
    server: &testkit::RedisServer,
    guard: LockGuard,
    arrivals: Vec<LockManager>,
) -> Vec<usize> {
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut waiters = Vec::new();
    for (arrival, locks) in arrivals.into_iter().enumerate() {
        let order = order.clone();
        waiters.push(tokio::spawn(async move {
            let guard = locks.lock("auction").await.unwrap();
            order.lock().unwrap().push(arrival);
            guard.unlock().await.unwrap();
        }));
        // Arrival order is queue order: wait until this waiter is in line.
        testkit::wait::until(PROMPTLY, "the waiter to join the queue", || async {
            queue_length(server).await == arrival as i64 + 1
        })
        .await;
    }
    guard.unlock().await.unwrap();
    for waiter in waiters {
        tokio::time::timeout(PROMPTLY, waiter)
            .await
            .unwrap()
            .unwrap();
    }
    order.lock().unwrap().clone()
}

#[tokio::test]
async fn waiters_acquire_in_arrival_order() {
    let server = testkit::redis().await;
    let holder = fair_manager(&server, Duration::from_secs(5)).await;
    let guard = holder.lock("auction").await.unwrap();
    let mut arrivals = Vec::new();
    for _ in 0..5 {
        arrivals.push(fair_manager(&server, Duration::from_secs(5)).await);
    }
    assert_eq!(
        acquisition_order(&server, guard, arrivals).await,
        [0, 1, 2, 3, 4]
    );
}

#[tokio::test]
async fn a_dead_waiter_is_skipped_after_its_wait_timeout() {
    let server = testkit::redis().await;
    let wait_timeout = Duration::from_millis(600);
    let holder = fair_manager(&server, wait_timeout).await;
    let guard = holder.lock("auction").await.unwrap();

    // A waiter from a process that has died: in line, never checking in again.
    let mut conn = server.connection().await;
    let time: (String, String) = redis::cmd("TIME").query_async(&mut conn).await.unwrap();
    let now_ms = time.0.parse::<u64>().unwrap() * 1000 + time.1.parse::<u64>().unwrap() / 1000;
    redis::pipe()
        .cmd("RPUSH")
        .arg("redlock:{auction}:queue")
        .arg("dead-waiter")
        .cmd("ZADD")
        .arg("redlock:{auction}:deadlines")
        .arg(now_ms + 600)
        .arg("dead-waiter")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();

    let live = fair_manager(&server, wait_timeout).await;
    let waiter = tokio::spawn(async move { live.lock("auction").await.unwrap().unlock().await });
    testkit::wait::until(
        PROMPTLY,
        "the live waiter to queue behind the dead one",
        || async { queue_length(&server).await == 2 },
    )
    .await;
    guard.unlock().await.unwrap();
    tokio::time::timeout(PROMPTLY, waiter)
        .await
        .expect("the live waiter acquires once the dead one times out")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_waiter_that_gives_up_leaves_the_line() {
    let server = testkit::redis().await;
    let holder = fair_manager(&server, Duration::from_secs(5)).await;
    let guard = holder.lock("auction").await.unwrap();
    let impatient = fair_manager(&server, Duration::from_secs(5)).await;
    let gave_up = impatient
        .try_lock("auction", Duration::from_millis(200))
        .await
        .unwrap();
    assert!(gave_up.is_none());
    assert_eq!(queue_length(&server).await, 0);
    guard.unlock().await.unwrap();
    let next = fair_manager(&server, Duration::from_secs(5)).await;
    assert!(
        next.try_lock("auction", Duration::from_secs(1))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn local_and_remote_waiters_keep_one_arrival_order() {
    let server = testkit::redis().await;
    let here = fair_manager(&server, Duration::from_secs(5)).await;
    let there = fair_manager(&server, Duration::from_secs(5)).await;
    let guard = here.lock("auction").await.unwrap();
    // Alternate processes: here, there, here, there.
    let arrivals = vec![here.clone(), there.clone(), here.clone(), there];
    assert_eq!(
        acquisition_order(&server, guard, arrivals).await,
        [0, 1, 2, 3]
    );
}

#[tokio::test]
async fn a_manager_that_is_not_fair_may_not_jump_a_fair_queue() {
    let server = testkit::redis().await;
    let holder = fair_manager(&server, Duration::from_secs(5)).await;
    let guard = holder.lock("auction").await.unwrap();
    let queued = tokio::spawn({
        let fair = fair_manager(&server, Duration::from_secs(5)).await;
        async move { fair.lock("auction").await.unwrap().unlock().await }
    });
    testkit::wait::until(PROMPTLY, "a fair waiter in line", || async {
        queue_length(&server).await == 1
    })
    .await;

    let unfair = common::manager(&server, Duration::from_secs(10)).await;
    match unfair.try_lock("auction", Duration::from_secs(1)).await {
        Err(redlock::Error::MixedFairness { name }) => assert_eq!(name, "auction"),
        other => panic!("expected MixedFairness, got {other:?}"),
    }
    guard.unlock().await.unwrap();
    tokio::time::timeout(PROMPTLY, queued)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // With nobody in line, any manager may take the lock again.
    let taken = unfair.try_lock("auction", PROMPTLY).await.unwrap();
    assert!(taken.is_some(), "no fair waiter is left to jump");
}

//! Mutual exclusion across two OS processes, each running 50 tasks that do
//! 20 non-atomic increments (GET, yield, SET) under the lock.
//!
//! The test binary runs itself as the two worker processes: `increment_worker`
//! is a test of its own (one process, checked in place) and, when started by
//! `two_processes_*` with `REDLOCK_WORKER_URL` set, a worker against the
//! parent's Redis.

use std::time::Duration;

use redis::AsyncCommands;
use testkit::ChildProcess;

mod common;

const TASKS: usize = 50;
const INCREMENTS: usize = 20;
const COUNTER: &str = "counter";

/// GET, yield to other tasks, SET: loses updates unless serialised.
async fn increment_unsafely(conn: &mut redis::aio::MultiplexedConnection) {
    let value: i64 = conn
        .get::<_, Option<i64>>(COUNTER)
        .await
        .unwrap()
        .unwrap_or(0);
    tokio::task::yield_now().await;
    let _: () = conn.set(COUNTER, value + 1).await.unwrap();
}

/// Runs TASKS × INCREMENTS increments against `url`, under the lock or not.
async fn run_worker(url: &str, with_lock: bool) {
    let client = redis::Client::open(url).unwrap();
    let locks = redlock::LockManager::builder(client.clone())
        .lease(Duration::from_secs(5))
        .build()
        .await
        .unwrap();
    let conn = testkit::redis_connection(&client).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let locks = locks.clone();
        let mut conn = conn.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..INCREMENTS {
                if with_lock {
                    let guard = locks.lock("counter-lock").await.unwrap();
                    increment_unsafely(&mut conn).await;
                    guard.unlock().await.unwrap();
                } else {
                    increment_unsafely(&mut conn).await;
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

async fn counter(server: &testkit::RedisServer) -> i64 {
    let mut conn = server.connection().await;
    conn.get::<_, Option<i64>>(COUNTER)
        .await
        .unwrap()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increment_worker() {
    if let Ok(url) = std::env::var("REDLOCK_WORKER_URL") {
        let with_lock = std::env::var("REDLOCK_WORKER_LOCK").as_deref() == Ok("1");
        run_worker(&url, with_lock).await;
        println!("worker done");
        return;
    }
    // Started directly: one process, checked in place.
    let server = testkit::redis().await;
    run_worker(&server.url(), true).await;
    assert_eq!(counter(&server).await, (TASKS * INCREMENTS) as i64);
}

async fn run_two_processes(with_lock: bool) -> i64 {
    let server = testkit::redis().await;
    let mut workers = Vec::new();
    for _ in 0..2 {
        let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", "increment_worker", "--nocapture"])
            .env("REDLOCK_WORKER_URL", server.url())
            .env("REDLOCK_WORKER_LOCK", if with_lock { "1" } else { "0" });
        workers.push(ChildProcess::spawn(command).unwrap());
    }
    for worker in &mut workers {
        let status = worker.wait().await;
        assert!(status.success(), "worker failed:\n{}", worker.output_text());
        assert!(
            worker.output_text().contains("worker done"),
            "{}",
            worker.output_text()
        );
    }
    counter(&server).await
}

#[tokio::test]
async fn two_processes_with_the_lock_lose_no_update() {
    let total = run_two_processes(true).await;
    assert_eq!(total, (2 * TASKS * INCREMENTS) as i64);
}

#[tokio::test]
async fn two_processes_without_the_lock_lose_updates() {
    // The control experiment: the same workload unprotected shows the race.
    let total = run_two_processes(false).await;
    assert!(
        total < (2 * TASKS * INCREMENTS) as i64,
        "expected lost updates, got {total}"
    );
}

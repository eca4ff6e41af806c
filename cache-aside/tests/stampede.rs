//! 1,000 concurrent `get_or_load` on a cold key from two OS processes call
//! the loader exactly once.
//!
//! The test binary runs itself as the two processes: `stampede_worker` is a
//! test on its own (one process, 500 callers) and the worker of the
//! two-process test when `CACHE_WORKER_URL` is set. The workers start their
//! callers together (they meet in Redis first) and print their counters, so
//! the parent can see that the two stampedes overlapped: one process loaded,
//! the other waited for its fill.

use std::sync::Arc;
use std::time::Duration;

use cache_aside::{Cache, CacheStats};
use testkit::ChildProcess;

const CALLERS_PER_PROCESS: usize = 500;

/// Waits until `workers` processes have reached this point (a counter in
/// Redis), so that their callers start together.
async fn meet(client: &redis::Client, workers: i64) {
    let mut conn = testkit::redis_connection(client).await.unwrap();
    let _: i64 = redis::cmd("INCR")
        .arg("workers-ready")
        .query_async(&mut conn)
        .await
        .unwrap();
    testkit::wait::until(Duration::from_secs(30), "every worker to be ready", || {
        let mut conn = conn.clone();
        async move {
            let ready: i64 = redis::cmd("GET")
                .arg("workers-ready")
                .query_async(&mut conn)
                .await
                .unwrap();
            ready >= workers
        }
    })
    .await;
}

/// 500 concurrent readers of one cold key, started once `workers` processes
/// are ready; the loader counts itself in Redis and is slow enough (1 s) for
/// every caller, of both processes, to pile up behind it.
async fn stampede(url: &str, workers: i64) -> (Vec<Option<String>>, CacheStats) {
    let client = redis::Client::open(url).unwrap();
    let cache = Cache::<str, String>::builder(client.clone(), "item")
        .local(1_000, Duration::from_secs(30))
        .ttl(Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    let counter = Arc::new(testkit::redis_connection(&client).await.unwrap());
    meet(&client, workers).await;
    let callers: Vec<_> = (0..CALLERS_PER_PROCESS)
        .map(|_| {
            let (cache, counter) = (cache.clone(), counter.clone());
            tokio::spawn(async move {
                cache
                    .get_or_load("42", move || async move {
                        let mut conn = (*counter).clone();
                        redis::cmd("INCR")
                            .arg("loader-calls")
                            .query_async::<i64>(&mut conn)
                            .await?;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Ok::<_, redis::RedisError>(Some("lamp".to_string()))
                    })
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut values = Vec::new();
    for caller in callers {
        values.push(caller.await.unwrap());
    }
    (values, cache.stats())
}

/// A worker's counters, from its line `stats loads=L fill_waits=W`.
fn worker_stats(output: &str) -> (u64, u64) {
    let line = output
        .lines()
        .find_map(|line| line.trim().strip_prefix("stats "))
        .unwrap_or_else(|| panic!("no stats line in:\n{output}"));
    let field = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|pair| pair.strip_prefix(name))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    };
    (field("loads="), field("fill_waits="))
}

async fn loader_calls(server: &testkit::RedisServer) -> i64 {
    let mut conn = server.connection().await;
    redis::cmd("GET")
        .arg("loader-calls")
        .query_async::<Option<i64>>(&mut conn)
        .await
        .unwrap()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stampede_worker() {
    if let Ok(url) = std::env::var("CACHE_WORKER_URL") {
        let (values, stats) = stampede(&url, 2).await;
        assert!(values.iter().all(|value| value.as_deref() == Some("lamp")));
        println!(
            "stats loads={} fill_waits={}",
            stats.loads, stats.fill_waits
        );
        println!("worker done");
        return;
    }
    let server = testkit::redis().await;
    let (values, _) = stampede(&server.url(), 1).await;
    assert!(values.iter().all(|value| value.as_deref() == Some("lamp")));
    assert_eq!(loader_calls(&server).await, 1);
}

#[tokio::test]
async fn a_thousand_cold_reads_from_two_processes_load_once() {
    let server = testkit::redis().await;
    let mut workers = Vec::new();
    for _ in 0..2 {
        let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", "stampede_worker", "--nocapture"])
            .env("CACHE_WORKER_URL", server.url());
        workers.push(ChildProcess::spawn(command).unwrap());
    }
    let mut stats = Vec::new();
    for worker in &mut workers {
        let status = worker.wait().await;
        assert!(status.success(), "worker failed:\n{}", worker.output_text());
        assert!(worker.output_text().contains("worker done"));
        stats.push(worker_stats(&worker.output_text()));
    }
    assert_eq!(
        loader_calls(&server).await,
        1,
        "one loader call for the whole fleet"
    );
    // The stampedes overlapped: the process that did not load waited for
    // the other's fill instead of finding the value already in Redis.
    stats.sort();
    let [(0, waited), (1, _)] = stats[..] else {
        panic!("one process loads once, the other not at all: {stats:?}");
    };
    assert!(
        waited >= 1,
        "the other process waited for the fill: {stats:?}"
    );
}

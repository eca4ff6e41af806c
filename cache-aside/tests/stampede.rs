//! 1,000 concurrent `get_or_load` on a cold key from two OS processes call
//! the loader exactly once.
//!
//! The test binary runs itself as the two processes: `stampede_worker` is a
//! test on its own (one process, 500 callers) and the worker of the
//! two-process test when `CACHE_WORKER_URL` is set.

use std::sync::Arc;
use std::time::Duration;

use cache_aside::Cache;
use testkit::ChildProcess;

const CALLERS_PER_PROCESS: usize = 500;

/// 500 concurrent readers of one cold key; the loader counts itself in Redis
/// and is slow enough for every caller to pile up behind it.
async fn stampede(url: &str) -> Vec<Option<String>> {
    let client = redis::Client::open(url).unwrap();
    let cache = Cache::<str, String>::builder(client.clone(), "item")
        .local(1_000, Duration::from_secs(30))
        .ttl(Duration::from_secs(60))
        .build()
        .await
        .unwrap();
    let counter = Arc::new(testkit::redis_connection(&client).await.unwrap());
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
                        tokio::time::sleep(Duration::from_millis(300)).await;
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
    values
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
        let values = stampede(&url).await;
        assert!(values.iter().all(|value| value.as_deref() == Some("lamp")));
        println!("worker done");
        return;
    }
    let server = testkit::redis().await;
    let values = stampede(&server.url()).await;
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
    for worker in &mut workers {
        let status = worker.wait().await;
        assert!(status.success(), "worker failed:\n{}", worker.output_text());
        assert!(worker.output_text().contains("worker done"));
    }
    assert_eq!(
        loader_calls(&server).await,
        1,
        "one loader call for the whole fleet"
    );
}

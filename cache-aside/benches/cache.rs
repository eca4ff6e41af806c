//! Benchmarks of the cache, each with its baseline in the same run.
//!
//! `cargo bench -p cache-aside --bench cache`
//!
//! 1. Local-tier hit (criterion).
//! 2. Redis hit against a raw `GET` + JSON decode of the same value
//!    (criterion, then alternating single operations for the ratio).
//! 3. Stampede: loader calls for 1,000 concurrent cold reads spread over two
//!    instances: this crate vs moka alone vs naive look-aside.
//! 4. Throughput of `get_or_load` over a loader that costs 5 ms, cached vs not.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cache_aside::Cache;
use criterion::Criterion;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Item {
    id: u64,
    name: String,
    price: u64,
    tags: Vec<String>,
}

fn item(id: u64) -> Item {
    Item {
        id,
        name: format!("item {id}"),
        price: 1990,
        tags: vec!["live".into(), "deal".into()],
    }
}

async fn no_load() -> Result<Option<Item>, std::io::Error> {
    unreachable!("the benchmark keys are always cached")
}

async fn cache(server: &testkit::RedisServer, namespace: &str, local: bool) -> Cache<u64, Item> {
    let mut builder = Cache::<u64, Item>::builder(server.client(), namespace)
        .ttl(Duration::from_secs(3600))
        .early_refresh_beta(0.0);
    if local {
        builder = builder.local(10_000, Duration::from_secs(3600));
    }
    builder.build().await.unwrap()
}

async fn raw_get(conn: &ConnectionManager) -> Item {
    let mut conn = conn.clone();
    let bytes: Vec<u8> = conn.get("raw:item:1").await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Alternates single operations (raw, ours, raw, ours, …) so machine noise
/// hits both alike, and returns the median of each.
async fn interleaved(l2: &Cache<u64, Item>, raw: &ConnectionManager) -> (Duration, Duration) {
    const PAIRS: usize = 5_000;
    let (mut raw_samples, mut ours) = (Vec::with_capacity(PAIRS), Vec::with_capacity(PAIRS));
    for _ in 0..PAIRS {
        let started = Instant::now();
        raw_get(raw).await;
        raw_samples.push(started.elapsed());
        let started = Instant::now();
        l2.get_or_load(&1, no_load).await.unwrap();
        ours.push(started.elapsed());
    }
    raw_samples.sort();
    ours.sort();
    (raw_samples[PAIRS / 2], ours[PAIRS / 2])
}

/// Loader calls for 1,000 concurrent cold reads over two instances.
async fn stampede(server: &testkit::RedisServer) {
    const READERS: usize = 1_000;
    let slow_load = |calls: Arc<AtomicUsize>| async move {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok::<_, std::io::Error>(Some(item(9)))
    };

    // This crate: two instances (as two processes would have).
    let calls = Arc::new(AtomicUsize::new(0));
    let instances = [
        cache(server, "stampede", true).await,
        cache(server, "stampede", true).await,
    ];
    let readers: Vec<_> = (0..READERS)
        .map(|i| {
            let (cache, calls) = (instances[i % 2].clone(), calls.clone());
            tokio::spawn(async move {
                cache
                    .get_or_load(&9, move || slow_load(calls))
                    .await
                    .unwrap()
            })
        })
        .collect();
    futures::future::join_all(readers).await;
    let ours = calls.load(Ordering::SeqCst);

    // moka alone: single flight inside each instance only.
    let calls = Arc::new(AtomicUsize::new(0));
    let mokas: [moka::future::Cache<u64, Item>; 2] =
        [moka::future::Cache::new(100), moka::future::Cache::new(100)];
    let readers: Vec<_> = (0..READERS)
        .map(|i| {
            let (moka, calls) = (mokas[i % 2].clone(), calls.clone());
            tokio::spawn(async move {
                moka.get_with(9, async move { slow_load(calls).await.unwrap().unwrap() })
                    .await
            })
        })
        .collect();
    futures::future::join_all(readers).await;
    let moka_only = calls.load(Ordering::SeqCst);

    // Naive look-aside: GET; on a miss, load and SET.
    let calls = Arc::new(AtomicUsize::new(0));
    let conn = server.client().get_connection_manager().await.unwrap();
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (mut conn, calls) = (conn.clone(), calls.clone());
            tokio::spawn(async move {
                let cached: Option<Vec<u8>> = conn.get("naive:item:9").await.unwrap();
                if cached.is_none() {
                    let loaded = slow_load(calls).await.unwrap().unwrap();
                    let _: () = conn
                        .set_ex("naive:item:9", serde_json::to_vec(&loaded).unwrap(), 3600)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    futures::future::join_all(readers).await;
    let naive = calls.load(Ordering::SeqCst);

    println!("\nstampede: loader calls for {READERS} concurrent cold reads over 2 instances");
    println!("| strategy | loader calls |");
    println!("|---|---|");
    println!("| cache-aside (fill lease) | {ours} |");
    println!("| moka alone (get_with per instance) | {moka_only} |");
    println!("| naive look-aside (GET, load, SET) | {naive} |");
}

/// Reads of 100 keys by 16 tasks for 2 s over a 5 ms loader.
async fn throughput(server: &testkit::RedisServer) {
    const TASKS: usize = 16;
    const RUN: Duration = Duration::from_secs(2);
    async fn database(id: u64) -> Result<Option<Item>, std::io::Error> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(Some(item(id)))
    }
    let cached = cache(server, "throughput", true).await;
    let mut results = Vec::new();
    for use_cache in [false, true] {
        let ops = Arc::new(AtomicUsize::new(0));
        let deadline = Instant::now() + RUN;
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let (cached, ops) = (cached.clone(), ops.clone());
                tokio::spawn(async move {
                    let mut id = task as u64;
                    while Instant::now() < deadline {
                        id = (id * 31 + 7) % 100;
                        if use_cache {
                            cached.get_or_load(&id, move || database(id)).await.unwrap();
                        } else {
                            database(id).await.unwrap();
                        }
                        ops.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        futures::future::join_all(tasks).await;
        results.push(ops.load(Ordering::Relaxed) as f64 / RUN.as_secs_f64());
    }
    println!("\nthroughput: {TASKS} tasks reading 100 keys for {RUN:?}, loader = 5 ms");
    println!("| | reads/s |");
    println!("|---|---|");
    println!("| loader only (uncached) | {:.0} |", results[0]);
    println!("| get_or_load (local tier + Redis) | {:.0} |", results[1]);
    println!("| speed-up | {:.0}x |", results[1] / results[0]);
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(testkit::redis());
    let (l1, l2, raw) = runtime.block_on(async {
        let l1 = cache(&server, "bench-l1", true).await;
        let l2 = cache(&server, "bench-l2", false).await;
        l1.put(&1, &item(1)).await.unwrap();
        l2.put(&1, &item(1)).await.unwrap();
        l1.get_or_load(&1, no_load).await.unwrap(); // now in the local tier
        let raw = server.client().get_connection_manager().await.unwrap();
        let mut conn = raw.clone();
        let _: () = conn
            .set("raw:item:1", serde_json::to_vec(&item(1)).unwrap())
            .await
            .unwrap();
        (l1, l2, raw)
    });

    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("cache-aside");
    group.bench_function("local-tier hit", |b| {
        b.to_async(&runtime).iter(|| l1.get_or_load(&1, no_load))
    });
    group.bench_function("redis hit", |b| {
        b.to_async(&runtime).iter(|| l2.get_or_load(&1, no_load))
    });
    group.bench_function("raw GET + JSON decode", |b| {
        b.to_async(&runtime).iter(|| raw_get(&raw))
    });
    group.finish();
    criterion.final_summary();

    let (raw_time, ours) = runtime.block_on(interleaved(&l2, &raw));
    println!(
        "\nredis hit vs raw GET + decode, alternating single operations, medians of 5000 each:"
    );
    println!(
        "  raw GET + JSON decode:  {:>8.1} us",
        raw_time.as_secs_f64() * 1e6
    );
    println!(
        "  get_or_load (Redis hit): {:>7.1} us",
        ours.as_secs_f64() * 1e6
    );
    println!(
        "  ratio:                  {:>8.3}",
        ours.as_secs_f64() / raw_time.as_secs_f64()
    );

    runtime.block_on(stampede(&server));
    runtime.block_on(throughput(&server));
}

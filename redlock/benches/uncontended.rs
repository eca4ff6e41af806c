//! Uncontended lock + unlock against the two raw `EVALSHA` calls it performs.
//!
//! `cargo bench -p redlock --bench uncontended`
//!
//! Criterion measures both; then an interleaved A/B run (alternating rounds,
//! so drift on a shared machine hits both sides alike) prints the ratio.

use std::time::{Duration, Instant};

use criterion::Criterion;
use redis::Script;
use redis::aio::ConnectionManager;

const ACQUIRE: &str = include_str!("../scripts/acquire.lua");
const RELEASE: &str = include_str!("../scripts/release.lua");

struct Setup {
    _server: testkit::RedisServer,
    conn: ConnectionManager,
    locks: redlock::LockManager,
    acquire: Script,
    release: Script,
}

async fn setup() -> Setup {
    let server = testkit::redis().await;
    let conn = server.client().get_connection_manager().await.unwrap();
    let locks = redlock::LockManager::builder(server.client())
        .build()
        .await
        .unwrap();
    Setup {
        _server: server,
        conn,
        locks,
        acquire: Script::new(ACQUIRE),
        release: Script::new(RELEASE),
    }
}

/// What one lock + unlock sends, done by hand: acquire script, release script.
async fn raw_pair(setup: &Setup) {
    let mut conn = setup.conn.clone();
    let (acquired, _): (i64, i64) = setup
        .acquire
        .key("raw:{bench}:lock")
        .key("raw:{bench}:fence")
        .arg("owner")
        .arg(30_000)
        .invoke_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(acquired, 1);
    let released: i64 = setup
        .release
        .key("raw:{bench}:lock")
        .arg("owner")
        .arg("raw:{bench}:released")
        .invoke_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(released, 1);
}

async fn lock_unlock(setup: &Setup) {
    let guard = setup.locks.lock("bench").await.unwrap();
    guard.unlock().await.unwrap();
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let setup = runtime.block_on(setup());
    let mut group = c.benchmark_group("uncontended");
    group.bench_function("raw acquire+release EVALSHA", |b| {
        b.to_async(&runtime).iter(|| raw_pair(&setup))
    });
    group.bench_function("redlock lock+unlock", |b| {
        b.to_async(&runtime).iter(|| lock_unlock(&setup))
    });
    group.finish();

    let (raw, ours) = runtime.block_on(interleaved(&setup));
    println!("\ninterleaved A/B, median of 30 rounds x 300 operations:");
    println!(
        "  raw acquire+release EVALSHA: {:>8.1} us",
        raw.as_secs_f64() * 1e6
    );
    println!(
        "  redlock lock+unlock:         {:>8.1} us",
        ours.as_secs_f64() * 1e6
    );
    println!(
        "  ratio redlock / raw:         {:>8.3}",
        ours.as_secs_f64() / raw.as_secs_f64()
    );
}

async fn interleaved(setup: &Setup) -> (Duration, Duration) {
    const ROUNDS: usize = 30;
    const OPS: u32 = 300;
    let (mut raw, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for _ in 0..OPS {
            raw_pair(setup).await;
        }
        raw.push(started.elapsed() / OPS);
        let started = Instant::now();
        for _ in 0..OPS {
            lock_unlock(setup).await;
        }
        ours.push(started.elapsed() / OPS);
    }
    raw.sort();
    ours.sort();
    (raw[ROUNDS / 2], ours[ROUNDS / 2])
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
}

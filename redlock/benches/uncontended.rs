//! Uncontended lock + unlock against the two raw `EVALSHA` calls it performs.
//!
//! `cargo bench -p redlock --bench uncontended`
//!
//! Criterion measures both; then single operations alternate (raw, ours,
//! raw, …) so drift on a shared machine hits both alike, and the ratio of the
//! medians is printed.

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
        .key("raw:{bench}:deadlines")
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
    println!("\nalternating single operations, medians of 5000 each:");
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

/// Alternates single operations (raw, ours, raw, ours, …) so machine noise
/// hits both alike, and returns the median of each.
async fn interleaved(setup: &Setup) -> (Duration, Duration) {
    const PAIRS: usize = 5_000;
    let (mut raw, mut ours) = (Vec::with_capacity(PAIRS), Vec::with_capacity(PAIRS));
    for _ in 0..PAIRS {
        let started = Instant::now();
        raw_pair(setup).await;
        raw.push(started.elapsed());
        let started = Instant::now();
        lock_unlock(setup).await;
        ours.push(started.elapsed());
    }
    raw.sort();
    ours.sort();
    (raw[PAIRS / 2], ours[PAIRS / 2])
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
}

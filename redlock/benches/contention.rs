//! Contention: 1,000 lock-protected increments from 100 concurrent tasks,
//! and the hand-off latency from one holder to the next.
//!
//! `cargo bench -p redlock --bench contention`
//!
//! Compared in the same run, on the same Redis:
//! - **serial limit**: one task doing acquire script + INCR + release script
//!   back to back (3 round trips per increment, no waiting at all);
//! - **redlock** (this crate);
//! - **rslock** (crates.io), whose `lock()` retries after a fixed delay;
//! - **naive**: `SET NX PX` and sleep 10 ms between tries.
//!
//! Every critical section checks that no other one overlaps it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::ConnectionManager;

const TASKS: usize = 100;
const INCREMENTS_PER_TASK: usize = 10;
const TOTAL: usize = TASKS * INCREMENTS_PER_TASK;
const HANDOFFS: usize = 200;
const LEASE: Duration = Duration::from_secs(10);

/// The critical section: one INCR, with an overlap check.
async fn critical_section(conn: &mut ConnectionManager, inside: &AtomicBool) {
    assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
    let _: i64 = conn.incr("counter", 1).await.unwrap();
    inside.store(false, Ordering::SeqCst);
}

#[derive(Clone, Copy)]
enum Strategy {
    Redlock,
    Rslock,
    Naive,
}

impl Strategy {
    fn name(self) -> &'static str {
        match self {
            Strategy::Redlock => "redlock",
            Strategy::Rslock => "rslock 0.10",
            Strategy::Naive => "naive SET NX + sleep 10 ms",
        }
    }
}

/// A lock held by one of the strategies, released by `release`.
enum Held {
    Redlock(redlock::LockGuard),
    Rslock(rslock::LockManager, rslock::Lock),
    Naive(ConnectionManager, String),
}

#[derive(Clone)]
struct Locker {
    strategy: Strategy,
    redlock: redlock::LockManager,
    rslock: rslock::LockManager,
    conn: ConnectionManager,
}

impl Locker {
    async fn new(strategy: Strategy, url: &str) -> Self {
        let client = redis::Client::open(url).unwrap();
        Self {
            strategy,
            redlock: redlock::LockManager::builder(client.clone())
                .lease(LEASE)
                .build()
                .await
                .unwrap(),
            rslock: rslock::LockManager::new(vec![url.to_string()]),
            conn: client.get_connection_manager().await.unwrap(),
        }
    }

    async fn acquire(&self) -> Held {
        match self.strategy {
            Strategy::Redlock => Held::Redlock(self.redlock.lock("counter").await.unwrap()),
            Strategy::Rslock => loop {
                if let Ok(lock) = self.rslock.lock("counter-rslock", LEASE).await {
                    break Held::Rslock(self.rslock.clone(), lock);
                }
            },
            Strategy::Naive => {
                let owner = format!("{:x}", rand::random::<u64>());
                let mut conn = self.conn.clone();
                loop {
                    let set: Option<String> = redis::cmd("SET")
                        .arg("counter-naive")
                        .arg(&owner)
                        .arg("NX")
                        .arg("PX")
                        .arg(LEASE.as_millis() as u64)
                        .query_async(&mut conn)
                        .await
                        .unwrap();
                    if set.is_some() {
                        break Held::Naive(conn, owner);
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
}

impl Held {
    async fn release(self) {
        match self {
            Held::Redlock(guard) => guard.unlock().await.unwrap(),
            Held::Rslock(manager, lock) => manager.unlock(&lock).await,
            Held::Naive(mut conn, owner) => {
                // Owner-checked delete, as any careful naive version does.
                let script = redis::Script::new(
                    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
                );
                let _: i64 = script
                    .key("counter-naive")
                    .arg(owner)
                    .invoke_async(&mut conn)
                    .await
                    .unwrap();
            }
        }
    }
}

async fn increments(locker: &Locker, conn: &ConnectionManager) -> Duration {
    let inside = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (locker, mut conn, inside) = (locker.clone(), conn.clone(), inside.clone());
            tokio::spawn(async move {
                for _ in 0..INCREMENTS_PER_TASK {
                    let held = locker.acquire().await;
                    critical_section(&mut conn, &inside).await;
                    held.release().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    started.elapsed()
}

/// Holder releases; a waiter already blocked in `acquire` takes over.
async fn handoffs(url: &str, strategy: Strategy) -> Vec<Duration> {
    let holder_side = Locker::new(strategy, url).await;
    let waiter_side = Locker::new(strategy, url).await;
    let mut samples = Vec::with_capacity(HANDOFFS);
    for _ in 0..HANDOFFS {
        let held = holder_side.acquire().await;
        let waiter = waiter_side.clone();
        let next = tokio::spawn(async move {
            let held = waiter.acquire().await;
            let acquired_at = Instant::now();
            held.release().await;
            acquired_at
        });
        tokio::time::sleep(Duration::from_millis(3)).await; // the waiter is waiting
        let released_at = Instant::now();
        held.release().await;
        let acquired_at = next.await.unwrap();
        samples.push(acquired_at.saturating_duration_since(released_at));
    }
    samples.sort();
    samples
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn serial_limit(url: &str) -> (Duration, Duration) {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_connection_manager().await.unwrap();
    let started = Instant::now();
    for _ in 0..1000 {
        let _: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
    }
    let rtt = started.elapsed() / 1000;
    let acquire = redis::Script::new(include_str!("../scripts/acquire.lua"));
    let release = redis::Script::new(include_str!("../scripts/release.lua"));
    let started = Instant::now();
    for _ in 0..TOTAL {
        let _: (i64, i64) = acquire
            .key("serial:{c}:lock")
            .key("serial:{c}:fence")
            .key("serial:{c}:deadlines")
            .arg("me")
            .arg(10_000)
            .invoke_async(&mut conn)
            .await
            .unwrap();
        let _: i64 = conn.incr("serial-counter", 1).await.unwrap();
        let _: i64 = release
            .key("serial:{c}:lock")
            .arg("me")
            .arg("serial:{c}:released")
            .invoke_async(&mut conn)
            .await
            .unwrap();
    }
    (rtt, started.elapsed())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return; // `cargo bench -- --list` and test harness probes
    }
    let server = testkit::redis().await;
    let url = server.url();
    let (rtt, serial) = serial_limit(&url).await;
    println!(
        "redis round trip (mean of 1000 PINGs): {:.1} us",
        rtt.as_secs_f64() * 1e6
    );
    println!(
        "serial limit, {TOTAL} x (acquire + INCR + release), one task: {:.1} ms\n",
        serial.as_secs_f64() * 1e3
    );

    println!(
        "| strategy | {TOTAL} increments, {TASKS} tasks | per increment | vs serial limit | redlock speed-up | hand-off p50 | hand-off p99 |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut redlock_time = Duration::ZERO;
    for strategy in [Strategy::Redlock, Strategy::Rslock, Strategy::Naive] {
        let locker = Locker::new(strategy, &url).await;
        let conn = server.client().get_connection_manager().await.unwrap();
        let mut reset = conn.clone();
        let _: () = reset.del("counter").await.unwrap();
        let elapsed = increments(&locker, &conn).await;
        let counted: i64 = reset.get("counter").await.unwrap();
        assert_eq!(
            counted,
            TOTAL as i64,
            "{}: every increment counted",
            strategy.name()
        );
        if let Strategy::Redlock = strategy {
            redlock_time = elapsed;
        }
        let samples = handoffs(&url, strategy).await;
        println!(
            "| {} | {:.1} ms | {:.0} us | {:.2}x | {:.1}x | {:.0} us | {:.0} us |",
            strategy.name(),
            elapsed.as_secs_f64() * 1e3,
            elapsed.as_secs_f64() * 1e6 / TOTAL as f64,
            elapsed.as_secs_f64() / serial.as_secs_f64(),
            elapsed.as_secs_f64() / redlock_time.as_secs_f64(),
            percentile(&samples, 0.5).as_secs_f64() * 1e6,
            percentile(&samples, 0.99).as_secs_f64() * 1e6,
        );
    }
}

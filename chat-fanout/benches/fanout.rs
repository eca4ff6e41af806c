//! Fanout throughput and latency, this crate against the naive design, in
//! the same run.
//!
//! `cargo bench -p chat-fanout --bench fanout`
//!
//! Hub A publishes at a fixed rate (default 10,000 msg/s) round-robin over
//! 100 rooms; 1,000 subscribers (10 per room) read them on the other side:
//!
//! - **chat-fanout**: the subscribers are local subscribers of hub B (one
//!   Redis pub/sub connection for all of them);
//! - **naive**: each subscriber has its own Redis connection and
//!   `SUBSCRIBE`s its room's channel, decoding the same frames.
//!
//! Latency is from the start of `publish` on A to the subscriber having the
//! decoded message, for every delivery. The designs alternate in rounds so
//! machine drift hits both alike. Environment: `FANOUT_RATE` (msg/s),
//! `FANOUT_SECONDS` (per round), `FANOUT_ROUNDS`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use chat_fanout::{Hub, SubscribeOptions};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

const ROOMS: usize = 100;
const SUBSCRIBERS_PER_ROOM: usize = 10;

static BASE: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ns() -> u64 {
    BASE.elapsed().as_nanos() as u64
}

#[derive(Serialize, Deserialize)]
struct Msg {
    sent_ns: u64,
    text: String,
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Outcome {
    published: u64,
    publish_errors: u64,
    deliveries: u64,
    expected: u64,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

impl Outcome {
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        self.latencies_us[index] as f64 / 1000.0
    }
}

/// Publishes `rate` msg/s for `seconds` from hub A, round-robin over the
/// rooms, each publish in its own task (A pipelines them on one connection).
async fn publish_for(a: &Hub, rate: u64, seconds: u64, errors: &Arc<AtomicU64>) -> u64 {
    let total = rate * seconds;
    let per_ms = rate as f64 / 1000.0;
    let started = Instant::now();
    let mut interval = tokio::time::interval(Duration::from_millis(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = 0u64;
    let mut tasks = Vec::with_capacity(total as usize);
    while sent < total {
        interval.tick().await;
        let due = ((started.elapsed().as_secs_f64() * 1000.0 + 1.0) * per_ms) as u64;
        while sent < due.min(total) {
            let room = format!("bench:{}", sent as usize % ROOMS);
            let (a, errors) = (a.clone(), errors.clone());
            tasks.push(tokio::spawn(async move {
                let msg = Msg {
                    sent_ns: now_ns(),
                    text: "a chat message of ordinary length, forty-odd bytes".into(),
                };
                if a.publish(&room, &msg).await.is_err() {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }));
            sent += 1;
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    total
}

type Readers = Vec<tokio::task::JoinHandle<Vec<u32>>>;

/// Waits for every reader to have `per_subscriber` messages (or a deadline).
async fn gather(readers: Readers) -> Vec<u32> {
    let mut all = Vec::new();
    for reader in readers {
        all.extend(reader.await.unwrap());
    }
    all
}

async fn run_hub(server: &testkit::RedisServer, a: &Hub, rate: u64, seconds: u64) -> Outcome {
    let b = Hub::builder(server.client())
        .prefix("chat")
        .history(100_000)
        .subscription(SubscribeOptions::new().capacity(100_000))
        .build()
        .await
        .unwrap();
    let per_room = rate * seconds / ROOMS as u64;
    let done = CancellationToken::new();
    let mut readers: Readers = Vec::new();
    for room in 0..ROOMS {
        for _ in 0..SUBSCRIBERS_PER_ROOM {
            let mut sub = b.subscribe::<Msg>(&format!("bench:{room}")).await.unwrap();
            let done = done.clone();
            readers.push(tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_room as usize);
                while (latencies.len() as u64) < per_room {
                    let envelope = tokio::select! {
                        _ = done.cancelled() => break,
                        envelope = sub.next() => envelope,
                    };
                    let Some(envelope) = envelope else { break };
                    latencies.push(((now_ns() - envelope.payload.sent_ns) / 1000) as u32);
                }
                latencies
            }));
        }
    }
    measure(a, rate, seconds, readers, done).await
}

async fn run_naive(server: &testkit::RedisServer, a: &Hub, rate: u64, seconds: u64) -> Outcome {
    let per_room = rate * seconds / ROOMS as u64;
    let done = CancellationToken::new();
    let mut readers: Readers = Vec::new();
    for room in 0..ROOMS {
        for _ in 0..SUBSCRIBERS_PER_ROOM {
            let mut pubsub = server.client().get_async_pubsub().await.unwrap();
            pubsub
                .subscribe(format!("chat:{{bench:{room}}}"))
                .await
                .unwrap();
            let done = done.clone();
            readers.push(tokio::spawn(async move {
                let mut messages = pubsub.into_on_message();
                let mut latencies = Vec::with_capacity(per_room as usize);
                while (latencies.len() as u64) < per_room {
                    let message = tokio::select! {
                        _ = done.cancelled() => break,
                        message = messages.next() => message,
                    };
                    let Some(message) = message else { break };
                    // The same frame: "<offset> <epoch> <json>".
                    let frame = message.get_payload_bytes();
                    let mut parts = frame.splitn(3, |b| *b == b' ');
                    let _offset: u64 = std::str::from_utf8(parts.next().unwrap())
                        .unwrap()
                        .parse()
                        .unwrap();
                    let _epoch = parts.next().unwrap();
                    let msg: Msg = serde_json::from_slice(parts.next().unwrap()).unwrap();
                    latencies.push(((now_ns() - msg.sent_ns) / 1000) as u32);
                }
                latencies
            }));
        }
    }
    measure(a, rate, seconds, readers, done).await
}

async fn measure(
    a: &Hub,
    rate: u64,
    seconds: u64,
    readers: Readers,
    done: CancellationToken,
) -> Outcome {
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let published = publish_for(a, rate, seconds, &errors).await;
    // Readers still short of their count 10 s after the last publish have
    // lost messages: stop them and count what arrived.
    let _stop = done.clone().drop_guard();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        done.cancel();
    });
    let latencies = gather(readers).await;
    let elapsed = started.elapsed();
    let mut latencies_us = latencies;
    latencies_us.sort_unstable();
    Outcome {
        published,
        publish_errors: errors.load(Ordering::Relaxed),
        deliveries: latencies_us.len() as u64,
        expected: published * SUBSCRIBERS_PER_ROOM as u64,
        elapsed,
        latencies_us,
    }
}

/// Waits until the naive round's 1,000 connections are gone from Redis, so
/// the next round does not pay for their teardown.
async fn settle(server: &testkit::RedisServer) {
    let mut conn = server.connection().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let info: String = redis::cmd("INFO")
            .arg("clients")
            .query_async(&mut conn)
            .await
            .unwrap();
        let clients: u64 = info
            .lines()
            .find_map(|line| line.strip_prefix("connected_clients:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        if clients < 10 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn report(name: &str, outcome: &Outcome) {
    println!(
        "{name:<12} published {:>7} (failed {:>5})  delivered {:>8}/{:<8}  {:>9.0} deliveries/s  p50 {:>7.3} ms  p99 {:>7.3} ms  max {:>8.3} ms",
        outcome.published,
        outcome.publish_errors,
        outcome.deliveries,
        outcome.expected,
        outcome.deliveries as f64 / outcome.elapsed.as_secs_f64(),
        outcome.percentile(0.50),
        outcome.percentile(0.99),
        outcome.percentile(1.0),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; no other arguments are understood.
    let rate = env("FANOUT_RATE", 10_000);
    let seconds = env("FANOUT_SECONDS", 5);
    let rounds = env("FANOUT_ROUNDS", 2);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        LazyLock::force(&BASE);
        let server = testkit::redis().await;
        let a = Hub::builder(server.client())
            .history(100_000)
            .build()
            .await
            .unwrap();
        println!(
            "fanout: {rate} msg/s for {seconds} s per round, {ROOMS} rooms, {} subscribers, publish on hub A -> receive on the other side",
            ROOMS * SUBSCRIBERS_PER_ROOM
        );
        let (mut ours, mut naive) = (Vec::new(), Vec::new());
        for round in 1..=rounds {
            let outcome = run_hub(&server, &a, rate, seconds).await;
            report(&format!("hub #{round}"), &outcome);
            ours.push(outcome);
            let outcome = run_naive(&server, &a, rate, seconds).await;
            report(&format!("naive #{round}"), &outcome);
            naive.push(outcome);
            settle(&server).await;
        }
        let merged = |outcomes: Vec<Outcome>| {
            let mut all = Outcome {
                published: 0,
                publish_errors: 0,
                deliveries: 0,
                expected: 0,
                elapsed: Duration::ZERO,
                latencies_us: Vec::new(),
            };
            for outcome in outcomes {
                all.published += outcome.published;
                all.publish_errors += outcome.publish_errors;
                all.deliveries += outcome.deliveries;
                all.expected += outcome.expected;
                all.elapsed += outcome.elapsed;
                all.latencies_us.extend(outcome.latencies_us);
            }
            all.latencies_us.sort_unstable();
            all
        };
        let (ours, naive) = (merged(ours), merged(naive));
        println!("---");
        report("hub (all)", &ours);
        report("naive (all)", &naive);
        println!(
            "redis connections for 1,000 subscribers: hub 2 (1 pub/sub + 1 command), naive {}",
            ROOMS * SUBSCRIBERS_PER_ROOM
        );
        println!(
            "ratio naive/hub: p50 {:.2}x  p99 {:.2}x  (target: hub p99 <= 5 ms at 10,000 msg/s: {})",
            naive.percentile(0.5) / ours.percentile(0.5),
            naive.percentile(0.99) / ours.percentile(0.99),
            if ours.percentile(0.99) <= 5.0 { "met" } else { "NOT met" },
        );
    });
}

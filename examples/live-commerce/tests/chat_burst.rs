//! The live-chat burst, end to end through the running services (scenario
//! 6): WebSocket clients on chat instance A send 100,000 messages into one
//! room at once; clients on instance B receive every one, in order; the
//! worker archives them through Kafka into PostgreSQL, and the archive ends
//! with exactly 100,000 rows, none missing, none twice, each sender's
//! messages in its order.
//!
//! It prints the live latency A → B (p50, p99, max), the send rate and the
//! archive lag (last send → archive complete), the figures of
//! `docs/live-chat.md`. A receiver that falls too far behind is closed as
//! a slow consumer (4002) and resumes from its last offset, as a real
//! client does; the test counts those resumes.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use live_commerce::server::Role;
use live_commerce::strategy::Strategy;
use support::chat::{Sender, Socket, join, join_from};
use support::{Services, base_url, buyers, spawn_serve, start_role};

const MESSAGES: usize = 100_000;
const SENDERS: usize = 4;
const RECEIVERS: usize = 2;
const ROOM: &str = "live.burst";
/// How long the burst may make no progress before the test gives up.
const STALL: Duration = Duration::from_secs(60);

/// When each message was sent, in µs since the start (0: not yet).
struct SendTimes {
    start: Instant,
    at: Vec<AtomicU64>,
}

impl SendTimes {
    fn mark(&self, index: usize) {
        let micros = self.start.elapsed().as_micros() as u64;
        self.at[index].store(micros.max(1), Ordering::Relaxed);
    }

    fn latency(&self, index: usize) -> u64 {
        let sent = self.at[index].load(Ordering::Relaxed);
        (self.start.elapsed().as_micros() as u64).saturating_sub(sent)
    }
}

/// `"<sender>:<seq>"` → the message's index in [`SendTimes`].
fn index_of(text: &str) -> (usize, usize) {
    let (sender, seq) = text.split_once(':').expect("sender:seq");
    let (sender, seq): (usize, usize) = (sender.parse().unwrap(), seq.parse().unwrap());
    (sender, sender * (MESSAGES / SENDERS) + seq)
}

/// What one receiver saw.
struct Received {
    latencies_us: Vec<u64>,
    resumes: usize,
    epoch: String,
}

/// Reads every message of the burst on instance `base`, checking the
/// offsets are 1, 2, 3, … and each sender's sequence in its order;
/// resumes from the last offset when closed as a slow consumer.
async fn receive(
    base: String,
    cookie: String,
    times: Arc<SendTimes>,
    mut socket: Socket,
) -> Received {
    let mut latencies_us = Vec::with_capacity(MESSAGES);
    let mut next_seq = [0usize; SENDERS];
    let (mut last, mut epoch, mut resumes) = (0u64, String::new(), 0);
    while (last as usize) < MESSAGES {
        let Some(frame) = socket.try_frame(STALL).await else {
            resumes += 1;
            let query = format!("?offset={last}&epoch={epoch}");
            socket = join_from(&base, ROOM, &cookie, &query).await;
            continue;
        };
        if frame["type"] != "message" {
            assert_eq!(frame["type"], "live", "{frame}");
            continue;
        }
        let offset = frame["offset"].as_u64().unwrap();
        assert_eq!(offset, last + 1, "offsets arrive in order without a gap");
        last = offset;
        epoch = frame["epoch"].as_str().unwrap().to_string();
        let (sender, index) = index_of(frame["payload"]["text"].as_str().unwrap());
        let seq = index - sender * (MESSAGES / SENDERS);
        assert_eq!(
            seq, next_seq[sender],
            "sender {sender}'s messages in its order"
        );
        next_seq[sender] += 1;
        latencies_us.push(times.latency(index));
    }
    Received {
        latencies_us,
        resumes,
        epoch,
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_100_000_messages_from_instance_a_reaches_b_in_order_and_the_archive_once() {
    let services = Services::start().await;
    let kafka = testkit::kafka().await;
    let topic = kafka.name("chat");
    let auth = start_role(&services, Role::Auth, Strategy::Lua).await;
    let http = reqwest::Client::new();
    let users = buyers(&http, &base_url(&auth), SENDERS + RECEIVERS).await;
    let chat = [
        "--role",
        "chat",
        "--chat-rate",
        "1000000",
        "--chat-burst",
        "1000000",
        "--chat-history",
        "200000",
    ];
    let a = spawn_serve(&services, &chat).await;
    let b = spawn_serve(&services, &chat).await;
    let worker = spawn_serve(
        &services,
        &["--role", "worker", "--chat-archive-topic", &topic],
    )
    .await;
    let _logs = LogsOnFailure([("chat A", &a), ("chat B", &b), ("worker", &worker)]);

    let times = Arc::new(SendTimes {
        start: Instant::now(),
        at: (0..MESSAGES).map(|_| AtomicU64::new(0)).collect(),
    });
    let mut receivers = Vec::new();
    for cookie in &users[SENDERS..] {
        let mut socket = join(&b.url, ROOM, cookie).await;
        socket.until_live().await;
        let (base, cookie, times) = (b.url.clone(), cookie.clone(), times.clone());
        receivers.push(tokio::spawn(receive(base, cookie, times, socket)));
    }
    let mut senders = Vec::new();
    for (sender, cookie) in users[..SENDERS].iter().enumerate() {
        let mut socket = join(&a.url, ROOM, cookie).await;
        socket.until_live().await;
        let mut socket = socket.into_sender();
        let times = times.clone();
        senders.push(tokio::spawn(async move {
            for seq in 0..MESSAGES / SENDERS {
                times.mark(sender * (MESSAGES / SENDERS) + seq);
                socket.say(&format!("{sender}:{seq}")).await;
            }
            socket
        }));
    }
    let burst_started = Instant::now();
    let sending = tokio::spawn(futures::future::join_all(senders));
    // Every receiver has every message (they fail fast if the flow stops).
    let received: Vec<Received> = futures::future::join_all(receivers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let delivered_in = burst_started.elapsed();
    let mut senders: Vec<Sender> = sending
        .await
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect();

    let pool = services.postgres.pool().await;
    let archived = archive_complete(&pool).await;
    let archive_lag = burst_started.elapsed() - delivered_in;
    assert_eq!(archived, MESSAGES as i64);
    check_archive_order(&pool).await;

    let live = paced_latencies(&mut senders[0], &b.url, &users[SENDERS], &received[0].epoch).await;
    let mut queued: Vec<u64> = received
        .iter()
        .flat_map(|r| r.latencies_us.clone())
        .collect();
    queued.sort_unstable();
    println!(
        "| burst | delivered to every receiver on B in | end-to-end rate | queued latency p50 / p99 | slow-consumer resumes | archive complete after the last delivery |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| {MESSAGES} messages, {SENDERS} senders on A, {RECEIVERS} receivers on B | {:.1} s | {:.0} msg/s | {:.0} / {:.0} ms | {} | {:.1} s |",
        delivered_in.as_secs_f64(),
        MESSAGES as f64 / delivered_in.as_secs_f64(),
        percentile(&queued, 0.50),
        percentile(&queued, 0.99),
        received.iter().map(|r| r.resumes).sum::<usize>(),
        archive_lag.as_secs_f64(),
    );
    println!("\n| live, paced | latency A → B p50 | p99 | max |");
    println!("|---|---|---|---|");
    println!(
        "| {PACED} messages at {PACE} a second | {:.2} ms | {:.2} ms | {:.2} ms |",
        percentile(&live, 0.50),
        percentile(&live, 0.99),
        percentile(&live, 1.0),
    );
}

/// Messages of the paced run, and their rate per second.
const PACED: usize = 2_000;
const PACE: u64 = 200;

/// The live latency A → B at a pace a busy room really sees: [`PACED`]
/// messages at [`PACE`] a second from a sender on A to a receiver on B
/// (joined after the burst). Sorted, in µs.
async fn paced_latencies(sender: &mut Sender, b: &str, cookie: &str, epoch: &str) -> Vec<u64> {
    let query = format!("?offset={MESSAGES}&epoch={epoch}");
    let mut receiver = join_from(b, ROOM, cookie, &query).await;
    assert!(
        receiver.until_live().await.is_empty(),
        "caught up after the burst"
    );
    let times = Arc::new(SendTimes {
        start: Instant::now(),
        at: (0..PACED).map(|_| AtomicU64::new(0)).collect(),
    });
    let reading = tokio::spawn({
        let times = times.clone();
        async move {
            let mut latencies = Vec::with_capacity(PACED);
            while latencies.len() < PACED {
                let frame = receiver.frame().await;
                let text = frame["payload"]["text"].as_str().unwrap();
                let seq: usize = text.strip_prefix("paced:").unwrap().parse().unwrap();
                assert_eq!(seq, latencies.len(), "in order");
                latencies.push(times.latency(seq));
            }
            latencies
        }
    });
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / PACE));
    for seq in 0..PACED {
        tick.tick().await;
        times.mark(seq);
        sender.say(&format!("paced:{seq}")).await;
    }
    let mut latencies = reading.await.unwrap();
    latencies.sort_unstable();
    latencies
}

/// Prints the services' output when the test fails.
struct LogsOnFailure<'a>([(&'static str, &'a support::Instance); 3]);

impl Drop for LogsOnFailure<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for (name, instance) in &self.0 {
                eprintln!("--- {name} ---\n{}", instance.process.output_text());
            }
        }
    }
}

/// Waits until the archive holds the whole burst (or stops growing for
/// [`STALL`]); returns its row count.
async fn archive_complete(pool: &sqlx::PgPool) -> i64 {
    let (mut rows, mut grew_at) = (0, Instant::now());
    loop {
        let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM chat_archive WHERE room = $1")
            .bind(ROOM)
            .fetch_one(pool)
            .await
            .unwrap();
        if count != rows {
            (rows, grew_at) = (count, Instant::now());
        }
        if rows >= MESSAGES as i64 || grew_at.elapsed() > STALL {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Offsets 1..=100,000, each once, and each sender's messages in its order.
async fn check_archive_order(pool: &sqlx::PgPool) {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT \"offset\", payload->>'text' FROM chat_archive WHERE room = $1 ORDER BY \"offset\"",
    )
    .bind(ROOM)
    .fetch_all(pool)
    .await
    .unwrap();
    let offsets: Vec<i64> = rows.iter().map(|(offset, _)| *offset).collect();
    assert_eq!(offsets, (1..=MESSAGES as i64).collect::<Vec<_>>());
    let mut next_seq = [0usize; SENDERS];
    for (_, text) in &rows {
        let (sender, index) = index_of(text);
        assert_eq!(index - sender * (MESSAGES / SENDERS), next_seq[sender]);
        next_seq[sender] += 1;
    }
}

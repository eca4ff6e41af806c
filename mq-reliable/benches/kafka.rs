//! Kafka consume + commit throughput: our consumer beside a raw rdkafka
//! `StreamConsumer` loop, same topic contents, same broker, same run.
//!
//! `cargo bench -p mq-reliable --bench kafka`
//!
//! One topic (4 partitions, 100 keys, ~1 KB JSON records) is filled once;
//! every round reads all of it from the start under a fresh consumer group.
//! Raw and ours alternate round by round (raw, ours, raw, …) so drift on a
//! shared machine hits both alike; the medians and their ratio are printed.
//! The clock starts at the first record handled (the group join, which the
//! broker paces, is not counted) and stops when the last one is done:
//!
//! - raw: `StreamConsumer`, manual offset store after each record
//!   (`enable.auto.offset.store=false`, `store_offset_from_message`), commits
//!   every 500 ms (`auto.commit.interval.ms`) — the at-least-once loop most
//!   rdkafka code writes; one record at a time, in partition order;
//! - ours: `mq_reliable::kafka::Consumer`, concurrency 64, handler
//!   deserializes and returns `Ok`; stop when every record is completed
//!   (offset committable; commits every 500 ms).
//!
//! `MQ_BENCH_MESSAGES` and `MQ_BENCH_ROUNDS` override the records in the
//! topic (default 20 000) and the rounds (default 5).

mod common;
use common::{env_number, median, rate};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use mq_reliable::Message;
use mq_reliable::kafka::Kafka;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::Mutex;

const PARTITIONS: i32 = 4;
const KEYS: u64 = 100;
const CONCURRENCY: usize = 64;

#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    n: u64,
    body: String,
}

struct Bench {
    ns: testkit::KafkaNamespace,
    topic: String,
    messages: u64,
    round: AtomicU64,
}

impl Bench {
    async fn new() -> Self {
        let ns = testkit::kafka().await;
        let topic = ns.create_topic("bench", PARTITIONS).await.unwrap();
        let messages = env_number("MQ_BENCH_MESSAGES", 20_000);
        let producer: FutureProducer = ns
            .client_config()
            .set("enable.idempotence", "true")
            .set("linger.ms", "20")
            .set("batch.num.messages", "5000")
            .set("queue.buffering.max.messages", "1000000")
            .set("queue.buffering.max.kbytes", "2097152")
            .create()
            .unwrap();
        let mut deliveries = Vec::new();
        for n in 0..messages {
            let body = serde_json::to_vec(&Payload {
                n,
                body: "x".repeat(1000),
            })
            .unwrap();
            let key = format!("k{}", n % KEYS);
            let record = FutureRecord::to(&topic).key(&key).payload(&body);
            deliveries.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
        }
        for delivery in deliveries {
            delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
        }
        Self {
            ns,
            topic,
            messages,
            round: AtomicU64::new(0),
        }
    }

    fn group(&self) -> String {
        let round = self.round.fetch_add(1, Ordering::Relaxed);
        self.ns.name(&format!("group-{round}"))
    }

    /// The raw loop: one record at a time, offset stored after it, commits
    /// every 500 ms.
    async fn raw(&self) -> Duration {
        let consumer: StreamConsumer = self
            .ns
            .client_config()
            .set("group.id", self.group())
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "500")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .create()
            .unwrap();
        consumer.subscribe(&[&self.topic]).unwrap();
        let mut stream = consumer.stream();
        let mut start = None;
        for _ in 0..self.messages {
            let record = stream.next().await.unwrap().unwrap();
            start.get_or_insert_with(Instant::now);
            let payload: Payload =
                serde_json::from_slice(rdkafka::Message::payload(&record).unwrap()).unwrap();
            std::hint::black_box(payload);
            consumer.store_offset_from_message(&record).unwrap();
        }
        let elapsed = start.unwrap().elapsed();
        drop(stream);
        let _ = consumer.commit_consumer_state(CommitMode::Sync);
        elapsed
    }

    /// Our consumer, same topic, fresh group.
    async fn ours(&self) -> Duration {
        let consumer = Arc::new(
            Kafka::new(self.ns.brokers())
                .consumer(&self.topic, self.group())
                .concurrency(CONCURRENCY)
                .commit_interval(Duration::from_millis(500))
                .shutdown_timeout(Duration::from_secs(5))
                .without_dead_letter_topic()
                .build()
                .await
                .unwrap(),
        );
        let start: Arc<Mutex<Option<Instant>>> = Arc::default();
        let first = start.clone();
        let running = consumer.clone();
        let task = tokio::spawn(async move {
            running
                .run(move |msg: Message<Payload>| {
                    let first = first.clone();
                    async move {
                        first.lock().await.get_or_insert_with(Instant::now);
                        std::hint::black_box(msg.payload());
                        Ok(())
                    }
                })
                .await
        });
        while consumer.stats().acked < self.messages {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        let elapsed = start.lock().await.unwrap().elapsed();
        consumer.shutdown_handle().shutdown();
        task.await.unwrap().unwrap();
        elapsed
    }
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let bench = Bench::new().await;
        let rounds = env_number("MQ_BENCH_ROUNDS", 5) as usize;
        let n = bench.messages;
        println!("{n} records of ~1 KB in {PARTITIONS} partitions ({KEYS} keys), {rounds} rounds");
        let (mut raw, mut ours) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            let r = bench.raw().await;
            let o = bench.ours().await;
            println!(
                "  round {round}: raw {:>9.0} msg/s   ours {:>9.0} msg/s",
                rate(n, r),
                rate(n, o)
            );
            raw.push(r);
            ours.push(o);
        }
        let (raw, ours) = (median(raw), median(ours));
        println!(
            "consume+commit   raw rdkafka {:>9.0} msg/s   mq-reliable {:>9.0} msg/s   ratio {:.2}",
            rate(n, raw),
            rate(n, ours),
            raw.as_secs_f64() / ours.as_secs_f64()
        );
    });
}

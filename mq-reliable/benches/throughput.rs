//! End-to-end figures against the broker, each beside its raw-lapin
//! comparison in the same run:
//!
//! 1. consume + ack throughput: our consumer vs a raw lapin consume + ack loop;
//! 2. confirmed publish throughput: our publisher vs raw lapin with confirms;
//! 3. publish → handler latency, p50 / p99.
//!
//! `cargo bench -p mq-reliable --bench throughput`
//!
//! Messages are 1 KB JSON. Raw and ours alternate round by round (raw, ours,
//! raw, …) so drift on a shared machine hits both alike; the medians and
//! their ratio are printed. `MQ_BENCH_MESSAGES` and `MQ_BENCH_ROUNDS`
//! override the size of a round (default 20 000) and the number of rounds
//! (default 5).

mod common;
use common::{env_number, median, rate};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use mq_reliable::Message;
use mq_reliable::amqp::{Broker, ExchangeKind};

const PREFETCH: u16 = 128;
const CONCURRENCY: usize = 64;
const PUBLISH_TASKS: u64 = 64;

#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    sent_at_us: u64,
    body: String,
}

fn payload() -> Payload {
    Payload {
        sent_at_us: now_us(),
        body: "x".repeat(1000),
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

struct Bench {
    _vhost: testkit::RabbitVhost,
    mq: Broker,
    raw: Connection,
    raw_channel: Channel,
    body: Vec<u8>,
    messages: u64,
}

impl Bench {
    async fn new() -> Self {
        let vhost = testkit::rabbitmq().await;
        let mq = Broker::connect(vhost.url()).await.unwrap();
        mq.declare_exchange("bench", ExchangeKind::Direct)
            .await
            .unwrap();
        // Declares the consumed queue (and its retry and dead-letter queues).
        let _ = mq
            .consumer("consume.q")
            .bind("bench", "consume")
            .build()
            .await
            .unwrap();
        let raw = Connection::connect(&vhost.url(), ConnectionProperties::default())
            .await
            .unwrap();
        let raw_channel = raw.create_channel().await.unwrap();
        raw_channel
            .queue_declare(
                "publish.q".into(),
                lapin::options::QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        raw_channel
            .queue_bind(
                "publish.q".into(),
                "bench".into(),
                "publish".into(),
                Default::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        raw_channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        Self {
            _vhost: vhost,
            mq,
            raw,
            raw_channel,
            body: serde_json::to_vec(&payload()).unwrap(),
            messages: env_number("MQ_BENCH_MESSAGES", 20_000),
        }
    }

    fn properties(&self) -> BasicProperties {
        BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(uuid::Uuid::new_v4().to_string().into())
    }

    /// Fills `consume.q` with `messages` persistent messages (raw, pipelined confirms).
    async fn fill(&self) {
        for chunk in 0..self.messages.div_ceil(1000) {
            let n = (self.messages - chunk * 1000).min(1000);
            for _ in 0..n {
                // Confirms are awaited per chunk by `wait_for_confirms`.
                let pending = self
                    .raw_channel
                    .basic_publish(
                        "bench".into(),
                        "consume".into(),
                        BasicPublishOptions::default(),
                        &self.body,
                        self.properties(),
                    )
                    .await
                    .unwrap();
                drop(pending);
            }
            self.raw_channel.wait_for_confirms().await.unwrap();
        }
    }

    async fn purge(&self, queue: &str) {
        self.raw_channel
            .queue_purge(queue.into(), QueuePurgeOptions::default())
            .await
            .unwrap();
    }

    /// Raw lapin: prefetch, consume, deserialize, ack each delivery.
    async fn raw_consume(&self) -> Duration {
        self.fill().await;
        let channel = self.raw.create_channel().await.unwrap();
        channel
            .basic_qos(PREFETCH, BasicQosOptions::default())
            .await
            .unwrap();
        let start = Instant::now();
        let mut deliveries = channel
            .basic_consume(
                "consume.q".into(),
                "raw".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let mut acked = 0;
        while acked < self.messages {
            let delivery = deliveries.next().await.unwrap().unwrap();
            let payload: Payload = serde_json::from_slice(&delivery.data).unwrap();
            std::hint::black_box(payload);
            delivery.ack(BasicAckOptions::default()).await.unwrap();
            acked += 1;
        }
        let elapsed = start.elapsed();
        channel.close(200, "done".into()).await.unwrap();
        elapsed
    }

    /// Our consumer with the same prefetch.
    async fn our_consume(&self) -> Duration {
        self.fill().await;
        let consumer = Arc::new(
            self.mq
                .consumer("consume.q")
                .bind("bench", "consume")
                .prefetch(PREFETCH)
                .concurrency(CONCURRENCY)
                .build()
                .await
                .unwrap(),
        );
        let handled = Arc::new(AtomicU64::new(0));
        let done = Arc::new(tokio::sync::Notify::new());
        let (h, d, target) = (handled.clone(), done.clone(), self.messages);
        let stop = consumer.shutdown_handle();
        let start = Instant::now();
        let running = consumer.clone();
        let task = tokio::spawn(async move {
            running
                .run(move |msg: Message<Payload>| {
                    let (handled, done) = (h.clone(), d.clone());
                    async move {
                        std::hint::black_box(msg.payload());
                        if handled.fetch_add(1, Ordering::Relaxed) + 1 == target {
                            done.notify_one();
                        }
                        Ok(())
                    }
                })
                .await
        });
        done.notified().await;
        // The last ack follows the last handler by microseconds; wait for it.
        while consumer.stats().acked < self.messages {
            tokio::task::yield_now().await;
        }
        let elapsed = start.elapsed();
        stop.shutdown();
        task.await.unwrap().unwrap();
        elapsed
    }

    /// Raw lapin: PUBLISH_TASKS tasks on one confirm channel, each awaiting its confirm.
    async fn raw_publish(&self) -> Duration {
        let start = Instant::now();
        let per_task = self.messages / PUBLISH_TASKS;
        let tasks: Vec<_> = (0..PUBLISH_TASKS)
            .map(|_| {
                let channel = self.raw_channel.clone();
                let body = self.body.clone();
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        let props = BasicProperties::default()
                            .with_delivery_mode(2)
                            .with_content_type("application/json".into())
                            .with_message_id(uuid::Uuid::new_v4().to_string().into());
                        let confirm = channel
                            .basic_publish(
                                "bench".into(),
                                "publish".into(),
                                BasicPublishOptions {
                                    mandatory: true,
                                    ..Default::default()
                                },
                                &body,
                                props,
                            )
                            .await
                            .unwrap()
                            .await
                            .unwrap();
                        assert!(confirm.is_ack());
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let elapsed = start.elapsed();
        self.purge("publish.q").await;
        elapsed
    }

    /// Our publisher, same shape.
    async fn our_publish(&self) -> Duration {
        let publisher = self.mq.publisher().build().await.unwrap();
        let start = Instant::now();
        let per_task = self.messages / PUBLISH_TASKS;
        let tasks: Vec<_> = (0..PUBLISH_TASKS)
            .map(|_| {
                let publisher = publisher.clone();
                tokio::spawn(async move {
                    let message = payload();
                    for _ in 0..per_task {
                        publisher
                            .publish("bench", "publish", &message)
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let elapsed = start.elapsed();
        publisher.close().await;
        self.purge("publish.q").await;
        elapsed
    }

    /// Publish → handler latency: one message at a time, each published
    /// after the previous one reached its handler.
    async fn latency(&self, samples: usize) -> Vec<u64> {
        let consumer = Arc::new(
            self.mq
                .consumer("latency.q")
                .bind("bench", "latency")
                .build()
                .await
                .unwrap(),
        );
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let stop = consumer.shutdown_handle();
        let running = consumer.clone();
        let task = tokio::spawn(async move {
            running
                .run(move |msg: Message<Payload>| {
                    let tx = tx.clone();
                    async move {
                        let _ = tx.send(now_us().saturating_sub(msg.payload().sent_at_us));
                        Ok(())
                    }
                })
                .await
        });
        let publisher = self.mq.publisher().build().await.unwrap();
        let mut latencies = Vec::with_capacity(samples);
        for _ in 0..samples {
            publisher
                .publish("bench", "latency", &payload())
                .await
                .unwrap();
            latencies.push(rx.recv().await.unwrap());
        }
        stop.shutdown();
        task.await.unwrap().unwrap();
        latencies.sort_unstable();
        latencies
    }
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let bench = Bench::new().await;
        let rounds = env_number("MQ_BENCH_ROUNDS", 5) as usize;
        let n = bench.messages;
        println!(
            "{n} messages of {} bytes per round, {rounds} rounds",
            bench.body.len()
        );

        let (mut raw, mut ours) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            raw.push(bench.raw_consume().await);
            ours.push(bench.our_consume().await);
        }
        let (raw, ours) = (median(raw), median(ours));
        println!(
            "consume+ack   raw lapin {:>9.0} msg/s   mq-reliable {:>9.0} msg/s   ratio {:.2}",
            rate(n, raw),
            rate(n, ours),
            raw.as_secs_f64() / ours.as_secs_f64()
        );

        let (mut raw, mut ours) = (Vec::new(), Vec::new());
        let published = n / PUBLISH_TASKS * PUBLISH_TASKS;
        for _ in 0..rounds {
            raw.push(bench.raw_publish().await);
            ours.push(bench.our_publish().await);
        }
        let (raw, ours) = (median(raw), median(ours));
        println!(
            "publish+conf  raw lapin {:>9.0} msg/s   mq-reliable {:>9.0} msg/s   ratio {:.2}",
            rate(published, raw),
            rate(published, ours),
            raw.as_secs_f64() / ours.as_secs_f64()
        );

        let latencies = bench.latency(2_000).await;
        let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        println!(
            "publish->handler latency  p50 {} us   p99 {} us   max {} us  ({} samples)",
            pick(0.50),
            pick(0.99),
            latencies[latencies.len() - 1],
            latencies.len()
        );
    });
}

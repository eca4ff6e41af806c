//! Outbox relay throughput (rows/s from PostgreSQL to the broker) beside a
//! direct confirmed publish of the same rows, for RabbitMQ and for Kafka,
//! in the same run.
//!
//! `cargo bench -p mq-reliable --bench outbox`
//!
//! Each round enqueues the rows (50 keys, ~150-byte JSON, 100 rows per
//! transaction; not timed), then times one of:
//!
//! - relay: `Relay::run_once` until nothing is pending (default batch of 500:
//!   claim with `FOR UPDATE SKIP LOCKED`, publish, mark sent, commit);
//! - direct: the same rows, already in memory, published the way the relay
//!   publishes them but without the database — RabbitMQ: one task per key,
//!   each publish awaiting its confirm (our `Publisher`); Kafka: every row
//!   handed to the idempotent producer in order, then every delivery awaited.
//!
//! Direct and relay alternate round by round; medians and the ratio
//! (relay / direct) are printed. `MQ_BENCH_ROWS` and `MQ_BENCH_ROUNDS`
//! override the rows per round (default 5 000) and the rounds (default 3).

mod common;
use common::{env_number, median, rate};

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::options::{QueueBindOptions, QueueDeclareOptions, QueuePurgeOptions};
use lapin::types::FieldTable;
use mq_reliable::amqp::{Broker, ExchangeKind, Publisher};
use mq_reliable::kafka::{Kafka, Producer};
use mq_reliable::outbox::{Outbox, Relay, Target};
use sqlx::PgPool;

const KEYS: u64 = 50;

#[derive(serde::Serialize, serde::Deserialize)]
struct Event {
    key: String,
    seq: u64,
    body: String,
}

struct Bench {
    _db: testkit::PgDatabase,
    pool: PgPool,
    outbox: Outbox,
    rows: u64,
}

/// A row as the direct publish sees it: (key, id, payload).
type Row = (String, String, serde_json::Value);

impl Bench {
    /// Enqueues the rows; returns them in seq order.
    async fn fill(&self, destination: &str) -> Vec<Row> {
        let mut rows = Vec::with_capacity(self.rows as usize);
        for chunk in 0..self.rows.div_ceil(100) {
            let mut tx = self.pool.begin().await.unwrap();
            for seq in chunk * 100..((chunk + 1) * 100).min(self.rows) {
                let key = format!("key.{}", seq % KEYS);
                let event = Event {
                    key: key.clone(),
                    seq,
                    body: "x".repeat(100),
                };
                let id = self
                    .outbox
                    .enqueue(&mut tx, destination, &key, &event)
                    .await
                    .unwrap();
                rows.push((key, id.to_string(), serde_json::to_value(&event).unwrap()));
            }
            tx.commit().await.unwrap();
        }
        rows
    }

    async fn clear(&self) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {}",
            self.outbox.table()
        )))
        .execute(&self.pool)
        .await
        .unwrap();
    }

    async fn relay(&self, destination: &str, target: Target) -> Duration {
        self.fill(destination).await;
        let relay = Relay::builder(self.pool.clone(), self.outbox.clone(), target).build();
        let start = Instant::now();
        let mut published = 0;
        while published < self.rows as usize {
            published += relay.run_once().await.unwrap();
        }
        let elapsed = start.elapsed();
        assert_eq!(self.outbox.pending(&self.pool).await.unwrap(), 0);
        self.clear().await;
        elapsed
    }

    /// RabbitMQ without the database: one task per key, confirmed publishes.
    async fn direct_rabbitmq(&self, publisher: &Publisher) -> Duration {
        let rows = self.fill("events").await;
        self.clear().await;
        let mut by_key: BTreeMap<String, Vec<(String, serde_json::Value)>> = BTreeMap::new();
        for (key, id, payload) in rows {
            by_key.entry(key).or_default().push((id, payload));
        }
        let start = Instant::now();
        let tasks: Vec<_> = by_key
            .into_iter()
            .map(|(key, rows)| {
                let publisher = publisher.clone();
                tokio::spawn(async move {
                    for (id, payload) in rows {
                        publisher
                            .publish_with_id("events", &key, &payload, &id)
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        start.elapsed()
    }

    /// Kafka without the database: every row enqueued in order, then awaited.
    async fn direct_kafka(&self, producer: &Producer, topic: &str) -> Duration {
        let rows = self.fill(topic).await;
        self.clear().await;
        let start = Instant::now();
        let mut sends = futures::stream::iter(
            rows.iter()
                .map(|(key, id, payload)| producer.send_with_id(topic, key, payload, id)),
        )
        .buffered(10_000);
        while let Some(delivery) = sends.next().await {
            delivery.unwrap();
        }
        start.elapsed()
    }
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let db = testkit::postgres().await;
        let pool = db.pool().await;
        let outbox = Outbox::new("bench_outbox").unwrap();
        outbox.create_table(&pool).await.unwrap();
        let bench = Bench {
            _db: db,
            pool,
            outbox,
            rows: env_number("MQ_BENCH_ROWS", 5_000),
        };
        let rounds = env_number("MQ_BENCH_ROUNDS", 3) as usize;
        let n = bench.rows;
        println!("{n} rows ({KEYS} keys) per round, {rounds} rounds");

        // RabbitMQ: a durable queue bound to the exchange takes the messages.
        let vhost = testkit::rabbitmq().await;
        let mq = Broker::connect(vhost.url()).await.unwrap();
        mq.declare_exchange("events", ExchangeKind::Topic)
            .await
            .unwrap();
        let raw = lapin::Connection::connect(&vhost.url(), Default::default())
            .await
            .unwrap();
        let channel = raw.create_channel().await.unwrap();
        channel
            .queue_declare(
                "events.q".into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        channel
            .queue_bind(
                "events.q".into(),
                "events".into(),
                "#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let publisher = mq.publisher().build().await.unwrap();
        let (mut direct, mut relayed) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            direct.push(bench.direct_rabbitmq(&publisher).await);
            relayed.push(bench.relay("events", publisher.clone().into()).await);
            channel
                .queue_purge("events.q".into(), QueuePurgeOptions::default())
                .await
                .unwrap();
        }
        let (direct, relayed) = (median(direct), median(relayed));
        println!(
            "outbox -> RabbitMQ   direct confirmed publish {:>7.0} rows/s   relay {:>7.0} rows/s   ratio {:.2}",
            rate(n, direct),
            rate(n, relayed),
            direct.as_secs_f64() / relayed.as_secs_f64()
        );

        // Kafka.
        let ns = testkit::kafka().await;
        let topic = ns.create_topic("events", 4).await.unwrap();
        let producer = Kafka::new(ns.brokers()).producer().build().unwrap();
        let (mut direct, mut relayed) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            direct.push(bench.direct_kafka(&producer, &topic).await);
            relayed.push(bench.relay(&topic, producer.clone().into()).await);
        }
        let (direct, relayed) = (median(direct), median(relayed));
        println!(
            "outbox -> Kafka      direct idempotent produce {:>7.0} rows/s   relay {:>7.0} rows/s   ratio {:.2}",
            rate(n, direct),
            rate(n, relayed),
            direct.as_secs_f64() / relayed.as_secs_f64()
        );
        drop(producer);
    });
}

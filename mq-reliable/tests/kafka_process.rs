//! The Kafka consumer as a separate process, with its effects in
//! PostgreSQL: `kill -9`ed mid-way through 100,000 keyed records, and frozen
//! (SIGSTOP) past its session timeout so that the broker drops it.
//!
//! Each scenario starts this same test binary again (`--exact <the test>`)
//! with `MQ_KAFKA_WORKER_*` set in the environment; the test function then
//! acts as the worker instead of the scenario.

mod kafka_common;

use std::time::Duration;

use mq_reliable::inbox::PgInbox;
use mq_reliable::kafka::Kafka;
use mq_reliable::{Message, Outcome};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use testkit::ChildProcess;

const KILL_TEST: &str =
    "a_hundred_thousand_keyed_records_through_two_kill_9s_take_effect_once_in_key_order";
const FREEZE_TEST: &str = "a_worker_frozen_past_its_session_timeout_rejoins_and_loses_nothing";
const KEYS: i64 = 100;
const PARTITIONS: i32 = 6;
/// The worker's `session.timeout.ms`: how long the broker keeps a killed
/// worker in the group. 6 s is the least Apache Kafka accepts by default
/// (`group.min.session.timeout.ms`); shorter would also let a loaded machine
/// drop a live worker between two heartbeats.
const SESSION_TIMEOUT: Duration = Duration::from_secs(6);
/// How long the effects may stand still before the scenario gives up.
const STALL: Duration = Duration::from_secs(60);

/// A chat line: `seq` counts the lines of its room (the record key) from 0.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Line {
    room: String,
    seq: i64,
}

/// The worker: consumes until SIGTERM, each effect and its message id in one
/// transaction.
async fn worker(brokers: String, topic: String, group: String, database_url: String) {
    let pool = PgPoolOptions::new()
        .max_connections(24)
        .connect(&database_url)
        .await
        .unwrap();
    let consumer = Kafka::new(brokers)
        .consumer(topic, group)
        .concurrency(24)
        .max_in_flight(5_000)
        .commit_interval(Duration::from_millis(200))
        .set(
            "session.timeout.ms",
            SESSION_TIMEOUT.as_millis().to_string(),
        )
        .set("heartbeat.interval.ms", "300")
        .build()
        .await
        .unwrap();
    let inbox = PgInbox::new("mq_inbox").unwrap();
    println!("ready");
    let consumer = std::sync::Arc::new(consumer);
    let watched = std::sync::Arc::downgrade(&consumer);
    tokio::spawn(async move {
        // Tells the scenario when the group gave this worker every partition
        // (and any later change of its assignment).
        let mut last = usize::MAX;
        let mut tick = 0u64;
        while let Some(consumer) = watched.upgrade() {
            tick += 1;
            if tick.is_multiple_of(100) {
                println!("{:?}", consumer.stats());
            }
            let owned = consumer.assignment().len();
            if owned != last {
                if owned == PARTITIONS as usize {
                    println!("owns every partition");
                } else {
                    println!("owns {owned} partitions");
                }
                last = owned;
            }
            drop(consumer);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    consumer
        .run_until(
            move |msg: Message<Line>| {
                let (pool, inbox) = (pool.clone(), inbox.clone());
                async move { handle_once(&pool, &inbox, msg).await }
            },
            mq_reliable::shutdown_signal(),
        )
        .await
        .unwrap();
    println!("stopped {:?}", consumer.stats());
    println!("assigned {} times", consumer.stats().connects);
}

async fn handle_once(pool: &PgPool, inbox: &PgInbox, msg: Message<Line>) -> Result<(), Outcome> {
    let mut tx = pool.begin().await?;
    if !inbox.record(&mut tx, &msg).await.map_err(Outcome::retry)? {
        drop(tx);
        // Handled before the kill, not committed to Kafka: seen again.
        sqlx::query("INSERT INTO seen_again (message_id) VALUES ($1)")
            .bind(msg.id())
            .execute(pool)
            .await?;
        return Ok(());
    }
    let line = msg.payload();
    sqlx::query("INSERT INTO effects (room, seq) VALUES ($1, $2)")
        .bind(&line.room)
        .bind(line.seq)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

struct Scenario {
    ns: testkit::KafkaNamespace,
    _db: testkit::PgDatabase,
    pool: PgPool,
    topic: String,
    group: String,
    db_url: String,
}

impl Scenario {
    async fn new() -> Self {
        let ns = testkit::kafka().await;
        let topic = ns.create_topic("chat", PARTITIONS).await.unwrap();
        let group = ns.name("archive");
        let db = testkit::postgres().await;
        let pool = db.pool().await;
        // The process is killed, not PostgreSQL: commits need not wait for
        // the disk to be durable against a kill -9 of the client.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE \"{}\" SET synchronous_commit = off;
             CREATE TABLE effects (id bigserial PRIMARY KEY, room text NOT NULL, seq bigint NOT NULL);
             CREATE TABLE seen_again (message_id text);",
            db.name()
        )))
        .execute(&pool)
        .await
        .unwrap();
        PgInbox::new("mq_inbox")
            .unwrap()
            .create_table(&pool)
            .await
            .unwrap();
        Self {
            topic,
            group,
            db_url: db.url().to_string(),
            _db: db,
            pool,
            ns,
        }
    }

    /// Produces the records: room `r<i % KEYS>`, per room `seq` 0, 1, 2, …
    /// Enqueued in order on one idempotent producer, so each room's records
    /// are in `seq` order in their partition.
    async fn produce(&self, records: i64) {
        let producer: FutureProducer = self
            .ns
            .client_config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            // One record per batch: tansu 0.6 answers a fetch that starts
            // inside a record batch with nothing from that batch, so a
            // consumer restarting at a committed offset in the middle of
            // a batch would never see the batch's remaining records (see
            // docs/mq-reliable.md). Each produce request carries one batch per partition.
            // (A restart at a batch boundary loses nothing.)
            .set("batch.num.messages", "1")
            .set("linger.ms", "5")
            .set("queue.buffering.max.messages", "1000000")
            .set("queue.buffering.max.kbytes", "1048576")
            .create()
            .unwrap();
        let mut deliveries = Vec::new();
        for i in 0..records {
            let line = Line {
                room: format!("r{}", i % KEYS),
                seq: i / KEYS,
            };
            let body = serde_json::to_vec(&line).unwrap();
            let id = format!("line-{i}");
            let headers = OwnedHeaders::new().insert(Header {
                key: "x-message-id",
                value: Some(id.as_str()),
            });
            let record = FutureRecord::to(&self.topic)
                .key(&line.room)
                .payload(&body)
                .headers(headers);
            deliveries.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
        }
        for delivery in deliveries {
            delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
        }
    }

    /// Starts a worker process (`test`: the running test's name) and waits
    /// until the group gave it every partition.
    async fn worker(&self, test: &str) -> ChildProcess {
        let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", test, "--nocapture"])
            .env("MQ_KAFKA_WORKER_BROKERS", self.ns.brokers())
            .env("MQ_KAFKA_WORKER_TOPIC", &self.topic)
            .env("MQ_KAFKA_WORKER_GROUP", &self.group)
            .env("MQ_KAFKA_WORKER_DATABASE_URL", &self.db_url);
        let worker = ChildProcess::spawn(command).unwrap();
        worker
            .wait_for_output("owns every partition", Duration::from_secs(60))
            .await
            .unwrap_or_else(|e| panic!("{e}: {}", worker.output_text()));
        worker
    }

    async fn effects(&self) -> i64 {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM effects")
            .fetch_one(&self.pool)
            .await
            .unwrap();
        n
    }

    /// Waits until `at_least` effects exist, for as long as the worker keeps
    /// making progress: a slow machine only takes longer, while a worker that
    /// stops taking effect for [`STALL`] fails the test with its own account.
    async fn wait_for_effects(&self, at_least: i64, worker: &ChildProcess) {
        let mut last = (self.effects().await, std::time::Instant::now());
        loop {
            let now = self.effects().await;
            if now >= at_least {
                return;
            }
            if now > last.0 {
                last = (now, std::time::Instant::now());
            } else if last.1.elapsed() > STALL {
                panic!(
                    "{now} effects, none for {STALL:?}, waiting for {at_least}; {}; the worker said:\n{}",
                    self.counts().await,
                    worker.output_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asserts that each of `records` took effect exactly once, each room's
    /// effects in sequence order; returns how many records came back after
    /// having taken effect (skipped by the inbox).
    async fn assert_every_effect_once_in_key_order(&self, records: i64) -> i64 {
        // Every effect exactly once.
        let (total, distinct): (i64, i64) =
            sqlx::query_as("SELECT count(*), count(DISTINCT (room, seq)) FROM effects")
                .fetch_one(&self.pool)
                .await
                .unwrap();
        assert_eq!((total, distinct), (records, records), "every effect once");
        // Per room, the effects in insertion order have increasing seqs.
        let (out_of_order,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM (
                 SELECT seq, lag(seq) OVER (PARTITION BY room ORDER BY id) AS previous
                 FROM effects) AS ordered
             WHERE previous IS NOT NULL AND seq <= previous",
        )
        .fetch_one(&self.pool)
        .await
        .unwrap();
        assert_eq!(out_of_order, 0, "a room's effects out of order");
        let (rooms, per_room_min, per_room_max): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*), min(n), max(n) FROM (SELECT room, count(*) AS n FROM effects GROUP BY room) AS r",
        )
        .fetch_one(&self.pool)
        .await
        .unwrap();
        assert_eq!(
            (rooms, per_room_min, per_room_max),
            (KEYS, records / KEYS, records / KEYS)
        );
        let (seen_again,): (i64,) = sqlx::query_as("SELECT count(*) FROM seen_again")
            .fetch_one(&self.pool)
            .await
            .unwrap();
        seen_again
    }

    /// The tables' sizes and a few rooms, for a failure message.
    async fn counts(&self) -> String {
        let counts: (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM effects), (SELECT count(*) FROM mq_inbox), (SELECT count(*) FROM seen_again)",
        )
        .fetch_one(&self.pool)
        .await
        .unwrap();
        let rooms: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT room, count(*), max(seq) FROM effects GROUP BY room ORDER BY room LIMIT 20",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap();
        format!(
            "(effects, inbox, seen again) {counts:?}; rooms (room, effects, last seq) {rooms:?}"
        )
    }
}

/// In a worker process (started by a scenario): runs the worker and returns
/// true. In the scenario itself: returns false.
async fn worker_if_asked() -> bool {
    let Ok(brokers) = std::env::var("MQ_KAFKA_WORKER_BROKERS") else {
        return false;
    };
    let env = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    worker(
        brokers,
        env("MQ_KAFKA_WORKER_TOPIC"),
        env("MQ_KAFKA_WORKER_GROUP"),
        env("MQ_KAFKA_WORKER_DATABASE_URL"),
    )
    .await;
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_keyed_records_through_two_kill_9s_take_effect_once_in_key_order() {
    const RECORDS: i64 = 100_000;
    if worker_if_asked().await {
        return;
    }
    let started = std::time::Instant::now();
    let scenario = Scenario::new().await;
    scenario.produce(RECORDS).await;
    eprintln!("produced {RECORDS} records after {:?}", started.elapsed());

    for threshold in [25_000, 60_000] {
        let mut worker = scenario.worker(KILL_TEST).await;
        scenario.wait_for_effects(threshold, &worker).await;
        eprintln!("{threshold} effects after {:?}: kill -9", started.elapsed());
        let status = worker.kill9().await;
        assert!(!status.success());
        assert!(
            scenario.effects().await < RECORDS,
            "the worker must die mid-way"
        );
        // The broker drops the dead member only once its session timed out;
        // a worker joining before that shares the partitions with it, and
        // tansu never hands the dead member's share on (see
        // docs/mq-reliable.md). Nothing observable marks the expiry (tansu
        // checks it lazily, on the next join), so this waits for the time
        // itself.
        tokio::time::sleep(SESSION_TIMEOUT + Duration::from_millis(500)).await;
    }
    let mut worker = scenario.worker(KILL_TEST).await;
    scenario.wait_for_effects(RECORDS, &worker).await;
    eprintln!("all effects after {:?}", started.elapsed());
    let status = worker.terminate().await;
    assert!(status.success(), "{}", worker.output_text());

    let seen_again = scenario
        .assert_every_effect_once_in_key_order(RECORDS)
        .await;
    // The kills happened between a commit to the inbox and one to Kafka.
    assert!(
        seen_again > 0,
        "records handled before a kill and not yet committed come back"
    );
    kafka_common::delete_topics(&scenario.ns, &[format!("{}.dlt", scenario.topic)]).await;
}

/// A worker that stops answering for longer than its session timeout (a
/// frozen VM, a long pause) is dropped by the broker; once it runs again it
/// learns so, gives up its partitions, joins again and carries on from the
/// committed offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_frozen_past_its_session_timeout_rejoins_and_loses_nothing() {
    const RECORDS: i64 = 20_000;
    if worker_if_asked().await {
        return;
    }
    let scenario = Scenario::new().await;
    scenario.produce(RECORDS).await;
    let mut worker = scenario.worker(FREEZE_TEST).await;
    scenario.wait_for_effects(2_000, &worker).await;
    worker.signal(nix::sys::signal::Signal::SIGSTOP);
    // A commit sent just before the stop may still land: count after that.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let frozen_at = scenario.effects().await;
    tokio::time::sleep(SESSION_TIMEOUT + Duration::from_secs(2)).await;
    assert_eq!(scenario.effects().await, frozen_at, "the worker is frozen");
    worker.signal(nix::sys::signal::Signal::SIGCONT);
    scenario.wait_for_effects(RECORDS, &worker).await;
    let status = worker.terminate().await;
    let output = worker.output_text();
    assert!(status.success(), "{output}");
    // The broker had dropped the frozen member: the group assigned the
    // partitions to it a second time.
    let assigned: u64 = output
        .lines()
        .find_map(|line| {
            line.strip_prefix("assigned ")?
                .strip_suffix(" times")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("the worker did not say how often it was assigned:\n{output}"));
    assert!(assigned >= 2, "assigned {assigned} times:\n{output}");
    scenario
        .assert_every_effect_once_in_key_order(RECORDS)
        .await;
    kafka_common::delete_topics(&scenario.ns, &[format!("{}.dlt", scenario.topic)]).await;
}

//! The transactional outbox against real PostgreSQL, RabbitMQ and the
//! Kafka-API broker: committed transactions publish exactly their rows,
//! rolled-back ones nothing, in order per key; a relay killed with `kill -9`
//! mid-batch loses nothing; several relays share a table.

mod common;
mod kafka_common;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_common::{header, read_distinct};
use mq_reliable::Message;
use mq_reliable::outbox::{Outbox, Relay};
use sqlx::PgPool;
use testkit::ChildProcess;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Event {
    key: String,
    seq: u64,
}

/// Enqueues `per_tx` rows in each of `txs` transactions (round-robin over
/// `keys` keys); commits the even ones and rolls back the odd ones when
/// `rollback_odd`. Returns the ids of committed rows.
#[allow(clippy::too_many_arguments)]
async fn write(
    pool: &PgPool,
    outbox: &Outbox,
    destination: &str,
    key_prefix: &str,
    txs: u64,
    per_tx: u64,
    keys: u64,
    rollback_odd: bool,
) -> BTreeSet<String> {
    let mut committed = BTreeSet::new();
    let mut next = 0u64;
    for t in 0..txs {
        let mut tx = pool.begin().await.unwrap();
        let mut ids = Vec::new();
        for _ in 0..per_tx {
            let key = format!("{key_prefix}{}", next % keys);
            let event = Event {
                key: key.clone(),
                seq: next,
            };
            next += 1;
            ids.push(
                outbox
                    .enqueue(&mut tx, destination, &key, &event)
                    .await
                    .unwrap()
                    .to_string(),
            );
        }
        if rollback_odd && t % 2 == 1 {
            tx.rollback().await.unwrap();
        } else {
            tx.commit().await.unwrap();
            committed.extend(ids);
        }
    }
    committed
}

async fn database() -> (testkit::PgDatabase, PgPool, Outbox) {
    let db = testkit::postgres().await;
    let pool = db.pool().await;
    let outbox = Outbox::new("mq_outbox").unwrap();
    outbox.create_table(&pool).await.unwrap();
    (db, pool, outbox)
}

async fn drain(relay: &Relay, outbox: &Outbox, pool: &PgPool) {
    while outbox.pending(pool).await.unwrap() > 0 {
        relay.run_once().await.unwrap();
    }
}

/// Per key, the seqs in the order first seen must increase.
fn assert_in_order_per_key(events: &[Event]) {
    let mut last: HashMap<&str, u64> = HashMap::new();
    let mut seen = BTreeSet::new();
    for event in events {
        if !seen.insert(event.seq) {
            continue; // a duplicate of a row published again
        }
        if let Some(previous) = last.insert(&event.key, event.seq) {
            assert!(
                previous < event.seq,
                "key {} went {previous} -> {}",
                event.key,
                event.seq
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_gets_exactly_the_committed_rows_in_order_per_key() {
    let (_db, pool, outbox) = database().await;
    let (_vhost, mq) = common::broker().await;
    let consumer = mq
        .consumer("events.q")
        .bind("events", "order.#")
        .concurrency(1)
        .prefetch(1)
        .build()
        .await
        .unwrap();
    let committed = write(&pool, &outbox, "events", "order.", 20, 3, 4, true).await;
    assert_eq!(committed.len(), 30);
    assert_eq!(
        outbox.pending(&pool).await.unwrap(),
        30,
        "rolled-back rows never exist"
    );

    let publisher = mq.publisher().build().await.unwrap();
    let relay = Relay::builder(pool.clone(), outbox.clone(), publisher)
        .batch_size(7)
        .build();
    drain(&relay, &outbox, &pool).await;
    assert_eq!(relay.stats().published, 30);

    let received: Arc<Mutex<Vec<(String, Event)>>> = Arc::default();
    let record = received.clone();
    let (_consumer, _task) = common::spawn_consumer(consumer, move |msg: Message<Event>| {
        let record = record.clone();
        async move {
            record
                .lock()
                .unwrap()
                .push((msg.id().unwrap().to_string(), msg.payload().clone()));
            Ok(())
        }
    });
    testkit::wait::until(common::PROMPTLY, "30 messages", || async {
        received.lock().unwrap().len() >= 30
    })
    .await;
    let received = received.lock().unwrap().clone();
    let ids: BTreeSet<String> = received.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(
        ids, committed,
        "exactly the committed rows, by their outbox ids"
    );
    assert_eq!(received.len(), 30, "each once");
    let events: Vec<Event> = received.into_iter().map(|(_, e)| e).collect();
    assert_in_order_per_key(&events);
    assert_eq!(mq.ready_count("events.q").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_gets_exactly_the_committed_rows_in_order_per_key() {
    let (_db, pool, outbox) = database().await;
    let ns = testkit::kafka().await;
    let topic = ns.create_topic("events", 3).await.unwrap();
    let committed = write(&pool, &outbox, &topic, "room-", 20, 3, 5, true).await;
    let producer = mq_reliable::kafka::Kafka::new(ns.brokers())
        .producer()
        .build()
        .unwrap();
    let relay = Relay::builder(pool.clone(), outbox.clone(), producer)
        .batch_size(8)
        .build();
    drain(&relay, &outbox, &pool).await;
    drop(relay);

    let records = read_distinct(&ns, &topic, committed.len()).await;
    let ids: BTreeSet<String> = records
        .iter()
        .map(|r| header(r, "x-message-id").unwrap())
        .collect();
    assert_eq!(ids, committed);
    assert_eq!(records.len(), 30);
    let events: Vec<Event> = records
        .iter()
        .map(|r| serde_json::from_slice(rdkafka::Message::payload(r).unwrap()).unwrap())
        .collect();
    for (record, event) in records.iter().zip(&events) {
        assert_eq!(rdkafka::Message::key(record), Some(event.key.as_bytes()));
    }
    assert_in_order_per_key(&events);
}

/// The relay process of the kill -9 scenario: the scenario's test binary
/// started again on that same test with `OUTBOX_*` in its environment.
async fn relay_process(database_url: String, brokers: String) {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&database_url)
        .await
        .unwrap();
    let producer = mq_reliable::kafka::Kafka::new(brokers)
        .producer()
        .build()
        .unwrap();
    let relay = Relay::builder(pool, Outbox::new("mq_outbox").unwrap(), producer)
        .batch_size(1_000)
        .build();
    println!("ready");
    relay.run_until(std::future::pending::<()>()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_mid_batch_loses_nothing_and_two_relays_finish_in_order() {
    if let Ok(database_url) = std::env::var("OUTBOX_DATABASE_URL") {
        let brokers =
            std::env::var("OUTBOX_KAFKA_BROKERS").expect("OUTBOX_KAFKA_BROKERS is not set");
        return relay_process(database_url, brokers).await;
    }
    const N: u64 = 20_000;
    let (db, pool, outbox) = database().await;
    let ns = testkit::kafka().await;
    let topic = ns.create_topic("events", 4).await.unwrap();
    let committed = write(&pool, &outbox, &topic, "k", 20, N / 20, 50, false).await;
    assert_eq!(committed.len() as u64, N);

    let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "a_relay_killed_mid_batch_loses_nothing_and_two_relays_finish_in_order",
            "--nocapture",
        ])
        .env("OUTBOX_DATABASE_URL", db.url())
        .env("OUTBOX_KAFKA_BROKERS", ns.brokers());
    let mut child = ChildProcess::spawn(command).unwrap();
    child
        .wait_for_output("ready", Duration::from_secs(30))
        .await
        .unwrap();
    testkit::wait::until(
        Duration::from_secs(60),
        "the relay sent a few batches",
        || async { outbox.pending(&pool).await.unwrap() <= (N - 3_000) as i64 },
    )
    .await;
    let status = child.kill9().await;
    assert!(!status.success());
    let left = outbox.pending(&pool).await.unwrap();
    assert!(left > 0, "the relay must die mid-way");

    // Two relays take the rest together.
    let producer = mq_reliable::kafka::Kafka::new(ns.brokers())
        .producer()
        .build()
        .unwrap();
    let relays: Vec<Relay> = (0..2)
        .map(|_| {
            Relay::builder(pool.clone(), outbox.clone(), producer.clone())
                .batch_size(500)
                .build()
        })
        .collect();
    let runs: Vec<_> = relays
        .iter()
        .map(|relay| {
            let relay = relay.clone();
            let (outbox, pool) = (outbox.clone(), pool.clone());
            tokio::spawn(async move { drain(&relay, &outbox, &pool).await })
        })
        .collect();
    for run in runs {
        run.await.unwrap();
    }
    assert_eq!(outbox.pending(&pool).await.unwrap(), 0);
    drop(relays);
    drop(producer);

    let records = read_distinct(&ns, &topic, N as usize).await;
    let ids: BTreeSet<String> = records
        .iter()
        .map(|r| header(r, "x-message-id").unwrap())
        .collect();
    assert_eq!(ids, committed, "every committed row published");
    let mut events_by_partition: HashMap<i32, Vec<Event>> = HashMap::new();
    for record in &records {
        let event: Event =
            serde_json::from_slice(rdkafka::Message::payload(record).unwrap()).unwrap();
        events_by_partition
            .entry(rdkafka::Message::partition(record))
            .or_default()
            .push(event);
    }
    for events in events_by_partition.values() {
        assert_in_order_per_key(events);
    }
}

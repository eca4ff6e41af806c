//! Kafka: retry topics and ordered retry, dead-letter topic with the
//! envelope, exact attempt counts, per-key order while other keys progress.

mod common;
mod kafka_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Order, Seen, boom};
use kafka_common::{PROMPTLY, delete_topics, envelope, header, read_topic};
use mq_reliable::kafka::{Consumer, Kafka, RetryMode};
use mq_reliable::{Backoff, FailureKind, Message, Outcome};

fn spawn(
    consumer: Consumer,
    handler: impl Fn(Message<Order>) -> futures::future::BoxFuture<'static, Result<(), Outcome>>
    + Send
    + Sync
    + 'static,
) -> (
    Arc<Consumer>,
    tokio::task::JoinHandle<mq_reliable::Result<()>>,
) {
    let consumer = Arc::new(consumer);
    let running = consumer.clone();
    let task = tokio::spawn(async move { running.run(handler).await });
    (consumer, task)
}

/// Stops the consumer, waits until it left the group and is dropped
/// (librdkafka clients must be gone before their topics are deleted), then
/// deletes the topics it created.
async fn stop(
    ns: &testkit::KafkaNamespace,
    consumer: Arc<Consumer>,
    task: tokio::task::JoinHandle<mq_reliable::Result<()>>,
) {
    let topics = created(&consumer);
    consumer.shutdown_handle().shutdown();
    task.await.unwrap().unwrap();
    drop(Arc::into_inner(consumer).expect("the only handle"));
    delete_topics(ns, &topics).await;
}

fn created(consumer: &Consumer) -> Vec<String> {
    let mut topics = consumer.retry_topics().to_vec();
    topics.extend(consumer.dead_letter_topic().map(str::to_string));
    topics
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_topics_try_exactly_max_attempts_then_dead_letter_with_the_envelope() {
    let ns = testkit::kafka().await;
    let topic = ns.create_topic("orders", 2).await.unwrap();
    let kafka = Kafka::new(ns.brokers());
    let consumer = kafka
        .consumer(&topic, ns.name("workers"))
        .retry(Backoff::exponential(Duration::from_millis(50), 2.0).max_attempts(4))
        .retry_mode(RetryMode::Topics)
        .build()
        .await
        .unwrap();
    assert_eq!(
        consumer.retry_topics(),
        [
            format!("{topic}.retry.50ms"),
            format!("{topic}.retry.100ms"),
            format!("{topic}.retry.200ms")
        ]
    );
    let consumer_id = consumer.consumer_id().to_string();
    let seen = Seen::default();
    let record = seen.clone();
    let (consumer, task) = spawn(consumer, move |msg| {
        let record = record.clone();
        Box::pin(async move {
            record.record(&msg);
            Err(Outcome::retry(boom(format!(
                "attempt {} failed",
                msg.attempt()
            ))))
        })
    });
    let producer = kafka.producer().build().unwrap();
    let delivery = producer
        .send(&topic, "order-1", &Order::new(1))
        .await
        .unwrap();

    let dlt = format!("{topic}.dlt");
    let letters = read_topic(&ns, &dlt, 1).await;
    let id = seen.only_id();
    assert_eq!(seen.attempts(&id), vec![1, 2, 3, 4]);
    let letter = &letters[0];
    assert_eq!(header(letter, "x-message-id").as_deref(), Some(id.as_str()));
    assert_eq!(rdkafka::Message::key(letter), Some(&b"order-1"[..]));
    let envelope = envelope(letter);
    assert_eq!(envelope.attempts, 4);
    assert_eq!(envelope.original_exchange, topic);
    assert_eq!(envelope.original_routing_key, "order-1");
    assert_eq!(envelope.original_partition, Some(delivery.partition));
    assert_eq!(envelope.original_offset, Some(delivery.offset));
    assert_eq!(envelope.error_kind, Some(FailureKind::Retry));
    assert_eq!(envelope.error_message, "attempt 4 failed");
    assert_eq!(envelope.consumer_id, consumer_id);
    assert_eq!(envelope.source_queue, format!("{topic}.retry.200ms"));
    let first = envelope.first_failure.unwrap();
    let last = envelope.last_failure.unwrap();
    // Three delays of 50, 100 and 200 ms lie between the first and last failure.
    assert!(last.duration_since(first).unwrap() >= Duration::from_millis(350));
    let payload: Order =
        serde_json::from_slice(rdkafka::Message::payload(letter).unwrap()).unwrap();
    assert_eq!(payload, Order::new(1));
    testkit::wait::until(PROMPTLY, "stats settle", || async {
        consumer.stats().dead_lettered == 1
    })
    .await;
    let stats = consumer.stats();
    assert_eq!(stats.consumed, 4);
    assert_eq!(stats.retried, 3);
    assert_eq!(stats.acked, 0);
    drop(producer);
    stop(&ns, consumer, task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_and_poison_payloads_dead_letter_on_the_first_attempt() {
    let ns = testkit::kafka().await;
    let topic = ns.create_topic("orders", 1).await.unwrap();
    let kafka = Kafka::new(ns.brokers());
    let consumer = kafka
        .consumer(&topic, ns.name("workers"))
        .retry(Backoff::fixed(Duration::from_millis(50)).max_attempts(5))
        .retry_mode(RetryMode::Topics)
        .build()
        .await
        .unwrap();
    let seen = Seen::default();
    let record = seen.clone();
    let (consumer, task) = spawn(consumer, move |msg| {
        let record = record.clone();
        Box::pin(async move {
            record.record(&msg);
            Err(Outcome::reject(boom("no such customer")))
        })
    });
    let producer = kafka.producer().build().unwrap();
    producer.send(&topic, "a", &Order::new(2)).await.unwrap();
    producer.send(&topic, "a", &"not an order").await.unwrap();
    let letters = read_topic(&ns, &format!("{topic}.dlt"), 2).await;
    let kinds: Vec<_> = letters
        .iter()
        .map(|l| (envelope(l).attempts, envelope(l).error_kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (1, Some(FailureKind::Rejected)),
            (1, Some(FailureKind::Deserialize))
        ]
    );
    assert_eq!(
        seen.total(),
        1,
        "the poison payload never reaches the handler"
    );
    assert_eq!(consumer.stats().retried, 0);
    drop(producer);
    stop(&ns, consumer, task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordered_retry_parks_only_the_failing_key_and_keeps_its_order() {
    let ns = testkit::kafka().await;
    // One partition: the parked key and the others share it.
    let topic = ns.create_topic("rooms", 1).await.unwrap();
    let kafka = Kafka::new(ns.brokers());
    let consumer = kafka
        .consumer(&topic, ns.name("workers"))
        .retry(Backoff::fixed(Duration::from_millis(50)).max_attempts(1_000))
        .retry_mode(RetryMode::Ordered)
        .concurrency(8)
        .build()
        .await
        .unwrap();
    // (key, n, attempt) in the order handlers started. `slow` 0 keeps
    // failing until every `fast` record is done: it can only succeed if the
    // other key went on while it was parked, whatever the machine's speed.
    let log: Arc<Mutex<Vec<(String, u64, u32)>>> = Arc::default();
    let record = log.clone();
    let (consumer, task) = spawn(consumer, move |msg| {
        let record = record.clone();
        Box::pin(async move {
            let key = msg.routing_key().to_string();
            let n = msg.payload().id;
            let mut log = record.lock().unwrap();
            log.push((key.clone(), n, msg.attempt()));
            let fast_done = log.iter().filter(|(k, _, _)| k == "fast").count();
            drop(log);
            if key == "slow" && n == 0 && fast_done < 20 {
                return Err(Outcome::retry(boom("not yet")));
            }
            Ok(())
        })
    });
    let producer = kafka.producer().build().unwrap();
    for n in 0..5 {
        producer.send(&topic, "slow", &Order::new(n)).await.unwrap();
    }
    for n in 0..20 {
        producer.send(&topic, "fast", &Order::new(n)).await.unwrap();
    }
    testkit::wait::until(PROMPTLY, "every record handled", || async {
        let log = log.lock().unwrap();
        log.iter().filter(|(k, _, _)| k == "slow").count() >= 5
            && log.iter().any(|(k, n, _)| k == "slow" && *n == 4)
    })
    .await;
    let log = log.lock().unwrap().clone();
    let slow: Vec<(u64, u32)> = log
        .iter()
        .filter(|(k, _, _)| k == "slow")
        .map(|(_, n, a)| (*n, *a))
        .collect();
    let attempts_of_first = slow.iter().filter(|(n, _)| *n == 0).count() as u32;
    assert!(
        attempts_of_first >= 2,
        "`slow` 0 was parked at least once: {log:?}"
    );
    let expected: Vec<(u64, u32)> = (1..=attempts_of_first)
        .map(|attempt| (0, attempt))
        .chain((1..5).map(|n| (n, 1)))
        .collect();
    assert_eq!(slow, expected, "the parked key kept its order: {log:?}");
    let fast: Vec<u64> = log
        .iter()
        .filter(|(k, _, _)| k == "fast")
        .map(|(_, n, _)| *n)
        .collect();
    assert_eq!(fast, (0..20).collect::<Vec<_>>());
    let last_attempt = log
        .iter()
        .position(|e| e == &("slow".to_string(), 0, attempts_of_first))
        .unwrap();
    let last_fast = log.iter().rposition(|(k, _, _)| k == "fast").unwrap();
    assert!(
        last_fast < last_attempt,
        "the other key went on while `slow` was parked: {log:?}"
    );
    let stats = consumer.stats();
    assert_eq!(stats.retried, u64::from(attempts_of_first - 1));
    assert_eq!(stats.dead_lettered, 0);
    drop(producer);
    stop(&ns, consumer, task).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_refuses_a_missing_topic_and_creates_it_when_asked() {
    let ns = testkit::kafka().await;
    let kafka = Kafka::new(ns.brokers());
    let topic = ns.name("absent");
    let error = kafka
        .consumer(&topic, ns.name("g"))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(error, mq_reliable::Error::Topology(_)), "{error}");
    assert!(error.to_string().contains("does not exist"));
    let consumer = kafka
        .consumer(&topic, ns.name("g"))
        .create_topic(3)
        .build()
        .await
        .unwrap();
    assert_eq!(
        consumer.dead_letter_topic(),
        Some(format!("{topic}.dlt").as_str())
    );
    let mut topics = created(&consumer);
    topics.push(topic);
    delete_topics(&ns, &topics).await;
}

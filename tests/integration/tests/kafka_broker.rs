//! The Kafka-API broker of the dev services works with rdkafka (bundled
//! librdkafka): keyed produce with delivery reports, consumer-group consume,
//! and committed group offsets that a later member of the group resumes from.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use rdkafka::Message;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use testkit::KafkaNamespace;

const DEADLINE: Duration = Duration::from_secs(60);

fn producer(ns: &KafkaNamespace) -> FutureProducer {
    ns.client_config()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .expect("producer")
}

fn group_member(ns: &KafkaNamespace, group: &str, topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = ns
        .client_config()
        .set("group.id", ns.name(group))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

async fn produce(producer: &FutureProducer, topic: &str, from: usize, to: usize) {
    for i in from..to {
        let key = format!("room-{}", i % 3);
        let payload = format!("message-{i}");
        producer
            .send(
                FutureRecord::to(topic).key(&key).payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|(error, _)| panic!("delivery of {payload} failed: {error}"));
    }
}

/// Receives `count` messages, returning (key, payload) in arrival order.
async fn receive(consumer: &StreamConsumer, count: usize) -> Vec<(String, String)> {
    let mut stream = consumer.stream();
    let mut received = Vec::new();
    let collect = async {
        while received.len() < count {
            let message = stream.next().await.expect("stream open").expect("message");
            let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
            let payload =
                String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
            received.push((key, payload));
        }
    };
    tokio::time::timeout(DEADLINE, collect)
        .await
        .unwrap_or_else(|_| panic!("received only {} of {count} messages", received.len()));
    received
}

#[tokio::test]
async fn produce_and_consume_in_a_group_with_committed_offsets() {
    let ns = testkit::kafka().await;
    let topic = ns.create_topic("chat", 3).await.unwrap();
    let producer = producer(&ns);
    produce(&producer, &topic, 0, 30).await;

    let consumer = group_member(&ns, "archive", &topic);
    let received = receive(&consumer, 30).await;
    let mut per_key: HashMap<String, Vec<usize>> = HashMap::new();
    for (key, payload) in &received {
        let n: usize = payload.trim_start_matches("message-").parse().unwrap();
        per_key.entry(key.clone()).or_default().push(n);
    }
    assert_eq!(per_key.len(), 3);
    for (key, numbers) in &per_key {
        let mut sorted = numbers.clone();
        sorted.sort_unstable();
        assert_eq!(
            numbers, &sorted,
            "messages of {key} arrive in order (one key, one partition)"
        );
        assert_eq!(numbers.len(), 10);
    }
    consumer
        .commit_consumer_state(CommitMode::Sync)
        .expect("commit");
    drop(consumer);

    // A later member of the same group starts after the committed offsets.
    produce(&producer, &topic, 30, 33).await;
    let successor = group_member(&ns, "archive", &topic);
    let resumed = receive(&successor, 3).await;
    let mut payloads: Vec<String> = resumed.into_iter().map(|(_, payload)| payload).collect();
    payloads.sort();
    assert_eq!(payloads, ["message-30", "message-31", "message-32"]);
}

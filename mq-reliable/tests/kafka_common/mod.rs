//! Helpers for the Kafka behaviour tests.
#![allow(dead_code)]

use std::time::Duration;

use futures::StreamExt;
use mq_reliable::Envelope;
use rdkafka::Message as _;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::OwnedMessage;

pub const PROMPTLY: Duration = Duration::from_secs(60);

/// A consumer of `topic` from its start, in a group of its own, committing
/// nothing.
fn reader(ns: &testkit::KafkaNamespace, topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = ns
        .client_config()
        .set(
            "group.id",
            ns.name(&format!("reader-{}", uuid::Uuid::new_v4().simple())),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    consumer
}

/// Reads `n` records of `topic` from the start (its own group).
pub async fn read_topic(ns: &testkit::KafkaNamespace, topic: &str, n: usize) -> Vec<OwnedMessage> {
    let consumer = reader(ns, topic);
    let mut out = Vec::new();
    let mut stream = consumer.stream();
    tokio::time::timeout(PROMPTLY, async {
        while out.len() < n {
            let record = stream.next().await.unwrap().unwrap();
            out.push(record.detach());
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of {n} records in {topic}", out.len()));
    out
}

/// The envelope of a dead-letter record.
pub fn envelope(record: &OwnedMessage) -> Envelope {
    mq_reliable::kafka::read_envelope(record.headers().expect("headers"))
}

/// A header of a record, as text.
pub fn header(record: &OwnedMessage, name: &str) -> Option<String> {
    use rdkafka::message::Headers;
    let headers = record.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Deletes topics the consumer created (retry topics, dead-letter topic).
pub async fn delete_topics(ns: &testkit::KafkaNamespace, topics: &[String]) {
    let admin: AdminClient<DefaultClientContext> = ns.client_config().create().unwrap();
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let _ = admin.delete_topics(&names, &AdminOptions::new()).await;
}

/// Reads `topic` from the start until `distinct` different message ids were
/// seen; returns every record read (duplicates included), in order.
pub async fn read_distinct(
    ns: &testkit::KafkaNamespace,
    topic: &str,
    distinct: usize,
) -> Vec<OwnedMessage> {
    let consumer = reader(ns, topic);
    let mut out = Vec::new();
    let mut ids = std::collections::HashSet::new();
    let mut stream = consumer.stream();
    tokio::time::timeout(Duration::from_secs(120), async {
        while ids.len() < distinct {
            let record = stream.next().await.unwrap().unwrap().detach();
            ids.insert(header(&record, "x-message-id").unwrap_or_default());
            out.push(record);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of {distinct} ids in {topic}", ids.len()));
    out
}

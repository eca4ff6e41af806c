//! Helpers shared by the mq-reliable behaviour tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mq_reliable::amqp::{Broker, DeadLetters};

/// Upper bound for "this should happen promptly" waits.
pub const PROMPTLY: Duration = Duration::from_secs(20);

/// The payload most tests publish.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Order {
    pub id: u64,
    pub note: String,
}

impl Order {
    pub fn new(id: u64) -> Self {
        Self {
            id,
            note: String::new(),
        }
    }
}

/// A fresh vhost and a broker handle on it.
pub async fn broker() -> (testkit::RabbitVhost, Broker) {
    let vhost = testkit::rabbitmq().await;
    let mq = Broker::builder(vhost.url())
        .reconnect_delay(Duration::from_millis(50), Duration::from_millis(500))
        .connect()
        .await
        .expect("connect to the test vhost");
    (vhost, mq)
}

/// Waits until `queue` holds `n` ready messages.
pub async fn wait_for_count(dlq: &DeadLetters, n: u64) {
    let what = format!("{n} message(s) in {}", dlq.queue());
    testkit::wait::until(PROMPTLY, &what, || async {
        dlq.count().await.map(|c| c == n).unwrap_or(false)
    })
    .await;
}

/// What a handler saw, per message id: the attempts, in order.
#[derive(Debug, Clone, Default)]
pub struct Seen(pub Arc<Mutex<Deliveries>>);

/// Per message id: (attempt, redelivered) of each delivery.
pub type Deliveries = HashMap<String, Vec<(u32, bool)>>;

impl Seen {
    pub fn record<T>(&self, msg: &mq_reliable::Message<T>) {
        self.0
            .lock()
            .unwrap()
            .entry(msg.id().unwrap_or("").to_string())
            .or_default()
            .push((msg.attempt(), msg.redelivered()));
    }

    pub fn attempts(&self, id: &str) -> Vec<u32> {
        self.0
            .lock()
            .unwrap()
            .get(id)
            .map(|v| v.iter().map(|(a, _)| *a).collect())
            .unwrap_or_default()
    }

    pub fn distinct(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn total(&self) -> usize {
        self.0.lock().unwrap().values().map(Vec::len).sum()
    }

    pub fn only_id(&self) -> String {
        let map = self.0.lock().unwrap();
        assert_eq!(map.len(), 1, "expected one message id, saw {map:?}");
        map.keys().next().unwrap().clone()
    }
}

/// Runs `consumer` in the background; returns it and the task.
pub fn spawn_consumer<T, F, Fut>(
    consumer: mq_reliable::amqp::Consumer,
    handler: F,
) -> (
    Arc<mq_reliable::amqp::Consumer>,
    tokio::task::JoinHandle<mq_reliable::Result<()>>,
)
where
    T: serde::de::DeserializeOwned + Send + 'static,
    F: Fn(mq_reliable::Message<T>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), mq_reliable::Outcome>> + Send + 'static,
{
    let consumer = Arc::new(consumer);
    let running = consumer.clone();
    let task = tokio::spawn(async move { running.run(handler).await });
    (consumer, task)
}

/// An error for handlers to fail with.
pub fn boom(text: impl Into<String>) -> std::io::Error {
    std::io::Error::other(text.into())
}

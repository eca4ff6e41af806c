//! Looking into a dead-letter queue and sending messages back.
//!
//! ```no_run
//! # async fn demo(mq: mq_reliable::amqp::Broker) -> mq_reliable::Result<()> {
//! let dlq = mq.dead_letters("order.created.dlq");
//! for letter in dlq.list(20).await? {
//!     println!("{:?} failed {} times: {}", letter.message_id, letter.envelope.attempts,
//!              letter.envelope.error_message);
//! }
//! // Once the bug is fixed: send the timeouts back where they came from.
//! let report = dlq
//!     .replay(|letter| letter.envelope.error_kind == Some(mq_reliable::FailureKind::Timeout))
//!     .await?;
//! println!("replayed {}, kept {}", report.replayed, report.kept);
//! # Ok(()) }
//! ```
//!
//! Both take messages with `basic.get` without acknowledging them. `list`
//! gives every one back when it is done (closing its channel returns them to
//! the queue in their order). `replay` republishes a matching message to its
//! original exchange and routing key — same body, same message id, our
//! headers removed so the attempt count starts again at 1 — and acknowledges
//! it from the dead-letter queue only after the broker confirmed the copy.
//! A crash in between leaves the message in both places (at least once).
//!
//! An operator acting on one letter uses its message id:
//! [`replay_message`](DeadLetters::replay_message) sends it back to the
//! queue it failed in (not to its original exchange, where every other
//! bound queue would get a second copy), and
//! [`discard_message`](DeadLetters::discard_message) drops it.

use lapin::options::BasicGetOptions;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use serde::de::DeserializeOwned;

use super::broker::Broker;
use super::headers;
use super::publisher::Publisher;
use super::wire::copy_properties;
use crate::envelope::Envelope;
use crate::error::{Error, Result};

/// A dead-letter queue.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    broker: Broker,
    queue: String,
}

/// One message in a dead-letter queue.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Why it failed and where it came from.
    pub envelope: Envelope,
    /// The publisher's message id.
    pub message_id: Option<String>,
    /// The body, unchanged.
    pub body: Vec<u8>,
    properties: BasicProperties,
}

impl DeadLetter {
    /// The body deserialized from JSON (fails for the poison messages that
    /// were dead-lettered precisely because they do not deserialize).
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_slice(&self.body)?)
    }

    /// A text header of the message.
    pub fn header(&self, name: &str) -> Option<String> {
        self.properties
            .headers()
            .as_ref()
            .and_then(|h| headers::text(h, name))
    }
}

/// What a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Messages republished to their original route and removed from the DLQ.
    pub replayed: u64,
    /// Messages left in the DLQ (not matched by the filter).
    pub kept: u64,
}

impl DeadLetters {
    pub(crate) fn new(broker: Broker, queue: String) -> Self {
        Self { broker, queue }
    }

    /// The queue's name.
    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// Messages ready in the queue now (unacknowledged ones not counted).
    pub async fn count(&self) -> Result<u64> {
        self.broker.ready_count(&self.queue).await
    }

    /// Up to `limit` messages from the head of the queue, left in place.
    pub async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>> {
        let channel = self.broker.channel().await?;
        let mut letters = Vec::new();
        let result = async {
            while letters.len() < limit {
                match self.get(&channel).await? {
                    Some(message) => letters.push(to_letter(&message.delivery)),
                    None => break,
                }
            }
            Ok::<_, Error>(())
        }
        .await;
        // Closing the channel returns every unacknowledged message to the queue.
        super::broker::close_quietly(&channel, "listed").await;
        result?;
        Ok(letters)
    }

    /// Sends every message `filter` accepts back to the queue it failed in
    /// (see [`replay_message`](Self::replay_message) for the route), attempt
    /// count reset, and removes it from this queue once the broker confirmed
    /// the copy; the others stay. Looks at the messages present when it
    /// starts.
    pub async fn replay(&self, filter: impl Fn(&DeadLetter) -> bool) -> Result<ReplayReport> {
        let total = self.count().await?;
        let publisher = self.broker.publisher().build().await?;
        let channel = self.broker.channel().await?;
        let mut report = ReplayReport::default();
        let result = async {
            for _ in 0..total {
                let Some(message) = self.get(&channel).await? else {
                    break;
                };
                let letter = to_letter(&message.delivery);
                if !filter(&letter) {
                    report.kept += 1;
                    continue; // unacknowledged: back in the queue when the channel closes
                }
                replay_to_source(&publisher, &letter).await?;
                if !message.delivery.ack(Default::default()).await? {
                    return Err(Error::Unavailable(
                        "the dead-letter channel closed during replay".into(),
                    ));
                }
                report.replayed += 1;
            }
            Ok::<_, Error>(())
        }
        .await;
        super::broker::close_quietly(&channel, "replayed").await;
        publisher.close().await;
        result?;
        Ok(report)
    }

    /// Replays every message.
    pub async fn replay_all(&self) -> Result<ReplayReport> {
        self.replay(|_| true).await
    }

    /// Sends the dead letter with `message_id` back to the queue it failed
    /// in (through the default exchange, by queue name: no other queue bound
    /// to the original exchange sees it again), attempt count reset, and
    /// removes it from this queue once the broker confirmed the copy.
    /// Returns whether such a letter was there. Letters consumed from an
    /// unknown queue go back to their original exchange and routing key.
    pub async fn replay_message(&self, message_id: &str) -> Result<bool> {
        let publisher = self.broker.publisher().build().await?;
        let done = self
            .take_message(message_id, |letter| {
                let publisher = publisher.clone();
                async move { replay_to_source(&publisher, &letter).await }
            })
            .await;
        publisher.close().await;
        done
    }

    /// Removes the dead letter with `message_id` for good. Returns whether
    /// it was there.
    pub async fn discard_message(&self, message_id: &str) -> Result<bool> {
        self.take_message(message_id, |_| async { Ok(()) }).await
    }

    /// Finds the first letter with `message_id` among those present, runs
    /// `then` on it and acknowledges it if `then` succeeded; every other
    /// letter stays where it was (unacknowledged until the channel closes).
    async fn take_message<F, Fut>(&self, message_id: &str, then: F) -> Result<bool>
    where
        F: FnOnce(DeadLetter) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let total = self.count().await?;
        let channel = self.broker.channel().await?;
        let result = async {
            for _ in 0..total {
                let Some(message) = self.get(&channel).await? else {
                    break;
                };
                let letter = to_letter(&message.delivery);
                if letter.message_id.as_deref() != Some(message_id) {
                    continue;
                }
                then(letter).await?;
                if !message.delivery.ack(Default::default()).await? {
                    return Err(Error::Unavailable(
                        "the dead-letter channel closed before the acknowledgement".into(),
                    ));
                }
                return Ok(true);
            }
            Ok::<_, Error>(false)
        }
        .await;
        super::broker::close_quietly(&channel, "taken").await;
        result
    }

    async fn get(&self, channel: &Channel) -> Result<Option<lapin::message::BasicGetMessage>> {
        channel
            .basic_get(
                self.queue.as_str().into(),
                BasicGetOptions { no_ack: false },
            )
            .await
            .map_err(|e| {
                super::wire::explain(e, &format!("reading dead-letter queue `{}`", self.queue))
            })
    }
}

/// Sends a letter back to the queue it failed in, through the default
/// exchange by queue name, so that no other queue bound to its original
/// exchange (a fanout, a topic pattern) receives it a second time. A letter
/// from an unknown queue goes back to its original exchange and routing key.
async fn replay_to_source(publisher: &Publisher, letter: &DeadLetter) -> Result<()> {
    let envelope = &letter.envelope;
    let (exchange, routing_key) = if envelope.source_queue.is_empty() {
        (
            envelope.original_exchange.as_str(),
            envelope.original_routing_key.as_str(),
        )
    } else {
        ("", envelope.source_queue.as_str())
    };
    let empty = FieldTable::default();
    let original = letter.properties.headers().as_ref().unwrap_or(&empty);
    let clean = headers::without_bookkeeping(original, true);
    let properties = copy_properties(&letter.properties).with_headers(clean);
    publisher
        .publish_raw(exchange, routing_key, &letter.body, properties)
        .await
}

fn to_letter(delivery: &lapin::message::Delivery) -> DeadLetter {
    let empty = FieldTable::default();
    let headers_table = delivery.properties.headers().as_ref().unwrap_or(&empty);
    DeadLetter {
        envelope: headers::read_envelope(
            headers_table,
            delivery.exchange.as_str(),
            delivery.routing_key.as_str(),
        ),
        message_id: delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.as_str().to_string()),
        body: delivery.data.clone(),
        properties: delivery.properties.clone(),
    }
}

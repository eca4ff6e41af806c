//! What a publish carries besides its payload (message id, correlation id,
//! priority, per-message TTL, headers), set without lapin types.
//!
//! The consumer hands them back on [`Message`](crate::Message):
//! [`id`](crate::Message::id), [`correlation_id`](crate::Message::correlation_id)
//! and [`header`](crate::Message::header). Header names the crate uses for
//! its own bookkeeping (the `x-attempt`, `x-error-*`… of
//! [`envelope::ALL`](crate::envelope::ALL)) are refused, so a caller cannot
//! reset a retry count or forge a dead-letter record by accident.

use std::time::{Duration, SystemTime};

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable};

use crate::envelope;
use crate::error::{Error, Result};

/// Options of one publish, for
/// [`Publisher::publish_with`](crate::amqp::Publisher::publish_with). The
/// consumer hands them back on [`Message`](crate::Message); header names
/// the crate reserves ([`envelope::ALL`](crate::envelope::ALL)) are refused.
#[derive(Debug, Clone, Default)]
#[must_use = "options do nothing until given to `Publisher::publish_with`"]
pub struct PublishOptions {
    message_id: Option<String>,
    correlation_id: Option<String>,
    priority: Option<u8>,
    ttl: Option<Duration>,
    headers: Vec<(String, String)>,
}

impl PublishOptions {
    /// No options: a new message id, no correlation id, priority or TTL.
    pub fn new() -> Self {
        Self::default()
    }

    /// The message id (default: a new UUID). Keep one id per logical
    /// message, so a re-sent message is deduplicated by the inbox.
    pub fn message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = Some(id.into());
        self
    }

    /// The correlation id (a request's id, for its reply or its trace).
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// The priority, for a queue declared with `x-max-priority` (higher
    /// first; a queue without it ignores the priority).
    pub fn priority(mut self, priority: u8) -> Self {
        self.priority = Some(priority);
        self
    }

    /// How long the message may wait in a queue before the broker drops it
    /// (or dead-letters it, when the queue has a dead-letter exchange).
    /// Rounded to whole milliseconds, at least one.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// A text header; the consumer reads it with
    /// [`Message::header`](crate::Message::header).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The message id this publish will carry.
    pub(crate) fn id_or_new(&self) -> String {
        self.message_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
    }

    /// The AMQP properties of a persistent JSON message with these options;
    /// [`Error::Config`] for a header name the crate reserves.
    pub(crate) fn properties(&self, message_id: String) -> Result<BasicProperties> {
        let mut headers = FieldTable::default();
        for (name, value) in &self.headers {
            if envelope::ALL.contains(&name.as_str()) {
                return Err(Error::Config(format!(
                    "header {name:?} is the crate's own bookkeeping; choose another name"
                )));
            }
            headers.insert(
                name.as_str().into(),
                AMQPValue::LongString(value.as_str().into()),
            );
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let mut properties = BasicProperties::default()
            .with_message_id(message_id.into())
            .with_content_type("application/json".into())
            .with_delivery_mode(2)
            .with_timestamp(now)
            .with_headers(headers);
        if let Some(id) = &self.correlation_id {
            properties = properties.with_correlation_id(id.as_str().into());
        }
        if let Some(priority) = self.priority {
            properties = properties.with_priority(priority);
        }
        if let Some(ttl) = self.ttl {
            let millis = ttl.as_millis().max(1);
            properties = properties.with_expiration(millis.to_string().into());
        }
        Ok(properties)
    }
}

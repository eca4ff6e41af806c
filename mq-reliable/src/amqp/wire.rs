//! The small AMQP helpers every part of the adapter uses: a text value for
//! headers and arguments, a copy of a message's properties, and reading a
//! broker error as "what to fix". Kept here so the consumer, the dead-letter
//! tools, the headers and the topology depend on this file, not on each
//! other.

use lapin::BasicProperties;
use lapin::ErrorKind;
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, LongString};

use crate::error::Error;

/// A text header or argument value.
pub(crate) fn string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value.as_bytes().to_vec()))
}

/// Whether `error` is the channel-level AMQP error `code`.
pub(crate) fn is_soft(error: &lapin::Error, code: AMQPSoftError) -> bool {
    matches!(error.kind(), ErrorKind::ProtocolError(e) if e.kind() == &AMQPErrorKind::Soft(code))
}

/// Turns a declaration failure into an error that says what to fix.
pub(crate) fn explain(error: lapin::Error, what: &str) -> Error {
    if is_soft(&error, AMQPSoftError::PRECONDITIONFAILED) {
        Error::Topology(format!(
            "{what}: it exists with other arguments ({error}); delete it or change the \
             consumer's settings to match"
        ))
    } else if is_soft(&error, AMQPSoftError::NOTFOUND) {
        Error::Topology(format!("{what}: {error}"))
    } else if is_soft(&error, AMQPSoftError::ACCESSREFUSED) {
        Error::Topology(format!("{what}: access refused ({error})"))
    } else {
        Error::Amqp(error)
    }
}

/// The delivery's properties without headers, persistent.
pub(crate) fn copy_properties(properties: &BasicProperties) -> BasicProperties {
    let mut copy = BasicProperties::default().with_delivery_mode(2);
    if let Some(id) = properties.message_id() {
        copy = copy.with_message_id(id.clone());
    }
    if let Some(content_type) = properties.content_type() {
        copy = copy.with_content_type(content_type.clone());
    }
    if let Some(encoding) = properties.content_encoding() {
        copy = copy.with_content_encoding(encoding.clone());
    }
    if let Some(correlation) = properties.correlation_id() {
        copy = copy.with_correlation_id(correlation.clone());
    }
    if let Some(timestamp) = properties.timestamp() {
        copy = copy.with_timestamp(*timestamp);
    }
    if let Some(kind) = properties.kind() {
        copy = copy.with_type(kind.clone());
    }
    if let Some(app) = properties.app_id() {
        copy = copy.with_app_id(app.clone());
    }
    if let Some(reply_to) = properties.reply_to() {
        copy = copy.with_reply_to(reply_to.clone());
    }
    copy
}

//! Reading and writing the crate's headers on AMQP messages.

use lapin::types::{AMQPValue, FieldTable};

use super::wire::string;
use crate::envelope::{self, Envelope, FailureRecord, HeaderValue};
use crate::outcome::FailureKind;

/// A header as text, whatever string type the sender used.
pub(crate) fn text(headers: &FieldTable, name: &str) -> Option<String> {
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        other => integer(other).map(|n| n.to_string()),
    }
}

/// A header as an integer, whatever integer type (or decimal text) was used.
pub(crate) fn number(headers: &FieldTable, name: &str) -> Option<i64> {
    let value = headers.inner().get(name)?;
    integer(value).or_else(|| match value {
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok()?.trim().parse().ok(),
        AMQPValue::ShortString(s) => s.as_str().trim().parse().ok(),
        _ => None,
    })
}

fn integer(value: &AMQPValue) -> Option<i64> {
    Some(match value {
        AMQPValue::ShortShortInt(n) => *n as i64,
        AMQPValue::ShortShortUInt(n) => *n as i64,
        AMQPValue::ShortInt(n) => *n as i64,
        AMQPValue::ShortUInt(n) => *n as i64,
        AMQPValue::LongInt(n) => *n as i64,
        AMQPValue::LongUInt(n) => *n as i64,
        AMQPValue::LongLongInt(n) => *n,
        AMQPValue::Timestamp(n) => *n as i64,
        _ => return None,
    })
}

/// The attempt number a delivery carries (1 when absent).
pub(crate) fn attempt(headers: &FieldTable) -> u32 {
    number(headers, envelope::ATTEMPT)
        .map(|n| n.clamp(1, u32::MAX as i64) as u32)
        .unwrap_or(1)
}

/// `headers` without the broker's `x-death` family and, when `ours` is set,
/// without this crate's headers: what a copy of the message should start from.
pub(crate) fn without_bookkeeping(headers: &FieldTable, ours: bool) -> FieldTable {
    let mut kept = FieldTable::default();
    for (name, value) in headers.inner() {
        let name_str = name.as_str();
        let broker_death = name_str == "x-death"
            || name_str.starts_with("x-first-death-")
            || name_str.starts_with("x-last-death-");
        if broker_death || (ours && envelope::ALL.contains(&name_str)) {
            continue;
        }
        kept.insert(name.clone(), value.clone());
    }
    kept
}

/// Writes a failure's headers into `headers`: numbers as AMQP long-long
/// integers, text as long strings.
pub(crate) fn record_failure(headers: &mut FieldTable, record: &FailureRecord<'_>) {
    for (name, value) in record.headers() {
        let value = match value {
            HeaderValue::Number(number) => AMQPValue::LongLongInt(number),
            HeaderValue::Text(text) => string(&text),
        };
        headers.insert(name.into(), value);
    }
}

/// Reads the envelope of a dead letter. A message the broker dead-lettered by
/// itself (no headers of ours) falls back to its `x-death` details.
pub(crate) fn read_envelope(headers: &FieldTable, exchange: &str, routing_key: &str) -> Envelope {
    let ours = headers.contains_key(envelope::ERROR_KIND);
    let death = first_death(headers);
    let fallback_exchange = death
        .as_ref()
        .and_then(|d| text(d, "exchange"))
        .unwrap_or_else(|| exchange.to_string());
    let fallback_key = death
        .as_ref()
        .and_then(|d| match d.inner().get("routing-keys") {
            Some(AMQPValue::FieldArray(keys)) => keys.as_slice().first().and_then(|k| match k {
                AMQPValue::LongString(s) => {
                    Some(String::from_utf8_lossy(s.as_bytes()).into_owned())
                }
                AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
                _ => None,
            }),
            _ => None,
        })
        .unwrap_or_else(|| routing_key.to_string());
    Envelope {
        original_exchange: text(headers, envelope::ORIGINAL_EXCHANGE).unwrap_or(fallback_exchange),
        original_routing_key: text(headers, envelope::ORIGINAL_ROUTING_KEY).unwrap_or(fallback_key),
        original_partition: None,
        original_offset: None,
        attempts: number(headers, envelope::ATTEMPT)
            .or_else(|| death.as_ref().and_then(|d| number(d, "count")))
            .unwrap_or(1)
            .clamp(0, u32::MAX as i64) as u32,
        error_kind: if ours {
            text(headers, envelope::ERROR_KIND).and_then(|k| FailureKind::parse(&k))
        } else if death.is_some() {
            Some(FailureKind::Broker)
        } else {
            None
        },
        error_message: text(headers, envelope::ERROR_MESSAGE).unwrap_or_else(|| {
            death
                .as_ref()
                .and_then(|d| text(d, "reason"))
                .map(|reason| format!("dead-lettered by the broker: {reason}"))
                .unwrap_or_default()
        }),
        first_failure: number(headers, envelope::FIRST_FAILURE).map(envelope::from_millis),
        last_failure: number(headers, envelope::LAST_FAILURE).map(envelope::from_millis),
        consumer_id: text(headers, envelope::CONSUMER_ID).unwrap_or_default(),
        source_queue: text(headers, envelope::SOURCE_QUEUE)
            .or_else(|| death.as_ref().and_then(|d| text(d, "queue")))
            .unwrap_or_default(),
    }
}

fn first_death(headers: &FieldTable) -> Option<FieldTable> {
    match headers.inner().get("x-death")? {
        AMQPValue::FieldArray(entries) => entries.as_slice().iter().find_map(|entry| match entry {
            AMQPValue::FieldTable(table) => Some(table.clone()),
            _ => None,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn envelope_round_trip() {
        let mut headers = FieldTable::default();
        headers.insert("keep".into(), string("me"));
        headers.insert("x-death".into(), AMQPValue::FieldArray(Default::default()));
        let now = SystemTime::now();
        record_failure(
            &mut headers,
            &FailureRecord {
                attempt: 3,
                original_exchange: "orders",
                original_routing_key: "order.created",
                original_position: None,
                kind: FailureKind::Timeout,
                message: "too slow",
                first_failure_ms: 1_000,
                last_failure_ms: envelope::to_millis(now),
                consumer_id: "c-1",
                source_queue: "q",
            },
        );
        let envelope = read_envelope(&headers, "", "q");
        assert_eq!(envelope.attempts, 3);
        assert_eq!(envelope.original_exchange, "orders");
        assert_eq!(envelope.original_routing_key, "order.created");
        assert_eq!(envelope.error_kind, Some(FailureKind::Timeout));
        assert_eq!(envelope.error_message, "too slow");
        assert_eq!(envelope.first_failure, Some(envelope::from_millis(1_000)));
        assert_eq!(envelope.consumer_id, "c-1");
        assert_eq!(attempt(&headers), 3);
        let clean = without_bookkeeping(&headers, true);
        assert_eq!(clean.inner().len(), 1);
        assert_eq!(text(&clean, "keep").as_deref(), Some("me"));
    }
}

//! Reading and writing the crate's headers on Kafka records (UTF-8 text
//! values; see [`envelope`] for the names).

use rdkafka::message::{Header, Headers, OwnedHeaders};

use crate::envelope::{self, Envelope, FailureRecord};
use crate::outcome::FailureKind;

/// A record's headers as (name, value) pairs.
pub(crate) type HeaderList = Vec<(String, Vec<u8>)>;

/// Copies the headers of a record.
pub(crate) fn collect(headers: Option<&impl Headers>) -> HeaderList {
    let Some(headers) = headers else {
        return Vec::new();
    };
    headers
        .iter()
        .map(|header| {
            (
                header.key.to_string(),
                header.value.map(<[u8]>::to_vec).unwrap_or_default(),
            )
        })
        .collect()
}

/// The last value of header `name`, as text.
pub(crate) fn text(headers: &[(String, Vec<u8>)], name: &str) -> Option<String> {
    headers
        .iter()
        .rev()
        .find(|(key, _)| key == name)
        .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
}

/// The last value of header `name`, as a number.
pub(crate) fn number(headers: &[(String, Vec<u8>)], name: &str) -> Option<i64> {
    text(headers, name)?.trim().parse().ok()
}

/// Sets header `name` (replacing any earlier value).
pub(crate) fn set(headers: &mut HeaderList, name: &str, value: impl ToString) {
    headers.retain(|(key, _)| key != name);
    headers.push((name.to_string(), value.to_string().into_bytes()));
}

/// Writes a failure's headers into `headers` (numbers in decimal text),
/// replacing any earlier values of the same names.
pub(crate) fn record_failure(headers: &mut HeaderList, record: &FailureRecord<'_>) {
    for (name, value) in record.headers() {
        set(headers, name, value);
    }
}

/// Converts to rdkafka's headers.
pub(crate) fn to_owned_headers(headers: &[(String, Vec<u8>)]) -> OwnedHeaders {
    headers.iter().fold(
        OwnedHeaders::new_with_capacity(headers.len()),
        |acc, (key, value)| {
            acc.insert(Header {
                key,
                value: Some(value),
            })
        },
    )
}

/// Reads a dead letter's envelope from a record of the dead-letter topic.
pub fn read_envelope(headers: &impl Headers) -> Envelope {
    let list = collect(Some(headers));
    Envelope {
        original_exchange: text(&list, envelope::ORIGINAL_EXCHANGE).unwrap_or_default(),
        original_routing_key: text(&list, envelope::ORIGINAL_ROUTING_KEY).unwrap_or_default(),
        original_partition: number(&list, envelope::ORIGINAL_PARTITION).map(|p| p as i32),
        original_offset: number(&list, envelope::ORIGINAL_OFFSET),
        attempts: number(&list, envelope::ATTEMPT)
            .unwrap_or(1)
            .clamp(1, u32::MAX as i64) as u32,
        error_kind: text(&list, envelope::ERROR_KIND).and_then(|k| FailureKind::parse(&k)),
        error_message: text(&list, envelope::ERROR_MESSAGE).unwrap_or_default(),
        first_failure: number(&list, envelope::FIRST_FAILURE).map(envelope::from_millis),
        last_failure: number(&list, envelope::LAST_FAILURE).map(envelope::from_millis),
        consumer_id: text(&list, envelope::CONSUMER_ID).unwrap_or_default(),
        source_queue: text(&list, envelope::SOURCE_QUEUE).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trip() {
        let mut list = vec![("trace".to_string(), b"abc".to_vec())];
        set(&mut list, envelope::ATTEMPT, 2);
        set(&mut list, envelope::ATTEMPT, 3);
        set(&mut list, envelope::ORIGINAL_EXCHANGE, "orders");
        set(&mut list, envelope::ORIGINAL_PARTITION, 4);
        set(&mut list, envelope::ORIGINAL_OFFSET, 99);
        set(&mut list, envelope::ERROR_KIND, "panic");
        let owned = to_owned_headers(&list);
        let envelope = read_envelope(&owned);
        assert_eq!(envelope.attempts, 3);
        assert_eq!(envelope.original_exchange, "orders");
        assert_eq!(envelope.original_partition, Some(4));
        assert_eq!(envelope.original_offset, Some(99));
        assert_eq!(envelope.error_kind, Some(FailureKind::Panic));
        assert_eq!(collect(Some(&owned)).len(), 6);
    }
}

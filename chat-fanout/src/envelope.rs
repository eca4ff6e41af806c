//! What a subscriber receives, and how it travels.
//!
//! A message is numbered by the publish script: its room's next **offset**
//! (1, 2, 3, … without holes) under the room's **epoch** (a random string
//! fixed for the life of the room's history). The pair `(offset, epoch)` is
//! all a client needs to resume: "everything after offset 41 of epoch
//! `k3xq…`".
//!
//! On the pub/sub channel and in the Kafka archive a message travels as one
//! frame, `<offset> <epoch> <payload>`, where the payload is the message's
//! JSON.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One message of a room, as delivered to subscribers and by recovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// The message's offset in its room: consecutive, starting at 1.
    pub offset: u64,
    /// The epoch of the room's history the offset belongs to.
    pub epoch: String,
    /// The message itself.
    pub payload: T,
}

/// A point in a room's history: "after `offset` of `epoch`".
///
/// Offset 0 is the start of the room (no message seen); an empty epoch means
/// the room has no history yet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Position {
    /// The last offset seen (0: none).
    pub offset: u64,
    /// The epoch that offset belongs to.
    pub epoch: String,
}

/// A message before its payload is decoded, shared by every local
/// subscriber of the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawEnvelope {
    pub(crate) offset: u64,
    pub(crate) epoch: Arc<str>,
    pub(crate) payload: Arc<[u8]>,
}

impl RawEnvelope {
    /// Parses `<offset> <epoch> <payload>`.
    pub(crate) fn parse_frame(frame: &[u8]) -> Option<Self> {
        let first = frame.iter().position(|b| *b == b' ')?;
        let offset = std::str::from_utf8(&frame[..first]).ok()?.parse().ok()?;
        let rest = &frame[first + 1..];
        let second = rest.iter().position(|b| *b == b' ')?;
        let epoch = std::str::from_utf8(&rest[..second]).ok()?;
        Some(Self {
            offset,
            epoch: Arc::from(epoch),
            payload: Arc::from(&rest[second + 1..]),
        })
    }

    /// The frame `<offset> <epoch> <payload>`.
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    pub(crate) fn frame(offset: u64, epoch: &str, payload: &[u8]) -> Vec<u8> {
        let mut frame = Vec::with_capacity(payload.len() + epoch.len() + 22);
        frame.extend_from_slice(offset.to_string().as_bytes());
        frame.push(b' ');
        frame.extend_from_slice(epoch.as_bytes());
        frame.push(b' ');
        frame.extend_from_slice(payload);
        frame
    }

    pub(crate) fn decode<T: serde::de::DeserializeOwned>(
        &self,
    ) -> Result<Envelope<T>, serde_json::Error> {
        Ok(Envelope {
            offset: self.offset,
            epoch: self.epoch.to_string(),
            payload: serde_json::from_slice(&self.payload)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let frame = RawEnvelope::frame(42, "k3xq", br#"{"text":"a b c"}"#);
        let raw = RawEnvelope::parse_frame(&frame).unwrap();
        assert_eq!(raw.offset, 42);
        assert_eq!(&*raw.epoch, "k3xq");
        assert_eq!(&*raw.payload, br#"{"text":"a b c"}"#);
        assert!(RawEnvelope::parse_frame(b"x k3xq {}").is_none());
        assert!(RawEnvelope::parse_frame(b"42").is_none());
    }
}

//! What travels on a socket: the JSON frames sent to the client and the
//! close codes.

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use serde::Serialize;
use serde_json::Value;

/// Close code: the session was revoked.
pub const CLOSE_REVOKED: u16 = 4001;
/// Close code: the client read too slowly; resume from the last offset.
pub const CLOSE_SLOW_CONSUMER: u16 = 4002;
/// Close code: history lost messages the client has not seen.
pub const CLOSE_HISTORY_LOST: u16 = 4003;

/// A frame sent to the client.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Frame<'a> {
    Message {
        offset: u64,
        epoch: &'a str,
        payload: &'a Value,
    },
    Incomplete {
        from: u64,
        epoch: &'a str,
    },
    Live {
        offset: u64,
        epoch: &'a str,
    },
    Error {
        code: &'a str,
        message: &'a str,
    },
}

impl Frame<'_> {
    /// The frame as a text message.
    pub(crate) fn text(&self) -> Message {
        Message::Text(Utf8Bytes::from(
            serde_json::to_string(self).expect("frames serialize"),
        ))
    }
}

/// A close message with `code` and `reason`.
pub(crate) fn close(code: u16, reason: impl Into<String>) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(reason.into()),
    }))
}

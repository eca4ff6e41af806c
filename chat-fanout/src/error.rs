//! The crate's error type.

use std::sync::Arc;

/// Why an operation of the hub failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// Redis failed or did not answer in time. Usually transient: retry
    /// (with backoff), or report the failure to your own caller.
    #[error("redis error: {0}")]
    Redis(Arc<redis::RedisError>),
    /// The hub's pub/sub connection is not subscribed yet (Redis is down or
    /// the link is being re-established). Retry after a moment.
    #[error("the subscription to {room} could not be established within {timeout_ms} ms")]
    Unavailable {
        /// The room.
        room: String,
        /// How long the hub waited.
        timeout_ms: u64,
    },
    /// A payload could not be encoded or decoded as JSON (fix the type).
    #[error("cannot encode or decode a message of {room}: {reason}")]
    Codec {
        /// The room.
        room: String,
        /// serde_json's complaint.
        reason: String,
    },
    /// A room name is unusable (empty, or containing a space or a brace).
    #[error("invalid room name {0:?}: use a non-empty name without spaces or braces")]
    InvalidRoom(String),
    /// The configuration is unusable (fix the builder call).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The hub was dropped while the operation waited.
    #[error("the hub is shut down")]
    Closed,
    /// The archive (Kafka or PostgreSQL) failed. Usually transient.
    #[error("archive error: {0}")]
    Archive(String),
}

impl From<redis::RedisError> for Error {
    fn from(error: redis::RedisError) -> Self {
        Error::Redis(Arc::new(error))
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

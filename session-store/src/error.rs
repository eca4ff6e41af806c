//! The crate's error type.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Redis could not be reached or answered with an error. Usually
    /// transient: the request fails (the layer answers 503), the next one may
    /// succeed.
    #[error("session store unavailable: {0}")]
    Redis(#[from] redis::RedisError),
    /// A session value could not be encoded as JSON (a `Serialize` impl
    /// failed). A bug in the caller's types; retrying will not help.
    #[error("cannot encode session field {field:?}: {reason}")]
    Encode {
        /// The session key.
        field: String,
        /// serde's complaint.
        reason: String,
    },
    /// A stored session does not follow the schema (written by something
    /// else, or corrupted). The value itself is never included.
    #[error("session {id} is unreadable: {reason}")]
    Corrupt {
        /// The session id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The session's user key holds something other than a string or a
    /// number. Fix the code that writes it.
    #[error("the user key {key:?} must hold a string or a number")]
    InvalidUserId {
        /// The configured user key.
        key: String,
    },
    /// Fresh random ids kept colliding with existing sessions, which only a
    /// broken random source explains.
    #[error("could not find an unused session id after {0} attempts")]
    IdCollisions(u32),
    /// The configuration is unusable (fix the builder call).
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl From<Error> for tower_sessions_core::session_store::Error {
    fn from(error: Error) -> Self {
        use tower_sessions_core::session_store::Error as Store;
        match error {
            Error::Encode { .. } | Error::InvalidUserId { .. } => Store::Encode(error.to_string()),
            Error::Corrupt { .. } => Store::Decode(error.to_string()),
            _ => Store::Backend(error.to_string()),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

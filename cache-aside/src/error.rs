//! The crate's error type.

use std::sync::Arc;

/// Why `get_or_load`, `put` or `invalidate` failed.
///
/// Cloneable, because one load's outcome is shared by every caller that
/// waited for it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The loader failed and no stale value was allowed to stand in. The
    /// caller decides: retry, or fail its own request.
    #[error("the loader failed: {0}")]
    Loader(Arc<dyn std::error::Error + Send + Sync>),
    /// Redis failed and the cache is fail-closed (or the operation, such as
    /// `invalidate`, cannot be done without Redis). Usually transient.
    #[error("redis error: {0}")]
    Redis(Arc<redis::RedisError>),
    /// Redis is being bypassed after repeated failures (circuit breaker
    /// open) and the cache is fail-closed. Retry after the cooldown.
    #[error("redis is unavailable (circuit breaker open) and the cache is fail-closed")]
    RedisUnavailable,
    /// A value could not be encoded for Redis (a `Serialize` impl failed).
    #[error("cannot encode the value of {key}: {reason}")]
    Encode {
        /// The Redis key.
        key: String,
        /// The codec's complaint.
        reason: String,
    },
    /// The configuration is unusable (fix the builder call).
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl From<redis::RedisError> for Error {
    fn from(error: redis::RedisError) -> Self {
        Error::Redis(Arc::new(error))
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

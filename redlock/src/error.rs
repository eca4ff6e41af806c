//! The crate's error type. Each variant says what the caller can do about it.

/// Why a lock operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Redis answered with an error or the connection failed. Usually
    /// transient: retry the operation, or fail the request that needed the lock.
    #[error("redis error: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer within the configured response timeout. The
    /// outcome of the command is unknown; retrying is safe (every script
    /// checks ownership).
    #[error("redis did not answer in time")]
    Timeout,
    /// The caller no longer owned the lock when it released it: the lease
    /// had expired (process paused, network cut, Redis restarted) and another
    /// holder may have run in the meantime. Whatever the critical section
    /// wrote without a fencing check must be treated as suspect.
    #[error("the lock was no longer owned by this guard (its lease had expired)")]
    NotOwner,
    /// The lease was lost while the critical section ran; `with_lock` dropped
    /// the critical section's future at that point.
    #[error("the lock's lease was lost while the critical section ran")]
    LeaseLost,
    /// Fewer Redis nodes than a majority answered (quorum mode). Check the
    /// nodes; the lock cannot be safely held until a majority is back.
    #[error("quorum unavailable: {got} of the {needed} nodes needed granted the lock")]
    QuorumUnavailable {
        /// Nodes that granted the lock.
        got: usize,
        /// A majority of the configured nodes.
        needed: usize,
    },
    /// A newer holder of the lock has already read or written the fenced
    /// resource (see [`crate::fence`]): this holder's lease ran out while it
    /// was paused or cut off. Abandon the work; the refused call wrote
    /// nothing, and whatever this holder read must not be written back.
    #[error("fenced out: token {token} is older than the resource's fence {fence}")]
    Fenced {
        /// The token this holder presented.
        token: u64,
        /// The newer token the resource has already seen.
        fence: u64,
    },
    /// A fenced database statement failed (feature `postgres`). Usually
    /// transient: retry the transaction, or fail the request.
    #[cfg(feature = "postgres")]
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Fair waiters are queued for this lock, and this manager is not fair:
    /// acquiring would jump their queue. Every manager that uses a lock name
    /// must agree on [`fair`](crate::LockManagerBuilder::fair) mode.
    #[error("lock {name:?} has fair waiters queued: every manager using it must be fair, or none")]
    MixedFairness {
        /// The lock's name.
        name: String,
    },
    /// This task already holds the lock it asked for: locks are not
    /// reentrant, so waiting would never end. Pass the guard (or its
    /// [`HeldLock`](crate::HeldLock)) down instead of locking again. Code
    /// that runs several futures locking one name inside a single task
    /// turns this check off with
    /// [`reentry_check(false)`](crate::LockManagerBuilder::reentry_check).
    #[error("this task already holds lock {name:?}: locking it again would wait for ever")]
    WouldDeadlock {
        /// The lock's name.
        name: String,
    },
    /// The configuration is unusable (fix the builder call).
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    /// Maps a client error, turning the client's own timeout into [`Error::Timeout`].
    pub(crate) fn from_redis(error: redis::RedisError) -> Self {
        if error.is_timeout() {
            Error::Timeout
        } else {
            Error::Redis(error)
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

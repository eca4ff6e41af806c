//! What a handler says about a message it could not process.
//!
//! A handler returns `Ok(())` when the work is done (the message is then
//! acknowledged) or `Err(Outcome)`:
//!
//! - [`Outcome::Retry`]: a transient failure (a timeout, a database that is
//!   restarting). The message comes back after the backoff delay, until the
//!   attempts run out; then it is dead-lettered.
//! - [`Outcome::Reject`]: the message can never succeed (a business rule
//!   refuses it, a referenced record does not exist). It is dead-lettered at
//!   once.
//!
//! Any error converts into `Outcome::Retry` with `?`, so the default is the
//! safe one (try again):
//!
//! ```
//! use mq_reliable::{Message, Outcome};
//!
//! async fn handle(msg: Message<String>) -> Result<(), Outcome> {
//!     let n: u32 = msg.payload().parse().map_err(Outcome::reject)?; // never valid
//!     std::fs::metadata("/tmp")?; // an io::Error: retried
//!     let _ = n;
//!     Ok(())
//! }
//! ```
//!
//! The consumer adds two failures of its own: a handler that panics or runs
//! past its timeout is retried like `Retry`, and a payload that does not
//! deserialize is dead-lettered on its first delivery. [`FailureKind`] names
//! which of these happened; it is written in the dead-letter envelope.

use std::fmt;

/// A boxed error, the cause a handler gives for a failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a handler did not complete a message, and whether to try again.
#[derive(Debug)]
pub enum Outcome {
    /// A transient failure: retry after the backoff delay (dead-letter once
    /// the attempts are used up).
    Retry(BoxError),
    /// A permanent failure: dead-letter now, without retrying.
    Reject(BoxError),
}

impl Outcome {
    /// A retryable failure with `error` as its cause.
    pub fn retry(error: impl Into<BoxError>) -> Self {
        Outcome::Retry(error.into())
    }

    /// A permanent failure with `error` as its cause.
    pub fn reject(error: impl Into<BoxError>) -> Self {
        Outcome::Reject(error.into())
    }

    /// The cause given by the handler.
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        match self {
            Outcome::Retry(e) | Outcome::Reject(e) => e.as_ref(),
        }
    }

    /// True for [`Outcome::Retry`].
    pub fn is_retry(&self) -> bool {
        matches!(self, Outcome::Retry(_))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Retry(e) => write!(f, "retry: {e}"),
            Outcome::Reject(e) => write!(f, "reject: {e}"),
        }
    }
}

/// `?` on any error in a handler means "retry".
impl<E> From<E> for Outcome
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        Outcome::Retry(Box::new(error))
    }
}

/// The kind of failure recorded for a message (in the dead-letter envelope
/// and in the retry headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The handler returned [`Outcome::Retry`].
    Retry,
    /// The handler returned [`Outcome::Reject`].
    Rejected,
    /// The handler panicked (retryable).
    Panic,
    /// The handler ran past the consumer's handler timeout (retryable).
    Timeout,
    /// The payload could not be deserialized (dead-lettered on first delivery).
    Deserialize,
    /// The broker dead-lettered the message itself (for instance a quorum
    /// queue's delivery limit was reached).
    Broker,
}

impl FailureKind {
    /// The name written in headers: `retry`, `rejected`, `panic`, `timeout`,
    /// `deserialize`, `broker`.
    pub fn as_str(&self) -> &'static str {
        match self {
            FailureKind::Retry => "retry",
            FailureKind::Rejected => "rejected",
            FailureKind::Panic => "panic",
            FailureKind::Timeout => "timeout",
            FailureKind::Deserialize => "deserialize",
            FailureKind::Broker => "broker",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s names back.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "retry" => FailureKind::Retry,
            "rejected" => FailureKind::Rejected,
            "panic" => FailureKind::Panic,
            "timeout" => FailureKind::Timeout,
            "deserialize" => FailureKind::Deserialize,
            "broker" => FailureKind::Broker,
            _ => return None,
        })
    }

    /// Whether a failure of this kind is tried again (while attempts remain).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            FailureKind::Retry | FailureKind::Panic | FailureKind::Timeout
        )
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_mark_retries() {
        fn fails() -> Result<(), Outcome> {
            Err(std::io::Error::other("disk"))?;
            Ok(())
        }
        let outcome = fails().unwrap_err();
        assert!(outcome.is_retry());
        assert_eq!(outcome.to_string(), "retry: disk");
    }

    #[test]
    fn kinds_round_trip() {
        for kind in [
            FailureKind::Retry,
            FailureKind::Rejected,
            FailureKind::Panic,
            FailureKind::Timeout,
            FailureKind::Deserialize,
            FailureKind::Broker,
        ] {
            assert_eq!(FailureKind::parse(kind.as_str()), Some(kind));
        }
        assert!(!FailureKind::Deserialize.is_retryable());
        assert!(FailureKind::Panic.is_retryable());
    }
}

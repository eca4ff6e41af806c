//! The one error type of the test kit.

use std::time::Duration;

/// Why the test kit could not give a test the server it asked for.
///
/// Every variant's message says what to do about it, because the reader is a
/// developer looking at a failed test.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// A server binary is not installed.
    #[error(
        "`{binary}` was not found; install it with `{install}` (or run `scripts/dev-services up`)"
    )]
    MissingBinary {
        /// The executable that was looked for.
        binary: String,
        /// The command that installs it.
        install: String,
    },
    /// A shared service does not answer on the URL the test kit was given.
    #[error(
        "{service} does not answer at {url}: {reason}; start it with `scripts/dev-services up {service}` or set {env_var}"
    )]
    ServiceDown {
        /// Short service name (`rabbitmq`, `kafka`, `postgres`).
        service: &'static str,
        /// The address tried.
        url: String,
        /// The environment variable that overrides it.
        env_var: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A server process exited or did not become ready in time.
    #[error("{what} did not become ready within {timeout:?}: {detail}")]
    NotReady {
        /// The server that was being started.
        what: String,
        /// How long the kit waited.
        timeout: Duration,
        /// The last error seen, or the tail of the server's log.
        detail: String,
    },
    /// An operation is not possible with the backend in use (for example
    /// killing a server given by URL).
    #[error("{0}")]
    Unsupported(String),
    /// An operating-system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What the kit was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A setup command against a server (create a vhost, a database…) failed.
    #[error("{context}: {detail}")]
    Setup {
        /// What the kit was doing.
        context: String,
        /// The server's answer.
        detail: String,
    },
}

impl TestkitError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn setup(context: impl Into<String>, detail: impl ToString) -> Self {
        Self::Setup {
            context: context.into(),
            detail: detail.to_string(),
        }
    }
}

/// Result alias of the test kit.
pub type Result<T, E = TestkitError> = std::result::Result<T, E>;

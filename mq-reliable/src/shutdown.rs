//! Stopping a running consumer from elsewhere, the same on both brokers.

use tokio_util::sync::CancellationToken;

/// Stops a running consumer gracefully from elsewhere (a signal handler, an
/// admin endpoint). Cheap to clone; both brokers' consumers hand it out
/// (`Consumer::shutdown_handle`).
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    stop: CancellationToken,
}

impl ShutdownHandle {
    pub(crate) fn new(stop: CancellationToken) -> Self {
        Self { stop }
    }

    /// Asks the consumer to stop: it takes no new message, lets running
    /// handlers finish (within its shutdown timeout) and settles them, then
    /// leaves: on RabbitMQ it acknowledges them and closes its channel, on
    /// Kafka it commits the completed offsets and leaves its group. `run`
    /// then returns `Ok(())`. A consumer that was shut down stays stopped.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }
}

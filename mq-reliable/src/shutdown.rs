//! Stopping a running consumer, the same on both brokers: the handle that
//! asks for it from elsewhere, and the wait for running handlers that ends
//! a consumer's run.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Stops a running consumer gracefully from elsewhere (a signal handler, an
/// admin endpoint). Cheap to clone; both brokers' consumers hand it out
/// (`Consumer::shutdown_handle`).
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    stop: CancellationToken,
}

impl ShutdownHandle {
    #[cfg_attr(not(any(feature = "amqp", feature = "kafka")), allow(dead_code))]
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

/// Lets the handlers in `tasks` finish within `deadline`. Past it,
/// `overdue` is told how many still run (to say so in the log), then
/// `hard_stop` abandons them (their messages are left unsettled, so they
/// come back: redelivered, or read again from the last commit) and the
/// wait goes on until their tasks end.
#[cfg_attr(not(any(feature = "amqp", feature = "kafka")), allow(dead_code))]
pub(crate) async fn drain(
    tasks: &TaskTracker,
    deadline: Duration,
    hard_stop: &CancellationToken,
    overdue: impl FnOnce(usize),
) {
    tasks.close();
    if tokio::time::timeout(deadline, tasks.wait()).await.is_err() {
        overdue(tasks.len());
        hard_stop.cancel();
        tasks.wait().await;
    }
}

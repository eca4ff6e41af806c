//! The consumer's run: sessions one after the other (a new one after each
//! connection loss, with backoff), and in each, deliveries taken from the
//! broker one concurrency permit at a time and handed to handler tasks.
//!
//! The permit is taken *before* the next delivery is read, so a delivery
//! never waits half-started; what the broker sent ahead stays in the
//! prefetch buffer, unacknowledged. At shutdown the session is cancelled,
//! running handlers get the shutdown timeout to finish, and the channel
//! closes.

use std::sync::Arc;

use futures::StreamExt;
use serde::de::DeserializeOwned;

use super::Consumer;
use super::dispatch::Handlers;
use crate::attempt::HandlerFn;
use crate::error::{Error, Result};
use crate::shutdown;
use crate::stats::Counters;

/// Why a session stopped taking deliveries.
enum Ended {
    /// The consumer is shutting down.
    Stopping,
    /// The delivery stream failed or ended: reconnect.
    Lost,
}

impl Consumer {
    /// Consumes until the stop, reconnecting after connection loss; a
    /// topology error ends the run (reconnecting would not fix it).
    pub(super) async fn consume<T, H>(&self, handler: Arc<H>) -> Result<()>
    where
        T: DeserializeOwned + Send + 'static,
        H: HandlerFn<T>,
    {
        let shared = &self.shared;
        let handlers = Handlers::new(handler, shared.concurrency);
        let mut failures = 0u32;
        let mut session_number = 0u64;
        loop {
            if self.stop.is_cancelled() {
                break;
            }
            session_number += 1;
            let opened = tokio::select! {
                _ = self.stop.cancelled() => break,
                opened = self.open_session(session_number) => opened,
            };
            let mut session = match opened {
                Ok(session) => {
                    failures = 0;
                    session
                }
                Err(error @ Error::Topology(_)) => return Err(error),
                Err(error) => {
                    failures += 1;
                    tracing::warn!(queue = %shared.topology.queue, %error, failures, "consumer could not connect; retrying");
                    if !shared.broker.reconnect_pause(failures, &self.stop).await {
                        break;
                    }
                    continue;
                }
            };
            Counters::bump(&shared.counters.connects);
            tracing::info!(queue = %shared.topology.queue, consumer = %session.tag, "consuming");
            if let Ended::Stopping = self
                .take_deliveries(&mut session.deliveries, &handlers)
                .await
            {
                session.cancel(shared.broker.setup_timeout()).await;
                self.drain(&handlers).await;
                session.close("consumer shut down").await;
                return Ok(());
            }
            session.discard().await;
            failures += 1;
            if !shared.broker.reconnect_pause(failures, &self.stop).await {
                break;
            }
        }
        self.drain(&handlers).await;
        Ok(())
    }

    /// Hands deliveries to handler tasks, each under a concurrency permit,
    /// until the consumer stops or the delivery stream fails or ends.
    async fn take_deliveries<T, H>(
        &self,
        deliveries: &mut lapin::Consumer,
        handlers: &Handlers<T, H>,
    ) -> Ended
    where
        T: DeserializeOwned + Send + 'static,
        H: HandlerFn<T>,
    {
        let queue = &self.shared.topology.queue;
        loop {
            let permit = tokio::select! {
                _ = self.stop.cancelled() => return Ended::Stopping,
                permit = handlers.permits.clone().acquire_owned() => permit.expect("semaphore never closed"),
            };
            let next = tokio::select! {
                _ = self.stop.cancelled() => return Ended::Stopping,
                next = deliveries.next() => next,
            };
            match next {
                Some(Ok(delivery)) if delivery.acker.poisoned() => {
                    // Buffered before the channel died: the broker has
                    // requeued it already, so handling it now would only
                    // do the work twice.
                    drop(permit);
                }
                Some(Ok(delivery)) => handlers.spawn(&self.shared, delivery, permit),
                Some(Err(error)) => {
                    tracing::warn!(%queue, %error, "delivery stream failed; reconnecting");
                    return Ended::Lost;
                }
                None => {
                    tracing::warn!(%queue, "delivery stream ended; reconnecting");
                    return Ended::Lost;
                }
            }
        }
    }

    /// Waits for running handlers up to the shutdown timeout, then drops the rest.
    async fn drain<T, H>(&self, handlers: &Handlers<T, H>) {
        let shared = &self.shared;
        shutdown::drain(
            &handlers.tasks,
            shared.shutdown_timeout,
            &handlers.hard_stop,
            |running| {
                tracing::warn!(
                    queue = %shared.topology.queue,
                    running,
                    "shutdown deadline passed; unfinished messages will be delivered again"
                );
            },
        )
        .await;
    }
}

//! One attempt at a message, the same on both brokers: the handler type
//! ([`HandlerFn`]), the payload decoded ([`decode`]), and the handler run in
//! its own task (so a panic is caught, not fatal to the consumer), under
//! the handler timeout, where a hard stop abandons it ([`run`]). What the
//! attempt became is a [`Failure`] for the adapter to settle (retry, dead
//! letter) or success for it to acknowledge; the adapters differ only in
//! how they settle.

use std::any::Any;
use std::future::Future;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::message::Message;
use crate::outcome::{FailureKind, Outcome};
use crate::stats::Counters;

/// Why an attempt did not succeed, as the envelope records it.
pub(crate) struct Failure {
    pub(crate) kind: FailureKind,
    pub(crate) message: String,
}

/// A message handler, with its future's type named so that the parts of a
/// consumer that call it can take it as one type parameter. Every
/// `Fn(Message<T>) -> Future<Output = Result<(), Outcome>>` is one.
pub(crate) trait HandlerFn<T>: Send + Sync + 'static {
    type Fut: Future<Output = Result<(), Outcome>> + Send + 'static;
    fn call(&self, message: Message<T>) -> Self::Fut;
}

impl<T, F, Fut> HandlerFn<T> for F
where
    F: Fn(Message<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Outcome>> + Send + 'static,
{
    type Fut = Fut;
    fn call(&self, message: Message<T>) -> Fut {
        self(message)
    }
}

/// The payload as `T` (JSON), or the failure that sends it to the dead
/// letters: a payload that does not deserialize never will, so it is not
/// retried.
pub(crate) fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(payload).map_err(|error| Failure {
        kind: FailureKind::Deserialize,
        message: format!("payload does not deserialize: {error}"),
    })
}

/// Runs `attempt` to its end, within `limit`. `None` when `hard_stop`
/// fired first (the message is abandoned, unacknowledged, and the broker
/// delivers it again); otherwise success or the [`Failure`]. Panics and
/// timeouts are counted in `counters`.
pub(crate) async fn run<F>(
    attempt: F,
    limit: Duration,
    hard_stop: &CancellationToken,
    counters: &Counters,
) -> Option<Result<(), Failure>>
where
    F: Future<Output = Result<(), Outcome>> + Send + 'static,
{
    let task = tokio::spawn(attempt.instrument(tracing::Span::current()));
    let abort = task.abort_handle();
    let result = tokio::select! {
        _ = hard_stop.cancelled() => {
            abort.abort();
            return None;
        }
        result = tokio::time::timeout(limit, task) => result,
    };
    let failure = |kind, message| Some(Err(Failure { kind, message }));
    match result {
        Ok(Ok(Ok(()))) => Some(Ok(())),
        Ok(Ok(Err(Outcome::Retry(error)))) => failure(FailureKind::Retry, error.to_string()),
        Ok(Ok(Err(Outcome::Reject(error)))) => failure(FailureKind::Rejected, error.to_string()),
        Ok(Err(join_error)) if join_error.is_panic() => {
            Counters::bump(&counters.panicked);
            let text = panic_text(join_error.into_panic());
            failure(FailureKind::Panic, format!("handler panicked: {text}"))
        }
        // Cancelled from outside the attempt: treated like a hard stop.
        Ok(Err(_cancelled)) => None,
        Err(_elapsed) => {
            abort.abort();
            Counters::bump(&counters.timed_out);
            failure(
                FailureKind::Timeout,
                format!("handler did not finish within {limit:?}"),
            )
        }
    }
}

/// A panic's message, when it has one.
fn panic_text(payload: Box<dyn Any + Send>) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-text panic payload".into()
    }
}

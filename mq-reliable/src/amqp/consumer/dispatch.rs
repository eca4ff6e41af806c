//! One delivery from receipt to its settlement: counted, read for its
//! attempt number, message id and original route, decoded into a
//! [`Message`], and handed to the handler in a task of its own. Success is
//! acknowledged; a failure goes to [settlement](super::settlement).

use std::marker::PhantomData;
use std::sync::Arc;

use lapin::message::Delivery;
use lapin::types::FieldTable;
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::Shared;
use super::settlement::{ack, settle_failure};
use crate::amqp::headers;
use crate::attempt::{self, Failure, HandlerFn};
use crate::envelope;
use crate::message::Message;
use crate::stats::Counters;

/// The handler side of a run: the handler, the permits that bound how many
/// run at once, the tasks they run in, and the hard stop that abandons them
/// when the shutdown deadline passes.
pub(super) struct Handlers<T, H> {
    _payload: PhantomData<fn(T)>,
    handler: Arc<H>,
    pub(super) permits: Arc<Semaphore>,
    pub(super) tasks: TaskTracker,
    pub(super) hard_stop: CancellationToken,
}

impl<T, H> Handlers<T, H>
where
    T: DeserializeOwned + Send + 'static,
    H: HandlerFn<T>,
{
    pub(super) fn new(handler: Arc<H>, concurrency: usize) -> Self {
        Self {
            _payload: PhantomData,
            handler,
            permits: Arc::new(Semaphore::new(concurrency)),
            tasks: TaskTracker::new(),
            hard_stop: CancellationToken::new(),
        }
    }

    /// Handles `delivery` in a task of its own, which holds `permit` until
    /// the delivery is settled.
    pub(super) fn spawn(
        &self,
        shared: &Arc<Shared>,
        delivery: Delivery,
        permit: OwnedSemaphorePermit,
    ) {
        let shared = shared.clone();
        let handler = self.handler.clone();
        let hard_stop = self.hard_stop.clone();
        self.tasks.spawn(async move {
            handle_delivery(&shared, handler.as_ref(), delivery, &hard_stop).await;
            drop(permit);
        });
    }
}

/// What a delivery says about itself: which attempt this is, its message
/// id, and the route it was first published with (kept through retries in
/// our headers).
pub(super) struct Origin {
    pub(super) attempt: u32,
    pub(super) message_id: Option<String>,
    pub(super) exchange: String,
    pub(super) routing_key: String,
}

impl Origin {
    fn read(delivery: &Delivery, headers: &FieldTable) -> Self {
        Self {
            attempt: headers::attempt(headers),
            message_id: delivery
                .properties
                .message_id()
                .as_ref()
                .map(|id| id.as_str().to_string()),
            exchange: headers::text(headers, envelope::ORIGINAL_EXCHANGE)
                .unwrap_or_else(|| delivery.exchange.as_str().to_string()),
            routing_key: headers::text(headers, envelope::ORIGINAL_ROUTING_KEY)
                .unwrap_or_else(|| delivery.routing_key.as_str().to_string()),
        }
    }
}

/// One delivery from receipt to ack (or to its retry / dead-letter copy).
async fn handle_delivery<T, H>(
    shared: &Arc<Shared>,
    handler: &H,
    delivery: Delivery,
    hard_stop: &CancellationToken,
) where
    T: DeserializeOwned + Send + 'static,
    H: HandlerFn<T>,
{
    Counters::bump(&shared.counters.consumed);
    if delivery.redelivered {
        Counters::bump(&shared.counters.redelivered);
    }
    let empty = FieldTable::default();
    let headers = delivery.properties.headers().as_ref().unwrap_or(&empty);
    let origin = Origin::read(&delivery, headers);
    let span = tracing::info_span!(
        "mq.message",
        queue = %shared.topology.queue,
        message_id = origin.message_id.as_deref().unwrap_or(""),
        attempt = origin.attempt,
        redelivered = delivery.redelivered,
    );
    async {
        match attempt_delivery(shared, handler, &delivery, headers, &origin, hard_stop).await {
            // Stopped hard: unacknowledged, so delivered again.
            None => {}
            Some(Ok(())) => ack(shared, &delivery).await,
            Some(Err(failure)) => settle_failure(shared, &delivery, &origin, failure).await,
        }
    }
    .instrument(span)
    .await
}

/// One attempt: the payload decoded and handed to the handler. `None` when
/// the consumer is being stopped hard.
async fn attempt_delivery<T, H>(
    shared: &Shared,
    handler: &H,
    delivery: &Delivery,
    headers: &FieldTable,
    origin: &Origin,
    hard_stop: &CancellationToken,
) -> Option<Result<(), Failure>>
where
    T: DeserializeOwned + Send + 'static,
    H: HandlerFn<T>,
{
    let payload = match attempt::decode::<T>(&delivery.data) {
        Ok(payload) => payload,
        Err(failure) => return Some(Err(failure)),
    };
    let mut message = Message::new(payload)
        .with_attempt(origin.attempt)
        .with_redelivered(delivery.redelivered)
        .with_route(
            shared.topology.queue.as_str(),
            origin.exchange.as_str(),
            origin.routing_key.as_str(),
        );
    if let Some(id) = &origin.message_id {
        message = message.with_id(id.as_str());
    }
    if let Some(id) = delivery.properties.correlation_id() {
        message = message.with_correlation_id(id.as_str());
    }
    for name in headers.inner().keys() {
        if let Some(text) = headers::text(headers, name.as_str()) {
            message = message.with_header(name.as_str(), text);
        }
    }
    attempt::run(
        handler.call(message),
        shared.handler_timeout,
        hard_stop,
        &shared.counters,
    )
    .await
}

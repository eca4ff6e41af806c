//! From a record in its key's lane to the end of its attempts here: the
//! record's origin and id, the tracing span, the payload decoded into a
//! [`Message`], and the handler run under a concurrency permit. A failed
//! attempt goes to [settlement](super::settlement), which says whether the
//! record is tried again here (ordered retry) or is done with.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::Shared;
use super::intake::Work;
use super::settlement::Settled;
use crate::attempt::{self, Failure, HandlerFn};
use crate::envelope;
use crate::kafka::headers;
use crate::kafka::key_order::{KeyLanes, LaneKey};
use crate::message::Message;
use crate::stats::Counters;

/// Everything a lane needs to handle a record.
pub(super) struct Dispatcher<T, H> {
    _payload: PhantomData<fn(T)>,
    pub(super) shared: Arc<Shared>,
    handler: Arc<H>,
    lanes: Arc<KeyLanes<Work>>,
    /// Every task of the run that handles records (lanes and due gates).
    pub(super) tasks: TaskTracker,
    /// Permits for the handlers running at once (`concurrency`).
    running: Arc<Semaphore>,
    /// The graceful stop: nothing new starts, parked retries give up.
    pub(super) stop: CancellationToken,
    /// The shutdown deadline passed: running handlers are abandoned.
    pub(super) hard_stop: CancellationToken,
}

/// Where a record comes from and what it is called, the same through all
/// its retries: read from its headers on a retry copy, from its own
/// position on a first delivery.
pub(super) struct Origin {
    /// The topic it was first produced to.
    pub(super) topic: String,
    pub(super) partition: i32,
    pub(super) offset: i64,
    /// `x-message-id`, or `<topic>-<partition>-<offset>` of the origin.
    pub(super) message_id: String,
    /// The record key as text (empty when there is none).
    pub(super) key_text: String,
}

impl Origin {
    fn read(work: &Work) -> Self {
        let topic = headers::text(&work.headers, envelope::ORIGINAL_EXCHANGE)
            .unwrap_or_else(|| work.partition.0.clone());
        let partition = headers::number(&work.headers, envelope::ORIGINAL_PARTITION)
            .map(|p| p as i32)
            .unwrap_or(work.partition.1);
        let offset =
            headers::number(&work.headers, envelope::ORIGINAL_OFFSET).unwrap_or(work.offset);
        let message_id = headers::text(&work.headers, envelope::MESSAGE_ID)
            .unwrap_or_else(|| format!("{topic}-{partition}-{offset}"));
        let key_text = work
            .key
            .as_deref()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default();
        Self {
            topic,
            partition,
            offset,
            message_id,
            key_text,
        }
    }
}

/// How far a record got: the attempt under way (carried over from earlier
/// retries) and when it first failed.
pub(super) struct Progress {
    pub(super) attempt: u32,
    pub(super) first_failure_ms: Option<i64>,
}

impl Progress {
    fn read(work: &Work) -> Self {
        Self {
            attempt: headers::number(&work.headers, envelope::ATTEMPT)
                .map(|n| n.clamp(1, u32::MAX as i64) as u32)
                .unwrap_or(1),
            first_failure_ms: headers::number(&work.headers, envelope::FIRST_FAILURE),
        }
    }
}

impl<T, H> Dispatcher<T, H>
where
    T: DeserializeOwned + Send + 'static,
    H: HandlerFn<T>,
{
    pub(super) fn new(
        shared: Arc<Shared>,
        handler: Arc<H>,
        tasks: TaskTracker,
        stop: CancellationToken,
        hard_stop: CancellationToken,
    ) -> Arc<Self> {
        let running = Arc::new(Semaphore::new(shared.concurrency));
        Arc::new(Self {
            _payload: PhantomData,
            shared,
            handler,
            lanes: KeyLanes::new(),
            tasks,
            running,
            stop,
            hard_stop,
        })
    }

    /// Queues the record in its key's lane (an unkeyed record has a lane
    /// of its own).
    pub(super) fn dispatch(self: &Arc<Self>, work: Work) {
        let lane = match &work.key {
            Some(key) => LaneKey::Keyed(work.partition.0.clone(), work.partition.1, key.clone()),
            None => LaneKey::Unkeyed(work.partition.0.clone(), work.partition.1, work.offset),
        };
        let this = self.clone();
        self.lanes.dispatch(lane, work, &self.tasks, move |work| {
            let this = this.clone();
            async move { this.process(work).await }
        });
    }

    /// One record, from its first attempt here to completion (or abandonment).
    async fn process(&self, work: Work) {
        if self.stop.is_cancelled() || !self.shared.is_current(&work) {
            // Shutting down, or the partition moved: not committed, handled again.
            Counters::bump(&self.shared.counters.acks_lost);
            return;
        }
        let origin = Origin::read(&work);
        let progress = Progress::read(&work);
        let span = tracing::info_span!(
            "mq.message",
            topic = %work.partition.0,
            partition = work.partition.1,
            offset = work.offset,
            key = %origin.key_text,
            message_id = %origin.message_id,
            attempt = tracing::field::Empty,
        );
        self.attempts(&work, &origin, progress)
            .instrument(span)
            .await
    }

    /// Attempts the record until it succeeds, or its failure is settled
    /// for good, or it is abandoned.
    async fn attempts(&self, work: &Work, origin: &Origin, mut progress: Progress) {
        let shared = &self.shared;
        loop {
            tracing::Span::current().record("attempt", progress.attempt);
            let failure = match self.attempt(work, origin, progress.attempt).await {
                Some(Ok(())) => {
                    Counters::bump(&shared.counters.acked);
                    shared.complete(work);
                    return;
                }
                Some(Err(failure)) => failure,
                None => {
                    Counters::bump(&shared.counters.acks_lost);
                    return;
                }
            };
            match self.settle(work, origin, &mut progress, failure).await {
                Settled::TryAgain => progress.attempt += 1,
                Settled::Done => return,
            }
        }
    }

    /// One attempt: the payload decoded and handed to the handler. `None`
    /// when the consumer is being stopped hard (the record is abandoned).
    async fn attempt(
        &self,
        work: &Work,
        origin: &Origin,
        attempt: u32,
    ) -> Option<Result<(), Failure>> {
        let payload = match attempt::decode::<T>(&work.payload) {
            Ok(payload) => payload,
            Err(failure) => return Some(Err(failure)),
        };
        let mut message = Message::new(payload)
            .with_id(origin.message_id.as_str())
            .with_attempt(attempt)
            .with_route(
                work.partition.0.as_str(),
                origin.topic.as_str(),
                origin.key_text.as_str(),
            )
            .with_position(work.partition.1, work.offset);
        for (name, value) in &work.headers {
            if let Ok(text) = std::str::from_utf8(value) {
                message = message.with_header(name.as_str(), text);
            }
        }
        self.run_handler(message).await
    }

    /// Runs the handler in its own task under a concurrency permit. `None`
    /// when the consumer is being stopped hard (the record is abandoned).
    async fn run_handler(&self, message: Message<T>) -> Option<Result<(), Failure>> {
        let _permit = tokio::select! {
            _ = self.hard_stop.cancelled() => return None,
            permit = self.running.acquire() => permit.expect("semaphore never closed"),
        };
        attempt::run(
            self.handler.call(message),
            self.shared.handler_timeout,
            &self.hard_stop,
            &self.shared.counters,
        )
        .await
    }
}

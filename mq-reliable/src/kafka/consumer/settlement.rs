//! What becomes of a failed attempt: parked in its lane and tried again
//! ([`RetryMode::Ordered`]), copied to a retry topic
//! ([`RetryMode::Topics`]), or copied to the dead-letter topic (or skipped
//! when there is none). The decision is [`Backoff::retry_delay`]'s, the
//! same as on RabbitMQ.
//!
//! A record's offset completes only once its copy is acknowledged by the
//! broker; a copy that cannot be produced before the partition moves or the
//! consumer stops hard leaves the record uncommitted, so it comes back.
//!
//! [`Backoff::retry_delay`]: crate::Backoff

use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;

use super::dispatch::{Dispatcher, Origin, Progress};
use super::intake::Work;
use crate::attempt::{Failure, HandlerFn};
use crate::envelope::{self, FailureRecord};
use crate::kafka::headers::{self, HeaderList};
use crate::kafka::retry::{self, RetryMode};
use crate::stats::Counters;

/// What follows a settled failure.
pub(super) enum Settled {
    /// Parked for its delay and still ours: the next attempt runs here.
    TryAgain,
    /// Completed (retry copy or dead letter produced, or skipped), or
    /// abandoned (not committed, handled again).
    Done,
}

/// One failed attempt, with what its retry copy or dead letter records.
struct FailedAttempt<'a> {
    work: &'a Work,
    origin: &'a Origin,
    failure: &'a Failure,
    attempt: u32,
    first_failure_ms: i64,
    now_ms: i64,
}

impl FailedAttempt<'_> {
    /// The copy's headers: the record's own without this crate's, then the
    /// failure record, the message id and, on a retry topic, when it is due.
    fn headers(&self, consumer_id: &str, attempt_recorded: u32, due: Option<i64>) -> HeaderList {
        let mut list: HeaderList = self
            .work
            .headers
            .iter()
            .filter(|(name, _)| !envelope::ALL.contains(&name.as_str()))
            .cloned()
            .collect();
        let record = FailureRecord {
            attempt: attempt_recorded,
            original_exchange: &self.origin.topic,
            original_routing_key: &self.origin.key_text,
            original_position: Some((self.origin.partition, self.origin.offset)),
            kind: self.failure.kind,
            message: &self.failure.message,
            first_failure_ms: self.first_failure_ms,
            last_failure_ms: self.now_ms,
            consumer_id,
            source_queue: &self.work.partition.0,
        };
        headers::record_failure(&mut list, &record);
        headers::set(&mut list, envelope::MESSAGE_ID, &self.origin.message_id);
        if let Some(due) = due {
            headers::set(&mut list, envelope::DUE, due);
        }
        list
    }
}

impl<T, H> Dispatcher<T, H>
where
    T: DeserializeOwned + Send + 'static,
    H: HandlerFn<T>,
{
    /// Retries or dead-letters the record after a failed attempt.
    pub(super) async fn settle(
        &self,
        work: &Work,
        origin: &Origin,
        progress: &mut Progress,
        failure: Failure,
    ) -> Settled {
        let now_ms = envelope::to_millis(SystemTime::now());
        let failed = FailedAttempt {
            work,
            origin,
            failure: &failure,
            attempt: progress.attempt,
            first_failure_ms: *progress.first_failure_ms.get_or_insert(now_ms),
            now_ms,
        };
        let delay = self
            .shared
            .retry
            .retry_delay(failure.kind, progress.attempt);
        match (delay, self.shared.mode) {
            (Some(delay), RetryMode::Ordered) => self.retry_in_place(work, &failure, delay).await,
            (Some(delay), RetryMode::Topics) => self.retry_on_topic(&failed, delay).await,
            (None, _) => self.dead_letter(&failed).await,
        }
    }

    /// Ordered retry: the key's lane waits for the delay, then the record
    /// is tried again here.
    async fn retry_in_place(&self, work: &Work, failure: &Failure, delay: Duration) -> Settled {
        Counters::bump(&self.shared.counters.retried);
        tracing::info!(kind = %failure.kind, error = %failure.message, delay_ms = delay.as_millis() as u64, "key parked until the retry");
        if self.park(work, delay).await {
            Settled::TryAgain
        } else {
            Counters::bump(&self.shared.counters.acks_lost);
            Settled::Done
        }
    }

    /// Retry topics: a copy due after the delay goes to the delay's retry
    /// topic, and this record completes.
    async fn retry_on_topic(&self, failed: &FailedAttempt<'_>, delay: Duration) -> Settled {
        let shared = &self.shared;
        let topic = retry::retry_topic(&shared.topic, delay);
        let due = failed.now_ms + delay.as_millis() as i64;
        let headers = failed.headers(&shared.consumer_id, failed.attempt + 1, Some(due));
        if !self.produce_copy(failed.work, &topic, &headers).await {
            Counters::bump(&shared.counters.acks_lost);
            return Settled::Done;
        }
        Counters::bump(&shared.counters.retried);
        let failure = failed.failure;
        tracing::info!(kind = %failure.kind, error = %failure.message, retry_topic = %topic, "record sent to its retry topic");
        shared.complete(failed.work);
        Settled::Done
    }

    /// No retry left (or none allowed): a copy to the dead-letter topic, or
    /// the record is skipped when there is none; either way it completes.
    async fn dead_letter(&self, failed: &FailedAttempt<'_>) -> Settled {
        let shared = &self.shared;
        let failure = failed.failure;
        match &shared.dead_letter_topic {
            Some(topic) => {
                let headers = failed.headers(&shared.consumer_id, failed.attempt, None);
                if !self.produce_copy(failed.work, topic, &headers).await {
                    Counters::bump(&shared.counters.acks_lost);
                    return Settled::Done;
                }
                tracing::warn!(kind = %failure.kind, error = %failure.message, attempts = failed.attempt, dead_letter_topic = %topic, "record dead-lettered");
            }
            None => {
                tracing::error!(kind = %failure.kind, error = %failure.message, "no dead-letter topic configured: record skipped");
            }
        }
        Counters::bump(&shared.counters.dead_lettered);
        shared.complete(failed.work);
        Settled::Done
    }

    /// Ordered retry: waits `delay` at the head of the key's lane. `false`
    /// when the wait was cut short by a revoke of the partition or a shutdown.
    async fn park(&self, work: &Work, delay: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + delay;
        let mut revoked = self.shared.revoked.subscribe();
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    return !self.stop.is_cancelled() && self.shared.is_current(work);
                }
                _ = self.stop.cancelled() => return false,
                changed = revoked.changed() => {
                    if changed.is_err() || !self.shared.is_current(work) {
                        return false;
                    }
                }
            }
        }
    }

    /// Produces a retry copy or dead letter, trying again while the broker
    /// refuses; `false` if the partition moved or the consumer is stopped
    /// hard first (the record is then not completed, and comes back).
    async fn produce_copy(&self, work: &Work, topic: &str, headers: &[(String, Vec<u8>)]) -> bool {
        let mut failures: u32 = 0;
        loop {
            if !self.shared.is_current(work) {
                return false;
            }
            match self
                .shared
                .producer
                .send_raw(topic, work.key.as_deref(), &work.payload, headers)
                .await
            {
                Ok(_) => return true,
                Err(error) => {
                    failures += 1;
                    let pause = Duration::from_millis(100u64 << failures.min(6))
                        .min(Duration::from_secs(5));
                    tracing::error!(%error, %topic, failures, "could not produce the retry copy / dead letter; trying again");
                    tokio::select! {
                        _ = self.hard_stop.cancelled() => return false,
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
    }
}

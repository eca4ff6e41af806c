//! Where records enter the consumer: read from the partition queues and the
//! main queue, copied out of librdkafka's buffer, given an in-flight slot,
//! and handed to their key's lane — or, from a retry topic, held at their
//! partition's due gate until their retry is due.
//!
//! A reader that waits for a slot holds at most one record, and only its
//! own partition's queue stops meanwhile; the main queue, which serves the
//! group, keeps being polled (see "Reading" in the [module docs](super)).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use rdkafka::consumer::Consumer as _;
use rdkafka::consumer::MessageStream;
use rdkafka::consumer::stream_consumer::StreamPartitionQueue;
use rdkafka::{Message as _, TopicPartitionList};
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::dispatch::Dispatcher;
use super::group::{Context, GroupConsumer};
use crate::attempt::HandlerFn;
use crate::envelope;
use crate::kafka::headers::{self, HeaderList};
use crate::kafka::offsets::TopicPartition;
use crate::stats::Counters;

/// A record copied out of librdkafka's buffer, not yet holding a slot.
struct Received {
    partition: TopicPartition,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    headers: HeaderList,
}

impl Received {
    fn from(record: &rdkafka::message::BorrowedMessage<'_>) -> Self {
        Self {
            partition: (record.topic().to_string(), record.partition()),
            offset: record.offset(),
            key: record.key().map(<[u8]>::to_vec),
            payload: record.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            headers: headers::collect(rdkafka::Message::headers(record)),
        }
    }
}

/// One record on its way through the consumer, holding its in-flight slot
/// until it is completed or abandoned.
pub(super) struct Work {
    pub(super) partition: TopicPartition,
    pub(super) offset: i64,
    /// The partition's assignment epoch when the record was read.
    pub(super) epoch: u64,
    pub(super) key: Option<Vec<u8>>,
    pub(super) payload: Vec<u8>,
    pub(super) headers: HeaderList,
    _in_flight: OwnedSemaphorePermit,
}

/// Where records read from any queue enter the consumer: each takes an
/// in-flight slot, then goes to its key's lane (or, from a retry topic, to
/// its partition's due gate).
pub(super) struct Intake<T, H> {
    dispatcher: Arc<Dispatcher<T, H>>,
    consumer: Arc<GroupConsumer>,
    in_flight: Arc<Semaphore>,
    gates: Mutex<HashMap<TopicPartition, mpsc::UnboundedSender<Work>>>,
    stop: CancellationToken,
}

impl<T, H> Intake<T, H>
where
    T: DeserializeOwned + Send + 'static,
    H: HandlerFn<T>,
{
    pub(super) fn new(
        dispatcher: Arc<Dispatcher<T, H>>,
        consumer: Arc<GroupConsumer>,
        stop: CancellationToken,
    ) -> Arc<Self> {
        let in_flight = Arc::new(Semaphore::new(dispatcher.shared.max_in_flight));
        Arc::new(Self {
            dispatcher,
            consumer,
            in_flight,
            gates: Mutex::new(HashMap::new()),
            stop,
        })
    }

    /// Reads every partition queue in a task of its own and the main queue
    /// here, until the consumer stops; then closes the due gates.
    pub(super) async fn read_all(self: &Arc<Self>, queues: Vec<StreamPartitionQueue<Context>>) {
        let readers = TaskTracker::new();
        for queue in queues {
            let intake = self.clone();
            readers.spawn(async move { intake.read(queue.stream()).await });
        }
        readers.close();
        // The main queue: rebalances, commit results and errors, plus the
        // records of partitions that did not exist at start-up.
        self.read(self.consumer.stream()).await;
        readers.wait().await;
        self.gates.lock().expect("gates lock").clear();
    }

    /// Takes in the records of one queue (a partition's, or the main one)
    /// until the consumer stops.
    async fn read(&self, mut queue: MessageStream<'_, Context>) {
        loop {
            let next = tokio::select! {
                _ = self.stop.cancelled() => return,
                next = queue.next() => next,
            };
            match next {
                Some(Ok(record)) => {
                    // Copied out, so librdkafka's buffer is not held while
                    // the record waits for a slot.
                    let received = Received::from(&record);
                    drop(record);
                    self.take(received).await;
                }
                Some(Err(error)) => {
                    let topic = &self.dispatcher.shared.topic;
                    tracing::warn!(%topic, %error, "consumer error (librdkafka retries by itself)");
                }
                None => return,
            }
        }
    }

    /// Takes one record in: waits for a slot (or the stop) and hands it on.
    async fn take(&self, record: Received) {
        let shared = &self.dispatcher.shared;
        Counters::bump(&shared.counters.consumed);
        // The epoch is taken on arrival, before the wait for a slot: a
        // revoke during the wait makes this record stale, so it is dropped
        // instead of being handled under a later assignment.
        let epoch = shared
            .tracker
            .lock()
            .expect("offset tracker lock")
            .received(&record.partition, record.offset);
        let Some(epoch) = epoch else {
            // Fetched before its partition was revoked: not ours any more.
            return;
        };
        let permit = tokio::select! {
            _ = self.stop.cancelled() => return,
            permit = self.in_flight.clone().acquire_owned() => permit.expect("semaphore never closed"),
        };
        let work = Work {
            partition: record.partition,
            offset: record.offset,
            epoch,
            key: record.key,
            payload: record.payload,
            headers: record.headers,
            _in_flight: permit,
        };
        if shared.retry_topics.contains(&work.partition.0) {
            self.hold_until_due(work);
        } else {
            self.dispatcher.dispatch(work);
        }
    }

    /// Sends a retry-topic record to its partition's due gate, starting the
    /// gate with the partition's first record.
    fn hold_until_due(&self, work: Work) {
        let mut gates = self.gates.lock().expect("gates lock");
        let gate = gates.entry(work.partition.clone()).or_insert_with(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            self.dispatcher.tasks.spawn(due_gate(
                receiver,
                self.dispatcher.clone(),
                self.consumer.clone(),
                work.partition.clone(),
                self.stop.clone(),
            ));
            sender
        });
        let _ = gate.send(work);
    }
}

/// Holds the records of one retry-topic partition until they are due,
/// pausing the partition meanwhile (nothing more is fetched from it).
async fn due_gate<T, H>(
    mut receiver: mpsc::UnboundedReceiver<Work>,
    dispatcher: Arc<Dispatcher<T, H>>,
    consumer: Arc<GroupConsumer>,
    partition: TopicPartition,
    stop: CancellationToken,
) where
    T: DeserializeOwned + Send + 'static,
    H: HandlerFn<T>,
{
    let mut list = TopicPartitionList::new();
    list.add_partition(&partition.0, partition.1);
    let mut paused = false;
    loop {
        let work = if paused {
            match receiver.try_recv() {
                Ok(work) => work,
                Err(mpsc::error::TryRecvError::Empty) => {
                    let _ = consumer.resume(&list);
                    paused = false;
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => return,
            }
        } else {
            tokio::select! {
                _ = stop.cancelled() => return,
                work = receiver.recv() => match work {
                    Some(work) => work,
                    None => return,
                },
            }
        };
        let due = headers::number(&work.headers, envelope::DUE).unwrap_or(0);
        let wait = due - envelope::to_millis(SystemTime::now());
        if wait > 0 {
            if !paused {
                let _ = consumer.pause(&list);
                paused = true;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
            }
        }
        dispatcher.dispatch(work);
    }
}

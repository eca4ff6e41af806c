//! Waking waiters on release, through Redis pub/sub.
//!
//! A release script publishes on the lock's channel. Each lock manager keeps
//! **one** pub/sub connection per Redis node, shared by all its waiters:
//! a channel is subscribed while at least one waiter needs it, and a message
//! wakes that channel's waiters in this process.
//!
//! Pub/sub is an accelerator, never the only path: a waiter also sleeps no
//! longer than the lock's remaining lease, so a lost message (the connection
//! dropped while the release was published) delays it, never strands it. When
//! the connection comes back every channel is subscribed again and every
//! waiter is woken to look once more.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use redis::aio::PubSubSink;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use tokio_util::sync::{CancellationToken, DropGuard};

/// How long a (un)subscribe or connect may take before the connection is
/// considered broken; waiters fall back to lease-based sleeping meanwhile.
const PUBSUB_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// A live pub/sub connection's command side, and the switch that makes its
/// task drop the connection and reconnect (dropping the sink alone does not
/// end the message stream).
struct Sink {
    sink: PubSubSink,
    reset: CancellationToken,
}

impl Sink {
    /// Subscribes, or marks the connection broken and asks for a reconnect.
    async fn subscribe(&mut self, channel: &str) -> bool {
        let ok = matches!(
            tokio::time::timeout(PUBSUB_TIMEOUT, self.sink.subscribe(channel)).await,
            Ok(Ok(()))
        );
        if !ok {
            self.reset.cancel();
        }
        ok
    }
}

#[derive(Default)]
struct Connections {
    /// One slot per node; `None` while that node's connection is down.
    sinks: Vec<Option<Sink>>,
    /// Channels subscribed on every connected sink.
    subscribed: HashSet<String>,
}

struct Channel {
    notify: Arc<Notify>,
    waiters: usize,
}

struct Shared {
    channels: Mutex<HashMap<String, Channel>>,
    connections: tokio::sync::Mutex<Connections>,
}

impl Shared {
    fn wake(&self, channel: &str) {
        if let Some(entry) = self.channels.lock().expect("channels lock").get(channel) {
            entry.notify.notify_waiters();
        }
    }

    fn wake_all(&self) {
        for entry in self.channels.lock().expect("channels lock").values() {
            entry.notify.notify_waiters();
        }
    }
}

/// The pub/sub side of a lock manager. Cloning shares the connections.
#[derive(Clone)]
pub(crate) struct Wakeups {
    shared: Arc<Shared>,
    _stop: Arc<DropGuard>,
}

impl std::fmt::Debug for Wakeups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakeups").finish_non_exhaustive()
    }
}

impl Wakeups {
    /// Starts one background connection task per client. The tasks end when
    /// the last clone of this value is dropped.
    pub(crate) fn start(clients: Vec<redis::Client>, keepalive: Duration) -> Self {
        let shared = Arc::new(Shared {
            channels: Mutex::new(HashMap::new()),
            connections: tokio::sync::Mutex::new(Connections {
                sinks: clients.iter().map(|_| None).collect(),
                subscribed: HashSet::new(),
            }),
        });
        let stop = CancellationToken::new();
        for (index, client) in clients.into_iter().enumerate() {
            tokio::spawn(maintain_connection(
                shared.clone(),
                index,
                client,
                keepalive,
                stop.clone(),
            ));
        }
        Self {
            shared,
            _stop: Arc::new(stop.drop_guard()),
        }
    }

    /// Registers interest in `channel` and returns once it is subscribed on
    /// every connected node (or the attempt timed out: the caller's
    /// lease-bounded sleep covers that case).
    pub(crate) async fn subscribe(&self, channel: &str) -> Subscription {
        let notify = {
            let mut channels = self.shared.channels.lock().expect("channels lock");
            let entry = channels
                .entry(channel.to_string())
                .or_insert_with(|| Channel {
                    notify: Arc::new(Notify::new()),
                    waiters: 0,
                });
            entry.waiters += 1;
            entry.notify.clone()
        };
        let mut connections = self.shared.connections.lock().await;
        if !connections.subscribed.contains(channel) {
            for slot in connections.sinks.iter_mut() {
                if let Some(sink) = slot
                    && !sink.subscribe(channel).await
                {
                    *slot = None; // its task reconnects and resubscribes everything
                }
            }
            connections.subscribed.insert(channel.to_string());
        }
        Subscription {
            wakeups: self.clone(),
            channel: channel.to_string(),
            notify,
        }
    }

    fn unsubscribe(&self, channel: &str) {
        let now_unused = {
            let mut channels = self.shared.channels.lock().expect("channels lock");
            match channels.get_mut(channel) {
                Some(entry) => {
                    entry.waiters -= 1;
                    if entry.waiters == 0 {
                        channels.remove(channel);
                        true
                    } else {
                        false
                    }
                }
                None => false,
            }
        };
        if !now_unused {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // no runtime: the connection goes away with the process
        };
        let shared = self.shared.clone();
        let channel = channel.to_string();
        runtime.spawn(async move {
            let mut connections = shared.connections.lock().await;
            // A new waiter may have arrived since; it relies on the subscription.
            if shared
                .channels
                .lock()
                .expect("channels lock")
                .contains_key(&channel)
            {
                return;
            }
            connections.subscribed.remove(&channel);
            for sink in connections.sinks.iter_mut().flatten() {
                let _ = tokio::time::timeout(PUBSUB_TIMEOUT, sink.sink.unsubscribe(&channel)).await;
            }
        });
    }
}

/// One waiter's interest in a channel; unsubscribes when the last one drops.
pub(crate) struct Subscription {
    wakeups: Wakeups,
    channel: String,
    notify: Arc<Notify>,
}

impl Subscription {
    /// A future that completes on the next message of the channel. Create it
    /// (and `enable` it) *before* checking the lock, so a release between the
    /// check and the wait is not missed.
    pub(crate) fn notified(&self) -> Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.wakeups.unsubscribe(&self.channel);
    }
}

/// Keeps node `index`'s pub/sub connection up: connect, resubscribe, route
/// messages; on loss, wake everyone and reconnect with backoff.
async fn maintain_connection(
    shared: Arc<Shared>,
    index: usize,
    client: redis::Client,
    keepalive: Duration,
    stop: CancellationToken,
) {
    let mut delay = Duration::from_millis(25);
    loop {
        let connected = tokio::select! {
            _ = stop.cancelled() => return,
            connected = tokio::time::timeout(PUBSUB_TIMEOUT, client.get_async_pubsub()) => connected,
        };
        if let Ok(Ok(pubsub)) = connected {
            let (sink, mut stream) = pubsub.split();
            let reset = CancellationToken::new();
            let mut sink = Sink {
                sink,
                reset: reset.clone(),
            };
            {
                let mut connections = shared.connections.lock().await;
                let channels: Vec<String> = connections.subscribed.iter().cloned().collect();
                let mut healthy = true;
                for channel in &channels {
                    healthy &= sink.subscribe(channel).await;
                }
                if healthy {
                    connections.sinks[index] = Some(sink);
                }
            }
            // Releases published while we were away were missed: look again.
            shared.wake_all();
            delay = Duration::from_millis(25);
            let mut heartbeat =
                tokio::time::interval_at(tokio::time::Instant::now() + keepalive, keepalive);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = reset.cancelled() => break,
                    _ = heartbeat.tick() => {
                        if !ping(&shared, index, keepalive).await {
                            tracing::debug!(node = index, "lock wake-up connection did not answer its keepalive");
                            break;
                        }
                    }
                    message = stream.next() => match message {
                        Some(message) => shared.wake(message.get_channel_name()),
                        None => break,
                    },
                }
            }
            shared.connections.lock().await.sinks[index] = None;
            shared.wake_all();
            tracing::debug!(node = index, "lock wake-up connection lost; reconnecting");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(MAX_RECONNECT_DELAY);
    }
}

/// Pings node `index`'s pub/sub connection; false if it did not answer in time.
async fn ping(shared: &Shared, index: usize, keepalive: Duration) -> bool {
    let mut connections = shared.connections.lock().await;
    let Some(sink) = connections.sinks[index].as_mut() else {
        return false; // marked broken by a failed subscribe
    };
    let pong = tokio::time::timeout(
        keepalive.min(PUBSUB_TIMEOUT),
        sink.sink.ping::<redis::Value>(),
    )
    .await;
    matches!(pong, Ok(Ok(_)))
}

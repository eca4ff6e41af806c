//! Keeping every instance's local tier coherent, and waking fill waiters.
//!
//! Each cache holds one pub/sub connection subscribed to its namespace's two
//! channels:
//!
//! - `{namespace}:invalidate` carries keys invalidated or overwritten
//!   anywhere in the fleet: the local copy is evicted.
//! - `{namespace}:filled` carries keys just filled: callers waiting for
//!   another instance's load wake up and read Redis.
//!
//! Pub/sub delivers at most once: messages sent while the connection is
//! down are lost. So whenever the subscription is (re)established, the whole
//! local tier is flushed, and every fill waiter is woken to look again. A
//! connection can also die silently (a middlebox forgets it): a `PING` every
//! keepalive interval that goes unanswered is treated as a lost connection.
//!
//! A read that races an invalidation must not put the old value back into
//! the local tier. Every eviction bumps a sequence number; a reader notes it
//! before reading Redis and fills the local tier only if it has not moved.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::keys::Keys;
use crate::stats::{Counters, bump};

const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The local tier as the subscription sees it.
pub(crate) trait LocalTier: Send + Sync + 'static {
    /// Drops one key.
    fn evict(&self, key: String) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
    /// Drops everything.
    fn flush(&self);
}

struct Shared {
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
    sequence: AtomicU64,
    /// Evictions take it exclusively; a local fill holds it shared across its
    /// check of the sequence and its insert, so no eviction falls in between.
    fill_lock: tokio::sync::RwLock<()>,
    local: Option<Arc<dyn LocalTier>>,
    counters: Arc<Counters>,
    connected: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    fn wake(&self, key: &str) {
        if let Some(notify) = self.waiters.lock().expect("waiters lock").get(key) {
            notify.notify_waiters();
        }
    }

    fn wake_all(&self) {
        for notify in self.waiters.lock().expect("waiters lock").values() {
            notify.notify_waiters();
        }
    }

    async fn evict(&self, key: &str) {
        let _exclusive = self.fill_lock.write().await;
        self.sequence.fetch_add(1, Ordering::SeqCst);
        if let Some(local) = &self.local {
            local.evict(key.to_string()).await;
        }
    }

    async fn flush(&self) {
        let _exclusive = self.fill_lock.write().await;
        self.sequence.fetch_add(1, Ordering::SeqCst);
        if let Some(local) = &self.local {
            local.flush();
        }
    }
}

/// The subscription of one cache. Stops when dropped.
pub(crate) struct Coherence {
    shared: Arc<Shared>,
    _stop: DropGuard,
}

impl Coherence {
    /// Starts the subscription task; waits up to `wait` for the first
    /// subscription (a cache that starts while Redis is down still starts).
    pub(crate) async fn start(
        client: redis::Client,
        keys: &Keys,
        local: Option<Arc<dyn LocalTier>>,
        counters: Arc<Counters>,
        wait: Duration,
        keepalive: Duration,
    ) -> Self {
        let shared = Arc::new(Shared {
            waiters: Mutex::new(HashMap::new()),
            sequence: AtomicU64::new(0),
            fill_lock: tokio::sync::RwLock::new(()),
            local,
            counters,
            connected: tokio::sync::watch::channel(false).0,
        });
        let stop = CancellationToken::new();
        let mut connected = shared.connected.subscribe();
        tokio::spawn(subscribe_forever(
            shared.clone(),
            client,
            keys.clone(),
            keepalive,
            stop.clone(),
        ));
        let _ = tokio::time::timeout(wait, connected.wait_for(|up| *up)).await;
        Self {
            shared,
            _stop: stop.drop_guard(),
        }
    }

    /// The eviction sequence number (see the module docs).
    pub(crate) fn sequence(&self) -> u64 {
        self.shared.sequence.load(Ordering::SeqCst)
    }

    /// Runs `insert` if the local tier may be filled: no eviction since
    /// `seen` and the subscription is up (otherwise an invalidation could be
    /// missed). Evictions wait while it runs, so none can slip between the
    /// check and the insert.
    pub(crate) async fn fill_local_if_unchanged<F: Future<Output = ()>>(
        &self,
        seen: u64,
        insert: F,
    ) {
        let _shared = self.shared.fill_lock.read().await;
        if self.sequence() == seen && *self.shared.connected.borrow() {
            insert.await;
        }
    }

    /// Evicts a key locally at once (the instance that invalidates does not
    /// wait for its own message).
    pub(crate) async fn evict_locally(&self, key: &str) {
        self.shared.evict(key).await;
    }

    /// Registers interest in the next fill (or invalidation) of `key`.
    pub(crate) fn waiter(&self, key: &str) -> FillWaiter {
        let notify = self
            .shared
            .waiters
            .lock()
            .expect("waiters lock")
            .entry(key.to_string())
            .or_default()
            .clone();
        FillWaiter {
            shared: self.shared.clone(),
            key: key.to_string(),
            notify,
        }
    }
}

/// Interest in one key's fill; forgotten when the last waiter drops.
pub(crate) struct FillWaiter {
    shared: Arc<Shared>,
    key: String,
    notify: Arc<Notify>,
}

impl FillWaiter {
    /// Completes on the key's next fill or invalidation. Arm it (`enable`)
    /// before checking, so a fill in between is not missed.
    pub(crate) fn notified(&self) -> Notified<'_> {
        self.notify.notified()
    }
}

impl Drop for FillWaiter {
    fn drop(&mut self) {
        let mut waiters = self.shared.waiters.lock().expect("waiters lock");
        // The map and this waiter hold it: nobody else waits.
        if Arc::strong_count(&self.notify) == 2 {
            waiters.remove(&self.key);
        }
    }
}

async fn subscribe_forever(
    shared: Arc<Shared>,
    client: redis::Client,
    keys: Keys,
    keepalive: Duration,
    stop: CancellationToken,
) {
    let mut delay = Duration::from_millis(25);
    let mut connections = 0u64;
    loop {
        let attempt = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&keys.invalidate_channel).await?;
            pubsub.subscribe(&keys.filled_channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let subscribed = tokio::select! {
            _ = stop.cancelled() => return,
            subscribed = tokio::time::timeout(CONNECT_TIMEOUT, attempt) => subscribed,
        };
        if let Ok(Ok(pubsub)) = subscribed {
            // Whatever was published while we were not subscribed is lost:
            // start the local tier afresh and let waiters look again.
            shared.flush().await;
            if connections > 0 {
                bump(&shared.counters.l1_flushes);
            }
            connections += 1;
            shared.connected.send_replace(true);
            shared.wake_all();
            delay = Duration::from_millis(25);
            let (mut sink, mut messages) = pubsub.split();
            let mut heartbeat =
                tokio::time::interval_at(tokio::time::Instant::now() + keepalive, keepalive);
            loop {
                let message = tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = heartbeat.tick() => {
                        let pong = tokio::time::timeout(keepalive.min(CONNECT_TIMEOUT), sink.ping::<redis::Value>()).await;
                        if matches!(pong, Ok(Ok(_))) {
                            continue;
                        }
                        tracing::debug!(channel = %keys.invalidate_channel, "cache subscription did not answer its keepalive");
                        break;
                    }
                    message = messages.next() => message,
                };
                let Some(message) = message else { break };
                let Ok(key) = message.get_payload::<String>() else {
                    continue;
                };
                if message.get_channel_name() == keys.invalidate_channel {
                    shared.evict(&key).await;
                }
                shared.wake(&key);
            }
            shared.connected.send_replace(false);
            shared.sequence.fetch_add(1, Ordering::SeqCst);
            shared.wake_all();
            tracing::debug!(channel = %keys.invalidate_channel, "cache subscription lost; reconnecting");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(MAX_RECONNECT_DELAY);
    }
}

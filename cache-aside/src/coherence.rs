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
//! local tier is flushed, and every fill waiter is woken to look again. The
//! link itself (reconnecting, the keepalive that notices a silently dead
//! connection, moving to another node of a cluster) is the family's shared
//! [`Subscription`]; this module is what the cache does with its events.
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

use redis_support::{Event, Listener, Subscription};
use tokio::sync::Notify;
use tokio::sync::futures::Notified;

use crate::keys::Keys;
use crate::stats::{Counters, bump};

/// The local tier as the subscription sees it.
pub(crate) trait LocalTier: Send + Sync + 'static {
    /// Drops one key.
    fn evict(&self, key: String) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
    /// Drops everything.
    fn flush(&self);
}

struct Shared {
    keys: Keys,
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
    sequence: AtomicU64,
    /// Evictions take it exclusively; a local fill holds it shared across its
    /// check of the sequence and its insert, so no eviction falls in between.
    fill_lock: tokio::sync::RwLock<()>,
    local: Option<Arc<dyn LocalTier>>,
    counters: Arc<Counters>,
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

impl Listener for Shared {
    async fn on_event(&self, event: Event) {
        match event {
            Event::Up { reconnected } => {
                // Whatever was published while we were not subscribed is
                // lost: start the local tier afresh, let waiters look again.
                self.flush().await;
                if reconnected {
                    bump(&self.counters.l1_flushes);
                }
                self.wake_all();
            }
            Event::Message(message) => {
                let Ok(key) = message.get_payload::<String>() else {
                    return;
                };
                if message.get_channel_name() == self.keys.invalidate_channel {
                    self.evict(&key).await;
                }
                self.wake(&key);
            }
            Event::Down => {
                // Local fills stop (the link is down); readers that noted the
                // sequence before now see it moved.
                self.sequence.fetch_add(1, Ordering::SeqCst);
                self.wake_all();
                tracing::debug!(channel = %self.keys.invalidate_channel, "cache subscription lost; reconnecting");
            }
        }
    }
}

/// The subscription of one cache. Stops when dropped.
pub(crate) struct Coherence {
    shared: Arc<Shared>,
    subscription: Subscription,
}

impl Coherence {
    /// Starts the subscription on `nodes` (any node of a cluster: a
    /// `PUBLISH` reaches them all); waits up to `wait` for the first
    /// subscription (a cache that starts while Redis is down still starts).
    pub(crate) async fn start(
        nodes: Vec<redis::Client>,
        keys: &Keys,
        local: Option<Arc<dyn LocalTier>>,
        counters: Arc<Counters>,
        wait: Duration,
        (keepalive, timeout): (Duration, Duration),
    ) -> Self {
        let shared = Arc::new(Shared {
            keys: keys.clone(),
            waiters: Mutex::new(HashMap::new()),
            sequence: AtomicU64::new(0),
            fill_lock: tokio::sync::RwLock::new(()),
            local,
            counters,
        });
        let channels = [keys.invalidate_channel.clone(), keys.filled_channel.clone()];
        let subscription = Subscription::builder(nodes)
            .channels(channels)
            .keepalive(keepalive)
            .timeout(timeout)
            .start(shared.clone());
        subscription.wait_up(wait).await;
        Self {
            shared,
            subscription,
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
        if self.sequence() == seen && self.subscription.is_up() {
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

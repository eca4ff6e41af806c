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
//! waiter is woken to look once more. The connections themselves
//! (reconnecting, keepalive) are the family's shared
//! [`redis_support::Subscription`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis_support::{Event, Listener, Subscription as Link};
use tokio::sync::Notify;
use tokio::sync::futures::Notified;

struct Channel {
    notify: Arc<Notify>,
    waiters: usize,
}

/// The channels with waiters in this process; what every link reports to.
#[derive(Default)]
struct Channels {
    map: Mutex<HashMap<String, Channel>>,
}

impl Channels {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Channel>> {
        self.map.lock().expect("channels lock")
    }

    fn wake(&self, channel: &str) {
        if let Some(entry) = self.lock().get(channel) {
            entry.notify.notify_waiters();
        }
    }

    fn wake_all(&self) {
        for entry in self.lock().values() {
            entry.notify.notify_waiters();
        }
    }
}

impl Listener for Channels {
    async fn on_event(&self, event: Event) {
        match event {
            Event::Message(message) => self.wake(message.get_channel_name()),
            // Up: releases published while the link was away were missed.
            // Down: waiters fall back to lease-bounded sleeps; look now.
            Event::Up { .. } | Event::Down => self.wake_all(),
        }
    }
}

/// The pub/sub side of a lock manager. Cloning shares the connections.
#[derive(Clone)]
pub(crate) struct Wakeups {
    channels: Arc<Channels>,
    /// One link per independent server (a cluster: one link over its nodes).
    links: Arc<[Link]>,
    timeout: Duration,
}

impl std::fmt::Debug for Wakeups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wakeups").finish_non_exhaustive()
    }
}

impl Wakeups {
    /// Starts one link per entry of `servers` (each the nodes that link may
    /// use). The links close when the last clone of this value is dropped.
    pub(crate) fn start(
        servers: Vec<Vec<redis::Client>>,
        keepalive: Duration,
        timeout: Duration,
    ) -> Self {
        let channels = Arc::new(Channels::default());
        let links = servers
            .into_iter()
            .map(|nodes| {
                Link::builder(nodes)
                    .keepalive(keepalive)
                    .timeout(timeout)
                    .start(channels.clone())
            })
            .collect();
        Self {
            channels,
            links,
            timeout,
        }
    }

    /// Waits up to `within` for every link to be up (a down server's link
    /// keeps trying in the background); whether they all are.
    pub(crate) async fn wait_up(&self, within: Duration) -> bool {
        let links = self.links.iter().map(|link| link.wait_up(within));
        futures::future::join_all(links)
            .await
            .into_iter()
            .all(|up| up)
    }

    /// Registers interest in `channel` and returns once it is subscribed on
    /// every connected node (or the attempt took longer than the timeout:
    /// the caller's lease-bounded sleep covers that case).
    pub(crate) async fn subscribe(&self, channel: &str) -> Subscription {
        let (notify, confirmations) = {
            let mut channels = self.channels.lock();
            let entry = channels
                .entry(channel.to_string())
                .or_insert_with(|| Channel {
                    notify: Arc::new(Notify::new()),
                    waiters: 0,
                });
            entry.waiters += 1;
            // The first waiter subscribes, under the lock, so the change is
            // ordered with the last waiter's unsubscribe.
            let confirmations: Vec<_> = if entry.waiters == 1 {
                self.links
                    .iter()
                    .map(|link| link.subscribe(channel))
                    .collect()
            } else {
                Vec::new()
            };
            (entry.notify.clone(), confirmations)
        };
        let _ = tokio::time::timeout(self.timeout, futures::future::join_all(confirmations)).await;
        Subscription {
            wakeups: self.clone(),
            channel: channel.to_string(),
            notify,
        }
    }

    fn unsubscribe(&self, channel: &str) {
        let mut channels = self.channels.lock();
        let Some(entry) = channels.get_mut(channel) else {
            return;
        };
        entry.waiters -= 1;
        if entry.waiters == 0 {
            channels.remove(channel);
            for link in self.links.iter() {
                link.unsubscribe(channel);
            }
        }
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

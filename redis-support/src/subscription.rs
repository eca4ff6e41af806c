//! One reconnecting pub/sub subscription, shared by the family's crates.
//!
//! A [`Subscription`] keeps one pub/sub connection subscribed to a set of
//! channels that can change at run time, and tells a [`Listener`] what
//! happens on it:
//!
//! - [`Event::Up`]: the link is (re)established and subscribed to every
//!   channel. Pub/sub delivers at most once, so anything published while the
//!   link was down was missed: each crate runs its own recovery step here
//!   (cache-aside flushes its local tier, redlock wakes its waiters to look
//!   again, session-store tells listeners to re-check, chat-fanout reads the
//!   room history).
//! - [`Event::Message`]: a message on one of the channels.
//! - [`Event::Down`]: the link is lost; an `Up` follows when it is back.
//!
//! The listener runs inline, in order: no message is handed over before the
//! `Up` step it follows has finished.
//!
//! **When a link counts as dead — one rule for every crate.** A link is
//! pinged every `keepalive`; a `PING` not answered within `keepalive` means
//! the link is dead (a middlebox may have forgotten it without closing it),
//! so a silent link is noticed after at most twice `keepalive`. A closed
//! stream, or a `SUBSCRIBE`/`UNSUBSCRIBE` not answered within `timeout`,
//! counts the same. Connecting and subscribing get twice `timeout`.
//!
//! **Reconnecting.** After a lost link or a failed attempt the subscription
//! waits (25 ms, doubling to at most 2 s) and tries the next node of its
//! list, so that on a cluster (where a `PUBLISH` reaches every node) it moves
//! to a live node.
//!
//! The redis crate's own cluster pub/sub (sharded `SSUBSCRIBE`, re-subscribed
//! by the cluster connection as slots move) is a different mechanism; a
//! crate that needs sharded channels uses that instead.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::{CancellationToken, DropGuard};

const FIRST_RETRY_DELAY: Duration = Duration::from_millis(25);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);
/// The smallest command budget: below it a busy machine fails healthy links.
const MIN_TIMEOUT: Duration = Duration::from_millis(500);

/// What happens on a subscription's link.
#[derive(Debug)]
pub enum Event {
    /// The link is up and subscribed to every channel. `reconnected` is false
    /// the first time: only later ones follow a gap in which messages may
    /// have been missed.
    Up {
        /// Whether a link was up before this one.
        reconnected: bool,
    },
    /// A message on a subscribed channel.
    Message(redis::Msg),
    /// The link was lost.
    Down,
}

/// Receives a subscription's events, one at a time, in order.
pub trait Listener: Send + Sync + 'static {
    /// Handles one event; the subscription reads nothing more until it ends.
    fn on_event(&self, event: Event) -> impl Future<Output = ()> + Send;
}

/// Configures and starts a [`Subscription`].
#[must_use = "a subscription builder does nothing until `start` is called"]
pub struct SubscriptionBuilder {
    nodes: Vec<redis::Client>,
    channels: HashSet<String>,
    keepalive: Duration,
    timeout: Duration,
    stop: Option<CancellationToken>,
}

impl SubscriptionBuilder {
    /// Channels subscribed from the start.
    pub fn channels<I: IntoIterator<Item = String>>(mut self, channels: I) -> Self {
        self.channels.extend(channels);
        self
    }

    /// How often the link is pinged, and how long a ping may wait for its
    /// answer (default 5 s).
    pub fn keepalive(mut self, keepalive: Duration) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// The budget of one `SUBSCRIBE` or `UNSUBSCRIBE` (connecting gets twice
    /// as much); at least 500 ms (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(MIN_TIMEOUT);
        self
    }

    /// Also stop when `stop` is cancelled, not only when the last handle is
    /// dropped.
    pub fn stop_on(mut self, stop: &CancellationToken) -> Self {
        self.stop = Some(stop.child_token());
        self
    }

    /// Starts the background task that keeps the link up and feeds
    /// `listener`. Returns at once; see [`Subscription::wait_up`].
    ///
    /// # Panics
    /// If no node was given.
    pub fn start<L: Listener>(self, listener: Arc<L>) -> Subscription {
        assert!(!self.nodes.is_empty(), "a subscription needs a node");
        let stop = self.stop.clone().unwrap_or_default();
        let (commands, receiver) = mpsc::unbounded_channel();
        let (up_sender, up) = watch::channel(false);
        let link = Link {
            nodes: self.nodes,
            next_node: 0,
            channels: self.channels,
            keepalive: self.keepalive,
            timeout: self.timeout,
            commands: receiver,
            up: up_sender,
            stop: stop.clone(),
        };
        tokio::spawn(link.run(listener));
        Subscription {
            commands,
            up,
            _stop: Arc::new(stop.drop_guard()),
        }
    }
}

/// A reconnecting pub/sub subscription; see the [module docs](self).
/// Clones share the link, which closes when the last clone is dropped.
#[derive(Clone)]
pub struct Subscription {
    commands: mpsc::UnboundedSender<Command>,
    up: watch::Receiver<bool>,
    _stop: Arc<DropGuard>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("up", &*self.up.borrow())
            .finish_non_exhaustive()
    }
}

enum Command {
    Subscribe(String, oneshot::Sender<bool>),
    Unsubscribe(String),
}

impl Subscription {
    /// A subscription over `nodes`, tried in turn (one server: one client;
    /// a cluster: one client per node).
    pub fn builder(nodes: Vec<redis::Client>) -> SubscriptionBuilder {
        SubscriptionBuilder {
            nodes,
            channels: HashSet::new(),
            keepalive: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            stop: None,
        }
    }

    /// Adds `channel`. Sent at once, in order with other changes, so a caller
    /// can pair its own bookkeeping with it under its own lock; the returned
    /// [`Confirmation`] resolves to `true` once the link confirms, `false` if
    /// the link is down (then the channel is subscribed when it comes back,
    /// with an [`Event::Up`]).
    pub fn subscribe(&self, channel: impl Into<String>) -> Confirmation {
        let (reply, answer) = oneshot::channel();
        let _ = self
            .commands
            .send(Command::Subscribe(channel.into(), reply));
        Confirmation(answer)
    }

    /// Removes `channel`, in order with other changes.
    pub fn unsubscribe(&self, channel: impl Into<String>) {
        let _ = self.commands.send(Command::Unsubscribe(channel.into()));
    }

    /// Whether the link is up and subscribed.
    pub fn is_up(&self) -> bool {
        *self.up.borrow()
    }

    /// Waits up to `within` for the link to be up; whether it is.
    pub async fn wait_up(&self, within: Duration) -> bool {
        let mut up = self.up.clone();
        matches!(
            tokio::time::timeout(within, up.wait_for(|up| *up)).await,
            Ok(Ok(_))
        )
    }

    /// The link's state as a watch: `true` while up.
    pub fn watch_up(&self) -> watch::Receiver<bool> {
        self.up.clone()
    }
}

/// Resolves once a [`Subscription::subscribe`] is confirmed (`true`) or
/// deferred to the next link (`false`).
#[must_use = "dropping a confirmation does not undo the subscribe; await it to know it took effect"]
pub struct Confirmation(oneshot::Receiver<bool>);

impl Future for Confirmation {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|answer| answer.unwrap_or(false))
    }
}

/// The task's side: the wanted channels and the link that carries them.
struct Link {
    nodes: Vec<redis::Client>,
    next_node: usize,
    channels: HashSet<String>,
    keepalive: Duration,
    timeout: Duration,
    commands: mpsc::UnboundedReceiver<Command>,
    up: watch::Sender<bool>,
    stop: CancellationToken,
}

/// Why a connected link ended.
enum End {
    Stopped,
    Lost(&'static str),
}

impl Link {
    async fn run<L: Listener>(mut self, listener: Arc<L>) {
        let mut delay = FIRST_RETRY_DELAY;
        let mut links = 0u64;
        loop {
            let stop = self.stop.clone();
            let connected = tokio::select! {
                _ = stop.cancelled() => return,
                connected = tokio::time::timeout(self.timeout * 2, self.connect()) => connected,
            };
            match connected {
                Ok(Ok((mut sink, mut stream))) => {
                    let reconnected = links > 0;
                    links += 1;
                    delay = FIRST_RETRY_DELAY;
                    listener.on_event(Event::Up { reconnected }).await;
                    self.up.send_replace(true);
                    let end = self.serve(&mut sink, &mut stream, &*listener).await;
                    self.up.send_replace(false);
                    match end {
                        End::Stopped => return,
                        End::Lost(why) => tracing::debug!(why, "pub/sub link lost; reconnecting"),
                    }
                    listener.on_event(Event::Down).await;
                }
                Ok(Err(error)) => tracing::debug!(%error, "pub/sub connect failed"),
                Err(_) => tracing::debug!("pub/sub connect timed out"),
            }
            if !self.wait_before_retry(delay).await {
                return;
            }
            delay = (delay * 2).min(MAX_RETRY_DELAY);
        }
    }

    /// Connects to the next node and subscribes to every channel.
    async fn connect(&mut self) -> redis::RedisResult<(PubSubSink, PubSubStream)> {
        let node = &self.nodes[self.next_node % self.nodes.len()];
        self.next_node = self.next_node.wrapping_add(1);
        let (mut sink, stream) = node.get_async_pubsub().await?.split();
        if !self.channels.is_empty() {
            let channels: Vec<&String> = self.channels.iter().collect();
            sink.subscribe(channels).await?;
        }
        Ok((sink, stream))
    }

    /// Sleeps before the next attempt, keeping the channel set current
    /// meanwhile; false once stopped.
    async fn wait_before_retry(&mut self, delay: Duration) -> bool {
        let wake_at = tokio::time::Instant::now() + delay;
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return false,
                _ = tokio::time::sleep_until(wake_at) => return true,
                command = self.commands.recv() => match command {
                    None => return false,
                    Some(command) => self.note_while_down(command),
                },
            }
        }
    }

    fn note_while_down(&mut self, command: Command) {
        match command {
            Command::Subscribe(channel, reply) => {
                self.channels.insert(channel);
                let _ = reply.send(false);
            }
            Command::Unsubscribe(channel) => {
                self.channels.remove(&channel);
            }
        }
    }

    /// Carries messages, changes and pings until the link ends.
    async fn serve<L: Listener>(
        &mut self,
        sink: &mut PubSubSink,
        stream: &mut PubSubStream,
        listener: &L,
    ) -> End {
        let start = tokio::time::Instant::now() + self.keepalive;
        let mut heartbeat = tokio::time::interval_at(start, self.keepalive);
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return End::Stopped,
                command = self.commands.recv() => match command {
                    None => return End::Stopped,
                    Some(command) => if !self.apply(sink, command).await {
                        return End::Lost("a subscription change went unanswered");
                    },
                },
                _ = heartbeat.tick() => {
                    let pong = tokio::time::timeout(self.keepalive, sink.ping::<redis::Value>()).await;
                    if !matches!(pong, Ok(Ok(_))) {
                        return End::Lost("no answer to the keepalive ping");
                    }
                }
                message = stream.next() => match message {
                    Some(message) => listener.on_event(Event::Message(message)).await,
                    None => return End::Lost("the server closed the link"),
                },
            }
        }
    }

    /// Applies one change on a live link; false if the link failed it (the
    /// change is kept and applied on the next link).
    async fn apply(&mut self, sink: &mut PubSubSink, command: Command) -> bool {
        match command {
            Command::Subscribe(channel, reply) => {
                let sent = tokio::time::timeout(self.timeout, sink.subscribe(&channel)).await;
                let ok = matches!(sent, Ok(Ok(())));
                self.channels.insert(channel);
                let _ = reply.send(ok);
                ok
            }
            Command::Unsubscribe(channel) => {
                self.channels.remove(&channel);
                let sent = tokio::time::timeout(self.timeout, sink.unsubscribe(&channel)).await;
                matches!(sent, Ok(Ok(())))
            }
        }
    }
}

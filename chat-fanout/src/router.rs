//! The hub's one pub/sub connection, shared by every room.
//!
//! The first local subscriber of a room makes the router `SUBSCRIBE` to the
//! room's channel and starts the room's worker ([`crate::room`]); later
//! subscribers of the room only attach to the worker, so a second local
//! subscriber costs Redis nothing. The last one to leave makes the router
//! `UNSUBSCRIBE`.
//!
//! Incoming messages are handed to each room's worker through a bounded
//! channel without waiting: a room that cannot keep up does not hold up the
//! connection (and so every other room). A message it could not take is not
//! lost: the worker sees the offset jump on the next one and reads the
//! missing messages from the room's history.
//!
//! On a single server the link is the family's shared
//! [`redis_support::Subscription`] (keepalive, reconnection): on every
//! reconnection all rooms are subscribed again and each worker is told to
//! catch up from history, since whatever was published meanwhile never
//! reached this connection.
//!
//! On a Redis Cluster the rooms use sharded channels (`SSUBSCRIBE`) on the
//! cluster connection itself; see [`crate::shard`] for that link and why it
//! is not the shared subscription.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use redis_support::{Event, Listener, Subscription};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::envelope::{Position, RawEnvelope};
use crate::error::{Error, Result};
use crate::keys::RoomKeys;
use crate::room::{Control, RoomWorker};
use crate::shard::Sharded;
use crate::shared::Shared;
use crate::stats::bump;
use crate::subscription::Mailbox;

struct RoomEntry {
    input: mpsc::Sender<Arc<RawEnvelope>>,
    control: mpsc::UnboundedSender<Control>,
    /// Set when a message could not be handed over and the worker has not
    /// caught up since (one `CatchUp` in flight at a time).
    overflowed: Arc<AtomicBool>,
    refs: usize,
}

/// Where the router's subscriptions live.
pub(crate) enum Subscriber {
    /// A dedicated pub/sub connection (`SUBSCRIBE`), the shared subscription.
    Single(Box<redis::Client>),
    /// The cluster connection (`SSUBSCRIBE`, RESP3 pushes); redis-rs
    /// re-subscribes after reconnections and topology changes.
    Cluster(
        redis::cluster_async::ClusterConnection,
        mpsc::UnboundedReceiver<redis::PushInfo>,
    ),
}

/// How the router reaches its subscriptions.
enum Link {
    Single(Subscription),
    Cluster(Sharded),
}

/// The rooms with local subscribers, and their workers; what the link's
/// messages are routed to.
pub(crate) struct Rooms {
    pub(crate) shared: Arc<Shared>,
    map: Mutex<HashMap<String, RoomEntry>>,
}

/// The rooms of one hub and the link that carries their channels.
pub(crate) struct Router {
    rooms: Arc<Rooms>,
    link: Link,
}

/// Holds a room open for one subscription; releases it when dropped.
pub(crate) struct RoomGuard {
    router: Arc<Router>,
    room: String,
}

impl Drop for RoomGuard {
    fn drop(&mut self) {
        self.router.release(&self.room);
    }
}

impl Router {
    /// Starts the link (it runs until the hub's stop token).
    pub(crate) fn start(shared: Arc<Shared>, subscriber: Subscriber) -> Arc<Self> {
        let rooms = Arc::new(Rooms {
            shared: shared.clone(),
            map: Mutex::new(HashMap::new()),
        });
        let link = match subscriber {
            Subscriber::Single(client) => Link::Single(
                Subscription::builder(vec![*client])
                    .keepalive(shared.keepalive)
                    .timeout(shared.response_timeout)
                    .stop_on(&shared.stop)
                    .start(rooms.clone()),
            ),
            Subscriber::Cluster(conn, pushes) => {
                Link::Cluster(Sharded::start(rooms.clone(), conn, pushes))
            }
        };
        Arc::new(Self { rooms, link })
    }

    /// Whether the pub/sub connection is up, as a watch.
    pub(crate) fn connected(&self) -> watch::Receiver<bool> {
        match &self.link {
            Link::Single(link) => link.watch_up(),
            Link::Cluster(sharded) => sharded.connected(),
        }
    }

    /// The number of rooms with local subscribers.
    pub(crate) fn room_count(&self) -> usize {
        self.rooms.lock().len()
    }

    /// Attaches a subscriber to a room, subscribing to it first if it is new
    /// here. Returns the position the subscriber starts after.
    pub(crate) async fn subscribe(
        self: &Arc<Self>,
        room: &str,
        mailbox: Arc<Mailbox>,
    ) -> Result<(Position, RoomGuard)> {
        let (control, new) = self.rooms.enter(room);
        let guard = RoomGuard {
            router: self.clone(),
            room: room.to_string(),
        };
        let deadline = Instant::now() + self.rooms.shared.subscribe_timeout;
        if new {
            self.subscribe_channel(room, deadline).await?;
        }
        let (reply, answer) = oneshot::channel();
        control
            .send(Control::Attach(mailbox, reply))
            .map_err(|_| Error::Closed)?;
        match tokio::time::timeout_at(deadline, answer).await {
            Ok(Ok(position)) => Ok((position, guard)),
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(self.unavailable(room)),
        }
    }

    fn unavailable(&self, room: &str) -> Error {
        Error::Unavailable {
            room: room.to_string(),
            timeout_ms: self.rooms.shared.subscribe_timeout.as_millis() as u64,
        }
    }

    /// Subscribes a room new here by `deadline`; on a single server a link
    /// that is down counts once it is back (with every room subscribed).
    async fn subscribe_channel(&self, room: &str, deadline: Instant) -> Result<()> {
        match &self.link {
            Link::Single(link) => {
                let confirmation = link.subscribe(self.rooms.channel(room));
                let confirmed = tokio::time::timeout_at(deadline, confirmation)
                    .await
                    .map_err(|_| self.unavailable(room))?;
                if confirmed {
                    self.rooms.tell(room, Control::Subscribed);
                    return Ok(());
                }
                let mut up = link.watch_up();
                match tokio::time::timeout_at(deadline, up.wait_for(|up| *up)).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(_)) => Err(Error::Closed),
                    Err(_) => Err(self.unavailable(room)),
                }
            }
            Link::Cluster(sharded) => {
                let answer = sharded.subscribe(room)?;
                match tokio::time::timeout_at(deadline, answer).await {
                    Ok(Ok(Ok(()))) => Ok(()),
                    Ok(Ok(Err(error))) => Err(error.into()),
                    Ok(Err(_)) => Err(Error::Closed),
                    Err(_) => Err(self.unavailable(room)),
                }
            }
        }
    }

    fn release(&self, room: &str) {
        let mut rooms = self.rooms.lock();
        let Some(entry) = rooms.get_mut(room) else {
            return;
        };
        entry.refs -= 1;
        if entry.refs > 0 {
            return;
        }
        if let Some(entry) = rooms.remove(room) {
            let _ = entry.control.send(Control::Stop);
        }
        // Still under the rooms lock: ordered with a new subscriber's subscribe.
        match &self.link {
            Link::Single(link) => link.unsubscribe(self.rooms.channel(room)),
            Link::Cluster(sharded) => sharded.unsubscribe(room),
        }
    }
}

impl Rooms {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, RoomEntry>> {
        self.map.lock().expect("rooms lock")
    }

    /// Whether `room` has local subscribers.
    pub(crate) fn contains(&self, room: &str) -> bool {
        self.lock().contains_key(room)
    }

    pub(crate) fn channel(&self, room: &str) -> String {
        RoomKeys::new(&self.shared.prefix, room).channel
    }

    /// Counts one more local subscriber of `room`, starting its worker if it
    /// is the first; the worker's control channel, and whether it is new.
    fn enter(&self, room: &str) -> (mpsc::UnboundedSender<Control>, bool) {
        let mut rooms = self.lock();
        if let Some(entry) = rooms.get_mut(room) {
            entry.refs += 1;
            return (entry.control.clone(), false);
        }
        let (input, input_rx) = mpsc::channel(self.shared.room_buffer);
        let (control, control_rx) = mpsc::unbounded_channel();
        let overflowed = Arc::new(AtomicBool::new(false));
        let worker = RoomWorker::new(
            self.shared.clone(),
            room.to_string(),
            control.clone(),
            overflowed.clone(),
        );
        tokio::spawn(worker.run(input_rx, control_rx));
        rooms.insert(
            room.to_string(),
            RoomEntry {
                input,
                control: control.clone(),
                overflowed,
                refs: 1,
            },
        );
        (control, true)
    }

    pub(crate) fn tell(&self, room: &str, control: Control) {
        if let Some(entry) = self.lock().get(room) {
            let _ = entry.control.send(control);
        }
    }

    fn tell_all(&self, control: impl Fn() -> Control) {
        for entry in self.lock().values() {
            let _ = entry.control.send(control());
        }
    }

    pub(crate) fn route_frame(&self, channel: &str, frame: &[u8]) {
        let Some(room) = RoomKeys::room_of_channel(&self.shared.prefix, channel) else {
            return;
        };
        let Some(raw) = RawEnvelope::parse_frame(frame) else {
            tracing::warn!(room, "ignoring a malformed message on the room's channel");
            return;
        };
        let rooms = self.lock();
        if let Some(entry) = rooms.get(room)
            && let Err(mpsc::error::TrySendError::Full(_)) = entry.input.try_send(Arc::new(raw))
        {
            bump(&self.shared.counters.router_overflow);
            // The dropped message may be the last one for a while: tell the
            // worker to read history now rather than wait for the next jump.
            if !entry.overflowed.swap(true, Ordering::SeqCst) {
                let _ = entry.control.send(Control::CatchUp);
            }
        }
    }
}

impl Listener for Rooms {
    async fn on_event(&self, event: Event) {
        match event {
            Event::Up { reconnected } => {
                if reconnected {
                    bump(&self.shared.counters.resubscribes);
                }
                self.tell_all(|| Control::Resubscribed);
                tracing::debug!(rooms = self.lock().len(), "pub/sub connection up");
            }
            Event::Message(message) => {
                self.route_frame(message.get_channel_name(), message.get_payload_bytes())
            }
            Event::Down => tracing::warn!("pub/sub connection lost; reconnecting"),
        }
    }
}

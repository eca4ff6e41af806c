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
//! The connection is pinged every keepalive interval; an unanswered ping
//! counts as a lost connection. On every reconnection all rooms are
//! subscribed again (one `SUBSCRIBE` with every channel) and each worker is
//! told to catch up from history, since whatever was published meanwhile
//! never reached this connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{mpsc, oneshot, watch};

use crate::envelope::{Position, RawEnvelope};
use crate::error::{Error, Result};
use crate::keys::RoomKeys;
use crate::room::{Control, RoomWorker};
use crate::shared::Core;
use crate::stats::bump;
use crate::subscription::Mailbox;

const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);

enum Command {
    Subscribe {
        room: String,
        reply: oneshot::Sender<redis::RedisResult<()>>,
    },
    Unsubscribe {
        room: String,
    },
}

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
    /// A dedicated pub/sub connection (`SUBSCRIBE`), reconnected by the router.
    Single(Box<redis::Client>),
    /// The cluster connection (`SSUBSCRIBE`, RESP3 pushes); redis-rs
    /// re-subscribes after reconnections and topology changes.
    Cluster(
        redis::cluster_async::ClusterConnection,
        mpsc::UnboundedReceiver<redis::PushInfo>,
    ),
}

/// The rooms of one hub and the handle of its connection task.
pub(crate) struct Router {
    core: Arc<Core>,
    rooms: Mutex<HashMap<String, RoomEntry>>,
    commands: mpsc::UnboundedSender<Command>,
    connected: watch::Sender<bool>,
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
    /// Starts the connection task (it runs until the core's stop token).
    pub(crate) fn start(core: Arc<Core>, subscriber: Subscriber) -> Arc<Self> {
        let (commands, receiver) = mpsc::unbounded_channel();
        let router = Arc::new(Self {
            core: core.clone(),
            rooms: Mutex::new(HashMap::new()),
            commands,
            connected: watch::channel(false).0,
        });
        match subscriber {
            Subscriber::Single(client) => {
                tokio::spawn(connection_task(router.clone(), *client, receiver));
            }
            Subscriber::Cluster(conn, pushes) => {
                tokio::spawn(cluster_task(router.clone(), conn, pushes, receiver));
            }
        }
        router
    }

    /// Whether the pub/sub connection is up, as a watch.
    pub(crate) fn connected(&self) -> watch::Receiver<bool> {
        self.connected.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, RoomEntry>> {
        self.rooms.lock().expect("rooms lock")
    }

    /// The number of rooms with local subscribers.
    pub(crate) fn room_count(&self) -> usize {
        self.lock().len()
    }

    /// Attaches a subscriber to a room, subscribing to it first if it is new
    /// here. Returns the position the subscriber starts after.
    pub(crate) async fn subscribe(
        self: &Arc<Self>,
        room: &str,
        mailbox: Arc<Mailbox>,
    ) -> Result<(Position, RoomGuard)> {
        let (control, new) = {
            let mut rooms = self.lock();
            match rooms.get_mut(room) {
                Some(entry) => {
                    entry.refs += 1;
                    (entry.control.clone(), false)
                }
                None => {
                    let (input, input_rx) = mpsc::channel(self.core.room_buffer);
                    let (control, control_rx) = mpsc::unbounded_channel();
                    let overflowed = Arc::new(AtomicBool::new(false));
                    let worker = RoomWorker::new(
                        self.core.clone(),
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
            }
        };
        let guard = RoomGuard {
            router: self.clone(),
            room: room.to_string(),
        };
        let timeout = self.core.subscribe_timeout;
        let unavailable = || Error::Unavailable {
            room: room.to_string(),
            timeout_ms: timeout.as_millis() as u64,
        };
        let deadline = tokio::time::Instant::now() + timeout;
        if new {
            let (reply, answer) = oneshot::channel();
            self.commands
                .send(Command::Subscribe {
                    room: room.to_string(),
                    reply,
                })
                .map_err(|_| Error::Closed)?;
            match tokio::time::timeout_at(deadline, answer).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(error))) => return Err(error.into()),
                Ok(Err(_)) => return Err(Error::Closed),
                Err(_) => return Err(unavailable()),
            }
        }
        let (reply, answer) = oneshot::channel();
        control
            .send(Control::Attach(mailbox, reply))
            .map_err(|_| Error::Closed)?;
        match tokio::time::timeout_at(deadline, answer).await {
            Ok(Ok(position)) => Ok((position, guard)),
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(unavailable()),
        }
    }

    fn release(&self, room: &str) {
        let mut rooms = self.lock();
        let Some(entry) = rooms.get_mut(room) else {
            return;
        };
        entry.refs -= 1;
        if entry.refs == 0 {
            if let Some(entry) = rooms.remove(room) {
                let _ = entry.control.send(Control::Stop);
            }
            let _ = self.commands.send(Command::Unsubscribe {
                room: room.to_string(),
            });
        }
    }

    fn tell(&self, room: &str, control: Control) {
        if let Some(entry) = self.lock().get(room) {
            let _ = entry.control.send(control);
        }
    }

    fn route(&self, message: &redis::Msg) {
        self.route_frame(message.get_channel_name(), message.get_payload_bytes());
    }

    fn route_frame(&self, channel: &str, frame: &[u8]) {
        let Some(room) = RoomKeys::room_of_channel(&self.core.prefix, channel) else {
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
            bump(&self.core.counters.router_overflow);
            // The dropped message may be the last one for a while: tell the
            // worker to read history now rather than wait for the next jump.
            if !entry.overflowed.swap(true, Ordering::SeqCst) {
                let _ = entry.control.send(Control::CatchUp);
            }
        }
    }
}

async fn connection_task(
    router: Arc<Router>,
    client: redis::Client,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let stop = router.core.stop.clone();
    let keepalive = router.core.keepalive;
    let timeout = router.core.response_timeout.max(Duration::from_millis(500));
    let prefix = router.core.prefix.clone();
    let channel = |room: &str| RoomKeys::new(&prefix, room).channel;
    let mut delay = Duration::from_millis(25);
    let mut connections = 0u64;
    loop {
        let attempt = async {
            let pubsub = client.get_async_pubsub().await?;
            let (mut sink, stream) = pubsub.split();
            let rooms: Vec<String> = router.lock().keys().cloned().collect();
            if !rooms.is_empty() {
                let channels: Vec<String> = rooms.iter().map(|room| channel(room)).collect();
                sink.subscribe(channels).await?;
            }
            Ok::<_, redis::RedisError>((sink, stream, rooms))
        };
        let attempt = tokio::select! {
            _ = stop.cancelled() => return,
            attempt = tokio::time::timeout(timeout * 2, attempt) => attempt,
        };
        if let Ok(Ok((mut sink, mut stream, rooms))) = attempt {
            if connections > 0 {
                bump(&router.core.counters.resubscribes);
            }
            connections += 1;
            delay = Duration::from_millis(25);
            for room in &rooms {
                router.tell(room, Control::Resubscribed);
            }
            router.connected.send_replace(true);
            tracing::debug!(rooms = rooms.len(), "pub/sub connection up");
            let mut heartbeat =
                tokio::time::interval_at(tokio::time::Instant::now() + keepalive, keepalive);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    command = commands.recv() => match command {
                        None => return,
                        Some(Command::Subscribe { room, reply }) => {
                            if !router.lock().contains_key(&room) {
                                let _ = reply.send(Ok(()));
                                continue;
                            }
                            let result = tokio::time::timeout(timeout, sink.subscribe(channel(&room))).await;
                            match result {
                                Ok(Ok(())) => {
                                    router.tell(&room, Control::Subscribed);
                                    let _ = reply.send(Ok(()));
                                }
                                _ => {
                                    // Re-subscribed with every room on reconnection.
                                    let _ = reply.send(Ok(()));
                                    break;
                                }
                            }
                        }
                        Some(Command::Unsubscribe { room }) => {
                            if router.lock().contains_key(&room) {
                                continue;
                            }
                            let result = tokio::time::timeout(timeout, sink.unsubscribe(channel(&room))).await;
                            if !matches!(result, Ok(Ok(()))) {
                                break;
                            }
                        }
                    },
                    _ = heartbeat.tick() => {
                        let pong = tokio::time::timeout(timeout.max(keepalive / 2), sink.ping::<redis::Value>()).await;
                        if !matches!(pong, Ok(Ok(_))) {
                            tracing::warn!("pub/sub connection did not answer its keepalive");
                            break;
                        }
                    }
                    message = stream.next() => match message {
                        Some(message) => router.route(&message),
                        None => break,
                    },
                }
            }
            router.connected.send_replace(false);
            tracing::warn!("pub/sub connection lost; reconnecting");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(MAX_RECONNECT_DELAY);
    }
}

fn bulk(value: Option<&redis::Value>) -> Option<&[u8]> {
    match value {
        Some(redis::Value::BulkString(bytes)) => Some(bytes),
        _ => None,
    }
}

/// The router on a Redis Cluster: sharded subscriptions on the cluster
/// connection, messages as RESP3 pushes. redis-rs re-subscribes every
/// channel after a node's connection is re-established (or the slot moved);
/// each re-subscription confirmation makes the room catch up from history.
async fn cluster_task(
    router: Arc<Router>,
    mut conn: redis::cluster_async::ClusterConnection,
    mut pushes: mpsc::UnboundedReceiver<redis::PushInfo>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let stop = router.core.stop.clone();
    let timeout = router.core.response_timeout.max(Duration::from_millis(500));
    let prefix = router.core.prefix.clone();
    let channel = |room: &str| RoomKeys::new(&prefix, room).channel;
    router.connected.send_replace(true);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            command = commands.recv() => match command {
                None => return,
                Some(Command::Subscribe { room, reply }) => {
                    if !router.lock().contains_key(&room) {
                        let _ = reply.send(Ok(()));
                        continue;
                    }
                    let result = match tokio::time::timeout(timeout, conn.ssubscribe(channel(&room))).await {
                        Ok(result) => result,
                        Err(_) => Err(redis::RedisError::from(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "SSUBSCRIBE timed out",
                        ))),
                    };
                    if result.is_ok() {
                        router.tell(&room, Control::Subscribed);
                    }
                    let _ = reply.send(result);
                }
                Some(Command::Unsubscribe { room }) => {
                    if !router.lock().contains_key(&room) {
                        let _ = tokio::time::timeout(timeout, conn.sunsubscribe(channel(&room))).await;
                    }
                }
            },
            push = pushes.recv() => {
                let Some(push) = push else { return };
                match push.kind {
                    redis::PushKind::SMessage | redis::PushKind::Message => {
                        if let (Some(name), Some(frame)) = (bulk(push.data.first()), bulk(push.data.get(1)))
                            && let Ok(name) = std::str::from_utf8(name)
                        {
                            router.route_frame(name, frame);
                        }
                    }
                    redis::PushKind::SSubscribe => {
                        // Our own confirmation, or a re-subscription after a
                        // reconnection: catching up is harmless in the first
                        // case and required in the second.
                        if let Some(name) = bulk(push.data.first())
                            && let Ok(name) = std::str::from_utf8(name)
                            && let Some(room) = RoomKeys::room_of_channel(&router.core.prefix, name)
                        {
                            router.tell(room, Control::Resubscribed);
                        }
                    }
                    redis::PushKind::Disconnection => {
                        bump(&router.core.counters.resubscribes);
                        tracing::warn!("a cluster node's connection dropped; redis-rs re-subscribes");
                    }
                    _ => {}
                }
            }
        }
    }
}

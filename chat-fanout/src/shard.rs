//! The router's link on a Redis Cluster: sharded pub/sub.
//!
//! Each room's channel is subscribed with `SSUBSCRIBE` on the cluster
//! connection itself, so a `PUBLISH` travels only within the shard that
//! owns the room's slot, and the cluster's chat traffic scales with its
//! shards. Messages arrive as RESP3 pushes. redis-rs re-subscribes every
//! channel after a node's connection is re-established (or the slot moved);
//! each re-subscription confirmation makes the room catch up from history.
//!
//! This is why the cluster path does not use the family's shared
//! [`redis_support::Subscription`]: that one holds a dedicated connection
//! with plain `SUBSCRIBE`, which on a cluster would receive every
//! `PUBLISH` of every node.

use std::sync::Arc;
use std::time::Duration;

use redis::cluster_async::ClusterConnection;
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::{Error, Result};
use crate::keys::RoomKeys;
use crate::room::Control;
use crate::router::Rooms;
use crate::stats::bump;

/// A change of the sharded subscriptions.
enum Command {
    Subscribe {
        room: String,
        reply: oneshot::Sender<redis::RedisResult<()>>,
    },
    Unsubscribe {
        room: String,
    },
}

/// The handle on the sharded link's task (it runs until the hub's stop
/// token).
pub(crate) struct Sharded {
    commands: mpsc::UnboundedSender<Command>,
    connected: watch::Receiver<bool>,
}

impl Sharded {
    pub(crate) fn start(
        rooms: Arc<Rooms>,
        conn: ClusterConnection,
        pushes: mpsc::UnboundedReceiver<redis::PushInfo>,
    ) -> Self {
        let (commands, receiver) = mpsc::unbounded_channel();
        // Up for as long as the task runs: redis-rs reconnects underneath.
        let (up, connected) = watch::channel(true);
        let timeout = rooms
            .shared
            .response_timeout
            .max(Duration::from_millis(500));
        let task = Task {
            rooms,
            conn,
            timeout,
            _up: up,
        };
        tokio::spawn(task.run(pushes, receiver));
        Self {
            commands,
            connected,
        }
    }

    /// Whether the link is up, as a watch.
    pub(crate) fn connected(&self) -> watch::Receiver<bool> {
        self.connected.clone()
    }

    /// Asks for `room`'s channel; the answer says whether `SSUBSCRIBE` worked.
    pub(crate) fn subscribe(
        &self,
        room: &str,
    ) -> Result<oneshot::Receiver<redis::RedisResult<()>>> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Subscribe {
                room: room.to_string(),
                reply,
            })
            .map_err(|_| Error::Closed)?;
        Ok(answer)
    }

    /// Drops `room`'s channel (unless the room has subscribers again by then).
    pub(crate) fn unsubscribe(&self, room: &str) {
        let _ = self.commands.send(Command::Unsubscribe {
            room: room.to_string(),
        });
    }
}

struct Task {
    rooms: Arc<Rooms>,
    conn: ClusterConnection,
    timeout: Duration,
    _up: watch::Sender<bool>,
}

impl Task {
    async fn run(
        mut self,
        mut pushes: mpsc::UnboundedReceiver<redis::PushInfo>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        let stop = self.rooms.shared.stop.clone();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                command = commands.recv() => match command {
                    None => return,
                    Some(command) => self.apply(command).await,
                },
                push = pushes.recv() => match push {
                    None => return,
                    Some(push) => self.on_push(push),
                },
            }
        }
    }

    async fn apply(&mut self, command: Command) {
        match command {
            Command::Subscribe { room, reply } => {
                if !self.rooms.contains(&room) {
                    let _ = reply.send(Ok(()));
                    return;
                }
                let channel = self.rooms.channel(&room);
                let result =
                    match tokio::time::timeout(self.timeout, self.conn.ssubscribe(channel)).await {
                        Ok(result) => result,
                        Err(_) => Err(redis::RedisError::from(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "SSUBSCRIBE timed out",
                        ))),
                    };
                if result.is_ok() {
                    self.rooms.tell(&room, Control::Subscribed);
                }
                let _ = reply.send(result);
            }
            Command::Unsubscribe { room } => {
                if !self.rooms.contains(&room) {
                    let channel = self.rooms.channel(&room);
                    let _ =
                        tokio::time::timeout(self.timeout, self.conn.sunsubscribe(channel)).await;
                }
            }
        }
    }

    fn on_push(&self, push: redis::PushInfo) {
        match push.kind {
            redis::PushKind::SMessage | redis::PushKind::Message => {
                if let (Some(name), Some(frame)) = (bulk(push.data.first()), bulk(push.data.get(1)))
                    && let Ok(name) = std::str::from_utf8(name)
                {
                    self.rooms.route_frame(name, frame);
                }
            }
            redis::PushKind::SSubscribe => {
                // Our own confirmation, or a re-subscription after a
                // reconnection: catching up is harmless in the first case
                // and required in the second.
                if let Some(name) = bulk(push.data.first())
                    && let Ok(name) = std::str::from_utf8(name)
                    && let Some(room) = RoomKeys::room_of_channel(&self.rooms.shared.prefix, name)
                {
                    self.rooms.tell(room, Control::Resubscribed);
                }
            }
            redis::PushKind::Disconnection => {
                bump(&self.rooms.shared.counters.resubscribes);
                tracing::warn!("a cluster node's connection dropped; redis-rs re-subscribes");
            }
            _ => {}
        }
    }
}

fn bulk(value: Option<&redis::Value>) -> Option<&[u8]> {
    match value {
        Some(redis::Value::BulkString(bytes)) => Some(bytes),
        _ => None,
    }
}

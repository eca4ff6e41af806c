//! Who is in a room.
//!
//! Members live in a sorted set per room, scored by when their heartbeat
//! expires (`ZADD` with now + ttl). A member is present while its score is
//! in the future; [`Membership`] heartbeats every third of the ttl, so a
//! process that dies takes its members with it within one ttl.
//!
//! Joins and departures are announced as [`PresenceEvent`]s on the room's
//! presence feed ([`Presence::events`]), itself an ordinary room
//! (`<room>#presence`, short history) with the same offsets and recovery.
//! An expired member is removed and announced once, by whichever instance
//! sweeps first ([`Presence::members`] and every heartbeat sweep; the sweep
//! script hands each expired member to exactly one caller).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::error::Result;
use crate::hub::Hub;
use crate::keys::{RoomKeys, check_room};
use crate::policy::{SlowConsumer, SubscribeOptions};
use crate::scripts;
use crate::subscription::Subscription;

/// A change of a room's members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PresenceEvent {
    /// A member joined (or came back after expiring).
    Joined {
        /// The member.
        user: String,
    },
    /// A member left.
    Left {
        /// The member.
        user: String,
        /// Whether it left or its heartbeat expired.
        expired: bool,
    },
}

/// The presence of one room ([`Hub::presence`]).
#[derive(Debug, Clone)]
pub struct Presence {
    hub: Hub,
    room: String,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Presence {
    pub(crate) fn new(hub: Hub, room: String) -> Self {
        Self { hub, room }
    }

    fn keys(&self) -> RoomKeys {
        RoomKeys::new(&self.hub.shared().prefix, &self.room)
    }

    /// The room carrying this room's presence events.
    pub fn events_room(&self) -> String {
        format!("{}#presence", self.room)
    }

    async fn announce(&self, event: &PresenceEvent) -> Result<()> {
        self.hub.publish(&self.events_room(), event).await.map(drop)
    }

    /// Adds `user` (or refreshes it) and keeps it present with heartbeats
    /// until the returned [`Membership`] is dropped or left.
    pub async fn join(&self, user: &str) -> Result<Membership> {
        self.heartbeat(user).await?;
        let stop = CancellationToken::new();
        let presence = self.clone();
        let user_id = user.to_string();
        let interval = self.hub.shared().presence_ttl / 3;
        let token = stop.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(interval) => {}
                }
                if let Err(error) = presence.heartbeat(&user_id).await {
                    tracing::warn!(room = %presence.room, user = %user_id, %error, "presence heartbeat failed");
                }
                if let Err(error) = presence.sweep().await {
                    tracing::debug!(room = %presence.room, %error, "presence sweep failed");
                }
            }
        });
        Ok(Membership {
            presence: self.clone(),
            user: user.to_string(),
            heartbeats: Some(task),
            _stop: stop.drop_guard(),
        })
    }

    /// Marks `user` present for one more ttl; announces a join if it was
    /// not present.
    pub async fn heartbeat(&self, user: &str) -> Result<()> {
        check_room(&self.room)?;
        let keys = self.keys();
        let mut conn = self.hub.shared().conn.clone();
        let expiry = now_ms() + self.hub.shared().presence_ttl.as_millis() as u64;
        let joined: i64 = scripts::PRESENCE_JOIN
            .key(&keys.presence)
            .arg(user)
            .arg(expiry)
            .invoke_async(&mut conn)
            .await?;
        if joined == 1 {
            self.announce(&PresenceEvent::Joined {
                user: user.to_string(),
            })
            .await?;
        }
        Ok(())
    }

    /// Removes `user`; announces the departure if it was present. `true` if
    /// it was.
    pub async fn leave(&self, user: &str) -> Result<bool> {
        let mut conn = self.hub.shared().conn.clone();
        let removed: i64 = redis::cmd("ZREM")
            .arg(&self.keys().presence)
            .arg(user)
            .query_async(&mut conn)
            .await?;
        if removed == 1 {
            self.announce(&PresenceEvent::Left {
                user: user.to_string(),
                expired: false,
            })
            .await?;
        }
        Ok(removed == 1)
    }

    /// Removes expired members, announcing each, and returns them.
    pub async fn sweep(&self) -> Result<Vec<String>> {
        let mut conn = self.hub.shared().conn.clone();
        let expired: Vec<String> = scripts::PRESENCE_SWEEP
            .key(&self.keys().presence)
            .arg(now_ms())
            .invoke_async(&mut conn)
            .await?;
        for user in &expired {
            self.announce(&PresenceEvent::Left {
                user: user.clone(),
                expired: true,
            })
            .await?;
        }
        Ok(expired)
    }

    /// The members present now, sorted (expired ones are swept first).
    pub async fn members(&self) -> Result<Vec<String>> {
        check_room(&self.room)?;
        self.sweep().await?;
        let mut conn = self.hub.shared().conn.clone();
        let mut members: Vec<String> = redis::cmd("ZRANGE")
            .arg(&self.keys().presence)
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await?;
        members.sort();
        Ok(members)
    }

    /// The distinct users present now: members named `<user>/<socket>`
    /// (as [`WsBridge::presence`](crate::ws::WsBridge::presence) names
    /// them) count once per user, other members once each.
    pub async fn users(&self) -> Result<Vec<String>> {
        let mut users: Vec<String> = self
            .members()
            .await?
            .into_iter()
            .map(|member| match member.split_once('/') {
                Some((user, _socket)) => user.to_string(),
                None => member,
            })
            .collect();
        users.sort();
        users.dedup();
        Ok(users)
    }

    /// The room's presence events from now on (`DropOldest`: a slow reader
    /// skips events rather than holding anything up; [`members`] gives the
    /// current state at any time).
    ///
    /// [`members`]: Presence::members
    pub async fn events(&self) -> Result<Subscription<PresenceEvent>> {
        self.hub
            .subscribe_with(
                &self.events_room(),
                SubscribeOptions::new()
                    .policy(SlowConsumer::DropOldest)
                    .capacity(256),
            )
            .await
    }
}

/// A member kept present by heartbeats. Dropping it stops the heartbeats
/// (the member expires within one ttl); [`leave`](Membership::leave) removes
/// it at once.
#[derive(Debug)]
pub struct Membership {
    presence: Presence,
    user: String,
    heartbeats: Option<tokio::task::JoinHandle<()>>,
    _stop: DropGuard,
}

impl Membership {
    /// The member.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Stops the heartbeats and removes the member, announcing it.
    pub async fn leave(mut self) -> Result<bool> {
        // Stop the heartbeats first, and wait for one in flight, so none
        // re-adds the member after it left.
        let task = self.heartbeats.take();
        let Self {
            presence,
            user,
            _stop,
            ..
        } = self;
        drop(_stop);
        if let Some(task) = task {
            let _ = task.await;
        }
        presence.leave(&user).await
    }

    /// The heartbeat interval of this hub (a third of the presence ttl).
    pub fn heartbeat_interval(&self) -> Duration {
        self.presence.hub.shared().presence_ttl / 3
    }
}

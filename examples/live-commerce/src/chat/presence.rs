//! `GET /api/chat/rooms/{room}/presence`: how many people are in a live
//! room, across every instance.
//!
//! Each open socket of a `live.*` room is a member of the room's presence
//! (chat-fanout's `WsBridge::presence`: a sorted set in Redis, heartbeated,
//! swept when an instance dies); this counts the distinct users. Pages poll
//! it every few seconds, so each instance keeps a room's count for
//! [`FRESH_FOR`]: a crowd of viewers costs one Redis read per room per
//! instance per second, not one per viewer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use chat_fanout::Hub;
use serde::Serialize;

use super::ChatState;
use super::rooms::Room;
use crate::api::{self, ApiError};
use crate::auth::session::CurrentUser;

/// How long a room's count is reused.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// Rooms' recent counts on this instance.
#[derive(Clone, Default)]
pub struct PresenceCounts {
    recent: Arc<Mutex<HashMap<String, (Instant, usize)>>>,
}

impl PresenceCounts {
    /// The number of users in `room`, at most [`FRESH_FOR`] old.
    pub async fn count(&self, hub: &Hub, room: &str) -> Result<usize, chat_fanout::Error> {
        if let Some(&(at, count)) = self.recent.lock().expect("presence lock").get(room)
            && at.elapsed() < FRESH_FOR
        {
            return Ok(count);
        }
        let count = hub.presence(room).users().await?.len();
        let mut recent = self.recent.lock().expect("presence lock");
        recent.retain(|_, (at, _)| at.elapsed() < FRESH_FOR);
        recent.insert(room.to_string(), (Instant::now(), count));
        Ok(count)
    }
}

/// The answer: the room and the people in it.
#[derive(Debug, Serialize)]
pub struct Watching {
    /// The room.
    pub room: String,
    /// Distinct users with a socket open in it.
    pub watching: usize,
}

/// `GET /api/chat/rooms/{room}/presence` (logged-in users, `live.*` rooms).
pub async fn presence(
    State(chat): State<ChatState>,
    _user: CurrentUser,
    Path(room): Path<String>,
) -> Result<api::Ok<Watching>, ApiError> {
    if !matches!(Room::parse(&room), Some(Room::Live(_))) {
        return Err(ApiError::not_found("NO_SUCH_ROOM", "rooms are live.<name>"));
    }
    let watching = chat
        .presence
        .count(&chat.hub, &room)
        .await
        .map_err(|error| ApiError::unavailable("Redis", error))?;
    Ok(api::ok(Watching { room, watching }))
}

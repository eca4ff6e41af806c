//! Catching up from a room's history.
//!
//! Each room keeps its last `history` messages in a Redis stream whose entry
//! ids are the offsets (`<offset>-0`), so "everything after offset 41" is one
//! `XRANGE … 42-0 + COUNT n`. [`Hub::recover`](crate::Hub::recover) reads one
//! page; a client calls it again from the last offset of the page while
//! [`Recovery::Page::more`] is true, so there is no cap on how much can be
//! recovered, only on how much is sent at once.
//!
//! The page, the room's epoch and its last offset are read in one script, so
//! the answer is consistent: either the page starts right after the asked
//! offset, or recovery says plainly that it cannot
//! ([`Recovery::Incomplete`]): the history was trimmed past it, or the
//! epoch differs (Redis lost the room, or the room expired and started over).

use std::sync::Arc;

use redis::Value;
use serde::de::DeserializeOwned;

use crate::envelope::{Envelope, Position, RawEnvelope};
use crate::error::{Error, Result};
use crate::keys::RoomKeys;
use crate::scripts;
use crate::shared::Shared;

/// One answer of [`Hub::recover`](crate::Hub::recover).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery<T> {
    /// The messages right after the asked offset, in order.
    Page {
        /// Up to `limit` messages, consecutive offsets.
        messages: Vec<Envelope<T>>,
        /// More messages follow: ask again from the last offset of this page.
        more: bool,
        /// The room's position when the page was read (its last offset and
        /// epoch).
        head: Position,
    },
    /// History cannot give every message after the asked offset. Read the
    /// missing ones from the archive (`since + 1 ..from`, or everything after
    /// `since` of the old epoch if `epoch` differs), then recover from
    /// `from - 1` of `epoch`.
    Incomplete {
        /// The oldest offset history still holds (the room's last offset + 1
        /// if it holds none).
        from: u64,
        /// The room's current epoch (empty if the room has no history).
        epoch: String,
    },
}

/// The raw form of a recovery, shared by the hub's own gap filling.
pub(crate) enum RawRecovery {
    Page {
        messages: Vec<Arc<RawEnvelope>>,
        more: bool,
        head: Position,
    },
    Incomplete {
        from: u64,
        epoch: String,
    },
}

type Entries = Vec<(String, Vec<Vec<u8>>)>;

fn offset_of(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

fn entries(room: &str, raw: Value, epoch: &Arc<str>) -> Result<Vec<Arc<RawEnvelope>>> {
    let entries: Entries = redis::from_redis_value(raw).map_err(|error| Error::Codec {
        room: room.to_string(),
        reason: format!("unexpected history entry: {error}"),
    })?;
    entries
        .into_iter()
        .map(|(id, fields)| {
            let offset = offset_of(&id).ok_or_else(|| Error::Codec {
                room: room.to_string(),
                reason: format!("unexpected stream id {id}"),
            })?;
            let payload = fields.into_iter().nth(1).unwrap_or_default();
            Ok(Arc::new(RawEnvelope {
                offset,
                epoch: epoch.clone(),
                payload: Arc::from(payload),
            }))
        })
        .collect()
}

/// Reads one page after `since` of `epoch` (see the module docs).
pub(crate) async fn recover_raw(
    shared: &Shared,
    room: &str,
    since: u64,
    epoch: &str,
    limit: usize,
) -> Result<RawRecovery> {
    let keys = RoomKeys::new(&shared.prefix, room);
    let mut conn = shared.conn.clone();
    let (current, head, oldest, page): (String, u64, Value, Value) = scripts::RECOVER
        .key(&keys.offset)
        .key(&keys.epoch)
        .key(&keys.stream)
        .arg(format!("{}-0", since + 1))
        .arg(limit.max(1))
        .invoke_async(&mut conn)
        .await?;
    if current.is_empty() {
        // No history at all: fine for a client that has seen nothing.
        if since == 0 {
            return Ok(RawRecovery::Page {
                messages: Vec::new(),
                more: false,
                head: Position::default(),
            });
        }
        return Ok(RawRecovery::Incomplete {
            from: 1,
            epoch: String::new(),
        });
    }
    let shared_epoch: Arc<str> = Arc::from(current.as_str());
    let oldest = entries(room, oldest, &shared_epoch)?
        .first()
        .map(|entry| entry.offset)
        .unwrap_or(head + 1);
    let incomplete = || RawRecovery::Incomplete {
        from: oldest,
        epoch: current.clone(),
    };
    if since > 0 && epoch != current {
        return Ok(incomplete());
    }
    if since > head {
        return Ok(incomplete());
    }
    if since == head {
        return Ok(RawRecovery::Page {
            messages: Vec::new(),
            more: false,
            head: Position {
                offset: head,
                epoch: current,
            },
        });
    }
    let messages = entries(room, page, &shared_epoch)?;
    match messages.first() {
        Some(first) if first.offset == since + 1 => {}
        _ => return Ok(incomplete()),
    }
    let last = messages.last().map(|m| m.offset).unwrap_or(since);
    Ok(RawRecovery::Page {
        more: last < head,
        messages,
        head: Position {
            offset: head,
            epoch: current,
        },
    })
}

pub(crate) fn decode_page<T: DeserializeOwned>(
    room: &str,
    raw: RawRecovery,
) -> Result<Recovery<T>> {
    Ok(match raw {
        RawRecovery::Page {
            messages,
            more,
            head,
        } => Recovery::Page {
            messages: messages
                .iter()
                .map(|m| {
                    m.decode().map_err(|error| Error::Codec {
                        room: room.to_string(),
                        reason: format!("offset {}: {error}", m.offset),
                    })
                })
                .collect::<Result<_>>()?,
            more,
            head,
        },
        RawRecovery::Incomplete { from, epoch } => Recovery::Incomplete { from, epoch },
    })
}

/// The room's last offset and epoch (the default position if it has none).
pub(crate) async fn read_head(shared: &Shared, room: &str) -> redis::RedisResult<Position> {
    let keys = RoomKeys::new(&shared.prefix, room);
    let mut conn = shared.conn.clone();
    let (epoch, offset): (Option<String>, Option<u64>) = redis::cmd("MGET")
        .arg(&keys.epoch)
        .arg(&keys.offset)
        .query_async(&mut conn)
        .await?;
    Ok(match epoch {
        Some(epoch) => Position {
            offset: offset.unwrap_or(0),
            epoch,
        },
        None => Position::default(),
    })
}

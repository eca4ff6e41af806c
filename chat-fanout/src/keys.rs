//! Where a room lives in Redis.
//!
//! Every key of a room carries the room in a hash tag, so they all hash to one
//! Cluster slot and one script can touch them together:
//!
//! | key / channel | holds |
//! |---|---|
//! | `{prefix}:{room}:offset` | the last offset given out (`INCR`) |
//! | `{prefix}:{room}:epoch` | the epoch of the room's history |
//! | `{prefix}:{room}:stream` | the history: entry id `<offset>-0`, field `p` = payload |
//! | `{prefix}:{room}:presence` | members, scored by heartbeat expiry (ms) |
//! | `{prefix}:{room}:archive` | archive record: checkpoint `epoch`, `offset`, and the `head` published |
//! | `{prefix}:{room}:archive:lease` | the archive relay holding the room (`SET NX PX`) |
//! | `{prefix}:{room}:archive:gaps` | ranges an epoch change left unarchived (`<epoch> <from> <to>`) |
//! | `{prefix}:archive:pending` | set of rooms with messages not archived yet |
//! | channel `{prefix}:{room}` | `<offset> <epoch> <payload>` of each message |

use crate::error::{Error, Result};

/// The names of one room's keys and channel.
#[derive(Debug, Clone)]
pub(crate) struct RoomKeys {
    pub(crate) offset: String,
    pub(crate) epoch: String,
    pub(crate) stream: String,
    pub(crate) presence: String,
    pub(crate) archive: String,
    pub(crate) archive_lease: String,
    pub(crate) archive_gaps: String,
    pub(crate) channel: String,
}

/// The set of rooms with messages the archive relay has not archived yet.
pub(crate) fn archive_pending(prefix: &str) -> String {
    format!("{prefix}:archive:pending")
}

/// Rejects room names that would break the key layout or the wire format.
pub(crate) fn check_room(room: &str) -> Result<()> {
    if room.is_empty() || room.contains([' ', '{', '}']) {
        return Err(Error::InvalidRoom(room.to_string()));
    }
    Ok(())
}

impl RoomKeys {
    pub(crate) fn new(prefix: &str, room: &str) -> Self {
        let base = format!("{prefix}:{{{room}}}");
        Self {
            offset: format!("{base}:offset"),
            epoch: format!("{base}:epoch"),
            stream: format!("{base}:stream"),
            presence: format!("{base}:presence"),
            archive: format!("{base}:archive"),
            archive_lease: format!("{base}:archive:lease"),
            archive_gaps: format!("{base}:archive:gaps"),
            channel: base,
        }
    }

    /// The room of a channel name of this prefix.
    pub(crate) fn room_of_channel<'a>(prefix: &str, channel: &'a str) -> Option<&'a str> {
        channel
            .strip_prefix(prefix)?
            .strip_prefix(":{")?
            .strip_suffix('}')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_round_trip() {
        let keys = RoomKeys::new("chat", "room:1");
        assert_eq!(keys.channel, "chat:{room:1}");
        assert_eq!(keys.stream, "chat:{room:1}:stream");
        assert_eq!(
            RoomKeys::room_of_channel("chat", &keys.channel),
            Some("room:1")
        );
        assert_eq!(RoomKeys::room_of_channel("chat", "other:{x}"), None);
        assert!(check_room("a b").is_err());
        assert!(check_room("").is_err());
        assert!(check_room("{x}").is_err());
    }
}

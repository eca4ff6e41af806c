//! Which rooms exist, and who may read and write each.
//!
//! | room | what it is | who reads | who publishes from a socket |
//! |---|---|---|---|
//! | `live.<name>` | a live stream's chat (`<name>`: 1–64 of `a-z 0-9 - _`) | any logged-in user | any logged-in user |
//! | `user.<account id>` | one user's notification feed | that user only | nobody: the service writes it |
//!
//! Anything else is refused at the handshake (`404`), so a client cannot
//! open, and fill, rooms the system never meant to have.

use uuid::Uuid;

/// A room a socket may open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Room {
    /// A live stream's chat.
    Live(String),
    /// A user's notification feed.
    Feed(Uuid),
}

impl Room {
    /// Parses a room name; `None` for names outside the table above.
    pub fn parse(name: &str) -> Option<Self> {
        if let Some(live) = name.strip_prefix("live.") {
            let valid = (1..=64).contains(&live.len())
                && live.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            return valid.then(|| Room::Live(live.to_string()));
        }
        let user = name.strip_prefix("user.")?;
        let id = Uuid::parse_str(user).ok()?;
        // Only the canonical spelling names the feed (one room per user).
        (id.to_string() == user).then_some(Room::Feed(id))
    }

    /// The feed room of `user`.
    pub fn feed_of(user: Uuid) -> String {
        format!("user.{user}")
    }

    /// Whether `user` may open this room.
    pub fn may_read(&self, user: &str) -> bool {
        match self {
            Room::Live(_) => true,
            Room::Feed(owner) => owner.to_string() == user,
        }
    }

    /// Whether `user` may publish to this room from a socket.
    pub fn may_publish(&self, _user: &str) -> bool {
        matches!(self, Room::Live(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_rooms_are_open_to_all_and_feeds_to_their_owner_read_only() {
        let owner = Uuid::new_v4();
        let live = Room::parse("live.item-42").unwrap();
        assert!(live.may_read("anyone") && live.may_publish("anyone"));
        let feed = Room::parse(&Room::feed_of(owner)).unwrap();
        assert!(feed.may_read(&owner.to_string()));
        assert!(!feed.may_read(&Uuid::new_v4().to_string()));
        assert!(!feed.may_publish(&owner.to_string()));
    }

    #[test]
    fn other_names_are_refused() {
        for name in ["", "live.", "live.UPPER", "live.a b", "lobby", "user.42"] {
            assert_eq!(Room::parse(name), None, "{name}");
        }
        assert!(Room::parse(&format!("live.{}", "a".repeat(64))).is_some());
        assert!(Room::parse(&format!("live.{}", "a".repeat(65))).is_none());
        let upper = Uuid::new_v4().to_string().to_uppercase();
        assert_eq!(Room::parse(&format!("user.{upper}")), None);
    }
}

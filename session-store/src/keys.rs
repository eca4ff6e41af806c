//! Where a store keeps things in Redis, all under one prefix.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `<prefix>:<session id>` | hash | one session (see [`crate::schema`]) |
//! | `<prefix>:user:<user id>` | sorted set | the user's session ids, scored by expiry (Unix ms) |
//! | `<prefix>:revocations` | pub/sub channel | [`crate::Revocation`] events as JSON |
//!
//! Session ids are tower-sessions ids (22 characters of URL-safe base64), so
//! they never contain `:` and never collide with `user:…` or `revocations`.

/// Key names of one store.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
        }
    }

    /// The prefix, which every script receives to derive the other keys.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The hash of one session.
    pub(crate) fn session(&self, id: &str) -> String {
        format!("{}:{id}", self.prefix)
    }

    /// The channel revocations are published on.
    pub(crate) fn revocations(&self) -> String {
        format!("{}:revocations", self.prefix)
    }
}

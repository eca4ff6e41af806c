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
//!
//! On a Redis Cluster the prefix is written in braces, `{session}:<id>`, a
//! hash tag: every key of the store hashes to the same slot, so one script
//! can update a session and its user's index atomically. The price is that
//! one store's sessions live on one master; stores with different prefixes
//! spread over the cluster.

/// Key names of one store.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    /// `hash_tag`: wrap the prefix in braces (for a Redis Cluster).
    pub(crate) fn new(prefix: &str, hash_tag: bool) -> Self {
        let prefix = if hash_tag {
            format!("{{{prefix}}}")
        } else {
            prefix.to_string()
        };
        Self { prefix }
    }

    /// The prefix, which every script receives to derive the other keys.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The hash of one session.
    pub(crate) fn session(&self, id: &str) -> String {
        format!("{}:{id}", self.prefix)
    }

    /// The index of one user's sessions.
    pub(crate) fn user_index(&self, user_id: &str) -> String {
        format!("{}:user:{user_id}", self.prefix)
    }

    /// The channel revocations are published on.
    pub(crate) fn revocations(&self) -> String {
        format!("{}:revocations", self.prefix)
    }
}

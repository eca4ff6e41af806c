//! The session hash, field by field: the contract every reader relies on.
//!
//! A session lives in one Redis hash, `<prefix>:<session id>`:
//!
//! | field | value |
//! |---|---|
//! | `version` | integer, incremented by every save that changes something |
//! | `created_at` | Unix ms when the session was created (kept across an id cycle) |
//! | `expires_at` | Unix ms of the current deadline; the key's own expiry matches it |
//! | `requested_expires_at` | Unix ms of the deadline the application asked for at the last create or save (tower-sessions' expiry date); no read or touch extends the session past it |
//! | `absolute_expires_at` | Unix ms after which no save or read extends the session |
//! | `user_id` | the user the session belongs to, when bound |
//! | `data:<key>` | one session value, as JSON (`data:cart` → `{"items":[1,2]}`) |
//!
//! Another service, in any language, reads a session with one `HGETALL`: the
//! session is live when the key exists and `expires_at` is in the future.
//! `expires_at` never lies past `requested_expires_at` or
//! `absolute_expires_at` (see [`crate::deadline`]). A session written by a
//! version of this crate that did not store `requested_expires_at` is not
//! extended by reads until its next save.
//! Writes should go through this crate (its scripts keep the per-user index
//! and the version consistent).

use std::collections::HashMap;

use crate::error::{Error, Result};

pub(crate) const VERSION: &str = "version";
pub(crate) const EXPIRES_AT: &str = "expires_at";
pub(crate) const ABSOLUTE_EXPIRES_AT: &str = "absolute_expires_at";
pub(crate) const REQUESTED_EXPIRES_AT: &str = "requested_expires_at";
pub(crate) const DATA_PREFIX: &str = "data:";

/// A session as read from its hash.
#[derive(Debug)]
pub(crate) struct StoredSession {
    pub(crate) version: u64,
    pub(crate) expires_at_ms: i64,
    pub(crate) absolute_expires_at_ms: Option<i64>,
    pub(crate) requested_expires_at_ms: Option<i64>,
    /// Session key → the value's JSON text, exactly as stored.
    pub(crate) data: HashMap<String, String>,
}

impl StoredSession {
    /// Reads the flat `HGETALL` reply of session `id`.
    pub(crate) fn parse(id: &str, flat: Vec<String>) -> Result<Self> {
        let corrupt = |reason: String| Error::Corrupt {
            id: id.to_string(),
            reason,
        };
        let mut version = None;
        let mut expires_at_ms = None;
        let mut absolute_expires_at_ms = None;
        let mut requested_expires_at_ms = None;
        let mut data = HashMap::new();
        let mut fields = flat.into_iter();
        while let (Some(field), Some(value)) = (fields.next(), fields.next()) {
            if let Some(key) = field.strip_prefix(DATA_PREFIX) {
                data.insert(key.to_string(), value);
                continue;
            }
            match field.as_str() {
                VERSION => version = value.parse().ok(),
                EXPIRES_AT => expires_at_ms = value.parse().ok(),
                ABSOLUTE_EXPIRES_AT => absolute_expires_at_ms = value.parse().ok(),
                REQUESTED_EXPIRES_AT => requested_expires_at_ms = value.parse().ok(),
                _ => {}
            }
        }
        Ok(Self {
            version: version.ok_or_else(|| corrupt(format!("no numeric `{VERSION}` field")))?,
            expires_at_ms: expires_at_ms
                .ok_or_else(|| corrupt(format!("no numeric `{EXPIRES_AT}` field")))?,
            absolute_expires_at_ms,
            requested_expires_at_ms,
            data,
        })
    }
}

/// The hash field holding session key `key`.
pub(crate) fn data_field(key: &str) -> String {
    format!("{DATA_PREFIX}{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(pairs: &[(&str, &str)]) -> Vec<String> {
        pairs
            .iter()
            .flat_map(|(k, v)| [k.to_string(), v.to_string()])
            .collect()
    }

    #[test]
    fn parses_every_documented_field() {
        let stored = StoredSession::parse(
            "id",
            flat(&[
                ("version", "3"),
                ("created_at", "1000"),
                ("expires_at", "2000"),
                ("absolute_expires_at", "9000"),
                ("requested_expires_at", "2500"),
                ("user_id", "alice"),
                ("data:cart", "[1,2]"),
                ("data:a:b", "\"colons are fine\""),
            ]),
        )
        .unwrap();
        assert_eq!(stored.version, 3);
        assert_eq!(stored.expires_at_ms, 2000);
        assert_eq!(stored.absolute_expires_at_ms, Some(9000));
        assert_eq!(stored.requested_expires_at_ms, Some(2500));
        assert_eq!(stored.data["cart"], "[1,2]");
        assert_eq!(stored.data["a:b"], "\"colons are fine\"");
    }

    #[test]
    fn a_hash_without_version_is_reported_not_guessed() {
        let error = StoredSession::parse("id", flat(&[("expires_at", "2000")])).unwrap_err();
        assert!(matches!(error, Error::Corrupt { .. }), "{error}");
    }
}

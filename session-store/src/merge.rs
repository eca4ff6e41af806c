//! Field-level merging of concurrent saves.
//!
//! tower-sessions hands a store the whole record on save. Saving it whole
//! would let two instances that handle concurrent requests of one user
//! overwrite each other (the second save puts back the fields the first
//! changed). So, on load, the store remembers what it read, the record's
//! base: the version and a fingerprint of each value. It keeps the base
//! beside the record, not in its data, so the application sees exactly the
//! keys it stored: filed in the store under the record's data map (each
//! `HashMap`'s hasher has keys of its own and keeps them for the map's life,
//! which names the map), for the
//! [merge window](crate::RedisStoreBuilder::merge_window). On save it compares the record with that
//! base and sends only the keys the request set or removed. The save script
//! applies that diff to whatever is stored now:
//!
//! - nobody wrote since the load (same version): the result is the record;
//! - somebody did: their changes to other keys survive, and for a key both
//!   changed, this save (the later one) wins.
//!
//! A key the request removed is removed, so a `Session::clear` removes every
//! key the request had loaded; a key another instance added meanwhile
//! survives it, as any concurrent change to another key does. A record
//! without a base (one the store no longer remembers) replaces every stored
//! value.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::schema::{StoredSession, data_field};

/// What a request's record was loaded from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Base {
    /// The session id loaded (differs from the record's id after `cycle_id`).
    pub(crate) id: String,
    /// The version loaded.
    pub(crate) version: u64,
    /// Session key → fingerprint of the value loaded.
    pub(crate) fields: BTreeMap<String, u64>,
}

impl Base {
    /// The base of a freshly loaded session, and its values.
    pub(crate) fn from_stored(
        id: &str,
        stored: &StoredSession,
    ) -> Result<(Self, HashMap<String, Value>)> {
        let mut fields = BTreeMap::new();
        let mut data = HashMap::with_capacity(stored.data.len());
        for (key, json) in &stored.data {
            let value: Value = serde_json::from_str(json).map_err(|error| Error::Corrupt {
                id: id.to_string(),
                reason: format!("field {key:?} is not JSON: {error}"),
            })?;
            // Fingerprint our own serialisation, which is what a save
            // compares against (another writer may format JSON differently).
            fields.insert(key.clone(), fingerprint(&encode(key, &value)?));
            data.insert(key.clone(), value);
        }
        let base = Self {
            id: id.to_string(),
            version: stored.version,
            fields,
        };
        Ok((base, data))
    }
}

/// How a save changes the session's user binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UserChange {
    Keep,
    Set(String),
    Unset,
}

/// What a save sends to Redis.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// The version loaded, or `None` to replace every value.
    pub(crate) base_version: Option<u64>,
    /// Hash fields (`data:<key>`) and their JSON.
    pub(crate) set: Vec<(String, String)>,
    /// Hash fields removed.
    pub(crate) deleted: Vec<String>,
    /// Session key → fingerprint of every value of the record: its base once
    /// the write has succeeded.
    pub(crate) fingerprints: BTreeMap<String, u64>,
}

impl Changes {
    /// The base of the record once this write has made `version` of `id`.
    pub(crate) fn written(&self, id: &str, version: u64) -> Base {
        Base {
            id: id.to_string(),
            version,
            fields: self.fingerprints.clone(),
        }
    }
}

/// The diff between a record's data and its base (every value when there is
/// no base).
pub(crate) fn changes(data: &HashMap<String, Value>, base: Option<&Base>) -> Result<Changes> {
    let mut out = Changes {
        base_version: base.map(|base| base.version),
        ..Changes::default()
    };
    for (key, value) in data {
        let json = encode(key, value)?;
        let now = fingerprint(&json);
        let unchanged = base
            .and_then(|base| base.fields.get(key))
            .is_some_and(|&seen| seen == now);
        out.fingerprints.insert(key.clone(), now);
        if !unchanged {
            out.set.push((data_field(key), json));
        }
    }
    if let Some(base) = base {
        for key in base.fields.keys() {
            if !data.contains_key(key) {
                out.deleted.push(data_field(key));
            }
        }
    }
    Ok(out)
}

/// How the save changes the user binding, given the configured user key.
pub(crate) fn user_change(
    data: &HashMap<String, Value>,
    changes: &Changes,
    user_key: Option<&str>,
) -> Result<UserChange> {
    let Some(user_key) = user_key else {
        return Ok(UserChange::Keep);
    };
    let field = data_field(user_key);
    if changes.set.iter().any(|(name, _)| *name == field) {
        return Ok(match user_id(data, user_key)? {
            Some(id) => UserChange::Set(id),
            None => UserChange::Unset,
        });
    }
    if changes.deleted.contains(&field) {
        return Ok(UserChange::Unset);
    }
    Ok(UserChange::Keep)
}

/// The user id held under `user_key`, if any.
pub(crate) fn user_id(data: &HashMap<String, Value>, user_key: &str) -> Result<Option<String>> {
    match data.get(user_key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => Ok(Some(id.clone())),
        Some(Value::Number(id)) => Ok(Some(id.to_string())),
        Some(_) => Err(Error::InvalidUserId {
            key: user_key.to_string(),
        }),
    }
}

fn encode(key: &str, value: &Value) -> Result<String> {
    serde_json::to_string(value).map_err(|error| Error::Encode {
        field: key.to_string(),
        reason: error.to_string(),
    })
}

/// FNV-1a, 64 bits: stable across processes and versions, which a std
/// hasher does not promise. A collision (2⁻⁶⁴) would make a change look
/// like none.
fn fingerprint(json: &str) -> u64 {
    json.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn loaded(pairs: &[(&str, Value)]) -> (Base, HashMap<String, Value>) {
        let stored = StoredSession {
            version: 7,
            expires_at_ms: 0,
            absolute_expires_at_ms: None,
            requested_expires_at_ms: None,
            data: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        Base::from_stored("old", &stored).unwrap()
    }

    #[test]
    fn an_untouched_record_sends_nothing() {
        let (base, data) = loaded(&[("a", json!(1)), ("b", json!({"x": [1, 2]}))]);
        assert_eq!(data.len(), 2, "the stored keys and nothing else");
        let diff = changes(&data, Some(&base)).unwrap();
        assert_eq!(diff.base_version, Some(7));
        assert!(diff.set.is_empty() && diff.deleted.is_empty(), "{diff:?}");
    }

    #[test]
    fn only_set_and_removed_keys_are_sent() {
        let (base, mut data) = loaded(&[("a", json!(1)), ("b", json!(2)), ("c", json!(3))]);
        data.insert("a".into(), json!(10));
        data.insert("d".into(), json!("new"));
        data.remove("c");
        let mut diff = changes(&data, Some(&base)).unwrap();
        diff.set.sort();
        assert_eq!(
            diff.set,
            vec![
                ("data:a".to_string(), "10".to_string()),
                ("data:d".to_string(), "\"new\"".to_string())
            ]
        );
        assert_eq!(diff.deleted, vec!["data:c".to_string()]);
    }

    #[test]
    fn a_created_record_has_the_base_a_load_would_give() {
        let data = HashMap::from([
            ("a".to_string(), json!({"x": [1, 2]})),
            ("b".to_string(), json!("s")),
        ]);
        let diff = changes(&data, None).unwrap();
        let (mut loaded, _) = loaded(&[("a", json!({"x": [1, 2]})), ("b", json!("s"))]);
        loaded.version = 1;
        loaded.id = "new".into();
        assert_eq!(diff.written("new", 1), loaded);
    }

    #[test]
    fn without_a_base_everything_is_replaced() {
        let data = HashMap::from([("a".to_string(), json!(1))]);
        let diff = changes(&data, None).unwrap();
        assert_eq!(diff.base_version, None);
        assert_eq!(diff.set, vec![("data:a".to_string(), "1".to_string())]);
    }

    #[test]
    fn the_user_binding_follows_the_user_key() {
        let (base, mut data) = loaded(&[("user_id", json!("alice"))]);
        let keep = changes(&data, Some(&base)).unwrap();
        assert_eq!(
            user_change(&data, &keep, Some("user_id")).unwrap(),
            UserChange::Keep
        );

        data.insert("user_id".into(), json!(42));
        let set = changes(&data, Some(&base)).unwrap();
        assert_eq!(
            user_change(&data, &set, Some("user_id")).unwrap(),
            UserChange::Set("42".into())
        );

        data.remove("user_id");
        let unset = changes(&data, Some(&base)).unwrap();
        assert_eq!(
            user_change(&data, &unset, Some("user_id")).unwrap(),
            UserChange::Unset
        );
        assert_eq!(user_change(&data, &unset, None).unwrap(), UserChange::Keep);
    }

    #[test]
    fn a_user_id_must_be_a_string_or_a_number() {
        let data = HashMap::from([("user_id".to_string(), json!({"id": 1}))]);
        assert!(matches!(
            user_id(&data, "user_id"),
            Err(Error::InvalidUserId { .. })
        ));
    }
}

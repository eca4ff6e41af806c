//! What each loaded record was loaded from, kept beside the record, not in it.
//!
//! Merging a save (see [`crate::merge`]) needs what the request loaded: the
//! version and a fingerprint of every value, its [`Base`]. tower-sessions
//! hands a store nothing but the record (id, data, expiry date), so the base
//! must either travel inside the data, where the application would see it as
//! a session key of its own, or wait in the store until the save. It waits
//! here, filed under the record's data map itself.
//!
//! ## How a map is recognised
//!
//! A `HashMap` keeps the hasher it was built with for as long as it lives:
//! through inserts, removals, `clear`, moves and clones. Each hasher built by
//! `RandomState::new()` has keys of its own. Hashing two fixed probes with the
//! map's hasher therefore gives a 128-bit token that names *that* map, without
//! looking at its contents. tower-sessions never rebuilds a session's map: it
//! inserts into, removes from and clears the map the store returned, and its
//! `cycle_id` changes only the record's id. A clone of a record carries the
//! same token and so shares the base: right while both hold what the load
//! returned, wrong once one of them is saved (the other then diffs against
//! the saved copy). So a cache of records in front of the store
//! (tower-sessions' `CachingSessionStore`) does not merge correctly.
//!
//! | step | the record's map | what is kept here |
//! |---|---|---|
//! | load version 3 of `s1` | a new map `M`, token `t` (unused, else `M` is rebuilt) | `t` → `{s1, v3, fingerprints}` |
//! | the handler sets `cart` | still `M`, token `t` | unchanged |
//! | save | `t` names the base: the diff is what this request changed | `t` → `{s1, v4, fingerprints now}` |
//! | `cycle_id`, then create `s2` | still `M`: the base names `s1`, the session to replace | `t` → `{s2, v1, …}` |
//!
//! ## When a base is forgotten
//!
//! The store cannot see a request end (a read-only request never saves), so a
//! base is forgotten once it has not been remembered for the merge window
//! ([`RedisStoreBuilder::merge_window`](crate::RedisStoreBuilder::merge_window)),
//! and at most [`CAPACITY`] bases are kept, the oldest forgotten first. A save
//! of a record whose base is gone (its request outlived the window, or its map
//! was built outside the store) replaces every stored value with the record's,
//! last writer wins, as a store without merging would.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::merge::Base;

/// A session's data, as tower-sessions holds it.
pub(crate) type Data = HashMap<String, Value>;

/// The most bases a store keeps. Beyond it the oldest is forgotten first, so
/// an instance serving more than `CAPACITY` loads per merge window merges
/// saves that come within `CAPACITY / load rate` of their load.
pub(crate) const CAPACITY: usize = 100_000;

/// How many fresh hashers a load tries before giving up on a unique token
/// (two equal tokens would take 2^64 maps on average).
const FRESH_ATTEMPTS: usize = 4;

/// The 128-bit name of a map: its hasher applied to two fixed probes.
type Token = u128;

fn token(data: &Data) -> Token {
    let hasher = data.hasher();
    let high = hasher.hash_one(0x5e55_1011_u64);
    let low = hasher.hash_one(0x0b5e_55ed_u64);
    (u128::from(high) << 64) | u128::from(low)
}

/// The bases of the records a store has handed out, by their map's token.
#[derive(Debug)]
pub(crate) struct Bases {
    window: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    kept: HashMap<Token, Kept>,
    /// Tokens in the order they were remembered (a token remembered again
    /// appears again; the older entry is then stale and skipped).
    order: VecDeque<(Token, Instant)>,
}

#[derive(Debug)]
struct Kept {
    base: Base,
    at: Instant,
}

impl Bases {
    /// Bases forgotten `window` after they were last remembered.
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            window,
            state: Mutex::new(State::default()),
        }
    }

    /// Remembers `base` for a record about to be handed out with `data`.
    /// Should `data`'s token name another record's base already, `data` is
    /// moved into a map with a fresh hasher first, so that no two records
    /// share a token. Returns whether the base is remembered.
    pub(crate) fn remember_new(&self, data: &mut Data, base: Base, now: Instant) -> bool {
        let mut state = self.lock();
        state.forget_old(now, self.window);
        for _ in 0..FRESH_ATTEMPTS {
            let token = token(data);
            if !state.kept.contains_key(&token) {
                state.keep(token, base, now);
                return true;
            }
            let mut fresh = Data::with_capacity_and_hasher(data.len(), RandomState::new());
            fresh.extend(data.drain());
            *data = fresh;
        }
        false
    }

    /// Replaces the base of `data`'s record after a save wrote it. Does
    /// nothing when the token names the base of another session (a record
    /// the store did not hand out, which happens to collide).
    pub(crate) fn remember_saved(&self, data: &Data, base: Base, now: Instant) {
        let mut state = self.lock();
        state.forget_old(now, self.window);
        let token = token(data);
        if state
            .kept
            .get(&token)
            .is_some_and(|kept| kept.base.id != base.id)
        {
            return;
        }
        state.keep(token, base, now);
    }

    /// The base `data`'s record was loaded (or last written) from, if it is
    /// still remembered.
    pub(crate) fn recall(&self, data: &Data, now: Instant) -> Option<Base> {
        let state = self.lock();
        let kept = state.kept.get(&token(data))?;
        (now.saturating_duration_since(kept.at) < self.window).then(|| kept.base.clone())
    }

    /// How many bases are kept now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().kept.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is consistent after every statement: a panic elsewhere
        // while it was held cannot have left it half-changed.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl State {
    fn keep(&mut self, token: Token, base: Base, now: Instant) {
        self.kept.insert(token, Kept { base, at: now });
        self.order.push_back((token, now));
    }

    /// Forgets bases older than `window` and, beyond [`CAPACITY`], the
    /// oldest ones.
    fn forget_old(&mut self, now: Instant, window: Duration) {
        while let Some(&(token, at)) = self.order.front() {
            let expired = now.saturating_duration_since(at) >= window;
            let crowded = self.kept.len() >= CAPACITY || self.order.len() > 2 * CAPACITY;
            if !expired && !crowded {
                break;
            }
            self.order.pop_front();
            if self.kept.get(&token).is_some_and(|kept| kept.at == at) {
                self.kept.remove(&token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    const WINDOW: Duration = Duration::from_secs(60);

    fn base(id: &str, version: u64) -> Base {
        Base {
            id: id.to_string(),
            version,
            fields: BTreeMap::new(),
        }
    }

    fn data(pairs: &[(&str, Value)]) -> Data {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn a_map_keeps_its_token_through_every_change_tower_sessions_makes() {
        let mut loaded = data(&[("a", json!(1))]);
        let before = token(&loaded);
        for i in 0..1000 {
            loaded.insert(format!("k{i}"), json!(i)); // grows: the table is reallocated
        }
        loaded.remove("a");
        loaded.clear();
        let moved = loaded;
        assert_eq!(token(&moved), before);
        assert_eq!(token(&moved.clone()), before, "a clone holds the same load");
    }

    #[test]
    fn equal_contents_in_different_maps_have_different_tokens() {
        let first = data(&[("a", json!(1))]);
        let second = data(&[("a", json!(1))]);
        assert_eq!(first, second);
        assert_ne!(token(&first), token(&second));
    }

    #[test]
    fn a_record_finds_its_own_base_and_no_other() {
        let bases = Bases::new(WINDOW);
        let now = Instant::now();
        let mut first = data(&[("a", json!(1))]);
        let mut second = data(&[("a", json!(1))]);
        assert!(bases.remember_new(&mut first, base("s1", 1), now));
        assert!(bases.remember_new(&mut second, base("s1", 2), now));

        assert_eq!(bases.recall(&first, now).unwrap().version, 1);
        assert_eq!(bases.recall(&second, now).unwrap().version, 2);
        assert_eq!(bases.recall(&data(&[("a", json!(1))]), now), None);
    }

    #[test]
    fn a_second_record_of_the_same_map_gets_a_map_of_its_own() {
        let bases = Bases::new(WINDOW);
        let now = Instant::now();
        let mut first = data(&[("a", json!(1))]);
        let mut clone = first.clone(); // same hasher: same token
        assert!(bases.remember_new(&mut first, base("s1", 1), now));
        assert!(bases.remember_new(&mut clone, base("s2", 1), now));
        assert_ne!(token(&first), token(&clone), "rebuilt with a fresh hasher");
        assert_eq!(clone, data(&[("a", json!(1))]), "same contents");
        assert_eq!(bases.recall(&first, now).unwrap().id, "s1");
        assert_eq!(bases.recall(&clone, now).unwrap().id, "s2");
    }

    #[test]
    fn a_save_replaces_the_base_of_its_own_session_only() {
        let bases = Bases::new(WINDOW);
        let now = Instant::now();
        let mut loaded = data(&[]);
        bases.remember_new(&mut loaded, base("s1", 1), now);
        bases.remember_saved(&loaded, base("s1", 2), now);
        assert_eq!(bases.recall(&loaded, now).unwrap().version, 2);
        bases.remember_saved(&loaded, base("other", 9), now);
        assert_eq!(bases.recall(&loaded, now).unwrap().id, "s1");
    }

    #[test]
    fn a_base_is_forgotten_after_the_window() {
        let bases = Bases::new(WINDOW);
        let start = Instant::now();
        let mut old = data(&[]);
        bases.remember_new(&mut old, base("s1", 1), start);
        let later = start + WINDOW;
        assert_eq!(bases.recall(&old, later), None, "too old to trust");

        let mut new = data(&[]);
        bases.remember_new(&mut new, base("s2", 1), later);
        assert_eq!(bases.len(), 1, "the old base was dropped");
        assert!(bases.recall(&new, later).is_some());
    }

    #[test]
    fn remembering_again_restarts_the_window() {
        let bases = Bases::new(WINDOW);
        let start = Instant::now();
        let mut loaded = data(&[]);
        bases.remember_new(&mut loaded, base("s1", 1), start);
        let saved = start + WINDOW / 2;
        bases.remember_saved(&loaded, base("s1", 2), saved);

        let mut other = data(&[]);
        let after_first_window = start + WINDOW;
        bases.remember_new(&mut other, base("s2", 1), after_first_window);
        assert_eq!(
            bases.recall(&loaded, after_first_window).unwrap().version,
            2,
            "the stale queue entry did not drop the newer base"
        );
    }

    #[test]
    fn beyond_capacity_the_oldest_base_goes_first() {
        let bases = Bases::new(WINDOW);
        let now = Instant::now();
        let mut maps: Vec<Data> = (0..=CAPACITY).map(|_| Data::new()).collect();
        for (i, map) in maps.iter_mut().enumerate() {
            bases.remember_new(map, base(&format!("s{i}"), 1), now);
        }
        assert_eq!(bases.len(), CAPACITY);
        assert_eq!(bases.recall(&maps[0], now), None);
        assert!(bases.recall(&maps[CAPACITY], now).is_some());
    }
}

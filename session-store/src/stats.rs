//! Counters a user would graph.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a store's counters since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Sessions read (found or not).
    pub loads: u64,
    /// Reads that found no live session (expired, logged out, unknown id).
    pub load_misses: u64,
    /// Sessions created.
    pub creates: u64,
    /// Fresh ids that collided with an existing session and were redrawn.
    pub id_collisions: u64,
    /// Saves of existing sessions.
    pub saves: u64,
    /// Saves that found another writer's changes since their load and were
    /// merged field by field.
    pub merged_saves: u64,
    /// Saves of records whose load the store no longer remembered (older
    /// than the merge window, or not loaded through this store): they
    /// replaced every stored value, last writer wins.
    pub replacing_saves: u64,
    /// Saves dropped because the session was gone (expired or revoked
    /// meanwhile): a revoked session is never brought back.
    pub saves_of_gone_sessions: u64,
    /// Sessions deleted (logout).
    pub deletes: u64,
    /// Sessions revoked through `revoke_all` / `revoke_others`.
    pub revoked: u64,
    /// Sessions evicted by `max_sessions_per_user`.
    pub evicted: u64,
    /// Redis operations that failed.
    pub redis_errors: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) loads: AtomicU64,
    pub(crate) load_misses: AtomicU64,
    pub(crate) creates: AtomicU64,
    pub(crate) id_collisions: AtomicU64,
    pub(crate) saves: AtomicU64,
    pub(crate) merged_saves: AtomicU64,
    pub(crate) replacing_saves: AtomicU64,
    pub(crate) saves_of_gone_sessions: AtomicU64,
    pub(crate) deletes: AtomicU64,
    pub(crate) revoked: AtomicU64,
    pub(crate) evicted: AtomicU64,
    pub(crate) redis_errors: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    add(counter, 1);
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> StoreStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StoreStats {
            loads: read(&self.loads),
            load_misses: read(&self.load_misses),
            creates: read(&self.creates),
            id_collisions: read(&self.id_collisions),
            saves: read(&self.saves),
            merged_saves: read(&self.merged_saves),
            replacing_saves: read(&self.replacing_saves),
            saves_of_gone_sessions: read(&self.saves_of_gone_sessions),
            deletes: read(&self.deletes),
            revoked: read(&self.revoked),
            evicted: read(&self.evicted),
            redis_errors: read(&self.redis_errors),
        }
    }
}

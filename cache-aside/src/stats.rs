//! Counters a user would graph.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a cache's counters since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Answered from the local tier.
    pub hits_l1: u64,
    /// Answered from Redis.
    pub hits_l2: u64,
    /// Found in neither tier (fresh): a load was needed, here or elsewhere.
    pub misses: u64,
    /// Loader calls made by this instance.
    pub loads: u64,
    /// Loader calls that failed.
    pub load_errors: u64,
    /// Stale values served (stale-while-revalidate or stale-if-error).
    pub stale_served: u64,
    /// Early refreshes started (XFetch or stale-while-revalidate).
    pub refreshes: u64,
    /// Fills refused because the key was invalidated while loading.
    pub fills_rejected: u64,
    /// Times this instance waited for another caller's fill.
    pub fill_waits: u64,
    /// Redis operations that failed.
    pub redis_errors: u64,
    /// Calls that skipped Redis because the circuit breaker was open.
    pub redis_skipped: u64,
    /// Local tier flushed because the invalidation subscription reconnected.
    pub l1_flushes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits_l1: AtomicU64,
    pub(crate) hits_l2: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) loads: AtomicU64,
    pub(crate) load_errors: AtomicU64,
    pub(crate) stale_served: AtomicU64,
    pub(crate) refreshes: AtomicU64,
    pub(crate) fills_rejected: AtomicU64,
    pub(crate) fill_waits: AtomicU64,
    pub(crate) redis_errors: AtomicU64,
    pub(crate) redis_skipped: AtomicU64,
    pub(crate) l1_flushes: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> CacheStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        CacheStats {
            hits_l1: read(&self.hits_l1),
            hits_l2: read(&self.hits_l2),
            misses: read(&self.misses),
            loads: read(&self.loads),
            load_errors: read(&self.load_errors),
            stale_served: read(&self.stale_served),
            refreshes: read(&self.refreshes),
            fills_rejected: read(&self.fills_rejected),
            fill_waits: read(&self.fill_waits),
            redis_errors: read(&self.redis_errors),
            redis_skipped: read(&self.redis_skipped),
            l1_flushes: read(&self.l1_flushes),
        }
    }
}

//! What is stored per key, in Redis and in the local tier.
//!
//! Besides the value (or its absence, for negative caching) an entry carries
//! what early refresh needs: when it stops being fresh, and how long the load
//! that produced it took. In Redis it lives longer than it is fresh, by the
//! stale-while-revalidate / stale-if-error window, so a stale copy is there
//! when one of those rules allows serving it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (wall clock: entries are shared across
/// machines, so their expiry must be absolute).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// A cached value with its freshness and cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Entry<V> {
    /// `None`: the loader found nothing (negative caching).
    #[serde(rename = "v")]
    pub(crate) value: Option<V>,
    /// Fresh until this instant (ms since the epoch).
    #[serde(rename = "f")]
    pub(crate) fresh_until_ms: u64,
    /// How long the load took (ms): XFetch's δ.
    #[serde(rename = "d")]
    pub(crate) load_ms: u64,
}

impl<V> Entry<V> {
    pub(crate) fn new(value: Option<V>, fresh_for: Duration, load_time: Duration) -> Self {
        Self {
            value,
            fresh_until_ms: now_ms() + fresh_for.as_millis() as u64,
            load_ms: load_time.as_millis() as u64,
        }
    }

    pub(crate) fn is_fresh(&self, now_ms: u64) -> bool {
        now_ms < self.fresh_until_ms
    }

    /// How long ago it stopped being fresh (zero while fresh).
    pub(crate) fn staleness(&self, now_ms: u64) -> Duration {
        Duration::from_millis(now_ms.saturating_sub(self.fresh_until_ms))
    }
}

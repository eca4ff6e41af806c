//! Reading many keys at once: the local tier for each, then **one** `MGET`
//! for all that are left, then, for [`get_or_load_many`](Cache::get_or_load_many),
//! one load per key still missing, each through `get_or_load`'s own single
//! flight and fill lease (so a batch and a single read of the same key still
//! share one load in the fleet).
//!
//! On a Redis Cluster the `MGET` is split by the cluster client into one
//! per master and the answers put back in order.

use std::fmt::Display;
use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::{Cache, LoadError, Stored};
use crate::entry::now_ms;
use crate::error::{Error, Result};
use crate::stats::bump;

/// Per key: `Some(value)` (a fresh value, or a cached "not found") when a
/// tier answered, `None` when it must be loaded.
type Found<V> = Vec<Option<Option<V>>>;

impl<K, V> Cache<K, V>
where
    K: Display + ?Sized,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// [`get`](Self::get) for many keys, answered in their order: the local
    /// tier, then one `MGET` for the rest. Never loads.
    pub async fn get_many(&self, keys: &[&K]) -> Result<Vec<Option<V>>> {
        let found = self.find_many(keys).await?;
        Ok(found.into_iter().map(Option::flatten).collect())
    }

    /// [`get_or_load`](Self::get_or_load) for many keys, answered in their
    /// order: the local tier, one `MGET` for the rest, then `loader(key)`
    /// for each key still missing, concurrently, each with its own single
    /// flight and fill lease. With Redis unreachable, every key goes the
    /// way `get_or_load` goes then (fail-open loads, or the error).
    pub async fn get_or_load_many<F, Fut, E>(
        &self,
        keys: &[&K],
        loader: F,
    ) -> Result<Vec<Option<V>>>
    where
        F: Fn(&K) -> Fut,
        Fut: Future<Output = Result<Option<V>, E>> + Send + 'static,
        E: Into<LoadError>,
    {
        let found = match self.find_many(keys).await {
            Ok(found) => found,
            Err(_) => vec![None; keys.len()],
        };
        let lookups = keys.iter().zip(found).map(|(key, found)| {
            // Made now (the loader borrows the key); run only on a miss.
            let load = found.is_none().then(|| loader(key));
            async move {
                match (found, load) {
                    (Some(value), _) => Ok(value),
                    (None, Some(load)) => self.get_or_load(key, move || load).await,
                    (None, None) => unreachable!("a miss always has its load"),
                }
            }
        });
        futures::future::try_join_all(lookups).await
    }

    /// What the tiers hold for `keys`; see [`Found`].
    async fn find_many(&self, keys: &[&K]) -> Result<Found<V>> {
        let inner = &self.inner;
        let span =
            tracing::debug_span!("cache.get_many", namespace = %inner.namespace, keys = keys.len());
        async {
            let entry_keys: Vec<String> = keys
                .iter()
                .map(|key| inner.keys.entry(&key.to_string()))
                .collect();
            let mut found: Found<V> = vec![None; keys.len()];
            let mut wanted = Vec::new();
            for (index, entry_key) in entry_keys.iter().enumerate() {
                match self.fresh_locally(entry_key).await {
                    Some(value) => found[index] = Some(value),
                    None => wanted.push(index),
                }
            }
            if wanted.is_empty() {
                return Ok(found);
            }
            if !inner.breaker.allow() {
                bump(&inner.counters.redis_skipped);
                return Err(Error::RedisUnavailable);
            }
            let seen = inner.coherence.sequence();
            let mut mget = redis::cmd("MGET");
            for &index in &wanted {
                mget.arg(&entry_keys[index]);
            }
            let stored: Vec<Option<Vec<u8>>> = match mget.query_async(&mut inner.conn.clone()).await
            {
                Ok(stored) => stored,
                Err(error) => {
                    inner.redis_failed(&error);
                    return Err(error.into());
                }
            };
            inner.breaker.success();
            for (&index, bytes) in wanted.iter().zip(stored) {
                if let Stored::Fresh(entry) = inner.classify(&entry_keys[index], bytes) {
                    bump(&inner.counters.hits_l2);
                    inner.fill_local(seen, &entry_keys[index], &entry).await;
                    found[index] = Some(entry.value);
                }
            }
            Ok(found)
        }
        .instrument(span)
        .await
    }

    /// A fresh local copy of `entry_key`, counted as a local hit.
    async fn fresh_locally(&self, entry_key: &str) -> Option<Option<V>> {
        let local = self.inner.local.as_ref()?;
        let entry = local.0.get(entry_key).await?;
        if !entry.is_fresh(now_ms()) {
            return None;
        }
        bump(&self.inner.counters.hits_l1);
        Some(entry.value)
    }
}

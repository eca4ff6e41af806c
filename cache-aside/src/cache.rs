//! The cache: look-aside reads through two tiers, write-through, invalidation.

use std::collections::HashSet;
use std::fmt::Display;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis_support::Connection;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::Instrument;

use crate::breaker::Breaker;
use redis_support::Endpoint;

use crate::builder::CacheBuilder;
use crate::codec::Codec;
use crate::coherence::{Coherence, LocalTier};
use crate::entry::{Entry, now_ms};
use crate::error::{Error, Result};
use crate::keys::Keys;
use crate::scripts;
use crate::single_flight::Flights;
use crate::stats::{CacheStats, Counters, bump};
use crate::xfetch;

mod many;

/// A loader's error, boxed.
type LoadError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) ttl: Duration,
    pub(crate) ttl_jitter: f64,
    pub(crate) negative_ttl: Option<Duration>,
    pub(crate) fill_lease: Duration,
    pub(crate) fill_wait: Duration,
    pub(crate) stale_while_revalidate: Duration,
    pub(crate) stale_if_error: Duration,
    pub(crate) beta: f64,
    pub(crate) codec: Codec,
    pub(crate) fail_open: bool,
    pub(crate) redis_timeout: Duration,
}

/// The local tier: moka's async cache keyed by the Redis key.
#[derive(Clone)]
pub(crate) struct LocalCache<V: Clone + Send + Sync + 'static>(
    moka::future::Cache<String, Entry<V>>,
);

impl<V: Clone + Send + Sync + 'static> LocalCache<V> {
    pub(crate) fn new(cache: moka::future::Cache<String, Entry<V>>) -> Self {
        Self(cache)
    }
}

impl<V: Clone + Send + Sync + 'static> LocalTier for LocalCache<V> {
    fn evict(&self, key: String) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move { self.0.invalidate(&key).await })
    }

    fn flush(&self) {
        self.0.invalidate_all();
    }
}

pub(crate) struct Inner<V: Clone + Send + Sync + 'static> {
    pub(crate) namespace: String,
    pub(crate) keys: Keys,
    pub(crate) conn: Connection,
    pub(crate) local: Option<LocalCache<V>>,
    pub(crate) flights: Flights<Result<Option<V>>>,
    pub(crate) refreshing: Mutex<HashSet<String>>,
    pub(crate) coherence: Coherence,
    pub(crate) breaker: Breaker,
    pub(crate) counters: Arc<Counters>,
    pub(crate) settings: Settings,
}

/// A look-aside cache of `V` by `K` in one namespace. Cheap to clone.
///
/// See the [crate documentation](crate) for the read path and its guarantees.
pub struct Cache<K: ?Sized, V: Clone + Send + Sync + 'static> {
    inner: Arc<Inner<V>>,
    _key: PhantomData<fn(&K)>,
}

impl<K: ?Sized, V: Clone + Send + Sync + 'static> Clone for Cache<K, V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            _key: PhantomData,
        }
    }
}

impl<K: ?Sized, V: Clone + Send + Sync + 'static> std::fmt::Debug for Cache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("namespace", &self.inner.namespace)
            .field("local_tier", &self.inner.local.is_some())
            .finish_non_exhaustive()
    }
}

/// How a lookup was answered, for the tracing span.
#[derive(Debug, Clone, Copy)]
enum Tier {
    Local,
    Redis,
    Loader,
    Stale,
}

impl<K, V> Cache<K, V>
where
    K: Display + ?Sized,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// A builder for a cache whose Redis keys start with `namespace:`.
    pub fn builder(client: redis::Client, namespace: &str) -> CacheBuilder<K, V> {
        CacheBuilder::new(Endpoint::single(client), namespace)
    }

    /// A builder for a cache on a Redis Cluster, given some of its nodes'
    /// URLs. An entry and its fill lease share a hash tag (the key), so each
    /// script runs on the master owning that key's slot, and the entries of
    /// a namespace spread over every master. Invalidations are plain
    /// `PUBLISH`es, which a cluster delivers on every node; the cache
    /// listens on one of the nodes given, moving to the next if it fails.
    pub fn cluster_builder<I, T>(nodes: I, namespace: &str) -> CacheBuilder<K, V>
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        CacheBuilder::new(Endpoint::cluster(nodes), namespace)
    }

    pub(crate) fn from_inner(inner: Arc<Inner<V>>) -> Self {
        Self {
            inner,
            _key: PhantomData,
        }
    }

    /// Returns the cached value of `key`, or loads it with `loader` and
    /// caches the result. `Ok(None)` when the loader found nothing.
    ///
    /// Concurrent callers for one key in this process share one lookup; on
    /// a Redis miss, one caller in the whole fleet loads while the others
    /// wait for its fill. The loader runs at most once per call, possibly in
    /// the background (early refresh), hence `'static`.
    pub async fn get_or_load<F, Fut, E>(&self, key: &K, loader: F) -> Result<Option<V>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Option<V>, E>> + Send + 'static,
        E: Into<LoadError>,
    {
        let entry_key = self.inner.keys.entry(&key.to_string());
        let span = tracing::debug_span!("cache.get", namespace = %self.inner.namespace, key = %entry_key, tier = tracing::field::Empty);
        let inner = &self.inner;
        async {
            let loader = boxed_loader(loader);
            if let Some(local) = &inner.local
                && let Some(entry) = local.0.get(&entry_key).await
                && entry.is_fresh(now_ms())
            {
                bump(&inner.counters.hits_l1);
                tracing::Span::current().record("tier", tracing::field::debug(Tier::Local));
                inner.maybe_refresh_early(&entry_key, &entry, loader);
                return Ok(entry.value);
            }
            let shared = inner.clone();
            let key = entry_key.clone();
            inner
                .flights
                .run(
                    &entry_key,
                    || async move { shared.lookup(key, loader).await },
                )
                .await
        }
        .instrument(span)
        .await
    }

    /// The cached value of `key`, never loading it: the local tier, then
    /// Redis (a Redis hit fills the local tier). `Ok(None)` when nothing
    /// fresh is cached, including a cached "not found" (see
    /// [`negative_ttl`](crate::CacheBuilder::negative_ttl)). Stale values are
    /// not returned: without a loader there is nothing to refresh them with.
    ///
    /// Fails with [`Error::RedisUnavailable`] while the circuit breaker is
    /// open, and with the Redis error when the read fails: unlike
    /// `get_or_load`, there is no loader to fall back on.
    pub async fn get(&self, key: &K) -> Result<Option<V>> {
        // A batch of one: the same tiers, counters and errors.
        let found = self.get_many(&[key]).await?;
        Ok(found.into_iter().next().flatten())
    }

    /// Write-through: stores `value` for `key` in Redis, revokes any load in
    /// flight for it (it read older data) and evicts every instance's local copy.
    pub async fn put(&self, key: &K, value: &V) -> Result<()> {
        let inner = &self.inner;
        let entry_key = inner.keys.entry(&key.to_string());
        let ttl = inner.jittered(inner.settings.ttl);
        let entry = Entry::new(Some(value.clone()), ttl, Duration::ZERO);
        let payload = inner.encode(&entry_key, &entry)?;
        inner.flights.forget(&entry_key);
        inner.coherence.evict_locally(&entry_key).await;
        let mut conn = inner.conn.clone();
        scripts::PUT
            .key(&entry_key)
            .key(Keys::lease(&entry_key))
            .arg(payload)
            .arg(millis(inner.redis_ttl(ttl)))
            .arg(&inner.keys.invalidate_channel)
            .arg(&entry_key)
            .invoke_async::<i64>(&mut conn)
            .instrument(
                tracing::debug_span!("cache.put", namespace = %inner.namespace, key = %entry_key),
            )
            .await
            .inspect_err(|_| bump(&inner.counters.redis_errors))?;
        Ok(())
    }

    /// Forgets `key` everywhere: in Redis, in every instance's local tier, and
    /// in any load in flight (its result will not be written).
    pub async fn invalidate(&self, key: &K) -> Result<()> {
        let inner = &self.inner;
        let entry_key = inner.keys.entry(&key.to_string());
        inner.flights.forget(&entry_key);
        inner.coherence.evict_locally(&entry_key).await;
        let mut conn = inner.conn.clone();
        scripts::INVALIDATE
            .key(&entry_key)
            .key(Keys::lease(&entry_key))
            .arg(&inner.keys.invalidate_channel)
            .arg(&entry_key)
            .invoke_async::<i64>(&mut conn)
            .instrument(tracing::debug_span!("cache.invalidate", namespace = %inner.namespace, key = %entry_key))
            .await
            .inspect_err(|_| bump(&inner.counters.redis_errors))?;
        // Again after Redis forgot it: a local read in between may have cached it.
        inner.coherence.evict_locally(&entry_key).await;
        Ok(())
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> CacheStats {
        self.inner.counters.snapshot()
    }

    /// True while the circuit breaker keeps calls away from Redis.
    pub fn redis_bypassed(&self) -> bool {
        self.inner.breaker.is_open()
    }
}

type BoxedLoader<V> =
    Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Result<Option<V>, LoadError>> + Send>> + Send>;

fn boxed_loader<V, F, Fut, E>(loader: F) -> BoxedLoader<V>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<Option<V>, E>> + Send + 'static,
    E: Into<LoadError>,
{
    Box::new(move || Box::pin(async move { loader().await.map_err(Into::into) }))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// What Redis said about a key.
enum Stored<V> {
    Fresh(Entry<V>),
    /// Past its freshness, still within a stale window.
    Stale(Entry<V>),
    Missing,
}

impl<V> Inner<V>
where
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// The single-flight part of a read: Redis, then a fleet-wide load.
    async fn lookup(
        self: Arc<Self>,
        entry_key: String,
        loader: BoxedLoader<V>,
    ) -> Result<Option<V>> {
        let seen = self.coherence.sequence();
        if !self.breaker.allow() {
            bump(&self.counters.redis_skipped);
            return self.without_redis(loader, None).await;
        }
        let stale = match self.read(&entry_key).await {
            Ok(Stored::Fresh(entry)) => {
                bump(&self.counters.hits_l2);
                tracing::Span::current().record("tier", tracing::field::debug(Tier::Redis));
                self.fill_local(seen, &entry_key, &entry).await;
                self.maybe_refresh_early(&entry_key, &entry, loader);
                return Ok(entry.value);
            }
            Ok(Stored::Stale(entry)) => {
                if entry.staleness(now_ms()) <= self.settings.stale_while_revalidate {
                    bump(&self.counters.stale_served);
                    tracing::Span::current().record("tier", tracing::field::debug(Tier::Stale));
                    self.refresh_in_background(&entry_key, entry.fresh_until_ms, loader);
                    return Ok(entry.value);
                }
                Some(entry)
            }
            Ok(Stored::Missing) => None,
            Err(error) => return self.without_redis(loader, Some(error)).await,
        };
        bump(&self.counters.misses);
        self.load_with_lease(entry_key, loader, stale, seen).await
    }

    /// Takes the fill lease and loads, or waits for whoever holds it.
    async fn load_with_lease(
        &self,
        entry_key: String,
        loader: BoxedLoader<V>,
        stale: Option<Entry<V>>,
        seen: u64,
    ) -> Result<Option<V>> {
        let deadline = Instant::now() + self.settings.fill_wait;
        let waiter = self.coherence.waiter(&entry_key);
        let token = format!("{:032x}", rand::random::<u128>());
        let mut waited = false;
        loop {
            let filled = waiter.notified();
            tokio::pin!(filled);
            filled.as_mut().enable();
            let lease = match self.take_lease(&entry_key, &token).await {
                Ok(lease) => lease,
                Err(error) => return self.without_redis(loader, Some(error)).await,
            };
            let busy_for = match lease {
                None => {
                    return self
                        .load_and_fill(&entry_key, &token, loader, stale, seen)
                        .await;
                }
                Some(busy_for) => busy_for,
            };
            if !waited {
                waited = true;
                bump(&self.counters.fill_waits);
            }
            let wake_at = (Instant::now() + busy_for).min(deadline);
            tokio::select! {
                _ = &mut filled => {}
                _ = tokio::time::sleep_until(wake_at) => {}
            }
            if let Ok(Stored::Fresh(entry)) = self.read(&entry_key).await {
                bump(&self.counters.hits_l2);
                self.fill_local(seen, &entry_key, &entry).await;
                return Ok(entry.value);
            }
            if Instant::now() >= deadline {
                // The filler is too slow: answer this request ourselves
                // rather than fail it; its lease still guards the write.
                tracing::debug!(key = %entry_key, "fill wait exceeded; loading without the lease");
                return match self.load(loader, stale).await? {
                    Loaded::Fresh { value, .. } | Loaded::StaleOnError(value) => Ok(value),
                };
            }
        }
    }

    /// Runs the loader and writes its result under the lease `token`.
    async fn load_and_fill(
        &self,
        entry_key: &str,
        token: &str,
        loader: BoxedLoader<V>,
        stale: Option<Entry<V>>,
        seen: u64,
    ) -> Result<Option<V>> {
        // If this future is dropped mid-load (the request was cancelled),
        // give the lease back at once so waiters need not sit out its expiry.
        let mut held = HeldLease {
            conn: self.conn.clone(),
            entry_key: entry_key.to_string(),
            token: token.to_string(),
            filled_channel: self.keys.filled_channel.clone(),
            settled: false,
        };
        let outcome = self.load(loader, stale).await;
        held.settled = true; // from here on this function settles the lease itself
        match outcome {
            Ok(Loaded::Fresh { value, took }) => {
                self.fill(entry_key, token, &value, took, seen).await;
                Ok(value)
            }
            Ok(Loaded::StaleOnError(value)) => {
                let _ = self.release_lease(entry_key, token).await;
                Ok(value)
            }
            Err(error) => {
                let _ = self.release_lease(entry_key, token).await;
                Err(error)
            }
        }
    }

    /// Calls the loader; on failure serves `stale` if the stale-if-error
    /// window allows it.
    async fn load(&self, loader: BoxedLoader<V>, stale: Option<Entry<V>>) -> Result<Loaded<V>> {
        bump(&self.counters.loads);
        tracing::Span::current().record("tier", tracing::field::debug(Tier::Loader));
        let started = Instant::now();
        match loader().await {
            Ok(value) => Ok(Loaded::Fresh {
                value,
                took: started.elapsed(),
            }),
            Err(error) => {
                bump(&self.counters.load_errors);
                if let Some(stale) = stale
                    && stale.staleness(now_ms()) <= self.settings.stale_if_error
                {
                    tracing::warn!(%error, "loader failed; serving a stale value");
                    bump(&self.counters.stale_served);
                    return Ok(Loaded::StaleOnError(stale.value));
                }
                Err(Error::Loader(Arc::from(error)))
            }
        }
    }

    /// Writes a loaded value if the lease is still ours (else counts a
    /// rejected fill: the key was invalidated while loading).
    async fn fill(
        &self,
        entry_key: &str,
        token: &str,
        value: &Option<V>,
        took: Duration,
        seen: u64,
    ) {
        let ttl = match (value, self.settings.negative_ttl) {
            (Some(_), _) => self.jittered(self.settings.ttl),
            (None, Some(negative_ttl)) => self.jittered(negative_ttl),
            (None, None) => {
                let _ = self.release_lease(entry_key, token).await;
                return;
            }
        };
        let entry = Entry::new(value.clone(), ttl, took);
        let Ok(payload) = self.encode(entry_key, &entry) else {
            let _ = self.release_lease(entry_key, token).await;
            return;
        };
        let mut conn = self.conn.clone();
        let written = scripts::FILL
            .key(entry_key)
            .key(Keys::lease(entry_key))
            .arg(token)
            .arg(payload)
            .arg(millis(self.redis_ttl(ttl)))
            .arg(&self.keys.filled_channel)
            .arg(entry_key)
            .invoke_async::<i64>(&mut conn)
            .await;
        match written {
            Ok(1) => self.fill_local(seen, entry_key, &entry).await,
            Ok(_) => {
                bump(&self.counters.fills_rejected);
                tracing::debug!(key = %entry_key, "fill rejected: invalidated while loading");
            }
            Err(error) => self.redis_failed(&error),
        }
    }

    /// Redis failed or is bypassed: fail-open loads directly, fail-closed errs.
    async fn without_redis(
        &self,
        loader: BoxedLoader<V>,
        error: Option<Error>,
    ) -> Result<Option<V>> {
        if let Some(Error::Redis(redis_error)) = &error {
            self.redis_failed(redis_error);
        }
        if !self.settings.fail_open {
            return Err(error.unwrap_or(Error::RedisUnavailable));
        }
        match self.load(loader, None).await? {
            Loaded::Fresh { value, .. } | Loaded::StaleOnError(value) => Ok(value),
        }
    }

    fn redis_failed(&self, error: &redis::RedisError) {
        bump(&self.counters.redis_errors);
        self.breaker.failure();
        tracing::warn!(namespace = %self.namespace, %error, "redis failed");
    }

    /// Reads and classifies the stored entry.
    async fn read(&self, entry_key: &str) -> Result<Stored<V>> {
        let mut conn = self.conn.clone();
        let bytes: Option<Vec<u8>> = redis::cmd("GET")
            .arg(entry_key)
            .query_async(&mut conn)
            .await?;
        self.breaker.success();
        Ok(self.classify(entry_key, bytes))
    }

    /// What a stored entry's bytes are worth now: fresh, stale within a
    /// window, or as good as missing.
    fn classify(&self, entry_key: &str, bytes: Option<Vec<u8>>) -> Stored<V> {
        let Some(bytes) = bytes else {
            return Stored::Missing;
        };
        let entry: Entry<V> = match self.settings.codec.decode(&bytes) {
            Ok(entry) => entry,
            Err(reason) => {
                // Written by an incompatible version: treat as absent, it gets overwritten.
                tracing::warn!(key = %entry_key, %reason, "undecodable cache entry ignored");
                return Stored::Missing;
            }
        };
        let now = now_ms();
        let window = self
            .settings
            .stale_while_revalidate
            .max(self.settings.stale_if_error);
        if entry.is_fresh(now) {
            Stored::Fresh(entry)
        } else if entry.staleness(now) <= window {
            Stored::Stale(entry)
        } else {
            Stored::Missing
        }
    }

    /// `None` when the lease is ours; else how long its holder may still take.
    async fn take_lease(&self, entry_key: &str, token: &str) -> Result<Option<Duration>> {
        let mut conn = self.conn.clone();
        let (taken, pttl): (i64, i64) = scripts::TAKE_LEASE
            .key(Keys::lease(entry_key))
            .arg(token)
            .arg(millis(self.settings.fill_lease))
            .invoke_async(&mut conn)
            .await?;
        Ok(if taken == 1 {
            None
        } else {
            Some(Duration::from_millis(u64::try_from(pttl).unwrap_or(0)))
        })
    }

    async fn release_lease(&self, entry_key: &str, token: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        scripts::RELEASE_LEASE
            .key(Keys::lease(entry_key))
            .arg(token)
            .arg(&self.keys.filled_channel)
            .arg(entry_key)
            .invoke_async::<i64>(&mut conn)
            .await?;
        Ok(())
    }

    /// XFetch: maybe refresh a fresh entry before it expires.
    fn maybe_refresh_early(
        self: &Arc<Self>,
        entry_key: &str,
        entry: &Entry<V>,
        loader: BoxedLoader<V>,
    ) {
        let refresh = xfetch::should_refresh(
            now_ms(),
            entry.fresh_until_ms,
            entry.load_ms,
            self.settings.beta,
            rand::random::<f64>(),
        );
        if refresh {
            self.refresh_in_background(entry_key, entry.fresh_until_ms, loader);
        }
    }

    /// Reloads a key in the background, once per process and (through the
    /// fill lease) once per fleet. `replaces_until` is the freshness of the
    /// copy that asked for it: if Redis already holds a newer one (another
    /// instance refreshed first), that one is taken instead of loading again.
    fn refresh_in_background(
        self: &Arc<Self>,
        entry_key: &str,
        replaces_until: u64,
        loader: BoxedLoader<V>,
    ) {
        if !self
            .refreshing
            .lock()
            .expect("refreshing lock")
            .insert(entry_key.to_string())
        {
            return;
        }
        let this = self.clone();
        let key = entry_key.to_string();
        tokio::spawn(async move {
            let _slot = RefreshSlot {
                refreshing: &this.refreshing,
                key: key.clone(),
            };
            let seen = this.coherence.sequence();
            if let Ok(Stored::Fresh(entry)) = this.read(&key).await
                && entry.fresh_until_ms > replaces_until
            {
                this.fill_local(seen, &key, &entry).await;
                return;
            }
            let token = format!("{:032x}", rand::random::<u128>());
            if let Ok(None) = this.take_lease(&key, &token).await {
                bump(&this.counters.refreshes);
                if let Err(error) = this.load_and_fill(&key, &token, loader, None, seen).await {
                    tracing::warn!(key = %key, %error, "background refresh failed; the current value stays");
                }
            }
        });
    }

    async fn fill_local(&self, seen: u64, entry_key: &str, entry: &Entry<V>) {
        if let Some(local) = &self.local {
            let insert = local.0.insert(entry_key.to_string(), entry.clone());
            self.coherence.fill_local_if_unchanged(seen, insert).await;
        }
    }

    /// `ttl` spread by ± the jitter fraction, so that entries filled
    /// together (a cold start, a burst of "not found") do not all expire
    /// together.
    fn jittered(&self, ttl: Duration) -> Duration {
        let jitter = self.settings.ttl_jitter;
        if jitter == 0.0 {
            return ttl;
        }
        let factor = 1.0 + jitter * (2.0 * rand::random::<f64>() - 1.0);
        ttl.mul_f64(factor.max(0.01))
    }

    /// Redis keeps an entry past its freshness for the stale windows.
    fn redis_ttl(&self, fresh_for: Duration) -> Duration {
        fresh_for
            + self
                .settings
                .stale_while_revalidate
                .max(self.settings.stale_if_error)
    }

    fn encode(&self, entry_key: &str, entry: &Entry<V>) -> Result<Vec<u8>> {
        self.settings
            .codec
            .encode(entry)
            .map_err(|reason| Error::Encode {
                key: entry_key.to_string(),
                reason,
            })
    }
}

/// A fill lease held while the loader runs; released in the background if
/// the load is abandoned before it settles.
struct HeldLease {
    conn: Connection,
    entry_key: String,
    token: String,
    filled_channel: String,
    settled: bool,
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // the lease expires on its own
        };
        let mut conn = self.conn.clone();
        let (entry_key, token, channel) = (
            std::mem::take(&mut self.entry_key),
            std::mem::take(&mut self.token),
            std::mem::take(&mut self.filled_channel),
        );
        runtime.spawn(async move {
            let _ = scripts::RELEASE_LEASE
                .key(Keys::lease(&entry_key))
                .arg(&token)
                .arg(&channel)
                .arg(&entry_key)
                .invoke_async::<i64>(&mut conn)
                .await;
        });
    }
}

/// Removes a key from the set of background refreshes in progress, however
/// the refresh ends (a panicking loader included).
struct RefreshSlot<'a> {
    refreshing: &'a Mutex<HashSet<String>>,
    key: String,
}

impl Drop for RefreshSlot<'_> {
    fn drop(&mut self) {
        self.refreshing
            .lock()
            .expect("refreshing lock")
            .remove(&self.key);
    }
}

/// The outcome of a loader call.
enum Loaded<V> {
    /// The loader answered.
    Fresh { value: Option<V>, took: Duration },
    /// The loader failed; a stale value stands in.
    StaleOnError(Option<V>),
}

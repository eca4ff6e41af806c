//! Configuring a [`Cache`].

use std::fmt::Display;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use redis_support::Endpoint;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::breaker::Breaker;
use crate::cache::{Cache, Inner, LocalCache, Settings};
use crate::codec::Codec;
use crate::coherence::{Coherence, LocalTier};
use crate::error::{Error, Result};
use crate::keys::Keys;
use crate::stats::Counters;

/// Builder of a [`Cache`]; every setting has a documented, production-safe default.
#[derive(Debug)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct CacheBuilder<K: ?Sized, V> {
    source: Endpoint,
    namespace: String,
    settings: Settings,
    local: Option<(u64, Duration)>,
    breaker_threshold: u32,
    breaker_cooldown: Duration,
    keepalive: Duration,
    _types: PhantomData<fn(&K) -> V>,
}

impl<K, V> CacheBuilder<K, V>
where
    K: Display + ?Sized,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    pub(crate) fn new(source: Endpoint, namespace: &str) -> Self {
        Self {
            source,
            namespace: namespace.to_string(),
            settings: Settings {
                ttl: Duration::from_secs(300),
                ttl_jitter: 0.1,
                negative_ttl: None,
                fill_lease: Duration::from_secs(5),
                fill_wait: Duration::from_secs(5),
                stale_while_revalidate: Duration::ZERO,
                stale_if_error: Duration::ZERO,
                beta: 1.0,
                codec: Codec::Json,
                fail_open: true,
                redis_timeout: Duration::from_millis(250),
            },
            local: None,
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(2),
            keepalive: Duration::from_secs(10),
            _types: PhantomData,
        }
    }

    /// How long a loaded value stays fresh. Default: 5 minutes.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.settings.ttl = ttl;
        self
    }

    /// Spreads expiries by ± this fraction of the TTL (0.1 = ±10 %), so keys
    /// filled together do not all expire together and reload in one burst.
    /// Applies to [`negative_ttl`](Self::negative_ttl) as well. Default: 0.1;
    /// 0 turns it off.
    pub fn ttl_jitter(mut self, fraction: f64) -> Self {
        self.settings.ttl_jitter = fraction.clamp(0.0, 1.0);
        self
    }

    /// Adds a local in-process tier (moka) of `capacity` entries, each kept at
    /// most `ttl`, in front of Redis. Invalidations reach it from every
    /// instance. Default: none (Redis only).
    pub fn local(mut self, capacity: u64, ttl: Duration) -> Self {
        self.local = Some((capacity, ttl));
        self
    }

    /// Caches a loader's `None` for this long, so a missing row is not looked
    /// up again on every request. Default: `None` is not cached.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.settings.negative_ttl = Some(ttl);
        self
    }

    /// How long the caller that loads a key holds its fill lease; a loader
    /// slower than this can no longer write its result. Default: 5 s.
    pub fn fill_lease(mut self, lease: Duration) -> Self {
        self.settings.fill_lease = lease;
        self
    }

    /// How long a caller waits for another instance's fill before loading
    /// itself. Default: 5 s.
    pub fn fill_wait(mut self, wait: Duration) -> Self {
        self.settings.fill_wait = wait;
        self
    }

    /// For this long after a value stops being fresh, serve it and refresh it
    /// once in the background. Default: 0 (off).
    pub fn stale_while_revalidate(mut self, window: Duration) -> Self {
        self.settings.stale_while_revalidate = window;
        self
    }

    /// If the loader fails, serve a value that went stale at most this long
    /// ago instead of the error (counted in `stale_served`). Default: 0 (off).
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.settings.stale_if_error = window;
        self
    }

    /// XFetch's β: how eagerly hot keys are refreshed before they expire (0
    /// turns early refresh off; 1 is the optimum of the paper; larger is
    /// earlier). Default: 1.
    pub fn early_refresh_beta(mut self, beta: f64) -> Self {
        self.settings.beta = beta.max(0.0);
        self
    }

    /// The encoding in Redis. Default: JSON.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.settings.codec = codec;
        self
    }

    /// Fail-closed: when Redis fails, return `Err(Error::Redis)` (and
    /// `Err(Error::RedisUnavailable)` while the circuit breaker keeps Redis
    /// bypassed) instead of calling the loader directly. Default: fail-open.
    pub fn fail_closed(mut self) -> Self {
        self.settings.fail_open = false;
        self
    }

    /// Longest wait for a Redis answer before the call counts as a Redis
    /// failure. Default: 250 ms.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.settings.redis_timeout = timeout;
        self
    }

    /// The former name of [`response_timeout`](Self::response_timeout).
    #[deprecated(
        since = "0.1.0",
        note = "renamed `response_timeout`, as in the family's other crates"
    )]
    pub fn redis_timeout(self, timeout: Duration) -> Self {
        self.response_timeout(timeout)
    }

    /// The circuit breaker: after `failures` consecutive Redis failures,
    /// skip Redis for `cooldown`, then probe. Default: 3 failures, 2 s.
    pub fn circuit_breaker(mut self, failures: u32, cooldown: Duration) -> Self {
        self.breaker_threshold = failures;
        self.breaker_cooldown = cooldown;
        self
    }

    /// How often the invalidation subscription is pinged; a ping not
    /// answered within the same interval counts as a lost connection
    /// (reconnect, flush the local tier). Default: 10 s.
    pub fn keepalive(mut self, every: Duration) -> Self {
        self.keepalive = every;
        self
    }

    /// The former name of [`keepalive`](Self::keepalive).
    #[deprecated(
        since = "0.1.0",
        note = "renamed `keepalive`, as in the family's other crates"
    )]
    pub fn subscription_keepalive(self, every: Duration) -> Self {
        self.keepalive(every)
    }

    /// Builds the cache and subscribes to the namespace's invalidations. A
    /// cache can be built while Redis is down (it connects when Redis returns).
    pub async fn build(self) -> Result<Cache<K, V>> {
        if self.namespace.is_empty() || self.namespace.contains(['{', '}']) {
            return Err(Error::Config(
                "the namespace must be non-empty and contain no braces".into(),
            ));
        }
        if self.settings.ttl.is_zero() {
            return Err(Error::Config("the TTL must be positive".into()));
        }
        if matches!(&self.source, Endpoint::Cluster(nodes) if nodes.is_empty()) {
            return Err(Error::Config(
                "a cluster needs at least one node URL".into(),
            ));
        }
        let conn = self.source.lazy_connection(self.settings.redis_timeout)?;
        let subscriber = self.source.subscription_nodes()?;
        let keys = Keys::new(&self.namespace);
        let counters = Arc::new(Counters::default());
        let local = self.local.map(|(capacity, ttl)| {
            LocalCache::new(
                moka::future::Cache::builder()
                    .max_capacity(capacity)
                    .time_to_live(ttl)
                    .build(),
            )
        });
        let coherence = Coherence::start(
            subscriber,
            &keys,
            local
                .clone()
                .map(|local| Arc::new(local) as Arc<dyn LocalTier>),
            counters.clone(),
            Duration::from_secs(2),
            (self.keepalive, self.settings.redis_timeout),
        )
        .await;
        let inner = Inner {
            namespace: self.namespace,
            keys,
            conn,
            local,
            flights: Default::default(),
            refreshing: Default::default(),
            coherence,
            breaker: Breaker::new(self.breaker_threshold, self.breaker_cooldown),
            counters,
            settings: self.settings,
        };
        Ok(Cache::from_inner(Arc::new(inner)))
    }
}

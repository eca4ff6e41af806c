//! Configuring a [`RedisStore`](crate::RedisStore).

use std::sync::Arc;
use std::time::Duration;

use crate::bases::Bases;
use crate::error::{Error, Result};
use crate::keys::Keys;
use crate::stats::Counters;
use crate::store::{Inner, RedisStore};
use redis_support::Endpoint;

/// The store's settings, fixed at build time.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) user_key: Option<String>,
    /// Sessions are bound with `bind_user` calls (the user is not kept in
    /// the session's data).
    pub(crate) explicit_binding: bool,
    pub(crate) idle_timeout: Duration,
    pub(crate) absolute_timeout: Duration,
    pub(crate) max_sessions_per_user: u32,
    pub(crate) extend_on_read: bool,
    pub(crate) redis_timeout: Duration,
    pub(crate) merge_window: Duration,
}

impl Settings {
    /// Whether sessions are indexed by user (by `user_key`, or by
    /// `bind_user` calls).
    pub(crate) fn has_user_index(&self) -> bool {
        self.user_key.is_some() || self.explicit_binding
    }

    /// Refuses a call that needs the user index when there is none, rather
    /// than answer from an index nothing writes.
    pub(crate) fn require_user_index(&self, call: &str) -> Result<()> {
        if self.has_user_index() {
            return Ok(());
        }
        Err(Error::Config(format!(
            "{call} needs the user index: set user_key (the session key holding the user id), \
             or bind_users_explicitly and call bind_user"
        )))
    }
}

/// Builds a [`RedisStore`]; see each method for its default.
#[derive(Debug)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct RedisStoreBuilder {
    source: Endpoint,
    prefix: String,
    settings: Settings,
}

impl RedisStoreBuilder {
    pub(crate) fn new(source: Endpoint) -> Self {
        Self {
            source,
            prefix: "session".to_string(),
            settings: Settings {
                user_key: None,
                explicit_binding: false,
                idle_timeout: Duration::from_secs(30 * 60),
                absolute_timeout: Duration::from_secs(24 * 60 * 60),
                max_sessions_per_user: 0,
                extend_on_read: true,
                redis_timeout: Duration::from_secs(3),
                merge_window: Duration::from_secs(60),
            },
        }
    }

    /// The prefix of every key and of the revocation channel. Default
    /// `session`. Every service sharing sessions must use the same one.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The session key holding the user id (a string or a number). When a
    /// save sets it, the session is bound to that user and indexed; when a
    /// save removes it, the binding goes. Default: none; then bind with
    /// [`RedisStore::bind_user`] after
    /// [`bind_users_explicitly`](Self::bind_users_explicitly), or go without
    /// a user index (see there).
    pub fn user_key(mut self, key: impl Into<String>) -> Self {
        self.settings.user_key = Some(key.into());
        self
    }

    /// Sessions are bound to their user by [`RedisStore::bind_user`] calls,
    /// not by a key of the session's data (use this when the user id is not
    /// kept in the session). With neither this nor
    /// [`user_key`](Self::user_key), there is no user index: the calls that
    /// need it fail with [`Error::Config`] instead of finding nothing.
    pub fn bind_users_explicitly(mut self) -> Self {
        self.settings.explicit_binding = true;
        self
    }

    /// How long a session lives without being used. Default 30 minutes
    /// (Spring Session's default). Every save, every read (unless
    /// [`extend_on_read`](Self::extend_on_read) is off) and
    /// [`RedisStore::touch`] push the deadline this far into the future,
    /// but never past the deadline the application asked for at the
    /// session's last save (the tower-sessions layer's `Expiry`) nor past
    /// the [absolute lifetime](Self::absolute_timeout). Under
    /// `Expiry::OnInactivity(d)` with `d` no longer than this timeout, reads
    /// therefore extend nothing: the session ends `d` after its last save.
    /// The whole rule: [`crate::deadline`].
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.settings.idle_timeout = timeout;
        self
    }

    /// How long a session lives at most, however active, counted from its
    /// creation (kept across an id cycle). Default 24 hours.
    pub fn absolute_timeout(mut self, timeout: Duration) -> Self {
        self.settings.absolute_timeout = timeout;
        self
    }

    /// At most `max` sessions per user: binding one more (a login) evicts
    /// the user's oldest sessions and announces them as revoked. Default: no
    /// limit. Needs the user index: `build` refuses it without
    /// [`user_key`](Self::user_key) or
    /// [`bind_users_explicitly`](Self::bind_users_explicitly).
    pub fn max_sessions_per_user(mut self, max: u32) -> Self {
        self.settings.max_sessions_per_user = max;
        self
    }

    /// Whether reading a session extends its idle deadline (as Spring Session
    /// does on every access). Default `true`; the deadline is written at most
    /// once a second per session, and never moved past the deadline the
    /// application asked for at the last save or the absolute lifetime, so
    /// a read extends a session only where the application's deadline lies
    /// beyond the [idle timeout](Self::idle_timeout). Off, only saves and
    /// [`RedisStore::touch`] extend it.
    pub fn extend_on_read(mut self, extend: bool) -> Self {
        self.settings.extend_on_read = extend;
        self
    }

    /// How long one Redis call may take before the request fails with an
    /// error. Default 3 s, Redisson's `timeout`: sessions sit on every
    /// request's path, so a hung Redis must fail requests soon, but a burst
    /// of a thousand requests shares one multiplexed connection, and on a
    /// saturated machine the last answers of a burst can take over a second
    /// to be read (a dead Redis refuses at once, whatever this says).
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

    /// How long after a load its save is still merged field by field (see
    /// [`crate::merge`]). The store keeps what each record was loaded from
    /// (version and value fingerprints, not the values) beside the record,
    /// since the application must not see it in the data, and forgets it
    /// after this long, or sooner beyond 100,000 loads kept. A save that
    /// comes later replaces every stored value with the record's (last
    /// writer wins), counted in [`StoreStats::replacing_saves`](crate::StoreStats::replacing_saves).
    /// Default 60 s, longer than any request should take; zero turns
    /// merging off.
    pub fn merge_window(mut self, window: Duration) -> Self {
        self.settings.merge_window = window;
        self
    }

    /// Builds the store. The connection is made lazily, so a store built
    /// while Redis is down works once Redis is back. On a cluster the prefix
    /// becomes a hash tag (`{session}:<id>`, see the [crate docs](crate)).
    pub fn build(self) -> Result<RedisStore> {
        let settings = self.settings;
        if settings.idle_timeout.is_zero() || settings.absolute_timeout.is_zero() {
            return Err(Error::Config("timeouts must be positive".into()));
        }
        if settings.max_sessions_per_user > 0 && !settings.has_user_index() {
            return Err(Error::Config(
                "max_sessions_per_user needs the user index: set user_key, or bind_users_explicitly"
                    .into(),
            ));
        }
        if self.prefix.is_empty() || self.prefix.contains(['{', '}']) {
            return Err(Error::Config(format!(
                "prefix {:?} must be non-empty, without braces",
                self.prefix
            )));
        }
        if matches!(&self.source, Endpoint::Cluster(nodes) if nodes.is_empty()) {
            return Err(Error::Config(
                "a cluster needs at least one node URL".into(),
            ));
        }
        let conn = self.source.lazy_connection(settings.redis_timeout)?;
        // Revocations can be heard on any node of a cluster (a PUBLISH
        // reaches them all).
        let pubsub = self.source.subscription_nodes()?;
        let hash_tag = self.source.is_cluster();
        Ok(RedisStore {
            inner: Arc::new(Inner {
                conn,
                pubsub,
                keys: Keys::new(&self.prefix, hash_tag),
                bases: Bases::new(settings.merge_window),
                settings,
                counters: Counters::default(),
            }),
        })
    }
}

//! [`RedisStore`]: the sessions, the per-user index and the operations on
//! them.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use redis::FromRedisValue;
use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};

use crate::bases::Bases;
use crate::builder::{RedisStoreBuilder, Settings};
use crate::deadline;
use crate::error::{Error, Result};
use crate::failure;
use crate::keys::Keys;
use crate::merge::{self, Base, UserChange};
use crate::revocation::{Reason, Revocations};
use crate::schema::StoredSession;
use crate::scripts;
use crate::stats::{Counters, StoreStats, add, bump};
use redis_support::{Connection, Endpoint};

/// How many fresh ids `create` draws before giving up (a collision of
/// 128-bit random ids means the random source is broken).
const CREATE_ATTEMPTS: u32 = 8;

/// A Redis session store for tower-sessions, shared by every service that
/// builds one with the same prefix.
///
/// Cheap to clone (one shared connection). See the [crate docs](crate) for
/// the guarantees and `docs/session-store.md` for the schema.
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) conn: Connection,
    /// Where revocations are heard: the server, or each node of a cluster
    /// in turn.
    pub(crate) pubsub: Vec<redis::Client>,
    pub(crate) keys: Keys,
    pub(crate) settings: Settings,
    pub(crate) counters: Counters,
    /// What each record handed out was loaded from, for its save's merge.
    pub(crate) bases: Bases,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.keys.prefix())
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

/// One live session of a user, as listed by [`RedisStore::sessions_of`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session id (the cookie's value).
    pub id: Id,
    /// When the session was created (kept across an id cycle).
    pub created_at: OffsetDateTime,
    /// When it expires unless used again.
    pub expires_at: OffsetDateTime,
}

/// What the create and save scripts answer.
struct WriteOutcome {
    status: String,
    version: u64,
    merged: bool,
    evicted: Vec<String>,
}

impl FromRedisValue for WriteOutcome {
    fn from_redis_value(value: redis::Value) -> Result<Self, redis::ParsingError> {
        let (status, version, merged, _expires_at, evicted): (String, u64, i64, i64, Vec<String>) =
            FromRedisValue::from_redis_value(value)?;
        Ok(Self {
            status,
            version,
            merged: merged == 1,
            evicted,
        })
    }
}

impl RedisStore {
    /// Starts configuring a store on `client`'s Redis.
    pub fn builder(client: redis::Client) -> RedisStoreBuilder {
        RedisStoreBuilder::new(Endpoint::single(client))
    }

    /// Starts configuring a store on a Redis Cluster, given some of its
    /// nodes' URLs. Every key of the store carries the prefix as a hash tag
    /// (`{session}:<id>`), so a session and its user's index are updated in
    /// one script on the master that owns the tag's slot.
    pub fn cluster_builder<I, T>(nodes: I) -> RedisStoreBuilder
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        RedisStoreBuilder::new(Endpoint::cluster(nodes))
    }

    /// The store's counters since it was built.
    pub fn stats(&self) -> StoreStats {
        self.inner.counters.snapshot()
    }

    /// Reads session `id`: `None` when it does not exist or has expired.
    ///
    /// The record's data holds exactly the session's keys; what the save
    /// needs to merge is kept beside it, in the store. One `HGETALL`. When
    /// the idle deadline should move (see
    /// [`extend_on_read`](RedisStoreBuilder::extend_on_read)), a
    /// [`touch`](Self::touch) is sent in the background, so the read does not
    /// wait for the write. Neither moves the deadline past the one the
    /// application asked for at the session's last save.
    #[tracing::instrument(name = "session.load", level = "debug", skip_all)]
    pub async fn load_record(&self, id: &Id) -> Result<Option<Record>> {
        let session_id = id.to_string();
        let key = self.inner.keys.session(&session_id);
        let flat: Vec<String> = self.observe(
            redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut self.inner.conn.clone())
                .await,
        )?;
        bump(&self.inner.counters.loads);
        let now = now_ms();
        if flat.is_empty() {
            bump(&self.inner.counters.load_misses);
            return Ok(None);
        }
        let stored = StoredSession::parse(&session_id, flat)?;
        if stored.expires_at_ms <= now {
            bump(&self.inner.counters.load_misses);
            return Ok(None);
        }
        let (base, mut data) = Base::from_stored(&session_id, &stored)?;
        self.inner
            .bases
            .remember_new(&mut data, base, Instant::now());
        let mut expires_at_ms = stored.expires_at_ms;
        if let Some(extended) = self.extension_due(&stored, now) {
            expires_at_ms = extended;
            let (store, id) = (self.clone(), *id);
            tokio::spawn(async move {
                if let Err(error) = store.touch(&id).await {
                    tracing::warn!(%error, "could not extend a session's idle deadline");
                }
            });
        }
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date: from_ms(expires_at_ms),
        }))
    }

    /// The deadline a read should move the session to, if it should (see
    /// [`crate::deadline`]; `touch.lua` applies the same rule).
    fn extension_due(&self, stored: &StoredSession, now: i64) -> Option<i64> {
        let settings = &self.inner.settings;
        if !settings.extend_on_read {
            return None;
        }
        deadline::extension(
            stored.expires_at_ms,
            stored.requested_expires_at_ms,
            stored.absolute_expires_at_ms,
            now,
            settings.idle_timeout.as_millis() as i64,
        )
    }

    /// Creates a session for `record`, drawing a new id while it collides
    /// with an existing one. When the record was loaded under another id
    /// (tower-sessions' `cycle_id`), that session is deleted in the same
    /// script, after this one is written.
    #[tracing::instrument(name = "session.create", level = "debug", skip_all)]
    pub async fn create_record(&self, record: &mut Record) -> Result<()> {
        let settings = &self.inner.settings;
        let previous = self
            .inner
            .bases
            .recall(&record.data, Instant::now())
            .map(|base| base.id)
            .filter(|previous| *previous != record.id.to_string());
        let changes = merge::changes(&record.data, None)?;
        let user = match &settings.user_key {
            Some(key) => merge::user_id(&record.data, key)?,
            None => None,
        };
        for _ in 0..CREATE_ATTEMPTS {
            let mut call = scripts::CREATE.prepare_invoke();
            call.key(self.inner.keys.session(&record.id.to_string()))
                .arg(self.inner.keys.prefix())
                .arg(record.id.to_string())
                .arg(now_ms())
                .arg(to_ms(record.expiry_date))
                .arg(settings.idle_timeout.as_millis() as u64)
                .arg(settings.absolute_timeout.as_millis() as u64)
                .arg(user.as_deref().unwrap_or(""))
                .arg(settings.max_sessions_per_user)
                .arg(previous.as_deref().unwrap_or(""))
                .arg(changes.set.len());
            for (field, json) in &changes.set {
                call.arg(field).arg(json);
            }
            let outcome: WriteOutcome = self.invoke(&call).await?;
            if outcome.status == "collision" {
                bump(&self.inner.counters.id_collisions);
                record.id = Id::default();
                continue;
            }
            bump(&self.inner.counters.creates);
            add(&self.inner.counters.evicted, outcome.evicted.len() as u64);
            // From now on this record is based on what was just written.
            let written = changes.written(&record.id.to_string(), outcome.version);
            self.inner
                .bases
                .remember_new(&mut record.data, written, Instant::now());
            return Ok(());
        }
        Err(Error::IdCollisions(CREATE_ATTEMPTS))
    }

    /// Saves `record`: the keys it changed since its load, merged with any
    /// concurrent save (see [`crate::merge`]). A record whose load the store
    /// no longer remembers (see
    /// [`merge_window`](RedisStoreBuilder::merge_window)) replaces every
    /// stored value. A session that is gone (expired, logged out, revoked)
    /// stays gone.
    #[tracing::instrument(name = "session.save", level = "debug", skip_all)]
    pub async fn save_record(&self, record: &Record) -> Result<()> {
        let settings = &self.inner.settings;
        let session_id = record.id.to_string();
        let base = self
            .inner
            .bases
            .recall(&record.data, Instant::now())
            .filter(|base| base.id == session_id);
        let changes = merge::changes(&record.data, base.as_ref())?;
        let (user_mode, user) =
            match merge::user_change(&record.data, &changes, settings.user_key.as_deref())? {
                UserChange::Keep => ("keep", String::new()),
                UserChange::Set(user) => ("set", user),
                UserChange::Unset => ("unset", String::new()),
            };
        let mut call = scripts::SAVE.prepare_invoke();
        call.key(self.inner.keys.session(&session_id))
            .arg(self.inner.keys.prefix())
            .arg(&session_id)
            .arg(now_ms())
            .arg(to_ms(record.expiry_date))
            .arg(settings.idle_timeout.as_millis() as u64)
            .arg(changes.base_version.map_or(-1, |version| version as i64))
            .arg(user_mode)
            .arg(user)
            .arg(settings.max_sessions_per_user)
            .arg(changes.set.len());
        for (field, json) in &changes.set {
            call.arg(field).arg(json);
        }
        call.arg(changes.deleted.len());
        for field in &changes.deleted {
            call.arg(field);
        }
        let outcome: WriteOutcome = self.invoke(&call).await?;
        if outcome.status == "gone" {
            bump(&self.inner.counters.saves_of_gone_sessions);
            tracing::debug!("save of a session that expired or was revoked meanwhile: dropped");
            return Ok(());
        }
        bump(&self.inner.counters.saves);
        if changes.base_version.is_none() {
            bump(&self.inner.counters.replacing_saves);
        }
        // A second save in the same request diffs against this one.
        self.inner.bases.remember_saved(
            &record.data,
            changes.written(&session_id, outcome.version),
            Instant::now(),
        );
        if outcome.merged {
            bump(&self.inner.counters.merged_saves);
            tracing::debug!("concurrent save detected; merged field by field");
        }
        add(&self.inner.counters.evicted, outcome.evicted.len() as u64);
        Ok(())
    }

    /// Deletes session `id` (logout) and, when it belonged to a user,
    /// announces it on the revocation channel. Returns whether it existed.
    #[tracing::instrument(name = "session.delete", level = "debug", skip_all)]
    pub async fn delete_session(&self, id: &Id) -> Result<bool> {
        let mut call = scripts::DELETE.prepare_invoke();
        call.key(self.inner.keys.session(&id.to_string()))
            .arg(self.inner.keys.prefix())
            .arg(id.to_string())
            .arg(Reason::Logout.as_str());
        let existed: i64 = self.invoke(&call).await?;
        bump(&self.inner.counters.deletes);
        Ok(existed == 1)
    }

    /// The live sessions of `user_id`, soonest-expiring first. Expired index
    /// entries are pruned on the way.
    #[tracing::instrument(name = "session.list", level = "debug", skip(self))]
    pub async fn sessions_of(&self, user_id: &str) -> Result<Vec<SessionInfo>> {
        self.inner.settings.require_user_index("sessions_of")?;
        let mut call = scripts::LIST.prepare_invoke();
        call.key(self.inner.keys.user_index(user_id))
            .arg(self.inner.keys.prefix())
            .arg(user_id)
            .arg(now_ms());
        let flat: Vec<(String, i64, i64)> = self.invoke(&call).await?;
        flat.into_iter()
            .map(|(id, created_at, expires_at)| {
                Ok(SessionInfo {
                    id: parse_id(&id)?,
                    created_at: from_ms(created_at),
                    expires_at: from_ms(expires_at),
                })
            })
            .collect()
    }

    /// Logs `user_id` out everywhere: deletes every session of the user and
    /// announces them. Returns how many were revoked.
    pub async fn revoke_all(&self, user_id: &str) -> Result<usize> {
        self.revoke(user_id, None).await
    }

    /// Logs `user_id` out of every other device: deletes every session of
    /// the user but `keep`. Returns how many were revoked.
    pub async fn revoke_others(&self, user_id: &str, keep: &Id) -> Result<usize> {
        self.revoke(user_id, Some(keep)).await
    }

    #[tracing::instrument(name = "session.revoke", level = "debug", skip(self, keep), fields(keep_one = keep.is_some()))]
    async fn revoke(&self, user_id: &str, keep: Option<&Id>) -> Result<usize> {
        self.inner
            .settings
            .require_user_index("revoke_all / revoke_others")?;
        let mut call = scripts::REVOKE.prepare_invoke();
        call.key(self.inner.keys.user_index(user_id))
            .arg(self.inner.keys.prefix())
            .arg(user_id)
            .arg(keep.map(Id::to_string).unwrap_or_default())
            .arg(now_ms())
            .arg(Reason::Revoked.as_str());
        let revoked: Vec<String> = self.invoke(&call).await?;
        add(&self.inner.counters.revoked, revoked.len() as u64);
        tracing::info!(user_id, revoked = revoked.len(), "sessions revoked");
        Ok(revoked.len())
    }

    /// Binds session `id` to `user_id` without touching its data (use this
    /// when the user id is not kept in the session). Evicts the user's
    /// oldest sessions beyond `max_sessions_per_user`. Returns `false` when
    /// the session is gone.
    #[tracing::instrument(name = "session.bind", level = "debug", skip(self, id))]
    pub async fn bind_user(&self, id: &Id, user_id: &str) -> Result<bool> {
        self.inner.settings.require_user_index("bind_user")?;
        let mut call = scripts::BIND_USER.prepare_invoke();
        call.key(self.inner.keys.session(&id.to_string()))
            .arg(self.inner.keys.prefix())
            .arg(id.to_string())
            .arg(now_ms())
            .arg(user_id)
            .arg(self.inner.settings.max_sessions_per_user);
        let evicted: Option<Vec<String>> = self.invoke(&call).await?;
        let Some(evicted) = evicted else {
            return Ok(false);
        };
        add(&self.inner.counters.evicted, evicted.len() as u64);
        Ok(true)
    }

    /// Extends session `id`'s idle deadline without rewriting its data, up
    /// to the deadline the application asked for at the session's last
    /// create or save and to its absolute deadline, never past them (see
    /// [`crate::deadline`]). Returns the session's deadline, or `None` when
    /// the session is gone.
    #[tracing::instrument(name = "session.touch", level = "debug", skip_all)]
    pub async fn touch(&self, id: &Id) -> Result<Option<OffsetDateTime>> {
        let mut call = scripts::TOUCH.prepare_invoke();
        call.key(self.inner.keys.session(&id.to_string()))
            .arg(self.inner.keys.prefix())
            .arg(id.to_string())
            .arg(now_ms())
            .arg(self.inner.settings.idle_timeout.as_millis() as u64);
        let deadline: Option<i64> = self.invoke(&call).await?;
        Ok(deadline.map(from_ms))
    }

    /// The user session `id` is bound to, when it is live and bound (a chat
    /// service maps a socket's cookie to its user with it). Does not extend
    /// the session.
    #[tracing::instrument(name = "session.user_of", level = "debug", skip_all)]
    pub async fn user_of(&self, id: &Id) -> Result<Option<String>> {
        let key = self.inner.keys.session(&id.to_string());
        let (user, expires_at): (Option<String>, Option<i64>) = self.observe(
            redis::cmd("HMGET")
                .arg(&key)
                .arg("user_id")
                .arg("expires_at")
                .query_async(&mut self.inner.conn.clone())
                .await,
        )?;
        Ok(user.filter(|_| expires_at.is_some_and(|at| at > now_ms())))
    }

    /// Subscribes to revocations (logout, revoke, eviction) announced by any
    /// service using this prefix; see [`Revocations`].
    pub async fn revocations(&self) -> Result<Revocations> {
        Revocations::subscribe(
            self.inner.pubsub.clone(),
            self.inner.keys.revocations(),
            self.inner
                .settings
                .redis_timeout
                .max(std::time::Duration::from_secs(2)),
        )
        .await
    }

    async fn invoke<T: FromRedisValue>(&self, call: &redis::ScriptInvocation<'_>) -> Result<T> {
        let mut conn = self.inner.conn.clone();
        self.observe(call.invoke_async(&mut conn).await)
    }

    /// Counts a Redis failure and tells the failure layer about it.
    fn observe<T>(&self, result: redis::RedisResult<T>) -> Result<T> {
        result.map_err(|error| {
            bump(&self.inner.counters.redis_errors);
            failure::record(&error);
            Error::Redis(error)
        })
    }
}

fn parse_id(id: &str) -> Result<Id> {
    Id::from_str(id).map_err(|error| Error::Corrupt {
        id: id.to_string(),
        reason: format!("not a session id: {error}"),
    })
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as i64
}

fn to_ms(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

//! # session-store: Redis sessions shared by every service, for tower-sessions
//!
//! A [`tower_sessions`](https://docs.rs/tower-sessions) `SessionStore` on the
//! [`redis`] crate, so that a user who logs in through one service (the
//! gateway) is recognised by every other service (orders, chat) reading the
//! same Redis, as Spring Session Data Redis does. It is a drop-in store for
//! `SessionManagerLayer`, and adds what a plain store lacks:
//!
//! - **A readable schema** ([`schema`]): one Redis hash per session, one JSON
//!   value per session key, plus its version, deadlines and user. Another
//!   service, in any language, reads it with one `HGETALL`.
//! - **A per-user index**: [`RedisStore::sessions_of`],
//!   [`RedisStore::revoke_all`] ("log out everywhere"),
//!   [`RedisStore::revoke_others`], and an optional
//!   [`max_sessions_per_user`](RedisStoreBuilder::max_sessions_per_user).
//!   The index is updated by the same Lua script as the session, so it is
//!   never out of step.
//! - **Concurrent saves that do not lose updates** ([`merge`]): two instances
//!   changing different keys of one session at the same time both keep their
//!   change. What the merge needs is kept in the store, beside the record:
//!   the application's data holds its own keys and nothing else.
//! - **Idle and absolute lifetimes** together, under the application's own
//!   deadline (see below), and [`RedisStore::touch`].
//! - **Fixation-safe id cycling** ([`cycle_id`]): the old id is deleted only
//!   once the new record is saved.
//! - **Revocation events** ([`revocation`]): logout and revocation are
//!   published so that live connections (WebSockets) can be closed.
//! - **A clear answer when Redis is down** ([`StoreErrorLayer`]): `503` with a
//!   message, not an empty `500`.
//!
//! ## Example
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use axum::{Router, routing::get};
//! use tower_sessions::{Expiry, Session, SessionManagerLayer};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = redis::Client::open("redis://127.0.0.1:6379")?;
//! let store = session_store::RedisStore::builder(client)
//!     .user_key("user_id")
//!     .idle_timeout(Duration::from_secs(30 * 60))
//!     .build()?;
//!
//! let app: Router = Router::new()
//!     .route("/me", get(|session: Session| async move {
//!         session.get::<String>("user_id").await.ok().flatten().unwrap_or_default()
//!     }))
//!     .layer(
//!         SessionManagerLayer::new(store.clone())
//!             .with_http_only(true)
//!             .with_same_site(tower_sessions::cookie::SameSite::Lax)
//!             .with_expiry(Expiry::OnInactivity(time::Duration::minutes(30))),
//!     )
//!     .layer(session_store::StoreErrorLayer::new());
//!
//! // Elsewhere: log a user out of every device.
//! let revoked = store.revoke_all("alice").await?;
//! # let _ = (app, revoked); Ok(()) }
//! ```
//!
//! ## When a session ends
//!
//! A session's deadline is
//! `min(deadline the application asked for, last use + idle timeout, creation + absolute timeout)`
//! ([`deadline`] has the rule and a worked trace). The first is the expiry
//! date tower-sessions gives the record at its last create or save (its
//! `Expiry`), and the store keeps it with the session; the other two are the
//! builder's [`idle_timeout`](RedisStoreBuilder::idle_timeout) and
//! [`absolute_timeout`](RedisStoreBuilder::absolute_timeout). A use is a save,
//! a read (unless [`extend_on_read(false)`](RedisStoreBuilder::extend_on_read))
//! or a [`touch`](RedisStore::touch); reads and touches never move the
//! deadline past the other two limits.
//!
//! What that guarantees: from its deadline on, `load` returns `None` for the
//! session (it checks the deadline itself, and Redis expires the key at the
//! same instant). So no session is returned after the deadline the
//! application last asked for, after its absolute lifetime, or more than the
//! idle timeout after its last use. Under `Expiry::OnInactivity(d)` with `d`
//! no longer than the idle timeout, a read does not extend a session at all:
//! it ends `d` after the last request that changed it, as tower-sessions
//! specifies and its `MemoryStore` does. (For reads to count as activity, use
//! the layer's `with_always_save(true)`, one write per request.)
//!
//! What it does not cover: a session may end earlier than the idle timeout
//! by up to the write step (a tenth of the idle timeout, one second at most),
//! never later; deadlines are taken from the application's clock, so hosts
//! must keep time (NTP); another service reading the hash itself must check
//! `expires_at` (see [`schema`]); and the cookie's own `Max-Age` is set by
//! tower-sessions, not by the store.
//!
//! ## Tracing
//!
//! Every operation runs in a debug-level span: `session.load`,
//! `session.create`, `session.save`, `session.delete`, `session.touch`,
//! `session.user_of`, and, with the user id as a field, `session.list`,
//! `session.revoke` and `session.bind`. No span or event records a session
//! id: it is the bearer credential of a logged-in user.
//!
//! ## What this crate does not do
//!
//! - **Spread one store over a cluster.** [`RedisStore::cluster_builder`]
//!   runs the store on a Redis Cluster with the prefix as a hash tag
//!   (`{session}:<id>`), so a session and its user's index share a slot and
//!   every script stays atomic. All of one store's sessions therefore live on
//!   one master; services that need more split their sessions over several
//!   prefixes. (Spreading sessions over slots would cost a pointer lookup on
//!   every request, or ids drawn to match a slot.)
//! - Session ids and data are never logged; a user id appears in the log of
//!   a revocation.
//!
//! Why not `tower-sessions-redis-store`: it runs on `fred`, stores each
//! session as one opaque MessagePack blob written last-writer-wins, and has
//! no per-user index; this crate is built on the `redis` crate the rest of
//! this family uses.

mod bases;
mod builder;
mod cycle;
pub mod deadline;
mod error;
mod failure;
mod keys;
pub mod merge;
pub mod revocation;
pub mod schema;
mod scripts;
mod stats;
mod store;
mod tower_store;

pub use builder::RedisStoreBuilder;
pub use cycle::cycle_id;
pub use error::{Error, Result};
pub use failure::{StoreErrorLayer, StoreErrorService, UNAVAILABLE_BODY};
pub use revocation::{Reason, Revocation, RevocationEvent, Revocations};
pub use stats::StoreStats;
pub use store::{RedisStore, SessionInfo};

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

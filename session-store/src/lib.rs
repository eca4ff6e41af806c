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
//!   change.
//! - **Idle and absolute lifetimes** together, and [`RedisStore::touch`].
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

mod builder;
mod conn;
mod cycle;
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

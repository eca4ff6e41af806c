//! # cache-aside: a two-tier look-aside cache that loads each key once per fleet
//!
//! ```no_run
//! use std::time::Duration;
//!
//! # #[derive(Clone, serde::Serialize, serde::Deserialize)] struct Item { name: String }
//! # async fn find(id: u64) -> Result<Option<Item>, std::io::Error> { Ok(None) }
//! # async fn demo() -> Result<(), cache_aside::Error> {
//! let client = redis::Client::open("redis://127.0.0.1:6379")?;
//! let cache = cache_aside::Cache::<u64, Item>::builder(client, "item")
//!     .ttl(Duration::from_secs(300))
//!     .ttl_jitter(0.1)
//!     .local(10_000, Duration::from_secs(30)) // in-process tier; omit for Redis only
//!     .negative_ttl(Duration::from_secs(30))  // remember "not found"
//!     .build()
//!     .await?;
//!
//! let id = 42;
//! let item = cache.get_or_load(&id, move || async move { find(id).await }).await?;
//! # let _ = item;
//! cache.invalidate(&id).await?; // after the database write commits
//! # Ok(())
//! # }
//! ```
//!
//! ## Keys
//!
//! A key is stored under its [`Display`](std::fmt::Display) rendering, in a
//! hash tag: `item:{42}`. The rendering is percent-encoded inside the tag,
//! so two different renderings never share an entry. Two keys that *render*
//! the same are one entry, though: give `K` a `Display` that shows every
//! part that tells keys apart (for a composite key, every field, with a
//! separator that cannot appear inside one).
//!
//! ## The read path
//!
//! 1. **Local tier** (moka), if configured: a fresh entry is returned at once.
//! 2. **One lookup per key per process.** Concurrent callers for a key share
//!    one Redis read and, if needed, one load.
//! 3. **Redis.** A fresh entry is returned (and kept locally). A stale one
//!    may be served while it is refreshed in the background
//!    ([`stale_while_revalidate`](CacheBuilder::stale_while_revalidate)).
//! 4. **One load per key per fleet.** On a miss the caller takes a short
//!    *fill lease* in Redis (`SET NX PX` with a random token). Callers in other
//!    processes that find the lease taken wait for the fill — woken by a
//!    pub/sub notification, bounded by the lease's remaining time — and read
//!    Redis. If the lease holder dies, its lease expires and the next caller
//!    loads. So a cold key under a stampede costs the database one query,
//!    not one per instance.
//!
//! ## Consistency
//!
//! - **Stale fills are rejected.** A fill writes only if its lease token is
//!   still current. [`invalidate`](Cache::invalidate) and
//!   [`put`](Cache::put) delete the lease, so a load that read the database
//!   before a write cannot overwrite the cache with what it read.
//! - **Local copies follow.** Invalidations are published on the
//!   namespace's channel and evict every instance's local copy. Pub/sub can
//!   miss messages while a connection is down, so the local tier is flushed
//!   whenever the subscription is re-established, and a read that races an
//!   invalidation does not refill the local tier.
//! - Call `invalidate` **after** the database commit (the classic bug: a
//!   rolled-back transaction whose cache update already happened).
//!
//! ## Early refresh
//!
//! - **XFetch** (Vattani et al., VLDB 2015): each read of a fresh entry may
//!   trigger a background refresh shortly before expiry, with a probability
//!   that grows as expiry nears and with the measured load time δ, tuned by
//!   β ([`early_refresh_beta`](CacheBuilder::early_refresh_beta)). Hot keys
//!   are refreshed before they expire, and only once (the fill lease).
//! - **Stale-while-revalidate**: serve a recently expired value, refresh once.
//! - **Stale-if-error**: if the loader fails, serve a value that expired at
//!   most this long ago, counted in [`CacheStats::stale_served`].
//!
//! ## When Redis is down
//!
//! Fail-open by default: reads fall back to the loader, and after a few
//! consecutive failures a circuit breaker skips Redis for a cooldown, so a
//! dead Redis does not add its timeout to every request. Fail-closed
//! ([`fail_closed`](CacheBuilder::fail_closed)) returns the error instead.
//! `put` and `invalidate` always report a Redis failure: a write the cache
//! did not see must not pass silently.
//!
//! ## Storage
//!
//! Keys are `{namespace}:{key}` with the key in a hash tag — `item:{42}`,
//! its lease `item:{42}:lease` — so both always hash to one Cluster slot.
//! [`Cache::builder`] connects to one Redis endpoint (a server, a replicated
//! primary, or a cluster proxy); [`Cache::cluster_builder`] to a Redis
//! Cluster, given some of its nodes' URLs.
//! Values are JSON by default (readable from any language), or MessagePack
//! ([`Codec::MessagePack`]); each entry also records its freshness and load
//! time. See `docs/cache-aside.md` for measurements.

mod breaker;
mod builder;
mod cache;
mod codec;
mod coherence;
mod entry;
mod error;
mod keys;
mod scripts;
mod single_flight;
mod stats;
mod xfetch;

pub use builder::CacheBuilder;
pub use cache::Cache;
pub use codec::Codec;
pub use error::{Error, Result};
pub use stats::CacheStats;

/// The README's examples, compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

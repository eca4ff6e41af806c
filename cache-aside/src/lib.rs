//! # cache-aside: a two-tier look-aside cache that loads each key once per fleet
//!
//! This crate will give a service the `@Cacheable` pattern without its classic
//! failure modes:
//!
//! - **Two tiers.** A local in-process tier ([moka](https://docs.rs/moka)) in front
//!   of Redis, in front of the caller's loader (usually a database query).
//! - **One load per key, across processes.** Concurrent callers in one process
//!   share one load; across processes a short fill lease in Redis lets one caller
//!   load while the others wait for its result, so a cold key under a stampede
//!   costs the database one query, not one per instance.
//! - **No stale fills.** A fill carries its lease token; an invalidation during a
//!   load revokes the lease, so a value read before the write cannot overwrite the
//!   fresh state.
//! - **Coherent invalidation.** Invalidating a key deletes it from Redis and evicts
//!   it from every instance's local tier.
//! - **Counters.** Hits per tier, misses, loads, load errors, stale values served,
//!   for export to any metrics system.
//!
//! The API is not published yet; this page describes the contract the crate is
//! being built against.

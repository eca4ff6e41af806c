//! # redlock: a distributed lock on Redis that keeps its lease while you hold it
//!
//! Mutual exclusion across processes — the stock decrement of a flash sale, a
//! scheduled job that must run on one instance only, a cache refill — with
//! what a Redisson `RLock` user expects, and what Rust crates have lacked:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! # async fn demo() -> Result<(), redlock::Error> {
//! let client = redis::Client::open("redis://127.0.0.1:6379")?;
//! let locks = redlock::LockManager::builder(client)
//!     .lease(Duration::from_secs(30)) // renewed every 10 s while held
//!     .build()
//!     .await?;
//!
//! // Wait for the lock, do the work, release it.
//! let guard = locks.lock("stock:100").await?;
//! let token = guard.fencing_token(); // pass to the resource you protect
//! # let _ = token;
//! guard.unlock().await?; // Err(NotOwner) if the lease had been lost
//!
//! // Or give up after 500 ms.
//! if let Some(guard) = locks.try_lock("stock:100", Duration::from_millis(500)).await? {
//!     guard.unlock().await?;
//! }
//!
//! // Or let the manager release it, and stop the work if the lease is lost.
//! let sold = locks
//!     .with_lock("stock:100", |held| async move { held.fencing_token() })
//!     .await?;
//! # let _ = sold;
//! # Ok(())
//! # }
//! ```
//!
//! ## How it works
//!
//! - **State in Redis, changed only by Lua.** The lock is a key holding its
//!   owner's random id, expiring with the lease. Acquire, renew and release
//!   are each one script (in `scripts/*.lua`); renewal and release check the
//!   owner, so a process that lost the lock can change nothing.
//! - **A watchdog.** While a guard lives, the manager's watchdog renews its lease every
//!   `lease / 3`. A crashed holder stops renewing and its lock frees itself
//!   after at most one lease. A renewal that fails or goes unanswered is
//!   retried with a short backoff for as long as the lease is known valid,
//!   so a network blip shorter than what is left of the lease costs nothing.
//!   If Redis says another owner holds the lock, or no renewal can be
//!   confirmed before the lease would expire, the guard's
//!   [`lost()`](LockGuard::lost) completes — before anyone else can acquire
//!   the lock; it is not just logged — and
//!   [`with_lock`](LockManager::with_lock) abandons the critical section.
//!   The watchdog stops the moment the guard is released.
//! - **Waiters sleep.** A waiter sleeps until a release is published on the
//!   lock's pub/sub channel — one subscription connection per manager, shared
//!   by all waiters — or until the holder's lease would run out, whichever
//!   comes first. No polling with random delays. Within a process, waiters
//!   for the same lock queue locally (FIFO) so only one of them contends in
//!   Redis at a time.
//! - **Fencing tokens.** Each acquisition takes a token from an `INCR` in the
//!   acquire script: strictly increasing per lock, across all holders. See
//!   [`fence`] for checking it at the protected resource: a fenced read
//!   raises the resource's fence, so a stale holder cannot write back what
//!   it read once a newer holder has looked.
//! - **Fair mode** ([`fair(true)`](LockManagerBuilder::fair)): waiters acquire
//!   in arrival order across all processes, through a queue in Redis; a
//!   waiter that died loses its place after
//!   [`fair_wait_timeout`](LockManagerBuilder::fair_wait_timeout).
//! - **Semaphores** ([`LockManager::semaphore`]): at most N holders at once,
//!   with leased permits renewed by the same watchdog.
//! - **Drop is safe.** A guard dropped without `unlock()` stops renewing at
//!   once and is released by a background task; dropping never blocks.
//!
//! ## Quorum
//!
//! [`LockManager::builder_quorum`] runs the Redlock algorithm over independent
//! Redis servers: a lock is held when a majority granted it within
//! `lease − elapsed − drift` (`drift = lease · 1 % + 2 ms`), each node asked
//! in parallel. After a short per-node timeout nobody waits for a node whose
//! answer can no longer change the outcome, so a dead node costs little; a
//! live but slow one is waited for while a majority is still possible, up to
//! a third of the lease. A partial acquisition is released everywhere; fewer
//! than a majority of answering nodes (down, refused, or silent for a third
//! of the lease) is [`Error::QuorumUnavailable`]. The watchdog renews on a
//! majority. Fencing
//! tokens stay strictly increasing across holders (every granting node's
//! counter is raised to the token handed out, and two majorities share a node).
//!
//! ## Redis Cluster
//!
//! [`LockManager::cluster_builder`] takes the cluster's seed nodes. All keys
//! of one lock share a hash tag — `redlock:{name}:lock`, `:fence`, `:queue`,
//! `:deadlines`, `:permits` — so they live in one slot and one script can
//! touch them all (fair mode's script uses four). Release notifications are
//! ordinary `PUBLISH`es, which a cluster delivers to subscribers on every
//! node, so the manager listens on the first seed only.
//!
//! ## Failure behaviour
//!
//! | what happens | what the holder sees |
//! |---|---|
//! | holder process crashes | nothing; its lock frees itself within one lease |
//! | holder paused past its lease (GC, SIGSTOP) | on resume: `lost()` fires, `unlock()` is `Err(NotOwner)`, and its fenced reads and writes are refused (`Err(Fenced)`) once a newer holder has touched the resource |
//! | Redis restarts (lock state lost) | the next renewal finds no lock: `lost()` fires |
//! | Redis unreachable during renewal, for less than what is left of the lease | nothing: the renewal is retried until it goes through (counted in [`LockStats::renewal_retries`]) |
//! | Redis unreachable during renewal, until the lease would expire | `lost()` fires by the end of the lease's known validity, before another holder can acquire it |
//! | Redis unreachable while acquiring | `Err(Error::Redis)` or `Err(Error::Timeout)` |
//! | a `lock()` future cancelled mid-acquisition | at worst the lock stays taken until its lease expires (no watchdog runs for it) |
//!
//! Counters for monitoring: [`LockManager::stats`].

mod backend;
mod builder;
mod error;
pub mod fence;
mod gate;
mod guard;
mod keys;
mod lease;
mod manager;
mod node;
mod quorum;
mod scripts;
mod semaphore;
mod shared;
mod stats;
mod waiting;
mod wakeups;
mod watchdog;

pub use builder::LockManagerBuilder;
pub use error::{Error, Result};
pub use guard::{HeldLock, LockGuard};
pub use manager::LockManager;
pub use semaphore::{Permit, Semaphore};
pub use stats::LockStats;

/// The README's examples, compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

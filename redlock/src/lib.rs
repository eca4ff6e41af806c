//! # redlock: a distributed lock on Redis that keeps its lease while you hold it
//!
//! This crate will give a process mutual exclusion with every other process that
//! talks to the same Redis: the stock decrement of a flash sale, a scheduled job
//! that must run on exactly one instance, a cache refill.
//!
//! The design it is built to, in the terms a Redisson `RLock` user knows:
//!
//! - **State in Redis, changed only by Lua.** Acquire, renew and release are each
//!   one script, so a renewal or release by a process that no longer owns the
//!   lock changes nothing.
//! - **A lease with a watchdog.** The lock is taken with a lease (30 s by
//!   default); while the guard lives a background task renews it every third of
//!   the lease. A crashed holder stops renewing, so the lock frees itself.
//! - **Waiters that sleep.** Waiters are woken through Redis pub/sub when the lock
//!   is released, over one subscription connection per lock manager, instead of
//!   polling with random delays.
//! - **Fencing tokens.** Every acquisition carries a token that strictly increases
//!   per key, so a resource can refuse a write from a holder whose lease expired
//!   while it was paused.
//! - **Loss is visible.** If a renewal fails and the lease runs out, the guard
//!   says so (`lost()`), and `unlock()` reports that the caller was no longer the
//!   owner instead of pretending all went well.
//!
//! The API is not published yet; this page describes the contract the crate is
//! being built against.

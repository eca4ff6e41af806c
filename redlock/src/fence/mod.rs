//! Fencing: the protected resource refuses the work of stale lock holders.
//!
//! A lease can expire while its holder is paused (a GC pause, a stopped
//! process, a slow network): another process acquires the lock, then the
//! first one wakes up and carries on, still believing it holds the lock. No
//! lock alone prevents this. The fix is at the resource: every acquisition
//! carries a [fencing token](crate::LockGuard::fencing_token) that strictly
//! increases, and the resource remembers the newest token it has seen (its
//! *fence*) and refuses anything older.
//!
//! ## Blind writes are not enough for read → modify → write
//!
//! A fence that only writes raise lets an update be lost. Holders A (token 15)
//! and B (token 16) increment a counter that holds 14, last written by
//! token 14:
//!
//! | step | A (token 15) | B (token 16) | fence raised on writes only | fence raised on reads too |
//! |---|---|---|---|---|
//! | 1 | reads 14, freezes | | fence 14 | fence 15 |
//! | 2 | | reads 14 | fence 14 | fence 16 |
//! | 3 | wakes, writes 15 | | accepted (15 > 14), fence 15 | **refused** (15 < 16) |
//! | 4 | | writes 15 | accepted (16 > 15): one increment lost | accepted |
//!
//! B's read left no trace, so A's stale write passed. The helpers here make a
//! holder's **read** raise the fence too, so the moment a newer holder has
//! looked at the resource, an older one can change nothing.
//!
//! ## What each helper protects
//!
//! | helper | protects | does not protect |
//! |---|---|---|
//! | [`read()`] then [`write()`] (or [`update()`]) on a Redis hash | read → modify → write: a write is refused once a newer holder has read or written | values you read elsewhere and fold in |
//! | [`set_if_newer`] on a Redis hash | a blind write (a value not derived from the resource) against older writers | read → modify → write: a newer holder's read is not seen (the table above) |
//! | `PgFence::raise` (feature `postgres`) first in a transaction | everything the transaction then reads and writes on that row | statements outside that transaction |
//!
//! A refused call returns [`Error::Fenced`](crate::Error::Fenced) and writes
//! nothing: abandon the work, its inputs are stale.
//!
//! ## In SQL
//!
//! Keep the fence in a column of the protected row and call
//! `PgFence::raise` (feature `postgres`) as the transaction's first statement on it. It raises
//! the fence (`UPDATE … SET fence = $token WHERE … AND fence <= $token`) and,
//! as any `UPDATE`, locks the row until the transaction ends, so:
//! - an older holder's `raise` finds a newer fence and is refused;
//! - a newer holder's `raise` waits for this transaction to commit or roll
//!   back, then reads what it wrote.
//!
//! ## Where tokens come from
//!
//! Tokens restart if the Redis that counts them loses its data (a restart
//! without persistence), so run it with AOF when you rely on fencing.

#[cfg(feature = "postgres")]
mod postgres;
mod redis_hash;

#[cfg(feature = "postgres")]
pub use postgres::PgFence;
pub use redis_hash::{read, set_if_newer, update, write};

//! Idempotency: make an at-least-once delivery have its effect once.
//!
//! A broker delivers a message again whenever it cannot be sure the first
//! delivery was processed (a consumer crashed before its ack, a connection
//! dropped, a publisher re-sent after losing a confirm). The handler sees the
//! same [`Message::id`](crate::Message::id) each time. An inbox records the
//! ids already processed:
//!
//! - `PgInbox` (feature `postgres`): the id is inserted **in the same
//!   database transaction** as the handler's effect. Either both commit or
//!   neither does, so the effect happens exactly once, whatever crashes when.
//! - `RedisInbox` (feature `redis`): for effects outside a database (an
//!   e-mail, a call to another service). A claim with `SET NX` and a TTL;
//!   weaker by nature: see its docs for the window that remains.
//!
//! Either one wraps a handler (`inbox.wrap(handler)`, given to the
//! consumer's `run`), so that the steps cannot be forgotten in one handler
//! of many.

#[cfg(any(feature = "postgres", feature = "redis"))]
mod guarded;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;

#[cfg(any(feature = "postgres", feature = "redis"))]
pub use guarded::Guarded;
#[cfg(feature = "postgres")]
pub use postgres::PgInbox;
#[cfg(feature = "redis")]
pub use redis::{Claim, RedisInbox};

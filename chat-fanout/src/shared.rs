//! What every part of a hub shares (its connection, settings, counters and
//! stop signal), in its own file so the router, rooms and recovery depend
//! on it rather than on the `Hub` facade.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::policy::SubscribeOptions;
use crate::stats::Counters;

/// What every part of a hub shares.
pub(crate) struct Shared {
    pub(crate) conn: redis_support::Connection,
    /// `SPUBLISH` / `SSUBSCRIBE` (cluster) instead of `PUBLISH` / `SUBSCRIBE`.
    pub(crate) sharded: bool,
    pub(crate) prefix: String,
    pub(crate) history: usize,
    /// The publish script records each room for an archive relay.
    pub(crate) durable_archive: bool,
    pub(crate) retention_ms: u64,
    pub(crate) page_size: usize,
    pub(crate) room_buffer: usize,
    pub(crate) subscribe_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) keepalive: Duration,
    pub(crate) presence_ttl: Duration,
    pub(crate) default_subscription: SubscribeOptions,
    pub(crate) counters: Counters,
    pub(crate) stop: CancellationToken,
}

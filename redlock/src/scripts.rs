//! The Lua scripts behind every state change, loaded once per process.
//!
//! `redis::Script` sends `EVALSHA` and falls back to `EVAL` (which also loads
//! the script) on `NOSCRIPT`, so a Redis restart or failover costs one extra
//! round trip, not an error.

use redis_support::script;

script!(pub(crate) ACQUIRE = include_str!("../scripts/acquire.lua"));
script!(pub(crate) ACQUIRE_FAIR = include_str!("../scripts/acquire_fair.lua"));
script!(pub(crate) LEAVE_QUEUE = include_str!("../scripts/leave_queue.lua"));
script!(pub(crate) RENEW = include_str!("../scripts/renew.lua"));
script!(pub(crate) RELEASE = include_str!("../scripts/release.lua"));
script!(pub(crate) RETRACT = include_str!("../scripts/retract.lua"));
script!(pub(crate) FORCE_UNLOCK = include_str!("../scripts/force_unlock.lua"));
script!(pub(crate) RAISE_FENCE = include_str!("../scripts/raise_fence.lua"));
script!(pub(crate) SET_IF_NEWER = include_str!("../scripts/set_if_newer.lua"));
script!(pub(crate) FENCED_READ = include_str!("../scripts/fenced_read.lua"));
script!(pub(crate) FENCED_WRITE = include_str!("../scripts/fenced_write.lua"));
script!(pub(crate) SEMAPHORE_ACQUIRE = include_str!("../scripts/semaphore_acquire.lua"));
script!(pub(crate) SEMAPHORE_RENEW = include_str!("../scripts/semaphore_renew.lua"));
script!(pub(crate) SEMAPHORE_RELEASE = include_str!("../scripts/semaphore_release.lua"));

//! The Lua scripts behind every multi-step change, loaded once per process
//! (`EVALSHA`, with `EVAL` on `NOSCRIPT`).

use redis_support::script;

script!(pub(crate) TAKE_LEASE = include_str!("../scripts/take_lease.lua"));
script!(pub(crate) RELEASE_LEASE = include_str!("../scripts/release_lease.lua"));
script!(pub(crate) FILL = include_str!("../scripts/fill.lua"));
script!(pub(crate) PUT = include_str!("../scripts/put.lua"));
script!(pub(crate) INVALIDATE = include_str!("../scripts/invalidate.lua"));

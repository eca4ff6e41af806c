//! The Lua scripts behind every multi-step change, loaded once per process
//! (`EVALSHA`, with `EVAL` on `NOSCRIPT`).

use redis_support::script;

script!(pub(crate) PUBLISH = include_str!("../scripts/publish.lua"));
script!(pub(crate) RECOVER = include_str!("../scripts/recover.lua"));
script!(pub(crate) PRESENCE_JOIN = include_str!("../scripts/presence_join.lua"));
script!(pub(crate) PRESENCE_SWEEP = include_str!("../scripts/presence_sweep.lua"));
#[cfg(feature = "kafka")]
script!(pub(crate) ARCHIVE_READ = include_str!("../scripts/archive_read.lua"));
#[cfg(feature = "kafka")]
script!(pub(crate) ARCHIVE_COMMIT = include_str!("../scripts/archive_commit.lua"));

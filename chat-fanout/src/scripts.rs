//! The Lua scripts behind every multi-step change, loaded once per process
//! (`EVALSHA`, with `EVAL` on `NOSCRIPT`).

use std::sync::LazyLock;

use redis::Script;

macro_rules! script {
    ($name:ident, $file:literal) => {
        pub(crate) static $name: LazyLock<Script> =
            LazyLock::new(|| Script::new(include_str!(concat!("../scripts/", $file))));
    };
}

script!(PUBLISH, "publish.lua");
script!(RECOVER, "recover.lua");
script!(PRESENCE_JOIN, "presence_join.lua");
script!(PRESENCE_SWEEP, "presence_sweep.lua");
#[cfg(feature = "kafka")]
script!(ARCHIVE_READ, "archive_read.lua");
#[cfg(feature = "kafka")]
script!(ARCHIVE_COMMIT, "archive_commit.lua");

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

script!(TAKE_LEASE, "take_lease.lua");
script!(RELEASE_LEASE, "release_lease.lua");
script!(FILL, "fill.lua");
script!(PUT, "put.lua");
script!(INVALIDATE, "invalidate.lua");

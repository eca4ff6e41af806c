//! The Lua scripts behind every change of a session or an index, loaded once
//! per process (`EVALSHA`, with `EVAL` on `NOSCRIPT`). Each is prefixed with
//! `scripts/common.lua`, the helpers they share.
//!
//! Each script derives its keys from the prefix in `ARGV[1]`, and is called
//! with one of them in `KEYS[1]` only so that a cluster client routes it to
//! the master owning the store's slot.

use std::sync::LazyLock;

use redis::Script;

macro_rules! script {
    ($name:ident, $file:literal) => {
        pub(crate) static $name: LazyLock<Script> = LazyLock::new(|| {
            Script::new(concat!(
                include_str!("../scripts/common.lua"),
                include_str!(concat!("../scripts/", $file))
            ))
        });
    };
}

script!(CREATE, "create.lua");
script!(SAVE, "save.lua");
script!(TOUCH, "touch.lua");
script!(DELETE, "delete.lua");
script!(BIND_USER, "bind_user.lua");
script!(REVOKE, "revoke.lua");
script!(LIST, "list.lua");

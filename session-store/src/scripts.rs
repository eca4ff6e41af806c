//! The Lua scripts behind every change of a session or an index, loaded once
//! per process (`EVALSHA`, with `EVAL` on `NOSCRIPT`). Each is prefixed with
//! `scripts/common.lua`, the helpers they share.
//!
//! Each script derives its keys from the prefix in `ARGV[1]`, and is called
//! with one of them in `KEYS[1]` only so that a cluster client routes it to
//! the master owning the store's slot.

use redis_support::script;

/// `scripts/common.lua` followed by the script `$file`, as one source.
macro_rules! with_common {
    ($file:literal) => {
        concat!(
            include_str!("../scripts/common.lua"),
            include_str!(concat!("../scripts/", $file))
        )
    };
}

script!(pub(crate) CREATE = with_common!("create.lua"));
script!(pub(crate) SAVE = with_common!("save.lua"));
script!(pub(crate) TOUCH = with_common!("touch.lua"));
script!(pub(crate) DELETE = with_common!("delete.lua"));
script!(pub(crate) BIND_USER = with_common!("bind_user.lua"));
script!(pub(crate) REVOKE = with_common!("revoke.lua"));
script!(pub(crate) LIST = with_common!("list.lua"));

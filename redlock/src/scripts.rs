//! The Lua scripts behind every state change, loaded once per process.
//!
//! `redis::Script` sends `EVALSHA` and falls back to `EVAL` (which also loads
//! the script) on `NOSCRIPT`, so a Redis restart or failover costs one extra
//! round trip, not an error.

use std::sync::LazyLock;

use redis::Script;

macro_rules! script {
    ($name:ident, $file:literal) => {
        pub(crate) static $name: LazyLock<Script> =
            LazyLock::new(|| Script::new(include_str!(concat!("../scripts/", $file))));
    };
}

script!(ACQUIRE, "acquire.lua");
script!(ACQUIRE_FAIR, "acquire_fair.lua");
script!(LEAVE_QUEUE, "leave_queue.lua");
script!(RENEW, "renew.lua");
script!(RELEASE, "release.lua");
script!(RETRACT, "retract.lua");
script!(RAISE_FENCE, "raise_fence.lua");
script!(SET_IF_NEWER, "set_if_newer.lua");
script!(FENCED_READ, "fenced_read.lua");
script!(FENCED_WRITE, "fenced_write.lua");
script!(SEMAPHORE_ACQUIRE, "semaphore_acquire.lua");
script!(SEMAPHORE_RENEW, "semaphore_renew.lua");
script!(SEMAPHORE_RELEASE, "semaphore_release.lua");

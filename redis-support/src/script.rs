//! Lua scripts, loaded once per process.
//!
//! `redis::Script` sends `EVALSHA` and, on `NOSCRIPT` (a restarted or
//! failed-over server that never saw the script), `EVAL`, which also loads
//! it: one extra round trip, never an error. The macro only declares the
//! script as a lazily built static, so each crate writes its scripts as
//! `script!(pub(crate) ACQUIRE = include_str!("../scripts/acquire.lua"))`,
//! the path resolved next to the file that names it.

/// Declares `static NAME: LazyLock<redis::Script>` built from `source` (any
/// `&'static str` expression: a literal, `include_str!(…)`, or a
/// `concat!(…)` of several, for scripts that share a prelude).
#[macro_export]
macro_rules! script {
    ($vis:vis $name:ident = $source:expr) => {
        $vis static $name: ::std::sync::LazyLock<$crate::__Script> =
            ::std::sync::LazyLock::new(|| $crate::__Script::new($source));
    };
}

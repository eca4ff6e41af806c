#![doc = include_str!("../README.md")]
//!
//! [`Connection`]: crate::Connection
//! [`script!`]: crate::script

mod connection;
mod script;

pub use connection::Connection;

#[doc(hidden)]
pub use redis::Script as __Script;

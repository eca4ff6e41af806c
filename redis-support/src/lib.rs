#![doc = include_str!("../README.md")]
//!
//! [`Connection`]: crate::Connection
//! [`Endpoint`]: crate::Endpoint
//! [`script!`]: crate::script
//! [`Subscription`]: crate::Subscription
//! [`Listener`]: crate::Listener

mod connection;
mod endpoint;
mod script;
pub mod subscription;

pub use connection::Connection;
pub use endpoint::Endpoint;
pub use subscription::{Event, Listener, Subscription};

#[doc(hidden)]
pub use redis::Script as __Script;

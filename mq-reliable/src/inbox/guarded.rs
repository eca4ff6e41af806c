//! Handlers wrapped by an inbox, so that no handler has to remember the
//! claim-and-record steps: [`RedisInbox::wrap`](super::RedisInbox::wrap) and
//! [`PgInbox::wrap`](super::PgInbox::wrap) take a handler and return one to
//! give the consumer's `run`.

use std::future::Future;
use std::pin::Pin;

use crate::outcome::Outcome;

/// The future a wrapped handler returns.
pub type Guarded = Pin<Box<dyn Future<Output = Result<(), Outcome>> + Send + 'static>>;

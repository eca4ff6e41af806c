//! # chat-fanout: every message to every subscriber on every instance, in order
//!
//! ```no_run
//! use futures::StreamExt;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Chat { from: String, text: String }
//!
//! # async fn demo() -> Result<(), chat_fanout::Error> {
//! let client = redis::Client::open("redis://127.0.0.1:6379")?;
//! let hub = chat_fanout::Hub::builder(client).history(1_000).build().await?;
//!
//! let mut sub = hub.subscribe::<Chat>("room:1").await?;
//! let offset = hub.publish("room:1", &Chat { from: "ann".into(), text: "hi".into() }).await?;
//! let envelope = sub.next().await.expect("open");
//! assert_eq!(envelope.offset, offset);
//!
//! // A client that saw offset 41 of epoch "k3xq..." catches up, page by page.
//! match hub.recover::<Chat>("room:1", 41, "k3xq...", 500).await? {
//!     chat_fanout::Recovery::Page { messages, more, .. } => { let _ = (messages, more); }
//!     chat_fanout::Recovery::Incomplete { from, .. } => { let _ = from; /* read the archive */ }
//! }
//! let _member = hub.presence("room:1").join("ann").await?;
//! # Ok(())
//! # }
//! ```
//!
//! Instances of a chat service (or any live-update service) share rooms
//! through Redis: a message published on any instance reaches every
//! subscriber of the room on every instance.
//!
//! - **Ordered offsets.** [`Hub::publish`] is one Lua script that numbers the
//!   message (the room's next offset, under the room's epoch), appends it to
//!   the room's Redis stream and publishes it (see [`Envelope`]).
//! - **One connection per hub.** All rooms share one Redis pub/sub connection
//!   (module `router`); a second local subscriber of a room costs Redis
//!   nothing.
//! - **Gap-free.** Pub/sub loses what is sent while a connection is down; each
//!   room's worker sees the offset jump (or the reconnection) and reads the
//!   missing messages from the stream before delivering more.
//! - **Recovery without a cap.** A client that comes back with
//!   `(offset, epoch)` is given what it missed page by page
//!   ([`Hub::recover`]), or told plainly that history no longer reaches back
//!   ([`Recovery::Incomplete`]).
//! - **Slow consumers cost only themselves** ([`SlowConsumer`]).
//! - **Redis Cluster**: [`Hub::cluster_builder`] uses sharded pub/sub
//!   (`SPUBLISH` / `SSUBSCRIBE`), every key of a room in one slot.
//! - **Presence** with heartbeats ([`Presence`]).
//! - **Archive** to Kafka and from there to PostgreSQL (feature `kafka`,
//!   module [`archive`]): crash-safe through an
//!   [`ArchiveRelay`](archive::ArchiveRelay) that tails the rooms' streams
//!   ([`HubBuilder::durable_archive`]), and a **WebSocket adapter** for axum
//!   (feature `axum`, module [`ws`]). Both features are on by default;
//!   `default-features = false` leaves the Redis core alone.
//!
//! Design, key layout, guarantees and measurements: `docs/chat-fanout.md`.

#[cfg(feature = "kafka")]
pub mod archive;
mod builder;
mod envelope;
mod error;
mod hub;
mod keys;
mod policy;
mod presence;
mod recovery;
mod room;
mod router;
mod scripts;
mod shard;
mod shared;
mod stats;
mod subscription;
#[cfg(feature = "axum")]
pub mod ws;

pub use builder::HubBuilder;
pub use envelope::{Envelope, Position};
pub use error::{Error, Result};
pub use hub::Hub;
pub use policy::{CloseReason, SlowConsumer, SubscribeOptions};
pub use presence::{Membership, Presence, PresenceEvent};
pub use recovery::Recovery;
pub use stats::HubStats;
pub use subscription::Subscription;

/// The README's examples, compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

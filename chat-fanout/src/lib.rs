//! # chat-fanout: every message to every subscriber on every instance, in order
//!
//! This crate will let instances of a chat service (or any live-update service)
//! share rooms through Redis: a message published on any instance reaches every
//! subscriber of the room on every instance.
//!
//! - **Ordered offsets.** Publishing is one Lua script that numbers the message
//!   (a per-room offset and an epoch), appends it to a per-room Redis stream and
//!   publishes it, so every subscriber sees a room in offset order.
//! - **Gap-free recovery.** Plain Redis pub/sub loses whatever is sent while a
//!   connection is down; a subscriber that sees an offset jump refills the gap from
//!   the stream, and a client that reconnects with its last offset is given what it
//!   missed, page by page, or told plainly that history no longer reaches back
//!   that far.
//! - **One connection per process.** All rooms share one Redis pub/sub connection;
//!   local subscribers are fed through bounded channels with an explicit policy for
//!   slow consumers.
//! - **An archive.** Every message can be written to Kafka (key = room, so a room
//!   stays ordered) for a worker to store in a database.
//!
//! The API is not published yet; this page describes the contract the crate is
//! being built against.

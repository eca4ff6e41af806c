//! # session-store: Redis sessions shared by every service, for tower-sessions
//!
//! This crate will provide a [`tower-sessions`](https://docs.rs/tower-sessions)
//! `SessionStore` on the `redis` crate, so that a user who logs in through one
//! service (the gateway) is recognised by every other service (orders, chat) that
//! reads the same Redis, as Spring Session Data Redis does.
//!
//! What it adds to a plain store:
//!
//! - **A readable schema.** One Redis hash per session (data as JSON, expiry,
//!   version, user id), documented so another service or language can read it.
//! - **A per-user index.** List a user's sessions, revoke them all ("log out
//!   everywhere"), or all but the current one.
//! - **Safe concurrent saves.** Saves are versioned; when two instances change
//!   different fields of one session at the same time, both changes survive.
//! - **Idle and absolute lifetimes**, and a `touch` that extends a session without
//!   rewriting its data.
//!
//! The API is not published yet; this page describes the contract the crate is
//! being built against.

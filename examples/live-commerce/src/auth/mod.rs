//! Accounts and the shared session: the auth service.
//!
//! | file | what it is |
//! |---|---|
//! | [`routes`] | `/api/auth/signup`, `login`, `logout`, `logout-all`, `me` |
//! | [`session`] | the shared Redis session, [`CurrentUser`](session::CurrentUser), [`Admin`](session::Admin) |
//! | [`password`] | argon2id, off the runtime, bounded; the strength rules |
//! | [`accounts`] | the `accounts` table |
//! | [`client`] | the buyer's side: sign up, log in, the cookie |
//! | [`login_limit`] | failed logins per account and per address, in Redis |
//!
//! Who a caller is comes from the session and nothing else: a service
//! behind the gateway reads the session the auth service wrote, from the
//! same Redis, with the cookie the gateway forwards.

pub mod accounts;
pub mod client;
pub mod login_limit;
pub mod password;
pub mod routes;
pub mod session;

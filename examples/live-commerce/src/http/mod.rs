//! What every HTTP service does to every request, whatever its role.
//!
//! | file | what it is |
//! |---|---|
//! | [`edge`] | at the front door only: drop what a client may not claim (`X-Forwarded-*`, `X-Request-Id`), say who the client is |
//! | [`client_addr`] | the client's address, from the peer or a trusted proxy's `X-Forwarded-For` |
//! | [`cross_site`] | refuse state-changing requests a browser sent from another site |
//! | [`trace`] | a request id and a tracing span per request |

pub mod client_addr;
pub mod cross_site;
pub mod edge;
pub mod trace;

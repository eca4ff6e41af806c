//! Health and metrics for every service process: `GET /healthz`, `GET
//! /readyz`, `GET /metrics`.
//!
//! | endpoint | answers | touches |
//! |---|---|---|
//! | `/healthz` | `200` while the process serves HTTP | nothing |
//! | `/readyz` | `200` when every [`Probe`] passed, else `503 NOT_READY`; lists each dependency with `ok`, `roundTripMs`, `error` | each dependency, once, concurrently, under a deadline |
//! | `/metrics` | Prometheus text: the HTTP metrics of [`track_requests`] and the crates' counters of each [`StatsSource`] | the crates' in-memory counters |
//!
//! Why two health endpoints: a process whose Redis is down is alive (a
//! restart would not help) but not ready (it cannot serve). The gateway
//! routes on `/healthz`; an operator, a deployment or a test waiting for
//! the system asks `/readyz`. See [`health`] for the body.
//!
//! # Wiring a role
//!
//! ```
//! use axum::Router;
//! use axum::routing::get;
//! use futures::FutureExt;
//! use live_commerce::observe::{self, Observability, Probe};
//!
//! let observability = Observability::new("catalog")
//!     .probe(Probe::from_fn("upstream", || async { Ok(()) }.boxed()));
//! let app: Router = Router::new()
//!     .route("/api/items", get(|| async { "[]" }))
//!     .merge(observability.routes())
//!     // Last, so it wraps everything: every route, and the fallback (404s).
//!     .layer(axum::middleware::from_fn_with_state("catalog", observe::track_requests));
//! # let _ = app;
//! ```
//!
//! Put the layer on after the last `merge`: a router merged in later keeps
//! no layer of the other, and the merged router's fallback is a new one, so
//! its `404`s would go uncounted.
//!
//! A process has one registry ([`metrics`] explains why and what it
//! holds); every server in it adds its samples with its own `role` label.

pub mod health;
pub mod metrics;
mod observability;
mod probe;
mod stats;

pub use metrics::track_requests;
pub use observability::Observability;
pub use probe::{Probe, ProbeOutcome};
pub use stats::StatsSource;

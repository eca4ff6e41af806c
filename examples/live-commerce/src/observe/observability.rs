//! [`Observability`]: one role's probes and stats sources, served as
//! `/healthz`, `/readyz` and `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::health;
use super::metrics::{CONTENT_TYPE, prometheus};
use super::probe::Probe;
use super::stats::StatsSource;

/// What a role's health and metrics endpoints report: its probes (for
/// `/readyz`) and its stats sources (for `/metrics`). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Observability {
    role: &'static str,
    probes: Vec<Probe>,
    sources: Vec<StatsSource>,
    probe_timeout: Duration,
}

impl Observability {
    /// Endpoints for `role` (a label: `"gateway"`, `"order"`, `"all"`, …),
    /// with no probe and no stats source yet. Installs the process's
    /// Prometheus registry if no server has yet.
    pub fn new(role: &'static str) -> Self {
        prometheus();
        Self {
            role,
            probes: Vec::new(),
            sources: Vec::new(),
            probe_timeout: Duration::from_secs(2),
        }
    }

    /// Adds a dependency `/readyz` checks.
    #[must_use]
    pub fn probe(mut self, probe: Probe) -> Self {
        self.probes.push(probe);
        self
    }

    /// Adds counters `/metrics` exports.
    #[must_use]
    pub fn stats(mut self, source: StatsSource) -> Self {
        self.sources.push(source);
        self
    }

    /// How long each probe may take before it counts as failed. Defaults to
    /// 2 s: well above a healthy local round trip, and below the usual
    /// timeout of whatever polls `/readyz`.
    #[must_use]
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// The role label.
    pub fn role(&self) -> &'static str {
        self.role
    }

    /// `GET /healthz`, `GET /readyz` and `GET /metrics`, with their own
    /// state: `.merge()` it into a role's `Router<()>`.
    pub fn routes(&self) -> Router {
        Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(scrape))
            .with_state(Arc::new(self.clone()))
    }

    /// The Prometheus page: every stats source copied in, then rendered.
    pub fn render(&self) -> String {
        for source in &self.sources {
            source.export(self.role);
        }
        prometheus().render()
    }
}

async fn healthz(State(observability): State<Arc<Observability>>) -> Response {
    health::alive(observability.role)
}

async fn readyz(State(observability): State<Arc<Observability>>) -> Response {
    let outcomes = health::check_all(&observability.probes, observability.probe_timeout).await;
    health::readiness(observability.role, &outcomes)
}

async fn scrape(State(observability): State<Arc<Observability>>) -> Response {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        observability.render(),
    )
        .into_response()
}

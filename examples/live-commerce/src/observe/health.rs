//! Liveness (`GET /healthz`) and readiness (`GET /readyz`).
//!
//! The two answer different questions, and are used differently:
//!
//! - **Alive** means the process runs and its HTTP server answers. It touches
//!   no dependency, so it stays `200` while Redis is down: restarting the
//!   process would not bring Redis back. The gateway routes on it.
//! - **Ready** means every dependency the role needs answered a real round
//!   trip just now. All probes run at once, each under its own deadline, so
//!   the answer takes as long as the slowest probe (at most the timeout),
//!   not their sum. One failure makes it `503`; the body lists every
//!   dependency either way, so the failing one and the slow one are both in
//!   plain sight:
//!
//! ```text
//! 503 {"success": false,
//!      "error": {"code": "NOT_READY", "message": "not ready: redis failed"},
//!      "data": {"status": "not ready", "role": "order", "dependencies": [
//!        {"name": "postgres", "ok": true,  "roundTripMs": 0.8},
//!        {"name": "redis",    "ok": false, "roundTripMs": 0.3, "error": "Connection refused"}]}}
//! ```

use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::probe::{Probe, ProbeOutcome};
use crate::api;

/// The `/healthz` answer: `200 {"success": true, "data": {"status": "ok", "role": …}}`.
pub fn alive(role: &'static str) -> Response {
    api::ok(json!({"status": "ok", "role": role})).into_response()
}

/// Runs every probe concurrently, each failing after `timeout`; the outcomes
/// come back in the probes' order.
pub async fn check_all(probes: &[Probe], timeout: Duration) -> Vec<ProbeOutcome> {
    futures::future::join_all(probes.iter().map(|probe| probe.check(timeout))).await
}

/// The `/readyz` answer for `outcomes`: `200` when all passed, `503
/// NOT_READY` naming the failed ones otherwise (see the module docs).
pub fn readiness(role: &'static str, outcomes: &[ProbeOutcome]) -> Response {
    let (status, body) = readiness_body(role, outcomes);
    (status, Json(body)).into_response()
}

/// The status and JSON body of [`readiness`].
fn readiness_body(role: &'static str, outcomes: &[ProbeOutcome]) -> (StatusCode, Value) {
    let dependencies: Vec<Value> = outcomes.iter().map(dependency).collect();
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|outcome| !outcome.ok())
        .map(|outcome| outcome.name)
        .collect();
    if failed.is_empty() {
        let data = json!({"status": "ready", "role": role, "dependencies": dependencies});
        return (StatusCode::OK, json!({"success": true, "data": data}));
    }
    let data = json!({"status": "not ready", "role": role, "dependencies": dependencies});
    let message = format!("not ready: {} failed", failed.join(", "));
    let body = json!({
        "success": false,
        "error": {"code": "NOT_READY", "message": message},
        "data": data,
    });
    (StatusCode::SERVICE_UNAVAILABLE, body)
}

/// One dependency's entry: name, `ok`, `roundTripMs` and, when it failed,
/// `error`.
fn dependency(outcome: &ProbeOutcome) -> Value {
    // Microsecond precision: enough for a local round trip, no float noise.
    let millis = (outcome.round_trip.as_secs_f64() * 1e6).round() / 1e3;
    let mut entry = json!({"name": outcome.name, "ok": outcome.ok(), "roundTripMs": millis});
    if let Some(error) = &outcome.error {
        entry["error"] = json!(error);
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(name: &'static str, micros: u64, error: Option<&str>) -> ProbeOutcome {
        ProbeOutcome {
            name,
            round_trip: Duration::from_micros(micros),
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn all_passing_is_ready_and_lists_each_round_trip() {
        let outcomes = [outcome("postgres", 812, None), outcome("redis", 1500, None)];
        let (status, body) = readiness_body("order", &outcomes);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({"success": true, "data": {"status": "ready", "role": "order", "dependencies": [
                {"name": "postgres", "ok": true, "roundTripMs": 0.812},
                {"name": "redis", "ok": true, "roundTripMs": 1.5},
            ]}})
        );
    }

    #[test]
    fn one_failure_is_not_ready_and_names_every_failed_dependency() {
        let outcomes = [
            outcome("postgres", 800, None),
            outcome("redis", 300, Some("Connection refused")),
            outcome("rabbitmq", 2_000_000, Some("no answer within 2s")),
        ];
        let (status, body) = readiness_body("worker", &outcomes);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["success"], json!(false));
        assert_eq!(body["error"]["code"], json!("NOT_READY"));
        assert_eq!(
            body["error"]["message"],
            json!("not ready: redis, rabbitmq failed")
        );
        assert_eq!(body["data"]["role"], json!("worker"));
        assert_eq!(
            body["data"]["dependencies"],
            json!([
                {"name": "postgres", "ok": true, "roundTripMs": 0.8},
                {"name": "redis", "ok": false, "roundTripMs": 0.3, "error": "Connection refused"},
                {"name": "rabbitmq", "ok": false, "roundTripMs": 2000.0, "error": "no answer within 2s"},
            ])
        );
    }

    #[test]
    fn a_role_without_dependencies_is_ready() {
        let (status, body) = readiness_body("gateway", &[]);
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"]["dependencies"], json!([]));
    }
}

//! The process's Prometheus registry, and the HTTP metrics every request
//! adds to it.
//!
//! # One registry per process
//!
//! The `metrics` facade has one global recorder per process, so the
//! registry is installed once, by whichever server asks first
//! ([`prometheus`]), and shared by every server of the process: `serve
//! --role all`, or the several servers a test starts. Their samples are told
//! apart by the `role` label. A thread drains the histograms every few
//! seconds (the exporter leaves that to its user), so memory stays bounded
//! however rarely `/metrics` is scraped.
//!
//! # What a request records
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `http_requests_total` | counter | `role`, `method`, `route`, `status` |
//! | `http_request_duration_seconds` | histogram ([`DURATION_BUCKETS`]) | `role`, `method`, `route` |
//!
//! `route` is the route's pattern (`/api/items/{id}`), never the path
//! itself, and `"unmatched"` for a request no route took (a `404`): a
//! client sending a million different paths adds one series, not a million.
//! `method` is bounded the same way: an extension method is `"OTHER"`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Requests answered, by role, method, route and status.
pub const REQUESTS: &str = "http_requests_total";

/// Time to answer a request, by role, method and route.
pub const DURATION: &str = "http_request_duration_seconds";

/// The buckets of [`DURATION`], in seconds: from a cache hit (1 ms) to a
/// request stuck behind a timeout (10 s).
pub const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The `route` of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// How often the histograms are drained.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The process's registry, installed on first use.
///
/// If another global recorder was installed first (a test harness, say),
/// that one keeps receiving the samples and this registry renders an empty
/// page; a warning says so.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = install();
        super::stats::describe();
        describe();
        spawn_upkeep(handle.clone());
        handle
    })
}

/// Installs the global recorder, or builds an uninstalled one if the
/// process already has a recorder.
fn install() -> PrometheusHandle {
    let builder = || {
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.into()), DURATION_BUCKETS)
            .expect("the bucket list is not empty")
    };
    builder().install_recorder().unwrap_or_else(|error| {
        tracing::warn!(%error, "a metrics recorder was installed already; /metrics will be empty");
        builder().build_recorder().handle()
    })
}

/// The HELP and unit lines of the HTTP metrics.
fn describe() {
    metrics::describe_counter!(REQUESTS, "HTTP requests answered.");
    metrics::describe_histogram!(DURATION, Unit::Seconds, "Time to answer an HTTP request.");
}

/// Drains the histograms every [`UPKEEP_INTERVAL`] on a thread of its own
/// (not a task: it must outlive whichever runtime installed the registry).
fn spawn_upkeep(handle: PrometheusHandle) {
    let upkeep = move || {
        loop {
            std::thread::sleep(UPKEEP_INTERVAL);
            handle.run_upkeep();
        }
    };
    if let Err(error) = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(upkeep)
    {
        tracing::warn!(%error, "no metrics upkeep thread; histograms drain at each scrape only");
    }
}

/// Middleware recording [`REQUESTS`] and [`DURATION`] for every request,
/// labelled with the role it is given as state:
///
/// ```
/// # let app: axum::Router = axum::Router::new();
/// let app = app.layer(axum::middleware::from_fn_with_state(
///     "catalog",
///     live_commerce::observe::track_requests,
/// ));
/// ```
///
/// Added with `Router::layer`, it sees the matched route (the router
/// matches before it runs its layers). The time is until the response's
/// head is ready, not until its body is sent.
pub async fn track_requests(
    State(role): State<&'static str>,
    request: Request,
    next: Next,
) -> Response {
    prometheus();
    let started = Instant::now();
    let method = method_label(request.method());
    let route = route_label(request.extensions().get::<MatchedPath>());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(REQUESTS, "role" => role, "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(DURATION, "role" => role, "method" => method, "route" => route)
        .record(started.elapsed());
    response
}

/// The `route` label: the matched route's pattern, or [`UNMATCHED`].
fn route_label(matched: Option<&MatchedPath>) -> String {
    matched.map_or(UNMATCHED, MatchedPath::as_str).to_string()
}

/// The `method` label: a standard method's name, `"OTHER"` for the rest.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    STANDARD
        .iter()
        .find(|standard| *standard == method)
        .map_or("OTHER", |standard| standard.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_methods_share_one_label() {
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(method_label(&Method::OPTIONS), "OPTIONS");
        let made_up = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&made_up), "OTHER");
    }

    #[test]
    fn a_request_no_route_took_is_unmatched() {
        assert_eq!(route_label(None), "unmatched");
    }

    #[tokio::test]
    async fn a_matched_request_is_labelled_with_its_pattern_not_its_path() {
        use axum::routing::get;
        use tower::ServiceExt;

        let app = axum::Router::new().route(
            "/api/items/{id}",
            get(|matched: MatchedPath| async move { route_label(Some(&matched)) }),
        );
        let request = Request::get("/api/items/42")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(&body[..], b"/api/items/{id}");
    }

    #[test]
    fn durations_are_histograms_with_the_configured_buckets() {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.into()), DURATION_BUCKETS)
            .unwrap()
            .build_recorder();
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!(DURATION, "route" => "/x").record(0.003);
        });
        let text = recorder.handle().render();
        assert!(
            text.contains(r#"http_request_duration_seconds_bucket{route="/x",le="0.005"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"http_request_duration_seconds_bucket{route="/x",le="0.0025"} 0"#),
            "{text}"
        );
    }
}

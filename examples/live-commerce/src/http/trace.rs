//! A request id and a tracing span for every request.
//!
//! The id is `X-Request-Id`: made here (a random UUID) when the request has
//! none, kept when it has one (behind the gateway, the gateway's), sent on
//! to the services the gateway calls, and returned in the response. Every
//! log line of a request carries it in the span `request{id=… method=…
//! route=…}`, so one id finds a request's lines in every service.

use axum::Router;
use axum::extract::MatchedPath;
use axum::http::Request;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// `router` with the id and the span on every request.
pub fn traced(router: Router) -> Router {
    let span = |request: &Request<axum::body::Body>| {
        let id = request
            .headers()
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("-");
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str);
        tracing::info_span!("request", id, method = %request.method(), route)
    };
    router
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

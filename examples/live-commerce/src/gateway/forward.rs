//! Sending one request on to an instance of the role that serves it.
//!
//! hyper's client does the HTTP (connection pool, keep-alive, framing);
//! what is decided here is what only a gateway can know:
//!
//! - **The body is read first**, up to the body limit (`413` past it), so a
//!   request can be sent again to another instance.
//! - **Failover without double effects.** An instance that refused the
//!   connection never saw the request: it is marked down and the next
//!   instance gets it. A failure after the request was sent is retried only
//!   for `GET`/`HEAD`; an order (`POST`) that may have been taken is not
//!   sent twice: the client gets `502 UPSTREAM_FAILED` and decides.
//! - **Hop-by-hop headers** (`Connection`, `Keep-Alive`, `TE`, `Upgrade`,
//!   `Transfer-Encoding`, …, and any named in `Connection`) belong to one
//!   connection and are dropped both ways (RFC 9110 §7.6.1). `Host` is
//!   kept, so the services see the name the client used (the cross-site
//!   check compares it with `Origin`).
//!
//! Why not `axum-reverse-proxy`: it answers every upstream error with the
//! same `502`, so a caller cannot tell "never reached the instance" (safe
//! to send elsewhere) from "the instance may have acted on it" (not safe
//! for a POST), and it forwards hop-by-hop headers as they came.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Full, Limited};

use crate::api::ApiError;
use crate::gateway::upstream::{HttpClient, Instance, Pool};
use crate::server::BODY_LIMIT;

/// How long an instance may take to answer before the client gets `504`.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

/// Forwards `request` to an instance of `pool`.
pub async fn forward(client: &HttpClient, pool: &Pool, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let body = match Limited::new(body, BODY_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BODY_TOO_LARGE",
                "the request body is too large",
            )
            .into_response();
        }
    };
    strip_hop_by_hop(&mut parts.headers);
    let candidates = pool.candidates();
    if candidates.is_empty() {
        return no_instance(pool.role);
    }
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let idempotent = matches!(parts.method, Method::GET | Method::HEAD);
    for instance in candidates {
        let upstream = build_request(&parts, instance, &path, body.clone());
        let sent = tokio::time::timeout(UPSTREAM_TIMEOUT, client.request(upstream)).await;
        match sent {
            Ok(Ok(response)) => {
                instance.mark(true);
                return into_response(response);
            }
            Ok(Err(error)) if error.is_connect() => instance.mark(false),
            Ok(Err(error)) if idempotent => {
                tracing::warn!(instance = %instance.base, %error, "upstream failed; trying the next");
            }
            Ok(Err(error)) => {
                tracing::error!(instance = %instance.base, %error, "upstream failed after the request was sent");
                return ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "UPSTREAM_FAILED",
                    format!(
                        "the {} service failed while answering; the request may have been applied",
                        pool.role
                    ),
                )
                .into_response();
            }
            Err(_) => {
                return ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "UPSTREAM_TIMEOUT",
                    format!("the {} service did not answer in time", pool.role),
                )
                .into_response();
            }
        }
    }
    no_instance(pool.role)
}

/// `503 NO_UPSTREAM`: no instance of `role` could be reached.
pub fn no_instance(role: &str) -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "NO_UPSTREAM",
        format!("no {role} service instance is reachable; retry shortly"),
    )
    .into_response()
}

fn build_request(
    parts: &axum::http::request::Parts,
    instance: &Instance,
    path: &str,
    body: Bytes,
) -> axum::http::Request<Full<Bytes>> {
    let authority = instance.base.authority().map_or("", |a| a.as_str());
    let uri: Uri = format!("http://{authority}{path}")
        .parse()
        .unwrap_or_default();
    let mut request = axum::http::Request::new(Full::new(body));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = uri;
    *request.headers_mut() = parts.headers.clone();
    request
}

fn into_response(response: hyper::Response<hyper::body::Incoming>) -> Response {
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, Body::new(body))
}

/// Removes the headers that describe one connection, not the message.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in named {
        headers.remove(name.as_str());
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go_and_the_rest_stay() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, x-secret-hop"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("cookie", "session=abc"),
            ("host", "shop.example"),
            ("content-type", "application/json"),
        ] {
            headers.insert(name, value.parse().unwrap());
        }
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<_> = headers.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["content-type", "cookie", "host"]);
    }
}

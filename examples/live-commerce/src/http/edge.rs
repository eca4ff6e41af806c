//! The front door's duties (the gateway, or `serve --role all`).
//!
//! A client may not tell the services who it is or how it connected, so the
//! edge replaces, on the way in:
//! - `X-Forwarded-For` with the TCP peer's address (services trust this
//!   header from the gateway only, see [`client_addr`](crate::http::client_addr));
//! - `X-Forwarded-Proto` with `https` or `http`, as served;
//! - `X-Request-Id` with one of its own (a client-chosen id could collide
//!   with, or impersonate, another request's in the logs); the id goes back
//!   in the response.
//!
//! On the way out, when the edge serves TLS, every `Set-Cookie` gets
//! `Secure`, so a session cookie is never sent over plain HTTP. The services
//! behind the gateway speak plain HTTP on loopback and cannot know.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// How the edge is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// Whether clients reach it over TLS.
    pub tls: bool,
}

/// Middleware (with [`Edge`] as its state): the headers above.
pub async fn edge(State(edge): State<Edge>, mut request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let headers = request.headers_mut();
    for name in [
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "forwarded",
        "x-request-id",
    ] {
        headers.remove(name);
    }
    if let Some(peer) = peer {
        let value =
            HeaderValue::from_str(&peer.to_string()).expect("an IP address is a valid header");
        headers.insert("x-forwarded-for", value);
    }
    let proto = if edge.tls { "https" } else { "http" };
    headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
    let mut response = next.run(request).await;
    if edge.tls {
        secure_cookies(response.headers_mut());
    }
    response
}

/// Adds `Secure` to every `Set-Cookie` that lacks it.
pub fn secure_cookies(headers: &mut axum::http::HeaderMap) {
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    if cookies.is_empty() {
        return;
    }
    headers.remove(header::SET_COOKIE);
    for cookie in cookies {
        let secured = match cookie.to_str() {
            Ok(text) if !has_secure(text) => {
                HeaderValue::from_str(&format!("{text}; Secure")).unwrap_or(cookie)
            }
            _ => cookie,
        };
        headers.append(header::SET_COOKIE, secured);
    }
}

fn has_secure(cookie: &str) -> bool {
    cookie
        .split(';')
        .skip(1)
        .any(|attribute| attribute.trim().eq_ignore_ascii_case("secure"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cookie_ends_up_secure_once() {
        let mut headers = axum::http::HeaderMap::new();
        headers.append(
            header::SET_COOKIE,
            "session=a; HttpOnly; SameSite=Lax".parse().unwrap(),
        );
        headers.append(
            header::SET_COOKIE,
            "other=b; Secure; Path=/".parse().unwrap(),
        );
        secure_cookies(&mut headers);
        let cookies: Vec<_> = headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            cookies,
            [
                "session=a; HttpOnly; SameSite=Lax; Secure",
                "other=b; Secure; Path=/"
            ]
        );
        assert!(!has_secure("secure=1; HttpOnly"));
    }
}

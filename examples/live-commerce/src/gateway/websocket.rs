//! Passing a WebSocket through the gateway.
//!
//! A WebSocket starts as an HTTP/1.1 `GET` with `Connection: upgrade` and
//! `Upgrade: websocket`; the server answers `101 Switching Protocols` and
//! from then on the connection carries WebSocket frames both ways. Those
//! two headers are hop-by-hop (they describe one connection), so the
//! ordinary forwarding drops them; here they are sent on deliberately:
//!
//! 1. the handshake goes to a healthy instance of the role with its
//!    `Upgrade`, `Connection` and `Sec-WebSocket-*` headers (and the cookie:
//!    the instance authenticates the socket);
//! 2. anything but `101` (a `401`, a `403` for a foreign origin, …) goes
//!    back to the client as it is;
//! 3. on `101`, both connections are upgraded and the gateway copies bytes
//!    between them until either side closes. It does not read the frames:
//!    the instance enforces sizes, rates and revocations.
//!
//! A socket lives on the instance it reached; if that instance dies, the
//! socket closes and the client reconnects (and resumes) through the
//! gateway, which picks a live instance.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use http_body_util::Full;
use hyper_util::rt::TokioIo;

use crate::gateway::forward::{no_instance, strip_hop_by_hop};
use crate::gateway::upstream::{HttpClient, Pool};

/// Whether `headers` ask to switch to WebSocket.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    let has = |name, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|part| part.trim().eq_ignore_ascii_case(token))
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

/// Forwards a WebSocket handshake to an instance of `pool` and, once it
/// switched protocols, joins the two connections.
pub async fn forward(client: &HttpClient, pool: &Pool, mut request: Request) -> Response {
    let client_side = hyper::upgrade::on(&mut request);
    let (parts, _) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    for instance in pool.candidates() {
        let authority = instance.base.authority().map_or("", |a| a.as_str());
        let mut upstream = axum::http::Request::new(Full::default());
        *upstream.uri_mut() = match format!("http://{authority}{path}").parse() {
            Ok(uri) => uri,
            Err(_) => break,
        };
        *upstream.headers_mut() = upgrade_headers(&parts.headers);
        let mut response = match client.request(upstream).await {
            Ok(response) => response,
            Err(error) if error.is_connect() => {
                instance.mark(false);
                continue;
            }
            Err(error) => {
                tracing::warn!(instance = %instance.base, %error, "websocket handshake failed");
                break;
            }
        };
        instance.mark(true);
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            return Response::from_parts(parts, Body::new(body));
        }
        let instance_side = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            let (Ok(client), Ok(instance)) = tokio::join!(client_side, instance_side) else {
                return;
            };
            let (mut client, mut instance) = (TokioIo::new(client), TokioIo::new(instance));
            let _ = tokio::io::copy_bidirectional(&mut client, &mut instance).await;
        });
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, Body::empty());
    }
    no_instance(pool.role)
}

/// The client's headers minus the hop-by-hop ones, plus the two that ask
/// the instance to switch protocols.
fn upgrade_headers(client: &HeaderMap) -> HeaderMap {
    let mut headers = client.clone();
    strip_hop_by_hop(&mut headers);
    headers.insert(header::CONNECTION, "upgrade".parse().expect("valid"));
    headers.insert(header::UPGRADE, "websocket".parse().expect("valid"));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handshake_is_recognised_by_both_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, "keep-alive, Upgrade".parse().unwrap());
        assert!(!is_upgrade(&headers));
        headers.insert(header::UPGRADE, "WebSocket".parse().unwrap());
        assert!(is_upgrade(&headers));
        let sent = upgrade_headers(&headers);
        assert_eq!(sent[header::UPGRADE], "websocket");
        assert_eq!(sent[header::CONNECTION], "upgrade");
    }
}

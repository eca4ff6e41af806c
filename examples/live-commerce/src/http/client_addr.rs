//! The client's address, for per-address limits and logs.
//!
//! A service behind the gateway sees the gateway as its peer; the gateway
//! says who the client was in `X-Forwarded-For`, after replacing whatever
//! the client sent there (see [`edge`](crate::http::edge)). So the header is
//! believed only from a trusted peer: a loopback address, where the gateway
//! of this example runs. (A deployment with the gateway on another host
//! adds its address to the trusted peers; the services' ports must not be
//! reachable from outside, as with any service mesh.)

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::api::ApiError;

/// The client's IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .ok_or_else(|| ApiError::unavailable("the connection info", "missing"))?;
        Ok(ClientAddr(client_of(peer, forwarded_for(&parts.headers))))
    }
}

/// The last address in `X-Forwarded-For` (the one the nearest proxy added).
pub fn forwarded_for(headers: &axum::http::HeaderMap) -> Option<IpAddr> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok())
}

/// Who the client is, given the TCP peer and the forwarded address.
pub fn client_of(peer: IpAddr, forwarded: Option<IpAddr>) -> IpAddr {
    match forwarded {
        Some(client) if is_trusted_proxy(peer) => client,
        _ => peer,
    }
}

fn is_trusted_proxy(peer: IpAddr) -> bool {
    match peer {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forwarded_address_counts_only_from_a_trusted_peer() {
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let stranger: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(client_of(loopback, Some(client)), client);
        assert_eq!(client_of(stranger, Some(client)), stranger);
        assert_eq!(client_of(loopback, None), loopback);
    }

    #[test]
    fn the_last_forwarded_address_is_the_nearest_proxys() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-forwarded-for", "10.0.0.1, 203.0.113.7".parse().unwrap());
        assert_eq!(
            forwarded_for(&headers),
            Some("203.0.113.7".parse().unwrap())
        );
        headers.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(forwarded_for(&headers), None);
    }
}

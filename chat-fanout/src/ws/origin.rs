//! Which web pages may open a socket: the defence against cross-site
//! WebSocket hijacking.
//!
//! A browser sends the session cookie with a WebSocket handshake whatever
//! page opens it, and the same-origin policy does not apply to WebSockets:
//! without a check, any site a logged-in user visits could open a socket as
//! that user and chat in their name. What the browser does send, and a page
//! cannot forge, is the `Origin` header. So:
//!
//! - **No `Origin`**: not a browser (a native or server client, which has
//!   no ambient cookie to abuse): allowed; the auth hook still decides.
//! - **[`Origins::SameHost`]** (the default): the origin's `host[:port]`
//!   must equal the request's `Host`, the page came from this site.
//! - **[`Origins::List`]**: the origin must be one of these exactly
//!   (`https://shop.example`), for a front end served from another host.
//! - **[`Origins::Any`]**: no check (only for a public, cookie-less feed).
//!
//! A refused handshake gets `403` before the upgrade.

use axum::http::{HeaderMap, header};

/// The pages allowed to open sockets (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Origins {
    /// The page's origin must be the host the request was sent to.
    #[default]
    SameHost,
    /// One of these origins exactly (`scheme://host[:port]`, no path).
    List(Vec<String>),
    /// Any origin.
    Any,
}

impl Origins {
    /// Whether a handshake with `headers` may proceed.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        match self {
            Origins::Any => true,
            Origins::List(allowed) => allowed
                .iter()
                .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin)),
            Origins::SameHost => {
                let host = headers
                    .get(header::HOST)
                    .and_then(|host| host.to_str().ok());
                let origin_host = origin.split_once("://").map(|(_, rest)| rest);
                matches!((host, origin_host), (Some(h), Some(o)) if h.eq_ignore_ascii_case(o))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, origin.parse().unwrap());
        }
        headers
    }

    #[test]
    fn same_host_allows_the_site_itself_and_clients_without_an_origin() {
        let same = Origins::SameHost;
        assert!(same.allows(&headers(
            "shop.example:8000",
            Some("https://shop.example:8000")
        )));
        assert!(same.allows(&headers("shop.example", None)));
        assert!(!same.allows(&headers("shop.example", Some("https://evil.example"))));
        assert!(!same.allows(&headers("shop.example:8000", Some("https://shop.example"))));
        assert!(!same.allows(&headers("shop.example", Some("null"))));
    }

    #[test]
    fn a_list_allows_exactly_its_origins() {
        let list = Origins::List(vec!["https://shop.example/".into()]);
        assert!(list.allows(&headers("api.internal", Some("https://shop.example"))));
        assert!(!list.allows(&headers("api.internal", Some("http://shop.example"))));
        assert!(Origins::Any.allows(&headers("a", Some("https://evil.example"))));
    }
}

//! Refusing cross-site writes (CSRF).
//!
//! A browser attaches the session cookie to any request for this site, even
//! one a page on another site starts. So a state-changing request (anything
//! but `GET`, `HEAD`, `OPTIONS`) that carries a cookie must come from this
//! site's own pages. Browsers say where a request comes from:
//!
//! 1. `Sec-Fetch-Site` (every current browser): `same-origin` or `none`
//!    (typed in, a bookmark) pass; `same-site` and `cross-site` are refused.
//! 2. Without it, `Origin` (sent on every cross-origin POST since long
//!    before): it must name the host the request was sent to (`Host`).
//! 3. With neither, the client is not a browser (curl, a service, the load
//!    tool): nothing ambient was sent on its behalf, so it passes.
//!
//! This is the rule of Go's `http.CrossOriginProtection` and of the OWASP
//! cheat sheet's "Fetch Metadata" defence; it needs no token in the page.
//! `SameSite=Lax` on the cookie is the second wall: a cross-site POST does
//! not carry it at all in browsers that honour it.

use axum::extract::Request;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::ApiError;

/// Middleware: refuses a cross-site, cookie-carrying write with `403
/// CROSS_SITE_REQUEST`.
pub async fn refuse_cross_site(request: Request, next: Next) -> Response {
    if is_cross_site_write(request.method(), request.headers()) {
        return ApiError::forbidden(
            "CROSS_SITE_REQUEST",
            "this request came from another site; it was refused",
        )
        .into_response();
    }
    next.run(request).await
}

/// Whether a request with `method` and `headers` is a write a browser sent
/// from another site with this site's cookies.
pub fn is_cross_site_write(method: &Method, headers: &HeaderMap) -> bool {
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if safe || !headers.contains_key(header::COOKIE) {
        return false;
    }
    let text = |name| headers.get(name).and_then(|value| value.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return !matches!(site, "same-origin" | "none");
    }
    match text(header::ORIGIN.as_str()) {
        Some(origin) => !same_host(origin, text(header::HOST.as_str())),
        None => false,
    }
}

/// Whether `origin` (`scheme://host[:port]`) names `host` (`host[:port]`).
fn same_host(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn only_cookie_carrying_writes_from_elsewhere_are_refused() {
        let cookie = ("cookie", "session=abc");
        let host = ("host", "shop.example:8000");
        let post = &Method::POST;
        let cases = [
            (
                post,
                vec![cookie, host, ("sec-fetch-site", "cross-site")],
                true,
            ),
            (
                post,
                vec![cookie, host, ("sec-fetch-site", "same-site")],
                true,
            ),
            (
                post,
                vec![cookie, host, ("sec-fetch-site", "same-origin")],
                false,
            ),
            (post, vec![cookie, host, ("sec-fetch-site", "none")], false),
            (
                post,
                vec![cookie, host, ("origin", "https://evil.example")],
                true,
            ),
            (post, vec![cookie, host, ("origin", "null")], true),
            (
                post,
                vec![cookie, host, ("origin", "https://shop.example:8000")],
                false,
            ),
            (post, vec![cookie, host], false),
            (post, vec![host, ("sec-fetch-site", "cross-site")], false),
            (
                &Method::GET,
                vec![cookie, host, ("sec-fetch-site", "cross-site")],
                false,
            ),
            (
                &Method::DELETE,
                vec![cookie, host, ("origin", "https://evil.example")],
                true,
            ),
        ];
        for (method, pairs, refused) in cases {
            assert_eq!(
                is_cross_site_write(method, &headers(&pairs)),
                refused,
                "{method} {pairs:?}"
            );
        }
    }
}

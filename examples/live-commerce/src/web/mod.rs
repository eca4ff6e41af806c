//! The web front end: the pages a person uses, served by the gateway.
//!
//! The front end is plain HTML, CSS and JavaScript modules in
//! `examples/live-commerce/web/`, with **no build step**: the browser loads
//! the modules as they are written, so there is no bundler, no npm
//! dependency in the page and nothing to compile on a fresh machine. The
//! files are embedded in the binary ([`assets`]), so `serve` alone still
//! runs everything.
//!
//! | path | what |
//! |---|---|
//! | `/` | `index.html`, the single page; hash routes (`#/sale/7`) pick the view |
//! | `/assets/<file>` | the stylesheet, the modules, the icon |
//!
//! Every answer carries a strict Content-Security-Policy ([`headers`]):
//! scripts, styles and connections only from this origin, no inline
//! script, no framing. The pages build their DOM with `textContent`, never
//! `innerHTML`, so a chat message or an item name cannot become markup.
//!
//! For work on the pages, `LIVE_COMMERCE_WEB_DIR=examples/live-commerce/web`
//! makes the server read the files from that folder on every request
//! instead: edit, reload, no rebuild.

pub mod assets;
pub mod headers;

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use assets::Asset;

/// The environment variable naming a folder to serve the files from.
pub const WEB_DIR_VAR: &str = "LIVE_COMMERCE_WEB_DIR";

/// `/` and `/assets/{*file}`.
pub fn routes() -> Router {
    Router::new()
        .route("/", get(|headers: HeaderMap| serve("index.html", headers)))
        .route(
            "/assets/{*file}",
            get(|Path(file): Path<String>, headers: HeaderMap| async move {
                serve(&file, headers).await
            }),
        )
}

async fn serve(file: &str, request: HeaderMap) -> Response {
    let asset = match std::env::var_os(WEB_DIR_VAR) {
        Some(dir) => assets::from_dir(std::path::Path::new(&dir), file).await,
        None => assets::embedded(file),
    };
    match asset {
        Some(asset) => respond(asset, &request),
        None => (StatusCode::NOT_FOUND, headers::page_headers(), "not found").into_response(),
    }
}

/// `304` when the browser holds this version (`If-None-Match`), else the
/// file; `no-cache` makes the browser ask every time, so a new binary's
/// pages are seen at once.
fn respond(asset: Asset, request: &HeaderMap) -> Response {
    let etag = asset.etag();
    // `If-None-Match` compares weakly (RFC 9110 §13.1.2): `W/"x"` matches
    // `"x"`, and `*` matches any version.
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(Body::from(asset.body))
    };
    let headers = response.headers_mut();
    headers.extend(headers::page_headers());
    headers.insert(header::CONTENT_TYPE, asset.content_type.parse().unwrap());
    headers.insert(header::ETAG, etag.parse().unwrap());
    headers.insert(header::CACHE_CONTROL, "no-cache".parse().unwrap());
    response
}

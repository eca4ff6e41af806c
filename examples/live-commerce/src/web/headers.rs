//! The security headers every page and asset is served with.
//!
//! - `Content-Security-Policy`: scripts, styles, images and connections
//!   (`fetch`, and WebSockets: CSP 3 lets `'self'` match `ws:`/`wss:` on the
//!   same host) only from this origin; no inline script or style, no
//!   `<base>`, no framing, forms post only here. An injected `<script>` or
//!   `onclick=` would not run even if markup slipped through.
//! - `X-Content-Type-Options: nosniff`: a file is only what its type says.
//! - `Referrer-Policy: same-origin`: item and order ids in the URL do not
//!   leak to other sites.
//! - `X-Frame-Options: DENY`: the older browsers' form of `frame-ancestors`
//!   (clickjacking on the buy button).

use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// The policy, one directive per line for reading.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
     script-src 'self'; \
     style-src 'self'; \
     img-src 'self' data:; \
     connect-src 'self'; \
     object-src 'none'; \
     frame-ancestors 'none'; \
     base-uri 'none'; \
     form-action 'self'";

/// The headers above.
pub fn page_headers() -> HeaderMap {
    let pairs = [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
    ];
    pairs
        .into_iter()
        .map(|(name, value)| {
            (
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            )
        })
        .collect()
}

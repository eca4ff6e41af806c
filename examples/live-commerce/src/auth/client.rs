//! The client's side of accounts: sign up, log in, and the cookie to send
//! afterwards. Used by the load tool and the tests, which act as buyers.

use anyhow::Context;
use serde_json::json;

use crate::auth::session::COOKIE_NAME;

/// Signs `email` up (an existing account is fine) and logs in; returns the
/// `Cookie` header value to send with the buyer's requests
/// (`session=<id>`).
pub async fn sign_up_and_log_in(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let credentials = json!({"email": email, "password": password});
    let signup = http
        .post(format!("{base}/api/auth/signup"))
        .json(&credentials)
        .send()
        .await
        .context("signing up")?;
    let status = signup.status().as_u16();
    if status != 201 && status != 409 {
        anyhow::bail!(
            "sign-up of {email} answered {status}: {}",
            signup.text().await.unwrap_or_default()
        );
    }
    log_in(http, base, email, password).await
}

/// Logs `email` in; returns the `Cookie` header value (`session=<id>`).
pub async fn log_in(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let response = http
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .context("logging in")?;
    let status = response.status().as_u16();
    if status != 200 {
        anyhow::bail!(
            "login of {email} answered {status}: {}",
            response.text().await.unwrap_or_default()
        );
    }
    session_cookie(response.headers())
        .with_context(|| format!("the login of {email} set no session cookie"))
}

/// The `name=value` pair of the session cookie in `Set-Cookie` headers.
pub fn session_cookie(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|cookie| cookie.split(';').next())
        .find(|pair| pair.starts_with(&format!("{COOKIE_NAME}=")))
        .map(str::to_string)
}

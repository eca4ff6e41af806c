//! Two services (two axum apps on different ports, each with its own store)
//! sharing sessions through one Redis, as a gateway and an order service do.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;
use session_store::RedisStore;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

type Failure = (StatusCode, &'static str);

fn failed<E>(_: E) -> Failure {
    (StatusCode::INTERNAL_SERVER_ERROR, "session error")
}

async fn login(session: Session, Path(user): Path<String>) -> Result<&'static str, Failure> {
    session_store::cycle_id(&session).await.map_err(failed)?;
    session.insert("user_id", user).await.map_err(failed)?;
    Ok("logged in")
}

async fn me(session: Session) -> Result<String, Failure> {
    let user: Option<String> = session.get("user_id").await.map_err(failed)?;
    Ok(user.unwrap_or_else(|| "anonymous".into()))
}

async fn logout(session: Session) -> Result<&'static str, Failure> {
    session.flush().await.map_err(failed)?;
    Ok("bye")
}

/// Sets one key after a pause, so that concurrent requests overlap: both
/// load the same version before either saves.
async fn set_slowly(
    session: Session,
    Path((key, value)): Path<(String, String)>,
) -> Result<&'static str, Failure> {
    session.get::<Value>("user_id").await.map_err(failed)?;
    tokio::time::sleep(Duration::from_millis(150)).await;
    session.insert(&key, value).await.map_err(failed)?;
    Ok("set")
}

/// Two requests that meet here have both loaded the session before either
/// saves: a concurrent edit for certain, with no timing involved.
static BOTH_LOADED: std::sync::LazyLock<tokio::sync::Barrier> =
    std::sync::LazyLock::new(|| tokio::sync::Barrier::new(2));

/// Sets one key once the other request of the pair has loaded the session
/// too (see [`BOTH_LOADED`]).
async fn set_together(
    session: Session,
    Path((key, value)): Path<(String, String)>,
) -> Result<&'static str, Failure> {
    session.get::<Value>("user_id").await.map_err(failed)?;
    tokio::time::timeout(Duration::from_secs(10), BOTH_LOADED.wait())
        .await
        .map_err(|_| (StatusCode::REQUEST_TIMEOUT, "the other request never came"))?;
    session.insert(&key, value).await.map_err(failed)?;
    Ok("set")
}

async fn merged_saves(State(store): State<RedisStore>) -> String {
    store.stats().merged_saves.to_string()
}

async fn read(session: Session, Path(key): Path<String>) -> Result<Json<Option<Value>>, Failure> {
    Ok(Json(session.get(&key).await.map_err(failed)?))
}

async fn revoke_everywhere(
    State(store): State<RedisStore>,
    session: Session,
) -> Result<String, Failure> {
    let user: String = session
        .get("user_id")
        .await
        .map_err(failed)?
        .ok_or((StatusCode::UNAUTHORIZED, "log in first"))?;
    let revoked = store.revoke_all(&user).await.map_err(failed)?;
    Ok(revoked.to_string())
}

/// One service: its own store (own connection) on the shared Redis.
async fn service(
    redis_url: &str,
    configure: impl Fn(session_store::RedisStoreBuilder) -> session_store::RedisStoreBuilder,
) -> SocketAddr {
    let builder = RedisStore::builder(redis::Client::open(redis_url).unwrap())
        .user_key("user_id")
        .response_timeout(Duration::from_millis(500));
    let store = configure(builder).build().unwrap();
    let app = Router::new()
        .route("/login/{user}", post(login))
        .route("/me", get(me))
        .route("/logout", post(logout))
        .route("/set/{key}/{value}", post(set_slowly))
        .route("/set-together/{key}/{value}", post(set_together))
        .route("/stats/merged-saves", get(merged_saves))
        .route("/get/{key}", get(read))
        .route("/revoke-all", post(revoke_everywhere))
        .with_state(store.clone())
        .layer(
            SessionManagerLayer::new(store)
                .with_name("sid")
                .with_http_only(true)
                .with_same_site(SameSite::Lax)
                .with_secure(false)
                .with_expiry(Expiry::OnInactivity(time::Duration::minutes(30))),
        )
        .layer(session_store::StoreErrorLayer::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A browser: keeps the session cookie and sends it to every service (a
/// cookie for 127.0.0.1 is sent whatever the port).
struct Browser {
    http: reqwest::Client,
    cookie: Option<String>,
    last_set_cookie: Option<String>,
}

impl Browser {
    fn new() -> Self {
        Self {
            http: reqwest::Client::new(),
            cookie: None,
            last_set_cookie: None,
        }
    }

    async fn call(
        &mut self,
        method: &str,
        service: SocketAddr,
        path: &str,
    ) -> (StatusCode, String) {
        let url = format!("http://{service}{path}");
        let mut request = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url),
        };
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        if let Some(set_cookie) = response.headers().get("set-cookie") {
            let set_cookie = set_cookie.to_str().unwrap().to_string();
            let pair = set_cookie.split(';').next().unwrap().to_string();
            self.cookie = (!pair.ends_with('=')).then_some(pair);
            self.last_set_cookie = Some(set_cookie);
        }
        (status, response.text().await.unwrap())
    }

    async fn get(&mut self, service: SocketAddr, path: &str) -> String {
        let (status, body) = self.call("GET", service, path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn post(&mut self, service: SocketAddr, path: &str) -> String {
        let (status, body) = self.call("POST", service, path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

#[tokio::test]
async fn log_in_on_one_service_and_be_known_on_the_other() {
    let redis = testkit::redis().await;
    let gateway = service(&redis.url(), |b| b).await;
    let orders = service(&redis.url(), |b| b).await;
    let mut browser = Browser::new();

    assert_eq!(browser.get(orders, "/me").await, "anonymous");
    browser.post(gateway, "/login/alice").await;
    let set_cookie = browser.last_set_cookie.clone().unwrap();
    assert!(set_cookie.starts_with("sid="), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert_eq!(browser.get(orders, "/me").await, "alice");

    browser.post(gateway, "/logout").await;
    assert_eq!(browser.get(orders, "/me").await, "anonymous");
}

#[tokio::test]
async fn login_cycles_the_session_id() {
    let redis = testkit::redis().await;
    let gateway = service(&redis.url(), |b| b).await;
    let mut attacker_fixed = Browser::new();
    attacker_fixed.post(gateway, "/set/cart/1").await; // an anonymous session
    let before = attacker_fixed.cookie.clone().unwrap();

    attacker_fixed.post(gateway, "/login/alice").await;
    let after = attacker_fixed.cookie.clone().unwrap();
    assert_ne!(before, after, "login must issue a new id");
    assert_eq!(
        attacker_fixed.get(gateway, "/get/cart").await,
        "\"1\"",
        "data kept"
    );

    let mut with_old_id = Browser::new();
    with_old_id.cookie = Some(before);
    assert_eq!(
        with_old_id.get(gateway, "/me").await,
        "anonymous",
        "old id is dead"
    );
}

#[tokio::test]
async fn revoke_all_logs_out_every_device() {
    let redis = testkit::redis().await;
    let gateway = service(&redis.url(), |b| b).await;
    let orders = service(&redis.url(), |b| b).await;
    let (mut phone, mut laptop, mut other_user) = (Browser::new(), Browser::new(), Browser::new());
    phone.post(gateway, "/login/bob").await;
    laptop.post(orders, "/login/bob").await;
    other_user.post(gateway, "/login/carol").await;

    assert_eq!(laptop.post(orders, "/revoke-all").await, "2");
    assert_eq!(phone.get(gateway, "/me").await, "anonymous");
    assert_eq!(laptop.get(orders, "/me").await, "anonymous");
    assert_eq!(other_user.get(orders, "/me").await, "carol");
}

#[tokio::test]
async fn one_session_per_user_evicts_the_older_login() {
    let redis = testkit::redis().await;
    let gateway = service(&redis.url(), |b| b.max_sessions_per_user(1)).await;
    let orders = service(&redis.url(), |b| b.max_sessions_per_user(1)).await;
    let (mut phone, mut laptop) = (Browser::new(), Browser::new());
    phone.post(gateway, "/login/dana").await;
    assert_eq!(phone.get(orders, "/me").await, "dana");

    laptop.post(orders, "/login/dana").await;
    assert_eq!(laptop.get(gateway, "/me").await, "dana");
    assert_eq!(
        phone.get(orders, "/me").await,
        "anonymous",
        "older login evicted"
    );
}

#[tokio::test]
async fn concurrent_requests_on_two_services_keep_both_changes() {
    let redis = testkit::redis().await;
    let gateway = service(&redis.url(), |b| b).await;
    let orders = service(&redis.url(), |b| b).await;
    let mut browser = Browser::new();
    browser.post(gateway, "/login/erin").await;

    let (mut tab_a, mut tab_b) = (Browser::new(), Browser::new());
    tab_a.cookie = browser.cookie.clone();
    tab_b.cookie = browser.cookie.clone();
    let (a, b) = tokio::join!(
        tab_a.post(gateway, "/set-together/theme/dark"),
        tab_b.post(orders, "/set-together/cart/42"),
    );
    assert_eq!((a.as_str(), b.as_str()), ("set", "set"));

    assert_eq!(browser.get(orders, "/get/theme").await, "\"dark\"");
    assert_eq!(browser.get(gateway, "/get/cart").await, "\"42\"");
    assert_eq!(browser.get(gateway, "/me").await, "erin");
    // Both loaded the same version: the second save was merged into the
    // first, on whichever service saved second.
    let mut merged = 0;
    for service in [gateway, orders] {
        let count = Browser::new().get(service, "/stats/merged-saves").await;
        merged += count.parse::<u64>().unwrap();
    }
    assert_eq!(merged, 1, "exactly one save merged with the other");
}

#[tokio::test]
async fn redis_cut_answers_503_with_a_message() {
    let redis = testkit::redis().await;
    let proxy = testkit::proxy(redis.addr()).await;
    let gateway = service(&proxy.redis_url(), |b| b).await;
    let mut browser = Browser::new();
    browser.post(gateway, "/login/frank").await;

    proxy.cut();
    for (method, path) in [
        ("GET", "/me"),
        ("POST", "/login/frank"),
        ("POST", "/set/a/1"),
    ] {
        let (status, body) = browser.call(method, gateway, path).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{method} {path}: {body}"
        );
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "SESSION_STORE_UNAVAILABLE");
        assert!(body["error"]["message"].as_str().unwrap().contains("retry"));
    }
    // A visitor without a session cookie needs nothing from Redis to read
    // an empty session: unaffected.
    let mut anonymous = Browser::new();
    let (status, body) = anonymous.call("GET", gateway, "/get/none").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "null"));

    proxy.restore();
    let me = testkit::wait::until_ok(Duration::from_secs(5), || {
        let (http, cookie) = (browser.http.clone(), browser.cookie.clone().unwrap());
        async move {
            let response = http
                .get(format!("http://{gateway}/me"))
                .header("cookie", cookie)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if response.status() != 200 {
                return Err(response.status().to_string());
            }
            response.text().await.map_err(|e| e.to_string())
        }
    })
    .await
    .unwrap();
    assert_eq!(me, "frank", "the session survived the outage");
}

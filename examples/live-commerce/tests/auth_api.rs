//! Accounts and the shared session, through `serve --role all`: sign up,
//! log in, who am I, log out here or everywhere; the refusals (bad input,
//! cross-site writes, guessing) and that a refusal changes nothing.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use live_commerce::auth::client;
use live_commerce::auth::login_limit::{Limit, LoginLimits};
use live_commerce::catalog::{self, ItemKind, NewItem};
use live_commerce::server::{self, Role, Running, Settings};
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use support::Services;

const PASSWORD: &str = "correct horse battery staple";

struct Shop {
    running: Running,
    base: String,
    http: reqwest::Client,
}

/// What an answer was: status, body, and the `Set-Cookie` headers.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    cookies: Vec<String>,
    retry_after: Option<u64>,
}

impl Shop {
    async fn start(services: &Services, limits: LoginLimits) -> Self {
        let settings = Settings {
            role: Role::All,
            db_connections: 4,
            login_limits: limits,
            ..Settings::default()
        };
        let running = server::start(
            &services.config(),
            &settings,
            SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .await
        .unwrap();
        let base = format!("http://{}", running.addr.unwrap());
        Self {
            running,
            base,
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let cookies = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|value| value.to_str().unwrap().to_string())
            .collect();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|value| value.to_str().unwrap().parse().unwrap());
        let body = response.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            body,
            cookies,
            retry_after,
        }
    }

    fn post(&self, path: &str, cookie: Option<&str>, body: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        request
    }

    async fn me(&self, cookie: &str) -> Answer {
        self.send(
            self.http
                .get(format!("{}/api/auth/me", self.base))
                .header(COOKIE, cookie),
        )
        .await
    }

    async fn sign_up(&self, email: &str) -> Answer {
        let body = json!({"email": email, "password": PASSWORD}).to_string();
        self.send(self.post("/api/auth/signup", None, &body)).await
    }

    async fn log_in(&self, email: &str, password: &str) -> Answer {
        let body = json!({"email": email, "password": password}).to_string();
        self.send(self.post("/api/auth/login", None, &body)).await
    }

    async fn buyer(&self, name: &str) -> String {
        client::sign_up_and_log_in(
            &self.http,
            &self.base,
            &format!("{name}@shop.example"),
            PASSWORD,
        )
        .await
        .unwrap()
    }

    async fn accounts(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM accounts")
            .fetch_one(self.running.pool())
            .await
            .unwrap()
    }

    async fn orders(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM orders")
            .fetch_one(self.running.pool())
            .await
            .unwrap()
    }

    async fn item(&self) -> i64 {
        let item = NewItem {
            name: "lamp".into(),
            kind: ItemKind::General,
            price: 1_000,
            stock: 50,
            start_at: None,
        };
        catalog::create_item(self.running.pool(), self.running.redis(), &item)
            .await
            .unwrap()
    }
}

fn assert_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(answer.body["success"], json!(false), "{answer:?}");
    assert_eq!(answer.body["error"]["code"], json!(code), "{answer:?}");
}

fn session_of(answer: &Answer) -> String {
    answer
        .cookies
        .iter()
        .find_map(|cookie| {
            cookie
                .split(';')
                .next()
                .filter(|pair| pair.starts_with("session="))
        })
        .unwrap_or_else(|| panic!("no session cookie in {answer:?}"))
        .to_string()
}

#[tokio::test]
async fn sign_up_log_in_and_the_session_says_who_you_are() {
    let services = Services::start().await;
    let shop = Shop::start(&services, LoginLimits::default()).await;

    let created = shop.sign_up("Ann@Shop.example").await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.body["data"]["email"], json!("ann@shop.example"));
    assert!(
        created.cookies.is_empty(),
        "sign-up does not log in: {created:?}"
    );
    assert_error(
        &shop.sign_up("  ann@SHOP.example ").await,
        409,
        "EMAIL_TAKEN",
    );
    assert_eq!(shop.accounts().await, 1);

    let login = shop.log_in("ann@shop.example", PASSWORD).await;
    assert_eq!(login.status, 200, "{login:?}");
    assert_eq!(login.body["data"]["userId"], created.body["data"]["userId"]);
    let cookie = &login.cookies[0];
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing in {cookie}"
        );
    }
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP: no Secure ({cookie})"
    );
    let session = session_of(&login);
    let me = shop.me(&session).await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body["data"]["email"], json!("ann@shop.example"));
    assert_eq!(me.body["data"]["admin"], json!(false));
    assert_error(
        &shop
            .send(shop.http.get(format!("{}/api/auth/me", shop.base)))
            .await,
        401,
        "NOT_AUTHENTICATED",
    );
    assert_error(
        &shop
            .log_in("ann@shop.example", "wrong horse battery staple")
            .await,
        401,
        "INVALID_CREDENTIALS",
    );
    assert_error(
        &shop.log_in("nobody@shop.example", PASSWORD).await,
        401,
        "INVALID_CREDENTIALS",
    );
}

#[tokio::test]
async fn the_session_id_changes_at_login_and_the_old_one_is_dead() {
    let services = Services::start().await;
    let shop = Shop::start(&services, LoginLimits::default()).await;
    let first = shop.buyer("ann").await;
    let body = json!({"email": "ann@shop.example", "password": PASSWORD}).to_string();
    let again = shop
        .send(shop.post("/api/auth/login", Some(&first), &body))
        .await;
    assert_eq!(again.status, 200, "{again:?}");
    let second = session_of(&again);
    assert_ne!(
        first, second,
        "a login must not keep the session id it was sent"
    );
    assert_error(&shop.me(&first).await, 401, "NOT_AUTHENTICATED");
    assert_eq!(shop.me(&second).await.status, 200);
}

#[tokio::test]
async fn logout_ends_one_session_and_logout_all_ends_every_one() {
    let services = Services::start().await;
    let shop = Shop::start(&services, LoginLimits::default()).await;
    let laptop = shop.buyer("ann").await;
    let phone = client::log_in(&shop.http, &shop.base, "ann@shop.example", PASSWORD)
        .await
        .unwrap();
    let tablet = client::log_in(&shop.http, &shop.base, "ann@shop.example", PASSWORD)
        .await
        .unwrap();
    let bob = shop.buyer("bob").await;

    let out = shop
        .send(shop.post("/api/auth/logout", Some(&laptop), ""))
        .await;
    assert_eq!(out.status, 200, "{out:?}");
    assert_error(&shop.me(&laptop).await, 401, "NOT_AUTHENTICATED");
    assert_eq!(shop.me(&phone).await.status, 200);

    let all = shop
        .send(shop.post("/api/auth/logout-all", Some(&phone), ""))
        .await;
    assert_eq!(all.status, 200, "{all:?}");
    assert_eq!(all.body["data"]["revoked"], json!(2), "{all:?}");
    assert_error(&shop.me(&phone).await, 401, "NOT_AUTHENTICATED");
    assert_error(&shop.me(&tablet).await, 401, "NOT_AUTHENTICATED");
    let item = shop.item().await;
    let order = json!({"itemId": item, "count": 1}).to_string();
    assert_error(
        &shop
            .send(shop.post("/api/orders", Some(&tablet), &order))
            .await,
        401,
        "NOT_AUTHENTICATED",
    );
    assert_eq!(
        shop.me(&bob).await.status,
        200,
        "another user's sessions stay"
    );
    assert_error(
        &shop.send(shop.post("/api/auth/logout-all", None, "")).await,
        401,
        "NOT_AUTHENTICATED",
    );
}

#[tokio::test]
async fn an_x_user_id_header_is_nobody() {
    let services = Services::start().await;
    let shop = Shop::start(&services, LoginLimits::default()).await;
    let item = shop.item().await;
    let order = json!({"itemId": item, "count": 1}).to_string();
    let forged = shop
        .post("/api/orders", None, &order)
        .header("x-user-id", "ann");
    assert_error(&shop.send(forged).await, 401, "NOT_AUTHENTICATED");
    let forged = shop
        .post("/api/orders", Some("session=made-up"), &order)
        .header("x-user-id", "ann");
    assert_error(&shop.send(forged).await, 401, "NOT_AUTHENTICATED");
    assert_eq!(shop.orders().await, 0);
}

#[tokio::test]
async fn every_bad_input_to_the_auth_endpoints_is_refused_and_changes_nothing() {
    let services = Services::start().await;
    let shop = Shop::start(&services, LoginLimits::default()).await;
    let signup = |body: String| shop.send(shop.post("/api/auth/signup", None, &body));
    let credentials =
        |email: &str, password: &str| json!({"email": email, "password": password}).to_string();
    let cases = [
        (signup("{not json".into()).await, 400, "MALFORMED_JSON"),
        (
            signup(json!({"email": "ann@shop.example"}).to_string()).await,
            400,
            "MALFORMED_JSON",
        ),
        (
            signup(json!({"password": PASSWORD}).to_string()).await,
            400,
            "MALFORMED_JSON",
        ),
        (
            signup(json!({"email": 7, "password": PASSWORD}).to_string()).await,
            400,
            "MALFORMED_JSON",
        ),
        (
            signup(
                json!({"email": "a@b.example", "password": PASSWORD, "admin": true}).to_string(),
            )
            .await,
            400,
            "MALFORMED_JSON",
        ),
        (
            signup(json!(["ann@shop.example", PASSWORD]).to_string()).await,
            400,
            "EXPECTED_OBJECT",
        ),
        (
            signup(credentials("ann@shop.example", "")).await,
            400,
            "WEAK_PASSWORD",
        ),
        (
            signup(credentials("ann@shop.example", "short")).await,
            400,
            "WEAK_PASSWORD",
        ),
        (
            signup(credentials("ann@shop.example", "1234567890")).await,
            400,
            "WEAK_PASSWORD",
        ),
        (
            signup(credentials("ann@shop.example", &"x".repeat(200))).await,
            400,
            "WEAK_PASSWORD",
        ),
        (
            signup(credentials("not-an-email", PASSWORD)).await,
            400,
            "INVALID_EMAIL",
        ),
        (
            signup(credentials("", PASSWORD)).await,
            400,
            "INVALID_EMAIL",
        ),
        (
            signup(credentials(&"a".repeat(5000), PASSWORD)).await,
            413,
            "BODY_TOO_LARGE",
        ),
        (
            shop.send(
                shop.http
                    .post(format!("{}/api/auth/signup", shop.base))
                    .body(credentials("ann@shop.example", PASSWORD)),
            )
            .await,
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            shop.send(shop.post("/api/auth/login", None, "{not json"))
                .await,
            400,
            "MALFORMED_JSON",
        ),
        (
            shop.send(shop.post(
                "/api/auth/login",
                None,
                &json!({"email": "ann@shop.example"}).to_string(),
            ))
            .await,
            400,
            "MALFORMED_JSON",
        ),
        (
            shop.send(shop.post(
                "/api/auth/login",
                None,
                &credentials("ann@shop.example", &"p".repeat(5000)),
            ))
            .await,
            413,
            "BODY_TOO_LARGE",
        ),
    ];
    for (answer, status, code) in &cases {
        assert_error(answer, *status, code);
        assert!(answer.cookies.is_empty(), "{answer:?}");
    }
    assert_eq!(
        shop.accounts().await,
        0,
        "no refused sign-up created an account"
    );
}

#[tokio::test]
async fn a_cross_site_write_with_a_valid_cookie_is_refused() {
    let services = Services::start().await;
    let shop = Shop::start(&services, LoginLimits::default()).await;
    let ann = shop.buyer("ann").await;
    let item = shop.item().await;
    let order = json!({"itemId": item, "count": 1}).to_string();
    let from_elsewhere = [
        shop.post("/api/orders", Some(&ann), &order)
            .header("sec-fetch-site", "cross-site"),
        shop.post("/api/orders", Some(&ann), &order)
            .header("sec-fetch-site", "same-site"),
        shop.post("/api/orders", Some(&ann), &order)
            .header("origin", "https://evil.example"),
        shop.post("/api/auth/logout-all", Some(&ann), "")
            .header("origin", "null"),
    ];
    for request in from_elsewhere {
        assert_error(&shop.send(request).await, 403, "CROSS_SITE_REQUEST");
    }
    assert_eq!(shop.orders().await, 0);
    assert_eq!(
        shop.me(&ann).await.status,
        200,
        "the refused logout-all ended nothing"
    );

    let host = shop.base.trim_start_matches("http://").to_string();
    let same_origin = shop
        .post("/api/orders", Some(&ann), &order)
        .header("sec-fetch-site", "same-origin")
        .header("origin", format!("http://{host}"));
    assert_eq!(shop.send(same_origin).await.status, 202);
    let no_browser = shop.post("/api/orders", Some(&ann), &order);
    assert_eq!(shop.send(no_browser).await.status, 202);
    assert_eq!(shop.orders().await, 2);
}

#[tokio::test]
async fn failed_logins_past_the_limits_get_429_per_account_and_per_address() {
    let services = Services::start().await;
    let window = Duration::from_secs(60);
    let limits = LoginLimits {
        per_account: Limit {
            failures: 3,
            window,
        },
        per_address: Limit {
            failures: 6,
            window,
        },
    };
    let shop = Shop::start(&services, limits).await;
    for name in ["ann", "bob", "cid"] {
        shop.sign_up(&format!("{name}@shop.example")).await;
    }
    for _ in 0..3 {
        assert_error(
            &shop.log_in("ann@shop.example", "wrong horse battery").await,
            401,
            "INVALID_CREDENTIALS",
        );
    }
    let locked = shop.log_in("ann@shop.example", PASSWORD).await;
    assert_error(&locked, 429, "TOO_MANY_ATTEMPTS");
    let retry_after = locked.retry_after.expect("a Retry-After header");
    assert!((1..=60).contains(&retry_after), "{locked:?}");
    assert!(locked.cookies.is_empty());

    // Another account from the same address: its own limit is fresh, but
    // the address has 3 failures; 3 more reach the address limit.
    assert_eq!(shop.log_in("bob@shop.example", PASSWORD).await.status, 200);
    for _ in 0..3 {
        assert_error(
            &shop.log_in("bob@shop.example", "wrong horse battery").await,
            401,
            "INVALID_CREDENTIALS",
        );
    }
    assert_error(
        &shop.log_in("cid@shop.example", PASSWORD).await,
        429,
        "TOO_MANY_ATTEMPTS",
    );
}

#[tokio::test]
async fn the_admin_role_comes_from_the_command_line_only() {
    let services = Services::start().await;
    let shop = Shop::start(&services, LoginLimits::default()).await;
    let ann = shop.buyer("ann").await;
    let bob = shop.buyer("bob").await;
    let target = json!({"email": "bob@shop.example"}).to_string();
    let revoke = |cookie: String| {
        shop.send(shop.post("/api/admin/users/logout-all", Some(&cookie), &target))
    };
    assert_error(&revoke(ann.clone()).await, 403, "NOT_ADMIN");
    assert_eq!(shop.me(&bob).await.status, 200);

    let granted = std::process::Command::new(env!("CARGO_BIN_EXE_live-commerce"))
        .args(["users", "grant-admin", "ANN@shop.example"])
        .env("DATABASE_URL", services.postgres.url())
        .output()
        .unwrap();
    assert!(granted.status.success(), "{granted:?}");
    assert_eq!(
        shop.me(&ann).await.body["data"]["admin"],
        json!(true),
        "no new login needed"
    );
    let revoked = revoke(ann.clone()).await;
    assert_eq!(revoked.status, 200, "{revoked:?}");
    assert_eq!(revoked.body["data"]["revoked"], json!(1));
    assert_error(&shop.me(&bob).await, 401, "NOT_AUTHENTICATED");

    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_live-commerce"))
        .args(["users", "grant-admin", "nobody@shop.example"])
        .env("DATABASE_URL", services.postgres.url())
        .output()
        .unwrap();
    assert!(!missing.status.success());
}

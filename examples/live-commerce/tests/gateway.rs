//! The gateway in front of separate service processes: one login at the
//! gateway is known to the order service (another process), logout-all
//! ends it there too; instances of a role share the load, one killed, the
//! other answers every request; one frozen is skipped until it answers
//! again.

mod support;

use std::time::Duration;

use live_commerce::catalog::{self, ItemKind, NewItem};
use nix::sys::signal::Signal;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use support::{Instance, Services};

const PASSWORD: &str = "correct horse battery staple";

/// The auth process, `orders` order processes and a gateway over them.
struct System {
    /// Kept for the processes' lifetime.
    _auth: Instance,
    orders: Vec<Instance>,
    gateway: Instance,
    http: reqwest::Client,
    /// Kept for the processes' lifetime: the gateway reads its TLS files.
    _tls_files: Option<tempfile::TempDir>,
}

impl System {
    async fn start(services: &Services, orders: usize, tls: bool) -> Self {
        let auth = support::spawn_serve(services, &["--role", "auth"]).await;
        let mut instances = Vec::new();
        for _ in 0..orders {
            instances.push(
                support::spawn_serve(services, &["--role", "order", "--strategy", "lua"]).await,
            );
        }
        let order_urls: Vec<&str> = instances.iter().map(|i| i.url.as_str()).collect();
        let mut args = vec![
            "--role".to_string(),
            "gateway".into(),
            "--upstream".into(),
            format!("auth={}", auth.url),
            "--upstream".into(),
            format!("order={}", order_urls.join(",")),
            "--upstream".into(),
            format!("catalog={}", order_urls.join(",")),
        ];
        let mut http = reqwest::Client::builder();
        let tls_files = if tls {
            let (dir, pem) = tls_files();
            let path = |name: &str| dir.path().join(name).display().to_string();
            args.extend([
                "--tls-cert".into(),
                path("cert.pem"),
                "--tls-key".into(),
                path("key.pem"),
            ]);
            http =
                http.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap());
            Some(dir)
        } else {
            args.push("--no-tls".into());
            None
        };
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut gateway = support::spawn_serve(services, &args).await;
        // The certificate names localhost, not 127.0.0.1's URL form.
        gateway.url = gateway.url.replace("127.0.0.1", "localhost");
        Self {
            _auth: auth,
            orders: instances,
            gateway,
            http: http.build().unwrap(),
            _tls_files: tls_files,
        }
    }

    async fn post(
        &self,
        base: &str,
        path: &str,
        cookie: Option<&str>,
        body: Value,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self.http.post(format!("{base}{path}")).json(&body);
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (
            status,
            response.json().await.unwrap_or(Value::Null),
            headers,
        )
    }

    async fn get(&self, base: &str, path: &str, cookie: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{base}{path}"))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Signs `name` up and logs in through the gateway; the cookie and the
    /// `Set-Cookie` line.
    async fn log_in(&self, name: &str) -> (String, String) {
        let credentials = json!({"email": format!("{name}@shop.example"), "password": PASSWORD});
        let (status, body, _) = self
            .post(
                &self.gateway.url,
                "/api/auth/signup",
                None,
                credentials.clone(),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let (status, body, headers) = self
            .post(&self.gateway.url, "/api/auth/login", None, credentials)
            .await;
        assert_eq!(status, 200, "{body}");
        let set_cookie = headers
            .get(SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let cookie = live_commerce::auth::client::session_cookie(&headers).unwrap();
        (cookie, set_cookie)
    }

    /// `POST /api/orders` requests the order instance at `index` has served.
    async fn orders_served_by(&self, index: usize) -> f64 {
        let metrics = self
            .http
            .get(format!("{}/metrics", self.orders[index].url))
            .send()
            .await
            .unwrap();
        let text = metrics.text().await.unwrap();
        text.lines()
            .filter(|line| line.starts_with("http_requests_total{"))
            .filter(|line| {
                line.contains(r#"route="/api/orders""#) && line.contains(r#"method="POST""#)
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// A certificate for localhost in a temporary directory, and its PEM.
fn tls_files() -> (tempfile::TempDir, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem = certified.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &pem).unwrap();
    std::fs::write(
        dir.path().join("key.pem"),
        certified.signing_key.serialize_pem(),
    )
    .unwrap();
    (dir, pem)
}

async fn item(services: &Services, stock: i32) -> i64 {
    let pool = live_commerce::db::connect(services.postgres.url(), 1)
        .await
        .unwrap();
    let redis = redis::Client::open(services.redis.url()).unwrap();
    let redis = testkit::redis_manager(&redis).await.unwrap();
    let item = NewItem {
        name: "lamp".into(),
        kind: ItemKind::General,
        price: 1_000,
        stock,
        start_at: None,
    };
    catalog::create_item(&pool, &redis, &item).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_login_at_the_gateway_is_the_buyer_in_the_order_process_until_logout_all() {
    let services = Services::start().await;
    let system = System::start(&services, 1, true).await;
    assert!(
        system.gateway.url.starts_with("https://localhost:"),
        "{}",
        system.gateway.url
    );
    let (ann, set_cookie) = system.log_in("ann").await;
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} missing: {set_cookie}"
        );
    }
    let (_, me) = system.get(&system.gateway.url, "/api/auth/me", &ann).await;
    let user_id = me["data"]["userId"].as_str().unwrap().to_string();

    let lamp = item(&services, 10).await;
    let (status, placed, headers) = system
        .post(
            &system.gateway.url,
            "/api/orders",
            Some(&ann),
            json!({"itemId": lamp, "count": 2}),
        )
        .await;
    assert_eq!(status, 202, "{placed}");
    let request_id = headers
        .get("x-request-id")
        .expect("a request id")
        .to_str()
        .unwrap();
    assert!(uuid::Uuid::parse_str(request_id).is_ok(), "{request_id}");
    let forged_id = system
        .http
        .get(format!("{}/api/items", system.gateway.url))
        .header("x-request-id", "chosen-by-the-client")
        .send()
        .await
        .unwrap();
    let answered_id = forged_id
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        uuid::Uuid::parse_str(answered_id).is_ok(),
        "the edge makes its own id: {answered_id}"
    );
    let order_id = placed["data"]["orderId"].as_str().unwrap().to_string();
    let pool = live_commerce::db::connect(services.postgres.url(), 1)
        .await
        .unwrap();
    let buyer: String = sqlx::query_scalar("SELECT user_id FROM orders WHERE id = $1::uuid")
        .bind(&order_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        buyer, user_id,
        "the order process took the buyer from the session"
    );
    let (status, seen) = system
        .get(
            &system.gateway.url,
            &format!("/api/orders/{order_id}"),
            &ann,
        )
        .await;
    assert_eq!((status, &seen["data"]["count"]), (200, &json!(2)), "{seen}");

    // A second device, then logout-all at the gateway: the order process,
    // asked directly, knows neither session any more.
    let credentials = json!({"email": "ann@shop.example", "password": PASSWORD});
    let (_, _, headers) = system
        .post(&system.gateway.url, "/api/auth/login", None, credentials)
        .await;
    let phone = live_commerce::auth::client::session_cookie(&headers).unwrap();
    let (status, out, _) = system
        .post(
            &system.gateway.url,
            "/api/auth/logout-all",
            Some(&ann),
            json!({}),
        )
        .await;
    assert_eq!((status, &out["data"]["revoked"]), (200, &json!(2)), "{out}");
    let order = json!({"itemId": lamp, "count": 1});
    for cookie in [&ann, &phone] {
        let (status, refused, _) = system
            .post(
                &system.orders[0].url,
                "/api/orders",
                Some(cookie),
                order.clone(),
            )
            .await;
        assert_eq!(
            (status, &refused["error"]["code"]),
            (401, &json!("NOT_AUTHENTICATED")),
            "{refused}"
        );
        let (status, _, _) = system
            .post(
                &system.gateway.url,
                "/api/orders",
                Some(cookie),
                order.clone(),
            )
            .await;
        assert_eq!(status, 401);
    }
    let forged = system
        .http
        .post(format!("{}/api/orders", system.gateway.url))
        .header("x-user-id", &user_id)
        .json(&order);
    assert_eq!(
        forged.send().await.unwrap().status().as_u16(),
        401,
        "X-User-Id alone is nobody"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_order_instances_share_the_load_and_one_killed_the_other_answers_everything() {
    let services = Services::start().await;
    let mut system = System::start(&services, 2, false).await;
    let (ann, _) = system.log_in("ann").await;
    let lamp = item(&services, 1_000).await;
    let order = json!({"itemId": lamp, "count": 1});
    for _ in 0..20 {
        let (status, body, _) = system
            .post(
                &system.gateway.url,
                "/api/orders",
                Some(&ann),
                order.clone(),
            )
            .await;
        assert_eq!(status, 202, "{body}");
    }
    let served = [
        system.orders_served_by(0).await,
        system.orders_served_by(1).await,
    ];
    assert_eq!(
        served,
        [10.0, 10.0],
        "round robin over two healthy instances"
    );

    system.orders[0].process.kill9().await;
    for attempt in 0..30 {
        let (status, body, _) = system
            .post(
                &system.gateway.url,
                "/api/orders",
                Some(&ann),
                order.clone(),
            )
            .await;
        assert_eq!(status, 202, "order {attempt} after the kill: {body}");
    }
    assert_eq!(
        system.orders_served_by(1).await,
        40.0,
        "the survivor took every order"
    );
    let pool = live_commerce::db::connect(services.postgres.url(), 1)
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE item_id = $1")
        .bind(lamp)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 50, "every accepted order is there, none twice");
}

/// Whether the gateway's `/readyz` lists `instance` (its URL) as healthy.
async fn gateway_sees(system: &System, instance: &str) -> bool {
    let ready = system
        .http
        .get(format!("{}/readyz", system.gateway.url))
        .send()
        .await
        .unwrap();
    let body: Value = ready.json().await.unwrap();
    let authority = instance.trim_start_matches("http://");
    let dependencies = body["data"]["dependencies"]
        .as_array()
        .expect("a dependency list")
        .clone();
    dependencies
        .iter()
        .find(|dependency| dependency["name"] == json!(format!("order {authority}")))
        .unwrap_or_else(|| panic!("no probe of {authority} in {body}"))["ok"]
        == json!(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_instance_is_skipped_and_taken_back_once_it_answers() {
    let services = Services::start().await;
    let system = System::start(&services, 2, false).await;
    let (ann, _) = system.log_in("ann").await;
    let lamp = item(&services, 1_000).await;
    let order = json!({"itemId": lamp, "count": 1});
    let place = || async {
        let (status, body, _) = system
            .post(
                &system.gateway.url,
                "/api/orders",
                Some(&ann),
                order.clone(),
            )
            .await;
        assert_eq!(status, 202, "{body}");
    };
    let frozen = &system.orders[0];
    let before = system.orders_served_by(0).await;

    frozen.process.signal(Signal::SIGSTOP);
    let patience = Duration::from_secs(30);
    testkit::wait::until(
        patience,
        "the gateway marks the frozen instance down",
        || async { !gateway_sees(&system, &frozen.url).await },
    )
    .await;
    for _ in 0..10 {
        place().await;
    }
    frozen.process.signal(Signal::SIGCONT);
    testkit::wait::until(patience, "the gateway takes the instance back", || async {
        gateway_sees(&system, &frozen.url).await
    })
    .await;
    assert_eq!(
        system.orders_served_by(0).await,
        before,
        "nothing was sent to it while frozen"
    );
    for _ in 0..10 {
        place().await;
    }
    assert_eq!(
        system.orders_served_by(0).await,
        before + 5.0,
        "back in the turn"
    );
}

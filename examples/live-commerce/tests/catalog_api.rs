//! Catalog writes and cross-service reads: an admin creates and edits
//! items (everyone else is refused, bad bodies change nothing), an edit
//! reaches every catalog instance's cached copy and the order service's
//! own cache, and orders for items the order service has read keep being
//! taken while the catalog is down (stale-if-error).

mod support;

use std::time::Duration;

use live_commerce::server::{Role, Running, Settings};
use live_commerce::strategy::Strategy;
use reqwest::header::COOKIE;
use serde_json::{Value, json};
use support::Services;
use support::shop::{assert_error, send};

/// Fresh for a second only, so the outage below outlasts every entry.
const TTL: Duration = Duration::from_secs(1);

async fn start(services: &Services, role: Role, catalog_url: Option<String>) -> Running {
    let settings = Settings {
        item_cache_ttl: TTL,
        catalog_url,
        ..support::settings(role, Strategy::Lua)
    };
    support::start_with(services, &settings).await
}

struct Shop {
    http: reqwest::Client,
    auth: Running,
    catalogs: Vec<support::Instance>,
    orders: Running,
}

impl Shop {
    fn at(running: &Running, path: &str) -> String {
        format!("{}{path}", support::base_url(running))
    }

    async fn write(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.catalogs[0].url))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(cookie) = cookie {
            request = request.header(COOKIE, cookie);
        }
        send(request).await
    }

    async fn price_at(&self, catalog: &support::Instance, item: i64) -> Value {
        let url = format!("{}/api/items/{item}", catalog.url);
        let (_, answer) = send(self.http.get(url)).await;
        answer["data"]["price"].clone()
    }

    async fn order(&self, buyer: &str, item: i64) -> (u16, Value) {
        let request = self
            .http
            .post(Self::at(&self.orders, "/api/orders"))
            .header(COOKIE, buyer)
            .json(&json!({"itemId": item, "count": 1}));
        send(request).await
    }

    async fn items(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM items")
            .fetch_one(self.orders.pool())
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_edit_reaches_every_cached_copy_and_a_catalog_outage_spares_cached_items() {
    let services = Services::start().await;
    let auth = start(&services, Role::Auth, None).await;
    // Separate processes, so the outage below is a real one (killed, every
    // connection gone).
    let catalog_args = ["--role", "catalog", "--item-cache-ttl", "1s"];
    let catalogs = vec![
        support::spawn_serve(&services, &catalog_args).await,
        support::spawn_serve(&services, &catalog_args).await,
    ];
    let catalog_url = catalogs[0].url.clone();
    let orders = start(&services, Role::Order, Some(catalog_url)).await;
    let shop = Shop {
        http: reqwest::Client::new(),
        auth,
        catalogs,
        orders,
    };
    let auth_url = support::base_url(&shop.auth);
    let (admin, buyer) = (
        support::buyer(&shop.http, &auth_url, "admin").await,
        support::buyer(&shop.http, &auth_url, "buyer").await,
    );
    live_commerce::auth::accounts::grant_admin(shop.orders.pool(), "admin@buyers.example")
        .await
        .unwrap();

    // Only an admin creates, and only a valid item.
    let lamp = json!({"name": "lamp", "kind": "GENERAL", "price": 1000, "stock": 50});
    let post = reqwest::Method::POST;
    let refused = [
        (
            shop.write(post.clone(), "/api/items", None, &lamp.to_string())
                .await,
            401,
            "NOT_AUTHENTICATED",
        ),
        (
            shop.write(post.clone(), "/api/items", Some(&buyer), &lamp.to_string())
                .await,
            403,
            "NOT_ADMIN",
        ),
        (
            shop.write(post.clone(), "/api/items", Some(&admin), "[\"lamp\"]")
                .await,
            400,
            "EXPECTED_OBJECT",
        ),
        (
            shop.write(post.clone(), "/api/items", Some(&admin), "{\"name\":")
                .await,
            400,
            "MALFORMED_JSON",
        ),
        (
            shop.write(
                post.clone(),
                "/api/items",
                Some(&admin),
                &json!({"name": " ", "kind": "GENERAL", "price": 1, "stock": 1}).to_string(),
            )
            .await,
            400,
            "INVALID_NAME",
        ),
        (
            shop.write(
                post.clone(),
                "/api/items",
                Some(&admin),
                &json!({"name": "x", "kind": "GENERAL", "price": -1, "stock": 1}).to_string(),
            )
            .await,
            400,
            "INVALID_PRICE",
        ),
        (
            shop.write(
                post.clone(),
                "/api/items",
                Some(&admin),
                &json!({"name": "x", "kind": "GENERAL", "price": 1, "stock": -1}).to_string(),
            )
            .await,
            400,
            "INVALID_STOCK",
        ),
        (
            shop.write(
                post.clone(),
                "/api/items",
                Some(&admin),
                &json!({"name": "x", "kind": "TIME_DEAL", "price": 1, "stock": 1}).to_string(),
            )
            .await,
            400,
            "INVALID_START",
        ),
        (
            shop.write(
                post.clone(),
                "/api/items",
                Some(&admin),
                &json!({"name": "x", "kind": "GENERAL", "price": 1, "stock": 1, "sku": 9})
                    .to_string(),
            )
            .await,
            400,
            "MALFORMED_JSON",
        ),
        (
            shop.write(
                post.clone(),
                "/api/items",
                Some(&admin),
                &json!({"name": "x", "kind": "OTHER", "price": 1, "stock": 1}).to_string(),
            )
            .await,
            400,
            "MALFORMED_JSON",
        ),
    ];
    for (answer, status, code) in &refused {
        assert_error(answer, *status, code);
    }
    assert_eq!(
        shop.items().await,
        0,
        "nothing created by a refused request"
    );
    let (status, created) = shop
        .write(post.clone(), "/api/items", Some(&admin), &lamp.to_string())
        .await;
    assert_eq!(status, 201, "{created}");
    let item = created["data"]["id"].as_i64().unwrap();
    let (_, stock) = send(
        shop.http
            .get(format!("{}/api/stock/{item}", shop.catalogs[1].url)),
    )
    .await;
    assert_eq!(
        stock["data"]["reservable"],
        json!(50),
        "the sale's counter is loaded"
    );

    // Every reader caches it: both catalogs, and the order service.
    for catalog in &shop.catalogs {
        assert_eq!(shop.price_at(catalog, item).await, json!(1000));
    }
    let first = shop.order(&buyer, item).await;
    assert_eq!(first.0, 202, "{first:?}");

    // The edit reaches every copy.
    let put = reqwest::Method::PUT;
    let path = format!("/api/items/{item}");
    let edit = json!({"name": "lamp", "kind": "GENERAL", "price": 800});
    assert_error(
        &shop
            .write(put.clone(), &path, Some(&buyer), &edit.to_string())
            .await,
        403,
        "NOT_ADMIN",
    );
    assert_error(
        &shop
            .write(
                put.clone(),
                &path,
                Some(&admin),
                &json!({"name": "lamp", "kind": "GENERAL", "price": 800, "stock": 9}).to_string(),
            )
            .await,
        400,
        "MALFORMED_JSON",
    );
    assert_error(
        &shop
            .write(
                put.clone(),
                "/api/items/999999",
                Some(&admin),
                &edit.to_string(),
            )
            .await,
        404,
        "ITEM_NOT_FOUND",
    );
    assert_eq!(
        shop.price_at(&shop.catalogs[1], item).await,
        json!(1000),
        "refused edits changed nothing"
    );
    let (status, edited) = shop
        .write(put.clone(), &path, Some(&admin), &edit.to_string())
        .await;
    assert_eq!(status, 200, "{edited}");
    for catalog in &shop.catalogs {
        testkit::wait::until(
            Duration::from_secs(10),
            "the new price on every catalog",
            || async { shop.price_at(catalog, item).await == json!(800) },
        )
        .await;
    }
    testkit::wait::until(
        Duration::from_secs(10),
        "the new price in orders",
        || async {
            let (status, order) = shop.order(&buyer, item).await;
            assert_eq!(status, 202, "{order}");
            let id = order["data"]["orderId"].as_str().unwrap();
            let price: Option<i64> =
                sqlx::query_scalar("SELECT unit_price FROM orders WHERE id = $1::uuid")
                    .bind(id)
                    .fetch_one(shop.orders.pool())
                    .await
                    .unwrap();
            price == Some(800)
        },
    )
    .await;

    // An item the order service never read, then the catalog goes down.
    let (_, unread) = shop
        .write(
            post,
            "/api/items",
            Some(&admin),
            &json!({"name": "desk", "kind": "GENERAL", "price": 5, "stock": 5}).to_string(),
        )
        .await;
    let unread = unread["data"]["id"].as_i64().unwrap();
    let Shop {
        http,
        auth,
        catalogs,
        orders,
    } = shop;
    for mut catalog in catalogs {
        catalog.process.kill9().await;
    }
    // Past the entries' freshness: what is served now is a stale copy.
    tokio::time::sleep(TTL + Duration::from_millis(500)).await;
    let shop = Shop {
        http,
        auth,
        catalogs: Vec::new(),
        orders,
    };
    let during = shop.order(&buyer, item).await;
    assert_eq!(
        during.0, 202,
        "a cached item sells while the catalog is down: {during:?}"
    );
    assert_error(
        &shop.order(&buyer, unread).await,
        503,
        "BACKEND_UNAVAILABLE",
    );
    let text = shop
        .http
        .get(Shop::at(&shop.orders, "/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.lines()
            .any(|line| line.starts_with("cache_stale_served_total")
                && line.contains("cache=\"catalog_item\"")
                && !line.ends_with(" 0")),
        "the order service counted the stale copies it served:\n{text}"
    );
    tokio::join!(shop.orders.shutdown(), shop.auth.shutdown());
}

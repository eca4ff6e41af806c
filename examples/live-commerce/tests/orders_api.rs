//! The order API's answers, one by one: statuses, JSON error bodies, and
//! that a refused request changes nothing.

mod support;

use std::net::SocketAddr;

use chrono::{Duration as Days, Utc};
use live_commerce::catalog::{self, ItemKind, NewItem};
use live_commerce::server::{self, Role, Running, Settings};
use live_commerce::strategy::Strategy;
use serde_json::{Value, json};
use support::Services;

struct Api {
    http: reqwest::Client,
    addr: SocketAddr,
}

impl Api {
    async fn order(&self, user: Option<&str>, body: &str) -> (u16, Value) {
        let mut request = self
            .http
            .post(format!("http://{}/api/orders", self.addr))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(user) = user {
            request = request.header("x-user-id", user);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("http://{}{path}", self.addr))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

async fn start(services: &Services, strategy: Strategy) -> (Running, Api) {
    let settings = Settings {
        role: Role::Order,
        strategy,
        db_connections: 4,
        ..Settings::default()
    };
    let running = server::start(&services.config(), &settings, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let api = Api {
        http: reqwest::Client::new(),
        addr: running.addr.unwrap(),
    };
    (running, api)
}

async fn item(running: &Running, stock: i32, kind: ItemKind, opens_in_days: Option<i64>) -> i64 {
    catalog::create_item(
        &running.pool,
        &running.redis,
        &NewItem {
            name: "lamp".into(),
            kind,
            price: 1_000,
            stock,
            start_at: opens_in_days.map(|days| Utc::now() + Days::days(days)),
        },
    )
    .await
    .unwrap()
}

fn assert_error(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!(answer.0, status, "{answer:?}");
    assert_eq!(answer.1["success"], json!(false), "{answer:?}");
    assert_eq!(answer.1["error"]["code"], json!(code), "{answer:?}");
    assert!(
        answer.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{answer:?}"
    );
}

#[tokio::test]
async fn every_bad_input_answers_with_its_status_and_changes_nothing() {
    let services = Services::start().await;
    let (running, api) = start(&services, Strategy::Lua).await;
    let lamp = item(&running, 5, ItemKind::General, None).await;
    let deal = item(&running, 5, ItemKind::TimeDeal, Some(1)).await;
    let order = |item: i64, count: i64| json!({"itemId": item, "count": count}).to_string();

    let cases = [
        (
            api.order(Some("u1"), "{not json").await,
            400,
            "MALFORMED_JSON",
        ),
        (
            api.order(Some("u1"), r#"{"itemId": 1}"#).await,
            400,
            "MALFORMED_JSON",
        ),
        (
            api.order(Some("u1"), r#"{"itemId": "x", "count": 1}"#)
                .await,
            400,
            "MALFORMED_JSON",
        ),
        (
            api.order(Some("u1"), &order(lamp, 0)).await,
            400,
            "INVALID_COUNT",
        ),
        (
            api.order(Some("u1"), &order(lamp, 11)).await,
            400,
            "INVALID_COUNT",
        ),
        (
            api.order(Some("u1"), &order(lamp, -3)).await,
            400,
            "INVALID_COUNT",
        ),
        (api.order(None, &order(lamp, 1)).await, 401, "NO_USER"),
        (
            api.order(Some("u1"), &order(999_999, 1)).await,
            404,
            "ITEM_NOT_FOUND",
        ),
        (
            api.order(Some("u1"), &order(deal, 1)).await,
            409,
            "NOT_OPEN",
        ),
        (
            api.order(Some("u1"), &order(lamp, 6)).await,
            409,
            "INSUFFICIENT_STOCK",
        ),
        (
            api.order(
                Some("u1"),
                &format!(
                    r#"{{"itemId": {lamp}, "count": 1, "pad": "{}"}}"#,
                    "x".repeat(8000)
                ),
            )
            .await,
            413,
            "BODY_TOO_LARGE",
        ),
        (
            api.get("/api/orders/not-a-uuid").await,
            400,
            "INVALID_ORDER_ID",
        ),
        (
            api.get(&format!("/api/orders/{}", uuid::Uuid::new_v4()))
                .await,
            404,
            "ORDER_NOT_FOUND",
        ),
        (api.get("/api/items/999999").await, 404, "ITEM_NOT_FOUND"),
    ];
    for (answer, status, code) in &cases {
        assert_error(answer, *status, code);
    }
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&running.pool)
        .await
        .unwrap();
    assert_eq!(orders, 0, "no refused request created an order");
    for id in [lamp, deal] {
        let (status, stock) = api.get(&format!("/api/stock/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(stock["data"]["stock"], json!(5));
        assert_eq!(stock["data"]["reservable"], json!(5));
    }
    running.shutdown().await;
}

#[tokio::test]
async fn a_purchase_larger_than_what_is_left_fails_while_smaller_ones_succeed() {
    for strategy in [
        Strategy::DbPessimistic,
        Strategy::DbOptimistic,
        Strategy::RedisLock,
        Strategy::Lua,
    ] {
        let services = Services::start().await;
        let (running, api) = start(&services, strategy).await;
        let lamp = item(&running, 3, ItemKind::General, None).await;
        let order = |count: i64| json!({"itemId": lamp, "count": count}).to_string();

        let first = api.order(Some("a"), &order(2)).await;
        assert_eq!(first.0, 202, "{strategy}: {first:?}");
        assert_eq!(first.1["data"]["status"], json!("CONFIRMED"));
        assert_error(
            &api.order(Some("b"), &order(2)).await,
            409,
            "INSUFFICIENT_STOCK",
        );
        assert_eq!(api.order(Some("c"), &order(1)).await.0, 202, "{strategy}");
        assert_error(&api.order(Some("d"), &order(1)).await, 409, "SOLD_OUT");

        let id = first.1["data"]["orderId"].as_str().unwrap().to_string();
        let (status, view) = api.get(&format!("/api/orders/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(view["data"]["status"], json!("CONFIRMED"));
        assert_eq!(view["data"]["count"], json!(2));
        assert_eq!(view["data"]["strategy"], json!(strategy.name()));
        let (_, stock) = api.get(&format!("/api/stock/{lamp}")).await;
        assert_eq!(stock["data"]["stock"], json!(0), "{strategy}");
        running.shutdown().await;
    }
}

#[tokio::test]
async fn the_catalog_answers_in_the_envelope() {
    let services = Services::start().await;
    let (running, api) = start(&services, Strategy::Lua).await;
    let lamp = item(&running, 7, ItemKind::General, None).await;
    let (status, detail) = api.get(&format!("/api/items/{lamp}")).await;
    assert_eq!(status, 200);
    assert_eq!(detail["success"], json!(true));
    assert_eq!(detail["data"]["name"], json!("lamp"));
    assert_eq!(detail["data"]["kind"], json!("GENERAL"));
    let (status, list) = api.get("/api/items").await;
    assert_eq!(status, 200);
    assert_eq!(list["data"][0]["id"], json!(lamp));
    running.shutdown().await;
}

#[tokio::test]
async fn a_lost_stock_counter_is_refused_not_rebuilt() {
    let services = Services::start().await;
    for strategy in [Strategy::Lua, Strategy::LuaMq] {
        let (running, api) = start(&services, strategy).await;
        let lamp = item(&running, 5, ItemKind::General, None).await;
        // Redis lost the counter (a restart without persistence, say).
        let _: () =
            redis::AsyncCommands::del(&mut running.redis.clone(), live_commerce::stock::key(lamp))
                .await
                .unwrap();
        let order = json!({"itemId": lamp, "count": 1}).to_string();
        assert_error(
            &api.order(Some("u1"), &order).await,
            503,
            "STOCK_NOT_LOADED",
        );
        let (_, stock) = api.get(&format!("/api/stock/{lamp}")).await;
        assert_eq!(stock["data"]["stock"], json!(5), "{strategy}");
        assert_eq!(
            stock["data"]["reservable"],
            json!(null),
            "{strategy}: not rebuilt"
        );
        running.shutdown().await;
    }
}

#[tokio::test]
async fn only_a_json_object_is_an_order_in_every_strategy() {
    let services = Services::start().await;
    for strategy in Strategy::ALL {
        let (running, api) = start(&services, strategy).await;
        let lamp = item(&running, 5, ItemKind::General, None).await;
        // A derived struct deserializer also reads a struct from a sequence
        // of its fields in order, so `[itemId, count]` must be refused by
        // the body's shape, not by its fields.
        let not_objects = [
            format!("[{lamp}, 1]"),
            format!(" \n\t[{lamp}, 1] \r\n"),
            format!("[{lamp}, 1, 7]"),
            format!(r#""{lamp}""#),
            format!("{lamp}"),
            "null".to_string(),
            "true".to_string(),
        ];
        for body in &not_objects {
            let answer = api.order(Some("u1"), body).await;
            assert_error(&answer, 400, "EXPECTED_OBJECT");
            assert!(
                answer.1["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("object")),
                "{strategy}: {body}: {answer:?}"
            );
        }
        // The other refusals come first, as for any body.
        let text_plain = api
            .http
            .post(format!("http://{}/api/orders", api.addr))
            .header("content-type", "text/plain")
            .header("x-user-id", "u1")
            .body(format!("[{lamp}, 1]"))
            .send()
            .await
            .unwrap();
        let status = text_plain.status().as_u16();
        let text_plain = (status, text_plain.json().await.unwrap_or(Value::Null));
        assert_error(&text_plain, 415, "UNSUPPORTED_MEDIA_TYPE");
        assert_error(
            &api.order(
                Some("u1"),
                &format!(r#"[{lamp}, 1, "{}"]"#, "x".repeat(8000)),
            )
            .await,
            413,
            "BODY_TOO_LARGE",
        );
        assert_error(
            &api.order(Some("u1"), &format!("[{lamp}, 1")).await,
            400,
            "MALFORMED_JSON",
        );
        assert_error(
            &api.order(
                Some("u1"),
                &format!("{{\"itemId\": {lamp}, \"count\": 1}} []"),
            )
            .await,
            400,
            "MALFORMED_JSON",
        );

        let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE item_id = $1")
            .bind(lamp)
            .fetch_one(&running.pool)
            .await
            .unwrap();
        assert_eq!(orders, 0, "{strategy}: no refused body created an order");
        let (status, stock) = api.get(&format!("/api/stock/{lamp}")).await;
        assert_eq!(status, 200);
        assert_eq!(stock["data"]["stock"], json!(5), "{strategy}");
        assert_eq!(stock["data"]["reservable"], json!(5), "{strategy}");

        // An object, with whitespace around it, still places an order.
        let placed = api
            .order(
                Some("u1"),
                &format!(" \n{} \n", json!({"itemId": lamp, "count": 2})),
            )
            .await;
        assert_eq!(placed.0, 202, "{strategy}: {placed:?}");
        let expected = if strategy.is_asynchronous() {
            "PENDING"
        } else {
            "CONFIRMED"
        };
        assert_eq!(placed.1["data"]["status"], json!(expected), "{strategy}");
        if !strategy.is_asynchronous() {
            let (_, stock) = api.get(&format!("/api/stock/{lamp}")).await;
            assert_eq!(stock["data"]["stock"], json!(3), "{strategy}");
        }
        running.shutdown().await;
    }
}

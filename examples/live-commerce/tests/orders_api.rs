//! The order API's answers, one by one: statuses, JSON error bodies, and
//! that a refused request changes nothing. Buyers are the logged-in users
//! of sessions the auth service opened (an order service alone, as it runs
//! behind the gateway, reading the same sessions from Redis).

mod support;

use live_commerce::catalog::ItemKind;
use live_commerce::strategy::Strategy;
use reqwest::header::COOKIE;
use serde_json::json;
use support::Services;
use support::shop::{Shop, assert_error, item, send};

#[tokio::test]
async fn every_bad_input_answers_with_its_status_and_changes_nothing() {
    let services = Services::start().await;
    let shop = Shop::start(&services, Strategy::Lua).await;
    let lamp = item(&shop, 5, ItemKind::General, None).await;
    let deal = item(&shop, 5, ItemKind::TimeDeal, Some(1)).await;
    let u1 = &shop.buyer("u1").await;
    let u1_id = shop.user_id(u1).await;
    let order = |item: i64, count: i64| json!({"itemId": item, "count": count}).to_string();
    let claiming_u1 = shop
        .post_order(None, &order(lamp, 1))
        .header("x-user-id", &u1_id);

    let cases = [
        (shop.order(u1, "{not json").await, 400, "MALFORMED_JSON"),
        (
            shop.order(u1, r#"{"itemId": 1}"#).await,
            400,
            "MALFORMED_JSON",
        ),
        (
            shop.order(u1, r#"{"itemId": "x", "count": 1}"#).await,
            400,
            "MALFORMED_JSON",
        ),
        (shop.order(u1, &order(lamp, 0)).await, 400, "INVALID_COUNT"),
        (shop.order(u1, &order(lamp, 11)).await, 400, "INVALID_COUNT"),
        (shop.order(u1, &order(lamp, -3)).await, 400, "INVALID_COUNT"),
        (
            shop.order_without_session(&order(lamp, 1)).await,
            401,
            "NOT_AUTHENTICATED",
        ),
        // The old header names nobody, even with a real account's id.
        (send(claiming_u1).await, 401, "NOT_AUTHENTICATED"),
        (
            shop.order("session=made-up", &order(lamp, 1)).await,
            401,
            "NOT_AUTHENTICATED",
        ),
        (
            shop.order(u1, &order(999_999, 1)).await,
            404,
            "ITEM_NOT_FOUND",
        ),
        (shop.order(u1, &order(deal, 1)).await, 409, "NOT_OPEN"),
        (
            shop.order(u1, &order(lamp, 6)).await,
            409,
            "INSUFFICIENT_STOCK",
        ),
        (
            shop.order(
                u1,
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
            shop.get_as(u1, "/api/orders/not-a-uuid").await,
            400,
            "INVALID_ORDER_ID",
        ),
        (
            shop.get_as(u1, &format!("/api/orders/{}", uuid::Uuid::new_v4()))
                .await,
            404,
            "ORDER_NOT_FOUND",
        ),
        (
            shop.get(&format!("/api/orders/{}", uuid::Uuid::new_v4()))
                .await,
            401,
            "NOT_AUTHENTICATED",
        ),
        (shop.get("/api/items/999999").await, 404, "ITEM_NOT_FOUND"),
    ];
    for (answer, status, code) in &cases {
        assert_error(answer, *status, code);
    }
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(shop.orders.pool())
        .await
        .unwrap();
    assert_eq!(orders, 0, "no refused request created an order");
    for id in [lamp, deal] {
        let (status, stock) = shop.get(&format!("/api/stock/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(stock["data"]["stock"], json!(5));
        assert_eq!(stock["data"]["reservable"], json!(5));
    }
    shop.stop().await;
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
        let shop = Shop::start(&services, strategy).await;
        let lamp = item(&shop, 3, ItemKind::General, None).await;
        let order = |count: i64| json!({"itemId": lamp, "count": count}).to_string();
        let (a, b, c, d) = tokio::join!(
            shop.buyer("a"),
            shop.buyer("b"),
            shop.buyer("c"),
            shop.buyer("d"),
        );

        let first = shop.order(&a, &order(2)).await;
        assert_eq!(first.0, 202, "{strategy}: {first:?}");
        assert_eq!(first.1["data"]["status"], json!("PENDING_PAYMENT"));
        assert_error(&shop.order(&b, &order(2)).await, 409, "INSUFFICIENT_STOCK");
        assert_eq!(shop.order(&c, &order(1)).await.0, 202, "{strategy}");
        assert_error(&shop.order(&d, &order(1)).await, 409, "SOLD_OUT");

        let id = first.1["data"]["orderId"].as_str().unwrap().to_string();
        let (status, view) = shop.get_as(&a, &format!("/api/orders/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(view["data"]["status"], json!("PENDING_PAYMENT"));
        assert_eq!(view["data"]["count"], json!(2));
        assert_eq!(view["data"]["strategy"], json!(strategy.name()));
        let (_, stock) = shop.get(&format!("/api/stock/{lamp}")).await;
        assert_eq!(stock["data"]["stock"], json!(0), "{strategy}");
        shop.stop().await;
    }
}

#[tokio::test]
async fn a_buyer_sees_their_own_orders_and_nobody_elses() {
    let services = Services::start().await;
    // `lua` answers from the orders table; `lua-mq` (no worker here) from
    // the pending marker, which names its buyer too.
    for (strategy, status) in [
        (Strategy::Lua, "PENDING_PAYMENT"),
        (Strategy::LuaMq, "ACCEPTED"),
    ] {
        let shop = Shop::start(&services, strategy).await;
        let lamp = item(&shop, 5, ItemKind::General, None).await;
        let (ann, bob) = tokio::join!(shop.buyer("ann"), shop.buyer("bob"));
        let ann_id = shop.user_id(&ann).await;

        let placed = shop
            .order(&ann, &json!({"itemId": lamp, "count": 1}).to_string())
            .await;
        assert_eq!(placed.0, 202, "{strategy}: {placed:?}");
        let path = format!(
            "/api/orders/{}",
            placed.1["data"]["orderId"].as_str().unwrap()
        );

        let (code, view) = shop.get_as(&ann, &path).await;
        assert_eq!(code, 200, "{strategy}: the buyer sees it: {view}");
        assert_eq!(view["data"]["status"], json!(status), "{strategy}");
        assert_error(&shop.get_as(&bob, &path).await, 404, "ORDER_NOT_FOUND");
        assert_error(&shop.get(&path).await, 401, "NOT_AUTHENTICATED");
        let claiming_ann = shop.http.get(shop.url(&path)).header("x-user-id", &ann_id);
        assert_error(&send(claiming_ann).await, 401, "NOT_AUTHENTICATED");
        shop.stop().await;
    }
}

#[tokio::test]
async fn the_catalog_answers_in_the_envelope() {
    let services = Services::start().await;
    let shop = Shop::start(&services, Strategy::Lua).await;
    let lamp = item(&shop, 7, ItemKind::General, None).await;
    let (status, detail) = shop.get(&format!("/api/items/{lamp}")).await;
    assert_eq!(status, 200);
    assert_eq!(detail["success"], json!(true));
    assert_eq!(detail["data"]["name"], json!("lamp"));
    assert_eq!(detail["data"]["kind"], json!("GENERAL"));
    let (status, list) = shop.get("/api/items").await;
    assert_eq!(status, 200);
    assert_eq!(list["data"][0]["id"], json!(lamp));
    shop.stop().await;
}

#[tokio::test]
async fn a_lost_stock_counter_is_refused_not_rebuilt() {
    let services = Services::start().await;
    for strategy in [Strategy::Lua, Strategy::LuaMq] {
        let shop = Shop::start(&services, strategy).await;
        let lamp = item(&shop, 5, ItemKind::General, None).await;
        let u1 = shop.buyer("u1").await;
        // Redis lost the counter (a restart without persistence, say).
        let _: () = redis::AsyncCommands::del(
            &mut shop.orders.redis().clone(),
            live_commerce::stock::key(lamp),
        )
        .await
        .unwrap();
        let order = json!({"itemId": lamp, "count": 1}).to_string();
        assert_error(&shop.order(&u1, &order).await, 503, "STOCK_NOT_LOADED");
        let (_, stock) = shop.get(&format!("/api/stock/{lamp}")).await;
        assert_eq!(stock["data"]["stock"], json!(5), "{strategy}");
        assert_eq!(
            stock["data"]["reservable"],
            json!(null),
            "{strategy}: not rebuilt"
        );
        shop.stop().await;
    }
}

#[tokio::test]
async fn only_a_json_object_is_an_order_in_every_strategy() {
    let services = Services::start().await;
    for strategy in Strategy::ALL {
        let shop = Shop::start(&services, strategy).await;
        let lamp = item(&shop, 5, ItemKind::General, None).await;
        let u1 = &shop.buyer("u1").await;
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
            let answer = shop.order(u1, body).await;
            assert_error(&answer, 400, "EXPECTED_OBJECT");
            assert!(
                answer.1["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("object")),
                "{strategy}: {body}: {answer:?}"
            );
        }
        // The other refusals come first, as for any body.
        let text_plain = shop
            .http
            .post(shop.url("/api/orders"))
            .header("content-type", "text/plain")
            .header(COOKIE, u1)
            .body(format!("[{lamp}, 1]"));
        assert_error(&send(text_plain).await, 415, "UNSUPPORTED_MEDIA_TYPE");
        assert_error(
            &shop
                .order(u1, &format!(r#"[{lamp}, 1, "{}"]"#, "x".repeat(8000)))
                .await,
            413,
            "BODY_TOO_LARGE",
        );
        assert_error(
            &shop.order(u1, &format!("[{lamp}, 1")).await,
            400,
            "MALFORMED_JSON",
        );
        assert_error(
            &shop
                .order(u1, &format!("{{\"itemId\": {lamp}, \"count\": 1}} []"))
                .await,
            400,
            "MALFORMED_JSON",
        );

        assert_eq!(
            shop.orders_of_item(lamp).await,
            0,
            "{strategy}: no refused body created an order"
        );
        let (status, stock) = shop.get(&format!("/api/stock/{lamp}")).await;
        assert_eq!(status, 200);
        assert_eq!(stock["data"]["stock"], json!(5), "{strategy}");
        assert_eq!(stock["data"]["reservable"], json!(5), "{strategy}");

        // An object, with whitespace around it, still places an order.
        let placed = shop
            .order(
                u1,
                &format!(" \n{} \n", json!({"itemId": lamp, "count": 2})),
            )
            .await;
        assert_eq!(placed.0, 202, "{strategy}: {placed:?}");
        let expected = if strategy.is_asynchronous() {
            "ACCEPTED"
        } else {
            "PENDING_PAYMENT"
        };
        assert_eq!(placed.1["data"]["status"], json!(expected), "{strategy}");
        if !strategy.is_asynchronous() {
            let (_, stock) = shop.get(&format!("/api/stock/{lamp}")).await;
            assert_eq!(stock["data"]["stock"], json!(3), "{strategy}");
        }
        shop.stop().await;
    }
}

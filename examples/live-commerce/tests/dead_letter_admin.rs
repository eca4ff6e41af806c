//! The admin's dead letters: refused without a session (401) and without
//! the admin role (403); listed with their reason; a replayed letter goes
//! back only to the queue that failed; a discarded one is gone.

mod support;

use std::time::Duration;

use live_commerce::strategy::{ORDER_PLACED_ROUTE, ORDERS_EXCHANGE};
use live_commerce::worker;
use mq_reliable::amqp::Broker;
use reqwest::header::COOKIE;
use serde_json::{Value, json};
use support::Services;
use support::shop::{Shop, assert_error, send};

const AUDIT_QUEUE: &str = "audit.orders";

async fn admin_get(shop: &Shop, cookie: Option<&str>) -> (u16, Value) {
    let mut request = shop.http.get(shop.url("/api/admin/dead-letters"));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    send(request).await
}

async fn admin_action(shop: &Shop, cookie: &str, method: &str, id: &str) -> (u16, Value) {
    let request = match method {
        "replay" => shop
            .http
            .post(shop.url(&format!("/api/admin/dead-letters/{id}/replay"))),
        _ => shop
            .http
            .delete(shop.url(&format!("/api/admin/dead-letters/{id}"))),
    };
    send(request.header(COOKIE, cookie)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_an_admins_to_inspect_replay_to_the_failed_queue_and_discard() {
    let services = Services::start().await;
    let shop = Shop::start_with(
        &services,
        live_commerce::strategy::Strategy::LuaMq,
        Duration::from_secs(600),
        true,
    )
    .await;
    let (admin, buyer) = (shop.buyer("admin").await, shop.buyer("buyer").await);
    assert!(
        live_commerce::auth::accounts::grant_admin(shop.orders.pool(), "admin@buyers.example")
            .await
            .unwrap()
    );

    // A second queue bound to the orders exchange, like an audit log would be.
    let broker = Broker::connect(services.rabbit.url()).await.unwrap();
    drop(
        broker
            .consumer(AUDIT_QUEUE)
            .bind(ORDERS_EXCHANGE, ORDER_PLACED_ROUTE)
            .build()
            .await
            .unwrap(),
    );
    // A poison message: not an order, so the worker dead-letters it at once.
    support::poison_the_order_queue(&broker, "poison-1").await;
    let dlq = broker.dead_letters(worker::DEAD_LETTER_QUEUE);
    assert_eq!(dlq.count().await.unwrap(), 1);
    assert_eq!(broker.ready_count(AUDIT_QUEUE).await.unwrap(), 1);

    assert_error(&admin_get(&shop, None).await, 401, "NOT_AUTHENTICATED");
    assert_error(&admin_get(&shop, Some(&buyer)).await, 403, "NOT_ADMIN");
    assert_error(
        &admin_action(&shop, &buyer, "replay", "poison-1").await,
        403,
        "NOT_ADMIN",
    );
    assert_error(
        &admin_action(&shop, &buyer, "discard", "poison-1").await,
        403,
        "NOT_ADMIN",
    );
    assert_eq!(
        dlq.count().await.unwrap(),
        1,
        "refused callers changed nothing"
    );

    let (status, listed) = admin_get(&shop, Some(&admin)).await;
    assert_eq!(status, 200, "{listed}");
    let letters = listed["data"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{listed}");
    let letter = &letters[0];
    assert_eq!(letter["id"], json!("poison-1"));
    assert_eq!(letter["queue"], json!(worker::DEAD_LETTER_QUEUE));
    assert_eq!(letter["failedIn"], json!(worker::QUEUE));
    assert_eq!(letter["payload"], json!("not an order"));
    assert!(letter["attempts"].as_u64().unwrap() >= 1);
    assert!(
        letter["reason"].as_str().unwrap().contains("deserial"),
        "{letter}"
    );
    assert!(letter["firstFailure"].is_string() && letter["lastFailure"].is_string());

    // Replayed: back to order.placed only (it fails again and returns to
    // the dead-letter queue); the audit queue still holds its one copy.
    let worker_stats = shop
        .worker
        .as_ref()
        .unwrap()
        .consumer_stats("orders")
        .unwrap();
    let dead_before = worker_stats.snapshot().dead_lettered;
    let replayed = admin_action(&shop, &admin, "replay", "poison-1").await;
    assert_eq!(replayed.0, 200, "{replayed:?}");
    assert_eq!(
        replayed.1["data"]["queue"],
        json!(worker::DEAD_LETTER_QUEUE)
    );
    testkit::wait::until(Duration::from_secs(30), "the replay handled", || async {
        worker_stats.snapshot().dead_lettered == dead_before + 1
    })
    .await;
    testkit::wait::until(Duration::from_secs(30), "back in the DLQ", || async {
        dlq.count().await.unwrap_or(0) == 1
    })
    .await;
    assert_eq!(
        broker.ready_count(AUDIT_QUEUE).await.unwrap(),
        1,
        "no second copy"
    );

    // Bad ids, unknown ids, then the discard.
    let long = "x".repeat(129);
    assert_error(
        &admin_action(&shop, &admin, "discard", &long).await,
        400,
        "INVALID_ID",
    );
    assert_error(
        &admin_action(&shop, &admin, "replay", "no-such-letter").await,
        404,
        "DEAD_LETTER_NOT_FOUND",
    );
    let discarded = admin_action(&shop, &admin, "discard", "poison-1").await;
    assert_eq!(discarded.0, 200, "{discarded:?}");
    assert_eq!(dlq.count().await.unwrap(), 0);
    assert_error(
        &admin_action(&shop, &admin, "discard", "poison-1").await,
        404,
        "DEAD_LETTER_NOT_FOUND",
    );
    let (_, empty) = admin_get(&shop, Some(&admin)).await;
    assert_eq!(empty["data"], json!([]));
    let bad_limit = send(
        shop.http
            .get(shop.url("/api/admin/dead-letters?limit=0"))
            .header(COOKIE, &admin),
    )
    .await;
    assert_error(&bad_limit, 400, "INVALID_QUERY");
    shop.stop().await;
}

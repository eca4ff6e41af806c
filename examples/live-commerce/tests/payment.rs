//! Order entry, then payment: payment and expiry racing for one order (one
//! wins, every time), an unpaid order expiring through its delayed message
//! with its units back on sale exactly once, idempotent payment, and every
//! bad payment refused without a change.

mod support;

use std::time::Duration;

use futures::StreamExt;
use live_commerce::catalog::ItemKind;
use live_commerce::orders::expiry::{self, Expiry};
use live_commerce::strategy::Strategy;
use reqwest::header::COOKIE;
use serde_json::{Value, json};
use support::Services;
use support::shop::{Shop, assert_error, item, send};
use uuid::Uuid;

/// Long enough that no expiry message arrives while a test runs.
const NO_EXPIRY: Duration = Duration::from_secs(600);

/// Places an order of `count` units of `item` as `buyer`; its id.
async fn place(shop: &Shop, buyer: &str, item: i64, count: i32) -> Uuid {
    let placed = shop
        .order(buyer, &json!({"itemId": item, "count": count}).to_string())
        .await;
    assert_eq!(placed.0, 202, "{placed:?}");
    placed.1["data"]["orderId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// `POST /api/orders/{id}/pay` as `buyer` under `key` (none: no header).
async fn pay(shop: &Shop, buyer: &str, order: &str, key: Option<&str>) -> (u16, Value) {
    let mut request = shop
        .http
        .post(shop.url(&format!("/api/orders/{order}/pay")))
        .header(COOKIE, buyer);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    send(request).await
}

/// Units of `item`: (database stock, Redis counter, in PENDING_PAYMENT
/// orders, in CONFIRMED orders, in EXPIRED orders).
async fn books(shop: &Shop, item: i64) -> (i64, i64, i64, i64, i64) {
    let pool = shop.orders.pool();
    let stock: i32 = sqlx::query_scalar("SELECT stock FROM items WHERE id = $1")
        .bind(item)
        .fetch_one(pool)
        .await
        .unwrap();
    let units = |status: &'static str| async move {
        sqlx::query_scalar::<_, i64>(
            "SELECT coalesce(sum(count), 0)::bigint FROM orders WHERE item_id = $1 AND status = $2",
        )
        .bind(item)
        .bind(status)
        .fetch_one(pool)
        .await
        .unwrap()
    };
    let redis = live_commerce::stock::remaining(shop.orders.redis(), item)
        .await
        .unwrap()
        .unwrap();
    (
        stock.into(),
        redis,
        units("PENDING_PAYMENT").await,
        units("CONFIRMED").await,
        units("EXPIRED").await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_and_expiry_fired_together_200_times_one_wins_each_time() {
    let services = Services::start().await;
    let shop = Shop::start_with(&services, Strategy::Lua, NO_EXPIRY, false).await;
    let lamp = item(&shop, 200, ItemKind::General, None).await;
    let buyers = shop.buyers(20).await;
    let mut orders = Vec::new();
    for round in 0..10 {
        for buyer in &buyers {
            orders.push((buyer.clone(), place(&shop, buyer, lamp, 1).await));
        }
        assert_eq!(orders.len(), (round + 1) * 20);
    }
    assert_eq!(books(&shop, lamp).await, (0, 0, 200, 0, 0));

    // Each order's payment and its expiry at once: the expiry here stands
    // for its delayed message arriving, which does not look at the clock,
    // so the two really race for the row.
    let (pool, redis) = (shop.orders.pool().clone(), shop.orders.redis().clone());
    let races = orders.iter().map(|(buyer, order)| {
        let (shop, pool, redis) = (&shop, pool.clone(), redis.clone());
        async move {
            let (key, id) = (format!("pay-{order}"), order.to_string());
            let (paid, expired) = tokio::join!(pay(shop, buyer, &id, Some(&key)), async {
                // The payment goes through HTTP and the session store, the
                // expiry straight to the database: a jitter of a few ms lets
                // either reach the row first.
                let jitter = rand::random_range(0..3_000);
                tokio::time::sleep(Duration::from_micros(jitter)).await;
                expiry::expire(&pool, &redis, *order).await.unwrap()
            },);
            (*order, paid, expired)
        }
    });
    // Ten races at a time: the service's four database connections would
    // queue two hundred payments behind each other.
    let outcomes: Vec<_> = futures::stream::iter(races)
        .buffer_unordered(10)
        .collect()
        .await;
    let (mut paid_wins, mut expiry_wins) = (0, 0);
    for (order, paid, expired) in &outcomes {
        match (paid.0, *expired) {
            (200, Expiry::Paid) => paid_wins += 1,
            (409, Expiry::Expired) => {
                assert_error(paid, 409, "ORDER_EXPIRED");
                expiry_wins += 1;
            }
            other => panic!("order {order}: both or neither won: {other:?} {paid:?}"),
        }
    }
    eprintln!("payment won {paid_wins} races, expiry {expiry_wins}");
    let (stock, redis_left, pending, confirmed, expired) = books(&shop, lamp).await;
    assert_eq!((pending, confirmed, expired), (0, paid_wins, expiry_wins));
    assert_eq!(
        stock + confirmed + pending,
        200,
        "database: nothing lost or made"
    );
    assert_eq!(
        redis_left + confirmed + pending,
        200,
        "Redis: nothing lost or made"
    );

    // A redelivered expiry changes nothing: the units went back once.
    for (order, _, expired) in &outcomes {
        let again = expiry::expire(&pool, &redis, *order).await.unwrap();
        let expected = if *expired == Expiry::Expired {
            Expiry::AlreadyExpired
        } else {
            Expiry::Paid
        };
        assert_eq!(again, expected);
    }
    assert_eq!(
        books(&shop, lamp).await,
        (stock, redis_left, 0, confirmed, expired)
    );
    shop.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_order_expires_after_its_window_and_its_units_are_on_sale_again_once() {
    let services = Services::start().await;
    let window = Duration::from_secs(2);
    for strategy in [Strategy::Lua, Strategy::LuaMq, Strategy::DbPessimistic] {
        let shop = Shop::start_with(&services, strategy, window, true).await;
        let lamp = item(&shop, 1, ItemKind::General, None).await;
        let (ann, bob) = (
            shop.buyer(&format!("ann-{strategy}")).await,
            shop.buyer(&format!("bob-{strategy}")).await,
        );
        let order = place(&shop, &ann, lamp, 1).await;
        let refused = shop
            .order(&bob, &json!({"itemId": lamp, "count": 1}).to_string())
            .await;
        assert_error(&refused, 409, "SOLD_OUT");

        let path = format!("/api/orders/{order}");
        testkit::wait::until(Duration::from_secs(60), "the order expired", || async {
            shop.get_as(&ann, &path).await.1["data"]["status"] == json!("EXPIRED")
        })
        .await;
        testkit::wait::until(Duration::from_secs(60), "the unit back on sale", || async {
            let (stock, redis, ..) = books(&shop, lamp).await;
            stock == 1 && redis == 1
        })
        .await;
        assert_error(
            &pay(&shop, &ann, &order.to_string(), Some("late")).await,
            409,
            "ORDER_EXPIRED",
        );
        // The expiry message delivered again (a worker killed after its
        // commit) gives nothing back a second time.
        let publisher = live_commerce::orders::expiry::OrderExpiry { order_id: order };
        let broker = mq_reliable::amqp::Broker::connect(services.rabbit.url())
            .await
            .unwrap();
        broker
            .publisher()
            .build()
            .await
            .unwrap()
            .publish("", expiry::QUEUE, &publisher)
            .await
            .unwrap();
        testkit::wait::until(
            Duration::from_secs(30),
            "the duplicate consumed",
            || async { broker.ready_count(expiry::QUEUE).await.unwrap_or(1) == 0 },
        )
        .await;
        assert_eq!(
            expiry::expire(shop.orders.pool(), shop.orders.redis(), order)
                .await
                .unwrap(),
            Expiry::AlreadyExpired
        );
        assert_eq!(books(&shop, lamp).await, (1, 1, 0, 0, 1), "{strategy}");
        // And the unit sells again.
        let second = place(&shop, &bob, lamp, 1).await;
        if strategy == Strategy::LuaMq {
            testkit::wait::until(Duration::from_secs(30), "bob's order persisted", || async {
                shop.get_as(&bob, &format!("/api/orders/{second}")).await.1["data"]["status"]
                    == json!("PENDING_PAYMENT")
            })
            .await;
        }
        let paid = pay(&shop, &bob, &second.to_string(), Some("bob-1")).await;
        assert_eq!(paid.0, 200, "{strategy}: {paid:?}");
        assert_eq!(paid.1["data"]["status"], json!("CONFIRMED"));
        shop.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_is_idempotent_per_key_and_every_bad_payment_changes_nothing() {
    let services = Services::start().await;
    let shop = Shop::start_with(&services, Strategy::Lua, NO_EXPIRY, false).await;
    let lamp = item(&shop, 10, ItemKind::General, None).await;
    let (ann, bob) = (shop.buyer("ann").await, shop.buyer("bob").await);
    let order = place(&shop, &ann, lamp, 2).await.to_string();
    let other = place(&shop, &ann, lamp, 1).await.to_string();

    // Refused before anything is paid.
    assert_error(
        &pay(&shop, &ann, &order, None).await,
        400,
        "MISSING_IDEMPOTENCY_KEY",
    );
    let long = "k".repeat(129);
    for key in ["", long.as_str(), "has space"] {
        assert_error(
            &pay(&shop, &ann, &order, Some(key)).await,
            400,
            "INVALID_IDEMPOTENCY_KEY",
        );
    }
    assert_error(
        &pay(&shop, &bob, &order, Some("b")).await,
        404,
        "ORDER_NOT_FOUND",
    );
    let unknown = Uuid::new_v4().to_string();
    assert_error(
        &pay(&shop, &ann, &unknown, Some("a")).await,
        404,
        "ORDER_NOT_FOUND",
    );
    assert_error(
        &pay(&shop, &ann, "not-a-uuid", Some("a")).await,
        400,
        "INVALID_ORDER_ID",
    );
    let anonymous = shop
        .http
        .post(shop.url(&format!("/api/orders/{order}/pay")))
        .header("idempotency-key", "a");
    assert_error(&send(anonymous).await, 401, "NOT_AUTHENTICATED");
    assert_eq!(
        books(&shop, lamp).await,
        (7, 7, 3, 0, 0),
        "nothing paid yet"
    );

    // The same key twice is one payment; another key is a second one.
    let first = pay(&shop, &ann, &order, Some("attempt-1")).await;
    assert_eq!(first.0, 200, "{first:?}");
    assert_eq!(first.1["data"]["status"], json!("CONFIRMED"));
    let again = pay(&shop, &ann, &order, Some("attempt-1")).await;
    assert_eq!(again.0, 200, "{again:?}");
    assert_eq!(again.1["data"]["paidAt"], first.1["data"]["paidAt"]);
    assert_error(
        &pay(&shop, &ann, &order, Some("attempt-2")).await,
        409,
        "ALREADY_PAID",
    );
    assert_eq!(books(&shop, lamp).await, (7, 7, 1, 2, 0));
    let paid_at: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT status, payment_key FROM orders WHERE id = $1::uuid")
            .bind(&order)
            .fetch_all(shop.orders.pool())
            .await
            .unwrap();
    assert_eq!(
        paid_at,
        vec![("CONFIRMED".to_string(), Some("attempt-1".to_string()))]
    );

    // The buyer's list: their orders, newest first; nobody else's.
    let (status, mine) = shop.get_as(&ann, "/api/orders?mine").await;
    assert_eq!(status, 200, "{mine}");
    let listed: Vec<&str> = mine["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["orderId"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![other.as_str(), order.as_str()]);
    let (_, bobs) = shop.get_as(&bob, "/api/orders?mine").await;
    assert_eq!(bobs["data"], json!([]));
    let (_, page) = shop.get_as(&ann, "/api/orders?mine&limit=1&offset=1").await;
    assert_eq!(page["data"][0]["orderId"], json!(order));
    for bad in [
        "?limit=0",
        "?limit=101",
        "?offset=-1",
        "?limit=x",
        "?sort=price",
    ] {
        let answer = shop.get_as(&ann, &format!("/api/orders{bad}")).await;
        assert_error(&answer, 400, "INVALID_QUERY");
    }
    shop.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_lua_mq_order_cannot_be_paid_until_the_worker_recorded_it() {
    let services = Services::start().await;
    let shop = Shop::start_with(&services, Strategy::LuaMq, NO_EXPIRY, false).await;
    let lamp = item(&shop, 5, ItemKind::General, None).await;
    let ann = shop.buyer("ann").await;
    let order = place(&shop, &ann, lamp, 1).await.to_string();
    let answer = pay(&shop, &ann, &order, Some("early")).await;
    assert_error(&answer, 409, "ORDER_NOT_READY");
    let (_, view) = shop.get_as(&ann, &format!("/api/orders/{order}")).await;
    assert_eq!(view["data"]["status"], json!("ACCEPTED"));
    shop.stop().await;
}

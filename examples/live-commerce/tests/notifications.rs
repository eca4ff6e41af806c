//! Notifications (scenario 9), through real PostgreSQL, Redis, RabbitMQ
//! and Kafka: an order paid is pushed once to the buyer's feed socket with
//! two chat instances running, an event recorded twice (or rolled back) is
//! one row (or none) and one push (or none), a user who was offline lists
//! and marks what they missed, what was recorded while no chat instance
//! listened is swept and pushed once, and the other producers (expiry, a price
//! drop, a mention in a live room) each record what they should, and only
//! that.

mod support;

use std::time::Duration;

use chat_fanout::archive::ArchivedMessage;
use live_commerce::catalog::ItemKind;
use live_commerce::notifications::mentions::record_batch;
use live_commerce::notifications::{Kind, record};
use live_commerce::server::{Role, Settings};
use live_commerce::strategy::Strategy;
use reqwest::header::COOKIE;
use serde_json::{Value, json};
use support::chat::{Socket, connect, join};
use support::shop::{Shop, assert_error, item, send};
use support::{Services, base_url, settings, start_role, start_with};
use uuid::Uuid;

/// Long enough that no expiry message arrives while a test runs.
const NO_EXPIRY: Duration = Duration::from_secs(600);
/// How long a test waits for something the system does in the background.
const PATIENCE: Duration = Duration::from_secs(60);

/// Places an order of one unit of `item` as `buyer`; its id.
async fn place(shop: &Shop, buyer: &str, item: i64) -> String {
    let placed = shop
        .order(buyer, &json!({"itemId": item, "count": 1}).to_string())
        .await;
    assert_eq!(placed.0, 202, "{placed:?}");
    placed.1["data"]["orderId"].as_str().unwrap().to_string()
}

/// Pays `order` as `buyer` under `key`.
async fn pay(shop: &Shop, buyer: &str, order: &str, key: &str) {
    let paid = send(
        shop.http
            .post(shop.url(&format!("/api/orders/{order}/pay")))
            .header(COOKIE, buyer)
            .header("idempotency-key", key),
    )
    .await;
    assert_eq!(paid.0, 200, "{paid:?}");
}

/// The caller's feed socket on the chat instance `base`, once live.
async fn feed(base: &str, cookie: &str) -> Socket {
    let mut socket = connect(base, "/api/notifications/ws", Some(cookie), None)
        .await
        .unwrap_or_else(|status| panic!("opening the feed: HTTP {status}"));
    socket.until_live().await;
    socket
}

/// The next notification pushed on `socket` (`{id, kind, payload, createdAt}`).
async fn pushed(socket: &mut Socket) -> Value {
    loop {
        let frame = socket.frame().await;
        match frame["type"].as_str() {
            Some("message") => return frame["payload"].clone(),
            Some("live") => {}
            _ => panic!("unexpected frame: {frame}"),
        }
    }
}

/// `GET`s `path` at the chat instance `base` as `cookie`.
async fn get(http: &reqwest::Client, base: &str, path: &str, cookie: &str) -> (u16, Value) {
    send(http.get(format!("{base}{path}")).header(COOKIE, cookie)).await
}

/// `POST`s `path` at the chat instance `base` as `cookie`.
async fn post(http: &reqwest::Client, base: &str, path: &str, cookie: &str) -> (u16, Value) {
    send(http.post(format!("{base}{path}")).header(COOKIE, cookie)).await
}

/// The rows of `user` of `kind`.
async fn rows(pool: &sqlx::PgPool, user: &str, kind: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM notifications WHERE user_id::text = $1 AND kind = $2")
        .bind(user)
        .bind(kind)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Waits until `user` has `count` rows of `kind`.
async fn until_rows(pool: &sqlx::PgPool, user: &str, kind: &str, count: i64) {
    testkit::wait::until(PATIENCE, &format!("{count} {kind} for {user}"), || async {
        rows(pool, user, kind).await == count
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_paid_is_pushed_once_with_two_chat_instances_and_listed_unread() {
    let services = Services::start().await;
    let shop = Shop::start_with(&services, Strategy::Lua, NO_EXPIRY, false).await;
    let (a, b) = tokio::join!(
        start_role(&services, Role::Chat, Strategy::Lua),
        start_role(&services, Role::Chat, Strategy::Lua),
    );
    let (a, b) = (base_url(&a), base_url(&b));
    let ann = shop.buyer("ann").await;
    let ann_id = shop.user_id(&ann).await;
    let (mut on_a, mut on_b) = (feed(&a, &ann).await, feed(&b, &ann).await);
    let lamp = item(&shop, 10, ItemKind::General, None).await;

    let first = place(&shop, &ann, lamp).await;
    pay(&shop, &ann, &first, "first").await;
    // The same payment again (a client's retry) is not a second event.
    pay(&shop, &ann, &first, "first").await;
    let second = place(&shop, &ann, lamp).await;
    pay(&shop, &ann, &second, "second").await;

    for socket in [&mut on_a, &mut on_b] {
        // Each socket's first two pushes are the two events: a copy of
        // either would take the other's place.
        let mut seen = Vec::new();
        for _ in 0..2 {
            let note = pushed(socket).await;
            assert_eq!(note["kind"], "order-confirmed", "{note}");
            assert_eq!(note["payload"]["itemName"], "lamp");
            assert_eq!(note["payload"]["quantity"], 1);
            seen.push(note["payload"]["orderId"].as_str().unwrap().to_string());
        }
        seen.sort();
        let mut expected = vec![first.clone(), second.clone()];
        expected.sort();
        assert_eq!(seen, expected, "each event pushed once");
    }
    let pool = shop.orders.pool();
    assert_eq!(rows(pool, &ann_id, "order-confirmed").await, 2);
    let undelivered: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE delivered_at IS NULL")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(undelivered, 0);

    let http = reqwest::Client::new();
    let (status, list) = get(&http, &b, "/api/notifications?unread=true", &ann).await;
    assert_eq!(status, 200, "{list}");
    let items = list["data"]["items"].as_array().unwrap();
    let orders: Vec<&Value> = items.iter().map(|n| &n["payload"]["orderId"]).collect();
    assert_eq!(orders, [&json!(second), &json!(first)], "newest first");
    assert_eq!(list["data"]["unread"], 2);
    assert_eq!(list["data"]["next"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_recorded_twice_is_one_row_and_one_push_and_a_rolled_back_one_is_none() {
    let services = Services::start().await;
    let auth = start_role(&services, Role::Auth, Strategy::Lua).await;
    let chat = start_role(&services, Role::Chat, Strategy::Lua).await;
    let http = reqwest::Client::new();
    let ann = support::buyer(&http, &base_url(&auth), "ann").await;
    let mut socket = feed(&base_url(&chat), &ann).await;
    let pool = chat.pool();
    let ann_id: Uuid = sqlx::query_scalar("SELECT id FROM accounts")
        .fetch_one(pool)
        .await
        .unwrap();

    let once = async |key: &str, commit: bool| {
        let mut tx = pool.begin().await.unwrap();
        let new = record(&mut tx, ann_id, key, Kind::Mention, &json!({"key": key}))
            .await
            .unwrap();
        if commit {
            tx.commit().await.unwrap();
        }
        new
    };
    assert!(once("twice", true).await);
    assert!(
        !once("twice", true).await,
        "the second time records nothing"
    );
    assert!(
        once("rolled-back", false).await,
        "recorded, then rolled back"
    );
    assert!(once("after", true).await);

    let keys = [pushed(&mut socket).await, pushed(&mut socket).await]
        .map(|note| note["payload"]["key"].as_str().unwrap().to_string());
    assert_eq!(keys, ["twice", "after"], "one push each, none rolled back");
    let (total,): (i64,) = sqlx::query_as("SELECT count(*) FROM notifications")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(total, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_was_offline_lists_what_they_missed_and_marks_it_read() {
    let services = Services::start().await;
    let shop = Shop::start_with(&services, Strategy::Lua, NO_EXPIRY, false).await;
    let chat = base_url(&start_role(&services, Role::Chat, Strategy::Lua).await);
    let (bob, ann) = (shop.buyer("bob").await, shop.buyer("ann").await);
    let bob_id = shop.user_id(&bob).await;
    let lamp = item(&shop, 10, ItemKind::General, None).await;
    let mut orders = Vec::new();
    for n in 0..3 {
        let order = place(&shop, &bob, lamp).await;
        pay(&shop, &bob, &order, &format!("pay-{n}")).await;
        orders.push(order);
    }
    until_rows(shop.orders.pool(), &bob_id, "order-confirmed", 3).await;

    // Two pages, newest first, then nothing.
    let http = reqwest::Client::new();
    let page = get(&http, &chat, "/api/notifications?unread=true&limit=2", &bob).await;
    assert_eq!(page.0, 200, "{page:?}");
    let order_of = |n: &Value| n["payload"]["orderId"].as_str().unwrap().to_string();
    let first: Vec<String> = page.1["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(order_of)
        .collect();
    assert_eq!(first, [orders[2].clone(), orders[1].clone()]);
    assert_eq!(page.1["data"]["unread"], 3);
    let next = page.1["data"]["next"].as_str().unwrap().to_string();
    let path = format!("/api/notifications?unread=true&limit=2&before={next}");
    let rest = get(&http, &chat, &path, &bob).await;
    let items = rest.1["data"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{rest:?}");
    assert_eq!(order_of(&items[0]), orders[0]);
    assert_eq!(rest.1["data"]["next"], Value::Null);

    // One read (twice: the same answer), ann cannot mark bob's.
    let id = items[0]["id"].as_str().unwrap().to_string();
    let read = format!("/api/notifications/{id}/read");
    let marked = post(&http, &chat, &read, &bob).await;
    assert_eq!(marked.0, 200, "{marked:?}");
    let read_at = marked.1["data"]["readAt"].clone();
    assert!(read_at.is_string(), "{marked:?}");
    let again = post(&http, &chat, &read, &bob).await;
    assert_eq!(again.1["data"]["readAt"], read_at, "idempotent");
    assert_error(
        &post(&http, &chat, &read, &ann).await,
        404,
        "NOTIFICATION_NOT_FOUND",
    );
    let unread = get(&http, &chat, "/api/notifications?unread=true", &bob).await;
    assert_eq!(unread.1["data"]["unread"], 2);
    assert_eq!(unread.1["data"]["items"].as_array().unwrap().len(), 2);

    // Bad input.
    for (path, code) in [
        ("/api/notifications?limit=0", "INVALID_LIMIT"),
        ("/api/notifications?limit=101", "INVALID_LIMIT"),
        ("/api/notifications?limit=x", "INVALID_LIMIT"),
        ("/api/notifications?before=nope", "INVALID_CURSOR"),
        ("/api/notifications?unread=yes", "INVALID_UNREAD"),
    ] {
        assert_error(&get(&http, &chat, path, &bob).await, 400, code);
    }
    assert_error(
        &post(&http, &chat, "/api/notifications/42/read", &bob).await,
        400,
        "INVALID_NOTIFICATION_ID",
    );
    let stranger = send(http.get(format!("{chat}/api/notifications"))).await;
    assert_error(&stranger, 401, "NOT_AUTHENTICATED");

    // Everything read.
    let all = post(&http, &chat, "/api/notifications/read-all", &bob).await;
    assert_eq!(all.1["data"]["marked"], 2, "{all:?}");
    let after = get(&http, &chat, "/api/notifications", &bob).await;
    assert_eq!(after.1["data"]["unread"], 0);
    assert_eq!(after.1["data"]["items"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_order_that_expires_notifies_its_buyer() {
    let services = Services::start().await;
    let shop = Shop::start_with(&services, Strategy::Lua, Duration::from_secs(2), true).await;
    let chat = base_url(&start_role(&services, Role::Chat, Strategy::Lua).await);
    let ann = shop.buyer("ann").await;
    let mut socket = feed(&chat, &ann).await;
    let lamp = item(&shop, 1, ItemKind::General, None).await;
    let order = place(&shop, &ann, lamp).await;

    let note = pushed(&mut socket).await;
    assert_eq!(note["kind"], "order-expired", "{note}");
    assert_eq!(note["payload"]["orderId"], json!(order));
    let list = get(&reqwest::Client::new(), &chat, "/api/notifications", &ann).await;
    assert_eq!(list.1["data"]["items"][0]["kind"], "order-expired");
    assert_eq!(list.1["data"]["unread"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_drop_notifies_the_items_buyers_only_and_a_rise_nobody() {
    let services = Services::start().await;
    let shop = Shop::start_with(&services, Strategy::Lua, NO_EXPIRY, false).await;
    let catalog = start_with(&services, &settings(Role::Catalog, Strategy::Lua)).await;
    let (admin, ann, bob) = (
        shop.buyer("admin").await,
        shop.buyer("ann").await,
        shop.buyer("bob").await,
    );
    let pool = shop.orders.pool();
    live_commerce::auth::accounts::grant_admin(pool, "admin@buyers.example")
        .await
        .unwrap();
    let (ann_id, bob_id) = (shop.user_id(&ann).await, shop.user_id(&bob).await);
    let (lamp, desk) = (
        item(&shop, 10, ItemKind::General, None).await,
        item(&shop, 10, ItemKind::General, None).await,
    );
    place(&shop, &ann, lamp).await;
    place(&shop, &ann, lamp).await;
    place(&shop, &bob, desk).await;

    let reprice = async |price: i64| {
        let body = json!({"name": "lamp", "kind": "GENERAL", "price": price});
        let answer = send(
            shop.http
                .put(format!("{}/api/items/{lamp}", base_url(&catalog)))
                .header(COOKIE, &admin)
                .json(&body),
        )
        .await;
        assert_eq!(answer.0, 200, "{answer:?}");
    };
    reprice(800).await;
    reprice(900).await;
    assert_eq!(rows(pool, &ann_id, "price-drop").await, 1, "one per buyer");
    assert_eq!(
        rows(pool, &bob_id, "price-drop").await,
        0,
        "bob ordered a desk"
    );
    let payload: Value =
        sqlx::query_scalar("SELECT payload FROM notifications WHERE kind = 'price-drop'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(
        payload,
        json!({"itemId": lamp, "itemName": "lamp", "oldPrice": 1000, "newPrice": 800})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mention_in_a_live_room_notifies_the_mentioned_user_once() {
    let services = Services::start().await;
    let kafka = testkit::kafka().await;
    let auth = start_role(&services, Role::Auth, Strategy::Lua).await;
    let chat = start_role(&services, Role::Chat, Strategy::Lua).await;
    let worker = Settings {
        chat_archive_topic: Some(kafka.name("chat")),
        ..settings(Role::Worker, Strategy::Lua)
    };
    let mut config = services.config();
    config.kafka_brokers = kafka.brokers().to_string();
    let _worker = live_commerce::server::start(&config, &worker, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let (ann, bob) = (
        support::buyer(&http, &base_url(&auth), "ann").await,
        support::buyer(&http, &base_url(&auth), "bob").await,
    );
    let chat = base_url(&chat);
    let mut bob_feed = feed(&chat, &bob).await;
    let mut room = join(&chat, "live.launch", &ann).await;
    room.until_live().await;
    room.say("talking to myself, @ann@buyers.example").await;
    room.say("hi @Bob@buyers.example! and @nobody@buyers.example")
        .await;

    let note = pushed(&mut bob_feed).await;
    assert_eq!(note["kind"], "mention", "{note}");
    assert_eq!(note["payload"]["room"], "live.launch");
    assert_eq!(note["payload"]["offset"], 2);
    assert_eq!(
        note["payload"]["text"],
        "hi @Bob@buyers.example! and @nobody@buyers.example"
    );
    // The scanner handled the earlier message first (one room, one
    // partition, in order): ann's mention of herself recorded nothing.
    let pool = services.postgres.pool().await;
    let (total, key): (i64, String) =
        sqlx::query_as("SELECT count(*) OVER (), event_key FROM notifications")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(total, 1);

    // The scanner killed before its Kafka commit reads the record again:
    // nothing new.
    let epoch = key.split(':').nth(2).unwrap().to_string();
    let again = ArchivedMessage {
        room: "live.launch".into(),
        epoch,
        offset: 2,
        payload: json!({"id": "m2", "from": note["payload"]["from"], "text": "hi @bob@buyers.example", "at": 0})
            .to_string(),
    };
    assert_eq!(record_batch(&pool, &[again]).await.unwrap(), 0);
    assert_eq!(
        rows(&pool, &account_id(&pool, "bob").await, "mention").await,
        1
    );
}

/// The account id of buyer `name`.
async fn account_id(pool: &sqlx::PgPool, name: &str) -> String {
    sqlx::query_scalar("SELECT id::text FROM accounts WHERE email = $1")
        .bind(format!("{name}@buyers.example"))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_was_recorded_while_no_chat_instance_ran_is_pushed_once_when_two_start() {
    let services = Services::start().await;
    let auth = start_role(&services, Role::Auth, Strategy::Lua).await;
    let http = reqwest::Client::new();
    support::buyer(&http, &base_url(&auth), "ann").await;
    let pool = services.postgres.pool().await;
    let ann: Uuid = account_id(&pool, "ann").await.parse().unwrap();
    // Announced to nobody: no instance was listening.
    for n in 0..3 {
        let mut tx = pool.begin().await.unwrap();
        record(
            &mut tx,
            ann,
            &format!("missed-{n}"),
            Kind::Mention,
            &json!({"n": n}),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    let _instances = tokio::join!(
        start_role(&services, Role::Chat, Strategy::Lua),
        start_role(&services, Role::Chat, Strategy::Lua),
    );
    testkit::wait::until(PATIENCE, "the start sweep delivered all three", || async {
        let undelivered: i64 =
            sqlx::query_scalar("SELECT count(*) FROM notifications WHERE delivered_at IS NULL")
                .fetch_one(&pool)
                .await
                .unwrap();
        undelivered == 0
    })
    .await;
    // Each published once to ann's feed room, by one of the two.
    let published = support::chat::history_len(&services, &format!("user.{ann}")).await;
    assert_eq!(published, 3);
}

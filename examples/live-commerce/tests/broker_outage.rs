//! Ordering through a RabbitMQ outage (`lua-mq`): a private broker node is
//! stopped in the middle of a sale and started again. Orders taken while it
//! is down go through the outbox, so every buyer still gets `202`, and once
//! the broker is back every accepted order is recorded, then paid, exactly
//! once.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use live_commerce::catalog::ItemKind;
use live_commerce::server::{Role, Running};
use live_commerce::strategy::Strategy;
use reqwest::header::COOKIE;
use serde_json::json;
use support::Services;
use support::shop::{Shop, item, send};

const WAVE: usize = 100;
const ORDERS: usize = 3 * WAVE;

/// One answer of the sale: the buyer and order id, the latency, and
/// whether the broker was down when the order was sent and still down when
/// it was answered.
struct Answer {
    order: (String, String),
    latency: Duration,
    during_outage: bool,
}

async fn start(services: &Services, amqp_url: &str, role: Role) -> Running {
    let mut config = services.config();
    config.amqp_url = amqp_url.to_string();
    let settings = support::settings(role, Strategy::LuaMq);
    live_commerce::server::start(&config, &settings, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap_or_else(|error| panic!("starting {}: {error:#}", role.name()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_keep_being_taken_while_rabbitmq_is_down_and_each_is_confirmed_once() {
    let services = Services::start().await;
    let node = testkit::rabbitmq_node().await;
    let shop = Shop {
        orders: start(&services, &node.url(), Role::Order).await,
        auth: start(&services, &node.url(), Role::Auth).await,
        worker: Some(start(&services, &node.url(), Role::Worker).await),
        http: reqwest::Client::new(),
    };
    let lamp = item(&shop, ORDERS as i32, ItemKind::General, None).await;
    let buyers = shop.buyers(30).await;

    // Three waves of a hundred orders, ten at a time: the first while the
    // node is being stopped, the second while it is down, the third while
    // it starts again.
    let broker_down = AtomicBool::new(false);
    let wave = |first: usize| {
        let (shop, buyers, broker_down) = (&shop, &buyers, &broker_down);
        futures::stream::iter(first..first + WAVE)
            .map(move |n| {
                let buyer = buyers[n % buyers.len()].clone();
                async move {
                    let was_down = broker_down.load(Ordering::SeqCst);
                    let sent = Instant::now();
                    let body = json!({"itemId": lamp, "count": 1}).to_string();
                    let (status, answer) = shop.order(&buyer, &body).await;
                    let latency = sent.elapsed();
                    assert_eq!(status, 202, "{answer}");
                    let id = answer["data"]["orderId"].as_str().unwrap().to_string();
                    Answer {
                        order: (buyer, id),
                        latency,
                        during_outage: was_down && broker_down.load(Ordering::SeqCst),
                    }
                }
            })
            .buffer_unordered(10)
            .collect::<Vec<_>>()
    };
    let (mut answers, ()) = tokio::join!(wave(0), async {
        node.stop().await.unwrap();
        broker_down.store(true, Ordering::SeqCst);
    });
    answers.extend(wave(WAVE).await);
    let (last, ()) = tokio::join!(wave(2 * WAVE), async {
        broker_down.store(false, Ordering::SeqCst);
        node.start().await.unwrap();
    });
    answers.extend(last);

    let down: Vec<Duration> = answers
        .iter()
        .filter(|a| a.during_outage)
        .map(|a| a.latency)
        .collect();
    let slowest = down.iter().max().copied().unwrap_or_default();
    eprintln!(
        "{} orders answered while the broker was down; slowest {slowest:?}",
        down.len()
    );
    assert!(
        down.len() >= WAVE,
        "only {} orders were sent and answered inside the outage",
        down.len()
    );
    // Those answers came while the broker was down: the hand-off did not
    // wait for it (the publisher alone would have retried for 30 s).

    // Back up: every accepted order recorded once, then paid once.
    let accepted: Vec<(String, String)> = answers.into_iter().map(|a| a.order).collect();
    assert_eq!(accepted.len(), ORDERS);
    let pool = shop.orders.pool().clone();
    testkit::wait::until(Duration::from_secs(120), "every order recorded", || async {
        count(
            &pool,
            "SELECT count(*) FROM orders WHERE status = 'PENDING_PAYMENT'",
        )
        .await
            == ORDERS as i64
    })
    .await;
    let payments = accepted.iter().map(|(buyer, order)| {
        let request = shop
            .http
            .post(shop.url(&format!("/api/orders/{order}/pay")))
            .header(COOKIE, buyer)
            .header("idempotency-key", format!("pay-{order}"));
        async move { send(request).await }
    });
    let paid: Vec<_> = futures::stream::iter(payments)
        .buffer_unordered(10)
        .collect()
        .await;
    for answer in &paid {
        assert_eq!(answer.0, 200, "{answer:?}");
        assert_eq!(answer.1["data"]["status"], json!("CONFIRMED"));
    }
    let ids: Vec<uuid::Uuid> = accepted.iter().map(|(_, id)| id.parse().unwrap()).collect();
    let rows: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM orders WHERE id = ANY($1) AND status = 'CONFIRMED'",
    )
    .bind(&ids)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(rows, ORDERS as i64, "each accepted order confirmed");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM orders").await,
        ORDERS as i64,
        "none twice"
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM inbox").await,
        ORDERS as i64
    );
    assert_eq!(
        count(&pool, "SELECT stock::bigint FROM items").await,
        0,
        "the database stock taken once per order"
    );
    let through_outbox = count(
        &pool,
        "SELECT count(*) FROM mq_outbox WHERE destination = 'orders' AND sent_at IS NOT NULL",
    )
    .await;
    assert!(
        through_outbox >= down.len() as i64,
        "{through_outbox} orders went through the outbox"
    );
    shop.stop().await;
}

async fn count(pool: &sqlx::PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

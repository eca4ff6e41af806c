//! `lua-mq`: orders accepted while no worker runs wait in RabbitMQ; a worker
//! killed with `kill -9` mid-drain and restarted still leaves exactly one
//! persisted order per accepted request, none twice.

mod support;

use std::time::Duration;

use live_commerce::auth::password::HashCost;
use live_commerce::flash_sale::{self, FlashSaleOptions, Quantities};
use live_commerce::server::{self, Role, Settings};
use live_commerce::strategy::Strategy;
use reqwest::header::COOKIE;
use serde_json::{Value, json};
use support::Services;

/// Buyers logged in, and the orders they place at once between them (more
/// than the stock of 100).
const BUYERS: usize = 8;
const REQUESTS: usize = 400;

fn worker_process(services: &Services) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_live-commerce"));
    command
        .args(["serve", "--role", "worker", "--worker-delay-ms", "30"])
        .env("REDIS_URL", services.redis.url())
        .env("AMQP_URL", services.rabbit.url())
        .env("DATABASE_URL", services.postgres.url())
        .env("RUST_LOG", "warn");
    command
}

async fn persisted(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'PENDING_PAYMENT'")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_drain_loses_nothing_and_doubles_nothing() {
    let services = Services::start().await;
    let config = services.config();
    // The order service alone: orders are accepted and queued. Buyers log
    // in at the auth service; the order service reads their sessions.
    let settings = Settings {
        role: Role::Order,
        strategy: Strategy::LuaMq,
        db_connections: 8,
        ..Settings::default()
    };
    let (orders, auth) = tokio::join!(
        server::start(&config, &settings, ([127, 0, 0, 1], 0).into()),
        support::start_role(&services, Role::Auth, Strategy::LuaMq),
    );
    let orders = orders.unwrap();
    let item_id = live_commerce::catalog::create_item(
        orders.pool(),
        orders.redis(),
        &live_commerce::catalog::NewItem {
            name: "drained".into(),
            kind: live_commerce::catalog::ItemKind::General,
            price: 100,
            stock: 100,
            start_at: None,
        },
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let auth_url = support::base_url(&auth);
    let cookies = support::buyers(&http, &auth_url, BUYERS).await;
    let addr = orders.addr.unwrap();
    let requests: Vec<_> = (0..REQUESTS)
        .map(|request| {
            let http = http.clone();
            let cookie = cookies[request % BUYERS].clone();
            tokio::spawn(async move {
                let response = http
                    .post(format!("http://{addr}/api/orders"))
                    .header(COOKIE, &cookie)
                    .json(&json!({"itemId": item_id, "count": 1}))
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                (cookie, status, body)
            })
        })
        .collect();
    // Each accepted order and the cookie of the buyer who placed it.
    let mut accepted = Vec::new();
    for request in requests {
        let (cookie, status, body) = request.await.unwrap();
        if status == 202 {
            assert_eq!(body["data"]["status"], json!("ACCEPTED"));
            accepted.push((
                cookie,
                body["data"]["orderId"].as_str().unwrap().to_string(),
            ));
        } else {
            assert_eq!(status, 409, "{body}");
        }
    }
    assert_eq!(accepted.len(), 100);
    let order_view = || async {
        let (buyer, order) = &accepted[0];
        let url = format!("http://{addr}/api/orders/{order}");
        let response = http.get(url).header(COOKIE, buyer).send().await.unwrap();
        response.json::<Value>().await.unwrap()
    };
    let pending = order_view().await;
    assert_eq!(
        pending["data"]["status"],
        json!("ACCEPTED"),
        "queued, not persisted yet"
    );
    assert_eq!(persisted(orders.pool()).await, 0);

    // A worker starts draining and is killed mid-way.
    let mut worker = testkit::ChildProcess::spawn(worker_process(&services)).unwrap();
    worker
        .wait_for_output("ready", Duration::from_secs(30))
        .await
        .unwrap();
    testkit::wait::until(
        Duration::from_secs(30),
        "a third of the orders persisted",
        || async { persisted(orders.pool()).await >= 30 },
    )
    .await;
    worker.kill9().await;
    let at_kill = persisted(orders.pool()).await;
    assert!(
        at_kill < 100,
        "the kill came mid-drain ({at_kill} persisted)"
    );

    // Restarted, it finishes the job.
    let mut restarted = testkit::ChildProcess::spawn(worker_process(&services)).unwrap();
    restarted
        .wait_for_output("ready", Duration::from_secs(30))
        .await
        .unwrap();
    testkit::wait::until(
        Duration::from_secs(60),
        "all 100 orders persisted",
        || async { persisted(orders.pool()).await >= 100 },
    )
    .await;
    let exit = restarted.terminate().await;
    assert!(
        exit.success(),
        "SIGTERM stops the worker gracefully: {exit:?}"
    );

    let (rows, distinct, stock): (i64, i64, i32) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM orders), (SELECT count(DISTINCT id) FROM orders), \
                (SELECT stock FROM items WHERE id = $1)",
    )
    .bind(item_id)
    .fetch_one(orders.pool())
    .await
    .unwrap();
    assert_eq!(
        (rows, distinct),
        (100, 100),
        "exactly one row per accepted order"
    );
    assert_eq!(persisted(orders.pool()).await, 100);
    assert_eq!(stock, 0, "the database stock was taken once per order");
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox")
        .fetch_one(orders.pool())
        .await
        .unwrap();
    assert_eq!(inbox, 100);
    let done = order_view().await;
    assert_eq!(done["data"]["status"], json!("PENDING_PAYMENT"));
    tokio::join!(orders.shutdown(), auth.shutdown());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_compares_cached_and_uncached_item_reads() {
    let services = Services::start().await;
    let options = FlashSaleOptions {
        buyers: 50,
        stock: 10,
        strategies: vec![Strategy::Lua],
        quantities: "1".parse::<Quantities>().unwrap(),
        out: Some(tempfile_dir()),
        progress: false,
        password_cost: HashCost::Minimal,
    };
    let report = flash_sale::run(&services.config(), &options).await.unwrap();
    let detail = report.item_detail.expect("item detail measured");
    assert!(detail.cached.requests_per_second > 0.0 && detail.uncached.requests_per_second > 0.0);
    let dir = options.out.unwrap();
    let page = std::fs::read_to_string(dir.join("flash-sale.md")).unwrap();
    assert!(page.contains("| `lua` | 10 |"), "{page}");
    assert!(page.contains("Item detail"), "{page}");
    let svg = std::fs::read_to_string(dir.join("flash-sale.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("lua"), "{svg}");
    std::fs::remove_dir_all(dir).unwrap();
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("flash-sale-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

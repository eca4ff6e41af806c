//! `redis-lock`: an order-service instance frozen (SIGSTOP) while it holds an
//! item's lock, past the lock's lease, mid-sale. The other instance takes the
//! lock and sells on; the frozen one wakes up inside its critical section.
//! The sale must still sell exactly the stock: the stale holder's section is
//! abandoned or refused by the row's fence, never applied on stale stock.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use live_commerce::server::Role;
use live_commerce::strategy::Strategy;
use nix::sys::signal::Signal;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use reqwest::header::COOKIE;
use serde_json::{Value, json};
use support::{Instance, Services};
use testkit::ChildProcess;
use tokio::sync::watch;

const LEASE: Duration = Duration::from_millis(600);
const STOCK: i64 = 80;
const BUYERS: usize = 6;
const PAUSES: usize = 2;
const PATIENCE: Duration = Duration::from_secs(60);

/// One `serve --role order --strategy redis-lock` process with a short lease.
async fn start_instance(services: &Services) -> Instance {
    let lease = LEASE.as_millis().to_string();
    let args = [
        "--role",
        "order",
        "--strategy",
        "redis-lock",
        "--lock-lease-ms",
        &lease,
    ];
    support::spawn_serve(services, &args).await
}

/// What the buyers were told.
#[derive(Default)]
struct Answers {
    accepted: AtomicUsize,
    lock_lost: AtomicUsize,
    unexpected: std::sync::Mutex<Vec<String>>,
}

/// Buys one unit at a time from `url` as the buyer of `cookie` until sold
/// out, while `open` says so.
async fn buyer(
    url: String,
    cookie: String,
    mut open: watch::Receiver<bool>,
    item: i64,
    answers: Arc<Answers>,
) {
    let http = reqwest::Client::new();
    let body = json!({"itemId": item, "count": 1}).to_string();
    loop {
        if open.wait_for(|open| *open).await.is_err() {
            return;
        }
        let response = http
            .post(format!("{url}/api/orders"))
            .header("content-type", "application/json")
            .header(COOKIE, &cookie)
            .body(body.clone())
            .send()
            .await;
        let (status, answer) = match response {
            Ok(response) => (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            ),
            Err(error) => (0, json!(error.to_string())),
        };
        match (status, answer["error"]["code"].as_str()) {
            (202, _) => answers.accepted.fetch_add(1, Ordering::SeqCst),
            (409, Some("SOLD_OUT")) => return,
            (503, Some("LOCK_LOST")) => answers.lock_lost.fetch_add(1, Ordering::SeqCst),
            _ => {
                answers
                    .unexpected
                    .lock()
                    .unwrap()
                    .push(format!("{status} {answer}"));
                return;
            }
        };
    }
}

/// The lock's owner and remaining lease, if it is held.
async fn holder(redis: &mut ConnectionManager, lock_key: &str) -> Option<(String, i64)> {
    let owner: Option<String> = redis.get(lock_key).await.unwrap();
    let left: i64 = redis.pttl(lock_key).await.unwrap();
    owner.map(|owner| (owner, left))
}

/// Freezes instance A while it holds the lock (B's buyers held back), until
/// its lease has run out and B took the lock. `false` when A turned out not to hold it
/// when frozen (then it is resumed, and the caller tries again).
async fn freeze_a_holding_the_lock(
    a: &ChildProcess,
    b_open: &watch::Sender<bool>,
    redis: &mut ConnectionManager,
    lock_key: &str,
) -> bool {
    a.signal(Signal::SIGSTOP);
    let Some((frozen_owner, _)) = holder(redis, lock_key).await else {
        a.signal(Signal::SIGCONT);
        return false;
    };
    // A live holder renews at a third of the lease; one whose lease keeps
    // running down past half of it is the frozen one.
    let moved = std::cell::Cell::new(false);
    testkit::wait::until(
        PATIENCE,
        "the frozen holder's lease to run down or move",
        || {
            let mut redis = redis.clone();
            let frozen_owner = frozen_owner.clone();
            let moved = &moved;
            async move {
                match holder(&mut redis, lock_key).await {
                    Some((owner, left)) if owner == frozen_owner => {
                        left < (LEASE / 2).as_millis() as i64
                    }
                    _ => {
                        moved.set(true); // released or taken: it was not A
                        true
                    }
                }
            }
        },
    )
    .await;
    if moved.get() {
        a.signal(Signal::SIGCONT);
        return false;
    }
    // Let B's buyers in: B takes the lock once the frozen lease expires.
    b_open.send_replace(true);
    testkit::wait::until(PATIENCE, "another owner to take the lock", || {
        let mut redis = redis.clone();
        let frozen_owner = frozen_owner.clone();
        async move {
            holder(&mut redis, lock_key)
                .await
                .is_some_and(|(owner, _)| owner != frozen_owner)
        }
    })
    .await;
    true
}

async fn units_sold_and_left(pool: &sqlx::PgPool, item: i64) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT coalesce(sum(count), 0)::bigint FROM orders WHERE item_id = $1), \
                (SELECT count(*) FROM orders WHERE item_id = $1), \
                (SELECT stock::bigint FROM items WHERE id = $1)",
    )
    .bind(item)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_frozen_past_its_lease_mid_sale_still_sells_exactly_the_stock() {
    let services = Services::start().await;
    let pool = live_commerce::db::connect(services.postgres.url(), 2)
        .await
        .unwrap();
    let mut redis = testkit::redis_manager(&services.redis.client())
        .await
        .unwrap();
    let item = live_commerce::catalog::create_item(
        &pool,
        &redis,
        &live_commerce::catalog::NewItem {
            name: "frozen sale".into(),
            kind: live_commerce::catalog::ItemKind::General,
            price: 100,
            stock: STOCK as i32,
            start_at: None,
        },
    )
    .await
    .unwrap();
    let lock_key = format!("redlock:{{item:{item}}}:lock");
    let (a, b, auth) = tokio::join!(
        start_instance(&services),
        start_instance(&services),
        support::start_role(&services, Role::Auth, Strategy::Lua),
    );
    let http = reqwest::Client::new();
    let auth_url = support::base_url(&auth);
    let cookies = support::buyers(&http, &auth_url, BUYERS).await;
    let answers = Arc::new(Answers::default());
    // A's buyers always buy; B's only while the test lets them, so that A
    // is the one holding the lock when it is frozen.
    let (a_open, a_gate) = watch::channel(true);
    let (b_open, b_gate) = watch::channel(false);
    let buyers: Vec<_> = cookies
        .into_iter()
        .enumerate()
        .map(|(n, cookie)| {
            let (url, gate) = if n % 2 == 0 {
                (a.url.clone(), a_gate.clone())
            } else {
                (b.url.clone(), b_gate.clone())
            };
            tokio::spawn(buyer(url, cookie, gate, item, answers.clone()))
        })
        .collect();

    let mut frozen = 0;
    while frozen < PAUSES && answers.accepted.load(Ordering::SeqCst) < STOCK as usize - 20 {
        b_open.send_replace(false);
        let before = answers.accepted.load(Ordering::SeqCst);
        testkit::wait::until(PATIENCE, "A to sell", || {
            let answers = answers.clone();
            async move { answers.accepted.load(Ordering::SeqCst) >= before + 3 }
        })
        .await;
        if freeze_a_holding_the_lock(&a.process, &b_open, &mut redis, &lock_key).await {
            frozen += 1;
            a.process.signal(Signal::SIGCONT);
        }
    }
    assert_eq!(
        frozen, PAUSES,
        "A was frozen holding the lock {frozen} times"
    );
    b_open.send_replace(true);
    let buyers_done = async {
        for buyer in buyers {
            buyer.await.unwrap();
        }
    };
    tokio::time::timeout(PATIENCE, buyers_done)
        .await
        .expect("the buyers finish");
    drop((a_open, b_open));

    let unexpected = answers.unexpected.lock().unwrap().clone();
    assert!(unexpected.is_empty(), "unexpected answers: {unexpected:?}");
    let (sold, rows, left) = units_sold_and_left(&pool, item).await;
    let accepted = answers.accepted.load(Ordering::SeqCst) as i64;
    let lock_lost = answers.lock_lost.load(Ordering::SeqCst) as i64;
    assert_eq!(
        (sold, left),
        (STOCK, 0),
        "exactly the stock sold, none left"
    );
    assert!(
        accepted <= rows && rows <= accepted + lock_lost,
        "every accepted order is recorded; at most the lock-lost answers are in doubt: \
         accepted {accepted}, lock lost {lock_lost}, rows {rows}"
    );
    auth.shutdown().await;
}

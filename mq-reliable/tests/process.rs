//! The consumer as a separate process, killed the hard way (`kill -9`) or
//! asked to stop (SIGTERM), with its effects in PostgreSQL.
//!
//! Each scenario test starts this same test binary again on itself
//! (`--exact <its name>`) with the `MQ_WORKER_*` environment set; the test
//! function then acts as the worker instead of the scenario.

mod common;

use std::time::Duration;

use common::Order;
use mq_reliable::amqp::{Broker, Consumer};
use mq_reliable::inbox::PgInbox;
use mq_reliable::{Backoff, Message, Outcome};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use testkit::ChildProcess;

const QUEUE: &str = "orders.work";

/// The worker's consumer; the scenarios build it too, to declare the queue
/// before publishing.
async fn worker_consumer(mq: &Broker) -> Consumer {
    mq.consumer(QUEUE)
        .bind("orders", "order.created")
        .concurrency(32)
        .prefetch(64)
        .retry(Backoff::fixed(Duration::from_millis(50)).max_attempts(10))
        .build()
        .await
        .expect("worker consumer")
}

/// Whether this process is a scenario's worker.
fn is_worker() -> bool {
    std::env::var_os("MQ_WORKER_MODE").is_some()
}

/// The worker process of the kill -9 and SIGTERM scenarios.
async fn worker_process() {
    let env = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .connect(&env("MQ_WORKER_DATABASE_URL"))
        .await
        .unwrap();
    let mq = Broker::connect(env("MQ_WORKER_AMQP_URL")).await.unwrap();
    let consumer = worker_consumer(&mq).await;
    let inbox = PgInbox::new("mq_inbox").unwrap();
    let with_inbox = env("MQ_WORKER_MODE") == "inbox";
    println!("ready");
    consumer
        .run_until(
            move |msg: Message<Order>| {
                let (pool, inbox) = (pool.clone(), inbox.clone());
                async move {
                    if with_inbox {
                        handle_once(&pool, &inbox, msg).await
                    } else {
                        // Plain: a slow effect without deduplication, to show
                        // that a graceful stop neither loses nor repeats one.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        sqlx::query("INSERT INTO effects (order_id) VALUES ($1)")
                            .bind(msg.payload().id as i64)
                            .execute(&pool)
                            .await?;
                        Ok(())
                    }
                }
            },
            mq_reliable::shutdown_signal(),
        )
        .await
        .unwrap();
    println!("stopped {:?}", consumer.stats());
}

/// The effect and the message id in one transaction.
async fn handle_once(pool: &PgPool, inbox: &PgInbox, msg: Message<Order>) -> Result<(), Outcome> {
    if msg.redelivered() {
        sqlx::query("INSERT INTO redeliveries (message_id) VALUES ($1)")
            .bind(msg.id())
            .execute(pool)
            .await?;
    }
    let mut tx = pool.begin().await?;
    if !inbox.record(&mut tx, &msg).await.map_err(Outcome::retry)? {
        return Ok(());
    }
    sqlx::query("INSERT INTO effects (order_id) VALUES ($1)")
        .bind(msg.payload().id as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

struct Scenario {
    _vhost: testkit::RabbitVhost,
    _db: testkit::PgDatabase,
    amqp_url: String,
    db_url: String,
    pool: PgPool,
    mq: Broker,
}

impl Scenario {
    async fn new() -> Self {
        let vhost = testkit::rabbitmq().await;
        let db = testkit::postgres().await;
        let pool = db.pool().await;
        sqlx::raw_sql(
            "CREATE TABLE effects (order_id bigint NOT NULL);
             CREATE TABLE redeliveries (message_id text);",
        )
        .execute(&pool)
        .await
        .unwrap();
        PgInbox::new("mq_inbox")
            .unwrap()
            .create_table(&pool)
            .await
            .unwrap();
        let mq = Broker::connect(vhost.url()).await.unwrap();
        worker_consumer(&mq).await; // declares the queues
        Self {
            amqp_url: vhost.url(),
            db_url: db.url().to_string(),
            _vhost: vhost,
            _db: db,
            pool,
            mq,
        }
    }

    async fn publish(&self, n: u64) {
        let publisher = self.mq.publisher().build().await.unwrap();
        let lanes: Vec<_> = (0..16)
            .map(|lane| {
                let publisher = publisher.clone();
                tokio::spawn(async move {
                    for id in (lane..n).step_by(16) {
                        publisher
                            .publish("orders", "order.created", &Order::new(id))
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for lane in lanes {
            lane.await.unwrap();
        }
    }

    async fn worker(&self, mode: &str) -> ChildProcess {
        // The scenario that runs this mode, started again as the worker.
        let test = match mode {
            "inbox" => "ten_thousand_messages_through_two_kill_9s_take_effect_exactly_once",
            _ => "sigterm_under_load_finishes_in_flight_work_and_loses_nothing",
        };
        let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", test, "--nocapture"])
            .env("MQ_WORKER_AMQP_URL", &self.amqp_url)
            .env("MQ_WORKER_DATABASE_URL", &self.db_url)
            .env("MQ_WORKER_MODE", mode);
        let worker = ChildProcess::spawn(command).unwrap();
        worker
            .wait_for_output("ready", Duration::from_secs(30))
            .await
            .unwrap();
        worker
    }

    /// (effects, distinct orders with an effect)
    async fn effects(&self) -> (i64, i64) {
        sqlx::query_as("SELECT count(*), count(DISTINCT order_id) FROM effects")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn wait_for_effects(&self, at_least: i64) {
        testkit::wait::until(
            Duration::from_secs(60),
            &format!("{at_least} effects"),
            || async { self.effects().await.0 >= at_least },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_through_two_kill_9s_take_effect_exactly_once() {
    if is_worker() {
        return worker_process().await;
    }
    const N: i64 = 10_000;
    let scenario = Scenario::new().await;
    scenario.publish(N as u64).await;

    for threshold in [2_500, 6_000] {
        let mut worker = scenario.worker("inbox").await;
        scenario.wait_for_effects(threshold).await;
        let status = worker.kill9().await;
        assert!(!status.success());
        assert!(
            scenario.effects().await.0 < N,
            "the worker must die mid-way"
        );
    }
    let mut worker = scenario.worker("inbox").await;
    scenario.wait_for_effects(N).await;
    testkit::wait::until(Duration::from_secs(30), "queue drained", || async {
        scenario.mq.ready_count(QUEUE).await.unwrap() == 0
    })
    .await;
    let status = worker.terminate().await;
    assert!(status.success(), "{}", worker.output_text());

    assert_eq!(
        scenario.effects().await,
        (N, N),
        "every effect exactly once"
    );
    let (redelivered,): (i64,) = sqlx::query_as("SELECT count(*) FROM redeliveries")
        .fetch_one(&scenario.pool)
        .await
        .unwrap();
    assert!(
        redelivered > 0,
        "the killed workers' unacked messages come back redelivered"
    );
    assert_eq!(
        scenario
            .mq
            .ready_count(&format!("{QUEUE}.dlq"))
            .await
            .unwrap(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_in_flight_work_and_loses_nothing() {
    if is_worker() {
        return worker_process().await;
    }
    const N: i64 = 3_000;
    let scenario = Scenario::new().await;
    scenario.publish(N as u64).await;

    let mut worker = scenario.worker("plain").await;
    scenario.wait_for_effects(500).await;
    let status = worker.terminate().await;
    assert!(status.success(), "{}", worker.output_text());
    assert!(worker.output_text().contains("stopped"));

    // Every message is either done (its handler finished and was acked) or
    // back in the queue: none in between, none done twice.
    let (done, distinct) = scenario.effects().await;
    assert!(done < N, "the worker must stop mid-way");
    assert_eq!(done, distinct);
    let ready = scenario.mq.ready_count(QUEUE).await.unwrap() as i64;
    assert_eq!(
        done + ready,
        N,
        "nothing lost or stuck: {done} done, {ready} ready"
    );

    // A new worker takes the rest.
    let mut worker = scenario.worker("plain").await;
    scenario.wait_for_effects(N).await;
    let status = worker.terminate().await;
    assert!(status.success(), "{}", worker.output_text());
    assert_eq!(scenario.effects().await, (N, N));
}

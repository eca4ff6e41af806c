//! The DIY Redis-list queue: the experiment's outcome through a real
//! `kill -9` of a real consumer process (the naive queue loses the jobs in
//! flight, the reliable one and RabbitMQ with manual ack lose none), and
//! the reaper's rule (a dead consumer's jobs return, a live one's do not).

mod support;

use std::time::{Duration, Instant};

use live_commerce::experiments::diy_queue::keys::Keys;
use live_commerce::experiments::diy_queue::ledger::Ledger;
use live_commerce::experiments::diy_queue::reaper::Reaper;
use live_commerce::experiments::diy_queue::reliable::{self, ReliableConsumer};
use live_commerce::experiments::diy_queue::{connection, naive};
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use serde_json::Value;
use support::Services;

/// How long a test waits for a condition before it fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// Runs `live-commerce experiment diy-queue --json` against `services`.
async fn experiment(services: &Services, args: &[&str]) -> Value {
    let output = tokio::time::timeout(
        Duration::from_secs(240),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_live-commerce"))
            .args(["experiment", "diy-queue", "--json"])
            .args(args)
            .env("REDIS_URL", services.redis.url())
            .env("AMQP_URL", services.rabbit.url())
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the experiment finished within 4 minutes")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{}\n{stdout}\n{stderr}",
        output.status
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|error| panic!("{error}: not one JSON object: {stdout}\n{stderr}"))
}

/// `variant`'s counter `name` in the experiment's JSON.
fn count(report: &Value, variant: &str, name: &str) -> u64 {
    report["variants"][variant][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {variant}.{name} in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_mid_job_loses_jobs_from_the_naive_queue_only() {
    let services = Services::start().await;
    // Each job holds its consumer 40 ms, and the kill comes right after a
    // job began (after 150 of 400 jobs), so it lands while the 8 consumers
    // hold jobs even if this machine stalls the experiment for a while.
    let report = experiment(
        &services,
        &[
            "--jobs",
            "400",
            "--consumers",
            "8",
            "--work-ms",
            "40",
            "--kill-at",
            "150",
            "--visibility-timeout-ms",
            "1000",
            "--deadline-s",
            "60",
        ],
    )
    .await;
    println!("diy-queue: {report}");
    for variant in ["naive", "reliable", "rabbitmq"] {
        assert_eq!(count(&report, variant, "jobs"), 400, "{report}");
        assert_eq!(
            count(&report, variant, "completed") + count(&report, variant, "lost"),
            400,
            "{report}"
        );
        assert!(
            count(&report, variant, "in_flight_at_kill") > 0,
            "{variant}: the kill found no job in flight, so it proves nothing: {report}"
        );
        assert_eq!(report["variants"][variant]["drained"], true, "{report}");
    }
    assert!(count(&report, "naive", "lost") > 0, "{report}");
    assert_eq!(count(&report, "naive", "duplicated"), 0, "{report}");
    assert_eq!(count(&report, "reliable", "lost"), 0, "{report}");
    assert_eq!(count(&report, "rabbitmq", "lost"), 0, "{report}");
}

/// A fresh queue on its own Redis server.
struct Queue {
    _redis: testkit::RedisServer,
    client: redis::Client,
    conn: MultiplexedConnection,
    keys: Keys,
}

impl Queue {
    async fn new(jobs: u64) -> Self {
        let redis = testkit::redis().await;
        let client = redis::Client::open(redis.url()).unwrap();
        let mut conn = connection::connect(&client).await.unwrap();
        let keys = Keys::new("test:reliable");
        naive::push(&mut conn, &keys, 0..jobs).await.unwrap();
        Self {
            _redis: redis,
            client,
            conn,
            keys,
        }
    }

    fn consumer(&self, visibility: Duration) -> ReliableConsumer {
        let ledger = Ledger::new(&self.keys);
        ReliableConsumer::new(self.keys.clone(), ledger, Duration::ZERO, visibility)
    }

    /// Registers `consumer` and moves `n` jobs into its processing list.
    async fn claim(&mut self, consumer: &ReliableConsumer, n: usize) -> Vec<String> {
        consumer.beat(&mut self.conn).await.unwrap();
        let mut blocking = connection::blocking(&self.client).await.unwrap();
        let mut jobs = Vec::new();
        for _ in 0..n {
            jobs.push(consumer.claim(&mut blocking).await.unwrap().expect("a job"));
        }
        jobs
    }

    async fn list(&mut self, key: String) -> Vec<String> {
        self.conn.lrange(key, 0, -1).await.unwrap()
    }

    async fn registered(&mut self, consumer: &ReliableConsumer) -> bool {
        self.conn
            .sismember(self.keys.consumers(), consumer.id())
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_consumers_jobs_return_and_a_live_ones_stay() {
    let mut queue = Queue::new(5).await;
    let dead = queue.consumer(Duration::from_millis(300));
    let live = queue.consumer(Duration::from_secs(600));
    let dead_jobs = queue.claim(&dead, 2).await;
    let live_jobs = queue.claim(&live, 1).await;
    assert_eq!(
        (dead_jobs.clone(), live_jobs.clone()),
        (vec!["0".into(), "1".into()], vec!["2".into()])
    );
    let reaper = Reaper::new(queue.keys.clone());

    // `dead` never beats again: once its heartbeat expires, its jobs go back.
    let deadline = Instant::now() + PATIENCE;
    let mut returned = 0;
    while returned < 2 {
        assert!(
            Instant::now() < deadline,
            "the dead consumer's jobs did not return"
        );
        returned += reaper.reap(&mut queue.conn).await.unwrap().jobs;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The queue's taking end (the right) now has the returned jobs, the
    // oldest first; the dead consumer is gone, the live one untouched.
    assert_eq!(queue.list(queue.keys.queue()).await, ["4", "3", "1", "0"]);
    assert!(
        queue
            .list(queue.keys.processing(dead.id()))
            .await
            .is_empty()
    );
    assert!(!queue.registered(&dead).await);
    assert_eq!(
        queue.list(queue.keys.processing(live.id())).await,
        live_jobs
    );
    assert!(queue.registered(&live).await);
    assert_eq!(
        reliable::pending(&mut queue.conn, &queue.keys)
            .await
            .unwrap(),
        5
    );
    // Further passes change nothing.
    assert_eq!(reaper.reap(&mut queue.conn).await.unwrap().jobs, 0);
    assert_eq!(
        queue.list(queue.keys.processing(live.id())).await,
        live_jobs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_reaped_from_a_stalled_consumer_cannot_be_acked_by_it() {
    let mut queue = Queue::new(2).await;
    let consumer = queue.consumer(Duration::from_secs(600));
    let jobs = queue.claim(&consumer, 2).await;
    assert!(consumer.ack(&mut queue.conn, &jobs[0]).await.unwrap());
    assert_eq!(
        queue.list(queue.keys.processing(consumer.id())).await,
        [jobs[1].clone()]
    );

    // Its heartbeat lapses (a stall past the visibility timeout): the reaper
    // returns the job, and the late ack says so instead of removing it.
    let _: () = queue
        .conn
        .del(queue.keys.heartbeat(consumer.id()))
        .await
        .unwrap();
    let reaper = Reaper::new(queue.keys.clone());
    assert_eq!(reaper.reap(&mut queue.conn).await.unwrap().jobs, 1);
    assert!(!consumer.ack(&mut queue.conn, &jobs[1]).await.unwrap());
    assert_eq!(queue.list(queue.keys.queue()).await, [jobs[1].clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_keeps_beating_keeps_a_long_job_past_the_visibility_timeout() {
    let queue = Queue::new(1).await;
    let visibility = Duration::from_millis(1500);
    // One job held for 4 s: well past the 1.5 s visibility timeout, which
    // only the heartbeat (renewed every 0.5 s) keeps from expiring.
    let consumer = ReliableConsumer::new(
        queue.keys.clone(),
        Ledger::new(&queue.keys),
        Duration::from_secs(4),
        visibility,
    );
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let reaper = Reaper::new(queue.keys.clone());
    let reaping = {
        let (mut conn, stop) = (queue.conn.clone(), stop.clone());
        tokio::spawn(async move { reaper.run(&mut conn, Duration::from_millis(50), stop).await })
    };
    let consuming = {
        let (client, stop) = (queue.client.clone(), stop.clone());
        tokio::spawn(async move { consumer.run(&client, stop).await })
    };
    let ledger = Ledger::new(&queue.keys);
    testkit::wait::until(PATIENCE, "the job to complete", || {
        let (ledger, mut conn) = (ledger.clone(), queue.conn.clone());
        async move { ledger.completed_jobs(&mut conn).await.unwrap() == 1 }
    })
    .await;
    stop_tx.send(true).unwrap();
    assert_eq!(consuming.await.unwrap().unwrap(), 1);
    let reaped = reaping.await.unwrap();
    assert_eq!(reaped.jobs, 0, "the reaper took a live consumer's job");
    let mut conn = queue.conn.clone();
    let started: u64 = conn.hget(queue.keys.started(), "0").await.unwrap();
    let tally = ledger.tally(&mut conn, 1).await.unwrap();
    assert_eq!((started, tally.completed, tally.duplicated), (1, 1, 0));
    assert_eq!(reliable::pending(&mut conn, &queue.keys).await.unwrap(), 0);
}

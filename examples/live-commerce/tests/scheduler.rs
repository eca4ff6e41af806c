//! The scheduler role: a job fired by every instance runs once per tick.
//! Three `serve --role scheduler` processes on a per-second schedule run
//! every tick exactly once (from `job_runs`: none missing, none started
//! twice); a runner killed mid-job has its tick completed, once, by
//! another, or by its successor when it was the only one; and the daily
//! statistics are right, in the table, in the cache and over HTTP.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use live_commerce::scheduler::daily_stats::{self, DailySales, ItemSales};
use live_commerce::scheduler::{SchedulerSettings, once, ticks};
use live_commerce::server::{Role, Settings};
use live_commerce::strategy::Strategy;
use serde_json::Value;
use sqlx::PgPool;
use support::{Instance, Services};

/// Every second: cron with seconds.
const EVERY_SECOND: &str = "* * * * * *";

/// Generous: the machine is shared with other test suites.
const PATIENCE: Duration = Duration::from_secs(90);

/// One row of `job_runs`.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Run {
    tick: DateTime<Utc>,
    status: String,
    attempts: i32,
    runner: String,
}

impl Run {
    /// The process id in the runner's name (`pid:random`).
    fn pid(&self) -> u32 {
        self.runner.split(':').next().unwrap().parse().unwrap()
    }
}

async fn runs_after(pool: &PgPool, after: DateTime<Utc>) -> Vec<Run> {
    sqlx::query_as(
        "SELECT tick, status, attempts, runner FROM job_runs \
          WHERE job = $1 AND tick > $2 ORDER BY tick",
    )
    .bind(daily_stats::JOB)
    .bind(after)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Waits until `ready` holds for the runs after `after`; the runs then.
async fn await_runs(
    pool: &PgPool,
    after: DateTime<Utc>,
    what: &str,
    ready: impl Fn(&[Run]) -> bool,
) -> Vec<Run> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let runs = runs_after(pool, after).await;
        if ready(&runs) {
            return runs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: never happened; runs: {runs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts the ticks of `runs` are consecutive seconds: none missing.
fn assert_consecutive(runs: &[Run]) {
    for pair in runs.windows(2) {
        assert_eq!(
            (pair[1].tick - pair[0].tick).num_seconds(),
            1,
            "a tick is missing between {} and {}",
            pair[0].tick,
            pair[1].tick
        );
    }
}

/// `n` scheduler processes on a per-second schedule, with `extra` flags.
async fn schedulers(services: &Services, n: usize, extra: &[&str]) -> Vec<Instance> {
    let mut args = vec!["--role", "scheduler", "--stats-schedule", EVERY_SECOND];
    args.extend_from_slice(extra);
    let spawned = (0..n).map(|_| support::spawn_serve(services, &args));
    futures::future::join_all(spawned).await
}

/// Ticks run per runner process (for the test's output).
fn per_runner(runs: &[Run]) -> BTreeMap<u32, usize> {
    let mut counts = BTreeMap::new();
    for run in runs {
        *counts.entry(run.pid()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_schedulers_run_each_of_20_ticks_exactly_once() {
    let services = Services::start().await;
    let instances = schedulers(&services, 3, &[]).await;
    let pool = services.postgres.pool().await;
    // Ticks from now on are fired by all three.
    let start = Utc::now();
    let runs = await_runs(&pool, start, "20 ticks done", |runs| {
        runs.iter().filter(|run| run.status == "done").count() >= 20
    })
    .await;
    let runs: Vec<Run> = runs.into_iter().take(20).collect();
    assert_consecutive(&runs);
    for run in &runs {
        assert_eq!(run.status, "done", "{run:?}");
        assert_eq!(run.attempts, 1, "a tick was started twice: {run:?}");
    }
    // No Redis key is left for ever per tick: the fencing counters expire.
    let redis = redis::Client::open(services.redis.url()).unwrap();
    let mut redis = testkit::redis_connection(&redis).await.unwrap();
    for run in &runs {
        let name = once::lock_name(daily_stats::JOB, run.tick);
        let key = format!("{}:{{{name}}}:fence", once::LOCK_PREFIX);
        let ttl: i64 = redis::cmd("TTL")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .unwrap();
        assert!(ttl > 0, "{key}: TTL {ttl}");
    }
    let pids: Vec<u32> = instances.iter().map(|i| i.process.pid().unwrap()).collect();
    let counts = per_runner(&runs);
    assert!(
        counts.keys().all(|pid| pids.contains(pid)),
        "{counts:?} {pids:?}"
    );
    println!(
        "{} ticks from {} to {}: each run once; ticks per process {counts:?}",
        runs.len(),
        runs[0].tick,
        runs[runs.len() - 1].tick
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_killed_mid_job_has_its_tick_completed_once_by_another() {
    let services = Services::start().await;
    // Each run takes 4 s; a dead runner's lock frees itself after 2 s.
    let mut instances =
        schedulers(&services, 3, &["--stats-pause", "4s", "--job-lease", "2s"]).await;
    let pool = services.postgres.pool().await;
    let start = Utc::now();
    // Kill a runner mid-job once a few ticks are done (runs overlap: each
    // takes 4 s, one starts every second).
    let started = await_runs(&pool, start, "runs done and a run in progress", |runs| {
        runs.iter().filter(|run| run.status == "done").count() >= 3
            && runs.iter().any(|run| run.status == "running")
    })
    .await;
    let victim_pid = started
        .iter()
        .rev()
        .find(|run| run.status == "running")
        .unwrap()
        .pid();
    let victim = instances
        .iter_mut()
        .find(|instance| instance.process.pid() == Some(victim_pid))
        .expect("the runner is one of the three");
    victim.process.kill9().await;
    // Whatever the victim had in flight when it died.
    let orphans: Vec<DateTime<Utc>> = runs_after(&pool, start)
        .await
        .into_iter()
        .filter(|run| run.status == "running" && run.pid() == victim_pid)
        .map(|run| run.tick)
        .collect();
    assert!(
        !orphans.is_empty(),
        "the victim was mid-job when killed: {started:#?}"
    );
    let last_orphan = *orphans.last().unwrap();
    // Every tick up to three past the last orphan done (the ticks done
    // from the start on, without a gap in the statuses).
    let settled = |runs: &[Run]| -> Vec<Run> {
        runs.iter()
            .take_while(|run| run.status == "done")
            .cloned()
            .collect()
    };
    let runs = await_runs(&pool, start, "the orphans completed", |runs| {
        settled(runs)
            .iter()
            .filter(|run| run.tick > last_orphan)
            .count()
            >= 3
    })
    .await;
    let settled = settled(&runs);
    let mut takeovers = 0;
    assert_consecutive(&settled);
    for run in &settled {
        if orphans.contains(&run.tick) {
            takeovers += 1;
            assert_eq!(
                run.attempts, 2,
                "the orphan was completed by one takeover: {run:?}"
            );
            assert_ne!(run.pid(), victim_pid, "{run:?}");
        } else {
            assert_eq!(run.attempts, 1, "a tick was started twice: {run:?}");
        }
    }
    assert_eq!(takeovers, orphans.len(), "{orphans:?} in {settled:#?}");
    println!(
        "{} ticks settled; {} killed mid-job and taken over; ticks per process {:?}",
        settled.len(),
        orphans.len(),
        per_runner(&settled)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_scheduler_completes_what_its_killed_predecessor_left() {
    let services = Services::start().await;
    let extra = ["--stats-pause", "4s", "--job-lease", "2s"];
    let mut first = schedulers(&services, 1, &extra).await.remove(0);
    let pool = services.postgres.pool().await;
    let start = Utc::now();
    await_runs(&pool, start, "a run in progress", |runs| {
        runs.iter().any(|run| run.status == "running")
    })
    .await;
    first.process.kill9().await;
    let orphans: Vec<DateTime<Utc>> = runs_after(&pool, start)
        .await
        .into_iter()
        .filter(|run| run.status == "running")
        .map(|run| run.tick)
        .collect();
    assert!(
        !orphans.is_empty(),
        "the first scheduler was mid-job when killed"
    );
    // The successor's own schedule (daily) does not fire during the test:
    // only its look for unfinished ticks at start can complete them.
    let second =
        support::spawn_serve(&services, &["--role", "scheduler", "--job-lease", "2s"]).await;
    let second_pid = second.process.pid().unwrap();
    let runs = await_runs(&pool, start, "the orphans completed", |runs| {
        runs.iter().all(|run| run.status == "done")
    })
    .await;
    for run in &runs {
        if orphans.contains(&run.tick) {
            assert_eq!((run.attempts, run.pid()), (2, second_pid), "{run:?}");
        } else {
            assert_eq!(run.attempts, 1, "{run:?}");
        }
    }
    println!(
        "{} ticks left unfinished, completed by the successor",
        orphans.len()
    );
}

/// A `GENERAL` item priced `price`; its id.
async fn item(pool: &PgPool, name: &str, price: i64) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO items (name, kind, price, stock) VALUES ($1, 'GENERAL', $2, 100) RETURNING id",
    )
    .bind(name)
    .bind(price)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// An order as the order service records it.
struct Order {
    item: i64,
    count: i32,
    status: &'static str,
    created_at: DateTime<Utc>,
    paid_at: Option<DateTime<Utc>>,
    unit_price: Option<i64>,
}

async fn insert(pool: &PgPool, order: Order) {
    sqlx::query(
        "INSERT INTO orders (id, item_id, user_id, count, status, strategy, created_at, paid_at, unit_price) \
         VALUES ($1, $2, 'buyer', $3, $4, 'lua', $5, $6, $7)",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(order.item)
    .bind(order.count)
    .bind(order.status)
    .bind(order.created_at)
    .bind(order.paid_at)
    .bind(order.unit_price)
    .execute(pool)
    .await
    .unwrap();
}

fn sales(item_id: i64, orders: i64, units: i64, revenue: i64) -> ItemSales {
    ItemSales {
        item_id,
        orders,
        units,
        revenue,
    }
}

/// Waits until the cache holds `expected` for `day` (the job is the only
/// writer: the loader finds nothing); the figures then.
async fn await_cached(
    cache: &daily_stats::SalesCache,
    day: NaiveDate,
    expected: &[ItemSales],
) -> DailySales {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let cached = cache
            .get_or_load(&day, || async { Ok::<_, std::io::Error>(None) })
            .await
            .unwrap();
        if let Some(sales) = &cached
            && sales.items == expected
        {
            return sales.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{day}: {cached:?}, want {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_sales_reach_the_table_the_cache_and_admins() {
    let services = Services::start().await;
    let settings = Settings {
        scheduler: SchedulerSettings {
            stats_schedule: ticks::parse(EVERY_SECOND).unwrap(),
            ..SchedulerSettings::default()
        },
        ..support::settings(Role::Scheduler, Strategy::Lua)
    };
    let scheduler = support::start_with(&services, &settings).await;
    let pool = scheduler.pool().clone();
    let now = Utc::now();
    let yesterday = now - chrono::Duration::days(1);
    let (lamp, mug) = (
        item(&pool, "lamp", 1000).await,
        item(&pool, "mug", 250).await,
    );
    let paid = |item, count, paid_at: DateTime<Utc>, unit_price| Order {
        item,
        count,
        status: "CONFIRMED",
        created_at: paid_at,
        paid_at: Some(paid_at),
        unit_price,
    };
    let unpaid = |item, count, status| Order {
        item,
        count,
        status,
        created_at: now,
        paid_at: None,
        unit_price: Some(1000),
    };
    insert(&pool, paid(lamp, 2, now, Some(1000))).await;
    insert(&pool, paid(lamp, 1, now, Some(1000))).await;
    insert(&pool, paid(lamp, 4, yesterday, Some(1000))).await;
    insert(&pool, unpaid(lamp, 3, "PENDING_PAYMENT")).await;
    insert(&pool, unpaid(lamp, 1, "EXPIRED")).await;
    insert(&pool, unpaid(lamp, 1, "FAILED")).await;
    // Confirmed without a payment step, before prices were recorded.
    insert(
        &pool,
        Order {
            paid_at: None,
            ..paid(mug, 1, now, None)
        },
    )
    .await;

    let redis = redis::Client::open(services.redis.url()).unwrap();
    let cache = daily_stats::cache(redis).await.unwrap();
    let (today, before) = (now.date_naive(), yesterday.date_naive());
    let expected_today = [sales(lamp, 2, 3, 3000), sales(mug, 1, 1, 0)];
    let expected_before = [sales(lamp, 1, 4, 4000)];
    let cached = await_cached(&cache, today, &expected_today).await;
    assert_eq!(
        daily_stats::read(&pool, today).await.unwrap().items,
        expected_today
    );
    assert!(cached.computed_at.is_some());
    await_cached(&cache, before, &expected_before).await;
    assert_eq!(
        daily_stats::read(&pool, before).await.unwrap().items,
        expected_before
    );

    // A new sale: the next tick's figures replace the cached ones.
    insert(&pool, paid(mug, 2, Utc::now(), Some(250))).await;
    let expected_today = [sales(lamp, 2, 3, 3000), sales(mug, 2, 3, 500)];
    await_cached(&cache, today, &expected_today).await;
    assert_eq!(
        daily_stats::read(&pool, today).await.unwrap().items,
        expected_today
    );

    // Admins read them over HTTP from the catalog service; nobody else does.
    let (auth, catalog) = tokio::join!(
        support::start_role(&services, Role::Auth, Strategy::Lua),
        support::start_role(&services, Role::Catalog, Strategy::Lua),
    );
    let http = reqwest::Client::new();
    let auth_url = support::base_url(&auth);
    let (admin, buyer) = (
        support::buyer(&http, &auth_url, "admin").await,
        support::buyer(&http, &auth_url, "buyer").await,
    );
    live_commerce::auth::accounts::grant_admin(&pool, "admin@buyers.example")
        .await
        .unwrap();
    let stats = |day: &str, cookie: Option<&str>| {
        let url = format!("{}/api/stats/daily?day={day}", support::base_url(&catalog));
        let mut request = http.get(url);
        if let Some(cookie) = cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        async move {
            let response = request.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };
    let (status, body) = stats(&today.to_string(), Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    let served: DailySales = serde_json::from_value(body["data"].clone()).unwrap();
    assert_eq!(served.items, expected_today);
    for (day, cookie, status, code) in [
        (today.to_string(), None, 401, "NOT_AUTHENTICATED"),
        (today.to_string(), Some(&buyer), 403, "NOT_ADMIN"),
        ("2026-13-01".to_string(), Some(&admin), 400, "INVALID_DAY"),
    ] {
        let (got, body) = stats(&day, cookie.map(String::as_str)).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}"
        );
    }
    for running in [catalog, auth, scheduler] {
        running.shutdown().await;
    }
}

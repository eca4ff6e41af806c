//! Driving the service over HTTP: the buyers, the item-detail readers, and
//! what the database says afterwards.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::sync::Barrier;

use crate::flash_sale::FlashSaleOptions;
use crate::strategy::Strategy;

/// How one buyer's request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// `202`: the order was taken.
    Accepted,
    /// `409`: sold out, not enough left, or too contended.
    Rejected,
    /// Anything else (a failure the buyer would see as an error).
    Failed,
}

/// Every buyer's answer and latency.
pub(crate) struct BuyOutcome {
    pub(crate) answers: Vec<(Answer, Duration, i32)>,
}

impl BuyOutcome {
    pub(crate) fn accepted(&self) -> usize {
        self.count(Answer::Accepted)
    }

    pub(crate) fn count(&self, answer: Answer) -> usize {
        self.answers.iter().filter(|(a, _, _)| *a == answer).count()
    }

    /// The smallest purchase that was turned away, if any.
    pub(crate) fn smallest_refused(&self) -> Option<i32> {
        self.answers
            .iter()
            .filter(|(a, _, _)| *a != Answer::Accepted)
            .map(|(_, _, units)| *units)
            .min()
    }

    /// Units the accepted orders asked for.
    pub(crate) fn accepted_units(&self) -> i64 {
        self.answers
            .iter()
            .filter(|(a, _, _)| *a == Answer::Accepted)
            .map(|(_, _, units)| i64::from(*units))
            .sum()
    }
}

/// Lets one process hold a connection per buyer (and the server's end of
/// each): raises the soft open-file limit to the hard one.
pub(crate) fn raise_open_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// Releases every buyer at once; each places one order.
pub(crate) async fn buy(
    addr: SocketAddr,
    item_id: i64,
    options: &FlashSaleOptions,
    strategy: Strategy,
) -> anyhow::Result<BuyOutcome> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.buyers)
        .timeout(Duration::from_secs(60))
        .build()?;
    let progress = if options.progress {
        let bar = ProgressBar::new(options.buyers as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>15} [{bar:40}] {pos}/{len} {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(strategy.name());
        bar
    } else {
        ProgressBar::hidden()
    };
    let start_line = Arc::new(Barrier::new(options.buyers));
    let url = format!("http://{addr}/api/orders");
    let quantities = options.quantities;
    let buyers: Vec<_> = (0..options.buyers)
        .map(|buyer| {
            let (http, url, start_line, progress) = (
                http.clone(),
                url.clone(),
                start_line.clone(),
                progress.clone(),
            );
            tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(buyer as u64);
                let count = rng.random_range(quantities.min..=quantities.max);
                start_line.wait().await;
                let started = Instant::now();
                let response = http
                    .post(&url)
                    .header("x-user-id", format!("buyer-{buyer}"))
                    .json(&json!({"itemId": item_id, "count": count}))
                    .send()
                    .await;
                let latency = started.elapsed();
                let answer = match response.map(|r| r.status().as_u16()) {
                    Ok(202) => Answer::Accepted,
                    Ok(409) => Answer::Rejected,
                    Ok(status) => {
                        tracing::warn!(status, "a buyer got an unexpected answer");
                        Answer::Failed
                    }
                    Err(error) => {
                        tracing::warn!(%error, "a buyer's request failed");
                        Answer::Failed
                    }
                };
                progress.inc(1);
                (answer, latency, count)
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(options.buyers);
    for buyer in buyers {
        answers.push(buyer.await?);
    }
    progress.finish_with_message("done");
    Ok(BuyOutcome { answers })
}

/// What the database (and Redis) hold after a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct DatabaseFigures {
    /// Order rows for the item.
    pub order_rows: i64,
    /// Units in `CONFIRMED` orders.
    pub sold_units: i64,
    /// Order rows marked `FAILED`.
    pub failed_rows: i64,
    /// Stock left in the database.
    pub stock_left: i64,
    /// Stock left in the Redis counter.
    pub redis_left: Option<i64>,
}

pub(crate) async fn database_figures(
    pool: &sqlx::PgPool,
    redis: &redis::aio::ConnectionManager,
    item_id: i64,
) -> anyhow::Result<DatabaseFigures> {
    let (order_rows, sold_units, failed_rows): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), \
                coalesce(sum(count) FILTER (WHERE status = 'CONFIRMED'), 0), \
                count(*) FILTER (WHERE status = 'FAILED') \
         FROM orders WHERE item_id = $1",
    )
    .bind(item_id)
    .fetch_one(pool)
    .await?;
    let stock_left: i32 = sqlx::query_scalar("SELECT stock FROM items WHERE id = $1")
        .bind(item_id)
        .fetch_one(pool)
        .await?;
    Ok(DatabaseFigures {
        order_rows,
        sold_units,
        failed_rows,
        stock_left: stock_left.into(),
        redis_left: crate::stock::remaining(redis, item_id).await?,
    })
}

/// Reads `GET /api/items/{id}` from `clients` tasks for `window`.
pub(crate) async fn read_item_for(
    addr: SocketAddr,
    item_id: i64,
    window: Duration,
    clients: usize,
) -> anyhow::Result<crate::flash_sale::report::ReadFigures> {
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/api/items/{item_id}");
    http.get(&url).send().await?.error_for_status()?; // warm the cache
    let deadline = Instant::now() + window;
    let readers: Vec<_> = (0..clients)
        .map(|_| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let ok = http.get(&url).send().await.is_ok_and(|r| r.status() == 200);
                    if ok {
                        latencies.push(started.elapsed());
                    }
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for reader in readers {
        latencies.extend(reader.await?);
    }
    latencies.sort();
    Ok(crate::flash_sale::report::ReadFigures {
        requests_per_second: latencies.len() as f64 / window.as_secs_f64(),
        p50: crate::flash_sale::report::percentile(&latencies, 0.50),
        p99: crate::flash_sale::report::percentile(&latencies, 0.99),
    })
}

//! The experiment's figures: per strategy, for item reads, for the run.
//! How they are written out is in [`page`](super::page).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::flash_sale::FlashSaleOptions;
use crate::flash_sale::books::DatabaseFigures;
use crate::flash_sale::load::{Answer, BuyOutcome};
use crate::strategy::Strategy;

/// One strategy's run.
#[derive(Debug, Clone)]
pub struct StrategyResult {
    /// The strategy.
    pub strategy: Strategy,
    /// Units on sale.
    pub stock: i64,
    /// Buyers answered `202`.
    pub accepted: usize,
    /// Units those buyers asked for.
    pub accepted_units: i64,
    /// Buyers answered `409`.
    pub rejected: usize,
    /// Buyers who got anything else.
    pub failed: usize,
    /// Why they failed: each reason (`"502 UPSTREAM_FAILED"`, a transport
    /// error) and how many buyers got it.
    pub failures: BTreeMap<String, usize>,
    /// The smallest purchase turned away (`409` or error), if any.
    pub smallest_refused: Option<i32>,
    /// What the database holds afterwards.
    pub db: DatabaseFigures,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// Buyers answered per second.
    pub requests_per_second: f64,
    /// Latency percentiles of the buyers' requests.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// `POST /api/orders` the gateway counted during the sale (`None`: it
    /// serves no `/metrics`).
    pub orders_through_gateway: Option<u64>,
}

impl StrategyResult {
    pub(crate) fn new(
        strategy: Strategy,
        options: &FlashSaleOptions,
        outcome: &BuyOutcome,
        db: DatabaseFigures,
        orders_through_gateway: Option<u64>,
    ) -> Self {
        let mut latencies: Vec<Duration> = outcome.attempts.iter().map(|a| a.latency).collect();
        let elapsed = outcome.elapsed();
        latencies.sort();
        Self {
            strategy,
            stock: options.stock.into(),
            accepted: outcome.accepted(),
            accepted_units: outcome.accepted_units(),
            rejected: outcome.count(Answer::Rejected),
            failed: outcome.count(Answer::Failed),
            failures: outcome.failures(),
            smallest_refused: outcome.smallest_refused(),
            db,
            elapsed,
            requests_per_second: outcome.attempts.len() as f64 / elapsed.as_secs_f64(),
            p50: percentile(&latencies, 0.50),
            p95: percentile(&latencies, 0.95),
            p99: percentile(&latencies, 0.99),
            orders_through_gateway,
        }
    }

    /// Units sold beyond the stock.
    pub fn oversold(&self) -> i64 {
        (self.db.sold_units - self.stock).max(0)
    }

    /// Units sold whose stock decrement was overwritten by another buyer's
    /// write (the lost update of `none`): sold minus what the stock went
    /// down by.
    pub fn lost_updates(&self) -> i64 {
        let decrements = self.stock - self.db.stock_left;
        (self.db.sold_units - decrements).max(0)
    }

    /// Units left unsold although a buyer who asked for no more than that
    /// was turned away.
    pub fn undersold(&self) -> i64 {
        let left = (self.stock - self.db.sold_units).max(0);
        match self.smallest_refused {
            Some(units) if i64::from(units) <= left => left,
            _ => 0,
        }
    }

    /// Sold exactly what was there (or what was asked for), every accepted
    /// order persisted once, and the books balance.
    pub fn is_correct(&self) -> bool {
        self.oversold() == 0
            && self.undersold() == 0
            && self.failed == 0
            && self.db.failed_rows == 0
            && self.db.order_rows == self.accepted as i64
            && self.db.sold_units == self.accepted_units
            && self.db.stock_left == self.stock - self.db.sold_units
    }
}

/// Throughput and latency of one way of reading item details.
#[derive(Debug, Clone, Copy)]
pub struct ReadFigures {
    /// Successful reads per second.
    pub requests_per_second: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
}

/// `GET /api/items/{id}` with and without cache-aside, directly and
/// through the gateway.
#[derive(Debug, Clone, Copy)]
pub struct ItemDetailThroughput {
    /// Straight from PostgreSQL, directly from the catalog (plain HTTP).
    pub uncached: ReadFigures,
    /// Through cache-aside (local tier over Redis), directly from the
    /// catalog (plain HTTP).
    pub cached: ReadFigures,
    /// The same cached catalog through the gateway (TLS, one more hop).
    pub cached_through_gateway: ReadFigures,
}

impl ItemDetailThroughput {
    /// The cache's speed-up in throughput.
    pub fn cache_speedup(&self) -> f64 {
        self.cached.requests_per_second / self.uncached.requests_per_second
    }

    /// The share of the direct throughput left through the gateway (`0.8`:
    /// 80 %).
    pub fn gateway_throughput_share(&self) -> f64 {
        self.cached_through_gateway.requests_per_second / self.cached.requests_per_second
    }

    /// What the gateway adds to the median read.
    pub fn gateway_added_p50(&self) -> Duration {
        self.cached_through_gateway
            .p50
            .saturating_sub(self.cached.p50)
    }
}

/// The whole experiment.
#[derive(Debug, Clone)]
pub struct Report {
    /// The command that reproduces it.
    pub command: String,
    /// Buyers per strategy.
    pub buyers: usize,
    /// Units on sale.
    pub stock: i32,
    /// Units per purchase.
    pub quantities: String,
    /// How long signing every buyer up and logging them in through the
    /// gateway took (once, before the first strategy).
    pub sign_up_took: Duration,
    /// One row per strategy.
    pub results: Vec<StrategyResult>,
    /// Item detail reads: cached and not, directly and through the gateway.
    pub item_detail: Option<ItemDetailThroughput>,
    /// When it ran.
    pub generated_at: DateTime<Utc>,
    /// The machine it ran on (CPUs, load average when it started).
    pub machine: String,
}

/// CPUs and the 1-minute load average, so a reader can judge the figures.
pub fn describe_machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    format!("{cpus} CPUs, load average {load} when the run started")
}

/// The `q` quantile of sorted samples.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_ranked_sample() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&samples[..1], 0.99), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}

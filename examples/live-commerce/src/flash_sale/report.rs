//! The experiment's figures and their Markdown report.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::flash_sale::FlashSaleOptions;
use crate::flash_sale::load::{Answer, BuyOutcome, DatabaseFigures};
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
}

impl StrategyResult {
    pub(crate) fn new(
        strategy: Strategy,
        options: &FlashSaleOptions,
        outcome: &BuyOutcome,
        elapsed: Duration,
        db: DatabaseFigures,
    ) -> Self {
        let mut latencies: Vec<Duration> = outcome.answers.iter().map(|(_, l, _)| *l).collect();
        latencies.sort();
        Self {
            strategy,
            stock: options.stock.into(),
            accepted: outcome.accepted(),
            accepted_units: outcome.accepted_units(),
            rejected: outcome.count(Answer::Rejected),
            failed: outcome.count(Answer::Failed),
            smallest_refused: outcome.smallest_refused(),
            db,
            elapsed,
            requests_per_second: outcome.answers.len() as f64 / elapsed.as_secs_f64(),
            p50: percentile(&latencies, 0.50),
            p95: percentile(&latencies, 0.95),
            p99: percentile(&latencies, 0.99),
        }
    }

    /// Units sold beyond the stock.
    pub fn oversold(&self) -> i64 {
        (self.db.sold_units - self.stock).max(0)
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

/// `GET /api/items/{id}` with and without cache-aside.
#[derive(Debug, Clone, Copy)]
pub struct ItemDetailThroughput {
    /// Straight from PostgreSQL.
    pub uncached: ReadFigures,
    /// Through cache-aside (local tier over Redis).
    pub cached: ReadFigures,
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
    /// One row per strategy.
    pub results: Vec<StrategyResult>,
    /// Item detail reads, cached and not.
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

fn ms(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

impl Report {
    /// The results as a Markdown table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "| strategy | sold | oversold | undersold | accepted | rejected | errors | order rows | DB stock left | req/s | p50 ms | p95 ms | p99 ms | verdict |\n",
        );
        out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for r in &self.results {
            let verdict = if r.is_correct() {
                "correct".to_string()
            } else if r.oversold() > 0 {
                format!("**oversold by {}**", r.oversold())
            } else {
                "**wrong**".to_string()
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} |",
                r.strategy,
                r.db.sold_units,
                r.oversold(),
                r.undersold(),
                r.accepted,
                r.rejected,
                r.failed,
                r.db.order_rows,
                r.db.stock_left,
                r.requests_per_second,
                ms(r.p50),
                ms(r.p95),
                ms(r.p99),
                verdict
            );
        }
        if let Some(detail) = &self.item_detail {
            let _ = write!(
                out,
                "\nItem detail (`GET /api/items/{{id}}`, 32 clients, 2 s): uncached {:.0} req/s (p50 {} ms, p99 {} ms); cache-aside {:.0} req/s (p50 {} ms, p99 {} ms): {:.1}x.\n",
                detail.uncached.requests_per_second,
                ms(detail.uncached.p50),
                ms(detail.uncached.p99),
                detail.cached.requests_per_second,
                ms(detail.cached.p50),
                ms(detail.cached.p99),
                detail.cached.requests_per_second / detail.uncached.requests_per_second
            );
        }
        out
    }

    /// The report page (`docs/flash-sale.md`), pointing at the chart.
    pub fn markdown(&self, chart_file: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Flash sale: every strategy, side by side\n");
        let _ = writeln!(
            out,
            "{} buyers arrive at once for an item with stock {} (units per purchase: {}). Each \
             strategy runs against fresh stock over real HTTP (one connection per buyer), on the \
             same machine and services, one after the other. \"sold\" and \"order rows\" are read \
             from PostgreSQL after the run (for `lua-mq`, after the worker drained the queue).\n",
            self.buyers, self.stock, self.quantities
        );
        let _ = writeln!(
            out,
            "Reproduce (services from `scripts/dev-services up`):\n"
        );
        let _ = writeln!(
            out,
            "```sh\ncargo run --release -p live-commerce -- flash-sale --buyers {} --stock {} --strategy all --quantities {}\n```\n",
            self.buyers, self.stock, self.quantities
        );
        let _ = writeln!(
            out,
            "Generated {} by `{}` on {} (the services ran on the same machine).\n",
            self.generated_at.format("%Y-%m-%d %H:%M UTC"),
            self.command,
            self.machine
        );
        let _ = writeln!(
            out,
            "![throughput and latency per strategy]({chart_file})\n"
        );
        out.push_str(&self.table());
        out.push_str(
            "\n## Reading the table\n\n\
             - **sold**: units in `CONFIRMED` order rows. **oversold**: sold beyond the stock. \
             **undersold**: stock left while a buyer asking for no more than that was turned away.\n\
             - **accepted** buyers got `202` (an order id), **rejected** got `409` (sold out, not \
             enough left, or `CONTENDED` after the optimistic strategy's retries), **errors** got \
             anything else.\n\
             - `none` reads the stock and writes back the difference without a lock: concurrent \
             buyers overwrite each other's decrements, so more orders are accepted than there \
             were units, and the stock column still shows units left. That is the race the other \
             strategies exist to prevent.\n\
             - `db-pessimistic` queues every buyer on the item's row lock; `db-optimistic` \
             retries losers (each lost race means someone else won); `redis-lock` serialises \
             buyers on a redlock per item; `lua` decides in one atomic Redis step and then \
             writes the database; `lua-mq` decides in Redis, answers at once and lets the worker \
             persist through RabbitMQ (exactly once per order: inbox in the same transaction).\n",
        );
        out
    }
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

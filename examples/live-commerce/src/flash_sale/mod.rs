//! The flash-sale experiment: one item with stock `N`, `M` buyers at once,
//! every strategy run against fresh stock over real HTTP, measured side by
//! side.
//!
//! For each strategy the tool starts the order service in-process (with the
//! worker for `lua-mq`) on an ephemeral port, creates a fresh item, releases
//! every buyer at the same instant (one HTTP request each, one connection
//! each), waits for the worker to drain, then reads the database: units
//! sold, order rows, stock left. `none` is run and reported like the others:
//! its oversell is the point.
//!
//! It also measures the item detail endpoint with and without cache-aside.

mod chart;
mod load;
mod report;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;

use crate::catalog::{self, ItemKind, NewItem};
use crate::config::Config;
use crate::server::{self, Role, Settings};
use crate::strategy::Strategy;

pub use report::{ItemDetailThroughput, Report, StrategyResult};

/// Units per purchase: a fixed count (`2`) or a range (`1..3`, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantities {
    /// Fewest units.
    pub min: i32,
    /// Most units.
    pub max: i32,
}

impl FromStr for Quantities {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parse = |part: &str| {
            part.trim()
                .parse::<i32>()
                .map_err(|_| format!("`{text}` is not a count or a range like 1..3"))
        };
        let (min, max) = match text.split_once("..") {
            Some((min, max)) => (parse(min)?, parse(max.trim_start_matches('='))?),
            None => (parse(text)?, parse(text)?),
        };
        if !(1..=crate::orders::MAX_COUNT).contains(&min)
            || max < min
            || max > crate::orders::MAX_COUNT
        {
            return Err(format!(
                "quantities must lie within 1..{}",
                crate::orders::MAX_COUNT
            ));
        }
        Ok(Self { min, max })
    }
}

impl std::fmt::Display for Quantities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}..{}", self.min, self.max)
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct FlashSaleOptions {
    /// Concurrent buyers.
    pub buyers: usize,
    /// Units on sale.
    pub stock: i32,
    /// Strategies, in order.
    pub strategies: Vec<Strategy>,
    /// Units per purchase.
    pub quantities: Quantities,
    /// Where to write `flash-sale.md` and `flash-sale.svg` (none: no files).
    pub out: Option<PathBuf>,
    /// Show progress bars.
    pub progress: bool,
}

/// How long the worker may take to drain `lua-mq` orders.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs the experiment and writes the report.
pub async fn run(config: &Config, options: &FlashSaleOptions) -> anyhow::Result<Report> {
    load::raise_open_file_limit();
    let machine = report::describe_machine();
    let mut results = Vec::new();
    for &strategy in &options.strategies {
        results.push(run_strategy(config, options, strategy).await?);
    }
    let item_detail = Some(item_detail_throughput(config).await?);
    let report = Report {
        command: command_line(options),
        buyers: options.buyers,
        stock: options.stock,
        quantities: options.quantities.to_string(),
        results,
        item_detail,
        generated_at: Utc::now(),
        machine,
    };
    if let Some(dir) = &options.out {
        std::fs::create_dir_all(dir)?;
        let chart_path = dir.join("flash-sale.svg");
        chart::draw(&report, &chart_path).context("drawing the chart")?;
        std::fs::write(dir.join("flash-sale.md"), report.markdown("flash-sale.svg"))?;
    }
    Ok(report)
}

/// One strategy against fresh stock.
pub async fn run_strategy(
    config: &Config,
    options: &FlashSaleOptions,
    strategy: Strategy,
) -> anyhow::Result<StrategyResult> {
    let settings = Settings {
        role: if strategy.is_asynchronous() {
            Role::All
        } else {
            Role::Order
        },
        strategy,
        ..Settings::default()
    };
    let running = server::start(config, &settings, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = running.addr.expect("the order role serves HTTP");
    let item_id = catalog::create_item(
        running.pool(),
        running.redis(),
        &NewItem {
            name: format!("flash sale ({strategy})"),
            kind: ItemKind::General,
            price: 9_900,
            stock: options.stock,
            start_at: None,
        },
    )
    .await
    .map_err(|error| anyhow::anyhow!("creating the item: {}", error.message))?;

    let started = Instant::now();
    let outcome = load::buy(addr, item_id, options, strategy).await?;
    let elapsed = started.elapsed();

    let accepted = outcome.accepted();
    if strategy.is_asynchronous() {
        drain(running.pool(), item_id, accepted).await?;
    }
    let db = load::database_figures(running.pool(), running.redis(), item_id).await?;
    running.shutdown().await;
    Ok(StrategyResult::new(
        strategy, options, &outcome, elapsed, db,
    ))
}

/// Waits until the worker has persisted `expected` orders of the item.
async fn drain(pool: &sqlx::PgPool, item_id: i64, expected: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE item_id = $1")
            .bind(item_id)
            .fetch_one(pool)
            .await?;
        if rows as usize >= expected {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "the worker persisted {rows} of {expected} orders within {DRAIN_TIMEOUT:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Item detail reads for 2 s, through cache-aside and straight from the
/// database.
async fn item_detail_throughput(config: &Config) -> anyhow::Result<ItemDetailThroughput> {
    let mut figures = Vec::new();
    for cached in [false, true] {
        let settings = Settings {
            role: Role::Catalog,
            item_cache: cached,
            ..Settings::default()
        };
        let running =
            server::start(config, &settings, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let item_id = catalog::create_item(
            running.pool(),
            running.redis(),
            &NewItem {
                name: "item detail".into(),
                kind: ItemKind::General,
                price: 1_000,
                stock: 1,
                start_at: None,
            },
        )
        .await
        .map_err(|error| anyhow::anyhow!("creating the item: {}", error.message))?;
        let addr = running.addr.expect("the catalog serves HTTP");
        figures.push(load::read_item_for(addr, item_id, Duration::from_secs(2), 32).await?);
        running.shutdown().await;
    }
    Ok(ItemDetailThroughput {
        uncached: figures[0],
        cached: figures[1],
    })
}

fn command_line(options: &FlashSaleOptions) -> String {
    let strategies = if options.strategies.len() == Strategy::ALL.len() {
        "all".to_string()
    } else {
        options
            .strategies
            .iter()
            .map(|strategy| strategy.name())
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        "live-commerce flash-sale --buyers {} --stock {} --strategy {} --quantities {}",
        options.buyers, options.stock, strategies, options.quantities
    )
}

#[cfg(test)]
mod tests {
    use super::Quantities;

    #[test]
    fn quantities_parse_counts_and_ranges() {
        assert_eq!(
            "2".parse::<Quantities>().unwrap(),
            Quantities { min: 2, max: 2 }
        );
        assert_eq!(
            "1..3".parse::<Quantities>().unwrap(),
            Quantities { min: 1, max: 3 }
        );
        assert_eq!(
            "1..=3".parse::<Quantities>().unwrap(),
            Quantities { min: 1, max: 3 }
        );
        assert!("0".parse::<Quantities>().is_err());
        assert!("3..1".parse::<Quantities>().is_err());
        assert!("1..11".parse::<Quantities>().is_err());
        assert!("x".parse::<Quantities>().is_err());
    }
}

//! The flash-sale experiment: one item with stock `N`, `M` logged-in buyers
//! at once, every strategy run against fresh stock through the gateway,
//! measured side by side.
//!
//! A run starts the system in-process as it is deployed, one server per
//! role on ephemeral ports (`stack.rs`): the auth service for the whole run;
//! per strategy, the order service (and the worker, for `lua-mq`) and a
//! gateway serving TLS in front of them. Then:
//!
//! 1. the buyers sign up and log in through a gateway, once, a few at a
//!    time (argon2id is slow by design): `buyers.rs`;
//! 2. per strategy: a fresh item; every buyer opens its connection, waits
//!    at a barrier, and posts one order with its session cookie; the worker
//!    drains; the database is read (`sale.rs`, `load.rs`, `books.rs`), and the
//!    gateway's own count of the orders (`metrics.rs`);
//! 3. item detail reads, cached and not, directly and through the gateway
//!    (`item_detail.rs`).
//!
//! `none` is run and reported like the others: its oversell is the point.
//!
//! | file | what it is |
//! |---|---|
//! | `stack.rs` | the in-process servers: auth, order (+ worker), gateway with TLS |
//! | `buyers.rs` | accounts signed up and logged in; their cookies |
//! | `sale.rs` | one strategy's sale, from fresh servers to the books |
//! | `load.rs` | the buyers at the start line, released at once |
//! | `books.rs` | what PostgreSQL and Redis hold afterwards; the worker's drain |
//! | `metrics.rs` | the orders the gateway counted (`/metrics`) |
//! | `item_detail.rs` | item reads: the cache, and the gateway's cost |
//! | `quantities.rs` | units per purchase (`--quantities 1..3`) |
//! | `report.rs`, `page.rs`, `chart.rs` | the figures, the Markdown, the SVG |

mod books;
mod buyers;
mod chart;
mod item_detail;
mod load;
mod metrics;
mod page;
mod quantities;
mod report;
mod sale;
mod stack;

use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};

use crate::auth::password::HashCost;
use crate::config::Config;
use crate::gateway::Upstreams;
use crate::server::Running;
use crate::strategy::Strategy;

pub use books::DatabaseFigures;
pub use buyers::{Buyers, SIGN_UP_CONCURRENCY};
pub use quantities::Quantities;
pub use report::{ItemDetailThroughput, ReadFigures, Report, StrategyResult};

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
    /// The work each buyer's password hash costs: keep the standard cost
    /// for figures a reader trusts; tests sign up a thousand buyers with
    /// the minimal one.
    pub password_cost: HashCost,
}

/// Runs the experiment and writes the report.
pub async fn run(config: &Config, options: &FlashSaleOptions) -> anyhow::Result<Report> {
    load::raise_open_file_limit();
    let machine = report::describe_machine();
    let auth = stack::start_auth(config, options.password_cost).await?;
    let buyers = sign_up(config, options, &auth).await?;
    let mut results = Vec::new();
    for &strategy in &options.strategies {
        let progress = bar(options, strategy.name());
        results.push(sale::sell(config, options, strategy, &auth, &buyers, progress).await?);
    }
    let item_detail = Some(item_detail::measure(config, &auth).await?);
    auth.shutdown().await;
    let report = Report {
        command: command_line(options),
        buyers: options.buyers,
        stock: options.stock,
        quantities: options.quantities.to_string(),
        sign_up_took: buyers.took,
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

/// One strategy against fresh stock, with its own auth service and buyers
/// (signed up and logged in first; [`run`] does that once for all
/// strategies).
pub async fn run_strategy(
    config: &Config,
    options: &FlashSaleOptions,
    strategy: Strategy,
) -> anyhow::Result<StrategyResult> {
    load::raise_open_file_limit();
    let auth = stack::start_auth(config, options.password_cost).await?;
    let buyers = sign_up(config, options, &auth).await?;
    let progress = bar(options, strategy.name());
    let result = sale::sell(config, options, strategy, &auth, &buyers, progress).await;
    auth.shutdown().await;
    result
}

/// Signs up and logs in `options.buyers` buyers through a gateway in front
/// of `auth` (a gateway that routes only to it).
async fn sign_up(
    config: &Config,
    options: &FlashSaleOptions,
    auth: &Running,
) -> anyhow::Result<Buyers> {
    let upstreams = Upstreams {
        auth: vec![stack::upstream(auth)],
        catalog: Vec::new(),
        order: Vec::new(),
        chat: Vec::new(),
    };
    let front = stack::Front::start(config, upstreams).await?;
    let progress = bar(options, "sign up, log in");
    let buyers = Buyers::sign_up(&front, options.buyers, &progress).await;
    progress.finish_with_message("done");
    front.shutdown().await;
    buyers
}

/// A progress bar of `options.buyers` steps (hidden unless asked for).
fn bar(options: &FlashSaleOptions, prefix: &str) -> ProgressBar {
    if !options.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(options.buyers as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>15} [{bar:40}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_string());
    bar
}

/// The command that reproduces the run.
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

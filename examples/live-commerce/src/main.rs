//! The `live-commerce` command: serve a role, run the flash-sale experiment,
//! or check the services.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use live_commerce::config::Config;
use live_commerce::flash_sale::{self, FlashSaleOptions, Quantities};
use live_commerce::server::{self, Role, Settings};
use live_commerce::strategy::Strategy;

/// The live-commerce backend.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A list of strategies (an alias, so clap parses it as one value).
type Strategies = Vec<Strategy>;

#[derive(Debug, Subcommand)]
enum Command {
    /// Serves one role (or all) until SIGTERM / Ctrl-C.
    Serve {
        /// The role to play.
        #[arg(long, value_enum, default_value = "all")]
        role: Role,
        /// How orders take stock.
        #[arg(long, value_enum, default_value = "lua")]
        strategy: Strategy,
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Serve item details without the cache (to measure the database).
        #[arg(long)]
        no_item_cache: bool,
        /// The worker's pause per order in milliseconds (to watch a drain).
        #[arg(long, default_value_t = 0)]
        worker_delay_ms: u64,
        /// The `redis-lock` strategy's lock lease in milliseconds (renewed
        /// every third of it while held).
        #[arg(long, default_value_t = 10_000)]
        lock_lease_ms: u64,
    },
    /// Runs the flash-sale experiment over real HTTP and writes the report.
    FlashSale {
        /// Concurrent buyers.
        #[arg(long, default_value_t = 1000)]
        buyers: usize,
        /// Units on sale.
        #[arg(long, default_value_t = 100)]
        stock: i32,
        /// Which strategies to run: `all`, or names separated by commas
        /// (none, db-pessimistic, db-optimistic, redis-lock, lua, lua-mq).
        #[arg(long, default_value = "all", value_parser = Strategy::parse_list)]
        strategy: Strategies,
        /// Units per purchase, e.g. `1..3` for mixed quantities (default 1).
        #[arg(long, default_value = "1")]
        quantities: Quantities,
        /// Where to write the report and the chart (`<dir>/flash-sale.md`, `.svg`).
        #[arg(long, default_value = "docs")]
        out: std::path::PathBuf,
    },
    /// Checks every backing service: reachable, version, round-trip time.
    /// Exits 1 and names the services that are down.
    Doctor,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = Config::from_env();
    let result = match cli.command {
        Command::Doctor => {
            return if live_commerce::doctor::run(&config).await {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        Command::Serve {
            role,
            strategy,
            listen,
            no_item_cache,
            worker_delay_ms,
            lock_lease_ms,
        } => {
            let settings = Settings {
                role,
                strategy,
                item_cache: !no_item_cache,
                worker_delay: Duration::from_millis(worker_delay_ms),
                lock_lease: Duration::from_millis(lock_lease_ms),
                ..Settings::default()
            };
            serve(&config, &settings, listen).await
        }
        Command::FlashSale {
            buyers,
            stock,
            strategy,
            quantities,
            out,
        } => {
            let options = FlashSaleOptions {
                buyers,
                stock,
                strategies: strategy,
                quantities,
                out: Some(out),
                progress: true,
            };
            flash_sale::run(&config, &options).await.map(|report| {
                println!("{}", report.table());
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: &Config, settings: &Settings, listen: SocketAddr) -> anyhow::Result<()> {
    let running = server::start(config, settings, listen).await?;
    match running.addr {
        Some(addr) => println!(
            "ready: {:?} on http://{addr} (strategy {})",
            settings.role, settings.strategy
        ),
        None => println!("ready: {:?}", settings.role),
    }
    running.wait().await
}

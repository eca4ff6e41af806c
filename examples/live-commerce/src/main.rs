//! The `live-commerce` command: serve a role, run the flash-sale experiment,
//! check the services, or manage accounts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use live_commerce::auth::password::HashCost;
use live_commerce::config::Config;
use live_commerce::flash_sale::{self, FlashSaleOptions, Quantities};
use live_commerce::gateway::Upstreams;
use live_commerce::gateway::tls::TlsSource;
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

// Parsed once at start-up: the size of the `serve` variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Serves one role (or all) until SIGTERM / Ctrl-C.
    Serve {
        /// The role to play.
        #[arg(long, value_enum, default_value = "all")]
        role: Role,
        #[command(flatten)]
        chat: live_commerce::chat::ChatArgs,
        /// How orders take stock.
        #[arg(long, value_enum, default_value = "lua")]
        strategy: Strategy,
        /// Where to listen (default: 127.0.0.1:8000 for the gateway and
        /// `all`, 127.0.0.1:8080 otherwise).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// The gateway's instances of a role: `role=http://host:port[,…]`
        /// (repeatable; roles auth, catalog, order, chat; defaults: ports
        /// 8081, 8082, 8083, 8084 on 127.0.0.1).
        #[arg(long = "upstream", value_name = "ROLE=URLS")]
        upstreams: Vec<String>,
        /// The TLS certificate chain (PEM) the gateway or `all` serves;
        /// without it, a self-signed development certificate is made.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The certificate's private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Serve plain HTTP at the edge (behind another TLS terminator, or
        /// for local measurements).
        #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
        no_tls: bool,
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
        /// How long a buyer has to pay an order before its units go back
        /// on sale (`10m`, `90s`, `1h 30m`).
        #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
        payment_window: Duration,
        /// The catalog service an order role reads items from over HTTP
        /// (`http://127.0.0.1:8082`); without it, the order role reads the
        /// database itself.
        #[arg(long)]
        catalog_url: Option<String>,
        /// How long a cached item stays fresh (`5m`, `1s`).
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        item_cache_ttl: Duration,
        #[command(flatten)]
        scheduler: live_commerce::scheduler::flags::SchedulerFlags,
        /// How a sign-up's welcome mail is sent (auth, all): `off`, a
        /// spawned task (`in-process`), or RabbitMQ with the mail worker
        /// beside the auth service (`mq`); mails go to `SMTP_URL`.
        #[arg(long, value_enum, default_value = "off")]
        welcome_mail: live_commerce::mail::Mode,
        /// How long composing a welcome mail takes (`3s`, `200ms`).
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        welcome_mail_delay: Duration,
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
    /// Runs one of the original projects' experiments and prints its outcome.
    Experiment {
        #[command(subcommand)]
        experiment: live_commerce::experiments::Experiment,
    },
    /// Checks every backing service: reachable, version, round-trip time.
    /// Exits 1 and names the services that are down.
    Doctor,
    /// Manages accounts (operator actions that have no HTTP endpoint).
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
}

#[derive(Debug, Subcommand)]
enum UsersAction {
    /// Grants the admin role to the account with this email.
    GrantAdmin {
        /// The account's email.
        email: String,
    },
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
            chat,
            strategy,
            listen,
            upstreams,
            tls_cert,
            tls_key,
            no_tls,
            no_item_cache,
            worker_delay_ms,
            lock_lease_ms,
            payment_window,
            catalog_url,
            item_cache_ttl,
            welcome_mail,
            welcome_mail_delay,
            scheduler,
        } => {
            let mut gateway_upstreams = Upstreams::default();
            for setting in &upstreams {
                if let Err(error) = gateway_upstreams.set(setting) {
                    eprintln!("error: --upstream {error}");
                    return ExitCode::FAILURE;
                }
            }
            let tls = match (no_tls, tls_cert, tls_key) {
                (true, _, _) => None,
                (false, Some(cert), Some(key)) => Some(TlsSource::Files { cert, key }),
                _ => Some(TlsSource::Development),
            };
            let edge = matches!(role, Role::Gateway | Role::All);
            let default_port = if edge { 8000 } else { 8080 };
            let listen = listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], default_port)));
            let settings = Settings {
                role,
                strategy,
                item_cache: !no_item_cache,
                worker_delay: Duration::from_millis(worker_delay_ms),
                lock_lease: Duration::from_millis(lock_lease_ms),
                payment_window,
                catalog_url,
                item_cache_ttl,
                welcome_mail,
                welcome_mail_delay,
                chat: chat.settings(),
                chat_archive_topic: chat.archive_topic(),
                upstreams: gateway_upstreams,
                tls: if edge { tls } else { None },
                scheduler: scheduler.settings(),
                ..Settings::default()
            };
            serve(&config, &settings, listen).await
        }
        Command::Experiment { experiment } => experiment.run(&config).await,
        Command::Users {
            action: UsersAction::GrantAdmin { email },
        } => grant_admin(&config, &email).await,
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
                password_cost: HashCost::Standard,
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
    let scheme = if running.tls_certificate_pem.is_some() {
        "https"
    } else {
        "http"
    };
    if let (Some(TlsSource::Development), Some(pem)) = (&settings.tls, &running.tls_certificate_pem)
    {
        eprintln!(
            "serving a self-signed development certificate (curl -k, or trust this PEM):\n{pem}"
        );
    }
    match running.addr {
        Some(addr) => println!(
            "ready: {} on {scheme}://{addr} (strategy {})",
            settings.role.name(),
            settings.strategy
        ),
        None => println!("ready: {} (no HTTP)", settings.role.name()),
    }
    running.wait().await
}

async fn grant_admin(config: &Config, email: &str) -> anyhow::Result<()> {
    let email = live_commerce::auth::accounts::normalize_email(email)
        .map_err(|error| anyhow::anyhow!(error.message))?;
    let pool = live_commerce::db::connect(&config.database_url, 1).await?;
    if !live_commerce::auth::accounts::grant_admin(&pool, &email).await? {
        anyhow::bail!("no account with the email {email}");
    }
    println!("{email} now holds the admin role");
    Ok(())
}

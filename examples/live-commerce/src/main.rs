//! # live-commerce
//!
//! A live-commerce backend (flash sales, live chat, orders, notifications)
//! assembled from this workspace's crates. One binary, one subcommand per role.
//!
//! Configuration comes from the environment (`REDIS_URL`, `AMQP_URL`,
//! `KAFKA_BROKERS`, `DATABASE_URL`, `RABBITMQ_MANAGEMENT_URL`) with the
//! defaults printed by `scripts/dev-services env`.

mod config;
mod doctor;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The live-commerce backend.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Checks every backing service: reachable, version, round-trip time.
    /// Exits 1 and names the services that are down.
    Doctor,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let config = config::Config::from_env();
    match cli.command {
        Command::Doctor => {
            if doctor::run(&config).await {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

//! The classic experiments of the original projects, each runnable with one
//! command (`live-commerce experiment <name>`), each printing its outcome as
//! a table, or as one JSON object with `--json` so scripts can check it.
//!
//! | experiment | what it shows |
//! |---|---|

use clap::Subcommand;

use crate::config::Config;

/// `live-commerce experiment <name>`.
#[derive(Debug, Subcommand)]
pub enum Experiment {}

impl Experiment {
    /// Runs the experiment and prints its outcome.
    pub async fn run(self, config: &Config) -> anyhow::Result<()> {
        let _ = config;
        match self {}
    }
}

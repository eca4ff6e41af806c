//! `live-commerce experiment async-vs-mq`: the welcome mail sent with
//! `@Async` (a spawned task) against the same mail sent through RabbitMQ
//! with manual ack, and a `kill -9` while the mails are being composed.
//!
//! Per mode it starts `serve --role auth --welcome-mail <mode>` as a child
//! process with its own SMTP sink, signs N accounts up at once, kills the
//! process with SIGKILL right after the last sign-up answered (each mail
//! takes `--delay`, 3 s, to compose, so none has gone out yet), starts it
//! again, waits until the mails stop arriving, and counts at the sink by
//! Message-ID:
//!
//! ```text
//! mode        sign-ups  before kill  received  lost  duplicated
//! in-process        50            0         0    50           0   the tasks died with the process
//! mq                50            0        50     0           0   redelivered, sent once each
//! ```
//!
//! In `mq` mode the mail job is an outbox row written with the account
//! (see [`crate::mail::queue`]); the worker acknowledges after the SMTP
//! server accepted the mail and records it in `mail_sent`
//! ([`crate::mail::worker`] names the small window where a duplicate
//! remains possible).
//!
//! | file | what it is |
//! |---|---|
//! | [`trial`] | one mode: sign up, kill, restart, wait, count |
//! | [`serve`] | the `serve` child process |
//! | [`count`] | received, lost, duplicated, by Message-ID |
//! | [`report`] | the table and the JSON object |

pub mod count;
pub mod report;
pub mod serve;
pub mod trial;

use std::time::Duration;

use crate::config::Config;
use crate::mail::Mode;
use report::Report;

/// `live-commerce experiment async-vs-mq`.
#[derive(Debug, Clone, clap::Args)]
pub struct AsyncVsMq {
    /// Accounts signed up per mode.
    #[arg(long, default_value_t = 50)]
    pub signups: usize,
    /// How long composing each welcome mail takes (`3s`, `500ms`).
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub delay: Duration,
    /// The modes to run, separated by commas.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "in-process,mq"
    )]
    pub modes: Vec<Mode>,
    /// Print one JSON object instead of the table (and write no page).
    #[arg(long)]
    pub json: bool,
    /// Where the docs page is written.
    #[command(flatten)]
    pub page: super::page::PageOut,
}

impl AsyncVsMq {
    /// Runs the experiment against `config`'s services (SMTP excepted:
    /// each mode gets its own sink) and prints the outcome.
    pub async fn run(&self, config: &Config) -> anyhow::Result<()> {
        let binary = std::env::current_exe()?;
        let report = measure(config, &binary, self).await?;
        if self.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            let table = report.table();
            print!("{table}");
            self.page.record("async-vs-mq.md", &table)?;
        }
        Ok(())
    }
}

/// Runs every mode of `options` with `binary` as `serve` (tests pass the
/// built binary; the command passes itself).
pub async fn measure(
    config: &Config,
    binary: &std::path::Path,
    options: &AsyncVsMq,
) -> anyhow::Result<Report> {
    anyhow::ensure!(options.signups > 0, "--signups must be at least 1");
    let mut modes = Vec::new();
    for &mode in &options.modes {
        anyhow::ensure!(
            mode != Mode::Off,
            "the modes to compare are in-process and mq"
        );
        modes.push(trial::run(config, binary, mode, options.signups, options.delay).await?);
    }
    Ok(Report {
        experiment: "async-vs-mq",
        signups: options.signups,
        delay_ms: options.delay.as_millis(),
        modes,
    })
}

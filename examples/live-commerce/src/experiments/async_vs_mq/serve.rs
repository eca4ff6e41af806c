//! A `live-commerce serve` child process the experiment can kill -9 and
//! start again.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::config::Config;

/// How long a starting `serve` may take to print its `ready:` line.
const READY_PATIENCE: Duration = Duration::from_secs(60);

/// A running `serve` and the URL it answers on.
pub struct Serve {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Serve {
    /// Runs `binary serve <args> --listen 127.0.0.1:0` against `config`'s
    /// services, mails to `smtp_url`, and waits until it is ready.
    pub async fn spawn(
        binary: &Path,
        config: &Config,
        smtp_url: &str,
        args: &[String],
    ) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .env("REDIS_URL", &config.redis_url)
            .env("AMQP_URL", &config.amqp_url)
            .env("DATABASE_URL", &config.database_url)
            .env("KAFKA_BROKERS", &config.kafka_brokers)
            .env("RABBITMQ_MANAGEMENT_URL", &config.rabbitmq_management_url)
            .env("SMTP_URL", smtp_url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "error");
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(READY_PATIENCE, async {
            while let Some(line) = lines.next_line().await? {
                if line.starts_with("ready:") {
                    return Ok(line);
                }
            }
            anyhow::bail!("serve {args:?} exited before it was ready")
        })
        .await
        .with_context(|| format!("serve {args:?} not ready in {READY_PATIENCE:?}"))??;
        // Keep reading, so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let url = ready
            .split_once(" on ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .with_context(|| format!("no address in {ready:?}"))?
            .to_string();
        Ok(Self { child, url })
    }

    /// `kill -9`: no shutdown, no flush, no goodbye; waits until it is gone.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

//! The consumer process seen from the experiment: spawn it, wait for its
//! `ready` line, then either `kill -9` it (the crash under test) or close
//! its stdin (its graceful stop) and wait for it to exit.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::Variant;
use super::runner::Options;
use crate::config::Config;

/// How long a consumer process may take to say `ready`, or to stop.
const PATIENCE: Duration = Duration::from_secs(60);

/// A `live-commerce experiment diy-queue-consumer` child process.
pub struct ConsumerProcess {
    child: Child,
    variant: Variant,
}

impl ConsumerProcess {
    /// Starts it and waits for its `ready` line.
    pub async fn spawn(
        exe: &Path,
        config: &Config,
        options: &Options,
        run_id: &str,
        variant: Variant,
    ) -> anyhow::Result<Self> {
        let mut child = Command::new(exe)
            .args([
                "experiment",
                "diy-queue-consumer",
                "--variant",
                variant.name(),
            ])
            .args(["--run", run_id])
            .args(["--consumers", &options.consumers.to_string()])
            .args(["--work-ms", &options.work_ms.to_string()])
            .args([
                "--visibility-timeout-ms",
                &options.visibility_timeout_ms.to_string(),
            ])
            .env("REDIS_URL", &config.redis_url)
            .env("AMQP_URL", &config.amqp_url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.next_line().await? {
                if line.trim() == "ready" {
                    return Ok(true);
                }
            }
            Ok::<_, std::io::Error>(false)
        })
        .await;
        // Keep reading, so the child never writes into a closed pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        match ready {
            Ok(Ok(true)) => Ok(Self { child, variant }),
            Ok(Ok(false)) => {
                anyhow::bail!("the {} consumer exited before it was ready", variant.name())
            }
            Ok(Err(error)) => Err(error.into()),
            Err(_) => anyhow::bail!(
                "the {} consumer was not ready within {PATIENCE:?}",
                variant.name()
            ),
        }
    }

    /// Fails if the process exited (it should run until stopped or killed).
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => anyhow::bail!(
                "the {} consumer exited on its own: {status}",
                self.variant.name()
            ),
        }
    }

    /// `kill -9`, and waits until the process is gone.
    pub async fn kill9(mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }

    /// Closes its stdin (its graceful stop) and waits for it to exit.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.child.stdin.take());
        let status = tokio::time::timeout(PATIENCE, self.child.wait()).await;
        match status {
            Ok(status) => {
                let status = status?;
                anyhow::ensure!(
                    status.success(),
                    "the {} consumer failed: {status}",
                    self.variant.name()
                );
                Ok(())
            }
            Err(_) => anyhow::bail!(
                "the {} consumer did not stop within {PATIENCE:?}",
                self.variant.name()
            ),
        }
    }
}

//! A private RabbitMQ node, for the tests that must stop, crash or restart the
//! broker itself without disturbing every other test on the shared one.
//!
//! The node runs the installed `rabbitmq-server` with its own node name,
//! ports and data directory (`RABBITMQ_NODENAME`, `RABBITMQ_NODE_PORT`,
//! `RABBITMQ_DIST_PORT`, `RABBITMQ_MNESIA_BASE`, `RABBITMQ_LOG_BASE`) and no
//! plugins, and answers in a few seconds. Debian's scripts run the server as
//! the `rabbitmq` user, so the directories are handed to that user when it
//! exists. Its data directory lives as long as this value, so queues declared
//! durable survive [`restart`](RabbitNode::restart) and
//! [`kill`](RabbitNode::kill) + [`start`](RabbitNode::start).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, User, chown};
use tokio::process::Command;

use crate::error::{Result, TestkitError};
use crate::{binary, ports, rabbitmqctl, wait};

const INSTALL_RABBITMQ: &str = "apt-get install rabbitmq-server";
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// A RabbitMQ node owned by one test; killed and deleted on drop.
#[derive(Debug)]
pub struct RabbitNode {
    nodename: String,
    amqp_port: u16,
    dist_port: u16,
    dir: tempfile::TempDir,
}

impl RabbitNode {
    /// Starts a node on free ports and waits until it accepts AMQP connections.
    pub async fn start_new() -> Result<Self> {
        binary::find(
            "rabbitmq-server",
            INSTALL_RABBITMQ,
            &["/usr/sbin", "/usr/lib/rabbitmq/bin"],
        )?;
        let dir = tempfile::Builder::new()
            .prefix("testkit-rabbit-")
            .tempdir()
            .map_err(|e| TestkitError::io("creating a directory for the RabbitMQ node", e))?;
        let short = uuid::Uuid::new_v4().simple().to_string();
        let node = Self {
            nodename: format!("testkit-{}@localhost", &short[..12]),
            amqp_port: ports::free_port()?,
            dist_port: ports::free_port()?,
            dir,
        };
        node.prepare_directories()?;
        node.start().await?;
        Ok(node)
    }

    /// The Erlang node name, for `rabbitmqctl -n`.
    pub fn nodename(&self) -> &str {
        &self.nodename
    }

    /// The AMQP port.
    pub fn port(&self) -> u16 {
        self.amqp_port
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.amqp_port)
    }

    /// Starts the node (again) on its ports and waits until AMQP answers.
    pub async fn start(&self) -> Result<()> {
        let server = binary::find(
            "rabbitmq-server",
            INSTALL_RABBITMQ,
            &["/usr/sbin", "/usr/lib/rabbitmq/bin"],
        )?;
        let status = Command::new(server)
            .arg("-detached")
            .envs(self.environment())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .map_err(|e| TestkitError::io("running rabbitmq-server -detached", e))?;
        if !status.success() {
            return Err(TestkitError::setup("rabbitmq-server -detached", status));
        }
        let url = self.url();
        wait::until_ok(READY_TIMEOUT, || {
            let url = url.clone();
            async move {
                let connection =
                    lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
                        .await
                        .map_err(|e| e.to_string())?;
                let _ = connection.close(200, "ready probe".into()).await;
                Ok::<(), String>(())
            }
        })
        .await
        .map_err(|detail| TestkitError::NotReady {
            what: format!("RabbitMQ node {}", self.nodename),
            timeout: READY_TIMEOUT,
            detail: format!("{detail}; log: {}", self.log_tail()),
        })
    }

    /// Stops the node cleanly (`rabbitmqctl stop`), as an operator would.
    pub async fn stop(&self) -> Result<()> {
        let pid_file = self.pid_file().display().to_string();
        rabbitmqctl::run(&["shutdown"], Some(&self.nodename)).await?;
        let _ = std::fs::remove_file(pid_file);
        Ok(())
    }

    /// Kills the node with SIGKILL, like a crash or an OOM kill.
    pub async fn kill(&self) -> Result<()> {
        let pid = self.read_pid()?;
        kill(Pid::from_raw(pid), Signal::SIGKILL)
            .map_err(|e| TestkitError::setup(format!("killing RabbitMQ node pid {pid}"), e))?;
        wait::until_ok(Duration::from_secs(10), || async move {
            // Gone, or a zombie (dead, waiting to be reaped by an init that may never do it).
            if kill(Pid::from_raw(pid), None).is_err() || is_zombie(pid) {
                Ok(())
            } else {
                Err(())
            }
        })
        .await
        .map_err(|()| {
            TestkitError::setup("killing the RabbitMQ node", "still running after SIGKILL")
        })?;
        let _ = std::fs::remove_file(self.pid_file());
        Ok(())
    }

    /// Stops the node cleanly and starts it again on the same ports.
    pub async fn restart(&self) -> Result<()> {
        self.stop().await?;
        self.start().await
    }

    /// Force-closes every client connection of this node.
    pub async fn close_connections(&self) -> Result<()> {
        rabbitmqctl::run(
            &["close_all_connections", "testkit: closed by test"],
            Some(&self.nodename),
        )
        .await?;
        Ok(())
    }

    fn environment(&self) -> Vec<(&'static str, String)> {
        let base = self.dir.path();
        vec![
            ("RABBITMQ_NODENAME", self.nodename.clone()),
            ("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1".into()),
            ("RABBITMQ_NODE_PORT", self.amqp_port.to_string()),
            ("RABBITMQ_DIST_PORT", self.dist_port.to_string()),
            (
                "RABBITMQ_MNESIA_BASE",
                base.join("mnesia").display().to_string(),
            ),
            ("RABBITMQ_LOG_BASE", base.join("log").display().to_string()),
            ("RABBITMQ_PID_FILE", self.pid_file().display().to_string()),
            (
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                base.join("enabled_plugins").display().to_string(),
            ),
            (
                "RABBITMQ_CONFIG_FILE",
                base.join("rabbitmq").display().to_string(),
            ),
        ]
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.path().join("node.pid")
    }

    fn read_pid(&self) -> Result<i32> {
        let text = std::fs::read_to_string(self.pid_file())
            .map_err(|e| TestkitError::io("reading the RabbitMQ node's pid file", e))?;
        text.trim()
            .parse()
            .map_err(|e| TestkitError::setup("parsing the RabbitMQ node's pid file", e))
    }

    /// Creates the directories and an empty plugin list (faster start), owned
    /// by the `rabbitmq` user when it exists.
    fn prepare_directories(&self) -> Result<()> {
        let base = self.dir.path();
        for sub in ["mnesia", "log"] {
            std::fs::create_dir_all(base.join(sub))
                .map_err(|e| TestkitError::io("creating RabbitMQ node directories", e))?;
        }
        std::fs::write(base.join("enabled_plugins"), "[].\n")
            .map_err(|e| TestkitError::io("writing the RabbitMQ plugin list", e))?;
        if let Ok(Some(user)) = User::from_name("rabbitmq") {
            for path in [
                base.to_path_buf(),
                base.join("mnesia"),
                base.join("log"),
                base.join("enabled_plugins"),
            ] {
                chown(&path, Some(user.uid), Some(user.gid)).map_err(|e| {
                    TestkitError::setup(format!("handing {} to user rabbitmq", path.display()), e)
                })?;
            }
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        log_tail(&self.dir.path().join("log"))
    }
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

fn log_tail(log_dir: &Path) -> String {
    let Ok(entries) = std::fs::read_dir(log_dir) else {
        return "(no log directory)".into();
    };
    let mut text = String::new();
    for entry in entries.flatten() {
        if let Ok(content) = std::fs::read_to_string(entry.path()) {
            text.push_str(&content);
        }
    }
    let lines: Vec<&str> = text.lines().rev().take(8).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

impl Drop for RabbitNode {
    fn drop(&mut self) {
        // SIGKILL: nothing of this node is worth a clean shutdown, and the
        // data directory goes with the TempDir right after.
        if let Ok(pid) = self.read_pid() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

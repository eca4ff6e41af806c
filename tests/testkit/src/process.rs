//! Running a child process (a worker binary, a second service instance) that a
//! test can wait on and kill with SIGKILL, the way a crash or `kill -9` would.
//!
//! Output lines (stdout and stderr) are collected so a test can wait for a
//! readiness line instead of sleeping, and print them when it fails.

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

use crate::error::{Result, TestkitError};

#[derive(Debug, Default)]
struct Output {
    lines: Mutex<Vec<String>>,
    appended: Notify,
}

/// A child process, killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct ChildProcess {
    name: String,
    child: Child,
    output: Arc<Output>,
    /// The tasks reading stdout and stderr, awaited once the process exited
    /// so that its last lines are in [`output_text`](Self::output_text).
    collectors: Vec<tokio::task::JoinHandle<()>>,
}

impl ChildProcess {
    /// Spawns `command` with stdout and stderr captured line by line.
    pub fn spawn(mut command: Command) -> Result<Self> {
        let name = format!("{:?}", command.as_std().get_program());
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| TestkitError::io(format!("spawning {name}"), e))?;
        let output = Arc::new(Output::default());
        let mut collectors = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            collectors.push(tokio::spawn(collect_lines(stdout, output.clone())));
        }
        if let Some(stderr) = child.stderr.take() {
            collectors.push(tokio::spawn(collect_lines(stderr, output.clone())));
        }
        Ok(Self {
            name,
            child,
            output,
            collectors,
        })
    }

    /// The OS process id, while the process runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits until a line of output contains `needle`; on timeout returns an
    /// error carrying everything printed so far.
    pub async fn wait_for_output(&self, needle: &str, timeout: Duration) -> Result<String> {
        let search = async {
            let mut seen = 0;
            loop {
                let appended = self.output.appended.notified();
                {
                    let lines = self.output.lines.lock().expect("output lock");
                    if let Some(line) = lines[seen..].iter().find(|line| line.contains(needle)) {
                        return line.clone();
                    }
                    seen = lines.len();
                }
                appended.await;
            }
        };
        tokio::time::timeout(timeout, search)
            .await
            .map_err(|_| TestkitError::NotReady {
                what: format!("{} printing {needle:?}", self.name),
                timeout,
                detail: self.output_text(),
            })
    }

    /// Everything the process printed so far, one line per line.
    pub fn output_text(&self) -> String {
        self.output.lines.lock().expect("output lock").join("\n")
    }

    /// Sends SIGKILL (no cleanup, no flush, exactly like `kill -9`) and reaps it.
    pub async fn kill9(&mut self) -> ExitStatus {
        self.signal(Signal::SIGKILL);
        self.wait().await
    }

    /// Sends SIGTERM, for a graceful shutdown, and reaps it.
    pub async fn terminate(&mut self) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        self.wait().await
    }

    /// Sends `signal` if the process still runs.
    pub fn signal(&self, signal: Signal) {
        if let Some(pid) = self.child.id() {
            let _ = kill(Pid::from_raw(pid as i32), signal);
        }
    }

    /// Waits for the process to exit and for its output to be read to the
    /// end (what it printed last is in [`output_text`](Self::output_text)).
    pub async fn wait(&mut self) -> ExitStatus {
        let status = self
            .child
            .wait()
            .await
            .unwrap_or_else(|e| panic!("waiting for {}: {e}", self.name));
        // The pipes close when the process is gone, unless a process it
        // started still holds them: then what was read so far has to do.
        for collector in self.collectors.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), collector).await;
        }
        status
    }
}

async fn collect_lines(stream: impl AsyncRead + Unpin, output: Arc<Output>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        output.lines.lock().expect("output lock").push(line);
        output.appended.notify_waiters();
    }
}

//! Running `rabbitmqctl`, the broker's own control tool.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::binary;
use crate::error::{Result, TestkitError};

const INSTALL_RABBITMQ: &str = "apt-get install rabbitmq-server";
/// Longer than any command takes on a busy machine (a node's shutdown
/// included), so a hung command fails the test with a reason instead.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `rabbitmqctl [-n node] args…` and returns its standard output.
///
/// `TESTKIT_RABBITMQCTL` replaces the command (split on spaces), e.g.
/// `docker exec my-rabbit rabbitmqctl` for a broker in a container.
pub(crate) async fn run(args: &[&str], node: Option<&str>) -> Result<String> {
    let prefix = std::env::var("TESTKIT_RABBITMQCTL").unwrap_or_else(|_| "rabbitmqctl".into());
    let mut words = prefix.split_whitespace();
    let program = words.next().unwrap_or("rabbitmqctl");
    let program = if program == "rabbitmqctl" {
        binary::find(
            program,
            INSTALL_RABBITMQ,
            &["/usr/sbin", "/usr/lib/rabbitmq/bin"],
        )?
    } else {
        program.into()
    };
    let mut command = Command::new(&program);
    command.args(words);
    if let Some(node) = node {
        command.args(["-n", node]);
    }
    command.args(args).stdin(Stdio::null()).kill_on_drop(true);
    let output = tokio::time::timeout(TIMEOUT, command.output())
        .await
        .map_err(|_| {
            TestkitError::setup(
                format!("rabbitmqctl {}", args.join(" ")),
                format!("no answer within {TIMEOUT:?}"),
            )
        })?
        .map_err(|e| TestkitError::io(format!("running {}", program.display()), e))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(TestkitError::setup(
            format!("rabbitmqctl {}", args.join(" ")),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        ))
    }
}

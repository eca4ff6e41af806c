//! Running a child process, waiting for its readiness line and killing it with SIGKILL.

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use testkit::ChildProcess;
use tokio::process::Command;

#[tokio::test]
async fn kill9_ends_a_process_that_ignores_sigterm() {
    let mut command = Command::new("sh");
    command.args([
        "-c",
        "trap '' TERM; echo worker ready; while true; do sleep 1; done",
    ]);
    let mut child = ChildProcess::spawn(command).unwrap();
    let line = child
        .wait_for_output("ready", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(line, "worker ready");
    assert!(child.pid().is_some());

    let status = child.kill9().await;
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");
    assert!(child.pid().is_none());
}

#[tokio::test]
async fn waiting_for_output_that_never_comes_reports_what_was_printed() {
    let mut command = Command::new("sh");
    command.args(["-c", "echo starting; echo failed to bind >&2; sleep 5"]);
    let child = ChildProcess::spawn(command).unwrap();
    let error = child
        .wait_for_output("ready", Duration::from_millis(500))
        .await
        .expect_err("never printed");
    let message = error.to_string();
    assert!(message.contains("failed to bind"), "{message}");
}

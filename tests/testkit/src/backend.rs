//! How the kit gets a server: a URL from the environment, a container when a
//! Docker engine answers, or a process spawned from the installed binary.

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where per-test servers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Spawn the installed server binary on a free port.
    Process,
    /// Start a container through testcontainers.
    Container,
}

/// The backend for servers the kit starts itself.
///
/// `TESTKIT_BACKEND=process` or `TESTKIT_BACKEND=container` forces one;
/// otherwise containers are used when `docker info` succeeds, and local
/// processes when it does not (no engine, or no Docker client at all).
pub fn backend() -> Backend {
    static CHOSEN: OnceLock<Backend> = OnceLock::new();
    *CHOSEN.get_or_init(|| match std::env::var("TESTKIT_BACKEND").as_deref() {
        Ok("process") => Backend::Process,
        Ok("container") => Backend::Container,
        _ if docker_engine_answers() => Backend::Container,
        _ => Backend::Process,
    })
}

/// True when a Docker engine answers `docker info`. A Docker client alone (no
/// daemon behind it) answers with an error, which counts as no.
/// Gives up after 5 s (a hung daemon counts as no).
pub fn docker_engine_answers() -> bool {
    let Ok(mut child) = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false; // no Docker client at all
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// Reads a non-empty environment variable.
pub(crate) fn env_url(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

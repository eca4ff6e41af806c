//! Per-test Redis servers in containers, where a Docker engine answers.
//!
//! The host port is chosen by the kit and mapped explicitly, so a stopped and
//! started container comes back on the same port, as a restarted process would.

use std::time::Duration;

use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::error::{Result, TestkitError};
use crate::redis_server::ping;
use crate::wait;

const REDIS_IMAGE: (&str, &str) = ("redis", "7");
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A `redis:7` container mapped to a fixed host port.
pub(crate) struct RedisContainer {
    port: u16,
    container: ContainerAsync<GenericImage>,
}

impl std::fmt::Debug for RedisContainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisContainer")
            .field("id", &self.container.id())
            .field("port", &self.port)
            .finish()
    }
}

impl RedisContainer {
    pub(crate) async fn start(port: u16, append_only: bool) -> Result<Self> {
        let mut command = vec!["redis-server", "--save", ""];
        if append_only {
            command.extend(["--appendonly", "yes", "--appendfsync", "always"]);
        }
        let container = GenericImage::new(REDIS_IMAGE.0, REDIS_IMAGE.1)
            .with_exposed_port(6379.tcp())
            .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
            .with_mapped_port(port, 6379.tcp())
            .with_cmd(command)
            .start()
            .await
            .map_err(|e| TestkitError::setup("starting a redis:7 container", e))?;
        Ok(Self { port, container })
    }

    /// Stops at once (no grace period), like a kill.
    pub(crate) async fn stop(&self) {
        self.container
            .stop_with_timeout(Some(0))
            .await
            .unwrap_or_else(|e| panic!("stopping the redis container: {e}"));
    }

    pub(crate) async fn pause(&self) {
        self.container
            .pause()
            .await
            .unwrap_or_else(|e| panic!("pausing the redis container: {e}"));
    }

    pub(crate) async fn unpause(&self) {
        self.container
            .unpause()
            .await
            .unwrap_or_else(|e| panic!("unpausing the redis container: {e}"));
    }

    pub(crate) async fn restart(&self) -> Result<()> {
        if self.container.is_running().await.unwrap_or(false) {
            self.stop().await;
        }
        self.container
            .start()
            .await
            .map_err(|e| TestkitError::setup("starting the redis container again", e))?;
        let port = self.port;
        wait::until_ok(READY_TIMEOUT, || ping(port))
            .await
            .map_err(|detail| TestkitError::NotReady {
                what: format!("redis container on port {port}"),
                timeout: READY_TIMEOUT,
                detail,
            })
    }
}

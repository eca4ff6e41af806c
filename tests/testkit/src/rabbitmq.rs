//! An isolated RabbitMQ virtual host per test on the shared broker.
//!
//! RabbitMQ takes seconds to start, so tests share one broker (started by
//! `scripts/dev-services up`) and each gets a fresh vhost: its own exchanges,
//! queues and connections, deleted when the test ends. The vhost is created
//! through the management HTTP API; connections are force-closed with
//! `rabbitmqctl close_all_connections -p <vhost>`, which acts at once (the
//! management API only lists connections after its next statistics tick).
//!
//! Environment: `AMQP_URL` (default `amqp://guest:guest@127.0.0.1:5672/%2f`),
//! `RABBITMQ_MANAGEMENT_URL` (default `http://guest:guest@127.0.0.1:15672`).

use std::time::Duration;

use reqwest::StatusCode;

use crate::backend::env_url;
use crate::cleanup::block_on_detached;
use crate::error::{Result, TestkitError};
use crate::rabbitmqctl;

const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
const DEFAULT_MANAGEMENT_URL: &str = "http://guest:guest@127.0.0.1:15672";

/// A fresh virtual host on the shared broker; deleted on drop.
#[derive(Debug)]
pub struct RabbitVhost {
    name: String,
    amqp_base: String,
    management: Management,
}

impl RabbitVhost {
    /// Creates a vhost named `testkit-<uuid>` and grants the broker user all rights on it.
    pub async fn create() -> Result<Self> {
        let amqp_url = env_url("AMQP_URL").unwrap_or_else(|| DEFAULT_AMQP_URL.into());
        let management = Management::from_env()?;
        let name = format!("testkit-{}", uuid::Uuid::new_v4().simple());
        management.create_vhost(&name).await?;
        Ok(Self {
            name,
            amqp_base: amqp_base(&amqp_url),
            management,
        })
    }

    /// The vhost's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// An AMQP URL that opens connections in this vhost.
    pub fn url(&self) -> String {
        format!("{}/{}", self.amqp_base, self.name)
    }

    /// Force-closes every client connection in this vhost, as a broker
    /// restart or a network failure would, and returns once they are closed.
    /// Other tests' vhosts are not touched.
    pub async fn close_connections(&self) -> Result<()> {
        rabbitmqctl::run(
            &[
                "close_all_connections",
                "-p",
                &self.name,
                "testkit: closed by test",
            ],
            None,
        )
        .await?;
        Ok(())
    }

    /// Messages ready in `queue` of this vhost, read through the management API
    /// (refreshed on the broker's statistics interval, so poll it with a deadline).
    pub async fn queue_depth(&self, queue: &str) -> Result<u64> {
        self.management.queue_depth(&self.name, queue).await
    }
}

impl Drop for RabbitVhost {
    fn drop(&mut self) {
        // A fresh HTTP client: pooled connections belong to the runtime that
        // opened them, and the test's runtime is blocked in this drop.
        let management = self.management.with_fresh_client();
        let name = self.name.clone();
        block_on_detached("deleting a RabbitMQ vhost", async move {
            management
                .delete_vhost(&name)
                .await
                .map_err(|e| e.to_string())
        });
    }
}

/// `amqp://user:pass@host:port` without the vhost path.
fn amqp_base(url: &str) -> String {
    let without_scheme = url.split_once("://").map(|(_, rest)| rest).unwrap_or(url);
    let authority = without_scheme.split('/').next().unwrap_or(without_scheme);
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme)
        .unwrap_or("amqp");
    format!("{scheme}://{authority}")
}

/// The management HTTP API, with the credentials taken out of its URL.
#[derive(Debug, Clone)]
struct Management {
    http: reqwest::Client,
    base: String,
    user: String,
    password: String,
}

impl Management {
    fn from_env() -> Result<Self> {
        let url =
            env_url("RABBITMQ_MANAGEMENT_URL").unwrap_or_else(|| DEFAULT_MANAGEMENT_URL.into());
        let parsed = reqwest::Url::parse(&url).map_err(|e| {
            TestkitError::setup(format!("parsing RABBITMQ_MANAGEMENT_URL {url}"), e)
        })?;
        let user = if parsed.username().is_empty() {
            "guest"
        } else {
            parsed.username()
        }
        .to_string();
        let password = parsed.password().unwrap_or("guest").to_string();
        let base = format!(
            "{}://{}:{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or("127.0.0.1"),
            parsed.port_or_known_default().unwrap_or(15672)
        );
        Ok(Self {
            http: http_client(),
            base,
            user,
            password,
        })
    }

    fn with_fresh_client(&self) -> Self {
        Self {
            http: http_client(),
            ..self.clone()
        }
    }

    async fn create_vhost(&self, vhost: &str) -> Result<()> {
        let down = |reason: String| TestkitError::ServiceDown {
            service: "rabbitmq",
            url: self.base.clone(),
            env_var: "RABBITMQ_MANAGEMENT_URL",
            reason,
        };
        let vhost_path = format!("{}/api/vhosts/{}", self.base, encode(vhost));
        let response = self
            .http
            .put(&vhost_path)
            .basic_auth(&self.user, Some(&self.password))
            .json(&serde_json::json!({ "description": "test kit vhost" }))
            .send()
            .await
            .map_err(|e| down(e.to_string()))?;
        expect_success(response, "creating a vhost").await?;
        let permissions = format!(
            "{}/api/permissions/{}/{}",
            self.base,
            encode(vhost),
            encode(&self.user)
        );
        let response = self
            .http
            .put(&permissions)
            .basic_auth(&self.user, Some(&self.password))
            .json(&serde_json::json!({ "configure": ".*", "write": ".*", "read": ".*" }))
            .send()
            .await
            .map_err(|e| down(e.to_string()))?;
        expect_success(response, "granting permissions on a vhost").await
    }

    async fn delete_vhost(&self, vhost: &str) -> Result<()> {
        let response = self
            .http
            .delete(format!("{}/api/vhosts/{}", self.base, encode(vhost)))
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await
            .map_err(|e| TestkitError::setup("deleting a vhost", e))?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(());
        }
        expect_success(response, "deleting a vhost").await
    }

    async fn queue_depth(&self, vhost: &str, queue: &str) -> Result<u64> {
        let response = self
            .http
            .get(format!(
                "{}/api/queues/{}/{}",
                self.base,
                encode(vhost),
                encode(queue)
            ))
            .basic_auth(&self.user, Some(&self.password))
            .send()
            .await
            .map_err(|e| TestkitError::setup("reading a queue", e))?;
        let body: serde_json::Value = response
            .error_for_status()
            .map_err(|e| TestkitError::setup(format!("reading queue {queue}"), e))?
            .json()
            .await
            .map_err(|e| TestkitError::setup(format!("reading queue {queue}"), e))?;
        Ok(body["messages_ready"].as_u64().unwrap_or(0))
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a plain HTTP client builds")
}

async fn expect_success(response: reqwest::Response, context: &str) -> Result<()> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(TestkitError::setup(
        context,
        format!("HTTP {status}: {body}"),
    ))
}

/// Percent-encodes a path segment (vhost `/` becomes `%2F`).
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amqp_base_drops_the_vhost() {
        assert_eq!(
            amqp_base("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://guest:guest@127.0.0.1:5672"
        );
        assert_eq!(amqp_base("amqp://h:1"), "amqp://h:1");
    }

    #[test]
    fn encode_escapes_slashes() {
        assert_eq!(encode("/"), "%2F");
        assert_eq!(encode("testkit-ab12"), "testkit-ab12");
    }
}

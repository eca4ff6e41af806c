//! A [`Probe`]: one dependency's readiness check, timed.
//!
//! A probe is a name and an async check that makes one real round trip to
//! the dependency (`SELECT 1`, `PING`, an AMQP channel opened and closed).
//! [`Probe::check`] runs it under a deadline and reports a [`ProbeOutcome`]:
//! whether it passed, how long the round trip took, and why it failed. A
//! check that hangs fails at the deadline, and one that panics fails with
//! "the check panicked"; neither takes `/readyz` down with it.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use mq_reliable::amqp::Broker;
use sqlx::PgPool;

/// The check itself: `Ok(())` when the dependency answered as expected.
type Check = Arc<dyn Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// One dependency's readiness check. Cheap to clone.
#[derive(Clone)]
pub struct Probe {
    name: &'static str,
    check: Check,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe").field("name", &self.name).finish()
    }
}

/// What one run of a probe found.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeOutcome {
    /// The probe's name (`postgres`, `redis`, …).
    pub name: &'static str,
    /// How long the check took, until it answered, failed or timed out.
    pub round_trip: Duration,
    /// `None` when the dependency is ready; otherwise why not.
    pub error: Option<String>,
}

impl ProbeOutcome {
    /// Whether the dependency is ready.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

impl Probe {
    /// A probe named `name` running `check`; `check` is called once per
    /// readiness request and its future must make the round trip.
    pub fn from_fn<F>(name: &'static str, check: F) -> Self
    where
        F: Fn() -> BoxFuture<'static, Result<(), String>> + Send + Sync + 'static,
    {
        Self {
            name,
            check: Arc::new(check),
        }
    }

    /// PostgreSQL through `pool`: `SELECT 1` (named `postgres`).
    pub fn postgres(pool: PgPool) -> Self {
        Self::from_fn("postgres", move || {
            let pool = pool.clone();
            async move {
                sqlx::query("SELECT 1")
                    .execute(&pool)
                    .await
                    .map(drop)
                    .map_err(|error| error.to_string())
            }
            .boxed()
        })
    }

    /// Redis through `connection`: `PING` (named `redis`).
    pub fn redis(connection: redis::aio::ConnectionManager) -> Self {
        Self::from_fn("redis", move || {
            let mut connection = connection.clone();
            async move {
                redis::cmd("PING")
                    .query_async::<String>(&mut connection)
                    .await
                    .map(drop)
                    .map_err(|error| error.to_string())
            }
            .boxed()
        })
    }

    /// RabbitMQ at `amqp_url`: a new connection, a channel opened on it,
    /// both closed (named `rabbitmq`). It tests what a new consumer or
    /// publisher would need: the broker accepts connections and channels.
    /// For a process that already holds a [`Broker`], see
    /// [`rabbitmq_queue`](Self::rabbitmq_queue).
    pub fn rabbitmq(amqp_url: String) -> Self {
        let url: Arc<str> = amqp_url.into();
        Self::from_fn("rabbitmq", move || {
            let url = url.clone();
            async move { amqp_round_trip(&url).await.map_err(|e| e.to_string()) }.boxed()
        })
    }

    /// RabbitMQ through the process's own `broker` connection: the number
    /// of messages ready in `queue`, read with a passive declare on a fresh
    /// channel (named `rabbitmq`). Fails when the broker is unreachable or
    /// `queue` does not exist, so it also tells that the topology is in
    /// place.
    pub fn rabbitmq_queue(broker: Broker, queue: &'static str) -> Self {
        Self::from_fn("rabbitmq", move || {
            let broker = broker.clone();
            async move {
                broker
                    .ready_count(queue)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            .boxed()
        })
    }

    /// The same check under another name (two Redis servers, say).
    #[must_use]
    pub fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// The probe's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Runs the check once, failing it when it takes longer than `timeout`
    /// or panics.
    pub async fn check(&self, timeout: Duration) -> ProbeOutcome {
        let started = Instant::now();
        let check = AssertUnwindSafe((self.check)()).catch_unwind();
        let error = match tokio::time::timeout(timeout, check).await {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(error))) => Some(error),
            Ok(Err(_panic)) => Some("the check panicked".to_string()),
            Err(_elapsed) => Some(format!("no answer within {timeout:?}")),
        };
        ProbeOutcome {
            name: self.name,
            round_trip: started.elapsed(),
            error,
        }
    }
}

/// Connects to `url`, opens a channel and closes both.
async fn amqp_round_trip(url: &str) -> lapin::Result<()> {
    let properties =
        lapin::ConnectionProperties::default().with_connection_name("live-commerce readyz".into());
    let connection = lapin::Connection::connect(url, properties).await?;
    let channel = connection.create_channel().await;
    if let Ok(channel) = &channel {
        let _ = channel.close(200, "readiness checked".into()).await;
    }
    let closed = connection.close(200, "readiness checked".into()).await;
    channel.map(drop).and(closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(outcome: Result<(), &'static str>) -> Probe {
        Probe::from_fn("dep", move || {
            async move { outcome.map_err(str::to_string) }.boxed()
        })
    }

    #[tokio::test]
    async fn a_passing_check_is_ok_and_timed() {
        let outcome = probe(Ok(())).check(Duration::from_secs(1)).await;
        assert!(outcome.ok());
        assert_eq!(outcome.name, "dep");
        assert!(outcome.round_trip < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_failing_check_keeps_its_error() {
        let outcome = probe(Err("refused")).check(Duration::from_secs(1)).await;
        assert_eq!(outcome.error.as_deref(), Some("refused"));
    }

    #[tokio::test]
    async fn a_check_that_never_answers_fails_at_the_deadline() {
        let hangs = Probe::from_fn("hangs", || futures::future::pending().boxed());
        let outcome = hangs.check(Duration::from_millis(20)).await;
        assert_eq!(outcome.error.as_deref(), Some("no answer within 20ms"));
        assert!(outcome.round_trip >= Duration::from_millis(20));
    }

    #[tokio::test]
    async fn a_check_that_panics_fails_without_unwinding_further() {
        let panics = Probe::from_fn("panics", || async { panic!("boom") }.boxed());
        let outcome = panics.named("renamed").check(Duration::from_secs(1)).await;
        assert_eq!(outcome.name, "renamed");
        assert_eq!(outcome.error.as_deref(), Some("the check panicked"));
    }
}

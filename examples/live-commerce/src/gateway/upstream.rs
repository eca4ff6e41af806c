//! The instances of one role behind the gateway, and which are healthy.
//!
//! An instance is healthy when its `GET /healthz` answered `200` at the last
//! probe (every [`PROBE_INTERVAL`]), or when the last request sent to it
//! reached it. A request goes to the next healthy instance in turn (round
//! robin). An instance that refuses a connection is marked unhealthy at
//! once, so requests skip it from then on, and the probe keeps retrying it:
//! it takes traffic again from its first good answer. When no instance
//! looks healthy, every instance is tried anyway: the marks may be stale,
//! and trying costs a refused connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::Uri;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

/// How often each instance is probed.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// How long a probe may take before it counts as a failure.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The HTTP client the gateway forwards with.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// One instance: its base URL and its last known health.
#[derive(Debug)]
pub struct Instance {
    /// `http://host:port`.
    pub base: Uri,
    healthy: AtomicBool,
}

impl Instance {
    /// Whether it answered last time.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Records how it answered.
    pub fn mark(&self, healthy: bool) {
        if self.healthy.swap(healthy, Ordering::Relaxed) != healthy {
            if healthy {
                tracing::info!(instance = %self.base, "upstream instance is back");
            } else {
                tracing::warn!(instance = %self.base, "upstream instance is down; skipping it");
            }
        }
    }
}

/// The instances of one role.
#[derive(Debug, Clone)]
pub struct Pool {
    /// The role's name, for messages.
    pub role: &'static str,
    instances: Arc<Vec<Instance>>,
    next: Arc<AtomicUsize>,
}

impl Pool {
    /// A pool of `bases` (`http://host:port`), all assumed healthy until a
    /// probe or a request says otherwise.
    pub fn new(role: &'static str, bases: Vec<Uri>) -> Self {
        let instances = bases
            .into_iter()
            .map(|base| Instance {
                base,
                healthy: AtomicBool::new(true),
            })
            .collect();
        Self {
            role,
            instances: Arc::new(instances),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Every instance.
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }

    /// The instances to try for one request, in order: the healthy ones,
    /// starting from the next in turn; or all of them when none is healthy.
    pub fn candidates(&self) -> Vec<&Instance> {
        let count = self.instances.len();
        if count == 0 {
            return Vec::new();
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let in_turn = (0..count).map(|step| &self.instances[(start + step) % count]);
        let healthy: Vec<&Instance> = in_turn.clone().filter(|i| i.is_healthy()).collect();
        if healthy.is_empty() {
            in_turn.collect()
        } else {
            healthy
        }
    }

    /// Probes every instance forever (spawn it; it ends when the pool's
    /// last clone is dropped).
    pub async fn probe_forever(self, client: HttpClient) {
        let instances = Arc::downgrade(&self.instances);
        drop(self);
        let mut tick = tokio::time::interval(PROBE_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(instances) = instances.upgrade() else {
                return;
            };
            let probes = instances.iter().map(|instance| async {
                instance.mark(probe(&client, &instance.base).await);
            });
            futures::future::join_all(probes).await;
        }
    }
}

/// Whether `GET {base}/healthz` answers `200` within [`PROBE_TIMEOUT`].
pub async fn probe(client: &HttpClient, base: &Uri) -> bool {
    let Ok(uri) = format!("{base}healthz").parse::<Uri>() else {
        return false;
    };
    let request = axum::http::Request::get(uri).body(Full::new(Bytes::new()));
    let Ok(request) = request else { return false };
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, client.request(request)).await,
        Ok(Ok(response)) if response.status() == axum::http::StatusCode::OK
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> Pool {
        let bases = (0..n)
            .map(|i| format!("http://127.0.0.1:{}", 9000 + i).parse().unwrap())
            .collect();
        Pool::new("order", bases)
    }

    fn ports(candidates: &[&Instance]) -> Vec<u16> {
        candidates
            .iter()
            .map(|i| i.base.port_u16().unwrap())
            .collect()
    }

    #[test]
    fn requests_take_turns_and_skip_the_unhealthy() {
        let pool = pool(3);
        assert_eq!(ports(&pool.candidates()), [9000, 9001, 9002]);
        assert_eq!(ports(&pool.candidates()), [9001, 9002, 9000]);
        pool.instances()[1].mark(false);
        assert_eq!(ports(&pool.candidates()), [9002, 9000]);
        assert_eq!(ports(&pool.candidates()), [9000, 9002]);
        pool.instances()[1].mark(true);
        assert_eq!(ports(&pool.candidates()), [9001, 9002, 9000]);
    }

    #[test]
    fn with_none_healthy_every_instance_is_tried() {
        let pool = pool(2);
        for instance in pool.instances() {
            instance.mark(false);
        }
        assert_eq!(pool.candidates().len(), 2);
        assert!(Pool::new("none", Vec::new()).candidates().is_empty());
    }
}

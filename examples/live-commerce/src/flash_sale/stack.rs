//! The servers a run starts in-process, laid out as the deployed system is:
//! each role its own server on an ephemeral port, the gateway in front,
//! TLS between the buyers and the gateway.
//!
//! ```text
//!                        ┌──► auth     /api/auth/…        (the whole run)
//!  buyers ──HTTPS──► gateway
//!                        └──► order    /api/orders, /api/items/…  (one per strategy)
//!                                │ lua-mq: OrderPlaced
//!                                ▼
//!                             RabbitMQ ──► worker         (lua-mq only)
//! ```
//!
//! Every server reads the same Redis and PostgreSQL. That is what lets the
//! buyers log in once per run: the session the auth service wrote at login
//! is the one each strategy's order service reads, from the same Redis,
//! with the cookie the gateway passes through.
//!
//! The gateway serves the development certificate (made when it starts);
//! [`Front::client`] trusts exactly that certificate, and pins `localhost`
//! to the gateway's address, so the client checks the name the certificate
//! was made for without asking a resolver.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::Uri;

use crate::auth::password::HashCost;
use crate::config::Config;
use crate::gateway::Upstreams;
use crate::gateway::tls::TlsSource;
use crate::server::{self, Role, Running, Settings};
use crate::strategy::Strategy;

/// Any free port on the loopback interface.
const EPHEMERAL: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// Starts one server with `settings` on an ephemeral port.
pub(crate) async fn start(config: &Config, settings: Settings) -> anyhow::Result<Running> {
    server::start(config, &settings, EPHEMERAL).await
}

/// The auth service (accounts, login, sessions).
pub(crate) async fn start_auth(config: &Config, cost: HashCost) -> anyhow::Result<Running> {
    let settings = Settings {
        role: Role::Auth,
        password_cost: cost,
        ..Settings::default()
    };
    start(config, settings).await
}

/// Where the gateway reaches a server (`http://127.0.0.1:<port>`).
pub(crate) fn upstream(running: &Running) -> Uri {
    let addr = running.addr.expect("the role serves HTTP");
    format!("http://{addr}").parse().expect("a valid URI")
}

/// One strategy's order service, and for `lua-mq` the worker that persists
/// its orders: two servers, as deployed.
pub(crate) struct OrderService {
    /// The order service (it serves the catalog reads too).
    pub(crate) order: Running,
    worker: Option<Running>,
}

impl OrderService {
    /// Starts the order service for `strategy`, and its worker if the
    /// strategy answers before it persists.
    pub(crate) async fn start(config: &Config, strategy: Strategy) -> anyhow::Result<Self> {
        let settings = |role| Settings {
            role,
            strategy,
            ..Settings::default()
        };
        let worker = if strategy.is_asynchronous() {
            Some(start(config, settings(Role::Worker)).await?)
        } else {
            None
        };
        let order = start(config, settings(Role::Order)).await?;
        Ok(Self { order, worker })
    }

    /// Stops the order service, then the worker (gracefully: in-flight
    /// orders finish and are acknowledged).
    pub(crate) async fn shutdown(self) {
        self.order.shutdown().await;
        if let Some(worker) = self.worker {
            worker.shutdown().await;
        }
    }
}

/// A gateway serving TLS with a development certificate, and what a client
/// needs to trust it.
pub(crate) struct Front {
    running: Running,
    addr: SocketAddr,
    certificate: reqwest::Certificate,
}

impl Front {
    /// Starts a gateway in front of `upstreams`.
    pub(crate) async fn start(config: &Config, upstreams: Upstreams) -> anyhow::Result<Self> {
        let settings = Settings {
            role: Role::Gateway,
            upstreams,
            tls: Some(TlsSource::Development),
            ..Settings::default()
        };
        let running = start(config, settings).await?;
        let addr = running.addr.expect("the gateway serves HTTPS");
        let pem = running
            .tls_certificate_pem
            .as_deref()
            .expect("the gateway serves TLS");
        let certificate = reqwest::Certificate::from_pem(pem.as_bytes())?;
        Ok(Self {
            running,
            addr,
            certificate,
        })
    }

    /// The gateway's URL for `path` (`https://localhost:<port><path>`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// A client that trusts this gateway's certificate and keeps up to
    /// `connections` idle connections to it (one per buyer).
    pub(crate) fn client(&self, connections: usize) -> anyhow::Result<reqwest::Client> {
        // The process-wide rustls provider; already installed when the
        // gateway started in this process, which makes this a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(reqwest::Client::builder()
            .add_root_certificate(self.certificate.clone())
            .resolve("localhost", self.addr)
            .pool_max_idle_per_host(connections)
            .timeout(Duration::from_secs(60))
            .build()?)
    }

    /// Stops the gateway.
    pub(crate) async fn shutdown(self) {
        self.running.shutdown().await;
    }
}

//! The gateway (`serve --role gateway`, port 8000): the system's one entry
//! point.
//!
//! It terminates TLS ([`tls`]), does the edge's duties
//! ([`edge`](crate::http::edge): who the client is, a request id, `Secure`
//! cookies), refuses cross-site writes, and sends each `/api` request to an
//! instance of the role that serves it ([`forward`]), in turn among the
//! healthy ones ([`upstream`]):
//!
//! | path | role |
//! |---|---|
//! | `/api/auth/…`, `/api/admin/users/…` | auth |
//! | `/api/items…`, `/api/stock/…`, `/api/search`, `/api/ranking/…` | catalog |
//! | `/api/orders…`, `/api/admin/dead-letters…` | order |
//! | `/api/chat/…`, `/api/notifications…` | chat (WebSockets too: [`websocket`]) |
//!
//! It holds no session and no connection to Redis or the database: the
//! session cookie passes through untouched, and the services read it.

pub mod forward;
pub mod tls;
pub mod upstream;
pub mod websocket;

use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::Uri;
use axum::routing::any;
use hyper_util::rt::TokioExecutor;

use crate::gateway::upstream::{HttpClient, Pool};

/// Where each role's instances are (`http://host:port` each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstreams {
    /// The auth service.
    pub auth: Vec<Uri>,
    /// The catalog service.
    pub catalog: Vec<Uri>,
    /// The order service.
    pub order: Vec<Uri>,
    /// The chat service.
    pub chat: Vec<Uri>,
}

impl Default for Upstreams {
    /// One instance each on ports 8081 (auth), 8082 (catalog), 8083
    /// (order), 8084 (chat).
    fn default() -> Self {
        let local = |port: u16| {
            vec![
                format!("http://127.0.0.1:{port}")
                    .parse()
                    .expect("a valid URI"),
            ]
        };
        Self {
            auth: local(8081),
            catalog: local(8082),
            order: local(8083),
            chat: local(8084),
        }
    }
}

impl Upstreams {
    /// Applies one `--upstream role=url[,url…]` setting.
    pub fn set(&mut self, setting: &str) -> Result<(), String> {
        let (role, urls) = setting
            .split_once('=')
            .ok_or_else(|| format!("`{setting}` is not role=url[,url…]"))?;
        let urls = urls
            .split(',')
            .map(|url| parse_base(url.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        match role.trim() {
            "auth" => self.auth = urls,
            "catalog" => self.catalog = urls,
            "order" => self.order = urls,
            "chat" => self.chat = urls,
            other => {
                return Err(format!(
                    "the gateway has no `{other}` role (auth, catalog, order, chat)"
                ));
            }
        }
        Ok(())
    }
}

fn parse_base(url: &str) -> Result<Uri, String> {
    let uri: Uri = url.parse().map_err(|_| format!("`{url}` is not a URL"))?;
    match (uri.scheme_str(), uri.authority(), uri.path()) {
        (Some("http"), Some(_), "/" | "") => Ok(uri),
        _ => Err(format!(
            "`{url}` must be http://host:port (the services speak plain HTTP)"
        )),
    }
}

/// How long connecting to an instance may take. An instance that is gone
/// refuses at once; one that is only busy can let its accept queue fill,
/// and the kernel then drops the SYN, which is sent again after one second
/// and again after three: this covers both retries (Envoy's default too).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The gateway's pools and the client it forwards with.
#[derive(Clone)]
pub struct Gateway {
    client: HttpClient,
    auth: Pool,
    catalog: Pool,
    order: Pool,
    chat: Pool,
}

impl Gateway {
    /// A gateway over `upstreams`; probes each instance in the background
    /// for as long as the gateway lives.
    pub fn start(upstreams: &Upstreams) -> Self {
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        let gateway = Self {
            client,
            auth: Pool::new("auth", upstreams.auth.clone()),
            catalog: Pool::new("catalog", upstreams.catalog.clone()),
            order: Pool::new("order", upstreams.order.clone()),
            chat: Pool::new("chat", upstreams.chat.clone()),
        };
        for pool in gateway.pools() {
            tokio::spawn(pool.clone().probe_forever(gateway.client.clone()));
        }
        gateway
    }

    /// Every pool.
    pub fn pools(&self) -> [&Pool; 4] {
        [&self.auth, &self.catalog, &self.order, &self.chat]
    }

    /// The client the gateway forwards and probes with.
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// The proxied `/api` routes.
    pub fn routes(&self) -> Router {
        let to = |pick: fn(&Gateway) -> &Pool| {
            any(
                move |State(gateway): State<Gateway>, request: Request| async move {
                    if websocket::is_upgrade(request.headers()) {
                        websocket::forward(&gateway.client, pick(&gateway), request).await
                    } else {
                        forward::forward(&gateway.client, pick(&gateway), request).await
                    }
                },
            )
        };
        Router::new()
            .route("/api/auth/{*rest}", to(|g| &g.auth))
            .route("/api/admin/users/{*rest}", to(|g| &g.auth))
            .route("/api/admin/dead-letters", to(|g| &g.order))
            .route("/api/admin/dead-letters/{*rest}", to(|g| &g.order))
            .route("/api/items", to(|g| &g.catalog))
            .route("/api/items/{*rest}", to(|g| &g.catalog))
            .route("/api/stock/{*rest}", to(|g| &g.catalog))
            .route("/api/search", to(|g| &g.catalog))
            .route("/api/ranking/{*rest}", to(|g| &g.catalog))
            .route("/api/stats/daily", to(|g| &g.catalog))
            .route("/api/orders", to(|g| &g.order))
            .route("/api/orders/{*rest}", to(|g| &g.order))
            .route("/api/chat/{*rest}", to(|g| &g.chat))
            .route("/api/notifications", to(|g| &g.chat))
            .route("/api/notifications/{*rest}", to(|g| &g.chat))
            .with_state(self.clone())
    }
}

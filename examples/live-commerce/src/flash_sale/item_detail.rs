//! Item detail reads (`GET /api/items/{id}`): what cache-aside buys, and
//! what the gateway costs, measured in the same run.
//!
//! Three readings of [`WINDOW`] each, [`CLIENTS`] clients reading in a loop
//! (each reading the whole answer, so connections are reused):
//!
//! 1. a catalog server without the cache, directly (plain HTTP);
//! 2. a catalog server with cache-aside, directly (plain HTTP);
//! 3. the same cached server through a gateway: TLS, and one more hop.
//!
//! 2 against 1 is the cache; 3 against 2 is the gateway. On a small machine
//! the clients, the gateway and the catalog share the cores, so the
//! gateway's cost shows as much in throughput (its CPU) as in latency.

use std::time::{Duration, Instant};

use crate::catalog::{self, ItemKind, NewItem};
use crate::config::Config;
use crate::flash_sale::report::{ItemDetailThroughput, ReadFigures, percentile};
use crate::flash_sale::stack::{self, Front};
use crate::gateway::Upstreams;
use crate::server::{Role, Running, Settings};

/// How long each reading lasts.
pub const WINDOW: Duration = Duration::from_secs(2);
/// Clients reading at once.
pub const CLIENTS: usize = 32;

/// Takes the three readings; `auth` completes the gateway's upstreams.
pub(crate) async fn measure(
    config: &Config,
    auth: &Running,
) -> anyhow::Result<ItemDetailThroughput> {
    let plain = reqwest::Client::new();
    let (uncached, catalog, _) = direct(config, false, &plain).await?;
    catalog.shutdown().await;
    let (cached, catalog, item_id) = direct(config, true, &plain).await?;
    let front = Front::start(
        config,
        Upstreams {
            auth: vec![stack::upstream(auth)],
            catalog: vec![stack::upstream(&catalog)],
            order: Vec::new(),
            chat: Vec::new(),
        },
    )
    .await?;
    let through_gateway = read_for(
        &front.client(CLIENTS)?,
        &front.url(&format!("/api/items/{item_id}")),
    )
    .await;
    front.shutdown().await;
    catalog.shutdown().await;
    Ok(ItemDetailThroughput {
        uncached,
        cached,
        cached_through_gateway: through_gateway?,
    })
}

/// Starts a catalog server (with or without the cache), creates an item and
/// reads it directly; returns the figures, the server (still running) and
/// the item.
async fn direct(
    config: &Config,
    cached: bool,
    http: &reqwest::Client,
) -> anyhow::Result<(ReadFigures, Running, i64)> {
    let settings = Settings {
        role: Role::Catalog,
        item_cache: cached,
        ..Settings::default()
    };
    let catalog = stack::start(config, settings).await?;
    let item = NewItem {
        name: "item detail".into(),
        kind: ItemKind::General,
        price: 1_000,
        stock: 1,
        start_at: None,
    };
    let item_id = catalog::create_item(catalog.pool(), catalog.redis(), &item)
        .await
        .map_err(|error| anyhow::anyhow!("creating the item: {}", error.message))?;
    let addr = catalog.addr.expect("the catalog serves HTTP");
    let figures = read_for(http, &format!("http://{addr}/api/items/{item_id}")).await?;
    Ok((figures, catalog, item_id))
}

/// Reads `url` from [`CLIENTS`] tasks for [`WINDOW`] (after one read that
/// fills the cache).
async fn read_for(http: &reqwest::Client, url: &str) -> anyhow::Result<ReadFigures> {
    http.get(url)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    let deadline = Instant::now() + WINDOW;
    let readers: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(read_until(http.clone(), url.to_string(), deadline)))
        .collect();
    let mut latencies = Vec::new();
    for reader in readers {
        latencies.extend(reader.await?);
    }
    latencies.sort();
    Ok(ReadFigures {
        requests_per_second: latencies.len() as f64 / WINDOW.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
    })
}

/// One client's loop: the latency of each successful read.
async fn read_until(http: reqwest::Client, url: String, deadline: Instant) -> Vec<Duration> {
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let started = Instant::now();
        let Ok(response) = http.get(&url).send().await else {
            continue;
        };
        let ok = response.status() == 200;
        if response.bytes().await.is_ok() && ok {
            latencies.push(started.elapsed());
        }
    }
    latencies
}

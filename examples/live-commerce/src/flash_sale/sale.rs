//! One strategy's sale, from fresh servers and fresh stock to the books.
//!
//! 1. Start the strategy's order service (and worker), and a gateway in
//!    front of it and the run's auth service.
//! 2. Create a fresh item with the stock on sale.
//! 3. Release the logged-in buyers at once ([`load::buy`]).
//! 4. For `lua-mq`, wait until the worker has persisted every accepted
//!    order; then read the books, and what the gateway counted.

use indicatif::ProgressBar;

use crate::catalog::{self, ItemKind, NewItem};
use crate::config::Config;
use crate::flash_sale::buyers::Buyers;
use crate::flash_sale::stack::{self, Front, OrderService};
use crate::flash_sale::{FlashSaleOptions, StrategyResult, books, load, metrics};
use crate::gateway::Upstreams;
use crate::server::Running;
use crate::strategy::Strategy;

/// Runs `strategy`'s sale for `buyers`, behind a gateway whose auth
/// upstream is `auth`.
pub(crate) async fn sell(
    config: &Config,
    options: &FlashSaleOptions,
    strategy: Strategy,
    auth: &Running,
    buyers: &Buyers,
    progress: ProgressBar,
) -> anyhow::Result<StrategyResult> {
    let service = OrderService::start(config, strategy).await?;
    let order = stack::upstream(&service.order);
    let upstreams = Upstreams {
        auth: vec![stack::upstream(auth)],
        catalog: vec![order.clone()],
        order: vec![order],
        chat: Vec::new(),
    };
    let front = Front::start(config, upstreams).await?;
    let item_id = fresh_item(&service.order, strategy, options.stock).await?;
    let metrics_client = front.client(1)?;
    let counted_before = metrics::orders_counted(&metrics_client, &front).await?;

    let outcome = load::buy(&front, item_id, options, buyers, progress).await?;

    if strategy.is_asynchronous() {
        books::drained(service.order.pool(), item_id, outcome.accepted()).await?;
    }
    let db = books::read(service.order.pool(), service.order.redis(), item_id).await?;
    let counted_after = metrics::orders_counted(&metrics_client, &front).await?;
    front.shutdown().await;
    service.shutdown().await;
    let through_gateway = counted_before
        .zip(counted_after)
        .map(|(before, after)| after.saturating_sub(before));
    Ok(StrategyResult::new(
        strategy,
        options,
        &outcome,
        db,
        through_gateway,
    ))
}

/// An item with `stock` units, named for the strategy.
async fn fresh_item(order: &Running, strategy: Strategy, stock: i32) -> anyhow::Result<i64> {
    let item = NewItem {
        name: format!("flash sale ({strategy})"),
        kind: ItemKind::General,
        price: 9_900,
        stock,
        start_at: None,
    };
    catalog::create_item(order.pool(), order.redis(), &item)
        .await
        .map_err(|error| anyhow::anyhow!("creating the item: {}", error.message))
}

//! Accept fast, persist later: the Lua decrement decides, `OrderPlaced` is
//! handed to RabbitMQ and the buyer gets `202 ACCEPTED` at once. The worker
//! persists the order (`PENDING_PAYMENT`) and decrements the database
//! stock, exactly once per order (inbox).
//!
//! **The hand-off survives a broker outage.** The publish waits for the
//! broker's confirm for at most [`PUBLISH_DEADLINE`]; when the broker is
//! known to be down, or does not confirm in time, the event goes into the
//! transactional outbox instead (one `INSERT` into PostgreSQL, under the
//! order id as message id), and the order service's relay publishes it once
//! the broker answers. The buyer's answer stays fast either way. A publish
//! that did reach the broker after its deadline gives the worker a second
//! copy with the same message id, which its inbox applies once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::ApiError;
use crate::orders::{self, OrderStatus, Purchase};
use crate::server::AppState;

/// The exchange orders are published to.
pub const ORDERS_EXCHANGE: &str = "orders";
/// The routing key of `OrderPlaced`.
pub const ORDER_PLACED_ROUTE: &str = "order.placed";
/// How long an order waits for the broker's confirm before it goes through
/// the outbox instead.
pub const PUBLISH_DEADLINE: Duration = Duration::from_millis(300);

/// An accepted order whose stock is reserved in Redis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPlaced {
    /// The order id (also the message id: the worker's dedupe key).
    pub order_id: Uuid,
    /// The item.
    pub item_id: i64,
    /// The buyer.
    pub user_id: String,
    /// Units reserved.
    pub count: i32,
    /// When the order service accepted it (the payment window starts here).
    pub accepted_at: DateTime<Utc>,
    /// The item's price then.
    pub unit_price: i64,
}

pub(super) async fn place(state: &AppState, purchase: &Purchase) -> Result<OrderStatus, ApiError> {
    super::lua::reserve(state, purchase).await?;
    let pending = orders::pending_key(purchase.order_id);
    let event = OrderPlaced {
        order_id: purchase.order_id,
        item_id: purchase.item_id,
        user_id: purchase.user_id.clone(),
        count: purchase.count,
        accepted_at: purchase.accepted_at,
        unit_price: purchase.unit_price,
    };
    let handed_off = async {
        state
            .redis
            .clone()
            .set_ex::<_, _, ()>(&pending, &purchase.user_id, 24 * 3600)
            .await
            .map_err(ApiError::from)?;
        hand_off(state, &event).await
    }
    .await;
    if let Err(error) = handed_off {
        super::lua::give_back(state, purchase).await;
        let _: Result<(), _> = state.redis.clone().del(&pending).await;
        return Err(error);
    }
    Ok(OrderStatus::Accepted)
}

/// Publishes `event`, or, when the broker is down or slow, enqueues it in
/// the outbox for the relay.
async fn hand_off(state: &AppState, event: &OrderPlaced) -> Result<(), ApiError> {
    let publisher = state
        .publisher
        .as_ref()
        .expect("the lua-mq strategy runs with a publisher");
    let id = event.order_id.to_string();
    let broker_up = state.broker.as_ref().is_some_and(|b| b.is_connected());
    if broker_up {
        let publish = publisher.publish_with_id(ORDERS_EXCHANGE, ORDER_PLACED_ROUTE, event, &id);
        match tokio::time::timeout(PUBLISH_DEADLINE, publish).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(error)) => {
                tracing::warn!(%error, order = %id, "publish failed; using the outbox")
            }
            Err(_) => tracing::warn!(order = %id, "no confirm in time; using the outbox"),
        }
    }
    let mut conn = state.pool.acquire().await?;
    state
        .payment()
        .outbox()
        .enqueue_with_id(
            &mut conn,
            event.order_id,
            ORDERS_EXCHANGE,
            ORDER_PLACED_ROUTE,
            event,
        )
        .await
        .map_err(|error| ApiError::unavailable("the order queue and its outbox", error))
}

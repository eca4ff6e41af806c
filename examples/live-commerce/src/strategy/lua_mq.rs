//! Accept fast, persist later: the Lua decrement decides, `OrderPlaced` is
//! published through mq-reliable (returns once RabbitMQ confirmed it) and the
//! buyer gets `202 PENDING` at once. The worker persists the order and
//! decrements the database stock, exactly once per order (inbox), and marks
//! it `CONFIRMED`.

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
}

pub(super) async fn place(state: &AppState, purchase: &Purchase) -> Result<OrderStatus, ApiError> {
    let publisher = state
        .publisher
        .as_ref()
        .expect("the lua-mq strategy runs with a publisher");
    super::lua::reserve(state, purchase).await?;
    let pending = orders::pending_key(purchase.order_id);
    let event = OrderPlaced {
        order_id: purchase.order_id,
        item_id: purchase.item_id,
        user_id: purchase.user_id.clone(),
        count: purchase.count,
    };
    let published = async {
        state
            .redis
            .clone()
            .set_ex::<_, _, ()>(&pending, &purchase.user_id, 24 * 3600)
            .await
            .map_err(ApiError::from)?;
        publisher
            .publish_with_id(
                ORDERS_EXCHANGE,
                ORDER_PLACED_ROUTE,
                &event,
                &purchase.order_id.to_string(),
            )
            .await
            .map_err(|error| ApiError::unavailable("the order queue", error))
    }
    .await;
    if let Err(error) = published {
        super::lua::give_back(state, purchase).await;
        let _: Result<(), _> = state.redis.clone().del(&pending).await;
        return Err(error);
    }
    Ok(OrderStatus::Pending)
}

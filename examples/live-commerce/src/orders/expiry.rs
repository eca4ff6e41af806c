//! An unpaid order expires through a delayed message, and its units go back
//! on sale exactly once.
//!
//! ```text
//!  order tx: INSERT order PENDING_PAYMENT ─┐
//!            outbox row OrderExpiry ───────┘ commit together
//!  relay ──► order.expiry.delay.<window>ms ──(TTL = window)──► order.expiry ──► worker: expire()
//! ```
//!
//! No scan looks for late orders: the message is the timer (mq-reliable's
//! [`DelayRoute`]). It is enqueued in the outbox inside the transaction that
//! records the order, so an order never exists without its timer, and the
//! relay publishes it after the commit, so the timer never starts before
//! the order exists. It is never early; it may be late (a queue lag), which
//! is why payment itself refuses once `expires_at` has passed.
//!
//! **Payment and expiry race** on the order row: both are conditional
//! updates of `status = 'PENDING_PAYMENT'`, and PostgreSQL lets one of them
//! change the row; the other then finds `CONFIRMED` or `EXPIRED` and does
//! nothing. Exactly one wins.
//!
//! **Exactly once.** The row's move to `EXPIRED` and the database stock's
//! increment are one transaction. The Redis counter (for the Lua
//! strategies, which sell from it) is given back after the commit by
//! `release_once.lua`, which first sets a per-order marker: a redelivered
//! message (a worker killed after the commit) finds the row `EXPIRED`,
//! runs the release again, and the marker makes it a no-op.
//!
//! The same transaction records the buyer's `order-expired` notification
//! ([`notifications`](crate::notifications)): once, whatever the
//! redeliveries, and announced only if the expiry commits.

use std::sync::LazyLock;
use std::time::Duration;

use mq_reliable::amqp::{Broker, Consumer, DelayRoute};
use mq_reliable::{Backoff, Message, Outcome};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::PaymentTerms;
use crate::strategy::Strategy;

/// The queue expiry messages reach when due.
pub const QUEUE: &str = "order.expiry";
/// Where expiries that keep failing end up.
pub const DEAD_LETTER_QUEUE: &str = "order.expiry.dlq";
/// How long a release marker outlives its order's expiry (redeliveries
/// come within minutes; a week is far beyond them).
const MARKER_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

static RELEASE_ONCE: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("release_once.lua")));

/// The message that ends an order's payment window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderExpiry {
    /// The order.
    pub order_id: Uuid,
}

/// Declares the expiry queue (with its retries and dead-letter queue) and
/// the delay queue in front of it; returns the route to publish to. Every
/// process that places orders or consumes expiries calls it at start.
pub async fn route(broker: &Broker, window: Duration) -> mq_reliable::Result<DelayRoute> {
    drop(consumer(broker).await?);
    broker.delay_route("", QUEUE, window).await
}

/// The expiry queue's consumer.
pub async fn consumer(broker: &Broker) -> mq_reliable::Result<Consumer> {
    broker
        .consumer(QUEUE)
        .prefetch(50)
        .concurrency(16)
        .retry(Backoff::exponential(Duration::from_millis(200), 2.0).max_attempts(5))
        .dead_letter_queue(DEAD_LETTER_QUEUE)
        .build()
        .await
}

/// Enqueues the expiry of `order_id` in the outbox, on the transaction that
/// records the order.
pub async fn schedule(
    conn: &mut PgConnection,
    terms: &PaymentTerms,
    order_id: Uuid,
) -> mq_reliable::Result<()> {
    let route = terms.expiry_route();
    terms
        .outbox()
        .enqueue(
            conn,
            route.exchange(),
            route.routing_key(),
            &OrderExpiry { order_id },
        )
        .await?;
    Ok(())
}

/// What an expiry found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// This call expired the order and gave its units back.
    Expired,
    /// Expired before (a redelivery): nothing more to do.
    AlreadyExpired,
    /// Paid first: it stays confirmed.
    Paid,
    /// Failed, or no such order: nothing to give back.
    Nothing,
}

/// Expires `order_id` if it is still waiting for payment, and gives its
/// units back: to the database in the same transaction, to the Redis
/// counter after it (once, whatever the redeliveries).
pub async fn expire(
    pool: &PgPool,
    redis: &redis::aio::ConnectionManager,
    order_id: Uuid,
) -> anyhow::Result<Expiry> {
    let mut tx = pool.begin().await?;
    let expired = sqlx::query(
        "UPDATE orders SET status = 'EXPIRED', expired_at = clock_timestamp() \
         WHERE id = $1 AND status = 'PENDING_PAYMENT' \
         RETURNING item_id, count, strategy, user_id",
    )
    .bind(order_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (outcome, row) = match expired {
        Some(row) => {
            sqlx::query("UPDATE items SET stock = stock + $2, version = version + 1 WHERE id = $1")
                .bind(row.get::<i64, _>("item_id"))
                .bind(row.get::<i32, _>("count"))
                .execute(&mut *tx)
                .await?;
            notify_expired(&mut tx, order_id, &row).await?;
            (Expiry::Expired, row)
        }
        None => {
            let row =
                sqlx::query("SELECT item_id, count, strategy, status FROM orders WHERE id = $1")
                    .bind(order_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(row) = row else {
                return Ok(Expiry::Nothing);
            };
            match row.get::<&str, _>("status") {
                "EXPIRED" => (Expiry::AlreadyExpired, row),
                "CONFIRMED" => return Ok(Expiry::Paid),
                _ => return Ok(Expiry::Nothing),
            }
        }
    };
    tx.commit().await?;
    if sells_from_redis(row.get("strategy")) {
        release_in_redis(redis, order_id, row.get("item_id"), row.get("count")).await?;
    }
    Ok(outcome)
}

/// Records the buyer's `order-expired` notification in the expiry's
/// transaction (announced only if it commits).
async fn notify_expired(
    tx: &mut PgConnection,
    order_id: Uuid,
    row: &sqlx::postgres::PgRow,
) -> Result<(), sqlx::Error> {
    let Ok(user) = Uuid::parse_str(row.get("user_id")) else {
        return Ok(());
    };
    let payload = serde_json::json!({
        "orderId": order_id,
        "itemId": row.get::<i64, _>("item_id"),
        "quantity": row.get::<i32, _>("count"),
    });
    let key = format!("order-expired:{order_id}");
    crate::notifications::record(
        tx,
        user,
        &key,
        crate::notifications::Kind::OrderExpired,
        &payload,
    )
    .await?;
    Ok(())
}

/// Whether orders of the strategy named `name` took their units from the
/// Redis counter (so expiry must give them back there too).
fn sells_from_redis(name: &str) -> bool {
    [Strategy::Lua, Strategy::LuaMq]
        .iter()
        .any(|strategy| strategy.name() == name)
}

async fn release_in_redis(
    redis: &redis::aio::ConnectionManager,
    order_id: Uuid,
    item_id: i64,
    count: i32,
) -> redis::RedisResult<()> {
    let left: i64 = RELEASE_ONCE
        .key(crate::stock::key(item_id))
        .key(format!("order:{order_id}:released"))
        .arg(count)
        .arg(MARKER_LIFETIME.as_secs())
        .invoke_async(&mut redis.clone())
        .await?;
    if left < 0 {
        tracing::warn!(order = %order_id, item = item_id,
            "the stock counter is not loaded; the expired units are in the database only");
    }
    Ok(())
}

/// Handles one expiry message (the worker's consumer calls it).
pub async fn handle(
    pool: &PgPool,
    redis: &redis::aio::ConnectionManager,
    message: Message<OrderExpiry>,
) -> Result<(), Outcome> {
    let order_id = message.payload().order_id;
    let outcome = expire(pool, redis, order_id)
        .await
        .map_err(|error| Outcome::retry(std::io::Error::other(format!("{error:#}"))))?;
    tracing::debug!(order = %order_id, ?outcome, "payment window ended");
    Ok(())
}

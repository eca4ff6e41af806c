//! The worker role: persists the orders the `lua-mq` strategy accepted
//! (and, beside it, ends unpaid orders' windows: [`orders::expiry`]).
//!
//! It consumes `OrderPlaced` from the `order.placed` queue (bound to the
//! `orders` exchange) with mq-reliable: manual ack after the database
//! commit, retry with backoff, then the `order.placed.dlq` dead-letter queue.
//! Each order is applied in one transaction with the inbox row of its
//! message id, so a redelivery (a worker killed before its ack) changes
//! nothing: every order is inserted and its stock decremented exactly once.

use std::time::Duration;

use mq_reliable::amqp::{Broker, Consumer};
use mq_reliable::inbox::PgInbox;
use mq_reliable::{Backoff, Message, Outcome};
use redis::AsyncCommands;
use sqlx::PgPool;

use crate::orders::{self, PaymentTerms, Purchase};
use crate::strategy::{ORDER_PLACED_ROUTE, ORDERS_EXCHANGE, OrderPlaced, Strategy};

/// The queue the worker consumes.
pub const QUEUE: &str = "order.placed";
/// Where orders that keep failing end up.
pub const DEAD_LETTER_QUEUE: &str = "order.placed.dlq";

/// Declares the order queue's topology (exchange, queue, retry queues,
/// dead-letter queue) and returns its consumer. The order service calls it
/// too, so orders are kept while no worker runs.
pub async fn order_consumer(broker: &Broker) -> mq_reliable::Result<Consumer> {
    broker
        .consumer(QUEUE)
        .bind(ORDERS_EXCHANGE, ORDER_PLACED_ROUTE)
        .prefetch(50)
        .concurrency(32)
        .retry(Backoff::exponential(Duration::from_millis(200), 2.0).max_attempts(5))
        .dead_letter_queue(DEAD_LETTER_QUEUE)
        .build()
        .await
}

/// What the worker needs.
#[derive(Clone)]
pub struct Worker {
    /// The database.
    pub pool: PgPool,
    /// Redis, to clear the pending markers.
    pub redis: redis::aio::ConnectionManager,
    /// The inbox table.
    pub inbox: PgInbox,
    /// A pause per order, to make the drain observable in demos and tests
    /// (zero in production).
    pub delay: Duration,
    /// The payment window and expiry route of the orders it records.
    pub terms: PaymentTerms,
}

impl Worker {
    /// Applies one order: insert it `PENDING_PAYMENT` (its window counted
    /// from its acceptance, its expiry enqueued in the same transaction) and
    /// take its stock from the database, or insert it `FAILED` when the
    /// database stock cannot cover it (the Redis gate and the database
    /// disagree: reported, not hidden).
    pub async fn apply(&self, message: Message<OrderPlaced>) -> Result<(), Outcome> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let placed = message.payload();
        let mut tx = self.pool.begin().await.map_err(Outcome::retry)?;
        if !self
            .inbox
            .record(&mut tx, &message)
            .await
            .map_err(Outcome::retry)?
        {
            return Ok(()); // applied before this delivery: just acknowledge
        }
        let purchase = Purchase {
            order_id: placed.order_id,
            item_id: placed.item_id,
            user_id: placed.user_id.clone(),
            count: placed.count,
            accepted_at: placed.accepted_at,
            unit_price: placed.unit_price,
        };
        let taken =
            sqlx::query("UPDATE items SET stock = stock - $2 WHERE id = $1 AND stock >= $2")
                .bind(placed.item_id)
                .bind(placed.count)
                .execute(&mut *tx)
                .await
                .map_err(Outcome::retry)?;
        if taken.rows_affected() == 1 {
            orders::insert_order(&mut tx, &purchase, Strategy::LuaMq, &self.terms)
                .await
                .map_err(Outcome::retry)?;
        } else {
            tracing::error!(order = %placed.order_id, item = placed.item_id,
                "database stock cannot cover an accepted order; marking it FAILED");
            orders::insert_failed_order(&mut tx, &purchase, Strategy::LuaMq)
                .await
                .map_err(Outcome::retry)?;
        }
        tx.commit().await.map_err(Outcome::retry)?;
        let _: Result<(), _> = self
            .redis
            .clone()
            .del(orders::pending_key(placed.order_id))
            .await;
        Ok(())
    }
}

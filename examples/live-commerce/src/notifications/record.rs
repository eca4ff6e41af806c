//! Recording a notification: once per event, announced only on commit.
//!
//! A producer (payment, expiry, the catalog's price edit, the mention
//! scanner) calls [`record`] inside **its own transaction**, the one that
//! makes the event true. Two rules make that safe:
//!
//! - **Once per event.** Each event has a key that names it
//!   (`order-confirmed:<order id>`); the row is inserted with
//!   `ON CONFLICT (user_id, event_key) DO NOTHING`, so a retried transaction
//!   or a redelivered message records nothing the second time.
//! - **Announced only if it happened.** In the same transaction,
//!   `pg_notify('notifications', <id>)` names each new row. PostgreSQL
//!   delivers a `NOTIFY` when the transaction commits and drops it when it
//!   rolls back, so a chat instance never pushes an event that did not
//!   happen, and never before its row is visible.
//!
//! ```text
//!  BEGIN
//!    UPDATE orders SET status = 'CONFIRMED' …            (the event)
//!    INSERT INTO notifications … ON CONFLICT DO NOTHING   (new row: id 7f3c…)
//!    SELECT pg_notify('notifications', '7f3c…')           (queued)
//!  COMMIT  ──► every listening chat instance hears '7f3c…' (see `deliver`)
//! ```
//!
//! A row is written only for an existing account (`orders.user_id` is
//! text and may name a load-test buyer without one): the insert selects
//! from `accounts`.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// The `LISTEN`/`NOTIFY` channel new notifications are announced on.
pub const CHANNEL: &str = "notifications";

/// What a notification is about (the `kind` column and the live frame's
/// `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An order was paid.
    OrderConfirmed,
    /// An order's payment window ended unpaid.
    OrderExpired,
    /// An item the user ordered costs less now.
    PriceDrop,
    /// Someone wrote `@<the user's email>` in a chat room.
    Mention,
}

impl Kind {
    /// The stored name: `order-confirmed`, `order-expired`, `price-drop`,
    /// `mention`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::OrderConfirmed => "order-confirmed",
            Kind::OrderExpired => "order-expired",
            Kind::PriceDrop => "price-drop",
            Kind::Mention => "mention",
        }
    }
}

/// Records event `event_key` of `kind` for `user_id` on `conn` (a
/// transaction of the caller's), and announces it on [`CHANNEL`] at commit.
/// Returns whether a row was new (`false`: recorded before, or no such
/// account).
pub async fn record(
    conn: &mut PgConnection,
    user_id: Uuid,
    event_key: &str,
    kind: Kind,
    payload: &Value,
) -> Result<bool, sqlx::Error> {
    let announced: Vec<(String,)> = sqlx::query_as(
        "WITH inserted AS ( \
             INSERT INTO notifications (id, user_id, event_key, kind, payload) \
             SELECT $1, a.id, $3, $4, $5 FROM accounts a WHERE a.id = $2 \
             ON CONFLICT (user_id, event_key) DO NOTHING \
             RETURNING id) \
         SELECT pg_notify('notifications', id::text)::text FROM inserted",
    )
    .bind(Uuid::new_v4())
    .bind(user_id)
    .bind(event_key)
    .bind(kind.as_str())
    .bind(payload)
    .fetch_all(&mut *conn)
    .await?;
    Ok(!announced.is_empty())
}

/// Records event `event_key` of `kind` once for every account that ordered
/// item `item_id` (any order that did not fail), on `conn`; returns how
/// many rows were new. The price drop's producer.
pub async fn record_for_buyers_of(
    conn: &mut PgConnection,
    item_id: i64,
    event_key: &str,
    kind: Kind,
    payload: &Value,
) -> Result<u64, sqlx::Error> {
    let announced: Vec<(String,)> = sqlx::query_as(
        "WITH buyers AS ( \
             SELECT DISTINCT user_id FROM orders WHERE item_id = $1 AND status <> 'FAILED'), \
         inserted AS ( \
             INSERT INTO notifications (id, user_id, event_key, kind, payload) \
             SELECT gen_random_uuid(), a.id, $2, $3, $4 \
             FROM accounts a JOIN buyers b ON a.id::text = b.user_id \
             ON CONFLICT (user_id, event_key) DO NOTHING \
             RETURNING id) \
         SELECT pg_notify('notifications', id::text)::text FROM inserted",
    )
    .bind(item_id)
    .bind(event_key)
    .bind(kind.as_str())
    .bind(payload)
    .fetch_all(&mut *conn)
    .await?;
    Ok(announced.len() as u64)
}

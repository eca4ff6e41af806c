//! Live delivery: each chat instance listens for new notifications and
//! exactly one of them pushes each to its user's feed room.
//!
//! Every chat instance runs [`run`]: a `LISTEN notifications` connection
//! (sqlx's [`PgListener`]) hears the id of each row committed by
//! [`record`](super::record()). Every instance hears every id, so each
//! **claims** the row before sending it:
//!
//! ```sql
//! UPDATE notifications SET delivered_at = clock_timestamp()
//! WHERE id = $1 AND delivered_at IS NULL
//! RETURNING user_id, kind, payload, created_at
//! ```
//!
//! PostgreSQL lets one of these updates change the row; only the instance
//! whose update returned it publishes `{id, kind, payload, createdAt}` to
//! the room `user.<user id>` through the hub, which carries it to the
//! user's sockets on every instance (and keeps it in the room's history,
//! so a socket reconnecting with its offset gets what it missed). Two
//! instances, one push.
//!
//! **Nothing heard is lost.** A `NOTIFY` is not stored: one sent while an
//! instance's listener is away (starting, reconnecting) never reaches it.
//! So at start, after every reconnect of the listener, and every
//! [`SWEEP_EVERY`], the instance also *sweeps*: it claims, oldest first,
//! up to [`SWEEP_LIMIT`] rows still `delivered_at IS NULL`. If publishing
//! fails (Redis away), the claim is undone (`delivered_at` back to `NULL`)
//! and the next sweep tries again.
//!
//! **The window that remains.** An instance that claims a row and then
//! dies before its publish reaches Redis leaves the row marked delivered
//! but never pushed. The notification is not lost: it is stored, unread,
//! and listed by `GET /api/notifications` (the bell's count includes it);
//! it is only never pushed live. Closing that window needs a second mark
//! (claimed vs. published) and a re-push of stale claims, at the cost of a
//! possible duplicate push; we keep the single mark.

use std::time::Duration;

use chat_fanout::Hub;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use uuid::Uuid;

use super::record::CHANNEL;
use crate::chat::rooms::Room;

/// The most undelivered rows one sweep claims (the oldest first).
pub const SWEEP_LIMIT: i64 = 500;
/// How often an instance sweeps even when its listener never dropped.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// The pause before listening again after the listener failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Listens and delivers until the task is aborted (the chat role spawns it
/// and aborts it at shutdown).
pub async fn run(pool: PgPool, hub: Hub) {
    loop {
        if let Err(error) = listen(&pool, &hub).await {
            tracing::warn!(%error, "the notification listener failed; listening again");
        }
        tokio::time::sleep(RETRY_AFTER).await;
    }
}

/// One listener's life: subscribe, sweep, then deliver what it hears,
/// sweeping after each reconnect and every [`SWEEP_EVERY`].
async fn listen(pool: &PgPool, hub: &Hub) -> anyhow::Result<()> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    // After LISTEN: a row committed from here on is heard or swept.
    sweep(pool, hub).await?;
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.reset();
    loop {
        tokio::select! {
            heard = listener.try_recv() => match heard? {
                Some(notification) => match Uuid::parse_str(notification.payload()) {
                    Ok(id) => {
                        deliver(pool, hub, id).await?;
                    }
                    Err(_) => tracing::warn!(payload = notification.payload(),
                        "ignoring a notification id that is not a uuid"),
                },
                // The connection dropped and was made again: what was
                // announced meanwhile is in the table only.
                None => sweep(pool, hub).await?,
            },
            _ = every.tick() => sweep(pool, hub).await?,
        }
    }
}

/// Claims and delivers up to [`SWEEP_LIMIT`] undelivered rows, oldest first.
pub async fn sweep(pool: &PgPool, hub: &Hub) -> Result<(), sqlx::Error> {
    let ids: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT id FROM notifications WHERE delivered_at IS NULL \
         ORDER BY created_at LIMIT $1",
    )
    .bind(SWEEP_LIMIT)
    .fetch_all(pool)
    .await?;
    for (id,) in ids {
        deliver(pool, hub, id).await?;
    }
    Ok(())
}

/// Claims row `id` and, if this call claimed it, publishes it to its
/// user's feed; a failed publish gives the claim back.
pub async fn deliver(pool: &PgPool, hub: &Hub, id: Uuid) -> Result<bool, sqlx::Error> {
    let claimed: Option<(Uuid, String, Value, DateTime<Utc>)> = sqlx::query_as(
        "UPDATE notifications SET delivered_at = clock_timestamp() \
         WHERE id = $1 AND delivered_at IS NULL \
         RETURNING user_id, kind, payload, created_at",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some((user_id, kind, payload, created_at)) = claimed else {
        return Ok(false);
    };
    let frame = json!({"id": id, "kind": kind, "payload": payload, "createdAt": created_at});
    if let Err(error) = hub.publish(&Room::feed_of(user_id), &frame).await {
        tracing::warn!(%error, notification = %id, "pushing a notification failed; a later sweep retries");
        sqlx::query("UPDATE notifications SET delivered_at = NULL WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await?;
        return Ok(false);
    }
    Ok(true)
}

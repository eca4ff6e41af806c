//! The notification API (chat role), for the logged-in caller only:
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/notifications?unread=true&limit=20&before=<cursor>` | `{items, next, unread}`: newest first |
//! | `POST /api/notifications/{id}/read` | the notification, read (`404` if not the caller's) |
//! | `POST /api/notifications/read-all` | `{marked}`: how many were unread |
//!
//! **Paging** is by keyset, not offset: the list is ordered by
//! `(created_at, id)` descending and `next` is an opaque cursor naming the
//! last item's pair; `before=<next>` continues strictly after it, so a
//! notification arriving meanwhile neither shifts nor repeats a page.
//! `limit` is 1 to 100 (default 20); `unread` is `true` or `false`.
//! Anything else is a `400` with a code (`INVALID_LIMIT`, `INVALID_CURSOR`,
//! `INVALID_UNREAD`, `INVALID_NOTIFICATION_ID`). Marking read is
//! idempotent: the first `read_at` stays.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use crate::api::{self, ApiError};
use crate::auth::session::CurrentUser;

/// The most items one page holds.
pub const MAX_LIMIT: i64 = 100;
/// Items per page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: i64 = 20;

/// One notification, as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Its id.
    pub id: Uuid,
    /// `order-confirmed`, `order-expired`, `price-drop` or `mention`.
    pub kind: String,
    /// What the kind says happened (ids, names, an excerpt).
    pub payload: Value,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When the user marked it read, if they did.
    pub read_at: Option<DateTime<Utc>>,
}

/// A page of `GET /api/notifications`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    /// Newest first.
    pub items: Vec<Notification>,
    /// The cursor of the next page (`before=`), or `null` at the end.
    pub next: Option<String>,
    /// How many of the caller's notifications are unread (all pages).
    pub unread: i64,
}

/// The query of `GET /api/notifications`, as sent (checked in [`list`]).
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    unread: Option<String>,
    limit: Option<String>,
    before: Option<String>,
}

/// A position in the list: the `(created_at, id)` of the last item seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The item's `created_at`, in microseconds since the epoch.
    pub micros: i64,
    /// The item's id.
    pub id: Uuid,
}

impl Cursor {
    /// The cursor after `item`.
    pub fn after(item: &Notification) -> Self {
        Self {
            micros: item.created_at.timestamp_micros(),
            id: item.id,
        }
    }

    /// `<micros>.<id>`, e.g. `1765000000123456.0b7c…`.
    pub fn encode(self) -> String {
        format!("{}.{}", self.micros, self.id.simple())
    }

    /// Reads [`encode`](Self::encode)'s form; `None` for anything else.
    pub fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('.')?;
        Some(Self {
            micros: micros.parse().ok()?,
            id: Uuid::try_parse(id).ok()?,
        })
    }

    fn at(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.micros)
    }
}

/// The state the routes reach.
#[derive(Clone)]
pub struct NotificationsState {
    /// The database holding the notifications.
    pub pool: PgPool,
}

/// Checks `GET /api/notifications`' query: (unread only, limit, cursor).
fn checked(query: ListQuery) -> Result<(bool, i64, Option<Cursor>), ApiError> {
    let unread = match query.unread.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "INVALID_UNREAD",
                "unread is true or false",
            ));
        }
    };
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| {
                ApiError::bad_request("INVALID_LIMIT", format!("limit is 1 to {MAX_LIMIT}"))
            })?,
    };
    let before = match query.before {
        None => None,
        Some(text) => Some(
            Cursor::decode(&text)
                .filter(|cursor| cursor.at().is_some())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "INVALID_CURSOR",
                        "before takes the `next` of a previous page",
                    )
                })?,
        ),
    };
    Ok((unread, limit, before))
}

/// `GET /api/notifications`: the caller's notifications, newest first.
pub async fn list(
    State(state): State<NotificationsState>,
    user: CurrentUser,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<api::Ok<Page>, ApiError> {
    let Query(query) =
        query.map_err(|error| ApiError::bad_request("INVALID_QUERY", error.body_text()))?;
    let (unread_only, limit, before) = checked(query)?;
    let mut items: Vec<Notification> = sqlx::query_as(
        "SELECT id, kind, payload, created_at, read_at FROM notifications \
         WHERE user_id = $1 AND (NOT $2 OR read_at IS NULL) \
         AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4)) \
         ORDER BY created_at DESC, id DESC LIMIT $5",
    )
    .bind(user.user_id)
    .bind(unread_only)
    .bind(before.and_then(Cursor::at))
    .bind(before.map(|cursor| cursor.id))
    .bind(limit + 1)
    .fetch_all(&state.pool)
    .await?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next = more
        .then(|| items.last().map(|item| Cursor::after(item).encode()))
        .flatten();
    let unread: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
    )
    .bind(user.user_id)
    .fetch_one(&state.pool)
    .await?;
    Ok(api::ok(Page {
        items,
        next,
        unread,
    }))
}

/// `POST /api/notifications/{id}/read`: marks one of the caller's read.
pub async fn read_one(
    State(state): State<NotificationsState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<api::Ok<Notification>, ApiError> {
    let not_found = || ApiError::not_found("NOTIFICATION_NOT_FOUND", "no such notification");
    let id = Uuid::try_parse(&id).map_err(|_| {
        ApiError::bad_request("INVALID_NOTIFICATION_ID", "a notification id is a uuid")
    })?;
    let read: Option<Notification> = sqlx::query_as(
        "UPDATE notifications SET read_at = coalesce(read_at, clock_timestamp()) \
         WHERE id = $1 AND user_id = $2 \
         RETURNING id, kind, payload, created_at, read_at",
    )
    .bind(id)
    .bind(user.user_id)
    .fetch_optional(&state.pool)
    .await?;
    read.map(api::ok).ok_or_else(not_found)
}

/// What `POST /api/notifications/read-all` did.
#[derive(Debug, Serialize)]
pub struct Marked {
    /// How many were unread until now.
    pub marked: u64,
}

/// `POST /api/notifications/read-all`: marks all of the caller's read.
pub async fn read_all(
    State(state): State<NotificationsState>,
    user: CurrentUser,
) -> Result<api::Ok<Marked>, ApiError> {
    let done = sqlx::query(
        "UPDATE notifications SET read_at = clock_timestamp() \
         WHERE user_id = $1 AND read_at IS NULL",
    )
    .bind(user.user_id)
    .execute(&state.pool)
    .await?;
    Ok(api::ok(Marked {
        marked: done.rows_affected(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_what_it_wrote_and_nothing_else() {
        let cursor = Cursor {
            micros: 1_765_000_000_123_456,
            id: Uuid::new_v4(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for bad in ["", "x", "12", "12.", ".abc", "12.not-a-uuid", "a.b"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}

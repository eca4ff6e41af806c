//! Counting item views: durably in the database, and in the ranking only
//! once that count has committed (see [`after_commit`](crate::after_commit)).
//!
//! `POST /api/items/{id}/views` is what an item page sends when it is
//! opened (a beacon, as analytics do). Not `GET /api/items/{id}`: a read
//! must stay safe and cacheable (prefetchers, crawlers and retries would
//! count as views, and a cache hit would skip the count). A view needs a
//! session, and one user counts once per item per minute, so a script
//! cannot pump the ranking without as many accounts (a rolling minute:
//! the first view opens it, the next one counts 60 s later).

use axum::extract::{Path, State};
use redis::AsyncCommands;
use serde::Serialize;

use super::{Ranking, VIEWS};
use crate::after_commit::Transaction;
use crate::api::{self, ApiError};
use crate::auth::session::CurrentUser;
use crate::server::AppState;

/// Counts a view of `item_id` on `tx`: the item's total now, its ranking
/// entry after the commit. `Ok(None)` when there is no such item.
pub async fn record_view(
    tx: &mut Transaction,
    ranking: &Ranking,
    item_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let total: Option<i64> = sqlx::query_scalar(
        "UPDATE items SET view_count = view_count + 1 WHERE id = $1 RETURNING view_count",
    )
    .bind(item_id)
    .fetch_optional(&mut **tx)
    .await?;
    if total.is_some() {
        let ranking = ranking.clone();
        tx.after_commit(async move {
            if let Err(error) = ranking.record(&item_id.to_string()).await {
                tracing::warn!(%error, item = item_id, "a committed view did not reach the ranking");
            }
        });
    }
    Ok(total)
}

/// The answer to a view.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Viewed {
    /// Whether this view counted (a second one within the minute does not).
    pub counted: bool,
    /// The item's views so far, when this one counted.
    pub views: Option<i64>,
}

/// `POST /api/items/{id}/views`
pub async fn view_item(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<api::Ok<Viewed>, ApiError> {
    // One counted view per user and item in any 60 s.
    let once = format!("view:{}:{id}", user.user_id);
    let first: bool = redis::cmd("SET")
        .arg(&once)
        .arg(1)
        .arg("NX")
        .arg("EX")
        .arg(60)
        .query_async::<Option<String>>(&mut state.redis.clone())
        .await?
        .is_some();
    if !first {
        return Ok(api::ok(Viewed {
            counted: false,
            views: None,
        }));
    }
    let ranking = Ranking::new(VIEWS, state.redis.clone());
    let mut tx = Transaction::begin(&state.pool).await?;
    let Some(total) = record_view(&mut tx, &ranking, id).await? else {
        tx.rollback().await?;
        let _: Result<(), _> = state.redis.clone().del(&once).await;
        return Err(ApiError::not_found(
            "ITEM_NOT_FOUND",
            format!("no item {id}"),
        ));
    };
    tx.commit().await?;
    Ok(api::ok(Viewed {
        counted: true,
        views: Some(total),
    }))
}

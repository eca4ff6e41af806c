//! `GET /api/ranking/items` and `GET /api/ranking/keywords`.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

use super::window::Window;
use super::{KEYWORDS, Ranking, VIEWS};
use crate::api::{self, ApiError};
use crate::catalog::Item;
use crate::server::AppState;

/// The most entries one answer holds.
pub const MAX_LIMIT: usize = 50;

/// The query of both rankings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankingQuery {
    /// `1h` (default) or `1d`.
    pub window: Option<String>,
    /// Entries (1..=50, default 10).
    pub limit: Option<usize>,
}

fn checked(
    query: Result<Query<RankingQuery>, QueryRejection>,
) -> Result<(Window, usize), ApiError> {
    let Query(query) =
        query.map_err(|rejection| ApiError::bad_request("INVALID_QUERY", rejection.body_text()))?;
    let window = Window::parse(query.window.as_deref().unwrap_or("1h"))
        .ok_or_else(|| ApiError::bad_request("INVALID_QUERY", "window must be 1h or 1d"))?;
    let limit = query.limit.unwrap_or(10);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "INVALID_QUERY",
            format!("limit must be 1..={MAX_LIMIT}"),
        ));
    }
    Ok((window, limit))
}

/// An entry of the item ranking.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RankedItem {
    /// The item id.
    pub item_id: i64,
    /// Views in the window.
    pub views: u64,
    /// The item (`None` if it is gone).
    pub item: Option<Item>,
}

/// An entry of the keyword ranking.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RankedKeyword {
    /// The normalized keyword.
    pub keyword: String,
    /// Searches in the window.
    pub searches: u64,
}

/// `GET /api/ranking/items?window=1h&limit=10`
pub async fn items(
    State(state): State<AppState>,
    query: Result<Query<RankingQuery>, QueryRejection>,
) -> Result<api::Ok<Vec<RankedItem>>, ApiError> {
    let (window, limit) = checked(query)?;
    let top = Ranking::new(VIEWS, state.redis.clone())
        .top(window, limit)
        .await?;
    let mut ranked = Vec::with_capacity(top.len());
    for (member, score) in top {
        let Ok(item_id) = member.parse::<i64>() else {
            continue;
        };
        ranked.push(RankedItem {
            item_id,
            views: score as u64,
            item: crate::catalog::item(&state, item_id).await?,
        });
    }
    Ok(api::ok(ranked))
}

/// `GET /api/ranking/keywords?window=1h&limit=10`
pub async fn keywords(
    State(state): State<AppState>,
    query: Result<Query<RankingQuery>, QueryRejection>,
) -> Result<api::Ok<Vec<RankedKeyword>>, ApiError> {
    let (window, limit) = checked(query)?;
    let top = Ranking::new(KEYWORDS, state.redis.clone())
        .top(window, limit)
        .await?;
    Ok(api::ok(
        top.into_iter()
            .map(|(keyword, score)| RankedKeyword {
                keyword,
                searches: score as u64,
            })
            .collect(),
    ))
}

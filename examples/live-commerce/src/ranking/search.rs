//! `GET /api/search?q=lamp&limit=20`: items whose name contains the
//! keyword, newest first; the keyword is counted in the keyword ranking
//! (the seeds used an Elasticsearch terms aggregation for this).
//!
//! A keyword is normalized before it is searched or counted: trimmed,
//! lower-cased, inner whitespace collapsed, so `Lamp`, ` lamp ` and `LAMP`
//! are one keyword. 1 to 64 characters; `%` and `_` match themselves.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::{KEYWORDS, Ranking};
use crate::api::{self, ApiError};
use crate::catalog::Item;
use crate::server::AppState;

/// The longest keyword.
pub const MAX_KEYWORD_LENGTH: usize = 64;

/// The query of `GET /api/search`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// The keyword.
    pub q: String,
    /// Items per answer (1..=50, default 20).
    pub limit: Option<i64>,
}

/// The keyword as it is searched and counted, or `None` when it is empty
/// or too long.
pub fn normalize(raw: &str) -> Option<String> {
    let keyword = raw
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    (1..=MAX_KEYWORD_LENGTH)
        .contains(&keyword.chars().count())
        .then_some(keyword)
}

/// The `LIKE` pattern matching names that contain `keyword` literally.
fn contains_pattern(keyword: &str) -> String {
    let escaped = keyword
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// `GET /api/search`
pub async fn search(
    State(state): State<AppState>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<api::Ok<Vec<Item>>, ApiError> {
    let Query(query) =
        query.map_err(|rejection| ApiError::bad_request("INVALID_QUERY", rejection.body_text()))?;
    let keyword = normalize(&query.q).ok_or_else(|| {
        ApiError::bad_request(
            "INVALID_QUERY",
            format!("q must be 1 to {MAX_KEYWORD_LENGTH} characters"),
        )
    })?;
    let limit = query.limit.unwrap_or(20);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::bad_request(
            "INVALID_QUERY",
            "limit must be 1..=50",
        ));
    }
    let rows = sqlx::query(
        "SELECT id, name, kind, price, start_at FROM items \
         WHERE lower(name) LIKE $1 ESCAPE '\\' ORDER BY id DESC LIMIT $2",
    )
    .bind(contains_pattern(&keyword))
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    if let Err(error) = Ranking::new(KEYWORDS, state.redis.clone())
        .record(&keyword)
        .await
    {
        tracing::warn!(%error, "a search keyword was not counted");
    }
    Ok(api::ok(
        rows.iter().map(crate::catalog::item_from_row).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_that_read_alike_are_one_keyword() {
        assert_eq!(normalize("  Desk   LAMP "), Some("desk lamp".to_string()));
        assert_eq!(normalize("lamp"), normalize("LAMP"));
        assert_eq!(normalize("   "), None);
        assert_eq!(normalize(&"x".repeat(65)), None);
        assert_eq!(
            normalize(&"é".repeat(64)).map(|k| k.chars().count()),
            Some(64)
        );
    }

    #[test]
    fn wildcards_match_themselves() {
        assert_eq!(contains_pattern("50%_off"), "%50\\%\\_off%");
        assert_eq!(contains_pattern("a\\b"), "%a\\\\b%");
    }
}

//! `GET /api/stats/daily?day=YYYY-MM-DD` (admins): the figures the
//! daily-statistics job computed for a day, from the cache it fills.
//!
//! Served by the catalog role (and `all`). Without `day`, today (UTC). A day
//! the job has not computed answers with no items and `computedAt: null`.

use axum::extract::{Query, State};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;

use crate::api::{self, ApiError};
use crate::auth::session::Admin;
use crate::server::AppState;

use super::daily_stats::{self, DailySales};

/// The query string.
#[derive(Debug, Deserialize)]
pub struct DailyQuery {
    /// `YYYY-MM-DD`.
    pub day: Option<String>,
}

/// `GET /api/stats/daily?day=YYYY-MM-DD`
pub async fn daily(
    State(state): State<AppState>,
    _admin: Admin,
    Query(query): Query<DailyQuery>,
) -> Result<api::Ok<DailySales>, ApiError> {
    let day = match query.day.as_deref() {
        None => Utc::now().date_naive(),
        Some(day) => parse_day(day)?,
    };
    let Some(cache) = &state.stats else {
        return Err(ApiError::not_found(
            "NO_STATS",
            "this service does not serve statistics",
        ));
    };
    daily_stats::daily(&state.pool, cache, day)
        .await
        .map(api::ok)
        .map_err(|error| ApiError::unavailable("the statistics", format!("{error:#}")))
}

fn parse_day(day: &str) -> Result<NaiveDate, ApiError> {
    // Bounded before parsing: a date is ten characters.
    (day.len() == 10)
        .then(|| NaiveDate::parse_from_str(day, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| ApiError::bad_request("INVALID_DAY", "day must be a date as YYYY-MM-DD"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_iso_dates_and_nothing_else() {
        assert_eq!(parse_day("2026-12-07").unwrap().to_string(), "2026-12-07");
        for bad in [
            "2026-13-01",
            "07-12-2026",
            "2026-12-7",
            "",
            "2026-12-07T00:00:00Z",
        ] {
            assert_eq!(parse_day(bad).unwrap_err().code, "INVALID_DAY", "{bad:?}");
        }
    }
}

//! The daily-statistics job: sales per item per day, into
//! `daily_item_sales`, then into the cache readers use.
//!
//! A sale is a `CONFIRMED` order, on the UTC day it was paid (the day it
//! was placed, for orders confirmed without a payment step). Per item and
//! day: the orders, the units, and the revenue (units times the unit price
//! recorded with each order). Each run **recomputes** the day before its
//! tick and the tick's own day, replacing their rows, so a run is
//! idempotent and the 00:05 run settles yesterday (payments up to
//! midnight) while starting today.
//!
//! The figures are written in the transaction that marks the tick done
//! (see [`once`](super::once)), and `put` into the cache only after that
//! commit: a reader never sees figures of a run that rolled back.

use std::time::Duration;

use cache_aside::Cache;
use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgExecutor, PgPool, Row};

use super::once::Job;

/// The job's name (its lock and its `job_runs` rows).
pub const JOB: &str = "daily-stats";

/// The cache namespace of the figures (`daily-sales:2026-12-07`).
pub const CACHE_NAMESPACE: &str = "daily-sales";

/// How long cached figures stay fresh (each run replaces them anyway).
pub const CACHE_TTL: Duration = Duration::from_secs(3600);

/// One item's sales on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemSales {
    /// The item.
    pub item_id: i64,
    /// Confirmed orders.
    pub orders: i64,
    /// Units in them.
    pub units: i64,
    /// Units times their recorded unit price.
    pub revenue: i64,
}

/// Every item's sales on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DailySales {
    /// The day (UTC).
    pub day: NaiveDate,
    /// Items with sales that day, by id.
    pub items: Vec<ItemSales>,
    /// When the figures were computed (`None`: never computed).
    pub computed_at: Option<DateTime<Utc>>,
}

/// The cache of [`DailySales`] by day.
pub type SalesCache = Cache<NaiveDate, DailySales>;

/// The cache every instance shares: Redis for an hour, a local copy for 5 s
/// (a `put` evicts every instance's local copy).
pub async fn cache(redis: redis::Client) -> cache_aside::Result<SalesCache> {
    Cache::<NaiveDate, DailySales>::builder(redis, CACHE_NAMESPACE)
        .ttl(CACHE_TTL)
        .local(1_000, Duration::from_secs(5))
        .build()
        .await
}

/// The job: its cache, and an artificial pause at the start of each run
/// (demos and tests: a run long enough to kill its runner mid-job).
pub struct DailyStats {
    /// Where fresh figures are put.
    pub cache: SalesCache,
    /// The artificial pause.
    pub pause: Duration,
}

/// The days a run at `tick` recomputes: the day before, and the tick's day.
pub fn days_of(tick: DateTime<Utc>) -> [NaiveDate; 2] {
    let today = tick.date_naive();
    [today - Days::new(1), today]
}

impl Job for DailyStats {
    type Output = Vec<DailySales>;

    fn name(&self) -> &'static str {
        JOB
    }

    async fn run(
        &self,
        tick: DateTime<Utc>,
        tx: &mut PgConnection,
    ) -> anyhow::Result<Vec<DailySales>> {
        tokio::time::sleep(self.pause).await;
        let mut days = Vec::new();
        for day in days_of(tick) {
            recompute(&mut *tx, day).await?;
            days.push(read(&mut *tx, day).await?);
        }
        Ok(days)
    }

    async fn publish(&self, days: Vec<DailySales>) -> anyhow::Result<()> {
        for sales in &days {
            self.cache.put(&sales.day, sales).await?;
        }
        Ok(())
    }
}

/// Replaces the figures of `day` with the confirmed orders paid that day.
async fn recompute(tx: &mut PgConnection, day: NaiveDate) -> Result<(), sqlx::Error> {
    let start = day.and_time(NaiveTime::MIN).and_utc();
    let end = start + chrono::Duration::days(1);
    // now() is the transaction's start: one stamp for every row of this run,
    // so the rows it did not refresh (no sales any more) are told apart.
    sqlx::query(
        "INSERT INTO daily_item_sales (day, item_id, orders, units, revenue, computed_at) \
         SELECT $1, item_id, count(*), sum(count), sum(count * coalesce(unit_price, 0))::bigint, now() \
           FROM orders \
          WHERE status = 'CONFIRMED' \
            AND coalesce(paid_at, created_at) >= $2 AND coalesce(paid_at, created_at) < $3 \
          GROUP BY item_id ORDER BY item_id \
         ON CONFLICT (day, item_id) DO UPDATE \
            SET orders = excluded.orders, units = excluded.units, \
                revenue = excluded.revenue, computed_at = excluded.computed_at",
    )
    .bind(day)
    .bind(start)
    .bind(end)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM daily_item_sales WHERE day = $1 AND computed_at <> now()")
        .bind(day)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The stored figures of `day`.
pub async fn read<'e>(db: impl PgExecutor<'e>, day: NaiveDate) -> Result<DailySales, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT item_id, orders, units, revenue, computed_at FROM daily_item_sales \
          WHERE day = $1 ORDER BY item_id",
    )
    .bind(day)
    .fetch_all(db)
    .await?;
    Ok(DailySales {
        day,
        computed_at: rows.iter().map(|row| row.get("computed_at")).max(),
        items: rows
            .iter()
            .map(|row| ItemSales {
                item_id: row.get("item_id"),
                orders: row.get("orders"),
                units: row.get("units"),
                revenue: row.get("revenue"),
            })
            .collect(),
    })
}

/// The figures of `day` for a reader: from the cache, else from the table
/// (and cached).
pub async fn daily(
    pool: &PgPool,
    cache: &SalesCache,
    day: NaiveDate,
) -> anyhow::Result<DailySales> {
    let pool = pool.clone();
    let sales = cache
        .get_or_load(
            &day,
            move || async move { read(&pool, day).await.map(Some) },
        )
        .await?;
    Ok(sales.unwrap_or(DailySales {
        day,
        items: Vec::new(),
        computed_at: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_recomputes_the_day_before_and_its_own_day() {
        let tick: DateTime<Utc> = "2026-12-07T00:05:00Z".parse().unwrap();
        let days = days_of(tick).map(|day| day.to_string());
        assert_eq!(days, ["2026-12-06", "2026-12-07"]);
    }
}

//! The PostgreSQL pool and the schema (`migrations/`, applied at start-up).

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// Connects, brings the schema up to date, and opens every connection of
/// the pool up front (a flash sale's first second must not wait for
/// PostgreSQL handshakes).
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(max_connections)
        // Under a flash-sale spike a request queues for a connection
        // rather than failing: a buyer would rather wait than get a 503.
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await
        .map_err(|error| anyhow::anyhow!("cannot connect to PostgreSQL: {error}"))?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    let warm: Vec<_> = (0..max_connections).map(|_| pool.acquire()).collect();
    futures::future::try_join_all(warm).await?;
    Ok(pool)
}

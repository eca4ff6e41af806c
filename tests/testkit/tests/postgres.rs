//! PostgreSQL fixture: a fresh database per test, dropped afterwards.

use sqlx::{Connection, PgConnection, Row};

#[tokio::test]
async fn each_test_gets_an_empty_database_that_is_dropped_afterwards() {
    let first = testkit::postgres().await;
    let second = testkit::postgres().await;
    assert_ne!(first.name(), second.name());

    let pool = first.pool().await;
    sqlx::query("CREATE TABLE orders (id BIGINT PRIMARY KEY)")
        .execute(&pool)
        .await
        .unwrap();
    let other = second.pool().await;
    let visible: i64 =
        sqlx::query("SELECT count(*) FROM information_schema.tables WHERE table_name = 'orders'")
            .fetch_one(&other)
            .await
            .unwrap()
            .get(0);
    assert_eq!(
        visible, 0,
        "a table of one test database is invisible in another"
    );

    let name = first.name().to_string();
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into());
    drop(first); // Dropping closes the pool's connections with it (WITH (FORCE)).
    let mut admin = PgConnection::connect(&admin_url).await.unwrap();
    let remaining: i64 = sqlx::query("SELECT count(*) FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_one(&mut admin)
        .await
        .unwrap()
        .get(0);
    assert_eq!(remaining, 0, "the database is dropped with its fixture");
    drop(pool);
}

//! The documented SQL fencing pattern, against PostgreSQL: a write carrying
//! an older token than the last accepted one updates nothing.

use std::time::Duration;

mod common;

const FENCED_UPDATE: &str =
    "UPDATE stock SET quantity = $1, fence = $2 WHERE item_id = $3 AND fence < $2";

#[tokio::test]
async fn an_update_with_an_older_token_changes_nothing() {
    let server = testkit::redis().await;
    let database = testkit::postgres().await;
    let pool = database.pool().await;
    sqlx::query("CREATE TABLE stock (item_id BIGINT PRIMARY KEY, quantity INT NOT NULL, fence BIGINT NOT NULL DEFAULT 0)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO stock (item_id, quantity) VALUES (100, 10)")
        .execute(&pool)
        .await
        .unwrap();

    let locks = common::manager(&server, Duration::from_secs(5)).await;
    let stale = locks.lock("stock:100").await.unwrap();
    let stale_token = stale.fencing_token() as i64;
    drop(stale); // its holder "paused"; the lock moves on
    let current = locks
        .try_lock("stock:100", common::PROMPTLY)
        .await
        .unwrap()
        .unwrap();
    let current_token = current.fencing_token() as i64;

    let applied = sqlx::query(FENCED_UPDATE)
        .bind(9)
        .bind(current_token)
        .bind(100_i64)
        .execute(&pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(applied, 1, "the current holder's write applies");

    let refused = sqlx::query(FENCED_UPDATE)
        .bind(8)
        .bind(stale_token)
        .bind(100_i64)
        .execute(&pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(refused, 0, "the stale holder's write is refused");

    let (quantity, fence): (i32, i64) =
        sqlx::query_as("SELECT quantity, fence FROM stock WHERE item_id = 100")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((quantity, fence), (9, current_token));
    current.unlock().await.unwrap();
}

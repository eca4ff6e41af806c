//! Fencing rows in PostgreSQL: `PgFence::raise` as the first statement of a
//! holder's transaction fences everything the transaction reads and writes;
//! the blind-write pattern (`… WHERE fence < $token`) refuses older writes.

use std::time::Duration;

use redlock::fence::PgFence;
use redlock::{Error, LockGuard, LockManager};
use sqlx::PgPool;

mod common;

async fn stock_table(pool: &PgPool, quantity: i32) {
    sqlx::query("CREATE TABLE stock (item_id BIGINT PRIMARY KEY, quantity INT NOT NULL, fence BIGINT NOT NULL DEFAULT 0)")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO stock (item_id, quantity) VALUES (100, $1)")
        .bind(quantity)
        .execute(pool)
        .await
        .unwrap();
}

/// Two holders in turn: the first one's lease "ran out" (its guard dropped
/// while it goes on), the second took the lock.
async fn two_holders(locks: &LockManager) -> (u64, LockGuard) {
    let stale = locks.lock("stock:100").await.unwrap();
    let stale_token = stale.fencing_token();
    drop(stale);
    let current = locks
        .try_lock("stock:100", common::PROMPTLY)
        .await
        .unwrap()
        .unwrap();
    (stale_token, current)
}

/// A stock row (10 units, fence 0), its fence, and two holders of its lock.
struct Fixture {
    _servers: (testkit::RedisServer, testkit::PgDatabase),
    pool: PgPool,
    fence: PgFence,
    /// The token of a holder whose lease "ran out".
    older: u64,
    newer: LockGuard,
}

async fn fixture() -> Fixture {
    let (server, database) = tokio::join!(testkit::redis(), testkit::postgres());
    let pool = database.pool().await;
    stock_table(&pool, 10).await;
    let locks = common::manager(&server, Duration::from_secs(5)).await;
    let (older, newer) = two_holders(&locks).await;
    Fixture {
        _servers: (server, database),
        pool,
        fence: PgFence::new("stock", "item_id", "fence").unwrap(),
        older,
        newer,
    }
}

/// Takes one unit in a transaction fenced by `token`; returns what it read.
async fn take_one(pool: &PgPool, fence: &PgFence, token: u64) -> Result<i32, Error> {
    let mut tx = pool.begin().await?;
    fence.raise(&mut tx, 100_i64, token).await?;
    let left: i32 = sqlx::query_scalar("SELECT quantity FROM stock WHERE item_id = 100")
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query("UPDATE stock SET quantity = $1 WHERE item_id = 100")
        .bind(left - 1)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(left)
}

async fn quantity_and_fence(pool: &PgPool) -> (i32, i64) {
    sqlx::query_as("SELECT quantity, fence FROM stock WHERE item_id = 100")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_newer_holder_waits_for_the_older_ones_transaction_and_reads_its_write() {
    let Fixture {
        _servers,
        pool,
        fence,
        older,
        newer,
    } = fixture().await;

    // The older holder raised and read, then paused inside its transaction.
    let mut paused = pool.begin().await.unwrap();
    fence.raise(&mut paused, 100_i64, older).await.unwrap();
    let read: i32 = sqlx::query_scalar("SELECT quantity FROM stock WHERE item_id = 100")
        .fetch_one(&mut *paused)
        .await
        .unwrap();
    // The newer holder's transaction starts meanwhile and must wait for it.
    let newer_token = newer.fencing_token();
    let newer_take = tokio::spawn({
        let (pool, fence) = (pool.clone(), fence.clone());
        async move { take_one(&pool, &fence, newer_token).await }
    });
    testkit::wait::until(common::PROMPTLY, "the newer raise to wait on the row", || {
        let pool = pool.clone();
        async move {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            waiting == 1
        }
    })
    .await;
    sqlx::query("UPDATE stock SET quantity = $1 WHERE item_id = 100")
        .bind(read - 1)
        .execute(&mut *paused)
        .await
        .unwrap();
    paused.commit().await.unwrap();

    assert_eq!(
        newer_take.await.unwrap().unwrap(),
        9,
        "it read the older write"
    );
    assert_eq!(quantity_and_fence(&pool).await, (8, newer_token as i64));
    newer.unlock().await.unwrap();
}

#[tokio::test]
async fn an_older_holder_is_refused_at_its_first_statement_and_changes_nothing() {
    let Fixture {
        _servers,
        pool,
        fence,
        older,
        newer,
    } = fixture().await;

    assert_eq!(
        take_one(&pool, &fence, newer.fencing_token())
            .await
            .unwrap(),
        10
    );
    match take_one(&pool, &fence, older).await {
        Err(Error::Fenced { token, fence }) => {
            assert_eq!((token, fence), (older, newer.fencing_token()));
        }
        other => panic!("the older holder must be fenced out, got {other:?}"),
    }
    assert_eq!(
        quantity_and_fence(&pool).await,
        (9, newer.fencing_token() as i64)
    );
    let missing = {
        let mut tx = pool.begin().await.unwrap();
        fence.raise(&mut tx, 404_i64, newer.fencing_token()).await
    };
    assert!(
        matches!(missing, Err(Error::Database(sqlx::Error::RowNotFound))),
        "{missing:?}"
    );
    newer.unlock().await.unwrap();
}

const FENCED_UPDATE: &str =
    "UPDATE stock SET quantity = $1, fence = $2 WHERE item_id = $3 AND fence < $2";

#[tokio::test]
async fn a_blind_write_with_an_older_token_changes_nothing() {
    let Fixture {
        _servers,
        pool,
        older: stale_token,
        newer: current,
        ..
    } = fixture().await;
    let (stale_token, current_token) = (stale_token as i64, current.fencing_token() as i64);

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

    assert_eq!(quantity_and_fence(&pool).await, (9, current_token));
    current.unlock().await.unwrap();
}

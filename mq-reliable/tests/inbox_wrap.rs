//! Handlers wrapped by an inbox take effect once per message id, without a
//! line of inbox code in the handler, against real PostgreSQL and Redis.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use mq_reliable::inbox::{PgInbox, RedisInbox};
use mq_reliable::{Message, Outcome};

fn message(id: &str, item: i64) -> Message<i64> {
    Message::new(item).with_id(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pg_wrapped_handler_commits_its_effect_and_the_id_together() {
    let db = testkit::postgres().await;
    let pool = db.pool().await;
    let inbox = PgInbox::new("wrap_inbox").unwrap();
    inbox.create_table(&pool).await.unwrap();
    sqlx::raw_sql("CREATE TABLE sold (item bigint PRIMARY KEY, n int NOT NULL); INSERT INTO sold VALUES (7, 0)")
        .execute(&pool)
        .await
        .unwrap();
    let fail_once = Arc::new(AtomicU32::new(1));
    let handler = inbox.clone().wrap(pool.clone(), {
        let fail_once = fail_once.clone();
        move |msg: Message<i64>, mut tx| {
            let fail_once = fail_once.clone();
            async move {
                sqlx::query("UPDATE sold SET n = n + 1 WHERE item = $1")
                    .bind(*msg.payload())
                    .execute(&mut *tx)
                    .await
                    .map_err(Outcome::retry)?;
                if fail_once.fetch_sub(1, Ordering::SeqCst) == 1 {
                    // After the effect, before the commit: nothing may stay.
                    return Err(Outcome::retry(std::io::Error::other("crash")));
                }
                Ok(tx)
            }
        }
    });
    let sold = || async {
        sqlx::query_scalar::<_, i32>("SELECT n FROM sold WHERE item = 7")
            .fetch_one(&pool)
            .await
            .unwrap()
    };

    assert!(
        handler(message("m-1", 7)).await.is_err(),
        "the first attempt fails"
    );
    assert_eq!(sold().await, 0, "its effect was rolled back");
    assert!(
        !inbox.contains(&pool, "m-1").await.unwrap(),
        "and so was the id"
    );
    handler(message("m-1", 7)).await.unwrap();
    handler(message("m-1", 7)).await.unwrap(); // a redelivery
    assert_eq!(sold().await, 1, "one effect for two successful deliveries");
    assert!(inbox.contains(&pool, "m-1").await.unwrap());

    let without_id = handler(Message::new(7)).await;
    assert!(
        matches!(without_id, Err(Outcome::Reject(_))),
        "no id, no dedup: rejected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_wrapped_handler_runs_once_per_id_and_again_after_a_failure() {
    let server = testkit::redis().await;
    let conn = server.client().get_connection_manager().await.unwrap();
    let runs = Arc::new(AtomicU32::new(0));
    let handler = RedisInbox::new(conn, "wrap").wrap({
        let runs = runs.clone();
        move |msg: Message<i64>| {
            let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                // The second run overall is the first of "m-fails-once".
                if msg.id() == Some("m-fails-once") && run == 2 {
                    return Err(Outcome::retry(std::io::Error::other("mail server down")));
                }
                Ok(())
            }
        }
    });

    handler(message("m-1", 1)).await.unwrap();
    handler(message("m-1", 1)).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1, "done before: not run again");

    assert!(handler(message("m-fails-once", 2)).await.is_err());
    handler(message("m-fails-once", 2)).await.unwrap();
    assert_eq!(
        runs.load(Ordering::SeqCst),
        3,
        "released after the failure, so retried"
    );
    handler(message("m-fails-once", 2)).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}

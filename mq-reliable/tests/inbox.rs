//! The idempotency inboxes against real PostgreSQL and Redis.

use std::time::Duration;

use mq_reliable::inbox::{Claim, PgInbox, RedisInbox};
use mq_reliable::{Error, Message};

fn message(id: &str) -> Message<()> {
    Message::new(()).with_id(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_inbox_records_an_id_only_with_its_transaction() {
    let db = testkit::postgres().await;
    let pool = db.pool().await;
    let inbox = PgInbox::new("mq_inbox").unwrap();
    inbox.create_table(&pool).await.unwrap();
    inbox.create_table(&pool).await.unwrap(); // idempotent

    // A rolled-back transaction leaves no trace: the redelivery does the work.
    let mut tx = pool.begin().await.unwrap();
    assert!(inbox.record(&mut tx, &message("m-1")).await.unwrap());
    tx.rollback().await.unwrap();
    assert!(!inbox.contains(&pool, "m-1").await.unwrap());

    let mut tx = pool.begin().await.unwrap();
    assert!(inbox.record(&mut tx, &message("m-1")).await.unwrap());
    tx.commit().await.unwrap();
    assert!(inbox.contains(&pool, "m-1").await.unwrap());

    let mut tx = pool.begin().await.unwrap();
    assert!(!inbox.record(&mut tx, &message("m-1")).await.unwrap());
    tx.commit().await.unwrap();

    let error = inbox
        .record(&mut pool.acquire().await.unwrap(), &Message::new(()))
        .await
        .unwrap_err();
    assert!(matches!(error, Error::MissingMessageId));
    assert_eq!(
        inbox
            .purge_older_than(&pool, Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        inbox.purge_older_than(&pool, Duration::ZERO).await.unwrap(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_inbox_lets_one_of_two_concurrent_deliveries_through() {
    let db = testkit::postgres().await;
    let pool = db.pool().await;
    let inbox = PgInbox::new("mq_inbox").unwrap();
    inbox.create_table(&pool).await.unwrap();

    let mut first = pool.begin().await.unwrap();
    assert!(inbox.record(&mut first, &message("m-2")).await.unwrap());
    // The second delivery's insert waits for the first transaction…
    let second = {
        let (pool, inbox) = (pool.clone(), inbox.clone());
        tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            let recorded = inbox.record(&mut tx, &message("m-2")).await.unwrap();
            tx.commit().await.unwrap();
            recorded
        })
    };
    testkit::wait::until(
        Duration::from_secs(10),
        "the second insert to wait",
        || async {
            let (waiting,): (i64,) =
                sqlx::query_as("SELECT count(*) FROM pg_locks WHERE NOT granted")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            waiting > 0
        },
    )
    .await;
    first.commit().await.unwrap();
    // …and then finds the id.
    assert!(!second.await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_inbox_claims_completes_and_releases() {
    let server = testkit::redis().await;
    let conn = server.client().get_connection_manager().await.unwrap();
    let inbox = RedisInbox::new(conn, "inbox").claim_ttl(Duration::from_millis(300));

    let msg = message("m-3");
    assert_eq!(inbox.claim(&msg).await.unwrap(), Claim::Acquired);
    assert_eq!(inbox.claim(&msg).await.unwrap(), Claim::InProgress);
    // The effect failed: release, and the retry may claim again.
    inbox.release(&msg).await.unwrap();
    assert_eq!(inbox.claim(&msg).await.unwrap(), Claim::Acquired);
    inbox.complete(&msg).await.unwrap();
    assert_eq!(inbox.claim(&msg).await.unwrap(), Claim::Done);
    // Releasing a completed id does nothing.
    inbox.release(&msg).await.unwrap();
    assert_eq!(inbox.claim(&msg).await.unwrap(), Claim::Done);

    // A claim whose holder died expires, and the message can be processed.
    let orphan = message("m-4");
    assert_eq!(inbox.claim(&orphan).await.unwrap(), Claim::Acquired);
    testkit::wait::until(
        Duration::from_secs(5),
        "the orphaned claim to expire",
        || async { inbox.claim(&orphan).await.unwrap() == Claim::Acquired },
    )
    .await;
}

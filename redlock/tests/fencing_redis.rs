//! Fenced values in Redis under the interleavings that lose updates: a newer
//! holder reads before an older one writes back.
//!
//! A holder's lease "runs out" here by deleting its lock key, as expiry
//! while it is paused would; `paused_holder.rs` does the same with a real
//! frozen process.

use redis::aio::MultiplexedConnection;
use redlock::{Error, LockGuard, LockManager, fence};
use testkit::RedisServer;

mod common;

const LOCK: &str = "counter";
const LOCK_KEY: &str = "redlock:{counter}:lock";

/// A server, two managers on it (as two processes would have) and a connection.
async fn setup() -> (RedisServer, LockManager, LockManager, MultiplexedConnection) {
    let server = testkit::redis().await;
    let lease = std::time::Duration::from_secs(30);
    let a = common::manager(&server, lease).await;
    let b = common::manager(&server, lease).await;
    let conn = server.connection().await;
    (server, a, b, conn)
}

/// Takes the lock from whoever holds it, as a rival would after expiry.
async fn take_over(locks: &LockManager, conn: &mut MultiplexedConnection) -> LockGuard {
    redis::cmd("DEL")
        .arg(LOCK_KEY)
        .query_async::<()>(conn)
        .await
        .unwrap();
    locks
        .try_lock(LOCK, common::PROMPTLY)
        .await
        .unwrap()
        .expect("the lock is free")
}

/// A fenced read by another process, made from inside a synchronous closure:
/// on its own thread and runtime, so this test's runtime is not blocked on.
fn read_elsewhere(url: &str, key: &str, token: u64) {
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let client = redis::Client::open(url).unwrap();
                let mut conn = testkit::redis_connection(&client).await.unwrap();
                fence::read::<_, i64>(&mut conn, key, token).await.unwrap();
            });
        });
    });
}

async fn stored(conn: &mut MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("HGET")
        .arg(key)
        .arg("value")
        .query_async(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_newer_holders_read_fences_out_the_older_holders_write() {
    let (_server, locks, rival, mut conn) = setup().await;
    let key = "counter:value";
    fence::write(&mut conn, key, 14_i64, 0).await.unwrap();

    let a = locks.lock(LOCK).await.unwrap();
    let a_read: i64 = fence::read(&mut conn, key, a.fencing_token())
        .await
        .unwrap()
        .unwrap();
    let b = take_over(&rival, &mut conn).await;
    let b_read: i64 = fence::read(&mut conn, key, b.fencing_token())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((a_read, b_read), (14, 14));

    match fence::write(&mut conn, key, a_read + 1, a.fencing_token()).await {
        Err(Error::Fenced { token, fence }) => {
            assert_eq!((token, fence), (a.fencing_token(), b.fencing_token()));
        }
        other => panic!("the older holder's write must be fenced out, got {other:?}"),
    }
    fence::write(&mut conn, key, b_read + 1, b.fencing_token())
        .await
        .unwrap();
    assert_eq!(stored(&mut conn, key).await, 15);
    // The same holder may write again.
    fence::write(&mut conn, key, 16_i64, b.fencing_token())
        .await
        .unwrap();
    assert_eq!(stored(&mut conn, key).await, 16);
    b.unlock().await.unwrap();
}

#[tokio::test]
async fn set_if_newer_alone_loses_that_update_as_its_docs_say() {
    // The contrast the module docs draw: a fence that only writes raise.
    let (_server, locks, rival, mut conn) = setup().await;
    let key = "counter:blind";
    redis::cmd("HSET")
        .arg(key)
        .arg("value")
        .arg(14)
        .query_async::<()>(&mut conn)
        .await
        .unwrap();

    let a = locks.lock(LOCK).await.unwrap();
    let a_read = stored(&mut conn, key).await;
    let b = take_over(&rival, &mut conn).await;
    let b_read = stored(&mut conn, key).await;
    let a_written = fence::set_if_newer(&mut conn, key, a_read + 1, a.fencing_token())
        .await
        .unwrap();
    let b_written = fence::set_if_newer(&mut conn, key, b_read + 1, b.fencing_token())
        .await
        .unwrap();
    assert!(a_written && b_written, "both blind writes pass");
    assert_eq!(
        stored(&mut conn, key).await,
        15,
        "two increments, one applied"
    );
    b.unlock().await.unwrap();
}

#[tokio::test]
async fn an_older_holder_that_reads_after_a_newer_one_is_refused_at_the_read() {
    let (_server, locks, rival, mut conn) = setup().await;
    let key = "counter:late";
    let a = locks.lock(LOCK).await.unwrap();
    let b = take_over(&rival, &mut conn).await;
    fence::write(&mut conn, key, 1_i64, b.fencing_token())
        .await
        .unwrap();
    let late = fence::read::<_, i64>(&mut conn, key, a.fencing_token()).await;
    assert!(
        matches!(late, Err(Error::Fenced { .. })),
        "a stale read is refused, not served: {late:?}"
    );
    b.unlock().await.unwrap();
}

#[tokio::test]
async fn update_writes_nothing_when_fenced_out_between_its_read_and_its_write() {
    let (server, locks, rival, mut conn) = setup().await;
    let key = "counter:update";
    let a = locks.lock(LOCK).await.unwrap();
    let a_token = a.fencing_token();
    assert_eq!(
        fence::update(&mut conn, key, a_token, |n: Option<i64>| n.unwrap_or(0) + 1)
            .await
            .unwrap(),
        1
    );

    // B takes over and reads while A's change is being computed.
    let b = take_over(&rival, &mut conn).await;
    let b_token = b.fencing_token();
    let url = server.url();
    let outcome = fence::update(&mut conn, key, a_token, |n: Option<i64>| {
        read_elsewhere(&url, key, b_token);
        n.unwrap_or(0) + 1
    })
    .await;
    assert!(matches!(outcome, Err(Error::Fenced { .. })), "{outcome:?}");
    assert_eq!(stored(&mut conn, key).await, 1, "nothing written");
    b.unlock().await.unwrap();
}

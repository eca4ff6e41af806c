//! A holder process frozen (SIGSTOP) past its lease: another process takes
//! the lock; when the first resumes, it learns it lost the lock, cannot
//! unlock, and its fenced write is refused.
//!
//! The test binary runs itself as the holder: `paused_holder_worker` checks
//! the same story in one process when started directly, and plays the holder
//! when started with `REDLOCK_HOLDER_URL` set.
//!
//! The read → modify → write story has the newer holder *read* before the
//! paused one resumes: a fence raised only by writes would let both
//! increments of the same value through (see `redlock::fence`).

use std::time::Duration;

use nix::sys::signal::Signal;
use redis::aio::MultiplexedConnection;
use redlock::{Error, LockGuard, LockManager, fence};
use testkit::ChildProcess;

mod common;

const LEASE: Duration = Duration::from_millis(500);
const RESOURCE: &str = "stock:100:quantity";

/// Starts this test binary as the holder: `test` alone, with `url_var` set to
/// the server's URL. Returns it once it printed `announcement`, and that line.
async fn start_holder(
    server: &testkit::RedisServer,
    test: &str,
    url_var: &str,
    announcement: &str,
) -> (ChildProcess, String) {
    let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", test, "--nocapture"])
        .env(url_var, server.url());
    let holder = ChildProcess::spawn(command).unwrap();
    let line = holder
        .wait_for_output(announcement, Duration::from_secs(30))
        .await
        .unwrap();
    (holder, line)
}

/// Freezes the holder; another process (this one) gets the lock once the
/// frozen holder's lease runs out.
async fn freeze_and_take_over(
    holder: &ChildProcess,
    server: &testkit::RedisServer,
) -> (LockManager, LockGuard) {
    holder.signal(Signal::SIGSTOP);
    let locks = common::manager(server, LEASE).await;
    let guard = locks
        .try_lock("stock:100", Duration::from_secs(10))
        .await
        .unwrap()
        .expect("acquired after the paused holder's lease expired");
    (locks, guard)
}

/// A holder process's start: its own manager, the lock, and a connection.
async fn acquire_as_holder(url: &str) -> (LockManager, LockGuard, MultiplexedConnection) {
    let client = redis::Client::open(url).unwrap();
    let locks = LockManager::builder(client.clone())
        .lease(LEASE)
        .build()
        .await
        .unwrap();
    let guard = locks.lock("stock:100").await.unwrap();
    // No response timeout: a reply that arrives while the holder is frozen
    // must be read on resume, not raced by a timer that ran out meanwhile.
    let unbounded = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let conn = client
        .get_multiplexed_async_connection_with_config(&unbounded)
        .await
        .unwrap();
    (locks, guard, conn)
}

/// The holder's story: acquire, announce the token, wait to learn of the loss,
/// then try to write and unlock, and report what happened.
async fn hold_until_lost(url: &str) -> String {
    let (_locks, guard, mut conn) = acquire_as_holder(url).await;
    let token = guard.fencing_token();
    println!("acquired token={token}");
    tokio::time::timeout(Duration::from_secs(60), guard.lost())
        .await
        .expect("lost() fires after the pause");
    let written = fence::set_if_newer(&mut conn, RESOURCE, "99 (stale holder)", token)
        .await
        .unwrap();
    let unlock = match guard.unlock().await {
        Err(Error::NotOwner) => "NotOwner".to_string(),
        other => format!("{other:?}"),
    };
    let report = format!("lost=true write_accepted={written} unlock={unlock}");
    println!("{report}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_holder_worker() {
    if let Ok(url) = std::env::var("REDLOCK_HOLDER_URL") {
        hold_until_lost(&url).await;
        return;
    }
    // Started directly: the loss is caused by deleting the lock, as a rival
    // taking over after expiry would, and the newer write is made first.
    let server = testkit::redis().await;
    let url = server.url();
    let holder = tokio::spawn(async move { hold_until_lost(&url).await });
    let mut conn = server.connection().await;
    testkit::wait::until(common::PROMPTLY, "the holder to take the lock", || {
        let mut conn = conn.clone();
        async move {
            redis::cmd("EXISTS")
                .arg("redlock:{stock:100}:lock")
                .query_async::<i64>(&mut conn)
                .await
                .unwrap()
                == 1
        }
    })
    .await;
    fence::set_if_newer(&mut conn, RESOURCE, "100", u64::MAX)
        .await
        .unwrap();
    redis::cmd("DEL")
        .arg("redlock:{stock:100}:lock")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let report = holder.await.unwrap();
    assert_eq!(report, "lost=true write_accepted=false unlock=NotOwner");
}

#[tokio::test]
async fn a_holder_paused_past_its_lease_loses_the_lock_and_its_fenced_write() {
    let server = testkit::redis().await;
    let (mut holder, line) = start_holder(
        &server,
        "paused_holder_worker",
        "REDLOCK_HOLDER_URL",
        "acquired token=",
    )
    .await;
    let holder_token: u64 = line.trim_start_matches("acquired token=").parse().unwrap();
    let (_locks, guard) = freeze_and_take_over(&holder, &server).await;
    assert!(guard.fencing_token() > holder_token);
    let mut conn = server.connection().await;
    assert!(
        fence::set_if_newer(&mut conn, RESOURCE, "100", guard.fencing_token())
            .await
            .unwrap()
    );

    holder.signal(Signal::SIGCONT);
    let report = holder
        .wait_for_output("lost=", Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report, "lost=true write_accepted=false unlock=NotOwner");
    let value: String = redis::cmd("HGET")
        .arg(RESOURCE)
        .arg("value")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(value, "100", "the stale holder's write was refused");
    assert!(holder.wait().await.success());
    guard.unlock().await.unwrap();
}

/// Read → modify → write, the newer holder reading first: the holder reads
/// the counter (raising its fence), announces it, and waits for `go` on a
/// list; the test freezes it past its lease, takes the lock and reads the
/// same value, then lets it go. Its write must be refused, and the newer
/// holder's increment is the only one applied.
const COUNTER: &str = "stock:100:sold";
const GO: &str = "stock:100:go";

async fn read_then_write_when_told(url: &str) -> String {
    let (_locks, guard, mut conn) = acquire_as_holder(url).await;
    let token = guard.fencing_token();
    let sold: Option<i64> = fence::read(&mut conn, COUNTER, token).await.unwrap();
    println!("read token={token} sold={}", sold.unwrap_or(0));
    let _: (String, String) = redis::cmd("BLPOP")
        .arg(GO)
        .arg(60)
        .query_async(&mut conn)
        .await
        .unwrap();
    let write = fence::write(&mut conn, COUNTER, sold.unwrap_or(0) + 1, token).await;
    let report = match write {
        Err(Error::Fenced {
            token: refused,
            fence,
        }) if refused == token && fence > token => "write=fenced".to_string(),
        other => format!("write={other:?}"),
    };
    println!("{report}");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_holder_cannot_write_back_what_it_read_once_a_newer_holder_has_read() {
    if let Ok(url) = std::env::var("REDLOCK_RMW_HOLDER_URL") {
        // Started by this test itself: play the holder.
        read_then_write_when_told(&url).await;
        return;
    }
    let server = testkit::redis().await;
    let mut conn = server.connection().await;
    fence::write(&mut conn, COUNTER, 14_i64, 0).await.unwrap();
    let (mut holder, line) = start_holder(
        &server,
        "a_paused_holder_cannot_write_back_what_it_read_once_a_newer_holder_has_read",
        "REDLOCK_RMW_HOLDER_URL",
        "read token=",
    )
    .await;
    assert!(line.ends_with("sold=14"), "{line}");
    let (_locks, guard) = freeze_and_take_over(&holder, &server).await;
    let token = guard.fencing_token();
    let sold: i64 = fence::read(&mut conn, COUNTER, token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sold, 14, "the paused holder wrote nothing yet");

    let _: i64 = redis::cmd("LPUSH")
        .arg(GO)
        .arg("go")
        .query_async(&mut conn)
        .await
        .unwrap();
    holder.signal(Signal::SIGCONT);
    let report = holder
        .wait_for_output("write=", Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        report, "write=fenced",
        "the stale holder's write was refused"
    );

    fence::write(&mut conn, COUNTER, sold + 1, token)
        .await
        .unwrap();
    let stored: i64 = redis::cmd("HGET")
        .arg(COUNTER)
        .arg("value")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        stored, 15,
        "one increment per holder that was not fenced out"
    );
    assert!(holder.wait().await.success());
    guard.unlock().await.unwrap();
}

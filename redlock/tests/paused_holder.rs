//! A holder process frozen (SIGSTOP) past its lease: another process takes
//! the lock; when the first resumes, it learns it lost the lock, cannot
//! unlock, and its fenced write is refused.
//!
//! The test binary runs itself as the holder: `paused_holder_worker` checks
//! the same story in one process when started directly, and plays the holder
//! when started with `REDLOCK_HOLDER_URL` set.

use std::time::Duration;

use nix::sys::signal::Signal;
use redlock::{Error, LockManager, fence};
use testkit::ChildProcess;

mod common;

const LEASE: Duration = Duration::from_millis(500);
const RESOURCE: &str = "stock:100:quantity";

/// The holder's story: acquire, announce the token, wait to learn of the loss,
/// then try to write and unlock, and report what happened.
async fn hold_until_lost(url: &str) -> String {
    let locks = LockManager::builder(redis::Client::open(url).unwrap())
        .lease(LEASE)
        .build()
        .await
        .unwrap();
    let guard = locks.lock("stock:100").await.unwrap();
    let token = guard.fencing_token();
    println!("acquired token={token}");
    tokio::time::timeout(Duration::from_secs(60), guard.lost())
        .await
        .expect("lost() fires after the pause");
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
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
    let mut command = tokio::process::Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "paused_holder_worker", "--nocapture"])
        .env("REDLOCK_HOLDER_URL", server.url());
    let mut holder = ChildProcess::spawn(command).unwrap();
    let line = holder
        .wait_for_output("acquired token=", Duration::from_secs(30))
        .await
        .unwrap();
    let holder_token: u64 = line.trim_start_matches("acquired token=").parse().unwrap();

    holder.signal(Signal::SIGSTOP);
    // Another process (this one) gets the lock once the frozen holder's lease runs out.
    let locks = common::manager(&server, LEASE).await;
    let guard = locks
        .try_lock("stock:100", Duration::from_secs(10))
        .await
        .unwrap()
        .expect("acquired after the paused holder's lease expired");
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

//! The Redlock quorum over five independent Redis servers.

use std::time::Duration;

use redlock::{Error, LockManager};

mod common;

async fn quorum(servers: &[testkit::RedisServer]) -> LockManager {
    LockManager::builder_quorum(servers.iter().map(|server| server.client()).collect())
        .lease(Duration::from_secs(2))
        .node_timeout(Duration::from_millis(100))
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_majority_suffices_and_a_minority_is_a_clear_error() {
    let mut servers = testkit::redis_servers(5).await;
    let a = quorum(&servers).await;
    let b = quorum(&servers).await;

    let guard = a.lock("payout").await.unwrap();
    assert!(
        b.try_lock("payout", Duration::from_millis(200))
            .await
            .unwrap()
            .is_none()
    );
    let first_token = guard.fencing_token();
    guard.unlock().await.unwrap();

    servers[0].kill().await;
    servers[1].kill().await;
    let guard = b.lock("payout").await.expect("3 of 5 nodes are a majority");
    assert!(guard.fencing_token() > first_token, "tokens still increase");
    // The watchdog renews on the remaining majority.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!guard.is_lost());
    guard.unlock().await.unwrap();

    servers[2].kill().await;
    match a.lock("payout").await {
        Err(Error::QuorumUnavailable { got: 2, needed: 3 }) => {}
        other => panic!("expected QuorumUnavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn tokens_increase_across_holders_whose_majorities_differ() {
    // Fencing across majorities relies on nodes keeping their counters: AOF.
    let mut servers = Vec::new();
    for _ in 0..5 {
        servers.push(
            testkit::RedisServer::options()
                .append_only(true)
                .start()
                .await
                .unwrap(),
        );
    }
    let locks = quorum(&servers).await;
    let mut last = 0;
    // Each round a different pair of nodes is down, so majorities differ.
    for round in 0..5 {
        let down = [round % 5, (round + 1) % 5];
        for &index in &down {
            servers[index].kill().await;
        }
        let guard = locks.lock("ledger").await.unwrap();
        assert!(
            guard.fencing_token() > last,
            "round {round}: {} > {last}",
            guard.fencing_token()
        );
        last = guard.fencing_token();
        guard.unlock().await.unwrap();
        for &index in &down {
            servers[index].restart().await;
        }
    }
}

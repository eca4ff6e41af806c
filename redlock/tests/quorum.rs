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

#[tokio::test]
async fn live_nodes_slower_than_the_node_timeout_still_make_a_majority() {
    // Three nodes answer, but every answer takes longer than the per-node
    // timeout (a busy machine, a node that fsyncs every write, a first
    // connection still being made); two never answer at all.
    let servers = testkit::redis_servers(5).await;
    let mut proxies = Vec::new();
    for server in &servers {
        proxies.push(testkit::proxy(server.addr()).await);
    }
    for proxy in &proxies[..3] {
        proxy.delay(Duration::from_millis(25)); // a round trip: 50 ms or more
    }
    for proxy in &proxies[3..] {
        proxy.blackhole();
    }
    let through_proxies = || {
        LockManager::builder_quorum(
            proxies
                .iter()
                .map(|proxy| redis::Client::open(proxy.redis_url()).unwrap())
                .collect(),
        )
        .lease(Duration::from_secs(2))
        .node_timeout(Duration::from_millis(20))
    };
    let slow = through_proxies().build().await.unwrap();
    let direct = quorum(&servers).await;

    let guard = slow
        .lock("payout")
        .await
        .expect("three live nodes are a majority, however slowly they answer");
    assert!(
        direct
            .try_lock("payout", Duration::ZERO)
            .await
            .unwrap()
            .is_none(),
        "the lock is held on a majority"
    );
    // Renewed on the slow majority too.
    testkit::wait::until(common::PROMPTLY, "a renewal", || async {
        slow.stats().renewals >= 1
    })
    .await;
    assert!(!guard.is_lost());
    guard
        .unlock()
        .await
        .expect("released on the slow majority, so still owned at release");
    let next = direct
        .try_lock("payout", Duration::ZERO)
        .await
        .unwrap()
        .expect("free again");
    next.unlock().await.unwrap();
}

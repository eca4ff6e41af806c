//! A holder cut off from Redis: it keeps its lock through an outage shorter
//! than what is left of its lease, and learns of the loss before anyone else
//! can take the lock when the outage lasts longer.
//!
//! The holder talks to Redis through the test kit's proxy; the rival talks to
//! the same server directly, so only the holder is cut off.

use std::time::Duration;

use redlock::{Error, LockManager};
use testkit::Proxy;

mod common;
use common::PROMPTLY;

/// Renewed every second; a renewal confirms the lock for 3 s from when it was sent.
const LEASE: Duration = Duration::from_secs(3);

/// A manager whose every connection goes through `proxy`.
async fn cut_off_able(proxy: &Proxy) -> LockManager {
    LockManager::builder(redis::Client::open(proxy.redis_url()).unwrap())
        .lease(LEASE)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_outage_shorter_than_the_remaining_validity_keeps_the_lock() {
    let server = testkit::redis().await;
    let proxy = testkit::proxy(server.addr()).await;
    let holder = cut_off_able(&proxy).await;
    let rival = common::manager(&server, LEASE).await;
    let guard = holder.lock("payout").await.unwrap();

    // Cut the link just after a renewal: the next one falls due a third of
    // the lease later, inside the outage, with two thirds of the lease left.
    testkit::wait::until(PROMPTLY, "a first renewal", || async {
        holder.stats().renewals >= 1
    })
    .await;
    let renewed = holder.stats().renewals;
    proxy.cut(); // connections reset, new ones refused
    // Longer than a renewal period, shorter than the 3 s the last renewal
    // confirmed: the length of the outage is the point.
    tokio::time::sleep(LEASE / 2).await;
    assert!(
        !guard.is_lost(),
        "a renewal that failed with most of the lease left is retried, not reported as a loss"
    );
    proxy.restore();

    testkit::wait::until(PROMPTLY, "a renewal after the outage", || async {
        holder.stats().renewals > renewed
    })
    .await;
    assert!(!guard.is_lost());
    assert!(
        holder.stats().renewal_retries >= 1,
        "the renewal due during the outage was retried: {:?}",
        holder.stats()
    );
    assert_eq!(holder.stats().lost_leases, 0);
    assert!(
        rival
            .try_lock("payout", Duration::ZERO)
            .await
            .unwrap()
            .is_none(),
        "the holder still holds the lock"
    );
    guard.unlock().await.unwrap();
    assert!(
        rival
            .try_lock("payout", Duration::ZERO)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn an_outage_longer_than_the_lease_is_reported_before_a_rival_acquires() {
    let server = testkit::redis().await;
    let proxy = testkit::proxy(server.addr()).await;
    let holder = cut_off_able(&proxy).await;
    let rival = common::manager(&server, LEASE).await;
    let guard = holder.lock("payout").await.unwrap();
    let holder_token = guard.fencing_token();

    proxy.cut(); // until the rival holds the lock
    let taken = tokio::time::timeout(PROMPTLY, rival.lock("payout"))
        .await
        .expect("the rival acquires once the holder's lease has run out")
        .unwrap();
    // The rival could only take the lock after the holder's key expired in
    // Redis; by then the holder must already know.
    assert!(
        guard.is_lost(),
        "lost() fired before the rival acquired the lock"
    );
    assert!(taken.fencing_token() > holder_token);
    let stats = holder.stats();
    assert_eq!(stats.lost_leases, 1, "{stats:?}");
    assert!(
        stats.renewal_retries >= 1,
        "the holder retried while the lease was valid: {stats:?}"
    );

    proxy.restore();
    assert!(matches!(guard.unlock().await, Err(Error::NotOwner)));
    taken.unlock().await.unwrap();
}

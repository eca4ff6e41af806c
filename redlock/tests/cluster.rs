//! Locks on a local three-master Redis Cluster: every key of a lock shares a
//! hash tag (one slot, so multi-key scripts run), and a release published on
//! whichever master owns the slot wakes waiters listening on another node.

use std::time::Duration;

use redlock::LockManager;

async fn cluster_manager(cluster: &testkit::RedisCluster, fair: bool) -> LockManager {
    let seeds = cluster.nodes().iter().map(|node| node.client()).collect();
    LockManager::cluster_builder(seeds)
        .lease(Duration::from_secs(30))
        .fair(fair)
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn locks_on_every_master_exclude_and_wake_waiters() {
    let cluster = testkit::redis_cluster().await;
    let a = cluster_manager(&cluster, false).await;
    let b = cluster_manager(&cluster, false).await;
    // Ten names spread their slots over the three masters.
    for item in 0..10 {
        let name = format!("stock:{item}");
        let guard = a.lock(&name).await.unwrap();
        assert!(
            b.try_lock(&name, Duration::from_millis(20))
                .await
                .unwrap()
                .is_none()
        );
        let woken_before = b.stats().wakeups;
        let waiter = {
            let b = b.clone();
            let name = name.clone();
            tokio::spawn(async move { b.lock(&name).await.unwrap().unlock().await })
        };
        testkit::wait::until(
            Duration::from_secs(10),
            "the waiter to fall asleep",
            || async { b.stats().waiting == 1 },
        )
        .await;
        guard.unlock().await.unwrap();
        // Woken by the release (the lease is 30 s), wherever the slot lives.
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap_or_else(|_| panic!("{name}: waiter not woken"))
            .unwrap()
            .unwrap();
        assert_eq!(
            b.stats().wakeups,
            woken_before + 1,
            "{name}: {:?}",
            b.stats()
        );
    }
}

#[tokio::test]
async fn fair_locks_and_semaphores_work_on_a_cluster() {
    let cluster = testkit::redis_cluster().await;
    let fair = cluster_manager(&cluster, true).await;
    for item in 0..6 {
        let guard = fair.lock(&format!("auction:{item}")).await.unwrap();
        assert!(guard.fencing_token() >= 1);
        guard.unlock().await.unwrap();
    }
    let semaphore = cluster_manager(&cluster, false)
        .await
        .semaphore("exports", 2)
        .unwrap();
    let first = semaphore.acquire().await.unwrap();
    let second = semaphore.acquire().await.unwrap();
    assert!(
        semaphore
            .try_acquire(Duration::from_millis(50))
            .await
            .unwrap()
            .is_none()
    );
    first.release().await.unwrap();
    second.release().await.unwrap();
}

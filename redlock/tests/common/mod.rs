//! Helpers shared by the redlock behaviour tests.
#![allow(dead_code)]

use std::time::Duration;

use redlock::LockManager;
use testkit::RedisServer;

/// A manager on `server` with the given lease.
pub async fn manager(server: &RedisServer, lease: Duration) -> LockManager {
    LockManager::builder(server.client())
        .lease(lease)
        .build()
        .await
        .expect("lock manager")
}

/// Upper bound for "this should happen promptly" waits in tests.
pub const PROMPTLY: Duration = Duration::from_secs(10);

//! Shared by the cache's tests: a stand-in for the database.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A stand-in for the database: a versioned row, read by loaders.
#[derive(Clone, Default)]
pub struct Database {
    pub version: Arc<AtomicU64>,
    pub reads: Arc<AtomicU64>,
}

/// What a loader built from the database returns.
pub type Row = std::pin::Pin<Box<dyn Future<Output = Result<Option<u64>, std::io::Error>> + Send>>;

impl Database {
    /// A loader that reads the current version, then takes `delay` to return it.
    pub fn loader(&self, delay: Duration) -> impl FnOnce() -> Row + Send + 'static {
        let db = self.clone();
        move || {
            Box::pin(async move {
                db.reads.fetch_add(1, Ordering::SeqCst);
                let version = db.version.load(Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                Ok(Some(version))
            })
        }
    }
}

//! In-process single flight: concurrent callers for one key share one
//! lookup (Redis read, and the load if one is needed).
//!
//! Built on `tokio::sync::OnceCell`: the first caller runs the work, the
//! others await the same cell. If the running caller is cancelled, one of the
//! waiters takes over, so a dropped request never strands the others.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// Work in flight, by key.
#[derive(Debug)]
pub(crate) struct Flights<T> {
    inflight: Mutex<HashMap<String, Arc<OnceCell<T>>>>,
}

impl<T> Default for Flights<T> {
    fn default() -> Self {
        Self {
            inflight: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> Flights<T> {
    /// Runs `work` unless a call for `key` is already running, in which case
    /// its result is shared.
    pub(crate) async fn run<F, Fut>(&self, key: &str, work: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let cell = self
            .inflight
            .lock()
            .expect("flights lock")
            .entry(key.to_string())
            .or_default()
            .clone();
        let result = cell.get_or_init(work).await.clone();
        let mut inflight = self.inflight.lock().expect("flights lock");
        // Forget the finished flight (unless a newer one already replaced it).
        if inflight
            .get(key)
            .is_some_and(|current| Arc::ptr_eq(current, &cell))
        {
            inflight.remove(key);
        }
        result
    }
}

impl<T> Flights<T> {
    /// Detaches the flight in progress for `key`, if any: its current callers
    /// still get its result, but later callers start a new one. Used when the
    /// key is invalidated, so nobody joins a load that read older data.
    pub(crate) fn forget(&self, key: &str) {
        self.inflight.lock().expect("flights lock").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_callers_share_one_run_and_later_callers_run_again() {
        let flights = Arc::new(Flights::<usize>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let callers: Vec<_> = (0..50)
            .map(|_| {
                let (flights, runs, gate) = (flights.clone(), runs.clone(), gate.clone());
                tokio::spawn(async move {
                    flights
                        .run("k", || async move {
                            let _permit = gate.acquire().await.unwrap();
                            runs.fetch_add(1, Ordering::SeqCst) + 1
                        })
                        .await
                })
            })
            .collect();
        // Open the gate only once all 50 callers hold the flight.
        let joined = || {
            flights
                .inflight
                .lock()
                .unwrap()
                .get("k")
                .map(Arc::strong_count)
        };
        while joined() != Some(51) {
            tokio::task::yield_now().await;
        }
        gate.add_permits(1);
        for caller in callers {
            assert_eq!(caller.await.unwrap(), 1);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        let again = flights.run("k", || async { 7 }).await;
        assert_eq!(again, 7, "a finished flight is not reused");
    }
}

//! A local first-come, first-served gate per lock name.
//!
//! Within one process, tasks that want the same lock queue on a tokio mutex
//! (which is FIFO) before they contend in Redis. Only the task at the front
//! talks to Redis, so a hundred local waiters cost one acquisition attempt
//! per release instead of a hundred, and hand-offs between local tasks take
//! one round trip.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;

type Gate = Arc<tokio::sync::Mutex<()>>;

/// The gates of one lock manager.
#[derive(Debug, Default)]
pub(crate) struct Gates {
    gates: Mutex<HashMap<String, Gate>>,
}

/// Passage through a gate; the next local waiter goes when this drops.
#[derive(Debug)]
pub(crate) struct GatePass {
    gates: Arc<Gates>,
    name: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Gates {
    /// Waits for the front of the local queue for `name`; `None` if
    /// `deadline` passes first.
    pub(crate) async fn enter(
        self: &Arc<Self>,
        name: &str,
        deadline: Option<Instant>,
    ) -> Option<GatePass> {
        let gate = self
            .gates
            .lock()
            .expect("gates lock")
            .entry(name.to_string())
            .or_default()
            .clone();
        let guard = match deadline {
            None => gate.lock_owned().await,
            Some(deadline) => tokio::time::timeout_at(deadline, gate.lock_owned())
                .await
                .ok()?,
        };
        Some(GatePass {
            gates: self.clone(),
            name: name.to_string(),
            guard: Some(guard),
        })
    }
}

impl Drop for GatePass {
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let gate = OwnedMutexGuard::mutex(&guard).clone();
        drop(guard);
        let mut gates = self.gates.gates.lock().expect("gates lock");
        // Only the map and `gate` hold it: nobody waits, forget it.
        if Arc::strong_count(&gate) == 2 {
            gates.remove(&self.name);
        }
    }
}

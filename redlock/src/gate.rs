//! A local first-come, first-served gate per lock name, and the holders it
//! knows of.
//!
//! Within one process, tasks that want the same lock queue on a tokio mutex
//! (which is FIFO) before they contend in Redis. Only the task at the front
//! talks to Redis, so a hundred local waiters cost one acquisition attempt
//! per release instead of a hundred, and hand-offs between local tasks take
//! one round trip. (Fair mode queues in Redis instead and takes a pass
//! without waiting here.)
//!
//! **Re-entry.** A pass records the tokio task that took it. A task asking
//! again for a name it already holds would wait for itself for ever (the
//! lock is not reentrant), so it gets [`Error::WouldDeadlock`] at once. The
//! record follows the task, not the guard or the future: a guard moved into
//! another task still counts for the task that acquired it, and several
//! futures of one task (`join!`, `for_each_concurrent`) that lock the same
//! name get the error where they would otherwise queue behind each other.
//! Such code turns the check off with
//! [`reentry_check(false)`](crate::LockManagerBuilder::reentry_check).
//! Code outside any task (the body of `block_on`) has no task to record and
//! is not checked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;
use tokio::task::Id as TaskId;
use tokio::time::Instant;

use crate::error::{Error, Result};

type Gate = Arc<tokio::sync::Mutex<()>>;

/// The gates of one lock manager.
#[derive(Debug, Default)]
pub(crate) struct Gates {
    /// Whether a task that holds a name is refused it again.
    check_reentry: bool,
    gates: Mutex<HashMap<String, Gate>>,
    /// Per name, the tasks holding a pass (several only in fair mode, where
    /// local waiters queue in Redis).
    holders: Mutex<HashMap<String, Vec<TaskId>>>,
}

/// Passage through a gate; the next local waiter goes when this drops.
#[derive(Debug)]
pub(crate) struct GatePass {
    gates: Arc<Gates>,
    name: String,
    holder: Option<TaskId>,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Gates {
    pub(crate) fn new(check_reentry: bool) -> Self {
        Self {
            check_reentry,
            ..Self::default()
        }
    }

    /// Waits for the front of the local queue for `name`; `Ok(None)` if
    /// `deadline` passes first, [`Error::WouldDeadlock`] if this task
    /// already holds `name`.
    pub(crate) async fn enter(
        self: &Arc<Self>,
        name: &str,
        deadline: Option<Instant>,
    ) -> Result<Option<GatePass>> {
        let holder = self.refuse_reentry(name)?;
        let gate = self
            .gates
            .lock()
            .expect("gates lock")
            .entry(name.to_string())
            .or_default()
            .clone();
        let guard = match deadline {
            None => gate.lock_owned().await,
            Some(deadline) => match tokio::time::timeout_at(deadline, gate.lock_owned()).await {
                Ok(guard) => guard,
                Err(_) => return Ok(None),
            },
        };
        Ok(Some(self.pass(name, holder, Some(guard))))
    }

    /// A pass that does not wait (fair mode queues in Redis), recording the
    /// holder; [`Error::WouldDeadlock`] if this task already holds `name`.
    pub(crate) fn mark(self: &Arc<Self>, name: &str) -> Result<GatePass> {
        let holder = self.refuse_reentry(name)?;
        Ok(self.pass(name, holder, None))
    }

    /// The current task (to record), unless it already holds `name`.
    fn refuse_reentry(&self, name: &str) -> Result<Option<TaskId>> {
        if !self.check_reentry {
            return Ok(None);
        }
        let task = tokio::task::try_id();
        let holders = self.holders.lock().expect("holders lock");
        if let Some(task) = task
            && holders.get(name).is_some_and(|tasks| tasks.contains(&task))
        {
            return Err(Error::WouldDeadlock {
                name: name.to_string(),
            });
        }
        Ok(task)
    }

    fn pass(
        self: &Arc<Self>,
        name: &str,
        holder: Option<TaskId>,
        guard: Option<OwnedMutexGuard<()>>,
    ) -> GatePass {
        if let Some(task) = holder {
            let mut holders = self.holders.lock().expect("holders lock");
            holders.entry(name.to_string()).or_default().push(task);
        }
        GatePass {
            gates: self.clone(),
            name: name.to_string(),
            holder,
            guard,
        }
    }

    fn forget_holder(&self, name: &str, task: TaskId) {
        let mut holders = self.holders.lock().expect("holders lock");
        if let Some(tasks) = holders.get_mut(name) {
            if let Some(at) = tasks.iter().position(|held| *held == task) {
                tasks.swap_remove(at);
            }
            if tasks.is_empty() {
                holders.remove(name);
            }
        }
    }
}

impl Drop for GatePass {
    fn drop(&mut self) {
        if let Some(task) = self.holder.take() {
            self.gates.forget_holder(&self.name, task);
        }
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

//! State shared by a manager's clones, guards, permits and watchdogs, in
//! its own file so the parts that use it (lease, semaphore, waiting,
//! watchdog, builder) depend on it, not on the manager they serve.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::Backend;
use crate::gate::Gates;
use crate::stats::Counters;
use crate::wakeups::Wakeups;
use crate::watchdog::Watchdog;

/// A manager's settings, fixed at build time.
pub(crate) struct Settings {
    pub(crate) prefix: String,
    pub(crate) lease: Duration,
    pub(crate) fair: bool,
    pub(crate) fair_wait: Duration,
    pub(crate) max_hold: Option<Duration>,
}

/// State shared by a manager's clones, guards, permits and watchdogs.
pub(crate) struct Shared {
    pub(crate) backend: Backend,
    pub(crate) wakeups: Wakeups,
    pub(crate) gates: Arc<Gates>,
    pub(crate) settings: Settings,
    pub(crate) counters: Arc<Counters>,
    pub(crate) watchdog: Watchdog,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("backend", &self.backend)
            .field("lease", &self.settings.lease)
            .field("fair", &self.settings.fair)
            .finish_non_exhaustive()
    }
}

/// A random owner id: 128 bits, so two guards never share one.
pub(crate) fn new_owner_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

//! The Redis keys of one queue, all under one hash tag.
//!
//! A run of the experiment gets a fresh id, and each Redis variant its own
//! prefix, so runs never see each other's jobs:
//!
//! ```text
//! diy-queue:{3f2a9c1e:reliable}:queue              the jobs waiting (a list)
//! diy-queue:{3f2a9c1e:reliable}:consumers          ids of registered consumers (a set)
//! diy-queue:{3f2a9c1e:reliable}:processing:<id>    jobs a consumer holds (a list)
//! diy-queue:{3f2a9c1e:reliable}:heartbeat:<id>     present while that consumer lives (TTL)
//! diy-queue:{3f2a9c1e:reliable}:completed          job -> times completed (a hash)
//! diy-queue:{3f2a9c1e:reliable}:started            job -> times started (a hash)
//! ```
//!
//! The braces make every key of a queue hash to one Redis Cluster slot, so
//! the scripts that touch several of them (the reaper's move) stay legal
//! on a cluster.

/// Names every key of one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// The keys of queue `name` (for instance `<run id>:naive`).
    pub fn new(name: &str) -> Self {
        Self {
            prefix: format!("diy-queue:{{{name}}}"),
        }
    }

    /// The list of waiting jobs: producers `LPUSH`, consumers take from the right.
    pub fn queue(&self) -> String {
        format!("{}:queue", self.prefix)
    }

    /// The set of registered consumer ids (the reliable variant).
    pub fn consumers(&self) -> String {
        format!("{}:consumers", self.prefix)
    }

    /// The list of jobs consumer `id` took and has not acknowledged yet.
    pub fn processing(&self, id: &str) -> String {
        format!("{}:processing:{id}", self.prefix)
    }

    /// The key whose presence says consumer `id` is alive.
    pub fn heartbeat(&self, id: &str) -> String {
        format!("{}:heartbeat:{id}", self.prefix)
    }

    /// The ledger of completions (job id -> how many times it completed).
    pub fn completed(&self) -> String {
        format!("{}:completed", self.prefix)
    }

    /// The ledger of starts (job id -> how many times a consumer began it).
    pub fn started(&self) -> String {
        format!("{}:started", self.prefix)
    }

    /// A `SCAN` pattern matching every key of this queue (for clean-up).
    pub fn pattern(&self) -> String {
        // `{`, `}` are not glob characters, but `[`/`]`/`*`/`?` in a name would be.
        format!("{}:*", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::Keys;

    #[test]
    fn every_key_shares_the_hash_tag() {
        let keys = Keys::new("run1:reliable");
        for key in [
            keys.queue(),
            keys.consumers(),
            keys.processing("c1"),
            keys.heartbeat("c1"),
            keys.completed(),
            keys.started(),
        ] {
            assert!(key.starts_with("diy-queue:{run1:reliable}:"), "{key}");
        }
        assert_ne!(keys.processing("c1"), keys.processing("c2"));
    }
}

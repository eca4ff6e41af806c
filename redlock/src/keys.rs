//! Redis key names of a lock.
//!
//! Every key of one lock shares a hash tag (`{name}`), so on Redis Cluster
//! the lock, its fencing counter and its fair queue live in one slot and a
//! single script can touch them all. The pub/sub channel is not a key: in a
//! cluster, `PUBLISH` reaches subscribers on every node.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{prefix}:{name}:lock` | string, expires with the lease | the owner id of the current holder |
//! | `{prefix}:{name}:fence` | integer | the last fencing token handed out |
//! | `{prefix}:{name}:queue` | list | fair mode: waiting owner ids, oldest first |
//! | `{prefix}:{name}:deadlines` | sorted set | fair mode: when each waiter stops counting |
//! | `{prefix}:{name}:permits` | sorted set | semaphores: permit id → lease expiry (ms) |
//! | channel `{prefix}:{name}:released` | pub/sub | a message on every release |
//!
//! (`{prefix}` is the manager's prefix, `redlock` by default; `{name}` is
//! written literally with its braces.)

/// The keys and channel of one named lock or semaphore.
#[derive(Debug, Clone)]
pub(crate) struct LockKeys {
    pub(crate) name: String,
    pub(crate) lock: String,
    pub(crate) fence: String,
    pub(crate) queue: String,
    pub(crate) deadlines: String,
    pub(crate) permits: String,
    pub(crate) channel: String,
}

impl LockKeys {
    pub(crate) fn new(prefix: &str, name: &str) -> Self {
        // Braces inside the name would end the hash tag early.
        let tag = name.replace(['{', '}'], "_");
        let base = format!("{prefix}:{{{tag}}}");
        Self {
            name: name.to_string(),
            lock: format!("{base}:lock"),
            fence: format!("{base}:fence"),
            queue: format!("{base}:queue"),
            deadlines: format!("{base}:deadlines"),
            permits: format!("{base}:permits"),
            channel: format!("{base}:released"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::LockKeys;

    #[test]
    fn all_keys_share_one_hash_tag() {
        let keys = LockKeys::new("redlock", "stock:100");
        for key in [
            &keys.lock,
            &keys.fence,
            &keys.queue,
            &keys.deadlines,
            &keys.permits,
        ] {
            assert!(key.starts_with("redlock:{stock:100}:"), "{key}");
        }
    }

    #[test]
    fn braces_in_names_cannot_break_the_tag() {
        let keys = LockKeys::new("redlock", "a}b{c");
        assert_eq!(keys.lock, "redlock:{a_b_c}:lock");
    }
}

//! Redis key names of a namespace.
//!
//! | key | holds |
//! |---|---|
//! | `{namespace}:{key}` written as `item:{42}` | the entry (value, freshness, load time) |
//! | `item:{42}:lease` | the fill lease: token of the caller allowed to write the entry |
//! | channel `item:invalidate` | key names whose local copies must go |
//! | channel `item:filled` | key names just filled (wakes callers waiting for the fill) |
//!
//! The key part is wrapped in a hash tag (`{42}`), so on Redis Cluster an
//! entry and its lease share a slot and one script can check the lease and
//! write the entry. A key containing braces has them replaced by `_`.

/// The names one namespace uses.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    namespace: String,
    pub(crate) invalidate_channel: String,
    pub(crate) filled_channel: String,
}

impl Keys {
    pub(crate) fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            invalidate_channel: format!("{namespace}:invalidate"),
            filled_channel: format!("{namespace}:filled"),
        }
    }

    /// The entry's key for a rendered cache key.
    pub(crate) fn entry(&self, key: &str) -> String {
        format!("{}:{{{}}}", self.namespace, key.replace(['{', '}'], "_"))
    }

    pub(crate) fn lease(entry_key: &str) -> String {
        format!("{entry_key}:lease")
    }
}

#[cfg(test)]
mod tests {
    use super::Keys;

    #[test]
    fn entry_and_lease_share_the_hash_tag() {
        let keys = Keys::new("item");
        let entry = keys.entry("42");
        assert_eq!(entry, "item:{42}");
        assert_eq!(Keys::lease(&entry), "item:{42}:lease");
        assert_eq!(keys.entry("a{b}"), "item:{a_b_}");
    }
}

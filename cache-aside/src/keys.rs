//! Redis key names of a namespace.
//!
//! | key | holds |
//! |---|---|
//! | `{namespace}:{key}` written as `item:{42}` | the entry (value, freshness, load time) |
//! | `item:{42}:lease` | the fill lease: token of the caller allowed to write the entry |
//! | channel `item:invalidate` | key names whose local copies must go |
//! | channel `item:filled` | key names just filled (wakes callers waiting for the fill) |
//!
//! The key part is wrapped in a hash tag (`{42}`), so an entry and its lease
//! always hash to the same Cluster slot. Inside the tag, `%`, `{` and `}` are
//! percent-encoded (`%25`, `%7B`, `%7D`), so distinct keys never collide, and
//! the empty key is written `%` (a lone `%` cannot come from encoding).

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
        let tag = if key.is_empty() {
            "%".to_string()
        } else {
            key.replace('%', "%25")
                .replace('{', "%7B")
                .replace('}', "%7D")
        };
        format!("{}:{{{tag}}}", self.namespace)
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
        assert_eq!(keys.entry("a{b}"), "item:{a%7Bb%7D}");
        assert_ne!(keys.entry("a{b}"), keys.entry("a_b_"));
        assert_ne!(keys.entry("%7B"), keys.entry("{"));
        assert_eq!(keys.entry(""), "item:{%}");
    }
}

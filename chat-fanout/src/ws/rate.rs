//! A per-user limit on the messages a user's sockets may publish.
//!
//! A token bucket per user, shared by all of the user's sockets on this
//! bridge: the bucket holds at most `burst` tokens, refills at `per_second`,
//! and each published message takes one. A message that finds the bucket
//! empty is not published; the client gets an `error` frame with code
//! `rate_limited` and may send again later. A user's bucket lives as long
//! as one of their sockets does.
//!
//! The limit is per process: a user holding sockets on two instances gets
//! each instance's allowance. That bounds what one socket, or one client
//! opening many, can push through an instance, which is the point.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many messages a user may publish (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained messages per second.
    pub per_second: f64,
    /// Messages that may be sent at once after a quiet spell.
    pub burst: u32,
}

impl RateLimit {
    /// `per_second` sustained, bursts of `burst`.
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self {
            per_second: per_second.max(0.0),
            burst: burst.max(1),
        }
    }
}

impl Default for RateLimit {
    /// 5 messages a second, bursts of 20: more than a person types.
    fn default() -> Self {
        Self::new(5.0, 20)
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
    sockets: usize,
}

/// The buckets of every user with an open socket.
#[derive(Debug, Clone, Default)]
pub(crate) struct Limiter {
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

impl Limiter {
    /// Registers a socket of `user`; the returned guard unregisters it.
    pub(crate) fn join(&self, user: &str, limit: RateLimit) -> UserBucket {
        let mut buckets = self.buckets.lock().expect("not poisoned");
        let bucket = buckets.entry(user.to_string()).or_insert_with(|| Bucket {
            tokens: f64::from(limit.burst),
            refilled: Instant::now(),
            sockets: 0,
        });
        bucket.sockets += 1;
        UserBucket {
            limiter: self.clone(),
            user: user.to_string(),
            limit,
        }
    }
}

/// One socket's handle on its user's bucket.
#[derive(Debug)]
pub(crate) struct UserBucket {
    limiter: Limiter,
    user: String,
    limit: RateLimit,
}

impl UserBucket {
    /// Takes a token at `now`; `false` when the user is over the limit.
    pub(crate) fn take(&self, now: Instant) -> bool {
        let mut buckets = self.limiter.buckets.lock().expect("not poisoned");
        let Some(bucket) = buckets.get_mut(&self.user) else {
            return false;
        };
        let elapsed = now.saturating_duration_since(bucket.refilled);
        bucket.tokens = refill(bucket.tokens, elapsed, self.limit);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Drop for UserBucket {
    fn drop(&mut self) {
        let mut buckets = self.limiter.buckets.lock().expect("not poisoned");
        if let Some(bucket) = buckets.get_mut(&self.user) {
            bucket.sockets -= 1;
            if bucket.sockets == 0 {
                buckets.remove(&self.user);
            }
        }
    }
}

fn refill(tokens: f64, elapsed: Duration, limit: RateLimit) -> f64 {
    (tokens + elapsed.as_secs_f64() * limit.per_second).min(f64::from(limit.burst))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let limiter = Limiter::default();
        let bucket = limiter.join("ann", RateLimit::new(2.0, 3));
        let start = Instant::now();
        assert!((0..3).all(|_| bucket.take(start)));
        assert!(!bucket.take(start));
        assert!(bucket.take(start + Duration::from_millis(500)));
        assert!(!bucket.take(start + Duration::from_millis(600)));
    }

    #[test]
    fn a_users_sockets_share_one_bucket_which_goes_with_the_last() {
        let limiter = Limiter::default();
        let limit = RateLimit::new(1.0, 2);
        let (one, two) = (limiter.join("ann", limit), limiter.join("ann", limit));
        let now = Instant::now();
        assert!(one.take(now) && two.take(now));
        assert!(!one.take(now) && !two.take(now));
        let other = limiter.join("bob", limit);
        assert!(other.take(now));
        drop((one, two));
        assert!(!limiter.buckets.lock().unwrap().contains_key("ann"));
    }
}

//! Sliding-window rankings on Redis sorted sets: which buckets a count goes
//! into, and which buckets a window adds up.
//!
//! A count goes into two buckets: its minute and its hour. A window is the
//! sum (`ZUNIONSTORE`) of the buckets it covers:
//!
//! | window | buckets | slides by | resolution |
//! |---|---|---|---|
//! | `1h` | the current minute and the 59 before it | minute | the last hour to the minute |
//! | `1d` | the current hour and the 23 before it | hour | 23 to 24 hours back |
//!
//! Why buckets and not one set with a score per event (`ZADD` with
//! timestamps, `ZREMRANGEBYSCORE` to slide): that keeps one member per
//! *event*, so the set grows with the traffic; buckets keep one member per
//! *item or keyword* per bucket. A day at minute resolution would add 1,440
//! sets per query; at hour resolution it adds 24, and a daily ranking does
//! not need to know which minute an hour-old view came in.
//!
//! Every key of one ranking carries the same hash tag (`{rank:views}:…`),
//! so the union runs on one Redis Cluster slot. Buckets expire once no
//! window can reach them.

use std::time::Duration;

/// A bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// One minute.
    Minute,
    /// One hour.
    Hour,
}

impl Bucket {
    fn seconds(self) -> i64 {
        match self {
            Bucket::Minute => 60,
            Bucket::Hour => 3600,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Bucket::Minute => "m",
            Bucket::Hour => "h",
        }
    }

    /// How long a bucket is kept: the longest window reading it, plus one
    /// bucket of slack.
    pub fn lifetime(self) -> Duration {
        match self {
            Bucket::Minute => Duration::from_secs(61 * 60),
            Bucket::Hour => Duration::from_secs(25 * 3600),
        }
    }
}

/// A ranking window a client can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The last hour, by minute.
    Hour,
    /// The last day, by hour.
    Day,
}

impl Window {
    /// Parses `1h` or `1d`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "1h" => Some(Window::Hour),
            "1d" => Some(Window::Day),
            _ => None,
        }
    }

    fn bucket(self) -> (Bucket, i64) {
        match self {
            Window::Hour => (Bucket::Minute, 60),
            Window::Day => (Bucket::Hour, 24),
        }
    }
}

/// The key of the bucket of `width` holding unix second `at`, in ranking
/// `name`.
pub fn bucket_key(name: &str, width: Bucket, at: i64) -> String {
    format!(
        "{{rank:{name}}}:{}:{}",
        width.tag(),
        at.div_euclid(width.seconds())
    )
}

/// The bucket keys `window` adds up at unix second `now`, newest first.
pub fn window_keys(name: &str, window: Window, now: i64) -> Vec<String> {
    let (width, count) = window.bucket();
    (0..count)
        .map(|back| bucket_key(name, width, now - back * width.seconds()))
        .collect()
}

/// Where the union of a window is written (read at once, then deleted).
pub fn union_key(name: &str, nonce: &str) -> String {
    format!("{{rank:{name}}}:union:{nonce}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_lands_in_its_minute_and_its_hour() {
        let at = 1_800_000_123; // 30,000,002 minutes and 3 s; hour 500,000
        assert_eq!(
            bucket_key("views", Bucket::Minute, at),
            "{rank:views}:m:30000002"
        );
        assert_eq!(
            bucket_key("views", Bucket::Hour, at),
            "{rank:views}:h:500000"
        );
    }

    #[test]
    fn the_hour_window_is_sixty_minutes_ending_now() {
        let now = 1_800_000_123;
        let keys = window_keys("views", Window::Hour, now);
        assert_eq!(keys.len(), 60);
        assert_eq!(keys[0], bucket_key("views", Bucket::Minute, now));
        assert_eq!(keys[59], bucket_key("views", Bucket::Minute, now - 59 * 60));
        // A minute later the window has slid by one bucket.
        let later = window_keys("views", Window::Hour, now + 60);
        assert_eq!(later[1..], keys[..59]);
    }

    #[test]
    fn the_day_window_is_twenty_four_hours_and_every_key_shares_a_slot() {
        let keys = window_keys("keywords", Window::Day, 1_800_000_123);
        assert_eq!(keys.len(), 24);
        assert!(keys.iter().all(|k| k.starts_with("{rank:keywords}:h:")));
        assert!(union_key("keywords", "x").starts_with("{rank:keywords}:"));
    }

    #[test]
    fn only_the_two_windows_parse() {
        assert_eq!(Window::parse("1h"), Some(Window::Hour));
        assert_eq!(Window::parse("1d"), Some(Window::Day));
        assert_eq!(Window::parse("7d"), None);
        assert_eq!(Window::parse(""), None);
    }

    #[test]
    fn buckets_outlive_the_windows_that_read_them() {
        assert!(Bucket::Minute.lifetime() > Duration::from_secs(3600));
        assert!(Bucket::Hour.lifetime() > Duration::from_secs(24 * 3600));
    }
}

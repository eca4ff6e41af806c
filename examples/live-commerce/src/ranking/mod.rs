//! Rankings: the most viewed items and the most searched keywords over the
//! last hour or day (see [`window`] for how the windows slide).
//!
//! | endpoint | what it does |
//! |---|---|
//! | `POST /api/items/{id}/views` | counts a view ([`views`]: durably, and in the ranking only after the commit) |
//! | `GET /api/search?q=` | searches item names and counts the keyword ([`search`]) |
//! | `GET /api/ranking/items?window=1h&limit=10` | the most viewed items |
//! | `GET /api/ranking/keywords?window=1d&limit=10` | the most searched keywords |

pub mod api;
pub mod search;
pub mod views;
pub mod window;

use std::sync::LazyLock;

use redis::aio::ConnectionManager;
use window::{Bucket, Window};

static TOP: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(include_str!("top.lua")));

/// The item-view ranking's name.
pub const VIEWS: &str = "views";
/// The search-keyword ranking's name.
pub const KEYWORDS: &str = "keywords";

/// One ranking in Redis.
#[derive(Clone)]
pub struct Ranking {
    name: &'static str,
    redis: ConnectionManager,
}

impl Ranking {
    /// The ranking `name` ([`VIEWS`], [`KEYWORDS`]).
    pub fn new(name: &'static str, redis: ConnectionManager) -> Self {
        Self { name, redis }
    }

    /// Counts one event for `member` now.
    pub async fn record(&self, member: &str) -> redis::RedisResult<()> {
        self.record_at(member, now()).await
    }

    /// Counts one event for `member` at unix second `at`.
    pub async fn record_at(&self, member: &str, at: i64) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        for bucket in [Bucket::Minute, Bucket::Hour] {
            let key = window::bucket_key(self.name, bucket, at);
            pipe.zincr(&key, member, 1).ignore();
            pipe.expire(&key, bucket.lifetime().as_secs() as i64)
                .ignore();
        }
        pipe.query_async(&mut self.redis.clone()).await
    }

    /// The `limit` best members of `window` at unix second `now`, with
    /// their counts, best first (ties alphabetically).
    pub async fn top_at(
        &self,
        window: Window,
        limit: usize,
        now: i64,
    ) -> redis::RedisResult<Vec<(String, f64)>> {
        let scratch = window::union_key(self.name, &uuid::Uuid::new_v4().simple().to_string());
        let mut call = TOP.key(scratch);
        for key in window::window_keys(self.name, window, now) {
            call.key(key);
        }
        let mut top: Vec<(String, f64)> = call
            .arg(limit)
            .invoke_async(&mut self.redis.clone())
            .await?;
        // Redis orders equal scores by member, reversed with `REV`; ties read
        // better alphabetically.
        top.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(top)
    }

    /// The `limit` best members of `window` now.
    pub async fn top(
        &self,
        window: Window,
        limit: usize,
    ) -> redis::RedisResult<Vec<(String, f64)>> {
        self.top_at(window, limit, now()).await
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

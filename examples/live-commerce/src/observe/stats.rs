//! The crates' counters, exported as Prometheus counters at each scrape.
//!
//! Each crate keeps its own counters (relaxed atomics, no metrics
//! dependency) and hands out a snapshot. A [`StatsSource`] holds what reads
//! one; when `/metrics` is scraped, every source's snapshot is copied into
//! the registry with `Counter::absolute`, so the page shows the crate's own
//! totals since the process started. The tables below map each field to
//! its metric:
//!
//! | source | metrics (all `…_total`, labelled `role`) |
//! |---|---|
//! | [`cache`](StatsSource::cache) (`cache="item"`) | `cache_hits_total{tier="local"\|"redis"}`, `cache_misses_total`, `cache_loads_total`, `cache_load_errors_total`, `cache_stale_served_total`, … |
//! | [`locks`](StatsSource::locks) | `lock_acquisitions_total`, `lock_waits_total`, `lock_timeouts_total`, `lock_renewals_total`, `lock_renewal_retries_total`, `lock_lost_leases_total`, … |
//! | [`sessions`](StatsSource::sessions) | `sessions_created_total`, `sessions_loads_total`, `sessions_saves_total`, `sessions_deleted_total`, `sessions_revoked_total`, … |
//! | [`consumer`](StatsSource::consumer) (`consumer="orders"`) | `mq_consumed_total`, `mq_acked_total`, `mq_retries_total`, `mq_dead_letters_total`, `mq_redelivered_total`, … |

use std::sync::Arc;

use cache_aside::{Cache, CacheStats};
use metrics::Label;
use mq_reliable::{ConsumerStats, StatsHandle};
use redlock::{LockManager, LockStats};
use session_store::{RedisStore, StoreStats};

/// Reads a snapshot of some counters.
type Snapshot<T> = Arc<dyn Fn() -> T + Send + Sync>;

/// Where some of a crate's counters come from. Cheap to clone.
#[derive(Clone)]
pub struct StatsSource(Source);

#[derive(Clone)]
enum Source {
    Cache {
        name: &'static str,
        stats: Snapshot<CacheStats>,
    },
    Locks(Snapshot<LockStats>),
    Sessions(Snapshot<StoreStats>),
    Consumer {
        name: &'static str,
        stats: Snapshot<ConsumerStats>,
    },
}

impl std::fmt::Debug for StatsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.0 {
            Source::Cache { name, .. } => format!("cache {name}"),
            Source::Locks(_) => "locks".into(),
            Source::Sessions(_) => "sessions".into(),
            Source::Consumer { name, .. } => format!("consumer {name}"),
        };
        f.debug_tuple("StatsSource").field(&kind).finish()
    }
}

impl StatsSource {
    /// A cache-aside cache's counters, labelled `cache="{name}"`.
    pub fn cache<K, V>(name: &'static str, cache: &Cache<K, V>) -> Self
    where
        K: std::fmt::Display + ?Sized + 'static,
        V: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let cache = cache.clone();
        Self(Source::Cache {
            name,
            stats: Arc::new(move || cache.stats()),
        })
    }

    /// A lock manager's counters (locks and semaphores).
    pub fn locks(locks: &LockManager) -> Self {
        let locks = locks.clone();
        Self(Source::Locks(Arc::new(move || locks.stats())))
    }

    /// A session store's counters.
    pub fn sessions(store: &RedisStore) -> Self {
        let store = store.clone();
        Self(Source::Sessions(Arc::new(move || store.stats())))
    }

    /// A consumer's counters (AMQP or Kafka: `consumer.stats_handle()`),
    /// labelled `consumer="{name}"`. The handle outlives the borrow that
    /// `run` holds on the consumer.
    pub fn consumer(name: &'static str, stats: StatsHandle) -> Self {
        Self(Source::Consumer {
            name,
            stats: Arc::new(move || stats.snapshot()),
        })
    }

    /// Copies the current counters into the process's registry, each
    /// labelled `role="{role}"` besides its own labels.
    pub fn export(&self, role: &'static str) {
        let role = Label::new("role", role);
        match &self.0 {
            Source::Cache { name, stats } => {
                write(CACHE, &stats(), &[role, Label::new("cache", *name)]);
            }
            Source::Locks(stats) => write(LOCKS, &stats(), &[role]),
            Source::Sessions(stats) => write(SESSIONS, &stats(), &[role]),
            Source::Consumer { name, stats } => {
                write(CONSUMER, &stats(), &[role, Label::new("consumer", *name)]);
            }
        }
    }
}

/// One field of a stats snapshot and the counter it becomes.
struct Counter<S> {
    /// The metric's name.
    name: &'static str,
    /// Labels telling apart fields that share the name (`tier`).
    labels: &'static [(&'static str, &'static str)],
    /// The HELP line.
    help: &'static str,
    /// Reads the field.
    read: fn(&S) -> u64,
}

/// Sets every counter of `table` from `stats`, with `labels` and its own.
fn write<S>(table: &[Counter<S>], stats: &S, labels: &[Label]) {
    for counter in table {
        let own = counter.labels.iter().map(|(k, v)| Label::new(*k, *v));
        let all: Vec<Label> = labels.iter().cloned().chain(own).collect();
        metrics::counter!(counter.name, all).absolute((counter.read)(stats));
    }
}

/// The HELP lines of every table's counters (once, when the registry is
/// installed).
pub(super) fn describe() {
    fn each<S>(table: &[Counter<S>]) {
        for counter in table {
            metrics::describe_counter!(counter.name, counter.help);
        }
    }
    each(CACHE);
    each(LOCKS);
    each(SESSIONS);
    each(CONSUMER);
}

/// Shorthand for a table row without labels of its own.
const fn row<S>(name: &'static str, read: fn(&S) -> u64, help: &'static str) -> Counter<S> {
    Counter {
        name,
        labels: &[],
        help,
        read,
    }
}

// Laid out as tables (one row a counter), which rustfmt would break up.
#[rustfmt::skip]
const CACHE: &[Counter<CacheStats>] = &[
    Counter { name: "cache_hits_total", labels: &[("tier", "local")], help: HITS, read: |s| s.hits_l1 },
    Counter { name: "cache_hits_total", labels: &[("tier", "redis")], help: HITS, read: |s| s.hits_l2 },
    row("cache_misses_total",         |s| s.misses,         "Reads found in neither tier."),
    row("cache_loads_total",          |s| s.loads,          "Loader calls made."),
    row("cache_load_errors_total",    |s| s.load_errors,    "Loader calls that failed."),
    row("cache_stale_served_total",   |s| s.stale_served,   "Stale values served."),
    row("cache_refreshes_total",      |s| s.refreshes,      "Early refreshes started."),
    row("cache_fills_rejected_total", |s| s.fills_rejected, "Fills refused after an invalidation."),
    row("cache_fill_waits_total",     |s| s.fill_waits,     "Waits for another caller's fill."),
    row("cache_redis_errors_total",   |s| s.redis_errors,   "Redis operations that failed."),
    row("cache_redis_skipped_total",  |s| s.redis_skipped,  "Calls that skipped Redis (breaker open)."),
    row("cache_local_flushes_total",  |s| s.l1_flushes,     "Local tier flushes after a resubscription."),
];

/// The HELP line of both tiers' hits.
const HITS: &str = "Reads answered from the cache, by tier.";

#[rustfmt::skip]
const LOCKS: &[Counter<LockStats>] = &[
    row("lock_acquisitions_total",     |s| s.acquisitions,     "Locks and permits acquired."),
    row("lock_waits_total",            |s| s.waits,            "Acquisitions that had to wait."),
    row("lock_timeouts_total",         |s| s.timeouts,         "Acquisitions that gave up at their deadline."),
    row("lock_renewals_total",         |s| s.renewals,         "Lease renewals by the watchdog."),
    row("lock_renewal_retries_total",  |s| s.renewal_retries,  "Renewals repeated after a failure."),
    row("lock_lost_leases_total",      |s| s.lost_leases,      "Leases lost while held."),
    row("lock_releases_total",         |s| s.releases,         "Explicit releases."),
    row("lock_dropped_releases_total", |s| s.dropped_releases, "Guards dropped, released in the background."),
];

#[rustfmt::skip]
const SESSIONS: &[Counter<StoreStats>] = &[
    row("sessions_loads_total",           |s| s.loads,                  "Sessions read."),
    row("sessions_load_misses_total",     |s| s.load_misses,            "Reads that found no live session."),
    row("sessions_created_total",         |s| s.creates,                "Sessions created."),
    row("sessions_id_collisions_total",   |s| s.id_collisions,          "Fresh ids redrawn after a collision."),
    row("sessions_saves_total",           |s| s.saves,                  "Saves of existing sessions."),
    row("sessions_merged_saves_total",    |s| s.merged_saves,           "Saves merged with another writer's."),
    row("sessions_replacing_saves_total", |s| s.replacing_saves,        "Saves that replaced every value."),
    row("sessions_gone_saves_total",      |s| s.saves_of_gone_sessions, "Saves dropped: the session was gone."),
    row("sessions_deleted_total",         |s| s.deletes,                "Sessions deleted (logout)."),
    row("sessions_revoked_total",         |s| s.revoked,                "Sessions revoked (log out everywhere)."),
    row("sessions_evicted_total",         |s| s.evicted,                "Sessions evicted by the per-user limit."),
    row("sessions_redis_errors_total",    |s| s.redis_errors,           "Redis operations that failed."),
];

#[rustfmt::skip]
const CONSUMER: &[Counter<ConsumerStats>] = &[
    row("mq_consumed_total",         |s| s.consumed,      "Deliveries received."),
    row("mq_acked_total",            |s| s.acked,         "Deliveries acknowledged after success."),
    row("mq_retries_total",          |s| s.retried,       "Failures scheduled for a retry."),
    row("mq_dead_letters_total",     |s| s.dead_lettered, "Messages moved to the dead-letter queue."),
    row("mq_redelivered_total",      |s| s.redelivered,   "Deliveries flagged redelivered."),
    row("mq_handler_panics_total",   |s| s.panicked,      "Handler panics."),
    row("mq_handler_timeouts_total", |s| s.timed_out,     "Handler timeouts."),
    row("mq_acks_lost_total",        |s| s.acks_lost,     "Acknowledgements lost with their channel."),
    row("mq_connects_total",         |s| s.connects,      "(Re)connections (Kafka: partition assignments)."),
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::*;

    #[test]
    fn every_series_is_a_distinct_total() {
        fn series<S>(table: &[Counter<S>]) -> Vec<String> {
            table
                .iter()
                .map(|c| format!("{}{:?}", c.name, c.labels))
                .collect()
        }
        let all: Vec<String> = [
            series(CACHE),
            series(LOCKS),
            series(SESSIONS),
            series(CONSUMER),
        ]
        .concat();
        assert!(all.iter().all(|name| name.contains("_total")), "{all:?}");
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), all.len());
    }

    #[test]
    fn a_scrape_copies_the_snapshot_with_its_labels() {
        let source = StatsSource(Source::Cache {
            name: "item",
            stats: Arc::new(|| CacheStats {
                hits_l1: 7,
                hits_l2: 3,
                misses: 2,
                ..CacheStats::default()
            }),
        });
        let consumer = StatsSource(Source::Consumer {
            name: "orders",
            stats: Arc::new(|| ConsumerStats {
                dead_lettered: 4,
                ..ConsumerStats::default()
            }),
        });
        let recorder = PrometheusBuilder::new().build_recorder();
        metrics::with_local_recorder(&recorder, || {
            source.export("catalog");
            consumer.export("worker");
        });
        let text = recorder.handle().render();
        for line in [
            r#"cache_hits_total{role="catalog",cache="item",tier="local"} 7"#,
            r#"cache_hits_total{role="catalog",cache="item",tier="redis"} 3"#,
            r#"cache_misses_total{role="catalog",cache="item"} 2"#,
            r#"mq_dead_letters_total{role="worker",consumer="orders"} 4"#,
            r#"mq_retries_total{role="worker",consumer="orders"} 0"#,
        ] {
            assert!(text.lines().any(|l| l == line), "no {line} in:\n{text}");
        }
    }
}

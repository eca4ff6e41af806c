//! Helpers shared by the benchmarks: knobs from the environment and the
//! figures every report prints.

use std::time::Duration;

/// A numeric knob from the environment (`MQ_BENCH_*`), or its default.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The median of the rounds.
pub fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// Items per second.
pub fn rate(items: u64, elapsed: Duration) -> f64 {
    items as f64 / elapsed.as_secs_f64()
}

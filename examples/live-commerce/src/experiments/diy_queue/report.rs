//! What the experiment prints: a table, or one JSON object (`--json`)
//! whose `variants` maps each variant's name to its counts.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::Variant;
use super::ledger::Tally;

/// One variant's measured outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Which queue.
    pub variant: Variant,
    /// Jobs enqueued, completed (distinct), lost, completed more than once.
    #[serde(flatten)]
    pub tally: Tally,
    /// Jobs begun but not completed by the killed process (the jobs in its
    /// hands at the kill).
    pub in_flight_at_kill: u64,
    /// Jobs per second completed by the first consumer process, from its
    /// start to the kill.
    pub jobs_per_s: f64,
    /// Seconds from the first consumer's start until nothing was pending:
    /// the kill, the restart and the recovery included.
    pub drain_s: f64,
    /// Whether the queue drained before the deadline.
    pub drained: bool,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Jobs per variant.
    pub jobs: u64,
    /// Consumer tasks per consumer process.
    pub consumers: usize,
    /// Milliseconds each job holds its consumer.
    pub work_ms: u64,
    /// The reliable variant's heartbeat TTL, in milliseconds.
    pub visibility_timeout_ms: u64,
    /// Completed jobs after which the first consumer process is killed.
    pub kill_at: u64,
    /// Seconds the whole run took.
    pub total_s: f64,
    /// One per variant, in the order run.
    pub outcomes: Vec<Outcome>,
}

impl Report {
    /// One JSON object: the settings, and `variants.<name>` with the counts.
    pub fn json(&self) -> Value {
        let variants: Map<String, Value> = self
            .outcomes
            .iter()
            .map(|outcome| {
                let value = serde_json::to_value(outcome).expect("plain data serializes");
                (outcome.variant.name().to_string(), value)
            })
            .collect();
        json!({
            "jobs": self.jobs,
            "consumers": self.consumers,
            "work_ms": self.work_ms,
            "visibility_timeout_ms": self.visibility_timeout_ms,
            "kill_at": self.kill_at,
            "total_s": round(self.total_s),
            "variants": variants,
        })
    }

    /// A readable table, one row per variant.
    pub fn table(&self) -> String {
        let mut out = format!(
            "diy-queue: {} jobs, {} consumers holding each job {} ms, kill -9 after {} completed, \
             visibility timeout {} ms\n\n",
            self.jobs, self.consumers, self.work_ms, self.kill_at, self.visibility_timeout_ms
        );
        out += "| variant  | jobs   | completed | lost | duplicated | in flight at kill | jobs/s | drain s |\n";
        out += "|----------|--------|-----------|------|------------|-------------------|--------|---------|\n";
        for o in &self.outcomes {
            let drain = if o.drained {
                format!("{:.2}", o.drain_s)
            } else {
                format!("{:.2} (deadline)", o.drain_s)
            };
            out += &format!(
                "| {:<8} | {:>6} | {:>9} | {:>4} | {:>10} | {:>17} | {:>6.0} | {:>7} |\n",
                o.variant.name(),
                o.tally.jobs,
                o.tally.completed,
                o.tally.lost,
                o.tally.duplicated,
                o.in_flight_at_kill,
                o.jobs_per_s,
                drain
            );
        }
        out += &format!("\ntotal {:.1} s", self.total_s);
        out
    }
}

fn round(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

//! The experiment's outcome: a table for people, one JSON object for
//! scripts.

use std::fmt::Write;

use serde::Serialize;

use super::trial::Trial;

/// Every mode's trial, with the run's parameters.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Always `async-vs-mq`.
    pub experiment: &'static str,
    /// Sign-ups per mode.
    pub signups: usize,
    /// How long composing one mail took, in milliseconds.
    pub delay_ms: u128,
    /// One per mode, in the order run.
    pub modes: Vec<Trial>,
}

impl Report {
    /// The trial of the mode named `name` (`in-process`, `mq`).
    pub fn mode(&self, name: &str) -> Option<&Trial> {
        self.modes.iter().find(|trial| trial.mode.name() == name)
    }

    /// The outcome as a table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "async-vs-mq: {} sign-ups per mode, {} ms to compose each mail, \
             kill -9 right after the last sign-up answered, then a restart\n\n",
            self.signups, self.delay_ms
        );
        let _ = writeln!(
            out,
            "{:<10}  {:>8}  {:>10}  {:>11}  {:>8}  {:>4}  {:>10}  {:>7}",
            "mode",
            "sign-ups",
            "sign-ups/s",
            "before kill",
            "received",
            "lost",
            "duplicated",
            "drain s"
        );
        for trial in &self.modes {
            let drain = trial
                .drain_seconds
                .map_or("-".to_string(), |seconds| format!("{seconds:.1}"));
            let _ = writeln!(
                out,
                "{:<10}  {:>8}  {:>10.1}  {:>11}  {:>8}  {:>4}  {:>10}  {:>7}",
                trial.mode.name(),
                trial.signups,
                trial.signups_per_second,
                trial.mailed_before_kill,
                trial.count.received,
                trial.count.lost,
                trial.count.duplicated,
                drain,
            );
        }
        out
    }
}

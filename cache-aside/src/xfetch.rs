//! XFetch: probabilistic early recomputation (Vattani, Chierichetti,
//! Lowenstein, "Optimal Probabilistic Cache Stampede Prevention", VLDB 2015).
//!
//! A reader recomputes a value early when
//! `now − δ · β · ln(u) ≥ expiry`, with `u` uniform in (0, 1], `δ` the time the
//! last recomputation took and `β ≥ 0` a tuning knob (1 is the paper's
//! optimum; larger refreshes earlier). The expected number of early
//! refreshes is about one per expiry, triggered close to it, and the
//! expensive keys (large δ) start earlier.

/// Whether a reader at `now_ms` should refresh an entry expiring at
/// `expiry_ms` whose last load took `load_ms`, given the random draw `u`.
pub(crate) fn should_refresh(now_ms: u64, expiry_ms: u64, load_ms: u64, beta: f64, u: f64) -> bool {
    if beta <= 0.0 {
        return false;
    }
    let u = u.clamp(f64::MIN_POSITIVE, 1.0);
    let gap = load_ms as f64 * beta * -u.ln();
    now_ms as f64 + gap >= expiry_ms as f64
}

#[cfg(test)]
mod tests {
    use super::should_refresh;

    #[test]
    fn never_refreshes_early_with_beta_zero() {
        assert!(!should_refresh(900, 1000, 500, 0.0, 0.0001));
    }

    #[test]
    fn probability_grows_towards_expiry() {
        // Over a grid of draws, the share that refreshes rises as expiry nears.
        let share = |now| {
            (1..=1000)
                .filter(|i| should_refresh(now, 10_000, 100, 1.0, *i as f64 / 1000.0))
                .count()
        };
        let far = share(9_000);
        let near = share(9_950);
        assert!(far < near, "{far} < {near}");
        assert_eq!(share(10_000), 1000, "at expiry every reader refreshes");
        // 1000 ms before expiry with δ = 100 ms needs u < e^-10: practically never.
        assert_eq!(far, 0);
    }

    #[test]
    fn expensive_loads_start_earlier() {
        let share = |load_ms| {
            (1..=1000)
                .filter(|i| should_refresh(9_800, 10_000, load_ms, 1.0, *i as f64 / 1000.0))
                .count()
        };
        assert!(share(50) < share(500));
    }
}

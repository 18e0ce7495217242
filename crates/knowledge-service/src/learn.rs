//! The seed's learning: confidence from decisions, when a rule may apply itself.

/// The seed's confidence formula over a pattern's decisions, oldest first:
/// `(approval_rate * 0.8 + min(n / 10, 0.2)) - 0.1 * rejections among the last 5`, clamped to
/// [0, 1].
pub fn confidence(decisions: &[&str]) -> f64 {
    let total = decisions.len();
    if total == 0 {
        return 0.0;
    }
    let approved = decisions.iter().filter(|d| **d == "approved").count();
    let approval_rate = approved as f64 / total as f64;
    let data_boost = (total as f64 / 10.0).min(0.2);
    let recent_rejections = decisions
        .iter()
        .rev()
        .take(5)
        .filter(|d| **d == "rejected")
        .count();
    let c = (approval_rate * 0.8 + data_boost) - recent_rejections as f64 * 0.1;
    c.clamp(0.0, 1.0)
}

/// Learning settings (seed: `confidence_threshold`, `min_occurrences`).
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Auto-apply when confidence ≥ this (default 0.80).
    pub threshold: f64,
    /// Approvals needed before auto-apply (default 3).
    pub min_approvals: usize,
    /// A rule whose success rate falls below this is switched off (default 0.5).
    pub success_floor: f64,
    /// Outcomes a rule needs before its success rate can switch it off (default 3).
    pub min_outcomes: usize,
    /// A correction whose issue comes back (same connection, sku and pattern) within this
    /// many seconds of being applied failed (default 7 days).
    pub recurrence_window_secs: i64,
}

impl Policy {
    /// From `MARKETSYNC_CONFIDENCE_THRESHOLD`, `MARKETSYNC_MIN_APPROVALS`,
    /// `MARKETSYNC_SUCCESS_FLOOR`, `MARKETSYNC_MIN_OUTCOMES`, `MARKETSYNC_RECURRENCE_WINDOW_SECS`.
    pub fn from_env() -> anyhow::Result<Self> {
        use marketsync_common::config::var_or;
        let p = Self {
            threshold: var_or("MARKETSYNC_CONFIDENCE_THRESHOLD", "0.80").parse()?,
            min_approvals: var_or("MARKETSYNC_MIN_APPROVALS", "3").parse()?,
            success_floor: var_or("MARKETSYNC_SUCCESS_FLOOR", "0.5").parse()?,
            min_outcomes: var_or("MARKETSYNC_MIN_OUTCOMES", "3").parse()?,
            recurrence_window_secs: var_or("MARKETSYNC_RECURRENCE_WINDOW_SECS", "604800")
                .parse()?,
        };
        anyhow::ensure!(
            (0.0..=1.0).contains(&p.threshold) && (0.0..=1.0).contains(&p.success_floor),
            "thresholds must be within 0..1"
        );
        Ok(p)
    }

    /// Whether a rule may apply itself.
    pub fn may_auto_apply(&self, confidence: f64, approvals: usize, rule_threshold: f64) -> bool {
        // The formula's sums are not exact in binary (3 of 4 approved gives 0.8 ± 1 ulp).
        approvals >= self.min_approvals && confidence + 1e-9 >= rule_threshold.max(0.0)
    }

    /// Whether a rule with these outcomes is to be switched off: enough outcomes, and a
    /// success rate below the floor.
    pub fn switch_off(&self, successes: i64, failures: i64) -> bool {
        let n = successes + failures;
        n > 0
            && n as usize >= self.min_outcomes.max(1)
            && success_rate(successes, failures) < self.success_floor
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            threshold: 0.8,
            min_approvals: 3,
            success_floor: 0.5,
            min_outcomes: 3,
            recurrence_window_secs: 7 * 24 * 3600,
        }
    }
}

/// successes / (successes + failures); 1 when there was no outcome yet.
pub fn success_rate(successes: i64, failures: i64) -> f64 {
    let n = successes + failures;
    if n <= 0 {
        1.0
    } else {
        successes.max(0) as f64 / n as f64
    }
}

/// The outcome a correction status counts as: `applied` a success (until the issue comes back
/// or it is undone), `failed`, `undone` (or its request) and `recurred` failures; `proposed` none.
pub fn outcome(status: &str) -> Option<&'static str> {
    match status {
        "applied" => Some("success"),
        "failed" | "undone" | "undo_requested" | "recurred" => Some("failure"),
        _ => None,
    }
}

/// (successes, failures) to add to a rule when a correction's outcome changes from `before` to
/// `after`: counted once, moved from success to failure when an applied correction recurs or
/// is undone.
pub fn outcome_delta(before: Option<&str>, after: Option<&str>) -> (i64, i64) {
    let v = |o: Option<&str>| match o {
        Some("success") => (1, 0),
        Some("failure") => (0, 1),
        _ => (0, 0),
    };
    let (a, b) = (v(after), v(before));
    (a.0 - b.0, a.1 - b.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_formula() {
        assert_eq!(confidence(&[]), 0.0);
        assert!((confidence(&["approved"]) - 0.9).abs() < 1e-9);
        assert!((confidence(&["approved"; 3]) - 1.0).abs() < 1e-9);
        // 2 approvals, 1 rejection: 2/3*0.8 + 0.3→0.2 - 0.1
        let c = confidence(&["approved", "rejected", "approved"]);
        assert!((c - (2.0 / 3.0 * 0.8 + 0.2 - 0.1)).abs() < 1e-9);
        assert_eq!(confidence(&["rejected"; 5]), 0.0);
    }

    #[test]
    fn three_approvals_needed() {
        let p = Policy::default();
        assert!(!p.may_auto_apply(confidence(&["approved"; 2]), 2, 0.8));
        assert!(p.may_auto_apply(confidence(&["approved"; 3]), 3, 0.8));
        // A modification then three approvals of the learned correction: 3/4*0.8 + 0.2.
        let taught = confidence(&["modified", "approved", "approved", "approved"]);
        assert!((taught - 0.8).abs() < 1e-9, "{taught}");
        assert!(p.may_auto_apply(taught, 3, 0.8));
        // A rule's own threshold is honoured.
        assert!(!p.may_auto_apply(taught, 3, 0.9));
    }

    #[test]
    fn the_seed_phases() {
        // Phase 2 shows the pattern's confidence after one approval, rising with each.
        let one = confidence(&["approved"]);
        let two = confidence(&["approved", "approved"]);
        assert!(two > one - 0.2 && two >= 0.9, "{one} {two}");
        // Rejections lower it.
        let mixed = confidence(&["approved", "approved", "approved", "rejected"]);
        assert!(mixed < confidence(&["approved"; 4]));
    }

    #[test]
    fn outcomes_move_from_success_to_failure() {
        assert_eq!(outcome("applied"), Some("success"));
        assert_eq!(outcome("recurred"), Some("failure"));
        assert_eq!(outcome("undone"), Some("failure"));
        assert_eq!(outcome("proposed"), None);
        assert_eq!(outcome_delta(None, Some("success")), (1, 0));
        assert_eq!(outcome_delta(Some("success"), Some("failure")), (-1, 1));
        assert_eq!(outcome_delta(Some("failure"), Some("failure")), (0, 0));
        assert_eq!(outcome_delta(None, Some("failure")), (0, 1));
        assert_eq!(outcome_delta(None, None), (0, 0));
    }

    #[test]
    fn success_rate_switches_a_rule_off_below_the_floor() {
        let p = Policy::default();
        assert_eq!(success_rate(0, 0), 1.0);
        assert!((success_rate(1, 3) - 0.25).abs() < 1e-9);
        // Too few outcomes to judge.
        assert!(!p.switch_off(0, 2));
        assert!(p.switch_off(1, 2));
        assert!(!p.switch_off(2, 1));
        assert!(!p.switch_off(5, 5));
        let strict = Policy {
            success_floor: 0.9,
            ..Policy::default()
        };
        assert!(strict.switch_off(8, 2));
    }
}

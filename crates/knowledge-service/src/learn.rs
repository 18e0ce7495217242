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
}

impl Policy {
    /// From `MARKETSYNC_CONFIDENCE_THRESHOLD`, `MARKETSYNC_MIN_APPROVALS`,
    /// `MARKETSYNC_SUCCESS_FLOOR`.
    pub fn from_env() -> anyhow::Result<Self> {
        use marketsync_common::config::var_or;
        let p = Self {
            threshold: var_or("MARKETSYNC_CONFIDENCE_THRESHOLD", "0.80").parse()?,
            min_approvals: var_or("MARKETSYNC_MIN_APPROVALS", "3").parse()?,
            success_floor: var_or("MARKETSYNC_SUCCESS_FLOOR", "0.5").parse()?,
        };
        anyhow::ensure!(
            (0.0..=1.0).contains(&p.threshold) && (0.0..=1.0).contains(&p.success_floor),
            "thresholds must be within 0..1"
        );
        Ok(p)
    }

    /// Whether a rule may apply itself.
    pub fn may_auto_apply(&self, confidence: f64, approvals: usize, rule_threshold: f64) -> bool {
        approvals >= self.min_approvals && confidence >= rule_threshold.max(0.0)
    }
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
        let p = Policy {
            threshold: 0.8,
            min_approvals: 3,
            success_floor: 0.5,
        };
        assert!(!p.may_auto_apply(confidence(&["approved"; 2]), 2, 0.8));
        assert!(p.may_auto_apply(confidence(&["approved"; 3]), 3, 0.8));
    }
}

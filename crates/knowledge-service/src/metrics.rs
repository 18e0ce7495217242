//! The knowledge service's Prometheus metrics (on its `/metrics`, prefixed
//! `marketsync_knowledge_`): counters of what happens, and the seed's metrics as gauges over
//! every tenant, refreshed from the database every `MARKETSYNC_KNOWLEDGE_STATS_SECS` (30 s).

use std::sync::atomic::AtomicU64;

use marketsync_common::health::Metrics;
use marketsync_proto::v1::KnowledgeStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

/// Labels of decisions.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// approved, rejected or modified.
    pub decision: String,
}

/// Labels of correction outcomes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// auto or human.
    pub origin: String,
    /// applied, failed, undone or recurred.
    pub outcome: String,
}

type F64Gauge = Gauge<f64, AtomicU64>;

/// The knowledge base's metrics.
#[derive(Clone, Default)]
pub struct KbMetrics {
    /// Decisions recorded, by decision.
    pub decisions: Family<DecisionLabels, Counter>,
    /// Correction outcomes, by origin and outcome.
    pub outcomes: Family<OutcomeLabels, Counter>,
    /// Issues recognised as a known pattern (phase 2).
    pub recognized: Counter,
    /// Corrections proposed by learned rules on their own (phase 3).
    pub auto_proposed: Counter,
    /// Rules switched off by their success rate.
    pub rules_switched_off: Counter,
    /// Corrections applied automatically / issues seen.
    pub auto_correction_rate: F64Gauge,
    /// Successful / (successful + failed + undone + recurred) corrections.
    pub correction_accuracy: F64Gauge,
    /// Mean seconds from an issue to a person's decision.
    pub human_review_seconds: F64Gauge,
    /// Patterns learned in the last 7 days.
    pub knowledge_growth: Gauge,
    /// Mean decision confidence of the last 30 days minus the mean before.
    pub confidence_trend: F64Gauge,
    /// Mean confidence of decisions.
    pub confidence_avg: F64Gauge,
    /// Patterns known.
    pub patterns: Gauge,
    /// Rules active.
    pub rules_active: Gauge,
    /// Issues seen.
    pub issues_seen: Gauge,
}

impl KbMetrics {
    /// Creates and registers them.
    pub fn register(m: &Metrics) -> Self {
        let k = Self::default();
        m.register(
            "decisions",
            "Decisions recorded, by decision",
            k.decisions.clone(),
        );
        m.register(
            "correction_outcomes",
            "Correction outcomes (applied, failed, undone, recurred), by origin",
            k.outcomes.clone(),
        );
        m.register(
            "issues_recognized",
            "Issues recognised as a known pattern with decisions (phase 2)",
            k.recognized.clone(),
        );
        m.register(
            "auto_corrections_proposed",
            "Corrections proposed by learned rules on their own (phase 3)",
            k.auto_proposed.clone(),
        );
        m.register(
            "rules_switched_off",
            "Rules switched off because their success rate fell below the floor",
            k.rules_switched_off.clone(),
        );
        m.register(
            "auto_correction_rate",
            "Corrections applied automatically per issue seen, 0 to 1 (all tenants)",
            k.auto_correction_rate.clone(),
        );
        m.register(
            "correction_accuracy",
            "Successful / (successful + failed + undone + recurred) corrections, 0 to 1 (all tenants)",
            k.correction_accuracy.clone(),
        );
        m.register(
            "human_review_seconds",
            "Mean time from an issue to a person's decision, seconds (all tenants)",
            k.human_review_seconds.clone(),
        );
        m.register(
            "knowledge_growth_patterns_7d",
            "Patterns learned in the last 7 days (all tenants)",
            k.knowledge_growth.clone(),
        );
        m.register(
            "confidence_trend_30d",
            "Mean decision confidence of the last 30 days minus the mean before (all tenants)",
            k.confidence_trend.clone(),
        );
        m.register(
            "confidence_avg",
            "Mean confidence after each decision (all tenants)",
            k.confidence_avg.clone(),
        );
        m.register(
            "patterns",
            "Issue patterns known (all tenants)",
            k.patterns.clone(),
        );
        m.register(
            "rules_active",
            "Active auto-correction rules (all tenants)",
            k.rules_active.clone(),
        );
        m.register(
            "issues_seen",
            "Issues seen by the knowledge base (all tenants)",
            k.issues_seen.clone(),
        );
        k
    }

    /// Counts a correction outcome.
    pub fn outcome(&self, origin: &str, outcome: &str) {
        self.outcomes
            .get_or_create(&OutcomeLabels {
                origin: origin.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Counts a decision.
    pub fn decision(&self, decision: &str) {
        self.decisions
            .get_or_create(&DecisionLabels {
                decision: decision.into(),
            })
            .inc();
    }

    /// Sets the gauges from the figures of every tenant.
    pub fn set(&self, s: &KnowledgeStats) {
        self.auto_correction_rate.set(auto_correction_rate(
            s.corrections_auto_applied,
            s.issues_seen,
        ));
        self.correction_accuracy.set(correction_accuracy(s));
        self.human_review_seconds.set(s.avg_review_seconds);
        self.knowledge_growth.set(s.patterns_last_7_days);
        self.confidence_trend.set(s.confidence_trend_30d);
        self.confidence_avg.set(s.avg_confidence);
        self.patterns.set(s.patterns);
        self.rules_active.set(s.rules_active);
        self.issues_seen.set(s.issues_seen);
    }
}

/// Corrections applied automatically per issue, 0 to 1 (0 without issues).
pub fn auto_correction_rate(auto_applied: i64, issues: i64) -> f64 {
    if issues > 0 {
        (auto_applied as f64 / issues as f64).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Successful / (successful + failed + undone + recurred); 1 when no correction had an outcome.
pub fn correction_accuracy(s: &KnowledgeStats) -> f64 {
    let n = s.corrections_successful
        + s.corrections_failed
        + s.corrections_undone
        + s.corrections_recurred;
    if n > 0 {
        s.corrections_successful as f64 / n as f64
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_exposition() {
        assert_eq!(auto_correction_rate(0, 0), 0.0);
        assert!((auto_correction_rate(3, 12) - 0.25).abs() < 1e-9);
        let s = KnowledgeStats {
            corrections_successful: 6,
            corrections_failed: 1,
            corrections_undone: 1,
            corrections_recurred: 2,
            corrections_auto_applied: 4,
            issues_seen: 8,
            patterns: 5,
            ..Default::default()
        };
        assert!((correction_accuracy(&s) - 0.6).abs() < 1e-9);
        assert_eq!(correction_accuracy(&KnowledgeStats::default()), 1.0);
        let m = Metrics::new("knowledge");
        let k = KbMetrics::register(&m);
        k.set(&s);
        k.decision("approved");
        k.outcome("auto", "recurred");
        let text = m.encode();
        for line in [
            "marketsync_knowledge_correction_accuracy 0.6",
            "marketsync_knowledge_auto_correction_rate 0.5",
            "marketsync_knowledge_patterns 5",
            "marketsync_knowledge_decisions_total{decision=\"approved\"} 1",
            "marketsync_knowledge_correction_outcomes_total{origin=\"auto\",outcome=\"recurred\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing in:\n{text}");
        }
    }
}

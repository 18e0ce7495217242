//! A replay of the learning loop on a real catalog: a stream of issues from the Magento Luma
//! products (each with a field hidden), the built-in engine's suggestions, a scripted reviewer
//! who approves the suggestion that matches the ground truth and rejects the rest, and the
//! knowledge base's own rules ([`crate::learn`]: the seed's confidence formula, the
//! auto-apply threshold and minimum approvals, the success floor) deciding when a learned rule
//! corrects on its own.
//!
//! Each product raises, on an eBay listing: a missing category (its category hidden), a
//! missing colour (one of its variants listed alone, without its colour attribute), a missing
//! shipping weight (its weight hidden) and a missing material (its material attribute hidden),
//! when the engine detects them. Descriptions are not replayed: a written description has no
//! ground truth to match (the catalog evaluation checks them instead). The engine
//! is trained on the other folds' products, so no product is suggested from itself.
//!
//! A learned rule applies itself when its pattern's confidence and approvals allow
//! ([`Policy::may_auto_apply`]) and the suggestion it would apply is itself at least as
//! confident as the rule's threshold (seed, phase 3: "Confidence score: 85%, threshold reached").
//! An auto-correction that matches the ground truth succeeds (and counts as an approval, seed
//! phase 3: "Confidence increases to 92%"); one that does not is undone by the reviewer (a
//! rejection and a failure of the rule, which is switched off below the success floor).

use std::collections::{BTreeSet, HashMap};

use marketsync_monitor_service::engine::Model;
use marketsync_monitor_service::eval::{Item, folds, variant_title};
use marketsync_proto::v1::{Product, Suggestion};

use crate::learn::{Policy, confidence};

/// One issue of the stream.
#[derive(Debug, Clone)]
struct Case {
    product: Product,
    fold: usize,
    issue_type: &'static str,
    field: &'static str,
    truth: String,
}

/// What happened to the issues so far.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Tally {
    /// Issues raised.
    pub issues: usize,
    /// Corrected by a learned rule on its own.
    pub auto: usize,
    /// Auto-corrections that were right.
    pub auto_right: usize,
    /// Approved by the reviewer (always right: the reviewer approves only the truth).
    pub approved: usize,
    /// Rejected by the reviewer (no suggestion was right).
    pub rejected: usize,
}

impl Tally {
    /// Auto-corrected share of the issues.
    pub fn auto_rate(&self) -> f64 {
        self.auto as f64 / self.issues.max(1) as f64
    }

    /// Right corrections among every correction applied (auto and approved).
    pub fn accuracy(&self) -> f64 {
        let applied = self.auto + self.approved;
        if applied == 0 {
            return 1.0;
        }
        (self.auto_right + self.approved) as f64 / applied as f64
    }

    /// Right auto-corrections among the auto-corrections.
    pub fn auto_accuracy(&self) -> f64 {
        if self.auto == 0 {
            return 1.0;
        }
        self.auto_right as f64 / self.auto as f64
    }

    fn minus(&self, earlier: &Tally) -> Tally {
        Tally {
            issues: self.issues - earlier.issues,
            auto: self.auto - earlier.auto,
            auto_right: self.auto_right - earlier.auto_right,
            approved: self.approved - earlier.approved,
            rejected: self.rejected - earlier.rejected,
        }
    }
}

/// The tally after a slice of the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Everything up to here.
    pub total: Tally,
    /// This slice only.
    pub window: Tally,
}

/// What the replay ends with.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// After every tenth of the stream.
    pub checkpoints: Vec<Checkpoint>,
    /// Per issue type: (issue type, tally).
    pub by_type: Vec<(&'static str, Tally)>,
    /// Rules switched off by the success floor.
    pub rules_switched_off: usize,
}

#[derive(Debug, Default)]
struct Pattern {
    decisions: Vec<&'static str>,
    approvals: usize,
    rule: Option<Rule>,
}

#[derive(Debug)]
struct Rule {
    strategy: String,
    threshold: f64,
    active: bool,
    succeeded: usize,
    failed: usize,
}

fn same(issue_type: &str, value: &str, truth: &str) -> bool {
    if issue_type == "invalid_weight" {
        // Within a gram.
        return match (value.trim().parse::<f64>(), truth.trim().parse::<f64>()) {
            (Ok(v), Ok(t)) => (v - t).abs() < 0.001,
            _ => false,
        };
    }
    let norm = |s: &str| -> BTreeSet<String> {
        if issue_type == "missing_attribute" {
            s.split([',', '|'])
                .map(|v| v.trim().to_lowercase())
                .filter(|v| !v.is_empty())
                .collect()
        } else {
            BTreeSet::from([s.trim().to_lowercase()])
        }
    };
    norm(value) == norm(truth)
}

fn cases(items: &[Item], fold: &[usize], seed: u64) -> Vec<Case> {
    let mut out = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let f = fold[n];
        let mut hidden = item.product.clone();
        hidden.categories.clear();
        out.push(Case {
            product: hidden,
            fold: f,
            issue_type: "missing_category",
            field: "categories",
            truth: item.category.clone(),
        });
        // One variant listed alone: its own title names its options, its colour is hidden.
        let pick = (seed as usize + n) % item.product.variants.len().max(1);
        if let Some(v) = item.product.variants.get(pick)
            && let Some(color) = v.options.get("color")
        {
            let mut listing = item.product.clone();
            listing.sku = v.sku.clone();
            listing.title = variant_title(&item.product.title, v);
            listing.variants.clear();
            listing.attributes.retain(|k, _| k != "color");
            out.push(Case {
                product: listing,
                fold: f,
                issue_type: "missing_attribute",
                field: "attributes.color",
                truth: color.clone(),
            });
        }
        if let Some(w) = item.product.weight {
            let mut hidden = item.product.clone();
            hidden.weight = None;
            out.push(Case {
                product: hidden,
                fold: f,
                issue_type: "invalid_weight",
                field: "weight",
                truth: format!("{w:.2}"),
            });
        }
        if !item.materials.is_empty() {
            let mut hidden = item.product.clone();
            hidden.attributes.retain(|k, _| k != "material");
            out.push(Case {
                product: hidden,
                fold: f,
                issue_type: "missing_attribute",
                field: "attributes.material",
                truth: item
                    .materials
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    // A stream in a random (seeded) order.
    let mut rng = seed.max(1) ^ 0x5851_f42d_4c95_7f2d;
    for i in (1..out.len()).rev() {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        out.swap(i, (rng % (i as u64 + 1)) as usize);
    }
    out
}

/// Replays the stream of issues the catalog gives through the learning loop.
pub fn run(items: &[Item], k: usize, seed: u64, policy: &Policy, max_suggestions: usize) -> Replay {
    let fold = folds(items, k, seed);
    let models: Vec<Model> = (0..k)
        .map(|f| {
            let mut m = Model::default();
            for (item, _) in items.iter().zip(&fold).filter(|(_, n)| **n != f) {
                m.learn(&item.product);
            }
            m.train();
            m.refresh_medians();
            m
        })
        .collect();
    // The issues the engine raises, in the stream's order, with their suggestions.
    let raised: Vec<(Case, Vec<Suggestion>)> = cases(items, &fold, seed)
        .into_iter()
        .filter_map(|case| {
            let model = &models[case.fold];
            let (findings, _) = model.validate_on(&case.product, "ebay");
            // A material the text never names is not raised.
            let finding = findings
                .iter()
                .find(|f| f.issue_type == case.issue_type && f.field == case.field)?;
            let suggestions = model.suggest(&case.product, finding, max_suggestions);
            Some((case, suggestions))
        })
        .collect();
    let mut patterns: HashMap<(&str, &str), Pattern> = HashMap::new();
    let mut total = Tally::default();
    let mut by_type: HashMap<&'static str, Tally> = HashMap::new();
    let mut checkpoints = Vec::new();
    let mut last = Tally::default();
    let mut switched_off = 0;
    let step = raised.len().div_ceil(10).max(1);
    for (n, (case, suggestions)) in raised.iter().enumerate() {
        let tally = by_type.entry(case.field).or_default();
        total.issues += 1;
        tally.issues += 1;
        let pattern = patterns.entry((case.issue_type, case.field)).or_default();
        let conf = confidence(&pattern.decisions);
        let auto = pattern
            .rule
            .as_ref()
            .filter(|r| r.active && policy.may_auto_apply(conf, pattern.approvals, r.threshold));
        let applied = auto.and_then(|r| {
            suggestions
                .iter()
                .find(|s| s.strategy == r.strategy)
                .filter(|s| s.confidence >= r.threshold)
        });
        if let Some(s) = applied {
            let right = same(case.issue_type, &s.value, &case.truth);
            total.auto += 1;
            tally.auto += 1;
            if right {
                total.auto_right += 1;
                tally.auto_right += 1;
                pattern.decisions.push("approved");
                pattern.approvals += 1;
            } else {
                pattern.decisions.push("rejected");
            }
            if let Some(rule) = pattern.rule.as_mut() {
                if right {
                    rule.succeeded += 1;
                } else {
                    rule.failed += 1;
                }
                if rule.active && policy.switch_off(rule.succeeded as i64, rule.failed as i64) {
                    rule.active = false;
                    switched_off += 1;
                }
            }
        } else {
            match suggestions
                .iter()
                .find(|s| same(case.issue_type, &s.value, &case.truth))
            {
                Some(s) => {
                    total.approved += 1;
                    tally.approved += 1;
                    pattern.decisions.push("approved");
                    pattern.approvals += 1;
                    let rule = pattern.rule.get_or_insert_with(|| Rule {
                        strategy: s.strategy.clone(),
                        threshold: policy.threshold,
                        active: true,
                        succeeded: 0,
                        failed: 0,
                    });
                    rule.strategy = s.strategy.clone();
                }
                None => {
                    total.rejected += 1;
                    tally.rejected += 1;
                    pattern.decisions.push("rejected");
                }
            }
        }
        if (n + 1) % step == 0 || n + 1 == raised.len() {
            checkpoints.push(Checkpoint {
                total,
                window: total.minus(&last),
            });
            last = total;
        }
    }
    let mut by_type: Vec<(&'static str, Tally)> = by_type.into_iter().collect();
    by_type.sort_by_key(|(t, _)| *t);
    Replay {
        checkpoints,
        by_type,
        rules_switched_off: switched_off,
    }
}

//! The learning loop on the real Magento Luma catalog (`../shared/data/magento-luma`), as
//! `scripts/eval replay` runs it: the seed's goals hold.

use std::path::PathBuf;

use marketsync_knowledge_service::learn::Policy;
use marketsync_knowledge_service::replay;
use marketsync_monitor_service::eval;

#[test]
fn the_scripted_reviewer_teaches_rules_that_correct_most_issues_rightly() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/magento-luma");
    let items = eval::load(&data).expect("the Luma catalog beside the repository");
    // The defaults: auto-apply at 0.80 after 3 approvals, rules off under a 0.5 success rate.
    let policy = Policy::default();
    assert_eq!((policy.threshold, policy.min_approvals), (0.8, 3));
    let r = replay::run(&items, 5, 2026, &policy, 3);
    let last = r.checkpoints.last().expect("checkpoints").total;
    assert!(last.issues > 500, "{last:?}");
    // Seed goals: auto-correction rate above 60%, correction accuracy above 95%.
    assert!(last.auto_rate() > 0.60, "{last:?}");
    assert!(last.accuracy() > 0.95, "{last:?}");
    assert!(last.auto_accuracy() > 0.95, "{last:?}");
    // Nothing applies itself before people approved it three times.
    let first = r.checkpoints[0].total;
    assert!(first.auto < first.issues, "{first:?}");
    assert!(first.approved >= 3, "{first:?}");
    // Materials the text names only in part are not learned (rejected more than approved).
    let material = r
        .by_type
        .iter()
        .find(|(t, _)| *t == "attributes.material")
        .expect("material issues")
        .1;
    assert_eq!(material.auto, 0, "{material:?}");
}

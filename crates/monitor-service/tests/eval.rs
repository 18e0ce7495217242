//! The built-in engine on the real Magento Luma catalog (`../shared/data/magento-luma`): the
//! goals of issue 6 hold for the documented evaluation (`scripts/eval`).

use std::path::PathBuf;

use marketsync_monitor_service::eval;

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/magento-luma")
}

#[test]
fn categories_reach_the_goals_on_the_luma_catalog() {
    let items = eval::load(&data()).expect("the Luma catalog beside the repository");
    assert_eq!(
        items.len(),
        191,
        "147 configurable products and 44 gear products"
    );
    let score = eval::categories(&items, 5, 2026);
    assert!(score.top1 >= 0.90, "top-1 {score:?}");
    assert!(score.top3 >= 0.98, "top-3 {score:?}");
    assert!(score.top1 > score.baseline_top1 + 0.2, "{score:?}");
    // Confident suggestions are the right ones (what auto-correction relies on).
    assert!(score.confident_top1 >= 0.97, "{score:?}");
}

#[test]
fn colours_are_extracted_and_descriptions_fit_every_channel() {
    let items = eval::load(&data()).expect("the Luma catalog beside the repository");
    let (color, material) = eval::attributes(&items, 5, 2026);
    assert!(color.f1 >= 0.95, "{color:?}");
    assert!(material.precision >= 0.5, "{material:?}");
    let d = eval::descriptions(&items);
    assert_eq!(d.within_limits, 1.0);
    assert_eq!(d.names_title, 1.0);
    assert_eq!(d.names_options, 1.0);
}

//! `marketsync-replay`: replays a stream of issues from the Magento Luma catalog through the
//! learning loop with a scripted reviewer, and prints how the auto-correction rate and the
//! correction accuracy evolve.
//!
//! ```text
//! marketsync-replay [--data DIR] [--folds N] [--seed N]
//! ```
//!
//! The learning settings come from the same variables as the knowledge service
//! (`MARKETSYNC_CONFIDENCE_THRESHOLD`, `MARKETSYNC_MIN_APPROVALS`, `MARKETSYNC_SUCCESS_FLOOR`).

use std::path::PathBuf;

use anyhow::{Context, bail};
use marketsync_knowledge_service::learn::Policy;
use marketsync_knowledge_service::replay;
use marketsync_monitor_service::eval;

fn main() -> anyhow::Result<()> {
    let mut data = std::env::var_os("MARKETSYNC_EVAL_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/data/magento-luma"));
    let (mut folds, mut seed) = (5usize, 2026u64);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => data = PathBuf::from(value()?),
            "--folds" => folds = value()?.parse().context("--folds: a number")?,
            "--seed" => seed = value()?.parse().context("--seed: a number")?,
            "help" | "--help" | "-h" => {
                println!("marketsync-replay [--data DIR] [--folds N] [--seed N]");
                return Ok(());
            }
            other => bail!("unknown option {other}"),
        }
    }
    if !(2..=20).contains(&folds) {
        bail!("--folds: 2 to 20");
    }
    let policy = Policy::from_env()?;
    let items = eval::load(&data)?;
    let r = replay::run(&items, folds, seed, &policy, 3);
    println!(
        "Replay of {} issues from {} ({} products), seed {seed}; auto-apply at confidence {:.2} after {} approvals, rules off below a success rate of {:.2}",
        r.checkpoints.last().map_or(0, |c| c.total.issues),
        data.display(),
        items.len(),
        policy.threshold,
        policy.min_approvals,
        policy.success_floor
    );
    println!();
    println!(
        "| issues | auto-corrected (this tenth) | correction accuracy (this tenth) | auto-correction accuracy (this tenth) | auto-corrected (so far) | correction accuracy (so far) |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for c in &r.checkpoints {
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            c.total.issues,
            c.window.auto_rate(),
            c.window.accuracy(),
            c.window.auto_accuracy(),
            c.total.auto_rate(),
            c.total.accuracy()
        );
    }
    println!();
    println!(
        "| issue | issues | auto-corrected | approved | rejected | auto-correction accuracy |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for (field, t) in &r.by_type {
        println!(
            "| {field} | {} | {} | {} | {} | {:.3} |",
            t.issues,
            t.auto,
            t.approved,
            t.rejected,
            t.auto_accuracy()
        );
    }
    println!();
    println!(
        "Rules switched off by the success floor: {}",
        r.rules_switched_off
    );
    Ok(())
}

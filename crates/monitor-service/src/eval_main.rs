//! `marketsync-eval`: measures the built-in suggestion engine on a real catalog.
//!
//! ```text
//! marketsync-eval catalog [--data DIR] [--folds N] [--seed N]
//! ```
//!
//! `DIR` is the Magento Luma sample data (default `../shared/data/magento-luma`, or
//! `MARKETSYNC_EVAL_DATA`). Prints category top-1 and top-3 accuracy from grouped k-fold
//! cross-validation, colour and material extraction F1, weight error and description checks.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use marketsync_monitor_service::eval;

struct Args {
    command: String,
    data: PathBuf,
    folds: usize,
    seed: u64,
}

fn args() -> anyhow::Result<Args> {
    let mut it = std::env::args().skip(1);
    let command = it.next().unwrap_or_else(|| "help".into());
    let mut a = Args {
        command,
        data: std::env::var_os("MARKETSYNC_EVAL_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("../shared/data/magento-luma")),
        folds: 5,
        seed: 2026,
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => a.data = PathBuf::from(value()?),
            "--folds" => {
                a.folds = value()?.parse().context("--folds: a number")?;
                if !(2..=20).contains(&a.folds) {
                    bail!("--folds: 2 to 20");
                }
            }
            "--seed" => a.seed = value()?.parse().context("--seed: a number")?,
            other => bail!("unknown option {other} (see marketsync-eval help)"),
        }
    }
    Ok(a)
}

fn pct(x: f64) -> String {
    format!("{:.3}", x)
}

fn catalog(a: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let items = eval::load(&a.data)?;
    let groups: std::collections::BTreeSet<&str> = items.iter().map(|i| i.group.as_str()).collect();
    let classes: std::collections::BTreeSet<&str> =
        items.iter().map(|i| i.category.as_str()).collect();
    let variants: usize = items.iter().map(|i| i.product.variants.len().max(1)).sum();
    println!(
        "Data: {} ({} products, {} variants, {} groups, {} categories); {}-fold cross-validation by group, seed {}",
        a.data.display(),
        items.len(),
        variants,
        groups.len(),
        classes.len(),
        a.folds,
        a.seed
    );
    println!();
    let c = eval::categories(&items, a.folds, a.seed);
    println!("Category (hidden; classified from title, description, attributes and options):");
    println!("| classifier | top-1 | top-3 | top-1 by variant |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| built-in engine (logistic regression) | {} | {} | {} |",
        pct(c.top1),
        pct(c.top3),
        pct(c.top1_by_variant)
    );
    println!(
        "| title-word vote (the engine's earlier classifier, same folds) | {} | {} | |",
        pct(c.baseline_top1),
        pct(c.baseline_top3)
    );
    println!(
        "First suggestions with a confidence of at least 0.80: {} of the products, right in {}",
        pct(c.confident_share),
        pct(c.confident_top1)
    );
    println!();
    let (color, material) = eval::attributes(&items, a.folds, a.seed);
    println!("Attribute extraction (hidden; from title and description):");
    println!("| attribute | precision | recall | F1 | values |");
    println!("| --- | --- | --- | --- | --- |");
    for (name, s) in [("colour", color), ("material", material)] {
        println!(
            "| {name} | {} | {} | {} | {} |",
            pct(s.precision),
            pct(s.recall),
            pct(s.f1),
            s.support
        );
    }
    println!();
    let w = eval::weights(&items, a.folds, a.seed);
    println!(
        "Weight (hidden; median of similar products): {} of {} products suggested, mean absolute error {:.3}, relative {:.3}",
        w.suggested, w.products, w.mean_abs_error, w.mean_rel_error
    );
    let d = eval::descriptions(&items);
    println!(
        "Descriptions written for {} products (description hidden): names the title {}, names every option {}, plain text {}, within every channel's limit {}, distinct {}, {:.0} characters on average",
        d.products,
        pct(d.names_title),
        pct(d.names_options),
        pct(d.plain_text),
        pct(d.within_limits),
        pct(d.distinct),
        d.mean_chars
    );
    println!();
    println!("({:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    match a.command.as_str() {
        "catalog" => catalog(&a),
        "help" | "--help" | "-h" => {
            println!(
                "marketsync-eval catalog [--data DIR] [--folds N] [--seed N]\n\n\
                 Evaluates the built-in suggestion engine on the Magento Luma catalog in DIR \
                 (default ../shared/data/magento-luma, or MARKETSYNC_EVAL_DATA)."
            );
            Ok(())
        }
        other => bail!("unknown command {other} (see marketsync-eval help)"),
    }
}

//! `marketsync-offers-bench`: exports stock and price for N offers (default 100,000) to each
//! simulated marketplace, with its documented rate limits and batch sizes switched on, through
//! the marketplace's connector (`Connector::export_offers`) exactly as a sync does. For each
//! marketplace it reports the elapsed time, the least time those limits allow for N offers
//! (the floor, computed from the same limits the simulator enforces), their ratio (goal: at
//! most 1.15), and the simulator's count of offers updated never, once and more than once
//! (goal: every offer exactly once).
//!
//! Usage: `scripts/bench-offers [--offers N] [--only amazon,ebay,…]`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

mod amazon;

use futures::future::BoxFuture;

mod backmarket;
mod cdiscount;
mod ebay;
mod mirakl;
mod refurbed;

/// What one marketplace's run measured.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Wall time of the export.
    pub elapsed: Duration,
    /// The least time the marketplace's documented limits allow for the same offers.
    pub floor: Duration,
    /// How the floor is made up, e.g. "4 feeds: createFeed burst 15, processing 2 s each".
    pub floor_note: String,
    /// Requests the connector sent.
    pub requests: u64,
    /// Offers the simulator applied exactly once.
    pub applied_once: u64,
    /// Offers the simulator never applied.
    pub lost: u64,
    /// Offers the simulator applied more than once.
    pub doubled: u64,
    /// 429s the simulator answered.
    pub rate_limited: u64,
}

type Run = fn(usize) -> BoxFuture<'static, anyhow::Result<Outcome>>;

/// Every marketplace the benchmark covers: (name, run).
fn markets() -> Vec<(&'static str, Run)> {
    vec![
        // marketplaces: one line each, `("name", |n| Box::pin(name::run(n)))`
        ("refurbed", |n| Box::pin(refurbed::run(n))),
        ("backmarket", |n| Box::pin(backmarket::run(n))),
        ("ebay", |n| Box::pin(ebay::run(n))),
        ("cdiscount", |n| Box::pin(cdiscount::run(n))),
        ("mirakl", |n| Box::pin(mirakl::run(n))),
        ("amazon", |n| Box::pin(amazon::run(n))),
    ]
}

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let offers: usize = arg("--offers")
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(100_000);
    let only: Vec<String> = arg("--only")
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    println!("Offer export benchmark: {offers} offers per marketplace, documented limits on\n");
    println!(
        "| marketplace | elapsed | floor (limits) | ratio | requests | 429s | applied once | lost | doubled | floor is |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut failed = false;
    for (name, run) in markets() {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        match run(offers).await {
            Ok(o) => {
                let ratio = o.elapsed.as_secs_f64() / o.floor.as_secs_f64().max(1e-9);
                failed |= o.lost > 0 || o.doubled > 0;
                println!(
                    "| {name} | {:.2} s | {:.2} s | {ratio:.3} | {} | {} | {} | {} | {} | {} |",
                    o.elapsed.as_secs_f64(),
                    o.floor.as_secs_f64(),
                    o.requests,
                    o.rate_limited,
                    o.applied_once,
                    o.lost,
                    o.doubled,
                    o.floor_note
                );
            }
            Err(e) => {
                failed = true;
                println!("| {name} | failed: {e:#} | | | | | | | | |");
            }
        }
    }
    anyhow::ensure!(!failed, "an update was lost or doubled, or a run failed");
    Ok(())
}

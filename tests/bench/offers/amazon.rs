//! Amazon: stock and price of N offers through JSON_LISTINGS_FEED (25,000 messages per feed,
//! createFeed 0.0083/s burst 15, getFeed 2/s burst 15), documented limits on.

use std::time::Instant;

use anyhow::Context;
use marketsync_connectors::{ConnectionConfig, Credentials, OfferUpdate, Settings};
use marketsync_proto::v1::Money;
use marketsync_simulators::amazon::{self as sim, SimConfig};
use serde_json::{Value, json};

use crate::Outcome;

/// Exports stock and price of `n` offers and measures it.
pub async fn run(n: usize) -> anyhow::Result<Outcome> {
    let cfg = SimConfig {
        products: n,
        orders: 0,
        ..SimConfig::default()
    };
    let running = sim::start("127.0.0.1:0".parse()?, cfg.clone()).await?;
    let admin = running.admin_url();
    let http = reqwest::Client::new();
    http.post(format!("{admin}/stats/reset")).send().await?;
    let connector = marketsync_connectors::build(ConnectionConfig {
        platform: "amazon".into(),
        credentials: Credentials::from_json(&json!({
            "client_id": cfg.client_id,
            "client_secret": cfg.client_secret,
            "refresh_token": cfg.refresh_token,
            "marketplace_id": cfg.marketplace_id,
            "seller_id": cfg.seller_id,
        }))?,
        settings: Settings {
            base_url: Some(running.base_url()),
            auth_url: Some(running.auth_url()),
            timeout_secs: Some(120),
            ..Settings::default()
        },
    })?;
    let catalog = marketsync_simulators::demo::catalog(cfg.seed, n);
    let offers: Vec<OfferUpdate> = catalog
        .iter()
        .enumerate()
        .map(|(i, p)| OfferUpdate {
            sku: p.sku.clone(),
            quantity: Some(5 + (i % 40) as i64),
            price: Some(Money {
                amount: format!("{}.{:02}", 10 + i % 90, i % 100),
                currency: cfg.currency.clone(),
            }),
            ..OfferUpdate::default()
        })
        .collect();
    let start = Instant::now();
    let report = connector.export_offers(&offers).await?;
    let elapsed = start.elapsed();
    anyhow::ensure!(
        report.rejected.is_empty(),
        "{} offers rejected, e.g. {:?}",
        report.rejected.len(),
        report.rejected.first()
    );
    let stats: Value = http
        .get(format!("{admin}/stats"))
        .send()
        .await?
        .json()
        .await
        .context("simulator stats")?;
    running.stop().await;
    let count = |k: &str| stats[k].as_u64().unwrap_or(0);
    let feeds = n.div_ceil(sim::MAX_FEED_MESSAGES);
    let floor = sim::export_floor(n, &cfg);
    Ok(Outcome {
        elapsed,
        floor,
        floor_note: format!(
            "{feeds} feed(s) of ≤25,000 in createFeed's burst of 15, processed one at a time, {:?} + {:?}/message each",
            cfg.feed_base, cfg.feed_per_message
        ),
        requests: count("requests"),
        applied_once: count("offers_applied_once"),
        lost: count("offers_never"),
        doubled: count("offers_applied_more"),
        rate_limited: count("rate_limited"),
    })
}

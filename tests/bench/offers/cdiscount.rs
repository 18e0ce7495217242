//! CDiscount (Octopia): stock and price of n offers through `Update` offer packages (at most
//! 40,000 offers each, uploads of 1,000), against the simulator with its rate limit on.

use std::net::SocketAddr;
use std::time::Instant;

use marketsync_connectors::{ConnectionConfig, Credentials, OfferUpdate, Settings};
use marketsync_proto::v1::Money;
use marketsync_simulators::cdiscount::{self as sim, SimConfig};
use serde_json::{Value, json};

use crate::Outcome;

/// Exports new stock and price of `n` offers and reads the simulator's account of it.
pub async fn run(n: usize) -> anyhow::Result<Outcome> {
    let cfg = SimConfig {
        products: n,
        orders: 0,
        ..SimConfig::default()
    };
    let addr: SocketAddr = "127.0.0.1:0".parse()?;
    let s = sim::start(addr, cfg.clone()).await?;
    let admin = reqwest::Client::new();
    let connector = marketsync_connectors::build(ConnectionConfig {
        platform: "cdiscount".into(),
        credentials: Credentials::from_json(&json!({
            "api_key": cfg.client_id,
            "api_token": cfg.client_secret,
            "seller_login": cfg.seller_id,
        }))?,
        settings: Settings {
            base_url: Some(s.api_url()),
            timeout_secs: Some(60),
            ..Settings::default()
        },
    })?;
    // The skus, read the way a sync reads them (before the measured export).
    let mut skus = Vec::with_capacity(n);
    let mut page = marketsync_connectors::ImportQuery {
        page_size: 1000,
        ..Default::default()
    };
    loop {
        let p = connector.products_page(&page).await?;
        skus.extend(p.items.into_iter().map(|p| p.sku));
        match p.next {
            Some(next) => page.page = Some(next),
            None => break,
        }
    }
    anyhow::ensure!(
        skus.len() == n,
        "{} offers listed, {n} expected",
        skus.len()
    );
    let updates: Vec<OfferUpdate> = skus
        .iter()
        .enumerate()
        .map(|(i, sku)| OfferUpdate {
            sku: sku.clone(),
            quantity: Some((i % 50) as i64 + 1),
            price: Some(Money {
                amount: format!("{}.{:02}", 10 + i % 90, i % 100),
                currency: "EUR".into(),
            }),
            ..OfferUpdate::default()
        })
        .collect();
    // Let the bucket refill after the listing, then start from zeroed counters.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    admin
        .post(format!("{}/stats/reset", s.admin_url()))
        .send()
        .await?
        .error_for_status()?;
    let started = Instant::now();
    let report = connector.export_offers(&updates).await?;
    let elapsed = started.elapsed();
    let stats: Value = admin
        .get(format!("{}/stats", s.admin_url()))
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(
        report.rejected.is_empty(),
        "{} offers refused, first: {:?}",
        report.rejected.len(),
        report.rejected.first()
    );
    let floor = sim::export_floor(n, &cfg);
    let packages = n.div_ceil(cfg.package_max);
    let outcome = Outcome {
        elapsed,
        floor,
        floor_note: format!(
            "{packages} packages of ≤{}, uploads of {}, results pages of 1,000; bucket {}/s burst {}; integration {} ms",
            cfg.package_max, cfg.upload_max, cfg.rate_per_sec, cfg.burst, cfg.integration_ms
        ),
        requests: stats["requests"].as_u64().unwrap_or(0),
        applied_once: stats["offers_applied_once"].as_u64().unwrap_or(0),
        lost: stats["offers_never"].as_u64().unwrap_or(0),
        doubled: stats["offers_applied_more"].as_u64().unwrap_or(0),
        rate_limited: stats["rate_limited"].as_u64().unwrap_or(0),
    };
    s.stop().await;
    Ok(outcome)
}

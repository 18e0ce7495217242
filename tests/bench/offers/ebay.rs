//! eBay: bulkUpdatePriceQuantity in calls of 25, paced by the Inventory API's daily limit.

use std::net::SocketAddr;
use std::time::Instant;

use marketsync_connectors::{ConnectionConfig, Credentials, OfferUpdate, Settings};
use marketsync_proto::v1::Money;
use marketsync_simulators::ebay::{self as sim, SimConfig};
use serde_json::{Value, json};

use crate::Outcome;

/// Exports quantity and price of `n` offers to a simulated eBay account with its limits on.
pub async fn run(n: usize) -> anyhow::Result<Outcome> {
    let cfg = SimConfig {
        products: n,
        orders: 0,
        ..SimConfig::default()
    };
    let addr: SocketAddr = "127.0.0.1:0".parse()?;
    let running = sim::start(addr, cfg.clone()).await?;
    let admin = running.admin_url();
    let http = reqwest::Client::new();
    // The offer ids a sync would know from its last listings import.
    let listed: Value = http
        .get(format!("{admin}/offers"))
        .send()
        .await?
        .json()
        .await?;
    let offers: Vec<(String, String)> = listed["offers"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("no offers"))?
        .iter()
        .map(|o| {
            (
                o["sku"].as_str().unwrap_or_default().to_string(),
                o["offerId"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let connector = marketsync_connectors::build(ConnectionConfig {
        platform: "ebay".into(),
        credentials: Credentials::from_json(&json!({
            "client_id": cfg.client_id,
            "client_secret": cfg.client_secret,
            "refresh_token": cfg.refresh_token,
            "environment": "production",
        }))?,
        settings: Settings {
            base_url: Some(running.base_url()),
            ..Settings::default()
        },
    })?;
    let updates: Vec<OfferUpdate> = offers
        .iter()
        .enumerate()
        .map(|(i, (sku, id))| OfferUpdate {
            sku: sku.clone(),
            external_id: id.clone(),
            quantity: Some((i % 50) as i64 + 1),
            price: Some(Money {
                amount: format!("{}.{:02}", 5 + i % 500, i % 100),
                currency: "USD".into(),
            }),
        })
        .collect();
    http.post(format!("{admin}/stats/reset")).send().await?;
    let started = Instant::now();
    let report = connector.export_offers(&updates).await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        report.rejected.is_empty(),
        "{} offers rejected, first: {:?}",
        report.rejected.len(),
        report.rejected.first()
    );
    let stats: Value = http
        .get(format!("{admin}/stats"))
        .send()
        .await?
        .json()
        .await?;
    running.stop().await;
    let calls = n.div_ceil(sim::MAX_BULK);
    let (rate, burst) = sim::pace(cfg.daily_calls.inventory, cfg.burst_secs);
    Ok(Outcome {
        elapsed,
        floor: sim::export_floor(n, &cfg),
        floor_note: format!(
            "{calls} bulk calls of 25: burst {burst}, then {rate:.2}/s (2,000,000 calls/day)"
        ),
        requests: stats["requests"].as_u64().unwrap_or(0),
        applied_once: stats["offers_applied_once"].as_u64().unwrap_or(0),
        lost: stats["offers_never"].as_u64().unwrap_or(0),
        doubled: stats["offers_applied_more"].as_u64().unwrap_or(0),
        rate_limited: stats["rate_limited"].as_u64().unwrap_or(0),
    })
}

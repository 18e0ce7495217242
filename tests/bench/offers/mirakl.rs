//! Mirakl: stock and price of N offers through the connector's `export_offers` (OF01 import
//! files of at most 100,000 lines, once per minute, status OF02, error report OF03) against
//! the Mirakl simulator with its documented call frequencies on.

use std::time::Instant;

use marketsync_connectors::{ConnectionConfig, Credentials, OfferUpdate, Settings};
use marketsync_proto::v1::Money;
use marketsync_simulators::demo;
use marketsync_simulators::mirakl::{self as sim, MAX_IMPORT_LINES, SimConfig};
use serde_json::{Value, json};

/// Exports new stock and price for `n` offers; see the module docs.
pub async fn run(n: usize) -> anyhow::Result<crate::Outcome> {
    let cfg = SimConfig {
        products: n,
        orders: 0,
        ..SimConfig::default()
    };
    let running = sim::start("127.0.0.1:0".parse()?, cfg.clone()).await?;
    let http = reqwest::Client::new();
    let admin = running.admin_url();
    http.post(format!("{admin}/stats/reset"))
        .send()
        .await?
        .error_for_status()?;
    let connector = marketsync_connectors::build(ConnectionConfig {
        platform: "mirakl".into(),
        credentials: Credentials::from_json(&json!({
            "api_url": running.base_url(),
            "api_key": cfg.api_key,
            "shop_id": cfg.shop_id.to_string(),
        }))?,
        settings: Settings {
            timeout_secs: Some(120),
            ..Settings::default()
        },
    })?;
    let updates: Vec<OfferUpdate> = demo::catalog(cfg.seed, n)
        .iter()
        .enumerate()
        .map(|(i, p)| OfferUpdate {
            sku: p.sku.clone(),
            external_id: String::new(),
            quantity: Some((i % 50) as i64 + 1),
            price: Some(Money {
                amount: format!("{}.{:02}", 10 + i % 90, i % 100),
                currency: cfg.currency.clone(),
            }),
        })
        .collect();
    let began = Instant::now();
    let report = connector.export_offers(&updates).await?;
    let elapsed = began.elapsed();
    anyhow::ensure!(
        report.rejected.is_empty(),
        "offers refused: {:?}",
        &report.rejected[..report.rejected.len().min(5)]
    );
    let stats: Value = http
        .get(format!("{admin}/stats"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    running.stop().await;
    let num = |k: &str| stats[k].as_u64().unwrap_or(0);
    let files = n.div_ceil(MAX_IMPORT_LINES);
    Ok(crate::Outcome {
        elapsed,
        floor: sim::export_floor(n, &cfg),
        floor_note: format!(
            "{files} OF01 file(s) of ≤{MAX_IMPORT_LINES} lines, once per minute; import {:.1} s + 1 s per {} lines",
            cfg.import_base.as_secs_f64(),
            cfg.import_lines_per_sec
        ),
        requests: num("requests"),
        applied_once: num("offers_applied_once"),
        lost: num("offers_never"),
        doubled: num("offers_applied_more"),
        rate_limited: num("rate_limited"),
    })
}

//! Back Market: stock and price of N offers through the CSV catalog upload (`POST
//! /ws/listings`, 1,000 rows each, catalog budget 20 per 10 s) and its tasks (`GET
//! /ws/tasks/{id}`, standard budget), against the simulator with the documented limits on.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use marketsync_connectors::{ConnectionConfig, Credentials, OfferUpdate, Settings};
use marketsync_proto::v1::Money;
use marketsync_simulators::backmarket::{self as sim, SimConfig};
use marketsync_simulators::demo;
use serde_json::{Value, json};

use crate::Outcome;

/// Exports stock and price of `n` offers and reads what the simulator applied.
pub async fn run(n: usize) -> anyhow::Result<Outcome> {
    let cfg = SimConfig {
        products: n,
        orders: 0,
        seed: 2024,
        ..SimConfig::default()
    };
    let addr: SocketAddr = "127.0.0.1:0".parse()?;
    let running = sim::start(addr, cfg.clone()).await?;
    let admin = running.admin_url();
    let http = reqwest::Client::new();
    http.post(format!("{admin}/stats/reset"))
        .send()
        .await?
        .error_for_status()?;
    let connector = marketsync_connectors::build(ConnectionConfig {
        platform: "backmarket".into(),
        credentials: Credentials::from_json(&json!({
            "api_key": cfg.api_key,
            "api_secret": cfg.api_secret,
            "seller_id": cfg.seller_id,
        }))?,
        settings: Settings {
            base_url: Some(running.base_url()),
            ..Settings::default()
        },
    })?;
    let offers = demo::offers(cfg.seed, &demo::catalog(cfg.seed, n));
    let updates: Vec<OfferUpdate> = offers
        .iter()
        .enumerate()
        .map(|(i, o)| OfferUpdate {
            sku: o.sku.clone(),
            external_id: String::new(),
            quantity: Some(o.quantity + 1 + (i % 5) as i64),
            price: Some(Money {
                amount: format!("{}.{:02}", 20 + i % 500, i % 100),
                currency: cfg.currency.clone(),
            }),
        })
        .collect();
    let began = Instant::now();
    let report = connector.export_offers(&updates).await?;
    let elapsed = began.elapsed();
    anyhow::ensure!(
        report.rejected.is_empty(),
        "{} offers refused, first: {:?}",
        report.rejected.len(),
        report.rejected.first()
    );
    let stats: Value = http
        .get(format!("{admin}/stats"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await
        .context("simulator stats")?;
    running.stop().await;
    let count = |k: &str| stats[k].as_u64().unwrap_or(0);
    let uploads = n.div_ceil(cfg.max_upload_rows);
    Ok(Outcome {
        elapsed,
        floor: sim::export_floor(n, &cfg),
        floor_note: format!(
            "{uploads} CSV uploads of ≤{} rows at {} per {} s, last task {} ms",
            cfg.max_upload_rows,
            cfg.catalog_limit,
            cfg.window_ms / 1000,
            (Duration::from_millis(cfg.task_base_ms)
                + Duration::from_micros(cfg.task_us_per_row * cfg.max_upload_rows.min(n) as u64))
            .as_millis()
        ),
        requests: count("requests"),
        applied_once: count("offers_applied_once"),
        lost: count("offers_never"),
        doubled: count("offers_applied_more"),
        rate_limited: count("rate_limited"),
    })
}

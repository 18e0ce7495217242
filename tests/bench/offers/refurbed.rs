//! Refurbed: `OfferService/BatchUpdateOffers`, 50 offers per call, inside the simulator's
//! (assumed) rate limit of 20 requests per 1-second window.

use std::net::SocketAddr;
use std::time::Instant;

use marketsync_connectors::{ConnectionConfig, Credentials, OfferUpdate, Settings};
use marketsync_proto::v1::Money;
use marketsync_simulators::demo;
use marketsync_simulators::refurbed::{self as sim, SimConfig};
use serde_json::{Value, json};

use crate::Outcome;

/// Exports new stock and price of `n` offers and reads the simulator's counts.
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
    http.post(format!("{admin}/stats/reset"))
        .send()
        .await?
        .error_for_status()?;
    let connector = marketsync_connectors::build(ConnectionConfig {
        platform: "refurbed".into(),
        credentials: Credentials::from_json(
            &json!({"api_token": cfg.api_token, "merchant_id": cfg.merchant_id}),
        )?,
        settings: Settings {
            base_url: Some(running.base_url()),
            ..Settings::default()
        },
    })?;
    let offers = demo::offers(cfg.seed, &demo::catalog(cfg.seed, n));
    let updates: Vec<OfferUpdate> = offers
        .iter()
        .map(|o| OfferUpdate {
            sku: o.sku.clone(),
            external_id: String::new(),
            quantity: Some(o.quantity + 1),
            price: Some(Money {
                amount: format!("{}.{:02}", 10 + o.product % 90, o.product % 100),
                currency: "EUR".into(),
            }),
        })
        .collect();
    let started = Instant::now();
    let report = connector.export_offers(&updates).await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        report.rejected.is_empty(),
        "refused: {:?}",
        report.rejected.first()
    );
    let stats: Value = http
        .get(format!("{admin}/stats"))
        .send()
        .await?
        .json()
        .await?;
    running.stop().await;
    let count = |k: &str| stats[k].as_u64().unwrap_or(0);
    let calls = n.div_ceil(sim::MAX_BATCH);
    Ok(Outcome {
        elapsed,
        floor: sim::export_floor(n, &cfg),
        floor_note: format!(
            "{calls} BatchUpdateOffers calls of ≤{} at {} per {} ms window",
            sim::MAX_BATCH,
            cfg.rate_limit,
            cfg.rate_window_ms
        ),
        requests: count("requests"),
        applied_once: count("offers_applied_once"),
        lost: count("offers_never"),
        doubled: count("offers_applied_more"),
        rate_limited: count("rate_limited"),
    })
}

//! `marketsync stock …`: the ledger of a sku, a channel's consistency, backup points and their
//! restore, through the gateway.

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::api::{Api, list_items};
use crate::cli::StockCommand;
use crate::cmd::sync::resolve_connection;

fn n(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// Runs the command.
pub async fn run(cmd: StockCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        StockCommand::Show { sku, api } => {
            let api = Api::new(&api.api_url, &api.api_key)?;
            let h: Value = api
                .get(&format!(
                    "/api/v1/stock/{}/history?limit=20",
                    urlencode(&sku)
                ))
                .await?;
            println!(
                "{:<16} {:>8} {:>8} {:>9}",
                "warehouse", "on hand", "reserved", "available"
            );
            for l in list_items(&h["levels"]) {
                println!(
                    "{:<16} {:>8} {:>8} {:>9}",
                    s(&l["warehouse"]),
                    n(&l["on_hand"]),
                    n(&l["reserved"]),
                    n(&l["available"])
                );
            }
            println!("\nchannel                               expected  sent  shown  pending");
            for c in list_items(&h["channels"]) {
                println!(
                    "{:<37} {:>8} {:>5} {:>6}  {}",
                    s(&c["connection_id"]),
                    n(&c["expected"]),
                    if c["has_pushed"] == true {
                        n(&c["pushed"]).to_string()
                    } else {
                        "-".into()
                    },
                    if c["has_observed"] == true {
                        n(&c["observed"]).to_string()
                    } else {
                        "-".into()
                    },
                    if c["pending"] == true { "yes" } else { "" }
                );
            }
            println!("\nlatest entries");
            for e in list_items(&h["entries"]) {
                println!(
                    "{}  {:<12} {:<10} on hand {:+} → {}, reserved {:+} → {}  {}",
                    s(&e["created_at"]),
                    s(&e["cause"]),
                    s(&e["warehouse"]),
                    n(&e["on_hand_delta"]),
                    n(&e["on_hand_after"]),
                    n(&e["reserved_delta"]),
                    n(&e["reserved_after"]),
                    s(&e["reference"])
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        StockCommand::Consistency { connection, api } => {
            let api = Api::new(&api.api_url, &api.api_key)?;
            let id = resolve_connection(&api, &connection).await?;
            let r: Value = api
                .get(&format!("/api/v1/connections/{id}/consistency?limit=50"))
                .await?;
            println!(
                "data consistency score {:.4} ({} of {} skus match; {} never seen, {} pushes pending, {} failing)",
                r["score"].as_f64().unwrap_or(0.0),
                n(&r["matching"]),
                n(&r["compared"]),
                n(&r["unobserved"]),
                n(&r["pending"]),
                n(&r["failing"])
            );
            for d in list_items(&r["differences"]) {
                println!(
                    "  {:<24} should show {:>5}, shows {:>5} (seen {})",
                    s(&d["sku"]),
                    n(&d["expected"]),
                    n(&d["observed"]),
                    s(&d["observed_at"])
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        StockCommand::Backups { connection, api } => {
            let api = Api::new(&api.api_url, &api.api_key)?;
            let id = resolve_connection(&api, &connection).await?;
            let v: Value = api
                .get(&format!("/api/v1/connections/{id}/backups"))
                .await?;
            for b in list_items(&v) {
                println!(
                    "{}  {}  {} items  {}{}",
                    s(&b["id"]),
                    s(&b["created_at"]),
                    n(&b["items"]),
                    s(&b["reason"]),
                    if s(&b["restored_at"]).is_empty() {
                        String::new()
                    } else {
                        format!("  (restored {})", s(&b["restored_at"]))
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        StockCommand::Restore { backup, api } => {
            let api = Api::new(&api.api_url, &api.api_key)?;
            let r: Value = api
                .post(
                    &format!("/api/v1/backups/{}/restore", urlencode(&backup)),
                    &json!({}),
                )
                .await?;
            println!("restored {} quantities", n(&r["restored"]));
            let rejected = list_items(&r["rejected"]);
            for why in &rejected {
                println!("  refused: {}", s(why));
            }
            Ok(if rejected.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn urlencode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

//! The LLM provider in the running system: the monitor configured for an OpenAI-compatible
//! API (a local fake that records every request and answers like a model), a product whose
//! description is full of personal data, orders with buyers and addresses; the issue gets the
//! LLM's suggestion, and nothing personal, no order data and no API key reaches the fake.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use marketsync_e2e::System;
use marketsync_simulators::bigcommerce::SimConfig;
use serde_json::{Value, json};

use crate::{SYNC_TIMEOUT, pending};

const KEY: &str = "sk-e2e-SECRET-4242424242";

const DESCRIPTION: &str = "<p>Cosy fleece hoodie. Contact John Smith at \
    john.smith@example.com or +33 6 12 34 56 78. Returns: 12 rue de la Paix, 75002 Paris. \
    Re order #100012345.</p>";

const PII: &[&str] = &[
    "John Smith",
    "john.smith",
    "+33 6 12 34 56 78",
    "6 12 34 56 78",
    "rue de la Paix",
    "75002",
    "100012345",
];

/// A chat-completions server that records request bodies and answers each prompt with a
/// brand, a category among the candidates or a description.
async fn fake_llm() -> anyhow::Result<(String, Arc<Mutex<Vec<String>>>)> {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .fallback(
            |State(bodies): State<Arc<Mutex<Vec<String>>>>, body: String| async move {
                bodies.lock().unwrap().push(body.clone());
                let req: Value = serde_json::from_str(&body).unwrap_or_default();
                let prompt: Value = req["messages"][1]["content"]
                    .as_str()
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or_default();
                let value = match prompt["task"].as_str().unwrap_or("") {
                    "missing_brand" => json!("Borealis"),
                    "missing_category" => prompt["candidates"][0].clone(),
                    _ => json!(format!(
                        "{}: soft and warm.",
                        prompt["product"]["title"].as_str().unwrap_or("")
                    )),
                };
                let content = json!({"suggestions": [
                    {"value": value, "confidence": 0.9, "explanation": "from the title"}
                ]});
                axum::Json(json!({"id": "chatcmpl-e2e", "object": "chat.completion",
                    "choices": [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content.to_string()}}]}))
            },
        )
        .with_state(bodies.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((base, bodies))
}

/// Every text of the orders' people and addresses, as the platform serves them.
async fn buyer_data(sys: &System) -> anyhow::Result<HashSet<String>> {
    let orders: Value = reqwest::Client::new()
        .get(format!(
            "{}/stores/{}/v2/orders",
            sys.sim.base_url(),
            sys.store_hash
        ))
        .header("x-auth-token", &sys.sim_token)
        .header("accept", "application/json")
        .send()
        .await?
        .json()
        .await?;
    let mut out = HashSet::new();
    for o in orders.as_array().cloned().unwrap_or_default() {
        let a = &o["billing_address"];
        for k in ["email", "phone", "street_1"] {
            if let Some(v) = a[k].as_str().filter(|v| v.len() >= 4) {
                out.insert(v.to_string());
            }
        }
        if let (Some(first), Some(last)) = (a["first_name"].as_str(), a["last_name"].as_str()) {
            out.insert(format!("{first} {last}"));
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_suggestions_reach_issues_and_no_personal_data_leaves() -> anyhow::Result<()> {
    let (base, bodies) = fake_llm().await?;
    let cfg = SimConfig {
        products: 12,
        orders: 4,
        seed: 21,
        ..SimConfig::default()
    };
    let sys = System::start_with(
        "ai",
        cfg,
        &[
            ("MARKETSYNC_AI_PROVIDER", "openai"),
            ("MARKETSYNC_AI_BASE_URL", &base),
            ("MARKETSYNC_AI_API_KEY", KEY),
            ("MARKETSYNC_AI_MODEL", "e2e-model"),
        ],
    )
    .await?;

    // On the platform: a product without brand or category whose description holds a
    // buyer's name, e-mail, phone, address and order number.
    let created = reqwest::Client::new()
        .post(format!(
            "{}/stores/{}/v3/catalog/products",
            sys.sim.base_url(),
            sys.store_hash
        ))
        .header("x-auth-token", &sys.sim_token)
        .json(
            &json!({"name": "Aurora Fleece Hoodie", "type": "physical", "sku": "PII-1",
                      "weight": 0.6, "price": 49.9, "description": DESCRIPTION}),
        )
        .send()
        .await?;
    assert!(created.status().is_success(), "{}", created.text().await?);

    let conn = sys.connect_bigcommerce("shop", json!({})).await?;
    let id = conn["id"].as_str().unwrap().to_string();
    let sync = sys.sync(&id, json!({})).await?;
    let run = sys.wait_sync(&sync, SYNC_TIMEOUT).await?;
    assert_eq!(run["status"], "completed", "{run}");

    // The issue carries the LLM's suggestion, ranked with the built-in engine's.
    let issue = sys
        .eventually(
            "the LLM's brand suggestion",
            Duration::from_secs(60),
            || async {
                Ok(pending(&sys, "missing_brand")
                    .await?
                    .into_iter()
                    .find(|i| i["sku"] == "PII-1"))
            },
        )
        .await?;
    let suggestions = issue["suggestions"].as_array().unwrap();
    assert!(
        suggestions
            .iter()
            .any(|s| s["strategy"] == "llm:missing_brand" && s["value"] == "Borealis"),
        "{issue}\n{}",
        sys.log("monitor")
    );
    assert!(suggestions.len() <= 3);
    let confidences: Vec<f64> = suggestions
        .iter()
        .map(|s| s["confidence"].as_f64().unwrap())
        .collect();
    assert!(confidences.windows(2).all(|w| w[0] >= w[1]), "{issue}");

    // Nothing personal left: not the product's planted data, not the orders' buyers.
    let bodies = bodies.lock().unwrap().clone();
    assert!(!bodies.is_empty());
    let all = bodies.concat();
    assert!(all.contains("Aurora Fleece Hoodie"));
    for pii in PII {
        assert!(!all.contains(pii), "`{pii}` reached the LLM");
    }
    let buyers = buyer_data(&sys).await?;
    assert!(!buyers.is_empty(), "the orders have buyers");
    for b in &buyers {
        assert!(
            !all.contains(b.as_str()),
            "buyer data `{b}` reached the LLM"
        );
    }
    assert!(!all.contains(KEY));
    assert!(!sys.all_logs().contains(KEY), "the API key is in a log");
    sys.stop().await;
    Ok(())
}

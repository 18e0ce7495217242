//! The whole flow: connection, test, sync, issues, three approvals, the fourth corrected by the
//! knowledge service on its own and pushed back to the platform.

use std::time::Duration;

use marketsync_e2e::System;
use marketsync_simulators::bigcommerce::SimConfig;
use marketsync_simulators::demo;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{SYNC_TIMEOUT, pending, stored_products};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_to_decision_and_back() -> anyhow::Result<()> {
    let products = 40;
    let cfg = SimConfig {
        products,
        orders: 8,
        seed: 7,
        ..SimConfig::default()
    };
    let expected = demo::DefectCounts::of(&demo::catalog(cfg.seed, products));
    let sys = System::start("flow", cfg).await?;

    // A connection: credentials come back masked only.
    let conn = sys.connect_bigcommerce("shop", json!({})).await?;
    let id = conn["id"].as_str().unwrap().to_string();
    let text = conn.to_string();
    assert!(!text.contains(&sys.sim_token), "token leaked: {text}");
    assert!(
        !text.contains("e2e-client-secret-value-1234"),
        "secret leaked: {text}"
    );
    assert_eq!(conn["credentials"]["store_hash"], sys.store_hash);
    let listed = sys.get("/api/v1/connections").await?.to_string();
    assert!(!listed.contains(&sys.sim_token));

    // Test connection.
    let (s, t) = sys
        .api(
            Method::POST,
            &format!("/api/v1/connections/{id}/test"),
            Some(json!({})),
        )
        .await?;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["ok"], true, "{t}");

    // Sync: products, stock and orders imported.
    let sync = sys.sync(&id, json!({})).await?;
    let run = sys.wait_sync(&sync, SYNC_TIMEOUT).await?;
    assert_eq!(
        run["status"],
        "completed",
        "{run}\n{}",
        sys.log("connector")
    );
    assert_eq!(run["counts"]["products"], products as i64, "{run}");
    assert_eq!(run["counts"]["orders"], 8, "{run}");
    assert!(
        run["counts"]["stock_levels"].as_i64().unwrap_or(0) > 0,
        "{run}"
    );
    assert_eq!(stored_products(&sys, &id).await?, products as i64);

    // Issues appear, one per defect, with suggestions.
    let want = [
        ("missing_description", expected.missing_description),
        ("missing_brand", expected.missing_brand),
        ("missing_category", expected.missing_category),
        ("invalid_weight", expected.invalid_weight),
        ("price_format", expected.bad_price),
    ];
    for (t, n) in want {
        let got = sys
            .eventually(
                &format!("{n} {t} issues"),
                Duration::from_secs(60),
                || async {
                    let p = pending(&sys, t).await?;
                    Ok((p.len() == n).then_some(p))
                },
            )
            .await?;
        for issue in &got {
            assert_eq!(issue["platform"], "bigcommerce");
            if t == "missing_description" || t == "price_format" {
                assert!(
                    !issue["suggestions"].as_array().unwrap().is_empty(),
                    "no suggestion: {issue}"
                );
            }
        }
    }

    // Three approvals of the missing-description pattern.
    let issues = pending(&sys, "missing_description").await?;
    assert!(
        issues.len() >= 3,
        "need 3 missing descriptions, have {}",
        issues.len()
    );
    let mut last = Value::Null;
    for issue in issues.iter().take(3) {
        let (s, d) = sys
            .api(
                Method::POST,
                &format!("/api/v1/issues/{}/decision", issue["id"].as_str().unwrap()),
                Some(json!({"decision": "approved"})),
            )
            .await?;
        assert_eq!(s, 200, "{d}");
        last = d;
    }
    assert_eq!(last["rule_active"], true, "{last}");
    assert!(last["confidence"].as_f64().unwrap() >= 0.8, "{last}");
    // The approved corrections reach the platform.
    let first_sku = issues[0]["sku"].as_str().unwrap().to_string();
    sys.eventually(
        "approved description on the platform",
        Duration::from_secs(60),
        || async {
            let p = sys.sim_admin(&format!("/products/{first_sku}")).await?;
            Ok((!p["description"].as_str().unwrap_or("").is_empty()).then_some(()))
        },
    )
    .await?;

    // A fourth occurrence: a new product without a description, synced incrementally.
    let cats = sys
        .http
        .get(format!("{}/catalog/categories", sys.sim.v3_url()))
        .header("X-Auth-Token", &sys.sim_token)
        .send()
        .await?
        .json::<Value>()
        .await?;
    let cat = cats["data"][0]["id"].as_i64().unwrap();
    let created = sys
        .http
        .post(format!("{}/catalog/products", sys.sim.v3_url()))
        .header("X-Auth-Token", &sys.sim_token)
        .json(&json!({
            "name": "Aurora Trail Shell Jacket",
            "type": "physical",
            "sku": "E2E-NEW-1",
            "weight": 0.8,
            "price": 89.5,
            "categories": [cat],
            "brand_name": "Aurora",
            "description": "",
        }))
        .send()
        .await?;
    assert!(created.status().is_success(), "{}", created.text().await?);
    let sync2 = sys
        .sync(&id, json!({"operations": ["import_products"]}))
        .await?;
    let run2 = sys.wait_sync(&sync2, SYNC_TIMEOUT).await?;
    assert_eq!(run2["status"], "completed", "{run2}");
    assert!(
        run2["counts"]["products"].as_i64().unwrap() < products as i64,
        "the second sync is incremental: {run2}"
    );
    let auto = sys
        .eventually(
            "the fourth issue auto-corrected",
            Duration::from_secs(60),
            || async {
                let v = sys
                    .get("/api/v1/issues?status=auto_corrected&type=missing_description")
                    .await?;
                Ok(v["items"]
                    .as_array()
                    .and_then(|a| a.iter().find(|i| i["sku"] == "E2E-NEW-1").cloned()))
            },
        )
        .await?;
    assert!(
        auto["resolution"]
            .as_str()
            .unwrap()
            .contains("auto-corrected"),
        "{auto}"
    );
    let on_platform = sys
        .eventually(
            "auto correction on the platform",
            Duration::from_secs(30),
            || async {
                let p = sys.sim_admin("/products/E2E-NEW-1").await?;
                Ok((!p["description"].as_str().unwrap_or("").is_empty()).then_some(p))
            },
        )
        .await?;
    assert!(
        on_platform["description"]
            .as_str()
            .unwrap()
            .contains("Aurora Trail Shell Jacket"),
        "{on_platform}"
    );
    let corrections = sys.get("/api/v1/corrections").await?;
    let auto_c = corrections
        .as_array()
        .or(corrections["items"].as_array())
        .unwrap()
        .iter()
        .find(|c| c["sku"] == "E2E-NEW-1")
        .cloned()
        .expect("auto correction listed");
    assert_eq!(auto_c["origin"], "auto");
    let autos = corrections["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["origin"] == "auto")
        .count();
    assert_eq!(
        autos, 1,
        "only the fourth occurrence is corrected on its own: {corrections}"
    );
    for issue in issues.iter().take(3) {
        let i = sys
            .get(&format!("/api/v1/issues/{}", issue["id"].as_str().unwrap()))
            .await?;
        assert_eq!(i["status"], "resolved", "{i}");
        // The record comes from the connector's catalog (issues keep no copy of it).
        let record: Value = serde_json::from_str(i["record_json"].as_str().unwrap_or(""))?;
        assert_eq!(record["sku"], issue["sku"], "{i}");
    }

    // Sync history shows counts and errors.
    let history = sys.get(&format!("/api/v1/connections/{id}/syncs")).await?;
    let runs = history
        .as_array()
        .or(history["items"].as_array())
        .unwrap()
        .clone();
    assert_eq!(runs.len(), 2, "{history}");
    assert!(
        runs.iter()
            .all(|r| r["status"] == "completed" && r["errors"].as_array().unwrap().is_empty())
    );

    // The knowledge base learned the pattern; the audit log has the decisions.
    let rules = sys.get("/api/v1/knowledge/rules").await?.to_string();
    assert!(rules.contains("generate_description"), "{rules}");
    let audit = sys.get("/api/v1/audit").await?.to_string();
    assert!(audit.contains("decision"), "{audit}");
    assert!(!audit.contains(&sys.sim_token), "token in audit log");

    // No secret in any log.
    let logs = sys.all_logs();
    assert!(!logs.is_empty());
    for secret in [
        sys.sim_token.as_str(),
        "e2e-client-secret-value-1234",
        sys.api_key.as_str(),
    ] {
        assert!(
            !logs.contains(secret),
            "secret found in logs under {}",
            sys.log_dir().display()
        );
    }
    sys.stop().await;
    Ok(())
}

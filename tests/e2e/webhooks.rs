//! Webhooks end to end: registered through the gateway, delivered by the simulator to the
//! gateway's per-connection URL, verified by the connector, turned into a targeted sync;
//! forged, stale and repeated calls; and the reconciliation poll of `sync_frequency`.

use std::time::Duration;

use marketsync_e2e::System;
use marketsync_simulators::bigcommerce::SimConfig;
use reqwest::Method;
use serde_json::{Value, json};

use crate::SYNC_TIMEOUT;

async fn syncs(sys: &System, id: &str) -> anyhow::Result<Vec<Value>> {
    let v = sys
        .get(&format!("/api/v1/connections/{id}/syncs?limit=100"))
        .await?;
    Ok(v["items"].as_array().cloned().unwrap_or_default())
}

/// GETs a V3 path of the simulated store with its token.
async fn platform_get(sys: &System, path: &str) -> anyhow::Result<Value> {
    Ok(reqwest::Client::new()
        .get(format!("{}{path}", sys.sim.v3_url()))
        .header("x-auth-token", &sys.sim_token)
        .send()
        .await?
        .json()
        .await?)
}

/// POSTs a webhook call to the gateway as a platform would (no API key).
async fn deliver(
    sys: &System,
    id: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    let mut req = reqwest::Client::new()
        .post(format!("{}/api/v1/webhooks/{id}", sys.gateway))
        .header("content-type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let text = resp.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_start_targeted_syncs_and_refuse_forgeries() -> anyhow::Result<()> {
    let cfg = SimConfig {
        products: 12,
        orders: 2,
        seed: 11,
        ..SimConfig::default()
    };
    let sys = System::start("webhooks", cfg.clone()).await?;
    let conn = sys.connect_bigcommerce("hooked", json!({})).await?;
    let id = conn["id"].as_str().unwrap().to_string();
    let first = sys.sync(&id, json!({})).await?;
    let run = sys.wait_sync(&first, SYNC_TIMEOUT).await?;
    assert_eq!(run["status"], "completed", "{run}");

    // Registered through the gateway, pointing at the gateway itself.
    let url = format!("{}/api/v1/webhooks/{id}", sys.gateway);
    let (s, reg) = sys
        .api(
            Method::POST,
            &format!("/api/v1/connections/{id}/webhooks"),
            Some(json!({ "url": url })),
        )
        .await?;
    assert_eq!(s, 200, "{reg}");
    assert!(
        reg["topics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "store/product/updated"),
        "{reg}"
    );
    let audit = sys.get("/api/v1/audit?limit=200").await?.to_string();
    assert!(audit.contains("connection.webhooks"), "{audit}");

    // A change on the platform: the simulator delivers, a targeted sync re-reads one product.
    let products = platform_get(&sys, "/catalog/products?limit=1").await?;
    let product_id = products["data"][0]["id"].as_i64().unwrap();
    let before = syncs(&sys, &id).await?.len();
    let resp = reqwest::Client::new()
        .put(format!(
            "{}/stores/{}/v3/catalog/products/{product_id}",
            sys.sim.base_url(),
            sys.store_hash
        ))
        .header("x-auth-token", &sys.sim_token)
        .json(&json!({"name": "Renamed on the platform"}))
        .send()
        .await?;
    assert!(resp.status().is_success(), "{}", resp.text().await?);
    let targeted = sys
        .eventually(
            "a webhook-started sync",
            Duration::from_secs(60),
            || async {
                let all = syncs(&sys, &id).await?;
                Ok((all.len() > before)
                    .then(|| all[0].clone())
                    .filter(|r| r["status"] == "completed"))
            },
        )
        .await?;
    assert_eq!(
        targeted["operations"],
        json!(["import_products"]),
        "{targeted}"
    );
    assert_eq!(targeted["counts"]["products"], 1, "{targeted}");

    // The token the hooks carry, as the platform stores it.
    let hooks = platform_get(&sys, "/hooks").await?;
    let token = hooks["data"][0]["headers"]["X-Marketsync-Webhook-Token"]
        .as_str()
        .unwrap()
        .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let call = |hash: &str, created_at: i64| {
        json!({"scope": "store/product/updated", "store_id": "1001",
               "data": {"type": "product", "id": product_id}, "hash": hash,
               "created_at": created_at, "producer": format!("stores/{}", sys.store_hash)})
    };

    // Forged: a wrong token, or none → 401, and a log line; nothing is started.
    let n = syncs(&sys, &id).await?.len();
    let (s, body) = deliver(
        &sys,
        &id,
        &[("x-marketsync-webhook-token", "forged")],
        &call("forged-1", now),
    )
    .await?;
    assert_eq!(s, 401, "{body}");
    let (s, _) = deliver(&sys, &id, &[], &call("forged-2", now)).await?;
    assert_eq!(s, 401);
    // Replayed: a genuine call from an hour ago → 401.
    let (s, body) = deliver(
        &sys,
        &id,
        &[("x-marketsync-webhook-token", &token)],
        &call("old-1", now - 3600),
    )
    .await?;
    assert_eq!(s, 401, "{body}");
    assert!(sys.log("connector").contains("webhook rejected"));
    assert!(!sys.log("connector").contains(&token), "token logged");

    // Delivered twice: the second is acknowledged and ignored.
    let (s, a) = deliver(
        &sys,
        &id,
        &[("x-marketsync-webhook-token", &token)],
        &call("dup-1", now),
    )
    .await?;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["duplicate"], false, "{a}");
    let sync_id = a["sync_id"].as_str().unwrap().to_string();
    let (s, b) = deliver(
        &sys,
        &id,
        &[("x-marketsync-webhook-token", &token)],
        &call("dup-1", now),
    )
    .await?;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["duplicate"], true, "{b}");
    assert!(b["sync_id"].is_null(), "{b}");
    let run = sys.wait_sync(&sync_id, SYNC_TIMEOUT).await?;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        syncs(&sys, &id).await?.len(),
        n + 1,
        "only the genuine, first delivery started a sync"
    );

    // A burst (every order of the store created at once): every call is answered once its
    // sync is on the bus, and the burst becomes one targeted sync of all of them. (Product and
    // stock webhooks right after an import are left to it and to the reconciliation poll.)
    let orders: Value = reqwest::Client::new()
        .get(format!("{}/orders", sys.sim.v2_url()))
        .header("x-auth-token", &sys.sim_token)
        .header("accept", "application/json")
        .send()
        .await?
        .json()
        .await?;
    let ids: Vec<i64> = orders
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), cfg.orders, "{orders}");
    let n = syncs(&sys, &id).await?.len();
    let burst = futures::future::join_all(ids.iter().map(|oid| {
        let body = json!({"scope": "store/order/created", "store_id": "1001",
               "data": {"type": "order", "id": oid}, "hash": format!("burst-{oid}"),
               "created_at": now, "producer": format!("stores/{}", sys.store_hash)});
        let token = token.clone();
        let sys = &sys;
        let id = &id;
        async move { deliver(sys, id, &[("x-marketsync-webhook-token", &token)], &body).await }
    }))
    .await;
    let mut started = std::collections::BTreeSet::new();
    for r in burst {
        let (s, body) = r?;
        assert_eq!(s, 200, "{body}");
        let sync = body["sync_id"].as_str().unwrap_or_default();
        assert!(!sync.is_empty(), "{body}");
        started.insert(sync.to_string());
    }
    assert_eq!(started.len(), 1, "one sync for the burst: {started:?}");
    let run = sys
        .wait_sync(started.first().unwrap(), SYNC_TIMEOUT)
        .await?;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["operations"], json!(["import_orders"]), "{run}");
    // (The orders were imported by the first sync and have not changed since: the targeted
    // sync reads them and finds nothing new.)
    assert!(run["counts"]["orders"].is_number(), "{run}");
    assert_eq!(syncs(&sys, &id).await?.len(), n + 1);

    // Not a connection: 404; malformed body with a good token: 400.
    let (s, _) = deliver(
        &sys,
        "00000000-0000-0000-0000-000000000000",
        &[],
        &call("x", now),
    )
    .await?;
    assert_eq!(s, 404);
    let (s, _) = deliver(
        &sys,
        &id,
        &[("x-marketsync-webhook-token", &token)],
        &json!("not a webhook"),
    )
    .await?;
    assert_eq!(s, 400);

    // The reconciliation poll: with a sync_frequency, syncs start on their own.
    let n = syncs(&sys, &id).await?.len();
    let (s, v) = sys
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{id}"),
            Some(json!({"settings": {"base_url": sys.sim.base_url(), "sync_frequency": 2}})),
        )
        .await?;
    assert_eq!(s, 200, "{v}");
    sys.eventually("a scheduled sync", Duration::from_secs(30), || async {
        Ok((syncs(&sys, &id).await?.len() > n).then_some(()))
    })
    .await?;
    sys.stop().await;
    Ok(())
}

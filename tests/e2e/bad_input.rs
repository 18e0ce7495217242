//! Bad input: malformed bodies, 5xx bursts, a revoked token, duplicate events, a service killed
//! in the middle of a sync. Each ends in a clear error or a completed sync, and nothing is lost
//! or doubled.

use std::time::Duration;

use marketsync_e2e::System;
use marketsync_proto::v1::{RecordBatch, SyncCommand};
use marketsync_simulators::bigcommerce::SimConfig;
use prost::Message;
use reqwest::Method;
use serde_json::json;

use crate::{SYNC_TIMEOUT, stored_products};

fn sim(products: usize) -> SimConfig {
    SimConfig {
        products,
        orders: 4,
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_and_5xx_bursts_are_retried() -> anyhow::Result<()> {
    let sys = System::start("faults", sim(30)).await?;
    let conn = sys
        .connect_bigcommerce("shop", json!({"batch_size": 10, "retry_attempts": 6}))
        .await?;
    let id = conn["id"].as_str().unwrap();
    sys.sim_admin_post(
        "/faults",
        json!({"kind": "malformed", "count": 2, "path_contains": "/catalog/products"}),
    )
    .await?;
    sys.sim_admin_post(
        "/faults",
        json!({"kind": "status", "status": 503, "count": 3, "path_contains": "/catalog/products"}),
    )
    .await?;
    let run = sys
        .wait_sync(&sys.sync(id, json!({})).await?, SYNC_TIMEOUT)
        .await?;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["counts"]["products"], 30, "{run}");
    assert_eq!(stored_products(&sys, id).await?, 30);
    let pending = sys.sim_admin("/faults").await?;
    assert!(
        pending["pending"].as_array().unwrap().is_empty(),
        "faults not all hit: {pending}"
    );

    // A burst longer than the retries ends the sync with a clear error, nothing half-done.
    sys.sim_admin_post(
        "/faults",
        json!({"kind": "status", "status": 500, "count": 50, "path_contains": "/orders"}),
    )
    .await?;
    let run = sys
        .wait_sync(
            &sys.sync(
                id,
                json!({"operations": ["import_orders"], "force_full": true}),
            )
            .await?,
            SYNC_TIMEOUT,
        )
        .await?;
    assert_eq!(run["status"], "failed", "{run}");
    let err = run["errors"][0].as_str().unwrap();
    assert!(
        err.contains("unavailable") || err.contains("500"),
        "unclear error: {err}"
    );
    sys.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_fails_clearly_and_recovers() -> anyhow::Result<()> {
    let sys = System::start("revoked", sim(10)).await?;
    let conn = sys.connect_bigcommerce("shop", json!({})).await?;
    let id = conn["id"].as_str().unwrap();
    sys.sim_admin_post("/revoke-token", json!({})).await?;
    let (_, t) = sys
        .api(
            Method::POST,
            &format!("/api/v1/connections/{id}/test"),
            Some(json!({})),
        )
        .await?;
    assert_eq!(t["ok"], false, "{t}");
    assert!(
        t["message"].as_str().unwrap().contains("re-authorize"),
        "{t}"
    );
    assert!(!t.to_string().contains(&sys.sim_token));
    let run = sys
        .wait_sync(&sys.sync(id, json!({})).await?, SYNC_TIMEOUT)
        .await?;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["errors"][0].as_str().unwrap().contains("re-authorize"),
        "{run}"
    );
    let c = sys.get(&format!("/api/v1/connections/{id}")).await?;
    assert_eq!(c["error_count"], 1, "{c}");
    sys.sim_admin_post("/restore-token", json!({})).await?;
    let run = sys
        .wait_sync(&sys.sync(id, json!({})).await?, SYNC_TIMEOUT)
        .await?;
    assert_eq!(run["status"], "completed", "{run}");
    assert!(!sys.all_logs().contains(&sys.sim_token));
    sys.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_events_change_nothing() -> anyhow::Result<()> {
    let sys = System::start("duplicates", sim(20)).await?;
    let conn = sys.connect_bigcommerce("shop", json!({})).await?;
    let id = conn["id"].as_str().unwrap().to_string();
    let sync_id = sys.sync(&id, json!({})).await?;
    let run = sys.wait_sync(&sync_id, SYNC_TIMEOUT).await?;
    assert_eq!(run["status"], "completed", "{run}");
    let issues_before = sys.get("/api/v1/issues?limit=1").await?["total"]
        .as_i64()
        .unwrap();
    assert!(issues_before > 0);

    let nats = async_nats::connect(marketsync_e2e::nats_url()).await?;
    let js = async_nats::jetstream::new(nats);
    // The same sync command again, under a new message id (past JetStream's dedup window).
    let cmd = SyncCommand {
        tenant_id: sys.tenant.clone(),
        connection_id: id.clone(),
        sync_id: sync_id.clone(),
        ..Default::default()
    };
    let mut h = async_nats::HeaderMap::new();
    h.insert("Nats-Msg-Id", uuid::Uuid::new_v4().to_string().as_str());
    h.insert("ce-tenant", sys.tenant.as_str());
    js.publish_with_headers(
        format!("{}.cmd.{}.{}.sync", sys.prefix, sys.tenant, id),
        h,
        cmd.encode_to_vec().into(),
    )
    .await?
    .await?;
    // The same products batch again: validated twice, issues not doubled.
    let pool = sys.db().await?;
    let records: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT record FROM connector.products WHERE connection_id = $1::uuid")
            .bind(&id)
            .fetch_all(&pool)
            .await?;
    let batch = RecordBatch {
        tenant_id: sys.tenant.clone(),
        connection_id: id.clone(),
        platform: "bigcommerce".into(),
        sync_id: sync_id.clone(),
        kind: "products".into(),
        products: records
            .iter()
            .map(|r| marketsync_proto::v1::Product::decode(r.as_slice()).unwrap())
            .collect(),
        ..Default::default()
    };
    for _ in 0..2 {
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Msg-Id", uuid::Uuid::new_v4().to_string().as_str());
        js.publish_with_headers(
            format!("{}.records.{}.bigcommerce.products", sys.prefix, sys.tenant),
            h,
            batch.encode_to_vec().into(),
        )
        .await?
        .await?;
    }
    // Let the consumers work through them.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM connector.sync_runs")
        .fetch_one(&pool)
        .await?;
    assert_eq!(runs, 1);
    assert_eq!(stored_products(&sys, &id).await?, 20);
    let issues_after = sys.get("/api/v1/issues?limit=1").await?["total"]
        .as_i64()
        .unwrap();
    assert_eq!(issues_before, issues_after, "issues doubled");
    let run = sys.get(&format!("/api/v1/syncs/{sync_id}")).await?;
    assert_eq!(run["counts"]["products"], 20, "{run}");
    sys.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_killed_mid_sync_resumes_without_loss_or_doubles() -> anyhow::Result<()> {
    let products = 60;
    let cfg = SimConfig {
        products,
        orders: 4,
        // Slow the sync down: 6 requests a second.
        rate_limit_requests: 6,
        rate_limit_window_ms: 1000,
        ..SimConfig::default()
    };
    let mut sys = System::start("restart", cfg).await?;
    let conn = sys
        .connect_bigcommerce("shop", json!({"batch_size": 5}))
        .await?;
    let id = conn["id"].as_str().unwrap().to_string();
    let sync_id = sys.sync(&id, json!({})).await?;
    sys.eventually("the sync halfway", Duration::from_secs(60), || async {
        let r = sys.get(&format!("/api/v1/syncs/{sync_id}")).await?;
        let n = r["counts"]["products"].as_i64().unwrap_or(0);
        Ok((n >= 10 && n < products as i64).then_some(()))
    })
    .await?;
    sys.kill("connector").await?;
    let r = sys.get(&format!("/api/v1/syncs/{sync_id}")).await;
    assert!(r.is_err() || r.unwrap()["status"] == "running");
    sys.spawn("connector").await?;
    sys.wait_ready("connector").await?;
    let run = sys.wait_sync(&sync_id, Duration::from_secs(180)).await?;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(
        run["counts"]["products"], products as i64,
        "counted once: {run}"
    );
    assert_eq!(stored_products(&sys, &id).await?, products as i64);
    let pool = sys.db().await?;
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT sku, rule FROM monitor.issues GROUP BY 1, 2 HAVING count(*) > 1) d",
    )
    .fetch_one(&pool)
    .await?;
    assert_eq!(open, 0, "an issue was doubled");
    assert!(
        sys.log("connector").contains("resumed\":true")
            || sys.log("connector").contains("resumed=true")
    );
    sys.stop().await;
    Ok(())
}

//! One stock truth across channels, through the gateway, against two marketplace simulators
//! (Refurbed and Back Market list the same demo skus): the ledger filled by adjustments (once
//! per idempotency key), derived quantities pushed to each channel by its allocation rules,
//! an order on one channel reserving once and reaching the other, a cancellation releasing,
//! drift overwritten or accepted by policy and kept as an issue, a push that keeps failing
//! raised as an issue and resolved when the channel recovers, the consistency report with
//! its differences, a forced full sync repairing them after a backup point, and the backup
//! restored; then restarts of every service in the middle of an order storm, losing and
//! doubling nothing.

use std::collections::HashMap;
use std::time::Duration;

use marketsync_e2e::System;
use marketsync_simulators::demo;
use reqwest::Method;
use serde_json::{Value, json};

use crate::SYNC_TIMEOUT;
use crate::platforms::get_json;

const WAIT: Duration = Duration::from_secs(60);

async fn sync_ok(sys: &System, id: &str, body: Value) -> anyhow::Result<Value> {
    let sync = sys.sync(id, body.clone()).await?;
    let run = sys.wait_sync(&sync, SYNC_TIMEOUT).await?;
    anyhow::ensure!(
        run["status"] == "completed",
        "sync {body} did not complete: {run}\n{}",
        sys.log("connector")
    );
    Ok(run)
}

async fn post(url: String, body: Value) -> anyhow::Result<(u16, Value)> {
    let resp = reqwest::Client::new().post(&url).json(&body).send().await?;
    let s = resp.status().as_u16();
    Ok((s, resp.json().await.unwrap_or(Value::Null)))
}

async fn put(url: String, body: Value) -> anyhow::Result<()> {
    let resp = reqwest::Client::new().put(&url).json(&body).send().await?;
    anyhow::ensure!(resp.status().is_success(), "PUT {url}: {}", resp.status());
    Ok(())
}

/// What a marketplace simulator lists for a sku.
async fn shown(admin: &str, sku: &str) -> anyhow::Result<i64> {
    Ok(get_json(format!("{admin}/offers/{sku}")).await?["quantity"]
        .as_i64()
        .unwrap_or(-1))
}

async fn until_shown(sys: &System, admin: &str, sku: &str, want: i64) -> anyhow::Result<()> {
    sys.eventually(&format!("{admin} shows {want} of {sku}"), WAIT, || async {
        Ok((shown(admin, sku).await? == want).then_some(()))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", sys.log("connector")))
}

async fn ledger(sys: &System, sku: &str) -> anyhow::Result<(i64, i64)> {
    let v = sys.get(&format!("/api/v1/stock?sku={sku}")).await?;
    let items = v["items"].as_array().cloned().unwrap_or_default();
    let on_hand = items
        .iter()
        .map(|l| l["on_hand"].as_i64().unwrap_or(0))
        .sum();
    let reserved = items
        .iter()
        .map(|l| l["reserved"].as_i64().unwrap_or(0))
        .sum();
    Ok((on_hand, reserved))
}

struct Channels {
    refurbed: marketsync_simulators::refurbed::RunningSimulator,
    backmarket: marketsync_simulators::backmarket::RunningSimulator,
    r: String,
    b: String,
    skus: Vec<String>,
}

/// Both simulators with the same demo listings, a connection to each, a first full sync.
async fn channels(sys: &System, products: usize, b_rules: Value) -> anyhow::Result<Channels> {
    use marketsync_simulators::{backmarket, refurbed};
    let rc = refurbed::SimConfig {
        products,
        orders: 0,
        seed: 11,
        ..Default::default()
    };
    let bc = backmarket::SimConfig {
        products,
        orders: 0,
        seed: 11,
        ..Default::default()
    };
    let refurbed = refurbed::start("127.0.0.1:0".parse()?, rc.clone()).await?;
    let backmarket = backmarket::start("127.0.0.1:0".parse()?, bc.clone()).await?;
    let r = sys
        .connect(
            "refurbed",
            "refurbed",
            json!({"api_token": rc.api_token, "merchant_id": rc.merchant_id}),
            json!({"base_url": refurbed.base_url(), "stock": {"drift_grace_secs": 0}}),
        )
        .await?["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = sys
        .connect(
            "backmarket",
            "backmarket",
            json!({"api_key": bc.api_key, "api_secret": bc.api_secret, "seller_id": bc.seller_id}),
            json!({"base_url": backmarket.base_url(), "stock": b_rules}),
        )
        .await?["id"]
        .as_str()
        .unwrap()
        .to_string();
    for id in [&r, &b] {
        sync_ok(sys, id, json!({})).await?;
    }
    let skus = demo::offers(11, &demo::catalog(11, products))
        .into_iter()
        .filter(|o| o.listing_error.is_none())
        .map(|o| o.sku)
        .collect();
    Ok(Channels {
        refurbed,
        backmarket,
        r,
        b,
        skus,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stock_truth_across_channels() -> anyhow::Result<()> {
    let sys = crate::platforms::system("stock-ledger").await?;
    let ch = channels(
        &sys,
        8,
        json!({"safety_buffer": 1, "drift_policy": "accept", "drift_grace_secs": 0}),
    )
    .await?;
    let (ra, ba) = (ch.refurbed.admin_url(), ch.backmarket.admin_url());
    let (s1, s2, s3) = (&ch.skus[0], &ch.skus[1], &ch.skus[2]);

    // The ledger, filled by hand: the same key twice changes it once.
    let seed = json!({"idempotency_key": "seed-1", "items": [
        {"sku": s1, "warehouse": "WH-A", "quantity": 5, "absolute": true},
        {"sku": s2, "warehouse": "WH-A", "quantity": 5, "absolute": true},
        {"sku": s3, "warehouse": "WH-A", "quantity": 3, "absolute": true, "note": "cycle count"},
        {"sku": s3, "warehouse": "WH-B", "quantity": 2, "absolute": true},
    ]});
    let (st, first) = sys
        .api(
            Method::POST,
            "/api/v1/stock/adjustments",
            Some(seed.clone()),
        )
        .await?;
    assert_eq!(st, 200, "{first}");
    assert_eq!(first["duplicate"], false, "{first}");
    let (st, again) = sys
        .api(Method::POST, "/api/v1/stock/adjustments", Some(seed))
        .await?;
    assert_eq!(st, 200, "{again}");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(ledger(&sys, s3).await?, (5, 0));
    let (st, bad) = sys
        .api(
            Method::POST,
            "/api/v1/stock/adjustments",
            Some(json!({"items": [{"sku": s1, "warehouse": "", "quantity": 1}]})),
        )
        .await?;
    assert_eq!(st, 400, "{bad}");

    // Each channel gets its derived quantity: Refurbed all of it, Back Market one held back.
    until_shown(&sys, &ra, s1, 5).await?;
    until_shown(&sys, &ba, s1, 4).await?;
    until_shown(&sys, &ra, s3, 5).await?;
    until_shown(&sys, &ba, s3, 4).await?;

    // An order on Refurbed reserves once, however often it is imported, and reaches Back Market.
    let (st, order) = post(format!("{ra}/orders"), json!({"sku": s1, "quantity": 1})).await?;
    assert!(st < 300, "{st} {order}");
    let oid = order["id"].as_str().unwrap().to_string();
    for _ in 0..2 {
        sync_ok(&sys, &ch.r, json!({"operations": ["import_orders"]})).await?;
    }
    assert_eq!(ledger(&sys, s1).await?, (5, 1));
    until_shown(&sys, &ba, s1, 3).await?;
    until_shown(&sys, &ra, s1, 4).await?;
    let hist = sys.get(&format!("/api/v1/stock/{s1}/history")).await?;
    let causes: Vec<&str> = hist["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["cause"].as_str().unwrap())
        .collect();
    assert_eq!(causes, vec!["order", "adjustment"], "{hist}");
    assert_eq!(hist["reservations"][0]["state"], "reserved", "{hist}");
    assert_eq!(hist["reservations"][0]["order_id"], oid.as_str(), "{hist}");

    // Cancelled on the channel: released, once.
    post(format!("{ra}/orders/{oid}/cancel"), json!({})).await?;
    for _ in 0..2 {
        sync_ok(&sys, &ch.r, json!({"operations": ["import_orders"]})).await?;
    }
    assert_eq!(ledger(&sys, s1).await?, (5, 0));
    until_shown(&sys, &ba, s1, 4).await?;
    let hist = sys.get(&format!("/api/v1/stock/{s1}/history")).await?;
    assert_eq!(hist["entries"][0]["cause"], "cancellation", "{hist}");
    assert_eq!(hist["reservations"][0]["state"], "released", "{hist}");

    // Shipped: the reservation is consumed, on hand goes down, once.
    let (st, order) = post(format!("{ra}/orders"), json!({"sku": s1, "quantity": 1})).await?;
    assert!(st < 300, "{st} {order}");
    let shipped = order["id"].as_str().unwrap().to_string();
    sync_ok(&sys, &ch.r, json!({"operations": ["import_orders"]})).await?;
    assert_eq!(ledger(&sys, s1).await?, (5, 1));
    let (st, body) = sys
        .api(
            Method::POST,
            &format!("/api/v1/connections/{}/orders/{shipped}/shipments", ch.r),
            Some(json!({"carrier": "DHL", "tracking_number": "JD014600003828471234"})),
        )
        .await?;
    assert_eq!(st, 200, "{body}");
    for _ in 0..2 {
        sync_ok(&sys, &ch.r, json!({"operations": ["import_orders"]})).await?;
    }
    assert_eq!(ledger(&sys, s1).await?, (4, 0));
    until_shown(&sys, &ba, s1, 3).await?;
    let hist = sys.get(&format!("/api/v1/stock/{s1}/history")).await?;
    assert_eq!(hist["entries"][0]["cause"], "shipment", "{hist}");
    assert_eq!(hist["entries"][0]["on_hand_delta"], -1, "{hist}");
    // Put the unit back by hand, so what follows starts from 5 again.
    let (st, _) = sys
        .api(
            Method::POST,
            "/api/v1/stock/adjustments",
            Some(
                json!({"items": [{"sku": s1, "warehouse": "WH-A", "quantity": 1,
                                   "cause": "correction", "note": "returned"}]}),
            ),
        )
        .await?;
    assert_eq!(st, 200);
    until_shown(&sys, &ra, s1, 5).await?;

    // Drift on Refurbed (policy overwrite): ours goes back, the drift is an issue.
    put(format!("{ra}/offers/{s2}"), json!({"quantity": 50})).await?;
    let run = sync_ok(&sys, &ch.r, json!({"operations": ["import_inventory"]})).await?;
    assert_eq!(run["counts"]["stock_drift"], 1, "{run}");
    until_shown(&sys, &ra, s2, 5).await?;
    sys.eventually("a stock_drift issue", WAIT, || async {
        let v = sys
            .get("/api/v1/issues?status=resolved&type=stock_drift")
            .await?;
        let items = v["items"].as_array().cloned().unwrap_or_default();
        Ok(items.into_iter().find(|i| i["sku"] == s2.as_str()))
    })
    .await?;

    // Drift on Back Market (policy accept): the difference becomes an adjustment that reaches
    // Refurbed. Back Market was sent 4 of s3 (5 - buffer) and shows 7: +3 on hand.
    put(format!("{ba}/offers/{s3}"), json!({"quantity": 7})).await?;
    sync_ok(&sys, &ch.b, json!({"operations": ["import_inventory"]})).await?;
    assert_eq!(ledger(&sys, s3).await?, (8, 0));
    until_shown(&sys, &ra, s3, 8).await?;
    let hist = sys.get(&format!("/api/v1/stock/{s3}/history")).await?;
    assert_eq!(hist["entries"][0]["cause"], "drift", "{hist}");
    assert_eq!(hist["entries"][0]["on_hand_delta"], 3, "{hist}");

    // A push that keeps failing is an issue, resolved when the channel takes it again.
    post(
        format!("{ra}/faults"),
        json!({"kind": "status", "status": 503, "count": 40}),
    )
    .await?;
    let (st, _) = sys
        .api(
            Method::POST,
            "/api/v1/stock/adjustments",
            Some(json!({"items": [{"sku": s2, "warehouse": "WH-A", "quantity": -1}]})),
        )
        .await?;
    assert_eq!(st, 200);
    let failing = sys
        .eventually(
            "a stock_push_failed issue",
            Duration::from_secs(120),
            || async {
                let v = sys
                    .get("/api/v1/issues?status=pending_review&type=stock_push_failed")
                    .await?;
                let items = v["items"].as_array().cloned().unwrap_or_default();
                Ok(items.into_iter().find(|i| i["sku"] == s2.as_str()))
            },
        )
        .await?;
    reqwest::Client::new()
        .delete(format!("{ra}/faults"))
        .send()
        .await?;
    until_shown(&sys, &ra, s2, 4).await?;
    let id = failing["id"].as_str().unwrap().to_string();
    sys.eventually(
        "the push issue resolved",
        Duration::from_secs(120),
        || async {
            let v = sys.get(&format!("/api/v1/issues/{id}")).await?;
            Ok((v["status"] == "resolved").then_some(()))
        },
    )
    .await?;

    // The consistency report: with pushing off, a change on the channel stays a difference.
    let (st, _) = sys
        .api(
            Method::PATCH,
            &format!("/api/v1/connections/{}", ch.r),
            Some(json!({"settings": {"base_url": ch.refurbed.base_url(),
                "stock": {"push": "off", "drift_grace_secs": 3600}}})),
        )
        .await?;
    assert_eq!(st, 200);
    put(format!("{ra}/offers/{s1}"), json!({"quantity": 0})).await?;
    sync_ok(&sys, &ch.r, json!({"operations": ["import_inventory"]})).await?;
    let report = sys
        .get(&format!("/api/v1/connections/{}/consistency", ch.r))
        .await?;
    assert!(report["compared"].as_i64().unwrap() >= 3, "{report}");
    assert!(report["score"].as_f64().unwrap() < 1.0, "{report}");
    let diff = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["sku"] == s1.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{s1} not among the differences: {report}"));
    assert_eq!(diff["expected"], 5, "{diff}");
    assert_eq!(diff["observed"], 0, "{diff}");
    assert!(
        report["recent_drift"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["sku"] == s2.as_str() && d["resolution"] == "overwritten"),
        "{report}"
    );

    // A forced full sync repairs it, after saving what the channel showed.
    let run = sync_ok(
        &sys,
        &ch.r,
        json!({"operations": ["export_inventory"], "force_full": true}),
    )
    .await?;
    assert!(
        run["counts"]["backup_items"].as_i64().unwrap() >= 3,
        "{run}"
    );
    assert_eq!(shown(&ra, s1).await?, 5);
    sync_ok(&sys, &ch.r, json!({"operations": ["import_inventory"]})).await?;
    let report = sys
        .get(&format!("/api/v1/connections/{}/consistency", ch.r))
        .await?;
    assert_eq!(report["score"], 1.0, "{report}");
    let backups = sys
        .get(&format!("/api/v1/connections/{}/backups", ch.r))
        .await?;
    let backup = backups["items"][0]["id"].as_str().unwrap().to_string();

    // The backup point restored with one command puts the channel's old quantity back.
    let listed = sys
        .cli(&[
            "stock",
            "backups",
            &ch.r,
            "--api-url",
            &sys.gateway,
            "--api-key",
            &sys.api_key,
        ])
        .await?;
    assert!(listed.contains(&backup), "{listed}");
    let out = sys
        .cli(&[
            "stock",
            "restore",
            &backup,
            "--api-url",
            &sys.gateway,
            "--api-key",
            &sys.api_key,
        ])
        .await?;
    assert!(out.starts_with("restored "), "{out}");
    assert_eq!(shown(&ra, s1).await?, 0);
    let report = sys
        .cli(&[
            "stock",
            "consistency",
            &ch.r,
            "--api-url",
            &sys.gateway,
            "--api-key",
            &sys.api_key,
        ])
        .await?;
    assert!(report.contains("data consistency score"), "{report}");
    let audit = sys.get("/api/v1/audit?limit=200").await?;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert!(actions.contains(&"stock.adjust"), "{actions:?}");
    assert!(actions.contains(&"stock.backup.restore"), "{actions:?}");

    sys.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_during_an_order_storm_lose_and_double_nothing() -> anyhow::Result<()> {
    let sys = crate::platforms::system("stock-storm").await?;
    let mut sys = sys;
    let ch = channels(&sys, 12, json!({"drift_grace_secs": 0})).await?;
    let (ra, ba) = (ch.refurbed.admin_url(), ch.backmarket.admin_url());
    let skus: Vec<String> = ch.skus.iter().take(6).cloned().collect();
    let items: Vec<Value> = skus
        .iter()
        .map(|s| json!({"sku": s, "warehouse": "MAIN", "quantity": 4, "absolute": true}))
        .collect();
    let (st, _) = sys
        .api(
            Method::POST,
            "/api/v1/stock/adjustments",
            Some(json!({"items": items})),
        )
        .await?;
    assert_eq!(st, 200);
    for s in &skus {
        until_shown(&sys, &ra, s, 4).await?;
        until_shown(&sys, &ba, s, 4).await?;
    }
    // Orders spread over both channels while each service is killed and restarted; imports
    // run after each order, as a webhook or a poll would start them.
    let mut placed: HashMap<String, i64> = HashMap::new();
    let services = ["connector", "monitor", "knowledge", "gateway"];
    for round in 0..8 {
        let service = services[round % services.len()];
        for (i, s) in skus.iter().enumerate() {
            if (i + round) % 3 != 0 {
                continue;
            }
            let (admin, conn) = if (i + round) % 2 == 0 {
                (&ra, &ch.r)
            } else {
                (&ba, &ch.b)
            };
            if placed.get(s).copied().unwrap_or(0) >= 3 {
                continue;
            }
            let (st, _) = post(format!("{admin}/orders"), json!({"sku": s, "quantity": 1})).await?;
            if st < 300 {
                *placed.entry(s.clone()).or_default() += 1;
            }
            let _ = sys
                .sync(conn, json!({"operations": ["import_orders"]}))
                .await;
        }
        sys.kill(service).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        sys.spawn(service).await?;
        sys.wait_ready(service).await?;
    }
    // Everything settles: every order reserved exactly once, both channels show the rest.
    for id in [&ch.r, &ch.b] {
        sync_ok(&sys, id, json!({"operations": ["import_orders"]})).await?;
    }
    for s in &skus {
        let sold = placed.get(s).copied().unwrap_or(0);
        sys.eventually(&format!("{s} reserved {sold}"), WAIT, || async {
            Ok((ledger(&sys, s).await? == (4, sold)).then_some(()))
        })
        .await?;
        until_shown(&sys, &ra, s, 4 - sold).await?;
        until_shown(&sys, &ba, s, 4 - sold).await?;
    }
    let pool = sys.db().await?;
    let (orders, entries): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM connector.stock_reservations WHERE state = 'reserved'), \
                (SELECT count(*) FROM connector.stock_entries WHERE cause = 'order')",
    )
    .fetch_one(&pool)
    .await?;
    let total: i64 = placed.values().sum();
    assert_eq!((orders, entries), (total, total));
    sys.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_of_record_sets_on_hand_and_is_not_pushed() -> anyhow::Result<()> {
    let sys = crate::platforms::system("stock-source").await?;
    let shop = sys.connect_bigcommerce("erp-like-shop", json!({})).await?;
    let shop = shop["id"].as_str().unwrap().to_string();
    let (st, w) = sys
        .api(
            Method::PUT,
            "/api/v1/stock/warehouses/WH-EAST",
            Some(json!({"source_connection_id": shop})),
        )
        .await?;
    assert_eq!(st, 200, "{w}");
    let (st, bad) = sys
        .api(
            Method::PUT,
            "/api/v1/stock/warehouses/WH-WEST",
            Some(json!({"source_connection_id": uuid::Uuid::new_v4().to_string()})),
        )
        .await?;
    assert_eq!(st, 400, "{bad}");
    sync_ok(
        &sys,
        &shop,
        json!({"operations": ["import_products", "import_inventory"]}),
    )
    .await?;
    // Only the warehouse it is the source of fills the ledger, with `import` entries.
    let east = sys.get("/api/v1/stock?warehouse=WH-EAST").await?;
    let items = east["items"].as_array().cloned().unwrap_or_default();
    assert!(!items.is_empty(), "{east}");
    let west = sys.get("/api/v1/stock?warehouse=WH-WEST").await?;
    assert_eq!(west["items"], json!([]), "{west}");
    let sku = items[0]["sku"].as_str().unwrap().to_string();
    let hist = sys.get(&format!("/api/v1/stock/{sku}/history")).await?;
    assert_eq!(hist["entries"][0]["cause"], "import", "{hist}");
    assert_eq!(hist["entries"][0]["connection_id"], shop.as_str(), "{hist}");
    // Importing the same quantities again changes nothing.
    sync_ok(
        &sys,
        &shop,
        json!({"operations": ["import_inventory"], "force_full": true}),
    )
    .await?;
    let again = sys.get(&format!("/api/v1/stock/{sku}/history")).await?;
    assert_eq!(again["entries"], hist["entries"], "{again}");
    // A system of record receives no pushed quantities.
    assert_eq!(hist["channels"], json!([]), "{hist}");
    let ws = sys.get("/api/v1/stock/warehouses").await?;
    assert!(
        ws["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "WH-EAST" && w["source_connection_id"] == shop.as_str()),
        "{ws}"
    );
    sys.stop().await;
    Ok(())
}

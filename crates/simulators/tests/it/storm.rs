//! The stock-storm admin contract (README, "Stock storm admin contract") on every simulator:
//! listings, quantities, orders that never oversell, and the quantity log.

use std::collections::HashMap;
use std::net::SocketAddr;

use marketsync_simulators as sims;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A client (with the TLS provider the simulators' own clients need installed first).
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn addr() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> (StatusCode, Value) {
    let r = http.post(url).json(&body).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn quantities(http: &reqwest::Client, admin: &str, skus: &[&str]) -> HashMap<String, i64> {
    let r = http
        .get(format!("{admin}/quantities?skus={}", skus.join(",")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    serde_json::from_value(r.json().await.unwrap()).unwrap()
}

/// The whole contract against one simulator; `probe` is an admin path (with `{sku}`) that shows
/// the stored product or offer of a sku, the same record the demo data lives in.
async fn contract(name: &str, admin: String, probe: &str) {
    let http = client();
    let a = "STORM-A";
    let b = "STORM-B";
    let c = "STORM-C";
    let (status, body) = post(
        &http,
        format!("{admin}/listings"),
        json!({"items": [
            {"sku": a, "title": "Storm A", "price": "19.90", "quantity": 3},
            {"sku": b, "price": "5.00", "quantity": 5},
            {"sku": c, "title": "Storm C", "price": "7.50", "quantity": 0},
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{name}: listings {body}");
    assert_eq!(body, json!({"created": 3, "updated": 0}), "{name}");

    let q = quantities(&http, &admin, &[a, b, c]).await;
    assert_eq!(q.get(a), Some(&3), "{name}: {q:?}");
    assert_eq!(q.get(b), Some(&5), "{name}: {q:?}");
    assert_eq!(q.get(c), Some(&0), "{name}: {q:?}");
    let all = quantities(&http, &admin, &[]).await;
    assert!(
        all.contains_key(a) && all.contains_key(c),
        "{name}: all quantities"
    );

    for sku in [a, b, c] {
        let r = http
            .get(format!("{admin}{}", probe.replace("{sku}", sku)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{name}: {sku} not in the store");
    }

    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, body) = post(
            &http,
            format!("{admin}/orders"),
            json!({"sku": a, "quantity": 1}),
        )
        .await;
        assert!(status.is_success(), "{name}: order {status} {body}");
        let id = body["id"].as_str().unwrap_or_default().to_string();
        assert!(!id.is_empty(), "{name}: order id in {body}");
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{name}: distinct order ids");
    let (status, body) = post(
        &http,
        format!("{admin}/orders"),
        json!({"sku": a, "quantity": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{name}: {body}");
    assert_eq!(
        body,
        json!({"error": "insufficient stock", "available": 0}),
        "{name}"
    );
    let (status, body) = post(
        &http,
        format!("{admin}/orders"),
        json!({"sku": b, "quantity": 6}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{name}: {body}");
    assert_eq!(body["available"], 5, "{name}");
    assert_eq!(
        quantities(&http, &admin, &[a]).await.get(a),
        Some(&0),
        "{name}"
    );

    let r = http
        .put(format!("{admin}/quantities/{c}"))
        .json(&json!({"quantity": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{name}: PUT quantity");
    let r = http
        .put(format!("{admin}/quantities/NO-SUCH-SKU"))
        .json(&json!({"quantity": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "{name}: PUT unknown sku");
    assert_eq!(
        quantities(&http, &admin, &[c]).await.get(c),
        Some(&7),
        "{name}"
    );

    let (status, body) = post(
        &http,
        format!("{admin}/listings"),
        json!({"items": [{"sku": a, "price": "21.00", "quantity": 2}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{name}");
    assert_eq!(body, json!({"created": 0, "updated": 1}), "{name}");
    assert_eq!(
        quantities(&http, &admin, &[a]).await.get(a),
        Some(&2),
        "{name}"
    );

    // The log: every change of the storm skus, in order, with its cause.
    let log: Value = http
        .get(format!("{admin}/quantity-log?after=0"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = log["entries"].as_array().unwrap();
    let mut last_seq = 0;
    let mut last_at = 0;
    for e in entries {
        let seq = e["seq"].as_u64().unwrap();
        assert!(seq > last_seq, "{name}: seqs in order");
        last_seq = seq;
        let at = e["at_ms"].as_i64().unwrap();
        assert!(at >= last_at && at > 1_700_000_000_000, "{name}: at_ms");
        last_at = at;
    }
    assert_eq!(log["next"].as_u64(), Some(last_seq), "{name}");
    let of = |sku: &str| -> Vec<(i64, String)> {
        entries
            .iter()
            .filter(|e| e["sku"] == sku)
            .map(|e| {
                (
                    e["quantity"].as_i64().unwrap(),
                    e["cause"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let want = |v: &[(i64, &str)]| -> Vec<(i64, String)> {
        v.iter().map(|(q, c)| (*q, c.to_string())).collect()
    };
    assert_eq!(
        of(a),
        want(&[
            (3, "admin"),
            (2, "order"),
            (1, "order"),
            (0, "order"),
            (2, "admin")
        ]),
        "{name}"
    );
    assert_eq!(of(b), want(&[(5, "admin")]), "{name}");
    assert_eq!(of(c), want(&[(0, "admin"), (7, "admin")]), "{name}");
    let tail: Value = http
        .get(format!("{admin}/quantity-log?after={last_seq}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tail, json!({"entries": [], "next": last_seq}), "{name}");
    let one: Value = http
        .get(format!("{admin}/quantity-log?after=0&limit=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["entries"].as_array().map(Vec::len), Some(1), "{name}");

    // 20 concurrent buyers of 5 units: exactly 5 get one.
    let d = "STORM-D";
    let (status, _) = post(
        &http,
        format!("{admin}/listings"),
        json!({"items": [{"sku": d, "price": "9.99", "quantity": 5}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{name}");
    let buyers: Vec<_> = (0..20)
        .map(|_| {
            let http = http.clone();
            let url = format!("{admin}/orders");
            tokio::spawn(async move {
                http.post(url)
                    .json(&json!({"sku": d, "quantity": 1}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut ok = 0;
    let mut refused = 0;
    for b in buyers {
        let s = b.await.unwrap();
        if s.is_success() {
            ok += 1;
        } else if s == StatusCode::CONFLICT {
            refused += 1;
        }
    }
    assert_eq!((ok, refused), (5, 15), "{name}: concurrent orders");
    assert_eq!(
        quantities(&http, &admin, &[d]).await.get(d),
        Some(&0),
        "{name}"
    );
}

macro_rules! storm_test {
    ($test:ident, $module:ident, $probe:expr) => {
        #[tokio::test]
        async fn $test() {
            let _ = client();
            let config = sims::$module::SimConfig {
                products: 3,
                orders: 1,
                ..Default::default()
            };
            let sim = sims::$module::start(addr(), config).await.unwrap();
            contract(stringify!($module), sim.admin_url(), $probe).await;
            sim.stop().await;
        }
    };
}

storm_test!(
    bigcommerce_serves_the_storm_contract,
    bigcommerce,
    "/products/{sku}"
);
storm_test!(
    shopify_serves_the_storm_contract,
    shopify,
    "/products/{sku}"
);
storm_test!(
    woocommerce_serves_the_storm_contract,
    woocommerce,
    "/products/{sku}"
);
storm_test!(
    magento_serves_the_storm_contract,
    magento,
    "/products/{sku}"
);
storm_test!(
    prestashop_serves_the_storm_contract,
    prestashop,
    "/products/{sku}"
);
storm_test!(
    opencart_serves_the_storm_contract,
    opencart,
    "/products/{sku}"
);
storm_test!(
    backmarket_serves_the_storm_contract,
    backmarket,
    "/offers/{sku}"
);
storm_test!(
    refurbed_serves_the_storm_contract,
    refurbed,
    "/offers/{sku}"
);
storm_test!(
    cdiscount_serves_the_storm_contract,
    cdiscount,
    "/offers/{sku}"
);
storm_test!(ebay_serves_the_storm_contract, ebay, "/offers/{sku}");
storm_test!(mirakl_serves_the_storm_contract, mirakl, "/offers/{sku}");
storm_test!(amazon_serves_the_storm_contract, amazon, "/offers/{sku}");

/// The log entries of `sku` after `after`, as (quantity, cause, at_ms).
async fn log_of(http: &reqwest::Client, admin: &str, sku: &str) -> Vec<(i64, String, i64)> {
    let log: Value = http
        .get(format!("{admin}/quantity-log"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["sku"] == sku)
        .map(|e| {
            (
                e["quantity"].as_i64().unwrap(),
                e["cause"].as_str().unwrap().to_string(),
                e["at_ms"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_api_stock_write_is_logged_as_api() {
    let http = client();
    let sim = sims::bigcommerce::start(
        addr(),
        sims::bigcommerce::SimConfig {
            products: 2,
            orders: 0,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let admin = sim.admin_url();
    let (status, _) = post(
        &http,
        format!("{admin}/listings"),
        json!({"items": [{"sku": "API-1", "price": "5.00", "quantity": 4}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The product is served by the catalog API like a demo product.
    let found: Value = http
        .get(format!(
            "{}/catalog/products?sku=API-1&include=variants",
            sim.v3_url()
        ))
        .header("X-Auth-Token", "bc-demo-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["data"][0]["sku"], "API-1", "{found}");
    let r = http
        .put(format!("{}/inventory/adjustments/absolute", sim.v3_url()))
        .header("X-Auth-Token", "bc-demo-token")
        .json(&json!({"reason": "sync", "items": [{"location_id": 2, "sku": "API-1", "quantity": 6}]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let entries = log_of(&http, &admin, "API-1").await;
    let got: Vec<(i64, &str)> = entries.iter().map(|(q, c, _)| (*q, c.as_str())).collect();
    assert_eq!(got, vec![(4, "admin"), (10, "api")]);
    assert_eq!(quantities(&http, &admin, &["API-1"]).await["API-1"], 10);
    sim.stop().await;
}

#[tokio::test]
async fn a_mirakl_import_is_logged_when_it_is_applied() {
    let http = client();
    let config = sims::mirakl::SimConfig {
        products: 2,
        orders: 0,
        import_base: std::time::Duration::from_millis(400),
        ..Default::default()
    };
    let sim = sims::mirakl::start(addr(), config).await.unwrap();
    let admin = sim.admin_url();
    let (status, _) = post(
        &http,
        format!("{admin}/listings"),
        json!({"items": [{"sku": "MK-1", "price": "5.00", "quantity": 4}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let submitted = chrono::Utc::now().timestamp_millis();
    let r = http
        .post(format!("{}/api/offers", sim.base_url()))
        .header("Authorization", "mirakl-demo-shop-key")
        .json(
            &json!({"offers": [{"shop_sku": "MK-1", "price": "5.00", "quantity": 9,
                                  "update_delete": "update", "state_code": "11"}]}),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // Not applied yet: the import is still processing.
    assert_eq!(quantities(&http, &admin, &["MK-1"]).await["MK-1"], 4);
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let entries = log_of(&http, &admin, "MK-1").await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!((entries[1].0, entries[1].1.as_str()), (9, "api"));
    assert!(
        entries[1].2 >= submitted + 350,
        "logged when applied, not when submitted: {entries:?} vs {submitted}"
    );
    assert_eq!(quantities(&http, &admin, &["MK-1"]).await["MK-1"], 9);
    sim.stop().await;
}

#[tokio::test]
async fn listings_of_2000_items_are_quick() {
    let http = client();
    let sim = sims::shopify::start(
        addr(),
        sims::shopify::SimConfig {
            products: 20,
            orders: 0,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let items: Vec<Value> = (0..2000)
        .map(|i| json!({"sku": format!("BULK-{i}"), "price": "1.00", "quantity": i % 7}))
        .collect();
    let started = std::time::Instant::now();
    let (status, body) = post(
        &http,
        format!("{}/listings", sim.admin_url()),
        json!({"items": items}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"created": 2000, "updated": 0}));
    let (_, body) = post(
        &http,
        format!("{}/listings", sim.admin_url()),
        json!({"items": items}),
    )
    .await;
    assert_eq!(body, json!({"created": 0, "updated": 2000}));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let all = quantities(&http, &sim.admin_url(), &[]).await;
    assert_eq!(all.get("BULK-13"), Some(&6));
    sim.stop().await;
}

#[tokio::test]
async fn quantity_changes_and_orders_send_the_platform_webhooks() {
    let http = client();
    let sim = sims::bigcommerce::start(
        addr(),
        sims::bigcommerce::SimConfig {
            products: 1,
            orders: 0,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let admin = sim.admin_url();
    for scope in ["store/sku/inventory/updated", "store/order/created"] {
        let r = http
            .post(format!("{}/hooks", sim.v3_url()))
            .header("X-Auth-Token", "bc-demo-token")
            .json(&json!({"scope": scope, "destination": "http://127.0.0.1:9/hook", "is_active": true}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
    post(
        &http,
        format!("{admin}/listings"),
        json!({"items": [{"sku": "HOOK-1", "quantity": 2}]}),
    )
    .await;
    let r = http
        .put(format!("{admin}/quantities/HOOK-1"))
        .json(&json!({"quantity": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (status, _) = post(&http, format!("{admin}/orders"), json!({"sku": "HOOK-1"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let mut scopes: Vec<String> = Vec::new();
    for _ in 0..50 {
        let stats: Value = http
            .get(format!("{admin}/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        scopes = stats["webhook_deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["scope"].as_str().unwrap().to_string())
            .collect();
        if scopes.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    scopes.sort();
    assert_eq!(
        scopes,
        vec!["store/order/created", "store/sku/inventory/updated"]
    );
    sim.stop().await;
}

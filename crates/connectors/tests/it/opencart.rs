//! The OpenCart connector against the OpenCart simulator.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::time::{Duration, Instant};

use marketsync_connectors::opencart::OpenCart;
use marketsync_connectors::{
    ConnectionConfig, Connector, ConnectorError, Credentials, FieldUpdate, ImportQuery,
    OrderUpdate, Settings, WebhookCall,
};
use marketsync_proto::v1::StockLevel;
use marketsync_simulators::demo::{self, DefectCounts};
use marketsync_simulators::opencart::{self as sim, RunningSimulator, SimConfig};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::support::{Admin, all_pages, pages_of};

fn config(products: usize, orders: usize) -> SimConfig {
    SimConfig {
        products,
        orders,
        seed: 11,
        ..SimConfig::default()
    }
}

async fn start(config: SimConfig) -> RunningSimulator {
    crate::support::on_free_port(|addr| sim::start(addr, config)).await
}

fn settings_for(sim: &RunningSimulator) -> Settings {
    crate::support::fast_settings(sim.base_url())
}

fn connector_with(cfg: &SimConfig, key: &str, settings: Settings) -> OpenCart {
    let credentials = Credentials::from_json(&json!({
        "store_url": "https://shop.example.com",
        "api_key": key,
        "api_username": cfg.api_username,
    }))
    .unwrap();
    OpenCart::new(ConnectionConfig {
        platform: "opencart".into(),
        credentials,
        settings,
    })
    .expect("valid connection")
}

fn connector(sim: &RunningSimulator, cfg: &SimConfig) -> OpenCart {
    connector_with(cfg, &cfg.api_key, settings_for(sim))
}

async fn products(c: &OpenCart, q: ImportQuery) -> (Vec<marketsync_proto::v1::Product>, usize) {
    all_pages(q, |q| async move { c.products_page(&q).await })
        .await
        .unwrap()
}

async fn stock(c: &OpenCart, q: ImportQuery) -> Vec<StockLevel> {
    all_pages(q, |q| async move { c.stock_page(&q).await })
        .await
        .unwrap()
        .0
}

async fn orders(c: &OpenCart, q: ImportQuery) -> Vec<marketsync_proto::v1::Order> {
    all_pages(q, |q| async move { c.orders_page(&q).await })
        .await
        .unwrap()
        .0
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text.trim()).unwrap()
}

#[tokio::test]
async fn test_connection_names_the_store() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let msg = c.test_connection().await.unwrap();
    assert_eq!(msg, "connected to OpenCart store Trailhead Outfitters");
    assert_eq!(c.platform(), "opencart");
    let stats = Admin::of(&sim).stats().await;
    assert_eq!(stats["logins"], 1);
    assert_eq!(stats["requests"]["GET rest/store_admin/store"], 1);
}

#[tokio::test]
async fn wrong_key_is_an_auth_error_without_the_key() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    let key = "wrong-key-5f2c9a7e";
    let c = connector_with(&cfg, key, settings_for(&sim));
    let err = c.test_connection().await.unwrap_err();
    let ConnectorError::Auth(msg) = &err else {
        panic!("expected an auth error, got {err:?}");
    };
    assert!(msg.contains("401"), "{msg}");
    for text in [
        msg.clone(),
        err.to_string(),
        format!("{err:?}"),
        format!("{c:?}"),
    ] {
        assert!(!text.contains(key), "key leaked: {text}");
    }
    // Final: one login, no retries.
    let stats = Admin::of(&sim).stats().await;
    assert_eq!(stats["unauthorized"], 1);
    assert_eq!(stats["requests_total"], 1);
}

#[tokio::test]
async fn core_style_login_refusal_with_http_200_is_auth() {
    let cfg = SimConfig {
        core_login_errors: true,
        ..config(3, 1)
    };
    let sim = start(cfg.clone()).await;
    let key = "not-the-key-99";
    let c = connector_with(&cfg, key, settings_for(&sim));
    let err = c.products_page(&pages_of(10)).await.unwrap_err();
    let ConnectorError::Auth(msg) = &err else {
        panic!("expected an auth error, got {err:?}");
    };
    assert!(msg.contains("Incorrect API Key"), "{msg}");
    assert!(!err.to_string().contains(key));
    assert_eq!(Admin::of(&sim).stats().await["requests_total"], 1);
}

#[tokio::test]
async fn full_import_paginates_and_maps_the_demo_catalog() {
    let cfg = config(45, 2);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let first = c.products_page(&pages_of(10)).await.unwrap();
    assert_eq!(first.items.len(), 10);
    assert_eq!(first.next.as_deref(), Some("2"));
    let (all, pages) = products(&c, pages_of(10)).await;
    assert_eq!(pages, 5);
    assert_eq!(all.len(), 45);

    let catalog = demo::catalog(cfg.seed, cfg.products);
    let by_sku: BTreeMap<_, _> = all.iter().map(|p| (p.sku.clone(), p)).collect();
    assert_eq!(by_sku.len(), 45);
    for d in &catalog {
        let p = by_sku
            .get(&d.sku)
            .unwrap_or_else(|| panic!("{} imported", d.sku));
        assert_eq!(p.title, d.name);
        assert_eq!(p.description, d.description);
        assert_eq!(p.brand, d.brand, "{}", d.sku);
        let want: Vec<String> = if d.category.is_empty() {
            vec![]
        } else {
            vec![d.category.clone()]
        };
        assert_eq!(p.categories, want, "{}", d.sku);
        assert_eq!(p.raw_price, d.price);
        let price = p.price.as_ref().unwrap();
        assert_eq!(price.currency, "USD");
        assert_eq!(dec(&price.amount), dec(&d.price));
        assert_eq!(p.gtin, d.gtin);
        assert_eq!(p.images, d.images);
        assert_eq!(p.visible, d.visible);
        assert!((p.weight.unwrap() - d.weight).abs() < 1e-6);
        assert_eq!(p.weight_unit, "kg");
        assert_eq!(p.variants.len(), d.variants.len(), "{}", d.sku);
        for (v, dv) in p.variants.iter().zip(&d.variants) {
            assert_eq!(v.sku, dv.sku);
            assert_eq!(v.gtin, dv.gtin);
            let options: BTreeMap<String, String> = v
                .options
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let want: BTreeMap<String, String> = dv.options.iter().cloned().collect();
            assert_eq!(options, want, "{}", dv.sku);
            let want_price = dv.price.clone().unwrap_or_else(|| d.price.clone());
            assert_eq!(
                dec(&v.price.as_ref().unwrap().amount),
                dec(&want_price),
                "{}",
                dv.sku
            );
        }
    }
    let want = DefectCounts::expected(45);
    let count =
        |f: &dyn Fn(&marketsync_proto::v1::Product) -> bool| all.iter().filter(|p| f(p)).count();
    assert_eq!(
        count(&|p| p.description.is_empty()),
        want.missing_description
    );
    assert_eq!(count(&|p| p.brand.is_empty()), want.missing_brand);
    assert_eq!(count(&|p| p.categories.is_empty()), want.missing_category);
    assert_eq!(
        count(&|p| p.weight.unwrap_or(0.0) <= 0.0),
        want.invalid_weight
    );
    assert_eq!(count(&|p| demo::decimals(&p.raw_price) > 2), want.bad_price);
}

#[tokio::test]
async fn incremental_import_and_sku_and_id_filters() {
    let cfg = config(30, 1);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let catalog = demo::catalog(cfg.seed, cfg.products);
    let mut times: Vec<_> = catalog.iter().map(|p| p.modified_at).collect();
    times.sort();
    let since = times[times.len() / 2];
    let until = times[times.len() * 3 / 4];
    let want: BTreeSet<String> = catalog
        .iter()
        .filter(|p| p.modified_at >= since && p.modified_at < until)
        .map(|p| p.sku.clone())
        .collect();
    let q = ImportQuery {
        since: Some(since),
        until: Some(until),
        page_size: 5,
        ..ImportQuery::default()
    };
    let (got, _) = products(&c, q).await;
    let got: BTreeSet<String> = got.into_iter().map(|p| p.sku).collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);

    // A merchant's edit moves the product into the next incremental window.
    let edited = &catalog[0].sku;
    let now = chrono::Utc::now() - chrono::Duration::seconds(2);
    Admin::of(&sim)
        .send(
            reqwest::Method::PATCH,
            &format!("/products/{edited}"),
            Some(json!({"name": "Renamed"})),
        )
        .await;
    let (changed, _) = products(
        &c,
        ImportQuery {
            since: Some(now),
            page_size: 50,
            ..ImportQuery::default()
        },
    )
    .await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].title, "Renamed");

    // skus (a variant's sku finds its product) and platform ids.
    let variant_sku = catalog
        .iter()
        .find_map(|p| p.variants.first().map(|v| v.sku.clone()))
        .unwrap();
    let q = ImportQuery {
        skus: vec![catalog[2].sku.clone(), variant_sku.clone(), "NOPE-1".into()],
        ..ImportQuery::default()
    };
    let (got, pages) = products(&c, q).await;
    assert_eq!(pages, 1);
    assert_eq!(got.len(), 2);
    assert!(
        got.iter()
            .any(|p| p.variants.iter().any(|v| v.sku == variant_sku))
    );
    let q = ImportQuery {
        ids: vec![got[0].external_id.clone()],
        ..ImportQuery::default()
    };
    let (by_id, _) = products(&c, q).await;
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0].sku, got[0].sku);
}

#[tokio::test]
async fn stock_per_sku_in_the_store_pool() {
    let cfg = config(12, 1);
    let sim = start(cfg.clone()).await;
    let mut settings = settings_for(&sim);
    settings
        .warehouse_mapping
        .insert("0".into(), "WH-SHOP".into());
    let c = connector_with(&cfg, &cfg.api_key, settings);
    let levels = stock(&c, pages_of(5)).await;
    let catalog = demo::catalog(cfg.seed, cfg.products);
    let mut want = BTreeMap::new();
    for p in &catalog {
        if p.variants.is_empty() {
            want.insert(
                p.sku.clone(),
                p.stock.iter().map(|s| s.on_hand).sum::<i64>(),
            );
        }
        for v in &p.variants {
            want.insert(
                v.sku.clone(),
                v.stock.iter().map(|s| s.on_hand).sum::<i64>(),
            );
        }
    }
    let got: BTreeMap<String, i64> = levels.iter().map(|l| (l.sku.clone(), l.on_hand)).collect();
    assert_eq!(got, want);
    assert!(
        levels
            .iter()
            .all(|l| l.warehouse == "WH-SHOP" && l.available == l.on_hand)
    );

    // Without a mapping: the default pool; a sku filter keeps only that sku.
    let c = connector(&sim, &cfg);
    let sku = want.keys().next().unwrap().clone();
    let q = ImportQuery {
        skus: vec![sku.clone()],
        ..ImportQuery::default()
    };
    let one = stock(&c, q).await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].sku, sku);
    assert_eq!(one[0].warehouse, "default");
}

#[tokio::test]
async fn orders_with_lines_buyers_and_statuses() {
    let cfg = config(20, 9);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let got = orders(&c, pages_of(4)).await;
    let catalog = demo::catalog(cfg.seed, cfg.products);
    let want = demo::orders(cfg.seed, &catalog, cfg.orders);
    assert_eq!(got.len(), 9);
    for (o, d) in got.iter().zip(&want) {
        let skus: Vec<&str> = o.lines.iter().map(|l| l.sku.as_str()).collect();
        let want_skus: Vec<&str> = d.lines.iter().map(|l| l.sku.as_str()).collect();
        assert_eq!(skus, want_skus, "order {}", o.external_id);
        for (l, dl) in o.lines.iter().zip(&d.lines) {
            assert_eq!(l.quantity, dl.quantity);
            assert_eq!(
                dec(&l.unit_price.as_ref().unwrap().amount),
                dec(&dl.unit_price)
            );
        }
        let status = match d.status.as_str() {
            "awaiting_fulfillment" => "processing",
            other => other,
        };
        assert_eq!(o.status, status);
        let buyer = o.buyer.as_ref().unwrap();
        assert_eq!(buyer.email, d.buyer.email);
        assert_eq!(o.shipping_address.as_ref().unwrap().city, d.shipping.city);
        assert!(o.created_at.ends_with('Z'));
    }
    // Incremental: an order added now is the only one modified since a minute ago.
    let admin = Admin::of(&sim);
    let sku = catalog[0]
        .variants
        .first()
        .map_or(catalog[0].sku.clone(), |v| v.sku.clone());
    admin
        .post("/orders", json!({"lines": [{"sku": sku, "quantity": 2}]}))
        .await;
    let since = chrono::Utc::now() - chrono::Duration::minutes(1);
    let recent = orders(
        &c,
        ImportQuery {
            since: Some(since),
            page_size: 10,
            ..ImportQuery::default()
        },
    )
    .await;
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].lines[0].sku, sku);
    assert_eq!(recent[0].lines[0].quantity, 2);
}

#[tokio::test]
async fn export_stock_in_batches_of_the_maximum() {
    let cfg = SimConfig {
        max_quantity_batch: 100,
        ..config(60, 1)
    };
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let levels = stock(&c, pages_of(50)).await;
    assert!(levels.len() > 200, "{} skus", levels.len());
    let mut out: Vec<StockLevel> = levels
        .iter()
        .map(|l| StockLevel {
            on_hand: l.on_hand + 7,
            ..l.clone()
        })
        .collect();
    out.push(StockLevel {
        sku: out[0].sku.clone(),
        warehouse: "WH-ELSEWHERE".into(),
        on_hand: 3,
        ..StockLevel::default()
    });
    out.push(StockLevel {
        sku: "NO-SUCH-SKU".into(),
        warehouse: "default".into(),
        on_hand: 3,
        ..StockLevel::default()
    });
    let report = c.export_stock(&out).await.unwrap();
    assert_eq!(report.accepted as usize, levels.len());
    let rejected: Vec<&str> = report.rejected.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(rejected.contains(&"NO-SUCH-SKU@default"));

    let stats = Admin::of(&sim).stats().await;
    let batches: Vec<u64> = stats["quantity_batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let n = (levels.len() + 1) as u64;
    assert_eq!(batches.iter().sum::<u64>(), n);
    assert!(batches.iter().all(|b| *b <= 100));
    assert_eq!(batches.len() as u64, n.div_ceil(100));

    let first = &levels[0];
    let stored = Admin::of(&sim).product(&first.sku).await;
    let q = if stored["sku"] == first.sku.as_str() {
        stored["quantity"].as_i64().unwrap()
    } else {
        stored["options"][0]["option_value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["sku"] == first.sku.as_str())
            .unwrap()["quantity"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(q, first.on_hand + 7);
}

#[tokio::test]
async fn export_order_shipment_with_tracking() {
    let cfg = config(10, 3);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let admin = Admin::of(&sim);
    let created = admin.post("/orders", json!({})).await;
    let id = created["order_id"].as_i64().unwrap().to_string();
    let update = OrderUpdate {
        external_id: id.clone(),
        status: Some("shipped".into()),
        carrier: Some("UPS".into()),
        tracking_number: Some("1Z999AA10123456784".into()),
        lines: vec![],
    };
    let report = c
        .export_orders(std::slice::from_ref(&update))
        .await
        .unwrap();
    assert_eq!(report.accepted, 1, "{:?}", report.rejected);
    let stored = admin.get(&format!("/orders/{id}")).await;
    assert_eq!(stored["order_status_id"], 3);
    let histories = stored["histories"].as_array().unwrap();
    let last = histories.last().unwrap();
    assert_eq!(
        last["comment"],
        "Shipped via UPS. Tracking number: 1Z999AA10123456784"
    );
    assert_eq!(last["notify"], "1");

    // Read back as a shipment; exporting again adds nothing.
    let all = orders(&c, pages_of(10)).await;
    let o = all.iter().find(|o| o.external_id == id).unwrap();
    assert_eq!(o.status, "shipped");
    assert_eq!(o.shipments.len(), 1);
    assert_eq!(o.shipments[0].carrier, "UPS");
    assert_eq!(o.shipments[0].tracking_number, "1Z999AA10123456784");
    let again = c.export_orders(&[update]).await.unwrap();
    assert_eq!(again.accepted, 1);
    let stored = admin.get(&format!("/orders/{id}")).await;
    assert_eq!(
        stored["histories"].as_array().unwrap().len(),
        histories.len()
    );

    // Unknown orders and statuses are rejected per record.
    let bad = c
        .export_orders(&[
            OrderUpdate {
                external_id: "9999".into(),
                status: Some("shipped".into()),
                carrier: None,
                tracking_number: None,
                lines: vec![],
            },
            OrderUpdate {
                external_id: id.clone(),
                status: Some("teleported".into()),
                carrier: None,
                tracking_number: None,
                lines: vec![],
            },
        ])
        .await
        .unwrap();
    assert_eq!(bad.accepted, 0);
    assert_eq!(bad.rejected.len(), 2);
}

fn update(p: &marketsync_proto::v1::Product, field: &str, value: &str) -> FieldUpdate {
    FieldUpdate {
        external_id: p.external_id.clone(),
        sku: p.sku.clone(),
        field: field.into(),
        value: value.into(),
    }
}

#[tokio::test]
async fn update_field_is_visible_in_the_store() {
    let cfg = config(10, 1);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let admin = Admin::of(&sim);
    let (all, _) = products(&c, pages_of(50)).await;
    let p = &all[3];
    c.update_field(&update(p, "price", "24.90")).await.unwrap();
    c.update_field(&update(p, "title", "Summit Shell Jacket"))
        .await
        .unwrap();
    c.update_field(&update(p, "description", "<p>New text</p>"))
        .await
        .unwrap();
    c.update_field(&update(p, "weight", "1.25")).await.unwrap();
    c.update_field(&update(p, "brand", "Brand New Co"))
        .await
        .unwrap();
    let other_category = all
        .iter()
        .flat_map(|x| x.categories.clone())
        .find(|cat| !p.categories.contains(cat))
        .unwrap();
    c.update_field(&update(p, "categories", &other_category))
        .await
        .unwrap();
    let stored = admin.product(&p.sku).await;
    assert_eq!(stored["price"], "24.9");
    assert_eq!(
        stored["product_description"][0]["name"],
        "Summit Shell Jacket"
    );
    assert_eq!(
        stored["product_description"][0]["description"],
        "<p>New text</p>"
    );
    assert_eq!(stored["weight"], "1.25000000");
    assert_eq!(stored["manufacturer"], "Brand New Co");
    assert_eq!(stored["category_paths"], json!([other_category]));
    // An existing brand is reused, by sku alone.
    let existing = all
        .iter()
        .map(|x| x.brand.clone())
        .find(|b| !b.is_empty())
        .unwrap();
    let by_sku = FieldUpdate {
        external_id: String::new(),
        ..update(p, "brand", &existing)
    };
    c.update_field(&by_sku).await.unwrap();
    assert_eq!(
        admin.product(&p.sku).await["manufacturer"],
        existing.as_str()
    );
    // Bad values are rejected before any request; unknown fields are unsupported.
    let before = admin.stats().await["requests_total"].as_u64().unwrap();
    assert!(matches!(
        c.update_field(&update(p, "price", "cheap")).await,
        Err(ConnectorError::Rejected { .. })
    ));
    assert!(matches!(
        c.update_field(&update(p, "colour", "red")).await,
        Err(ConnectorError::Unsupported(_))
    ));
    assert_eq!(
        admin.stats().await["requests_total"].as_u64().unwrap(),
        before
    );
    assert!(matches!(
        c.update_field(&update(p, "categories", "No/Such/Category"))
            .await,
        Err(ConnectorError::NotFound(_))
    ));
}

#[tokio::test]
async fn faults_are_retried_or_mapped() {
    let cfg = config(8, 1);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let mut settings = settings_for(&sim);
    settings.timeout_secs = Some(1);
    let c = connector_with(&cfg, &cfg.api_key, settings);
    c.test_connection().await.unwrap();

    // A burst of 503s is retried away.
    admin
        .post(
            "/faults",
            json!({"kind": "status", "status": 503, "count": 3, "path_contains": "product_admin"}),
        )
        .await;
    assert_eq!(c.products_page(&pages_of(50)).await.unwrap().items.len(), 8);

    // A truncated body is Malformed once retries are spent.
    admin
        .post(
            "/faults",
            json!({"kind": "malformed", "count": 10, "path_contains": "product_admin"}),
        )
        .await;
    let err = c.products_page(&pages_of(50)).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Malformed(_)), "{err:?}");
    reqwest::Client::new()
        .delete(format!("{}/faults", sim.admin_url()))
        .send()
        .await
        .unwrap();

    // A 429 with Retry-After: 1 is waited out.
    admin
        .post(
            "/faults",
            json!({"kind": "rate_limit", "count": 1, "reset_ms": 1000}),
        )
        .await;
    let started = Instant::now();
    c.products_page(&pages_of(50)).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );

    // A timeout (longer than the 1 s client timeout) is retried.
    admin
        .post(
            "/faults",
            json!({"kind": "timeout", "count": 1, "delay_ms": 1500}),
        )
        .await;
    c.products_page(&pages_of(50)).await.unwrap();

    // A revoked API user is Auth, after one login attempt; restoring it works again.
    admin.post("/revoke-token", Value::Null).await;
    let err = c.products_page(&pages_of(50)).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err:?}");
    assert!(!err.to_string().contains(&cfg.api_key));
    admin.post("/restore-token", Value::Null).await;
    c.products_page(&pages_of(50)).await.unwrap();

    let stats = admin.stats().await;
    // 3 × 503, 4 malformed attempts (retry_attempts 4), one 429, one timeout.
    assert_eq!(stats["faults_injected"], 3 + 4 + 1 + 1);
}

#[tokio::test]
async fn expired_sessions_log_in_again_once() {
    let cfg = SimConfig {
        session_lifetime_ms: 300,
        ..config(6, 1)
    };
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    c.products_page(&pages_of(50)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    c.products_page(&pages_of(50)).await.unwrap();
    let admin = Admin::of(&sim);
    admin.post("/expire-sessions", Value::Null).await;
    c.stock_page(&pages_of(50)).await.unwrap();
    let stats = admin.stats().await;
    assert_eq!(stats["logins"], 3);
    assert_eq!(stats["expired_sessions"], 1);
    assert_eq!(stats["unauthorized"], 2);
}

#[tokio::test]
async fn rate_limit_window_is_waited_out() {
    let cfg = SimConfig {
        rate_limit_requests: 4,
        rate_limit_window_ms: 1000,
        ..config(30, 1)
    };
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let (all, pages) = products(&c, pages_of(5)).await;
    assert_eq!(all.len(), 30);
    assert_eq!(pages, 7);
    let stats = Admin::of(&sim).stats().await;
    assert!(stats["rate_limited"].as_u64().unwrap() >= 1, "{stats}");
}

#[tokio::test]
async fn full_import_stays_within_the_call_budget() {
    // One login, one category list (cached), one call per page; nothing per product.
    let cfg = config(45, 1);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let (all, pages) = products(&c, pages_of(10)).await;
    assert_eq!((all.len(), pages), (45, 5));
    let stats = Admin::of(&sim).stats().await;
    assert_eq!(stats["requests_total"], 1 + 1 + 5, "{stats}");
    assert_eq!(stats["requests"]["POST api/login"], 1);
    assert_eq!(stats["requests"]["GET rest/category_admin/category"], 1);
    assert_eq!(stats["requests"]["GET rest/product_admin/products"], 5);
    // Stock of the same catalog at the largest page: one call per 100 products.
    let before = stats["requests_total"].as_u64().unwrap();
    stock(&c, pages_of(100)).await;
    let after = Admin::of(&sim).stats().await["requests_total"]
        .as_u64()
        .unwrap();
    assert_eq!(after - before, 1);
}

#[tokio::test]
async fn webhooks_are_unsupported() {
    let cfg = config(2, 1);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let call = WebhookCall {
        headers: BTreeMap::new(),
        body: b"{}".to_vec(),
    };
    assert!(matches!(
        c.verify_webhook(&call),
        Err(ConnectorError::Unsupported(_))
    ));
    assert!(matches!(
        c.register_webhooks("https://hooks.example.com/opencart")
            .await,
        Err(ConnectorError::Unsupported(_))
    ));
    assert_eq!(Admin::of(&sim).stats().await["requests_total"], 0);
}

//! The BigCommerce connector against the BigCommerce simulator.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::Utc;
use marketsync_connectors::{
    Connector, ConnectorError, FieldUpdate, ImportQuery, OrderUpdate, Settings,
};
use marketsync_proto::v1::StockLevel;
use marketsync_simulators::bigcommerce::SimConfig;
use marketsync_simulators::demo::{self, DefectCounts};
use serde_json::json;

use crate::support::{
    Admin, all_pages, bigcommerce, bigcommerce_with, orders, pages_of, products, settings_for,
    start_bigcommerce, stock,
};

fn config(products: usize, orders: usize) -> SimConfig {
    SimConfig {
        products,
        orders,
        seed: 7,
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn test_connection_reports_the_store() {
    let cfg = config(25, 3);
    let sim = start_bigcommerce(cfg.clone()).await;
    let c = bigcommerce(&sim, &cfg);
    let msg = c.test_connection().await.unwrap();
    assert_eq!(msg, "connected to store demo-store: 25 products");
    assert_eq!(c.platform(), "bigcommerce");
}

#[tokio::test]
async fn wrong_token_is_an_auth_error_without_the_token() {
    let cfg = config(5, 1);
    let sim = start_bigcommerce(cfg.clone()).await;
    let token = "wrong-token-5f2c9a7e";
    let c = bigcommerce_with(&cfg, token, settings_for(&sim));
    let err = c.test_connection().await.unwrap_err();
    let ConnectorError::Auth(msg) = &err else {
        panic!("expected an auth error, got {err:?}");
    };
    assert!(msg.contains("401"), "{msg}");
    for text in [msg.clone(), err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(token), "token leaked: {text}");
        assert!(!text.contains("demo-store"), "store hash leaked: {text}");
    }
    // Auth errors are final: one request, no retries.
    let stats = Admin::of(&sim).stats().await;
    assert_eq!(stats["unauthorized"], 1);
}

#[tokio::test]
async fn full_import_paginates_and_maps_every_product() {
    let cfg = config(45, 2);
    let sim = start_bigcommerce(cfg.clone()).await;
    let c = bigcommerce(&sim, &cfg);
    let first = c.products_page(&pages_of(10)).await.unwrap();
    assert_eq!(first.total, Some(45));
    assert_eq!(first.next.as_deref(), Some("2"));
    let (all, pages) = products(&c, pages_of(10)).await.unwrap();
    assert_eq!(pages, 5);
    assert_eq!(all.len(), 45);

    let catalog = demo::catalog(cfg.seed, cfg.products);
    let by_sku: BTreeMap<_, _> = all.iter().map(|p| (p.sku.clone(), p)).collect();
    assert_eq!(by_sku.len(), 45, "skus are unique");
    for d in &catalog {
        let p = by_sku
            .get(&d.sku)
            .unwrap_or_else(|| panic!("{} imported", d.sku));
        assert_eq!(p.title, d.name);
        assert_eq!(p.brand, d.brand, "{}", d.sku);
        let want: Vec<String> = if d.category.is_empty() {
            vec![]
        } else {
            vec![d.category.clone()]
        };
        assert_eq!(p.categories, want, "{}", d.sku);
        assert_eq!(p.description, d.description);
        assert_eq!(p.variants.len(), d.variants.len(), "{}", d.sku);
        assert_eq!(p.gtin, d.gtin);
        assert_eq!(p.images.len(), d.images.len());
        assert!(p.external_id.parse::<i64>().is_ok());
        let price = p.price.as_ref().unwrap();
        assert_eq!(price.currency, "USD");
        for (v, dv) in p.variants.iter().zip(&d.variants) {
            assert_eq!(v.sku, dv.sku);
            let opts: BTreeMap<_, _> = dv.options.iter().cloned().collect();
            let got: BTreeMap<_, _> = v.options.clone().into_iter().collect();
            assert_eq!(got, opts);
            assert!(v.price.is_some(), "variants inherit the product price");
        }
    }
    // The defects of the demo data survive the round trip through the API.
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
    assert_eq!(
        count(&|p| demo::decimals(&p.raw_price) > 2),
        want.bad_price,
        "raw prices keep their three decimals"
    );
    // Whole prices stay whole in raw_price ("10", not "10.0").
    assert!(all.iter().all(|p| !p.raw_price.ends_with(".0")));
}

#[tokio::test]
async fn sku_filter_returns_only_those_products() {
    let cfg = config(20, 1);
    let sim = start_bigcommerce(cfg.clone()).await;
    let c = bigcommerce(&sim, &cfg);
    let catalog = demo::catalog(cfg.seed, cfg.products);
    let wanted = vec![catalog[3].sku.clone(), catalog[11].sku.clone()];
    let q = ImportQuery {
        skus: wanted.clone(),
        ..pages_of(50)
    };
    let (got, _) = products(&c, q).await.unwrap();
    let got: BTreeSet<_> = got.into_iter().map(|p| p.sku).collect();
    assert_eq!(got, wanted.into_iter().collect());
}

#[tokio::test]
async fn incremental_import_returns_only_changed_products() {
    let cfg = config(30, 1);
    let sim = start_bigcommerce(cfg.clone()).await;
    let c = bigcommerce(&sim, &cfg);
    let (all, _) = products(&c, pages_of(50)).await.unwrap();
    let since = Utc::now();
    for p in [&all[4], &all[17]] {
        c.update_field(&FieldUpdate {
            external_id: p.external_id.clone(),
            sku: p.sku.clone(),
            field: "description".into(),
            value: format!("<p>Updated {}</p>", p.sku),
        })
        .await
        .unwrap();
    }
    let q = ImportQuery {
        since: Some(since),
        ..pages_of(10)
    };
    let (changed, _) = products(&c, q).await.unwrap();
    let skus: BTreeSet<_> = changed.iter().map(|p| p.sku.clone()).collect();
    assert_eq!(
        skus,
        [all[4].sku.clone(), all[17].sku.clone()]
            .into_iter()
            .collect()
    );
    assert!(
        changed
            .iter()
            .all(|p| p.description.starts_with("<p>Updated"))
    );
}

#[tokio::test]
async fn stock_is_imported_per_location() {
    let cfg = config(12, 1);
    let sim = start_bigcommerce(cfg.clone()).await;
    let mut settings = settings_for(&sim);
    settings
        .warehouse_mapping
        .insert("WH-EAST".into(), "east".into());
    settings.warehouse_mapping.insert("2".into(), "west".into());
    let c = bigcommerce_with(&cfg, &cfg.access_token, settings);
    let levels = stock(&c, pages_of(7)).await.unwrap();
    let catalog = demo::catalog(cfg.seed, cfg.products);
    let mut want = BTreeMap::new();
    for p in &catalog {
        let units: Vec<(String, Vec<demo::DemoStock>)> = if p.variants.is_empty() {
            vec![(p.sku.clone(), p.stock.clone())]
        } else {
            p.variants
                .iter()
                .map(|v| (v.sku.clone(), v.stock.clone()))
                .collect()
        };
        for (sku, s) in units {
            for level in s {
                let w = if level.warehouse == "WH-EAST" {
                    "east"
                } else {
                    "west"
                };
                want.insert((sku.clone(), w.to_string()), level.on_hand);
            }
        }
    }
    let got: BTreeMap<_, _> = levels
        .iter()
        .map(|l| ((l.sku.clone(), l.warehouse.clone()), l.on_hand))
        .collect();
    assert_eq!(got, want);
    assert!(
        levels
            .iter()
            .all(|l| l.reserved == 0 && l.available == l.on_hand)
    );
}

#[tokio::test]
async fn orders_come_with_lines_buyers_and_shipments() {
    let cfg = config(15, 9);
    let sim = start_bigcommerce(cfg.clone()).await;
    let c = bigcommerce(&sim, &cfg);
    let all = orders(&c, pages_of(4)).await.unwrap();
    assert_eq!(all.len(), 9);
    // Lines and addresses come with the order pages (`include=consignments.line_items`): no
    // call per order for them.
    let stats = Admin::of(&sim).stats().await;
    let per_order: Vec<&String> = stats["requests"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.ends_with("/products") || k.ends_with("/shipping_addresses"))
        .filter(|k| k.contains("/v2/orders/"))
        .collect();
    assert!(per_order.is_empty(), "{per_order:?}");
    let demo_orders = demo::orders(cfg.seed, &demo::catalog(cfg.seed, cfg.products), cfg.orders);
    for (o, d) in all.iter().zip(&demo_orders) {
        assert_eq!(o.lines.len(), d.lines.len());
        for (l, dl) in o.lines.iter().zip(&d.lines) {
            assert_eq!(l.sku, dl.sku);
            assert_eq!(l.quantity, dl.quantity);
            assert_eq!(l.unit_price.as_ref().unwrap().currency, "USD");
        }
        let buyer = o.buyer.as_ref().unwrap();
        assert_eq!(buyer.email, d.buyer.email);
        assert_eq!(
            buyer.name,
            format!("{} {}", d.buyer.first_name, d.buyer.last_name)
        );
        assert_eq!(o.shipping_address.as_ref().unwrap().zip, d.shipping.zip);
        assert!(o.total.is_some());
        assert!(o.created_at.ends_with('Z'));
        match d.status.as_str() {
            "shipped" | "completed" => {
                assert_eq!(o.shipments.len(), 1, "{}", o.external_id);
                assert!(!o.shipments[0].tracking_number.is_empty());
                assert_eq!(o.status, d.status);
            }
            other => {
                assert!(o.shipments.is_empty());
                assert_eq!(o.status, other);
            }
        }
    }
}

#[tokio::test]
async fn incremental_orders_only_return_new_orders() {
    let cfg = config(10, 4);
    let sim = start_bigcommerce(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = bigcommerce(&sim, &cfg);
    let since = Utc::now();
    // Nothing changed yet: V2 answers 204 No Content, an empty page for the connector.
    let q = ImportQuery {
        since: Some(since),
        ..pages_of(10)
    };
    assert!(c.orders_page(&q).await.unwrap().items.is_empty());
    let p = &demo::catalog(cfg.seed, cfg.products)[2];
    let sku = p.variants.first().map_or(p.sku.clone(), |v| v.sku.clone());
    let created = admin
        .add_order(json!({"lines": [{"sku": sku, "quantity": 2}]}))
        .await;
    let new = orders(&c, q).await.unwrap();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].external_id, created["id"].to_string());
    assert_eq!(new[0].lines[0].sku, sku);
    assert_eq!(new[0].lines[0].quantity, 2);
    assert_eq!(new[0].status, "awaiting_fulfillment");
}

#[tokio::test]
async fn export_stock_sets_absolute_levels() {
    let cfg = config(8, 1);
    let sim = start_bigcommerce(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = bigcommerce(&sim, &cfg);
    let catalog = demo::catalog(cfg.seed, cfg.products);
    let sku = catalog
        .iter()
        .find_map(|p| p.variants.first().map(|v| v.sku.clone()))
        .unwrap();
    let level = |sku: &str, warehouse: &str, on_hand| StockLevel {
        sku: sku.into(),
        warehouse: warehouse.into(),
        on_hand,
        reserved: 0,
        available: on_hand,
    };
    let report = c
        .export_stock(&[
            level(&sku, "WH-WEST", 77),
            level(&sku, "WH-EAST", 5),
            level(&sku, "WH-NOWHERE", 1),
        ])
        .await
        .unwrap();
    assert_eq!(report.accepted, 2);
    assert_eq!(report.rejected.len(), 1);
    assert!(report.rejected[0].1.contains("WH-NOWHERE"));
    let stored = admin.product(&sku).await;
    let on_hand = |code: &str| {
        stored["stock"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sku"] == sku.as_str() && s["location_code"] == code)
            .map(|s| s["on_hand"].as_i64().unwrap())
    };
    assert_eq!(on_hand("WH-WEST"), Some(77));
    assert_eq!(on_hand("WH-EAST"), Some(5));
    // The platform refuses an unknown sku: reported per record, not as a failure.
    let report = c
        .export_stock(&[level("NO-SUCH-SKU", "WH-EAST", 3)])
        .await
        .unwrap();
    assert_eq!(report.accepted, 0);
    assert!(
        report.rejected[0].1.contains("NO-SUCH-SKU"),
        "{:?}",
        report.rejected
    );
}

#[tokio::test]
async fn export_orders_creates_a_shipment_once() {
    let cfg = config(10, 6);
    let sim = start_bigcommerce(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = bigcommerce(&sim, &cfg);
    let open = orders(&c, pages_of(50))
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.shipments.is_empty())
        .unwrap_or_else(|| panic!("an unshipped order"));
    let update = OrderUpdate {
        external_id: open.external_id.clone(),
        status: Some("shipped".into()),
        carrier: Some("UPS".into()),
        tracking_number: Some("1ZTEST0001".into()),
        lines: vec![],
    };
    let report = c
        .export_orders(std::slice::from_ref(&update))
        .await
        .unwrap();
    assert_eq!(report.accepted, 1, "{:?}", report.rejected);
    // Exporting the same update again does not ship twice.
    let report = c.export_orders(&[update]).await.unwrap();
    assert_eq!(report.accepted, 1);
    let stored = admin.order(&open.external_id).await;
    let shipments = stored["shipments"].as_array().unwrap();
    assert_eq!(shipments.len(), 1);
    assert_eq!(shipments[0]["tracking_number"], "1ZTEST0001");
    assert_eq!(shipments[0]["shipping_provider"], "ups");
    assert_eq!(stored["status_id"], 2);
    let reread = orders(&c, pages_of(50)).await.unwrap();
    let o = reread
        .iter()
        .find(|o| o.external_id == open.external_id)
        .unwrap();
    assert_eq!(o.status, "shipped");
    assert_eq!(o.shipments[0].tracking_number, "1ZTEST0001");
    let shipped: i64 = o.shipments[0].lines.iter().map(|l| l.quantity).sum();
    let ordered: i64 = o.lines.iter().map(|l| l.quantity).sum();
    assert_eq!(shipped, ordered);
    // An unknown order is a per-record rejection.
    let report = c
        .export_orders(&[OrderUpdate {
            external_id: "999999".into(),
            status: Some("cancelled".into()),
            carrier: None,
            tracking_number: None,
            lines: vec![],
        }])
        .await
        .unwrap();
    assert_eq!(report.accepted, 0);
    assert_eq!(report.rejected.len(), 1);
}

#[tokio::test]
async fn update_field_reaches_the_platform() {
    let cfg = config(12, 1);
    let sim = start_bigcommerce(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = bigcommerce(&sim, &cfg);
    let (all, _) = products(&c, pages_of(50)).await.unwrap();
    let p = &all[2];
    let update = |field: &str, value: &str| FieldUpdate {
        external_id: p.external_id.clone(),
        sku: p.sku.clone(),
        field: field.into(),
        value: value.into(),
    };
    c.update_field(&update("description", "<p>A corrected description.</p>"))
        .await
        .unwrap();
    c.update_field(&update("price", "24.90")).await.unwrap();
    c.update_field(&update("weight", "0.42")).await.unwrap();
    c.update_field(&update("brand", "Brand New Outfitters"))
        .await
        .unwrap();
    let paths: BTreeSet<String> = all.iter().flat_map(|p| p.categories.clone()).collect();
    let paths: Vec<String> = paths.into_iter().take(2).collect();
    assert_eq!(paths.len(), 2, "the demo store has categories");
    c.update_field(&update(
        "categories",
        &format!("{}; {}", paths[0], paths[1]),
    ))
    .await
    .unwrap();
    let stored = admin.product(&p.sku).await;
    assert_eq!(stored["description"], "<p>A corrected description.</p>");
    assert_eq!(stored["price"], 24.9);
    assert_eq!(stored["weight"], 0.42);
    assert_eq!(stored["brand_name"], "Brand New Outfitters");
    assert_eq!(stored["category_paths"], json!(paths));
    // The import sees the new brand (its cache is refreshed after the write).
    let q = ImportQuery {
        skus: vec![p.sku.clone()],
        ..pages_of(5)
    };
    let (again, _) = products(&c, q).await.unwrap();
    assert_eq!(again[0].brand, "Brand New Outfitters");
    assert_eq!(again[0].raw_price, "24.9");
    // By sku when the external id is unknown.
    c.update_field(&FieldUpdate {
        external_id: String::new(),
        ..update("title", "Renamed Product")
    })
    .await
    .unwrap();
    assert_eq!(admin.product(&p.sku).await["name"], "Renamed Product");
    // Errors: unknown product, unknown category, platform validation, unsupported field.
    let err = c
        .update_field(&FieldUpdate {
            external_id: "424242".into(),
            ..update("description", "x")
        })
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::NotFound(_)), "{err:?}");
    let err = c
        .update_field(&update("categories", "No/Such/Category"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::NotFound(_)), "{err:?}");
    let err = c.update_field(&update("price", "cheap")).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");
    let err = c.update_field(&update("color", "red")).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Unsupported(_)), "{err:?}");
}

#[tokio::test]
async fn a_burst_of_5xx_is_retried() {
    let cfg = config(5, 1);
    let sim = start_bigcommerce(cfg.clone()).await;
    let admin = Admin::of(&sim);
    admin
        .fault(json!({"kind": "status", "status": 503, "count": 3, "path_contains": "/catalog/products"}))
        .await;
    let c = bigcommerce(&sim, &cfg);
    c.test_connection().await.unwrap();
    let stats = admin.stats().await;
    assert_eq!(stats["faults_injected"], 3);
    assert_eq!(
        stats["requests"]["GET /stores/demo-store/v3/catalog/products"],
        4
    );
}

#[tokio::test]
async fn persistent_5xx_ends_as_a_transient_error() {
    let cfg = config(5, 1);
    let sim = start_bigcommerce(cfg.clone()).await;
    Admin::of(&sim)
        .fault(json!({"kind": "status", "status": 502, "count": 50}))
        .await;
    let mut settings = settings_for(&sim);
    settings.retry_attempts = Some(3);
    let c = bigcommerce_with(&cfg, &cfg.access_token, settings);
    let err = c.test_connection().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Transient(_)), "{err:?}");
    assert!(err.is_transient());
    assert!(!err.to_string().contains("demo-store"));
}

#[tokio::test]
async fn malformed_bodies_are_retried() {
    let cfg = config(5, 1);
    let sim = start_bigcommerce(cfg.clone()).await;
    let admin = Admin::of(&sim);
    admin.fault(json!({"kind": "malformed", "count": 2})).await;
    let c = bigcommerce(&sim, &cfg);
    let page = c.products_page(&pages_of(10)).await.unwrap();
    assert_eq!(page.items.len(), 5);
    // Malformed beyond the retries: a Malformed error.
    admin.fault(json!({"kind": "malformed", "count": 10})).await;
    let err = c.test_connection().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Malformed(_)), "{err:?}");
}

#[tokio::test]
async fn timeouts_are_retried() {
    let cfg = config(5, 1);
    let sim = start_bigcommerce(cfg.clone()).await;
    Admin::of(&sim)
        .fault(json!({"kind": "timeout", "delay_ms": 3000, "count": 1}))
        .await;
    let mut settings = settings_for(&sim);
    settings.timeout_secs = Some(1);
    let c = bigcommerce_with(&cfg, &cfg.access_token, settings);
    let start = Instant::now();
    c.test_connection().await.unwrap();
    assert!(start.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn the_rate_limit_is_followed_instead_of_hammered() {
    let cfg = SimConfig {
        rate_limit_requests: 5,
        rate_limit_window_ms: 1000,
        ..config(30, 1)
    };
    let sim = start_bigcommerce(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = bigcommerce(&sim, &cfg);
    let start = Instant::now();
    // 10 pages of products plus the brand and category lookups: 12 requests, 3 windows.
    let (all, pages) = products(&c, pages_of(3)).await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!((all.len(), pages), (30, 10));
    let stats = admin.stats().await;
    let requests = stats["requests_total"].as_u64().unwrap();
    assert_eq!(
        stats["rate_limited"], 0,
        "the connector waited for the reset: {stats}"
    );
    assert!(requests >= 12, "{stats}");
    assert!(
        elapsed >= Duration::from_millis(1900),
        "{requests} requests at 5/s must span 2+ resets, took {elapsed:?}"
    );
}

#[tokio::test]
async fn the_client_budget_paces_requests_without_headers_help() {
    // The connection's own budget (settings) is stricter than the store's.
    let cfg = config(12, 1);
    let sim = start_bigcommerce(cfg.clone()).await;
    let settings = Settings {
        rate_limit_requests: Some(2),
        rate_limit_window_ms: Some(300),
        ..settings_for(&sim)
    };
    let c = bigcommerce_with(&cfg, &cfg.access_token, settings);
    let start = Instant::now();
    for _ in 0..5 {
        c.test_connection().await.unwrap();
    }
    // 5 requests at 2 per 300 ms: at least two full windows.
    assert!(
        start.elapsed() >= Duration::from_millis(600),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_429_waits_for_the_reset_header() {
    let cfg = config(5, 1);
    let sim = start_bigcommerce(cfg.clone()).await;
    let admin = Admin::of(&sim);
    admin
        .fault(json!({"kind": "rate_limit", "reset_ms": 1500, "count": 1}))
        .await;
    let c = bigcommerce(&sim, &cfg);
    let start = Instant::now();
    c.test_connection().await.unwrap();
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(1500), "waited {elapsed:?}");
    assert!(elapsed < Duration::from_millis(4000), "waited {elapsed:?}");
    let stats = admin.stats().await;
    assert_eq!(
        stats["requests_total"], 2,
        "one 429, one retry after the reset: {stats}"
    );
}

#[tokio::test]
async fn a_revoked_token_is_an_auth_error() {
    let cfg = config(5, 1);
    let sim = start_bigcommerce(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = bigcommerce(&sim, &cfg);
    c.test_connection().await.unwrap();
    admin.revoke_token().await;
    let err = c.products_page(&pages_of(5)).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err:?}");
    assert!(!err.to_string().contains(&cfg.access_token));
    assert!(!err.is_transient());
    admin.restore_token().await;
    c.test_connection().await.unwrap();
}

#[tokio::test]
async fn one_rate_budget_is_shared_by_concurrent_calls() {
    let cfg = SimConfig {
        rate_limit_requests: 4,
        rate_limit_window_ms: 800,
        ..config(6, 1)
    };
    let sim = start_bigcommerce(cfg.clone()).await;
    let admin = Admin::of(&sim);
    // The connection's budget matches the store's plan, so even the first burst fits.
    let settings = Settings {
        rate_limit_requests: Some(4),
        rate_limit_window_ms: Some(800),
        ..settings_for(&sim)
    };
    let c = bigcommerce_with(&cfg, &cfg.access_token, settings);
    let calls = (0..10).map(|_| c.test_connection());
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    let stats = admin.stats().await;
    assert_eq!(stats["rate_limited"], 0, "{stats}");
    // Sanity check of the helper used elsewhere.
    let (items, pages) = all_pages(pages_of(2), |q| {
        let c = &c;
        async move { c.products_page(&q).await }
    })
    .await
    .unwrap();
    assert_eq!((items.len(), pages), (6, 3));
}

#[tokio::test]
async fn webhooks_are_registered_delivered_and_verified() {
    let cfg = config(6, 1);
    let sim = start_bigcommerce(cfg.clone()).await;
    let c = bigcommerce(&sim, &cfg);
    let (url, mut calls) = crate::support::webhook_receiver().await;
    let topics = c.register_webhooks(&url).await.unwrap();
    assert!(
        topics.contains(&"store/product/updated".to_string()),
        "{topics:?}"
    );
    // Registering again keeps one subscription per scope.
    c.register_webhooks(&url).await.unwrap();
    let hooks: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/hooks", sim.v3_url()))
        .header("x-auth-token", &cfg.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        hooks["data"].as_array().unwrap().len(),
        topics.len(),
        "{hooks}"
    );

    // A change on the store reaches the subscriber, and verifies.
    let p = &demo::catalog(cfg.seed, cfg.products)[1];
    let (all, _) = products(&c, pages_of(50)).await.unwrap();
    let id = all
        .iter()
        .find(|x| x.sku == p.sku)
        .unwrap()
        .external_id
        .clone();
    c.update_field(&FieldUpdate {
        external_id: id.clone(),
        sku: p.sku.clone(),
        field: "title".into(),
        value: "Renamed by a webhook test".into(),
    })
    .await
    .unwrap();
    let call = crate::support::next_call(&mut calls).await;
    let event = c.verify_webhook(&call).unwrap();
    assert_eq!(event.topic, "store/product/updated");
    assert_eq!(event.kind, "products");
    assert_eq!(event.external_ids, vec![id.clone()]);
    assert!(!event.id.is_empty());
    let age = Utc::now() - event.sent_at.expect("sent_at");
    assert!(age.num_seconds().abs() < 60, "{age}");

    // Forged: no token, a wrong token; the token never appears in the error.
    let token = call
        .header("x-marketsync-webhook-token")
        .unwrap()
        .to_string();
    let mut forged = call.clone();
    forged.headers.remove("x-marketsync-webhook-token");
    assert!(matches!(
        c.verify_webhook(&forged),
        Err(ConnectorError::Auth(_))
    ));
    forged
        .headers
        .insert("x-marketsync-webhook-token".into(), "0".repeat(token.len()));
    let err = c.verify_webhook(&forged).unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err:?}");
    assert!(!err.to_string().contains(&token));

    // Stock changes name the product; the targeted import reads just that product.
    c.export_stock(&[StockLevel {
        sku: p.variants[0].sku.clone(),
        warehouse: demo::WAREHOUSES[0].into(),
        on_hand: 7,
        ..Default::default()
    }])
    .await
    .unwrap();
    let stock_call = loop {
        let c = crate::support::next_call(&mut calls).await;
        if String::from_utf8_lossy(&c.body).contains("inventory") {
            break c;
        }
    };
    let event = c.verify_webhook(&stock_call).unwrap();
    assert_eq!(event.kind, "stock");
    assert_eq!(event.external_ids, vec![id.clone()]);
    let levels = stock(
        &c,
        ImportQuery {
            ids: event.external_ids.clone(),
            ..pages_of(50)
        },
    )
    .await
    .unwrap();
    assert!(!levels.is_empty());
    let skus: BTreeSet<&str> = p.variants.iter().map(|v| v.sku.as_str()).collect();
    assert!(
        levels.iter().all(|l| skus.contains(l.sku.as_str())),
        "{levels:?}"
    );
}

//! The PrestaShop connector against the PrestaShop simulator, over HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::Utc;
use marketsync_connectors::prestashop::PrestaShop;
use marketsync_connectors::{
    ConnectionConfig, Connector, ConnectorError, Credentials, FieldUpdate, ImportQuery,
    OrderUpdate, Settings, WebhookCall,
};
use marketsync_proto::v1::StockLevel;
use marketsync_simulators::demo::{self, DefectCounts};
use marketsync_simulators::prestashop::{self as sim, RunningSimulator, SimConfig};
use serde_json::{Value, json};

use crate::support::{Admin, orders, pages_of, products, stock};

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

fn connector_with(key: &str, settings: Settings) -> PrestaShop {
    let credentials = Credentials::from_json(&json!({
        "store_url": "https://shop.invalid",
        "webservice_key": key,
    }))
    .unwrap();
    PrestaShop::new(ConnectionConfig {
        platform: "prestashop".into(),
        credentials,
        settings,
    })
    .expect("valid connection")
}

fn connector(sim: &RunningSimulator, cfg: &SimConfig) -> PrestaShop {
    connector_with(&cfg.webservice_key, settings_for(sim))
}

/// Units of every sku of the demo catalog (variants, or the product itself), summed over the
/// demo warehouses: PrestaShop keeps one stock per shop.
fn demo_stock(catalog: &[demo::DemoProduct]) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for p in catalog {
        if p.variants.is_empty() {
            out.insert(p.sku.clone(), p.stock.iter().map(|s| s.on_hand).sum());
        }
        for v in &p.variants {
            out.insert(v.sku.clone(), v.stock.iter().map(|s| s.on_hand).sum());
        }
    }
    out
}

#[tokio::test]
async fn test_connection_names_the_shop() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let msg = c.test_connection().await.unwrap();
    assert_eq!(msg, "connected to PrestaShop shop Demo Outdoor Shop");
    assert_eq!(c.platform(), "prestashop");
}

#[tokio::test]
async fn wrong_key_is_an_auth_error_without_the_key() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    let key = "WRONGKEY5F2C9A7E00000000000000AB";
    let c = connector_with(key, settings_for(&sim));
    let err = c.test_connection().await.unwrap_err();
    let ConnectorError::Auth(msg) = &err else {
        panic!("expected an auth error, got {err:?}");
    };
    assert!(msg.contains("401"), "{msg}");
    assert!(msg.contains("Invalid authentication key"), "{msg}");
    for text in [
        msg.clone(),
        err.to_string(),
        format!("{err:?}"),
        format!("{c:?}"),
    ] {
        assert!(!text.contains(key), "key leaked: {text}");
    }
    // Auth errors are final: one request, no retries.
    let stats = Admin::of(&sim).stats().await;
    assert_eq!(stats["unauthorized"], 1);
}

#[tokio::test]
async fn the_key_is_also_accepted_as_ws_key_and_xml_is_the_default() {
    let cfg = config(3, 1);
    let sim = start(cfg.clone()).await;
    let http = reqwest::Client::new();
    let xml = http
        .get(format!("{}/products/1", sim.api_url()))
        .query(&[("ws_key", cfg.webservice_key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(xml.status(), 200);
    assert!(xml.headers().contains_key("psws-version"));
    let body = xml.text().await.unwrap();
    assert!(body.contains("<prestashop xmlns:xlink="), "{body}");
    assert!(body.contains("<language id=\"1\">"), "{body}");
    let denied = http
        .get(format!("{}/products", sim.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    assert!(denied.headers().contains_key("www-authenticate"));
    let body = denied.text().await.unwrap();
    assert!(body.contains("<errors><error><code>"), "{body}");
}

#[tokio::test]
async fn full_import_pages_with_limit_and_maps_every_product() {
    let cfg = config(45, 2);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let first = c.products_page(&pages_of(10)).await.unwrap();
    assert_eq!(first.items.len(), 10);
    assert_eq!(first.next.as_deref(), Some("10"));
    let (all, pages) = products(&c, pages_of(10)).await.unwrap();
    // 4 full pages and a short one end the paging.
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
        assert_eq!(p.gtin, d.gtin);
        assert_eq!(p.images.len(), d.images.len());
        assert_eq!(p.visible, d.visible);
        assert!(p.external_id.parse::<i64>().is_ok());
        let price = p.price.as_ref().unwrap();
        assert_eq!(price.currency, "USD");
        assert_eq!(
            demo::to_units(&price.amount),
            demo::to_units(&d.price),
            "{}",
            d.sku
        );
        assert_eq!(p.variants.len(), d.variants.len(), "{}", d.sku);
        for (v, dv) in p.variants.iter().zip(&d.variants) {
            assert_eq!(v.sku, dv.sku);
            assert_eq!(v.gtin, dv.gtin);
            let opts: BTreeMap<_, _> = dv.options.iter().cloned().collect();
            let got: BTreeMap<_, _> = v.options.clone().into_iter().collect();
            assert_eq!(got, opts);
            let want = dv.price.as_deref().unwrap_or(&d.price);
            let vp = v.price.as_ref().unwrap();
            assert_eq!(
                demo::to_units(&vp.amount),
                demo::to_units(want),
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
    assert_eq!(
        count(&|p| demo::decimals(&p.raw_price) > 2),
        want.bad_price,
        "three-decimal prices survive PrestaShop's six decimals"
    );
    // Every list asked for exactly the page size (limit=offset,count).
    let stats = Admin::of(&sim).stats().await;
    let sizes: Vec<u64> = stats["page_sizes"]["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(sizes.iter().all(|s| *s == 10), "{sizes:?}");
}

#[tokio::test]
async fn sku_and_id_filters_return_only_those_products() {
    let cfg = config(20, 1);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let catalog = demo::catalog(cfg.seed, cfg.products);
    let with_variants = catalog.iter().find(|p| !p.variants.is_empty()).unwrap();
    let variant_sku = with_variants.variants[0].sku.clone();
    let q = ImportQuery {
        skus: vec![catalog[3].sku.clone(), variant_sku],
        ..pages_of(10)
    };
    let (found, _) = products(&c, q).await.unwrap();
    let skus: BTreeSet<String> = found.iter().map(|p| p.sku.clone()).collect();
    let want: BTreeSet<String> = [catalog[3].sku.clone(), with_variants.sku.clone()]
        .into_iter()
        .collect();
    assert_eq!(skus, want);
    let q = ImportQuery {
        ids: vec![found[0].external_id.clone()],
        ..pages_of(10)
    };
    let (by_id, _) = products(&c, q).await.unwrap();
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0].external_id, found[0].external_id);
}

#[tokio::test]
async fn incremental_import_returns_only_changed_products() {
    let cfg = config(15, 1);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let since = Utc::now();
    let q = ImportQuery {
        since: Some(since),
        ..pages_of(10)
    };
    // Nothing changed yet: PrestaShop answers `[]`.
    let (none, _) = products(&c, q.clone()).await.unwrap();
    assert!(none.is_empty());
    let catalog = demo::catalog(cfg.seed, cfg.products);
    admin
        .edit_product(&catalog[4].sku, json!({"name": "Edited In Back Office"}))
        .await;
    let (changed, _) = products(&c, q.clone()).await.unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].sku, catalog[4].sku);
    assert_eq!(changed[0].title, "Edited In Back Office");
    // `until` before the change excludes it.
    let q = ImportQuery {
        until: Some(since),
        since: Some(since - chrono::Duration::days(1)),
        ..pages_of(10)
    };
    let (before, _) = products(&c, q).await.unwrap();
    assert!(before.iter().all(|p| p.sku != catalog[4].sku));
}

#[tokio::test]
async fn stock_is_one_level_per_sku_of_the_shop() {
    let cfg = config(12, 1);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let levels = stock(&c, pages_of(7)).await.unwrap();
    let want = demo_stock(&demo::catalog(cfg.seed, cfg.products));
    let got: BTreeMap<_, _> = levels.iter().map(|l| (l.sku.clone(), l.on_hand)).collect();
    assert_eq!(got, want);
    // Without a mapping the warehouse is the shop id.
    assert!(levels.iter().all(|l| l.warehouse == "1"));
    assert!(levels.iter().all(|l| l.available == l.on_hand));
    // With a mapping, the shop's stock is the mapped warehouse.
    let mut settings = settings_for(&sim);
    settings
        .warehouse_mapping
        .insert("1".into(), "WH-EAST".into());
    let c = connector_with(&cfg.webservice_key, settings);
    let q = ImportQuery {
        skus: vec![want.keys().next().unwrap().clone()],
        ..pages_of(50)
    };
    let levels = stock(&c, q).await.unwrap();
    assert_eq!(levels.len(), 1);
    assert_eq!(levels[0].warehouse, "WH-EAST");
}

#[tokio::test]
async fn orders_come_with_lines_buyers_and_tracking() {
    let cfg = config(15, 9);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let all = orders(&c, pages_of(4)).await.unwrap();
    assert_eq!(all.len(), 9);
    let demo_orders = demo::orders(cfg.seed, &demo::catalog(cfg.seed, cfg.products), cfg.orders);
    for (o, d) in all.iter().zip(&demo_orders) {
        assert_eq!(o.lines.len(), d.lines.len());
        for (l, dl) in o.lines.iter().zip(&d.lines) {
            assert_eq!(l.sku, dl.sku);
            assert_eq!(l.quantity, dl.quantity);
            let p = l.unit_price.as_ref().unwrap();
            assert_eq!(p.currency, "USD");
            assert_eq!(demo::to_units(&p.amount), demo::to_units(&dl.unit_price));
        }
        let buyer = o.buyer.as_ref().unwrap();
        assert_eq!(buyer.email, d.buyer.email);
        assert_eq!(
            buyer.name,
            format!("{} {}", d.buyer.first_name, d.buyer.last_name)
        );
        assert_eq!(o.shipping_address.as_ref().unwrap().zip, d.shipping.zip);
        assert!(o.total.is_some());
        assert!(o.created_at.ends_with('Z'), "{}", o.created_at);
        assert_eq!(o.status, d.status, "{}", o.external_id);
        if matches!(d.status.as_str(), "shipped" | "completed") {
            assert_eq!(o.shipments.len(), 1, "{}", o.external_id);
            assert!(o.shipments[0].tracking_number.starts_with("1Z"));
            assert!(["UPS", "FedEx", "USPS"].contains(&o.shipments[0].carrier.as_str()));
        } else {
            assert!(o.shipments.is_empty());
        }
    }
}

#[tokio::test]
async fn incremental_orders_only_return_new_orders() {
    let cfg = config(10, 4);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let since = Utc::now() - chrono::Duration::seconds(1);
    let q = ImportQuery {
        since: Some(since),
        ..pages_of(10)
    };
    assert!(c.orders_page(&q).await.unwrap().items.is_empty());
    let p = &demo::catalog(cfg.seed, cfg.products)[2];
    let sku = p.variants.first().map_or(p.sku.clone(), |v| v.sku.clone());
    let created = admin
        .post("/orders", json!({"lines": [{"sku": sku, "quantity": 2}]}))
        .await;
    let new = orders(&c, q).await.unwrap();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].external_id, created["id"].to_string());
    assert_eq!(new[0].lines[0].sku, sku);
    assert_eq!(new[0].lines[0].quantity, 2);
    assert_eq!(new[0].status, "awaiting_fulfillment");
}

#[tokio::test]
async fn export_stock_puts_each_stock_row() {
    let cfg = config(8, 1);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let catalog = demo::catalog(cfg.seed, cfg.products);
    let with_variants = catalog.iter().find(|p| !p.variants.is_empty()).unwrap();
    let skus: Vec<String> = with_variants
        .variants
        .iter()
        .take(2)
        .map(|v| v.sku.clone())
        .collect();
    let level = |sku: &str, warehouse: &str, on_hand| StockLevel {
        sku: sku.into(),
        warehouse: warehouse.into(),
        on_hand,
        reserved: 0,
        available: on_hand,
    };
    // Two warehouses of one sku add up to the shop's single stock.
    let report = c
        .export_stock(&[
            level(&skus[0], "WH-WEST", 70),
            level(&skus[0], "WH-EAST", 7),
            level(&skus[1], "WH-EAST", 3),
            level("NO-SUCH-SKU", "WH-EAST", 3),
        ])
        .await
        .unwrap();
    assert_eq!(report.accepted, 2, "{:?}", report.rejected);
    assert_eq!(report.rejected.len(), 1);
    assert!(report.rejected[0].1.contains("NO-SUCH-SKU"));
    let stored = admin.product(&skus[0]).await;
    let qty = |sku: &str| {
        stored["stock"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sku"] == sku)
            .map(|s| s["quantity"].as_str().unwrap().parse::<i64>().unwrap())
    };
    assert_eq!(qty(&skus[0]), Some(77));
    assert_eq!(qty(&skus[1]), Some(3));
    // The product's own row holds the total of its combinations, as in PrestaShop.
    let total: i64 = stored["stock"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["id_product_attribute"] != "0")
        .map(|s| s["quantity"].as_str().unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(qty(&with_variants.sku), Some(total));
    // One PUT per changed row (the webservice has no batch endpoint); a row read and found
    // right is not written (below, with a fresh connector).
    let stats = admin.stats().await;
    assert_eq!(stats["writes"]["stock_availables"], 2, "{stats}");
    let fresh = connector(&sim, &cfg);
    let report = fresh
        .export_stock(&[level(&skus[1], "WH-EAST", 3)])
        .await
        .unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(admin.stats().await["writes"]["stock_availables"], 2);
    // The next push of a sku this connector has written is its PUT alone: the row is
    // remembered, no product search or stock list is spent on it (and it is written even
    // when it looks unchanged: the shop may have moved since).
    let before = admin.stats().await["requests_total"].as_u64().unwrap();
    let report = c
        .export_stock(&[level(&skus[1], "WH-EAST", 4)])
        .await
        .unwrap();
    assert_eq!(report.accepted, 1);
    let stats = admin.stats().await;
    assert_eq!(
        stats["requests_total"].as_u64().unwrap(),
        before + 1,
        "{stats}"
    );
    assert_eq!(stats["writes"]["stock_availables"], 3);
    assert_eq!(qty_of(&admin, &skus[1]).await, 4);
    // With a warehouse mapping only the mapped warehouse is the shop's.
    let mut settings = settings_for(&sim);
    settings
        .warehouse_mapping
        .insert("1".into(), "WH-EAST".into());
    let mapped = connector_with(&cfg.webservice_key, settings);
    let report = mapped
        .export_stock(&[level(&skus[1], "WH-EAST", 9), level(&skus[1], "WH-WEST", 4)])
        .await
        .unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(qty_of(&admin, &skus[1]).await, 9);
}

async fn qty_of(admin: &Admin, sku: &str) -> i64 {
    let stored = admin.product(sku).await;
    stored["stock"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sku"] == sku)
        .map(|s| s["quantity"].as_str().unwrap().parse::<i64>().unwrap())
        .unwrap()
}

#[tokio::test]
async fn export_orders_sets_tracking_and_state_once() {
    let cfg = config(10, 6);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let open = orders(&c, pages_of(50))
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.status != "shipped" && o.status != "cancelled")
        .unwrap_or_else(|| panic!("an open order"));
    let update = OrderUpdate {
        external_id: open.external_id.clone(),
        status: Some("shipped".into()),
        carrier: Some("FedEx".into()),
        tracking_number: Some("1ZTEST0001".into()),
        lines: vec![],
    };
    let report = c
        .export_orders(std::slice::from_ref(&update))
        .await
        .unwrap();
    assert_eq!(report.accepted, 1, "{:?}", report.rejected);
    let histories_after_first = admin.order(&open.external_id).await["order_histories"]
        .as_array()
        .unwrap()
        .len();
    // Exporting the same update again changes nothing.
    let report = c.export_orders(&[update]).await.unwrap();
    assert_eq!(report.accepted, 1);
    let stored = admin.order(&open.external_id).await;
    assert_eq!(stored["current_state"], "4");
    assert_eq!(
        stored["order_histories"].as_array().unwrap().len(),
        histories_after_first
    );
    assert_eq!(stored["order_carriers"][0]["tracking_number"], "1ZTEST0001");
    assert_eq!(stored["order_carriers"][0]["id_carrier"], "2");
    let reread = orders(&c, pages_of(50)).await.unwrap();
    let o = reread
        .iter()
        .find(|o| o.external_id == open.external_id)
        .unwrap();
    assert_eq!(o.status, "shipped");
    assert_eq!(o.shipments.len(), 1);
    assert_eq!(o.shipments[0].tracking_number, "1ZTEST0001");
    assert_eq!(o.shipments[0].carrier, "FedEx");
    // An unknown order and an unknown carrier are per-record rejections.
    let report = c
        .export_orders(&[
            OrderUpdate {
                external_id: "999999".into(),
                status: Some("cancelled".into()),
                carrier: None,
                tracking_number: None,
                lines: vec![],
            },
            OrderUpdate {
                external_id: open.external_id.clone(),
                status: None,
                carrier: Some("Pigeon Post".into()),
                tracking_number: Some("X".into()),
                lines: vec![],
            },
        ])
        .await
        .unwrap();
    assert_eq!(report.accepted, 0);
    assert_eq!(report.rejected.len(), 2);
}

#[tokio::test]
async fn update_field_puts_the_full_resource_back() {
    let cfg = config(12, 1);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let (all, _) = products(&c, pages_of(50)).await.unwrap();
    let p = all.iter().find(|p| !p.variants.is_empty()).unwrap();
    let other_brand = all
        .iter()
        .map(|x| x.brand.clone())
        .find(|b| !b.is_empty() && *b != p.brand)
        .unwrap();
    let update = |field: &str, value: &str| FieldUpdate {
        external_id: p.external_id.clone(),
        sku: p.sku.clone(),
        field: field.into(),
        value: value.into(),
    };
    c.update_field(&update(
        "description",
        "<p>A corrected & better description.</p>",
    ))
    .await
    .unwrap();
    c.update_field(&update("price", "24.90")).await.unwrap();
    c.update_field(&update("weight", "0.42")).await.unwrap();
    c.update_field(&update("brand", &other_brand))
        .await
        .unwrap();
    let paths: BTreeSet<String> = all.iter().flat_map(|p| p.categories.clone()).collect();
    let paths: Vec<String> = paths.into_iter().take(2).collect();
    assert_eq!(paths.len(), 2, "the demo shop has categories");
    c.update_field(&update(
        "categories",
        &format!("{}; {}", paths[0], paths[1]),
    ))
    .await
    .unwrap();
    let stored = admin.product(&p.sku).await;
    assert_eq!(
        stored["description"][0]["value"],
        "<p>A corrected & better description.</p>"
    );
    assert_eq!(stored["price"], "24.900000");
    assert_eq!(stored["weight"], "0.42");
    assert_eq!(stored["manufacturer_name"], other_brand.as_str());
    assert_eq!(stored["category_paths"], json!(paths));
    // The rest of the resource survived the full PUT.
    assert_eq!(stored["reference"], p.sku.as_str());
    assert_eq!(
        stored["associations"]["combinations"]
            .as_array()
            .unwrap()
            .len(),
        p.variants.len()
    );
    // A brand the shop does not know yet is created as a manufacturer.
    c.update_field(&update("brand", "Brand New Outfitters"))
        .await
        .unwrap();
    let stored = admin.product(&p.sku).await;
    assert_eq!(stored["manufacturer_name"], "Brand New Outfitters");
    assert_eq!(admin.stats().await["writes"]["manufacturers"], 1);
    c.update_field(&update("brand", &other_brand))
        .await
        .unwrap();
    // By sku when the external id is unknown.
    c.update_field(&FieldUpdate {
        external_id: String::new(),
        ..update("title", "Renamed Product")
    })
    .await
    .unwrap();
    assert_eq!(
        admin.product(&p.sku).await["name"][0]["value"],
        "Renamed Product"
    );
    let q = ImportQuery {
        skus: vec![p.sku.clone()],
        ..pages_of(5)
    };
    let (again, _) = products(&c, q).await.unwrap();
    assert_eq!(again[0].title, "Renamed Product");
    assert_eq!(again[0].raw_price, "24.90");
    assert_eq!(again[0].brand, other_brand);
    // Errors: unknown product, unknown category or brand, invalid value, unsupported field.
    let err = c
        .update_field(&FieldUpdate {
            external_id: "424242".into(),
            ..update("description", "x")
        })
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::NotFound(_)), "{err:?}");
    for (field, value) in [("categories", "No/Such/Category"), ("price", "cheap")] {
        let err = c.update_field(&update(field, value)).await.unwrap_err();
        assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");
    }
    let err = c.update_field(&update("color", "red")).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Unsupported(_)), "{err:?}");
}

#[tokio::test]
async fn a_burst_of_5xx_is_retried() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    admin
        .fault(json!({"kind": "status", "status": 503, "count": 3, "path_contains": "/api/configurations"}))
        .await;
    let c = connector(&sim, &cfg);
    c.test_connection().await.unwrap();
    let stats = admin.stats().await;
    assert_eq!(stats["faults_injected"], 3);
    assert_eq!(stats["requests"]["GET /api/configurations"], 4);
}

#[tokio::test]
async fn persistent_5xx_ends_as_a_transient_error() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    Admin::of(&sim)
        .fault(json!({"kind": "status", "status": 502, "count": 50}))
        .await;
    let mut settings = settings_for(&sim);
    settings.retry_attempts = Some(3);
    let c = connector_with(&cfg.webservice_key, settings);
    let err = c.test_connection().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Transient(_)), "{err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn malformed_bodies_are_retried_then_malformed() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    admin
        .fault(json!({"kind": "malformed", "count": 2, "path_contains": "/api/products"}))
        .await;
    let c = connector(&sim, &cfg);
    let page = c.products_page(&pages_of(10)).await.unwrap();
    assert_eq!(page.items.len(), 5);
    admin.fault(json!({"kind": "malformed", "count": 10})).await;
    let err = c.test_connection().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Malformed(_)), "{err:?}");
}

#[tokio::test]
async fn timeouts_are_retried() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    Admin::of(&sim)
        .fault(json!({"kind": "timeout", "delay_ms": 3000, "count": 1}))
        .await;
    let mut settings = settings_for(&sim);
    settings.timeout_secs = Some(1);
    let c = connector_with(&cfg.webservice_key, settings);
    let start = Instant::now();
    c.test_connection().await.unwrap();
    assert!(start.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_429_waits_for_retry_after() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    admin
        .fault(json!({"kind": "rate_limit", "reset_ms": 1000, "count": 1}))
        .await;
    let c = connector(&sim, &cfg);
    let start = Instant::now();
    c.test_connection().await.unwrap();
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(1000), "waited {elapsed:?}");
    assert!(elapsed < Duration::from_millis(3000), "waited {elapsed:?}");
    let stats = admin.stats().await;
    assert_eq!(stats["requests_total"], 2, "one 429, one retry: {stats}");
    assert_eq!(stats["rate_limited"], 1);
}

#[tokio::test]
async fn the_hosts_window_is_followed() {
    // The host allows 4 requests a second; the client's own budget is left at its default.
    let cfg = SimConfig {
        rate_limit_requests: 4,
        rate_limit_window_ms: 1000,
        ..config(6, 1)
    };
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    for _ in 0..6 {
        c.test_connection().await.unwrap();
    }
    let stats = admin.stats().await;
    assert!(stats["rate_limited"].as_u64().unwrap() >= 1, "{stats}");
    // The same work within the host's window, paced by the client's budget: no 429 at all.
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let settings = Settings {
        rate_limit_requests: Some(4),
        rate_limit_window_ms: Some(1000),
        ..settings_for(&sim)
    };
    let c = connector_with(&cfg.webservice_key, settings);
    for _ in 0..6 {
        c.test_connection().await.unwrap();
    }
    assert_eq!(admin.stats().await["rate_limited"], 0);
}

#[tokio::test]
async fn a_revoked_key_is_an_auth_error() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    c.test_connection().await.unwrap();
    admin.post("/revoke-token", Value::Null).await;
    let err = c.products_page(&pages_of(5)).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err:?}");
    assert!(!err.to_string().contains(&cfg.webservice_key));
    assert!(!err.is_transient());
    admin.post("/restore-token", Value::Null).await;
    c.test_connection().await.unwrap();
}

#[tokio::test]
async fn a_full_import_stays_within_its_call_budget() {
    // 45 products in pages of 10: 5 product pages, one combinations request per page, and the
    // lookups (categories, manufacturers, options, option values, currencies, carriers,
    // default currency) once per import.
    let cfg = config(45, 3);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let (all, pages) = products(&c, pages_of(10)).await.unwrap();
    assert_eq!((all.len(), pages), (45, 5));
    let stats = admin.stats().await;
    let budget = 5 + 5 + 7;
    assert_eq!(stats["requests_total"], budget, "{stats}");
    assert_eq!(stats["requests"]["GET /api/products"], 5);
    assert_eq!(stats["requests"]["GET /api/combinations"], 5);
}

#[tokio::test]
async fn webhooks_are_unsupported_and_the_poll_covers_them() {
    let cfg = config(3, 1);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let err = c
        .register_webhooks("https://hooks.example.com/prestashop")
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Unsupported(_)), "{err:?}");
    let err = c.verify_webhook(&WebhookCall::default()).unwrap_err();
    assert!(matches!(err, ConnectorError::Unsupported(_)), "{err:?}");
    // No request reached the shop.
    assert_eq!(Admin::of(&sim).stats().await["requests_total"], 0);
}

#[tokio::test]
async fn the_simulator_refuses_what_prestashop_refuses() {
    let cfg = SimConfig {
        max_page_size: 20,
        ..config(5, 1)
    };
    let sim = start(cfg.clone()).await;
    let http = reqwest::Client::new();
    let get = |query: Vec<(&'static str, &'static str)>| {
        http.get(format!("{}/products", sim.api_url()))
            .basic_auth(&cfg.webservice_key, Some(""))
            .query(&query)
            .send()
    };
    // A page above the host's maximum.
    let resp = get(vec![("limit", "0,21")]).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("<errors><error>"));
    // Date filters need date=1.
    let resp = get(vec![("filter[date_upd]", "[2020-01-01,2030-01-01]")])
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = get(vec![
        ("filter[date_upd]", "[2020-01-01,2030-01-01]"),
        ("date", "1"),
        ("limit", "0,20"),
        ("output_format", "JSON"),
        ("display", "full"),
    ])
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["products"].as_array().unwrap().len(), 5);
    // A product PUT with a read-only field, or without a required one, is refused.
    let put = |xml: String| {
        http.put(format!("{}/products/1", sim.api_url()))
            .basic_auth(&cfg.webservice_key, Some(""))
            .body(xml)
            .send()
    };
    let resp = put(
        "<prestashop><product><id>1</id><price>1</price><name><language id=\"1\">x</language></name>\
         <link_rewrite><language id=\"1\">x</language></link_rewrite><manufacturer_name>x</manufacturer_name>\
         </product></prestashop>"
            .into(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("not writable"));
    let resp = put("<prestashop><product><id>1</id><price>1</price></product></prestashop>".into())
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("required"));
    // The connector's pages, lookups included, stay within the host's maximum when its batch
    // size says so.
    let settings = Settings {
        batch_size: Some(20),
        ..settings_for(&sim)
    };
    let c = connector_with(&cfg.webservice_key, settings);
    let (all, _) = products(&c, pages_of(0)).await.unwrap();
    assert_eq!(all.len(), 5);
    let stats = Admin::of(&sim).stats().await;
    for (resource, sizes) in stats["page_sizes"].as_object().unwrap() {
        for s in sizes.as_array().unwrap() {
            let s = s.as_u64().unwrap();
            assert!(s <= 20, "{resource}: {s}");
        }
    }
}

#[tokio::test]
async fn the_registry_builds_prestashop_connections() {
    let info = marketsync_connectors::registry()
        .into_iter()
        .find(|p| p.id == "prestashop")
        .expect("prestashop is registered");
    let fields: BTreeMap<String, bool> = info
        .credentials
        .iter()
        .map(|f| (f.name.clone(), f.secret))
        .collect();
    assert_eq!(
        fields,
        BTreeMap::from([
            ("store_url".to_string(), false),
            ("webservice_key".to_string(), true)
        ])
    );
    assert!(info.settings.iter().any(|f| f.name == "base_url"));
    assert!(info.settings.iter().any(|f| f.name == "warehouse_mapping"));
    let cfg = config(3, 1);
    let sim = start(cfg.clone()).await;
    let c = marketsync_connectors::build(ConnectionConfig {
        platform: "prestashop".into(),
        credentials: Credentials::from_json(&json!({
            "store_url": sim.base_url(),
            "webservice_key": cfg.webservice_key,
        }))
        .unwrap(),
        settings: Settings::default(),
    })
    .unwrap();
    // Without base_url, store_url is the shop.
    assert!(
        c.test_connection()
            .await
            .unwrap()
            .contains("Demo Outdoor Shop")
    );
    // A connection without its key is a configuration error naming the field.
    let err = marketsync_connectors::build(ConnectionConfig {
        platform: "prestashop".into(),
        credentials: Credentials::from_json(&json!({"store_url": sim.base_url()})).unwrap(),
        settings: Settings::default(),
    })
    .err()
    .unwrap();
    assert!(err.to_string().contains("webservice_key"), "{err}");
}

#[tokio::test]
async fn export_stock_of_many_skus_chunks_its_filters_and_skips_unchanged_rows() {
    let cfg = config(40, 1);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let want = demo_stock(&demo::catalog(cfg.seed, cfg.products));
    assert!(want.len() > 100, "{} skus", want.len());
    let levels: Vec<StockLevel> = want
        .iter()
        .map(|(sku, q)| StockLevel {
            sku: sku.clone(),
            warehouse: "WH-EAST".into(),
            on_hand: *q,
            reserved: 0,
            available: *q,
        })
        .collect();
    let report = c.export_stock(&levels).await.unwrap();
    assert_eq!(
        report.accepted as usize,
        want.len(),
        "{:?}",
        report.rejected
    );
    let stats = admin.stats().await;
    // At most 100 values per filter: the sku lookups took more than one request each.
    let chunks = want.len().div_ceil(100) as u64;
    assert_eq!(stats["requests"]["GET /api/products"], chunks, "{stats}");
    assert_eq!(
        stats["requests"]["GET /api/combinations"], chunks,
        "{stats}"
    );
    // Every level was already the shop's: nothing was written.
    assert!(stats["writes"].get("stock_availables").is_none(), "{stats}");
}

#[tokio::test]
async fn order_imports_go_before_a_backlog_of_pushes() {
    // The connection's budget: 60 requests per 2 s window, shared by its pushes (one PUT per
    // sku, in the background: 48 of them) and its order imports (the first one of a
    // connector takes 11 requests, the shop's lookups included).
    let cfg = SimConfig {
        rate_limit_requests: 0,
        ..config(30, 0)
    };
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let settings = Settings {
        rate_limit_requests: Some(60),
        rate_limit_window_ms: Some(2000),
        ..settings_for(&sim)
    };
    let c = std::sync::Arc::new(connector_with(&cfg.webservice_key, settings));
    let want = demo_stock(&demo::catalog(cfg.seed, cfg.products));
    assert!(want.len() >= 60, "{} skus", want.len());
    let levels: Vec<StockLevel> = want
        .iter()
        .map(|(sku, q)| StockLevel {
            sku: sku.clone(),
            warehouse: "WH-EAST".into(),
            on_hand: q + 1,
            reserved: 0,
            available: q + 1,
        })
        .collect();
    let since = Utc::now() - chrono::Duration::seconds(1);
    let p = &demo::catalog(cfg.seed, cfg.products)[1];
    let sold = p.variants.first().map_or(p.sku.clone(), |v| v.sku.clone());
    let created = admin
        .post("/orders", json!({"lines": [{"sku": sold, "quantity": 1}]}))
        .await;
    // A push of every sku (more PUTs than two windows allow) starts first ...
    let started = Instant::now();
    let push = {
        let c = c.clone();
        tokio::spawn(marketsync_connectors::background(async move {
            c.export_stock(&levels).await
        }))
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ... and the order import (a priority call) that joins it is not held back by it.
    let import_began = Instant::now();
    let q = ImportQuery {
        since: Some(since),
        ..pages_of(10)
    };
    let new = marketsync_connectors::priority(orders(c.as_ref(), q))
        .await
        .unwrap();
    let import_took = import_began.elapsed();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].external_id, created["id"].to_string());
    assert!(
        import_took < Duration::from_millis(1000),
        "the import waited {import_took:?} behind the pushes"
    );
    assert!(!push.is_finished(), "the pushes were still going on");
    let report = push.await.unwrap().unwrap();
    assert_eq!(
        report.accepted as usize,
        want.len(),
        "{:?}",
        report.rejected
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "paced by the budget"
    );
    assert_eq!(qty_of(&admin, &sold).await, want[&sold] + 1);
}

#[tokio::test]
async fn a_poll_for_new_orders_is_one_request() {
    let cfg = config(10, 3);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    // The first import reads the lookups (carrier names, currencies).
    let all = orders(&c, pages_of(10)).await.unwrap();
    assert_eq!(all.len(), 3);
    let requests = |s: Value| s["requests_total"].as_u64().unwrap();
    let before = requests(admin.stats().await);
    let q = ImportQuery {
        since: Some(Utc::now() - chrono::Duration::seconds(1)),
        ..pages_of(10)
    };
    assert!(orders(&c, q.clone()).await.unwrap().is_empty());
    let stats = admin.stats().await;
    assert_eq!(
        requests(stats.clone()),
        before + 1,
        "the orders alone: {stats}"
    );
    // A new order: its customer, address and carriers, with the lookups read before.
    let p = &demo::catalog(cfg.seed, cfg.products)[0];
    let sku = p.variants.first().map_or(p.sku.clone(), |v| v.sku.clone());
    admin
        .post("/orders", json!({"lines": [{"sku": sku, "quantity": 1}]}))
        .await;
    let new = orders(&c, q).await.unwrap();
    assert_eq!(new.len(), 1);
    assert!(!new[0].total.as_ref().unwrap().currency.is_empty());
    let stats = admin.stats().await;
    assert_eq!(requests(stats.clone()), before + 5, "{stats}");
}

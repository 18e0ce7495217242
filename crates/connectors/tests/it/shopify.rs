//! The Shopify connector against the Shopify simulator, and every GraphQL document of the
//! connector validated against the Admin API 2025-01 introspection schema.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use marketsync_connectors::shopify::{Shopify, documents};
use marketsync_connectors::{
    ConnectionConfig, Connector, ConnectorError, Credentials, FieldUpdate, ImportQuery,
    OrderUpdate, Settings, WebhookCall,
};
use marketsync_proto::v1::StockLevel;
use marketsync_simulators::demo::{self, DefectCounts};
use marketsync_simulators::shopify::{self as sim, Plan, RunningSimulator, SimConfig};
use serde_json::{Value, json};

use crate::support::{Admin, all_pages, orders, pages_of, products, stock};

// ---------------------------------------------------------------------------------------------
// helpers

fn config(products: usize, orders: usize) -> SimConfig {
    SimConfig {
        products,
        orders,
        seed: 7,
        // Tests do not wait for a Standard bucket to refill; the throttling test sets its own.
        plan: Plan::Custom {
            maximum: 1000,
            restore_rate: 1_000_000,
        },
        ..SimConfig::default()
    }
}

/// The sku of the demo catalog's first product (its first variant's, when it has variants).
fn first_sku(cfg: &SimConfig) -> String {
    let catalog = demo::catalog(cfg.seed, cfg.products);
    catalog[0]
        .variants
        .first()
        .map_or(catalog[0].sku.clone(), |v| v.sku.clone())
}

async fn start(config: SimConfig) -> RunningSimulator {
    crate::support::on_free_port(|addr| sim::start(addr, config)).await
}

fn settings_for(sim: &RunningSimulator) -> Settings {
    crate::support::fast_settings(sim.base_url())
}

fn connector_with(cfg: &SimConfig, token: &str, settings: Settings) -> Shopify {
    let credentials = Credentials::from_json(&json!({
        "shop_domain": cfg.shop_domain,
        "access_token": token,
        "api_key": "demo-api-key",
        "api_secret": cfg.api_secret,
    }))
    .unwrap();
    Shopify::new(ConnectionConfig {
        platform: "shopify".into(),
        credentials,
        settings,
    })
    .expect("valid connection")
}

fn connector(sim: &RunningSimulator, cfg: &SimConfig) -> Shopify {
    connector_with(cfg, &cfg.access_token, settings_for(sim))
}

fn on_hand(product: &Value, sku: &str, location: &str) -> i64 {
    product["stock"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sku"] == sku && s["location"] == location)
        .and_then(|s| s["on_hand"].as_i64())
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// schema validation

/// The Admin API schema as SDL, derived from the introspection JSON in `shared/specs`.
fn admin_schema_sdl() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/specs/shopify-admin-graphql/admin_schema_2025-01.json"
    );
    let text = std::fs::read_to_string(path).expect("shared/specs Shopify introspection schema");
    let v: Value = serde_json::from_str(&text).unwrap();
    let schema = v.get("data").unwrap_or(&v)["__schema"].clone();
    fn type_ref(t: &Value) -> String {
        match t["kind"].as_str().unwrap() {
            "NON_NULL" => format!("{}!", type_ref(&t["ofType"])),
            "LIST" => format!("[{}]", type_ref(&t["ofType"])),
            _ => t["name"].as_str().unwrap().to_string(),
        }
    }
    fn args(list: &Value) -> String {
        let a: Vec<String> = list
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        let mut s =
                            format!("{}: {}", x["name"].as_str().unwrap(), type_ref(&x["type"]));
                        if let Some(d) = x["defaultValue"].as_str() {
                            s.push_str(&format!(" = {d}"));
                        }
                        s
                    })
                    .collect()
            })
            .unwrap_or_default();
        if a.is_empty() {
            String::new()
        } else {
            format!("({})", a.join(", "))
        }
    }
    let builtin = ["String", "Int", "Float", "Boolean", "ID"];
    let mut sdl = String::new();
    sdl.push_str(&format!(
        "schema {{ query: {} mutation: {} }}\n",
        schema["queryType"]["name"].as_str().unwrap(),
        schema["mutationType"]["name"].as_str().unwrap()
    ));
    for t in schema["types"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        if name.starts_with("__") {
            continue;
        }
        let interfaces = |t: &Value| -> String {
            let i: Vec<&str> = t["interfaces"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x["name"].as_str()).collect())
                .unwrap_or_default();
            if i.is_empty() {
                String::new()
            } else {
                format!(" implements {}", i.join(" & "))
            }
        };
        let fields = |t: &Value| -> String {
            t["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    format!(
                        "  {}{}: {}\n",
                        f["name"].as_str().unwrap(),
                        args(&f["args"]),
                        type_ref(&f["type"])
                    )
                })
                .collect()
        };
        match t["kind"].as_str().unwrap() {
            "SCALAR" if !builtin.contains(&name) => sdl.push_str(&format!("scalar {name}\n")),
            "OBJECT" => sdl.push_str(&format!(
                "type {name}{} {{\n{}}}\n",
                interfaces(t),
                fields(t)
            )),
            "INTERFACE" => sdl.push_str(&format!(
                "interface {name}{} {{\n{}}}\n",
                interfaces(t),
                fields(t)
            )),
            "UNION" => {
                let members: Vec<&str> = t["possibleTypes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x["name"].as_str().unwrap())
                    .collect();
                sdl.push_str(&format!("union {name} = {}\n", members.join(" | ")));
            }
            "ENUM" => {
                let values: Vec<&str> = t["enumValues"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x["name"].as_str().unwrap())
                    .collect();
                sdl.push_str(&format!("enum {name} {{ {} }}\n", values.join(" ")));
            }
            "INPUT_OBJECT" => {
                let f: String = t["inputFields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| {
                        let mut s = format!(
                            "  {}: {}",
                            x["name"].as_str().unwrap(),
                            type_ref(&x["type"])
                        );
                        if let Some(d) = x["defaultValue"].as_str() {
                            s.push_str(&format!(" = {d}"));
                        }
                        s.push('\n');
                        s
                    })
                    .collect();
                sdl.push_str(&format!("input {name} {{\n{f}}}\n"));
            }
            _ => {}
        }
    }
    sdl
}

#[test]
fn every_document_is_valid_against_the_admin_schema() {
    use apollo_compiler::{ExecutableDocument, Schema};
    let sdl = admin_schema_sdl();
    let schema = Schema::parse_and_validate(sdl, "admin_schema_2025-01.graphql")
        .unwrap_or_else(|e| panic!("schema does not build: {}", e.errors));
    let mut failures = Vec::new();
    for (name, document) in documents::documents() {
        if let Err(e) = ExecutableDocument::parse_and_validate(&schema, document, name) {
            failures.push(format!("{name}:\n{}", e.errors));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The check itself catches unknown fields, arguments and types.
    for bad in [
        "query { shop { name notAField } }",
        "query { products(first: 1, notAnArgument: 2) { nodes { id } } }",
        "query Q($x: NotAType) { shop { name } }",
    ] {
        assert!(
            ExecutableDocument::parse_and_validate(&schema, bad, "bad.graphql").is_err(),
            "{bad} must be rejected"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// connection

#[tokio::test]
async fn test_connection_names_the_shop_and_checks_scopes() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let msg = c.test_connection().await.unwrap();
    assert_eq!(
        msg,
        "connected to shop Marketsync Demo Outfitters (marketsync-demo.myshopify.com): all required access scopes granted"
    );
    assert_eq!(c.platform(), "shopify");

    let narrow = SimConfig {
        scopes: vec!["read_products".into(), "write_orders".into()],
        ..config(2, 0)
    };
    let sim2 = start(narrow.clone()).await;
    let msg = connector(&sim2, &narrow).test_connection().await.unwrap();
    assert!(
        msg.contains("missing access scopes write_products, read_inventory"),
        "{msg}"
    );
    assert!(
        !msg.contains("read_orders"),
        "write_orders implies read_orders: {msg}"
    );
}

#[tokio::test]
async fn wrong_token_is_an_auth_error_without_the_token() {
    let cfg = config(3, 0);
    let sim = start(cfg.clone()).await;
    let token = "shpat_wrong_5f2c9a7e1234";
    let c = connector_with(&cfg, token, settings_for(&sim));
    let err = c.test_connection().await.unwrap_err();
    let ConnectorError::Auth(msg) = &err else {
        panic!("expected an auth error, got {err:?}");
    };
    assert!(
        msg.contains("401") && msg.contains("Invalid API key or access token"),
        "{msg}"
    );
    for text in [
        msg.clone(),
        err.to_string(),
        format!("{err:?}"),
        format!("{c:?}"),
    ] {
        assert!(!text.contains(token), "token leaked: {text}");
        assert!(!text.contains(&cfg.api_secret), "secret leaked: {text}");
    }
    assert_eq!(
        Admin::of(&sim).stats().await["unauthorized"],
        1,
        "no retries"
    );
}

// ---------------------------------------------------------------------------------------------
// imports

#[tokio::test]
async fn full_import_runs_a_bulk_operation_and_maps_every_product() {
    let cfg = config(45, 2);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let first = c.products_page(&pages_of(10)).await.unwrap();
    assert_eq!(first.total, Some(45));
    assert!(first.next.as_deref().unwrap().starts_with("bulk:"));
    let (all, pages) = products(&c, pages_of(10)).await.unwrap();
    assert_eq!(pages, 5);
    assert_eq!(all.len(), 45);
    let stats = Admin::of(&sim).stats().await;
    assert_eq!(
        stats["requests"]["mutation BulkRun"], 2,
        "one bulk operation per full import (two imports ran): {stats}"
    );

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
        assert_eq!(p.weight, Some(d.weight), "{}", d.sku);
        assert!(p.external_id.starts_with("gid://shopify/Product/"));
        assert_eq!(p.price.as_ref().unwrap().currency, "USD");
        assert_eq!(p.variants.len(), d.variants.len(), "{}", d.sku);
        for (v, dv) in p.variants.iter().zip(&d.variants) {
            assert_eq!(v.sku, dv.sku);
            let opts: BTreeMap<_, _> = dv.options.iter().cloned().collect();
            let got: BTreeMap<_, _> = v.options.clone().into_iter().collect();
            assert_eq!(got, opts);
            assert_eq!(v.gtin, dv.gtin);
            assert!(v.external_id.starts_with("gid://shopify/ProductVariant/"));
            let want = demo::to_units(dv.price.as_deref().unwrap_or(&d.price));
            assert_eq!(demo::to_units(&v.price.as_ref().unwrap().amount), want);
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
async fn incremental_import_pages_with_cursors_within_the_cost_limit() {
    let cfg = config(30, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let catalog = demo::catalog(cfg.seed, cfg.products);
    let mut times: Vec<_> = catalog.iter().map(|p| p.modified_at).collect();
    times.sort();
    let since = times[times.len() / 2];
    let want: BTreeSet<String> = catalog
        .iter()
        .filter(|p| p.modified_at >= since)
        .map(|p| p.sku.clone())
        .collect();
    let q = ImportQuery {
        since: Some(since),
        page_size: 50,
        ..ImportQuery::default()
    };
    let (got, pages) = products(&c, q).await.unwrap();
    let got: BTreeSet<String> = got.into_iter().map(|p| p.sku).collect();
    assert_eq!(got, want);
    // 4 products per page keep a page under the 1000-point single-query limit.
    assert_eq!(pages, want.len().div_ceil(4));

    let until = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
    let none = ImportQuery {
        since: Some(since),
        until: Some(until),
        page_size: 10,
        ..ImportQuery::default()
    };
    assert!(products(&c, none).await.unwrap().0.is_empty());

    // Sku and id filters (a variant sku finds its product).
    let d = catalog.iter().find(|p| !p.variants.is_empty()).unwrap();
    let by_sku = ImportQuery {
        skus: vec![d.variants[0].sku.clone()],
        page_size: 10,
        ..ImportQuery::default()
    };
    let (found, _) = products(&c, by_sku).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].sku, d.sku);
    let by_id = ImportQuery {
        ids: vec![found[0].external_id.clone()],
        page_size: 10,
        ..ImportQuery::default()
    };
    let (again, _) = products(&c, by_id).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].external_id, found[0].external_id);
}

#[tokio::test]
async fn stock_is_read_per_location() {
    let cfg = config(12, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let levels = stock(&c, pages_of(7)).await.unwrap();
    let catalog = demo::catalog(cfg.seed, cfg.products);
    let mut want = BTreeMap::new();
    for p in &catalog {
        if p.variants.is_empty() {
            for s in &p.stock {
                want.insert((p.sku.clone(), s.warehouse.clone()), s.on_hand);
            }
        }
        for v in &p.variants {
            for s in &v.stock {
                want.insert((v.sku.clone(), s.warehouse.clone()), s.on_hand);
            }
        }
    }
    let got: BTreeMap<_, _> = levels
        .iter()
        .map(|l| ((l.sku.clone(), l.warehouse.clone()), l.on_hand))
        .collect();
    assert_eq!(got, want, "location names are the default warehouse codes");
    assert!(
        levels
            .iter()
            .all(|l| l.available == l.on_hand && l.reserved == 0)
    );

    // A warehouse mapping by location id.
    let product = Admin::of(&sim).product(&catalog[0].sku).await;
    let east = product["stock"][0]["location_id"].as_u64().unwrap();
    let mut settings = settings_for(&sim);
    settings
        .warehouse_mapping
        .insert(east.to_string(), "MAIN".into());
    let mapped = connector_with(&cfg, &cfg.access_token, settings);
    let q = ImportQuery {
        skus: vec![
            catalog[0]
                .variants
                .first()
                .map_or(catalog[0].sku.clone(), |v| v.sku.clone()),
        ],
        page_size: 10,
        ..ImportQuery::default()
    };
    let levels = stock(&mapped, q).await.unwrap();
    let houses: BTreeSet<_> = levels.iter().map(|l| l.warehouse.as_str()).collect();
    assert_eq!(houses, BTreeSet::from(["MAIN", "WH-WEST"]));
}

#[tokio::test]
async fn orders_are_imported_with_lines_and_shipments() {
    let cfg = config(10, 9);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let got = orders(&c, pages_of(4)).await.unwrap();
    assert_eq!(got.len(), 9);
    let catalog = demo::catalog(cfg.seed, cfg.products);
    let demo_orders = demo::orders(cfg.seed, &catalog, 9);
    for (o, d) in got.iter().zip(&demo_orders) {
        let skus: Vec<_> = o.lines.iter().map(|l| l.sku.clone()).collect();
        let want: Vec<_> = d.lines.iter().map(|l| l.sku.clone()).collect();
        assert_eq!(skus, want);
        let status = match d.status.as_str() {
            "completed" => "shipped",
            s => s,
        };
        assert_eq!(o.status, status);
        assert_eq!(o.shipments.is_empty(), !matches!(status, "shipped"));
        assert_eq!(o.buyer.as_ref().unwrap().email, d.buyer.email);
        assert!(o.total.is_some());
    }
}

// ---------------------------------------------------------------------------------------------
// exports

#[tokio::test]
async fn export_stock_sets_quantities_in_batches_of_250() {
    let cfg = config(40, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let current = stock(&c, pages_of(30)).await.unwrap();
    assert!(
        current.len() > 250,
        "enough levels for two batches: {}",
        current.len()
    );
    let levels: Vec<StockLevel> = current
        .iter()
        .map(|l| StockLevel {
            on_hand: l.on_hand + 3,
            ..l.clone()
        })
        .chain([StockLevel {
            sku: "NO-SUCH-SKU".into(),
            warehouse: "WH-EAST".into(),
            on_hand: 1,
            ..StockLevel::default()
        }])
        .collect();
    let report = c.export_stock(&levels).await.unwrap();
    assert_eq!(report.accepted as usize, current.len());
    assert_eq!(report.rejected.len(), 1);
    let stats = Admin::of(&sim).stats().await;
    assert_eq!(
        stats["requests"]["mutation SetQuantities"]
            .as_u64()
            .unwrap() as usize,
        current.len().div_ceil(250)
    );
    let l = &current[0];
    let product = Admin::of(&sim).product(&l.sku).await;
    assert_eq!(on_hand(&product, &l.sku, &l.warehouse), l.on_hand + 3);
}

#[tokio::test]
async fn export_order_creates_a_fulfillment_with_tracking() {
    let cfg = config(6, 0);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let sku = first_sku(&cfg);
    let created = admin
        .send(
            reqwest::Method::POST,
            "/orders",
            Some(json!({"lines": [{"sku": sku, "quantity": 2}]})),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let c = connector(&sim, &cfg);
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
    assert_eq!(report.accepted, 1, "{report:?}");
    let order = admin.order(&id).await;
    assert_eq!(order["displayFulfillmentStatus"], "FULFILLED");
    assert_eq!(
        order["fulfillments"][0]["trackingInfo"][0]["number"],
        "1Z999AA10123456784"
    );
    assert_eq!(
        order["fulfillments"][0]["trackingInfo"][0]["company"],
        "UPS"
    );
    // Idempotent: the same tracking number is not shipped twice.
    let again = c.export_orders(&[update]).await.unwrap();
    assert_eq!(again.accepted, 1);
    assert_eq!(
        admin.order(&id).await["fulfillments"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The import sees the shipment.
    let imported = orders(&c, pages_of(10)).await.unwrap();
    let o = imported.iter().find(|o| o.external_id == id).unwrap();
    assert_eq!(o.shipments[0].tracking_number, "1Z999AA10123456784");
    // Cancellation; an unknown order is a record-level rejection.
    let created = admin
        .send(reqwest::Method::POST, "/orders", Some(json!({})))
        .await;
    let other = created["id"].as_str().unwrap().to_string();
    let report = c
        .export_orders(&[
            OrderUpdate {
                external_id: other.clone(),
                status: Some("cancelled".into()),
                carrier: None,
                tracking_number: None,
                lines: vec![],
            },
            OrderUpdate {
                external_id: "gid://shopify/Order/1".into(),
                status: Some("shipped".into()),
                carrier: None,
                tracking_number: None,
                lines: vec![],
            },
        ])
        .await
        .unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(report.rejected.len(), 1);
    assert!(admin.order(&other).await["cancelledAt"].is_string());
}

#[tokio::test]
async fn update_field_writes_each_canonical_field() {
    let cfg = config(6, 0);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let catalog = demo::catalog(cfg.seed, cfg.products);
    let d = catalog.iter().find(|p| !p.variants.is_empty()).unwrap();
    let update = |field: &str, value: &str, external_id: &str| FieldUpdate {
        external_id: external_id.into(),
        sku: d.sku.clone(),
        field: field.into(),
        value: value.into(),
    };
    c.update_field(&update("description", "<p>New text</p>", ""))
        .await
        .unwrap();
    let id = admin.product(&d.sku).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    c.update_field(&update("brand", "Northwind", &id))
        .await
        .unwrap();
    c.update_field(&update("title", "Renamed Hoodie", &id))
        .await
        .unwrap();
    c.update_field(&update("categories", "Men/Outerwear;Sale", &id))
        .await
        .unwrap();
    c.update_field(&update("price", "59.5", &id)).await.unwrap();
    c.update_field(&update("weight", "0.75", &id))
        .await
        .unwrap();
    let p = admin.product(&d.sku).await;
    assert_eq!(p["descriptionHtml"], "<p>New text</p>");
    assert_eq!(p["vendor"], "Northwind");
    assert_eq!(p["title"], "Renamed Hoodie");
    assert_eq!(p["productType"], "Men/Outerwear");
    for v in p["variants"].as_array().unwrap() {
        assert_eq!(v["price"], "59.50");
        assert_eq!(v["inventoryItem"]["measurement"]["weight"]["value"], 0.75);
    }
    let err = c
        .update_field(&update("price", "-1", &id))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");
    let err = c
        .update_field(&update("colour", "red", &id))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Unsupported(_)), "{err:?}");
    let missing = FieldUpdate {
        external_id: String::new(),
        sku: "NOPE-1".into(),
        field: "title".into(),
        value: "x".into(),
    };
    assert!(matches!(
        c.update_field(&missing).await,
        Err(ConnectorError::NotFound(_))
    ));
}

// ---------------------------------------------------------------------------------------------
// faults, rate limits, budget

fn fast_settings(sim: &RunningSimulator) -> Settings {
    Settings {
        timeout_secs: Some(1),
        ..settings_for(sim)
    }
}

#[tokio::test]
async fn server_errors_are_retried() {
    let cfg = config(8, 0);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    admin
        .fault(json!({"kind": "status", "status": 503, "count": 2}))
        .await;
    let c = connector(&sim, &cfg);
    let page = c.stock_page(&pages_of(5)).await.unwrap();
    assert!(!page.items.is_empty());
    assert_eq!(admin.stats().await["faults_injected"], 2);
}

#[tokio::test]
async fn malformed_bodies_are_malformed_errors() {
    let cfg = config(4, 0);
    let sim = start(cfg.clone()).await;
    Admin::of(&sim)
        .fault(json!({"kind": "malformed", "count": 10}))
        .await;
    let c = connector(&sim, &cfg);
    let err = c.stock_page(&pages_of(5)).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Malformed(_)), "{err:?}");
}

#[tokio::test]
async fn http_429_waits_for_retry_after() {
    let cfg = config(4, 0);
    let sim = start(cfg.clone()).await;
    Admin::of(&sim)
        .fault(json!({"kind": "rate_limit", "count": 1, "reset_ms": 1000}))
        .await;
    let c = connector(&sim, &cfg);
    let started = Instant::now();
    c.stock_page(&pages_of(5)).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(Admin::of(&sim).stats().await["rate_limited"], 1);
}

#[tokio::test]
async fn revoked_token_is_an_auth_error() {
    let cfg = config(4, 0);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    c.test_connection().await.unwrap();
    admin
        .send(reqwest::Method::POST, "/revoke-token", None)
        .await;
    assert!(matches!(
        c.orders_page(&pages_of(5)).await,
        Err(ConnectorError::Auth(_))
    ));
    admin
        .send(reqwest::Method::POST, "/restore-token", None)
        .await;
    c.orders_page(&pages_of(5)).await.unwrap();
}

#[tokio::test]
async fn timeouts_are_retried() {
    let cfg = config(4, 0);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    admin
        .fault(json!({"kind": "timeout", "count": 1, "delay_ms": 1500}))
        .await;
    let c = connector_with(&cfg, &cfg.access_token, fast_settings(&sim));
    c.stock_page(&pages_of(5)).await.unwrap();
    assert_eq!(admin.stats().await["faults_injected"], 1);
}

#[tokio::test]
async fn throttled_queries_wait_for_the_cost_bucket() {
    // A bucket of 1000 points restored at 1000 per second.
    let cfg = SimConfig {
        plan: Plan::Custom {
            maximum: 1000,
            restore_rate: 1000,
        },
        ..config(12, 0)
    };
    let sim = start(cfg.clone()).await;
    // Another app of the shop drains the bucket: 100 mutations of 10 points.
    let http = reqwest::Client::new();
    for _ in 0..100 {
        http.post(sim.graphql_url())
            .header("X-Shopify-Access-Token", cfg.access_token.clone())
            .json(&json!({
                "query": documents::PRODUCT_UPDATE,
                "variables": {"product": {"id": "gid://shopify/Product/1"}},
            }))
            .send()
            .await
            .unwrap();
    }
    // The connector knows nothing of it: its first page (982 points requested) is THROTTLED,
    // it waits by the cost fields and goes on.
    let c = connector(&sim, &cfg);
    let q = ImportQuery {
        since: Some(Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap()),
        page_size: 50,
        ..ImportQuery::default()
    };
    let started = Instant::now();
    let (all, pages) = products(&c, q).await.unwrap();
    assert_eq!((all.len(), pages), (12, 3));
    let stats = Admin::of(&sim).stats().await;
    assert!(stats["throttled"].as_u64().unwrap() >= 1, "{stats}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // Unused points are refunded: pages cost what they returned, far below what they asked.
    let status = &stats["throttle_status"];
    assert_eq!(status["maximumAvailable"], 1000.0);
}

#[tokio::test]
async fn a_full_import_stays_within_the_call_budget() {
    // Standard plan: 1000 points, 100 per second.
    let cfg = SimConfig {
        plan: Plan::Standard,
        ..config(60, 0)
    };
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let (all, _) = all_pages(pages_of(250), |q| {
        let c = &c;
        async move { c.products_page(&q).await }
    })
    .await
    .unwrap();
    assert_eq!(all.len(), 60);
    let stats = Admin::of(&sim).stats().await;
    // One bulk run, one poll (the simulator completes after one), one download: three calls
    // and 11 points, whatever the catalog size; paging would need 15 queries of 982 points.
    assert_eq!(stats["requests_total"], 3, "{stats}");
    assert_eq!(stats["requests"]["GET /__bulk"], 1);
    assert!(stats["cost_total"].as_u64().unwrap() <= 20, "{stats}");
    assert_eq!(stats["throttled"], 0);
}

// ---------------------------------------------------------------------------------------------
// webhooks

type Received = Arc<Mutex<Vec<WebhookCall>>>;

async fn receiver() -> (String, Received) {
    use axum::body::Bytes;
    use axum::http::HeaderMap;
    let received: Received = Arc::default();
    let r = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/hooks/shopify",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let r = Arc::clone(&r);
            async move {
                let headers = headers
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                r.lock().unwrap().push(WebhookCall {
                    headers,
                    body: body.to_vec(),
                });
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hooks/shopify"), received)
}

async fn wait_for(received: &Received, n: usize) -> Vec<WebhookCall> {
    for _ in 0..200 {
        {
            let r = received.lock().unwrap();
            if r.len() >= n {
                return r.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no webhook delivery");
}

#[tokio::test]
async fn webhooks_are_registered_once_delivered_signed_and_verified() {
    let cfg = config(5, 0);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let (url, received) = receiver().await;
    let topics = c.register_webhooks(&url).await.unwrap();
    assert_eq!(
        topics,
        vec![
            "products/create",
            "products/update",
            "inventory_levels/update",
            "orders/create",
            "orders/updated"
        ]
    );
    c.register_webhooks(&url).await.unwrap();
    let subs = admin.send(reqwest::Method::GET, "/webhooks", None).await;
    assert_eq!(
        subs["subscriptions"].as_array().unwrap().len(),
        5,
        "idempotent"
    );

    // An edit in the shop admin produces a signed products/update delivery.
    let catalog = demo::catalog(cfg.seed, cfg.products);
    let d = &catalog[1];
    admin
        .send(
            reqwest::Method::PUT,
            &format!("/products/{}", d.sku),
            Some(json!({"title": "Edited"})),
        )
        .await;
    let calls = wait_for(&received, 1).await;
    let call = &calls[0];
    for h in [
        "x-shopify-hmac-sha256",
        "x-shopify-topic",
        "x-shopify-shop-domain",
        "x-shopify-webhook-id",
        "x-shopify-event-id",
        "x-shopify-triggered-at",
    ] {
        assert!(call.header(h).is_some(), "{h} missing");
    }
    let ev = c.verify_webhook(call).unwrap();
    assert_eq!(ev.topic, "products/update");
    assert_eq!(ev.kind, "products");
    assert_eq!(ev.id, call.header("x-shopify-event-id").unwrap());
    assert!(ev.external_ids[0].starts_with("gid://shopify/Product/"));
    let want: BTreeSet<String> = if d.variants.is_empty() {
        BTreeSet::from([d.sku.clone()])
    } else {
        d.variants.iter().map(|v| v.sku.clone()).collect()
    };
    assert_eq!(ev.skus.iter().cloned().collect::<BTreeSet<_>>(), want);
    assert!((Utc::now() - ev.sent_at.unwrap()).num_seconds().abs() < 60);

    // Forged, altered and unsigned calls are refused.
    let mut forged = call.clone();
    forged.headers.insert(
        "x-shopify-hmac-sha256".into(),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
    );
    assert!(matches!(
        c.verify_webhook(&forged),
        Err(ConnectorError::Auth(_))
    ));
    let mut altered = call.clone();
    altered.body = String::from_utf8(call.body.clone())
        .unwrap()
        .replace("Edited", "Edited!")
        .into_bytes();
    assert!(matches!(
        c.verify_webhook(&altered),
        Err(ConnectorError::Auth(_))
    ));
    let mut other_shop = call.clone();
    other_shop.headers.insert(
        "x-shopify-shop-domain".into(),
        "someone-else.myshopify.com".into(),
    );
    assert!(matches!(
        c.verify_webhook(&other_shop),
        Err(ConnectorError::Auth(_))
    ));
    let mut unsigned = call.clone();
    unsigned.headers.remove("x-shopify-hmac-sha256");
    assert!(matches!(
        c.verify_webhook(&unsigned),
        Err(ConnectorError::Auth(_))
    ));

    // Stock and order changes are announced too.
    let vsku = d.variants.first().map_or(d.sku.clone(), |v| v.sku.clone());
    c.export_stock(&[StockLevel {
        sku: vsku.clone(),
        warehouse: "WH-WEST".into(),
        on_hand: 77,
        ..StockLevel::default()
    }])
    .await
    .unwrap();
    let calls = wait_for(&received, 2).await;
    let ev = c.verify_webhook(&calls[1]).unwrap();
    assert_eq!(
        (ev.topic.as_str(), ev.kind.as_str()),
        ("inventory_levels/update", "stock")
    );
    assert!(ev.external_ids[0].starts_with("gid://shopify/InventoryItem/"));
    admin
        .send(
            reqwest::Method::POST,
            "/orders",
            Some(json!({"lines": [{"sku": vsku}]})),
        )
        .await;
    let calls = wait_for(&received, 3).await;
    let ev = c.verify_webhook(&calls[2]).unwrap();
    assert_eq!(
        (ev.topic.as_str(), ev.kind.as_str()),
        ("orders/create", "orders")
    );
    assert_eq!(ev.skus, vec![vsku.clone()]);
    assert_ne!(
        calls[1].header("x-shopify-event-id"),
        calls[2].header("x-shopify-event-id")
    );
    // The delivery is the REST order: a new one is imported as delivered, and it is what
    // reading the order with GraphQL gives.
    let body: Value = serde_json::from_slice(&calls[2].body).unwrap();
    for field in [
        "admin_graphql_api_id",
        "email",
        "financial_status",
        "currency",
        "total_price_set",
        "shipping_address",
    ] {
        assert!(!body[field].is_null(), "{field} missing from the payload");
    }
    let read = orders(
        &c,
        ImportQuery {
            ids: ev.external_ids.clone(),
            ..pages_of(50)
        },
    )
    .await
    .unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(ev.orders, read);
    assert_eq!(ev.orders[0].lines[0].sku, vsku);
    // An update is read again (deliveries may come out of order).
    c.export_orders(&[OrderUpdate {
        external_id: ev.external_ids[0].clone(),
        status: Some("cancelled".into()),
        carrier: None,
        tracking_number: None,
        lines: vec![],
    }])
    .await
    .unwrap();
    let calls = wait_for(&received, 4).await;
    let ev = c.verify_webhook(&calls[3]).unwrap();
    assert_eq!(ev.topic, "orders/updated");
    assert!(ev.orders.is_empty());
}

// ---------------------------------------------------------------------------------------------
// the simulator's documented limits, over raw HTTP

#[tokio::test]
async fn the_simulator_enforces_shopifys_documented_limits() {
    let cfg = config(3, 0);
    let sim = start(cfg.clone()).await;
    let http = reqwest::Client::new();
    let post = |body: Value| {
        http.post(sim.graphql_url())
            .header("X-Shopify-Access-Token", cfg.access_token.clone())
            .json(&body)
            .send()
    };
    // More than 250 elements in an input array.
    let quantities: Vec<Value> = (0..251)
        .map(|i| json!({"inventoryItemId": format!("gid://shopify/InventoryItem/{i}"), "locationId": "gid://shopify/Location/1", "quantity": 1, "compareQuantity": 0}))
        .collect();
    let resp = post(json!({
        "query": documents::SET_QUANTITIES,
        "variables": {"input": {"name": "on_hand", "reason": "correction", "quantities": quantities}},
    }))
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "MAX_INPUT_SIZE_EXCEEDED",
        "{body}"
    );
    // A page above 250, and a query above the 1000-point limit.
    let body: Value =
        post(json!({"query": documents::INVENTORY_ITEMS, "variables": {"first": 251}}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("250"),
        "{body}"
    );
    let body: Value = post(json!({"query": documents::PRODUCTS, "variables": {"first": 5}}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "MAX_COST_EXCEEDED",
        "{body}"
    );
    assert_eq!(
        body["extensions"]["cost"]["requestedQueryCost"],
        2 + 5 * documents::PRODUCT_NODE_COST
    );
    // A page within the limits reports its cost and the bucket.
    let body: Value = post(json!({"query": documents::PRODUCTS, "variables": {"first": 4}}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["extensions"]["cost"]["requestedQueryCost"],
        2 + 4 * documents::PRODUCT_NODE_COST
    );
    assert_eq!(
        body["extensions"]["cost"]["throttleStatus"]["maximumAvailable"],
        1000.0
    );
    // The actual cost counts what came back (3 products, few variants) and is refunded.
    let actual = body["extensions"]["cost"]["actualQueryCost"]
        .as_u64()
        .unwrap();
    assert!(
        actual > 2 && actual < 2 + 4 * u64::from(documents::PRODUCT_NODE_COST),
        "{body}"
    );
    assert_eq!(
        body["data"]["products"]["nodes"].as_array().unwrap().len(),
        3
    );
    // A mutation payload carries userErrors.
    let body: Value = post(json!({
        "query": documents::PRODUCT_UPDATE,
        "variables": {"product": {"id": "gid://shopify/Product/1", "title": "x"}},
    }))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        body["data"]["productUpdate"]["userErrors"][0]["message"],
        "Product does not exist"
    );
}

#[tokio::test]
async fn faults_set_by_configuration_target_one_operation() {
    use marketsync_simulators::faults::{Fault, FaultKind};
    let cfg = SimConfig {
        faults: vec![Fault::new(FaultKind::Status, 2).on_path("query TestConnection")],
        ..config(3, 0)
    };
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    c.stock_page(&pages_of(5)).await.unwrap();
    assert_eq!(Admin::of(&sim).stats().await["faults_injected"], 0);
    c.test_connection().await.unwrap();
    let stats = Admin::of(&sim).stats().await;
    assert_eq!(stats["faults_injected"], 2);
    assert_eq!(stats["requests"]["query TestConnection"], 3);
}

#[tokio::test]
async fn pages_shrink_when_the_shop_costs_them_above_the_limit() {
    // A shop whose single-query limit is lower than Shopify's: the connector halves its pages.
    let cfg = SimConfig {
        max_query_cost: 500,
        ..config(9, 0)
    };
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let q = ImportQuery {
        since: Some(Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap()),
        page_size: 50,
        ..ImportQuery::default()
    };
    let (all, pages) = products(&c, q).await.unwrap();
    assert_eq!(all.len(), 9);
    assert_eq!(pages, 5, "pages of 2 products");
}

#[test]
fn the_registry_lists_and_builds_shopify() {
    let info = marketsync_connectors::registry()
        .into_iter()
        .find(|p| p.id == "shopify")
        .expect("shopify is registered");
    let secret: Vec<_> = info
        .credentials
        .iter()
        .filter(|f| f.secret)
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(secret, vec!["access_token", "api_secret"]);
    let c = marketsync_connectors::build(ConnectionConfig {
        platform: "shopify".into(),
        credentials: Credentials::from_json(
            &json!({"shop_domain": "x.myshopify.com", "access_token": "shpat_x"}),
        )
        .unwrap(),
        settings: Settings::default(),
    })
    .unwrap();
    assert_eq!(c.platform(), "shopify");
}

#[tokio::test]
async fn export_stock_retries_once_when_the_compare_quantity_is_stale() {
    let cfg = config(3, 0);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let sku = first_sku(&cfg);
    // The mutation is held back 400 ms; meanwhile a merchant changes the stock.
    admin
        .fault(
            json!({"kind": "timeout", "delay_ms": 400, "path_contains": "mutation SetQuantities"}),
        )
        .await;
    let c = connector(&sim, &cfg);
    let level = StockLevel {
        sku: sku.clone(),
        warehouse: "WH-EAST".into(),
        on_hand: 55,
        ..StockLevel::default()
    };
    let export = tokio::spawn(async move { c.export_stock(&[level]).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    admin
        .send(
            reqwest::Method::PUT,
            &format!("/stock/{sku}"),
            Some(json!({"location": "WH-EAST", "on_hand": 9})),
        )
        .await;
    let report = export.await.unwrap().unwrap();
    assert_eq!(report.accepted, 1, "{report:?}");
    assert_eq!(on_hand(&admin.product(&sku).await, &sku, "WH-EAST"), 55);
    assert_eq!(admin.stats().await["requests"]["mutation SetQuantities"], 2);
}

#[tokio::test]
async fn export_stock_looks_up_each_inventory_item_once() {
    let cfg = config(3, 0);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let sku = first_sku(&cfg);
    let c = connector(&sim, &cfg);
    let level = |q: i64| StockLevel {
        sku: sku.clone(),
        warehouse: "WH-EAST".into(),
        on_hand: q,
        available: q,
        ..StockLevel::default()
    };
    for q in [7, 5, 3] {
        let report = c.export_stock(&[level(q)]).await.unwrap();
        assert_eq!(report.accepted, 1, "{report:?}");
        assert_eq!(on_hand(&admin.product(&sku).await, &sku, "WH-EAST"), q);
    }
    let stats = admin.stats().await;
    assert_eq!(
        stats["requests"]["query InventoryItems"], 1,
        "the item and its levels are looked up once, then remembered: {stats}"
    );
    // A sale on the shop moves the quantity: the remembered one is stale, the set is refused
    // once, the level read again and the quantity set.
    admin
        .send(
            reqwest::Method::PUT,
            &format!("/stock/{sku}"),
            Some(json!({"location": "WH-EAST", "on_hand": 2})),
        )
        .await;
    let report = c.export_stock(&[level(4)]).await.unwrap();
    assert_eq!(report.accepted, 1, "{report:?}");
    assert_eq!(on_hand(&admin.product(&sku).await, &sku, "WH-EAST"), 4);
    let stats = admin.stats().await;
    assert_eq!(stats["requests"]["query InventoryItems"], 2);
    assert_eq!(stats["requests"]["mutation SetQuantities"], 5);
}

//! The WooCommerce connector against the WooCommerce simulator.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::Utc;
use marketsync_connectors::woocommerce::WooCommerce;
use marketsync_connectors::{
    ConnectionConfig, Connector, ConnectorError, Credentials, FieldUpdate, ImportQuery,
    OrderUpdate, Settings, WebhookCall,
};
use marketsync_proto::v1::StockLevel;
use marketsync_simulators::demo::{self, DefectCounts};
use marketsync_simulators::woocommerce::{self as sim, RunningSimulator, SimConfig};
use serde_json::{Value, json};

use crate::support::{Admin, next_call, orders, pages_of, products, stock, webhook_receiver};

fn config(products: usize, orders: usize) -> SimConfig {
    SimConfig {
        products,
        orders,
        seed: 7,
        ..SimConfig::default()
    }
}

async fn start(config: SimConfig) -> RunningSimulator {
    crate::support::on_free_port(|addr| sim::start(addr, config)).await
}

fn settings_for(sim: &RunningSimulator) -> Settings {
    crate::support::fast_settings(sim.base_url())
}

fn connector_with(creds: Value, settings: Settings) -> WooCommerce {
    WooCommerce::new(ConnectionConfig {
        platform: "woocommerce".into(),
        credentials: Credentials::from_json(&creds).unwrap(),
        settings,
    })
    .expect("valid connection")
}

fn creds(cfg: &SimConfig) -> Value {
    json!({
        "store_url": "https://trailhead.example.com",
        "consumer_key": cfg.consumer_key,
        "consumer_secret": cfg.consumer_secret,
    })
}

fn connector(sim: &RunningSimulator, cfg: &SimConfig) -> WooCommerce {
    connector_with(creds(cfg), settings_for(sim))
}

/// Demo stock of every sku: WooCommerce holds one stock, the sum of the demo warehouses.
fn demo_stock(cfg: &SimConfig) -> BTreeMap<String, i64> {
    let mut want = BTreeMap::new();
    for p in demo::catalog(cfg.seed, cfg.products) {
        if p.variants.is_empty() {
            want.insert(p.sku.clone(), p.stock.iter().map(|s| s.on_hand).sum());
        }
        for v in &p.variants {
            want.insert(v.sku.clone(), v.stock.iter().map(|s| s.on_hand).sum());
        }
    }
    want
}

#[tokio::test]
async fn test_connection_names_the_store() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let msg = c.test_connection().await.unwrap();
    assert_eq!(
        msg,
        format!(
            "connected to WooCommerce 8.6.1 at {}: currency USD",
            sim.base_url()
        )
    );
    assert_eq!(c.platform(), "woocommerce");
    let stats = Admin::of(&sim).stats().await;
    assert_eq!(stats["requests"]["GET /wp-json/wc/v3/system_status"], 1);
}

#[tokio::test]
async fn wrong_credentials_are_an_auth_error_without_the_secret() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    let secret = "cs_wrong_5f2c9a7e11";
    let c = connector_with(
        json!({"store_url": "x", "consumer_key": cfg.consumer_key, "consumer_secret": secret}),
        settings_for(&sim),
    );
    let err = c.test_connection().await.unwrap_err();
    let ConnectorError::Auth(msg) = &err else {
        panic!("expected an auth error, got {err:?}");
    };
    assert!(
        msg.contains("401") && msg.contains("Consumer secret is invalid"),
        "{msg}"
    );
    for text in [msg.clone(), err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(secret), "secret leaked: {text}");
        assert!(!text.contains(&cfg.consumer_key), "key leaked: {text}");
    }
    let wrong_key = connector_with(
        json!({"store_url": "x", "consumer_key": "ck_nobody_1234", "consumer_secret": cfg.consumer_secret}),
        settings_for(&sim),
    );
    let err = wrong_key.products_page(&pages_of(5)).await.unwrap_err();
    assert!(err.to_string().contains("Consumer key is invalid"), "{err}");
    assert!(!err.to_string().contains(&cfg.consumer_secret));
    // Auth errors are final: one request each, no retries.
    assert_eq!(Admin::of(&sim).stats().await["unauthorized"], 2);
}

#[tokio::test]
async fn query_string_auth_is_the_documented_fallback() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    let mut creds = creds(&cfg);
    creds["auth_method"] = json!("query_string");
    let c = connector_with(creds, settings_for(&sim));
    c.test_connection().await.unwrap();
    let (all, _) = products(&c, pages_of(10)).await.unwrap();
    assert_eq!(all.len(), 5);
}

#[tokio::test]
async fn full_import_paginates_and_maps_every_product() {
    let cfg = config(45, 2);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let first = c.products_page(&pages_of(10)).await.unwrap();
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
        assert_eq!(p.gtin, d.gtin);
        assert_eq!(p.images, d.images);
        assert_eq!(p.visible, d.visible);
        assert_eq!(p.width, Some(d.width));
        assert_eq!(p.dimension_unit, "cm");
        assert!(p.external_id.parse::<i64>().is_ok());
        assert_eq!(p.price.as_ref().unwrap().currency, "USD");
        assert_eq!(p.variants.len(), d.variants.len(), "{}", d.sku);
        for (v, dv) in p.variants.iter().zip(&d.variants) {
            assert_eq!(v.sku, dv.sku);
            assert_eq!(v.gtin, dv.gtin);
            let opts: BTreeMap<_, _> = dv.options.iter().cloned().collect();
            let got: BTreeMap<_, _> = v.options.clone().into_iter().collect();
            assert_eq!(got, opts);
            let want = dv.price.clone().unwrap_or_else(|| d.price.clone());
            assert_eq!(
                demo::to_units(&v.price.as_ref().unwrap().amount),
                demo::to_units(&want),
                "{}",
                dv.sku
            );
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
}

#[tokio::test]
async fn sku_and_id_filters_return_only_those_products() {
    let cfg = config(20, 1);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let catalog = demo::catalog(cfg.seed, cfg.products);
    let wanted = vec![catalog[3].sku.clone(), catalog[11].sku.clone()];
    let q = ImportQuery {
        skus: wanted.clone(),
        ..pages_of(50)
    };
    let (got, _) = products(&c, q).await.unwrap();
    let got_skus: BTreeSet<_> = got.iter().map(|p| p.sku.clone()).collect();
    assert_eq!(got_skus, wanted.iter().cloned().collect());
    let q = ImportQuery {
        ids: vec![got[0].external_id.clone()],
        ..pages_of(50)
    };
    let (one, _) = products(&c, q).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].external_id, got[0].external_id);
}

#[tokio::test]
async fn incremental_import_returns_only_changed_products() {
    let cfg = config(30, 1);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let (all, _) = products(&c, pages_of(50)).await.unwrap();
    let since = Utc::now();
    c.update_field(&FieldUpdate {
        external_id: all[4].external_id.clone(),
        sku: all[4].sku.clone(),
        field: "description".into(),
        value: "<p>Updated</p>".into(),
    })
    .await
    .unwrap();
    // A stock change of a variation saves its parent too.
    let variable = all
        .iter()
        .find(|p| !p.variants.is_empty() && p.sku != all[4].sku)
        .unwrap();
    admin
        .edit_product(&variable.variants[0].sku, json!({"stock_quantity": 3}))
        .await;
    let q = ImportQuery {
        since: Some(since),
        ..pages_of(10)
    };
    let (changed, _) = products(&c, q).await.unwrap();
    let skus: BTreeSet<_> = changed.iter().map(|p| p.sku.clone()).collect();
    assert_eq!(
        skus,
        [all[4].sku.clone(), variable.sku.clone()]
            .into_iter()
            .collect()
    );
    // Nothing changed before the catalog was made: an `until` in the past finds nothing new.
    let q = ImportQuery {
        since: Some(since),
        until: Some(since - chrono::Duration::hours(1)),
        ..pages_of(10)
    };
    assert!(c.products_page(&q).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn stock_is_one_level_per_sku_in_the_mapped_warehouse() {
    let cfg = config(12, 1);
    let sim = start(cfg.clone()).await;
    let mut settings = settings_for(&sim);
    settings
        .warehouse_mapping
        .insert("default".into(), "main".into());
    let c = connector_with(creds(&cfg), settings);
    let levels = stock(&c, pages_of(5)).await.unwrap();
    let got: BTreeMap<_, _> = levels.iter().map(|l| (l.sku.clone(), l.on_hand)).collect();
    assert_eq!(got, demo_stock(&cfg));
    assert!(
        levels
            .iter()
            .all(|l| l.warehouse == "main" && l.reserved == 0)
    );
    // Without a mapping the store's single stock is the warehouse `default`.
    let c = connector(&sim, &cfg);
    let levels = stock(&c, pages_of(50)).await.unwrap();
    assert!(levels.iter().all(|l| l.warehouse == "default"));
}

#[tokio::test]
async fn orders_come_with_lines_buyers_and_shipments() {
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
            let unit = l.unit_price.as_ref().unwrap();
            assert_eq!(unit.currency, "USD");
            assert_eq!(demo::to_units(&unit.amount), demo::to_units(&dl.unit_price));
        }
        let buyer = o.buyer.as_ref().unwrap();
        assert_eq!(buyer.email, d.buyer.email);
        assert_eq!(
            buyer.name,
            format!("{} {}", d.buyer.first_name, d.buyer.last_name)
        );
        assert_eq!(buyer.country, "US");
        assert_eq!(o.shipping_address.as_ref().unwrap().zip, d.shipping.zip);
        assert!(o.total.is_some());
        assert!(o.created_at.ends_with('Z'));
        match d.status.as_str() {
            "shipped" | "completed" => {
                assert_eq!(o.status, "completed");
                assert_eq!(o.shipments.len(), 1, "{}", o.external_id);
                assert_eq!(o.shipments[0].carrier, "UPS");
                assert!(o.shipments[0].tracking_number.starts_with("1Z"));
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
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let since = Utc::now();
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
async fn export_stock_uses_batches_within_the_limit() {
    // The simulator's batch limit and the connection's batch size shortened to 3.
    let cfg = SimConfig {
        max_batch_items: 3,
        ..config(24, 1)
    };
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let settings = Settings {
        batch_size: Some(3),
        ..settings_for(&sim)
    };
    let c = connector_with(creds(&cfg), settings);
    let catalog = demo::catalog(cfg.seed, cfg.products);
    let simple: Vec<String> = catalog
        .iter()
        .filter(|p| p.variants.is_empty())
        .map(|p| p.sku.clone())
        .take(4)
        .collect();
    assert_eq!(simple.len(), 4, "the demo catalog has simple products");
    let variable = catalog.iter().find(|p| p.variants.len() >= 5).unwrap();
    let level = |sku: &str, warehouse: &str, on_hand| StockLevel {
        sku: sku.into(),
        warehouse: warehouse.into(),
        on_hand,
        reserved: 0,
        available: on_hand,
    };
    let mut levels: Vec<StockLevel> = simple
        .iter()
        .enumerate()
        .map(|(i, s)| level(s, "default", 10 + i as i64))
        .collect();
    levels.extend(
        variable.variants[..5]
            .iter()
            .enumerate()
            .map(|(i, v)| level(&v.sku, "default", 50 + i as i64)),
    );
    levels.push(level("NO-SUCH-SKU", "default", 1));
    levels.push(level(&simple[0], "WH-EAST", 1));
    levels.push(level(&variable.sku, "default", 1));
    let report = c.export_stock(&levels).await.unwrap();
    assert_eq!(report.accepted, 9, "{:?}", report.rejected);
    let rejected: BTreeMap<_, _> = report.rejected.iter().cloned().collect();
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    assert!(rejected["NO-SUCH-SKU@default"].contains("NO-SUCH-SKU"));
    assert!(rejected[&format!("{}@WH-EAST", simple[0])].contains("one stock"));
    assert!(rejected[&format!("{}@default", variable.sku)].contains("variable"));
    // Visible in the store, written through batches of at most 3 items.
    for (i, s) in simple.iter().enumerate() {
        assert_eq!(admin.product(s).await["stock_quantity"], 10 + i as i64);
    }
    let stored = admin.product(&variable.sku).await;
    for (i, v) in variable.variants[..5].iter().enumerate() {
        let s = stored["stock"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sku"] == v.sku.as_str())
            .unwrap();
        assert_eq!(s["stock_quantity"], 50 + i as i64);
    }
    let stats = admin.stats().await;
    let batches = stats["batch_items"].as_object().unwrap();
    assert_eq!(batches["POST /wp-json/wc/v3/products/batch"], json!([3, 1]));
    let variation_batches: Vec<&Value> = batches
        .iter()
        .filter(|(k, _)| k.contains("/variations/batch"))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(variation_batches, vec![&json!([3, 2])]);
    assert_eq!(stats["batches_too_large"], 0);
    // The next export of the same skus goes straight to the batches: what each sku is (its id,
    // a variation of which product) was remembered, so no product search is spent on it.
    let searches = |s: &Value| {
        s["requests"]["GET /wp-json/wc/v3/products"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = searches(&stats);
    let again: Vec<StockLevel> = levels[..9]
        .iter()
        .map(|l| StockLevel {
            on_hand: l.on_hand + 1,
            available: l.on_hand + 1,
            ..l.clone()
        })
        .collect();
    let report = c.export_stock(&again).await.unwrap();
    assert_eq!(report.accepted, 9, "{:?}", report.rejected);
    assert_eq!(admin.product(&simple[0]).await["stock_quantity"], 11);
    assert_eq!(searches(&admin.stats().await), before);
}

#[tokio::test]
async fn the_simulator_holds_the_documented_limits() {
    let cfg = config(3, 1);
    let sim = start(cfg.clone()).await;
    let http = reqwest::Client::new();
    let api = sim.api_url();
    let auth = (cfg.consumer_key.clone(), Some(cfg.consumer_secret.clone()));
    let resp = http
        .get(format!("{api}/products?per_page=101"))
        .basic_auth(&auth.0, auth.1.as_ref())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "rest_invalid_param");
    assert_eq!(body["data"]["status"], 400);
    let resp = http
        .get(format!("{api}/products?per_page=2"))
        .basic_auth(&auth.0, auth.1.as_ref())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-wp-total"], "3");
    assert_eq!(resp.headers()["x-wp-totalpages"], "2");
    assert!(
        resp.headers()["link"]
            .to_str()
            .unwrap()
            .contains("rel=\"next\"")
    );
    let updates: Vec<Value> = (0..101)
        .map(|i| json!({"id": i, "stock_quantity": 1}))
        .collect();
    let resp = http
        .post(format!("{api}/products/batch"))
        .basic_auth(&auth.0, auth.1.as_ref())
        .json(&json!({"update": updates}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "woocommerce_rest_request_entity_too_large");
    let resp = http.get(format!("{api}/products")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "woocommerce_rest_cannot_view");
}

/// The read properties of each resource, as the docs' property tables list them
/// (`woocommerce-rest-api-docs`, `source/includes/wp-api-v3/`; write-only ones left out).
const PRODUCT_PROPERTIES: &str = "id name slug permalink date_created date_created_gmt \
    date_modified date_modified_gmt type status featured catalog_visibility description \
    short_description sku price regular_price sale_price date_on_sale_from date_on_sale_from_gmt \
    date_on_sale_to date_on_sale_to_gmt price_html on_sale purchasable total_sales virtual \
    downloadable downloads download_limit download_expiry external_url button_text tax_status \
    tax_class manage_stock stock_quantity stock_status backorders backorders_allowed backordered \
    sold_individually weight dimensions shipping_required shipping_taxable shipping_class \
    shipping_class_id reviews_allowed average_rating rating_count related_ids upsell_ids \
    cross_sell_ids parent_id purchase_note categories tags images attributes default_attributes \
    variations grouped_products menu_order meta_data";
const VARIATION_PROPERTIES: &str = "id date_created date_created_gmt date_modified \
    date_modified_gmt description permalink sku price regular_price sale_price date_on_sale_from \
    date_on_sale_from_gmt date_on_sale_to date_on_sale_to_gmt on_sale status purchasable virtual \
    downloadable downloads download_limit download_expiry tax_status tax_class manage_stock \
    stock_quantity stock_status backorders backorders_allowed backordered weight dimensions \
    shipping_class shipping_class_id image attributes menu_order meta_data";
const ORDER_PROPERTIES: &str = "id parent_id number order_key created_via version status \
    currency date_created date_created_gmt date_modified date_modified_gmt discount_total \
    discount_tax shipping_total shipping_tax cart_tax total total_tax prices_include_tax \
    customer_id customer_ip_address customer_user_agent customer_note billing shipping \
    payment_method payment_method_title transaction_id date_paid date_paid_gmt date_completed \
    date_completed_gmt cart_hash meta_data line_items tax_lines shipping_lines fee_lines \
    coupon_lines refunds";
const LINE_ITEM_PROPERTIES: &str = "id name product_id variation_id quantity tax_class subtotal \
    subtotal_tax total total_tax taxes meta_data sku price";
const BILLING_PROPERTIES: &str =
    "first_name last_name company address_1 address_2 city state postcode country email phone";
const NOTE_PROPERTIES: &str = "id author date_created date_created_gmt note customer_note";
const WEBHOOK_PROPERTIES: &str = "id name status topic resource event hooks delivery_url \
    date_created date_created_gmt date_modified date_modified_gmt";
const CATEGORY_PROPERTIES: &str = "id name slug parent description display image menu_order count";

fn assert_documented(what: &str, value: &Value, properties: &str) {
    let obj = value
        .as_object()
        .unwrap_or_else(|| panic!("{what} is an object"));
    for p in properties.split_whitespace() {
        assert!(
            obj.contains_key(p),
            "{what} lacks the documented `{p}`: {value}"
        );
    }
}

#[tokio::test]
async fn the_simulator_serves_the_documented_shapes() {
    let cfg = config(8, 3);
    let sim = start(cfg.clone()).await;
    let http = reqwest::Client::new();
    let api = sim.api_url();
    let get = |path: String| {
        let req = http
            .get(format!("{api}{path}"))
            .basic_auth(&cfg.consumer_key, Some(&cfg.consumer_secret));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let products = get("/products?per_page=100".into()).await;
    let variable = products
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "variable")
        .unwrap();
    assert_documented("product", variable, PRODUCT_PROPERTIES);
    let variations = get(format!("/products/{}/variations", variable["id"])).await;
    assert_documented("variation", &variations[0], VARIATION_PROPERTIES);
    assert!(variations[0]["attributes"][0]["option"].is_string());
    let orders = get("/orders".into()).await;
    assert_documented("order", &orders[0], ORDER_PROPERTIES);
    assert_documented(
        "line item",
        &orders[0]["line_items"][0],
        LINE_ITEM_PROPERTIES,
    );
    assert_documented("billing", &orders[0]["billing"], BILLING_PROPERTIES);
    assert!(
        orders[0]["total"]
            .as_str()
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap()
            .len()
            == 2
    );
    let completed = orders
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["status"] == "completed")
        .expect("a completed demo order");
    let notes = get(format!("/orders/{}/notes", completed["id"])).await;
    assert_documented("order note", &notes[0], NOTE_PROPERTIES);
    let categories = get("/products/categories".into()).await;
    assert_documented("category", &categories[0], CATEGORY_PROPERTIES);
    let c = connector(&sim, &cfg);
    c.register_webhooks("http://127.0.0.1:9/hooks")
        .await
        .unwrap();
    let hooks = get("/webhooks".into()).await;
    assert_documented("webhook", &hooks[0], WEBHOOK_PROPERTIES);
    assert!(hooks[0].get("secret").is_none(), "the secret is write-only");
}

#[tokio::test]
async fn export_orders_adds_a_tracking_note_once_and_completes() {
    let cfg = config(10, 6);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let open = orders(&c, pages_of(50))
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.shipments.is_empty() && o.status != "cancelled")
        .unwrap_or_else(|| panic!("an unshipped order"));
    let update = OrderUpdate {
        external_id: open.external_id.clone(),
        status: Some("shipped".into()),
        carrier: Some("DHL Express".into()),
        tracking_number: Some("JD014600003828".into()),
        lines: vec![],
    };
    let report = c
        .export_orders(std::slice::from_ref(&update))
        .await
        .unwrap();
    assert_eq!(report.accepted, 1, "{:?}", report.rejected);
    let report = c.export_orders(&[update]).await.unwrap();
    assert_eq!(report.accepted, 1);
    let stored = admin.order(&open.external_id).await;
    assert_eq!(stored["status"], "completed");
    let notes = stored["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1, "one note, not two: {notes:?}");
    assert_eq!(
        notes[0]["note"],
        "Shipped with DHL Express. Tracking number: JD014600003828"
    );
    assert_eq!(notes[0]["customer_note"], true);
    let reread = orders(&c, pages_of(50)).await.unwrap();
    let o = reread
        .iter()
        .find(|o| o.external_id == open.external_id)
        .unwrap();
    assert_eq!(o.status, "completed");
    assert_eq!(o.shipments.len(), 1);
    assert_eq!(o.shipments[0].carrier, "DHL Express");
    assert_eq!(o.shipments[0].tracking_number, "JD014600003828");
    // A status change alone, and an unknown order as a per-record rejection.
    let report = c
        .export_orders(&[
            OrderUpdate {
                external_id: open.external_id.clone(),
                status: Some("cancelled".into()),
                carrier: None,
                tracking_number: None,
                lines: vec![],
            },
            OrderUpdate {
                external_id: "999999".into(),
                status: Some("cancelled".into()),
                carrier: None,
                tracking_number: None,
                lines: vec![],
            },
        ])
        .await
        .unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(admin.order(&open.external_id).await["status"], "cancelled");
}

#[tokio::test]
async fn update_field_reaches_the_platform() {
    let cfg = config(12, 1);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let (all, _) = products(&c, pages_of(50)).await.unwrap();
    let simple = all.iter().find(|p| p.variants.is_empty()).unwrap();
    let variable = all.iter().find(|p| !p.variants.is_empty()).unwrap();
    let update = |p: &marketsync_proto::v1::Product, field: &str, value: &str| FieldUpdate {
        external_id: p.external_id.clone(),
        sku: p.sku.clone(),
        field: field.into(),
        value: value.into(),
    };
    c.update_field(&update(
        simple,
        "description",
        "<p>A corrected description.</p>",
    ))
    .await
    .unwrap();
    c.update_field(&update(simple, "price", "24.9"))
        .await
        .unwrap();
    c.update_field(&update(simple, "weight", "0.42"))
        .await
        .unwrap();
    c.update_field(&update(variable, "brand", "Brand New Outfitters"))
        .await
        .unwrap();
    c.update_field(&update(variable, "price", "59.00"))
        .await
        .unwrap();
    let paths: BTreeSet<String> = all.iter().flat_map(|p| p.categories.clone()).collect();
    let paths: Vec<String> = paths.into_iter().take(2).collect();
    c.update_field(&update(
        simple,
        "categories",
        &format!("{}; {}", paths[0], paths[1]),
    ))
    .await
    .unwrap();
    let stored = admin.product(&simple.sku).await;
    assert_eq!(stored["description"], "<p>A corrected description.</p>");
    assert_eq!(stored["regular_price"], "24.90");
    assert_eq!(stored["weight"], "0.42");
    assert_eq!(stored["category_paths"], json!(paths));
    let stored = admin.product(&variable.sku).await;
    assert_eq!(stored["brand"], "Brand New Outfitters");
    // The variation attributes were kept when the attribute list was rewritten.
    let variation_attrs = stored["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["variation"] == true)
        .count();
    assert!(variation_attrs >= 1, "{}", stored["attributes"]);
    assert!(
        stored["variations_detail"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["regular_price"] == "59.00")
    );
    let q = ImportQuery {
        ids: vec![variable.external_id.clone()],
        ..pages_of(5)
    };
    let (again, _) = products(&c, q).await.unwrap();
    assert_eq!(again[0].brand, "Brand New Outfitters");
    assert_eq!(again[0].variants.len(), variable.variants.len());
    // By sku when the external id is unknown (a variation's sku names its product).
    c.update_field(&FieldUpdate {
        external_id: String::new(),
        sku: variable.variants[0].sku.clone(),
        ..update(variable, "title", "Renamed Product")
    })
    .await
    .unwrap();
    assert_eq!(
        admin.product(&variable.sku).await["name"],
        "Renamed Product"
    );
    // Errors: unknown product, unknown category, bad value, unsupported field.
    let err = c
        .update_field(&FieldUpdate {
            external_id: "424242".into(),
            ..update(simple, "description", "x")
        })
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::NotFound(_)), "{err:?}");
    let err = c
        .update_field(&update(simple, "categories", "No/Such/Category"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::NotFound(_)), "{err:?}");
    let err = c
        .update_field(&update(simple, "price", "cheap"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Rejected { .. }), "{err:?}");
    let err = c
        .update_field(&update(simple, "color", "red"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Unsupported(_)), "{err:?}");
}

#[tokio::test]
async fn a_burst_of_5xx_is_retried() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    admin
        .fault(
            json!({"kind": "status", "status": 503, "count": 3, "path_contains": "/system_status"}),
        )
        .await;
    let c = connector(&sim, &cfg);
    c.test_connection().await.unwrap();
    let stats = admin.stats().await;
    assert_eq!(stats["faults_injected"], 3);
    assert_eq!(stats["requests"]["GET /wp-json/wc/v3/system_status"], 4);
    // Beyond the retries: a transient error.
    admin
        .fault(json!({"kind": "status", "status": 500, "count": 50}))
        .await;
    let err = c.test_connection().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Transient(_)), "{err:?}");
    assert!(!err.to_string().contains(&cfg.consumer_secret));
}

#[tokio::test]
async fn malformed_bodies_are_retried_then_reported() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    admin
        .fault(json!({"kind": "malformed", "count": 2, "path_contains": "/products"}))
        .await;
    let c = connector(&sim, &cfg);
    let page = c.products_page(&pages_of(10)).await.unwrap();
    assert_eq!(page.items.len(), 5);
    admin.fault(json!({"kind": "malformed", "count": 10})).await;
    let err = c.test_connection().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Malformed(_)), "{err:?}");
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
    assert!(elapsed < Duration::from_millis(3500), "waited {elapsed:?}");
    let stats = admin.stats().await;
    assert_eq!(stats["requests_total"], 2, "one 429, one retry: {stats}");
}

#[tokio::test]
async fn the_hosts_window_is_waited_out() {
    // A host allowing 4 requests a second; the connection does not know it.
    let cfg = SimConfig {
        rate_limit_requests: 4,
        rate_limit_window_ms: 1000,
        ..config(5, 1)
    };
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let began = Instant::now();
    for _ in 0..6 {
        c.test_connection().await.unwrap();
    }
    assert!(
        began.elapsed() >= Duration::from_millis(900),
        "{:?}",
        began.elapsed()
    );
    let stats = admin.stats().await;
    assert!(stats["rate_limited"].as_u64().unwrap() >= 1, "{stats}");
    // With its budget set to the host's, the connection is never refused.
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let settings = Settings {
        rate_limit_requests: Some(4),
        rate_limit_window_ms: Some(1000),
        ..settings_for(&sim)
    };
    let c = connector_with(creds(&cfg), settings);
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
    admin
        .send(reqwest::Method::POST, "/revoke-token", None)
        .await;
    let err = c.products_page(&pages_of(5)).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err:?}");
    assert!(!err.is_transient());
    assert!(!err.to_string().contains(&cfg.consumer_secret));
    admin
        .send(reqwest::Method::POST, "/restore-token", None)
        .await;
    c.test_connection().await.unwrap();
}

#[tokio::test]
async fn a_read_only_key_cannot_export() {
    let cfg = SimConfig {
        key_permissions: "read".into(),
        ..config(5, 1)
    };
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let (all, _) = products(&c, pages_of(10)).await.unwrap();
    let err = c
        .update_field(&FieldUpdate {
            external_id: all[0].external_id.clone(),
            sku: all[0].sku.clone(),
            field: "description".into(),
            value: "x".into(),
        })
        .await
        .unwrap_err();
    let ConnectorError::Auth(msg) = &err else {
        panic!("expected an auth error, got {err:?}");
    };
    assert!(msg.contains("does not have write permissions"), "{msg}");
}

#[tokio::test]
async fn timeouts_are_retried() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    Admin::of(&sim)
        .fault(json!({"kind": "timeout", "delay_ms": 2500, "count": 1}))
        .await;
    let mut settings = settings_for(&sim);
    settings.timeout_secs = Some(1);
    let c = connector_with(creds(&cfg), settings);
    let start = Instant::now();
    c.test_connection().await.unwrap();
    assert!(start.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_full_import_stays_within_its_call_budget() {
    let cfg = config(25, 1);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let (all, pages) = products(&c, pages_of(10)).await.unwrap();
    assert_eq!((all.len(), pages), (25, 3));
    let variable = demo::catalog(cfg.seed, cfg.products)
        .iter()
        .filter(|p| !p.variants.is_empty())
        .count() as u64;
    // Per page of products: one list call; per variable product: one variations call (fewer
    // than 100 variations each); per connection: two settings calls and one categories page.
    let budget = pages as u64 + variable + 2 + 1;
    let stats = admin.stats().await;
    assert_eq!(stats["requests_total"].as_u64().unwrap(), budget, "{stats}");
    assert_eq!(stats["requests"]["GET /wp-json/wc/v3/products"], 3);
    assert_eq!(
        stats["requests"]["GET /wp-json/wc/v3/products/categories"],
        1
    );
    assert_eq!(stats["rate_limited"], 0);
    // A second import reuses the connection's lookups.
    products(&c, pages_of(100)).await.unwrap();
    let again = admin.stats().await["requests_total"].as_u64().unwrap();
    assert_eq!(again - budget, 1 + variable);
}

/// The next signed delivery (pings carry no signature and are skipped).
async fn next_delivery(rx: &mut tokio::sync::mpsc::UnboundedReceiver<WebhookCall>) -> WebhookCall {
    loop {
        let call = next_call(rx).await;
        if call.header("x-wc-webhook-signature").is_some() {
            return call;
        }
    }
}

#[tokio::test]
async fn webhooks_are_registered_once_and_verified() {
    let cfg = config(6, 2);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let (url, mut rx) = webhook_receiver().await;
    let mut creds = creds(&cfg);
    creds["webhook_secret"] = json!("whsec_marketsync_test");
    let c = connector_with(creds, settings_for(&sim));
    let topics = c.register_webhooks(&url).await.unwrap();
    assert_eq!(topics.len(), 5);
    assert!(topics.contains(&"product.updated".to_string()));
    c.register_webhooks(&url).await.unwrap();
    let hooks = admin.send(reqwest::Method::GET, "/webhooks", None).await;
    let hooks = hooks.as_array().unwrap();
    assert_eq!(hooks.len(), 5, "registration is idempotent");
    assert!(
        hooks
            .iter()
            .all(|h| h["secret"] == "whsec_marketsync_test" && h["delivery_url"] == url.as_str())
    );

    // A stock change of a variation through the admin API is a product.updated delivery.
    let p = demo::catalog(cfg.seed, cfg.products)
        .into_iter()
        .find(|p| !p.variants.is_empty())
        .unwrap();
    let sku = p.variants[0].sku.clone();
    admin.edit_product(&sku, json!({"stock_quantity": 9})).await;
    let call = next_delivery(&mut rx).await;
    assert_eq!(call.header("x-wc-webhook-topic"), Some("product.updated"));
    assert_eq!(call.header("x-wc-webhook-resource"), Some("product"));
    assert_eq!(call.header("x-wc-webhook-event"), Some("updated"));
    assert!(call.header("x-wc-webhook-source").is_some());
    let event = c.verify_webhook(&call).unwrap();
    assert_eq!(event.topic, "product.updated");
    assert_eq!(event.kind, "products");
    assert_eq!(
        Some(event.id.as_str()),
        call.header("x-wc-webhook-delivery-id")
    );
    assert_eq!(event.skus, vec![sku.clone()]);
    let stored = admin.product(&sku).await;
    assert_eq!(event.external_ids, vec![stored["id"].to_string()]);
    let sent = event.sent_at.unwrap();
    assert!((Utc::now() - sent).num_seconds().abs() < 10);

    // An order placed is an order.created delivery.
    let created = admin
        .add_order(json!({"lines": [{"sku": sku, "quantity": 1}]}))
        .await;
    let call = next_delivery(&mut rx).await;
    let event = c.verify_webhook(&call).unwrap();
    assert_eq!(
        (event.topic.as_str(), event.kind.as_str()),
        ("order.created", "orders")
    );
    assert_eq!(event.external_ids, vec![created["id"].to_string()]);
    // The delivery carries the order itself: it is what reading the order would give.
    let q = ImportQuery {
        ids: event.external_ids.clone(),
        ..pages_of(50)
    };
    let read = orders(&c, q).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(event.orders, read);
    assert_eq!(event.orders[0].lines[0].sku, sku);

    // A status change by the shop manager is an order.updated delivery.
    let id = created["id"].to_string();
    admin
        .send(
            reqwest::Method::PUT,
            &format!("/orders/{id}"),
            Some(json!({"status": "on-hold"})),
        )
        .await;
    let updated = next_delivery(&mut rx).await;
    let event = c.verify_webhook(&updated).unwrap();
    assert_eq!(event.topic, "order.updated");
    assert_eq!(event.external_ids, vec![id]);
    // An update is read again (deliveries may come out of order).
    assert!(event.orders.is_empty());
    let deliveries = admin
        .send(reqwest::Method::GET, "/webhooks/deliveries", None)
        .await;
    assert!(
        deliveries
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["response_code"] == 200),
        "{deliveries}"
    );

    // A forged signature, an altered body and a missing signature are refused.
    let mut forged = call.clone();
    forged
        .headers
        .insert("x-wc-webhook-signature".into(), "c2lnbmF0dXJl".into());
    assert!(matches!(
        c.verify_webhook(&forged),
        Err(ConnectorError::Auth(_))
    ));
    let mut altered = call.clone();
    altered.body = String::from_utf8(altered.body)
        .unwrap()
        .replace("processing", "completed")
        .into_bytes();
    assert!(matches!(
        c.verify_webhook(&altered),
        Err(ConnectorError::Auth(_))
    ));
    let mut unsigned = call.clone();
    unsigned.headers.remove("x-wc-webhook-signature");
    assert!(matches!(
        c.verify_webhook(&unsigned),
        Err(ConnectorError::Auth(_))
    ));
    // Another connection's secret (the consumer secret by default) does not verify it either.
    let other = connector(&sim, &cfg);
    assert!(matches!(
        other.verify_webhook(&call),
        Err(ConnectorError::Auth(_))
    ));
}

//! The eBay connector against the eBay simulator.

use std::time::{Duration, Instant};

use chrono::Utc;
use marketsync_connectors::ebay::{Ebay, challenge_response};
use marketsync_connectors::{
    ConnectionConfig, Connector, ConnectorError, Credentials, FieldUpdate, ImportQuery,
    OfferUpdate, OrderUpdate, Settings, WebhookCall,
};
use marketsync_proto::v1::{Money, StockLevel};
use marketsync_simulators::demo;
use marketsync_simulators::ebay::{self as sim, DailyCalls, RunningSimulator, SimConfig};
use serde_json::{Value, json};

use crate::support::{Admin, next_call, orders, pages_of, products, stock, webhook_receiver};

const VERIFICATION_TOKEN: &str = "marketsync-verification-token-0123456789abcdef";

fn config(products: usize, orders: usize) -> SimConfig {
    SimConfig {
        products,
        orders,
        seed: 7,
        ..SimConfig::default()
    }
}

async fn start(cfg: SimConfig) -> RunningSimulator {
    crate::support::on_free_port(|addr| sim::start(addr, cfg)).await
}

fn settings(sim: &RunningSimulator) -> Settings {
    crate::support::fast_settings(sim.base_url())
}

fn connector_with(cfg: &SimConfig, refresh_token: &str, secret: &str, settings: Settings) -> Ebay {
    let credentials = Credentials::from_json(&json!({
        "client_id": cfg.client_id,
        "client_secret": secret,
        "refresh_token": refresh_token,
        "environment": "sandbox",
        "verification_token": VERIFICATION_TOKEN,
    }))
    .unwrap();
    Ebay::new(ConnectionConfig {
        platform: "ebay".into(),
        credentials,
        settings,
    })
    .expect("valid connection")
}

fn connector(sim: &RunningSimulator, cfg: &SimConfig) -> Ebay {
    connector_with(cfg, &cfg.refresh_token, &cfg.client_secret, settings(sim))
}

fn money(amount: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: "USD".into(),
    })
}

#[tokio::test]
async fn test_connection_refreshes_a_token_and_reports_the_account() {
    let cfg = config(12, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let msg = c.test_connection().await.unwrap();
    assert_eq!(
        msg,
        "connected to eBay (sandbox, EBAY_US): 12 inventory items"
    );
    assert_eq!(c.platform(), "ebay");
    assert!(
        marketsync_connectors::registry()
            .iter()
            .any(|p| p.id == "ebay")
    );
}

#[tokio::test]
async fn bad_credentials_are_auth_errors_without_secrets() {
    let cfg = config(3, 0);
    let sim = start(cfg.clone()).await;
    let wrong_refresh = "v^1.1#wrong-refresh-token-8c1d";
    let c = connector_with(&cfg, wrong_refresh, &cfg.client_secret, settings(&sim));
    let err = c.test_connection().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err:?}");
    assert!(
        err.to_string().ends_with("re-authorize this connection"),
        "{err}"
    );
    let wrong_secret = "wrong-cert-id-77aa";
    let c2 = connector_with(&cfg, &cfg.refresh_token, wrong_secret, settings(&sim));
    let err2 = c2.test_connection().await.unwrap_err();
    assert!(matches!(err2, ConnectorError::Auth(_)), "{err2:?}");
    for text in [
        err.to_string(),
        format!("{err:?}"),
        err2.to_string(),
        format!("{err2:?}"),
        format!("{c:?}"),
    ] {
        assert!(
            !text.contains(wrong_refresh),
            "refresh token leaked: {text}"
        );
        assert!(!text.contains(wrong_secret), "secret leaked: {text}");
        assert!(!text.contains(VERIFICATION_TOKEN), "token leaked: {text}");
    }
}

#[tokio::test]
async fn a_revoked_authorization_asks_to_reauthorize() {
    let cfg = config(3, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    c.test_connection().await.unwrap();
    Admin::of(&sim).revoke_token().await;
    let err = c.products_page(&pages_of(2)).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err:?}");
    assert!(err.to_string().contains("re-authorize"), "{err}");
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_once() {
    let cfg = config(4, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    c.test_connection().await.unwrap();
    let admin = Admin::of(&sim);
    admin.post("/expire-tokens", Value::Null).await;
    let (items, _) = products(&c, pages_of(10)).await.unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(admin.stats().await["unauthorized"], 1);
}

#[tokio::test]
async fn listings_come_with_offer_fields_errors_and_return_policies() {
    let cfg = config(100, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let (items, pages) = products(&c, pages_of(30)).await.unwrap();
    assert_eq!(items.len(), 100);
    assert_eq!(pages, 4);
    let catalog = demo::catalog(cfg.seed, cfg.products);
    let defects = demo::OfferDefects::of(&demo::offers(cfg.seed, &catalog));
    let with_errors = items
        .iter()
        .filter(|p| !p.listing_errors.is_empty())
        .count();
    assert_eq!(with_errors, defects.listing_errors);
    let no_policy = items.iter().filter(|p| p.return_policy.is_empty()).count();
    assert_eq!(no_policy, defects.missing_return_policy);
    let p = items
        .iter()
        .find(|p| p.listing_errors.is_empty() && !p.return_policy.is_empty())
        .unwrap();
    assert!(
        ["30 days money back", "60 days free returns"].contains(&p.return_policy.as_str()),
        "policy name resolved: {}",
        p.return_policy
    );
    assert_eq!(p.listing_status, "active");
    assert_eq!(p.condition, "new");
    assert!(p.quantity.is_some());
    assert!(p.price.is_some() && !p.raw_price.is_empty());
    assert!(!p.product_type.is_empty());
    assert!(p.external_id.starts_with('5'));
    let admin = Admin::of(&sim).get(&format!("/offers/{}", p.sku)).await;
    assert_eq!(admin["price"], p.raw_price.as_str());
    assert_eq!(admin["quantity"], p.quantity.unwrap());
    let e = items.iter().find(|p| !p.listing_errors.is_empty()).unwrap();
    assert_eq!(e.listing_status, "error");
    assert_eq!(e.listing_errors[0].code, "UNPUBLISHED");
    // The sku filter reads the named items only.
    let q = ImportQuery {
        skus: vec![p.sku.clone(), "NO-SUCH-SKU".into()],
        ..ImportQuery::default()
    };
    let one = c.products_page(&q).await.unwrap();
    assert_eq!(one.items.len(), 1);
    assert_eq!(one.items[0].sku, p.sku);
}

#[tokio::test]
async fn stock_is_read_per_sku_in_the_marketplace_warehouse() {
    let cfg = config(30, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let levels = stock(&c, pages_of(200)).await.unwrap();
    assert_eq!(levels.len(), 30);
    assert!(levels.iter().all(|l| l.warehouse == "EBAY_US"));
    let admin = Admin::of(&sim)
        .get(&format!("/offers/{}", levels[0].sku))
        .await;
    assert_eq!(admin["quantity"], levels[0].available);
}

#[tokio::test]
async fn orders_import_incrementally_with_cancellations_and_refunds() {
    let cfg = config(20, 15);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let all = orders(&c, pages_of(4)).await.unwrap();
    assert_eq!(all.len(), 15);
    let shipped = all.iter().find(|o| o.status == "shipped").unwrap();
    assert!(!shipped.lines.is_empty() && shipped.total.is_some());
    assert!(all.iter().any(|o| o.status == "cancelled"));
    assert!(all.iter().all(|o| o.shipping_address.is_some()));
    let since = Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let admin = Admin::of(&sim);
    let first = &all[0].lines[0].sku;
    let placed = admin
        .post("/orders", json!({"sku": first, "quantity": 2}))
        .await;
    let id = placed["id"].as_str().unwrap().to_string();
    let q = ImportQuery {
        since: Some(since),
        page_size: 50,
        ..ImportQuery::default()
    };
    let new = orders(&c, q.clone()).await.unwrap();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].external_id, id);
    assert_eq!(new[0].status, "processing");
    // eBay has no acceptance step.
    let ack = c
        .acknowledge_orders(std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(ack.accepted, 1);
    let refunded = all.iter().find(|o| o.status == "processing").unwrap();
    admin
        .post(
            &format!("/orders/{}/refund", refunded.external_id),
            Value::Null,
        )
        .await;
    admin
        .post(&format!("/orders/{id}/cancel"), Value::Null)
        .await;
    let updated = orders(&c, q).await.unwrap();
    let status = |id: &str| {
        updated
            .iter()
            .find(|o| o.external_id == id)
            .map(|o| o.status.clone())
    };
    assert_eq!(updated.len(), 2);
    assert_eq!(status(&id).as_deref(), Some("cancelled"));
    assert_eq!(status(&refunded.external_id).as_deref(), Some("refunded"));
    // By id.
    let by_id = c
        .orders_page(&ImportQuery {
            ids: vec![id.clone()],
            ..ImportQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_id.items.len(), 1);
}

#[tokio::test]
async fn shipments_are_exported_once_with_carrier_and_tracking() {
    let cfg = config(10, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let admin = Admin::of(&sim);
    let listed = admin.get("/offers").await;
    let sku = listed["offers"][0]["sku"].as_str().unwrap().to_string();
    let id = admin
        .post("/orders", json!({"sku": sku, "quantity": 1}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let update = OrderUpdate {
        external_id: id.clone(),
        status: Some("shipped".into()),
        carrier: Some("USPS".into()),
        tracking_number: Some("9400111899223100001234".into()),
        lines: Vec::new(),
    };
    let r = c
        .export_orders(std::slice::from_ref(&update))
        .await
        .unwrap();
    assert_eq!(r.accepted, 1, "{r:?}");
    let again = c
        .export_orders(std::slice::from_ref(&update))
        .await
        .unwrap();
    assert_eq!(again.accepted, 1);
    let o = admin.order(&id).await;
    assert_eq!(o["status"], "FULFILLED");
    let imported = c
        .orders_page(&ImportQuery {
            ids: vec![id.clone()],
            ..ImportQuery::default()
        })
        .await
        .unwrap();
    let shipment = &imported.items[0].shipments;
    assert_eq!(shipment.len(), 1);
    assert_eq!(shipment[0].carrier, "USPS");
    assert_eq!(shipment[0].tracking_number, "9400111899223100001234");
    assert_eq!(shipment[0].lines[0].sku, sku);
    assert_eq!(imported.items[0].status, "shipped");
    assert_eq!(
        o["shipments"],
        json!([{"carrier": "USPS", "tracking_number": "9400111899223100001234"}])
    );
    let cancel = OrderUpdate {
        status: Some("cancelled".into()),
        carrier: None,
        tracking_number: None,
        ..update.clone()
    };
    let unknown = OrderUpdate {
        external_id: "99-99999-99999".into(),
        ..update
    };
    let r = c.export_orders(&[cancel, unknown]).await.unwrap();
    assert_eq!(r.accepted, 0);
    assert_eq!(r.rejected.len(), 2, "{r:?}");
}

#[tokio::test]
async fn export_offers_goes_in_bulk_calls_of_25_with_per_offer_refusals() {
    let cfg = config(60, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let admin = Admin::of(&sim);
    let listed = admin.get("/offers").await;
    let offers: Vec<(String, String)> = listed["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["sku"].as_str().unwrap().to_string(),
                o["offerId"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut updates: Vec<OfferUpdate> = offers
        .iter()
        .enumerate()
        .map(|(i, (sku, id))| OfferUpdate {
            sku: sku.clone(),
            // Half carry the offer id, half are looked up by sku.
            external_id: if i % 2 == 0 {
                id.clone()
            } else {
                String::new()
            },
            quantity: Some(i as i64 + 1),
            price: money(&format!("{}.99", 10 + i)),
        })
        .collect();
    updates[3].price = money("-1");
    updates.push(OfferUpdate {
        sku: "NO-SUCH-SKU".into(),
        external_id: String::new(),
        quantity: Some(1),
        price: money("1.00"),
    });
    admin.post("/stats/reset", Value::Null).await;
    let r = c.export_offers(&updates).await.unwrap();
    assert_eq!(r.accepted, 59, "{r:?}");
    assert_eq!(r.rejected.len(), 2, "{r:?}");
    assert!(
        r.rejected
            .iter()
            .any(|(s, m)| s == &offers[3].0 && m.contains("25711"))
    );
    assert!(r.rejected.iter().any(|(s, _)| s == "NO-SUCH-SKU"));
    let stats = admin.stats().await;
    let bulk = stats["by_path"]["POST /sell/inventory/v1/bulk_update_price_quantity"]
        .as_u64()
        .unwrap();
    assert_eq!(bulk, 3, "60 offers in calls of at most 25");
    assert_eq!(stats["offers_applied_once"], 59);
    assert_eq!(stats["offers_applied_more"], 0);
    let o = admin.get(&format!("/offers/{}", offers[10].0)).await;
    assert_eq!(o["price"], "20.99");
    assert_eq!(o["quantity"], 11);
    assert_eq!(o["updates"], 1);
}

#[tokio::test]
async fn export_stock_sets_quantities_in_bulk() {
    let cfg = config(30, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let levels = stock(&c, pages_of(100)).await.unwrap();
    let new: Vec<StockLevel> = levels
        .iter()
        .map(|l| StockLevel {
            available: 7,
            on_hand: 7,
            ..l.clone()
        })
        .collect();
    let r = c.export_stock(&new).await.unwrap();
    assert_eq!(r.accepted, 30);
    let again = stock(&c, pages_of(100)).await.unwrap();
    assert!(again.iter().all(|l| l.available == 7));
}

#[tokio::test]
async fn update_field_writes_the_inventory_item_and_price() {
    let cfg = config(5, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let (items, _) = products(&c, pages_of(10)).await.unwrap();
    let p = &items[0];
    let upd = |field: &str, value: &str| FieldUpdate {
        external_id: p.external_id.clone(),
        sku: p.sku.clone(),
        field: field.into(),
        value: value.into(),
    };
    c.update_field(&upd("title", "A new title")).await.unwrap();
    c.update_field(&upd("brand", "Acme")).await.unwrap();
    c.update_field(&upd("price", "12.50")).await.unwrap();
    c.update_field(&upd("description", "Better words"))
        .await
        .unwrap();
    let o = Admin::of(&sim).get(&format!("/offers/{}", p.sku)).await;
    assert_eq!(o["product"]["title"], "A new title");
    assert_eq!(o["product"]["brand"], "Acme");
    assert_eq!(o["product"]["aspects"]["Brand"], json!(["Acme"]));
    assert_eq!(o["price"], "12.50");
    // Missing attributes become item specifics (each material its own value).
    c.update_field(&upd("attributes.color", "Black"))
        .await
        .unwrap();
    c.update_field(&upd("attributes.material", "Merino Wool, Cotton"))
        .await
        .unwrap();
    let o = Admin::of(&sim).get(&format!("/offers/{}", p.sku)).await;
    assert_eq!(o["product"]["aspects"]["Color"], json!(["Black"]));
    assert_eq!(
        o["product"]["aspects"]["Material"],
        json!(["Merino Wool", "Cotton"])
    );
    assert_eq!(o["product"]["aspects"]["Brand"], json!(["Acme"]), "kept");
    let (items, _) = products(&c, pages_of(10)).await.unwrap();
    let read = items.iter().find(|i| i.sku == p.sku).unwrap();
    assert_eq!(read.attributes["Color"], "Black");
    let err = c
        .update_field(&upd("attributes.size", " "))
        .await
        .unwrap_err();
    assert!(err.is_record_level(), "{err:?}");
    let err = c.update_field(&upd("categories", "A/B")).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Unsupported(_)), "{err:?}");
    let err = c.update_field(&upd("title", "")).await.unwrap_err();
    assert!(err.is_record_level(), "{err:?}");
}

#[tokio::test]
async fn inventory_items_are_replaced_in_bulk_calls_of_25() {
    let cfg = config(30, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let (mut items, _) = products(&c, pages_of(50)).await.unwrap();
    assert_eq!(items.len(), 30);
    for (i, p) in items.iter_mut().enumerate() {
        p.title = format!("Bulk title {i}");
        p.brand = "Acme".into();
        p.quantity = Some(7);
    }
    // eBay refuses a title over 80 characters: only that item is refused.
    items[3].title = "x".repeat(81);
    let admin = Admin::of(&sim);
    let before = admin.stats().await["requests"].as_i64().unwrap();
    let report = c.put_inventory_items(&items).await.unwrap();
    assert_eq!(report.accepted, 29, "{report:?}");
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    assert_eq!(report.rejected[0].0, items[3].sku);
    assert!(report.rejected[0].1.contains("80"), "{report:?}");
    // 30 items: two bulk calls (25 + 5), whatever else the token needed.
    let calls = admin.stats().await["requests"].as_i64().unwrap() - before;
    assert!((2..=3).contains(&calls), "{calls} requests");
    let o = admin.get(&format!("/offers/{}", items[0].sku)).await;
    assert_eq!(o["product"]["title"], "Bulk title 0");
    assert_eq!(o["product"]["aspects"]["Brand"], json!(["Acme"]));
    assert_eq!(o["quantity"], 7);
    let refused = admin.get(&format!("/offers/{}", items[3].sku)).await;
    assert_ne!(refused["product"]["title"], items[3].title.as_str());
}

#[tokio::test]
async fn transient_failures_are_retried() {
    let cfg = config(8, 0);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let mut s = settings(&sim);
    s.timeout_secs = Some(1);
    s.retry_attempts = Some(6);
    let c = connector_with(&cfg, &cfg.refresh_token, &cfg.client_secret, s);
    admin
        .fault(json!({"kind": "status", "status": 503, "count": 2, "path_contains": "/inventory_item"}))
        .await;
    admin
        .fault(json!({"kind": "malformed", "count": 1, "path_contains": "/inventory_item"}))
        .await;
    admin
        .fault(json!({"kind": "timeout", "delay_ms": 1500, "count": 1, "path_contains": "/inventory_item"}))
        .await;
    let (items, _) = products(&c, pages_of(50)).await.unwrap();
    assert_eq!(items.len(), 8);
    assert_eq!(admin.stats().await["faults_injected"], 4);
    admin
        .fault(json!({"kind": "status", "status": 500, "count": 10, "path_contains": "/order"}))
        .await;
    let err = c.orders_page(&pages_of(5)).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Transient(_)), "{err:?}");
}

#[tokio::test]
async fn an_injected_429_is_waited_out() {
    let cfg = config(30, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let admin = Admin::of(&sim);
    admin
        .fault(json!({"kind": "rate_limit", "count": 2, "path_contains": "bulk_update_price_quantity"}))
        .await;
    let levels: Vec<StockLevel> = stock(&c, pages_of(100)).await.unwrap();
    let r = c.export_stock(&levels).await.unwrap();
    assert_eq!(r.accepted, 30);
    assert_eq!(admin.stats().await["rate_limited"], 2);
}

#[tokio::test]
async fn the_daily_budget_is_paced_without_429s() {
    // 20 calls/s with a burst of 10 (a scaled-down day), mirrored by the connector's budget.
    let cfg = SimConfig {
        daily_calls: DailyCalls {
            inventory: 20 * 86_400,
            ..DailyCalls::default()
        },
        burst_secs: 0.5,
        ..config(750, 0)
    };
    let sim = start(cfg.clone()).await;
    let mut s = settings(&sim);
    s.rate_limit_requests = Some(10);
    s.rate_limit_window_ms = Some(500);
    let c = connector_with(&cfg, &cfg.refresh_token, &cfg.client_secret, s);
    let admin = Admin::of(&sim);
    let skus: Vec<String> = admin.get("/offers").await["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["sku"].as_str().unwrap().to_string())
        .collect();
    admin.post("/stats/reset", Value::Null).await;
    let updates: Vec<OfferUpdate> = skus
        .iter()
        .map(|sku| OfferUpdate {
            sku: sku.clone(),
            quantity: Some(3),
            ..OfferUpdate::default()
        })
        .collect();
    let started = Instant::now();
    let r = c.export_offers(&updates).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(r.accepted, 750);
    let stats = admin.stats().await;
    assert_eq!(stats["rate_limited"], 0, "{stats}");
    assert_eq!(stats["offers_applied_once"], 750);
    // 30 calls: 10 at once, 20 more at 20/s.
    let floor = sim::export_floor(750, &cfg);
    assert!((floor.as_secs_f64() - 1.0).abs() < 1e-9);
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
}

#[tokio::test]
async fn webhooks_are_registered_signed_verified_and_keys_cached() {
    let cfg = config(6, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let (url, mut rx) = webhook_receiver().await;
    let topics = c.register_webhooks(&url).await.unwrap();
    assert_eq!(
        topics,
        vec![
            "MARKETPLACE_ACCOUNT_DELETION",
            "ITEM_AVAILABILITY",
            "ITEM_PRICE_REVISION"
        ]
    );
    // Idempotent.
    assert_eq!(c.register_webhooks(&url).await.unwrap(), topics);
    let admin = Admin::of(&sim);
    let subs = admin.stats().await;
    assert_eq!(
        subs["by_path"]["POST /commerce/notification/v1/subscription"],
        3
    );
    let sku = admin.get("/offers").await["offers"][0]["sku"]
        .as_str()
        .unwrap()
        .to_string();
    let r = c
        .export_offers(&[OfferUpdate {
            sku: sku.clone(),
            quantity: Some(99),
            ..OfferUpdate::default()
        }])
        .await
        .unwrap();
    assert_eq!(r.accepted, 1);
    let call = next_call(&mut rx).await;
    assert!(call.header("x-ebay-signature").is_some());
    let c2 = c;
    let event = tokio::task::spawn_blocking(move || {
        let e = c2.verify_webhook(&call);
        (c2, call, e)
    })
    .await
    .unwrap();
    let (c, call, e) = event;
    let e = e.unwrap();
    assert_eq!(e.topic, "ITEM_AVAILABILITY");
    assert_eq!(e.kind, "products");
    assert_eq!(e.skus, vec![sku]);
    assert!(e.sent_at.is_some() && !e.id.is_empty());
    // The key is cached: a second verification fetches nothing.
    let before = admin.stats().await["requests"].as_u64().unwrap();
    c.verify_webhook(&call).unwrap();
    let after = admin.stats().await["requests"].as_u64().unwrap();
    assert_eq!(before, after, "no request for a cached key");
    // A tampered body or a missing header is refused.
    let mut tampered = call.clone();
    tampered.body = String::from_utf8(call.body.clone())
        .unwrap()
        .replace("99", "98")
        .into_bytes();
    assert!(matches!(
        c.verify_webhook(&tampered),
        Err(ConnectorError::Auth(_))
    ));
    let bare = WebhookCall {
        headers: Default::default(),
        body: call.body.clone(),
    };
    assert!(matches!(
        c.verify_webhook(&bare),
        Err(ConnectorError::Auth(_))
    ));
}

#[test]
fn the_challenge_answer_is_sha256_of_code_token_and_endpoint() {
    use sha2::Digest;
    let code = "a8628072-3d33-45ee-9004-bee86830a22d";
    let endpoint = "https://marketsync.example/webhooks/ebay/c1";
    let expected: String = sha2::Sha256::digest(format!("{code}{VERIFICATION_TOKEN}{endpoint}"))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        challenge_response(code, VERIFICATION_TOKEN, endpoint),
        expected
    );
}

/// The Inventory spec with the one documented exception made: `Product.aspects` typed as the
/// live API has it (an object of string arrays) instead of `string`. Written to a temporary
/// file at test time from the shared spec; nothing else changes.
fn inventory_spec_with_aspects_object(original: &std::path::Path) -> std::path::PathBuf {
    let mut spec: Value = serde_json::from_slice(&std::fs::read(original).unwrap()).unwrap();
    let aspects = spec
        .pointer_mut("/components/schemas/Product/properties/aspects")
        .expect("Product.aspects in the inventory spec");
    assert_eq!(
        aspects["type"], "string",
        "the spec no longer types aspects as a string: drop the documented exception"
    );
    *aspects = json!({
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}}
    });
    let dir = std::env::temp_dir().join(format!("marketsync-ebay-prism-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sell_inventory_v1_oas3.aspects-object.json");
    std::fs::write(&path, serde_json::to_vec(&spec).unwrap()).unwrap();
    path
}

/// Every eBay call the connector makes goes through `prism proxy --errors` on eBay's own specs
/// (`../shared/specs/ebay-sell/`), one proxy per API family (Prism ignores the `{basePath}`
/// server variable, so each family's base is its own proxy). The one tolerated violation is
/// the documented `product.aspects` one; a second part proves it is the only one the
/// unchanged spec reports for an inventory item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebay_conforms_to_the_vendor_specs() {
    use crate::prism::{Prism, prism_binary, shared_dir};
    let bin = prism_binary();
    let specs = shared_dir().join("specs/ebay-sell");
    assert!(
        specs.is_dir(),
        "vendor specs not found at {}",
        specs.display()
    );
    let cfg = SimConfig {
        verification_token: Some(VERIFICATION_TOKEN.into()),
        ..config(9, 6)
    };
    let sim = start(cfg.clone()).await;
    let inventory = inventory_spec_with_aspects_object(&specs.join("sell_inventory_v1_oas3.json"));
    let families = [
        ("inventory", inventory.clone()),
        ("fulfillment", specs.join("sell_fulfillment_v1_oas3.json")),
        ("account", specs.join("sell_account_v1_oas3.json")),
        (
            "notification",
            specs.join("commerce_notification_v1_oas3.json"),
        ),
    ];
    let starts = families.iter().map(|(family, spec)| {
        let bin = bin.clone();
        let upstream = sim.family_url(family);
        async move { Prism::start(&bin, spec, &upstream).await }
    });
    let prisms = futures::future::join_all(starts).await;
    let mut s = settings(&sim);
    s.retry_attempts = Some(2);
    s.timeout_secs = Some(30);
    for ((family, _), prism) in families.iter().zip(&prisms) {
        s.api_urls.insert((*family).to_string(), prism.url());
    }
    let c = connector_with(&cfg, &cfg.refresh_token, &cfg.client_secret, s);
    let mut failures: Vec<String> = Vec::new();
    macro_rules! check {
        ($what:expr, $result:expr) => {
            match $result {
                Ok(v) => Some(v),
                Err(e) => {
                    failures.push(format!("{}: {e}", $what));
                    None
                }
            }
        };
    }
    check!("test_connection", c.test_connection().await);
    let all = check!("listings import", products(&c, pages_of(4)).await)
        .map(|(p, _)| p)
        .unwrap_or_default();
    assert_eq!(all.len(), 9, "listings through the proxies: {failures:?}");
    check!("stock import", stock(&c, pages_of(5)).await);
    let by_sku = ImportQuery {
        skus: vec![all[0].sku.clone()],
        ..ImportQuery::default()
    };
    check!("listing by sku", c.products_page(&by_sku).await);
    let since = Utc::now() - chrono::Duration::days(3650);
    let all_orders = check!(
        "orders import",
        orders(
            &c,
            ImportQuery {
                since: Some(since),
                ..pages_of(4)
            }
        )
        .await
    )
    .unwrap_or_default();
    assert_eq!(
        all_orders.len(),
        6,
        "orders through the proxy: {failures:?}"
    );
    let p = all.iter().find(|p| p.listing_errors.is_empty()).unwrap();
    for (field, value) in [
        ("title", "Spec Checked Title"),
        ("description", "Checked against eBay's spec."),
        ("brand", "Conformance"),
        ("weight", "1.25"),
        ("price", "17.50"),
    ] {
        check!(
            format!("update_field {field}"),
            c.update_field(&FieldUpdate {
                external_id: p.external_id.clone(),
                sku: p.sku.clone(),
                field: field.into(),
                value: value.into(),
            })
            .await
        );
    }
    let updates: Vec<OfferUpdate> = all
        .iter()
        .enumerate()
        .map(|(i, p)| OfferUpdate {
            sku: p.sku.clone(),
            external_id: if i % 2 == 0 {
                p.external_id.clone()
            } else {
                String::new()
            },
            quantity: Some(4),
            price: money("9.99"),
        })
        .collect();
    if let Some(r) = check!("export_offers", c.export_offers(&updates).await) {
        assert!(r.rejected.is_empty(), "{r:?}");
    }
    check!(
        "export_stock",
        c.export_stock(&[StockLevel {
            sku: p.sku.clone(),
            warehouse: "EBAY_US".into(),
            on_hand: 2,
            reserved: 0,
            available: 2,
        }])
        .await
    );
    if let Some(open) = all_orders.iter().find(|o| o.status == "processing") {
        let r = check!(
            "export_orders",
            c.export_orders(&[OrderUpdate {
                external_id: open.external_id.clone(),
                status: Some("shipped".into()),
                carrier: Some("UPS".into()),
                tracking_number: Some("1Z999AA10123456784".into()),
                lines: Vec::new(),
            }])
            .await
        );
        if let Some(r) = r {
            assert_eq!(r.accepted, 1, "{r:?}");
        }
    } else {
        failures.push("no processing order in the demo data".into());
    }
    let (url, mut rx) = webhook_receiver().await;
    check!("register_webhooks", c.register_webhooks(&url).await);
    check!("register_webhooks again", c.register_webhooks(&url).await);
    check!(
        "export to trigger a notification",
        c.export_offers(&[OfferUpdate {
            sku: p.sku.clone(),
            quantity: Some(1),
            ..OfferUpdate::default()
        }])
        .await
    );
    let call = next_call(&mut rx).await;
    let (c, verified) = tokio::task::spawn_blocking(move || {
        let v = c.verify_webhook(&call);
        (c, v)
    })
    .await
    .unwrap();
    check!("verify_webhook (public key)", verified);
    drop(c);

    let mut problems: Vec<String> = prisms.iter().flat_map(Prism::problems).collect();
    for (prism, (family, _)) in prisms.iter().zip(&families) {
        if prism.forwarded() == 0 {
            problems.push(format!("[{family}] no request went through this proxy"));
        }
    }
    assert!(
        failures.is_empty() && problems.is_empty(),
        "spec conformance failed\n-- connector errors:\n{}\n-- prism:\n{}",
        failures.join("\n"),
        problems.join("\n")
    );

    // The exception, and nothing else: an inventory item read through the unchanged spec
    // breaks exactly on `product.aspects`.
    let original = Prism::start(
        &bin,
        &specs.join("sell_inventory_v1_oas3.json"),
        &sim.family_url("inventory"),
    )
    .await;
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{}/identity/v1/oauth2/token", sim.base_url()))
        .basic_auth(&cfg.client_id, Some(&cfg.client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=refresh_token&refresh_token={}",
            cfg.refresh_token
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let resp = http
        .get(format!("{}/inventory_item/{}", original.url(), p.sku))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let violations = resp
        .headers()
        .get("sl-violations")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logged = original.problems();
    assert!(
        violations.contains("aspects") || logged.iter().any(|l| l.contains("aspects")),
        "the unchanged spec rejects the object aspects: {violations} {logged:?}"
    );
    let parsed: Value = serde_json::from_str(&violations).unwrap_or(Value::Null);
    if let Some(list) = parsed.as_array() {
        for v in list {
            assert!(
                v.to_string().contains("aspects"),
                "a violation other than the documented aspects one: {v}"
            );
        }
    }
    for l in &logged {
        assert!(
            l.contains("aspects") || !l.contains("Violation"),
            "a violation other than the documented aspects one: {l}"
        );
    }
    let _ = std::fs::remove_file(inventory);
}

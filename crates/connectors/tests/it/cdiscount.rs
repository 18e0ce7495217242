//! CDiscount (Octopia seller API) connector against its simulator.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use marketsync_connectors::cdiscount::Cdiscount;
use marketsync_connectors::{
    ConnectionConfig, Connector, ConnectorError, Credentials, ImportQuery, OfferUpdate,
    OrderUpdate, Settings, order_status,
};
use marketsync_proto::v1::Money;
use marketsync_simulators::cdiscount::{self as sim, RunningSimulator, SimConfig};
use serde_json::{Value, json};

use crate::support::{self, Admin, pages_of};

async fn start(cfg: SimConfig) -> RunningSimulator {
    support::init();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    sim::start(addr, cfg).await.expect("simulator starts")
}

fn fast() -> SimConfig {
    SimConfig {
        integration_ms: 100,
        ..SimConfig::default()
    }
}

fn settings(s: &RunningSimulator) -> Settings {
    Settings {
        base_url: Some(s.api_url()),
        retry_attempts: Some(4),
        timeout_secs: Some(3),
        ..Settings::default()
    }
}

fn connector_with(cfg: &SimConfig, secret: &str, settings: Settings) -> Cdiscount {
    Cdiscount::new(ConnectionConfig {
        platform: "cdiscount".into(),
        credentials: Credentials::from_json(&json!({
            "api_key": cfg.client_id,
            "api_token": secret,
            "seller_login": cfg.seller_id,
        }))
        .unwrap(),
        settings,
    })
    .unwrap()
}

fn connector(s: &RunningSimulator, cfg: &SimConfig) -> Cdiscount {
    connector_with(cfg, &cfg.client_secret, settings(s))
}

fn money(amount: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: "EUR".into(),
    })
}

#[tokio::test]
async fn test_connection_good_and_bad_credentials() {
    let cfg = fast();
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let msg = c.test_connection().await.unwrap();
    assert!(msg.contains(&cfg.seller_id), "{msg}");
    let bad = connector_with(&cfg, "wrong-secret-value", settings(&s));
    let err = bad.test_connection().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err:?}");
    assert!(err.to_string().contains("re-authorize"), "{err}");
    assert!(!err.to_string().contains("wrong-secret-value"), "{err}");
    // Another seller's id is refused too.
    let mut other = cfg.clone();
    other.seller_id = "11111".into();
    let err = connector_with(&other, &cfg.client_secret, settings(&s))
        .test_connection()
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err:?}");
}

#[tokio::test]
async fn listings_carry_cdiscount_feedback_errors_and_page() {
    let cfg = SimConfig {
        products: 100,
        ..fast()
    };
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let (products, pages) = support::products(&c, pages_of(30)).await.unwrap();
    assert_eq!(products.len(), 100);
    assert_eq!(pages, 4);
    let with_errors: Vec<_> = products
        .iter()
        .filter(|p| !p.listing_errors.is_empty())
        .collect();
    assert_eq!(with_errors.len(), 6, "6% listing errors");
    assert!(with_errors.iter().all(|p| p.listing_status == "error"));
    assert!(with_errors[0].listing_errors[0].code.len() > 2);
    let p = &products[0];
    assert_eq!(p.condition, "new");
    assert!(p.quantity.is_some());
    assert_eq!(p.price.as_ref().unwrap().currency, "EUR");
    let admin = Admin::of(&s).get(&format!("/offers/{}", p.sku)).await;
    assert_eq!(admin["price"], p.price.as_ref().unwrap().amount.as_str());
    assert_eq!(
        products
            .iter()
            .filter(|p| p.lead_time_days.is_none())
            .count(),
        5
    );
    let stock = support::stock(&c, pages_of(100)).await.unwrap();
    assert_eq!(stock.len(), 100);
    assert!(stock.iter().all(|l| l.warehouse == "cdiscount"));
    assert_eq!(stock[0].on_hand, admin["quantity"].as_i64().unwrap());
}

#[tokio::test]
async fn orders_import_is_incremental_with_cancellations_and_refunds() {
    let cfg = SimConfig {
        orders: 25,
        ..fast()
    };
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let admin = Admin::of(&s);
    let all = support::orders(&c, pages_of(10)).await.unwrap();
    assert_eq!(all.len(), 25);
    let mut ids: Vec<_> = all.iter().map(|o| o.external_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25, "no duplicates across pages");
    assert!(
        all.iter()
            .all(|o| !o.lines.is_empty() && !o.updated_at.is_empty())
    );

    let cursor = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let sku = all[0].lines[0].sku.clone();
    let new = admin
        .post("/orders", json!({"sku": sku, "quantity": 2}))
        .await;
    let new_id = new["id"].as_str().unwrap().to_string();
    let cancelled = all[1].external_id.clone();
    let refunded = all[2].external_id.clone();
    admin
        .post(&format!("/orders/{cancelled}/cancel"), json!({}))
        .await;
    admin
        .post(&format!("/orders/{refunded}/refund"), json!({}))
        .await;
    let since = ImportQuery {
        since: Some(cursor),
        page_size: 2,
        ..ImportQuery::default()
    };
    let changed = support::orders(&c, since).await.unwrap();
    let by_id = |id: &str| changed.iter().find(|o| o.external_id == id).unwrap();
    assert_eq!(changed.len(), 3, "{changed:?}");
    assert_eq!(by_id(&new_id).status, order_status::AWAITING_ACCEPTANCE);
    assert_eq!(by_id(&cancelled).status, order_status::CANCELLED);
    assert_eq!(by_id(&refunded).status, order_status::REFUNDED);
}

#[tokio::test]
async fn orders_sharing_one_instant_page_without_loss_or_duplicates() {
    let cfg = SimConfig {
        orders: 0,
        products: 5,
        ..fast()
    };
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let admin = Admin::of(&s);
    let sku = admin.get("/stats").await; // warm up
    assert!(sku.is_object());
    let sku = support::products(&c, pages_of(5)).await.unwrap().0[0]
        .sku
        .clone();
    for _ in 0..7 {
        admin
            .post("/orders", json!({"sku": sku, "quantity": 1}))
            .await;
    }
    let got = support::orders(&c, pages_of(2)).await.unwrap();
    let mut ids: Vec<_> = got.iter().map(|o| o.external_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7);
    assert_eq!(got.len(), 7);
}

#[tokio::test]
async fn acknowledge_then_ship_with_carrier_and_tracking() {
    let cfg = fast();
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let admin = Admin::of(&s);
    let sku = support::products(&c, pages_of(5)).await.unwrap().0[0]
        .sku
        .clone();
    let id = admin
        .post("/orders", json!({"sku": sku, "quantity": 1}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Shipping before acceptance is refused by the marketplace, per order.
    let update = OrderUpdate {
        external_id: id.clone(),
        status: Some(order_status::SHIPPED.into()),
        carrier: Some("Colissimo".into()),
        tracking_number: Some("6A12345678901".into()),
        lines: vec![],
    };
    let early = c
        .export_orders(std::slice::from_ref(&update))
        .await
        .unwrap();
    assert_eq!(early.accepted, 0);
    assert_eq!(early.rejected.len(), 1);

    let r = c
        .acknowledge_orders(&[id.clone(), "NOPE".into()])
        .await
        .unwrap();
    assert_eq!(r.accepted, 1);
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].0, "NOPE");
    assert_eq!(admin.order(&id).await["accepted"], true);
    // Idempotent.
    let again = c
        .acknowledge_orders(std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!((again.accepted, again.rejected.len()), (1, 0));

    let r = c
        .export_orders(std::slice::from_ref(&update))
        .await
        .unwrap();
    assert_eq!((r.accepted, r.rejected.len()), (1, 0), "{r:?}");
    let o = admin.order(&id).await;
    assert_eq!(o["status"], "Shipped");
    assert_eq!(o["shipments"][0]["carrier"], "Colissimo");
    assert_eq!(o["shipments"][0]["tracking_number"], "6A12345678901");
    // A retry does not add a second parcel.
    let r = c
        .export_orders(std::slice::from_ref(&update))
        .await
        .unwrap();
    assert_eq!(r.accepted, 1);
    assert_eq!(
        admin.order(&id).await["shipments"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let imported = support::orders(
        &c,
        ImportQuery {
            ids: vec![id.clone()],
            page_size: 10,
            ..ImportQuery::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(imported[0].status, order_status::SHIPPED);
    assert_eq!(imported[0].shipments[0].tracking_number, "6A12345678901");
}

#[tokio::test]
async fn export_offers_chunks_at_the_documented_maxima() {
    let cfg = SimConfig {
        products: 2_500,
        ..fast()
    };
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let admin = Admin::of(&s);
    let products = support::products(&c, pages_of(1000)).await.unwrap().0;
    let mut updates: Vec<OfferUpdate> = products
        .iter()
        .map(|p| OfferUpdate {
            sku: p.sku.clone(),
            quantity: Some(3),
            price: money("12.50"),
            ..OfferUpdate::default()
        })
        .collect();
    updates.push(OfferUpdate {
        sku: "UNKNOWN-SKU".into(),
        quantity: Some(1),
        ..OfferUpdate::default()
    });
    updates.push(OfferUpdate {
        sku: products[1].sku.clone(),
        price: money("-1"),
        ..OfferUpdate::default()
    });
    let r = c.export_offers(&updates).await.unwrap();
    assert_eq!(r.accepted, 2_499, "{:?}", &r.rejected);
    let rejected: Vec<&str> = r.rejected.iter().map(|(k, _)| k.as_str()).collect();
    assert!(rejected.contains(&"UNKNOWN-SKU"));
    assert!(rejected.contains(&products[1].sku.as_str()));
    let unknown = r.rejected.iter().find(|(k, _)| k == "UNKNOWN-SKU").unwrap();
    assert!(unknown.1.contains("OfferNotFound"), "{unknown:?}");
    let packages = admin.get("/packages").await;
    let p = &packages["packages"][0];
    assert_eq!(
        p["uploads"], 3,
        "2,501 offer requests in calls of at most 1,000"
    );
    assert_eq!(p["state"], "Integrated");
    let o = admin.get(&format!("/offers/{}", products[0].sku)).await;
    assert_eq!(
        (o["quantity"].as_i64(), o["price"].as_str()),
        (Some(3), Some("12.50"))
    );
    assert_eq!(o["updates"], 1);
    let stats = admin.stats().await;
    assert_eq!(stats["offers_applied_more"], 0);
    assert_eq!(stats["rate_limited"], 0, "the connector paces itself");
    // Stock export goes the same way.
    let levels = vec![marketsync_proto::v1::StockLevel {
        sku: products[2].sku.clone(),
        warehouse: "cdiscount".into(),
        on_hand: 9,
        available: 9,
        reserved: 0,
    }];
    let r = c.export_stock(&levels).await.unwrap();
    assert_eq!(r.accepted, 1);
    assert_eq!(
        admin.get(&format!("/offers/{}", products[2].sku)).await["quantity"],
        9
    );
}

#[tokio::test]
async fn packages_hold_at_most_the_documented_maximum() {
    let cfg = SimConfig {
        products: 120,
        package_max: 40_000,
        ..fast()
    };
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    // 45,000 updates of 120 offers: deduplicated by sku, one package.
    let products = support::products(&c, pages_of(200)).await.unwrap().0;
    let updates: Vec<OfferUpdate> = (0..45_000)
        .map(|i| OfferUpdate {
            sku: products[i % products.len()].sku.clone(),
            quantity: Some(i as i64),
            ..OfferUpdate::default()
        })
        .collect();
    let r = c.export_offers(&updates).await.unwrap();
    assert_eq!(r.accepted, 120);
    let admin = Admin::of(&s);
    let last = &products[(45_000 - 1) % 120].sku;
    assert_eq!(
        admin.get(&format!("/offers/{last}")).await["quantity"],
        44_999
    );
    assert_eq!(admin.stats().await["offers_applied_more"], 0);
}

#[tokio::test]
async fn rate_limit_kept_and_injected_429_waited_out() {
    let cfg = SimConfig {
        products: 300,
        ..fast()
    };
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let admin = Admin::of(&s);
    // 30 pages of 10 offers: past the burst, paced to the bucket.
    let started = Instant::now();
    let (products, pages) = support::products(&c, pages_of(10)).await.unwrap();
    assert_eq!((products.len(), pages), (300, 30));
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(admin.stats().await["rate_limited"], 0);
    admin
        .fault(
            json!({"kind": "rate_limit", "count": 1, "reset_ms": 1000, "path_contains": "/offers"}),
        )
        .await;
    let started = Instant::now();
    let page = c.products_page(&pages_of(5)).await.unwrap();
    assert_eq!(page.items.len(), 5);
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn transient_failures_are_retried() {
    let cfg = fast();
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let admin = Admin::of(&s);
    admin
        .fault(json!({"kind": "status", "status": 503, "count": 2, "path_contains": "/offers"}))
        .await;
    assert_eq!(c.products_page(&pages_of(5)).await.unwrap().items.len(), 5);
    admin
        .fault(json!({"kind": "malformed", "count": 1, "path_contains": "/orders"}))
        .await;
    assert!(c.orders_page(&pages_of(5)).await.is_ok());
    admin
        .fault(
            json!({"kind": "timeout", "count": 1, "delay_ms": 4000, "path_contains": "/sellers"}),
        )
        .await;
    assert!(c.test_connection().await.is_ok());
    // A package upload that fails once is retried; nothing is applied twice.
    admin
        .fault(json!({"kind": "status", "status": 502, "count": 1, "path_contains": "/offer-requests"}))
        .await;
    let sku = c.products_page(&pages_of(1)).await.unwrap().items[0]
        .sku
        .clone();
    let r = c
        .export_offers(&[OfferUpdate {
            sku: sku.clone(),
            quantity: Some(4),
            ..OfferUpdate::default()
        }])
        .await
        .unwrap();
    assert_eq!(r.accepted, 1);
    assert_eq!(admin.get(&format!("/offers/{sku}")).await["updates"], 1);
}

#[tokio::test]
async fn expired_token_is_renewed_and_revoked_credentials_surface() {
    let cfg = fast();
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let admin = Admin::of(&s);
    c.test_connection().await.unwrap();
    admin.post("/expire-tokens", Value::Null).await;
    c.test_connection().await.unwrap();
    assert_eq!(admin.stats().await["tokens_issued"], 2);
    admin.revoke_token().await;
    let err = c.test_connection().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err:?}");
    admin.restore_token().await;
    c.test_connection().await.unwrap();
}

#[tokio::test]
async fn short_lived_tokens_are_renewed_before_expiry() {
    let cfg = SimConfig {
        token_ttl_secs: 61,
        ..fast()
    };
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    c.test_connection().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.test_connection().await.unwrap();
    // 61 s of life minus the 60 s margin: each call asks for a fresh token, none gets a 401.
    let stats = Admin::of(&s).stats().await;
    assert_eq!(stats["unauthorized"], 0);
    assert!(stats["tokens_issued"].as_u64().unwrap() >= 2);
}

#[tokio::test]
async fn secrets_stay_out_of_errors_and_debug_output() {
    let cfg = SimConfig {
        client_secret: "s3cr3t-client-secret".into(),
        ..fast()
    };
    let s = start(cfg.clone()).await;
    let mut set = settings(&s);
    set.debug = Some(true);
    set.retry_attempts = Some(1);
    let c = connector_with(&cfg, &cfg.client_secret, set);
    assert!(!format!("{c:?}").contains("s3cr3t"));
    Admin::of(&s)
        .fault(json!({"kind": "status", "status": 500, "count": 1, "path_contains": "/sellers"}))
        .await;
    let err = c.test_connection().await.unwrap_err();
    assert!(!err.to_string().contains("s3cr3t"), "{err}");
    let bad = connector_with(&cfg, "s3cr3t-wrong", settings(&s));
    let err = bad.test_connection().await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains("s3cr3t"), "{err}");
}

#[tokio::test]
async fn unsupported_fields_and_price_update() {
    let cfg = fast();
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let p = c.products_page(&pages_of(1)).await.unwrap().items[0].clone();
    let err = c
        .update_field(&marketsync_connectors::FieldUpdate {
            external_id: p.external_id.clone(),
            sku: p.sku.clone(),
            field: "description".into(),
            value: "x".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Unsupported(_)), "{err:?}");
    c.update_field(&marketsync_connectors::FieldUpdate {
        external_id: p.external_id.clone(),
        sku: p.sku.clone(),
        field: "price".into(),
        value: "33.30".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        Admin::of(&s).get(&format!("/offers/{}", p.sku)).await["price"],
        "33.30"
    );
}

#[tokio::test]
async fn registry_builds_the_connector() {
    let cfg = fast();
    let s = start(cfg.clone()).await;
    let c = marketsync_connectors::build(ConnectionConfig {
        platform: "cdiscount".into(),
        credentials: Credentials::from_json(&json!({
            "api_key": cfg.client_id, "api_token": cfg.client_secret, "seller_login": cfg.seller_id,
        }))
        .unwrap(),
        settings: settings(&s),
    })
    .unwrap();
    assert_eq!(c.platform(), "cdiscount");
    c.test_connection().await.unwrap();
    assert!(
        marketsync_connectors::registry()
            .iter()
            .any(|p| p.id == "cdiscount")
    );
}

#[tokio::test]
async fn debug_logs_show_bodies_but_no_secret_or_token() {
    let cfg = SimConfig {
        client_id: "c1ient-id-value".into(),
        client_secret: "s3cr3t-client-secret".into(),
        ..fast()
    };
    let s = start(cfg.clone()).await;
    let mut set = settings(&s);
    set.debug = Some(true);
    let c = connector_with(&cfg, &cfg.client_secret, set);
    let (capture, _guard) = crate::support::LogCapture::start();
    c.test_connection().await.unwrap();
    let sku = c.products_page(&pages_of(1)).await.unwrap().items[0]
        .sku
        .clone();
    let r = c
        .export_offers(&[OfferUpdate {
            sku,
            quantity: Some(2),
            ..OfferUpdate::default()
        }])
        .await
        .unwrap();
    assert_eq!(r.accepted, 1);
    let logs = capture.text();
    assert!(logs.contains("offer-requests"), "bodies are logged: {logs}");
    assert!(!logs.contains("s3cr3t"), "{logs}");
    assert!(!logs.contains("c1ient-id-value"), "{logs}");
    assert!(!logs.contains("octopia-sim-"), "no access token: {logs}");
}

#[tokio::test]
async fn more_than_40000_offers_make_two_packages() {
    let cfg = SimConfig {
        products: 40_050,
        orders: 0,
        limits: false,
        ..fast()
    };
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let skus: Vec<String> = support::products(&c, pages_of(1000))
        .await
        .unwrap()
        .0
        .into_iter()
        .map(|p| p.sku)
        .collect();
    let updates: Vec<OfferUpdate> = skus
        .iter()
        .map(|sku| OfferUpdate {
            sku: sku.clone(),
            quantity: Some(5),
            ..OfferUpdate::default()
        })
        .collect();
    let r = c.export_offers(&updates).await.unwrap();
    assert_eq!((r.accepted, r.rejected.len()), (40_050, 0));
    let packages = Admin::of(&s).get("/packages").await;
    let sizes: Vec<u64> = packages["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["offerRequestCount"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, vec![40_000, 50]);
    let stats = Admin::of(&s).stats().await;
    assert_eq!(stats["offers_applied_once"], 40_050);
}

//! The Mirakl connector against the Mirakl simulator.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use marketsync_connectors::mirakl::Mirakl;
use marketsync_connectors::{
    ConnectionConfig, Connector, ConnectorError, Credentials, FieldUpdate, ImportQuery,
    OfferUpdate, OrderUpdate, Settings, order_status,
};
use marketsync_proto::v1::Money;
use marketsync_simulators::demo::{self, OfferDefects};
use marketsync_simulators::mirakl::{self as sim, RunningSimulator, SimConfig};
use serde_json::{Value, json};

use crate::support::{Admin, orders, pages_of, products, stock};

/// "Once per minute", scaled down for tests.
const INTERVAL: Duration = Duration::from_millis(300);

fn config(products: usize, orders: usize) -> SimConfig {
    SimConfig {
        products,
        orders,
        seed: 11,
        interval: INTERVAL,
        import_base: Duration::from_millis(50),
        ..SimConfig::default()
    }
}

async fn start(config: SimConfig) -> RunningSimulator {
    crate::support::on_free_port(|addr| sim::start(addr, config)).await
}

fn settings_for(sim: &RunningSimulator) -> Settings {
    Settings {
        base_url: Some(sim.base_url()),
        retry_attempts: Some(4),
        timeout_secs: Some(5),
        rate_limit_window_ms: Some(INTERVAL.as_millis() as u64),
        ..Settings::default()
    }
}

fn connector_with(creds: Value, settings: Settings) -> Mirakl {
    Mirakl::new(ConnectionConfig {
        platform: "mirakl".into(),
        credentials: Credentials::from_json(&creds).unwrap(),
        settings,
    })
    .expect("valid connection")
}

fn creds(cfg: &SimConfig) -> Value {
    json!({
        "api_url": "https://demo-env.mirakl.net",
        "api_key": cfg.api_key,
        "shop_id": cfg.shop_id.to_string(),
    })
}

fn connector(sim: &RunningSimulator, cfg: &SimConfig) -> Mirakl {
    connector_with(creds(cfg), settings_for(sim))
}

fn update(sku: &str, quantity: Option<i64>, price: Option<&str>) -> OfferUpdate {
    OfferUpdate {
        sku: sku.into(),
        external_id: String::new(),
        quantity,
        price: price.map(|p| Money {
            amount: p.into(),
            currency: "EUR".into(),
        }),
    }
}

#[tokio::test]
async fn test_connection_names_the_shop() {
    let cfg = config(3, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    assert_eq!(
        c.test_connection().await.unwrap(),
        "connected to Mirakl shop Demo Shop (2001)"
    );
    assert_eq!(Admin::of(&sim).stats().await["by_api"]["A01"], 1);
    // api_url alone (no base_url setting) is the instance URL.
    let mut creds = creds(&cfg);
    creds["api_url"] = json!(format!("{}/api", sim.base_url()));
    let direct = connector_with(
        creds,
        Settings {
            base_url: None,
            ..settings_for(&sim)
        },
    );
    direct.test_connection().await.unwrap();
}

#[tokio::test]
async fn wrong_key_or_shop_is_an_auth_error_without_the_secret() {
    let cfg = config(3, 0);
    let sim = start(cfg.clone()).await;
    let secret = "wrong-mirakl-key-7d1e55";
    let mut bad = creds(&cfg);
    bad["api_key"] = json!(secret);
    let c = connector_with(bad, settings_for(&sim));
    let err = c.test_connection().await.unwrap_err();
    let ConnectorError::Auth(msg) = &err else {
        panic!("expected an auth error, got {err:?}");
    };
    assert!(msg.contains("401"), "{msg}");
    assert!(err.to_string().ends_with("re-authorize this connection"));
    for text in [err.to_string(), format!("{err:?}"), format!("{c:?}")] {
        assert!(!text.contains(secret), "secret leaked: {text}");
    }
    let mut other_shop = creds(&cfg);
    other_shop["shop_id"] = json!("9999");
    let err = connector_with(other_shop, settings_for(&sim))
        .test_connection()
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err:?}");
    assert!(err.to_string().contains("shop 9999"), "{err}");
    assert_eq!(Admin::of(&sim).stats().await["unauthorized"], 1);
    // Missing credentials are configuration errors.
    let err = Mirakl::new(ConnectionConfig {
        platform: "mirakl".into(),
        credentials: Credentials::from_json(&json!({"api_url": "https://x.mirakl.net"})).unwrap(),
        settings: Settings::default(),
    })
    .unwrap_err();
    assert!(err.to_string().contains("api_key"), "{err}");
}

#[tokio::test]
async fn offers_import_with_offer_fields_and_listing_errors() {
    let cfg = config(230, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let (all, pages) = products(&c, pages_of(100)).await.unwrap();
    assert_eq!((all.len(), pages), (230, 3));
    let catalog = demo::catalog(cfg.seed, cfg.products);
    let offers = demo::offers(cfg.seed, &catalog);
    let defects = OfferDefects::of(&offers);
    let missing_lead = all.iter().filter(|p| p.lead_time_days.is_none()).count();
    assert_eq!(missing_lead, defects.missing_lead_time);
    assert!(missing_lead > 0);
    let with_errors: Vec<_> = all
        .iter()
        .filter(|p| !p.listing_errors.is_empty())
        .collect();
    assert_eq!(with_errors.len(), defects.listing_errors);
    for p in &with_errors {
        assert_eq!(p.listing_errors.len(), 1);
        assert_eq!(p.listing_errors[0].severity, "error");
        assert_eq!(p.listing_status, "error");
        assert!(!p.visible);
        let demo = offers.iter().find(|o| o.sku == p.sku).unwrap();
        let (code, _, field) = demo.listing_error.clone().unwrap();
        assert_eq!(p.listing_errors[0].code, code);
        assert_eq!(p.listing_errors[0].field, field);
    }
    for (p, o) in all.iter().zip(&offers) {
        assert_eq!(p.sku, o.sku);
        assert_eq!(p.quantity, Some(o.quantity));
        assert_eq!(p.lead_time_days, o.lead_time_days);
        assert_eq!(p.condition, "new");
        let price = p.price.as_ref().unwrap();
        assert_eq!(price.currency, "EUR");
        assert_eq!(
            price.amount.parse::<f64>().unwrap(),
            o.price.parse::<f64>().unwrap()
        );
        assert_eq!(p.gtin.len(), 13);
        assert!(!p.title.is_empty());
    }
    let levels = stock(&c, pages_of(100)).await.unwrap();
    assert_eq!(levels.len(), 230);
    assert!(levels.iter().all(|l| l.warehouse == "mirakl"));
    assert_eq!(levels[0].available, offers[0].quantity);
    // An offer without stock is inactive, but that is not a listing error.
    let clean = offers.iter().find(|o| o.listing_error.is_none()).unwrap();
    Admin::of(&sim)
        .send(
            reqwest::Method::PUT,
            &format!("/offers/{}", clean.sku),
            Some(json!({"quantity": 0})),
        )
        .await;
    let page = c
        .products_page(&ImportQuery {
            skus: vec![clean.sku.clone()],
            page_size: 10,
            ..ImportQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].listing_status, "inactive");
    assert!(page.items[0].listing_errors.is_empty());
    // `max` above 100 is clamped, never refused.
    let page = c.products_page(&pages_of(500)).await.unwrap();
    assert_eq!(page.items.len(), 100);
}

#[tokio::test]
async fn orders_import_incrementally_with_cancellations_and_refunds() {
    let cfg = config(10, 8);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let first = orders(&c, pages_of(100)).await.unwrap();
    assert_eq!(first.len(), 8);
    for o in &first {
        assert!(!o.lines.is_empty());
        assert!(o.buyer.as_ref().is_some_and(|b| !b.name.is_empty()));
        assert!(o.total.as_ref().is_some_and(|t| t.currency == "EUR"));
    }
    let cursor = first
        .iter()
        .map(|o| chrono::DateTime::parse_from_rfc3339(&o.updated_at).unwrap())
        .max()
        .unwrap()
        .with_timezone(&chrono::Utc);
    // A second poll within the minute waits for it (no 429: the connector paced itself).
    let began = Instant::now();
    let again = orders(&c, pages_of(100)).await.unwrap();
    assert_eq!(again.len(), 8);
    assert!(
        began.elapsed() >= INTERVAL - Duration::from_millis(50),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(admin.stats().await["rate_limited"], 0);

    let since = cursor + chrono::Duration::milliseconds(1);
    let new = admin
        .post(
            "/orders",
            json!({"sku": first[0].lines[0].sku, "quantity": 2}),
        )
        .await;
    let new_id = new["id"].as_str().unwrap().to_string();
    let shipped = first
        .iter()
        .find(|o| o.status == order_status::PROCESSING || o.status == order_status::SHIPPED)
        .unwrap()
        .external_id
        .clone();
    let cancelled = first
        .iter()
        .find(|o| o.external_id != shipped && o.status != order_status::CANCELLED)
        .unwrap()
        .external_id
        .clone();
    admin
        .post(&format!("/orders/{shipped}/refund"), json!({}))
        .await;
    admin
        .post(&format!("/orders/{cancelled}/cancel"), json!({}))
        .await;
    tokio::time::sleep(INTERVAL).await;
    let changed = orders(
        &c,
        ImportQuery {
            since: Some(since),
            page_size: 100,
            ..ImportQuery::default()
        },
    )
    .await
    .unwrap();
    let by_id: BTreeMap<_, _> = changed
        .iter()
        .map(|o| (o.external_id.clone(), o.status.clone()))
        .collect();
    assert_eq!(by_id.len(), 3, "{by_id:?}");
    assert_eq!(by_id[&new_id], order_status::AWAITING_ACCEPTANCE);
    assert_eq!(by_id[&shipped], order_status::REFUNDED);
    assert_eq!(by_id[&cancelled], order_status::CANCELLED);
    assert_eq!(admin.stats().await["rate_limited"], 0);
}

#[tokio::test]
async fn orders_paginate_with_offset_and_only_the_poll_is_limited() {
    let cfg = config(10, 25);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let (all, pages) = crate::support::all_pages(pages_of(10), |q| {
        let c = &c;
        async move { c.orders_page(&q).await }
    })
    .await
    .unwrap();
    assert_eq!((all.len(), pages), (25, 3));
    let ids: std::collections::BTreeSet<_> = all.iter().map(|o| &o.external_id).collect();
    assert_eq!(ids.len(), 25);
    let stats = admin.stats().await;
    assert_eq!(stats["by_api"]["OR11"], 3);
    assert_eq!(stats["rate_limited"], 0);
}

#[tokio::test]
async fn another_instance_polling_within_the_minute_waits_for_retry_after() {
    let cfg = SimConfig {
        interval: Duration::from_millis(1000),
        ..config(5, 3)
    };
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let settings = Settings {
        rate_limit_window_ms: Some(1000),
        ..settings_for(&sim)
    };
    let a = connector_with(creds(&cfg), settings.clone());
    let b = connector_with(creds(&cfg), settings);
    assert_eq!(orders(&a, pages_of(100)).await.unwrap().len(), 3);
    let began = Instant::now();
    assert_eq!(orders(&b, pages_of(100)).await.unwrap().len(), 3);
    assert!(
        began.elapsed() >= Duration::from_millis(700),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(admin.stats().await["rate_limited"], 1);
    // A third instance knows from its cursor (the previous run's start) that a poll is
    // recent: it waits for the minute instead of drawing a 429.
    let c = connector_with(
        creds(&cfg),
        Settings {
            rate_limit_window_ms: Some(1000),
            ..settings_for(&sim)
        },
    );
    let since = chrono::Utc::now();
    let began = Instant::now();
    let recent = orders(
        &c,
        ImportQuery {
            since: Some(since),
            page_size: 100,
            ..ImportQuery::default()
        },
    )
    .await
    .unwrap();
    assert!(recent.is_empty());
    assert!(
        began.elapsed() >= Duration::from_millis(900),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(admin.stats().await["rate_limited"], 1);
}

#[tokio::test]
async fn orders_are_accepted_once_and_idempotently() {
    let cfg = config(5, 2);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let id = admin.post("/orders", json!({"quantity": 1})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(admin.order(&id).await["accepted"], false);
    // This connector never read the order: it looks it up (OR11 by id) first.
    let c = connector(&sim, &cfg);
    let report = c
        .acknowledge_orders(std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(report.accepted, 1, "{report:?}");
    let order = admin.order(&id).await;
    assert_eq!(order["accepted"], true);
    assert_eq!(order["status"], "SHIPPING");
    let again = c
        .acknowledge_orders(std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!((again.accepted, again.rejected.len()), (1, 0));
    let stats = admin.stats().await;
    assert_eq!(stats["by_api"]["OR21"], 1, "{stats}");
    // A stale view (another instance accepted the order since this one read it): OR21
    // refuses, the connector reads the order again and counts it as accepted.
    let second = admin.post("/orders", json!({"quantity": 1})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(INTERVAL).await;
    let a = connector(&sim, &cfg);
    let seen = orders(&a, pages_of(100)).await.unwrap();
    assert!(
        seen.iter()
            .any(|o| o.external_id == second && o.status == order_status::AWAITING_ACCEPTANCE)
    );
    let b = connector(&sim, &cfg);
    let by_b = b
        .acknowledge_orders(std::slice::from_ref(&second))
        .await
        .unwrap();
    assert_eq!(by_b.accepted, 1);
    let report = a
        .acknowledge_orders(std::slice::from_ref(&second))
        .await
        .unwrap();
    assert_eq!(
        (report.accepted, report.rejected.len()),
        (1, 0),
        "{report:?}"
    );
    let unknown = c.acknowledge_orders(&["NOPE-1".to_string()]).await.unwrap();
    assert_eq!(unknown.rejected.len(), 1);
}

#[tokio::test]
async fn shipments_carry_carrier_and_tracking() {
    let cfg = config(5, 0);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(
            admin.post("/orders", json!({"quantity": 1})).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    c.acknowledge_orders(&ids).await.unwrap();
    let report = c
        .export_orders(&[
            OrderUpdate {
                external_id: ids[0].clone(),
                status: Some("shipped".into()),
                carrier: Some("UPS".into()),
                tracking_number: Some("1Z999AA10123456784".into()),
                lines: Vec::new(),
            },
            OrderUpdate {
                external_id: ids[1].clone(),
                status: Some("shipped".into()),
                carrier: Some("Colis Privé".into()),
                tracking_number: Some("CP123".into()),
                lines: Vec::new(),
            },
            OrderUpdate {
                external_id: "NOPE-9".into(),
                status: Some("shipped".into()),
                carrier: Some("UPS".into()),
                tracking_number: Some("X".into()),
                lines: Vec::new(),
            },
        ])
        .await
        .unwrap();
    assert_eq!(report.accepted, 2, "{report:?}");
    assert_eq!(report.rejected[0].0, "NOPE-9");
    let o = admin.order(&ids[0]).await;
    assert_eq!(o["status"], "SHIPPED");
    assert_eq!(o["shipments"][0]["carrier_code"], "UPS");
    assert_eq!(o["shipments"][0]["tracking_number"], "1Z999AA10123456784");
    let o = admin.order(&ids[1]).await;
    assert_eq!(o["shipments"][0]["carrier"], "Colis Privé");
    assert_eq!(o["shipments"][0]["tracking_number"], "CP123");
    // Shipping again is refused by Mirakl: a record-level rejection.
    let again = c
        .export_orders(&[OrderUpdate {
            external_id: ids[0].clone(),
            status: None,
            carrier: None,
            tracking_number: None,
            lines: Vec::new(),
        }])
        .await
        .unwrap();
    assert_eq!(again.rejected.len(), 1);
    assert!(
        again.rejected[0].1.contains("cannot be shipped"),
        "{again:?}"
    );
}

#[tokio::test]
async fn bulk_offer_export_uses_an_import_file_and_reads_its_error_report() {
    let cfg = config(250, 0);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let skus: Vec<String> = demo::catalog(cfg.seed, cfg.products)
        .iter()
        .map(|p| p.sku.clone())
        .collect();
    let mut updates: Vec<OfferUpdate> = skus
        .iter()
        .enumerate()
        .map(|(i, s)| update(s, Some(i as i64 + 1), Some("19.90")))
        .collect();
    updates[5].quantity = Some(-3);
    updates.push(update("NO-SUCH-SKU", Some(1), None));
    updates.push(update(&skus[7], None, Some("12,5")));
    let lead_before = admin.get(&format!("/offers/{}", skus[0])).await["leadtime_to_ship"].clone();
    let report = c.export_offers(&updates).await.unwrap();
    // 250 lines sent (the second update of skus[7] was refused before sending), one refused.
    assert_eq!(report.accepted, 249, "{report:?}");
    let rejected: BTreeMap<_, _> = report.rejected.iter().cloned().collect();
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    assert!(
        rejected[&skus[5]].contains("positive integer"),
        "{rejected:?}"
    );
    assert!(rejected["NO-SUCH-SKU"].contains("does not exist"));
    assert!(rejected[&skus[7]].contains("invalid price"));
    let stats = admin.stats().await;
    assert_eq!(stats["by_api"]["OF01"], 1, "{stats}");
    assert_eq!(stats["by_api"]["OF03"], 1, "{stats}");
    assert!(stats.get("by_api").unwrap().get("OF24").is_none());
    assert_eq!(stats["rate_limited"], 0);
    assert_eq!(stats["offers_applied_once"], 249, "{stats}");
    let o = admin.get(&format!("/offers/{}", skus[3])).await;
    assert_eq!(
        (o["quantity"].clone(), o["price"].clone()),
        (json!(4), json!("19.90"))
    );
    assert_eq!(o["updates"], 1);
    // A file import keeps the fields it does not carry.
    assert_eq!(
        admin.get(&format!("/offers/{}", skus[0])).await["leadtime_to_ship"],
        lead_before
    );
}

#[tokio::test]
async fn small_batches_of_read_offers_go_through_of24_with_every_field() {
    let cfg = config(20, 0);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let (all, _) = products(&c, pages_of(100)).await.unwrap();
    let with_lead = all.iter().find(|p| p.lead_time_days.is_some()).unwrap();
    let report = c
        .export_offers(&[update(&with_lead.sku, Some(7), None)])
        .await
        .unwrap();
    assert_eq!((report.accepted, report.rejected.len()), (1, 0));
    let stats = admin.stats().await;
    assert_eq!(stats["by_api"]["OF24"], 1, "{stats}");
    assert!(stats["by_api"].get("OF01").is_none());
    let o = admin.get(&format!("/offers/{}", with_lead.sku)).await;
    assert_eq!(o["quantity"], 7);
    // OF24 resets what is not sent: the connector sent the lead time and price it had read.
    assert_eq!(o["leadtime_to_ship"], json!(with_lead.lead_time_days));
    assert_eq!(
        o["price"].as_str().unwrap().parse::<f64>().unwrap(),
        with_lead.raw_price.parse::<f64>().unwrap()
    );
    // A price correction goes the same way.
    c.update_field(&FieldUpdate {
        external_id: with_lead.external_id.clone(),
        sku: with_lead.sku.clone(),
        field: "price".into(),
        value: "42.00".into(),
    })
    .await
    .unwrap();
    let o = admin.get(&format!("/offers/{}", with_lead.sku)).await;
    assert_eq!(o["price"].as_str().unwrap().parse::<f64>().unwrap(), 42.0);
    assert_eq!(o["quantity"], 7);
    let err = c
        .update_field(&FieldUpdate {
            external_id: String::new(),
            sku: with_lead.sku.clone(),
            field: "description".into(),
            value: "x".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Unsupported(_)));
    // Two writes within the minute were spaced by the connector: no 429.
    assert_eq!(admin.stats().await["rate_limited"], 0);
}

#[tokio::test]
async fn consecutive_exports_keep_the_once_per_minute_limits() {
    let cfg = config(150, 0);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let skus: Vec<String> = demo::catalog(cfg.seed, cfg.products)
        .iter()
        .map(|p| p.sku.clone())
        .collect();
    let began = Instant::now();
    for round in 0..3 {
        let updates: Vec<_> = skus.iter().map(|s| update(s, Some(round), None)).collect();
        let r = c.export_offers(&updates).await.unwrap();
        assert_eq!(r.accepted, 150);
    }
    assert!(began.elapsed() >= INTERVAL * 2, "{:?}", began.elapsed());
    let stats = admin.stats().await;
    assert_eq!(stats["rate_limited"], 0, "{stats}");
    assert_eq!(stats["by_api"]["OF01"], 3);
    // stock export is the same path, quantities summed per sku.
    let levels = vec![
        marketsync_proto::v1::StockLevel {
            sku: skus[0].clone(),
            warehouse: "a".into(),
            available: 2,
            ..Default::default()
        },
        marketsync_proto::v1::StockLevel {
            sku: skus[0].clone(),
            warehouse: "b".into(),
            available: 3,
            ..Default::default()
        },
    ];
    let r = c.export_stock(&levels).await.unwrap();
    assert_eq!(r.accepted, 1);
    assert_eq!(
        admin.get(&format!("/offers/{}", skus[0])).await["quantity"],
        5
    );
    assert_eq!(admin.stats().await["rate_limited"], 0);
}

#[tokio::test]
async fn an_injected_429_is_waited_out() {
    let cfg = config(5, 0);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    admin
        .fault(json!({"kind": "rate_limit", "reset_ms": 1000, "count": 1, "path_contains": "/api/offers"}))
        .await;
    let c = connector(&sim, &cfg);
    let began = Instant::now();
    let page = c.products_page(&pages_of(10)).await.unwrap();
    assert_eq!(page.items.len(), 5);
    assert!(
        began.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(admin.stats().await["rate_limited"], 1);
}

#[tokio::test]
async fn transient_failures_are_retried() {
    let cfg = config(5, 2);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    admin
        .fault(
            json!({"kind": "status", "status": 503, "count": 2, "path_contains": "/api/account"}),
        )
        .await;
    admin
        .fault(json!({"kind": "malformed", "count": 2, "path_contains": "/api/offers"}))
        .await;
    admin
        .fault(json!({"kind": "timeout", "delay_ms": 2500, "count": 1, "path_contains": "/api/orders"}))
        .await;
    let mut settings = settings_for(&sim);
    settings.timeout_secs = Some(1);
    let c = connector_with(creds(&cfg), settings);
    c.test_connection().await.unwrap();
    assert_eq!(c.products_page(&pages_of(10)).await.unwrap().items.len(), 5);
    assert_eq!(orders(&c, pages_of(10)).await.unwrap().len(), 2);
    admin
        .fault(
            json!({"kind": "status", "status": 500, "count": 50, "path_contains": "/api/account"}),
        )
        .await;
    let err = c.test_connection().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Transient(_)), "{err:?}");
    assert!(!err.to_string().contains(&cfg.api_key));
}

#[tokio::test]
async fn a_revoked_key_asks_to_reauthorize_and_works_again_when_restored() {
    let cfg = config(5, 0);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    c.test_connection().await.unwrap();
    admin.revoke_token().await;
    let err = c.products_page(&pages_of(5)).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err:?}");
    assert!(err.to_string().contains("re-authorize this connection"));
    assert!(!err.to_string().contains(&cfg.api_key));
    admin.restore_token().await;
    c.test_connection().await.unwrap();
}

#[tokio::test]
async fn debug_logs_show_requests_but_never_the_key() {
    let cfg = config(5, 2);
    let sim = start(cfg.clone()).await;
    let (captured, _guard) = crate::support::LogCapture::start();
    let settings = Settings {
        debug: Some(true),
        ..settings_for(&sim)
    };
    let c = connector_with(creds(&cfg), settings);
    c.test_connection().await.unwrap();
    products(&c, pages_of(10)).await.unwrap();
    c.export_offers(&[update("NOPE", Some(1), None)])
        .await
        .unwrap();
    let mut bad = creds(&cfg);
    bad["api_key"] = json!("another-secret-key-31337");
    let _ = connector_with(
        bad,
        Settings {
            debug: Some(true),
            ..settings_for(&sim)
        },
    )
    .test_connection()
    .await;
    let lines = captured.lines();
    assert!(lines.iter().any(|l| l.contains("/api/offers")), "{lines:?}");
    for l in &lines {
        assert!(!l.contains(&cfg.api_key), "key leaked: {l}");
        assert!(!l.contains("another-secret-key-31337"), "key leaked: {l}");
    }
}

#[tokio::test]
async fn more_offers_than_a_file_holds_go_in_pipelined_files() {
    let n = sim::MAX_IMPORT_LINES + 50;
    let cfg = config(n, 0);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let updates: Vec<OfferUpdate> = demo::catalog(cfg.seed, n)
        .iter()
        .map(|p| update(&p.sku, Some(3), None))
        .collect();
    let report = c.export_offers(&updates).await.unwrap();
    assert_eq!((report.accepted, report.rejected.len()), (n as u64, 0));
    let stats = admin.stats().await;
    assert_eq!(stats["by_api"]["OF01"], 2, "{stats}");
    assert_eq!(stats["offers_applied_once"], n as u64, "{stats}");
    assert_eq!(stats["offers_never"], 0);
    assert_eq!(stats["rate_limited"], 0);
}

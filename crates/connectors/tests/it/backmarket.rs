//! The Back Market connector against the Back Market simulator.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use marketsync_connectors::backmarket::BackMarket;
use marketsync_connectors::{
    ConnectionConfig, Connector, ConnectorError, Credentials, FieldUpdate, ImportQuery,
    OfferUpdate, OrderUpdate, Settings, order_status,
};
use marketsync_proto::v1::{Money, StockLevel};
use marketsync_simulators::backmarket::{self as sim, RunningSimulator, SimConfig};
use marketsync_simulators::demo::{self, OfferDefects};
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

fn creds(cfg: &SimConfig) -> Value {
    json!({"api_key": cfg.api_key, "api_secret": cfg.api_secret, "seller_id": cfg.seller_id})
}

fn connector_with(creds: Value, settings: Settings) -> BackMarket {
    BackMarket::new(ConnectionConfig {
        platform: "backmarket".into(),
        credentials: Credentials::from_json(&creds).unwrap(),
        settings,
    })
    .expect("valid connection")
}

fn connector(sim: &RunningSimulator, cfg: &SimConfig) -> BackMarket {
    connector_with(creds(cfg), settings_for(sim))
}

fn eur(amount: &str) -> Option<Money> {
    Some(Money {
        amount: amount.into(),
        currency: "EUR".into(),
    })
}

#[tokio::test]
async fn test_connection_good_and_bad_credentials() {
    let cfg = config(5, 3);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    assert_eq!(c.platform(), "backmarket");
    let msg = c.test_connection().await.unwrap();
    assert_eq!(msg, "connected to Back Market as seller 4242: 3 orders");
    // The registry builds it too.
    let built = marketsync_connectors::build(ConnectionConfig {
        platform: "backmarket".into(),
        credentials: Credentials::from_json(&creds(&cfg)).unwrap(),
        settings: settings_for(&sim),
    })
    .unwrap();
    built.test_connection().await.unwrap();
    assert!(
        marketsync_connectors::registry()
            .iter()
            .any(|p| p.id == "backmarket")
    );

    let secret = "bm-wrong-secret-77";
    let bad = connector_with(
        json!({"api_key": cfg.api_key, "api_secret": secret, "seller_id": "4242"}),
        settings_for(&sim),
    );
    let err = bad.test_connection().await.unwrap_err();
    let ConnectorError::Auth(msg) = &err else {
        panic!("expected an auth error, got {err:?}");
    };
    assert!(
        msg.contains("401") && msg.contains("Invalid or missing token"),
        "{msg}"
    );
    assert!(err.to_string().ends_with("re-authorize this connection"));
    let token = marketsync_connectors::backmarket::config::token_of(&cfg.api_key, secret);
    for text in [
        msg.clone(),
        err.to_string(),
        format!("{err:?}"),
        format!("{bad:?}"),
    ] {
        assert!(!text.contains(secret), "secret leaked: {text}");
        assert!(!text.contains(&token), "token leaked: {text}");
        assert!(!text.contains(&cfg.api_key), "key leaked: {text}");
    }
    // Auth errors are final: one request, no retries.
    assert_eq!(Admin::of(&sim).stats().await["unauthorized"], 1);
}

#[tokio::test]
async fn the_simulator_requires_the_documented_headers_and_limits() {
    let cfg = SimConfig {
        catalog_limit: 3,
        standard_limit: 100,
        window_ms: 1_000,
        block_ms: 1_500,
        ..config(5, 2)
    };
    let sim = start(cfg.clone()).await;
    let http = reqwest::Client::new();
    let auth = format!("Basic {}", cfg.token());
    let get = |path: &str, lang: bool| {
        let mut r = http
            .get(format!("{}{path}", sim.base_url()))
            .header("authorization", &auth)
            .header("user-agent", "BM-test-suite;qa@example.com");
        if lang {
            r = r.header("accept-language", "fr-fr");
        }
        r.send()
    };
    let r = get("/ws/orders", false).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "missing-accept-language");
    // The catalog budget: three, then a 429 that blocks every endpoint.
    for _ in 0..3 {
        assert_eq!(get("/ws/listings", true).await.unwrap().status(), 200);
    }
    let r = get("/ws/listings", true).await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    let r = get("/ws/orders", true).await.unwrap();
    assert_eq!(r.status(), 429, "the block covers standard endpoints too");
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    assert_eq!(get("/ws/orders", true).await.unwrap().status(), 200);
    assert_eq!(get("/ws/listings", true).await.unwrap().status(), 200);
    let stats = Admin::of(&sim).stats().await;
    assert_eq!(stats["rate_limited"], 2, "{stats}");
}

#[tokio::test]
async fn listings_import_with_grades_and_listing_errors() {
    let cfg = config(40, 1);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let (all, pages) = products(&c, pages_of(7)).await.unwrap();
    assert_eq!(all.len(), 40);
    assert_eq!(pages, 6);
    let offers = demo::offers(cfg.seed, &demo::catalog(cfg.seed, cfg.products));
    let defects = OfferDefects::of(&offers);
    let with_errors: Vec<_> = all
        .iter()
        .filter(|p| !p.listing_errors.is_empty())
        .collect();
    assert_eq!(with_errors.len(), defects.listing_errors);
    assert!(with_errors.iter().all(|p| p.listing_status == "error"));
    assert!(with_errors[0].listing_errors[0].severity == "error");
    assert_eq!(
        all.iter().filter(|p| p.condition.is_empty()).count(),
        defects.missing_grade,
        "missing grades come through empty, for the monitor's grade rule"
    );
    let by_sku: BTreeMap<_, _> = offers.iter().map(|o| (o.sku.clone(), o)).collect();
    for p in &all {
        let o = by_sku[&p.sku];
        assert_eq!(p.condition, o.grade);
        assert_eq!(p.quantity, Some(o.quantity));
        assert_eq!(p.raw_price, o.price);
        assert_eq!(p.price.as_ref().unwrap().currency, "EUR");
        assert!(!p.external_id.is_empty());
        assert!(demo::GRADES.contains(&p.condition.as_str()) || p.condition.is_empty());
    }
    // Stock: the listing quantity in the `backmarket` warehouse.
    let levels = stock(&c, pages_of(50)).await.unwrap();
    assert_eq!(levels.len(), 40);
    assert!(levels.iter().all(|l| l.warehouse == "backmarket"));
    assert_eq!(levels[0].on_hand, by_sku[&levels[0].sku].quantity);
    // By sku and by id.
    let one = c
        .products_page(&ImportQuery {
            skus: vec![all[3].sku.clone()],
            ..ImportQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1);
    let by_id = c
        .products_page(&ImportQuery {
            ids: vec![all[4].external_id.clone()],
            ..ImportQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_id.items[0].sku, all[4].sku);
    let stats = Admin::of(&sim).stats().await;
    assert_eq!(stats["rate_limited"], 0);
}

#[tokio::test]
async fn orders_import_incrementally_with_cancellations_and_refunds() {
    let cfg = config(10, 12);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let all = orders(&c, pages_of(5)).await.unwrap();
    assert_eq!(all.len(), 12);
    let page = c.orders_page(&pages_of(5)).await.unwrap();
    assert_eq!(
        (page.items.len(), page.next.as_deref(), page.total),
        (5, Some("2"), Some(12))
    );
    for o in &all {
        assert!(!o.lines.is_empty());
        assert!(o.buyer.as_ref().is_some_and(|b| !b.name.is_empty()));
        if o.status == order_status::SHIPPED {
            assert_eq!(o.shipments[0].carrier, "COLISSIMO");
        }
    }
    let statuses: std::collections::BTreeSet<_> = all.iter().map(|o| o.status.as_str()).collect();
    assert!(statuses.len() >= 3, "{statuses:?}");

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let since = Utc::now();
    let none = orders(
        &c,
        ImportQuery {
            since: Some(since),
            page_size: 10,
            ..ImportQuery::default()
        },
    )
    .await
    .unwrap();
    assert!(none.is_empty(), "{none:?}");
    let sku = products(&c, pages_of(10)).await.unwrap().0[0].sku.clone();
    let new = admin
        .post("/orders", json!({"sku": sku, "quantity": 2}))
        .await;
    let cancelled = all[0].external_id.clone();
    let refunded = all[1].external_id.clone();
    admin
        .post(&format!("/orders/{cancelled}/cancel"), Value::Null)
        .await;
    admin
        .post(&format!("/orders/{refunded}/refund"), Value::Null)
        .await;
    let changed = orders(
        &c,
        ImportQuery {
            since: Some(since),
            page_size: 10,
            ..ImportQuery::default()
        },
    )
    .await
    .unwrap();
    let by_id: BTreeMap<_, _> = changed.iter().map(|o| (o.external_id.clone(), o)).collect();
    assert_eq!(by_id.len(), 3, "{by_id:?}");
    let fresh = by_id[new["id"].as_str().unwrap()];
    assert_eq!(fresh.status, order_status::AWAITING_ACCEPTANCE);
    assert_eq!(fresh.lines[0].sku, sku);
    assert_eq!(fresh.lines[0].quantity, 2);
    assert_eq!(by_id[&cancelled].status, order_status::CANCELLED);
    assert_eq!(by_id[&refunded].status, order_status::REFUNDED);
}

#[tokio::test]
async fn acknowledge_accepts_each_orderline_idempotently() {
    let cfg = config(10, 4);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let skus: Vec<String> = products(&c, pages_of(10))
        .await
        .unwrap()
        .0
        .into_iter()
        .map(|p| p.sku)
        .collect();
    let a = admin.post("/orders", json!({"sku": skus[0]})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = admin.post("/orders", json!({"sku": skus[1]})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    admin
        .post(&format!("/orders/{b}/cancel"), Value::Null)
        .await;
    let report = c
        .acknowledge_orders(&[a.clone(), b.clone(), "999999".into()])
        .await
        .unwrap();
    assert_eq!(report.accepted, 1);
    let rejected: BTreeMap<_, _> = report.rejected.into_iter().collect();
    assert!(rejected[&b].contains("cancelled"), "{rejected:?}");
    assert!(rejected["999999"].contains("not found"), "{rejected:?}");
    let o = admin.get(&format!("/orders/{a}")).await;
    assert_eq!(o["accepted"], true);
    assert_eq!(o["status"], "3");
    // Again: already accepted counts as accepted, nothing sent but the read.
    let before = admin.stats().await["requests"].as_u64().unwrap();
    let again = c
        .acknowledge_orders(std::slice::from_ref(&a))
        .await
        .unwrap();
    assert_eq!((again.accepted, again.rejected.len()), (1, 0));
    assert_eq!(
        admin.stats().await["requests"].as_u64().unwrap(),
        before + 1
    );
    let imported = c
        .orders_page(&ImportQuery {
            ids: vec![a.clone()],
            ..ImportQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(imported.items[0].status, order_status::PROCESSING);
}

#[tokio::test]
async fn shipments_carry_shipper_and_tracking() {
    let cfg = config(10, 2);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let sku = products(&c, pages_of(10)).await.unwrap().0[2].sku.clone();
    let id = admin.post("/orders", json!({"sku": sku})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Still awaiting acceptance: the export validates it first, then ships.
    let report = c
        .export_orders(&[
            OrderUpdate {
                external_id: id.clone(),
                status: Some(order_status::SHIPPED.into()),
                carrier: Some("DHL".into()),
                tracking_number: Some("JD0140001234".into()),
                lines: vec![],
            },
            OrderUpdate {
                external_id: id.clone(),
                status: Some(order_status::CANCELLED.into()),
                carrier: None,
                tracking_number: None,
                lines: vec![],
            },
            OrderUpdate {
                external_id: "424242".into(),
                status: Some(order_status::SHIPPED.into()),
                carrier: Some("DHL".into()),
                tracking_number: None,
                lines: vec![],
            },
        ])
        .await
        .unwrap();
    assert_eq!(report.accepted, 1, "{report:?}");
    assert_eq!(report.rejected.len(), 2, "{report:?}");
    let o = admin.get(&format!("/orders/{id}")).await;
    assert_eq!(o["status"], "9");
    assert_eq!(o["accepted"], true);
    assert_eq!(
        o["shipments"],
        json!([{"carrier": "DHL", "tracking_number": "JD0140001234", "tracking_url": ""}])
    );
    let imported = c
        .orders_page(&ImportQuery {
            ids: vec![id.clone()],
            ..ImportQuery::default()
        })
        .await
        .unwrap();
    let order = &imported.items[0];
    assert_eq!(order.status, order_status::SHIPPED);
    assert_eq!(order.shipments[0].tracking_number, "JD0140001234");
    assert_eq!(order.shipments[0].carrier, "DHL");
    // Shipping again is a no-op that succeeds.
    let again = c
        .export_orders(&[OrderUpdate {
            external_id: id.clone(),
            status: Some(order_status::SHIPPED.into()),
            carrier: Some("DHL".into()),
            tracking_number: Some("JD0140001234".into()),
            lines: vec![],
        }])
        .await
        .unwrap();
    assert_eq!(again.accepted, 1);
    assert_eq!(
        admin.get(&format!("/orders/{id}")).await["shipments"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn export_offers_uploads_csv_catalogs_in_chunks_and_reads_task_errors() {
    let cfg = config(2_500, 1);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let offers = demo::offers(cfg.seed, &demo::catalog(cfg.seed, cfg.products));
    let mut updates: Vec<OfferUpdate> = offers
        .iter()
        .enumerate()
        .map(|(i, o)| OfferUpdate {
            sku: o.sku.clone(),
            external_id: String::new(),
            quantity: Some(i as i64 % 7),
            price: eur(&format!("{}.{:02}", 10 + i % 90, i % 100)),
        })
        .collect();
    updates.push(OfferUpdate {
        sku: "NO-SUCH-SKU".into(),
        quantity: Some(1),
        ..OfferUpdate::default()
    });
    updates.push(OfferUpdate {
        sku: offers[0].sku.clone(),
        price: eur("12.345"),
        ..OfferUpdate::default()
    });
    let began = Instant::now();
    let report = c.export_offers(&updates).await.unwrap();
    let elapsed = began.elapsed();
    assert_eq!(report.accepted, 2_500, "{:?}", report.rejected);
    let rejected: BTreeMap<_, _> = report.rejected.iter().cloned().collect();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(
        rejected["NO-SUCH-SKU"].contains("Unknown sku"),
        "{rejected:?}"
    );
    assert!(
        rejected[&offers[0].sku].contains("2 decimals"),
        "{rejected:?}"
    );
    let stats = admin.stats().await;
    assert_eq!(stats["uploads"], 3, "{stats}");
    assert_eq!(stats["max_upload_rows"], 1_000, "{stats}");
    assert_eq!(stats["offers_applied_once"], 2_500, "{stats}");
    assert_eq!(stats["offers_applied_more"], 0);
    assert_eq!(stats["rate_limited"], 0);
    assert!(
        elapsed >= Duration::from_millis(500),
        "tasks are waited for: {elapsed:?}"
    );
    let o = admin.get(&format!("/offers/{}", offers[5].sku)).await;
    assert_eq!(
        (o["quantity"].as_i64(), o["price"].as_str()),
        (Some(5), Some("15.05"))
    );
    assert_eq!(o["updates"], 1);

    // export_stock goes the same way, quantity only.
    let report = c
        .export_stock(&[StockLevel {
            sku: offers[5].sku.clone(),
            warehouse: "backmarket".into(),
            on_hand: 9,
            reserved: 0,
            available: 9,
        }])
        .await
        .unwrap();
    assert_eq!(report.accepted, 1);
    let o = admin.get(&format!("/offers/{}", offers[5].sku)).await;
    assert_eq!(
        (o["quantity"].as_i64(), o["price"].as_str()),
        (Some(9), Some("15.05"))
    );
}

#[tokio::test]
async fn update_field_writes_price_of_one_listing() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let p = products(&c, pages_of(10)).await.unwrap().0[1].clone();
    c.update_field(&FieldUpdate {
        external_id: p.external_id.clone(),
        sku: p.sku.clone(),
        field: "price".into(),
        value: "99.90".into(),
    })
    .await
    .unwrap();
    // By sku alone.
    c.update_field(&FieldUpdate {
        external_id: String::new(),
        sku: p.sku.clone(),
        field: "quantity".into(),
        value: "4".into(),
    })
    .await
    .unwrap();
    let o = admin.get(&format!("/offers/{}", p.sku)).await;
    assert_eq!(
        (o["price"].as_str(), o["quantity"].as_i64()),
        (Some("99.90"), Some(4))
    );
    let err = c
        .update_field(&FieldUpdate {
            external_id: p.external_id.clone(),
            sku: p.sku.clone(),
            field: "description".into(),
            value: "x".into(),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Unsupported(_)), "{err:?}");
}

/// A simulator with short windows, and a connection whose budgets match.
fn scaled() -> SimConfig {
    SimConfig {
        standard_limit: 50,
        catalog_limit: 5,
        window_ms: 1_000,
        block_ms: 1_500,
        ..config(20, 3)
    }
}

#[tokio::test]
async fn both_budgets_are_kept_so_the_account_is_never_blocked() {
    let cfg = scaled();
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let settings = Settings {
        rate_limit_requests: Some(50),
        rate_limit_window_ms: Some(1_000),
        ..settings_for(&sim)
    };
    let c = connector_with(creds(&cfg), settings);
    let listings = products(&c, pages_of(20)).await.unwrap().0;
    let began = Instant::now();
    let catalog = async {
        for (i, p) in listings.iter().take(12).enumerate() {
            c.update_field(&FieldUpdate {
                external_id: p.external_id.clone(),
                sku: p.sku.clone(),
                field: "price".into(),
                value: format!("{}.00", 20 + i),
            })
            .await
            .unwrap();
        }
    };
    let standard = async {
        for _ in 0..70 {
            c.test_connection().await.unwrap();
        }
    };
    futures::join!(catalog, standard);
    let elapsed = began.elapsed();
    let stats = admin.stats().await;
    assert_eq!(stats["rate_limited"], 0, "{stats}");
    // 13 catalog calls at 5 a window, 70 standard at 50: at least two more windows.
    assert!(elapsed >= Duration::from_millis(2_000), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(6_000), "{elapsed:?}");
}

#[tokio::test]
async fn the_ten_second_block_is_waited_out() {
    // The account allows 5 catalog requests a second; the connection believes the documented
    // 20 per 10 s, so it overruns and is blocked.
    let cfg = scaled();
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    let listings = products(&c, pages_of(20)).await.unwrap().0;
    let began = Instant::now();
    for p in listings.iter().take(8) {
        c.update_field(&FieldUpdate {
            external_id: p.external_id.clone(),
            sku: p.sku.clone(),
            field: "price".into(),
            value: "33.00".into(),
        })
        .await
        .unwrap();
    }
    let elapsed = began.elapsed();
    assert!(elapsed >= Duration::from_millis(1_500), "{elapsed:?}");
    let stats = admin.stats().await;
    assert!(stats["rate_limited"].as_u64().unwrap() >= 1, "{stats}");
    for p in listings.iter().take(8) {
        let o = admin.get(&format!("/offers/{}", p.sku)).await;
        assert_eq!(
            (o["price"].as_str(), o["updates"].as_u64()),
            (Some("33.00"), Some(1))
        );
    }
}

#[tokio::test]
async fn an_injected_429_is_waited_out() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    admin
        .fault(json!({"kind": "rate_limit", "reset_ms": 1000, "count": 1}))
        .await;
    let c = connector(&sim, &cfg);
    let began = Instant::now();
    c.test_connection().await.unwrap();
    let elapsed = began.elapsed();
    assert!(elapsed >= Duration::from_millis(1000), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(3500), "{elapsed:?}");
    assert_eq!(admin.stats().await["requests"], 2);
}

#[tokio::test]
async fn server_errors_timeouts_and_malformed_bodies_are_retried() {
    let cfg = config(5, 3);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    admin
        .fault(json!({"kind": "status", "status": 503, "count": 3, "path_contains": "/ws/orders"}))
        .await;
    c.test_connection().await.unwrap();
    assert_eq!(admin.stats().await["faults_injected"], 3);
    admin
        .fault(json!({"kind": "malformed", "count": 2, "path_contains": "/ws/listings"}))
        .await;
    assert_eq!(c.products_page(&pages_of(10)).await.unwrap().items.len(), 5);
    admin
        .fault(json!({"kind": "timeout", "delay_ms": 2500, "count": 1}))
        .await;
    let mut settings = settings_for(&sim);
    settings.timeout_secs = Some(1);
    let quick = connector_with(creds(&cfg), settings);
    let began = Instant::now();
    quick.test_connection().await.unwrap();
    assert!(began.elapsed() >= Duration::from_secs(1));
    admin
        .fault(json!({"kind": "status", "status": 500, "count": 50}))
        .await;
    let err = c.test_connection().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Transient(_)), "{err:?}");
    assert!(!err.to_string().contains(&cfg.token()));
    admin.send(reqwest::Method::DELETE, "/faults", None).await;
    admin.fault(json!({"kind": "malformed", "count": 10})).await;
    let err = c.test_connection().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Malformed(_)), "{err:?}");
}

#[tokio::test]
async fn a_revoked_token_asks_to_reauthorize() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let c = connector(&sim, &cfg);
    c.test_connection().await.unwrap();
    admin.revoke_token().await;
    let err = c.products_page(&pages_of(5)).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err:?}");
    assert!(err.to_string().contains("re-authorize this connection"));
    assert!(!err.to_string().contains(&cfg.token()));
    admin.restore_token().await;
    c.test_connection().await.unwrap();
}

#[tokio::test]
async fn debug_logs_show_bodies_but_never_the_secrets() {
    let (capture, _guard) = crate::support::LogCapture::start();
    let cfg = config(5, 2);
    let sim = start(cfg.clone()).await;
    let settings = Settings {
        debug: Some(true),
        ..settings_for(&sim)
    };
    let c = connector_with(creds(&cfg), settings);
    c.test_connection().await.unwrap();
    let sku = products(&c, pages_of(5)).await.unwrap().0[0].sku.clone();
    c.export_offers(&[OfferUpdate {
        sku: sku.clone(),
        quantity: Some(3),
        ..OfferUpdate::default()
    }])
    .await
    .unwrap();
    Admin::of(&sim).revoke_token().await;
    assert!(c.test_connection().await.is_err());
    let logs = capture.text();
    assert!(
        logs.contains("http request") && logs.contains(&sku),
        "{logs}"
    );
    assert!(logs.contains("/ws/tasks/"), "{logs}");
    for secret in [cfg.api_key.clone(), cfg.api_secret.clone(), cfg.token()] {
        assert!(!logs.contains(&secret), "{secret} leaked into the logs");
    }
}

#[tokio::test]
async fn a_refused_upload_refuses_its_rows_and_the_others_go_on() {
    // The account accepts 400 rows an upload; the connection uploads 1,000.
    let cfg = SimConfig {
        max_upload_rows: 400,
        ..config(1_200, 1)
    };
    let sim = start(cfg.clone()).await;
    let admin = Admin::of(&sim);
    let settings = Settings {
        batch_size: Some(400),
        ..settings_for(&sim)
    };
    let fits = connector_with(creds(&cfg), settings);
    let too_big = connector(&sim, &cfg);
    let offers = demo::offers(cfg.seed, &demo::catalog(cfg.seed, cfg.products));
    let updates: Vec<OfferUpdate> = offers
        .iter()
        .map(|o| OfferUpdate {
            sku: o.sku.clone(),
            quantity: Some(1),
            ..OfferUpdate::default()
        })
        .collect();
    let report = too_big.export_offers(&updates[..1_100]).await.unwrap();
    // 1,000 rows refused with Back Market's reason, the last 100 in their own upload applied.
    assert_eq!(report.accepted, 100);
    assert_eq!(report.rejected.len(), 1_000);
    assert!(
        report.rejected[0].1.contains("At most 400 rows"),
        "{:?}",
        report.rejected[0]
    );
    admin.post("/stats/reset", Value::Null).await;
    let report = fits.export_offers(&updates).await.unwrap();
    assert_eq!((report.accepted, report.rejected.len()), (1_200, 0));
    let stats = admin.stats().await;
    assert_eq!(stats["uploads"], 3, "{stats}");
    assert_eq!(stats["offers_applied_once"], 1_200, "{stats}");
}

//! The Refurbed connector against the Refurbed simulator.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use marketsync_connectors::refurbed::Refurbed;
use marketsync_connectors::{
    ConnectionConfig, Connector, ConnectorError, Credentials, FieldUpdate, ImportQuery,
    OfferUpdate, OrderUpdate, Settings, order_status,
};
use marketsync_proto::v1::Money;
use marketsync_simulators::demo::{self, OfferDefects};
use marketsync_simulators::refurbed::{self as sim, RunningSimulator, SimConfig};
use serde_json::{Value, json};

use crate::support::{Admin, init, orders, pages_of, products, stock};

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

fn connector_with(cfg: &SimConfig, token: &str, settings: Settings) -> Refurbed {
    let credentials = Credentials::from_json(&json!({
        "api_token": token,
        "merchant_id": cfg.merchant_id,
    }))
    .unwrap();
    Refurbed::new(ConnectionConfig {
        platform: "refurbed".into(),
        credentials,
        settings,
    })
    .expect("valid connection")
}

fn connector(sim: &RunningSimulator, cfg: &SimConfig) -> Refurbed {
    connector_with(cfg, &cfg.api_token, settings_for(sim))
}

async fn place_order(admin: &Admin, sku: &str, quantity: i64) -> String {
    let v = admin
        .post("/orders", json!({"sku": sku, "quantity": quantity}))
        .await;
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn test_connection_with_good_and_bad_tokens() {
    let cfg = config(5, 1);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    assert_eq!(c.platform(), "refurbed");
    let msg = c.test_connection().await.unwrap();
    assert_eq!(msg, "connected to refurbed merchant 4711: offers reachable");

    let token = "wrong-token-77aa55cc";
    let bad = connector_with(&cfg, token, settings_for(&sim));
    let err = bad.test_connection().await.unwrap_err();
    let ConnectorError::Auth(msg) = &err else {
        panic!("expected an auth error, got {err:?}");
    };
    assert!(msg.contains("401"), "{msg}");
    assert!(err.to_string().ends_with("re-authorize this connection"));
    for text in [err.to_string(), format!("{err:?}"), format!("{bad:?}")] {
        assert!(!text.contains(token), "token leaked: {text}");
    }
    // Auth errors are final: no retries.
    assert_eq!(Admin::of(&sim).stats().await["unauthorized"], 1);
}

#[tokio::test]
async fn revoked_token_is_an_auth_error_asking_to_reauthorize() {
    let cfg = config(3, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    c.test_connection().await.unwrap();
    let admin = Admin::of(&sim);
    admin.revoke_token().await;
    let err = c.products_page(&pages_of(10)).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err:?}");
    assert!(err.to_string().contains("re-authorize this connection"));
    assert!(!err.to_string().contains(&cfg.api_token));
    admin.restore_token().await;
    assert!(c.products_page(&pages_of(10)).await.is_ok());
}

#[tokio::test]
async fn listings_import_with_grades_stock_and_listing_errors() {
    let cfg = config(45, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let first = c.products_page(&pages_of(10)).await.unwrap();
    assert_eq!(first.items.len(), 10);
    assert_eq!(
        first.next.as_deref(),
        Some(first.items[9].external_id.as_str())
    );
    let (all, pages) = products(&c, pages_of(10)).await.unwrap();
    assert_eq!((all.len(), pages), (45, 5));

    let catalog = demo::catalog(cfg.seed, cfg.products);
    let offers = demo::offers(cfg.seed, &catalog);
    let by_sku: BTreeMap<_, _> = all.iter().map(|p| (p.sku.clone(), p)).collect();
    for o in &offers {
        let p = by_sku[&o.sku];
        assert_eq!(p.condition, o.grade, "{}: canonical grade", o.sku);
        assert_eq!(p.quantity, Some(o.quantity));
        assert_eq!(p.raw_price, o.price);
        assert_eq!(p.price.as_ref().unwrap().currency, "EUR");
        assert_eq!(p.title, catalog[o.product].name);
        match &o.listing_error {
            Some((code, message, _)) => {
                assert_eq!(p.listing_status, "error");
                assert_eq!(p.listing_errors.len(), 1);
                assert_eq!(p.listing_errors[0].code, *code);
                assert_eq!(p.listing_errors[0].message, *message);
                assert_eq!(p.listing_errors[0].severity, "error");
            }
            None => {
                assert_eq!(p.listing_status, "active");
                assert!(p.listing_errors.is_empty());
            }
        }
    }
    // Offers without a grade come through with an empty condition: the monitor flags them.
    let d = OfferDefects::of(&offers);
    assert!(d.missing_grade > 0);
    assert_eq!(
        all.iter().filter(|p| p.condition.is_empty()).count(),
        d.missing_grade
    );
    assert_eq!(
        all.iter().filter(|p| !p.listing_errors.is_empty()).count(),
        d.listing_errors
    );
    for p in &all {
        assert!(["", "premium", "excellent", "very_good", "good"].contains(&p.condition.as_str()));
    }

    // Stock: one level per offer, in the marketplace's warehouse.
    let levels = stock(&c, pages_of(20)).await.unwrap();
    assert_eq!(levels.len(), 45);
    for l in &levels {
        assert_eq!(l.warehouse, "refurbed");
        let o = offers.iter().find(|o| o.sku == l.sku).unwrap();
        assert_eq!((l.on_hand, l.available), (o.quantity, o.quantity));
    }

    // By sku.
    let q = ImportQuery {
        skus: vec![offers[3].sku.clone()],
        ..pages_of(10)
    };
    let one = c.products_page(&q).await.unwrap();
    assert_eq!(one.items.len(), 1);
    assert_eq!(one.items[0].sku, offers[3].sku);
    assert!(one.next.is_none());
}

#[tokio::test]
async fn page_limit_above_the_documented_maximum_is_refused_by_the_api() {
    let cfg = config(3, 0);
    let sim = start(cfg.clone()).await;
    init();
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/refb.merchant.v1.OfferService/ListOffers",
            sim.base_url()
        ))
        .header("Authorization", format!("Plain {}", cfg.api_token))
        .json(&json!({"pagination": {"limit": 101}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.headers().contains_key("x-ratelimit-remaining"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], 3);
    // The connector clamps to 100.
    let c = connector(&sim, &cfg);
    assert_eq!(
        c.products_page(&pages_of(500)).await.unwrap().items.len(),
        3
    );
}

#[tokio::test]
async fn orders_import_full_then_incremental_with_cancellations_and_refunds() {
    let cfg = config(20, 9);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let admin = Admin::of(&sim);

    let all = orders(&c, pages_of(4)).await.unwrap();
    assert_eq!(all.len(), 9);
    let mut ids: Vec<_> = all.iter().map(|o| o.external_id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 9, "no duplicates across pages");
    let demo_orders = demo::orders(cfg.seed, &demo::catalog(cfg.seed, cfg.products), 9);
    for (o, d) in all.iter().zip(&demo_orders) {
        let want = match d.status.as_str() {
            "pending" => order_status::AWAITING_ACCEPTANCE,
            "shipped" | "completed" => order_status::SHIPPED,
            "cancelled" => order_status::CANCELLED,
            _ => order_status::PROCESSING,
        };
        assert_eq!(o.status, want, "{}", o.external_id);
        let units: i64 = d.lines.iter().map(|l| l.quantity).sum();
        assert_eq!(o.lines.iter().map(|l| l.quantity).sum::<i64>(), units);
        assert!(o.shipping_address.is_some());
        assert_eq!(o.total.as_ref().unwrap().currency, "EUR");
        if want == order_status::SHIPPED {
            assert_eq!(o.shipments.len(), 1);
            assert_eq!(o.shipments[0].carrier, "DHL");
        }
    }

    // Incremental: nothing changed since now.
    let since = Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let q = ImportQuery {
        since: Some(since),
        ..pages_of(2)
    };
    assert!(orders(&c, q.clone()).await.unwrap().is_empty());

    // A new order, a cancellation and a refund: exactly those three come back.
    let catalog = demo::catalog(cfg.seed, cfg.products);
    let new_id = place_order(&admin, &catalog[0].sku, 2).await;
    let processing = all
        .iter()
        .find(|o| o.status == order_status::PROCESSING)
        .unwrap();
    let shipped = all
        .iter()
        .find(|o| o.status == order_status::SHIPPED)
        .unwrap();
    admin
        .post(
            &format!("/orders/{}/cancel", processing.external_id),
            json!({}),
        )
        .await;
    admin
        .post(
            &format!("/orders/{}/refund", shipped.external_id),
            json!({}),
        )
        .await;
    let changed = orders(&c, q).await.unwrap();
    let status: BTreeMap<_, _> = changed
        .iter()
        .map(|o| (o.external_id.clone(), o.status.clone()))
        .collect();
    assert_eq!(status.len(), 3, "{status:?}");
    assert_eq!(status[&new_id], order_status::AWAITING_ACCEPTANCE);
    assert_eq!(status[&processing.external_id], order_status::CANCELLED);
    assert_eq!(status[&shipped.external_id], order_status::REFUNDED);
    let new = changed.iter().find(|o| o.external_id == new_id).unwrap();
    assert_eq!(new.lines.len(), 1);
    assert_eq!(new.lines[0].quantity, 2, "two units, one line");

    // By id.
    let by_id = c
        .orders_page(&ImportQuery {
            ids: vec![new_id.clone()],
            ..pages_of(10)
        })
        .await
        .unwrap();
    assert_eq!(by_id.items.len(), 1);
}

#[tokio::test]
async fn acknowledge_accepts_new_orders_idempotently() {
    let cfg = config(10, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let admin = Admin::of(&sim);
    let sku = demo::catalog(cfg.seed, cfg.products)[2].sku.clone();
    let a = place_order(&admin, &sku, 3).await;
    let b = place_order(&admin, &sku, 1).await;
    assert_eq!(admin.get(&format!("/orders/{a}")).await["accepted"], false);

    let report = c
        .acknowledge_orders(&[a.clone(), b.clone(), "999".into()])
        .await
        .unwrap();
    assert_eq!(report.accepted, 2);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].0, "999");
    for id in [&a, &b] {
        let o = admin.get(&format!("/orders/{id}")).await;
        assert_eq!(o["accepted"], true);
        assert_eq!(o["status"], "ACCEPTED");
    }
    let imported = c
        .orders_page(&ImportQuery {
            ids: vec![a.clone()],
            ..pages_of(10)
        })
        .await
        .unwrap();
    assert_eq!(imported.items[0].status, order_status::PROCESSING);
    // Again: already accepted counts as accepted.
    let again = c
        .acknowledge_orders(std::slice::from_ref(&a))
        .await
        .unwrap();
    assert_eq!((again.accepted, again.rejected.len()), (1, 0));
    // A cancelled order cannot be accepted.
    let d = place_order(&admin, &sku, 1).await;
    admin.post(&format!("/orders/{d}/cancel"), json!({})).await;
    let r = c
        .acknowledge_orders(std::slice::from_ref(&d))
        .await
        .unwrap();
    assert_eq!(r.rejected.len(), 1);
}

#[tokio::test]
async fn shipment_export_sets_carrier_and_tracking_and_cancellations() {
    let cfg = config(10, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let admin = Admin::of(&sim);
    let sku = demo::catalog(cfg.seed, cfg.products)[1].sku.clone();
    let a = place_order(&admin, &sku, 2).await;
    let b = place_order(&admin, &sku, 1).await;
    c.acknowledge_orders(std::slice::from_ref(&a))
        .await
        .unwrap();

    let report = c
        .export_orders(&[
            OrderUpdate {
                external_id: a.clone(),
                status: Some(order_status::SHIPPED.into()),
                carrier: Some("UPS".into()),
                tracking_number: Some("1Z999AA10123456784".into()),
                lines: vec![],
            },
            // Not accepted yet: accepted then shipped.
            OrderUpdate {
                external_id: b.clone(),
                status: Some(order_status::SHIPPED.into()),
                carrier: Some("DHL".into()),
                tracking_number: Some("00340434161234567890".into()),
                lines: vec![],
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        (report.accepted, report.rejected.len()),
        (2, 0),
        "{report:?}"
    );
    let o = admin.get(&format!("/orders/{a}")).await;
    assert_eq!(o["status"], "SHIPPED");
    assert_eq!(
        o["shipments"],
        json!([{"carrier": "UPS", "tracking_number": "1Z999AA10123456784"}])
    );
    assert_eq!(
        o["items"][0]["parcel_tracking_url"],
        "https://www.ups.com/track?tracknum=1Z999AA10123456784"
    );
    let o = admin.get(&format!("/orders/{b}")).await;
    assert_eq!(o["shipments"][0]["carrier"], "DHL");

    // The import shows the shipment.
    let got = c
        .orders_page(&ImportQuery {
            ids: vec![a.clone()],
            ..pages_of(10)
        })
        .await
        .unwrap();
    let order = &got.items[0];
    assert_eq!(order.status, order_status::SHIPPED);
    assert_eq!(order.shipments.len(), 1);
    assert_eq!(order.shipments[0].tracking_number, "1Z999AA10123456784");
    assert_eq!(order.shipments[0].lines[0].quantity, 2);

    // Shipping again is a no-op; a shipment without tracking is refused before any call.
    let again = c
        .export_orders(&[OrderUpdate {
            external_id: a.clone(),
            status: Some(order_status::SHIPPED.into()),
            carrier: Some("UPS".into()),
            tracking_number: Some("1Z999AA10123456784".into()),
            lines: vec![],
        }])
        .await
        .unwrap();
    assert_eq!(again.accepted, 1);
    let d = place_order(&admin, &sku, 1).await;
    let no_tracking = c
        .export_orders(&[OrderUpdate {
            external_id: d.clone(),
            status: Some(order_status::SHIPPED.into()),
            carrier: Some("UPS".into()),
            tracking_number: None,
            lines: vec![],
        }])
        .await
        .unwrap();
    assert_eq!(no_tracking.rejected.len(), 1);

    // Seller cancellation: NEW items are rejected.
    let r = c
        .export_orders(&[OrderUpdate {
            external_id: d.clone(),
            status: Some(order_status::CANCELLED.into()),
            carrier: None,
            tracking_number: None,
            lines: vec![],
        }])
        .await
        .unwrap();
    assert_eq!(r.accepted, 1);
    assert_eq!(
        admin.get(&format!("/orders/{d}")).await["status"],
        "REJECTED"
    );
}

fn updates(offers: &[demo::DemoOffer], bump: i64) -> Vec<OfferUpdate> {
    offers
        .iter()
        .map(|o| OfferUpdate {
            sku: o.sku.clone(),
            external_id: String::new(),
            quantity: Some(o.quantity + bump),
            price: Some(Money {
                amount: "123.45".into(),
                currency: "EUR".into(),
            }),
        })
        .collect()
}

#[tokio::test]
async fn export_offers_in_batches_of_fifty_with_per_offer_refusals() {
    let cfg = config(120, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let admin = Admin::of(&sim);
    let offers = demo::offers(cfg.seed, &demo::catalog(cfg.seed, cfg.products));
    let mut ups = updates(&offers, 7);
    ups[5].price = Some(Money {
        amount: "19.999".into(),
        currency: "EUR".into(),
    });
    ups.push(OfferUpdate {
        sku: "NO-SUCH-SKU".into(),
        quantity: Some(1),
        ..OfferUpdate::default()
    });
    let report = c.export_offers(&ups).await.unwrap();
    assert_eq!(report.accepted, 119);
    let rejected: BTreeMap<_, _> = report.rejected.iter().cloned().collect();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(rejected[&offers[5].sku].contains("2 decimals"));
    assert!(rejected["NO-SUCH-SKU"].contains("not found"));

    let stats = admin.stats().await;
    assert_eq!(
        stats["largest_batch"], 50,
        "chunked at the documented maximum"
    );
    assert_eq!(
        stats["by_method"]["/refb.merchant.v1.OfferService/BatchUpdateOffers"],
        3
    );
    assert_eq!(stats["offers_applied_once"], 119);
    assert_eq!(stats["offers_applied_more"], 0);
    assert_eq!(stats["offers_never"], 1);
    let o = admin.get(&format!("/offers/{}", offers[0].sku)).await;
    assert_eq!(o["quantity"], offers[0].quantity + 7);
    assert_eq!(o["price"], "123.45");
    assert_eq!(o["updates"], 1);

    // Stock export goes through the same batch endpoint: one quantity per offer.
    let levels = vec![
        marketsync_proto::v1::StockLevel {
            sku: offers[1].sku.clone(),
            warehouse: "WH-EAST".into(),
            on_hand: 3,
            reserved: 0,
            available: 3,
        },
        marketsync_proto::v1::StockLevel {
            sku: offers[1].sku.clone(),
            warehouse: "WH-WEST".into(),
            on_hand: 4,
            reserved: 0,
            available: 4,
        },
    ];
    let r = c.export_stock(&levels).await.unwrap();
    assert_eq!(r.accepted, 1);
    assert_eq!(
        admin.get(&format!("/offers/{}", offers[1].sku)).await["quantity"],
        7
    );
    // Someone changes the quantity on the marketplace: the import sees it.
    admin
        .send(
            reqwest::Method::PUT,
            &format!("/offers/{}", offers[2].sku),
            Some(json!({"quantity": 2})),
        )
        .await;
    let p = c
        .products_page(&ImportQuery {
            skus: vec![offers[2].sku.clone()],
            ..pages_of(5)
        })
        .await
        .unwrap();
    assert_eq!(p.items[0].quantity, Some(2));
}

#[tokio::test]
async fn limits_are_kept_without_429s() {
    let cfg = SimConfig {
        rate_limit: 4,
        ..config(500, 0)
    };
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let admin = Admin::of(&sim);
    let offers = demo::offers(cfg.seed, &demo::catalog(cfg.seed, cfg.products));
    let started = Instant::now();
    let report = c.export_offers(&updates(&offers, 1)).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(report.accepted, 500);
    // 10 calls at 4 per second: at least two window resets.
    assert!(elapsed >= Duration::from_millis(1_000), "{elapsed:?}");
    assert!(elapsed < sim::export_floor(500, &cfg) + Duration::from_secs(2));
    let stats = admin.stats().await;
    assert_eq!(stats["rate_limited"], 0, "the connector paced itself");
    assert_eq!(stats["offers_applied_once"], 500);
}

#[tokio::test]
async fn injected_429_is_waited_out() {
    let cfg = config(5, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let admin = Admin::of(&sim);
    admin
        .fault(json!({"kind": "rate_limit", "count": 1, "reset_ms": 300}))
        .await;
    let started = Instant::now();
    c.test_connection().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(admin.stats().await["rate_limited"], 1);
}

#[tokio::test]
async fn server_errors_timeouts_and_malformed_answers_are_retried() {
    let cfg = config(12, 0);
    let sim = start(cfg.clone()).await;
    let settings = Settings {
        timeout_secs: Some(1),
        ..settings_for(&sim)
    };
    let c = connector_with(&cfg, &cfg.api_token, settings);
    let admin = Admin::of(&sim);
    admin
        .fault(json!({"kind": "status", "status": 503, "count": 1, "path_contains": "ListOffers"}))
        .await;
    admin
        .fault(json!({"kind": "malformed", "count": 1, "path_contains": "ListOffers"}))
        .await;
    admin
        .fault(
            json!({"kind": "timeout", "delay_ms": 1500, "count": 1, "path_contains": "ListOffers"}),
        )
        .await;
    let (all, _) = products(&c, pages_of(100)).await.unwrap();
    assert_eq!(all.len(), 12);
    assert_eq!(admin.stats().await["faults_injected"], 3);
    // Out of retries: a transient error.
    admin
        .fault(json!({"kind": "status", "status": 500, "count": 10}))
        .await;
    let err = c.test_connection().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[tokio::test]
async fn update_field_sets_price_only() {
    let cfg = config(4, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let admin = Admin::of(&sim);
    let sku = demo::catalog(cfg.seed, cfg.products)[0].sku.clone();
    let update = |field: &str, value: &str| FieldUpdate {
        external_id: String::new(),
        sku: sku.clone(),
        field: field.into(),
        value: value.into(),
    };
    c.update_field(&update("price", "88.10")).await.unwrap();
    assert_eq!(admin.get(&format!("/offers/{sku}")).await["price"], "88.10");
    let err = c.update_field(&update("title", "x")).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Unsupported(_)));
    let err = c.update_field(&update("price", "1.234")).await.unwrap_err();
    assert!(
        matches!(err, ConnectorError::Rejected { status: 400, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn secrets_are_absent_from_debug_logs_and_errors() {
    let cfg = config(3, 1);
    let sim = start(cfg.clone()).await;
    let settings = Settings {
        debug: Some(true),
        ..settings_for(&sim)
    };
    let c = connector_with(&cfg, &cfg.api_token, settings);
    let (capture, _guard) = crate::support::LogCapture::start();
    c.test_connection().await.unwrap();
    c.orders_page(&pages_of(5)).await.unwrap();
    Admin::of(&sim)
        .fault(json!({"kind": "status", "status": 503, "count": 1}))
        .await;
    c.products_page(&pages_of(5)).await.unwrap();
    let lines = capture.lines();
    assert!(
        lines.iter().any(|l| l.contains("http request")),
        "debug logging is on"
    );
    assert!(lines.iter().any(|l| l.contains("ListOffers")));
    for l in &lines {
        assert!(!l.contains(&cfg.api_token), "token in a log line: {l}");
    }
    assert!(!format!("{c:?}").contains(&cfg.api_token));
}

#[test]
fn registry_lists_refurbed_with_the_seed_credentials() {
    let info = marketsync_connectors::registry()
        .into_iter()
        .find(|p| p.id == "refurbed")
        .unwrap();
    let creds: Vec<_> = info
        .credentials
        .iter()
        .map(|f| (f.name.as_str(), f.secret, f.required))
        .collect();
    assert_eq!(
        creds,
        vec![("api_token", true, true), ("merchant_id", false, true)]
    );
    assert_eq!(info.kind, "marketplace");
    let built = marketsync_connectors::build(ConnectionConfig {
        platform: "refurbed".into(),
        credentials: Credentials::from_json(&json!({"api_token": "t", "merchant_id": "1"}))
            .unwrap(),
        settings: Settings::default(),
    })
    .unwrap();
    assert_eq!(built.platform(), "refurbed");
}

#[tokio::test]
async fn shipping_some_lines_is_a_partial_shipment() {
    let cfg = config(6, 0);
    let sim = start(cfg.clone()).await;
    let c = connector(&sim, &cfg);
    let admin = Admin::of(&sim);
    let sku = demo::catalog(cfg.seed, cfg.products)[3].sku.clone();
    let id = place_order(&admin, &sku, 3).await;
    c.acknowledge_orders(std::slice::from_ref(&id))
        .await
        .unwrap();
    let r = c
        .export_orders(&[OrderUpdate {
            external_id: id.clone(),
            status: Some(order_status::SHIPPED.into()),
            carrier: Some("GLS".into()),
            tracking_number: Some("GLS123".into()),
            lines: vec![(sku.clone(), 1)],
        }])
        .await
        .unwrap();
    assert_eq!(r.accepted, 1);
    let o = c
        .orders_page(&ImportQuery {
            ids: vec![id.clone()],
            ..pages_of(5)
        })
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(o.status, order_status::PARTIALLY_SHIPPED);
    assert_eq!(o.shipments[0].lines[0].quantity, 1);
    assert_eq!(o.lines[0].quantity, 3);
}

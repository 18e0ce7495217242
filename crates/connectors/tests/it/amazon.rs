//! The Amazon SP-API connector against the simulated seller account, over HTTP.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use marketsync_connectors::amazon::{self, Amazon};
use marketsync_connectors::{
    ConnectionConfig, Connector, ConnectorError, Credentials, FieldUpdate, ImportQuery,
    OfferUpdate, OrderUpdate, Settings,
};
use marketsync_proto::v1::Money;
use marketsync_simulators::amazon::{self as sim, RunningSimulator, SimConfig};
use serde_json::{Value, json};

use crate::support::{self, Admin};

/// Test defaults: documented limits on (rates ×`scale`), short feed processing.
fn config(scale: f64) -> SimConfig {
    SimConfig {
        limit_scale: scale,
        feed_base: Duration::from_millis(150),
        feed_per_message: Duration::ZERO,
        ..SimConfig::default()
    }
}

async fn start(cfg: SimConfig) -> RunningSimulator {
    support::init();
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    sim::start(addr, cfg).await.expect("simulator starts")
}

fn settings(s: &RunningSimulator) -> Settings {
    Settings {
        base_url: Some(s.base_url()),
        auth_url: Some(s.auth_url()),
        retry_attempts: Some(4),
        timeout_secs: Some(3),
        ..Settings::default()
    }
}

fn credentials(cfg: &SimConfig, refresh_token: &str) -> Credentials {
    Credentials::from_json(&json!({
        "client_id": cfg.client_id,
        "client_secret": cfg.client_secret,
        "refresh_token": refresh_token,
        "aws_access_key": "AKIAEXAMPLEKEY0001",
        "aws_secret_key": "aws-secret-key-never-used",
        "role_arn": "arn:aws:iam::123456789012:role/SellingPartner",
        "marketplace_id": cfg.marketplace_id,
        "seller_id": cfg.seller_id,
    }))
    .unwrap()
}

fn connector_with(cfg: &SimConfig, refresh_token: &str, settings: Settings) -> Amazon {
    Amazon::new(ConnectionConfig {
        platform: amazon::PLATFORM.into(),
        credentials: credentials(cfg, refresh_token),
        settings,
    })
    .expect("valid connection")
}

fn connector(s: &RunningSimulator, cfg: &SimConfig) -> Amazon {
    connector_with(cfg, &cfg.refresh_token, settings(s))
}

fn offer(sku: &str, quantity: i64, price: &str) -> OfferUpdate {
    OfferUpdate {
        sku: sku.into(),
        quantity: Some(quantity),
        price: Some(Money {
            amount: price.into(),
            currency: "USD".into(),
        }),
        ..OfferUpdate::default()
    }
}

#[tokio::test]
async fn test_connection_accepts_good_and_refuses_bad_credentials() {
    let cfg = config(1.0);
    let s = start(cfg.clone()).await;
    let msg = connector(&s, &cfg).test_connection().await.unwrap();
    assert!(msg.contains(&cfg.marketplace_id), "{msg}");
    let bad = connector_with(&cfg, "Atzr|wrong", settings(&s));
    let err = bad.test_connection().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err:?}");
    assert!(
        err.to_string().ends_with("re-authorize this connection"),
        "{err}"
    );
    assert!(!err.to_string().contains("Atzr|wrong"));
    // A revoked authorization (invalid_grant) is the same.
    let admin = Admin::of(&s);
    admin.revoke_token().await;
    let err = connector(&s, &cfg).test_connection().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Auth(_)), "{err:?}");
    admin.restore_token().await;
    assert!(connector(&s, &cfg).test_connection().await.is_ok());
}

#[tokio::test]
async fn platform_info_names_the_seed_credentials() {
    let info = amazon::platform_info();
    let names: Vec<_> = info.credentials.iter().map(|f| f.name.as_str()).collect();
    for n in [
        "client_id",
        "client_secret",
        "refresh_token",
        "aws_access_key",
        "aws_secret_key",
        "role_arn",
        "marketplace_id",
    ] {
        assert!(names.contains(&n), "{n} missing");
    }
    let secret: Vec<_> = info
        .credentials
        .iter()
        .filter(|f| f.secret)
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(
        secret,
        vec![
            "client_secret",
            "refresh_token",
            "aws_access_key",
            "aws_secret_key"
        ]
    );
    let aws = info
        .credentials
        .iter()
        .find(|f| f.name == "aws_access_key")
        .unwrap();
    assert!(aws.help.contains("not needed"));
    assert!(
        marketsync_connectors::registry()
            .iter()
            .any(|p| p.id == "amazon")
    );
}

#[tokio::test]
async fn listings_import_with_offer_fields_and_amazon_issues() {
    let cfg = SimConfig {
        products: 45,
        ..config(1.0)
    };
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let (products, pages) = support::products(&c, support::pages_of(20)).await.unwrap();
    assert_eq!(products.len(), 45);
    assert_eq!(pages, 3);
    let admin = Admin::of(&s);
    let amazon_issue = |p: &&marketsync_proto::v1::Product| {
        p.listing_errors
            .iter()
            .any(|e| e.code != amazon::schema::SCHEMA_VALIDATION)
    };
    let with_errors: Vec<_> = products.iter().filter(amazon_issue).collect();
    // demo::offers: 6% listing errors, rounded half up.
    assert_eq!(with_errors.len(), (45 * 6 + 50) / 100);
    for p in &with_errors {
        assert_eq!(p.listing_status, "error");
        let e = p
            .listing_errors
            .iter()
            .find(|e| e.code != amazon::schema::SCHEMA_VALIDATION)
            .unwrap();
        assert_eq!(e.severity, "error");
        assert!(!e.code.is_empty() && !e.message.is_empty() && !e.field.is_empty());
    }
    for p in &products {
        let stored = admin.get(&format!("/offers/{}", p.sku)).await;
        assert_eq!(p.quantity, stored["quantity"].as_i64());
        assert_eq!(p.raw_price, stored["price"].as_str().unwrap());
        assert_eq!(p.price.as_ref().unwrap().currency, "USD");
        assert_eq!(p.condition, "new");
        assert_eq!(p.product_type, "HOME");
        assert_eq!(p.title, stored["title"].as_str().unwrap());
        assert!(
            p.attributes
                .get("asin")
                .is_some_and(|a| a.starts_with("B0"))
        );
    }
    assert!(products.iter().any(|p| p.lead_time_days.is_none()));
    assert!(products.iter().any(|p| p.lead_time_days.is_some()));
    // By sku.
    let one = c
        .products_page(&ImportQuery {
            skus: vec![products[3].sku.clone()],
            ..ImportQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1);
    assert_eq!(one.items[0].sku, products[3].sku);
}

#[tokio::test]
async fn stock_from_fba_summaries_and_merchant_listings() {
    let cfg = SimConfig {
        products: 30,
        ..config(1.0)
    };
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let levels = support::stock(&c, support::pages_of(20)).await.unwrap();
    let fba: Vec<_> = levels.iter().filter(|l| l.warehouse == "FBA").collect();
    let mfn: Vec<_> = levels.iter().filter(|l| l.warehouse == "DEFAULT").collect();
    assert_eq!(mfn.len(), 30);
    assert_eq!(
        fba.len(),
        6,
        "every fifth listing is also fulfilled by Amazon"
    );
    let admin = Admin::of(&s);
    for l in &fba {
        let o = admin.get(&format!("/offers/{}", l.sku)).await;
        assert_eq!(Some(l.on_hand), o["fba_quantity"].as_i64());
        assert_eq!(l.available + l.reserved, l.on_hand);
    }
    for l in &mfn {
        let o = admin.get(&format!("/offers/{}", l.sku)).await;
        assert_eq!(Some(l.on_hand), o["quantity"].as_i64());
    }
}

#[tokio::test]
async fn orders_incremental_with_cancellations_and_paging() {
    // getOrders: burst 20 then 0.0167/s; the simulator reports the ×1000 rate in
    // x-amzn-RateLimit-Limit and the connector follows it.
    let cfg = SimConfig {
        orders: 30,
        ..config(1000.0)
    };
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let all = support::orders(&c, support::pages_of(1)).await.unwrap();
    assert_eq!(
        all.len(),
        30,
        "31 getOrders calls: more than the burst of 20"
    );
    let admin = Admin::of(&s);
    assert_eq!(admin.stats().await["rate_limited"], 0);
    for o in &all {
        assert!(!o.lines.is_empty());
        assert!(!o.created_at.is_empty() && !o.updated_at.is_empty());
        let stored = admin.order(&o.external_id).await;
        let want = match stored["status"].as_str().unwrap() {
            "Unshipped" => "processing",
            "Pending" | "PendingAvailability" => "pending",
            "Shipped" | "InvoiceUnconfirmed" => "shipped",
            "Canceled" => "cancelled",
            other => panic!("unexpected {other}"),
        };
        assert_eq!(o.status, want);
        assert!(o.total.is_some());
    }
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    let sku = {
        let p = c.products_page(&support::pages_of(1)).await.unwrap();
        p.items[0].sku.clone()
    };
    let new_id = admin
        .post("/orders", json!({"sku": sku, "quantity": 2}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let q = ImportQuery {
        since: Some(since),
        ..ImportQuery::default()
    };
    let fresh = support::orders(&c, q.clone()).await.unwrap();
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].external_id, new_id);
    assert_eq!(fresh[0].status, "processing");
    assert_eq!(fresh[0].lines[0].sku, sku);
    assert_eq!(fresh[0].lines[0].quantity, 2);
    // A cancellation is an update; a refund comes from the Finances API, after the orders.
    let old = all.iter().find(|o| o.status == "processing").unwrap();
    admin
        .post(&format!("/orders/{}/cancel", old.external_id), Value::Null)
        .await;
    admin
        .post(&format!("/orders/{}/refund", new_id), Value::Null)
        .await;
    let updated = support::orders(&c, q).await.unwrap();
    let cancelled = updated
        .iter()
        .find(|o| o.external_id == old.external_id)
        .unwrap();
    assert_eq!(cancelled.status, "cancelled");
    let refunded = updated.iter().rfind(|o| o.external_id == new_id).unwrap();
    assert_eq!(refunded.status, "refunded", "the last word on the order");
    // Acceptance: Amazon has none; every id is accepted.
    let ack = c
        .acknowledge_orders(&[new_id.clone(), old.external_id.clone()])
        .await
        .unwrap();
    assert_eq!(ack.accepted, 2);
    assert!(ack.rejected.is_empty());
}

#[tokio::test]
async fn orders_come_five_at_a_time_and_resume_after_the_last() {
    // A getOrders page of 12 orders is returned in parts of 5, each with only its own lines
    // read, so a sync commits (and the ledger learns of) the first sales while getOrderItems'
    // tokens for the others are awaited.
    let cfg = SimConfig {
        orders: 12,
        ..config(1000.0)
    };
    let s = start(cfg.clone()).await;
    let admin = Admin::of(&s);
    let c = connector(&s, &cfg);
    let calls = |stats: &Value, op: &str| stats["by_operation"][op].as_u64().unwrap_or(0);
    let first = c.orders_page(&support::pages_of(100)).await.unwrap();
    assert_eq!(first.items.len(), 5);
    let token = first.next.clone().unwrap();
    assert!(token.starts_with("after:"), "{token}");
    let stats = admin.stats().await;
    assert_eq!(
        (calls(&stats, "getOrders"), calls(&stats, "getOrderItems")),
        (1, 5),
        "{stats}"
    );
    let q = |page: &str| ImportQuery {
        page: Some(page.to_string()),
        ..support::pages_of(100)
    };
    let second = c.orders_page(&q(&token)).await.unwrap();
    let third = c
        .orders_page(&q(second.next.as_deref().unwrap()))
        .await
        .unwrap();
    assert_eq!((second.items.len(), third.items.len()), (5, 2));
    assert_eq!(third.next, None, "a full import reads no refunds");
    let stats = admin.stats().await;
    assert_eq!(
        (calls(&stats, "getOrders"), calls(&stats, "getOrderItems")),
        (1, 12),
        "the page is read once: {stats}"
    );
    let ids = |items: &[marketsync_proto::v1::Order]| -> Vec<String> {
        items.iter().map(|o| o.external_id.clone()).collect()
    };
    let mut all = ids(&first.items);
    all.extend(ids(&second.items));
    all.extend(ids(&third.items));
    let mut distinct = all.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 12);
    // A restarted process (a fresh connector) resumes from the same token: it reads the page
    // again and goes on after the same order.
    let fresh = connector(&s, &cfg);
    let resumed = fresh.orders_page(&q(&token)).await.unwrap();
    assert_eq!(ids(&resumed.items), all[5..10]);
    assert_eq!(resumed.next, second.next);
    // An order no longer on the page: from the page's start, nothing lost (orders read twice
    // are updates).
    let gone = fresh
        .orders_page(&q("after:111-0000000-0000000|"))
        .await
        .unwrap();
    assert_eq!(ids(&gone.items), all[..5]);
    // An incremental import still ends with the refund phase, after its last part.
    let since = chrono::Utc::now() - chrono::Duration::days(3650);
    let inc = ImportQuery {
        since: Some(since),
        ..support::pages_of(100)
    };
    let mut page = c.orders_page(&inc).await.unwrap();
    let mut parts = 1;
    while let Some(next) = page.next.clone().filter(|n| n.starts_with("after:")) {
        page = c
            .orders_page(&ImportQuery {
                page: Some(next),
                ..inc.clone()
            })
            .await
            .unwrap();
        parts += 1;
    }
    assert_eq!(parts, 3);
    assert_eq!(page.next.as_deref(), Some("refunds:"));
}

#[tokio::test]
async fn refunds_come_from_the_finances_api() {
    let cfg = SimConfig {
        orders: 8,
        ..config(1000.0)
    };
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let admin = Admin::of(&s);
    let all = support::orders(&c, support::pages_of(3)).await.unwrap();
    assert_eq!(all.len(), 8);
    // A full import reads no refunds.
    assert_eq!(
        admin.stats().await["by_operation"]["listFinancialEvents"],
        Value::Null
    );
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    let q = ImportQuery {
        since: Some(since),
        page_size: 1,
        ..ImportQuery::default()
    };
    // Nothing changed, nothing refunded: the refund phase runs and finds nothing.
    assert!(support::orders(&c, q.clone()).await.unwrap().is_empty());
    let target = all.iter().find(|o| o.status == "shipped").unwrap();
    let other = all.iter().find(|o| o.status == "processing").unwrap();
    let before = admin.order(&target.external_id).await["status"].clone();
    admin
        .post(
            &format!("/orders/{}/refund", target.external_id),
            Value::Null,
        )
        .await;
    admin
        .post(
            &format!("/orders/{}/refund", other.external_id),
            Value::Null,
        )
        .await;
    // Page by page (one refund event a page): every page token stays resumable.
    let mut page = c.orders_page(&q).await.unwrap();
    assert!(page.items.is_empty(), "no order updated since");
    let mut refunded = Vec::new();
    let mut tokens = Vec::new();
    while let Some(next) = page.next.clone() {
        assert!(next.starts_with("refunds:"), "{next}");
        tokens.push(next.clone());
        page = c
            .orders_page(&ImportQuery {
                page: Some(next),
                ..q.clone()
            })
            .await
            .unwrap();
        refunded.extend(page.items.clone());
    }
    let ids: Vec<&str> = refunded.iter().map(|o| o.external_id.as_str()).collect();
    assert_eq!(
        ids,
        [target.external_id.as_str(), other.external_id.as_str()]
    );
    assert!(
        refunded.iter().all(|o| o.status == "refunded"),
        "{refunded:?}"
    );
    assert_eq!(refunded[0].lines.len(), target.lines.len());
    // The second refund page again, from its token alone.
    let again = c
        .orders_page(&ImportQuery {
            page: Some(tokens[1].clone()),
            ..q.clone()
        })
        .await
        .unwrap();
    assert_eq!(again.items[0].external_id, other.external_id);
    // The Orders API status is unchanged; an import since after the refunds finds none.
    let after = admin.order(&target.external_id).await;
    assert_eq!(
        (&after["status"], &after["refunded"]),
        (&before, &json!(true))
    );
    let later = ImportQuery {
        since: Some(chrono::Utc::now() + chrono::Duration::minutes(3)),
        ..ImportQuery::default()
    };
    assert!(support::orders(&c, later).await.unwrap().is_empty());
    assert_eq!(admin.stats().await["rate_limited"], 0);
}

#[tokio::test]
async fn simulated_financial_events_page_filter_and_limit() {
    let cfg = SimConfig {
        orders: 4,
        ..config(1.0)
    };
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let admin = Admin::of(&s);
    let all = support::orders(&c, support::pages_of(100)).await.unwrap();
    let start = chrono::Utc::now() - chrono::Duration::seconds(1);
    for o in &all[..3] {
        admin
            .post(&format!("/orders/{}/refund", o.external_id), Value::Null)
            .await;
    }
    let http = reqwest::Client::new();
    let token: Value = http
        .post(s.auth_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=refresh_token&refresh_token={}&client_id={}&client_secret={}",
            cfg.refresh_token.replace('|', "%7C"),
            cfg.client_id,
            cfg.client_secret
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let url = format!("{}/finances/v0/financialEvents", s.base_url());
    let call = |q: Vec<(&'static str, String)>| {
        let req = http
            .get(&url)
            .header("x-amz-access-token", &token)
            .query(&q);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let after = ("PostedAfter", start.to_rfc3339());
    let mut ids = Vec::new();
    let (status, mut page) = call(vec![after.clone(), ("MaxResultsPerPage", "2".into())]).await;
    assert_eq!(status, 200, "{page}");
    loop {
        for e in page["payload"]["FinancialEvents"]["RefundEventList"]
            .as_array()
            .unwrap()
        {
            ids.push(e["AmazonOrderId"].as_str().unwrap().to_string());
            assert!(e["ShipmentItemAdjustmentList"][0]["QuantityShipped"].as_i64() > Some(0));
        }
        let Some(next) = page["payload"]["NextToken"].as_str() else {
            break;
        };
        let (status, p) = call(vec![("NextToken", next.to_string())]).await;
        assert_eq!(status, 200, "{p}");
        page = p;
    }
    let want: Vec<String> = all[..3].iter().map(|o| o.external_id.clone()).collect();
    assert_eq!(ids, want);
    // PostedBefore before the refunds: none; a bad range is refused.
    let (_, none) = call(vec![
        (
            "PostedAfter",
            (start - chrono::Duration::hours(1)).to_rfc3339(),
        ),
        ("PostedBefore", start.to_rfc3339()),
    ])
    .await;
    assert_eq!(
        none["payload"]["FinancialEvents"]["RefundEventList"],
        json!([])
    );
    let (status, _) = call(vec![
        ("PostedAfter", start.to_rfc3339()),
        ("PostedBefore", start.to_rfc3339()),
    ])
    .await;
    assert_eq!(status, 400);
    // 0.5 per second, burst 30: the 30-odd calls after those four meet a 429.
    let mut limited = false;
    for _ in 0..30 {
        let (status, body) = call(vec![after.clone()]).await;
        if status == 429 {
            assert_eq!(body["errors"][0]["code"], "QuotaExceeded");
            limited = true;
            break;
        }
    }
    assert!(limited);
}

#[tokio::test]
async fn shipment_confirmation_reaches_the_order() {
    let cfg = config(1.0);
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let admin = Admin::of(&s);
    let sku = c.products_page(&support::pages_of(1)).await.unwrap().items[0]
        .sku
        .clone();
    let id = admin
        .post("/orders", json!({"sku": sku, "quantity": 3}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let report = c
        .export_orders(&[
            OrderUpdate {
                external_id: id.clone(),
                status: Some("shipped".into()),
                carrier: Some("UPS".into()),
                tracking_number: Some("1Z999AA10123456784".into()),
                lines: Vec::new(),
            },
            OrderUpdate {
                external_id: id.clone(),
                status: Some("cancelled".into()),
                carrier: None,
                tracking_number: None,
                lines: Vec::new(),
            },
        ])
        .await
        .unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(report.rejected.len(), 1);
    let stored = admin.order(&id).await;
    assert_eq!(stored["status"], "Shipped");
    assert_eq!(stored["shipments"][0]["carrier"], "UPS");
    assert_eq!(
        stored["shipments"][0]["tracking_number"],
        "1Z999AA10123456784"
    );
    // Shipping it again: nothing is left to ship, refused for that order only.
    let again = c
        .export_orders(&[OrderUpdate {
            external_id: id.clone(),
            status: Some("shipped".into()),
            carrier: Some("UPS".into()),
            tracking_number: Some("1Z2".into()),
            lines: Vec::new(),
        }])
        .await
        .unwrap();
    assert_eq!(again.accepted, 0);
    assert_eq!(again.rejected.len(), 1);
}

#[tokio::test]
async fn export_offers_in_feeds_with_error_report() {
    let cfg = config(1.0);
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let admin = Admin::of(&s);
    let (products, _) = support::products(&c, support::pages_of(20)).await.unwrap();
    let mut offers: Vec<OfferUpdate> = products
        .iter()
        .take(10)
        .map(|p| offer(&p.sku, 7, "19.99"))
        .collect();
    offers.push(offer("NO-SUCH-SKU", 1, "5.00"));
    offers.push(offer(&products[10].sku, 3, "0"));
    let report = c.export_offers(&offers).await.unwrap();
    assert_eq!(report.accepted, 10);
    let mut rejected: Vec<_> = report.rejected.iter().map(|(k, _)| k.as_str()).collect();
    rejected.sort();
    let mut want = vec!["NO-SUCH-SKU", products[10].sku.as_str()];
    want.sort();
    assert_eq!(rejected, want);
    assert!(
        report
            .rejected
            .iter()
            .any(|(_, m)| m.contains("does not exist"))
    );
    for p in products.iter().take(10) {
        let o = admin.get(&format!("/offers/{}", p.sku)).await;
        assert_eq!(o["quantity"], 7);
        assert_eq!(o["price"], "19.99");
        assert_eq!(o["updates"], 1);
    }
    let feeds = admin.get("/feeds").await;
    assert_eq!(feeds.as_array().unwrap().len(), 1);
    assert_eq!(admin.stats().await["rate_limited"], 0);
}

#[tokio::test]
async fn a_few_offers_go_out_as_listing_patches_without_a_feed() {
    let cfg = config(1.0);
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let admin = Admin::of(&s);
    let (products, _) = support::products(&c, support::pages_of(5)).await.unwrap();
    let mut offers: Vec<OfferUpdate> = products
        .iter()
        .take(3)
        .map(|p| OfferUpdate {
            sku: p.sku.clone(),
            external_id: String::new(),
            quantity: Some(4),
            price: None,
        })
        .collect();
    offers.push(offer("NO-SUCH-SKU", 1, "5.00"));
    let report = c.export_offers(&offers).await.unwrap();
    assert_eq!(report.accepted, 3, "{report:?}");
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    assert_eq!(report.rejected[0].0, "NO-SUCH-SKU");
    for p in products.iter().take(3) {
        let o = admin.get(&format!("/offers/{}", p.sku)).await;
        assert_eq!(o["quantity"], 4, "{o}");
    }
    let feeds = admin.get("/feeds").await;
    assert_eq!(
        feeds.as_array().unwrap().len(),
        0,
        "no feed for a few offers"
    );
    assert_eq!(admin.stats().await["rate_limited"], 0);
}

#[tokio::test]
async fn export_offers_chunks_at_25000_messages() {
    let cfg = SimConfig {
        products: 25_003,
        orders: 0,
        ..config(1.0)
    };
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let catalog = marketsync_simulators::demo::catalog(cfg.seed, cfg.products);
    let offers: Vec<OfferUpdate> = catalog.iter().map(|p| offer(&p.sku, 4, "12.34")).collect();
    let report = c.export_offers(&offers).await.unwrap();
    assert_eq!(
        report.accepted,
        25_003,
        "{:?}",
        &report.rejected[..report.rejected.len().min(3)]
    );
    let admin = Admin::of(&s);
    let feeds = admin.get("/feeds").await;
    let mut sizes: Vec<u64> = feeds
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["messages"].as_u64().unwrap())
        .collect();
    sizes.sort();
    assert_eq!(sizes, vec![3, 25_000]);
    let stats = admin.stats().await;
    assert_eq!(stats["offers_applied_once"], 25_003);
    assert_eq!(stats["rate_limited"], 0);
}

#[tokio::test]
async fn update_field_previews_then_applies() {
    let cfg = config(1.0);
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let admin = Admin::of(&s);
    let p = c.products_page(&support::pages_of(1)).await.unwrap().items[0].clone();
    let update = |field: &str, value: &str| FieldUpdate {
        external_id: p.external_id.clone(),
        sku: p.sku.clone(),
        field: field.into(),
        value: value.into(),
    };
    c.update_field(&update("title", "A better title"))
        .await
        .unwrap();
    c.update_field(&update("price", "21.50")).await.unwrap();
    let o = admin.get(&format!("/offers/{}", p.sku)).await;
    assert_eq!(o["title"], "A better title");
    assert_eq!(o["price"], "21.50");
    // A missing attribute is written as the product type's attribute and read back.
    c.update_field(&update("attributes.color", "Navy Blue"))
        .await
        .unwrap();
    let read = c.products_page(&support::pages_of(1)).await.unwrap().items[0].clone();
    assert_eq!(read.sku, p.sku);
    assert_eq!(read.attributes["color"], "Navy Blue");
    let err = c
        .update_field(&update("title", "x".repeat(250).as_str()))
        .await
        .unwrap_err();
    match err {
        ConnectorError::Rejected { message, .. } => {
            assert!(message.contains("maximum length"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        admin.get(&format!("/offers/{}", p.sku)).await["title"],
        "A better title"
    );
    let err = c
        .update_field(&update("categories", "Home"))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Unsupported(_)));
    let stats = admin.stats().await;
    assert_eq!(
        stats["by_operation"]["patchListingsItem"], 7,
        "3 previews + 3 writes + 1 refused preview"
    );
}

#[tokio::test]
async fn limits_are_kept_and_injected_429_waited_out() {
    // Real rates: searchListingsItems 5/s burst 5: 12 pages take more than a second.
    let cfg = SimConfig {
        products: 12,
        ..config(1.0)
    };
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let admin = Admin::of(&s);
    let start_at = Instant::now();
    let (products, pages) = support::products(&c, support::pages_of(1)).await.unwrap();
    assert_eq!((products.len(), pages), (12, 12));
    assert!(start_at.elapsed() >= Duration::from_millis(1200));
    assert_eq!(admin.stats().await["rate_limited"], 0);
    admin
        .fault(json!({"kind": "rate_limit", "count": 2, "path_contains": "/listings/"}))
        .await;
    let p = c.products_page(&support::pages_of(5)).await.unwrap();
    assert_eq!(p.items.len(), 5);
    assert_eq!(admin.stats().await["rate_limited"], 2);
}

#[tokio::test]
async fn transient_failures_are_retried() {
    let cfg = config(1000.0);
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let admin = Admin::of(&s);
    admin
        .fault(json!({"kind": "status", "status": 503, "count": 2, "path_contains": "/orders/v0/orders"}))
        .await;
    assert_eq!(
        support::orders(&c, ImportQuery::default())
            .await
            .unwrap()
            .len(),
        12
    );
    admin
        .fault(json!({"kind": "malformed", "count": 1, "path_contains": "/orders/v0/orders"}))
        .await;
    assert_eq!(
        support::orders(&c, ImportQuery::default())
            .await
            .unwrap()
            .len(),
        12
    );
    admin
        .fault(
            json!({"kind": "timeout", "delay_ms": 4000, "count": 1, "path_contains": "/listings/"}),
        )
        .await;
    assert_eq!(
        c.products_page(&support::pages_of(3))
            .await
            .unwrap()
            .items
            .len(),
        3
    );
    admin
        .fault(json!({"kind": "status", "status": 500, "count": 10, "path_contains": "/fba/"}))
        .await;
    let err = c.stock_page(&ImportQuery::default()).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Transient(_)), "{err:?}");
}

#[tokio::test]
async fn expired_access_token_is_refreshed() {
    let cfg = config(1000.0);
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let admin = Admin::of(&s);
    c.products_page(&support::pages_of(2)).await.unwrap();
    c.products_page(&support::pages_of(2)).await.unwrap();
    assert_eq!(
        admin.stats().await["token_requests"],
        1,
        "the token is cached"
    );
    admin.post("/expire-tokens", Value::Null).await;
    c.products_page(&support::pages_of(2)).await.unwrap();
    let stats = admin.stats().await;
    assert_eq!(stats["token_requests"], 2);
    assert_eq!(stats["unauthorized"], 1);
    // Tokens that live shorter than the refresh margin are renewed before every call.
    let short = SimConfig {
        token_ttl: Duration::from_secs(1),
        ..config(1000.0)
    };
    let s2 = start(short.clone()).await;
    let c2 = connector(&s2, &short);
    c2.products_page(&support::pages_of(2)).await.unwrap();
    c2.products_page(&support::pages_of(2)).await.unwrap();
    let stats = Admin::of(&s2).stats().await;
    assert_eq!(stats["unauthorized"], 0);
    assert_eq!(
        stats["token_requests"], stats["requests"],
        "one fresh token per call"
    );
}

#[tokio::test]
async fn secrets_stay_out_of_errors_and_debug_logs() {
    let cfg = config(1000.0);
    let s = start(cfg.clone()).await;
    let (captured, _guard) = crate::support::LogCapture::start();
    let c = connector_with(
        &cfg,
        &cfg.refresh_token,
        Settings {
            debug: Some(true),
            ..settings(&s)
        },
    );
    c.products_page(&support::pages_of(2)).await.unwrap();
    c.export_offers(&[offer("NO-SUCH-SKU", 1, "1.00")])
        .await
        .unwrap();
    let admin = Admin::of(&s);
    admin
        .fault(json!({"kind": "status", "status": 500, "count": 10, "path_contains": "/listings/"}))
        .await;
    let err = c.products_page(&support::pages_of(2)).await.unwrap_err();
    let bad = connector_with(&cfg, "Atzr|refresh-secret-xyz", settings(&s));
    let auth = bad.test_connection().await.unwrap_err();
    let logs = captured.text();
    assert!(logs.contains("http request"), "debug logging is on");
    let texts = [logs, err.to_string(), auth.to_string(), format!("{c:?}")];
    for text in &texts {
        for secret in [
            cfg.client_secret.as_str(),
            cfg.refresh_token.as_str(),
            "Atzr|refresh-secret-xyz",
            "aws-secret-key-never-used",
            "Atza|sim-",
        ] {
            assert!(!text.contains(secret), "{secret} leaked in: {text}");
        }
    }
}

#[tokio::test]
async fn listings_are_checked_against_their_product_type_schema() {
    let cfg = SimConfig {
        products: 60,
        ..config(1.0)
    };
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let schema = c.product_type_schema("HOME").await.unwrap();
    assert_eq!(schema["type"], "object");
    let (products, _) = support::products(&c, support::pages_of(20)).await.unwrap();
    let admin = Admin::of(&s);
    let mut flagged = 0;
    for p in &products {
        let stored = admin.get(&format!("/offers/{}", p.sku)).await;
        let mut missing: Vec<&str> = ["brand", "description"]
            .into_iter()
            .filter(|k| stored[*k].as_str().unwrap_or_default().is_empty())
            .collect();
        if stored["weight"].as_f64().unwrap() <= 0.0 {
            missing.push("weight");
        }
        let schema_errors: Vec<_> = p
            .listing_errors
            .iter()
            .filter(|e| e.code == amazon::schema::SCHEMA_VALIDATION)
            .collect();
        assert_eq!(
            schema_errors.is_empty(),
            missing.is_empty(),
            "{}: {schema_errors:?} vs missing {missing:?}",
            p.sku
        );
        if !missing.is_empty() {
            flagged += 1;
            assert_eq!(p.listing_status, "error");
            assert!(schema_errors.iter().all(|e| e.severity == "error"));
        }
    }
    assert!(
        flagged > 0,
        "the demo catalog has listings without brand, description or weight"
    );
    // The definition is fetched once per product type (plus the explicit call above).
    let stats = admin.stats().await;
    assert_eq!(stats["by_operation"]["getDefinitionsProductType"], 2);
}

/// Every JSON_LISTINGS_FEED document the connector makes is valid against Amazon's published
/// feed schema (read from the shared specs at test time).
#[tokio::test]
async fn feed_documents_match_the_listings_feed_schema() {
    let path = crate::prism::shared_dir()
        .join("specs/amazon-sp-api/feeds-schemas/listings-feed-schema-v2.json");
    let schema: Value = serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap();
    let mut compiler = boon::Compiler::new();
    compiler
        .add_resource("urn:listings-feed-v2", schema)
        .unwrap();
    let mut schemas = boon::Schemas::new();
    let index = compiler
        .compile("urn:listings-feed-v2", &mut schemas)
        .unwrap();
    let variants = [
        offer("SKU-1", 5, "19.99"),
        OfferUpdate {
            sku: "SKU-2".into(),
            quantity: Some(0),
            ..OfferUpdate::default()
        },
        OfferUpdate {
            sku: "SKU/3 ü".into(),
            price: Some(Money {
                amount: "7".into(),
                currency: String::new(),
            }),
            ..OfferUpdate::default()
        },
    ];
    let refs: Vec<&OfferUpdate> = variants.iter().collect();
    let bytes = amazon::feed_document("A3DEMOSELLER01", "ATVPDKIKX0DER", "USD", &refs).unwrap();
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    if let Err(e) = schemas.validate(&doc, index) {
        panic!("feed document invalid: {e:#}\n{doc:#}");
    }
    assert_eq!(doc["messages"].as_array().unwrap().len(), 3);
    // And the documents the connector actually uploaded, read back from the simulator.
    let cfg = config(1.0);
    let s = start(cfg.clone()).await;
    let c = connector(&s, &cfg);
    let (products, _) = support::products(&c, support::pages_of(20)).await.unwrap();
    let offers: Vec<OfferUpdate> = products.iter().map(|p| offer(&p.sku, 2, "3.50")).collect();
    c.export_offers(&offers).await.unwrap();
    let uploaded = reqwest::get(format!("{}/documents", s.admin_url()))
        .await
        .unwrap()
        .json::<Vec<Value>>()
        .await
        .unwrap();
    assert_eq!(uploaded.len(), 1);
    for doc in &uploaded {
        if let Err(e) = schemas.validate(doc, index) {
            panic!("uploaded feed document invalid: {e:#}");
        }
    }
}

#[tokio::test]
async fn listings_are_created_with_put_after_a_validation_preview() {
    let cfg = config(1000.0);
    let s = start(cfg.clone()).await;
    let c = connector_with(&cfg, &cfg.refresh_token, settings(&s));
    let attrs = |name: &str| {
        json!({
            "item_name": [{"value": name, "marketplace_id": cfg.marketplace_id}],
            "brand": [{"value": "Acme", "marketplace_id": cfg.marketplace_id}],
            "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 4}],
        })
    };
    let (status, issues) = c
        .put_listing("NEW-SKU-1", "HOME", &attrs("A new daypack"), true)
        .await
        .unwrap();
    assert_eq!((status.as_str(), issues.len()), ("VALID", 0), "{issues:?}");
    let admin = Admin::of(&s);
    let absent = reqwest::get(format!("{}/offers/NEW-SKU-1", s.admin_url()))
        .await
        .unwrap()
        .status();
    assert_eq!(absent.as_u16(), 404, "a preview creates nothing");
    let (status, _) = c
        .put_listing("NEW-SKU-1", "HOME", &attrs("A new daypack"), false)
        .await
        .unwrap();
    assert_eq!(status, "ACCEPTED");
    let o = admin.get("/offers/NEW-SKU-1").await;
    assert_eq!(o["quantity"], 4, "{o}");
    assert_eq!(o["title"], "A new daypack", "{o}");
    let (status, issues) = c
        .put_listing("NEW-SKU-2", "HOME", &attrs(""), false)
        .await
        .unwrap();
    assert_eq!(status, "INVALID");
    assert!(issues[0].contains("item_name"), "{issues:?}");
}

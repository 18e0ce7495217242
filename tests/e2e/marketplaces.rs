//! The same flow for every marketplace, against its simulator, through the gateway: a
//! connection (credentials masked) and its test; a full sync that imports the listings with
//! the marketplace's own listing errors and its rule violations as issues, and the orders;
//! stock and price pushed in bulk over a change someone made on the marketplace; a new order
//! imported incrementally (once, however often the sync runs), accepted where the marketplace
//! wants acceptance, shipped with carrier and tracking; a cancellation and a refund imported
//! as order updates; and no secret in any log.

use std::time::Duration;

use marketsync_e2e::System;
use marketsync_simulators::demo;
use reqwest::Method;
use serde_json::{Value, json};

use crate::platforms::get_json;
use crate::{SYNC_TIMEOUT, pending};

/// One marketplace's case.
pub struct Market<'a> {
    pub platform: &'a str,
    pub credentials: Value,
    pub settings: Value,
    /// A credential value that must never come back or reach a log.
    pub secret: &'a str,
    /// `{base}/__admin` of its simulator.
    pub admin: String,
    /// Demo catalog the simulator lists (one offer per product) and its orders.
    pub products: usize,
    pub orders: usize,
    pub seed: u64,
    /// Whether the marketplace holds new orders until the seller accepts them.
    pub accepts: bool,
    /// Issue types (besides `listing_error`) and how many the demo offers must raise.
    pub issues: Vec<(&'a str, usize)>,
}

/// POSTs JSON to a simulator's admin API.
async fn admin_post(url: String, body: Value) -> anyhow::Result<Value> {
    let resp = reqwest::Client::new().post(&url).json(&body).send().await?;
    anyhow::ensure!(resp.status().is_success(), "POST {url}: {}", resp.status());
    Ok(resp.json().await.unwrap_or(Value::Null))
}

async fn admin_put(url: String, body: Value) -> anyhow::Result<()> {
    let resp = reqwest::Client::new().put(&url).json(&body).send().await?;
    anyhow::ensure!(resp.status().is_success(), "PUT {url}: {}", resp.status());
    Ok(())
}

async fn sync_ok(sys: &System, id: &str, body: Value) -> anyhow::Result<Value> {
    let sync = sys.sync(id, body.clone()).await?;
    let run = sys.wait_sync(&sync, SYNC_TIMEOUT).await?;
    anyhow::ensure!(
        run["status"] == "completed",
        "sync {body} did not complete: {run}\n{}",
        sys.log("connector")
    );
    Ok(run)
}

async fn order(sys: &System, id: &str, order: &str) -> anyhow::Result<Value> {
    sys.get(&format!("/api/v1/connections/{id}/orders/{order}"))
        .await
}

fn amount(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(f64::NAN),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

/// Runs the flow.
pub async fn marketplace_flow(sys: &System, m: Market<'_>) -> anyhow::Result<()> {
    let p = m.platform;
    let conn = sys
        .connect(p, p, m.credentials.clone(), m.settings.clone())
        .await?;
    let id = conn["id"].as_str().unwrap().to_string();
    assert!(
        !conn.to_string().contains(m.secret),
        "secret came back: {conn}"
    );
    let (s, t) = sys
        .api(
            Method::POST,
            &format!("/api/v1/connections/{id}/test"),
            Some(json!({})),
        )
        .await?;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["ok"], true, "{p}: {t}");

    // Full sync: listings, stock, orders.
    let run = sync_ok(sys, &id, json!({})).await?;
    assert_eq!(run["counts"]["products"], m.products as i64, "{p}: {run}");
    assert_eq!(run["counts"]["orders"], m.orders as i64, "{p}: {run}");
    let catalog = demo::catalog(m.seed, m.products);
    let offers = demo::offers(m.seed, &catalog);
    let defects = demo::OfferDefects::of(&offers);
    // A case may count listing errors itself (Amazon adds its schema's violations).
    let mut expected = m.issues.clone();
    if !expected.iter().any(|(t, _)| *t == "listing_error") {
        expected.push(("listing_error", defects.listing_errors));
    }
    for (t, n) in expected {
        sys.eventually(
            &format!("{n} {t} issues on {p}"),
            Duration::from_secs(60),
            || async {
                let found = pending(sys, t)
                    .await?
                    .into_iter()
                    .filter(|i| i["platform"] == p)
                    .count();
                Ok((found == n).then_some(()))
            },
        )
        .await?;
    }
    // No order is left waiting for acceptance.
    let waiting = sys
        .get(&format!(
            "/api/v1/connections/{id}/orders?status=awaiting_acceptance"
        ))
        .await?;
    assert_eq!(waiting["items"], json!([]), "{p}: {waiting}");

    // Someone changed a quantity on the marketplace: the bulk export puts ours back, with
    // the price, in one update.
    let offer = offers
        .iter()
        .find(|o| demo::decimals(&o.price) <= 2 && o.listing_error.is_none())
        .expect("a clean offer");
    let before = get_json(format!("{}/offers/{}", m.admin, offer.sku)).await?;
    admin_put(
        format!("{}/offers/{}", m.admin, offer.sku),
        json!({"quantity": 999}),
    )
    .await?;
    let run = sync_ok(
        sys,
        &id,
        json!({"operations": ["export_inventory"], "filters": {"skus": [offer.sku]}}),
    )
    .await?;
    assert_eq!(run["counts"]["stock_exported"], 1, "{p}: {run}");
    let after = get_json(format!("{}/offers/{}", m.admin, offer.sku)).await?;
    assert_eq!(after["quantity"], offer.quantity, "{p}: {after}");
    assert!(
        (amount(&after["price"]) - amount(&json!(offer.price))).abs() < 0.005,
        "{p}: {after}"
    );
    assert_eq!(
        after["updates"].as_i64().unwrap_or(0),
        before["updates"].as_i64().unwrap_or(0) + 1,
        "{p}: {after}"
    );

    // A new order: imported once however often the sync runs, accepted, shipped.
    let created = admin_post(
        format!("{}/orders", m.admin),
        json!({"sku": offer.sku, "quantity": 1}),
    )
    .await?;
    let oid = created["id"].as_str().expect("order id").to_string();
    let ops = json!({"operations": ["import_orders"]});
    let run = sync_ok(sys, &id, ops.clone()).await?;
    assert_eq!(run["counts"]["orders_new"], 1, "{p}: {run}");
    let run = sync_ok(sys, &id, ops.clone()).await?;
    assert_eq!(
        run["counts"]["orders_new"].as_i64().unwrap_or(0),
        0,
        "{p}: {run}"
    );
    let on_platform = get_json(format!("{}/orders/{oid}", m.admin)).await?;
    if m.accepts {
        assert_eq!(on_platform["accepted"], true, "{p}: {on_platform}");
    }
    let ours = order(sys, &id, &oid).await?;
    assert_ne!(
        ours["order"]["status"], "awaiting_acceptance",
        "{p}: {ours}"
    );
    assert_eq!(
        ours["order"]["lines"][0]["sku"],
        offer.sku.as_str(),
        "{p}: {ours}"
    );

    let (s, shipped) = sys
        .api(
            Method::POST,
            &format!("/api/v1/connections/{id}/orders/{oid}/shipments"),
            Some(json!({"carrier": "UPS", "tracking_number": "1Z999AA10123456784"})),
        )
        .await?;
    assert_eq!(s, 200, "{p}: {shipped}\n{}", sys.log("connector"));
    assert_eq!(
        shipped["order"]["order"]["status"], "shipped",
        "{p}: {shipped}"
    );
    let on_platform = get_json(format!("{}/orders/{oid}", m.admin)).await?;
    let shipments = on_platform["shipments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        shipments
            .iter()
            .any(|s| s["tracking_number"] == "1Z999AA10123456784"),
        "{p}: {on_platform}"
    );
    // The same shipment again is not sent twice.
    let (s, again) = sys
        .api(
            Method::POST,
            &format!("/api/v1/connections/{id}/orders/{oid}/shipments"),
            Some(json!({"carrier": "UPS", "tracking_number": "1Z999AA10123456784"})),
        )
        .await?;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["duplicate"], true, "{again}");

    // Cancelled and refunded on the marketplace: both come in as order updates.
    let second = admin_post(
        format!("{}/orders", m.admin),
        json!({"sku": offer.sku, "quantity": 1}),
    )
    .await?;
    let second = second["id"].as_str().unwrap().to_string();
    sync_ok(sys, &id, ops.clone()).await?;
    admin_post(format!("{}/orders/{second}/cancel", m.admin), json!({})).await?;
    admin_post(format!("{}/orders/{oid}/refund", m.admin), json!({})).await?;
    let run = sync_ok(sys, &id, ops.clone()).await?;
    assert_eq!(
        run["counts"]["orders_new"].as_i64().unwrap_or(0),
        0,
        "{p}: {run}"
    );
    assert_eq!(
        order(sys, &id, &second).await?["order"]["status"],
        "cancelled",
        "{p}"
    );
    assert_eq!(
        order(sys, &id, &oid).await?["order"]["status"],
        "refunded",
        "{p}"
    );

    let logs = sys.all_logs();
    assert!(
        !logs.contains(m.secret),
        "secret in logs under {}",
        sys.log_dir().display()
    );
    Ok(())
}

/// A marketplace flow test for a simulator in `marketsync_simulators::$p`:
/// `|cfg, base| (credentials json, settings json)`, the `SimConfig` field holding the secret,
/// whether orders need acceptance, the marketplace-rule issues as `|cat, offers| vec![…]`, and
/// optionally `config { field: value, … }` for the simulator (limits scaled for a test).
macro_rules! market_test {
    ($name:ident, $p:ident, |$cfg:ident, $base:ident| $conn:expr, $secret:ident, $accepts:expr,
     |$defects:ident, $offers:ident| $issues:expr $(, config { $($f:ident : $v:expr),* })?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() -> anyhow::Result<()> {
            use marketsync_simulators::$p::{self, SimConfig};
            let $cfg = SimConfig {
                products: 30,
                orders: 3,
                seed: 5,
                $($($f: $v,)*)?
                ..SimConfig::default()
            };
            let sys = crate::platforms::system(concat!("mp-", stringify!($p))).await?;
            let sim = $p::start("127.0.0.1:0".parse()?, $cfg.clone()).await?;
            let $base = sim.base_url();
            let (credentials, settings): (Value, Value) = $conn;
            let catalog = demo::catalog($cfg.seed, $cfg.products);
            let $defects = demo::DefectCounts::of(&catalog);
            let $offers = demo::OfferDefects::of(&demo::offers($cfg.seed, &catalog));
            let _ = (&$defects, &$offers);
            let market = Market {
                platform: stringify!($p),
                credentials,
                settings,
                secret: &$cfg.$secret,
                admin: sim.admin_url(),
                products: $cfg.products,
                orders: $cfg.orders,
                seed: $cfg.seed,
                accepts: $accepts,
                issues: $issues,
            };
            marketplace_flow(&sys, market).await?;
            sys.stop().await;
            sim.stop().await;
            Ok(())
        }
    };
}

market_test!(
    refurbed_flow,
    refurbed,
    |cfg, base| (
        json!({"api_token": cfg.api_token, "merchant_id": cfg.merchant_id}),
        json!({"base_url": base})
    ),
    api_token,
    true,
    |_catalog, offers| vec![("invalid_grade", offers.missing_grade)]
);

market_test!(
    backmarket_flow,
    backmarket,
    |cfg, base| (
        json!({"api_key": cfg.api_key, "api_secret": cfg.api_secret, "seller_id": cfg.seller_id}),
        json!({"base_url": base})
    ),
    api_secret,
    true,
    |_catalog, offers| vec![("invalid_grade", offers.missing_grade)]
);

market_test!(
    ebay_flow,
    ebay,
    |cfg, base| (
        json!({"client_id": cfg.client_id, "client_secret": cfg.client_secret,
               "refresh_token": cfg.refresh_token, "environment": "sandbox",
               "verification_token": "e2e-verification-token-0123456789abcdef"}),
        json!({"base_url": base})
    ),
    refresh_token,
    false,
    |_catalog, offers| vec![("missing_return_policy", offers.missing_return_policy)]
);

/// eBay checks a notification endpoint with a GET before it delivers there: the gateway
/// answers with the hash of the code, the connection's verification token and the endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ebay_endpoint_challenge_is_answered() -> anyhow::Result<()> {
    use marketsync_simulators::ebay::{self, SimConfig};
    let cfg = SimConfig {
        products: 3,
        orders: 0,
        ..SimConfig::default()
    };
    let sys = crate::platforms::system("mp-ebay-challenge").await?;
    let sim = ebay::start("127.0.0.1:0".parse()?, cfg.clone()).await?;
    let token = "e2e-verification-token-0123456789abcdef";
    let conn = sys
        .connect(
            "ebay",
            "ebay-challenge",
            json!({"client_id": cfg.client_id, "client_secret": cfg.client_secret,
                   "refresh_token": cfg.refresh_token, "environment": "sandbox",
                   "verification_token": token}),
            json!({"base_url": sim.base_url()}),
        )
        .await?;
    let id = conn["id"].as_str().unwrap();
    let path = format!("/api/v1/webhooks/{id}");
    let resp = reqwest::get(format!(
        "{}{path}?challenge_code=a8628072-3d33-45ee",
        sys.gateway
    ))
    .await?;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await?;
    let host = sys.gateway.trim_start_matches("http://");
    let expected = marketsync_connectors::ebay::challenge_response(
        "a8628072-3d33-45ee",
        token,
        &format!("http://{host}{path}"),
    );
    assert_eq!(body["challengeResponse"], expected.as_str(), "{body}");
    // Without a code it is not a challenge.
    let resp = reqwest::get(format!("{}{path}", sys.gateway)).await?;
    assert_eq!(resp.status(), 400);
    assert!(
        !sys.all_logs().contains(token),
        "verification token in the logs"
    );
    sys.stop().await;
    sim.stop().await;
    Ok(())
}

market_test!(
    cdiscount_flow,
    cdiscount,
    |cfg, base| (
        json!({"api_key": cfg.client_id, "api_token": cfg.client_secret,
               "seller_login": cfg.seller_id}),
        json!({"base_url": base})
    ),
    client_secret,
    true,
    |_catalog, _offers| vec![]
);

market_test!(
    mirakl_flow,
    mirakl,
    |cfg, base| (
        json!({"api_url": base, "api_key": cfg.api_key, "shop_id": cfg.shop_id.to_string()}),
        // Mirakl's once-a-minute polls, scaled to once every 2 s on both sides.
        json!({"rate_limit_window_ms": 2000})
    ),
    api_key,
    true,
    |_catalog, offers| vec![("invalid_lead_time", offers.missing_lead_time)],
    config {
        interval: Duration::from_secs(2)
    }
);

market_test!(
    amazon_flow,
    amazon,
    |cfg, base| (
        json!({"client_id": cfg.client_id, "client_secret": cfg.client_secret,
               "refresh_token": cfg.refresh_token, "marketplace_id": cfg.marketplace_id,
               "seller_id": cfg.seller_id,
               "aws_access_key": "AKIAEXAMPLE", "aws_secret_key": "e2e-aws-secret-not-used",
               "role_arn": "arn:aws:iam::123456789012:role/sp"}),
        json!({"base_url": base, "auth_url": format!("{base}/auth/o2/token")})
    ),
    refresh_token,
    false,
    |catalog, _offers| {
        // Amazon's own issues, and the product type schema's violations (brand, description
        // and a positive weight are required by the simulator's HOME schema).
        let cat = demo::catalog(cfg.seed, cfg.products);
        let offers = demo::offers(cfg.seed, &cat);
        let listing_errors = offers
            .iter()
            .zip(&cat)
            .filter(|(o, p)| {
                o.listing_error.is_some()
                    || p.brand.is_empty()
                    || p.description.is_empty()
                    || p.weight <= 0.0
            })
            .count();
        vec![
            ("missing_brand", catalog.missing_brand),
            ("listing_error", listing_errors),
        ]
    }
);

//! Conformance of the Amazon connector and simulator to Amazon's SP-API models
//! (`../shared/specs/amazon-sp-api/`, read at test time): one `prism proxy --errors` per model,
//! each API family of the connector (`settings.api_urls`) pointed at its proxy, the simulator
//! behind them. Every request and response is validated; the test fails on any violation.
//! The models declare no security scheme, so the LWA token endpoint and the pre-signed
//! document URLs (not SP-API) go to the simulator directly.

use std::time::Duration;

use chrono::Utc;
use marketsync_connectors::amazon::{self, Amazon};
use marketsync_connectors::{
    ConnectionConfig, Connector, Credentials, FieldUpdate, ImportQuery, OfferUpdate, OrderUpdate,
    Settings,
};
use marketsync_proto::v1::Money;
use marketsync_simulators::amazon::SimConfig;
use serde_json::json;

use crate::prism::{Prism, prism_binary, shared_dir};
use crate::support::{self, Admin};

/// API family → the model that covers it.
const FAMILIES: [(&str, &str); 5] = [
    ("orders", "ordersV0.json"),
    ("listings", "listingsItems_2021-08-01.json"),
    ("fba_inventory", "fbaInventory.json"),
    ("feeds", "feeds_2021-06-30.json"),
    ("definitions", "definitionsProductTypes_2020-09-01.json"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amazon_conforms_to_the_sp_api_models() {
    let bin = prism_binary();
    let specs = shared_dir().join("specs/amazon-sp-api");
    assert!(
        specs.is_dir(),
        "vendor specs not found at {} (the shared directory beside the workspace)",
        specs.display()
    );
    support::init();
    let cfg = SimConfig {
        products: 23,
        orders: 7,
        seed: 11,
        limit_scale: 1000.0,
        feed_base: Duration::from_millis(100),
        feed_per_message: Duration::ZERO,
        ..SimConfig::default()
    };
    let sim = marketsync_simulators::amazon::start("127.0.0.1:0".parse().unwrap(), cfg.clone())
        .await
        .unwrap();
    let prisms = futures::future::join_all(FAMILIES.iter().map(|(_, file)| {
        let spec = specs.join(file);
        let bin = bin.clone();
        let upstream = sim.base_url();
        async move { Prism::start(&bin, &spec, &upstream).await }
    }))
    .await;
    let mut settings = Settings {
        base_url: Some(sim.base_url()),
        auth_url: Some(sim.auth_url()),
        retry_attempts: Some(2),
        timeout_secs: Some(30),
        ..Settings::default()
    };
    for ((family, _), prism) in FAMILIES.iter().zip(&prisms) {
        settings.api_urls.insert((*family).to_string(), prism.url());
    }
    let c = Amazon::new(ConnectionConfig {
        platform: amazon::PLATFORM.into(),
        credentials: Credentials::from_json(&json!({
            "client_id": cfg.client_id,
            "client_secret": cfg.client_secret,
            "refresh_token": cfg.refresh_token,
            "marketplace_id": cfg.marketplace_id,
            "seller_id": cfg.seller_id,
        }))
        .unwrap(),
        settings,
    })
    .unwrap();
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
    let since = Utc::now() - chrono::Duration::seconds(2);
    check!("test_connection", c.test_connection().await);
    let products = check!(
        "listings",
        support::products(&c, support::pages_of(10)).await
    )
    .map(|(p, _)| p)
    .unwrap_or_default();
    assert_eq!(products.len(), 23, "{failures:?}");
    check!(
        "listings by sku",
        c.products_page(&ImportQuery {
            skus: vec![products[1].sku.clone()],
            ..ImportQuery::default()
        })
        .await
    );
    check!("stock", support::stock(&c, support::pages_of(10)).await);
    check!("orders", support::orders(&c, support::pages_of(3)).await);
    let admin = Admin::of(&sim);
    let id = admin
        .post("/orders", json!({"sku": products[0].sku, "quantity": 2}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let fresh = check!(
        "orders since",
        support::orders(
            &c,
            ImportQuery {
                since: Some(since),
                ..ImportQuery::default()
            }
        )
        .await
    )
    .unwrap_or_default();
    assert_eq!(fresh.len(), 1, "{failures:?}");
    check!(
        "acknowledge",
        c.acknowledge_orders(std::slice::from_ref(&id)).await
    );
    check!(
        "shipment",
        c.export_orders(&[OrderUpdate {
            external_id: id.clone(),
            status: Some("shipped".into()),
            carrier: Some("UPS".into()),
            tracking_number: Some("1Z999AA10123456784".into()),
            lines: Vec::new(),
        }])
        .await
    );
    assert_eq!(admin.order(&id).await["status"], "Shipped", "{failures:?}");
    // A refund: its order read again by id (getOrders AmazonOrderIds) through the orders
    // proxy. The Finances API has no model among the shared specs: it goes to the simulator.
    admin
        .post(&format!("/orders/{id}/refund"), serde_json::Value::Null)
        .await;
    let updates = check!(
        "orders since, with refunds",
        support::orders(
            &c,
            ImportQuery {
                since: Some(since),
                ..ImportQuery::default()
            }
        )
        .await
    )
    .unwrap_or_default();
    assert_eq!(
        updates
            .last()
            .map(|o| (o.external_id.as_str(), o.status.as_str())),
        Some((id.as_str(), "refunded")),
        "{failures:?}"
    );
    check!(
        "update title",
        c.update_field(&FieldUpdate {
            external_id: products[2].external_id.clone(),
            sku: products[2].sku.clone(),
            field: "title".into(),
            value: "Conformant title".into(),
        })
        .await
    );
    check!(
        "put listing (preview, then real)",
        async {
            let attrs = serde_json::json!({
                "item_name": [{"value": "Conformant new listing", "marketplace_id": "ATVPDKIKX0DER"}],
                "brand": [{"value": "Acme", "marketplace_id": "ATVPDKIKX0DER"}],
            });
            c.put_listing("PRISM-NEW-1", "HOME", &attrs, true).await?;
            c.put_listing("PRISM-NEW-1", "HOME", &attrs, false).await
        }
        .await
    );
    let offers: Vec<OfferUpdate> = products
        .iter()
        .map(|p| OfferUpdate {
            sku: p.sku.clone(),
            quantity: Some(4),
            price: Some(Money {
                amount: "9.99".into(),
                currency: "USD".into(),
            }),
            ..OfferUpdate::default()
        })
        .collect();
    let report = check!("export offers", c.export_offers(&offers).await);
    if let Some(r) = report {
        assert_eq!(r.accepted, 23, "{:?}", r.rejected);
    }
    let problems: Vec<String> = prisms.iter().flat_map(Prism::problems).collect();
    for (p, (family, _)) in prisms.iter().zip(FAMILIES) {
        assert!(p.forwarded() > 0, "nothing went through the {family} proxy");
    }
    assert!(
        failures.is_empty() && problems.is_empty(),
        "failures: {failures:#?}\nviolations: {problems:#?}"
    );
    // The proxies do validate: a page size out of the model is refused.
    let refused = reqwest::Client::new()
        .get(format!(
            "{}/listings/2021-08-01/items/{}",
            prisms[1].url(),
            cfg.seller_id
        ))
        .query(&[
            ("marketplaceIds", cfg.marketplace_id.as_str()),
            ("pageSize", "500"),
        ])
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_client_error(), "{}", refused.status());
    let headers = format!("{:?}", refused.headers());
    let body = refused.text().await.unwrap();
    assert!(
        headers.contains("sl-violations") || body.contains("must be <= 20"),
        "{headers} {body}"
    );
}

//! The same flow for every platform, against its simulator: a connection (credentials masked),
//! its test, a full sync, one issue per defect of the demo catalog, and an approved correction
//! pushed back to the platform and visible there.

use std::future::Future;
use std::time::Duration;

use marketsync_e2e::System;
use marketsync_simulators::demo;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{SYNC_TIMEOUT, pending};

/// GETs a JSON document (a simulator's admin view).
pub async fn get_json(url: String) -> anyhow::Result<Value> {
    let resp = reqwest::get(&url).await?;
    anyhow::ensure!(resp.status().is_success(), "GET {url}: {}", resp.status());
    Ok(resp.json().await?)
}

/// One platform's case.
pub struct Case<'a> {
    pub platform: &'a str,
    pub credentials: Value,
    pub settings: Value,
    /// A credential value that must never come back or reach a log.
    pub secret: &'a str,
    /// Whether the platform has webhooks (PrestaShop and OpenCart have none).
    pub webhooks: bool,
    /// Demo catalog the simulator serves.
    pub products: usize,
    pub seed: u64,
}

/// Runs the flow; `on_platform(sku)` reads the product as the simulator holds it.
pub async fn channel_flow<F, Fut>(
    sys: &System,
    case: Case<'_>,
    on_platform: F,
) -> anyhow::Result<()>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = anyhow::Result<Value>>,
{
    let conn = sys
        .connect(
            case.platform,
            case.platform,
            case.credentials,
            case.settings,
        )
        .await?;
    let id = conn["id"].as_str().unwrap().to_string();
    assert!(
        !conn.to_string().contains(case.secret),
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
    assert_eq!(t["ok"], true, "{}: {t}", case.platform);

    let sync = sys.sync(&id, json!({})).await?;
    let run = sys.wait_sync(&sync, SYNC_TIMEOUT).await?;
    assert_eq!(
        run["status"],
        "completed",
        "{run}\n{}",
        sys.log("connector")
    );
    assert_eq!(run["counts"]["products"], case.products as i64, "{run}");

    let expected = demo::DefectCounts::of(&demo::catalog(case.seed, case.products));
    for (t, n) in [
        ("missing_description", expected.missing_description),
        ("missing_brand", expected.missing_brand),
        ("missing_category", expected.missing_category),
        ("invalid_weight", expected.invalid_weight),
        ("price_format", expected.bad_price),
    ] {
        sys.eventually(
            &format!("{n} {t} issues on {}", case.platform),
            Duration::from_secs(60),
            || async {
                let p: Vec<Value> = pending(sys, t)
                    .await?
                    .into_iter()
                    .filter(|i| i["platform"] == case.platform)
                    .collect();
                Ok((p.len() == n).then_some(()))
            },
        )
        .await?;
    }

    // Webhooks, registered through the gateway at its own per-connection URL.
    let (s, reg) = sys
        .api(
            Method::POST,
            &format!("/api/v1/connections/{id}/webhooks"),
            Some(json!({ "url": format!("{}/api/v1/webhooks/{id}", sys.gateway) })),
        )
        .await?;
    if case.webhooks {
        assert_eq!(s, 200, "{}: {reg}", case.platform);
        assert!(!reg["topics"].as_array().unwrap().is_empty(), "{reg}");
    } else {
        assert_eq!(s, 409, "{}: {reg}", case.platform);
    }
    let syncs_before = sys.get(&format!("/api/v1/connections/{id}/syncs")).await?["items"]
        .as_array()
        .map_or(0, Vec::len);

    // Approve one missing description: the suggestion reaches the platform.
    let issue = pending(sys, "missing_description")
        .await?
        .into_iter()
        .find(|i| i["platform"] == case.platform)
        .expect("a missing description");
    let sku = issue["sku"].as_str().unwrap().to_string();
    let value = issue["suggestions"][0]["value"]
        .as_str()
        .expect("a suggestion")
        .to_string();
    // Words of the suggested text, whatever markup or escaping the platform stores it in.
    let words: String = value
        .split(['<', '>'])
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(" ");
    let probe: Vec<&str> = words
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 3)
        .take(4)
        .collect();
    assert!(!probe.is_empty(), "suggestion without words: {value}");
    let before = on_platform(sku.clone()).await?.to_string();
    assert!(
        !probe.iter().all(|w| before.contains(w)),
        "the platform already holds the suggestion: {before}"
    );
    let (s, d) = sys
        .api(
            Method::POST,
            &format!("/api/v1/issues/{}/decision", issue["id"].as_str().unwrap()),
            Some(json!({"decision": "approved"})),
        )
        .await?;
    assert_eq!(s, 200, "{d}");
    sys.eventually(
        &format!("the approved description on {}", case.platform),
        Duration::from_secs(60),
        || async {
            let now = on_platform(sku.clone()).await?.to_string();
            Ok(probe.iter().all(|w| now.contains(w)).then_some(()))
        },
    )
    .await?;
    if case.webhooks {
        // The platform notifies the change the correction made: a webhook-started sync reads
        // the product back.
        sys.eventually(
            &format!("a webhook-started sync on {}", case.platform),
            Duration::from_secs(60),
            || async {
                let runs = sys.get(&format!("/api/v1/connections/{id}/syncs")).await?;
                let runs = runs["items"].as_array().cloned().unwrap_or_default();
                Ok((runs.len() > syncs_before
                    && runs.iter().take(runs.len() - syncs_before).any(|r| {
                        r["status"] == "completed" && r["counts"]["products"].as_i64() >= Some(1)
                    }))
                .then_some(()))
            },
        )
        .await?;
        assert!(
            !sys.log("connector").contains("webhook rejected"),
            "a genuine delivery was rejected:\n{}",
            sys.log("connector")
        );
    }
    let corrections = sys.get("/api/v1/corrections").await?;
    let c = corrections["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["sku"] == sku.as_str())
        .cloned()
        .expect("correction listed");
    assert_eq!(c["status"], "applied", "{c}");

    let logs = sys.all_logs();
    assert!(
        !logs.contains(case.secret),
        "secret in logs under {}",
        sys.log_dir().display()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bigcommerce_flow() -> anyhow::Result<()> {
    use marketsync_simulators::bigcommerce::SimConfig;
    let cfg = SimConfig {
        products: 30,
        orders: 3,
        seed: 5,
        ..SimConfig::default()
    };
    let sys = System::start("pf-bigcommerce", cfg.clone()).await?;
    let case = Case {
        platform: "bigcommerce",
        credentials: json!({"store_hash": sys.store_hash, "access_token": sys.sim_token,
                            "client_id": "pf", "client_secret": "pf-secret-value-991"}),
        settings: json!({"base_url": sys.sim.base_url()}),
        secret: "pf-secret-value-991",
        webhooks: true,
        products: cfg.products,
        seed: cfg.seed,
    };
    let admin = sys.sim.admin_url();
    channel_flow(&sys, case, |sku| {
        get_json(format!("{admin}/products/{sku}"))
    })
    .await?;
    sys.stop().await;
    Ok(())
}

/// A System whose own BigCommerce store is tiny (the platform under test brings its own).
pub async fn system(name: &str) -> anyhow::Result<System> {
    use marketsync_simulators::bigcommerce::SimConfig;
    System::start(
        name,
        SimConfig {
            products: 1,
            orders: 0,
            ..SimConfig::default()
        },
    )
    .await
}

/// A channel-flow test for a platform whose simulator lives in `marketsync_simulators::$p`:
/// `|cfg, base| json!(credentials)` and the credential that must stay secret.
macro_rules! flow_test {
    ($name:ident, $p:ident, |$cfg:ident, $base:ident| $creds:expr, $secret:ident, $hooks:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() -> anyhow::Result<()> {
            use marketsync_simulators::$p::{self, SimConfig};
            let $cfg = SimConfig {
                products: 30,
                orders: 3,
                seed: 5,
                ..SimConfig::default()
            };
            let sys = system(concat!("pf-", stringify!($p))).await?;
            let sim = $p::start("127.0.0.1:0".parse()?, $cfg.clone()).await?;
            let $base = sim.base_url();
            let case = Case {
                platform: stringify!($p),
                credentials: $creds,
                settings: json!({ "base_url": $base }),
                secret: &$cfg.$secret,
                webhooks: $hooks,
                products: $cfg.products,
                seed: $cfg.seed,
            };
            let admin = sim.admin_url();
            channel_flow(&sys, case, |sku| get_json(format!("{admin}/products/{sku}"))).await?;
            sys.stop().await;
            sim.stop().await;
            Ok(())
        }
    };
}

flow_test!(
    opencart_flow,
    opencart,
    |cfg, base| json!({
        "store_url": base, "api_username": cfg.api_username, "api_key": cfg.api_key
    }),
    api_key,
    false
);
flow_test!(
    shopify_flow,
    shopify,
    |cfg, base| json!({
        "shop_domain": cfg.shop_domain, "access_token": cfg.access_token,
        "api_key": "pf-api-key", "api_secret": cfg.api_secret
    }),
    access_token,
    true
);
flow_test!(
    woocommerce_flow,
    woocommerce,
    |cfg, base| json!({
        "store_url": base, "consumer_key": cfg.consumer_key, "consumer_secret": cfg.consumer_secret
    }),
    consumer_secret,
    true
);
flow_test!(
    prestashop_flow,
    prestashop,
    |cfg, base| json!({
        "store_url": base, "webservice_key": cfg.webservice_key
    }),
    webservice_key,
    false
);
flow_test!(
    magento_flow,
    magento,
    |cfg, base| json!({
        "store_url": base, "access_token": cfg.access_token,
        "consumer_key": cfg.consumer_key, "consumer_secret": cfg.consumer_secret,
        "webhook_secret": cfg.webhook_secret
    }),
    access_token,
    true
);

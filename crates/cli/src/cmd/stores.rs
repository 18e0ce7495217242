//! The demo stores: one simulator per platform, each with the connection the demo tenant gets.

use std::net::{IpAddr, SocketAddr};

use anyhow::Context;
use futures::future::BoxFuture;
use marketsync_simulators::{
    amazon, backmarket, bigcommerce, cdiscount, ebay, magento, mirakl, opencart, prestashop,
    refurbed, shopify, woocommerce,
};
use serde_json::{Value, json};

use super::simulators::{DEMO_BIGCOMMERCE_CLIENT_ID, DEMO_BIGCOMMERCE_CLIENT_SECRET, reachable};

/// Every platform with a simulator: (id, name). Their ports are `cli::SimPorts`.
pub const PLATFORMS: &[(&str, &str)] = &[
    ("bigcommerce", "BigCommerce"),
    ("shopify", "Shopify"),
    ("woocommerce", "WooCommerce"),
    ("magento", "Magento"),
    ("prestashop", "PrestaShop"),
    ("opencart", "OpenCart"),
    ("amazon", "Amazon SP-API"),
    ("ebay", "eBay"),
    ("mirakl", "Mirakl"),
    ("cdiscount", "CDiscount"),
    ("backmarket", "Back Market"),
    ("refurbed", "Refurbed"),
];

/// A running simulated store and the connection that reaches it.
pub struct DemoStore {
    /// Platform id.
    pub platform: &'static str,
    /// Platform name.
    pub name: &'static str,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The connection's credentials (seed names).
    pub credentials: Value,
    /// The connection's settings.
    pub settings: Value,
    /// Products it holds.
    pub products: usize,
    stop: Option<Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>>,
}

impl DemoStore {
    /// Name of the demo connection to it.
    pub fn connection_name(&self) -> String {
        format!("demo-{}", self.platform)
    }

    /// Stops the simulator.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            stop().await;
        }
    }

    /// What an operator needs to point a connection at it, one line each.
    pub fn describe(&self) -> String {
        let url = format!("http://{}", reachable(self.addr));
        let mut out = format!(
            "{} simulator: {url}  ({} products)\n  base_url:      {url}\n",
            self.name, self.products
        );
        if let Some(creds) = self.credentials.as_object() {
            for (k, v) in creds {
                out.push_str(&format!("  {k:<14} {}\n", v.as_str().unwrap_or_default()));
            }
        }
        out.push_str(&format!("  faults:        {url}/__admin\n"));
        out
    }
}

/// Demo size and seed shared by the stores.
#[derive(Debug, Clone, Copy, Default)]
pub struct Demo {
    /// Products per store (default: each simulator's own).
    pub products: Option<usize>,
    /// Seed of the demo data.
    pub seed: Option<u64>,
}

macro_rules! sized {
    ($config:expr, $demo:expr) => {{
        let mut c = $config;
        if let Some(n) = $demo.products {
            c.products = n;
        }
        if let Some(s) = $demo.seed {
            c.seed = s;
        }
        c
    }};
}

/// Starts the simulator of `platform` on `listen:port` (port 0: a free one).
pub async fn start(
    platform: &str,
    listen: IpAddr,
    port: u16,
    demo: Demo,
) -> anyhow::Result<DemoStore> {
    let addr = SocketAddr::new(listen, port);
    let name = PLATFORMS
        .iter()
        .find(|(id, _)| *id == platform)
        .map(|(_, n)| *n)
        .ok_or_else(|| anyhow::anyhow!("no simulator for platform `{platform}`"))?;
    let fail = || format!("cannot start the {name} simulator on {addr}");
    macro_rules! store {
        ($platform:literal, $sim:expr, $products:expr, $creds:expr) => {
            store!($platform, $sim, $products, $creds, json!({ "base_url": "{base}" }))
        };
        // `{base}` in a credential or setting value (whole or in part) becomes the
        // simulator's URL, e.g. `"auth_url": "{base}/auth/o2/token"`.
        ($platform:literal, $sim:expr, $products:expr, $creds:expr, $settings:expr) => {{
            let sim = $sim.await.with_context(fail)?;
            let addr = sim.addr;
            let base = format!("http://{}", reachable(addr));
            let fill = |mut value: Value| {
                if let Some(o) = value.as_object_mut() {
                    for v in o.values_mut() {
                        if let Some(s) = v.as_str().filter(|s| s.contains("{base}")) {
                            *v = Value::String(s.replace("{base}", &base));
                        }
                    }
                }
                value
            };
            let credentials = fill($creds);
            DemoStore {
                platform: $platform,
                name,
                addr,
                credentials,
                settings: fill($settings),
                products: $products,
                stop: Some(Box::new(move || Box::pin(async move { sim.stop().await }))),
            }
        }};
    }
    Ok(match platform {
        "bigcommerce" => {
            let c = sized!(bigcommerce::SimConfig::default(), demo);
            let (n, creds) = (
                c.products,
                json!({"store_hash": c.store_hash, "access_token": c.access_token,
                       "client_id": DEMO_BIGCOMMERCE_CLIENT_ID,
                       "client_secret": DEMO_BIGCOMMERCE_CLIENT_SECRET}),
            );
            store!("bigcommerce", bigcommerce::start(addr, c), n, creds)
        }
        "shopify" => {
            let c = sized!(shopify::SimConfig::default(), demo);
            let (n, creds) = (
                c.products,
                json!({"shop_domain": c.shop_domain, "access_token": c.access_token,
                       "api_key": "demo-api-key", "api_secret": c.api_secret}),
            );
            store!("shopify", shopify::start(addr, c), n, creds)
        }
        "woocommerce" => {
            let c = sized!(woocommerce::SimConfig::default(), demo);
            let (n, creds) = (
                c.products,
                json!({"store_url": "{base}", "consumer_key": c.consumer_key,
                       "consumer_secret": c.consumer_secret}),
            );
            store!("woocommerce", woocommerce::start(addr, c), n, creds)
        }
        "magento" => {
            let c = sized!(magento::SimConfig::default(), demo);
            let (n, creds) = (
                c.products,
                json!({"store_url": "{base}", "access_token": c.access_token,
                       "consumer_key": c.consumer_key, "consumer_secret": c.consumer_secret,
                       "webhook_secret": c.webhook_secret}),
            );
            // Magento itself has no rate limit; the edge in front of it (Adobe Commerce
            // Cloud) has, and the connection is told the one the simulator's edge keeps.
            let settings = json!({"base_url": "{base}",
                "rate_limit_requests": c.rate_limit_requests,
                "rate_limit_window_ms": c.rate_limit_window_ms});
            store!("magento", magento::start(addr, c), n, creds, settings)
        }
        "prestashop" => {
            let c = sized!(prestashop::SimConfig::default(), demo);
            let (n, creds) = (
                c.products,
                json!({"store_url": "{base}", "webservice_key": c.webservice_key}),
            );
            store!("prestashop", prestashop::start(addr, c), n, creds)
        }
        "opencart" => {
            let c = sized!(opencart::SimConfig::default(), demo);
            let (n, creds) = (
                c.products,
                json!({"store_url": "{base}", "api_username": c.api_username,
                       "api_key": c.api_key}),
            );
            store!("opencart", opencart::start(addr, c), n, creds)
        }
        "amazon" => {
            let c = sized!(amazon::SimConfig::default(), demo);
            let (n, creds) = (
                c.products,
                json!({"client_id": c.client_id, "client_secret": c.client_secret,
                       "refresh_token": c.refresh_token, "marketplace_id": c.marketplace_id,
                       "seller_id": c.seller_id}),
            );
            store!(
                "amazon",
                amazon::start(addr, c),
                n,
                creds,
                json!({"base_url": "{base}", "auth_url": "{base}/auth/o2/token"})
            )
        }
        "ebay" => {
            let c = sized!(ebay::SimConfig::default(), demo);
            let (n, creds) = (
                c.products,
                json!({"client_id": c.client_id, "client_secret": c.client_secret,
                       "refresh_token": c.refresh_token, "environment": "sandbox",
                       "verification_token": "marketsync-demo-verification-token-0123456789"}),
            );
            store!("ebay", ebay::start(addr, c), n, creds)
        }
        "mirakl" => {
            let c = sized!(mirakl::SimConfig::default(), demo);
            let (n, creds) = (
                c.products,
                json!({"api_url": "{base}", "api_key": c.api_key,
                       "shop_id": c.shop_id.to_string()}),
            );
            store!("mirakl", mirakl::start(addr, c), n, creds)
        }
        "cdiscount" => {
            let c = sized!(cdiscount::SimConfig::default(), demo);
            let (n, creds) = (
                c.products,
                json!({"api_key": c.client_id, "api_token": c.client_secret,
                       "seller_login": c.seller_id}),
            );
            store!("cdiscount", cdiscount::start(addr, c), n, creds)
        }
        "backmarket" => {
            let c = sized!(backmarket::SimConfig::default(), demo);
            let (n, creds) = (
                c.products,
                json!({"api_key": c.api_key, "api_secret": c.api_secret,
                       "seller_id": c.seller_id}),
            );
            store!("backmarket", backmarket::start(addr, c), n, creds)
        }
        "refurbed" => {
            let c = sized!(refurbed::SimConfig::default(), demo);
            let (n, creds) = (
                c.products,
                json!({"api_token": c.api_token, "merchant_id": c.merchant_id}),
            );
            store!("refurbed", refurbed::start(addr, c), n, creds)
        }
        other => anyhow::bail!("no simulator for platform `{other}`"),
    })
}

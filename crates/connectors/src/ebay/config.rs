//! Connection configuration of an eBay seller account: credentials, API base URLs per family,
//! the call budgets, page and batch sizes.

use std::time::Duration;

use crate::{ConnectionConfig, ConnectorError, HttpPolicy, Result};

/// Production API host.
pub const PRODUCTION_API_URL: &str = "https://api.ebay.com";
/// Sandbox API host.
pub const SANDBOX_API_URL: &str = "https://api.sandbox.ebay.com";
/// Path of the OAuth token endpoint (under the API host).
pub const TOKEN_PATH: &str = "/identity/v1/oauth2/token";
/// OAuth scopes the connector asks for (the seed's).
pub const SCOPES: [&str; 3] = [
    "https://api.ebay.com/oauth/api_scope/sell.inventory",
    "https://api.ebay.com/oauth/api_scope/sell.fulfillment",
    "https://api.ebay.com/oauth/api_scope/sell.account",
];
/// Scope of an application token (client credentials grant), for the Notification API.
pub const APP_SCOPE: &str = "https://api.ebay.com/oauth/api_scope";
/// Documented maximum of requests in one bulkUpdatePriceQuantity or
/// bulkCreateOrReplaceInventoryItem call.
pub const MAX_BULK: usize = 25;
/// Documented maximum `limit` of getOrders.
pub const MAX_ORDERS_LIMIT: u32 = 200;
/// Documented maximum `limit` of getInventoryItems (the API caps it at 200).
pub const MAX_ITEMS_LIMIT: u32 = 200;
/// Default page size.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Documented daily call limit of the Sell Inventory API.
pub const INVENTORY_CALLS_PER_DAY: u32 = 2_000_000;
/// Documented daily call limit of the Sell Fulfillment API.
pub const FULFILLMENT_CALLS_PER_DAY: u32 = 100_000;
/// Documented daily call limit of the Sell Account API.
pub const ACCOUNT_CALLS_PER_DAY: u32 = 25_000;
/// Documented daily call limit of the Commerce Notification API.
pub const NOTIFICATION_CALLS_PER_DAY: u32 = 10_000;
/// ASSUMPTION (module docs): a daily budget is spent no faster than evenly over the day, with
/// this many seconds' worth of calls as a burst.
pub const BURST_SECONDS: u32 = 60;
/// Bulk calls kept in flight at once by `export_offers` (the budget, not this, sets the pace).
pub const BULK_CONCURRENCY: usize = 8;

/// API families whose base URL `settings.api_urls` may override (full base, nothing
/// appended): `inventory` (`/inventory_item`, `/offer`, `/bulk_update_price_quantity`),
/// `fulfillment` (`/order`), `account` (`/return_policy`), `notification` (`/public_key`,
/// `/destination`, `/subscription`, `/topic`).
pub const API_FAMILIES: [&str; 4] = ["inventory", "fulfillment", "account", "notification"];

/// Base URL of every API family, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrls {
    /// Sell Inventory API (`{host}/sell/inventory/v1`).
    pub inventory: String,
    /// Sell Fulfillment API (`{host}/sell/fulfillment/v1`).
    pub fulfillment: String,
    /// Sell Account API (`{host}/sell/account/v1`).
    pub account: String,
    /// Commerce Notification API (`{host}/commerce/notification/v1`).
    pub notification: String,
}

/// A daily call budget paced as a token bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Calls per second on average.
    pub rate: f64,
    /// Calls at once.
    pub burst: u32,
}

impl Pace {
    /// The pace of a daily budget (module docs, assumptions).
    pub fn daily(calls: u32) -> Self {
        let rate = f64::from(calls) / 86_400.0;
        Self {
            rate,
            burst: ((rate * f64::from(BURST_SECONDS)).floor() as u32).max(1),
        }
    }
}

/// Everything the eBay connector needs, validated.
#[derive(Clone)]
pub struct EbayConfig {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) refresh_token: String,
    /// `production` or `sandbox`.
    pub environment: String,
    /// Token of the notification destination (the challenge handshake), if configured.
    pub(crate) verification_token: Option<String>,
    /// OAuth token endpoint.
    pub token_url: String,
    /// Base URLs per API family.
    pub urls: ApiUrls,
    /// eBay marketplace of the offers (`X-EBAY-C-MARKETPLACE-ID`, `marketplace_id`).
    pub marketplace_id: String,
    /// `Content-Language` of catalog writes.
    pub content_language: String,
    /// Default page size.
    pub page_size: u32,
    /// Budget of the Inventory API.
    pub inventory_pace: Pace,
    /// Budget of the Fulfillment API.
    pub fulfillment_pace: Pace,
    /// Budget of the Account API.
    pub account_pace: Pace,
    /// Budget of the Notification API.
    pub notification_pace: Pace,
    /// Timeouts, retries, debug logging.
    pub policy: HttpPolicy,
    /// Every credential value, for redaction.
    pub(crate) secrets: Vec<String>,
}

impl std::fmt::Debug for EbayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EbayConfig")
            .field("client_id", &"[redacted]")
            .field("environment", &self.environment)
            .field("token_url", &self.token_url)
            .field("urls", &self.urls)
            .field("marketplace_id", &self.marketplace_id)
            .field("page_size", &self.page_size)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn check_url(name: &str, url: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ConnectorError::Config(format!(
            "{name} must be an http:// or https:// URL"
        )));
    }
    Ok(url.to_string())
}

impl EbayConfig {
    /// Reads and validates a connection's credentials and settings.
    pub fn from_connection(config: &ConnectionConfig) -> Result<Self> {
        let creds = &config.credentials;
        let settings = &config.settings;
        let client_id = creds.require("client_id")?.trim().to_string();
        let client_secret = creds.require("client_secret")?.trim().to_string();
        let refresh_token = creds.require("refresh_token")?.trim().to_string();
        let environment = creds
            .get("environment")
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| "production".into());
        let host = match environment.as_str() {
            "production" => PRODUCTION_API_URL,
            "sandbox" => SANDBOX_API_URL,
            other => {
                return Err(ConnectorError::Config(format!(
                    "credential `environment` must be `production` or `sandbox`, not `{other}`"
                )));
            }
        };
        let base = match settings.base_url.as_deref() {
            Some(u) => check_url("settings.base_url", u)?,
            None => host.to_string(),
        };
        // The token endpoint lives on the API host; a base_url (sandbox proxy, simulator)
        // moves it along unless auth_url says otherwise.
        let token_url = match settings.auth_url.as_deref() {
            Some(u) => check_url("settings.auth_url", u)?,
            None => format!("{base}{TOKEN_PATH}"),
        };
        if let Some(unknown) = settings
            .api_urls
            .keys()
            .find(|k| !API_FAMILIES.contains(&k.as_str()))
        {
            return Err(ConnectorError::Config(format!(
                "settings.api_urls: unknown API family `{unknown}` (known: {})",
                API_FAMILIES.join(", ")
            )));
        }
        let family = |name: &str, path: &str| -> Result<String> {
            match settings.api_urls.get(name) {
                Some(u) => check_url(&format!("settings.api_urls.{name}"), u),
                None => Ok(format!("{base}{path}")),
            }
        };
        let urls = ApiUrls {
            inventory: family("inventory", "/sell/inventory/v1")?,
            fulfillment: family("fulfillment", "/sell/fulfillment/v1")?,
            account: family("account", "/sell/account/v1")?,
            notification: family("notification", "/commerce/notification/v1")?,
        };
        let marketplace_id = creds
            .get("marketplace_id")
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .unwrap_or("EBAY_US")
            .to_string();
        let page_size = settings
            .batch_size
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, MAX_ORDERS_LIMIT);
        // rate_limit_requests/window_ms override the Inventory API budget (the one bulk
        // exports spend); the others keep eBay's documented daily limits.
        let inventory_pace = match (settings.rate_limit_requests, settings.rate_limit_window_ms) {
            (Some(n), window) => {
                let window = Duration::from_millis(window.unwrap_or(1000).max(1));
                Pace {
                    rate: f64::from(n.max(1)) / window.as_secs_f64(),
                    burst: n.max(1),
                }
            }
            (None, _) => Pace::daily(INVENTORY_CALLS_PER_DAY),
        };
        let verification_token = creds
            .get("verification_token")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        Ok(Self {
            secrets: creds.values().map(str::to_string).collect(),
            client_id,
            client_secret,
            refresh_token,
            environment,
            verification_token,
            token_url,
            urls,
            marketplace_id,
            content_language: "en-US".into(),
            page_size,
            inventory_pace,
            fulfillment_pace: Pace::daily(FULFILLMENT_CALLS_PER_DAY),
            account_pace: Pace::daily(ACCOUNT_CALLS_PER_DAY),
            notification_pace: Pace::daily(NOTIFICATION_CALLS_PER_DAY),
            policy: settings.http_policy(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Credentials, Settings};

    fn conn(creds: serde_json::Value, settings: Settings) -> ConnectionConfig {
        ConnectionConfig {
            platform: "ebay".into(),
            credentials: Credentials::from_json(&creds).expect("object"),
            settings,
        }
    }

    #[test]
    fn environment_picks_the_hosts() {
        let c = EbayConfig::from_connection(&conn(
            serde_json::json!({"client_id":"a","client_secret":"b","refresh_token":"c","environment":"sandbox"}),
            Settings::default(),
        ))
        .expect("valid");
        assert_eq!(
            c.token_url,
            "https://api.sandbox.ebay.com/identity/v1/oauth2/token"
        );
        assert_eq!(
            c.urls.inventory,
            "https://api.sandbox.ebay.com/sell/inventory/v1"
        );
        let p = EbayConfig::from_connection(&conn(
            serde_json::json!({"client_id":"a","client_secret":"b","refresh_token":"c"}),
            Settings::default(),
        ))
        .expect("valid");
        assert_eq!(p.token_url, "https://api.ebay.com/identity/v1/oauth2/token");
        let bad = EbayConfig::from_connection(&conn(
            serde_json::json!({"client_id":"a","client_secret":"b","refresh_token":"c","environment":"moon"}),
            Settings::default(),
        ));
        assert!(matches!(bad, Err(ConnectorError::Config(_))));
    }

    #[test]
    fn daily_budget_pace() {
        let p = Pace::daily(INVENTORY_CALLS_PER_DAY);
        assert!((p.rate - 23.148).abs() < 0.01);
        assert_eq!(p.burst, 1388);
    }
}

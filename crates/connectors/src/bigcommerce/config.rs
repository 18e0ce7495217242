//! Connection configuration of a BigCommerce store: credentials, API base URLs per family,
//! rate-limit budget, page sizes.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::{ConnectionConfig, ConnectorError, HttpPolicy, Result};

/// Production API host; `settings.base_url` replaces it.
pub const DEFAULT_API_URL: &str = "https://api.bigcommerce.com";
/// Requests per window of BigCommerce Standard plans.
pub const DEFAULT_RATE_LIMIT_REQUESTS: u32 = 150;
/// Rate-limit window of BigCommerce, in milliseconds.
pub const DEFAULT_RATE_LIMIT_WINDOW_MS: u64 = 30_000;
/// Documented maximum of items per inventory adjustment request.
pub const MAX_ADJUSTMENT_ITEMS: usize = 2000;
/// Documented maximum `limit` of catalog lists and of V2 order lists.
pub const MAX_PAGE_SIZE: u32 = 250;
/// Documented maximum `limit` of inventory item lists.
pub const MAX_INVENTORY_PAGE_SIZE: u32 = 1000;
/// Default page size when neither the query nor `settings.batch_size` sets one.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// API families whose base URL `settings.api_urls` may override, each with a full base URL
/// (nothing appended): `catalog` (products), `categories` and `brands` (default: `catalog`),
/// `inventory` (items, adjustments), `locations` (default: `inventory`), `orders_v2`.
pub const API_FAMILIES: [&str; 7] = [
    "catalog",
    "hooks",
    "categories",
    "brands",
    "inventory",
    "locations",
    "orders_v2",
];

/// Base URL of every API family, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrls {
    /// `/catalog/products` lives under this base.
    pub catalog: String,
    /// `/catalog/categories`.
    pub categories: String,
    /// `/catalog/brands`.
    pub brands: String,
    /// `/inventory/items`, `/inventory/adjustments/...`.
    pub inventory: String,
    /// `/inventory/locations`.
    pub locations: String,
    /// V2 `/orders...`.
    pub orders_v2: String,
    /// `/hooks` (webhook subscriptions).
    pub hooks: String,
}

/// Everything the BigCommerce connector needs, validated.
#[derive(Clone)]
pub struct BigCommerceConfig {
    /// Store hash (the `{store_hash}` of the API paths).
    pub store_hash: String,
    pub(crate) access_token: String,
    /// What webhook subscriptions carry in their `X-Marketsync-Webhook-Token` header (derived
    /// from the client secret, else the access token; BigCommerce does not sign payloads).
    pub(crate) webhook_token: String,
    /// Base URLs per API family.
    pub urls: ApiUrls,
    /// Currency of catalog prices (BigCommerce prices are in the store's default currency).
    pub currency: String,
    /// Default page size.
    pub page_size: u32,
    /// Client-side budget: requests per window.
    pub rate_limit_requests: u32,
    /// Client-side budget: window length.
    pub rate_limit_window: Duration,
    /// Location id or code → marketsync warehouse code.
    pub warehouse_mapping: BTreeMap<String, String>,
    /// Timeouts, retries, debug logging.
    pub policy: HttpPolicy,
    /// Every credential value, for redaction.
    pub(crate) secrets: Vec<String>,
}

impl std::fmt::Debug for BigCommerceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigCommerceConfig")
            .field("store_hash", &"[redacted]")
            .field("access_token", &"[redacted]")
            .field("urls", &"[redacted: contain the store hash]")
            .field("currency", &self.currency)
            .field("page_size", &self.page_size)
            .field("rate_limit_requests", &self.rate_limit_requests)
            .field("rate_limit_window", &self.rate_limit_window)
            .field("warehouse_mapping", &self.warehouse_mapping)
            .field("policy", &self.policy)
            .finish()
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

/// The token webhook subscriptions carry: hex HMAC-SHA256 of the store hash under `secret`, so
/// it is stable per connection, differs between stores and reveals nothing of the secret.
pub(crate) fn webhook_token(secret: &str, store_hash: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"marketsync webhooks ");
    mac.update(store_hash.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl BigCommerceConfig {
    /// Reads and validates a connection's credentials and settings.
    pub fn from_connection(config: &ConnectionConfig) -> Result<Self> {
        let creds = &config.credentials;
        let settings = &config.settings;
        let store_hash = creds.require("store_hash")?.trim().to_string();
        if !store_hash
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ConnectorError::Config(
                "credential `store_hash` may only contain letters, digits, `-` and `_`".into(),
            ));
        }
        let access_token = creds.require("access_token")?.trim().to_string();
        let base = check_url(
            "settings.base_url",
            settings.base_url.as_deref().unwrap_or(DEFAULT_API_URL),
        )?;
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
        let family = |name: &str| -> Result<Option<String>> {
            settings
                .api_urls
                .get(name)
                .map(|u| check_url(&format!("settings.api_urls.{name}"), u))
                .transpose()
        };
        let v3 = format!("{base}/stores/{store_hash}/v3");
        let v2 = format!("{base}/stores/{store_hash}/v2");
        let catalog = family("catalog")?.unwrap_or_else(|| v3.clone());
        let inventory = family("inventory")?.unwrap_or_else(|| v3.clone());
        let urls = ApiUrls {
            categories: family("categories")?.unwrap_or_else(|| catalog.clone()),
            brands: family("brands")?.unwrap_or_else(|| catalog.clone()),
            locations: family("locations")?.unwrap_or_else(|| inventory.clone()),
            orders_v2: family("orders_v2")?.unwrap_or(v2),
            hooks: family("hooks")?.unwrap_or_else(|| v3.clone()),
            catalog,
            inventory,
        };
        let page_size = settings
            .batch_size
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE);
        let webhook_token = webhook_token(
            creds
                .get("client_secret")
                .filter(|s| !s.is_empty())
                .unwrap_or(&access_token),
            &store_hash,
        );
        Ok(Self {
            secrets: creds
                .values()
                .map(str::to_string)
                .chain(std::iter::once(webhook_token.clone()))
                .collect(),
            webhook_token,
            store_hash,
            access_token,
            urls,
            currency: "USD".into(),
            page_size,
            rate_limit_requests: settings
                .rate_limit_requests
                .unwrap_or(DEFAULT_RATE_LIMIT_REQUESTS)
                .max(1),
            rate_limit_window: Duration::from_millis(
                settings
                    .rate_limit_window_ms
                    .unwrap_or(DEFAULT_RATE_LIMIT_WINDOW_MS)
                    .max(1),
            ),
            warehouse_mapping: settings.warehouse_mapping.clone(),
            policy: settings.http_policy(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Credentials, Settings};

    fn conn(settings: Settings) -> ConnectionConfig {
        ConnectionConfig {
            platform: "bigcommerce".into(),
            credentials: Credentials::from_json(
                &serde_json::json!({"store_hash": "abc123", "access_token": "tok-secret"}),
            )
            .expect("credentials"),
            settings,
        }
    }

    #[test]
    fn production_urls_by_default() {
        let c = BigCommerceConfig::from_connection(&conn(Settings::default())).expect("config");
        assert_eq!(
            c.urls.catalog,
            "https://api.bigcommerce.com/stores/abc123/v3"
        );
        assert_eq!(
            c.urls.orders_v2,
            "https://api.bigcommerce.com/stores/abc123/v2"
        );
        assert_eq!(c.rate_limit_requests, 150);
        assert_eq!(c.rate_limit_window, Duration::from_secs(30));
    }

    #[test]
    fn base_url_and_families() {
        let mut s = Settings {
            base_url: Some("http://127.0.0.1:9000/".into()),
            ..Settings::default()
        };
        s.api_urls
            .insert("catalog".into(), "http://127.0.0.1:4010".into());
        s.api_urls
            .insert("inventory".into(), "http://127.0.0.1:4011/".into());
        let c = BigCommerceConfig::from_connection(&conn(s)).expect("config");
        assert_eq!(c.urls.catalog, "http://127.0.0.1:4010");
        assert_eq!(c.urls.brands, "http://127.0.0.1:4010");
        assert_eq!(c.urls.locations, "http://127.0.0.1:4011");
        assert_eq!(c.urls.orders_v2, "http://127.0.0.1:9000/stores/abc123/v2");
    }

    #[test]
    fn rejects_bad_settings() {
        let mut s = Settings::default();
        s.api_urls.insert("catalgo".into(), "http://x".into());
        assert!(matches!(
            BigCommerceConfig::from_connection(&conn(s)),
            Err(ConnectorError::Config(_))
        ));
        let mut c = conn(Settings::default());
        c.credentials =
            Credentials::from_json(&serde_json::json!({"store_hash": "abc"})).expect("credentials");
        let err = BigCommerceConfig::from_connection(&c).expect_err("token is required");
        assert!(err.to_string().contains("access_token"));
    }

    #[test]
    fn debug_hides_credentials() {
        let c = BigCommerceConfig::from_connection(&conn(Settings::default())).expect("config");
        let text = format!("{c:?}");
        assert!(!text.contains("tok-secret") && !text.contains("abc123"));
    }
}

//! Connection configuration of a WooCommerce store: credentials, API base URL, auth method,
//! rate-limit budget, page and batch sizes.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;

use crate::{ConnectionConfig, ConnectorError, HttpPolicy, Result};

/// Path of the REST API v3 under the store URL.
pub const API_PATH: &str = "/wp-json/wc/v3";
/// WooCommerce documents no rate limit (hosts impose their own): the connection's default
/// client-side budget is deliberately conservative, requests per window.
pub const DEFAULT_RATE_LIMIT_REQUESTS: u32 = 100;
/// Window of the default budget, in milliseconds.
pub const DEFAULT_RATE_LIMIT_WINDOW_MS: u64 = 60_000;
/// Documented maximum `per_page` of every list (WordPress REST API).
pub const MAX_PAGE_SIZE: u32 = 100;
/// Documented maximum of create + update + delete items of one batch request.
pub const MAX_BATCH_ITEMS: usize = 100;
/// Default page size when neither the query nor `settings.batch_size` sets one.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// WooCommerce keeps one stock per product or variation: the name of that single location
/// (a key of `settings.warehouse_mapping`, and the warehouse code when nothing maps it).
pub const STOCK_LOCATION: &str = "default";
/// The only API family: `settings.api_urls.wc_v3` is a full base URL (with `/wp-json/wc/v3`).
pub const API_FAMILIES: [&str; 1] = ["wc_v3"];

/// How the consumer key and secret travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic auth (the documented method over HTTPS).
    Basic,
    /// `consumer_key`/`consumer_secret` query parameters (the documented fallback for servers
    /// that do not pass the Authorization header to PHP).
    QueryString,
}

/// Everything the WooCommerce connector needs, validated.
#[derive(Clone)]
pub struct WooCommerceConfig {
    /// Base URL of the REST API v3, without a trailing slash.
    pub api_url: String,
    pub(crate) consumer_key: String,
    pub(crate) consumer_secret: String,
    /// Secret the webhooks are signed with (credential `webhook_secret`, else the consumer
    /// secret).
    pub(crate) webhook_secret: String,
    /// How credentials are sent.
    pub auth: AuthMethod,
    /// Default page size.
    pub page_size: u32,
    /// Items per batch request (at most [`MAX_BATCH_ITEMS`]).
    pub batch_size: usize,
    /// Client-side budget: requests per window.
    pub rate_limit_requests: u32,
    /// Client-side budget: window length.
    pub rate_limit_window: Duration,
    /// `default` (the store's single stock) → marketsync warehouse code.
    pub warehouse_mapping: BTreeMap<String, String>,
    /// Timeouts, retries, debug logging.
    pub policy: HttpPolicy,
    /// Every credential value (and the Basic header value), for redaction.
    pub(crate) secrets: Vec<String>,
}

impl std::fmt::Debug for WooCommerceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WooCommerceConfig")
            .field("api_url", &self.api_url)
            .field("consumer_key", &"[redacted]")
            .field("consumer_secret", &"[redacted]")
            .field("webhook_secret", &"[redacted]")
            .field("auth", &self.auth)
            .field("page_size", &self.page_size)
            .field("batch_size", &self.batch_size)
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

impl WooCommerceConfig {
    /// Reads and validates a connection's credentials and settings.
    pub fn from_connection(config: &ConnectionConfig) -> Result<Self> {
        let creds = &config.credentials;
        let settings = &config.settings;
        let store = match settings.base_url.as_deref() {
            Some(b) => check_url("settings.base_url", b)?,
            None => check_url("credential `store_url`", creds.require("store_url")?)?,
        };
        let consumer_key = creds.require("consumer_key")?.trim().to_string();
        let consumer_secret = creds.require("consumer_secret")?.trim().to_string();
        let webhook_secret = creds
            .get("webhook_secret")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(&consumer_secret)
            .to_string();
        let auth = match creds
            .get("auth_method")
            .map(|s| s.trim().to_ascii_lowercase())
        {
            None => AuthMethod::Basic,
            Some(m) if m.is_empty() || m == "basic" || m == "header" => AuthMethod::Basic,
            Some(m) if m == "query_string" || m == "query" => AuthMethod::QueryString,
            Some(_) => {
                return Err(ConnectorError::Config(
                    "credential `auth_method` must be `basic` or `query_string`".into(),
                ));
            }
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
        let api_url = match settings.api_urls.get("wc_v3") {
            Some(u) => check_url("settings.api_urls.wc_v3", u)?,
            None => format!("{store}{API_PATH}"),
        };
        let page_size = settings
            .batch_size
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE);
        let batch_size = settings
            .batch_size
            .map_or(MAX_BATCH_ITEMS, |b| b as usize)
            .clamp(1, MAX_BATCH_ITEMS);
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{consumer_key}:{consumer_secret}"));
        let mut secrets: Vec<String> = creds.values().map(str::to_string).collect();
        secrets.push(basic);
        Ok(Self {
            secrets,
            api_url,
            consumer_key,
            consumer_secret,
            webhook_secret,
            auth,
            page_size,
            batch_size,
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

    /// The `Authorization: Basic …` value.
    pub(crate) fn basic_header(&self) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", self.consumer_key, self.consumer_secret))
        )
    }

    /// The marketsync warehouse of the store's single stock.
    pub fn warehouse(&self) -> String {
        self.warehouse_mapping
            .get(STOCK_LOCATION)
            .cloned()
            .unwrap_or_else(|| STOCK_LOCATION.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Credentials, Settings};

    fn conn(settings: Settings, extra: serde_json::Value) -> ConnectionConfig {
        let mut creds = serde_json::json!({
            "store_url": "https://shop.example.com/",
            "consumer_key": "ck_live_key",
            "consumer_secret": "cs_live_secret",
        });
        if let (Some(o), Some(e)) = (creds.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        ConnectionConfig {
            platform: "woocommerce".into(),
            credentials: Credentials::from_json(&creds).expect("credentials"),
            settings,
        }
    }

    #[test]
    fn store_url_and_base_url() {
        let c =
            WooCommerceConfig::from_connection(&conn(Settings::default(), serde_json::json!({})))
                .expect("config");
        assert_eq!(c.api_url, "https://shop.example.com/wp-json/wc/v3");
        assert_eq!(c.auth, AuthMethod::Basic);
        assert_eq!(c.webhook_secret, "cs_live_secret");
        assert_eq!(c.batch_size, 100);
        let s = Settings {
            base_url: Some("http://127.0.0.1:9000".into()),
            batch_size: Some(500),
            ..Settings::default()
        };
        let c = WooCommerceConfig::from_connection(&conn(
            s,
            serde_json::json!({"auth_method": "query_string", "webhook_secret": "whsec"}),
        ))
        .expect("config");
        assert_eq!(c.api_url, "http://127.0.0.1:9000/wp-json/wc/v3");
        assert_eq!(c.auth, AuthMethod::QueryString);
        assert_eq!(c.webhook_secret, "whsec");
        assert_eq!((c.page_size, c.batch_size), (100, 100));
    }

    #[test]
    fn rejects_bad_settings_and_hides_secrets() {
        let mut s = Settings::default();
        s.api_urls.insert("wc".into(), "http://x".into());
        assert!(WooCommerceConfig::from_connection(&conn(s, serde_json::json!({}))).is_err());
        let err = WooCommerceConfig::from_connection(&conn(
            Settings::default(),
            serde_json::json!({"auth_method": "oauth"}),
        ))
        .expect_err("unknown auth method");
        assert!(matches!(err, ConnectorError::Config(_)));
        let c =
            WooCommerceConfig::from_connection(&conn(Settings::default(), serde_json::json!({})))
                .expect("config");
        let text = format!("{c:?}");
        assert!(!text.contains("cs_live_secret") && !text.contains("ck_live_key"));
    }
}

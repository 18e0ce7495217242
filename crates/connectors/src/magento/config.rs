//! Connection configuration of a Magento 2 / Adobe Commerce store: credentials, auth mode,
//! API base URLs per family, rate-limit budget, page and batch sizes.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::{ConnectionConfig, ConnectorError, HttpPolicy, Result};

/// Documented maximum `searchCriteria[pageSize]` (Magento 2.4.7+,
/// `webapi/validation/maximum_page_size`, default 300).
pub const MAX_PAGE_SIZE: u32 = 300;
/// Default page size when neither the query nor `settings.batch_size` sets one.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Source items per `POST /V1/inventory/source-items` request or per async bulk operation.
/// Magento documents no hard maximum; this keeps each request well inside PHP's time and
/// memory limits (and is lowered by `settings.batch_size`).
pub const MAX_SOURCE_ITEMS: usize = 100;
/// Status polls of one async bulk before the export gives up waiting.
pub const MAX_BULK_POLLS: u32 = 60;
/// Default client budget. Magento has no rate limit of its own; Adobe Commerce Cloud fronts it
/// with a configurable edge limit answering 429 + `Retry-After`, which the client honours.
pub const DEFAULT_RATE_LIMIT_REQUESTS: u32 = 20;
/// Default client budget window, in milliseconds.
pub const DEFAULT_RATE_LIMIT_WINDOW_MS: u64 = 1_000;

/// API families whose base URL `settings.api_urls` may override (full base URL, nothing
/// appended): `V1` (default `{store_url}/rest/default/V1`), `V1_all` (global-scope product
/// writes; default `{store_url}/rest/all/V1`, or `V1` when that is set) and `async_bulk`
/// (default `{store_url}/rest/default/async/bulk/V1`).
pub const API_FAMILIES: [&str; 3] = ["V1", "V1_all", "async_bulk"];

/// Base URL of every API family, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrls {
    /// `/V1/...` reads and writes.
    pub v1: String,
    /// `/V1/products/{sku}` writes at the global (`all`) scope.
    pub v1_all: String,
    /// `/async/bulk/V1/...`.
    pub async_bulk: String,
}

/// How requests are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// `Authorization: Bearer <integration access token>`.
    Bearer,
    /// OAuth 1.0a, HMAC-SHA256, with consumer key/secret and access token/secret.
    OAuth1,
}

/// Everything the Magento connector needs, validated.
#[derive(Clone)]
pub struct MagentoConfig {
    pub(crate) access_token: String,
    pub(crate) access_token_secret: String,
    pub(crate) consumer_key: String,
    pub(crate) consumer_secret: String,
    pub(crate) webhook_secret: Option<String>,
    /// Auth mode.
    pub auth: AuthMode,
    /// Base URLs per API family.
    pub urls: ApiUrls,
    /// Default page size.
    pub page_size: u32,
    /// Source items per request or bulk operation.
    pub source_batch: usize,
    /// Client-side budget: requests per window.
    pub rate_limit_requests: u32,
    /// Client-side budget: window length.
    pub rate_limit_window: Duration,
    /// Source code or name → marketsync warehouse code.
    pub warehouse_mapping: BTreeMap<String, String>,
    /// Timeouts, retries, debug logging.
    pub policy: HttpPolicy,
    /// Every credential value, for redaction.
    pub(crate) secrets: Vec<String>,
}

impl std::fmt::Debug for MagentoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MagentoConfig")
            .field("credentials", &"[redacted]")
            .field("auth", &self.auth)
            .field("urls", &self.urls)
            .field("page_size", &self.page_size)
            .field("source_batch", &self.source_batch)
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

impl MagentoConfig {
    /// Reads and validates a connection's credentials and settings.
    pub fn from_connection(config: &ConnectionConfig) -> Result<Self> {
        let creds = &config.credentials;
        let settings = &config.settings;
        let store = match settings.base_url.as_deref() {
            Some(b) if !b.trim().is_empty() => check_url("settings.base_url", b)?,
            _ => check_url("credential `store_url`", creds.require("store_url")?)?,
        };
        let access_token = creds.require("access_token")?.trim().to_string();
        let auth = match creds.get("auth_mode").map(str::trim).unwrap_or("") {
            "" | "bearer" | "token" => AuthMode::Bearer,
            "oauth1" | "oauth" => AuthMode::OAuth1,
            other => {
                return Err(ConnectorError::Config(format!(
                    "auth_mode `{other}` is not one of bearer, oauth1"
                )));
            }
        };
        let text = |name: &str| creds.get(name).unwrap_or("").trim().to_string();
        let (consumer_key, consumer_secret, access_token_secret) = match auth {
            AuthMode::OAuth1 => (
                creds.require("consumer_key")?.trim().to_string(),
                creds.require("consumer_secret")?.trim().to_string(),
                creds.require("access_token_secret")?.trim().to_string(),
            ),
            AuthMode::Bearer => (
                text("consumer_key"),
                text("consumer_secret"),
                text("access_token_secret"),
            ),
        };
        let webhook_secret = creds
            .get("webhook_secret")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from);
        let family = |name: &str| -> Result<Option<String>> {
            settings
                .api_urls
                .get(name)
                .map(|u| check_url(&format!("settings.api_urls.{name}"), u))
                .transpose()
        };
        let v1 = family("V1")?;
        let urls = ApiUrls {
            v1_all: match (family("V1_all")?, &v1) {
                (Some(u), _) => u,
                (None, Some(v)) => v.clone(),
                (None, None) => format!("{store}/rest/all/V1"),
            },
            v1: v1.unwrap_or_else(|| format!("{store}/rest/default/V1")),
            async_bulk: family("async_bulk")?
                .unwrap_or_else(|| format!("{store}/rest/default/async/bulk/V1")),
        };
        let page_size = settings
            .batch_size
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE);
        let source_batch = settings.batch_size.map_or(MAX_SOURCE_ITEMS, |b| {
            (b as usize).clamp(1, MAX_SOURCE_ITEMS)
        });
        let secrets = creds
            .values()
            .map(String::from)
            .filter(|v| v != "bearer" && v != "oauth1" && !v.starts_with("http"))
            .collect();
        Ok(Self {
            access_token,
            access_token_secret,
            consumer_key,
            consumer_secret,
            webhook_secret,
            auth,
            urls,
            page_size,
            source_batch,
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
            secrets,
        })
    }

    /// The key of webhook signatures: `webhook_secret`, else `consumer_secret`.
    pub(crate) fn webhook_key(&self) -> Option<&str> {
        self.webhook_secret
            .as_deref()
            .or(Some(self.consumer_secret.as_str()).filter(|s| !s.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Credentials, Settings};

    fn conn(creds: serde_json::Value, settings: Settings) -> ConnectionConfig {
        ConnectionConfig {
            platform: "magento".into(),
            credentials: Credentials::from_json(&creds).expect("object"),
            settings,
        }
    }

    #[test]
    fn urls_follow_store_url_base_url_and_api_urls() {
        let c = MagentoConfig::from_connection(&conn(
            serde_json::json!({"store_url": "https://shop.example.com/", "access_token": "t0k3n"}),
            Settings::default(),
        ))
        .expect("valid");
        assert_eq!(c.urls.v1, "https://shop.example.com/rest/default/V1");
        assert_eq!(c.urls.v1_all, "https://shop.example.com/rest/all/V1");
        let mut s = Settings {
            base_url: Some("http://127.0.0.1:9".into()),
            ..Settings::default()
        };
        s.api_urls.insert("V1".into(), "http://127.0.0.1:7/".into());
        let c = MagentoConfig::from_connection(&conn(
            serde_json::json!({"store_url": "https://shop.example.com", "access_token": "t0k3n"}),
            s,
        ))
        .expect("valid");
        assert_eq!(c.urls.v1, "http://127.0.0.1:7");
        assert_eq!(c.urls.v1_all, "http://127.0.0.1:7");
        assert_eq!(
            c.urls.async_bulk,
            "http://127.0.0.1:9/rest/default/async/bulk/V1"
        );
    }

    #[test]
    fn oauth1_needs_every_secret() {
        let err = MagentoConfig::from_connection(&conn(
            serde_json::json!({"store_url": "https://s.example.com", "access_token": "t0k3n",
                "auth_mode": "oauth1", "consumer_key": "ck"}),
            Settings::default(),
        ))
        .expect_err("consumer_secret is missing");
        assert!(err.to_string().contains("consumer_secret"), "{err}");
    }
}

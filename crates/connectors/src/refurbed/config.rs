//! Connection configuration of a Refurbed merchant account: credentials, base URL, the
//! assumed rate limit, page and batch sizes.

use std::time::Duration;

use crate::{ConnectionConfig, ConnectorError, HttpPolicy, Result};

/// Production host of the Merchant API (HTTP transport); `settings.base_url` replaces it.
pub const DEFAULT_API_URL: &str = "https://api.refurbed.com";
/// Documented maximum `pagination.limit` of list calls ("when pagination limit is too large
/// (>100)").
pub const MAX_PAGE_SIZE: u32 = 100;
/// Documented maximum of entries per batch call ("Between 1 and 50").
pub const MAX_BATCH: usize = 50;
/// ASSUMED requests per window until the API's `X-RateLimit-*` headers say otherwise
/// (Refurbed publishes no number).
pub const DEFAULT_RATE_LIMIT_REQUESTS: u32 = 20;
/// ASSUMED window length in milliseconds.
pub const DEFAULT_RATE_LIMIT_WINDOW_MS: u64 = 1_000;
/// Batch calls kept in flight at once by the bulk offer export (the rate limit, not this,
/// bounds the throughput; this only hides the round trips).
pub const EXPORT_CONCURRENCY: usize = 4;
/// Warehouse code of Refurbed stock (offers hold one quantity, no locations).
pub const WAREHOUSE: &str = "refurbed";

/// Everything the Refurbed connector needs, validated.
#[derive(Clone)]
pub struct RefurbedConfig {
    /// The merchant's account id (informational: the token identifies the merchant).
    pub merchant_id: String,
    pub(crate) api_token: String,
    /// Base URL, without a trailing slash; RPC paths are appended.
    pub base_url: String,
    /// Default page size of list calls.
    pub page_size: u32,
    /// Requests per window assumed before the first `X-RateLimit-*` headers arrive.
    pub rate_limit_requests: u32,
    /// Window of that assumption.
    pub rate_limit_window: Duration,
    /// Warehouse code stock is reported under.
    pub warehouse: String,
    /// Timeouts, retries, debug logging.
    pub policy: HttpPolicy,
    /// Every credential value, for redaction.
    pub(crate) secrets: Vec<String>,
}

impl std::fmt::Debug for RefurbedConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefurbedConfig")
            .field("merchant_id", &self.merchant_id)
            .field("api_token", &"[redacted]")
            .field("base_url", &self.base_url)
            .field("page_size", &self.page_size)
            .field("rate_limit_requests", &self.rate_limit_requests)
            .field("rate_limit_window", &self.rate_limit_window)
            .field("warehouse", &self.warehouse)
            .field("policy", &self.policy)
            .finish()
    }
}

impl RefurbedConfig {
    /// Reads and validates a connection's credentials and settings.
    pub fn from_connection(config: &ConnectionConfig) -> Result<Self> {
        let creds = &config.credentials;
        let settings = &config.settings;
        let api_token = creds.require("api_token")?.trim().to_string();
        let merchant_id = creds.require("merchant_id")?.trim().to_string();
        let base = settings
            .base_url
            .as_deref()
            .unwrap_or(DEFAULT_API_URL)
            .trim()
            .trim_end_matches('/')
            .to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ConnectorError::Config(
                "settings.base_url must be an http:// or https:// URL".into(),
            ));
        }
        let warehouse = settings
            .warehouse_mapping
            .get(WAREHOUSE)
            .cloned()
            .unwrap_or_else(|| WAREHOUSE.to_string());
        Ok(Self {
            secrets: creds.values().map(str::to_string).collect(),
            merchant_id,
            api_token,
            base_url: base,
            page_size: settings
                .batch_size
                .unwrap_or(MAX_PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE),
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
            warehouse,
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
            platform: "refurbed".into(),
            credentials: Credentials::from_json(&creds).expect("credentials"),
            settings,
        }
    }

    #[test]
    fn defaults_and_overrides() {
        let c = RefurbedConfig::from_connection(&conn(
            serde_json::json!({"api_token": "tok-secret", "merchant_id": "4711"}),
            Settings::default(),
        ))
        .expect("config");
        assert_eq!(c.base_url, DEFAULT_API_URL);
        assert_eq!(c.page_size, 100);
        assert_eq!(c.rate_limit_requests, 20);
        assert!(!format!("{c:?}").contains("tok-secret"));
        let s = Settings {
            base_url: Some("http://127.0.0.1:9/".into()),
            batch_size: Some(500),
            ..Settings::default()
        };
        let c = RefurbedConfig::from_connection(&conn(
            serde_json::json!({"api_token": "t", "merchant_id": "1"}),
            s,
        ))
        .expect("config");
        assert_eq!(c.base_url, "http://127.0.0.1:9");
        assert_eq!(c.page_size, 100);
    }

    #[test]
    fn credentials_are_required() {
        let err = RefurbedConfig::from_connection(&conn(
            serde_json::json!({"merchant_id": "4711"}),
            Settings::default(),
        ))
        .expect_err("token is required");
        assert!(err.to_string().contains("api_token"));
        let err = RefurbedConfig::from_connection(&conn(
            serde_json::json!({"api_token": "x"}),
            Settings::default(),
        ))
        .expect_err("merchant id is required");
        assert!(err.to_string().contains("merchant_id"));
    }
}

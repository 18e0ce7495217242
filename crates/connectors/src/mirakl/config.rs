//! Connection configuration of a Mirakl shop: instance URL, API key, shop id, limits.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::{ConnectionConfig, ConnectorError, HttpPolicy, Result};

/// Documented maximum `max` of offset-paginated lists (OR11, OF21).
pub const MAX_PAGE_SIZE: u32 = 100;
/// Default page size.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// "Once per minute": the documented maximum usage of OR11 (asynchronous polling), OF01,
/// OF24, OF02 and OF03.
pub const DEFAULT_INTERVAL_MS: u64 = 60_000;
/// Client-side budget of the other calls, per second (ASSUMED: Mirakl documents their usage
/// as "at each page display"/"at each update", not as a number).
pub const DEFAULT_REQUESTS_PER_SECOND: u32 = 20;
/// Lines per offer import file (ASSUMED; Mirakl documents no line maximum).
pub const MAX_FILE_LINES: usize = 100_000;
/// Offers sent through OF24 at most; larger batches go through an OF01 file.
pub const OF24_MAX_OFFERS: usize = 100;
/// Warehouse code of the offers' quantities (Mirakl offers hold one quantity).
pub const WAREHOUSE: &str = "mirakl";

/// Everything the Mirakl connector needs, validated.
#[derive(Clone)]
pub struct MiraklConfig {
    /// The instance URL (`api_url`, or `settings.base_url`), without a trailing slash.
    pub base: String,
    pub(crate) api_key: String,
    /// The `shop_id` query parameter, for keys with access to several shops.
    pub shop_id: Option<String>,
    /// Page size of OR11 and OF21.
    pub page_size: u32,
    /// Least time between two calls of a once-per-minute API.
    pub interval: Duration,
    /// Budget of the other calls per second.
    pub requests_per_second: u32,
    /// Currency prices are given in when a price comes without one (the shop's).
    pub currency: String,
    /// Marketplace warehouse (`mirakl`) → marketsync warehouse code.
    pub warehouse_mapping: BTreeMap<String, String>,
    /// Timeouts, retries, debug logging.
    pub policy: HttpPolicy,
    /// Every credential value, for redaction.
    pub(crate) secrets: Vec<String>,
}

impl std::fmt::Debug for MiraklConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MiraklConfig")
            .field("base", &self.base)
            .field("api_key", &"[redacted]")
            .field("shop_id", &self.shop_id)
            .field("page_size", &self.page_size)
            .field("interval", &self.interval)
            .field("requests_per_second", &self.requests_per_second)
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
    // The API paths are `/api/...`: an instance URL given with `/api` works too.
    Ok(url.trim_end_matches("/api").to_string())
}

impl MiraklConfig {
    /// Reads and validates a connection's credentials and settings.
    pub fn from_connection(config: &ConnectionConfig) -> Result<Self> {
        let creds = &config.credentials;
        let settings = &config.settings;
        let api_key = creds.require("api_key")?.trim().to_string();
        let base = match settings.base_url.as_deref() {
            Some(b) if !b.trim().is_empty() => check_url("settings.base_url", b)?,
            _ => check_url("credential `api_url`", creds.require("api_url")?)?,
        };
        let shop_id = creds
            .get("shop_id")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        if let Some(id) = &shop_id
            && !id.chars().all(|c| c.is_ascii_digit())
        {
            return Err(ConnectorError::Config(
                "credential `shop_id` must be a number".into(),
            ));
        }
        let mut secrets = vec![api_key.clone()];
        secrets.extend(creds.values().map(str::to_string));
        Ok(Self {
            base,
            api_key,
            shop_id,
            page_size: settings
                .batch_size
                .unwrap_or(DEFAULT_PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE),
            interval: Duration::from_millis(
                settings.rate_limit_window_ms.unwrap_or(DEFAULT_INTERVAL_MS),
            ),
            requests_per_second: settings
                .rate_limit_requests
                .unwrap_or(DEFAULT_REQUESTS_PER_SECOND)
                .max(1),
            currency: "EUR".into(),
            warehouse_mapping: settings.warehouse_mapping.clone(),
            policy: settings.http_policy(),
            secrets: secrets
                .into_iter()
                // The instance URL and shop id are not secret (and are short digits).
                .filter(|s| s.len() >= 6 && !s.starts_with("http"))
                .collect(),
        })
    }

    /// The full URL of an API path (`/api/...`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The marketsync warehouse of the offers' quantities.
    pub fn warehouse(&self) -> String {
        self.warehouse_mapping
            .get(WAREHOUSE)
            .cloned()
            .unwrap_or_else(|| WAREHOUSE.to_string())
    }
}

//! Connection configuration of a Back Market seller account: credentials → the Basic token,
//! the API base URL, the two rate-limit budgets, page and upload sizes.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;

use crate::{ConnectionConfig, ConnectorError, HttpPolicy, Result};

/// Production base URL of the seller web services (`/ws/...`).
pub const DEFAULT_BASE_URL: &str = "https://www.backmarket.fr";
/// Documented budget of standard endpoints (orders, tasks): requests per window.
pub const STANDARD_LIMIT: u32 = 200;
/// Documented budget of catalog endpoints (`/ws/listings…`): requests per window.
pub const CATALOG_LIMIT: u32 = 20;
/// Documented window of both budgets, in milliseconds.
pub const WINDOW_MS: u64 = 10_000;
/// Rows per CSV catalog upload (ASSUMPTION, see the module docs: no public maximum).
pub const MAX_UPLOAD_ROWS: usize = 1_000;
/// Most results per page (ASSUMPTION: Back Market pages like Django REST framework, and its
/// examples never exceed 100).
pub const MAX_PAGE_SIZE: u32 = 100;
/// Default page size.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// `Accept-Language` sent with every request (mandatory; the marketplace whose catalog and
/// currency the answers use).
pub const ACCEPT_LANGUAGE: &str = "fr-fr";
/// Back Market holds one quantity per listing: the warehouse code of its stock (a key of
/// `settings.warehouse_mapping`, and the code used when nothing maps it).
pub const WAREHOUSE: &str = "backmarket";
/// API families of `settings.api_urls`: `ws` replaces the base URL of `/ws/...`.
pub const API_FAMILIES: [&str; 1] = ["ws"];

/// Everything the Back Market connector needs, validated.
#[derive(Clone)]
pub struct BackMarketConfig {
    /// Base URL (without `/ws`), no trailing slash.
    pub base_url: String,
    /// The token sent as `Authorization: Basic <token>`.
    pub(crate) token: String,
    /// Seller account id (credential `seller_id`), named in the User-Agent.
    pub seller_id: String,
    /// Page size of lists.
    pub page_size: u32,
    /// Rows per CSV catalog upload (at most [`MAX_UPLOAD_ROWS`]).
    pub upload_rows: usize,
    /// Standard budget: requests per window.
    pub standard_limit: u32,
    /// Catalog budget: requests per window.
    pub catalog_limit: u32,
    /// Window of both budgets.
    pub window: Duration,
    /// `backmarket` → marketsync warehouse code.
    pub warehouse_mapping: BTreeMap<String, String>,
    /// Timeouts, retries, debug logging.
    pub policy: HttpPolicy,
    /// Every credential value and the token, for redaction.
    pub(crate) secrets: Vec<String>,
}

impl std::fmt::Debug for BackMarketConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackMarketConfig")
            .field("base_url", &self.base_url)
            .field("token", &"[redacted]")
            .field("seller_id", &self.seller_id)
            .field("page_size", &self.page_size)
            .field("upload_rows", &self.upload_rows)
            .field("standard_limit", &self.standard_limit)
            .field("catalog_limit", &self.catalog_limit)
            .field("window", &self.window)
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

/// The Basic token of a key and secret: `base64(api_key:api_secret)`, or the key itself when
/// there is no secret (the token as Back Market issued it).
pub fn token_of(api_key: &str, api_secret: &str) -> String {
    if api_secret.is_empty() {
        api_key.to_string()
    } else {
        base64::engine::general_purpose::STANDARD.encode(format!("{api_key}:{api_secret}"))
    }
}

impl BackMarketConfig {
    /// Reads and validates a connection's credentials and settings.
    pub fn from_connection(config: &ConnectionConfig) -> Result<Self> {
        let creds = &config.credentials;
        let settings = &config.settings;
        let api_key = creds.require("api_key")?.trim().to_string();
        let api_secret = creds.get("api_secret").unwrap_or("").trim().to_string();
        let seller_id = creds.require("seller_id")?.trim().to_string();
        if !seller_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ConnectorError::Config(
                "credential `seller_id` must be letters, digits, `-` or `_`".into(),
            ));
        }
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
        let base_url = match (settings.api_urls.get("ws"), settings.base_url.as_deref()) {
            (Some(u), _) => check_url("settings.api_urls.ws", u)?,
            (None, Some(b)) => check_url("settings.base_url", b)?,
            (None, None) => DEFAULT_BASE_URL.to_string(),
        };
        let token = token_of(&api_key, &api_secret);
        let standard_limit = settings
            .rate_limit_requests
            .unwrap_or(STANDARD_LIMIT)
            .max(1);
        // Back Market's catalog budget is a tenth of the standard one: an override of the
        // standard budget scales it alike.
        let catalog_limit = if settings.rate_limit_requests.is_some() {
            (standard_limit / 10).max(1)
        } else {
            CATALOG_LIMIT
        };
        let mut secrets: Vec<String> = creds.values().map(str::to_string).collect();
        secrets.retain(|s| *s != seller_id);
        secrets.push(token.clone());
        Ok(Self {
            base_url,
            token,
            seller_id,
            page_size: settings
                .batch_size
                .unwrap_or(DEFAULT_PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE),
            upload_rows: settings
                .batch_size
                .map_or(MAX_UPLOAD_ROWS, |b| b as usize)
                .clamp(1, MAX_UPLOAD_ROWS),
            standard_limit,
            catalog_limit,
            window: Duration::from_millis(
                settings.rate_limit_window_ms.unwrap_or(WINDOW_MS).max(1),
            ),
            warehouse_mapping: settings.warehouse_mapping.clone(),
            policy: settings.http_policy(),
            secrets,
        })
    }

    /// `User-Agent` as Back Market asks integrations to name themselves
    /// (`BM-<company>-<integration>;<contact>`; the seller id stands for the company).
    pub fn user_agent(&self) -> String {
        format!(
            "BM-{}-marketsync;marketsync/{}",
            self.seller_id,
            env!("CARGO_PKG_VERSION")
        )
    }

    /// The marketsync warehouse of the listings' quantities.
    pub fn warehouse(&self) -> String {
        self.warehouse_mapping
            .get(WAREHOUSE)
            .cloned()
            .unwrap_or_else(|| WAREHOUSE.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Credentials, Settings};

    fn conn(settings: Settings, creds: serde_json::Value) -> ConnectionConfig {
        ConnectionConfig {
            platform: "backmarket".into(),
            credentials: Credentials::from_json(&creds).expect("credentials"),
            settings,
        }
    }

    #[test]
    fn token_budgets_and_urls() {
        let c = BackMarketConfig::from_connection(&conn(
            Settings::default(),
            serde_json::json!({"api_key": "key-1", "api_secret": "sec-2", "seller_id": "77"}),
        ))
        .expect("config");
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
        assert_eq!(c.token, "a2V5LTE6c2VjLTI=");
        assert_eq!((c.standard_limit, c.catalog_limit), (200, 20));
        assert_eq!(c.window, Duration::from_secs(10));
        assert_eq!((c.page_size, c.upload_rows), (50, 1000));
        assert!(c.user_agent().starts_with("BM-77-marketsync;"));
        let text = format!("{c:?}");
        assert!(!text.contains("sec-2") && !text.contains("a2V5LTE6c2VjLTI="));
        let s = Settings {
            base_url: Some("http://127.0.0.1:9/".into()),
            rate_limit_requests: Some(50),
            rate_limit_window_ms: Some(1000),
            batch_size: Some(250),
            ..Settings::default()
        };
        let c = BackMarketConfig::from_connection(&conn(
            s,
            serde_json::json!({"api_key": "issued-token", "seller_id": "77"}),
        ))
        .expect("config");
        assert_eq!(c.token, "issued-token");
        assert_eq!(c.base_url, "http://127.0.0.1:9");
        assert_eq!((c.standard_limit, c.catalog_limit), (50, 5));
        assert_eq!((c.page_size, c.upload_rows), (100, 250));
    }

    #[test]
    fn missing_credentials_are_named() {
        let err = BackMarketConfig::from_connection(&conn(
            Settings::default(),
            serde_json::json!({"api_key": "k"}),
        ))
        .expect_err("seller_id missing");
        assert!(err.to_string().contains("seller_id"), "{err}");
    }
}

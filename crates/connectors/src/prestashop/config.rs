//! Connection configuration of a PrestaShop shop: credentials, the webservice URL, the client's
//! request budget and page sizes.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::{ConnectionConfig, ConnectorError, HttpPolicy, Result};

/// PrestaShop documents no rate limit: the client keeps its own budget so that a shared host is
/// not hammered (requests per window), unless `rate_limit_requests`/`rate_limit_window_ms` say
/// otherwise. 429 answers of the host are followed through their `Retry-After`.
pub const DEFAULT_RATE_LIMIT_REQUESTS: u32 = 300;
/// Window of the default budget, in milliseconds.
pub const DEFAULT_RATE_LIMIT_WINDOW_MS: u64 = 60_000;
/// Largest `count` of `limit=offset,count` the connector asks for. PrestaShop documents no
/// maximum; `display=full` pages of products are heavy, so pages stay moderate.
pub const MAX_PAGE_SIZE: u32 = 500;
/// Default page size when neither the query nor `settings.batch_size` sets one.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Values per `filter[field]=[a|b|…]` (keeps request lines far below common URL limits).
pub const MAX_FILTER_VALUES: usize = 100;
/// The one API family of the webservice, for `settings.api_urls`.
pub const API_FAMILY: &str = "webservice";

/// Everything the PrestaShop connector needs, validated.
#[derive(Clone)]
pub struct PrestaShopConfig {
    /// `{store_url}/api` (or `settings.api_urls.webservice`), without a trailing slash.
    pub api_url: String,
    pub(crate) webservice_key: String,
    /// Language id whose values of multilingual fields are read and written.
    pub language_id: String,
    /// Default page size.
    pub page_size: u32,
    /// Page size of whole-collection reads (lookups, filtered lists): `settings.batch_size`
    /// when set (a host may cap pages), else [`MAX_PAGE_SIZE`].
    pub list_page_size: u32,
    /// Client-side budget: requests per window.
    pub rate_limit_requests: u32,
    /// Client-side budget: window length.
    pub rate_limit_window: Duration,
    /// Shop id (`id_shop` of stock rows) → marketsync warehouse code.
    pub warehouse_mapping: BTreeMap<String, String>,
    /// Timeouts, retries, debug logging.
    pub policy: HttpPolicy,
    /// Every credential value, for redaction.
    pub(crate) secrets: Vec<String>,
}

impl std::fmt::Debug for PrestaShopConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrestaShopConfig")
            .field("api_url", &self.api_url)
            .field("webservice_key", &"[redacted]")
            .field("language_id", &self.language_id)
            .field("page_size", &self.page_size)
            .field("list_page_size", &self.list_page_size)
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

/// Standard base64 (for the HTTP Basic header).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl PrestaShopConfig {
    /// Reads and validates a connection's credentials and settings.
    pub fn from_connection(config: &ConnectionConfig) -> Result<Self> {
        let creds = &config.credentials;
        let settings = &config.settings;
        let key = creds.require("webservice_key")?.trim().to_string();
        if !key.chars().all(|c| c.is_ascii_graphic()) || key.contains(':') {
            return Err(ConnectorError::Config(
                "credential `webservice_key` may only contain printable characters without `:`"
                    .into(),
            ));
        }
        if let Some(unknown) = settings.api_urls.keys().find(|k| *k != API_FAMILY) {
            return Err(ConnectorError::Config(format!(
                "settings.api_urls: unknown API family `{unknown}` (known: {API_FAMILY})"
            )));
        }
        let api_url = match settings.api_urls.get(API_FAMILY) {
            Some(u) => check_url("settings.api_urls.webservice", u)?,
            None => {
                let shop = match settings.base_url.as_deref() {
                    Some(b) => check_url("settings.base_url", b)?,
                    None => check_url("credential `store_url`", creds.require("store_url")?)?,
                };
                format!("{shop}/api")
            }
        };
        let page_size = settings
            .batch_size
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE);
        let basic = base64(format!("{key}:").as_bytes());
        let mut secrets: Vec<String> = creds
            .values()
            .filter(|v| *v == key)
            .map(str::to_string)
            .collect();
        secrets.push(basic);
        Ok(Self {
            api_url,
            webservice_key: key,
            language_id: "1".into(),
            page_size,
            list_page_size: settings
                .batch_size
                .map_or(MAX_PAGE_SIZE, |b| b.clamp(1, MAX_PAGE_SIZE)),
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

    /// The `Authorization` header value: the key as Basic user, empty password.
    pub(crate) fn authorization(&self) -> String {
        format!(
            "Basic {}",
            base64(format!("{}:", self.webservice_key).as_bytes())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Credentials, Settings};

    fn conn(settings: Settings) -> ConnectionConfig {
        ConnectionConfig {
            platform: "prestashop".into(),
            credentials: Credentials::from_json(&serde_json::json!({
                "store_url": "https://shop.example.com/",
                "webservice_key": "ZR92FNY5UFRERNI3O9Z5QDHWKTP3YIIT",
            }))
            .expect("credentials"),
            settings,
        }
    }

    #[test]
    fn encodes_base64() {
        assert_eq!(base64(b"KEY123:"), "S0VZMTIzOg==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }

    #[test]
    fn urls() {
        let c = PrestaShopConfig::from_connection(&conn(Settings::default())).expect("config");
        assert_eq!(c.api_url, "https://shop.example.com/api");
        let s = Settings {
            base_url: Some("http://127.0.0.1:9/".into()),
            ..Settings::default()
        };
        let c = PrestaShopConfig::from_connection(&conn(s)).expect("config");
        assert_eq!(c.api_url, "http://127.0.0.1:9/api");
        let mut s = Settings::default();
        s.api_urls
            .insert("webservice".into(), "http://127.0.0.1:4010/".into());
        let c = PrestaShopConfig::from_connection(&conn(s)).expect("config");
        assert_eq!(c.api_url, "http://127.0.0.1:4010");
        let mut s = Settings::default();
        s.api_urls.insert("catalog".into(), "http://x".into());
        assert!(PrestaShopConfig::from_connection(&conn(s)).is_err());
    }

    #[test]
    fn debug_hides_the_key() {
        let c = PrestaShopConfig::from_connection(&conn(Settings::default())).expect("config");
        assert!(!format!("{c:?}").contains("ZR92FNY5"));
        assert!(
            c.secrets
                .iter()
                .any(|s| s == &base64(b"ZR92FNY5UFRERNI3O9Z5QDHWKTP3YIIT:"))
        );
    }
}

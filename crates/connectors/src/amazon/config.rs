//! Connection configuration of an Amazon seller account: LWA credentials, marketplace and
//! region, API base URLs per family, page sizes.

use crate::{ConnectionConfig, ConnectorError, HttpPolicy, Result};

/// Login with Amazon token endpoint; `settings.auth_url` replaces it.
pub const DEFAULT_AUTH_URL: &str = "https://api.amazon.com/auth/o2/token";
/// North America endpoint.
pub const NA_URL: &str = "https://sellingpartnerapi-na.amazon.com";
/// Europe endpoint.
pub const EU_URL: &str = "https://sellingpartnerapi-eu.amazon.com";
/// Far East endpoint.
pub const FE_URL: &str = "https://sellingpartnerapi-fe.amazon.com";
/// Documented maximum of messages in one JSON_LISTINGS_FEED document.
pub const MAX_FEED_MESSAGES: usize = 25_000;
/// Documented maximum `pageSize` of searchListingsItems.
pub const MAX_LISTINGS_PAGE_SIZE: u32 = 20;
/// Documented maximum `MaxResultsPerPage` of getOrders.
pub const MAX_ORDERS_PAGE_SIZE: u32 = 100;
/// Documented maximum `MaxResultsPerPage` of listFinancialEvents.
pub const MAX_FINANCES_PAGE_SIZE: u32 = 100;
/// Documented maximum of `AmazonOrderIds` in one getOrders call.
pub const MAX_ORDER_IDS: usize = 50;

/// API families whose base URL `settings.api_urls` may override (each a full base URL to which
/// the documented paths, e.g. `/orders/v0/orders`, are appended).
pub const API_FAMILIES: [&str; 6] = [
    "orders",
    "listings",
    "fba_inventory",
    "feeds",
    "definitions",
    "finances",
];

/// The documented marketplace ids and the region whose endpoint serves each.
/// <https://developer-docs.amazon.com/sp-api/docs/marketplace-ids>
pub const MARKETPLACES: [(&str, &str, &str); 23] = [
    ("A2EUQ1WTGCTBG2", "CA", NA_URL),
    ("ATVPDKIKX0DER", "US", NA_URL),
    ("A1AM78C64UM0Y8", "MX", NA_URL),
    ("A2Q3Y263D00KWC", "BR", NA_URL),
    ("A28R8C7NBKEWEA", "IE", EU_URL),
    ("A1RKKUPIHCS9HS", "ES", EU_URL),
    ("A1F83G8C2ARO7P", "UK", EU_URL),
    ("A13V1IB3VIYZZH", "FR", EU_URL),
    ("AMEN7PMS3EDWL", "BE", EU_URL),
    ("A1805IZSGTT6HS", "NL", EU_URL),
    ("A1PA6795UKMFR9", "DE", EU_URL),
    ("APJ6JRA9NG5V4", "IT", EU_URL),
    ("A2NODRKZP88ZB9", "SE", EU_URL),
    ("AE08WJ6YKNBMC", "ZA", EU_URL),
    ("A1C3SOZRARQ6R3", "PL", EU_URL),
    ("ARBP9OOSHTCHU", "EG", EU_URL),
    ("A33AVAJ2PDY3EV", "TR", EU_URL),
    ("A17E79C6D8DWNP", "SA", EU_URL),
    ("A2VIGQ35RCS4UG", "AE", EU_URL),
    ("A21TJRUUN4KGV", "IN", EU_URL),
    ("A19VAU5U5O7RUS", "SG", FE_URL),
    ("A39IBJ37TRP1C6", "AU", FE_URL),
    ("A1VC38T7YXB528", "JP", FE_URL),
];

/// The regional endpoint and currency of a marketplace id, if it is a documented one.
pub fn region_of(marketplace_id: &str) -> Option<&'static str> {
    MARKETPLACES
        .iter()
        .find(|(id, _, _)| *id == marketplace_id)
        .map(|(_, _, url)| *url)
}

/// The currency of a marketplace's prices (used for feeds when an offer names none).
pub fn currency_of(marketplace_id: &str) -> &'static str {
    let country = MARKETPLACES
        .iter()
        .find(|(id, _, _)| *id == marketplace_id)
        .map_or("US", |(_, c, _)| *c);
    match country {
        "CA" => "CAD",
        "MX" => "MXN",
        "BR" => "BRL",
        "UK" => "GBP",
        "SE" => "SEK",
        "PL" => "PLN",
        "EG" => "EGP",
        "TR" => "TRY",
        "SA" => "SAR",
        "AE" => "AED",
        "IN" => "INR",
        "ZA" => "ZAR",
        "SG" => "SGD",
        "AU" => "AUD",
        "JP" => "JPY",
        "IE" | "ES" | "FR" | "BE" | "NL" | "DE" | "IT" => "EUR",
        _ => "USD",
    }
}

/// Base URL of every API family, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrls {
    /// Orders v0.
    pub orders: String,
    /// Listings Items 2021-08-01.
    pub listings: String,
    /// FBA Inventory v1.
    pub fba_inventory: String,
    /// Feeds 2021-06-30.
    pub feeds: String,
    /// Product Type Definitions 2020-09-01.
    pub definitions: String,
    /// Finances v0.
    pub finances: String,
}

/// Everything the Amazon connector needs, validated.
#[derive(Clone)]
pub struct AmazonConfig {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) refresh_token: String,
    /// LWA token endpoint.
    pub auth_url: String,
    /// Marketplace of the connection.
    pub marketplace_id: String,
    /// Merchant token (the `{sellerId}` of the Listings Items API), when given.
    pub(crate) seller_id: Option<String>,
    /// Base URLs per API family.
    pub urls: ApiUrls,
    /// Currency of the marketplace.
    pub currency: String,
    /// Default page size.
    pub page_size: u32,
    /// Timeouts, retries, debug logging.
    pub policy: HttpPolicy,
    /// Every credential value, for redaction.
    pub(crate) secrets: Vec<String>,
}

impl std::fmt::Debug for AmazonConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmazonConfig")
            .field("client_id", &"[redacted]")
            .field("client_secret", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("auth_url", &self.auth_url)
            .field("marketplace_id", &self.marketplace_id)
            .field("seller_id", &"[redacted]")
            .field("urls", &self.urls)
            .field("page_size", &self.page_size)
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

impl AmazonConfig {
    /// Reads and validates a connection's credentials and settings.
    pub fn from_connection(config: &ConnectionConfig) -> Result<Self> {
        let creds = &config.credentials;
        let settings = &config.settings;
        let client_id = creds.require("client_id")?.trim().to_string();
        let client_secret = creds.require("client_secret")?.trim().to_string();
        let refresh_token = creds.require("refresh_token")?.trim().to_string();
        let marketplace_id = creds.require("marketplace_id")?.trim().to_string();
        let seller_id = creds
            .get("seller_id")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let base = match settings.base_url.as_deref() {
            Some(url) => check_url("settings.base_url", url)?,
            None => region_of(&marketplace_id)
                .ok_or_else(|| {
                    ConnectorError::Config(format!(
                        "marketplace_id `{marketplace_id}` is not a documented Amazon \
                         marketplace; set settings.base_url to its regional endpoint"
                    ))
                })?
                .to_string(),
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
        let family = |name: &str| -> Result<String> {
            settings
                .api_urls
                .get(name)
                .map(|u| check_url(&format!("settings.api_urls.{name}"), u))
                .transpose()
                .map(|u| u.unwrap_or_else(|| base.clone()))
        };
        let urls = ApiUrls {
            orders: family("orders")?,
            listings: family("listings")?,
            fba_inventory: family("fba_inventory")?,
            feeds: family("feeds")?,
            definitions: family("definitions")?,
            finances: family("finances")?,
        };
        let auth_url = check_url(
            "settings.auth_url",
            settings.auth_url.as_deref().unwrap_or(DEFAULT_AUTH_URL),
        )?;
        Ok(Self {
            secrets: creds.values().map(str::to_string).collect(),
            currency: currency_of(&marketplace_id).to_string(),
            client_id,
            client_secret,
            refresh_token,
            auth_url,
            marketplace_id,
            seller_id,
            urls,
            page_size: settings.batch_size.unwrap_or(MAX_LISTINGS_PAGE_SIZE).max(1),
            policy: settings.http_policy(),
        })
    }

    /// The seller id the Listings Items API and feeds need.
    pub(crate) fn seller_id(&self) -> Result<&str> {
        self.seller_id.as_deref().ok_or_else(|| {
            ConnectorError::Config(
                "credential `seller_id` (your merchant token, Seller Central → Settings → \
                 Account Info → Merchant Token) is required for listings and feeds"
                    .into(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Credentials, Settings};

    fn conn(marketplace: &str, settings: Settings) -> ConnectionConfig {
        ConnectionConfig {
            platform: "amazon".into(),
            credentials: Credentials::from_json(&serde_json::json!({
                "client_id": "amzn1.application-oa2-client.x",
                "client_secret": "secret-1",
                "refresh_token": "Atzr|refresh",
                "marketplace_id": marketplace,
            }))
            .unwrap_or_default(),
            settings,
        }
    }

    #[test]
    fn region_follows_marketplace_and_base_url_wins() {
        let de = AmazonConfig::from_connection(&conn("A1PA6795UKMFR9", Settings::default()));
        let de = de.map(|c| (c.urls.orders, c.currency)).ok();
        assert_eq!(de, Some((EU_URL.to_string(), "EUR".to_string())));
        let jp = AmazonConfig::from_connection(&conn("A1VC38T7YXB528", Settings::default()));
        assert_eq!(jp.map(|c| c.urls.feeds).ok().as_deref(), Some(FE_URL));
        let s = Settings {
            base_url: Some("http://127.0.0.1:9/".into()),
            ..Settings::default()
        };
        let sim = AmazonConfig::from_connection(&conn("XXX", s));
        assert_eq!(
            sim.map(|c| c.urls.listings).ok().as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert!(AmazonConfig::from_connection(&conn("XXX", Settings::default())).is_err());
    }
}

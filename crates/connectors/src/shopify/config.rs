//! Connection configuration of a Shopify shop: credentials, the GraphQL Admin endpoint, page
//! sizes and the documented limits.

use std::collections::BTreeMap;

use crate::{ConnectionConfig, ConnectorError, HttpPolicy, Result};

/// The Admin API version the connector speaks.
pub const API_VERSION: &str = "2025-01";
/// Documented maximum of `first`/`last` on a connection, and of an input array
/// (`inventorySetQuantities.quantities`, `productVariantsBulkUpdate.variants`).
pub const MAX_PAGE_SIZE: u32 = 250;
/// Documented maximum elements of an input array.
pub const MAX_INPUT_ARRAY: usize = 250;
/// Documented maximum requested cost of a single query.
pub const MAX_QUERY_COST: u32 = 1000;
/// Default page size when neither the query nor `settings.batch_size` sets one.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The Standard plan's bucket (points) and restore rate (points per second), used until the
/// shop's own `throttleStatus` is known.
pub const STANDARD_BUCKET: (f64, f64) = (1000.0, 100.0);
/// The scopes a marketsync connection needs (the seed's scopes).
pub const REQUIRED_SCOPES: [&str; 10] = [
    "read_products",
    "write_products",
    "read_orders",
    "write_orders",
    "read_inventory",
    "write_inventory",
    "read_customers",
    "write_customers",
    "read_fulfillments",
    "write_fulfillments",
];

/// API families `settings.api_urls` may override: `graphql`, the full URL of the GraphQL Admin
/// endpoint (e.g. a validating proxy).
pub const API_FAMILIES: [&str; 1] = ["graphql"];

/// Everything the Shopify connector needs, validated.
#[derive(Clone)]
pub struct ShopifyConfig {
    /// The shop's `{shop}.myshopify.com` domain.
    pub shop_domain: String,
    pub(crate) access_token: String,
    pub(crate) api_secret: Option<String>,
    /// The GraphQL Admin endpoint.
    pub graphql_url: String,
    /// Default page size.
    pub page_size: u32,
    /// Shop currency used when an answer does not name one.
    pub currency: String,
    /// Location id (gid or number) or name → marketsync warehouse code.
    pub warehouse_mapping: BTreeMap<String, String>,
    /// Timeouts, retries, debug logging.
    pub policy: HttpPolicy,
    /// Every credential value, for redaction.
    pub(crate) secrets: Vec<String>,
}

impl std::fmt::Debug for ShopifyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopifyConfig")
            .field("shop_domain", &self.shop_domain)
            .field("access_token", &"[redacted]")
            .field("api_secret", &"[redacted]")
            .field("graphql_url", &self.graphql_url)
            .field("page_size", &self.page_size)
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

impl ShopifyConfig {
    /// Reads and validates a connection's credentials and settings.
    pub fn from_connection(config: &ConnectionConfig) -> Result<Self> {
        let creds = &config.credentials;
        let settings = &config.settings;
        let domain = creds.require("shop_domain")?.trim().to_lowercase();
        let domain = domain
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        if domain.is_empty()
            || !domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(ConnectorError::Config(
                "credential `shop_domain` must be a host name such as mystore.myshopify.com".into(),
            ));
        }
        let access_token = creds.require("access_token")?.trim().to_string();
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
        let graphql_url = match settings.api_urls.get("graphql") {
            Some(u) => check_url("settings.api_urls.graphql", u)?,
            None => {
                let base = match settings.base_url.as_deref() {
                    Some(b) => check_url("settings.base_url", b)?,
                    None => format!("https://{domain}"),
                };
                format!("{base}/admin/api/{API_VERSION}/graphql.json")
            }
        };
        Ok(Self {
            secrets: creds.values().map(str::to_string).collect(),
            shop_domain: domain,
            access_token,
            api_secret: creds
                .get("api_secret")
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
            graphql_url,
            page_size: settings
                .batch_size
                .unwrap_or(DEFAULT_PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE),
            currency: "USD".into(),
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
            platform: "shopify".into(),
            credentials: Credentials::from_json(&serde_json::json!({
                "shop_domain": "MyStore.myshopify.com",
                "access_token": "shpat_secret",
                "api_secret": "shpss_secret",
            }))
            .expect("credentials"),
            settings,
        }
    }

    #[test]
    fn production_endpoint_by_default() {
        let c = ShopifyConfig::from_connection(&conn(Settings::default())).expect("config");
        assert_eq!(
            c.graphql_url,
            "https://mystore.myshopify.com/admin/api/2025-01/graphql.json"
        );
    }

    #[test]
    fn base_url_and_family_override() {
        let mut s = Settings {
            base_url: Some("http://127.0.0.1:9000/".into()),
            ..Settings::default()
        };
        let c = ShopifyConfig::from_connection(&conn(s.clone())).expect("config");
        assert_eq!(
            c.graphql_url,
            "http://127.0.0.1:9000/admin/api/2025-01/graphql.json"
        );
        s.api_urls
            .insert("graphql".into(), "http://127.0.0.1:4010/gql".into());
        let c = ShopifyConfig::from_connection(&conn(s)).expect("config");
        assert_eq!(c.graphql_url, "http://127.0.0.1:4010/gql");
        let mut bad = Settings::default();
        bad.api_urls.insert("rest".into(), "http://x".into());
        assert!(ShopifyConfig::from_connection(&conn(bad)).is_err());
    }

    #[test]
    fn debug_hides_credentials() {
        let c = ShopifyConfig::from_connection(&conn(Settings::default())).expect("config");
        let text = format!("{c:?}");
        assert!(!text.contains("shpat_secret") && !text.contains("shpss_secret"));
    }
}

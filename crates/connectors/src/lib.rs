//! Platform connectors.
//!
//! A [`Connector`] talks to one platform account over HTTP exactly as production does: auth,
//! pagination, the platform's rate limits, retries and error mapping live in the platform's
//! module (`config`, `client`, `mapping`). Records are mapped to and from the canonical records
//! of the proto crate. [`registry`] lists every platform; [`build`] makes a connector for a
//! connection.

pub mod amazon;
pub mod backmarket;
pub mod bigcommerce;
pub mod cdiscount;
pub mod ebay;
mod http;
pub mod magento;
pub mod mirakl;
mod oauth;
pub mod opencart;
pub mod prestashop;
pub mod refurbed;
pub mod shopify;
pub mod woocommerce;

pub use http::{HttpPolicy, RetryPolicy, background, priority};

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use marketsync_proto::v1::{Order, PlatformField, PlatformInfo, Product, StockLevel};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Result alias of this crate.
pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;

/// What can go wrong when talking to a platform. Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The platform refused the credentials (revoked or expired token, wrong key).
    #[error("authentication failed: {0}; re-authorize this connection")]
    Auth(String),
    /// The connection's configuration is incomplete or invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Rate limited and out of retries.
    #[error("rate limited by the platform: {0}")]
    RateLimited(String),
    /// A transient failure (5xx, timeout, connection reset) that survived every retry.
    #[error("platform unavailable: {0}")]
    Transient(String),
    /// The platform answered with a body we could not understand.
    #[error("malformed response from the platform: {0}")]
    Malformed(String),
    /// The platform rejected the request (4xx other than auth and rate limits).
    #[error("platform rejected the request ({status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The platform's own error message.
        message: String,
    },
    /// The record does not exist on the platform.
    #[error("not found on the platform: {0}")]
    NotFound(String),
    /// The platform does not support the operation.
    #[error("operation not supported by {0}")]
    Unsupported(String),
}

impl ConnectorError {
    /// Whether a later attempt may succeed without a change of configuration.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::RateLimited(_) | Self::Transient(_))
    }

    /// Whether an export error concerns only the record (the export goes on with the others)
    /// rather than the whole connection.
    pub fn is_record_level(&self) -> bool {
        matches!(self, Self::Rejected { .. } | Self::NotFound(_))
    }
}

/// Credentials of a connection, by the seed's names. Debug never shows values.
#[derive(Clone, Default)]
pub struct Credentials(BTreeMap<String, SecretString>);

impl Credentials {
    /// Builds credentials from a JSON object of strings.
    pub fn from_json(value: &serde_json::Value) -> Result<Self> {
        let obj = value
            .as_object()
            .ok_or_else(|| ConnectorError::Config("credentials must be a JSON object".into()))?;
        let mut map = BTreeMap::new();
        for (k, v) in obj {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => continue,
                other => other.to_string(),
            };
            map.insert(k.clone(), SecretString::from(s));
        }
        Ok(Self(map))
    }

    /// A credential, or a configuration error naming the missing field.
    pub fn require(&self, name: &str) -> Result<&str> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ConnectorError::Config(format!("credential `{name}` is required")))
    }

    /// A credential if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|s| s.expose_secret())
    }

    /// Every credential value, so callers can redact them from any text.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.0.values().map(|s| s.expose_secret())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "[redacted]")))
            .finish()
    }
}

/// Settings of a connection (DESIGN.md: `settings`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Settings {
    /// Base URL of the platform API (a sandbox, simulator or proxy).
    pub base_url: Option<String>,
    /// OAuth token endpoint, where the platform has one.
    pub auth_url: Option<String>,
    /// Per API family base URLs (e.g. `catalog`, `inventory`, `orders_v2`), each pointable at
    /// its own proxy; they win over `base_url`.
    pub api_urls: BTreeMap<String, String>,
    /// Sync frequency in seconds (0 or absent: manual only).
    pub sync_frequency: Option<u64>,
    /// Records per page or batch.
    pub batch_size: Option<u32>,
    /// Attempts for a transient failure.
    pub retry_attempts: Option<u32>,
    /// Per-request timeout in seconds.
    pub timeout_secs: Option<u64>,
    /// Log request and response bodies (secrets redacted).
    pub debug: Option<bool>,
    /// Import and export stock.
    pub sync_inventory: Option<bool>,
    /// Import and export orders.
    pub sync_orders: Option<bool>,
    /// Platform warehouse (location) id or name → marketsync warehouse code.
    pub warehouse_mapping: BTreeMap<String, String>,
    /// Rate limit override: requests per window.
    pub rate_limit_requests: Option<u32>,
    /// Rate limit override: window length in milliseconds.
    pub rate_limit_window_ms: Option<u64>,
}

impl Settings {
    /// The HTTP policy these settings ask for.
    pub fn http_policy(&self) -> HttpPolicy {
        HttpPolicy {
            timeout: Duration::from_secs(self.timeout_secs.unwrap_or(30).max(1)),
            retry: RetryPolicy {
                attempts: self.retry_attempts.unwrap_or(5).max(1),
                ..RetryPolicy::default()
            },
            debug: self.debug.unwrap_or(false),
        }
    }
}

/// Which slice of records an import asks for.
#[derive(Debug, Clone, Default)]
pub struct ImportQuery {
    /// Only records modified at or after this instant (incremental sync); `None` = full.
    pub since: Option<DateTime<Utc>>,
    /// Only records modified before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Only these skus (empty: all).
    pub skus: Vec<String>,
    /// Only these platform ids (empty: all), e.g. the records a webhook named.
    pub ids: Vec<String>,
    /// Page token returned by the previous page (`None`: first page).
    pub page: Option<String>,
    /// Records per page.
    pub page_size: u32,
}

/// One page of an import.
#[derive(Debug, Clone, Default)]
pub struct Page<T> {
    /// The records.
    pub items: Vec<T>,
    /// Token of the next page, `None` on the last.
    pub next: Option<String>,
    /// Total records, when the platform tells.
    pub total: Option<u64>,
}

/// A change of one field of one record, from a correction or an undo.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldUpdate {
    /// Platform id of the product.
    pub external_id: String,
    /// Its sku.
    pub sku: String,
    /// Canonical field: `description`, `brand`, `price`, `weight`, `categories`, `title`.
    pub field: String,
    /// New value, as text (categories: paths separated by `;`).
    pub value: String,
}

/// A shipment (or status change) of an order to export.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderUpdate {
    /// Platform id of the order.
    pub external_id: String,
    /// New canonical status (`shipped`, `cancelled`, …), if any.
    pub status: Option<String>,
    /// Carrier of the shipment.
    pub carrier: Option<String>,
    /// Tracking number of the shipment.
    pub tracking_number: Option<String>,
    /// (sku, quantity) lines shipped; empty: every line.
    pub lines: Vec<(String, i64)>,
}

/// New stock and/or price of one marketplace offer (bulk export).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OfferUpdate {
    /// Seller sku of the offer.
    pub sku: String,
    /// The marketplace's id of the offer or listing, when known (empty: by sku).
    pub external_id: String,
    /// New quantity to list, if it changes.
    pub quantity: Option<i64>,
    /// New price (decimal text and currency), if it changes.
    pub price: Option<marketsync_proto::v1::Money>,
}

impl OfferUpdate {
    /// One quantity-only update per sku, in sku order: the units available in `levels`, added
    /// up over the warehouses (a marketplace lists one quantity per offer).
    pub fn quantities(levels: &[StockLevel]) -> Vec<OfferUpdate> {
        let mut by_sku: BTreeMap<&str, i64> = BTreeMap::new();
        for l in levels {
            *by_sku.entry(l.sku.as_str()).or_default() += l.available.max(0);
        }
        by_sku
            .into_iter()
            .map(|(sku, q)| OfferUpdate {
                sku: sku.to_string(),
                quantity: Some(q),
                ..OfferUpdate::default()
            })
            .collect()
    }
}

/// Canonical order statuses every connector maps to.
pub mod order_status {
    /// The marketplace waits for the seller to accept (Mirakl WAITING_ACCEPTANCE, BackMarket
    /// state 1, …): the connector accepts it with [`Connector::acknowledge_orders`](super::Connector::acknowledge_orders).
    pub const AWAITING_ACCEPTANCE: &str = "awaiting_acceptance";
    /// Paid (or accepted) and waiting to be shipped.
    pub const PROCESSING: &str = "processing";
    /// Some lines shipped.
    pub const PARTIALLY_SHIPPED: &str = "partially_shipped";
    /// Every line shipped.
    pub const SHIPPED: &str = "shipped";
    /// Delivered or closed.
    pub const COMPLETED: &str = "completed";
    /// Cancelled (by buyer, seller or marketplace).
    pub const CANCELLED: &str = "cancelled";
    /// Refunded in full.
    pub const REFUNDED: &str = "refunded";
    /// Refunded in part.
    pub const PARTIALLY_REFUNDED: &str = "partially_refunded";
    /// Waiting for payment.
    pub const PENDING: &str = "pending";
}

/// Outcome of a bulk export.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportReport {
    /// Records the platform accepted.
    pub accepted: u64,
    /// (key, message) of each record it refused.
    pub rejected: Vec<(String, String)>,
}

/// A webhook call as the gateway received it.
#[derive(Debug, Clone, Default)]
pub struct WebhookCall {
    /// Header names in lower case → values.
    pub headers: BTreeMap<String, String>,
    /// The raw body, byte for byte (signatures cover it).
    pub body: Vec<u8>,
}

impl WebhookCall {
    /// A header's value (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// What a verified webhook says changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookEvent {
    /// The platform's id of this delivery or event: the deduplication key.
    pub id: String,
    /// The platform's topic (`products/update`, `store/product/updated`, `product.updated`, …).
    pub topic: String,
    /// What changed: `products`, `stock` or `orders`; `ping` for a platform's check that the
    /// URL answers (acknowledged, starts nothing).
    pub kind: String,
    /// Platform ids of the changed records (empty: unknown, poll).
    pub external_ids: Vec<String>,
    /// Skus of the changed records, when the payload names them.
    pub skus: Vec<String>,
    /// When the platform sent it, when it says (replays older than a tolerance are refused).
    pub sent_at: Option<DateTime<Utc>>,
    /// Orders the payload carries whole, as they were created (a platform that sends the
    /// resource with its webhook): imported without another call to the platform. Only new
    /// orders travel so; an update is read again, since deliveries may come out of order.
    pub orders: Vec<Order>,
}

/// Compares two byte strings in time that does not depend on where they differ (signatures).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A platform account, reachable over HTTP.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Platform id (`bigcommerce`, …).
    fn platform(&self) -> &'static str;
    /// Checks credentials and reachability; returns a human-readable message.
    async fn test_connection(&self) -> Result<String>;
    /// One page of products (with variants).
    async fn products_page(&self, query: &ImportQuery) -> Result<Page<Product>>;
    /// One page of stock levels per warehouse.
    async fn stock_page(&self, query: &ImportQuery) -> Result<Page<StockLevel>>;
    /// One page of orders.
    async fn orders_page(&self, query: &ImportQuery) -> Result<Page<Order>>;
    /// Sets absolute stock levels (batch endpoint where the platform has one).
    async fn export_stock(&self, levels: &[StockLevel]) -> Result<ExportReport>;
    /// How long a stock push (a background call) would wait for this connection's rate
    /// budget now. The pusher waits this long before it gathers what is due, so the push
    /// carries every change made meanwhile instead of leaving them to the next one (zero: it
    /// could go at once, or the connector paces nothing).
    fn stock_push_wait(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
    /// Exports order status changes with shipments and tracking.
    async fn export_orders(&self, updates: &[OrderUpdate]) -> Result<ExportReport>;
    /// Writes one field of one product (a correction or its undo).
    async fn update_field(&self, update: &FieldUpdate) -> Result<()>;
    /// Sets stock and/or price of many offers at once, through the marketplace's bulk
    /// endpoint (feeds, bulk calls, import files), keeping inside its batch sizes and rate
    /// limits and waiting for asynchronous imports to finish; per-offer refusals come back in
    /// the report, keyed by sku.
    async fn export_offers(&self, offers: &[OfferUpdate]) -> Result<ExportReport> {
        let _ = offers;
        Err(ConnectorError::Unsupported(format!(
            "{} bulk offer export",
            self.platform()
        )))
    }
    /// Warehouses the marketplace stocks and ships from itself (Amazon's `FBA`): their
    /// quantities are imported, never pushed, and not part of what the seller offers.
    fn marketplace_warehouses(&self) -> &'static [&'static str] {
        &[]
    }
    /// Accepts orders the marketplace holds in [`order_status::AWAITING_ACCEPTANCE`]
    /// (idempotent: an order already accepted counts as accepted).
    async fn acknowledge_orders(&self, external_ids: &[String]) -> Result<ExportReport> {
        let _ = external_ids;
        Err(ConnectorError::Unsupported(format!(
            "{} order acceptance",
            self.platform()
        )))
    }
    /// Checks a webhook call's signature against the connection's secret and reads what it
    /// says changed. A missing or wrong signature is [`ConnectorError::Auth`].
    fn verify_webhook(&self, call: &WebhookCall) -> Result<WebhookEvent> {
        let _ = call;
        Err(ConnectorError::Unsupported(format!(
            "{} webhooks",
            self.platform()
        )))
    }
    /// Answers a platform's check that the webhook URL belongs to this subscriber (eBay sends
    /// a GET with `challenge_code`): `(content type, body)`. `query` holds the GET's query
    /// parameters, `endpoint` the URL exactly as subscribed.
    fn answer_challenge(
        &self,
        query: &BTreeMap<String, String>,
        endpoint: &str,
    ) -> Result<(String, String)> {
        let _ = (query, endpoint);
        Err(ConnectorError::Unsupported(format!(
            "{} webhook challenges",
            self.platform()
        )))
    }
    /// Subscribes `url` to the platform's product, stock and order change notifications
    /// (idempotent: an existing subscription to `url` is kept). Returns the topics subscribed.
    async fn register_webhooks(&self, url: &str) -> Result<Vec<String>> {
        let _ = url;
        Err(ConnectorError::Unsupported(format!(
            "{} webhooks",
            self.platform()
        )))
    }
}

/// Everything a connector needs to reach an account.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Platform id.
    pub platform: String,
    /// Decrypted credentials.
    pub credentials: Credentials,
    /// Settings.
    pub settings: Settings,
}

/// Every platform marketsync supports, with the fields of its forms.
pub fn registry() -> Vec<PlatformInfo> {
    vec![
        amazon::platform_info(),
        bigcommerce::platform_info(),
        opencart::platform_info(),
        shopify::platform_info(),
        woocommerce::platform_info(),
        prestashop::platform_info(),
        magento::platform_info(),
        refurbed::platform_info(),
        backmarket::platform_info(),
        ebay::platform_info(),
        cdiscount::platform_info(),
        mirakl::platform_info(),
    ]
}

/// Makes the connector of a connection.
pub fn build(config: ConnectionConfig) -> Result<Box<dyn Connector>> {
    match config.platform.as_str() {
        amazon::PLATFORM => Ok(Box::new(amazon::Amazon::new(config)?)),
        bigcommerce::PLATFORM => Ok(Box::new(bigcommerce::BigCommerce::new(config)?)),
        opencart::PLATFORM => Ok(Box::new(opencart::OpenCart::new(config)?)),
        shopify::PLATFORM => Ok(Box::new(shopify::Shopify::new(config)?)),
        woocommerce::PLATFORM => Ok(Box::new(woocommerce::WooCommerce::new(config)?)),
        prestashop::PLATFORM => Ok(Box::new(prestashop::PrestaShop::new(config)?)),
        magento::PLATFORM => Ok(Box::new(magento::Magento::new(config)?)),
        refurbed::PLATFORM => Ok(Box::new(refurbed::Refurbed::new(config)?)),
        backmarket::PLATFORM => Ok(Box::new(backmarket::BackMarket::new(config)?)),
        ebay::PLATFORM => Ok(Box::new(ebay::Ebay::new(config)?)),
        cdiscount::PLATFORM => Ok(Box::new(cdiscount::Cdiscount::new(config)?)),
        mirakl::PLATFORM => Ok(Box::new(mirakl::Mirakl::new(config)?)),
        other => Err(ConnectorError::Config(format!(
            "unknown platform `{other}`"
        ))),
    }
}

/// The setting fields every platform shares (DESIGN.md `settings`).
pub fn common_settings() -> Vec<PlatformField> {
    [
        ("base_url", "API base URL (sandbox, simulator or proxy)"),
        ("auth_url", "OAuth token URL"),
        ("sync_frequency", "Sync every N seconds (0: manual)"),
        ("batch_size", "Records per page"),
        ("retry_attempts", "Attempts on transient errors"),
        ("timeout_secs", "Request timeout in seconds"),
        (
            "debug",
            "Log request and response bodies (secrets redacted)",
        ),
        ("sync_inventory", "Sync stock"),
        ("sync_orders", "Sync orders"),
        ("warehouse_mapping", "Platform location → warehouse"),
    ]
    .into_iter()
    .map(|(name, label)| field(name, label, false, false, ""))
    .collect()
}

/// A form field.
pub fn field(name: &str, label: &str, secret: bool, required: bool, help: &str) -> PlatformField {
    PlatformField {
        name: name.into(),
        label: label.into(),
        secret,
        required,
        help: help.into(),
    }
}

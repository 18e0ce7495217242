//! Shopify: the GraphQL Admin API, version 2025-01 (REST is legacy).
//!
//! Every request is a POST of a GraphQL document to `/admin/api/2025-01/graphql.json` on the
//! shop's domain with the `X-Shopify-Access-Token` header; `settings.base_url` replaces
//! `https://{shop_domain}` and `settings.api_urls.graphql` the whole endpoint. Rate limits are
//! Shopify's cost-based leaky bucket (Standard plan: 1000 points, 100 restored per second):
//! the client reads `extensions.cost.throttleStatus` from every answer, waits before a query
//! the bucket cannot pay, and waits out `THROTTLED` errors; page sizes are chosen so that a
//! page stays under the 1000-point single-query limit. Full catalog reads run as a bulk
//! operation (`bulkOperationRunQuery`, polled through `node`, JSONL result downloaded without
//! the token); incremental and filtered reads page with cursors. Stock is written with
//! `inventorySetQuantities` (on hand, compare quantities, at most 250 per call), shipments
//! with `fulfillmentCreate` on the order's fulfillment orders, product fields with
//! `productUpdate` and `productVariantsBulkUpdate`. Webhooks are verified with
//! `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the raw body keyed by the app's API secret).
//!
//! Page tokens: `c:<cursor>` for cursor pages, `bulk:<operation id>:<offset>` for the pages of
//! a full read (the bulk result is kept by the connector between its pages, and read again by
//! a new bulk operation if another connector instance asks for a later page).
//!
//! Field mapping: brand ↔ `vendor`, category ↔ `productType` (one path), description ↔
//! `descriptionHtml`, price and weight ↔ every variant's `price` and inventory item weight
//! (kg), product sku and GTIN ↔ the `custom.sku`/`custom.gtin` metafields (simple products:
//! the default variant's sku and barcode).

mod client;
pub mod config;
pub mod documents;
mod mapping;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use marketsync_proto::v1::{Order, PlatformInfo, Product, StockLevel};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{
    ConnectionConfig, Connector, ConnectorError, ExportReport, FieldUpdate, ImportQuery,
    OrderUpdate, Page, Result, WebhookCall, WebhookEvent, common_settings, constant_time_eq, field,
};
use client::Client;
use config::{MAX_INPUT_ARRAY, MAX_PAGE_SIZE, MAX_QUERY_COST, REQUIRED_SCOPES, ShopifyConfig};
use documents as doc;
use mapping::{Conn, Item, ShOrder, ShProduct, ShVariant};

/// Platform id.
pub const PLATFORM: &str = "shopify";

/// Webhook topics `register_webhooks` subscribes (GraphQL enum values).
pub const WEBHOOK_TOPICS: [&str; 5] = [
    "PRODUCTS_CREATE",
    "PRODUCTS_UPDATE",
    "INVENTORY_LEVELS_UPDATE",
    "ORDERS_CREATE",
    "ORDERS_UPDATED",
];

/// The `X-Shopify-Topic` form of a GraphQL topic (`INVENTORY_LEVELS_UPDATE` →
/// `inventory_levels/update`).
pub fn topic_header(topic: &str) -> String {
    let lower = topic.to_lowercase();
    match lower.strip_prefix("inventory_levels_") {
        Some(action) => format!("inventory_levels/{action}"),
        None => lower.replacen('_', "/", 1),
    }
}

/// Skus per inventory search (keeps the search string short).
const SKUS_PER_SEARCH: usize = 50;
/// Polls of a bulk operation before giving up.
const MAX_BULK_POLLS: u32 = 600;

/// The platform with the fields of its connection form.
pub fn platform_info() -> PlatformInfo {
    PlatformInfo {
        id: PLATFORM.into(),
        name: "Shopify".into(),
        kind: "shop".into(),
        credentials: vec![
            field(
                "shop_domain",
                "Shop domain",
                false,
                true,
                "The shop's permanent domain, e.g. mystore.myshopify.com",
            ),
            field(
                "access_token",
                "Admin API access token",
                true,
                true,
                "Sent as X-Shopify-Access-Token (shpat_…)",
            ),
            field("api_key", "API key", false, false, "The app's API key"),
            field(
                "api_secret",
                "API secret key",
                true,
                false,
                "The app's API secret; also the key of webhook HMAC signatures",
            ),
        ],
        settings: common_settings()
            .into_iter()
            .chain([field(
                "api_urls",
                "API base URL per family",
                false,
                false,
                "`graphql`: full URL of the GraphQL Admin endpoint (e.g. a proxy); wins over base_url",
            )])
            .collect(),
        docs_url: "https://shopify.dev/docs/api/admin-graphql/2025-01".into(),
    }
}

/// What a stock export needs of an inventory item: its id and, per location, the location id,
/// the warehouse it maps to and the `available` quantity last read or set there.
#[derive(Debug, Clone)]
struct KnownItem {
    id: String,
    levels: Vec<(String, String, i64)>,
}

/// A bulk result kept for the pages of one full import.
struct BulkCache {
    id: String,
    products: Vec<Product>,
}

/// A Shopify shop.
pub struct Shopify {
    client: Client,
    bulk: Mutex<Option<BulkCache>>,
    /// Inventory items by sku, as last read or set: a stock export looks up only skus it has
    /// not seen (a lookup holds 33 points of the shop's cost bucket per item).
    known: Mutex<HashMap<String, KnownItem>>,
}

impl std::fmt::Debug for Shopify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shopify")
            .field("config", &self.client.cfg)
            .finish()
    }
}

/// Requested cost of a page of `first` nodes of `node_cost` points each.
fn page_cost(first: u32, node_cost: u32) -> u32 {
    2 + first * node_cost
}

/// The largest page within the query's size, 250 and the single-query cost limit.
fn page_first(query: &ImportQuery, default: u32, node_cost: u32) -> u32 {
    let wanted = if query.page_size == 0 {
        default
    } else {
        query.page_size
    };
    let by_cost = (MAX_QUERY_COST - 2) / node_cost.max(1);
    // Records asked for by id: a page no larger than their count (Shopify holds a query's
    // requested cost against the bucket until it answers, so an oversized page waits for a
    // fuller bucket than the records need).
    let wanted = if query.ids.is_empty() {
        wanted
    } else {
        wanted.min(u32::try_from(query.ids.len()).unwrap_or(u32::MAX))
    };
    wanted.clamp(1, MAX_PAGE_SIZE).min(by_cost.max(1))
}

/// The cursor of a page token (`c:<cursor>`).
fn cursor(token: Option<&str>) -> Result<Option<String>> {
    match token {
        None => Ok(None),
        Some(t) => t
            .strip_prefix("c:")
            .map(|c| Some(c.to_string()))
            .ok_or_else(|| ConnectorError::Config(format!("invalid page token `{t}`"))),
    }
}

fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The numeric part of a gid (or the text itself).
fn numeric(id: &str) -> &str {
    let last = id.rsplit('/').next().unwrap_or(id);
    last.split('?').next().unwrap_or(last)
}

/// A search query: modification window, skus, ids (`AND` of `OR` groups).
fn search(query: &ImportQuery, with_ids: bool) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(since) = query.since {
        parts.push(format!("updated_at:>='{}'", time(since)));
    }
    if let Some(until) = query.until {
        parts.push(format!("updated_at:<'{}'", time(until)));
    }
    if !query.skus.is_empty() {
        let skus: Vec<String> = query
            .skus
            .iter()
            .map(|s| format!("sku:{}", quote(s)))
            .collect();
        parts.push(format!("({})", skus.join(" OR ")));
    }
    if with_ids && !query.ids.is_empty() {
        let ids: Vec<String> = query
            .ids
            .iter()
            .map(|s| format!("id:{}", numeric(s)))
            .collect();
        parts.push(format!("({})", ids.join(" OR ")));
    }
    (!parts.is_empty()).then(|| parts.join(" AND "))
}

fn rejected(message: String) -> ConnectorError {
    ConnectorError::Rejected {
        status: 422,
        message,
    }
}

/// A mutation payload's `userErrors`.
#[derive(Debug, Default, Deserialize)]
struct UserError {
    #[serde(default)]
    field: Option<Vec<String>>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: String,
}

fn user_errors(errors: &[UserError]) -> Option<String> {
    (!errors.is_empty()).then(|| {
        errors
            .iter()
            .map(|e| match &e.field {
                Some(f) if !f.is_empty() => format!("{}: {}", f.join("."), e.message),
                _ => e.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    })
}

#[derive(Debug, Deserialize)]
struct ProductsData {
    products: Conn<ShProduct>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemsData {
    inventory_items: Conn<Item>,
}

#[derive(Debug, Deserialize)]
struct OrdersData {
    orders: Conn<ShOrder>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkOperation {
    #[serde(default)]
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    url: Option<String>,
}

impl Shopify {
    /// A connector for `config`; validates credentials and settings without network calls.
    pub fn new(config: ConnectionConfig) -> Result<Self> {
        let cfg = ShopifyConfig::from_connection(&config)?;
        Ok(Self {
            client: Client::new(cfg)?,
            bulk: Mutex::new(None),
            known: Mutex::new(HashMap::new()),
        })
    }

    fn currency(&self) -> &str {
        &self.client.cfg.currency
    }

    /// A paged query of `first` nodes of `node_cost` points; should Shopify cost the page above
    /// the single-query limit after all (`MAX_COST_EXCEEDED`), the page is halved and asked
    /// again.
    async fn paged<T: serde::de::DeserializeOwned>(
        &self,
        document: &str,
        first: u32,
        node_cost: u32,
        variables: impl Fn(u32) -> Value,
    ) -> Result<T> {
        let mut first = first.max(1);
        loop {
            match self
                .client
                .query(document, variables(first), page_cost(first, node_cost))
                .await
            {
                Err(ConnectorError::Rejected { message, .. })
                    if message.contains("MAX_COST_EXCEEDED") && first > 1 =>
                {
                    first /= 2;
                    tracing::warn!(
                        platform = PLATFORM,
                        first,
                        "query cost above the single-query limit, asking smaller pages"
                    );
                }
                other => return other,
            }
        }
    }

    /// Runs the full-catalog bulk query and returns (operation id, products).
    async fn bulk_products(&self) -> Result<(String, Vec<Product>)> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct RunData {
            bulk_operation_run_query: RunPayload,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct RunPayload {
            bulk_operation: Option<BulkOperation>,
            #[serde(default)]
            user_errors: Vec<UserError>,
        }
        #[derive(Deserialize)]
        struct NodeData {
            node: Option<BulkOperation>,
        }
        let mut started = None;
        for _ in 0..MAX_BULK_POLLS {
            let run: RunData = self
                .client
                .query(
                    doc::BULK_RUN,
                    json!({"query": doc::BULK_PRODUCTS_QUERY}),
                    10,
                )
                .await?;
            let payload = run.bulk_operation_run_query;
            if let Some(op) = payload.bulk_operation {
                started = Some(op);
                break;
            }
            let message = user_errors(&payload.user_errors).unwrap_or_default();
            if !message.contains("already in progress") {
                return Err(rejected(format!("bulk operation refused: {message}")));
            }
            // Another bulk query of this app runs: wait for it to end.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let Some(mut op) = started else {
            return Err(ConnectorError::Transient(
                "a bulk operation of this app kept running".into(),
            ));
        };
        let mut delay = Duration::from_millis(50);
        for _ in 0..MAX_BULK_POLLS {
            match op.status.as_str() {
                "COMPLETED" => break,
                "FAILED" | "CANCELED" | "CANCELING" | "EXPIRED" => {
                    return Err(ConnectorError::Transient(format!(
                        "bulk operation ended {} ({})",
                        op.status,
                        op.error_code.as_deref().unwrap_or("no error code")
                    )));
                }
                _ => {}
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
            let polled: NodeData = self
                .client
                .query(doc::BULK_STATUS, json!({"id": op.id}), 1)
                .await?;
            op = polled.node.ok_or_else(|| {
                ConnectorError::Malformed("bulk operation vanished while polled".into())
            })?;
        }
        if op.status != "COMPLETED" {
            return Err(ConnectorError::Transient(
                "bulk operation did not complete in time".into(),
            ));
        }
        // A completed operation without a URL found no objects.
        let text = match op.url.as_deref() {
            Some(url) => self.client.download(url).await?,
            None => String::new(),
        };
        Ok((op.id, self.parse_bulk(&text)?))
    }

    /// Products of a bulk JSONL result: product lines, then their variants and media with
    /// `__parentId`.
    fn parse_bulk(&self, text: &str) -> Result<Vec<Product>> {
        let mut order: Vec<String> = Vec::new();
        let mut products: HashMap<String, ShProduct> = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(line).map_err(|e| {
                ConnectorError::Malformed(format!("bulk result line {}: {e}", n + 1))
            })?;
            let bad = |e: serde_json::Error| {
                ConnectorError::Malformed(format!("bulk result line {}: {e}", n + 1))
            };
            match v.get("__parentId").and_then(Value::as_str) {
                None => {
                    let p: ShProduct = serde_json::from_value(v).map_err(bad)?;
                    order.push(p.id.clone());
                    products.insert(p.id.clone(), p);
                }
                Some(parent) => {
                    let Some(p) = products.get_mut(parent) else {
                        continue;
                    };
                    let id = v["id"].as_str().unwrap_or("");
                    if id.contains("/ProductVariant/") {
                        p.variants
                            .nodes
                            .push(serde_json::from_value::<ShVariant>(v).map_err(bad)?);
                    } else {
                        p.media.nodes.push(serde_json::from_value(v).map_err(bad)?);
                    }
                }
            }
        }
        Ok(order
            .into_iter()
            .filter_map(|id| products.remove(&id))
            .map(|p| mapping::product(p, self.currency()))
            .collect())
    }

    /// A page of the bulk result `id` (running the operation on the first page).
    async fn bulk_page(&self, token: Option<&str>, size: u32) -> Result<Page<Product>> {
        let (id, offset) = match token {
            None => (None, 0usize),
            Some(t) => {
                let rest = t.strip_prefix("bulk:").unwrap_or("");
                let (id, off) = rest
                    .rsplit_once(':')
                    .ok_or_else(|| ConnectorError::Config(format!("invalid page token `{t}`")))?;
                let off = off
                    .parse()
                    .map_err(|_| ConnectorError::Config(format!("invalid page token `{t}`")))?;
                (Some(id.to_string()), off)
            }
        };
        let cached = {
            let guard = self.bulk.lock().unwrap_or_else(|e| e.into_inner());
            guard
                .as_ref()
                .filter(|c| Some(&c.id) == id.as_ref())
                .map(|c| (c.id.clone(), c.products.clone()))
        };
        let (id, products) = match cached {
            Some(c) => c,
            None => {
                let fresh = self.bulk_products().await?;
                *self.bulk.lock().unwrap_or_else(|e| e.into_inner()) = Some(BulkCache {
                    id: fresh.0.clone(),
                    products: fresh.1.clone(),
                });
                fresh
            }
        };
        let total = products.len();
        let items: Vec<Product> = products
            .into_iter()
            .skip(offset)
            .take(size as usize)
            .collect();
        let end = offset + items.len();
        let next = (end < total).then(|| format!("bulk:{id}:{end}"));
        if next.is_none() {
            *self.bulk.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        Ok(Page {
            items,
            next,
            total: Some(total as u64),
        })
    }

    /// The product gid behind an update: its external id, else a search by sku.
    async fn product_id(&self, update: &FieldUpdate) -> Result<String> {
        let id = update.external_id.trim();
        if id.starts_with("gid://shopify/Product/") {
            return Ok(id.to_string());
        }
        if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) {
            return Ok(format!("gid://shopify/Product/{id}"));
        }
        if update.sku.trim().is_empty() {
            return Err(ConnectorError::NotFound(
                "a product without external id or sku".into(),
            ));
        }
        // The product sku lives in the `custom.sku` metafield; a variant sku finds its product.
        let sku = quote(update.sku.trim());
        let data: ProductsData = self
            .client
            .query(
                doc::PRODUCTS,
                json!({"first": 1, "query": format!("metafields.custom.sku:{sku} OR sku:{sku}")}),
                page_cost(1, doc::PRODUCT_NODE_COST),
            )
            .await?;
        data.products
            .nodes
            .into_iter()
            .next()
            .map(|p| p.id)
            .ok_or_else(|| ConnectorError::NotFound(format!("product with sku `{}`", update.sku)))
    }

    async fn variant_ids(&self, product: &str) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Data {
            product: Option<P>,
        }
        #[derive(Deserialize)]
        struct P {
            variants: Conn<ShVariant>,
        }
        let data: Data = self
            .client
            .query(doc::PRODUCT_VARIANTS, json!({"id": product}), 2 + 2 + 100)
            .await?;
        let p = data
            .product
            .ok_or_else(|| ConnectorError::NotFound(format!("product {product}")))?;
        Ok(p.variants.nodes.into_iter().map(|v| v.id).collect())
    }

    async fn update_variants(&self, product: &str, fields: Value) -> Result<()> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            product_variants_bulk_update: Payload,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Payload {
            #[serde(default)]
            user_errors: Vec<UserError>,
        }
        let ids = self.variant_ids(product).await?;
        for chunk in ids.chunks(MAX_INPUT_ARRAY) {
            let variants: Vec<Value> = chunk
                .iter()
                .map(|id| {
                    let mut v = fields.clone();
                    v["id"] = json!(id);
                    v
                })
                .collect();
            let data: Data = self
                .client
                .query(
                    doc::VARIANTS_BULK_UPDATE,
                    json!({"productId": product, "variants": variants}),
                    10,
                )
                .await?;
            if let Some(m) = user_errors(&data.product_variants_bulk_update.user_errors) {
                return Err(rejected(m));
            }
        }
        Ok(())
    }

    async fn update_product(&self, input: Value) -> Result<()> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            product_update: Payload,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Payload {
            #[serde(default)]
            user_errors: Vec<UserError>,
        }
        let data: Data = self
            .client
            .query(doc::PRODUCT_UPDATE, json!({"product": input}), 10)
            .await?;
        match user_errors(&data.product_update.user_errors) {
            Some(m) => Err(rejected(m)),
            None => Ok(()),
        }
    }

    /// One order update: cancellation, or a fulfillment (unless one with the same tracking
    /// number exists).
    async fn export_order(&self, u: &OrderUpdate) -> Result<()> {
        let id = u.external_id.trim();
        let gid = if id.starts_with("gid://") {
            id.to_string()
        } else if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) {
            format!("gid://shopify/Order/{id}")
        } else {
            return Err(ConnectorError::NotFound(format!("order `{id}`")));
        };
        let status = u
            .status
            .as_deref()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty());
        if matches!(status.as_deref(), Some("cancelled" | "canceled")) {
            return self.cancel_order(&gid).await;
        }
        let tracking = u.tracking_number.as_deref().unwrap_or("").trim();
        let carrier = u.carrier.as_deref().unwrap_or("").trim();
        let ships = matches!(
            status.as_deref(),
            Some("shipped" | "completed" | "partially_shipped")
        );
        if !ships && tracking.is_empty() && carrier.is_empty() && u.lines.is_empty() {
            return match status {
                Some(s) => Err(rejected(format!(
                    "Shopify order status `{s}` cannot be set: Shopify derives it from fulfillments and payments"
                ))),
                None => Ok(()),
            };
        }
        self.fulfill(&gid, u, tracking, carrier).await
    }

    async fn cancel_order(&self, gid: &str) -> Result<()> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            order_cancel: Payload,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Payload {
            #[serde(default)]
            order_cancel_user_errors: Vec<UserError>,
        }
        let data: Data = self
            .client
            .query(
                doc::ORDER_CANCEL,
                json!({"orderId": gid, "reason": "OTHER", "refund": false, "restock": true}),
                10,
            )
            .await?;
        match user_errors(&data.order_cancel.order_cancel_user_errors) {
            Some(m) => Err(rejected(m)),
            None => Ok(()),
        }
    }

    async fn fulfill(
        &self,
        gid: &str,
        u: &OrderUpdate,
        tracking: &str,
        carrier: &str,
    ) -> Result<()> {
        #[derive(Deserialize)]
        struct Data {
            order: Option<O>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct O {
            #[serde(default)]
            cancelled_at: Option<String>,
            #[serde(default)]
            fulfillment_orders: Conn<Fo>,
            #[serde(default)]
            fulfillments: Vec<F>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Fo {
            id: String,
            #[serde(default)]
            status: String,
            #[serde(default)]
            line_items: Conn<FoLine>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct FoLine {
            id: String,
            #[serde(default)]
            remaining_quantity: i64,
            #[serde(default)]
            line_item: Option<L>,
        }
        #[derive(Deserialize)]
        struct L {
            #[serde(default)]
            sku: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct F {
            #[serde(default)]
            tracking_info: Vec<mapping::Tracking>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Created {
            fulfillment_create: Payload,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Payload {
            #[serde(default)]
            user_errors: Vec<UserError>,
        }
        let data: Data = self
            .client
            .query(
                doc::ORDER_FOR_FULFILLMENT,
                json!({"id": gid}),
                1 + (2 + 5 * (1 + 2 + 50 * 2)) + (2 + 20 * 2),
            )
            .await?;
        let order = data
            .order
            .ok_or_else(|| ConnectorError::NotFound(format!("order {gid}")))?;
        if order.cancelled_at.is_some() {
            return Err(rejected(format!("order {gid} is cancelled")));
        }
        if !tracking.is_empty()
            && order
                .fulfillments
                .iter()
                .any(|f| f.tracking_info.iter().any(|t| t.number == tracking))
        {
            return Ok(());
        }
        let open: Vec<&Fo> = order
            .fulfillment_orders
            .nodes
            .iter()
            .filter(|f| matches!(f.status.as_str(), "OPEN" | "IN_PROGRESS" | "SCHEDULED"))
            .collect();
        let mut groups: Vec<Value> = Vec::new();
        if u.lines.is_empty() {
            for fo in &open {
                let items: Vec<Value> = fo
                    .line_items
                    .nodes
                    .iter()
                    .filter(|l| l.remaining_quantity > 0)
                    .map(|l| json!({"id": l.id, "quantity": l.remaining_quantity}))
                    .collect();
                if !items.is_empty() {
                    groups.push(
                        json!({"fulfillmentOrderId": fo.id, "fulfillmentOrderLineItems": items}),
                    );
                }
            }
        } else {
            let mut by_fo: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            for (sku, quantity) in &u.lines {
                let found = open.iter().find_map(|fo| {
                    fo.line_items
                        .nodes
                        .iter()
                        .find(|l| {
                            l.remaining_quantity > 0
                                && l.line_item.as_ref().and_then(|x| x.sku.as_deref())
                                    == Some(sku.as_str())
                        })
                        .map(|l| (fo.id.clone(), l.id.clone()))
                });
                let (fo, line) = found.ok_or_else(|| {
                    rejected(format!(
                        "order {gid} has no line left to ship with sku `{sku}`"
                    ))
                })?;
                by_fo
                    .entry(fo)
                    .or_default()
                    .push(json!({"id": line, "quantity": quantity}));
            }
            groups = by_fo
                .into_iter()
                .map(|(fo, items)| json!({"fulfillmentOrderId": fo, "fulfillmentOrderLineItems": items}))
                .collect();
        }
        if groups.is_empty() {
            return Err(rejected(format!("order {gid} has nothing left to ship")));
        }
        let mut input = json!({"lineItemsByFulfillmentOrder": groups, "notifyCustomer": false});
        if !tracking.is_empty() || !carrier.is_empty() {
            let mut t = serde_json::Map::new();
            if !tracking.is_empty() {
                t.insert("number".into(), json!(tracking));
            }
            if !carrier.is_empty() {
                t.insert("company".into(), json!(carrier));
            }
            input["trackingInfo"] = Value::Object(t);
        }
        let created: Created = self
            .client
            .query(doc::FULFILLMENT_CREATE, json!({"fulfillment": input}), 10)
            .await?;
        match user_errors(&created.fulfillment_create.user_errors) {
            Some(m) => Err(rejected(m)),
            None => Ok(()),
        }
    }

    /// Sets every `compareQuantity` of `quantities` to the on-hand quantity stored now.
    async fn refresh_compare(&self, quantities: &mut [Value]) -> Result<()> {
        let ids: Vec<String> = quantities
            .iter()
            .filter_map(|q| {
                q["inventoryItemId"]
                    .as_str()
                    .map(|s| numeric(s).to_string())
            })
            .collect();
        let mut current: HashMap<(String, String), i64> = HashMap::new();
        for group in ids.chunks(SKUS_PER_SEARCH) {
            let ors: Vec<String> = group.iter().map(|id| format!("id:{id}")).collect();
            let filter = ors.join(" OR ");
            let mut after: Option<String> = None;
            loop {
                // Ask for as many items as searched for: Shopify holds the requested cost of
                // a query against the bucket, so a page sized for the whole limit would wait
                // for an almost full bucket every time.
                let first = ((MAX_QUERY_COST - 2) / doc::INVENTORY_NODE_COST)
                    .min(group.len().max(1) as u32);
                let data: ItemsData = self
                    .client
                    .query(
                        doc::INVENTORY_ITEMS,
                        json!({"first": first, "after": after, "query": filter}),
                        page_cost(first, doc::INVENTORY_NODE_COST),
                    )
                    .await?;
                let next = data.inventory_items.next();
                for item in &data.inventory_items.nodes {
                    for l in &item.inventory_levels.nodes {
                        current.insert(
                            (item.id.clone(), l.location.id.clone()),
                            l.quantity("available"),
                        );
                    }
                }
                match next {
                    Some(c) => after = Some(c),
                    None => break,
                }
            }
        }
        for q in quantities.iter_mut() {
            let key = (
                q["inventoryItemId"].as_str().unwrap_or("").to_string(),
                q["locationId"].as_str().unwrap_or("").to_string(),
            );
            if let Some(n) = current.get(&key) {
                q["compareQuantity"] = json!(n);
            }
        }
        Ok(())
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<String, KnownItem>> {
        // Plain ids and numbers: a panic elsewhere cannot leave them inconsistent.
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers what a read of `items` showed.
    fn remember(&self, items: &[Item]) {
        let mut known = self.known();
        for item in items.iter().filter(|i| !i.sku.trim().is_empty()) {
            let levels = item
                .inventory_levels
                .nodes
                .iter()
                .map(|l| {
                    (
                        l.location.id.clone(),
                        self.client.warehouse_of(&l.location.id, &l.location.name),
                        l.quantity("available"),
                    )
                })
                .collect();
            known.insert(
                item.sku.trim().to_string(),
                KnownItem {
                    id: item.id.clone(),
                    levels,
                },
            );
        }
    }

    /// The inventory items of `skus`: remembered ones as they are, the others looked up.
    async fn items_for(&self, skus: &[String]) -> Result<HashMap<String, KnownItem>> {
        let mut out = HashMap::new();
        let mut missing = Vec::new();
        {
            let known = self.known();
            for sku in skus {
                match known.get(sku) {
                    Some(k) => {
                        out.insert(sku.clone(), k.clone());
                    }
                    None => missing.push(sku.clone()),
                }
            }
        }
        if !missing.is_empty() {
            let found = self.items_by_sku(&missing).await?;
            let found: Vec<Item> = found.into_values().collect();
            self.remember(&found);
            let known = self.known();
            for sku in missing {
                if let Some(k) = known.get(&sku) {
                    out.insert(sku, k.clone());
                }
            }
        }
        Ok(out)
    }

    /// Inventory items of `skus` (searched in groups), by sku.
    async fn items_by_sku(&self, skus: &[String]) -> Result<HashMap<String, Item>> {
        let mut out = HashMap::new();
        for group in skus.chunks(SKUS_PER_SEARCH) {
            let q = ImportQuery {
                skus: group.to_vec(),
                ..ImportQuery::default()
            };
            let mut after: Option<String> = None;
            loop {
                // Ask for as many items as searched for: Shopify holds the requested cost of
                // a query against the bucket, so a page sized for the whole limit would wait
                // for an almost full bucket every time.
                let first = ((MAX_QUERY_COST - 2) / doc::INVENTORY_NODE_COST)
                    .min(group.len().max(1) as u32);
                let data: ItemsData = self
                    .client
                    .query(
                        doc::INVENTORY_ITEMS,
                        json!({"first": first, "after": after, "query": search(&q, false)}),
                        page_cost(first, doc::INVENTORY_NODE_COST),
                    )
                    .await?;
                let next = data.inventory_items.next();
                for item in data.inventory_items.nodes {
                    out.insert(item.sku.clone(), item);
                }
                match next {
                    Some(c) => after = Some(c),
                    None => break,
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl Connector for Shopify {
    fn platform(&self) -> &'static str {
        PLATFORM
    }

    async fn test_connection(&self) -> Result<String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            shop: Shop,
            current_app_installation: Installation,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Shop {
            name: String,
            #[serde(default)]
            myshopify_domain: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Installation {
            access_scopes: Vec<Scope>,
        }
        #[derive(Deserialize)]
        struct Scope {
            handle: String,
        }
        let data: Data = self
            .client
            .query(doc::TEST_CONNECTION, json!({}), 3)
            .await?;
        let granted: HashSet<String> = data
            .current_app_installation
            .access_scopes
            .into_iter()
            .map(|s| s.handle)
            .collect();
        // write_X implies read_X on Shopify.
        let missing: Vec<&str> = REQUIRED_SCOPES
            .iter()
            .copied()
            .filter(|s| {
                !granted.contains(*s)
                    && !s
                        .strip_prefix("read_")
                        .is_some_and(|rest| granted.contains(&format!("write_{rest}")))
            })
            .collect();
        let domain = data
            .shop
            .myshopify_domain
            .unwrap_or_else(|| self.client.cfg.shop_domain.clone());
        let mut msg = format!("connected to shop {} ({domain})", data.shop.name);
        if missing.is_empty() {
            msg.push_str(": all required access scopes granted");
        } else {
            msg.push_str(&format!(": missing access scopes {}", missing.join(", ")));
        }
        Ok(msg)
    }

    async fn products_page(&self, query: &ImportQuery) -> Result<Page<Product>> {
        let full = query.since.is_none()
            && query.until.is_none()
            && query.skus.is_empty()
            && query.ids.is_empty();
        let token = query.page.as_deref();
        if full && token.is_none_or(|t| t.starts_with("bulk:")) {
            let size = if query.page_size == 0 {
                self.client.cfg.page_size
            } else {
                query.page_size
            };
            return self.bulk_page(token, size.max(1)).await;
        }
        let first = page_first(query, self.client.cfg.page_size, doc::PRODUCT_NODE_COST);
        let (after, filter) = (cursor(token)?, search(query, true));
        let data: ProductsData = self
            .paged(
                doc::PRODUCTS,
                first,
                doc::PRODUCT_NODE_COST,
                |first| json!({"first": first, "after": after, "query": filter}),
            )
            .await?;
        let next = data.products.next().map(|c| format!("c:{c}"));
        let items = data
            .products
            .nodes
            .into_iter()
            .map(|p| mapping::product(p, self.currency()))
            .collect();
        Ok(Page {
            items,
            next,
            total: None,
        })
    }

    async fn stock_page(&self, query: &ImportQuery) -> Result<Page<StockLevel>> {
        let first = page_first(query, self.client.cfg.page_size, doc::INVENTORY_NODE_COST);
        let mut q = query.clone();
        q.ids.clear();
        let mut search = search(&q, false);
        if !query.ids.is_empty() {
            let ids: Vec<String> = query
                .ids
                .iter()
                .map(|s| format!("id:{}", numeric(s)))
                .collect();
            let group = format!("({})", ids.join(" OR "));
            search = Some(match search {
                Some(s) => format!("{s} AND {group}"),
                None => group,
            });
        }
        let after = cursor(query.page.as_deref())?;
        let data: ItemsData = self
            .paged(
                doc::INVENTORY_ITEMS,
                first,
                doc::INVENTORY_NODE_COST,
                |first| json!({"first": first, "after": after, "query": search}),
            )
            .await?;
        let next = data.inventory_items.next().map(|c| format!("c:{c}"));
        self.remember(&data.inventory_items.nodes);
        let warehouse = |id: &str, name: &str| self.client.warehouse_of(id, name);
        let items = data
            .inventory_items
            .nodes
            .iter()
            .flat_map(|i| mapping::stock_levels(i, &warehouse))
            .collect();
        Ok(Page {
            items,
            next,
            total: None,
        })
    }

    async fn orders_page(&self, query: &ImportQuery) -> Result<Page<Order>> {
        let first = page_first(query, self.client.cfg.page_size, doc::ORDER_NODE_COST);
        let (after, filter) = (cursor(query.page.as_deref())?, search(query, true));
        let data: OrdersData = self
            .paged(
                doc::ORDERS,
                first,
                doc::ORDER_NODE_COST,
                |first| json!({"first": first, "after": after, "query": filter}),
            )
            .await?;
        let next = data.orders.next().map(|c| format!("c:{c}"));
        let items = data
            .orders
            .nodes
            .into_iter()
            .map(|o| mapping::order(o, self.currency()))
            .collect();
        Ok(Page {
            items,
            next,
            total: None,
        })
    }

    async fn export_stock(&self, levels: &[StockLevel]) -> Result<ExportReport> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            inventory_set_quantities: Payload,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Payload {
            #[serde(default)]
            user_errors: Vec<UserError>,
        }
        let mut report = ExportReport::default();
        if levels.is_empty() {
            return Ok(report);
        }
        let mut skus: Vec<String> = levels
            .iter()
            .map(|l| l.sku.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        skus.sort();
        skus.dedup();
        let items = self.items_for(&skus).await?;
        let mut entries: Vec<(String, String, Value)> = Vec::new();
        for level in levels {
            let key = format!("{}@{}", level.sku, level.warehouse);
            if level.sku.trim().is_empty() {
                report.rejected.push((key, "sku is empty".into()));
                continue;
            }
            if level.on_hand < 0 {
                report
                    .rejected
                    .push((key, "quantity on hand must not be negative".into()));
                continue;
            }
            let Some(item) = items.get(level.sku.trim()) else {
                report.rejected.push((
                    key,
                    format!("no Shopify inventory item with sku `{}`", level.sku),
                ));
                continue;
            };
            let Some((location, _, available)) =
                item.levels.iter().find(|l| l.1 == level.warehouse)
            else {
                report.rejected.push((
                    key,
                    format!("no Shopify location for warehouse `{}`", level.warehouse),
                ));
                continue;
            };
            // `available` (what buyers can buy) is what marketsync computes; `on_hand` would
            // also count units Shopify holds as committed to unfulfilled orders.
            entries.push((
                key,
                level.sku.trim().to_string(),
                json!({
                    "inventoryItemId": item.id,
                    "locationId": location,
                    "quantity": level.on_hand,
                    "compareQuantity": available,
                }),
            ));
        }
        for chunk in entries.chunks(MAX_INPUT_ARRAY) {
            let mut quantities: Vec<Value> = chunk.iter().map(|(_, _, v)| v.clone()).collect();
            let mut refreshed = false;
            loop {
                let input = json!({
                    "name": "available",
                    "reason": "correction",
                    "referenceDocumentUri": "marketsync://stock-sync",
                    "quantities": quantities,
                });
                let result: Result<Data> = self
                    .client
                    .query(doc::SET_QUANTITIES, json!({"input": input}), 10)
                    .await;
                let errors = match result {
                    Ok(d) => d.inventory_set_quantities.user_errors,
                    Err(e) if e.is_record_level() => {
                        let m = e.to_string();
                        report
                            .rejected
                            .extend(chunk.iter().map(|(k, _, _)| (k.clone(), m.clone())));
                        break;
                    }
                    Err(e) => return Err(e),
                };
                if errors.is_empty() {
                    report.accepted += chunk.len() as u64;
                    let mut known = self.known();
                    for ((_, sku, _), q) in chunk.iter().zip(&quantities) {
                        if let Some(k) = known.get_mut(sku)
                            && let Some(l) = k
                                .levels
                                .iter_mut()
                                .find(|l| Some(l.0.as_str()) == q["locationId"].as_str())
                        {
                            l.2 = q["quantity"].as_i64().unwrap_or(l.2);
                        }
                    }
                    break;
                }
                let stale = errors
                    .iter()
                    .all(|e| e.code.as_deref() == Some("COMPARE_QUANTITY_STALE"));
                if stale && !refreshed {
                    // The stock moved since it was read (a sale on the shop): read the levels
                    // named stale again (all, when Shopify names none) and set once more.
                    refreshed = true;
                    let named: Vec<usize> = errors
                        .iter()
                        .filter_map(|e| e.field.as_ref()?.get(2)?.parse().ok())
                        .filter(|i| *i < quantities.len())
                        .collect();
                    if named.is_empty() {
                        self.refresh_compare(&mut quantities).await?;
                    } else {
                        let mut some: Vec<Value> =
                            named.iter().map(|i| quantities[*i].clone()).collect();
                        self.refresh_compare(&mut some).await?;
                        for (i, q) in named.into_iter().zip(some) {
                            quantities[i] = q;
                        }
                    }
                    continue;
                }
                // The mutation is all or nothing: a refusal refuses the whole chunk. What was
                // remembered of its items is forgotten (an item may be gone): the next export
                // looks them up again.
                let m = user_errors(&errors).unwrap_or_default();
                let mut known = self.known();
                for (k, sku, _) in chunk {
                    known.remove(sku);
                    report.rejected.push((k.clone(), m.clone()));
                }
                break;
            }
        }
        Ok(report)
    }

    async fn export_orders(&self, updates: &[OrderUpdate]) -> Result<ExportReport> {
        let mut report = ExportReport::default();
        for u in updates {
            match self.export_order(u).await {
                Ok(()) => report.accepted += 1,
                Err(e) if e.is_record_level() => {
                    report.rejected.push((u.external_id.clone(), e.to_string()));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    async fn update_field(&self, update: &FieldUpdate) -> Result<()> {
        let id = self.product_id(update).await?;
        let value = update.value.trim();
        let decimal = |name: &str| -> Result<String> {
            let a = mapping::amount(value)
                .ok_or_else(|| rejected(format!("{name} `{value}` is not a decimal number")))?;
            if a.starts_with('-') {
                return Err(rejected(format!("{name} must not be negative")));
            }
            Ok(a)
        };
        match update.field.as_str() {
            "description" => {
                self.update_product(json!({"id": id, "descriptionHtml": update.value}))
                    .await?
            }
            "title" | "name" => {
                if value.is_empty() {
                    return Err(rejected("title must not be empty".into()));
                }
                self.update_product(json!({"id": id, "title": value}))
                    .await?
            }
            "brand" => {
                self.update_product(json!({"id": id, "vendor": value}))
                    .await?
            }
            "categories" => {
                // Shopify's merchant product type holds one path: the first one.
                let first = value
                    .split(';')
                    .map(str::trim)
                    .find(|p| !p.is_empty())
                    .unwrap_or("");
                self.update_product(json!({"id": id, "productType": first}))
                    .await?
            }
            "price" => {
                let price = decimal("price")?;
                self.update_variants(&id, json!({"price": price})).await?
            }
            "weight" => {
                let w = decimal("weight")?;
                let w: f64 = w
                    .parse()
                    .map_err(|_| rejected(format!("weight `{value}` is not a number")))?;
                self.update_variants(
                    &id,
                    json!({"inventoryItem": {"measurement": {"weight": {"value": w, "unit": "KILOGRAMS"}}}}),
                )
                .await?
            }
            other => {
                return Err(ConnectorError::Unsupported(format!(
                    "{PLATFORM} (field `{other}`)"
                )));
            }
        }
        tracing::debug!(
            platform = PLATFORM,
            product = %id,
            field = %self.client.redact(&update.field),
            "product field updated"
        );
        Ok(())
    }

    fn verify_webhook(&self, call: &WebhookCall) -> Result<WebhookEvent> {
        let secret = self.client.cfg.api_secret.as_deref().ok_or_else(|| {
            ConnectorError::Config("credential `api_secret` is required to verify webhooks".into())
        })?;
        let given = call
            .header("x-shopify-hmac-sha256")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ConnectorError::Auth("webhook without X-Shopify-Hmac-Sha256".into()))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .map_err(|_| ConnectorError::Config("api_secret cannot key an HMAC".into()))?;
        mac.update(&call.body);
        let expected = STANDARD.encode(mac.finalize().into_bytes());
        if !constant_time_eq(expected.as_bytes(), given.as_bytes()) {
            return Err(ConnectorError::Auth(
                "webhook signature (X-Shopify-Hmac-Sha256) does not match".into(),
            ));
        }
        // The signature covers the body only: a delivery naming another shop is refused too.
        if let Some(shop) = call.header("x-shopify-shop-domain")
            && !shop
                .trim()
                .eq_ignore_ascii_case(&self.client.cfg.shop_domain)
        {
            return Err(ConnectorError::Auth(
                "webhook for another shop (X-Shopify-Shop-Domain)".into(),
            ));
        }
        let topic = call.header("x-shopify-topic").unwrap_or("").to_string();
        let id = call
            .header("x-shopify-event-id")
            .or_else(|| call.header("x-shopify-webhook-id"))
            .unwrap_or("")
            .to_string();
        let sent_at = call
            .header("x-shopify-triggered-at")
            .and_then(|t| DateTime::parse_from_rfc3339(t.trim()).ok())
            .map(|t| t.with_timezone(&Utc));
        let body: Value = serde_json::from_slice(&call.body)
            .map_err(|e| ConnectorError::Malformed(format!("webhook body: {e}")))?;
        let gid_of = |kind: &str, v: &Value| -> Option<String> {
            v["admin_graphql_api_id"]
                .as_str()
                .map(str::to_string)
                .or_else(|| {
                    v["id"]
                        .as_u64()
                        .map(|n| format!("gid://shopify/{kind}/{n}"))
                })
        };
        let sku_list = |arr: &Value| -> Vec<String> {
            arr.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x["sku"].as_str())
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let resource = topic.split('/').next().unwrap_or("");
        let (kind, external_ids, skus) = match resource {
            "products" => (
                "products",
                gid_of("Product", &body).into_iter().collect(),
                sku_list(&body["variants"]),
            ),
            "inventory_levels" | "inventory_items" => (
                "stock",
                body["inventory_item_id"]
                    .as_u64()
                    .map(|n| format!("gid://shopify/InventoryItem/{n}"))
                    .or_else(|| gid_of("InventoryItem", &body))
                    .into_iter()
                    .collect(),
                body["sku"]
                    .as_str()
                    .map(|s| vec![s.to_string()])
                    .unwrap_or_default(),
            ),
            "orders" | "fulfillments" => (
                "orders",
                gid_of("Order", &body).into_iter().collect(),
                sku_list(&body["line_items"]),
            ),
            other => {
                return Err(ConnectorError::Unsupported(format!(
                    "{PLATFORM} webhook topic `{other}`"
                )));
            }
        };
        // Shopify delivers the REST order itself: a new one is imported as delivered (no
        // GraphQL cost spent reading it again); an update is read, deliveries may come out of
        // order.
        let orders = if topic == "orders/create" {
            serde_json::from_value::<mapping::RestOrder>(body)
                .ok()
                .and_then(mapping::delivered_order)
                .into_iter()
                .collect()
        } else {
            Vec::new()
        };
        Ok(WebhookEvent {
            id,
            topic,
            kind: kind.into(),
            external_ids,
            skus,
            sent_at,
            orders,
        })
    }

    async fn register_webhooks(&self, url: &str) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Data {
            webhook_subscriptions: Conn<Sub>,
        }
        #[derive(Deserialize)]
        struct Sub {
            topic: String,
            #[serde(default)]
            endpoint: Value,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Created {
            webhook_subscription_create: Payload,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Payload {
            #[serde(default)]
            user_errors: Vec<UserError>,
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ConnectorError::Config(
                "webhook URL must be an http(s) URL".into(),
            ));
        }
        let existing: Data = self
            .client
            .query(
                doc::WEBHOOK_SUBSCRIPTIONS,
                json!({"callbackUrl": url}),
                2 + 100 * 2,
            )
            .await?;
        let have: HashSet<String> = existing
            .webhook_subscriptions
            .nodes
            .into_iter()
            .filter(|s| s.endpoint["callbackUrl"].as_str().is_none_or(|u| u == url))
            .map(|s| s.topic)
            .collect();
        let mut topics = Vec::new();
        for topic in WEBHOOK_TOPICS {
            if !have.contains(topic) {
                let created: Created = self
                    .client
                    .query(
                        doc::WEBHOOK_SUBSCRIPTION_CREATE,
                        json!({"topic": topic, "webhookSubscription": {"callbackUrl": url, "format": "JSON"}}),
                        10,
                    )
                    .await?;
                if let Some(m) = user_errors(&created.webhook_subscription_create.user_errors)
                    && !m.contains("already been taken")
                {
                    return Err(rejected(m));
                }
            }
            topics.push(topic_header(topic));
        }
        Ok(topics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_info_lists_the_credential_fields() {
        let info = platform_info();
        let creds: Vec<(&str, bool, bool)> = info
            .credentials
            .iter()
            .map(|f| (f.name.as_str(), f.secret, f.required))
            .collect();
        assert_eq!(
            creds,
            vec![
                ("shop_domain", false, true),
                ("access_token", true, true),
                ("api_key", false, false),
                ("api_secret", true, false),
            ]
        );
        for common in common_settings() {
            assert!(info.settings.contains(&common), "{}", common.name);
        }
    }

    #[test]
    fn pages_fit_the_cost_limit() {
        let q = ImportQuery {
            page_size: 250,
            ..ImportQuery::default()
        };
        let first = page_first(&q, 50, doc::PRODUCT_NODE_COST);
        assert!(page_cost(first, doc::PRODUCT_NODE_COST) <= MAX_QUERY_COST);
        assert_eq!(first, 4);
        assert!(cursor(Some("nope")).is_err());
        assert_eq!(cursor(Some("c:abc")).ok().flatten().as_deref(), Some("abc"));
    }

    #[test]
    fn search_strings() {
        let q = ImportQuery {
            skus: vec!["A-1".into(), "B\"2".into()],
            ids: vec!["gid://shopify/Product/7".into()],
            ..ImportQuery::default()
        };
        assert_eq!(
            search(&q, true).as_deref(),
            Some("(sku:\"A-1\" OR sku:\"B\\\"2\") AND (id:7)")
        );
    }
}

//! WooCommerce: the WooCommerce REST API v3 (`{store_url}/wp-json/wc/v3`).
//!
//! Auth is a REST API key: the consumer key and secret as HTTP Basic auth (the documented method
//! over HTTPS), or, with the credential `auth_method = query_string`, as the `consumer_key` and
//! `consumer_secret` query parameters (the documented fallback for servers that drop the
//! Authorization header). Plain-HTTP stores need OAuth 1.0a signatures, which this connector
//! does not implement: use HTTPS (a simulator or proxy on loopback accepts Basic over HTTP).
//! `settings.base_url` replaces `store_url`; `settings.api_urls.wc_v3` replaces the whole API
//! base. Lists are paginated by `page`/`per_page` (at most 100); incremental reads use
//! `modified_after`/`modified_before` with `dates_are_gmt=true`. Stock lives in
//! `stock_quantity`/`manage_stock` of products and variations: one stock per sku, reported as
//! the warehouse `default` unless `settings.warehouse_mapping.default` names it. Stock is
//! written through `/products/batch` and `/products/{id}/variations/batch`, at most 100 items a
//! request. Shipments are order notes ("Shipped with UPS. Tracking number: 1Z…") plus the status
//! `completed`. WooCommerce documents no rate limit: the connection keeps its own budget
//! (100 requests per 60 s unless `rate_limit_requests`/`rate_limit_window_ms` say otherwise)
//! and waits out a host's 429 for its `Retry-After`. Webhooks are signed with
//! `X-WC-Webhook-Signature` = base64(HMAC-SHA256(body, secret)), the secret being the
//! credential `webhook_secret` or else the consumer secret.
//!
//! Calls per operation (WooCommerce has no documented request budget, so these are what the
//! call-budget test holds the connector to): a page of products or stock is one list call plus
//! one variations call per variable product (100 variations a call); the store's settings (two
//! calls) and categories (one call per 100) are read once per connection. A page of orders is
//! one call plus one notes call per completed order. Paging follows `X-WP-TotalPages` (a full
//! page is taken as "there may be more" only when the store sends no totals), and `X-WP-Total`
//! is the sync's total. `verify_webhook` reports product topics
//! (stock changes included: WooCommerce has no stock topic) as kind `products` with the
//! product's id (a variation's parent) and the sku; `sent_at` is the resource's
//! `date_modified_gmt`, since WooCommerce sends no timestamp header.

mod client;
pub mod config;
mod mapping;

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use base64::Engine;
use chrono::Duration;
use hmac::{Hmac, Mac};
use marketsync_proto::v1::{Order, PlatformInfo, Product, StockLevel};
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::http::Call;
use crate::{
    ConnectionConfig, Connector, ConnectorError, ExportReport, FieldUpdate, ImportQuery,
    OrderUpdate, Page, Result, WebhookCall, WebhookEvent, common_settings, constant_time_eq, field,
};
use client::Client;
use config::{MAX_PAGE_SIZE, WooCommerceConfig};
use mapping::{
    Lookups, WcBatchResponse, WcNote, WcOrder, WcProduct, WcSystemStatus, WcVariation, WcWebhook,
};

/// Platform id.
pub const PLATFORM: &str = "woocommerce";

/// Webhook topics marketsync subscribes to. WooCommerce has no stock topic: a stock change
/// is a `product.updated` of the product or of the variation.
pub const WEBHOOK_TOPICS: [&str; 5] = [
    "product.created",
    "product.updated",
    "product.deleted",
    "order.created",
    "order.updated",
];

/// The platform with the fields of its connection form.
pub fn platform_info() -> PlatformInfo {
    PlatformInfo {
        id: PLATFORM.into(),
        name: "WooCommerce".into(),
        kind: "shop".into(),
        credentials: vec![
            field(
                "store_url",
                "Store URL",
                false,
                true,
                "e.g. https://mystore.com (the REST API is {store_url}/wp-json/wc/v3)",
            ),
            field(
                "consumer_key",
                "Consumer key",
                true,
                true,
                "REST API key (ck_…) from WooCommerce > Settings > Advanced > REST API; \
                 WooCommerce stores it hashed and shows it only once",
            ),
            field(
                "consumer_secret",
                "Consumer secret",
                true,
                true,
                "REST API secret (cs_…), shown only once when the key is generated",
            ),
            field(
                "webhook_secret",
                "Webhook secret",
                true,
                false,
                "Secret the webhooks are signed with (default: the consumer secret)",
            ),
            field(
                "auth_method",
                "Auth method",
                false,
                false,
                "basic (HTTP Basic, default) or query_string (consumer_key/consumer_secret \
                 query parameters, for servers that drop the Authorization header)",
            ),
        ],
        settings: common_settings()
            .into_iter()
            .chain([
                field(
                    "api_urls",
                    "API base URL",
                    false,
                    false,
                    "wc_v3: full base URL of the REST API v3 (e.g. a proxy); wins over base_url",
                ),
                field(
                    "rate_limit_requests",
                    "Requests per window",
                    false,
                    false,
                    "Client-side budget (default 100; WooCommerce documents no limit, hosts do)",
                ),
                field(
                    "rate_limit_window_ms",
                    "Rate-limit window (ms)",
                    false,
                    false,
                    "Window of the budget (default 60000)",
                ),
            ])
            .collect(),
        docs_url: "https://woocommerce.github.io/woocommerce-rest-api-docs/".into(),
    }
}

/// A WooCommerce store.
pub struct WooCommerce {
    client: Client,
    /// What a sku is, as a stock export looked it up: (kind, id, parent id). A push then
    /// needs its batch call only, not a product search first.
    known: std::sync::Mutex<HashMap<String, (String, i64, i64)>>,
}

impl std::fmt::Debug for WooCommerce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WooCommerce")
            .field("config", &self.client.cfg)
            .finish()
    }
}

/// Parses a page token (a page number); `None` is page 1.
fn page_number(token: Option<&str>) -> Result<u32> {
    match token {
        None => Ok(1),
        Some(t) => t
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| ConnectorError::Config(format!("invalid page token `{t}`"))),
    }
}

/// A page size within `1..=100`, `default` when the query leaves it at 0.
fn page_size(query: &ImportQuery, default: u32) -> u32 {
    if query.page_size == 0 {
        default.clamp(1, MAX_PAGE_SIZE)
    } else {
        query.page_size.clamp(1, MAX_PAGE_SIZE)
    }
}

fn rejected(message: String) -> ConnectorError {
    ConnectorError::Rejected {
        status: 400,
        message,
    }
}

#[derive(Serialize)]
struct StockUpdate {
    id: i64,
    manage_stock: bool,
    stock_quantity: i64,
}

#[derive(Serialize)]
struct Batch<T> {
    update: Vec<T>,
}

type HmacSha256 = Hmac<Sha256>;

impl WooCommerce {
    /// A connector for `config`; validates credentials and settings without network calls.
    pub fn new(config: ConnectionConfig) -> Result<Self> {
        let cfg = WooCommerceConfig::from_connection(&config)?;
        Ok(Self {
            client: Client::new(cfg)?,
            known: std::sync::Mutex::new(HashMap::new()),
        })
    }

    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, i64, i64)>> {
        // Plain ids: a panic elsewhere cannot leave them inconsistent.
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The product list call of a page, with the query's filters.
    fn products_call(&self, query: &ImportQuery, page: u32, per_page: u32) -> Call {
        let mut call = self
            .client
            .get("/products")
            .query("page", page)
            .query("per_page", per_page)
            .query("orderby", "id")
            .query("order", "asc");
        if query.since.is_some() || query.until.is_some() {
            call = call.query("dates_are_gmt", "true");
        }
        if let Some(since) = query.since {
            // `modified_after` is exclusive and compares whole seconds.
            call = call.query(
                "modified_after",
                mapping::date_param(&(since - Duration::seconds(1))),
            );
        }
        if let Some(until) = query.until {
            call = call.query("modified_before", mapping::date_param(&until));
        }
        if !query.skus.is_empty() {
            call = call.query("sku", query.skus.join(","));
        }
        if !query.ids.is_empty() {
            call = call.query("include", query.ids.join(","));
        }
        call
    }

    /// Every variation of a variable product.
    async fn variations(&self, id: i64) -> Result<Vec<WcVariation>> {
        self.client
            .list_all(
                &format!("/products/{id}/variations"),
                &[("orderby", "id".into()), ("order", "asc".into())],
            )
            .await
    }

    /// The variations of every variable product of a page, by product id.
    async fn variations_of(
        &self,
        products: &[WcProduct],
    ) -> Result<HashMap<i64, Vec<WcVariation>>> {
        let ids: Vec<i64> = products
            .iter()
            .filter(|p| p.kind == "variable" && !p.variations.is_empty())
            .map(|p| p.id)
            .collect();
        let lists =
            futures::future::try_join_all(ids.iter().map(|id| self.variations(*id))).await?;
        Ok(ids.into_iter().zip(lists).collect())
    }

    /// One page of products (variations found by a sku search are left out).
    async fn product_page(
        &self,
        query: &ImportQuery,
    ) -> Result<(Vec<WcProduct>, Option<String>, Option<u64>)> {
        let page = page_number(query.page.as_deref())?;
        let per_page = page_size(query, self.client.cfg.page_size);
        let (list, total, pages): (Vec<WcProduct>, _, _) = self
            .client
            .fetch_page(self.products_call(query, page, per_page))
            .await?;
        let next = next_page(page, per_page, list.len(), pages);
        Ok((
            list.into_iter().filter(|p| p.kind != "variation").collect(),
            next,
            total,
        ))
    }

    /// The product id behind an update: its external id, else a lookup by sku (a variation's
    /// sku names its parent).
    async fn product_id(&self, update: &FieldUpdate) -> Result<i64> {
        if let Ok(id) = update.external_id.trim().parse::<i64>() {
            return Ok(id);
        }
        let sku = update.sku.trim();
        if sku.is_empty() || sku.contains(',') {
            return Err(ConnectorError::NotFound(
                "a product without external id or sku".into(),
            ));
        }
        let call = self
            .client
            .get("/products")
            .query("sku", sku)
            .query("per_page", 10);
        let list: Vec<WcProduct> = self.client.fetch(call).await?;
        list.iter()
            .find(|p| p.sku == sku)
            .map(|p| {
                if p.kind == "variation" {
                    p.parent_id
                } else {
                    p.id
                }
            })
            .ok_or_else(|| ConnectorError::NotFound(format!("product with sku `{sku}`")))
    }

    async fn put_product(&self, id: i64, body: &Value) -> Result<()> {
        let call = self
            .client
            .call(Method::PUT, &format!("/products/{id}"))
            .json(body)?;
        let _: Value = self.client.fetch(call).await?;
        Ok(())
    }

    /// Sets the regular price of every variation of a variable product (batches of 100).
    async fn set_variation_prices(&self, id: i64, price: &str) -> Result<()> {
        let variations = self.variations(id).await?;
        #[derive(Serialize)]
        struct PriceUpdate<'a> {
            id: i64,
            regular_price: &'a str,
        }
        for chunk in variations.chunks(self.client.cfg.batch_size) {
            let body = Batch {
                update: chunk
                    .iter()
                    .map(|v| PriceUpdate {
                        id: v.id,
                        regular_price: price,
                    })
                    .collect(),
            };
            let call = self
                .client
                .call(Method::POST, &format!("/products/{id}/variations/batch"))
                .json(&body)?;
            let resp: WcBatchResponse = self.client.fetch(call).await?;
            if let Some(e) = resp.update.iter().find_map(|i| i.error.as_ref()) {
                return Err(rejected(format!("{}: {}", e.code, e.message)));
            }
        }
        Ok(())
    }

    /// One order update: a shipment note (unless one with the same tracking number exists),
    /// then the status (`completed` when a shipment is exported without one).
    async fn export_order(&self, u: &OrderUpdate) -> Result<()> {
        let id: i64 = u
            .external_id
            .trim()
            .parse()
            .map_err(|_| ConnectorError::NotFound(format!("order `{}`", u.external_id)))?;
        let mut status = match u.status.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => Some(
                mapping::wc_status(s)
                    .ok_or_else(|| rejected(format!("unknown order status `{s}`")))?,
            ),
            None => None,
        };
        let tracking = u.tracking_number.as_deref().unwrap_or("").trim();
        let carrier = u.carrier.as_deref().unwrap_or("").trim();
        if !tracking.is_empty() {
            let notes: Vec<WcNote> = self
                .client
                .fetch(self.client.get(&format!("/orders/{id}/notes")))
                .await?;
            let shipped = notes
                .iter()
                .any(|n| mapping::parse_shipment_note(&n.note).is_some_and(|(_, t)| t == tracking));
            if !shipped {
                let call = self
                    .client
                    .call(Method::POST, &format!("/orders/{id}/notes"))
                    .json(&json!({
                        "note": mapping::shipment_note(carrier, tracking),
                        "customer_note": true,
                    }))?;
                let _: Value = self.client.fetch(call).await?;
            }
            status.get_or_insert("completed");
        }
        if let Some(status) = status {
            let call = self
                .client
                .call(Method::PUT, &format!("/orders/{id}"))
                .json(&json!({ "status": status }))?;
            let _: Value = self.client.fetch(call).await?;
        }
        Ok(())
    }

    /// Sends one stock batch; accepted and rejected per item.
    async fn stock_batch(
        &self,
        path: &str,
        chunk: &[(String, StockUpdate)],
        report: &mut ExportReport,
    ) -> Result<()> {
        let body = Batch {
            update: chunk.iter().map(|(_, u)| u).collect::<Vec<_>>(),
        };
        let call = self.client.call(Method::POST, path).json(&body)?;
        match self.client.fetch::<WcBatchResponse>(call).await {
            Ok(resp) => {
                let errors: HashMap<i64, String> = resp
                    .update
                    .iter()
                    .filter_map(|i| {
                        i.error
                            .as_ref()
                            .map(|e| (i.id, format!("{}: {}", e.code, e.message)))
                    })
                    .collect();
                for (key, u) in chunk {
                    match errors.get(&u.id) {
                        Some(m) => report.rejected.push((key.clone(), m.clone())),
                        None => report.accepted += 1,
                    }
                }
                Ok(())
            }
            Err(e) if e.is_record_level() => {
                let message = e.to_string();
                report
                    .rejected
                    .extend(chunk.iter().map(|(k, _)| (k.clone(), message.clone())));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl Connector for WooCommerce {
    fn platform(&self) -> &'static str {
        PLATFORM
    }

    async fn test_connection(&self) -> Result<String> {
        let status: WcSystemStatus = self.client.fetch(self.client.get("/system_status")).await?;
        let version = if status.environment.version.is_empty() {
            "(unknown version)".to_string()
        } else {
            status.environment.version
        };
        Ok(format!(
            "connected to WooCommerce {version} at {}: currency {}",
            self.client.redact(&status.environment.home_url),
            status.settings.currency
        ))
    }

    async fn products_page(&self, query: &ImportQuery) -> Result<Page<Product>> {
        let (list, next, total) = self.product_page(query).await?;
        let settings = self.client.settings().await?;
        let empty = HashMap::new();
        let categories = if list.iter().any(|p| !p.categories.is_empty()) {
            let mut c = self.client.categories(false).await?;
            let known = |c: &client::Categories| {
                list.iter()
                    .flat_map(|p| &p.categories)
                    .all(|r| c.paths.contains_key(&r.id) || r.id == 15)
            };
            if !known(&c) {
                c = self.client.categories(true).await?;
            }
            Some(c)
        } else {
            None
        };
        let mut variations = self.variations_of(&list).await?;
        let lookups = Lookups {
            categories: categories.as_ref().map_or(&empty, |c| &c.paths),
            currency: &settings.currency,
            weight_unit: &settings.weight_unit,
            dimension_unit: &settings.dimension_unit,
        };
        let items = list
            .into_iter()
            .map(|p| {
                let vs = variations.remove(&p.id).unwrap_or_default();
                mapping::product(p, &vs, &lookups)
            })
            .collect();
        Ok(Page { items, next, total })
    }

    async fn stock_page(&self, query: &ImportQuery) -> Result<Page<StockLevel>> {
        let (list, next, total) = self.product_page(query).await?;
        let mut variations = self.variations_of(&list).await?;
        let warehouse = self.client.cfg.warehouse();
        let mut items = Vec::new();
        for p in &list {
            if p.manage_stock
                && p.kind != "variable"
                && let Some(q) = p.stock_quantity
            {
                items.push(mapping::stock_level(&p.sku, q, &warehouse));
            }
            for v in variations.remove(&p.id).unwrap_or_default() {
                if v.manages_stock()
                    && let Some(q) = v.stock_quantity
                {
                    items.push(mapping::stock_level(&v.sku, q, &warehouse));
                }
            }
        }
        Ok(Page { items, next, total })
    }

    async fn orders_page(&self, query: &ImportQuery) -> Result<Page<Order>> {
        let page = page_number(query.page.as_deref())?;
        let per_page = page_size(query, self.client.cfg.page_size);
        let mut call = self
            .client
            .get("/orders")
            .query("page", page)
            .query("per_page", per_page)
            .query("orderby", "id")
            .query("order", "asc");
        if query.since.is_some() || query.until.is_some() {
            call = call.query("dates_are_gmt", "true");
        }
        if let Some(since) = query.since {
            call = call.query(
                "modified_after",
                mapping::date_param(&(since - Duration::seconds(1))),
            );
        }
        if let Some(until) = query.until {
            call = call.query("modified_before", mapping::date_param(&until));
        }
        if !query.ids.is_empty() {
            call = call.query("include", query.ids.join(","));
        }
        let (orders, total, pages): (Vec<WcOrder>, _, _) = self.client.fetch_page(call).await?;
        let next = next_page(page, per_page, orders.len(), pages);
        let default_currency = if orders.iter().any(|o| o.currency.is_empty()) {
            self.client.settings().await?.currency.clone()
        } else {
            String::new()
        };
        // Shipments are notes of completed orders: only those are read.
        let shipped: Vec<i64> = orders
            .iter()
            .filter(|o| o.status == "completed")
            .map(|o| o.id)
            .collect();
        let notes = futures::future::try_join_all(shipped.iter().map(|id| {
            self.client
                .fetch::<Vec<WcNote>>(self.client.get(&format!("/orders/{id}/notes")))
        }))
        .await?;
        let mut notes: HashMap<i64, Vec<WcNote>> = shipped.into_iter().zip(notes).collect();
        let wanted: HashSet<&str> = query.skus.iter().map(String::as_str).collect();
        let items = orders
            .iter()
            .map(|o| {
                let n = notes.remove(&o.id).unwrap_or_default();
                mapping::order(o, &n, &default_currency)
            })
            .filter(|o| {
                wanted.is_empty() || o.lines.iter().any(|l| wanted.contains(l.sku.as_str()))
            })
            .collect();
        Ok(Page { items, next, total })
    }

    async fn export_stock(&self, levels: &[StockLevel]) -> Result<ExportReport> {
        let mut report = ExportReport::default();
        let warehouse = self.client.cfg.warehouse();
        // sku → (key, quantity); the last level of a sku wins.
        let mut wanted: BTreeMap<String, (String, i64)> = BTreeMap::new();
        for level in levels {
            let key = format!("{}@{}", level.sku, level.warehouse);
            let sku = level.sku.trim();
            if sku.is_empty() || sku.contains(',') {
                report
                    .rejected
                    .push((key, "sku is empty or contains a comma".into()));
            } else if level.on_hand < 0 {
                report
                    .rejected
                    .push((key, "quantity on hand must not be negative".into()));
            } else if level.warehouse != warehouse {
                report.rejected.push((
                    key,
                    format!(
                        "WooCommerce keeps one stock (warehouse `{warehouse}`), not `{}`",
                        level.warehouse
                    ),
                ));
            } else {
                wanted.insert(sku.to_string(), (key, level.on_hand));
            }
        }
        // Resolve skus not seen before: a sku search returns products and variations alike.
        let mut found: HashMap<String, (String, i64, i64)> = HashMap::new();
        let mut skus: Vec<String> = Vec::new();
        {
            let known = self.known();
            for sku in wanted.keys() {
                match known.get(sku) {
                    Some(k) => {
                        found.insert(sku.clone(), k.clone());
                    }
                    None => skus.push(sku.clone()),
                }
            }
        }
        for chunk in skus.chunks(MAX_PAGE_SIZE as usize) {
            let call = self
                .client
                .get("/products")
                .query("sku", chunk.join(","))
                .query("per_page", MAX_PAGE_SIZE);
            let list: Vec<WcProduct> = self.client.fetch(call).await?;
            let mut known = self.known();
            for p in list {
                let k = (p.kind.clone(), p.id, p.parent_id);
                known.insert(p.sku.clone(), k.clone());
                found.insert(p.sku.clone(), k);
            }
        }
        let mut simple = Vec::new();
        let mut by_parent: BTreeMap<i64, Vec<(String, StockUpdate)>> = BTreeMap::new();
        for (sku, (key, quantity)) in wanted {
            let update = |id| StockUpdate {
                id,
                manage_stock: true,
                stock_quantity: quantity,
            };
            match found.get(&sku) {
                None => report
                    .rejected
                    .push((key, format!("no product or variation with sku `{sku}`"))),
                Some((kind, id, parent)) if kind == "variation" => by_parent
                    .entry(*parent)
                    .or_default()
                    .push((key, update(*id))),
                Some((kind, _, _)) if kind == "variable" => report.rejected.push((
                    key,
                    format!("`{sku}` is a variable product: its stock is kept per variation"),
                )),
                Some((_, id, _)) => simple.push((key, update(*id))),
            }
        }
        let size = self.client.cfg.batch_size;
        let before = report.rejected.len();
        for chunk in simple.chunks(size) {
            self.stock_batch("/products/batch", chunk, &mut report)
                .await?;
        }
        for (parent, updates) in &by_parent {
            for chunk in updates.chunks(size) {
                self.stock_batch(
                    &format!("/products/{parent}/variations/batch"),
                    chunk,
                    &mut report,
                )
                .await?;
            }
        }
        // A refused item may be gone or changed kind: looked up afresh next time.
        let mut known = self.known();
        for (key, _) in &report.rejected[before..] {
            if let Some((sku, _)) = key.rsplit_once('@') {
                known.remove(sku);
            }
        }
        Ok(report)
    }

    fn stock_push_wait(&self) -> std::time::Duration {
        self.client.background_wait()
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
            let amount = mapping::amount(value)
                .ok_or_else(|| rejected(format!("{name} `{value}` is not a decimal number")))?;
            if amount.starts_with('-') {
                return Err(rejected(format!("{name} must not be negative")));
            }
            Ok(amount)
        };
        match update.field.as_str() {
            "description" => {
                self.put_product(id, &json!({"description": update.value}))
                    .await
            }
            "title" | "name" => {
                if value.is_empty() {
                    return Err(rejected("title must not be empty".into()));
                }
                self.put_product(id, &json!({"name": value})).await
            }
            "weight" => {
                let w = decimal("weight")?;
                self.put_product(id, &json!({"weight": w})).await
            }
            "price" => {
                let price = decimal("price")?;
                let p: WcProduct = self
                    .client
                    .fetch(self.client.get(&format!("/products/{id}")))
                    .await?;
                if p.kind == "variable" {
                    // A variable product's price is its variations'.
                    self.set_variation_prices(id, &price).await
                } else {
                    self.put_product(id, &json!({"regular_price": price})).await
                }
            }
            "brand" => {
                let p: WcProduct = self
                    .client
                    .fetch(self.client.get(&format!("/products/{id}")))
                    .await?;
                // `attributes` replaces the whole list: every other attribute is sent back.
                let mut attributes: Vec<mapping::WcAttribute> = p
                    .attributes
                    .into_iter()
                    .filter(|a| !mapping::is_brand(a))
                    .collect();
                if !value.is_empty() {
                    attributes.push(mapping::WcAttribute {
                        id: 0,
                        name: "Brand".into(),
                        position: attributes.len() as i64,
                        visible: true,
                        variation: false,
                        options: vec![value.to_string()],
                        option: None,
                    });
                }
                self.put_product(id, &json!({"attributes": attributes}))
                    .await
            }
            "categories" => {
                let mut ids = Vec::new();
                let mut cats = self.client.categories(false).await?;
                for path in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                    let key = path.trim_matches('/').to_lowercase();
                    let mut found = cats.ids.get(&key).copied();
                    if found.is_none() {
                        cats = self.client.categories(true).await?;
                        found = cats.ids.get(&key).copied();
                    }
                    let cid = found
                        .or_else(|| {
                            path.parse::<i64>()
                                .ok()
                                .filter(|n| cats.paths.contains_key(n))
                        })
                        .ok_or_else(|| ConnectorError::NotFound(format!("category `{path}`")))?;
                    if !ids.contains(&cid) {
                        ids.push(cid);
                    }
                }
                let refs: Vec<Value> = ids.iter().map(|i| json!({"id": i})).collect();
                self.put_product(id, &json!({"categories": refs})).await
            }
            other => Err(ConnectorError::Unsupported(format!(
                "{PLATFORM} (field `{other}`)"
            ))),
        }
    }

    fn verify_webhook(&self, call: &WebhookCall) -> Result<WebhookEvent> {
        // WooCommerce pings a new webhook's URL with `webhook_id=<id>`, unsigned: acknowledged,
        // and it starts nothing.
        if call.header("x-wc-webhook-signature").is_none() {
            let body = String::from_utf8_lossy(&call.body);
            if let Some(id) = body.trim().strip_prefix("webhook_id=")
                && !id.is_empty()
                && id.chars().all(|c| c.is_ascii_digit())
            {
                return Ok(WebhookEvent {
                    id: format!("ping:{id}"),
                    topic: "ping".into(),
                    kind: "ping".into(),
                    ..WebhookEvent::default()
                });
            }
        }
        let signature = call
            .header("x-wc-webhook-signature")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ConnectorError::Auth("webhook without X-WC-Webhook-Signature".into()))?;
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(self.client.cfg.webhook_secret.as_bytes())
                .map_err(|_| {
                    ConnectorError::Config("webhook secret cannot key HMAC-SHA256".into())
                })?;
        mac.update(&call.body);
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
            return Err(ConnectorError::Auth(
                "webhook signature does not match the connection's secret".into(),
            ));
        }
        let topic = call
            .header("x-wc-webhook-topic")
            .unwrap_or("")
            .trim()
            .to_string();
        let resource = call
            .header("x-wc-webhook-resource")
            .map(str::to_string)
            .unwrap_or_else(|| topic.split('.').next().unwrap_or("").to_string());
        let id = call
            .header("x-wc-webhook-delivery-id")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                ConnectorError::Malformed("webhook without X-WC-Webhook-Delivery-ID".into())
            })?
            .to_string();
        let payload: Value = serde_json::from_slice(&call.body)
            .map_err(|e| ConnectorError::Malformed(format!("webhook body is not JSON: {e}")))?;
        let kind = match resource.as_str() {
            "product" => "products",
            "order" => "orders",
            other => other,
        }
        .to_string();
        let num = |k: &str| payload.get(k).and_then(Value::as_i64).filter(|n| *n > 0);
        let is_variation = payload.get("type").and_then(Value::as_str) == Some("variation");
        let record = if is_variation {
            num("parent_id")
        } else {
            num("id")
        };
        let sku = payload
            .get("sku")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let created = topic == "order.created";
        Ok(WebhookEvent {
            id,
            topic,
            kind,
            external_ids: record.map(|r| r.to_string()).into_iter().collect(),
            skus: if resource == "product" {
                sku.into_iter().collect()
            } else {
                Vec::new()
            },
            // WooCommerce sends no timestamp header: the resource's modification time is when
            // the change (and so the delivery) happened.
            sent_at: payload
                .get("date_modified_gmt")
                .and_then(Value::as_str)
                .and_then(mapping::gmt),
            // WooCommerce delivers the resource itself: a new order is imported as delivered
            // (no call spent on reading it again). One that is already completed needs its
            // shipment notes, and one without a currency the store's: those are read.
            orders: if created {
                serde_json::from_slice::<WcOrder>(&call.body)
                    .ok()
                    .filter(|o| o.id > 0 && o.status != "completed" && !o.currency.is_empty())
                    .map(|o| mapping::order(&o, &[], ""))
                    .into_iter()
                    .collect()
            } else {
                Vec::new()
            },
        })
    }

    async fn register_webhooks(&self, url: &str) -> Result<Vec<String>> {
        let url = url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConnectorError::Config("webhook URL must be http(s)".into()));
        }
        let existing: Vec<WcWebhook> = self.client.list_all("/webhooks", &[]).await?;
        for topic in WEBHOOK_TOPICS {
            let mine = existing
                .iter()
                .find(|w| w.topic == topic && w.delivery_url == url);
            let secret = self.client.cfg.webhook_secret.clone();
            match mine {
                Some(w) if w.status == "active" => {}
                Some(w) => {
                    // Paused, or disabled after failed deliveries: reactivate with our secret.
                    let call = self
                        .client
                        .call(Method::PUT, &format!("/webhooks/{}", w.id))
                        .json(&json!({"status": "active", "secret": secret}))?;
                    let _: Value = self.client.fetch(call).await?;
                }
                None => {
                    let call = self.client.call(Method::POST, "/webhooks").json(&json!({
                        "name": format!("marketsync {topic}"),
                        "topic": topic,
                        "delivery_url": url,
                        "secret": secret,
                        "status": "active",
                    }))?;
                    let _: Value = self.client.fetch(call).await?;
                }
            }
        }
        Ok(WEBHOOK_TOPICS.iter().map(|t| (*t).to_string()).collect())
    }
}

/// The next page number: from `X-WP-TotalPages` when the store sent it, else a full page means
/// there may be more.
fn next_page(page: u32, per_page: u32, got: usize, total_pages: Option<u32>) -> Option<String> {
    let more = match total_pages {
        Some(pages) => page < pages,
        None => got as u32 >= per_page,
    };
    more.then(|| (page + 1).to_string())
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
                ("store_url", false, true),
                ("consumer_key", true, true),
                ("consumer_secret", true, true),
                ("webhook_secret", true, false),
                ("auth_method", false, false),
            ]
        );
        for common in common_settings() {
            assert!(info.settings.contains(&common), "{}", common.name);
        }
    }

    #[test]
    fn page_tokens_are_page_numbers() {
        assert_eq!(page_number(None).ok(), Some(1));
        assert_eq!(page_number(Some("3")).ok(), Some(3));
        assert!(page_number(Some("0")).is_err());
        assert!(page_number(Some("x")).is_err());
    }
}

//! BigCommerce: V3 catalog and inventory APIs, V2 orders API.
//!
//! Auth is a store API account's `X-Auth-Token`. Every API family (`catalog`, `categories`,
//! `brands`, `inventory`, `locations`, `orders_v2`) has its own base URL, by default
//! `{base_url}/stores/{store_hash}/v3` (`/v2` for orders) where `base_url` defaults to
//! `https://api.bigcommerce.com`; `settings.api_urls.<family>` replaces it with a full base,
//! which is how each family is pointed at its own validating proxy. Requests share one rate
//! budget per connection (150 per 30 s unless `rate_limit_requests`/`rate_limit_window_ms`
//! say otherwise) that follows BigCommerce's `X-Rate-Limit-*` headers.

mod client;
pub mod config;
mod mapping;

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use chrono::SecondsFormat;
use marketsync_proto::v1::{Order, PlatformInfo, Product, StockLevel};
use reqwest::Method;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::http::Call;
use crate::{
    ConnectionConfig, Connector, ConnectorError, ExportReport, FieldUpdate, ImportQuery,
    OrderUpdate, Page, Result, common_settings, field,
};
use crate::{WebhookCall, WebhookEvent};
use client::Client;
use config::{BigCommerceConfig, MAX_ADJUSTMENT_ITEMS, MAX_INVENTORY_PAGE_SIZE, MAX_PAGE_SIZE};
use mapping::{
    BcAddress, BcItem, BcOrder, BcOrderProduct, BcProduct, BcShipment, Lookups, V3List, V3One,
};

/// Platform id.
pub const PLATFORM: &str = "bigcommerce";

/// The product fields the mapping reads, asked for with `include_fields`: BigCommerce then
/// returns the id, these fields and the `include`d variants and images instead of every one
/// of a product's 60-odd fields, so a catalog page is less than half the bytes to send and
/// parse.
pub const PRODUCT_FIELDS: &str = "name,type,sku,description,weight,width,depth,height,price,\
categories,brand_id,inventory_tracking,is_visible,upc,mpn,gtin,availability,condition,date_modified";

/// The platform with the fields of its connection form.
pub fn platform_info() -> PlatformInfo {
    PlatformInfo {
        id: PLATFORM.into(),
        name: "BigCommerce".into(),
        kind: "shop".into(),
        credentials: vec![
            field(
                "store_hash",
                "Store hash",
                false,
                true,
                "The {store_hash} of https://api.bigcommerce.com/stores/{store_hash}/v3",
            ),
            field(
                "access_token",
                "Access token",
                true,
                true,
                "Store API account token (sent as X-Auth-Token)",
            ),
            field(
                "client_id",
                "Client ID",
                false,
                false,
                "Store API account client ID",
            ),
            field(
                "client_secret",
                "Client secret",
                true,
                false,
                "Store API account client secret",
            ),
        ],
        settings: common_settings()
            .into_iter()
            .chain([
                field(
                    "api_urls",
                    "API base URL per family",
                    false,
                    false,
                    "Full base URL per API family (catalog, categories, brands, inventory, \
                     locations, orders_v2), e.g. a validating proxy; wins over base_url",
                ),
                field(
                    "rate_limit_requests",
                    "Requests per window",
                    false,
                    false,
                    "Client-side budget (default 150, BigCommerce Standard plans)",
                ),
                field(
                    "rate_limit_window_ms",
                    "Rate-limit window (ms)",
                    false,
                    false,
                    "Window of the budget (default 30000)",
                ),
            ])
            .collect(),
        docs_url: "https://developer.bigcommerce.com/docs/rest-management".into(),
    }
}

/// A BigCommerce store.
pub struct BigCommerce {
    client: Client,
}

impl std::fmt::Debug for BigCommerce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigCommerce")
            .field("config", &self.client.cfg)
            .finish()
    }
}

/// Parses a page token (a page number); `None` is page 1.
fn page_number(token: Option<&str>) -> Result<u64> {
    match token {
        None => Ok(1),
        Some(t) => t
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| ConnectorError::Config(format!("invalid page token `{t}`"))),
    }
}

/// A page size within `1..=max`, `default` when the query leaves it at 0.
fn page_size(query: &ImportQuery, default: u32, max: u32) -> u32 {
    if query.page_size == 0 {
        default.clamp(1, max)
    } else {
        query.page_size.clamp(1, max)
    }
}

/// A JSON fragment written exactly as given (numbers keep their text).
fn raw(text: String) -> Result<Box<RawValue>> {
    RawValue::from_string(text)
        .map_err(|e| ConnectorError::Config(format!("cannot encode value: {e}")))
}

fn rejected(message: String) -> ConnectorError {
    ConnectorError::Rejected {
        status: 422,
        message,
    }
}

#[derive(Serialize)]
struct Adjustment<'a> {
    location_id: i64,
    sku: &'a str,
    quantity: i64,
}

#[derive(Serialize)]
struct AdjustmentRequest<'a> {
    reason: &'a str,
    items: &'a [&'a Adjustment<'a>],
}

#[derive(Serialize)]
struct NewShipment<'a> {
    order_address_id: i64,
    tracking_number: &'a str,
    shipping_provider: &'a str,
    tracking_carrier: &'a str,
    items: Vec<ShipmentItem>,
}

#[derive(Serialize)]
struct ShipmentItem {
    order_product_id: i64,
    quantity: i64,
}

#[derive(Serialize)]
struct StatusChange {
    status_id: i64,
}

impl BigCommerce {
    /// A connector for `config`; validates credentials and settings without network calls.
    pub fn new(config: ConnectionConfig) -> Result<Self> {
        let cfg = BigCommerceConfig::from_connection(&config)?;
        Ok(Self {
            client: Client::new(cfg)?,
        })
    }

    fn urls(&self) -> &config::ApiUrls {
        &self.client.cfg.urls
    }

    async fn order_products(&self, id: i64) -> Result<Vec<BcOrderProduct>> {
        let mut out = Vec::new();
        for page in 1..=100u32 {
            let call = Call::get(format!("{}/orders/{id}/products", self.urls().orders_v2))
                .query("page", page)
                .query("limit", MAX_PAGE_SIZE);
            let batch: Vec<BcOrderProduct> = self.client.send(call).await?.unwrap_or_default();
            let n = batch.len();
            out.extend(batch);
            if n < MAX_PAGE_SIZE as usize {
                break;
            }
        }
        Ok(out)
    }

    async fn order_addresses(&self, id: i64) -> Result<Vec<BcAddress>> {
        let call = Call::get(format!(
            "{}/orders/{id}/shipping_addresses",
            self.urls().orders_v2
        ));
        Ok(self.client.send(call).await?.unwrap_or_default())
    }

    async fn order_shipments(&self, id: i64) -> Result<Vec<BcShipment>> {
        let call = Call::get(format!("{}/orders/{id}/shipments", self.urls().orders_v2));
        // 204 No Content: the order has no shipments.
        Ok(self.client.send(call).await?.unwrap_or_default())
    }

    /// The product id behind an update: its external id, else a lookup by sku.
    async fn product_id(&self, update: &FieldUpdate) -> Result<i64> {
        if let Ok(id) = update.external_id.trim().parse::<i64>() {
            return Ok(id);
        }
        if update.sku.trim().is_empty() {
            return Err(ConnectorError::NotFound(
                "a product without external id or sku".into(),
            ));
        }
        let call = Call::get(format!("{}/catalog/products", self.urls().catalog))
            .query("sku", update.sku.trim())
            .query("limit", 1);
        let list: V3List<BcProduct> = self.client.fetch(call).await?;
        list.data
            .first()
            .map(|p| p.id)
            .ok_or_else(|| ConnectorError::NotFound(format!("product with sku `{}`", update.sku)))
    }

    /// The body of a product PUT that sets one canonical field.
    async fn field_body(
        &self,
        update: &FieldUpdate,
    ) -> Result<BTreeMap<&'static str, Box<RawValue>>> {
        let value = update.value.trim();
        let string = |s: &str| -> Result<Box<RawValue>> {
            raw(serde_json::to_string(s).map_err(|e| ConnectorError::Config(e.to_string()))?)
        };
        let decimal = |name: &str| -> Result<Box<RawValue>> {
            let amount = mapping::amount(value)
                .ok_or_else(|| rejected(format!("{name} `{value}` is not a decimal number")))?;
            if amount.starts_with('-') {
                return Err(rejected(format!("{name} must not be negative")));
            }
            raw(amount)
        };
        let mut body = BTreeMap::new();
        match update.field.as_str() {
            "description" => {
                body.insert("description", string(&update.value)?);
            }
            "title" | "name" => {
                if value.is_empty() {
                    return Err(rejected("title must not be empty".into()));
                }
                body.insert("name", string(value)?);
            }
            "price" => {
                body.insert("price", decimal("price")?);
            }
            "weight" => {
                body.insert("weight", decimal("weight")?);
            }
            "brand" => {
                if value.is_empty() {
                    body.insert("brand_id", raw("0".into())?);
                } else {
                    let brands = self.client.brands(false).await?;
                    match brands.iter().find(|(_, n)| n.eq_ignore_ascii_case(value)) {
                        Some((id, _)) => body.insert("brand_id", raw(id.to_string())?),
                        // BigCommerce creates the brand when a product PUT names a new one.
                        None => body.insert("brand_name", string(value)?),
                    };
                }
            }
            "categories" => {
                let mut ids = Vec::new();
                let mut cats = self.client.categories(false).await?;
                for path in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                    let key = path.trim_matches('/').to_lowercase();
                    let mut id = cats.ids.get(&key).copied();
                    if id.is_none() {
                        cats = self.client.categories(true).await?;
                        id = cats.ids.get(&key).copied();
                    }
                    let id = id
                        .or_else(|| {
                            path.parse::<i64>()
                                .ok()
                                .filter(|n| cats.paths.contains_key(n))
                        })
                        .ok_or_else(|| ConnectorError::NotFound(format!("category `{path}`")))?;
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                body.insert(
                    "categories",
                    raw(serde_json::to_string(&ids)
                        .map_err(|e| ConnectorError::Config(e.to_string()))?)?,
                );
            }
            other => {
                return Err(ConnectorError::Unsupported(format!(
                    "{PLATFORM} (field `{other}`)"
                )));
            }
        }
        Ok(body)
    }

    /// One order update: a shipment (unless one with the same tracking number exists), then
    /// the status.
    async fn export_order(&self, u: &OrderUpdate) -> Result<()> {
        let id: i64 = u
            .external_id
            .trim()
            .parse()
            .map_err(|_| ConnectorError::NotFound(format!("order `{}`", u.external_id)))?;
        let status = match u.status.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(s) => Some(
                mapping::status_id(s)
                    .ok_or_else(|| rejected(format!("unknown order status `{s}`")))?,
            ),
            None => None,
        };
        let tracking = u.tracking_number.as_deref().unwrap_or("").trim();
        let carrier = u.carrier.as_deref().unwrap_or("").trim();
        let wants_shipment = !tracking.is_empty() || !carrier.is_empty() || !u.lines.is_empty();
        if wants_shipment {
            let existing = self.order_shipments(id).await?;
            let duplicate =
                !tracking.is_empty() && existing.iter().any(|s| s.tracking_number == tracking);
            if !duplicate {
                self.create_shipment(id, u, tracking, carrier).await?;
            }
        }
        if let Some(status_id) = status {
            let call = Call::new(
                Method::PUT,
                format!("{}/orders/{id}", self.urls().orders_v2),
            )
            .json(&StatusChange { status_id })?;
            let _: Option<serde_json::Value> = self.client.send(call).await?;
        }
        Ok(())
    }

    async fn create_shipment(
        &self,
        id: i64,
        u: &OrderUpdate,
        tracking: &str,
        carrier: &str,
    ) -> Result<()> {
        let products = self.order_products(id).await?;
        let remaining =
            |p: &BcOrderProduct| (p.quantity - p.quantity_shipped.round() as i64).max(0);
        let mut items = Vec::new();
        if u.lines.is_empty() {
            for p in &products {
                let q = remaining(p);
                if q > 0 {
                    items.push(ShipmentItem {
                        order_product_id: p.id,
                        quantity: q,
                    });
                }
            }
        } else {
            for (sku, quantity) in &u.lines {
                let p = products
                    .iter()
                    .find(|p| p.sku == *sku && remaining(p) > 0)
                    .or_else(|| products.iter().find(|p| p.sku == *sku))
                    .ok_or_else(|| rejected(format!("order {id} has no line with sku `{sku}`")))?;
                items.push(ShipmentItem {
                    order_product_id: p.id,
                    quantity: *quantity,
                });
            }
        }
        if items.is_empty() {
            return Err(rejected(format!("order {id} has nothing left to ship")));
        }
        let address = match products.iter().map(|p| p.order_address_id).find(|a| *a > 0) {
            Some(a) => a,
            None => self
                .order_addresses(id)
                .await?
                .first()
                .and_then(|a| a.id)
                .ok_or_else(|| rejected(format!("order {id} has no shipping address")))?,
        };
        let (provider, slug) = mapping::carrier_fields(carrier);
        let body = NewShipment {
            order_address_id: address,
            tracking_number: tracking,
            shipping_provider: &provider,
            tracking_carrier: &slug,
            items,
        };
        let call = Call::new(
            Method::POST,
            format!("{}/orders/{id}/shipments", self.urls().orders_v2),
        )
        .json(&body)?;
        let _: Option<serde_json::Value> = self.client.send(call).await?;
        Ok(())
    }
}

#[async_trait]
impl Connector for BigCommerce {
    fn platform(&self) -> &'static str {
        PLATFORM
    }

    async fn test_connection(&self) -> Result<String> {
        let call = Call::get(format!("{}/catalog/products", self.urls().catalog)).query("limit", 1);
        let list: V3List<serde_json::Value> = self.client.fetch(call).await?;
        let total = list
            .meta
            .pagination
            .map_or(list.data.len() as u64, |p| p.total);
        Ok(format!(
            "connected to store {}: {total} products",
            self.client.cfg.store_hash
        ))
    }

    async fn products_page(&self, query: &ImportQuery) -> Result<Page<Product>> {
        let page = page_number(query.page.as_deref())?;
        let limit = page_size(query, self.client.cfg.page_size, MAX_PAGE_SIZE);
        let mut call = Call::get(format!("{}/catalog/products", self.urls().catalog))
            .query("include", "variants,images")
            .query("include_fields", PRODUCT_FIELDS)
            .query("page", page)
            .query("limit", limit);
        if let Some(since) = query.since {
            call = call.query(
                "date_modified:min",
                since.to_rfc3339_opts(SecondsFormat::Secs, true),
            );
        }
        if let Some(until) = query.until {
            call = call.query(
                "date_modified:max",
                until.to_rfc3339_opts(SecondsFormat::Secs, true),
            );
        }
        if !query.skus.is_empty() {
            call = call.query("sku:in", query.skus.join(","));
        }
        if !query.ids.is_empty() {
            call = call.query("id:in", query.ids.join(","));
        }
        let list: V3List<BcProduct> = self.client.fetch(call).await?;
        let needs_brands = list.data.iter().any(|p| p.brand_id != 0);
        let needs_categories = list.data.iter().any(|p| !p.categories.is_empty());
        let empty_brands = HashMap::new();
        let brands = if needs_brands {
            let mut b = self.client.brands(false).await?;
            if list
                .data
                .iter()
                .any(|p| p.brand_id != 0 && !b.contains_key(&p.brand_id))
            {
                b = self.client.brands(true).await?;
            }
            Some(b)
        } else {
            None
        };
        let categories = if needs_categories {
            let mut c = self.client.categories(false).await?;
            let missing = list
                .data
                .iter()
                .flat_map(mapping::category_ids)
                .any(|id| !c.paths.contains_key(&id));
            if missing {
                c = self.client.categories(true).await?;
            }
            Some(c)
        } else {
            None
        };
        let empty_paths = HashMap::new();
        let lookups = Lookups {
            brands: brands.as_deref().unwrap_or(&empty_brands),
            categories: categories.as_ref().map_or(&empty_paths, |c| &c.paths),
            currency: &self.client.cfg.currency,
        };
        let items: Vec<Product> = list
            .data
            .into_iter()
            .map(|p| mapping::product(p, &lookups))
            .collect();
        let pagination = list.meta.pagination;
        let next = match &pagination {
            Some(p) => p.next_page(),
            // Without pagination metadata, a full page suggests there may be more.
            None => (items.len() as u32 >= limit).then_some(page + 1),
        };
        Ok(Page {
            total: pagination.map(|p| p.total),
            next: next.map(|n| n.to_string()),
            items,
        })
    }

    async fn stock_page(&self, query: &ImportQuery) -> Result<Page<StockLevel>> {
        let page = page_number(query.page.as_deref())?;
        let limit = page_size(query, self.client.cfg.page_size, MAX_INVENTORY_PAGE_SIZE);
        let mut call = Call::get(format!("{}/inventory/items", self.urls().inventory))
            .query("page", page)
            .query("limit", limit);
        if !query.skus.is_empty() {
            call = call.query("sku:in", query.skus.join(","));
        }
        if !query.ids.is_empty() {
            call = call.query("product_id:in", query.ids.join(","));
        }
        let list: V3List<BcItem> = self.client.fetch(call).await?;
        let needs_codes = list
            .data
            .iter()
            .flat_map(|i| &i.locations)
            .any(|l| l.location_code.is_empty());
        let locations = if needs_codes {
            Some(self.client.locations(false).await?)
        } else {
            None
        };
        let warehouse = |id: i64, code: &str| {
            let code = if code.is_empty() {
                locations
                    .as_ref()
                    .and_then(|ls| ls.iter().find(|l| l.id == id))
                    .map(|l| l.code.as_str())
                    .unwrap_or("")
            } else {
                code
            };
            self.client.warehouse_of(id, code)
        };
        let items = list
            .data
            .iter()
            .flat_map(|i| mapping::stock_levels(i, &warehouse))
            .collect();
        let pagination = list.meta.pagination;
        let next = match &pagination {
            Some(p) => p.next_page(),
            None => (list.data.len() as u32 >= limit).then_some(page + 1),
        };
        Ok(Page {
            items,
            next: next.map(|n| n.to_string()),
            total: pagination.map(|p| p.total),
        })
    }

    async fn orders_page(&self, query: &ImportQuery) -> Result<Page<Order>> {
        let page = page_number(query.page.as_deref())?;
        let limit = page_size(query, self.client.cfg.page_size, MAX_PAGE_SIZE);
        // The order products and shipping addresses come with the orders (one call a page,
        // not two more per order; the storm of a busy store is 150 calls per 30 s).
        let mut call = Call::get(format!("{}/orders", self.urls().orders_v2))
            .query("page", page)
            .query("limit", limit)
            .query("include", "consignments.line_items")
            .query("consignment_structure", "object");
        if let Some(since) = query.since {
            call = call.query("min_date_modified", since.to_rfc2822());
        }
        if let Some(until) = query.until {
            call = call.query("max_date_modified", until.to_rfc2822());
        }
        let wanted_ids: HashSet<i64> = query.ids.iter().filter_map(|i| i.parse().ok()).collect();
        if let (Some(min), Some(max)) = (wanted_ids.iter().min(), wanted_ids.iter().max()) {
            call = call.query("min_id", min).query("max_id", max);
        }
        // V2 answers 204 No Content past the last order.
        let orders: Vec<BcOrder> = self.client.send(call).await?.unwrap_or_default();
        let mut items = Vec::with_capacity(orders.len());
        for o in orders
            .iter()
            .filter(|o| wanted_ids.is_empty() || wanted_ids.contains(&o.id))
        {
            // An order with nothing shipped has no shipments: one call fewer per new order
            // (a storm of orders is mostly new ones, against 150 calls per 30 s).
            let shipped = o.items_shipped.is_none_or(|n| n > 0.0);
            let shipments = async {
                if shipped {
                    self.order_shipments(o.id).await
                } else {
                    Ok(Vec::new())
                }
            };
            let included = async {
                match o.included() {
                    Some(both) => Ok(both),
                    None => {
                        futures::try_join!(self.order_products(o.id), self.order_addresses(o.id))
                    }
                }
            };
            let ((products, addresses), shipments) = futures::try_join!(included, shipments)?;
            let order = mapping::order(
                o,
                &products,
                &addresses,
                &shipments,
                &self.client.cfg.currency,
            );
            if !query.skus.is_empty() {
                let wanted: HashSet<&str> = query.skus.iter().map(String::as_str).collect();
                if !order.lines.iter().any(|l| wanted.contains(l.sku.as_str())) {
                    continue;
                }
            }
            items.push(order);
        }
        let next = (orders.len() as u32 >= limit).then(|| (page + 1).to_string());
        Ok(Page {
            items,
            next,
            total: None,
        })
    }

    async fn export_stock(&self, levels: &[StockLevel]) -> Result<ExportReport> {
        let mut report = ExportReport::default();
        if levels.is_empty() {
            return Ok(report);
        }
        let mut locations = self.client.locations(false).await?;
        let mut adjustments = Vec::with_capacity(levels.len());
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
            let mut location = self.client.location_of(&locations, &level.warehouse);
            if location.is_none() {
                locations = self.client.locations(true).await?;
                location = self.client.location_of(&locations, &level.warehouse);
            }
            match location {
                Some(location_id) => adjustments.push((
                    key,
                    Adjustment {
                        location_id,
                        sku: level.sku.as_str(),
                        quantity: level.on_hand,
                    },
                )),
                None => report.rejected.push((
                    key,
                    format!(
                        "no BigCommerce location for warehouse `{}`",
                        level.warehouse
                    ),
                )),
            }
        }
        for chunk in adjustments.chunks(MAX_ADJUSTMENT_ITEMS) {
            let items: Vec<&Adjustment> = chunk.iter().map(|(_, a)| a).collect();
            let body = AdjustmentRequest {
                reason: "marketsync stock sync",
                items: &items,
            };
            let call = Call::new(
                Method::PUT,
                format!("{}/inventory/adjustments/absolute", self.urls().inventory),
            )
            .json(&body)?;
            match self.client.send::<serde_json::Value>(call).await {
                Ok(_) => report.accepted += items.len() as u64,
                Err(e) if e.is_record_level() => {
                    let message = e.to_string();
                    report
                        .rejected
                        .extend(chunk.iter().map(|(k, _)| (k.clone(), message.clone())));
                }
                Err(e) => return Err(e),
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
        let body = self.field_body(update).await?;
        let call = Call::new(
            Method::PUT,
            format!("{}/catalog/products/{id}", self.urls().catalog),
        )
        .json(&body)?;
        let updated: V3One<BcProduct> = self.client.fetch(call).await?;
        if update.field == "brand" {
            self.client.forget_brands().await;
        }
        tracing::debug!(
            platform = PLATFORM,
            product_id = updated.data.id,
            field = %self.client.redact(&update.field),
            "product field updated"
        );
        Ok(())
    }

    fn verify_webhook(&self, call: &WebhookCall) -> Result<WebhookEvent> {
        // BigCommerce does not sign payloads; the hook's custom header proves the sender.
        let token = call.header(WEBHOOK_HEADER).unwrap_or("");
        if !crate::constant_time_eq(token.as_bytes(), self.client.cfg.webhook_token.as_bytes()) {
            return Err(ConnectorError::Auth(if token.is_empty() {
                format!("webhook without its {WEBHOOK_HEADER} header")
            } else {
                format!("webhook with a wrong {WEBHOOK_HEADER} header")
            }));
        }
        mapping::webhook_event(&call.body)
    }

    async fn register_webhooks(&self, url: &str) -> Result<Vec<String>> {
        let hooks_url = format!("{}/hooks", self.urls().hooks);
        let existing: V3List<mapping::BcHook> = self.client.fetch(Call::get(&hooks_url)).await?;
        let mut topics = Vec::new();
        for scope in WEBHOOK_SCOPES {
            let current = existing
                .data
                .iter()
                .find(|h| h.scope == *scope && h.destination == url);
            let body = serde_json::json!({
                "scope": scope,
                "destination": url,
                "is_active": true,
                "headers": { WEBHOOK_HEADER: self.client.cfg.webhook_token },
            });
            let call = match current {
                // Kept, but re-armed with the current token (credentials may have changed).
                Some(h) => Call::new(Method::PUT, format!("{hooks_url}/{}", h.id)).json(&body)?,
                None => Call::new(Method::POST, hooks_url.clone()).json(&body)?,
            };
            let _: V3One<mapping::BcHook> = self.client.fetch(call).await?;
            topics.push(scope.to_string());
        }
        Ok(topics)
    }
}

/// The header each webhook subscription carries (BigCommerce sends a hook's `headers` with
/// every delivery).
pub const WEBHOOK_HEADER: &str = "X-Marketsync-Webhook-Token";

/// The scopes subscribed: product, stock and order changes.
pub const WEBHOOK_SCOPES: &[&str] = &[
    "store/product/created",
    "store/product/updated",
    "store/product/inventory/updated",
    "store/sku/inventory/updated",
    "store/order/created",
    "store/order/updated",
    "store/order/statusUpdated",
];

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
                ("store_hash", false, true),
                ("access_token", true, true),
                ("client_id", false, false),
                ("client_secret", true, false),
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
        assert!(page_number(Some("abc")).is_err());
    }
}

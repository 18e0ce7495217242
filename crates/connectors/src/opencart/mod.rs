//! OpenCart: an API user's session and the opencart-api.com "REST Admin API" extension.
//!
//! **Which API is modelled.** OpenCart core has an API user (System → Users → API: a user name
//! and a generated key) but its API only drives carts and orders; catalog and stock access
//! needs an extension. This connector speaks:
//! - the core session: `POST {store_url}/index.php?route=api/login` with `username` and `key`
//!   answers `{"success": …, "api_token": …}`; every later call carries `api_token` as a query
//!   parameter. Sessions expire (OpenCart: 60 minutes); when the store refuses a token the
//!   connector logs in again once and repeats the call. A refused login (HTTP 401, or HTTP 200
//!   with an `error` object as core answers) is [`ConnectorError::Auth`].
//! - the routes of the opencart-api.com REST Admin API in their `index.php?route=rest/...`
//!   form, with JSON bodies and `{"success", "error", "data"}` envelopes:
//!   `rest/store_admin/store&id=0` (shop name), `rest/product_admin/products` (`limit`,
//!   `page`, `filter_date_modified_from/_to`; `&id=` one product),
//!   `rest/product_admin/getproductbysku&sku=`, `rest/product_admin/productquantitybysku`
//!   (PUT, a list of `{sku, quantity}`), `rest/category_admin/category`,
//!   `rest/manufacturer_admin/manufacturer` (GET, POST), PUT `rest/product_admin/products&id=`,
//!   `rest/order_admin/listorderswithdetails` (`limit`, `page`,
//!   `filter_date_modified_from/_to`) and POST `rest/order_admin/orderhistory&id=`
//!   (`order_status_id`, `notify`, `comment`).
//!
//! **Variants.** Size/colour variants are the values of a product option whose option values
//! carry their own `sku` (and `quantity`, `price` with `price_prefix`); a combined option
//! "Size / Colour" with values "M / Black" maps to `{Size: M, Colour: Black}`.
//!
//! **Stock.** OpenCart has no stock locations: one quantity per product or option value, mapped
//! to the warehouse `warehouse_mapping["0"]` (store id) or `["default"]`, else `default`.
//!
//! **Shipments.** OpenCart has no shipment records: a shipment is an order history entry
//! (status Shipped) whose comment says `Shipped via {carrier}. Tracking number: {number}`;
//! the connector writes and reads that form. A shipment covers the whole order (OpenCart has
//! no per-line shipments: `OrderUpdate::lines` is not sent), and exporting the same tracking
//! number again adds nothing.
//!
//! **Limits.** The extension documents no page or batch maximum and OpenCart no rate limit:
//! pages stop at 100, quantity updates go 100 per request, and a client-side budget (600
//! requests per minute unless `rate_limit_requests`/`rate_limit_window_ms` say otherwise)
//! paces requests; a 429 is waited out by its `Retry-After`.
//!
//! **Webhooks.** OpenCart core has no webhooks and the extension documents none:
//! `verify_webhook` and `register_webhooks` answer [`ConnectorError::Unsupported`]; the
//! reconciliation poll (incremental by `date_modified`) covers OpenCart.

mod client;
mod mapping;

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use marketsync_proto::v1::{Order, PlatformInfo, Product, StockLevel};
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    ConnectionConfig, Connector, ConnectorError, ExportReport, FieldUpdate, ImportQuery,
    OrderUpdate, Page, Result, common_settings, field,
};
use client::Client;
pub use client::{
    DEFAULT_PAGE_SIZE, DEFAULT_RATE_LIMIT_REQUESTS, DEFAULT_RATE_LIMIT_WINDOW_MS,
    DEFAULT_WAREHOUSE, MAX_PAGE_SIZE, MAX_QUANTITY_BATCH, OpenCartConfig,
};
use mapping::{OcOrder, OcProduct};

/// Platform id.
pub const PLATFORM: &str = "opencart";

/// The platform with the fields of its connection form.
pub fn platform_info() -> PlatformInfo {
    PlatformInfo {
        id: PLATFORM.into(),
        name: "OpenCart".into(),
        kind: "shop".into(),
        credentials: vec![
            field(
                "store_url",
                "Store URL",
                false,
                true,
                "e.g. https://mystore.com (index.php lives under it)",
            ),
            field(
                "api_key",
                "API key",
                true,
                true,
                "System → Users → API: the API user's generated key",
            ),
            field(
                "api_username",
                "API user",
                false,
                true,
                "System → Users → API: the API user's name (allow this server's IP there)",
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
                    "`api`: full base URL of index.php (e.g. a proxy); wins over base_url",
                ),
                field(
                    "rate_limit_requests",
                    "Requests per window",
                    false,
                    false,
                    "Client-side budget (default 600; OpenCart documents no limit)",
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
        docs_url: "https://docs.opencart.com/en-gb/system/users/api/".into(),
    }
}

/// An OpenCart store.
pub struct OpenCart {
    client: Client,
}

impl std::fmt::Debug for OpenCart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenCart")
            .field("config", &self.client.cfg)
            .finish()
    }
}

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

fn rejected(message: String) -> ConnectorError {
    ConnectorError::Rejected {
        status: 422,
        message,
    }
}

/// OpenCart's datetime text for a filter.
fn oc_date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

#[derive(Serialize)]
struct QuantityItem<'a> {
    sku: &'a str,
    quantity: i64,
}

impl OpenCart {
    /// A connector for `config`; validates credentials and settings without network calls.
    pub fn new(config: ConnectionConfig) -> Result<Self> {
        let cfg = OpenCartConfig::from_connection(&config)?;
        Ok(Self {
            client: Client::new(cfg)?,
        })
    }

    fn limit(&self, query: &ImportQuery) -> u32 {
        if query.page_size == 0 {
            self.client.cfg.page_size
        } else {
            query.page_size.clamp(1, MAX_PAGE_SIZE)
        }
    }

    /// Products of one import page: a list page, or the named skus/ids one by one.
    async fn product_docs(&self, query: &ImportQuery) -> Result<(Vec<OcProduct>, Option<String>)> {
        if !query.skus.is_empty() || !query.ids.is_empty() {
            let mut out: Vec<OcProduct> = Vec::new();
            let mut seen = HashSet::new();
            let lookups = query
                .ids
                .iter()
                .map(|id| ("id", id))
                .chain(query.skus.iter().map(|s| ("sku", s)));
            for (kind, value) in lookups {
                let call = if kind == "id" {
                    self.client
                        .call(Method::GET, "rest/product_admin/products")
                        .query("id", value.trim())
                } else {
                    self.client
                        .call(Method::GET, "rest/product_admin/getproductbysku")
                        .query("sku", value.trim())
                };
                match self.client.data::<OcProduct>(&call).await {
                    Ok(p) => {
                        if seen.insert(p.pid()) {
                            out.push(p);
                        }
                    }
                    Err(ConnectorError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            return Ok((out, None));
        }
        let page = page_number(query.page.as_deref())?;
        let limit = self.limit(query);
        let mut call = self
            .client
            .call(Method::GET, "rest/product_admin/products")
            .query("limit", limit)
            .query("page", page);
        if let Some(since) = query.since {
            call = call.query("filter_date_modified_from", oc_date(since));
        }
        if let Some(until) = query.until {
            call = call.query("filter_date_modified_to", oc_date(until));
        }
        let list: Vec<OcProduct> = self.client.data(&call).await?;
        let next = (list.len() as u32 >= limit).then(|| (page + 1).to_string());
        Ok((list, next))
    }

    async fn product_id(&self, update: &FieldUpdate) -> Result<i64> {
        if let Ok(id) = update.external_id.trim().parse::<i64>() {
            return Ok(id);
        }
        if update.sku.trim().is_empty() {
            return Err(ConnectorError::NotFound(
                "a product without external id or sku".into(),
            ));
        }
        let call = self
            .client
            .call(Method::GET, "rest/product_admin/getproductbysku")
            .query("sku", update.sku.trim());
        let p: OcProduct = self.client.data(&call).await?;
        Ok(p.pid())
    }

    async fn field_body(&self, update: &FieldUpdate) -> Result<Value> {
        let value = update.value.trim();
        let decimal = |name: &str| -> Result<Value> {
            let a = mapping::amount(value)
                .ok_or_else(|| rejected(format!("{name} `{value}` is not a decimal number")))?;
            if a.starts_with('-') {
                return Err(rejected(format!("{name} must not be negative")));
            }
            Ok(Value::String(a))
        };
        Ok(match update.field.as_str() {
            "description" => json!({"product_description": [
                {"language_id": 1, "description": update.value}
            ]}),
            "title" | "name" => {
                if value.is_empty() {
                    return Err(rejected("title must not be empty".into()));
                }
                json!({"product_description": [{"language_id": 1, "name": value}]})
            }
            "price" => json!({"price": decimal("price")?}),
            "weight" => json!({"weight": decimal("weight")?}),
            "brand" => {
                if value.is_empty() {
                    json!({"manufacturer_id": 0})
                } else {
                    let find = |m: &std::collections::HashMap<i64, String>| {
                        m.iter()
                            .find(|(_, n)| n.eq_ignore_ascii_case(value))
                            .map(|(id, _)| *id)
                    };
                    let mut id = find(&*self.client.manufacturers(false).await?);
                    if id.is_none() {
                        id = find(&*self.client.manufacturers(true).await?);
                    }
                    let id = match id {
                        Some(id) => id,
                        None => {
                            let call = self
                                .client
                                .call(Method::POST, "rest/manufacturer_admin/manufacturer")
                                .json(&json!({"name": value, "sort_order": 0, "manufacturer_store": [0]}))?;
                            let created: Value = self.client.data(&call).await?;
                            self.client.manufacturers(true).await?;
                            created
                                .get("id")
                                .or_else(|| created.get("manufacturer_id"))
                                .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
                                .ok_or_else(|| {
                                    ConnectorError::Malformed(
                                        "manufacturer created without an id".into(),
                                    )
                                })?
                        }
                    };
                    json!({"manufacturer_id": id})
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
                json!({"product_category": ids})
            }
            other => {
                return Err(ConnectorError::Unsupported(format!(
                    "{PLATFORM} (field `{other}`)"
                )));
            }
        })
    }

    async fn find_order(&self, id: i64) -> Result<Option<OcOrder>> {
        // The list has no id filter but an id window: ids above id-1, first page.
        let call = self
            .client
            .call(Method::GET, "rest/order_admin/listorderswithdetails")
            .query("filter_id_larger_than", id - 1)
            .query("limit", 1)
            .query("page", 1);
        let list: Vec<OcOrder> = self.client.data(&call).await?;
        Ok(list.into_iter().find(|o| o.order_id == id))
    }

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
        let shipment = !tracking.is_empty() || !carrier.is_empty();
        let order = self
            .find_order(id)
            .await?
            .ok_or_else(|| ConnectorError::NotFound(format!("order {id}")))?;
        let (status_id, comment) = if shipment {
            let duplicate = !tracking.is_empty()
                && order.histories.iter().any(|h| {
                    mapping::parse_shipment_comment(&h.comment).is_some_and(|(_, t)| t == tracking)
                });
            if duplicate && status.is_none_or(|s| s == order.order_status_id) {
                return Ok(());
            }
            let comment = if duplicate {
                String::new()
            } else {
                mapping::shipment_comment(carrier, tracking)
            };
            (status.unwrap_or(3), comment)
        } else {
            match status {
                Some(s) if s != order.order_status_id => (s, String::new()),
                _ => return Ok(()),
            }
        };
        let call = self
            .client
            .call(Method::POST, "rest/order_admin/orderhistory")
            .query("id", id)
            .json(&json!({
                "order_status_id": status_id,
                "notify": u8::from(shipment),
                "comment": comment,
            }))?;
        let _: Value = self.client.data(&call).await?;
        Ok(())
    }
}

#[async_trait]
impl Connector for OpenCart {
    fn platform(&self) -> &'static str {
        PLATFORM
    }

    async fn test_connection(&self) -> Result<String> {
        let call = self
            .client
            .call(Method::GET, "rest/store_admin/store")
            .query("id", 0);
        let store: Value = self.client.data(&call).await?;
        let name = store
            .get("config_name")
            .or_else(|| store.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)");
        Ok(format!("connected to OpenCart store {name}"))
    }

    async fn products_page(&self, query: &ImportQuery) -> Result<Page<Product>> {
        let (docs, next) = self.product_docs(query).await?;
        let needs_categories = docs.iter().any(|p| !p.category.is_empty());
        let categories = if needs_categories {
            let mut c = self.client.categories(false).await?;
            if docs
                .iter()
                .flat_map(|p| &p.category)
                .any(|r| !c.paths.contains_key(&r.cid()))
            {
                c = self.client.categories(true).await?;
            }
            Some(c)
        } else {
            None
        };
        let empty = std::collections::HashMap::new();
        let paths = categories.as_ref().map_or(&empty, |c| &c.paths);
        let items = docs
            .into_iter()
            .map(|p| mapping::product(p, paths, &self.client.cfg.currency))
            .collect();
        Ok(Page {
            items,
            next,
            total: None,
        })
    }

    async fn stock_page(&self, query: &ImportQuery) -> Result<Page<StockLevel>> {
        let (docs, next) = self.product_docs(query).await?;
        let warehouse = self.client.warehouse();
        let wanted: HashSet<&str> = query.skus.iter().map(String::as_str).collect();
        let items = docs
            .iter()
            .flat_map(|p| mapping::stock_levels(p, &warehouse))
            .filter(|l| wanted.is_empty() || wanted.contains(l.sku.as_str()))
            .collect();
        Ok(Page {
            items,
            next,
            total: None,
        })
    }

    async fn orders_page(&self, query: &ImportQuery) -> Result<Page<Order>> {
        let page = page_number(query.page.as_deref())?;
        let limit = self.limit(query);
        let mut call = self
            .client
            .call(Method::GET, "rest/order_admin/listorderswithdetails")
            .query("limit", limit)
            .query("page", page);
        if let Some(since) = query.since {
            call = call.query("filter_date_modified_from", oc_date(since));
        }
        if let Some(until) = query.until {
            call = call.query("filter_date_modified_to", oc_date(until));
        }
        let list: Vec<OcOrder> = self.client.data(&call).await?;
        let next = (list.len() as u32 >= limit).then(|| (page + 1).to_string());
        let wanted: HashSet<&str> = query.skus.iter().map(String::as_str).collect();
        let ids: HashSet<&str> = query.ids.iter().map(|s| s.trim()).collect();
        let items = list
            .iter()
            .map(|o| mapping::order(o, &self.client.cfg.currency))
            .filter(|o| ids.is_empty() || ids.contains(o.external_id.as_str()))
            .filter(|o| {
                wanted.is_empty() || o.lines.iter().any(|l| wanted.contains(l.sku.as_str()))
            })
            .collect();
        Ok(Page {
            items,
            next,
            total: None,
        })
    }

    async fn export_stock(&self, levels: &[StockLevel]) -> Result<ExportReport> {
        let mut report = ExportReport::default();
        let mut items = Vec::new();
        for level in levels {
            let key = format!("{}@{}", level.sku, level.warehouse);
            if level.sku.trim().is_empty() {
                report.rejected.push((key, "sku is empty".into()));
            } else if level.on_hand < 0 {
                report
                    .rejected
                    .push((key, "quantity on hand must not be negative".into()));
            } else if !self.client.is_store_warehouse(&level.warehouse) {
                report.rejected.push((
                    key,
                    format!(
                        "OpenCart has one stock pool (warehouse `{}`), not `{}`",
                        self.client.warehouse(),
                        level.warehouse
                    ),
                ));
            } else {
                items.push((
                    key,
                    QuantityItem {
                        sku: level.sku.trim(),
                        quantity: level.on_hand,
                    },
                ));
            }
        }
        for chunk in items.chunks(MAX_QUANTITY_BATCH) {
            let body: Vec<&QuantityItem> = chunk.iter().map(|(_, i)| i).collect();
            let call = self
                .client
                .call(Method::PUT, "rest/product_admin/productquantitybysku")
                .json(&body)?;
            match self.client.send::<Value>(&call).await {
                Ok(env) => {
                    let errors = env.errors();
                    for (key, item) in chunk {
                        match errors
                            .iter()
                            .find(|e| e.contains(&format!("sku {} ", item.sku)))
                        {
                            Some(e) => report.rejected.push((key.clone(), e.clone())),
                            None => report.accepted += 1,
                        }
                    }
                }
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
        let call = self
            .client
            .call(Method::PUT, "rest/product_admin/products")
            .query("id", id)
            .json(&body)?;
        let _: Value = self.client.data(&call).await?;
        tracing::debug!(
            platform = PLATFORM,
            product_id = id,
            field = %self.client.redact(&update.field),
            "product field updated"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Credentials, Settings};

    fn conn(settings: Settings) -> ConnectionConfig {
        ConnectionConfig {
            platform: PLATFORM.into(),
            credentials: Credentials::from_json(&json!({
                "store_url": "https://shop.example.com/",
                "api_key": "key-secret-123",
                "api_username": "Default",
            }))
            .expect("credentials"),
            settings,
        }
    }

    #[test]
    fn platform_info_lists_the_seed_credentials() {
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
                ("api_key", true, true),
                ("api_username", false, true),
            ]
        );
        for common in common_settings() {
            assert!(info.settings.contains(&common), "{}", common.name);
        }
    }

    #[test]
    fn endpoint_from_store_url_or_base_url() {
        let c = OpenCartConfig::from_connection(&conn(Settings::default())).expect("config");
        assert_eq!(c.endpoint, "https://shop.example.com/index.php");
        let s = Settings {
            base_url: Some("http://127.0.0.1:9/".into()),
            ..Settings::default()
        };
        let c = OpenCartConfig::from_connection(&conn(s)).expect("config");
        assert_eq!(c.endpoint, "http://127.0.0.1:9/index.php");
        assert!(!format!("{c:?}").contains("key-secret-123"));
        let mut s = Settings::default();
        s.api_urls.insert("catalog".into(), "http://x".into());
        assert!(OpenCartConfig::from_connection(&conn(s)).is_err());
    }

    #[test]
    fn page_tokens_are_page_numbers() {
        assert_eq!(page_number(None).ok(), Some(1));
        assert_eq!(page_number(Some("4")).ok(), Some(4));
        assert!(page_number(Some("0")).is_err());
    }
}

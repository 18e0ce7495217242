//! Magento 2 / Adobe Commerce connector.
//!
//! **Auth.** Credentials `store_url`, `access_token` (integration access token, secret),
//! `consumer_key`, `consumer_secret` (secret), and for OAuth 1.0a `access_token_secret`
//! (secret). `auth_mode` (a credential field, because `Settings` has no platform-specific
//! fields) is `bearer` (default: `Authorization: Bearer <access_token>`, Magento 2.4.4+ with
//! "Allow OAuth Access Tokens to be used as standalone Bearer tokens") or `oauth1`: every
//! request is signed with HMAC-SHA256 over the method, base URL and all query and `oauth_*`
//! parameters (RFC 5849), key `consumer_secret&access_token_secret`; the `oauth_*` parameters
//! travel in the query (Magento reads them from the header, the query or a form body), and a
//! request retried after a failure that reached Magento is signed again with a new nonce.
//! `401`/`403` are [`ConnectorError::Auth`] and never retried; credential values are redacted
//! from every error and log line.
//!
//! **URLs.** REST at `{store_url}/rest/default/V1`; `settings.base_url` replaces `store_url`.
//! `settings.api_urls` may point the `V1` family (reads and writes; e.g. a Prism proxy that
//! serves `/V1/...`), `V1_all` (product writes at the global scope, default
//! `{store_url}/rest/all/V1`, or `V1` when only that is set) and `async_bulk`
//! (`{store_url}/rest/default/async/bulk/V1`) at their own base URLs. Nothing defaults to a
//! local address.
//!
//! **Limits.** `searchCriteria[pageSize]` at most 300 ([`MAX_PAGE_SIZE`], Magento 2.4.7+
//! `webapi/validation/maximum_page_size`); pages follow `searchCriteria[currentPage]` and stop
//! by `total_count` (Magento answers a page past the end with the last page again). Magento
//! has no rate limit of its own; Adobe Commerce Cloud fronts stores with a configurable edge
//! limit answering 429 + `Retry-After`, which is honoured; the client keeps its own budget
//! (`rate_limit_requests` per `rate_limit_window_ms`, default 20 per second). Source items go
//! at most [`MAX_SOURCE_ITEMS`] (100, lowered by `batch_size`) per request or bulk operation:
//! Magento documents no maximum, this keeps requests inside PHP's limits.
//!
//! **Reads.** `test_connection` reads `/V1/store/storeViews` (the default view's name) and
//! counts products. `products_page`: `/V1/products` without the "Not Visible Individually"
//! children (`visibility neq 1`), `updated_at gteq since` / `lt until`, `sku in`, `entity_id
//! in`, sorted by `entity_id`; configurable products get their children from
//! `/V1/configurable-products/{sku}/children` as variants, option labels from the configurable
//! attributes (`/V1/products/attributes`, cached), category paths from `/V1/categories/list`
//! (cached), currency and weight unit from `/V1/store/storeConfigs` (cached). Description,
//! brand and EAN are the custom attributes `description`, `brand` and `ean`. A full import
//! costs one call per page, one per configurable product, and three lookups per connection.
//! `stock_page`: MSI `/V1/inventory/source-items` (`sku in`; source items carry no
//! modification date, so `since`/`until`/`ids` do not apply), each source mapped to a
//! warehouse by `warehouse_mapping` (source code or name), default the source code; `reserved`
//! is 0 (reservations are not exposed), `available` is the quantity of in-stock items.
//! `orders_page`: `/V1/orders` (`updated_at`, `entity_id in`) plus one `/V1/shipments` search
//! per page for tracking.
//!
//! **Writes.** `export_stock`: one batch → `POST /V1/inventory/source-items`; more → one
//! `POST /async/bulk/V1/inventory/source-items` (one operation per batch) polled at
//! `/V1/bulk/{bulk_uuid}/status` until no operation is open; failed operations report their
//! items as rejected. `export_orders`: shipments (`shipped`, tracking or lines) through
//! `POST /V1/order/{id}/ship` with `tracks [{track_number, title, carrier_code}]`,
//! `cancelled` through `/V1/orders/{id}/cancel`, other statuses through
//! `/V1/orders/{id}/comments`. `update_field`: `PUT /V1/products/{sku}` at the `all` scope:
//! `title` → `name`, `description`/`brand` → custom attributes, `price`, `weight`,
//! `categories` → `extension_attributes.category_links` (paths must exist).
//!
//! **Webhooks** (Adobe Commerce Webhooks module): `register_webhooks` lists
//! `/V1/webhooks/list` and subscribes the missing ones of `observer.catalog_product_save_after`,
//! `plugin.magento.inventory_api.api.source_items_save.execute` and
//! `observer.sales_order_save_after` through `POST /V1/webhooks/subscribe` (batch
//! `marketsync`). `verify_webhook` checks `x-adobe-commerce-webhook-signature` (base64
//! HMAC-SHA256 of the raw body, as Adobe's signature documentation describes it) in constant
//! time against `webhook_secret` (default: `consumer_secret`), then reads `eventName` and
//! `data`. The delivery id and send time come from `x-adobe-commerce-webhook-id` and
//! `x-adobe-commerce-webhook-timestamp` when present (the simulator sends them; Adobe
//! documents no such headers, so otherwise the id is derived from the signature and the time
//! is unknown).

mod client;
mod config;
mod mapping;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};
use marketsync_proto::v1::{Order, PlatformInfo, Product, StockLevel};
use reqwest::Method;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    ConnectionConfig, Connector, ConnectorError, ExportReport, FieldUpdate, ImportQuery,
    OrderUpdate, Page, Result, WebhookCall, WebhookEvent, common_settings, constant_time_eq, field,
};
use client::{Client, Filter, Req, encode};
pub use config::{
    API_FAMILIES, AuthMode, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_SOURCE_ITEMS, MagentoConfig,
};
use mapping::{MageOrder, MageProduct, MageShipment, SearchResult, SourceItem};

/// Platform id.
pub const PLATFORM: &str = "magento";

/// Webhook method (topic) of product saves.
pub const PRODUCT_TOPIC: &str = "observer.catalog_product_save_after";
/// Webhook method (topic) of MSI source item saves.
pub const STOCK_TOPIC: &str = "plugin.magento.inventory_api.api.source_items_save.execute";
/// Webhook method (topic) of order saves.
pub const ORDER_TOPIC: &str = "observer.sales_order_save_after";
/// Header of the webhook signature.
pub const SIGNATURE_HEADER: &str = "x-adobe-commerce-webhook-signature";
/// Header of the delivery id (simulator; see the crate docs).
pub const DELIVERY_ID_HEADER: &str = "x-adobe-commerce-webhook-id";
/// Header of the send time, Unix seconds (simulator; see the crate docs).
pub const TIMESTAMP_HEADER: &str = "x-adobe-commerce-webhook-timestamp";
/// `batch_name` of marketsync's webhook subscriptions.
pub const WEBHOOK_BATCH: &str = "marketsync";

/// The platform with the fields of its connection form.
pub fn platform_info() -> PlatformInfo {
    PlatformInfo {
        id: PLATFORM.into(),
        name: "Magento 2 / Adobe Commerce".into(),
        kind: "shop".into(),
        credentials: vec![
            field(
                "store_url",
                "Store URL",
                false,
                true,
                "e.g. https://mystore.com (REST at {store_url}/rest/default/V1)",
            ),
            field(
                "access_token",
                "Access token",
                true,
                true,
                "Integration access token (System → Integrations)",
            ),
            field(
                "consumer_key",
                "Consumer key",
                false,
                false,
                "Integration consumer key (OAuth 1.0a)",
            ),
            field(
                "consumer_secret",
                "Consumer secret",
                true,
                false,
                "Integration consumer secret (OAuth 1.0a)",
            ),
            field(
                "access_token_secret",
                "Access token secret",
                true,
                false,
                "Integration access token secret (OAuth 1.0a, auth_mode oauth1)",
            ),
            field(
                "auth_mode",
                "Auth mode",
                false,
                false,
                "bearer (default: the access token as a bearer token) or oauth1 (signed requests)",
            ),
            field(
                "webhook_secret",
                "Webhook signing key",
                true,
                false,
                "Key of x-adobe-commerce-webhook-signature (default: consumer secret)",
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
                    "Full base URL per API family (V1, V1_all, async_bulk), e.g. a validating \
                     proxy; wins over base_url",
                ),
                field(
                    "rate_limit_requests",
                    "Requests per window",
                    false,
                    false,
                    "Client-side budget (default 20; Magento has no limit, Adobe Commerce Cloud \
                     a configurable one answering 429 + Retry-After)",
                ),
                field(
                    "rate_limit_window_ms",
                    "Rate-limit window (ms)",
                    false,
                    false,
                    "Window of the budget (default 1000)",
                ),
            ])
            .collect(),
        docs_url: "https://developer.adobe.com/commerce/webapi/rest/".into(),
    }
}

/// A Magento store.
pub struct Magento {
    client: Client,
}

impl std::fmt::Debug for Magento {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Magento")
            .field("config", &self.client.cfg)
            .finish()
    }
}

fn page_number(token: Option<&str>) -> Result<u64> {
    match token {
        None => Ok(1),
        Some(t) => t
            .parse::<u64>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| ConnectorError::Config(format!("invalid page token `{t}`"))),
    }
}

fn page_size(query: &ImportQuery, default: u32) -> u64 {
    let size = if query.page_size == 0 {
        default
    } else {
        query.page_size
    };
    u64::from(size.clamp(1, MAX_PAGE_SIZE))
}

fn next_page(page: u64, size: u64, total: u64, got: usize) -> Option<String> {
    (got > 0 && page * size < total).then(|| (page + 1).to_string())
}

fn mage_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn filter(field: &str, value: impl Into<String>, cond: &'static str) -> Vec<Filter> {
    vec![(field.to_string(), value.into(), cond)]
}

#[derive(Debug, Deserialize)]
struct BulkAccepted {
    bulk_uuid: String,
}

#[derive(Debug, Deserialize)]
struct BulkStatus {
    #[serde(default)]
    operations_list: Vec<BulkOperation>,
}

#[derive(Debug, Deserialize)]
struct BulkOperation {
    id: i64,
    status: i64,
    #[serde(default)]
    result_message: Option<String>,
}

impl Magento {
    /// A connector for a connection.
    pub fn new(config: ConnectionConfig) -> Result<Self> {
        let cfg = MagentoConfig::from_connection(&config)?;
        Ok(Self {
            client: Client::new(cfg)?,
        })
    }

    fn v1(&self, path: &str) -> String {
        format!("{}{path}", self.client.cfg.urls.v1)
    }

    async fn children(&self, sku: &str) -> Result<Vec<MageProduct>> {
        let url = self.v1(&format!("/configurable-products/{}/children", encode(sku)));
        self.client.fetch(Req::get(url)).await
    }

    async fn order(&self, id: &str) -> Result<MageOrder> {
        let id: i64 = id
            .trim()
            .parse()
            .map_err(|_| ConnectorError::NotFound(format!("order `{id}` is not an order id")))?;
        self.client
            .fetch(Req::get(self.v1(&format!("/orders/{id}"))))
            .await
    }

    async fn export_order(&self, u: &OrderUpdate) -> Result<()> {
        let o = self.order(&u.external_id).await?;
        let status = u.status.as_deref().map(str::trim).unwrap_or("");
        let ships = status == "shipped" || u.tracking_number.is_some() || !u.lines.is_empty();
        if ships {
            let mut items = Vec::new();
            for (sku, qty) in &u.lines {
                let Some(item) = o
                    .items
                    .iter()
                    .find(|i| i.sku == *sku && i.parent_item_id.is_none())
                else {
                    return Err(ConnectorError::Rejected {
                        status: 400,
                        message: format!("sku {sku} is not a line of order {}", o.entity_id),
                    });
                };
                items.push(json!({"order_item_id": item.item_id, "qty": qty}));
            }
            let mut body = json!({ "items": items, "notify": false, "appendComment": false });
            if let Some(number) = u.tracking_number.as_deref().filter(|n| !n.is_empty()) {
                let carrier = u.carrier.clone().unwrap_or_default();
                body["tracks"] = json!([{
                    "track_number": number,
                    "title": if carrier.is_empty() { "Custom".to_string() } else { carrier.clone() },
                    "carrier_code": mapping::carrier_code(&carrier),
                }]);
            }
            let url = self.v1(&format!("/order/{}/ship", o.entity_id));
            let _: Option<Value> = self.client.send(Req::new(Method::POST, url, body)).await?;
            return Ok(());
        }
        match status {
            "" => Ok(()),
            "cancelled" | "canceled" => {
                let url = self.v1(&format!("/orders/{}/cancel", o.entity_id));
                let done: Option<bool> = self
                    .client
                    .send(Req::new(Method::POST, url, json!({})))
                    .await?;
                if done == Some(true) {
                    Ok(())
                } else {
                    Err(ConnectorError::Rejected {
                        status: 400,
                        message: format!("order {} cannot be cancelled", o.entity_id),
                    })
                }
            }
            other => {
                let Some(s) = mapping::mage_status(other) else {
                    return Err(ConnectorError::Rejected {
                        status: 400,
                        message: format!("status `{other}` has no Magento equivalent"),
                    });
                };
                let url = self.v1(&format!("/orders/{}/comments", o.entity_id));
                let body = json!({"statusHistory": {
                    "comment": format!("Status set to {other} by marketsync"),
                    "status": s,
                    "is_customer_notified": 0,
                    "is_visible_on_front": 0,
                    "parent_id": o.entity_id,
                }});
                let _: Option<Value> = self.client.send(Req::new(Method::POST, url, body)).await?;
                Ok(())
            }
        }
    }

    async fn product_sku(&self, update: &FieldUpdate) -> Result<String> {
        if !update.sku.trim().is_empty() {
            return Ok(update.sku.trim().to_string());
        }
        let req = Req::get(self.v1("/products")).criteria(
            &[filter("entity_id", update.external_id.trim(), "eq")],
            1,
            1,
            None,
        );
        let res: SearchResult<MageProduct> = self.client.fetch(req).await?;
        res.items
            .into_iter()
            .next()
            .map(|p| p.sku)
            .ok_or_else(|| ConnectorError::NotFound(format!("product {}", update.external_id)))
    }

    async fn category_links(&self, value: &str) -> Result<Vec<Value>> {
        let mut links = Vec::new();
        for (pos, path) in value
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .enumerate()
        {
            let mut id = None;
            for refresh in [false, true] {
                let cats = self.client.categories(refresh).await?;
                let paths = mapping::category_paths(&cats);
                id = paths
                    .iter()
                    .find(|(_, p)| p.eq_ignore_ascii_case(path))
                    .map(|(id, _)| *id);
                if id.is_some() {
                    break;
                }
            }
            let Some(id) = id else {
                return Err(ConnectorError::Rejected {
                    status: 400,
                    message: format!("category `{path}` does not exist in the store"),
                });
            };
            links.push(json!({"position": pos, "category_id": id.to_string()}));
        }
        Ok(links)
    }

    async fn field_body(&self, sku: &str, update: &FieldUpdate) -> Result<Value> {
        let value = update.value.trim();
        let invalid = |what: &str| ConnectorError::Rejected {
            status: 400,
            message: format!("`{value}` is not a valid {what}"),
        };
        let mut product = json!({ "sku": sku });
        match update.field.as_str() {
            "title" => product["name"] = json!(value),
            "description" => {
                product["custom_attributes"] =
                    json!([{"attribute_code": "description", "value": update.value}])
            }
            "brand" => {
                product["custom_attributes"] = json!([{"attribute_code": "brand", "value": value}])
            }
            "price" => {
                let d: Decimal = value.parse().map_err(|_| invalid("price"))?;
                if d.is_sign_negative() {
                    return Err(invalid("price"));
                }
                let n: serde_json::Number =
                    serde_json::from_str(&d.to_string()).map_err(|_| invalid("price"))?;
                product["price"] = Value::Number(n);
            }
            "weight" => {
                let w: f64 = value.parse().map_err(|_| invalid("weight"))?;
                if !w.is_finite() {
                    return Err(invalid("weight"));
                }
                product["weight"] = json!(w);
            }
            "categories" => {
                product["extension_attributes"] =
                    json!({ "category_links": self.category_links(value).await? });
            }
            other => {
                return Err(ConnectorError::Unsupported(format!(
                    "{PLATFORM} (field `{other}`)"
                )));
            }
        }
        Ok(json!({ "product": product }))
    }

    /// One synchronous `POST /V1/inventory/source-items`.
    async fn save_source_items(&self, items: &[Value]) -> Result<()> {
        let url = self.v1("/inventory/source-items");
        let _: Option<Value> = self
            .client
            .send(Req::new(Method::POST, url, json!({ "sourceItems": items })))
            .await?;
        Ok(())
    }

    /// The async bulk export of `chunks` (one operation each); returns per-chunk outcomes.
    async fn bulk_source_items(&self, chunks: &[Vec<Value>]) -> Result<Vec<Option<String>>> {
        let url = format!("{}/inventory/source-items", self.client.cfg.urls.async_bulk);
        let body: Vec<Value> = chunks.iter().map(|c| json!({ "sourceItems": c })).collect();
        let accepted: BulkAccepted = self
            .client
            .fetch(Req::new(Method::POST, url, json!(body)))
            .await?;
        let status_url = self.v1(&format!("/bulk/{}/status", encode(&accepted.bulk_uuid)));
        let mut delay = Duration::from_millis(50);
        for _ in 0..config::MAX_BULK_POLLS {
            let status: BulkStatus = self.client.fetch(Req::get(status_url.clone())).await?;
            // 4: open (not processed yet).
            if !status.operations_list.is_empty()
                && status.operations_list.iter().all(|o| o.status != 4)
            {
                let mut out =
                    vec![Some("operation missing from the bulk status".to_string()); chunks.len()];
                for op in status.operations_list {
                    if let Some(slot) = usize::try_from(op.id).ok().and_then(|i| out.get_mut(i)) {
                        *slot = match op.status {
                            1 => None,
                            _ => Some(
                                op.result_message
                                    .unwrap_or_else(|| format!("operation status {}", op.status)),
                            ),
                        };
                    }
                }
                return Ok(out);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        Err(ConnectorError::Transient(format!(
            "bulk {} still open after {} polls",
            accepted.bulk_uuid,
            config::MAX_BULK_POLLS
        )))
    }
}

#[async_trait]
impl Connector for Magento {
    fn platform(&self) -> &'static str {
        PLATFORM
    }

    async fn test_connection(&self) -> Result<String> {
        #[derive(Deserialize)]
        struct View {
            #[serde(default)]
            code: String,
            #[serde(default)]
            name: String,
        }
        let views: Vec<View> = self
            .client
            .fetch(Req::get(self.v1("/store/storeViews")))
            .await?;
        let name = views
            .iter()
            .find(|v| v.code == "default")
            .or_else(|| views.iter().find(|v| v.code != "admin"))
            .map(|v| v.name.clone())
            .unwrap_or_default();
        let req = Req::get(self.v1("/products")).criteria(
            &[filter("visibility", "1", "neq")],
            1,
            1,
            None,
        );
        let res: SearchResult<Value> = self.client.fetch(req).await?;
        Ok(format!(
            "connected to Magento store {name}: {} products",
            res.total_count
        ))
    }

    async fn products_page(&self, query: &ImportQuery) -> Result<Page<Product>> {
        let page = page_number(query.page.as_deref())?;
        let size = page_size(query, self.client.cfg.page_size);
        // Children of configurable products are "not visible individually": they come as
        // variants of their parent.
        let mut groups = vec![filter("visibility", "1", "neq")];
        if let Some(since) = query.since {
            groups.push(filter("updated_at", mage_time(since), "gteq"));
        }
        if let Some(until) = query.until {
            groups.push(filter("updated_at", mage_time(until), "lt"));
        }
        if !query.skus.is_empty() {
            groups.push(filter("sku", query.skus.join(","), "in"));
        }
        if !query.ids.is_empty() {
            groups.push(filter("entity_id", query.ids.join(","), "in"));
        }
        let req = Req::get(self.v1("/products")).criteria(&groups, size, page, Some("entity_id"));
        let res: SearchResult<MageProduct> = self.client.fetch(req).await?;
        let config = self.client.store_config().await?;
        let cats = self.client.categories(false).await?;
        let paths = mapping::category_paths(&cats);
        let mut children = Vec::with_capacity(res.items.len());
        let mut attribute_ids = Vec::new();
        for p in &res.items {
            if p.type_id == "configurable" {
                children.push(self.children(&p.sku).await?);
                for o in &p.extension_attributes.configurable_product_options {
                    let id = match &o.attribute_id {
                        Value::String(s) => s.parse().ok(),
                        v => v.as_i64(),
                    };
                    if let Some(id) = id
                        && !attribute_ids.contains(&id)
                    {
                        attribute_ids.push(id);
                    }
                }
            } else {
                children.push(Vec::new());
            }
        }
        let attributes = self.client.attributes(&attribute_ids).await?;
        let lookups = mapping::Lookups {
            categories: &paths,
            attributes: &attributes,
            config: &config,
        };
        let got = res.items.len();
        let items = res
            .items
            .into_iter()
            .zip(children)
            .map(|(p, c)| mapping::product(p, &c, &lookups))
            .collect();
        Ok(Page {
            items,
            next: next_page(page, size, res.total_count, got),
            total: Some(res.total_count),
        })
    }

    async fn stock_page(&self, query: &ImportQuery) -> Result<Page<StockLevel>> {
        let page = page_number(query.page.as_deref())?;
        let size = page_size(query, self.client.cfg.page_size);
        let sources = self.client.sources().await?;
        let mut groups = Vec::new();
        if !query.skus.is_empty() {
            groups.push(filter("sku", query.skus.join(","), "in"));
        }
        let req = Req::get(self.v1("/inventory/source-items")).criteria(&groups, size, page, None);
        let res: SearchResult<SourceItem> = self.client.fetch(req).await?;
        let got = res.items.len();
        let items = res
            .items
            .iter()
            .map(|i| mapping::stock_level(i, self.client.warehouse_of(&i.source_code, &sources)))
            .collect();
        Ok(Page {
            items,
            next: next_page(page, size, res.total_count, got),
            total: Some(res.total_count),
        })
    }

    async fn orders_page(&self, query: &ImportQuery) -> Result<Page<Order>> {
        let page = page_number(query.page.as_deref())?;
        let size = page_size(query, self.client.cfg.page_size);
        let mut groups = Vec::new();
        if let Some(since) = query.since {
            groups.push(filter("updated_at", mage_time(since), "gteq"));
        }
        if let Some(until) = query.until {
            groups.push(filter("updated_at", mage_time(until), "lt"));
        }
        if !query.ids.is_empty() {
            groups.push(filter("entity_id", query.ids.join(","), "in"));
        }
        let req = Req::get(self.v1("/orders")).criteria(&groups, size, page, Some("entity_id"));
        let res: SearchResult<MageOrder> = self.client.fetch(req).await?;
        // Only orders with something shipped have shipments: a storm of new orders costs one
        // call per page, not two.
        let ids: Vec<String> = res
            .items
            .iter()
            .filter(|o| {
                o.items
                    .iter()
                    .any(|i| i.qty_shipped.is_none_or(|q| q > 0.0))
            })
            .map(|o| o.entity_id.to_string())
            .collect();
        let mut shipments: Vec<MageShipment> = Vec::new();
        if !ids.is_empty() {
            let f = [filter("order_id", ids.join(","), "in")];
            for spage in 1u64.. {
                let req = Req::get(self.v1("/shipments")).criteria(
                    &f,
                    u64::from(MAX_PAGE_SIZE),
                    spage,
                    None,
                );
                let s: SearchResult<MageShipment> = self.client.fetch(req).await?;
                let n = s.items.len();
                shipments.extend(s.items);
                if n == 0 || spage * u64::from(MAX_PAGE_SIZE) >= s.total_count || spage >= 100 {
                    break;
                }
            }
        }
        let currency = self.client.store_config().await?.base_currency_code.clone();
        let mut by_order: HashMap<i64, Vec<&MageShipment>> = HashMap::new();
        for s in &shipments {
            by_order.entry(s.order_id).or_default().push(s);
        }
        let got = res.items.len();
        let items = res
            .items
            .iter()
            .map(|o| {
                let s = by_order.get(&o.entity_id).cloned().unwrap_or_default();
                mapping::order(o, &s, &currency)
            })
            .collect();
        Ok(Page {
            items,
            next: next_page(page, size, res.total_count, got),
            total: Some(res.total_count),
        })
    }

    async fn export_stock(&self, levels: &[StockLevel]) -> Result<ExportReport> {
        let mut report = ExportReport::default();
        if levels.is_empty() {
            return Ok(report);
        }
        let sources = self.client.sources().await?;
        let mut items: Vec<(String, Value)> = Vec::new();
        for l in levels {
            match self.client.source_of(&l.warehouse, &sources) {
                Some(code) => items.push((
                    format!("{}@{}", l.sku, l.warehouse),
                    json!({
                        "sku": l.sku,
                        "source_code": code,
                        "quantity": l.on_hand.max(0),
                        "status": i64::from(l.on_hand > 0),
                    }),
                )),
                None => report.rejected.push((
                    format!("{}@{}", l.sku, l.warehouse),
                    format!("warehouse {} has no Magento source", l.warehouse),
                )),
            }
        }
        let batch = self.client.cfg.source_batch.max(1);
        let chunks: Vec<&[(String, Value)]> = items.chunks(batch).collect();
        if chunks.len() <= 1 {
            // One request: the synchronous endpoint.
            for chunk in chunks {
                let body: Vec<Value> = chunk.iter().map(|(_, v)| v.clone()).collect();
                match self.save_source_items(&body).await {
                    Ok(()) => report.accepted += chunk.len() as u64,
                    Err(e) if e.is_record_level() => {
                        let msg = self.client.redact(&e.to_string());
                        report
                            .rejected
                            .extend(chunk.iter().map(|(k, _)| (k.clone(), msg.clone())));
                    }
                    Err(e) => return Err(e),
                }
            }
            return Ok(report);
        }
        // Several: one async bulk, one operation per chunk, polled until processed.
        let bodies: Vec<Vec<Value>> = chunks
            .iter()
            .map(|c| c.iter().map(|(_, v)| v.clone()).collect())
            .collect();
        let outcomes = self.bulk_source_items(&bodies).await?;
        for (chunk, outcome) in chunks.iter().zip(outcomes) {
            match outcome {
                None => report.accepted += chunk.len() as u64,
                Some(msg) => {
                    let msg = self.client.redact(&msg);
                    report
                        .rejected
                        .extend(chunk.iter().map(|(k, _)| (k.clone(), msg.clone())));
                }
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
                Err(e) if e.is_record_level() => report
                    .rejected
                    .push((u.external_id.clone(), self.client.redact(&e.to_string()))),
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    async fn update_field(&self, update: &FieldUpdate) -> Result<()> {
        let sku = self.product_sku(update).await?;
        let body = self.field_body(&sku, update).await?;
        // The `all` scope writes the global value (the default store view would get an
        // override of its own).
        let url = format!("{}/products/{}", self.client.cfg.urls.v1_all, encode(&sku));
        let _: Option<Value> = self.client.send(Req::new(Method::PUT, url, body)).await?;
        tracing::info!(
            platform = PLATFORM,
            field = %update.field,
            "product field updated"
        );
        Ok(())
    }

    fn verify_webhook(&self, call: &WebhookCall) -> Result<WebhookEvent> {
        let key = self.client.cfg.webhook_key().ok_or_else(|| {
            ConnectorError::Config("no webhook_secret or consumer_secret to verify with".into())
        })?;
        let sent = call
            .header(SIGNATURE_HEADER)
            .ok_or_else(|| ConnectorError::Auth(format!("webhook without {SIGNATURE_HEADER}")))?;
        let sent = base64::engine::general_purpose::STANDARD
            .decode(sent.trim())
            .map_err(|_| ConnectorError::Auth("webhook signature is not base64".into()))?;
        let want = client::hmac_sha256(key.as_bytes(), &call.body);
        if want.is_empty() || !constant_time_eq(&sent, &want) {
            return Err(ConnectorError::Auth("webhook signature mismatch".into()));
        }
        let body: Value = serde_json::from_slice(&call.body)
            .map_err(|e| ConnectorError::Malformed(format!("webhook body: {e}")))?;
        let topic = body["eventName"].as_str().unwrap_or_default().to_string();
        let data = &body["data"];
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            v => v.to_string(),
        };
        let (kind, external_ids, skus) = match topic.as_str() {
            PRODUCT_TOPIC => (
                "products",
                vec![text(&data["product"]["id"])],
                vec![text(&data["product"]["sku"])],
            ),
            STOCK_TOPIC => {
                let mut skus: Vec<String> = data["sourceItems"]
                    .as_array()
                    .map(|a| a.iter().map(|i| text(&i["sku"])).collect())
                    .unwrap_or_default();
                skus.dedup();
                ("stock", vec![], skus)
            }
            ORDER_TOPIC => ("orders", vec![text(&data["order"]["entity_id"])], vec![]),
            other => {
                return Err(ConnectorError::Unsupported(format!(
                    "{PLATFORM} webhook `{other}`"
                )));
            }
        };
        let id = call
            .header(DELIVERY_ID_HEADER)
            .map(String::from)
            .unwrap_or_else(|| want.iter().take(16).map(|b| format!("{b:02x}")).collect());
        let sent_at = call
            .header(TIMESTAMP_HEADER)
            .and_then(|t| t.trim().parse::<i64>().ok())
            .and_then(|s| DateTime::from_timestamp(s, 0));
        Ok(WebhookEvent {
            id,
            topic,
            kind: kind.into(),
            external_ids: external_ids.into_iter().filter(|s| !s.is_empty()).collect(),
            skus: skus.into_iter().filter(|s| !s.is_empty()).collect(),
            sent_at,
            orders: Vec::new(),
        })
    }

    async fn register_webhooks(&self, url: &str) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Hook {
            #[serde(default)]
            webhook_method: String,
            #[serde(default)]
            hook_name: String,
            #[serde(default)]
            batch_name: String,
            #[serde(default)]
            url: String,
        }
        let existing: Vec<Hook> = self
            .client
            .fetch(Req::get(self.v1("/webhooks/list")))
            .await?;
        let wanted = [
            (PRODUCT_TOPIC, "marketsync_products"),
            (STOCK_TOPIC, "marketsync_stock"),
            (ORDER_TOPIC, "marketsync_orders"),
        ];
        let mut topics = Vec::new();
        for (method, hook) in wanted {
            let have = existing.iter().any(|h| {
                h.webhook_method == method
                    && h.hook_name == hook
                    && h.batch_name == WEBHOOK_BATCH
                    && h.url == url
            });
            if !have {
                let body = json!({"webhook": {
                    "webhook_method": method,
                    "webhook_type": "after",
                    "batch_name": WEBHOOK_BATCH,
                    "batch_order": 0,
                    "hook_name": hook,
                    "url": url,
                    "priority": 0,
                    "required": false,
                    "soft_timeout": 1000,
                    "timeout": 5000,
                    "method": "POST",
                    "fallback_error_message": "",
                    "ttl": 3600,
                    "fields": [],
                    "rules": [],
                    "headers": [],
                }});
                let _: Option<Value> = self
                    .client
                    .send(Req::new(Method::POST, self.v1("/webhooks/subscribe"), body))
                    .await?;
            }
            topics.push(method.to_string());
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
        let names: Vec<_> = info.credentials.iter().map(|f| f.name.as_str()).collect();
        for n in [
            "store_url",
            "access_token",
            "consumer_key",
            "consumer_secret",
        ] {
            assert!(names.contains(&n), "{n}");
        }
        let secret = |n: &str| info.credentials.iter().any(|f| f.name == n && f.secret);
        assert!(secret("access_token") && secret("consumer_secret"));
        assert!(!secret("store_url") && !secret("consumer_key"));
        assert!(info.settings.iter().any(|f| f.name == "api_urls"));
    }

    #[test]
    fn pages_follow_total_count() {
        assert_eq!(next_page(1, 10, 25, 10).as_deref(), Some("2"));
        assert_eq!(next_page(3, 10, 25, 5), None);
        assert!(page_number(Some("0")).is_err());
    }
}

//! eBay Sell APIs: Inventory (inventory items, offers, bulk price and quantity), Fulfillment
//! (orders, shipping fulfillments), Account (return policies) and the Commerce Notification
//! API (webhook destinations, subscriptions, signature keys).
//!
//! # Vendor documentation followed
//! - OAuth: <https://developer.ebay.com/api-docs/static/oauth-refresh-token-request.html>
//!   (refresh-token grant, client id and secret as HTTP Basic, user tokens live 2 hours) and
//!   <https://developer.ebay.com/api-docs/static/oauth-client-credentials-grant.html>
//!   (application token for getPublicKey).
//! - Inventory API <https://developer.ebay.com/api-docs/sell/inventory/overview.html>:
//!   getInventoryItems (`limit`/`offset`), getOffers (`sku`, `marketplace_id`),
//!   bulkUpdatePriceQuantity (at most 25 requests per call, answers 200/207 with one response
//!   per sku/offer), createOrReplaceInventoryItem (`Content-Language` required) and
//!   bulkCreateOrReplaceInventoryItem (at most 25 items per call, [`Ebay::put_inventory_items`]:
//!   catalog records written to eBay in bulk, refusals by sku).
//! - Fulfillment API <https://developer.ebay.com/api-docs/sell/fulfillment/overview.html>:
//!   getOrders (`filter=lastmodifieddate:[from..to]`, `limit` ≤ 200, `offset`),
//!   createShippingFulfillment (`lineItems`, `shippedDate`, `shippingCarrierCode`,
//!   `trackingNumber`).
//! - Account API getReturnPolicies (`marketplace_id`): return policy ids → names.
//! - Notification API <https://developer.ebay.com/api-docs/commerce/notification/overview.html>
//!   and eBay's event-notification SDKs: `X-EBAY-SIGNATURE` is base64 of
//!   `{"alg","kid","signature","digest"}`; the key of `kid` comes from getPublicKey
//!   (`/public_key/{kid}`, PEM, `algorithm: ECDSA`, `digest: SHA1`), the signature is DER ECDSA
//!   over the SHA-1 digest of the raw body with a P-256 key. The endpoint challenge is
//!   `SHA-256hex(challengeCode + verificationToken + endpoint)` ([`challenge_response`]).
//! - Call limits <https://developer.ebay.com/develop/get-started/api-call-limits>: Sell
//!   Inventory 2,000,000 calls/day, Sell Fulfillment 100,000, Sell Account 25,000, Notification
//!   10,000 (per application).
//! - Errors: `{"errors":[{"errorId","domain","category","message",…}]}`.
//!
//! Every API family has its own base URL (`{host}/sell/inventory/v1`, …, host from the
//! `environment` credential or `settings.base_url`); `settings.api_urls.<family>` replaces it
//! with a full base (how each family is pointed at its own validating proxy).
//!
//! # Assumptions (where the public documentation is thin)
//! - Pacing: eBay documents only daily call limits. Each family's budget is spent as a token
//!   bucket of `limit / 86,400` calls per second with one minute's worth as a burst (Inventory:
//!   23.15/s, burst 1,388), so a busy day never runs out; `rate_limit_requests` (per
//!   `rate_limit_window_ms`, default 1 s) overrides the Inventory budget. The connector keeps
//!   1% of each burst (at least two calls) in reserve, for network jitter between its clock
//!   and eBay's.
//! - 429s carry no documented reset header: the shared client backs off exponentially.
//! - getOffers carries no publish errors: an `UNPUBLISHED` offer is reported as the listing
//!   error `UNPUBLISHED` and `listing.listingOnHold` as `LISTING_ON_HOLD`; per-offer errors of
//!   bulk calls go to `ExportReport.rejected`.
//! - One product per inventory item, with the offer of the configured marketplace
//!   (`marketplace_id` credential, default `EBAY_US`); `external_id` is the offer id. Stock has
//!   one warehouse named after the marketplace id.
//! - `product.aspects` is read and written as an object of arrays (`{"Brand":["X"]}`), as the
//!   live API does, although the published spec types it as a string (the conformance test
//!   tolerates exactly that violation).
//! - Weight writes use `KILOGRAM`; categories are eBay category ids on offers and cannot be
//!   written from canonical paths (`Unsupported`).
//! - eBay has no order acceptance step: `acknowledge_orders` accepts every id as is.
//!   Cancellations and refunds are read (cancelStatus, paymentSummary.refunds) but written
//!   only through the Post-Order API, which marketsync does not use (rejected per order).
//! - Notification API calls other than getPublicKey use the user token; the topics subscribed
//!   are `MARKETPLACE_ACCOUNT_DELETION` (mandatory for eBay apps) plus those of
//!   [`WANTED_TOPICS`] that getTopics lists. `MARKETPLACE_ACCOUNT_DELETION` is reported as a
//!   `ping` (acknowledged, starts no sync).

mod client;
pub mod config;
mod mapping;
mod notify;

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::SecondsFormat;
use futures::StreamExt;
use futures::future::BoxFuture;
use marketsync_proto::v1::{Order, PlatformInfo, Product, StockLevel};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::RwLock;

use crate::http::Call;
use crate::{
    ConnectionConfig, Connector, ConnectorError, ExportReport, FieldUpdate, ImportQuery,
    OfferUpdate, OrderUpdate, Page, Result, WebhookCall, WebhookEvent, common_settings, field,
};
use client::{Client, Family};
use config::{BULK_CONCURRENCY, EbayConfig, MAX_BULK, MAX_ITEMS_LIMIT, MAX_ORDERS_LIMIT};
use mapping::{
    Amount, BulkResponses, EbayOrder, InventoryItem, InventoryItems, OfferPriceQuantity, Offers,
    OrderPage, PriceQuantity, ReturnPolicies, ShipTo,
};

pub use notify::{WANTED_TOPICS, challenge_response};

/// Platform id.
pub const PLATFORM: &str = "ebay";

/// The platform with the fields of its connection form.
pub fn platform_info() -> PlatformInfo {
    PlatformInfo {
        id: PLATFORM.into(),
        name: "eBay".into(),
        kind: "marketplace".into(),
        credentials: vec![
            field(
                "client_id",
                "App ID (Client ID)",
                false,
                true,
                "Application keys of developer.ebay.com",
            ),
            field(
                "client_secret",
                "Cert ID (Client Secret)",
                true,
                true,
                "Application keys of developer.ebay.com",
            ),
            field(
                "refresh_token",
                "User refresh token",
                true,
                true,
                "From the authorization code grant with scopes sell.inventory, sell.fulfillment, sell.account",
            ),
            field(
                "environment",
                "Environment",
                false,
                true,
                "`production` or `sandbox`",
            ),
            field(
                "verification_token",
                "Notification verification token",
                true,
                false,
                "32–80 characters of [A-Za-z0-9_-]; needed for webhooks (the endpoint challenge)",
            ),
            field(
                "marketplace_id",
                "Marketplace",
                false,
                false,
                "eBay marketplace id (default EBAY_US)",
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
                    "Full base URL per API family (inventory, fulfillment, account, \
                     notification), e.g. a validating proxy; wins over base_url",
                ),
                field(
                    "rate_limit_requests",
                    "Inventory API calls per window",
                    false,
                    false,
                    "Overrides the budget derived from eBay's 2,000,000 calls/day",
                ),
                field(
                    "rate_limit_window_ms",
                    "Rate-limit window (ms)",
                    false,
                    false,
                    "Default 1000",
                ),
            ])
            .collect(),
        docs_url: "https://developer.ebay.com/api-docs/sell/static/sell-landing.html".into(),
    }
}

/// An eBay seller account.
pub struct Ebay {
    client: Client,
    /// Return policy id → name, read once per connector.
    policies: RwLock<Option<HashMap<String, String>>>,
    /// Notification public keys by `kid` (getPublicKey answers are cached, as eBay asks).
    keys: notify::KeyCache,
}

impl std::fmt::Debug for Ebay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ebay")
            .field("config", &self.client.cfg)
            .finish_non_exhaustive()
    }
}

/// An offset page token; `None` is 0.
fn offset(token: Option<&str>) -> Result<u64> {
    match token {
        None => Ok(0),
        Some(t) => t
            .trim()
            .parse::<u64>()
            .map_err(|_| ConnectorError::Config(format!("invalid page token `{t}`"))),
    }
}

fn page_size(query: &ImportQuery, default: u32, max: u32) -> u32 {
    if query.page_size == 0 {
        default.clamp(1, max)
    } else {
        query.page_size.clamp(1, max)
    }
}

fn rejected(message: String) -> ConnectorError {
    ConnectorError::Rejected {
        status: 400,
        message,
    }
}

/// eBay's path segments (skus may hold characters a path cannot).
fn seg(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// eBay's timestamp format (`2016-03-21T08:25:43.511Z`).
fn ebay_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Ebay {
    /// A connector for `config`; validates credentials and settings without network calls.
    pub fn new(config: ConnectionConfig) -> Result<Self> {
        let cfg = EbayConfig::from_connection(&config)?;
        Ok(Self {
            client: Client::new(cfg)?,
            policies: RwLock::new(None),
            keys: notify::KeyCache::default(),
        })
    }

    fn cfg(&self) -> &EbayConfig {
        &self.client.cfg
    }

    /// Return policy names by id (Account API getReturnPolicies).
    async fn return_policies(&self) -> Result<HashMap<String, String>> {
        if let Some(p) = self.policies.read().await.as_ref() {
            return Ok(p.clone());
        }
        let url = format!("{}/return_policy", self.cfg().urls.account);
        let marketplace = self.cfg().marketplace_id.clone();
        let list: ReturnPolicies = self
            .client
            .fetch(Family::Account, || {
                Call::get(&url).query("marketplace_id", &marketplace)
            })
            .await?;
        let map: HashMap<String, String> = list
            .return_policies
            .into_iter()
            .map(|p| {
                let name = if p.name.is_empty() {
                    p.return_policy_id.clone()
                } else {
                    p.name
                };
                (p.return_policy_id, name)
            })
            .collect();
        *self.policies.write().await = Some(map.clone());
        Ok(map)
    }

    /// The offers of `sku` on the configured marketplace (getOffers); none is not an error.
    async fn offers_of(&self, sku: &str) -> Result<Vec<mapping::Offer>> {
        let url = format!("{}/offer", self.cfg().urls.inventory);
        let marketplace = self.cfg().marketplace_id.clone();
        let found: Result<Option<Offers>> = self
            .client
            .send(Family::Inventory, || {
                Call::get(&url)
                    .query("sku", sku)
                    .query("marketplace_id", &marketplace)
            })
            .await;
        match found {
            Ok(o) => Ok(o
                .unwrap_or_default()
                .offers
                .into_iter()
                .filter(|o| o.marketplace_id.is_empty() || o.marketplace_id == marketplace)
                .collect()),
            Err(ConnectorError::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// A page of inventory items, or the named skus.
    async fn items_page(
        &self,
        query: &ImportQuery,
    ) -> Result<(Vec<InventoryItem>, Option<String>, Option<u64>)> {
        let base = self.cfg().urls.inventory.clone();
        if !query.skus.is_empty() {
            let mut items = Vec::new();
            for sku in &query.skus {
                let url = format!("{base}/inventory_item/{}", seg(sku));
                match self
                    .client
                    .send::<InventoryItem>(Family::Inventory, || Call::get(&url))
                    .await
                {
                    Ok(Some(mut item)) => {
                        if item.sku.is_empty() {
                            item.sku = sku.clone();
                        }
                        items.push(item);
                    }
                    Ok(None) | Err(ConnectorError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            return Ok((items, None, None));
        }
        let limit = page_size(query, self.cfg().page_size, MAX_ITEMS_LIMIT);
        // getInventoryItems' `offset` is a page number (0-based), not a record offset.
        let number = offset(query.page.as_deref())?;
        let url = format!("{base}/inventory_item");
        let page: InventoryItems = self
            .client
            .fetch(Family::Inventory, || {
                Call::get(&url)
                    .query("limit", limit)
                    .query("offset", number)
            })
            .await?;
        let n = page.inventory_items.len() as u64;
        let more = match page.total {
            Some(total) => (number + 1) * u64::from(limit) < total,
            None => page.next.is_some(),
        };
        let next = (more && n > 0).then(|| (number + 1).to_string());
        Ok((page.inventory_items, next, page.total))
    }

    /// Sends bulkUpdatePriceQuantity calls of at most 25 requests, several in flight.
    async fn bulk_price_quantity(&self, requests: Vec<PriceQuantity>) -> Result<ExportReport> {
        let keyed = requests.into_iter().map(|r| (r.sku.clone(), r)).collect();
        self.bulk("bulk_update_price_quantity", keyed, false).await
    }

    /// Creates or replaces inventory items (their catalog content) in bulk:
    /// bulkCreateOrReplaceInventoryItem, at most [`MAX_BULK`] per call; refusals by sku.
    pub async fn put_inventory_items(&self, products: &[Product]) -> Result<ExportReport> {
        let locale = self.cfg().content_language.replace('-', "_");
        let keyed = products
            .iter()
            .map(|p| (p.sku.clone(), mapping::item_request(p, &locale)))
            .collect();
        self.bulk("bulk_create_or_replace_inventory_item", keyed, true)
            .await
    }

    /// One of the Inventory API's bulk calls over `requests` (sku, request): chunks of
    /// [`MAX_BULK`], a few in flight, every sku accepted or refused with eBay's messages.
    async fn bulk<T: serde::Serialize>(
        &self,
        path: &str,
        requests: Vec<(String, T)>,
        content_language: bool,
    ) -> Result<ExportReport> {
        let url = format!("{}/{path}", self.cfg().urls.inventory);
        let lang = self.cfg().content_language.clone();
        let mut chunks = Vec::new();
        for chunk in requests.chunks(MAX_BULK) {
            let skus: Vec<String> = chunk.iter().map(|(sku, _)| sku.clone()).collect();
            let bodies: Vec<&T> = chunk.iter().map(|(_, r)| r).collect();
            let mut call = Call::new(Method::POST, &url).json(&json!({ "requests": bodies }))?;
            if content_language {
                call = call.header("content-language", lang.clone());
            }
            chunks.push((skus, call));
        }
        let mut results =
            futures::stream::iter(chunks.into_iter().map(|(skus, call)| async move {
                let answer: Result<Option<BulkResponses>> =
                    self.client.send(Family::Inventory, || call.clone()).await;
                (skus, answer)
            }))
            .buffer_unordered(BULK_CONCURRENCY);
        let mut report = ExportReport::default();
        while let Some((skus, answer)) = results.next().await {
            match answer {
                Ok(body) => {
                    let body = body.unwrap_or_default();
                    let mut failed: BTreeMap<String, String> = BTreeMap::new();
                    for r in &body.responses {
                        if !(200..300).contains(&r.status_code) {
                            let msg = r
                                .errors
                                .iter()
                                .map(mapping::EbayError::text)
                                .collect::<Vec<_>>()
                                .join("; ");
                            let msg = if msg.is_empty() {
                                format!("HTTP {}", r.status_code)
                            } else {
                                msg
                            };
                            let entry = failed.entry(r.sku.clone()).or_default();
                            if !entry.is_empty() {
                                entry.push_str("; ");
                            }
                            if let Some(id) = &r.offer_id {
                                entry.push_str(&format!("offer {id}: "));
                            }
                            entry.push_str(&msg);
                        }
                    }
                    for sku in skus {
                        match failed.remove(&sku) {
                            Some(msg) => report.rejected.push((sku, msg)),
                            None => report.accepted += 1,
                        }
                    }
                }
                Err(e) if e.is_record_level() => {
                    let msg = e.to_string();
                    report
                        .rejected
                        .extend(skus.into_iter().map(|s| (s, msg.clone())));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// The offer id of an update: its external id, else a lookup by sku.
    async fn offer_id(&self, sku: &str, external_id: &str) -> Result<String> {
        if !external_id.trim().is_empty() {
            return Ok(external_id.trim().to_string());
        }
        self.offers_of(sku)
            .await?
            .into_iter()
            .next()
            .map(|o| o.offer_id)
            .ok_or_else(|| ConnectorError::NotFound(format!("no eBay offer for sku `{sku}`")))
    }

    async fn get_order(&self, id: &str) -> Result<EbayOrder> {
        let url = format!("{}/order/{}", self.cfg().urls.fulfillment, seg(id));
        self.client
            .fetch(Family::Fulfillment, || Call::get(&url))
            .await
    }

    async fn ship(&self, u: &OrderUpdate) -> Result<()> {
        let status = u.status.as_deref().unwrap_or("shipped");
        if !matches!(status, "shipped" | "partially_shipped" | "completed") {
            return Err(ConnectorError::Unsupported(format!(
                "{PLATFORM} order status `{status}` (cancellations and refunds go through eBay's Post-Order API)"
            )));
        }
        let order = self.get_order(&u.external_id).await?;
        let base = format!(
            "{}/order/{}/shipping_fulfillment",
            self.cfg().urls.fulfillment,
            seg(&u.external_id)
        );
        if let Some(tracking) = u.tracking_number.as_deref() {
            let existing: Value = self
                .client
                .send(Family::Fulfillment, || Call::get(&base))
                .await?
                .unwrap_or(Value::Null);
            let already = existing
                .get("fulfillments")
                .and_then(Value::as_array)
                .is_some_and(|f| {
                    f.iter().any(|x| {
                        x.get("shipmentTrackingNumber").and_then(Value::as_str) == Some(tracking)
                    })
                });
            if already {
                return Ok(());
            }
        }
        let mut lines = Vec::new();
        if u.lines.is_empty() {
            for l in &order.line_items {
                lines.push(json!({"lineItemId": l.line_item_id, "quantity": l.quantity}));
            }
        } else {
            for (sku, qty) in &u.lines {
                let l = order
                    .line_items
                    .iter()
                    .find(|l| &l.sku == sku)
                    .ok_or_else(|| rejected(format!("order has no line with sku `{sku}`")))?;
                lines.push(json!({"lineItemId": l.line_item_id, "quantity": qty}));
            }
        }
        let mut body = json!({
            "lineItems": lines,
            "shippedDate": ebay_time(chrono::Utc::now()),
        });
        if let Some(c) = u.carrier.as_deref().filter(|c| !c.is_empty()) {
            body["shippingCarrierCode"] = json!(c);
        }
        if let Some(t) = u.tracking_number.as_deref().filter(|t| !t.is_empty()) {
            body["trackingNumber"] = json!(t);
        }
        let call = Call::new(Method::POST, &base).json(&body)?;
        self.client
            .send::<Value>(Family::Fulfillment, || call.clone())
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Connector for Ebay {
    fn platform(&self) -> &'static str {
        PLATFORM
    }

    async fn test_connection(&self) -> Result<String> {
        self.client.user_token().await?;
        let url = format!("{}/inventory_item", self.cfg().urls.inventory);
        let page: InventoryItems = self
            .client
            .fetch(Family::Inventory, || {
                Call::get(&url).query("limit", 1).query("offset", 0)
            })
            .await?;
        Ok(format!(
            "connected to eBay ({}, {}): {} inventory items",
            self.cfg().environment,
            self.cfg().marketplace_id,
            page.total.unwrap_or(page.inventory_items.len() as u64)
        ))
    }

    async fn products_page(&self, query: &ImportQuery) -> Result<Page<Product>> {
        let policies = self.return_policies().await?;
        let (items, next, total) = self.items_page(query).await?;
        let lookups: Vec<BoxFuture<'_, Result<Vec<mapping::Offer>>>> = items
            .iter()
            .map(|i| Box::pin(self.offers_of(&i.sku)) as BoxFuture<'_, _>)
            .collect();
        let offers: Vec<Result<Vec<mapping::Offer>>> = futures::stream::iter(lookups)
            .buffered(BULK_CONCURRENCY)
            .collect()
            .await;
        let mut products = Vec::with_capacity(items.len());
        for (item, offers) in items.iter().zip(offers) {
            let offers = offers?;
            products.push(mapping::product(item, offers.first(), &policies));
        }
        Ok(Page {
            items: products,
            next,
            total,
        })
    }

    async fn stock_page(&self, query: &ImportQuery) -> Result<Page<StockLevel>> {
        let (items, next, total) = self.items_page(query).await?;
        let warehouse = self.cfg().marketplace_id.clone();
        Ok(Page {
            items: items
                .iter()
                .filter_map(|i| mapping::stock(i, &warehouse))
                .collect(),
            next,
            total,
        })
    }

    async fn orders_page(&self, query: &ImportQuery) -> Result<Page<Order>> {
        let limit = page_size(query, self.cfg().page_size, MAX_ORDERS_LIMIT);
        let from = offset(query.page.as_deref())?;
        let url = format!("{}/order", self.cfg().urls.fulfillment);
        let filter = query.since.map(|since| {
            let until = query.until.map(ebay_time).unwrap_or_default();
            format!("lastmodifieddate:[{}..{until}]", ebay_time(since))
        });
        let ids = (!query.ids.is_empty()).then(|| query.ids.join(","));
        let page: OrderPage = self
            .client
            .fetch(Family::Fulfillment, || {
                let mut call = Call::get(&url).query("limit", limit).query("offset", from);
                if let Some(ids) = &ids {
                    call = call.query("orderIds", ids);
                } else if let Some(f) = &filter {
                    call = call.query("filter", f);
                }
                call
            })
            .await?;
        let n = page.orders.len() as u64;
        let more = match page.total {
            Some(total) => from + n < total,
            None => page.next.is_some(),
        };
        // Shipments: getShippingFulfillments of the orders eBay says have some.
        let mut pending: Vec<BoxFuture<'_, Result<Value>>> = Vec::new();
        let mut items: Vec<Order> = page.orders.iter().map(mapping::order).collect();
        let shipped: Vec<usize> = page
            .orders
            .iter()
            .enumerate()
            .filter(|(_, o)| !o.fulfillment_hrefs.is_empty())
            .map(|(i, _)| i)
            .collect();
        for &i in &shipped {
            let url = format!(
                "{}/order/{}/shipping_fulfillment",
                self.cfg().urls.fulfillment,
                seg(&page.orders[i].order_id)
            );
            pending.push(Box::pin(async move {
                Ok(self
                    .client
                    .send::<Value>(Family::Fulfillment, || Call::get(&url))
                    .await?
                    .unwrap_or(Value::Null))
            }));
        }
        let found: Vec<Result<Value>> = futures::stream::iter(pending)
            .buffered(BULK_CONCURRENCY)
            .collect()
            .await;
        for (i, f) in shipped.into_iter().zip(found) {
            items[i].shipments = mapping::shipments(&f?, &page.orders[i]);
        }
        Ok(Page {
            items,
            next: (more && n > 0).then(|| (from + n).to_string()),
            total: page.total,
        })
    }

    async fn export_stock(&self, levels: &[StockLevel]) -> Result<ExportReport> {
        let requests = OfferUpdate::quantities(levels)
            .into_iter()
            .map(|o| PriceQuantity {
                ship_to_location_availability: o.quantity.map(|quantity| ShipTo { quantity }),
                sku: o.sku,
                offers: Vec::new(),
            })
            .collect();
        self.bulk_price_quantity(requests).await
    }

    async fn export_offers(&self, offers: &[OfferUpdate]) -> Result<ExportReport> {
        let mut report = ExportReport::default();
        // Offer ids of updates that set a price and do not carry one (lookups, paced).
        let mut pending: Vec<BoxFuture<'_, (usize, Result<String>)>> = Vec::new();
        for (i, o) in offers.iter().enumerate() {
            if o.price.is_some() && o.external_id.trim().is_empty() {
                pending.push(Box::pin(async move {
                    (i, self.offer_id(&o.sku, &o.external_id).await)
                }));
            }
        }
        let lookups: Vec<(usize, Result<String>)> = futures::stream::iter(pending)
            .buffered(BULK_CONCURRENCY)
            .collect()
            .await;
        let mut ids: HashMap<usize, String> = HashMap::new();
        for (i, r) in lookups {
            match r {
                Ok(id) => {
                    ids.insert(i, id);
                }
                Err(e) if e.is_record_level() => {
                    report.rejected.push((offers[i].sku.clone(), e.to_string()))
                }
                Err(e) => return Err(e),
            }
        }
        let mut requests = Vec::new();
        for (i, o) in offers.iter().enumerate() {
            let offer_id = if o.external_id.trim().is_empty() {
                ids.get(&i).cloned()
            } else {
                Some(o.external_id.trim().to_string())
            };
            if o.price.is_some() && offer_id.is_none() {
                continue; // rejected above
            }
            let price = o.price.as_ref().map(|p| Amount {
                value: p.amount.clone(),
                currency: if p.currency.is_empty() {
                    "USD".into()
                } else {
                    p.currency.clone()
                },
            });
            let offers = match offer_id {
                Some(offer_id) => vec![OfferPriceQuantity {
                    offer_id,
                    available_quantity: o.quantity.map(|q| q.max(0)),
                    price,
                }],
                None => Vec::new(),
            };
            requests.push(PriceQuantity {
                sku: o.sku.clone(),
                ship_to_location_availability: o.quantity.map(|q| ShipTo { quantity: q.max(0) }),
                offers,
            });
        }
        let sent = self.bulk_price_quantity(requests).await?;
        report.accepted += sent.accepted;
        report.rejected.extend(sent.rejected);
        Ok(report)
    }

    async fn acknowledge_orders(&self, external_ids: &[String]) -> Result<ExportReport> {
        // eBay has no acceptance step: a paid order is the seller's to ship.
        Ok(ExportReport {
            accepted: external_ids.len() as u64,
            rejected: Vec::new(),
        })
    }

    async fn export_orders(&self, updates: &[OrderUpdate]) -> Result<ExportReport> {
        let mut report = ExportReport::default();
        for u in updates {
            match self.ship(u).await {
                Ok(()) => report.accepted += 1,
                Err(e) if e.is_record_level() || matches!(e, ConnectorError::Unsupported(_)) => {
                    report.rejected.push((u.external_id.clone(), e.to_string()))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    async fn update_field(&self, update: &FieldUpdate) -> Result<()> {
        let value = update.value.trim();
        match update.field.as_str() {
            "price" => {
                let amount = rust_decimal::Decimal::from_str_exact(value)
                    .map_err(|_| rejected(format!("price `{value}` is not a decimal number")))?;
                if amount.is_sign_negative() {
                    return Err(rejected("price must not be negative".into()));
                }
                let offer_id = self.offer_id(&update.sku, &update.external_id).await?;
                let report = self
                    .bulk_price_quantity(vec![PriceQuantity {
                        sku: update.sku.clone(),
                        ship_to_location_availability: None,
                        offers: vec![OfferPriceQuantity {
                            offer_id,
                            available_quantity: None,
                            price: Some(Amount {
                                value: amount.round_dp(2).to_string(),
                                currency: "USD".into(),
                            }),
                        }],
                    }])
                    .await?;
                match report.rejected.into_iter().next() {
                    Some((_, msg)) => Err(rejected(msg)),
                    None => Ok(()),
                }
            }
            "title"
            | "description"
            | "brand"
            | "weight"
            | "attributes.color"
            | "attributes.material"
            | "attributes.size" => {
                let url = format!(
                    "{}/inventory_item/{}",
                    self.cfg().urls.inventory,
                    seg(&update.sku)
                );
                let mut item: InventoryItem = self
                    .client
                    .fetch(Family::Inventory, || Call::get(&url))
                    .await?;
                let mut product = item.product.take().unwrap_or_default();
                match update.field.as_str() {
                    "title" => {
                        if value.is_empty() {
                            return Err(rejected("title must not be empty".into()));
                        }
                        product.title = Some(value.to_string());
                    }
                    "description" => product.description = Some(update.value.clone()),
                    "brand" => {
                        product.brand = Some(value.to_string());
                        if let Some(Value::Object(a)) = product.aspects.as_mut() {
                            a.insert("Brand".into(), json!([value]));
                        }
                    }
                    field if field.starts_with("attributes.") => {
                        // Item specifics: `Color`, `Material` (each material its own value),
                        // `Size`.
                        let (name, values): (&str, Vec<&str>) = match field {
                            "attributes.color" => ("Color", vec![value]),
                            "attributes.material" => (
                                "Material",
                                value
                                    .split(',')
                                    .map(str::trim)
                                    .filter(|v| !v.is_empty())
                                    .collect(),
                            ),
                            _ => ("Size", vec![value]),
                        };
                        if values.iter().all(|v| v.is_empty()) {
                            return Err(rejected(format!("{name} must not be empty")));
                        }
                        let aspects = product.aspects.get_or_insert_with(|| json!({}));
                        if !aspects.is_object() {
                            *aspects = json!({});
                        }
                        aspects[name] = json!(values);
                    }
                    _ => {
                        let w: f64 = value
                            .parse()
                            .ok()
                            .filter(|w: &f64| w.is_finite() && *w >= 0.0)
                            .ok_or_else(|| {
                                rejected(format!("weight `{value}` is not a number ≥ 0"))
                            })?;
                        let mut pkg = item.package_weight_and_size.take().unwrap_or(json!({}));
                        pkg["weight"] = json!({"value": w, "unit": "KILOGRAM"});
                        item.package_weight_and_size = Some(pkg);
                    }
                }
                item.product = Some(product);
                let lang = self.cfg().content_language.clone();
                let call = Call::new(Method::PUT, &url)
                    .json(&item)?
                    .header("content-language", lang);
                self.client
                    .send::<Value>(Family::Inventory, || call.clone())
                    .await?;
                Ok(())
            }
            other => Err(ConnectorError::Unsupported(format!(
                "{PLATFORM} (field `{other}`)"
            ))),
        }
    }

    fn verify_webhook(&self, call: &WebhookCall) -> Result<WebhookEvent> {
        notify::verify(self, call)
    }

    fn answer_challenge(
        &self,
        query: &std::collections::BTreeMap<String, String>,
        endpoint: &str,
    ) -> Result<(String, String)> {
        let code = query
            .get("challenge_code")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ConnectorError::Config("no challenge_code in the call".into()))?;
        let token = self
            .client
            .cfg
            .verification_token
            .as_deref()
            .ok_or_else(|| {
                ConnectorError::Config(format!(
                    "{PLATFORM} webhooks need the `verification_token` credential"
                ))
            })?;
        let body = serde_json::json!({
            "challengeResponse": notify::challenge_response(code, token, endpoint)
        });
        Ok(("application/json".into(), body.to_string()))
    }

    async fn register_webhooks(&self, url: &str) -> Result<Vec<String>> {
        notify::register(self, url).await
    }
}

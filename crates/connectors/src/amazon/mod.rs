//! Amazon Selling Partner API (SP-API): Orders v0, Listings Items 2021-08-01, FBA Inventory v1,
//! Feeds 2021-06-30 (JSON_LISTINGS_FEED), Product Type Definitions 2020-09-01 and Finances v0
//! (refunds).
//!
//! Vendor documentation followed (models in `shared/specs/amazon-sp-api/`, SOURCES.md):
//! - Login with Amazon refresh-token grant, `x-amz-access-token` header:
//!   <https://developer-docs.amazon.com/sp-api/docs/connecting-to-the-selling-partner-api>
//! - Endpoints and marketplace ids: <https://developer-docs.amazon.com/sp-api/docs/sp-api-endpoints>,
//!   <https://developer-docs.amazon.com/sp-api/docs/marketplace-ids>
//! - Usage plans (token buckets, `x-amzn-RateLimit-Limit`, 429):
//!   <https://developer-docs.amazon.com/sp-api/docs/usage-plans-and-rate-limits>, and the
//!   "Usage plan" table of each operation in the models.
//! - Orders v0 (getOrders, getOrderItems, confirmShipment), Listings Items 2021-08-01
//!   (searchListingsItems, getListingsItem, patchListingsItem and putListingsItem
//!   ([`Amazon::put_listing`]) with `mode=VALIDATION_PREVIEW`),
//!   FBA Inventory (getInventorySummaries), Feeds 2021-06-30 and the JSON_LISTINGS_FEED v2 schema
//!   (`feeds-schemas/listings-feed-schema-v2.json`, 25,000 messages at most), Product Type
//!   Definitions (getDefinitionsProductType), Finances v0 (listFinancialEvents with
//!   `PostedAfter`/`PostedBefore`/`NextToken`, its `RefundEventList`; 0.5 per second, burst 30):
//!   <https://developer-docs.amazon.com/sp-api/docs/finances-api-reference>. The Finances model
//!   is not among the specs in `shared/specs/amazon-sp-api/`, so its calls are not checked by the
//!   conformance test.
//!
//! Auth: an LWA access token (one hour, refreshed two minutes before expiry, once more after a
//! 401/403) from `client_id`, `client_secret` and `refresh_token`. SP-API no longer requires
//! AWS Signature v4 (since October 2023), so `aws_access_key`, `aws_secret_key` and `role_arn`
//! are accepted (the seed names them) but not used. A refused refresh token (`invalid_grant`)
//! is an auth error asking to re-authorize the connection.
//!
//! Endpoint: the region of `marketplace_id` (NA, EU, FE), or `settings.base_url`; each API
//! family (`orders`, `listings`, `fba_inventory`, `feeds`, `definitions`, `finances`) can be
//! pointed elsewhere by `settings.api_urls`. Every operation has its own token bucket with the
//! documented rate and burst; the rate Amazon reports in `x-amzn-RateLimit-Limit` replaces the
//! documented one.
//!
//! # Behaviour worth knowing
//! - Refunds: the Orders API shows no refunds (an order keeps its status and LastUpdateDate);
//!   they live in the Finances API. An incremental order import (`since`) reads, after the last
//!   page of getOrders, the refund events posted since `since` (listFinancialEvents,
//!   `RefundEventList`), reads the refunded orders again (getOrders by `AmazonOrderIds`, 50 a
//!   call, and their items) and returns them with status `refunded` when the refunded
//!   quantities of those events cover every line, `partially_refunded` otherwise. A full import
//!   (no `since`) and an import of given ids read no refunds: an order refunded earlier comes
//!   back with its Orders API status there, as it does when getOrders brings it again in a
//!   later incremental import without a new refund event.
//! - Acceptance: Amazon has no acceptance step (an `Unshipped` order is ready to ship), so
//!   `acknowledge_orders` counts every id as accepted without a call.
//! - Cancellation by the seller goes through an order-acknowledgement feed, which this connector
//!   does not send: such an update is rejected with a message; shipments use confirmShipment.
//! - Stock: FBA quantities (warehouse `FBA`, from FBA inventory summaries, read only) and
//!   merchant-fulfilled quantities (warehouse `DEFAULT`, from the listings'
//!   `fulfillmentAvailability`). Exports of stock and price go through JSON_LISTINGS_FEED.
//!
//! # Assumptions (where public documentation is thin)
//! - `seller_id`: the Listings Items API and feeds need the seller's merchant token, which no
//!   SP-API call returns reliably (getMarketplaceParticipations does not carry it), so it is an
//!   optional credential `seller_id`; operations that need it fail with a configuration error
//!   naming it when it is missing.
//! - Offer-only feed messages use `productType: "PRODUCT"` (Amazon's product type for offers on
//!   existing catalog items) and PATCH `replace` of `fulfillment_availability` (channel
//!   `DEFAULT`) and `purchasable_offer` (`our_price` with `value_with_tax`).
//! - Processing reports are read as JSON; a GZIP-compressed report is reported as an error of the
//!   feed (the simulator and the reports seen in the docs are uncompressed).
//! - Page tokens: the platform's own (NextToken, pageToken, nextToken); stock pages prefix them
//!   with `fba:` / `mfn:` (FBA summaries first, then merchant-fulfilled listings); order pages
//!   are getOrders' NextToken, then `refunds:` + listFinancialEvents' NextToken (`refunds:`
//!   alone: its first page), each page resumable from its token and the same query. A getOrders
//!   page is returned five orders at a time (their lines read, 0.5 getOrderItems a second),
//!   continued by `after:<last order id>|<its getOrders NextToken>`, so the sync commits each
//!   part as soon as it is read; the getOrders page is kept in memory meanwhile. A process that
//!   restarts reads the page again with the same token or query and goes on after that order
//!   (from the page's start if the order is no longer on it: re-read orders are updates, so
//!   nothing is lost or doubled). This assumes, as for any resumed page, that a NextToken can
//!   be used again.
//! - Refund completeness: listFinancialEvents shows no event posted in the last two minutes
//!   (the default and latest `PostedBefore`), so refunds are read from two minutes before
//!   `since` (an order seen twice is an update); an explicit `until` is sent as `PostedBefore`
//!   only when it is older than that. Refunds are matched to lines by `OrderItemId`, else
//!   `SellerSKU`; `QuantityShipped` of a refunded item is taken as the quantity refunded (a
//!   missing one as the whole line), and only the events read in this import count, so a
//!   refund completed by a later event of an order refunded in part before `since` stays
//!   `partially_refunded`. Refund events are posted by Amazon, possibly with delay (the docs
//!   mention up to 48 hours); one posted later than two minutes after its time is missed.

mod client;
pub mod config;
mod mapping;
pub mod schema;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use marketsync_proto::v1::{Order, PlatformInfo, Product, StockLevel};
use reqwest::Method;
use serde_json::{Value, json};

use crate::http::Call;
use crate::{
    ConnectionConfig, Connector, ConnectorError, ExportReport, FieldUpdate, ImportQuery,
    OfferUpdate, OrderUpdate, Page, Result, common_settings, field,
};
use client::{Client, Op};
use config::{
    AmazonConfig, MAX_FEED_MESSAGES, MAX_FINANCES_PAGE_SIZE, MAX_LISTINGS_PAGE_SIZE, MAX_ORDER_IDS,
    MAX_ORDERS_PAGE_SIZE,
};
use mapping::{
    AmzOrder, AmzOrderItem, CreatedFeed, Feed, FeedDocument, FinancialEventsPage,
    InventoryResponse, ItemSearchResults, OrderItemsList, OrdersList, Payload, ProcessingReport,
    RefundEvent, Submission,
};
use schema::ProductTypeSchema;

/// Platform id.
pub const PLATFORM: &str = "amazon";

/// What listings reads ask Amazon to include.
const INCLUDED_DATA: &str = "summaries,attributes,issues,offers,fulfillmentAvailability";
/// Listings Items API version path.
const LISTINGS: &str = "/listings/2021-08-01/items";
/// Offer updates up to this many go out as listing patches (patchListingsItem's burst), more
/// as a JSON_LISTINGS_FEED.
const PATCH_MAX_OFFERS: usize = 10;
/// Warehouse of Fulfilment by Amazon stock (Amazon's own; never pushed).
pub const FBA: &str = "FBA";
/// Feeds API version path.
const FEEDS: &str = "/feeds/2021-06-30";
/// Content type of JSON_LISTINGS_FEED documents.
const FEED_CONTENT_TYPE: &str = "application/json; charset=UTF-8";
/// How often a feed's status is read while it is processed (getFeed allows 2 per second with
/// a burst of 15: faster polls are paced by its bucket).
const FEED_POLL: Duration = Duration::from_millis(250);
/// How long a feed may take before the export gives up on it.
const FEED_TIMEOUT: Duration = Duration::from_secs(3 * 3600);
/// LastUpdatedAfter of a full order import (and of the refunded orders read by id).
const EPOCH: &str = "2000-01-01T00:00:00Z";
/// Prefix of the page tokens of the refund phase of an incremental order import.
const REFUNDS: &str = "refunds:";
/// Prefix of the page tokens that continue a getOrders page after one of its orders:
/// `after:<AmazonOrderId>|<getOrders NextToken, empty for the first page>`.
const AFTER: &str = "after:";
/// Orders whose lines (getOrderItems, 0.5 a second) are read for one page of an order
/// import: the sync commits each page as it comes, so the ledger learns of a sale a few orders
/// after its lines are read instead of after the whole getOrders page (up to 100 orders,
/// 200 s at getOrderItems' sustained rate).
const ORDERS_PER_PAGE: usize = 5;
/// getOrders pages kept while their orders are read in parts (one per import in progress).
const LISTED_PAGES: usize = 8;
/// How far before `since` refund events are read: listFinancialEvents shows no event posted
/// in the last two minutes, so the previous import may have missed those (re-reading an
/// order is an update, never a duplicate).
const REFUND_LOOKBACK: chrono::Duration = chrono::Duration::minutes(2);

/// The platform with the fields of its connection form.
pub fn platform_info() -> PlatformInfo {
    PlatformInfo {
        id: PLATFORM.into(),
        name: "Amazon".into(),
        kind: "marketplace".into(),
        credentials: vec![
            field(
                "client_id",
                "LWA client ID",
                false,
                true,
                "Login with Amazon client identifier of your SP-API application",
            ),
            field(
                "client_secret",
                "LWA client secret",
                true,
                true,
                "Login with Amazon client secret of your SP-API application",
            ),
            field(
                "refresh_token",
                "Refresh token",
                true,
                true,
                "The seller's LWA refresh token (Atzr|…) from authorizing the application",
            ),
            field(
                "aws_access_key",
                "AWS access key",
                true,
                false,
                "Accepted but not needed: SP-API no longer requires AWS Signature v4",
            ),
            field(
                "aws_secret_key",
                "AWS secret key",
                true,
                false,
                "Accepted but not needed: SP-API no longer requires AWS Signature v4",
            ),
            field(
                "role_arn",
                "IAM role ARN",
                false,
                false,
                "Accepted but not needed: SP-API no longer requires AWS Signature v4",
            ),
            field(
                "marketplace_id",
                "Marketplace ID",
                false,
                true,
                "e.g. ATVPDKIKX0DER (US), A1PA6795UKMFR9 (DE); chooses the regional endpoint",
            ),
            field(
                "seller_id",
                "Seller ID (merchant token)",
                false,
                false,
                "Seller Central → Settings → Account Info → Merchant Token; needed for \
                 listings, stock and price feeds",
            ),
        ],
        settings: common_settings()
            .into_iter()
            .chain([field(
                "api_urls",
                "API base URL per family",
                false,
                false,
                "Full base URL per API family (orders, listings, fba_inventory, feeds, \
                 definitions, finances), e.g. a validating proxy; wins over base_url",
            )])
            .collect(),
        docs_url: "https://developer-docs.amazon.com/sp-api".into(),
    }
}

/// An Amazon seller account on one marketplace.
pub struct Amazon {
    client: Client,
    /// Compiled product type schemas (`None`: the product type has no definition).
    schemas: tokio::sync::Mutex<HashMap<String, Option<std::sync::Arc<ProductTypeSchema>>>>,
    /// getOrders pages whose orders are being returned a few at a time.
    listed: std::sync::Mutex<std::collections::VecDeque<Listed>>,
}

/// A getOrders page read once and returned in parts: the key of its request (the query and
/// its NextToken), its orders and its NextToken.
struct Listed {
    key: String,
    orders: std::sync::Arc<Vec<AmzOrder>>,
    next: Option<String>,
}

impl std::fmt::Debug for Amazon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Amazon")
            .field("config", &self.client.cfg)
            .finish()
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

/// What identifies a getOrders page: its NextToken, or the query of a first page.
fn listed_key(query: &ImportQuery, token: Option<&str>) -> String {
    match token {
        Some(t) => format!("token {t}"),
        None => format!(
            "first {:?} {:?} {} {}",
            query.since,
            query.until,
            query.ids.join(","),
            query.page_size
        ),
    }
}

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A chunk of offers submitted as one feed.
struct SubmittedFeed {
    feed_id: String,
    skus: Vec<String>,
}

impl Amazon {
    /// A connector for `config`; validates credentials and settings without network calls.
    pub fn new(config: ConnectionConfig) -> Result<Self> {
        let cfg = AmazonConfig::from_connection(&config)?;
        Ok(Self {
            client: Client::new(cfg)?,
            schemas: tokio::sync::Mutex::new(HashMap::new()),
            listed: std::sync::Mutex::new(std::collections::VecDeque::new()),
        })
    }

    /// The JSON Schema of `product_type` on the connection's marketplace: its definition
    /// (getDefinitionsProductType, requirements LISTING), then the schema document it links.
    pub async fn product_type_schema(&self, product_type: &str) -> Result<Value> {
        let url = format!(
            "{}/definitions/2020-09-01/productTypes/{}",
            self.cfg().urls.definitions,
            path_segment(product_type)
        );
        let definition: Value = self
            .client
            .fetch(Op::GetDefinitionsProductType, || {
                let mut c = Call::get(&url)
                    .query("marketplaceIds", self.mp())
                    .query("requirements", "LISTING")
                    .query("locale", "DEFAULT");
                if let Some(seller) = self.cfg().seller_id.as_deref() {
                    c = c.query("sellerId", seller);
                }
                c
            })
            .await?;
        let link = definition
            .pointer("/schema/link/resource")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ConnectorError::Malformed(format!(
                    "product type {product_type}: definition without schema link"
                ))
            })?;
        let bytes = self.client.document(Call::get(link)).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            ConnectorError::Malformed(format!("product type {product_type} schema: {e}"))
        })
    }

    /// The compiled schema of a product type, fetched once per connector; `None` when Amazon
    /// has no definition for it (or it cannot be compiled: logged, listings go unchecked).
    async fn compiled_schema(
        &self,
        product_type: &str,
    ) -> Result<Option<std::sync::Arc<ProductTypeSchema>>> {
        let mut cache = self.schemas.lock().await;
        if let Some(s) = cache.get(product_type) {
            return Ok(s.clone());
        }
        let compiled = match self.product_type_schema(product_type).await {
            Ok(v) => match ProductTypeSchema::compile(product_type, v) {
                Ok(s) => Some(std::sync::Arc::new(s)),
                Err(e) => {
                    tracing::warn!(product_type, error = %e, "product type schema unusable");
                    None
                }
            },
            Err(ConnectorError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        cache.insert(product_type.to_string(), compiled.clone());
        Ok(compiled)
    }

    fn cfg(&self) -> &AmazonConfig {
        &self.client.cfg
    }

    fn mp(&self) -> &str {
        &self.client.cfg.marketplace_id
    }

    /// Every line of an order (getOrderItems, following NextToken).
    async fn order_items(&self, order_id: &str) -> Result<Vec<AmzOrderItem>> {
        let url = format!(
            "{}/orders/v0/orders/{order_id}/orderItems",
            self.cfg().urls.orders
        );
        let mut items = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..100 {
            let page: Payload<OrderItemsList> = self
                .client
                .fetch(Op::GetOrderItems, || {
                    let mut c = Call::get(&url);
                    if let Some(t) = &next {
                        c = c.query("NextToken", t);
                    }
                    c
                })
                .await?;
            items.extend(page.payload.order_items);
            match page.payload.next_token.filter(|t| !t.is_empty()) {
                Some(t) => next = Some(t),
                None => break,
            }
        }
        Ok(items)
    }

    /// The orders of the getOrders page of `query` and `token` (None: the first), and its
    /// NextToken: when `continued`, as kept from the part of this import before (getOrders
    /// allows a call a minute), else (or when no longer kept) read now.
    async fn listed_orders(
        &self,
        query: &ImportQuery,
        token: Option<&str>,
        continued: bool,
    ) -> Result<(std::sync::Arc<Vec<AmzOrder>>, Option<String>)> {
        let key = listed_key(query, token);
        if continued && let Some(l) = self.listed_pages().iter().find(|l| l.key == key) {
            return Ok((l.orders.clone(), l.next.clone()));
        }
        let url = format!("{}/orders/v0/orders", self.cfg().urls.orders);
        let size = page_size(query, MAX_ORDERS_PAGE_SIZE, MAX_ORDERS_PAGE_SIZE);
        let since = query.since.map(rfc3339).unwrap_or_else(|| EPOCH.into());
        let list: Payload<OrdersList> = self
            .client
            .fetch(Op::GetOrders, || {
                let mut c = Call::get(&url).query("MarketplaceIds", self.mp());
                match token {
                    Some(t) => c = c.query("NextToken", t),
                    None => {
                        c = c
                            .query("LastUpdatedAfter", &since)
                            .query("MaxResultsPerPage", size);
                        if let Some(until) = query.until {
                            c = c.query("LastUpdatedBefore", rfc3339(until));
                        }
                        if !query.ids.is_empty() {
                            let ids: Vec<&str> =
                                query.ids.iter().take(50).map(String::as_str).collect();
                            c = c.query("AmazonOrderIds", ids.join(","));
                        }
                    }
                }
                c
            })
            .await?;
        // Shared with the parts that follow: each takes a few orders, none copies the page.
        let orders = std::sync::Arc::new(list.payload.orders);
        let next = list.payload.next_token.filter(|t| !t.is_empty());
        if orders.len() > ORDERS_PER_PAGE {
            let mut pages = self.listed_pages();
            pages.retain(|l| l.key != key);
            if pages.len() >= LISTED_PAGES {
                pages.pop_front();
            }
            pages.push_back(Listed {
                key,
                orders: orders.clone(),
                next: next.clone(),
            });
        }
        Ok((orders, next))
    }

    fn listed_pages(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<Listed>> {
        // Plain data: a panic elsewhere cannot leave it inconsistent.
        self.listed.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn forget_listed(&self, key: &str) {
        self.listed_pages().retain(|l| l.key != key);
    }

    /// One page of the refund phase of an incremental order import (`token`: the page token
    /// without its `refunds:` prefix, empty for the first): the refund events posted since
    /// `query.since` (listFinancialEvents), and the orders they refund (getOrders by
    /// AmazonOrderIds, 50 at a time) as `refunded` or `partially_refunded`.
    async fn refunds_page(&self, query: &ImportQuery, token: &str) -> Result<Page<Order>> {
        let since = query.since.ok_or_else(|| {
            ConnectorError::Config("refund page token of an import without `since`".into())
        })?;
        let url = format!("{}/finances/v0/financialEvents", self.cfg().urls.finances);
        let size = page_size(query, MAX_FINANCES_PAGE_SIZE, MAX_FINANCES_PAGE_SIZE);
        let posted_after = rfc3339(since - REFUND_LOOKBACK);
        // PostedBefore may be no later than two minutes ago (Amazon's default when omitted).
        let posted_before = query
            .until
            .filter(|u| *u < Utc::now() - REFUND_LOOKBACK && *u > since - REFUND_LOOKBACK)
            .map(rfc3339);
        let page: Payload<FinancialEventsPage> = self
            .client
            .fetch(Op::ListFinancialEvents, || {
                let mut c = Call::get(&url)
                    .query("PostedAfter", &posted_after)
                    .query("MaxResultsPerPage", size);
                if let Some(before) = &posted_before {
                    c = c.query("PostedBefore", before);
                }
                if !token.is_empty() {
                    c = c.query("NextToken", token);
                }
                c
            })
            .await?;
        let next = page
            .payload
            .next_token
            .filter(|t| !t.is_empty())
            .map(|t| format!("{REFUNDS}{t}"));
        // Refund events by order, in the order they were posted.
        let mut by_order: Vec<(String, Vec<&RefundEvent>)> = Vec::new();
        for e in &page.payload.financial_events.refund_event_list {
            let Some(id) = e.amazon_order_id.as_deref().filter(|id| !id.is_empty()) else {
                continue;
            };
            match by_order.iter_mut().find(|(o, _)| o == id) {
                Some((_, events)) => events.push(e),
                None => by_order.push((id.to_string(), vec![e])),
            }
        }
        let orders_url = format!("{}/orders/v0/orders", self.cfg().urls.orders);
        let mut items = Vec::with_capacity(by_order.len());
        for chunk in by_order.chunks(MAX_ORDER_IDS) {
            let ids: Vec<&str> = chunk.iter().map(|(id, _)| id.as_str()).collect();
            let ids = ids.join(",");
            let list: Payload<OrdersList> = self
                .client
                .fetch(Op::GetOrders, || {
                    Call::get(&orders_url)
                        .query("MarketplaceIds", self.mp())
                        .query("LastUpdatedAfter", EPOCH)
                        .query("AmazonOrderIds", &ids)
                        .query("MaxResultsPerPage", MAX_ORDERS_PAGE_SIZE)
                })
                .await?;
            let orders = list.payload.orders;
            let lines = futures::future::try_join_all(
                orders.iter().map(|o| self.order_items(&o.amazon_order_id)),
            )
            .await?;
            for (o, lines) in orders.iter().zip(&lines) {
                let Some((_, events)) = chunk.iter().find(|(id, _)| *id == o.amazon_order_id)
                else {
                    continue;
                };
                let mut order = mapping::order(o, lines);
                order.status = mapping::refund_status(lines, events).to_string();
                if let Some(posted) = events.iter().filter_map(|e| e.posted_date.clone()).max()
                    && posted > order.updated_at
                {
                    order.updated_at = posted;
                }
                items.push(order);
            }
        }
        Ok(Page {
            items,
            next,
            total: None,
        })
    }

    /// One page of searchListingsItems.
    async fn search_listings(
        &self,
        query: &ImportQuery,
        included: &str,
        token: Option<&str>,
    ) -> Result<ItemSearchResults> {
        let seller = self.cfg().seller_id()?;
        let url = format!("{}{LISTINGS}/{seller}", self.cfg().urls.listings);
        let size = page_size(query, self.cfg().page_size, MAX_LISTINGS_PAGE_SIZE);
        self.client
            .fetch(Op::SearchListingsItems, || {
                let mut c = Call::get(&url)
                    .query("marketplaceIds", self.mp())
                    .query("includedData", included)
                    .query("pageSize", size);
                // A listing's external id is its sku.
                let wanted = if query.skus.is_empty() {
                    &query.ids
                } else {
                    &query.skus
                };
                if !wanted.is_empty() {
                    // searchListingsItems takes at most 20 identifiers.
                    let skus: Vec<&str> = wanted.iter().take(20).map(String::as_str).collect();
                    c = c
                        .query("identifiers", skus.join(","))
                        .query("identifiersType", "SKU");
                }
                if let Some(since) = query.since {
                    c = c.query("lastUpdatedAfter", rfc3339(since));
                }
                if let Some(t) = token {
                    c = c.query("pageToken", t);
                }
                c
            })
            .await
    }

    /// Product type of a listing (getListingsItem summaries).
    async fn listing(&self, sku: &str) -> Result<mapping::Item> {
        let seller = self.cfg().seller_id()?;
        let url = format!(
            "{}{LISTINGS}/{seller}/{}",
            self.cfg().urls.listings,
            path_segment(sku)
        );
        self.client
            .fetch(Op::GetListingsItem, || {
                Call::get(&url)
                    .query("marketplaceIds", self.mp())
                    .query("includedData", INCLUDED_DATA)
            })
            .await
    }

    /// PATCHes one listing; `preview` only validates (`mode=VALIDATION_PREVIEW`).
    async fn patch_listing(
        &self,
        sku: &str,
        product_type: &str,
        patches: &Value,
        preview: bool,
    ) -> Result<Submission> {
        let seller = self.cfg().seller_id()?;
        let url = format!(
            "{}{LISTINGS}/{seller}/{}",
            self.cfg().urls.listings,
            path_segment(sku)
        );
        let body = json!({"productType": product_type, "patches": patches});
        self.client
            .fetch(Op::PatchListingsItem, || {
                let mut c = Call::new(Method::PATCH, &url)
                    .query("marketplaceIds", self.mp())
                    .query("issueLocale", "en_US");
                if preview {
                    c = c.query("mode", "VALIDATION_PREVIEW");
                }
                c.json(&body)
                    .unwrap_or_else(|_| Call::new(Method::PATCH, &url))
                    .header("content-type", "application/json")
            })
            .await
    }

    /// Creates or fully replaces one listing (putListingsItem) with `attributes` of
    /// `product_type`; `preview` only validates (`mode=VALIDATION_PREVIEW`). Returns Amazon's
    /// status (`ACCEPTED`, `VALID`, `INVALID`) and its issues as `message (code)`.
    pub async fn put_listing(
        &self,
        sku: &str,
        product_type: &str,
        attributes: &Value,
        preview: bool,
    ) -> Result<(String, Vec<String>)> {
        let seller = self.cfg().seller_id()?;
        let url = format!(
            "{}{LISTINGS}/{seller}/{}",
            self.cfg().urls.listings,
            path_segment(sku)
        );
        let body = json!({"productType": product_type, "requirements": "LISTING",
                          "attributes": attributes});
        let submission: Submission = self
            .client
            .fetch(Op::PutListingsItem, || {
                let mut c = Call::new(Method::PUT, &url)
                    .query("marketplaceIds", self.mp())
                    .query("issueLocale", "en_US");
                if preview {
                    c = c.query("mode", "VALIDATION_PREVIEW");
                }
                c.json(&body)
                    .unwrap_or_else(|_| Call::new(Method::PUT, &url))
                    .header("content-type", "application/json")
            })
            .await?;
        let issues = submission
            .issues
            .iter()
            .map(|i| format!("{} ({})", i.message, i.code))
            .collect();
        Ok((submission.status, issues))
    }

    /// Sends one offer's quantity and price as a listing patch (`productType` PRODUCT, the
    /// same patches a feed message carries); Amazon's refusal is the offer's rejection.
    async fn patch_offer(&self, o: &OfferUpdate, report: &mut ExportReport) -> Result<()> {
        let price = offer_price(o, &self.cfg().currency);
        let message = mapping::feed_message(1, &o.sku, o.quantity, price, self.mp());
        let patches = serde_json::to_value(&message.patches)
            .map_err(|e| ConnectorError::Config(format!("patch cannot be encoded: {e}")))?;
        match self
            .patch_listing(&o.sku, message.product_type, &patches, false)
            .await
        {
            Ok(sub) => {
                let errors: Vec<String> = sub
                    .issues
                    .iter()
                    .filter(|i| i.severity == "ERROR")
                    .map(|i| format!("{}: {}", i.code, i.message))
                    .collect();
                if sub.status == "INVALID" || !errors.is_empty() {
                    report.rejected.push((o.sku.clone(), errors.join("; ")));
                } else {
                    report.accepted += 1;
                }
                Ok(())
            }
            Err(e) if e.is_record_level() => {
                report.rejected.push((o.sku.clone(), e.to_string()));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Builds, uploads and submits one JSON_LISTINGS_FEED of `offers`.
    async fn submit_feed(&self, offers: &[&OfferUpdate]) -> Result<SubmittedFeed> {
        let seller = self.cfg().seller_id()?.to_string();
        let body = feed_document(&seller, self.mp(), &self.cfg().currency, offers)?;
        let feeds = &self.cfg().urls.feeds;
        let doc: FeedDocument = self
            .client
            .fetch(Op::CreateFeedDocument, || {
                Call::new(Method::POST, format!("{feeds}{FEEDS}/documents")).body(
                    "application/json",
                    serde_json::to_vec(&json!({"contentType": FEED_CONTENT_TYPE}))
                        .unwrap_or_default(),
                )
            })
            .await?;
        self.client
            .document(Call::new(Method::PUT, &doc.url).body(FEED_CONTENT_TYPE, body))
            .await?;
        let request = json!({
            "feedType": "JSON_LISTINGS_FEED",
            "marketplaceIds": [self.mp()],
            "inputFeedDocumentId": doc.feed_document_id,
        });
        let created: CreatedFeed = self
            .client
            .fetch(Op::CreateFeed, || {
                Call::new(Method::POST, format!("{feeds}{FEEDS}/feeds")).body(
                    "application/json",
                    serde_json::to_vec(&request).unwrap_or_default(),
                )
            })
            .await?;
        tracing::info!(feed_id = %created.feed_id, messages = offers.len(), "amazon feed submitted");
        Ok(SubmittedFeed {
            feed_id: created.feed_id,
            skus: offers.iter().map(|o| o.sku.clone()).collect(),
        })
    }

    /// Waits for a feed to finish; its processing report, or why there is none.
    async fn await_feed(&self, feed_id: &str) -> Result<(String, Option<ProcessingReport>)> {
        let url = format!("{}{FEEDS}/feeds/{feed_id}", self.cfg().urls.feeds);
        let start = tokio::time::Instant::now();
        let feed: Feed = loop {
            let feed: Feed = self.client.fetch(Op::GetFeed, || Call::get(&url)).await?;
            match feed.processing_status.as_str() {
                "DONE" | "FATAL" | "CANCELLED" => break feed,
                _ if start.elapsed() > FEED_TIMEOUT => {
                    return Err(ConnectorError::Transient(format!(
                        "feed {feed_id} still {} after {FEED_TIMEOUT:?}",
                        feed.processing_status
                    )));
                }
                _ => tokio::time::sleep(FEED_POLL).await,
            }
        };
        let Some(doc_id) = feed.result_feed_document_id.filter(|d| !d.is_empty()) else {
            return Ok((feed.processing_status, None));
        };
        let doc_url = format!("{}{FEEDS}/documents/{doc_id}", self.cfg().urls.feeds);
        let doc: FeedDocument = self
            .client
            .fetch(Op::GetFeedDocument, || Call::get(&doc_url))
            .await?;
        if doc
            .compression_algorithm
            .as_deref()
            .is_some_and(|c| !c.is_empty())
        {
            return Err(ConnectorError::Malformed(format!(
                "feed {feed_id}: compressed processing reports are not supported"
            )));
        }
        let bytes = self.client.document(Call::get(&doc.url)).await?;
        let report: ProcessingReport = serde_json::from_slice(&bytes).map_err(|e| {
            ConnectorError::Malformed(format!("feed {feed_id}: processing report: {e}"))
        })?;
        Ok((feed.processing_status, Some(report)))
    }

    /// What a finished feed says about each of its offers.
    fn read_report(
        feed_id: &str,
        skus: &[String],
        status: &str,
        report: Option<ProcessingReport>,
        out: &mut ExportReport,
    ) {
        let mut refused: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Some(r) = &report {
            for issue in r.issues.iter().filter(|i| i.severity == "ERROR") {
                let sku = issue.sku.clone().or_else(|| {
                    issue
                        .message_id
                        .and_then(|m| m.checked_sub(1))
                        .and_then(|i| skus.get(i).cloned())
                });
                let text = match &issue.code {
                    Some(c) => format!("{c}: {}", issue.message),
                    None => issue.message.clone(),
                };
                match sku {
                    Some(s) => refused.entry(s).or_default().push(text),
                    None => refused.entry(String::new()).or_default().push(text),
                }
            }
            tracing::debug!(
                feed_id,
                processed = r.summary.messages_processed,
                accepted = r.summary.messages_accepted,
                invalid = r.summary.messages_invalid,
                "amazon feed report"
            );
        }
        let feed_wide = refused.remove("");
        if status != "DONE" || feed_wide.is_some() {
            let why = feed_wide
                .map(|w| w.join("; "))
                .unwrap_or_else(|| format!("feed {feed_id} ended {status}"));
            if status != "DONE" {
                out.rejected
                    .extend(skus.iter().map(|s| (s.clone(), why.clone())));
                return;
            }
        }
        for sku in skus {
            match refused.get(sku) {
                Some(msgs) => out.rejected.push((sku.clone(), msgs.join("; "))),
                None => out.accepted += 1,
            }
        }
    }
}

/// A sku as one URL path segment.
fn path_segment(sku: &str) -> String {
    let mut out = String::with_capacity(sku.len());
    for b in sku.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The price of an offer as a JSON number, or why it is not one.
fn price_number(o: &OfferUpdate) -> std::result::Result<Option<serde_json::Number>, String> {
    o.price
        .as_ref()
        .map(|p| {
            p.amount
                .trim()
                .parse::<serde_json::Number>()
                .map_err(|_| format!("price `{}` is not a decimal number", p.amount))
        })
        .transpose()
}

/// The offer's price as Amazon takes it (a number and its currency, `currency` when the offer
/// names none), if it has a valid one.
fn offer_price<'a>(o: &'a OfferUpdate, currency: &'a str) -> Option<(serde_json::Number, &'a str)> {
    price_number(o).ok().flatten().map(|n| {
        let cur = o
            .price
            .as_ref()
            .map(|p| p.currency.as_str())
            .filter(|c| !c.is_empty())
            .unwrap_or(currency);
        (n, cur)
    })
}

/// A JSON_LISTINGS_FEED v2 document setting quantity and/or price of `offers` (message ids
/// start at 1, in the offers' order), as bytes. Offers whose price is not a number are left
/// out (callers reject them first).
pub fn feed_document(
    seller_id: &str,
    marketplace_id: &str,
    currency: &str,
    offers: &[&OfferUpdate],
) -> Result<Vec<u8>> {
    let messages = offers
        .iter()
        .enumerate()
        .map(|(i, o)| {
            mapping::feed_message(
                i + 1,
                &o.sku,
                o.quantity,
                offer_price(o, currency),
                marketplace_id,
            )
        })
        .collect();
    let doc = mapping::FeedDoc {
        header: mapping::FeedHeader {
            seller_id,
            version: "2.0",
            issue_locale: "en_US",
        },
        messages,
    };
    serde_json::to_vec(&doc)
        .map_err(|e| ConnectorError::Config(format!("feed cannot be encoded: {e}")))
}

#[async_trait]
impl Connector for Amazon {
    fn marketplace_warehouses(&self) -> &'static [&'static str] {
        &[FBA]
    }

    fn platform(&self) -> &'static str {
        PLATFORM
    }

    async fn test_connection(&self) -> Result<String> {
        self.client.token().await?;
        if self.cfg().seller_id.is_some() {
            let page = self
                .search_listings(
                    &ImportQuery {
                        page_size: 1,
                        ..ImportQuery::default()
                    },
                    "summaries",
                    None,
                )
                .await?;
            Ok(format!(
                "connected to Amazon marketplace {} ({} listings)",
                self.mp(),
                page.number_of_results.unwrap_or(page.items.len() as u64)
            ))
        } else {
            let url = format!("{}/orders/v0/orders", self.cfg().urls.orders);
            let since = rfc3339(Utc::now() - chrono::Duration::days(1));
            let _: Payload<OrdersList> = self
                .client
                .fetch(Op::GetOrders, || {
                    Call::get(&url)
                        .query("MarketplaceIds", self.mp())
                        .query("LastUpdatedAfter", &since)
                        .query("MaxResultsPerPage", 1)
                })
                .await?;
            Ok(format!(
                "connected to Amazon marketplace {} (no seller_id: listings and feeds unavailable)",
                self.mp()
            ))
        }
    }

    async fn products_page(&self, query: &ImportQuery) -> Result<Page<Product>> {
        let page = self
            .search_listings(query, INCLUDED_DATA, query.page.as_deref())
            .await?;
        let mut items = Vec::with_capacity(page.items.len());
        for item in &page.items {
            let mut product = mapping::product(item, self.mp());
            if !product.product_type.is_empty()
                && let Some(schema) = self.compiled_schema(&product.product_type).await?
            {
                let violations = schema.check(&Value::Object(item.attributes.clone()));
                if !violations.is_empty() {
                    product.listing_status = "error".into();
                    product.visible = false;
                    product.listing_errors.extend(violations);
                }
            }
            items.push(product);
        }
        Ok(Page {
            items,
            next: page
                .pagination
                .and_then(|p| p.next_token)
                .filter(|t| !t.is_empty()),
            total: page.number_of_results,
        })
    }

    async fn stock_page(&self, query: &ImportQuery) -> Result<Page<StockLevel>> {
        let token = query.page.as_deref().unwrap_or("fba:");
        if let Some(t) = token.strip_prefix("fba:") {
            let url = format!(
                "{}/fba/inventory/v1/summaries",
                self.cfg().urls.fba_inventory
            );
            let resp: InventoryResponse = self
                .client
                .fetch(Op::GetInventorySummaries, || {
                    let mut c = Call::get(&url)
                        .query("details", "true")
                        .query("granularityType", "Marketplace")
                        .query("granularityId", self.mp())
                        .query("marketplaceIds", self.mp());
                    if !query.skus.is_empty() {
                        let skus: Vec<&str> =
                            query.skus.iter().take(50).map(String::as_str).collect();
                        c = c.query("sellerSkus", skus.join(","));
                    }
                    if let Some(since) = query.since {
                        c = c.query("startDateTime", rfc3339(since));
                    }
                    if !t.is_empty() {
                        c = c.query("nextToken", t);
                    }
                    c
                })
                .await?;
            let items = resp
                .payload
                .inventory_summaries
                .iter()
                .filter_map(|s| {
                    let sku = s.seller_sku.clone()?;
                    let on_hand = s.total_quantity.unwrap_or(0);
                    let details = s.inventory_details.as_ref();
                    let available = details
                        .and_then(|d| d.get("fulfillableQuantity"))
                        .and_then(Value::as_i64)
                        .unwrap_or(on_hand);
                    let reserved = details
                        .and_then(|d| d.pointer("/reservedQuantity/totalReservedQuantity"))
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    Some(StockLevel {
                        sku,
                        warehouse: FBA.into(),
                        on_hand,
                        reserved,
                        available,
                    })
                })
                .collect();
            let next = match resp.pagination.and_then(|p| p.next_token) {
                Some(t) if !t.is_empty() => Some(format!("fba:{t}")),
                // Merchant-fulfilled quantities need the listings (and so the seller id).
                _ if self.cfg().seller_id.is_some() => Some("mfn:".into()),
                _ => None,
            };
            return Ok(Page {
                items,
                next,
                total: None,
            });
        }
        let t = token
            .strip_prefix("mfn:")
            .ok_or_else(|| ConnectorError::Config(format!("invalid stock page token `{token}`")))?;
        let page = self
            .search_listings(
                query,
                "summaries,fulfillmentAvailability",
                (!t.is_empty()).then_some(t),
            )
            .await?;
        let items = page
            .items
            .iter()
            .filter_map(|i| {
                let q = i
                    .fulfillment_availability
                    .iter()
                    .find(|a| a.fulfillment_channel_code == "DEFAULT")?
                    .quantity
                    .unwrap_or(0);
                Some(StockLevel {
                    sku: i.sku.clone(),
                    warehouse: "DEFAULT".into(),
                    on_hand: q,
                    reserved: 0,
                    available: q,
                })
            })
            .collect();
        Ok(Page {
            items,
            next: page
                .pagination
                .and_then(|p| p.next_token)
                .filter(|t| !t.is_empty())
                .map(|t| format!("mfn:{t}")),
            total: None,
        })
    }

    async fn orders_page(&self, query: &ImportQuery) -> Result<Page<Order>> {
        if let Some(t) = query.page.as_deref().and_then(|t| t.strip_prefix(REFUNDS)) {
            return self.refunds_page(query, t).await;
        }
        // A page token is getOrders' own (a new getOrders page), or continues one after the
        // last order returned.
        let (after, token) = match query.page.as_deref().and_then(|t| t.strip_prefix(AFTER)) {
            Some(rest) => {
                let (id, token) = rest.split_once('|').ok_or_else(|| {
                    ConnectorError::Config(format!("invalid order page token `{rest}`"))
                })?;
                (Some(id), Some(token).filter(|t| !t.is_empty()))
            }
            None => (None, query.page.as_deref()),
        };
        let (orders, listed_next) = self.listed_orders(query, token, after.is_some()).await?;
        // Resumes after the last order returned; when it is no longer on the page (a fresh
        // read after a restart), from the page's start: orders seen twice are updates.
        let start = after
            .and_then(|id| orders.iter().position(|o| o.amazon_order_id == id))
            .map_or(0, |i| i + 1);
        let part: Vec<&AmzOrder> = orders.iter().skip(start).take(ORDERS_PER_PAGE).collect();
        let items = futures::future::try_join_all(
            part.iter().map(|o| self.order_items(&o.amazon_order_id)),
        )
        .await?;
        let next = match part.last() {
            Some(last) if start + part.len() < orders.len() => Some(format!(
                "{AFTER}{}|{}",
                last.amazon_order_id,
                token.unwrap_or_default()
            )),
            _ => {
                self.forget_listed(&listed_key(query, token));
                match listed_next {
                    Some(t) => Some(t),
                    // After the last page of an incremental import: the refunds since.
                    None if query.since.is_some() && query.ids.is_empty() => Some(REFUNDS.into()),
                    None => None,
                }
            }
        };
        Ok(Page {
            items: part
                .iter()
                .zip(&items)
                .map(|(o, i)| mapping::order(o, i))
                .collect(),
            next,
            total: None,
        })
    }

    async fn export_stock(&self, levels: &[StockLevel]) -> Result<ExportReport> {
        let mut report = ExportReport::default();
        let mut offers = Vec::new();
        for l in levels {
            if l.warehouse == FBA {
                report.rejected.push((
                    l.sku.clone(),
                    "FBA quantities are Amazon's: they cannot be set by the seller".into(),
                ));
            } else {
                offers.push(OfferUpdate {
                    sku: l.sku.clone(),
                    quantity: Some(l.available.max(0)),
                    ..OfferUpdate::default()
                });
            }
        }
        let feed = self.export_offers(&offers).await?;
        report.accepted += feed.accepted;
        report.rejected.extend(feed.rejected);
        Ok(report)
    }

    async fn export_orders(&self, updates: &[OrderUpdate]) -> Result<ExportReport> {
        let mut report = ExportReport::default();
        for u in updates {
            let (Some(carrier), Some(tracking)) = (
                u.carrier.as_deref().filter(|c| !c.is_empty()),
                u.tracking_number.as_deref().filter(|t| !t.is_empty()),
            ) else {
                report.rejected.push((
                    u.external_id.clone(),
                    "Amazon order updates need a shipment (carrier and tracking number); \
                     cancellations go through Seller Central"
                        .into(),
                ));
                continue;
            };
            let result = async {
                let items = self.order_items(&u.external_id).await?;
                let lines: Vec<Value> = items
                    .iter()
                    .filter_map(|i| {
                        let quantity = if u.lines.is_empty() {
                            i.quantity_ordered - i.quantity_shipped.unwrap_or(0)
                        } else {
                            u.lines
                                .iter()
                                .filter(|(sku, _)| *sku == i.seller_sku)
                                .map(|(_, q)| *q)
                                .sum()
                        };
                        (quantity > 0)
                            .then(|| json!({"orderItemId": i.order_item_id, "quantity": quantity}))
                    })
                    .collect();
                if lines.is_empty() {
                    return Err(rejected("no line of the order is left to ship".into()));
                }
                let body = json!({
                    "marketplaceId": self.mp(),
                    "packageDetail": {
                        "packageReferenceId": "1",
                        "carrierCode": carrier,
                        "trackingNumber": tracking,
                        "shipDate": rfc3339(Utc::now()),
                        "orderItems": lines,
                    },
                });
                let url = format!(
                    "{}/orders/v0/orders/{}/shipmentConfirmation",
                    self.cfg().urls.orders,
                    path_segment(&u.external_id)
                );
                self.client
                    .send::<Value>(Op::ConfirmShipment, || {
                        Call::new(Method::POST, &url).body(
                            "application/json",
                            serde_json::to_vec(&body).unwrap_or_default(),
                        )
                    })
                    .await
            }
            .await;
            match result {
                Ok(_) => report.accepted += 1,
                Err(e) if e.is_record_level() => {
                    report.rejected.push((u.external_id.clone(), e.to_string()))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    async fn update_field(&self, update: &FieldUpdate) -> Result<()> {
        let mp = self.mp().to_string();
        let value =
            match update.field.as_str() {
                "title" => {
                    json!([{"value": update.value, "language_tag": "en_US", "marketplace_id": mp}])
                }
                "description" => {
                    json!([{"value": update.value, "language_tag": "en_US", "marketplace_id": mp}])
                }
                "brand" | "attributes.color" | "attributes.material" | "attributes.size" => {
                    json!([{"value": update.value, "language_tag": "en_US", "marketplace_id": mp}])
                }
                "weight" => {
                    let kg: f64 = update.value.trim().parse().map_err(|_| {
                        rejected(format!("weight `{}` is not a number", update.value))
                    })?;
                    json!([{"value": kg, "unit": "kilograms", "marketplace_id": mp}])
                }
                "price" => {
                    let amount: serde_json::Number = update.value.trim().parse().map_err(|_| {
                        rejected(format!("price `{}` is not a number", update.value))
                    })?;
                    json!([{
                        "marketplace_id": mp,
                        "currency": self.cfg().currency,
                        "our_price": [{"schedule": [{"value_with_tax": amount}]}],
                    }])
                }
                other => {
                    return Err(ConnectorError::Unsupported(format!(
                        "{PLATFORM} field `{other}` (browse nodes follow the product type)"
                    )));
                }
            };
        let attribute = match update.field.as_str() {
            "title" => "item_name",
            "description" => "product_description",
            "brand" => "brand",
            "weight" => "item_weight",
            "attributes.color" => "color",
            "attributes.material" => "material",
            "attributes.size" => "size",
            _ => "purchasable_offer",
        };
        let item = self.listing(&update.sku).await?;
        let product_type = item
            .summaries
            .iter()
            .find(|s| s.marketplace_id == mp)
            .or_else(|| item.summaries.first())
            .map(|s| s.product_type.clone())
            .unwrap_or_else(|| "PRODUCT".into());
        let patches =
            json!([{"op": "replace", "path": format!("/attributes/{attribute}"), "value": value}]);
        for preview in [true, false] {
            let sub = self
                .patch_listing(&update.sku, &product_type, &patches, preview)
                .await?;
            let errors: Vec<String> = sub
                .issues
                .iter()
                .filter(|i| i.severity == "ERROR")
                .map(|i| format!("{}: {}", i.code, i.message))
                .collect();
            if sub.status == "INVALID" || !errors.is_empty() {
                return Err(rejected(if errors.is_empty() {
                    format!("Amazon found the {attribute} update invalid")
                } else {
                    errors.join("; ")
                }));
            }
        }
        Ok(())
    }

    async fn export_offers(&self, offers: &[OfferUpdate]) -> Result<ExportReport> {
        let mut report = ExportReport::default();
        // One message per sku: the last update of a sku wins.
        let mut latest: HashMap<&str, usize> = HashMap::new();
        for (i, o) in offers.iter().enumerate() {
            if o.quantity.is_some() || o.price.is_some() {
                latest.insert(o.sku.as_str(), i);
            }
        }
        let mut chosen: Vec<&OfferUpdate> = Vec::with_capacity(latest.len());
        for (i, o) in offers.iter().enumerate() {
            if latest.get(o.sku.as_str()) != Some(&i) {
                continue;
            }
            match price_number(o) {
                Ok(_) => chosen.push(o),
                Err(why) => report.rejected.push((o.sku.clone(), why)),
            }
        }
        if chosen.is_empty() {
            return Ok(report);
        }
        chosen.sort_by(|a, b| a.sku.cmp(&b.sku));
        if chosen.len() <= PATCH_MAX_OFFERS {
            // A few offers (a sale propagated, a drift repaired) go out at once as listing
            // patches (5 per second, burst 10) instead of waiting for a feed to be processed.
            for o in chosen {
                self.patch_offer(o, &mut report).await?;
            }
            return Ok(report);
        }
        // Feeds are submitted one after the other (createFeed's burst of 15 covers 375,000
        // offers): the first starts processing as soon as it is uploaded, the next ones are
        // built and uploaded while it runs. Then they are awaited in submission order (they
        // finish in that order), so one poller at getFeed's rate suffices.
        let mut feeds = Vec::new();
        for chunk in chosen.chunks(MAX_FEED_MESSAGES) {
            match self.submit_feed(chunk).await {
                Ok(f) => feeds.push(f),
                Err(e) if e.is_record_level() => report
                    .rejected
                    .extend(chunk.iter().map(|o| (o.sku.clone(), e.to_string()))),
                Err(e) => return Err(e),
            }
        }
        for f in &feeds {
            let (status, r) = self.await_feed(&f.feed_id).await?;
            Self::read_report(&f.feed_id, &f.skus, &status, r, &mut report);
        }
        Ok(report)
    }

    async fn acknowledge_orders(&self, external_ids: &[String]) -> Result<ExportReport> {
        // Amazon has no acceptance step: an order is ready to ship once payment is authorized.
        Ok(ExportReport {
            accepted: external_ids.len() as u64,
            rejected: Vec::new(),
        })
    }
}

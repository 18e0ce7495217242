//! CDiscount, through the Octopia seller API v2 (`https://api.octopia-io.net/seller/v2`).
//!
//! Vendor documentation followed (developer.octopia-io.net):
//! - Get started / Authentication: OAuth 2 client-credentials grant at
//!   `https://auth.octopia-io.net/auth/realms/maas/protocol/openid-connect/token` (form
//!   `grant_type=client_credentials&client_id&client_secret`), the `access_token` sent as
//!   `Authorization: Bearer`, the seller named by the `SellerId` header.
//! - Orders management / Order feature V2: orders listed with filters (`updatedAtMin`,
//!   `pageIndex`, `pageSize`), one order by id, "validate an order (if necessary)" for orders in
//!   `WaitingAcceptance` (Cdiscount only), shipping; states `Processing`, `WaitingAcceptance`,
//!   `Refused`, `Accepted`, `InPreparation`, `Shipped`, `Delivered`, `Cancelled`.
//! - Offer integration (JSON): offer packages (`POST /offer-packages`, types `Upsert`, `Update`,
//!   `Delete`), offer requests uploaded into a package in `WaitingForCompletion`, the package set
//!   `Ready`, then `IntegrationPending` → `Integrated` | `Rejected`; per-offer results
//!   (integrated, rejected, duplicated) readable for 3 days. At most 40,000 offers per package
//!   (Offer feature V2).
//! - Retrieve offers: `GET /offers?salesChannelId=CDISFR&expand=salesChannelFeedback`, cursor
//!   paging through the `Link` header.
//! - Error handling: standard HTTP statuses, JSON error bodies; 429 "wait before making new
//!   requests".
//!
//! Operations: test_connection (`GET /sellers`); products_page and stock_page (offers, with the
//! channel's feedback as `listing_errors`); orders_page (incremental on `updatedAtMin`, see
//! "Paging orders"); acknowledge_orders (`POST /orders/{id}/approval-status`
//! `{"approvalStatus":"Accepted"}`; an order past acceptance counts as accepted);
//! export_orders (shipment: `POST /orders/{id}/shipments` with one parcel: carrier,
//! tracking number as `parcelNumber`, the order's lines); export_offers, export_stock and
//! update_field(`price`) through `Update` offer packages.
//!
//! Paging orders: the API pages by index, which shifts when an order is updated during a
//! sync. Page tokens are therefore keysets: `<updatedAtMin>|<pageIndex>|<ids already returned
//! at that instant>`. Each page asks again from the last `updatedAt` seen (page 1), skipping
//! the orders returned at that same instant; the page index only advances when a whole page
//! shares one instant. No order is returned twice by one sync, none is skipped; one updated
//! meanwhile comes again later with its new state.
//!
//! Bulk export (`export_offers`): updates are de-duplicated by sku (the last wins), cut into
//! packages of at most 40,000, each uploaded in calls of at most 1,000 offer requests (up to
//! 4 in flight), set `Ready`, then polled and its results read in pages of 1,000 while the
//! next package is uploaded. A retried upload can only duplicate an offer request inside one
//! package, which Octopia reports as `Duplicated` and applies once.
//!
//! Settings: `base_url` is the seller API base (default `https://api.octopia-io.net/seller/v2`;
//! a bare origin such as the simulator's `http://127.0.0.1:PORT` gets `/seller/v2` appended);
//! `auth_url` is the token endpoint (default Octopia's; when only `base_url` is set, the same
//! origin's `/auth/realms/maas/protocol/openid-connect/token`). `rate_limit_requests` and
//! `rate_limit_window_ms` override the assumed rate limit; `batch_size` is the order page size.
//!
//! # Assumptions
//!
//! Where the public documentation is thin, this is what the connector (and the simulator,
//! `marketsync_simulators::cdiscount`) assume, all in one place:
//! 1. Credentials: the seed names `api_key`, `api_token`, `seller_login` (legacy CDiscount
//!    marketplace API wording). They map onto Octopia's current credentials as
//!    `api_key` = OAuth client id, `api_token` = OAuth client secret, `seller_login` = seller id
//!    (the `SellerId` header).
//! 2. Tokens: `expires_in` is honoured (300 s when absent); a token is renewed 60 s before it
//!    expires and once more when a call comes back 401. At most 500 tokens per hour are asked
//!    for (a figure reported by integrators, not by Octopia).
//! 3. Rate limit: no number is published. Assumed: a token bucket per seller of 20 requests
//!    per second, 20 at once, answered with 429 and `Retry-After` (seconds) when exceeded. The
//!    connector keeps 5 requests below the bucket against network and scheduling jitter. `settings.rate_limit_requests`
//!    (and `rate_limit_window_ms`) override it.
//! 4. Errors are RFC 7807 problem documents (`title`, `detail`, `status`, `traceId`).
//! 5. Offer packages: at most 1,000 offer requests per upload call; `PATCH
//!    /offer-packages/{id}` `{"state":"Ready"}` submits; results at
//!    `GET /offer-packages/{id}/offer-requests-results` (`limit` ≤ 1,000, `cursor`), each with
//!    `sellerExternalReference`, `integrationStatus` (`Integrated`, `Rejected`, `Duplicated`)
//!    and `errors[{code, message, field}]`. An `Update` offer request carries
//!    `sellerExternalReference` plus `quantity` and/or `price.price` (EUR, the Cdiscount.fr
//!    channel `CDISFR`).
//! 6. Lists: `GET /offers` takes `limit` ≤ 1,000; `GET /orders` takes `pageSize` ≤ 100 and
//!    `updatedAtMin` (inclusive), oldest update first with `sort=updatedAt`; its body is
//!    `{items, pageIndex, pageSize, totalCount}`.
//! 7. Acceptance: `POST /orders/{id}/approval-status` `{"approvalStatus":"Accepted"}` (the
//!    "validate an order" call; its exact path is not public), 409 when the order is no longer
//!    `WaitingAcceptance`.
//! 8. Listing errors: `salesChannelFeedback.errors[{code, message, field, severity}]` of an
//!    offer read with `expand=salesChannelFeedback`.
//! 9. Refunds (commercial gestures and returns) appear on the order as `refundedAmount`; full
//!    → `refunded`, part → `partially_refunded`. Cancellation by the seller is not in the v2
//!    API for Cdiscount orders (REST V1 only): `export_orders` refuses it per order.
//! 10. A package integrates in about 2 s in the simulator (`SimConfig::integration_ms`); the
//!     connector polls the package 1 s after `Ready`, then every 250 ms.

mod client;
mod mapping;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use marketsync_proto::v1::{Order, PlatformInfo, Product, StockLevel};
use serde_json::{Value, json};

use client::{Answer, Client};
pub use client::{
    CdiscountConfig, DEFAULT_API_URL, DEFAULT_AUTH_URL, LIST_MAX, ORDERS_PAGE_MAX, PACKAGE_MAX,
    SALES_CHANNEL, UPLOAD_MAX,
};
pub use mapping::WAREHOUSE;

use crate::http::Call;
use crate::{
    ConnectionConfig, Connector, ConnectorError, ExportReport, FieldUpdate, ImportQuery,
    OfferUpdate, OrderUpdate, Page, Result, common_settings, field, order_status,
};

/// Platform id.
pub const PLATFORM: &str = "cdiscount";
/// Upload calls of one package in flight at once.
const UPLOADS_IN_FLIGHT: usize = 4;
/// First look at a package after it was set Ready.
const FIRST_POLL: Duration = Duration::from_millis(1000);
/// Later looks.
const POLL_EVERY: Duration = Duration::from_millis(250);
/// Longest wait for a package to integrate.
const POLL_FOR: Duration = Duration::from_secs(30 * 60);

/// The fields of CDiscount's connection form.
pub fn platform_info() -> PlatformInfo {
    PlatformInfo {
        id: PLATFORM.into(),
        name: "CDiscount (Octopia)".into(),
        kind: "marketplace".into(),
        credentials: vec![
            field(
                "api_key",
                "API key (client ID)",
                true,
                true,
                "Octopia clientId, from Seller Zone → API Credentials Management",
            ),
            field(
                "api_token",
                "API token (client secret)",
                true,
                true,
                "Octopia clientSecret of that clientId",
            ),
            field(
                "seller_login",
                "Seller login (seller ID)",
                false,
                true,
                "Your Octopia seller id, sent as the SellerId header",
            ),
        ],
        settings: common_settings()
            .into_iter()
            .chain([
                field(
                    "rate_limit_requests",
                    "Requests per window (default 20 per second)",
                    false,
                    false,
                    "",
                ),
                field(
                    "rate_limit_window_ms",
                    "Rate-limit window in milliseconds",
                    false,
                    false,
                    "",
                ),
            ])
            .collect(),
        ..PlatformInfo::default()
    }
}

/// A CDiscount seller account.
#[derive(Debug, Clone)]
pub struct Cdiscount {
    client: Client,
}

impl Cdiscount {
    /// A connector for `config` (no request is sent yet).
    pub fn new(config: ConnectionConfig) -> Result<Self> {
        let cfg = CdiscountConfig::from_connection(&config)?;
        Ok(Self {
            client: Client::new(cfg)?,
        })
    }

    /// The validated configuration.
    pub fn config(&self) -> &CdiscountConfig {
        &self.client.cfg
    }

    async fn offers_page(&self, query: &ImportQuery) -> Result<(Vec<Value>, Option<String>)> {
        let limit = if query.page_size == 0 {
            100
        } else {
            query.page_size.min(LIST_MAX)
        };
        let url = self.client.url("/offers");
        let answer: Answer<Value> = self
            .client
            .call(|| {
                let mut c = Call::get(&url)
                    .query("salesChannelId", SALES_CHANNEL)
                    .query("limit", limit)
                    .query("expand", "salesChannelFeedback");
                if !query.skus.is_empty() {
                    c = c.query("sellerExternalReference", query.skus.join(","));
                }
                if let Some(cursor) = &query.page {
                    c = c.query("cursor", cursor);
                }
                c
            })
            .await?;
        Ok((items(answer.body)?, answer.next_cursor))
    }

    async fn get_order(&self, id: &str) -> Result<Value> {
        let url = self.client.url(&format!("/orders/{}", encode(id)));
        let answer: Answer<Value> = self.client.call(|| Call::get(&url)).await?;
        answer
            .body
            .ok_or_else(|| ConnectorError::Malformed(format!("order {id}: empty answer")))
    }

    async fn accept(&self, id: &str) -> Result<()> {
        let url = self
            .client
            .url(&format!("/orders/{}/approval-status", encode(id)));
        let sent: Result<Answer<Value>> = self
            .client
            .call(|| {
                send_json(
                    reqwest::Method::POST,
                    &url,
                    &json!({"approvalStatus": "Accepted"}),
                )
            })
            .await;
        match sent {
            Ok(_) => Ok(()),
            // Already past acceptance (a retry, or accepted elsewhere): accepted all the same.
            Err(ConnectorError::Rejected {
                status: 409,
                message,
            }) => {
                let order = self.get_order(id).await?;
                match order.get("status").and_then(Value::as_str).unwrap_or("") {
                    "Accepted" | "InPreparation" | "Shipped" | "Delivered" => Ok(()),
                    other => Err(ConnectorError::Rejected {
                        status: 409,
                        message: format!("order is {other}: {message}"),
                    }),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn ship(&self, u: &OrderUpdate) -> Result<()> {
        if u.status.as_deref() == Some(order_status::CANCELLED) {
            return Err(ConnectorError::Rejected {
                status: 400,
                message: "Cdiscount orders cannot be cancelled through the Octopia seller API v2"
                    .into(),
            });
        }
        let (Some(carrier), Some(tracking)) = (
            u.carrier.as_deref().filter(|c| !c.is_empty()),
            u.tracking_number.as_deref().filter(|t| !t.is_empty()),
        ) else {
            return Err(ConnectorError::Rejected {
                status: 400,
                message: "a CDiscount shipment needs a carrier and a tracking number".into(),
            });
        };
        let order = self.get_order(&u.external_id).await?;
        let parcels = order
            .get("parcels")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if parcels
            .iter()
            .any(|p| p.get("parcelNumber").and_then(Value::as_str) == Some(tracking))
        {
            return Ok(()); // already confirmed (a retry)
        }
        let skus: HashSet<&str> = u.lines.iter().map(|(s, _)| s.as_str()).collect();
        let line_ids: Vec<String> = order
            .get("lines")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|l| {
                        skus.is_empty()
                            || l.pointer("/offer/sellerExternalReference")
                                .and_then(Value::as_str)
                                .is_some_and(|s| skus.contains(s))
                    })
                    .filter_map(|l| match l.get("orderLineId") {
                        Some(Value::String(s)) => Some(s.clone()),
                        Some(Value::Number(n)) => Some(n.to_string()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        if line_ids.is_empty() {
            return Err(ConnectorError::Rejected {
                status: 400,
                message: "none of the shipped skus is a line of this order".into(),
            });
        }
        let url = self
            .client
            .url(&format!("/orders/{}/shipments", encode(&u.external_id)));
        let body = json!([{
            "parcelNumber": tracking,
            "carrierName": carrier,
            "trackingUrl": "",
            "orderLineIds": line_ids,
        }]);
        let _: Answer<Value> = self
            .client
            .call(|| send_json(reqwest::Method::POST, &url, &body))
            .await?;
        Ok(())
    }

    /// Creates, fills and submits one package; returns its id and the skus it holds.
    async fn submit_package(&self, requests: Vec<Value>) -> Result<String> {
        let url = self.client.url("/offer-packages");
        let created: Answer<Value> = self
            .client
            .call(|| {
                send_json(
                    reqwest::Method::POST,
                    &url,
                    &json!({"packageType": "Update", "salesChannelId": SALES_CHANNEL}),
                )
            })
            .await?;
        let id = created
            .body
            .as_ref()
            .and_then(|b| b.get("packageId"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                created
                    .location
                    .as_deref()
                    .and_then(|l| l.rsplit('/').next())
                    .map(str::to_string)
            })
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ConnectorError::Malformed("offer package without an id".into()))?;
        let upload_url = self
            .client
            .url(&format!("/offer-packages/{}/offer-requests", encode(&id)));
        let bodies: Vec<Value> = requests
            .chunks(UPLOAD_MAX)
            .map(|c| Value::Array(c.to_vec()))
            .collect();
        let mut uploads = futures::stream::iter(bodies)
            .map(|body| self.upload(upload_url.clone(), body))
            .buffer_unordered(UPLOADS_IN_FLIGHT);
        while let Some(done) = uploads.next().await {
            done?;
        }
        drop(uploads);
        let pkg_url = self.client.url(&format!("/offer-packages/{}", encode(&id)));
        let _: Answer<Value> = self
            .client
            .call(|| send_json(reqwest::Method::PATCH, &pkg_url, &json!({"state": "Ready"})))
            .await?;
        Ok(id)
    }

    async fn upload(&self, url: String, body: Value) -> Result<()> {
        let _: Answer<Value> = self
            .client
            .call(|| send_json(reqwest::Method::POST, &url, &body))
            .await?;
        Ok(())
    }

    async fn accept_owned(&self, id: String) -> (String, Result<()>) {
        let outcome = self.accept(&id).await;
        (id, outcome)
    }

    /// Waits for a package to integrate and reads its results: (integrated skus, rejected).
    async fn package_results(
        &self,
        id: &str,
    ) -> Result<(HashSet<String>, BTreeMap<String, String>)> {
        let pkg_url = self.client.url(&format!("/offer-packages/{}", encode(id)));
        tokio::time::sleep(FIRST_POLL).await;
        let started = tokio::time::Instant::now();
        loop {
            let answer: Answer<Value> = self.client.call(|| Call::get(&pkg_url)).await?;
            let state = answer
                .body
                .as_ref()
                .and_then(|b| b.get("state"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            match state.as_str() {
                "Integrated" => break,
                "Rejected" => {
                    return Err(ConnectorError::Rejected {
                        status: 422,
                        message: format!("offer package {id} was rejected by Octopia"),
                    });
                }
                _ if started.elapsed() > POLL_FOR => {
                    return Err(ConnectorError::Transient(format!(
                        "offer package {id} still {state} after {POLL_FOR:?}"
                    )));
                }
                _ => tokio::time::sleep(POLL_EVERY).await,
            }
        }
        let results_url = self.client.url(&format!(
            "/offer-packages/{}/offer-requests-results",
            encode(id)
        ));
        let (mut ok, mut rejected) = (HashSet::new(), BTreeMap::new());
        let mut cursor: Option<String> = None;
        loop {
            let answer: Answer<Value> = self
                .client
                .call(|| {
                    let c = Call::get(&results_url).query("limit", LIST_MAX);
                    match &cursor {
                        Some(k) => c.query("cursor", k),
                        None => c,
                    }
                })
                .await?;
            for r in items(answer.body)? {
                let sku = r
                    .get("sellerExternalReference")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                match r.get("integrationStatus").and_then(Value::as_str) {
                    Some("Integrated") => {
                        rejected.remove(&sku);
                        ok.insert(sku);
                    }
                    Some("Rejected") if !ok.contains(&sku) => {
                        let why = r
                            .get("errors")
                            .and_then(Value::as_array)
                            .map(|e| {
                                e.iter()
                                    .map(|e| {
                                        format!(
                                            "{}: {}",
                                            e.get("code").and_then(Value::as_str).unwrap_or(""),
                                            e.get("message").and_then(Value::as_str).unwrap_or("")
                                        )
                                    })
                                    .collect::<Vec<_>>()
                                    .join("; ")
                            })
                            .filter(|s| !s.is_empty())
                            .unwrap_or_else(|| {
                                r.get("resultCode")
                                    .and_then(Value::as_str)
                                    .unwrap_or("rejected")
                                    .to_string()
                            });
                        rejected.insert(sku, why);
                    }
                    _ => {} // Duplicated: the first request of that sku has the outcome.
                }
            }
            match answer.next_cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => break,
            }
        }
        Ok((ok, rejected))
    }
}

/// A call with a JSON body.
fn send_json(method: reqwest::Method, url: &str, body: &Value) -> Call {
    Call::new(method, url).body("application/json", body.to_string())
}

/// The `items` of a list answer.
fn items(body: Option<Value>) -> Result<Vec<Value>> {
    match body {
        None => Ok(Vec::new()),
        Some(Value::Object(mut o)) => match o.remove("items") {
            Some(Value::Array(a)) => Ok(a),
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(_) => Err(ConnectorError::Malformed("`items` is not a list".into())),
        },
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(ConnectorError::Malformed("expected a list answer".into())),
    }
}

/// Percent-encoding of a path segment.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// An orders page token: the instant to ask from, the page index at that instant and the
/// orders already returned at exactly that instant.
#[derive(Debug, Clone, PartialEq, Default)]
struct OrdersCursor {
    since: Option<String>,
    index: u32,
    seen: Vec<String>,
}

impl OrdersCursor {
    fn parse(token: &str) -> Result<Self> {
        let mut parts = token.splitn(3, '|');
        let since = parts.next().unwrap_or("");
        let index = parts
            .next()
            .and_then(|i| i.parse().ok())
            .filter(|i| *i >= 1)
            .ok_or_else(|| ConnectorError::Config(format!("bad orders page token `{token}`")))?;
        let seen = parts
            .next()
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        Ok(Self {
            since: (!since.is_empty()).then(|| since.to_string()),
            index,
            seen,
        })
    }

    fn token(&self) -> String {
        format!(
            "{}|{}|{}",
            self.since.as_deref().unwrap_or(""),
            self.index,
            self.seen.join(",")
        )
    }
}

#[async_trait]
impl Connector for Cdiscount {
    fn platform(&self) -> &'static str {
        PLATFORM
    }

    async fn test_connection(&self) -> Result<String> {
        let url = self.client.url("/sellers");
        let answer: Answer<Value> = self.client.call(|| Call::get(&url)).await?;
        let body = answer.body.unwrap_or(Value::Null);
        let name = body
            .get("shopName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        Ok(format!(
            "Connected to CDiscount (Octopia) as seller {}{}",
            self.client.cfg.seller_id,
            if name.is_empty() {
                String::new()
            } else {
                format!(" ({name})")
            }
        ))
    }

    async fn products_page(&self, query: &ImportQuery) -> Result<Page<Product>> {
        let (offers, next) = self.offers_page(query).await?;
        Ok(Page {
            items: offers.iter().map(mapping::product).collect(),
            next,
            total: None,
        })
    }

    async fn stock_page(&self, query: &ImportQuery) -> Result<Page<StockLevel>> {
        let (offers, next) = self.offers_page(query).await?;
        Ok(Page {
            items: offers.iter().map(mapping::stock).collect(),
            next,
            total: None,
        })
    }

    async fn orders_page(&self, query: &ImportQuery) -> Result<Page<Order>> {
        let size = if query.page_size == 0 {
            self.client.cfg.page_size
        } else {
            query.page_size.min(ORDERS_PAGE_MAX)
        };
        let cursor = match &query.page {
            Some(t) => OrdersCursor::parse(t)?,
            None => OrdersCursor {
                since: query
                    .since
                    .map(|s| s.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                index: 1,
                seen: Vec::new(),
            },
        };
        let url = self.client.url("/orders");
        let until = query
            .until
            .map(|u| u.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        let answer: Answer<Value> = self
            .client
            .call(|| {
                let mut c = Call::get(&url)
                    .query("pageIndex", cursor.index)
                    .query("pageSize", size)
                    .query("sort", "updatedAt");
                if let Some(s) = &cursor.since {
                    c = c.query("updatedAtMin", s);
                }
                if let Some(u) = &until {
                    c = c.query("updatedAtMax", u);
                }
                if !query.ids.is_empty() {
                    c = c.query("orderId", query.ids.join(","));
                }
                c
            })
            .await?;
        let body = answer.body.unwrap_or(Value::Null);
        let total = body.get("totalCount").and_then(Value::as_u64);
        let raw = items(Some(body))?;
        let full = raw.len() >= size as usize;
        let seen: HashSet<&str> = cursor.seen.iter().map(String::as_str).collect();
        let orders: Vec<Order> = raw
            .iter()
            .map(mapping::order)
            .filter(|o| !seen.contains(o.external_id.as_str()))
            .collect();
        let next = if !full {
            None
        } else {
            let last = raw
                .last()
                .and_then(|o| o.get("updatedAt"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let at_last: Vec<String> = raw
                .iter()
                .filter(|o| o.get("updatedAt").and_then(Value::as_str) == Some(last.as_str()))
                .filter_map(|o| o.get("orderId").and_then(Value::as_str).map(str::to_string))
                .collect();
            let same_instant = cursor.since.as_deref() == Some(last.as_str());
            Some(
                if same_instant {
                    // The whole page shares the instant it started from: page on at that instant.
                    let mut all = cursor.seen.clone();
                    all.extend(at_last);
                    OrdersCursor {
                        since: cursor.since.clone(),
                        index: cursor.index + 1,
                        seen: all,
                    }
                } else {
                    OrdersCursor {
                        since: Some(last),
                        index: 1,
                        seen: at_last,
                    }
                }
                .token(),
            )
        };
        Ok(Page {
            items: orders,
            next,
            total,
        })
    }

    async fn export_stock(&self, levels: &[StockLevel]) -> Result<ExportReport> {
        let offers = OfferUpdate::quantities(levels);
        self.export_offers(&offers).await
    }

    async fn export_orders(&self, updates: &[OrderUpdate]) -> Result<ExportReport> {
        let mut report = ExportReport::default();
        for u in updates {
            match self.ship(u).await {
                Ok(()) => report.accepted += 1,
                Err(e) if e.is_record_level() => {
                    report.rejected.push((u.external_id.clone(), e.to_string()))
                }
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    async fn update_field(&self, update: &FieldUpdate) -> Result<()> {
        if update.field != "price" {
            return Err(ConnectorError::Unsupported(format!(
                "{PLATFORM} field `{}` (product sheets change through product integration)",
                update.field
            )));
        }
        let report = self
            .export_offers(&[OfferUpdate {
                sku: update.sku.clone(),
                external_id: update.external_id.clone(),
                quantity: None,
                price: Some(marketsync_proto::v1::Money {
                    amount: update.value.clone(),
                    currency: mapping::CURRENCY.into(),
                }),
            }])
            .await?;
        match report.rejected.into_iter().next() {
            None => Ok(()),
            Some((_, message)) => Err(ConnectorError::Rejected {
                status: 422,
                message,
            }),
        }
    }

    async fn export_offers(&self, offers: &[OfferUpdate]) -> Result<ExportReport> {
        let mut report = ExportReport::default();
        // The last update of a sku wins; one offer request per sku.
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, o) in offers.iter().enumerate() {
            last.insert(o.sku.as_str(), i);
        }
        let mut requests = Vec::new();
        for (i, o) in offers.iter().enumerate() {
            if last.get(o.sku.as_str()) != Some(&i) {
                continue;
            }
            if o.sku.is_empty() {
                report
                    .rejected
                    .push((o.sku.clone(), "an offer update needs a sku".into()));
                continue;
            }
            let mut r = json!({"sellerExternalReference": o.sku});
            if let Some(q) = o.quantity {
                if q < 0 {
                    report
                        .rejected
                        .push((o.sku.clone(), "quantity must not be negative".into()));
                    continue;
                }
                r["quantity"] = json!(q);
            }
            if let Some(p) = &o.price {
                if !p.currency.is_empty() && p.currency != mapping::CURRENCY {
                    report.rejected.push((
                        o.sku.clone(),
                        format!("CDiscount prices are in EUR, not {}", p.currency),
                    ));
                    continue;
                }
                match p.amount.trim().parse::<f64>() {
                    Ok(v) if v.is_finite() && v > 0.0 => {
                        r["price"] = json!({"price": v, "currencyCode": mapping::CURRENCY});
                    }
                    _ => {
                        report
                            .rejected
                            .push((o.sku.clone(), format!("invalid price `{}`", p.amount)));
                        continue;
                    }
                }
            }
            if o.quantity.is_none() && o.price.is_none() {
                report
                    .rejected
                    .push((o.sku.clone(), "nothing to update".into()));
                continue;
            }
            requests.push(r);
        }
        // Packages are uploaded one after the other; each one's wait and results overlap
        // with the next one's upload.
        let mut pending = FuturesUnordered::new();
        for chunk in requests.chunks(PACKAGE_MAX) {
            let skus: Vec<String> = chunk
                .iter()
                .filter_map(|r| r["sellerExternalReference"].as_str().map(str::to_string))
                .collect();
            let id = self.submit_package(chunk.to_vec()).await?;
            pending.push(async move {
                let outcome = self.package_results(&id).await;
                (skus, outcome)
            });
        }
        while let Some((skus, outcome)) = pending.next().await {
            let (ok, mut rejected) = outcome?;
            for sku in skus {
                if ok.contains(&sku) {
                    report.accepted += 1;
                } else {
                    let why = rejected
                        .remove(&sku)
                        .unwrap_or_else(|| "no integration result for this offer".into());
                    report.rejected.push((sku, why));
                }
            }
        }
        Ok(report)
    }

    async fn acknowledge_orders(&self, external_ids: &[String]) -> Result<ExportReport> {
        let mut report = ExportReport::default();
        let ids: Vec<String> = external_ids.to_vec();
        let mut done = futures::stream::iter(ids)
            .map(|id| self.accept_owned(id))
            .buffer_unordered(4);
        while let Some((id, outcome)) = done.next().await {
            match outcome {
                Ok(()) => report.accepted += 1,
                Err(e) if e.is_record_level() => report.rejected.push((id, e.to_string())),
                Err(e) => return Err(e),
            }
        }
        Ok(report)
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
                "api_key": "client-id", "api_token": "client-secret", "seller_login": "98979"
            }))
            .unwrap_or_default(),
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
                ("api_key", true, true),
                ("api_token", true, true),
                ("seller_login", false, true)
            ]
        );
    }

    #[test]
    fn derives_the_token_url_from_a_base_url() {
        let c = CdiscountConfig::from_connection(&conn(Settings {
            base_url: Some("http://127.0.0.1:9/seller/v2/".into()),
            ..Settings::default()
        }))
        .map_err(|e| e.to_string());
        let c = c
            .as_ref()
            .map(|c| (c.api_url.as_str(), c.auth_url.as_str()));
        assert_eq!(
            c,
            Ok((
                "http://127.0.0.1:9/seller/v2",
                "http://127.0.0.1:9/auth/realms/maas/protocol/openid-connect/token"
            ))
        );
        let bare = CdiscountConfig::from_connection(&conn(Settings {
            base_url: Some("http://127.0.0.1:9".into()),
            ..Settings::default()
        }));
        assert_eq!(
            bare.map(|c| (c.api_url, c.auth_url))
                .map_err(|e| e.to_string()),
            Ok((
                "http://127.0.0.1:9/seller/v2".to_string(),
                "http://127.0.0.1:9/auth/realms/maas/protocol/openid-connect/token".to_string()
            ))
        );
        let d = CdiscountConfig::from_connection(&conn(Settings::default()));
        assert_eq!(
            d.map(|c| c.auth_url).map_err(|e| e.to_string()),
            Ok(DEFAULT_AUTH_URL.to_string())
        );
    }

    #[test]
    fn orders_cursor_round_trips() {
        let c = OrdersCursor {
            since: Some("2026-01-01T00:00:00.000Z".into()),
            index: 2,
            seen: vec!["A".into(), "B".into()],
        };
        assert_eq!(OrdersCursor::parse(&c.token()).ok(), Some(c));
        assert!(OrdersCursor::parse("x|0|").is_err());
    }
}

//! Mirakl: the Mirakl Marketplace Platform seller (shop) API of one marketplace instance.
//!
//! Followed: Mirakl's public seller API reference, developer.mirakl.com
//! (`/content/product/mmp/rest/seller/openapi3`: A01, orders OR11/OR21/OR23/OR24, offers
//! OF01/OF02/OF03/OF21/OF24 and their "Call Frequency" sections), and its general notes
//! (API key sent raw in `Authorization`, 429 with `Retry-After` in seconds, offset
//! pagination with `max` ≤ 100, `shop_id` for keys with access to several shops).
//!
//! Credentials (seed names): `api_url` (the instance, e.g.
//! `https://yourmarketplace-env.mirakl.net`; `settings.base_url` replaces it), `api_key`
//! (secret), `shop_id` (optional).
//!
//! Operations:
//! - test_connection: A01 `GET /api/account`.
//! - products_page / stock_page: OF21 `GET /api/offers` (`offset`, `max`), one product per
//!   offer with its offer fields: price, quantity, condition (`state_code` 11 = new),
//!   `leadtime_to_ship` → `lead_time_days` (missing stays missing: the monitor's Mirakl
//!   lead-time rule reports it), `active` → listing status, `inactivity_reasons` → the
//!   marketplace's own listing errors.
//! - orders_page: OR11 `GET /api/orders` with `start_update_date` (= `since`),
//!   `end_update_date`, `order_ids`, `offset`/`max`; order states map to canonical statuses
//!   ([`mapping::state_status`]); lines' `cancelations` and `refunds` make an order
//!   cancelled, refunded or partially refunded (Mirakl keeps the order state of a refunded
//!   order).
//! - acknowledge_orders: OR21 `PUT /api/orders/{id}/accept` with every line `accepted: true`;
//!   an order no longer in WAITING_ACCEPTANCE counts as accepted when it was accepted (an
//!   OR21 refusal is checked by reading the order again, OR11 by `order_ids`, so a stale view
//!   of another instance's acceptance is not reported as a refusal).
//! - export_orders: OR23 `PUT /api/orders/{id}/tracking` (`carrier_code` when the carrier
//!   looks like a code, else `carrier_name`; `tracking_number`), then OR24
//!   `PUT /api/orders/{id}/ship`.
//! - export_offers / export_stock / update_field(`price`): OF24 `POST /api/offers` for at
//!   most [`config::OF24_MAX_OFFERS`] offers whose full state this connector has read
//!   (OF24 resets every field not sent, so it is only used when every field can be sent);
//!   otherwise OF01 `POST /api/offers/imports` (a multipart CSV file `sku;price;quantity;
//!   update-delete`, `import_mode=NORMAL`, at most [`config::MAX_FILE_LINES`] lines per
//!   file). Both answer an `import_id`; the connector waits for the import (OF02) and reads
//!   its error report (OF03): refused lines come back in `ExportReport.rejected` by sku.
//!   Several files are pipelined: the next upload goes out as soon as OF01's frequency
//!   allows while the previous import is being processed and polled.
//!
//! Limits kept: OR11 (asynchronous polling), OF01, OF24, OF02 and OF03 are documented as
//! "maximum usage: once per minute". Each has a gate in this connector: a call waits until
//! a minute (`settings.rate_limit_window_ms`, default 60000) has passed since the previous
//! call's answer. For OR11 this concerns a poll (the first page); the further pages of one
//! poll are not limited. A poll is never sent within the minute of the previous one:
//! - in one connector instance, the gate makes a second orders import wait for the minute;
//! - across instances (the connector service builds one per sync), the cursor tells: a sync's
//!   `since` is at or before the start of the previous run, which polled after it, so a poll
//!   waits until `since + interval`; whatever remains (a poll by another client of the same
//!   shop) Mirakl answers with 429 and `Retry-After`, which the HTTP client waits out.
//!
//! A poll within the minute is delayed rather than skipped on purpose: the sync service
//! advances its cursor to the run's start after an import that returned nothing, so an empty
//! answer would lose the updates made since the previous poll.
//! Other calls share a budget of `settings.rate_limit_requests` (default 20) per second.
//!
//! # ASSUMPTIONS (where the public documentation is thin)
//! - "Once per minute" is enforced per shop and per API; for OR11 it concerns a poll (the
//!   first page, `offset` 0), not each page of one poll.
//! - OF01 in `NORMAL` mode with only the `sku`, `price`, `quantity` and `update-delete`
//!   columns updates those fields and keeps the others (lead time, state, description); an
//!   empty cell keeps the current value. (`PARTIAL_UPDATE` is listed as deprecated in OF02.)
//! - An offer import file may hold 100,000 lines ([`config::MAX_FILE_LINES`]).
//! - An import is processed in about 0.3 s plus 1 s per 100,000 lines from its upload; the
//!   first OF02 poll waits that long plus a margin of 50 ms and 1% from the upload (a later
//!   poll waits for the once-per-minute gate).
//! - OF03's CSV report repeats the file's columns plus `error-line` and `error-message`.
//! - The marketplace's own listing errors of an offer are its OF21 `inactivity_reasons`
//!   (codes, or objects with `code`/`message`); the error reports of the seller's own
//!   imports come back from `export_offers` as rejected lines.
//! - Inactivity reasons that are stock or availability states (`ZERO_QUANTITY`,
//!   `UNAVAILABLE`, `SHOP_NOT_OPEN`) make the listing `inactive` but are not listing errors.
//! - OF21 takes a `sku` filter (comma-separated shop skus) for imports restricted to skus.
//! - A01 (documented "once per day") is what `test_connection` calls; it is not gated.
//! - Accepting an order (OR21) takes it to SHIPPING (the debit step is immediate).

mod config;
mod mapping;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::SecondsFormat;
use marketsync_proto::v1::{Order, PlatformInfo, Product, StockLevel};
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::http::{Call, HttpClient, RateLimiter};
use crate::{
    ConnectionConfig, Connector, ConnectorError, ExportReport, FieldUpdate, ImportQuery,
    OfferUpdate, OrderUpdate, Page, Result, common_settings, field,
};
pub use config::MiraklConfig;
use config::{MAX_FILE_LINES, MAX_PAGE_SIZE, OF24_MAX_OFFERS};
use mapping::{ImportCreated, ImportStatus, OfferList, OrderList, csv_quote};

/// Platform id.
pub const PLATFORM: &str = "mirakl";

/// ASSUMED fixed processing time of an offer import before its first status poll.
const IMPORT_BASE: Duration = Duration::from_millis(300);
/// ASSUMED import processing speed, lines per second.
const IMPORT_LINES_PER_SEC: f64 = 100_000.0;

/// The platform with the fields of its connection form.
pub fn platform_info() -> PlatformInfo {
    PlatformInfo {
        id: PLATFORM.into(),
        name: "Mirakl".into(),
        kind: "marketplace".into(),
        credentials: vec![
            field(
                "api_url",
                "Marketplace API URL",
                false,
                true,
                "The Mirakl instance, e.g. https://yourmarketplace-env.mirakl.net",
            ),
            field(
                "api_key",
                "API key",
                true,
                true,
                "Shop API key (back office: user settings → API key); sent in Authorization",
            ),
            field(
                "shop_id",
                "Shop ID",
                false,
                false,
                "For keys with access to several shops (sent as the shop_id parameter)",
            ),
        ],
        settings: common_settings()
            .into_iter()
            .chain([
                field(
                    "rate_limit_window_ms",
                    "Once-per-minute interval (ms)",
                    false,
                    false,
                    "Least time between two calls of OR11, OF01, OF24, OF02, OF03 (default 60000)",
                ),
                field(
                    "rate_limit_requests",
                    "Other requests per second",
                    false,
                    false,
                    "Budget of the other calls (default 20)",
                ),
            ])
            .collect(),
        docs_url: "https://developer.mirakl.com/content/product/mmp/rest/seller/openapi3".into(),
    }
}

/// One API documented as "maximum usage: once per minute": calls go one at a time, each
/// at least `interval` after the previous call's answer.
#[derive(Debug)]
struct Gate {
    interval: Duration,
    last: tokio::sync::Mutex<Option<Instant>>,
}

impl Gate {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// Runs `call` when the interval allows it.
    async fn run<T>(&self, call: impl Future<Output = Result<T>>) -> Result<T> {
        let mut last = self.last.lock().await;
        if let Some(at) = *last {
            tokio::time::sleep_until(at + self.interval).await;
        }
        let out = call.await;
        *last = Some(Instant::now());
        out
    }
}

/// What this connector knows of an offer (from OF21 or its own writes): what OF24 must resend.
#[derive(Debug, Clone)]
struct Known {
    price: String,
    quantity: i64,
    state_code: String,
    leadtime: Option<i32>,
}

/// A Mirakl shop.
pub struct Mirakl {
    cfg: MiraklConfig,
    http: HttpClient,
    or11: Gate,
    of01: Gate,
    of24: Gate,
    of02: Gate,
    of03: Gate,
    offers: Mutex<HashMap<String, Known>>,
    /// Order id → (state, line ids), from the orders this connector read.
    orders: Mutex<HashMap<String, (String, Vec<String>)>>,
}

impl std::fmt::Debug for Mirakl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirakl").field("config", &self.cfg).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn offset_of(token: Option<&str>) -> Result<u64> {
    match token {
        None => Ok(0),
        Some(t) => t
            .trim()
            .parse()
            .map_err(|_| ConnectorError::Config(format!("invalid page token `{t}`"))),
    }
}

/// A non-negative decimal in plain notation (`12`, `12.5`, `0.99`).
fn decimal_ok(text: &str) -> bool {
    let (int, frac) = text.split_once('.').unwrap_or((text, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// Whether a carrier names one of the marketplace's carrier codes (`UPS`, `DHL_EXPRESS`).
fn looks_like_code(carrier: &str) -> bool {
    !carrier.is_empty()
        && carrier
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

#[derive(Serialize)]
struct AcceptLine<'a> {
    id: &'a str,
    accepted: bool,
}

#[derive(Serialize)]
struct Tracking<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    carrier_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    carrier_name: Option<&'a str>,
    tracking_number: &'a str,
}

#[derive(Serialize)]
struct Of24Offer<'a> {
    shop_sku: &'a str,
    product_id: &'a str,
    product_id_type: &'static str,
    price: Box<RawValue>,
    quantity: i64,
    state_code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    leadtime_to_ship: Option<i32>,
    update_delete: &'static str,
}

/// One offer update as the connector sends it.
#[derive(Debug, Clone)]
struct Line<'a> {
    sku: &'a str,
    price: Option<&'a str>,
    quantity: Option<i64>,
}

impl Mirakl {
    /// A connector for `config`; validates credentials and settings without network calls.
    pub fn new(config: ConnectionConfig) -> Result<Self> {
        let cfg = MiraklConfig::from_connection(&config)?;
        let limiter = Arc::new(RateLimiter::new(
            cfg.requests_per_second,
            Duration::from_secs(1),
            None,
        ));
        let http = HttpClient::new(
            PLATFORM,
            cfg.policy.clone(),
            &[
                ("authorization", cfg.api_key.clone()),
                ("accept", "application/json".into()),
            ],
            cfg.secrets.clone(),
            limiter,
        )?;
        let gate = || Gate::new(cfg.interval);
        Ok(Self {
            or11: gate(),
            of01: gate(),
            of24: gate(),
            of02: gate(),
            of03: gate(),
            http,
            offers: Mutex::new(HashMap::new()),
            orders: Mutex::new(HashMap::new()),
            cfg,
        })
    }

    /// A call of `path` with the `shop_id` parameter when configured.
    fn call(&self, method: Method, path: &str) -> Call {
        let call = Call::new(method, self.cfg.url(path));
        match &self.cfg.shop_id {
            Some(id) => call.query("shop_id", id),
            None => call,
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, call: Call) -> Result<T> {
        self.http
            .send::<T>(&call)
            .await?
            .ok_or_else(|| ConnectorError::Malformed("empty answer".into()))
    }

    async fn offers_page(&self, query: &ImportQuery) -> Result<(OfferList, u64)> {
        let offset = offset_of(query.page.as_deref())?;
        let max = if query.page_size == 0 {
            self.cfg.page_size
        } else {
            query.page_size.clamp(1, MAX_PAGE_SIZE)
        };
        let mut call = self
            .call(Method::GET, "/api/offers")
            .query("offset", offset)
            .query("max", max);
        if !query.skus.is_empty() {
            call = call.query("sku", query.skus.join(","));
        }
        let list: OfferList = self.get_json(call).await?;
        let mut known = lock(&self.offers);
        for o in &list.offers {
            known.insert(
                o.shop_sku.clone(),
                Known {
                    price: match &o.price {
                        Value::Number(n) => n.to_string(),
                        Value::String(s) => s.clone(),
                        _ => String::new(),
                    },
                    quantity: o.quantity.unwrap_or(0),
                    state_code: o
                        .state_code
                        .clone()
                        .unwrap_or_else(|| mapping::STATE_NEW.into()),
                    leadtime: o.leadtime_to_ship,
                },
            );
        }
        Ok((list, offset))
    }

    fn next_token(offset: u64, got: usize, total: u64) -> Option<String> {
        let next = offset + got as u64;
        (got > 0 && next < total).then(|| next.to_string())
    }

    /// OR11 orders by id (acceptance of orders this connector has not read), through the
    /// once-per-minute gate.
    async fn orders_by_id(&self, ids: &[String]) -> Result<Vec<mapping::MkOrder>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(MAX_PAGE_SIZE as usize) {
            let call = self
                .call(Method::GET, "/api/orders")
                .query("order_ids", chunk.join(","))
                .query("offset", 0)
                .query("max", MAX_PAGE_SIZE);
            let list: OrderList = self.or11.run(self.get_json(call)).await?;
            out.extend(list.orders);
        }
        self.remember(&out);
        Ok(out)
    }

    fn remember(&self, orders: &[mapping::MkOrder]) {
        let mut known = lock(&self.orders);
        for o in orders {
            known.insert(
                o.order_id.clone(),
                (
                    o.order_state.clone(),
                    o.order_lines
                        .iter()
                        .map(|l| l.order_line_id.clone())
                        .collect(),
                ),
            );
        }
    }

    /// Waits for an import sent at `sent` to finish; (accepted, rejected by sku). The first
    /// status read waits for the estimated processing time counted from the upload (the
    /// marketplace processes the file as it arrives), with a margin for the transfer; if it
    /// is not done by then, the next read waits for OF02's once-per-minute gate.
    async fn wait_import(
        &self,
        id: &str,
        lines: usize,
        sent: Instant,
    ) -> Result<(u64, Vec<(String, String)>)> {
        let estimate = IMPORT_BASE + Duration::from_secs_f64(lines as f64 / IMPORT_LINES_PER_SEC);
        let margin = Duration::from_millis(50) + estimate / 100;
        tokio::time::sleep_until(sent + estimate + margin).await;
        let status = loop {
            let call = self.call(Method::GET, &format!("/api/offers/imports/{id}"));
            let s: ImportStatus = self.of02.run(self.get_json(call)).await?;
            match s.status.as_str() {
                "COMPLETE" | "FAILED" => break s,
                other => tracing::debug!(import = id, status = other, "offer import not done yet"),
            }
        };
        let mut rejected = Vec::new();
        if status.has_error_report {
            let call = self.call(
                Method::GET,
                &format!("/api/offers/imports/{id}/error_report"),
            );
            let report = self
                .of03
                .run(self.http.send_with(&call, |_, reply| {
                    Ok(String::from_utf8_lossy(&reply.body).to_string())
                }))
                .await?;
            rejected = mapping::error_report(&report);
        }
        if status.status == "FAILED" && status.lines_in_success == 0 && rejected.is_empty() {
            return Err(ConnectorError::Rejected {
                status: 400,
                message: format!(
                    "offer import {id} failed: {}",
                    status.reason_status.unwrap_or_default()
                ),
            });
        }
        Ok((status.lines_in_success, rejected))
    }

    /// One OF01 file: upload, wait, read the report.
    async fn import_file(&self, lines: &[Line<'_>]) -> Result<(u64, Vec<(String, String)>)> {
        let mut csv = String::with_capacity(lines.len() * 40 + 64);
        csv.push_str("\"sku\";\"price\";\"quantity\";\"update-delete\"\n");
        for l in lines {
            csv.push_str(&csv_quote(l.sku));
            csv.push(';');
            if let Some(p) = l.price {
                csv.push_str(p);
            }
            csv.push(';');
            if let Some(q) = l.quantity {
                use std::fmt::Write as _;
                let _ = write!(csv, "{q}");
            }
            csv.push_str(";update\n");
        }
        let mut boundary = String::from("marketsync-offers-5f0c1a9e");
        while csv.contains(&boundary) {
            boundary.push('x');
        }
        let mut body = Vec::with_capacity(csv.len() + 400);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"import_mode\"\r\n\r\nNORMAL\r\n\
                 --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"offers.csv\"\r\n\
                 Content-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(csv.as_bytes());
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let call = self
            .call(Method::POST, "/api/offers/imports")
            .body(&format!("multipart/form-data; boundary={boundary}"), body);
        let mut sent = Instant::now();
        let created: ImportCreated = self
            .of01
            .run(async {
                sent = Instant::now();
                self.get_json(call).await
            })
            .await?;
        let id = created.import_id.to_string().trim_matches('"').to_string();
        self.wait_import(&id, lines.len(), sent).await
    }

    /// OF24 for offers whose full state is known.
    async fn update_offers(&self, lines: &[Line<'_>]) -> Result<(u64, Vec<(String, String)>)> {
        let known = lock(&self.offers).clone();
        let mut offers = Vec::with_capacity(lines.len());
        for l in lines {
            let k = known
                .get(l.sku)
                .ok_or_else(|| ConnectorError::Config(format!("offer {} not read", l.sku)))?;
            let price = l.price.map_or_else(|| k.price.clone(), str::to_string);
            let price = RawValue::from_string(price.trim().to_string()).map_err(|e| {
                ConnectorError::Config(format!("price of {} cannot be encoded: {e}", l.sku))
            })?;
            offers.push(Of24Offer {
                shop_sku: l.sku,
                product_id: l.sku,
                product_id_type: "SHOP_SKU",
                price,
                quantity: l.quantity.unwrap_or(k.quantity),
                state_code: &k.state_code,
                leadtime_to_ship: k.leadtime,
                update_delete: "update",
            });
        }
        let call = self
            .call(Method::POST, "/api/offers")
            .json(&serde_json::json!({ "offers": offers }))?;
        let mut sent = Instant::now();
        let created: ImportCreated = self
            .of24
            .run(async {
                sent = Instant::now();
                self.get_json(call).await
            })
            .await?;
        let id = created.import_id.to_string().trim_matches('"').to_string();
        self.wait_import(&id, lines.len(), sent).await
    }

    async fn send_offers(&self, offers: &[OfferUpdate]) -> Result<ExportReport> {
        let mut report = ExportReport::default();
        // The last update of a sku wins: one line per offer, never two.
        let mut by_sku: HashMap<&str, usize> = HashMap::with_capacity(offers.len());
        let mut lines: Vec<Line> = Vec::with_capacity(offers.len());
        for o in offers {
            let price = o.price.as_ref().map(|m| m.amount.trim());
            if o.sku.trim().is_empty() {
                report
                    .rejected
                    .push((o.external_id.clone(), "the offer has no sku".into()));
                continue;
            }
            if price.is_none() && o.quantity.is_none() {
                report.rejected.push((
                    o.sku.clone(),
                    "nothing to update (no price, no quantity)".into(),
                ));
                continue;
            }
            if let Some(p) = price
                && !decimal_ok(p)
            {
                report
                    .rejected
                    .push((o.sku.clone(), format!("invalid price `{p}`")));
                continue;
            }
            let line = Line {
                sku: &o.sku,
                price,
                quantity: o.quantity,
            };
            match by_sku.get(o.sku.as_str()) {
                Some(&i) => {
                    let prev = &mut lines[i];
                    prev.price = line.price.or(prev.price);
                    prev.quantity = line.quantity.or(prev.quantity);
                }
                None => {
                    by_sku.insert(&o.sku, lines.len());
                    lines.push(line);
                }
            }
        }
        if lines.is_empty() {
            return Ok(report);
        }
        let all_known = {
            let known = lock(&self.offers);
            lines.iter().all(|l| known.contains_key(l.sku))
        };
        let results = if lines.len() <= OF24_MAX_OFFERS && all_known {
            vec![self.update_offers(&lines).await?]
        } else {
            let files = lines
                .chunks(MAX_FILE_LINES)
                .map(|chunk| self.import_file(chunk));
            futures::future::try_join_all(files).await?
        };
        let mut refused: HashMap<String, String> = HashMap::new();
        for (accepted, rejected) in results {
            report.accepted += accepted;
            for (sku, msg) in rejected {
                refused.entry(sku).or_insert(msg);
            }
        }
        {
            let mut known = lock(&self.offers);
            for l in &lines {
                if refused.contains_key(l.sku) {
                    continue;
                }
                if let Some(k) = known.get_mut(l.sku) {
                    if let Some(p) = l.price {
                        k.price = p.to_string();
                    }
                    if let Some(q) = l.quantity {
                        k.quantity = q;
                    }
                }
            }
        }
        report.rejected.extend(refused);
        Ok(report)
    }
}

#[async_trait]
impl Connector for Mirakl {
    fn platform(&self) -> &'static str {
        PLATFORM
    }

    async fn test_connection(&self) -> Result<String> {
        let account: Value = self
            .get_json(self.call(Method::GET, "/api/account"))
            .await?;
        Ok(format!(
            "connected to Mirakl shop {} ({})",
            account["shop_name"].as_str().unwrap_or("?"),
            account["shop_id"]
        ))
    }

    async fn products_page(&self, query: &ImportQuery) -> Result<Page<Product>> {
        let (list, offset) = self.offers_page(query).await?;
        let items: Vec<Product> = list
            .offers
            .iter()
            .map(|o| mapping::product(o, &self.cfg.currency))
            .collect();
        Ok(Page {
            next: Self::next_token(offset, items.len(), list.total_count),
            total: Some(list.total_count),
            items,
        })
    }

    async fn stock_page(&self, query: &ImportQuery) -> Result<Page<StockLevel>> {
        let (list, offset) = self.offers_page(query).await?;
        let warehouse = self.cfg.warehouse();
        let items: Vec<StockLevel> = list
            .offers
            .iter()
            .map(|o| {
                let q = o.quantity.unwrap_or(0);
                StockLevel {
                    sku: o.shop_sku.clone(),
                    warehouse: warehouse.clone(),
                    on_hand: q,
                    reserved: 0,
                    available: q,
                }
            })
            .collect();
        Ok(Page {
            next: Self::next_token(offset, items.len(), list.total_count),
            total: Some(list.total_count),
            items,
        })
    }

    async fn orders_page(&self, query: &ImportQuery) -> Result<Page<Order>> {
        let offset = offset_of(query.page.as_deref())?;
        let max = if query.page_size == 0 {
            self.cfg.page_size
        } else {
            query.page_size.clamp(1, MAX_PAGE_SIZE)
        };
        let mut call = self
            .call(Method::GET, "/api/orders")
            .query("offset", offset)
            .query("max", max);
        if let Some(since) = query.since {
            call = call.query(
                "start_update_date",
                since.to_rfc3339_opts(SecondsFormat::Millis, true),
            );
        }
        if let Some(until) = query.until {
            call = call.query(
                "end_update_date",
                until.to_rfc3339_opts(SecondsFormat::Millis, true),
            );
        }
        if !query.ids.is_empty() {
            call = call.query("order_ids", query.ids.join(","));
        }
        let list: OrderList = if query.page.is_none() {
            // A new poll: at most once per minute. The previous run of this connection polled
            // after its start, and the cursor (`since`) is at or before that start: a poll
            // before `since + interval` would be within the minute, so it waits.
            if let Some(since) = query.since {
                let next =
                    since + chrono::Duration::from_std(self.cfg.interval).unwrap_or_default();
                if let Ok(wait) = (next - chrono::Utc::now()).to_std() {
                    tracing::info!(
                        platform = PLATFORM,
                        wait_ms = wait.as_millis() as u64,
                        "orders were polled less than the documented minute ago; waiting"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
            self.or11.run(self.get_json(call)).await?
        } else {
            self.get_json(call).await?
        };
        self.remember(&list.orders);
        let items: Vec<Order> = list
            .orders
            .iter()
            .map(|o| mapping::order(o, &self.cfg.currency))
            .collect();
        Ok(Page {
            next: Self::next_token(offset, items.len(), list.total_count),
            total: Some(list.total_count),
            items,
        })
    }

    async fn export_stock(&self, levels: &[StockLevel]) -> Result<ExportReport> {
        let offers = OfferUpdate::quantities(levels);
        self.send_offers(&offers).await
    }

    async fn export_orders(&self, updates: &[OrderUpdate]) -> Result<ExportReport> {
        let mut report = ExportReport::default();
        for u in updates {
            let wants_ship = u.status.as_deref().is_none_or(|s| s == "shipped");
            if !wants_ship {
                report.rejected.push((
                    u.external_id.clone(),
                    format!(
                        "status `{}` cannot be set through the Mirakl seller API by marketsync",
                        u.status.as_deref().unwrap_or_default()
                    ),
                ));
                continue;
            }
            let id = u.external_id.as_str();
            let result: Result<()> = async {
                if let Some(number) = u.tracking_number.as_deref().filter(|t| !t.is_empty()) {
                    let carrier = u.carrier.as_deref().unwrap_or("").trim();
                    let body = Tracking {
                        carrier_code: looks_like_code(carrier).then_some(carrier),
                        carrier_name: (!looks_like_code(carrier)).then_some(carrier),
                        tracking_number: number,
                    };
                    let call = self
                        .call(Method::PUT, &format!("/api/orders/{id}/tracking"))
                        .json(&body)?;
                    self.http.send::<Value>(&call).await?;
                }
                let call = self.call(Method::PUT, &format!("/api/orders/{id}/ship"));
                self.http.send::<Value>(&call).await?;
                Ok(())
            }
            .await;
            match result {
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
                "mirakl field `{}` (product data belongs to the operator's catalog)",
                update.field
            )));
        }
        let offer = OfferUpdate {
            sku: update.sku.clone(),
            external_id: update.external_id.clone(),
            quantity: None,
            price: Some(marketsync_proto::v1::Money {
                amount: update.value.clone(),
                currency: self.cfg.currency.clone(),
            }),
        };
        let report = self.send_offers(&[offer]).await?;
        match report.rejected.into_iter().next() {
            Some((_, message)) => Err(ConnectorError::Rejected {
                status: 400,
                message,
            }),
            None => Ok(()),
        }
    }

    async fn export_offers(&self, offers: &[OfferUpdate]) -> Result<ExportReport> {
        self.send_offers(offers).await
    }

    async fn acknowledge_orders(&self, external_ids: &[String]) -> Result<ExportReport> {
        let mut report = ExportReport::default();
        let unknown: Vec<String> = {
            let known = lock(&self.orders);
            external_ids
                .iter()
                .filter(|id| !known.contains_key(*id))
                .cloned()
                .collect()
        };
        if !unknown.is_empty() {
            self.orders_by_id(&unknown).await?;
        }
        let mut stale = Vec::new();
        self.accept_known(external_ids, &mut report, &mut stale)
            .await?;
        if !stale.is_empty() {
            // Refused as not awaiting acceptance: this connector's view was stale (another
            // instance or the back office accepted it). Read the orders again and decide.
            let ids: Vec<String> = stale.into_iter().map(|(id, _)| id).collect();
            self.orders_by_id(&ids).await?;
            let mut still = Vec::new();
            self.accept_known(&ids, &mut report, &mut still).await?;
            report.rejected.extend(still);
        }
        Ok(report)
    }
}

impl Mirakl {
    /// Accepts the orders of `ids` this connector knows; an OR21 refusal of an order it
    /// believed awaiting acceptance goes to `stale` as (id, message).
    async fn accept_known(
        &self,
        ids: &[String],
        report: &mut ExportReport,
        stale: &mut Vec<(String, String)>,
    ) -> Result<()> {
        for id in ids {
            let entry = lock(&self.orders).get(id).cloned();
            let Some((state, lines)) = entry else {
                report
                    .rejected
                    .push((id.clone(), "order not found on Mirakl".into()));
                continue;
            };
            match state.as_str() {
                "WAITING_ACCEPTANCE" => {}
                "REFUSED" | "CANCELED" | "STAGING" => {
                    report.rejected.push((
                        id.clone(),
                        format!("order is {state}, it cannot be accepted"),
                    ));
                    continue;
                }
                // Accepted already (acceptance is idempotent).
                _ => {
                    report.accepted += 1;
                    continue;
                }
            }
            let body: Vec<AcceptLine<'_>> = lines
                .iter()
                .map(|l| AcceptLine {
                    id: l,
                    accepted: true,
                })
                .collect();
            let call = self
                .call(Method::PUT, &format!("/api/orders/{id}/accept"))
                .json(&serde_json::json!({ "order_lines": body }))?;
            match self.http.send::<Value>(&call).await {
                Ok(_) => {
                    report.accepted += 1;
                    if let Some(e) = lock(&self.orders).get_mut(id) {
                        e.0 = "SHIPPING".into();
                    }
                }
                Err(e) if e.is_record_level() => stale.push((id.clone(), e.to_string())),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

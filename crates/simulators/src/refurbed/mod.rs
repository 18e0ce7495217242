//! A Refurbed merchant account: the HTTP/JSON transport of the Refurbed Merchant API
//! (`refb.merchant.v1`, gRPC-first, served through grpc-gateway: every call is a `POST` of the
//! request message as JSON to `/refb.merchant.v1.<Service>/<Method>`), as documented in
//! <https://gitlab.com/refurbed-community/public-apis> (`refurbed_merchant_api/refb/merchant/v1`:
//! README.md and the `.proto` files).
//!
//! What it enforces, as documented:
//! - `Authorization: Plain <token>`; anything else is `401` with a `google.rpc.Status` body
//!   (`{"code": 16, "message": …, "details": []}`).
//! - Cursor pagination: `pagination: {limit, starting_after}` (ids), `limit` at most 100
//!   (`INVALID_ARGUMENT` otherwise), answers carry `has_more`.
//! - Batch calls take between 1 and 50 entries (`INVALID_ARGUMENT` otherwise) and answer one
//!   `google.rpc.Status` per entry, in request order.
//! - Monetary amounts are decimal strings with at most 2 decimals (`123`, `123.45`).
//! - Order item states NEW → ACCEPTED/REJECTED/CANCELLED, ACCEPTED → SHIPPED (needs a parcel
//!   tracking URL)/CANCELLED, SHIPPED → RETURNED; other transitions are `INVALID_ARGUMENT`.
//! - Rate limit headers `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`
//!   (unix timestamp) on every answer, `429` (`RESOURCE_EXHAUSTED`) when the window is spent.
//!
//! What it assumes (Refurbed publishes no numbers and leaves some shapes out; the connector's
//! module docs list the same assumptions): a fixed window of [`DEFAULT_RATE_LIMIT`] requests
//! per second aligned on whole unix seconds (so `X-RateLimit-Reset` is exact); a `Retry-After`
//! header (seconds) on `429`; `ListOrders` accepts `filter.updated_at` (`{ge, gt, le, lt}`, RFC
//! 3339) and orders carry `updated_at`; JSON uses the proto field names (snake_case), enums
//! by name and int64 ids as strings (the proto3 JSON mapping); an order item's
//! `parcel_carrier_tracking_number` is `{carrier, tracking_number}` with a free-text carrier.

mod admin;
mod storm;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::demo;
use crate::faults::{Fault, FaultKind, FaultQueue};

/// Assumed requests per window (Refurbed publishes none).
pub const DEFAULT_RATE_LIMIT: u32 = 20;
/// Assumed window length in milliseconds (a whole number of seconds).
pub const DEFAULT_RATE_WINDOW_MS: u64 = 1_000;
/// Documented maximum of entries per batch call (`BatchUpdateOffers`,
/// `BatchUpdateOrderItemsState`): "Between 1 and 50".
pub const MAX_BATCH: usize = 50;
/// Documented maximum `pagination.limit` of list calls.
pub const MAX_PAGE: usize = 100;

/// Configuration of a simulated Refurbed merchant account.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The one valid API token (`Authorization: Plain <token>`).
    pub api_token: String,
    /// The merchant's account id (reported by the admin API; the token identifies the merchant).
    pub merchant_id: String,
    /// Demo products to seed (one offer each).
    pub products: usize,
    /// Demo orders to seed.
    pub orders: usize,
    /// Seed of the demo data.
    pub seed: u64,
    /// Enforce the rate limit (headers are sent either way).
    pub limits: bool,
    /// Requests per window.
    pub rate_limit: u32,
    /// Window length in milliseconds (rounded up to whole seconds).
    pub rate_window_ms: u64,
    /// Faults active from the start.
    pub faults: Vec<Fault>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            api_token: "rf-demo-token-0c1d2e3f".into(),
            merchant_id: "4711".into(),
            products: 60,
            orders: 12,
            seed: 42,
            limits: true,
            rate_limit: DEFAULT_RATE_LIMIT,
            rate_window_ms: DEFAULT_RATE_WINDOW_MS,
            faults: Vec::new(),
        }
    }
}

impl SimConfig {
    fn window_ms(&self) -> u64 {
        self.rate_window_ms.max(1).div_ceil(1000) * 1000
    }
}

/// The least time the simulator's limits allow for exporting stock and price of `offers`
/// offers: `BatchUpdateOffers` takes 50 offers per call, so `c = ceil(offers / 50)` calls;
/// `rate_limit` calls fit in one window, so the calls span `w = ceil(c / rate_limit)` windows
/// and the last window is entered `(w - 1) × window` after the first call. With the defaults
/// and 100,000 offers: c = 2,000, w = 100, floor = 99 × 1 s = 99 s. (A run starting late in a
/// unix-second window may beat this by up to one window.) Without limits: zero.
pub fn export_floor(offers: usize, cfg: &SimConfig) -> Duration {
    if !cfg.limits || offers == 0 {
        return Duration::ZERO;
    }
    let calls = offers.div_ceil(MAX_BATCH) as u64;
    let windows = calls.div_ceil(u64::from(cfg.rate_limit.max(1)));
    Duration::from_millis((windows - 1) * cfg.window_ms())
}

/// Marks this platform's [`crate::server::Running`].
#[derive(Debug)]
pub struct Platform;

/// A running simulator; stops when `stop` is called or when dropped.
pub type RunningSimulator = crate::server::Running<Platform>;

/// Starts a simulated merchant account on `addr` (port 0: any free port) in a tokio task.
pub async fn start(addr: SocketAddr, config: SimConfig) -> std::io::Result<RunningSimulator> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let sim = Arc::new(Sim::new(config));
    crate::storm::init(&*sim);
    let server = crate::server::Server::serve(listener, router(sim), "refurbed");
    Ok(crate::server::Running::new(addr, server))
}

/// One offer of the merchant.
#[derive(Debug, Clone)]
pub(crate) struct Offer {
    pub(crate) id: i64,
    pub(crate) sku: String,
    pub(crate) instance_id: i64,
    pub(crate) instance_name: String,
    /// `OfferState`: OK, UNVERIFIED, SUBMITTED, PENDING_REVIEW, REJECTED.
    pub(crate) state: &'static str,
    /// `OfferGrading`: AA, A, B, C, or UNSPECIFIED when missing.
    pub(crate) grading: &'static str,
    pub(crate) stock: i64,
    pub(crate) price: String,
    /// `(category, free_text)` of a rejected offer.
    pub(crate) rejection: Option<(String, String)>,
    pub(crate) created_at: DateTime<Utc>,
    /// Times stock or price were set through the API.
    pub(crate) updates: u64,
}

/// One order item (one unit of one offer).
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) id: i64,
    pub(crate) sku: String,
    pub(crate) name: String,
    pub(crate) state: &'static str,
    pub(crate) price: String,
    pub(crate) refunded: String,
    pub(crate) tracking_url: Option<String>,
    pub(crate) carrier: Option<(String, String)>,
}

/// One order.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub(crate) id: i64,
    pub(crate) released_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) email: String,
    pub(crate) shipping: demo::DemoParty,
    pub(crate) items: Vec<Item>,
}

/// Request counters served by `GET /__admin/stats`.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) requests: u64,
    pub(crate) rate_limited: u64,
    pub(crate) unauthorized: u64,
    pub(crate) faults_injected: u64,
    pub(crate) by_method: std::collections::BTreeMap<String, u64>,
    /// Largest batch a batch call carried.
    pub(crate) largest_batch: usize,
}

/// The account's data.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub(crate) offers: Vec<Offer>,
    pub(crate) by_sku: HashMap<String, usize>,
    pub(crate) orders: Vec<Order>,
    pub(crate) next_item: i64,
}

/// The fixed window of the rate limit (aligned on unix time).
#[derive(Debug, Default)]
struct Window {
    index: u64,
    used: u32,
}

/// Shared state of one simulator.
pub(crate) struct Sim {
    pub(crate) config: SimConfig,
    pub(crate) store: Mutex<Store>,
    pub(crate) faults: FaultQueue,
    window: Mutex<Window>,
    pub(crate) stats: Mutex<Stats>,
    pub(crate) token_revoked: AtomicBool,
    /// Changes of sellable quantities (`/__admin/quantity-log`).
    pub(crate) storm_log: crate::storm::QuantityLog,
}

pub(crate) fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a handler panicked mid-request; the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Refurbed's grading of a canonical demo grade.
pub fn grading_of(grade: &str) -> &'static str {
    match grade {
        "premium" => "AA",
        "excellent" => "A",
        "very_good" => "B",
        "good" => "C",
        _ => "UNSPECIFIED",
    }
}

/// A price as Refurbed writes it (two decimals at most are allowed; demo prices with three
/// are kept as listed: they are the demo's defect).
fn money(units: i64) -> String {
    let cents = units / 100;
    format!("{}.{:02}", cents / 100, cents % 100)
}

impl Store {
    fn seeded(config: &SimConfig) -> Self {
        let catalog = demo::catalog(config.seed, config.products);
        let offers = demo::offers(config.seed, &catalog);
        let mut store = Store {
            next_item: 1,
            ..Store::default()
        };
        for (i, o) in offers.iter().enumerate() {
            let p = &catalog[o.product];
            store.by_sku.insert(o.sku.clone(), i);
            store.offers.push(Offer {
                id: 100_001 + i as i64,
                sku: o.sku.clone(),
                instance_id: 9_000_001 + i as i64,
                instance_name: p.name.clone(),
                state: if o.listing_error.is_some() {
                    "REJECTED"
                } else {
                    "OK"
                },
                grading: grading_of(&o.grade),
                stock: o.quantity,
                price: o.price.clone(),
                rejection: o
                    .listing_error
                    .as_ref()
                    .map(|(code, message, _)| (code.clone(), message.clone())),
                created_at: p.created_at,
                updates: 0,
            });
        }
        for (n, d) in demo::orders(config.seed, &catalog, config.orders)
            .into_iter()
            .enumerate()
        {
            let state = match d.status.as_str() {
                "pending" => "NEW",
                "shipped" | "completed" => "SHIPPED",
                "cancelled" => "CANCELLED",
                _ => "ACCEPTED",
            };
            let id = 70_000_001 + n as i64;
            let mut items = Vec::new();
            for line in &d.lines {
                // Orders name the product's offer (its sku), one item per unit.
                let sku = catalog[line.product].sku.clone();
                for _ in 0..line.quantity {
                    let shipped = state == "SHIPPED";
                    let item_id = store.next_item;
                    store.next_item += 1;
                    items.push(Item {
                        id: item_id,
                        sku: sku.clone(),
                        name: line.name.clone(),
                        state,
                        price: money(demo::to_units(&line.unit_price)),
                        refunded: "0.00".into(),
                        tracking_url: shipped
                            .then(|| format!("https://www.dhl.de/track?piececode=00340{id}")),
                        carrier: shipped.then(|| ("DHL".to_string(), format!("00340{id}"))),
                    });
                }
            }
            store.orders.push(Order {
                id,
                released_at: d.created_at,
                updated_at: d.created_at + chrono::Duration::minutes(30),
                email: d.buyer.email.clone(),
                shipping: d.shipping.clone(),
                items,
            });
        }
        store
    }
}

impl Sim {
    fn new(config: SimConfig) -> Self {
        Self {
            store: Mutex::new(Store::seeded(&config)),
            faults: FaultQueue::new(config.faults.clone()),
            window: Mutex::new(Window::default()),
            stats: Mutex::new(Stats::default()),
            token_revoked: AtomicBool::new(false),
            storm_log: crate::storm::QuantityLog::default(),
            config,
        }
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        relock(&self.store)
    }
}

pub(crate) type Shared = Arc<Sim>;

fn router(sim: Shared) -> Router {
    let api = Router::new()
        .route("/{service}/{method}", post(rpc))
        .fallback(unknown)
        .layer(middleware::from_fn_with_state(sim.clone(), guard));
    let app = Router::new()
        .nest(
            "/__admin",
            admin::routes().merge(crate::storm::routes(sim.clone())),
        )
        .merge(api)
        .with_state(sim.clone());
    crate::storm::layer(app, sim)
}

/// A `google.rpc.Status` error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// gRPC code numbers of `google.rpc.Code`.
mod code {
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const NOT_FOUND: i32 = 5;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const UNAVAILABLE: i32 = 14;
    pub const UNAUTHENTICATED: i32 = 16;
}

pub(crate) fn status_body(code: i32, message: &str) -> Value {
    json!({ "code": code, "message": message, "details": [] })
}

pub(crate) fn rpc_error(code: i32, message: &str) -> ApiError {
    let status = match code {
        code::INVALID_ARGUMENT => StatusCode::BAD_REQUEST,
        code::NOT_FOUND => StatusCode::NOT_FOUND,
        code::RESOURCE_EXHAUSTED => StatusCode::TOO_MANY_REQUESTS,
        code::UNIMPLEMENTED => StatusCode::NOT_IMPLEMENTED,
        code::UNAVAILABLE => StatusCode::SERVICE_UNAVAILABLE,
        code::UNAUTHENTICATED => StatusCode::UNAUTHORIZED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError {
        status,
        body: status_body(code, message),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn set_rate_headers(headers: &mut HeaderMap, limit: u32, remaining: u32, reset_s: u64) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(reset_s));
}

fn too_many(limit: u32, reset_ms_abs: u64) -> Response {
    let mut resp = rpc_error(code::RESOURCE_EXHAUSTED, "rate limit exceeded").into_response();
    let reset_s = reset_ms_abs.div_ceil(1000);
    set_rate_headers(resp.headers_mut(), limit, 0, reset_s);
    let retry = reset_ms_abs.saturating_sub(now_ms()).div_ceil(1000).max(1);
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry));
    resp
}

/// Auth, rate limit, injected faults and statistics, around every API request.
async fn guard(State(sim): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    {
        let mut stats = relock(&sim.stats);
        stats.requests += 1;
        *stats.by_method.entry(path.clone()).or_default() += 1;
    }
    let expected = format!("Plain {}", sim.config.api_token);
    let token_ok = !sim.token_revoked.load(Ordering::SeqCst)
        && req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t == expected);
    if !token_ok {
        relock(&sim.stats).unauthorized += 1;
        return rpc_error(
            code::UNAUTHENTICATED,
            "authorization header is malformed or invalid",
        )
        .into_response();
    }
    let limit = sim.config.rate_limit.max(1);
    let window_ms = sim.config.window_ms();
    let (remaining, reset_abs) = {
        let now = now_ms();
        let index = now / window_ms;
        let reset_abs = (index + 1) * window_ms;
        let mut w = relock(&sim.window);
        if w.index != index {
            w.index = index;
            w.used = 0;
        }
        if sim.config.limits && w.used >= limit {
            drop(w);
            relock(&sim.stats).rate_limited += 1;
            return too_many(limit, reset_abs);
        }
        w.used += 1;
        (limit.saturating_sub(w.used), reset_abs)
    };
    let fault = sim.faults.take(&path);
    if fault.is_some() {
        relock(&sim.stats).faults_injected += 1;
    }
    let mut resp = match fault {
        Some(f) => match f.kind {
            FaultKind::Status => {
                let status =
                    StatusCode::from_u16(f.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                let mut e = rpc_error(code::UNAVAILABLE, "injected failure");
                e.status = status;
                e.into_response()
            }
            FaultKind::Malformed => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"offers\": [{\"id\": \"1\", \"sku\": \"Trunc",
            )
                .into_response(),
            FaultKind::RateLimit => {
                relock(&sim.stats).rate_limited += 1;
                return too_many(limit, now_ms() + f.reset_ms);
            }
            FaultKind::Timeout => {
                tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
                next.run(req).await
            }
        },
        None => next.run(req).await,
    };
    set_rate_headers(
        resp.headers_mut(),
        limit,
        remaining,
        reset_abs.div_ceil(1000),
    );
    resp
}

type RpcResult = Result<Value, ApiError>;

async fn unknown(req: Request) -> ApiError {
    rpc_error(
        code::UNIMPLEMENTED,
        &format!("unknown method {} {}", req.method(), req.uri().path()),
    )
}

async fn rpc(
    State(sim): State<Shared>,
    Path((service, method)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let method = format!("{service}/{method}");
    let req: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return rpc_error(code::INVALID_ARGUMENT, &format!("invalid JSON body: {e}"))
                    .into_response();
            }
        }
    };
    let result = match method.as_str() {
        "refb.merchant.v1.OfferService/ListOffers" => list_offers(&sim, &req),
        "refb.merchant.v1.OfferService/GetOffer" => get_offer(&sim, &req),
        "refb.merchant.v1.OfferService/UpdateOffer" => update_offer(&sim, &req),
        "refb.merchant.v1.OfferService/BatchUpdateOffers" => batch_update_offers(&sim, &req),
        "refb.merchant.v1.OrderService/ListOrders" => list_orders(&sim, &req),
        "refb.merchant.v1.OrderService/GetOrder" => get_order(&sim, &req),
        "refb.merchant.v1.OrderItemService/UpdateOrderItemState" => {
            update_item_state(&sim, &req).map(|item| json!({ "order_item": item }))
        }
        "refb.merchant.v1.OrderItemService/BatchUpdateOrderItemsState" => {
            batch_update_items_state(&sim, &req)
        }
        other => Err(rpc_error(
            code::UNIMPLEMENTED,
            &format!("unknown method {other}"),
        )),
    };
    match result {
        Ok(v) => (StatusCode::OK, axum::Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// An int64 of the proto3 JSON mapping: a string or a number.
fn int64(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// `(limit, starting_after)` of a list request.
fn pagination(req: &Value) -> Result<(usize, Option<i64>), ApiError> {
    let p = &req["pagination"];
    let limit = match &p["limit"] {
        Value::Null => 10,
        v => int64(v)
            .filter(|n| *n >= 0)
            .ok_or_else(|| rpc_error(code::INVALID_ARGUMENT, "pagination.limit is invalid"))?
            as usize,
    };
    if limit > MAX_PAGE {
        return Err(rpc_error(
            code::INVALID_ARGUMENT,
            "pagination limit is too large (>100)",
        ));
    }
    if !p["starting_after"].is_null() && !p["ending_before"].is_null() {
        return Err(rpc_error(
            code::INVALID_ARGUMENT,
            "both ending_before and starting_after are specified in pagination",
        ));
    }
    let after = match &p["starting_after"] {
        Value::Null => None,
        v => Some(int64(v).ok_or_else(|| {
            rpc_error(
                code::INVALID_ARGUMENT,
                "pagination.starting_after is invalid",
            )
        })?),
    };
    Ok((limit.max(1), after))
}

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn offer_json(o: &Offer) -> Value {
    let mut v = json!({
        "id": o.id.to_string(),
        "version": "1",
        "is_current": true,
        "created_at": ts(&o.created_at),
        "instance_id": o.instance_id.to_string(),
        "instance_name": o.instance_name,
        "state": o.state,
        "sku": o.sku,
        "grading": o.grading,
        "warranty": "M12",
        "stock": o.stock,
        "shipping_profile_id": "1",
        "shipping_profile_name": "EU standard",
        "taxation": "MARGIN",
        "real_taxation": "MARGIN",
        "reference_currency_code": "EUR",
        "reference_price": o.price,
        "set_market_prices": [],
        "calculated_market_prices": [],
    });
    if let Some((category, text)) = &o.rejection {
        v["rejection_reason"] = json!({ "free_text": text, "category": category });
    }
    v
}

fn sku_filter(req: &Value) -> Vec<String> {
    req["filter"]["sku"]["any_of"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn list_offers(sim: &Sim, req: &Value) -> RpcResult {
    let (limit, after) = pagination(req)?;
    let skus = sku_filter(req);
    let store = sim.store();
    let mut page: Vec<Value> = Vec::new();
    let mut has_more = false;
    for o in store
        .offers
        .iter()
        .filter(|o| after.is_none_or(|a| o.id > a))
        .filter(|o| skus.is_empty() || skus.contains(&o.sku))
    {
        if page.len() == limit {
            has_more = true;
            break;
        }
        page.push(offer_json(o));
    }
    Ok(json!({ "offers": page, "has_more": has_more }))
}

fn find_offer(store: &Store, identifier: &Value) -> Result<usize, (i32, String)> {
    if let Some(sku) = identifier["sku"].as_str() {
        return store
            .by_sku
            .get(sku)
            .copied()
            .ok_or((code::NOT_FOUND, format!("offer with sku {sku} not found")));
    }
    if let Some(id) = int64(&identifier["id"]) {
        return store
            .offers
            .iter()
            .position(|o| o.id == id)
            .ok_or((code::NOT_FOUND, format!("offer {id} not found")));
    }
    Err((code::INVALID_ARGUMENT, "identifier is required".into()))
}

fn get_offer(sim: &Sim, req: &Value) -> RpcResult {
    let store = sim.store();
    let i = find_offer(&store, &req["identifier"]).map_err(|(c, m)| rpc_error(c, &m))?;
    Ok(json!({ "offer": offer_json(&store.offers[i]) }))
}

/// Whether `text` is a valid monetary amount of the API (at most 2 decimals, not negative).
fn valid_amount(text: &str) -> bool {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= 2
        && frac.bytes().all(|b| b.is_ascii_digit())
        && text.contains('.') != frac.is_empty()
}

/// Applies one offer update; the offer's JSON, or the per-entry status.
fn apply_update(store: &mut Store, update: &Value) -> Result<Value, (i32, String)> {
    let i = find_offer(store, &update["identifier"])?;
    let stock = match &update["stock"] {
        Value::Null => None,
        v => Some(
            v.as_i64()
                .filter(|n| (0..=i64::from(u32::MAX)).contains(n))
                .ok_or((code::INVALID_ARGUMENT, "stock must be a uint32".to_string()))?,
        ),
    };
    let price = match &update["reference_price"] {
        Value::Null => None,
        Value::String(s) if valid_amount(s) => Some(s.clone()),
        other => {
            return Err((
                code::INVALID_ARGUMENT,
                format!("reference_price {other} is not a valid amount (at most 2 decimals)"),
            ));
        }
    };
    let offer = &mut store.offers[i];
    if stock.is_some() || price.is_some() {
        offer.updates += 1;
    }
    if let Some(s) = stock {
        offer.stock = s;
    }
    if let Some(p) = price {
        offer.price = p;
    }
    Ok(offer_json(offer))
}

fn update_offer(sim: &Sim, req: &Value) -> RpcResult {
    let mut store = sim.store();
    let offer = apply_update(&mut store, req).map_err(|(c, m)| rpc_error(c, &m))?;
    Ok(json!({ "offer": offer }))
}

fn batch<'a>(sim: &Sim, req: &'a Value, field: &str) -> Result<&'a Vec<Value>, ApiError> {
    let entries = req[field]
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| rpc_error(code::INVALID_ARGUMENT, &format!("{field} is required")))?;
    if entries.len() > MAX_BATCH {
        return Err(rpc_error(
            code::INVALID_ARGUMENT,
            &format!("more than {MAX_BATCH} updates are attempted"),
        ));
    }
    let mut stats = relock(&sim.stats);
    stats.largest_batch = stats.largest_batch.max(entries.len());
    Ok(entries)
}

fn batch_update_offers(sim: &Sim, req: &Value) -> RpcResult {
    let entries = batch(sim, req, "offers")?;
    let mut store = sim.store();
    let results: Vec<Value> = entries
        .iter()
        .map(|u| match apply_update(&mut store, u) {
            Ok(offer) => json!({ "status": status_body(0, ""), "offer": offer }),
            Err((c, m)) => json!({ "status": status_body(c, &m) }),
        })
        .collect();
    Ok(json!({ "results": results }))
}

pub(crate) fn item_json(order: i64, it: &Item) -> Value {
    let mut v = json!({
        "id": it.id.to_string(),
        "order_id": order.to_string(),
        "name": it.name,
        "state": it.state,
        "sku": it.sku,
        "currency_code": "EUR",
        "total_charged": it.price,
        "total_paid": money(demo::to_units(&it.price) - demo::to_units(&it.refunded)),
        "total_refunded": it.refunded,
    });
    if let Some(url) = &it.tracking_url {
        v["parcel_tracking_url"] = json!(url);
    }
    if let Some((carrier, number)) = &it.carrier {
        v["parcel_carrier_tracking_number"] =
            json!({ "carrier": carrier, "tracking_number": number });
    }
    v
}

fn sum(items: &[Item], f: impl Fn(&Item) -> &str) -> String {
    money(items.iter().map(|i| demo::to_units(f(i))).sum())
}

pub(crate) fn order_json(o: &Order) -> Value {
    let states: std::collections::BTreeSet<&str> = o.items.iter().map(|i| i.state).collect();
    let state = if states
        .iter()
        .all(|s| matches!(*s, "CANCELLED" | "REJECTED"))
    {
        "CANCELLED"
    } else if states.contains("NEW") {
        "NEW"
    } else if states.iter().all(|s| matches!(*s, "SHIPPED" | "RETURNED")) {
        "SHIPPED"
    } else {
        "ACCEPTED"
    };
    let s = &o.shipping;
    let address = json!({
        "first_name": s.first_name,
        "family_name": s.last_name,
        "company_name": s.company,
        "street_name": s.street,
        "house_no": "",
        "post_code": s.zip,
        "town": s.city,
        "country_code": s.country_iso2,
        "phone_number": s.phone,
    });
    json!({
        "id": o.id.to_string(),
        "released_at": ts(&o.released_at),
        "updated_at": ts(&o.updated_at),
        "state": state,
        "customer_email": o.email,
        "shipping_address": address,
        "invoice_address": address,
        "currency_code": "EUR",
        "settlement_currency_code": "EUR",
        "total_charged": sum(&o.items, |i| &i.price),
        "total_refunded": sum(&o.items, |i| &i.refunded),
        "items": o.items.iter().map(|i| item_json(o.id, i)).collect::<Vec<_>>(),
    })
}

fn time_filter(v: &Value, key: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    match v[key].as_str() {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| rpc_error(code::INVALID_ARGUMENT, &format!("invalid timestamp {s}"))),
    }
}

fn list_orders(sim: &Sim, req: &Value) -> RpcResult {
    let (limit, after) = pagination(req)?;
    let f = &req["filter"]["updated_at"];
    let (ge, gt, le, lt) = (
        time_filter(f, "ge")?,
        time_filter(f, "gt")?,
        time_filter(f, "le")?,
        time_filter(f, "lt")?,
    );
    let ids: Vec<i64> = req["filter"]["id"]["any_of"]
        .as_array()
        .map(|a| a.iter().filter_map(int64).collect())
        .unwrap_or_default();
    let store = sim.store();
    let mut page = Vec::new();
    let mut has_more = false;
    for o in store.orders.iter().filter(|o| {
        after.is_none_or(|a| o.id > a)
            && (ids.is_empty() || ids.contains(&o.id))
            && ge.is_none_or(|t| o.updated_at >= t)
            && gt.is_none_or(|t| o.updated_at > t)
            && le.is_none_or(|t| o.updated_at <= t)
            && lt.is_none_or(|t| o.updated_at < t)
    }) {
        if page.len() == limit {
            has_more = true;
            break;
        }
        page.push(order_json(o));
    }
    Ok(json!({ "orders": page, "has_more": has_more }))
}

fn get_order(sim: &Sim, req: &Value) -> RpcResult {
    let id =
        int64(&req["id"]).ok_or_else(|| rpc_error(code::INVALID_ARGUMENT, "id is required"))?;
    let store = sim.store();
    let o = store
        .orders
        .iter()
        .find(|o| o.id == id)
        .ok_or_else(|| rpc_error(code::NOT_FOUND, &format!("order {id} not found")))?;
    Ok(json!({ "order": order_json(o) }))
}

/// Applies one state update of an order item.
fn apply_state(store: &mut Store, u: &Value) -> Result<Value, (i32, String)> {
    let id = int64(&u["id"]).ok_or((code::INVALID_ARGUMENT, "id is required".to_string()))?;
    let target: &'static str = match u["state"].as_str() {
        Some("ACCEPTED") => "ACCEPTED",
        Some("REJECTED") => "REJECTED",
        Some("CANCELLED") => "CANCELLED",
        Some("SHIPPED") => "SHIPPED",
        Some("RETURNED") => "RETURNED",
        other => {
            return Err((code::INVALID_ARGUMENT, format!("invalid state {other:?}")));
        }
    };
    let (o, i) = store
        .orders
        .iter()
        .enumerate()
        .find_map(|(o, ord)| ord.items.iter().position(|it| it.id == id).map(|i| (o, i)))
        .ok_or((code::NOT_FOUND, format!("order item {id} not found")))?;
    let order = &mut store.orders[o];
    let item = &mut order.items[i];
    let allowed = matches!(
        (item.state, target),
        ("NEW", "ACCEPTED" | "REJECTED" | "CANCELLED")
            | ("ACCEPTED", "SHIPPED" | "CANCELLED")
            | ("SHIPPED", "RETURNED")
    );
    if !allowed {
        return Err((
            code::INVALID_ARGUMENT,
            format!("illegal state transition {} -> {target}", item.state),
        ));
    }
    let url = u["parcel_tracking_url"].as_str().map(str::to_string);
    if target == "SHIPPED" {
        match url.as_deref().or(item.tracking_url.as_deref()) {
            Some(u) if u.starts_with("https://") || u.starts_with("http://") => {}
            Some(_) => {
                return Err((
                    code::INVALID_ARGUMENT,
                    "invalid parcel tracking url is provided".into(),
                ));
            }
            None => {
                return Err((
                    code::INVALID_ARGUMENT,
                    "no parcel tracking url is set when transitioning to SHIPPED state".into(),
                ));
            }
        }
    }
    if let Some(u) = url {
        item.tracking_url = Some(u);
    }
    let ctn = &u["parcel_carrier_tracking_number"];
    if let (Some(c), Some(n)) = (ctn["carrier"].as_str(), ctn["tracking_number"].as_str()) {
        item.carrier = Some((c.to_string(), n.to_string()));
    }
    item.state = target;
    let json = item_json(order.id, item);
    order.updated_at = Utc::now();
    Ok(json)
}

fn update_item_state(sim: &Sim, req: &Value) -> RpcResult {
    let mut store = sim.store();
    apply_state(&mut store, req).map_err(|(c, m)| rpc_error(c, &m))
}

fn batch_update_items_state(sim: &Sim, req: &Value) -> RpcResult {
    let entries = batch(sim, req, "updates")?;
    let mut store = sim.store();
    let results: Vec<Value> = entries
        .iter()
        .map(|u| match apply_state(&mut store, u) {
            Ok(item) => json!({ "status": status_body(0, ""), "order_item": item }),
            Err((c, m)) => json!({ "status": status_body(c, &m) }),
        })
        .collect();
    Ok(json!({ "results": results }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_have_two_decimals_at_most() {
        assert!(valid_amount("123"));
        assert!(valid_amount("123.45"));
        assert!(!valid_amount("123.456"));
        assert!(!valid_amount("12."));
        assert!(!valid_amount("-1"));
        assert_eq!(money(demo::to_units("19.9")), "19.90");
    }

    #[test]
    fn floor_of_the_defaults() {
        let cfg = SimConfig::default();
        assert_eq!(export_floor(100_000, &cfg), Duration::from_secs(99));
        assert_eq!(export_floor(50, &cfg), Duration::ZERO);
        assert_eq!(export_floor(1_001 * 50, &cfg), Duration::from_secs(50));
    }
}

//! A Back Market seller account: the seller web services (`/ws/orders`, `/ws/listings`,
//! `/ws/tasks`) as Back Market's seller API documentation describes them, with
//! `Authorization: Basic <token>`, the mandatory `Accept-Language` header, the documented rate
//! limits (200 requests per 10 s on standard endpoints, 20 per 10 s on catalog endpoints, and a
//! 10 s block of every request once a budget is exceeded), the CSV catalog upload with its
//! asynchronous task and per-line errors, and the marketplace admin contract under `/__admin`.
//!
//! Modelling choices where the public documentation is thin are the same as the connector's
//! (see `marketsync_connectors::backmarket`, section "Assumptions"); in short:
//! - a budget is a fixed 10 s window opened by the first request that finds none open;
//!   the request beyond the quota is answered 429 and blocks *every* request for 10 s
//!   (`Retry-After` tells the seconds left);
//! - a catalog upload holds at most [`SimConfig::max_upload_rows`] rows (default 1,000); its
//!   task is done `task_base_ms + rows × task_us_per_row / 1000` ms after the upload;
//! - listing grades are the `state` codes 0 premium, 1 excellent, 2 very good, 3 good
//!   (`null` when the seller gave none); listing errors come in `errors`.

mod storm;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::demo::{self, DemoParty};
use crate::faults::{Fault, FaultKind, FaultQueue};

/// Configuration of a simulated Back Market seller account.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Credential `api_key` of the connection.
    pub api_key: String,
    /// Credential `api_secret`: the valid token is `base64(api_key:api_secret)`.
    pub api_secret: String,
    /// Credential `seller_id`.
    pub seller_id: String,
    /// Demo products (one listing each).
    pub products: usize,
    /// Demo orders.
    pub orders: usize,
    /// Seed of the demo data.
    pub seed: u64,
    /// Enforce the rate limits (documented values below); off: no 429 but injected ones.
    pub limits: bool,
    /// Requests per window on standard endpoints (orders, tasks): 200.
    pub standard_limit: u32,
    /// Requests per window on catalog endpoints (`/ws/listings…`): 20.
    pub catalog_limit: u32,
    /// Window of both budgets, in milliseconds: 10,000.
    pub window_ms: u64,
    /// How long every request is refused after a budget was exceeded, in ms: 10,000.
    pub block_ms: u64,
    /// Most rows one CSV catalog upload may hold (assumed: 1,000).
    pub max_upload_rows: usize,
    /// Most results per page (`page-size`).
    pub max_page_size: usize,
    /// Fixed processing time of an upload task, in ms.
    pub task_base_ms: u64,
    /// Processing time per row of an upload task, in microseconds.
    pub task_us_per_row: u64,
    /// Currency of the account's marketplace.
    pub currency: String,
    /// Faults active from the start.
    pub faults: Vec<Fault>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            api_key: "bm-demo-key".into(),
            api_secret: "bm-demo-secret".into(),
            seller_id: "4242".into(),
            products: 60,
            orders: 12,
            seed: 42,
            limits: true,
            standard_limit: 200,
            catalog_limit: 20,
            window_ms: 10_000,
            block_ms: 10_000,
            max_upload_rows: 1_000,
            max_page_size: 100,
            task_base_ms: 100,
            task_us_per_row: 400,
            currency: "EUR".into(),
            faults: Vec::new(),
        }
    }
}

impl SimConfig {
    /// The token the account accepts after `Basic `: `base64(api_key:api_secret)`.
    pub fn token(&self) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.api_key, self.api_secret))
    }

    fn task_time(&self, rows: usize) -> Duration {
        Duration::from_micros(self.task_base_ms * 1000 + rows as u64 * self.task_us_per_row)
    }
}

/// The least time the limits of `cfg` allow for exporting stock and price of `offers` offers
/// through the CSV catalog upload:
///
/// ```text
/// uploads = ceil(offers / max_upload_rows)            (100,000 / 1,000 = 100)
/// windows = ceil(uploads / catalog_limit)             (100 / 20 = 5)
/// floor   = (windows - 1) × window                    (4 × 10 s = 40 s: the last burst)
///         + task time of the last upload              (0.1 s + 1,000 × 0.4 ms = 0.5 s)
/// ```
///
/// Task polls go to the standard budget (200 per window), which these uploads never fill.
/// With the limits off, every upload can go at once: the floor is one task's time.
pub fn export_floor(offers: usize, cfg: &SimConfig) -> Duration {
    if offers == 0 {
        return Duration::ZERO;
    }
    let rows = cfg.max_upload_rows.max(1);
    let uploads = offers.div_ceil(rows);
    let last_rows = offers - (uploads - 1) * rows;
    let task = cfg.task_time(last_rows);
    if !cfg.limits {
        return task;
    }
    let windows = uploads.div_ceil(cfg.catalog_limit.max(1) as usize);
    Duration::from_millis(cfg.window_ms) * (windows as u32 - 1) + task
}

/// Marks this platform's [`crate::server::Running`].
#[derive(Debug)]
pub struct Platform;

/// A running simulator; stops when `stop` is called or when dropped.
pub type RunningSimulator = crate::server::Running<Platform>;

/// Starts a simulated account on `addr` (port 0: any free port) in a tokio task.
pub async fn start(addr: SocketAddr, config: SimConfig) -> std::io::Result<RunningSimulator> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let sim = Arc::new(Sim::new(config));
    crate::storm::init(&*sim);
    let server = crate::server::Server::serve(listener, router(sim), "backmarket");
    Ok(crate::server::Running::new(addr, server))
}

/// Grade codes of the listing `state` field, best first (index = code).
const GRADE_CODES: [&str; 4] = demo::GRADES;

#[derive(Debug, Clone)]
struct Listing {
    id: i64,
    sku: String,
    title: String,
    product_id: String,
    price: String,
    quantity: i64,
    grade: Option<u8>,
    errors: Vec<(String, String, String)>,
    updates: u64,
    modified: DateTime<Utc>,
}

impl Listing {
    fn publication_state(&self) -> u8 {
        if !self.errors.is_empty() {
            4
        } else if self.quantity > 0 {
            2
        } else {
            3
        }
    }

    fn json(&self, currency: &str) -> Value {
        json!({
            "id": self.id,
            "listing_id": self.id,
            "sku": self.sku,
            "title": self.title,
            "product_id": self.product_id,
            "quantity": self.quantity,
            "price": self.price,
            "currency": currency,
            "state": self.grade,
            "publication_state": self.publication_state(),
            "warranty_delay": 12,
            "errors": self.errors.iter().map(|(c, m, f)| json!({"code": c, "message": m, "field": f})).collect::<Vec<_>>(),
            "date_modification": self.modified.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
    }
}

#[derive(Debug, Clone)]
struct Line {
    id: i64,
    sku: String,
    listing_id: i64,
    title: String,
    quantity: i64,
    price: String,
    state: u8,
}

#[derive(Debug, Clone)]
struct Order {
    id: i64,
    state: u8,
    created: DateTime<Utc>,
    modified: DateTime<Utc>,
    buyer: DemoParty,
    shipping: DemoParty,
    lines: Vec<Line>,
    shipments: Vec<(String, String, String)>,
}

fn address(p: &DemoParty) -> Value {
    json!({
        "first_name": p.first_name, "last_name": p.last_name, "company": p.company,
        "street": p.street, "city": p.city, "postal_code": p.zip, "country": p.country_iso2,
        "phone": p.phone, "email": p.email,
    })
}

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Order {
    fn json(&self, currency: &str) -> Value {
        let total: i64 = self
            .lines
            .iter()
            .map(|l| demo::to_units(&l.price) * l.quantity)
            .sum();
        let last = self.shipments.last();
        json!({
            "order_id": self.id,
            "state": self.state,
            "date_creation": ts(&self.created),
            "date_modification": ts(&self.modified),
            "currency": currency,
            "price": money(total),
            "shipping_price": "0.00",
            "shipping_address": address(&self.shipping),
            "billing_address": address(&self.buyer),
            "shipper": last.map(|s| s.0.as_str()).unwrap_or(""),
            "tracking_number": last.map(|s| s.1.as_str()).unwrap_or(""),
            "tracking_url": last.map(|s| s.2.as_str()).unwrap_or(""),
            "orderlines": self.lines.iter().map(|l| json!({
                "id": l.id, "listing": l.sku, "listing_id": l.listing_id, "product": l.title,
                "quantity": l.quantity, "price": l.price, "state": l.state,
            })).collect::<Vec<_>>(),
        })
    }
}

/// Money text with two decimals from demo units (1/10,000).
fn money(units: i64) -> String {
    let cents = (units + 50) / 100;
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[derive(Debug, Clone)]
struct Task {
    id: i64,
    rows: usize,
    ready_at: Instant,
    errors: Vec<(usize, String, String)>,
}

#[derive(Debug, Default)]
struct Account {
    listings: Vec<Listing>,
    by_sku: BTreeMap<String, usize>,
    orders: BTreeMap<i64, Order>,
    tasks: BTreeMap<i64, Task>,
    next_order: i64,
    next_line: i64,
    next_task: i64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Window {
    opened: Option<Instant>,
    used: u32,
}

#[derive(Debug, Default)]
struct Limits {
    standard: Window,
    catalog: Window,
    blocked_until: Option<Instant>,
}

#[derive(Debug, Default)]
struct Stats {
    requests: u64,
    rate_limited: u64,
    unauthorized: u64,
    faults_injected: u64,
    by_path: BTreeMap<String, u64>,
    uploads: u64,
    upload_rows: u64,
    max_upload_rows: u64,
    catalog_requests: u64,
    standard_requests: u64,
}

struct Sim {
    config: SimConfig,
    account: Mutex<Account>,
    limits: Mutex<Limits>,
    stats: Mutex<Stats>,
    faults: FaultQueue,
    revoked: AtomicBool,
    /// Changes of sellable quantities (`/__admin/quantity-log`).
    storm_log: crate::storm::QuantityLog,
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a handler panicked mid-request; the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sim {
    fn new(config: SimConfig) -> Self {
        let catalog = demo::catalog(config.seed, config.products);
        let offers = demo::offers(config.seed, &catalog);
        let mut account = Account {
            next_order: 100_001,
            next_line: 500_001,
            next_task: 9_001,
            ..Account::default()
        };
        for (i, o) in offers.iter().enumerate() {
            let p = &catalog[o.product];
            account.by_sku.insert(o.sku.clone(), i);
            account.listings.push(Listing {
                id: 3_000_001 + i as i64,
                sku: o.sku.clone(),
                title: p.name.clone(),
                product_id: format!("bm-{:08x}", 0x5eed_0000u64 + i as u64),
                price: o.price.clone(),
                quantity: o.quantity,
                grade: GRADE_CODES
                    .iter()
                    .position(|g| *g == o.grade)
                    .map(|i| i as u8),
                errors: o.listing_error.iter().cloned().collect(),
                updates: 0,
                modified: p.modified_at,
            });
        }
        for d in demo::orders(config.seed, &catalog, config.orders) {
            let (state, line_state) = match d.status.as_str() {
                "pending" => (1, 1),
                "shipped" | "completed" => (9, 3),
                "cancelled" => (8, 4),
                _ => (3, 2),
            };
            let id = account.next_order;
            account.next_order += 1;
            let lines = d
                .lines
                .iter()
                .map(|l| {
                    let sku = catalog[l.product].sku.clone();
                    let listing_id = account
                        .by_sku
                        .get(&sku)
                        .map_or(0, |&i| account.listings[i].id);
                    account.next_line += 1;
                    Line {
                        id: account.next_line,
                        sku,
                        listing_id,
                        title: l.name.clone(),
                        quantity: l.quantity,
                        price: money(demo::to_units(&l.unit_price)),
                        state: line_state,
                    }
                })
                .collect();
            let shipments = if state == 9 {
                vec![(
                    "COLISSIMO".to_string(),
                    format!("6A{id}"),
                    format!("https://www.laposte.fr/outils/suivre-vos-envois?code=6A{id}"),
                )]
            } else {
                Vec::new()
            };
            account.orders.insert(
                id,
                Order {
                    id,
                    state,
                    created: d.created_at,
                    modified: d.created_at,
                    buyer: d.buyer,
                    shipping: d.shipping,
                    lines,
                    shipments,
                },
            );
        }
        Self {
            account: Mutex::new(account),
            limits: Mutex::new(Limits::default()),
            stats: Mutex::new(Stats::default()),
            faults: FaultQueue::new(config.faults.clone()),
            revoked: AtomicBool::new(false),
            storm_log: crate::storm::QuantityLog::default(),
            config,
        }
    }

    /// Spends one request of a budget; `Err(wait)` when refused (over quota or blocked).
    fn admit(&self, catalog: bool) -> Result<(), Duration> {
        if !self.config.limits {
            return Ok(());
        }
        let now = Instant::now();
        let window = Duration::from_millis(self.config.window_ms);
        let mut l = relock(&self.limits);
        if let Some(until) = l.blocked_until {
            if now < until {
                return Err(until - now);
            }
            l.blocked_until = None;
        }
        let quota = if catalog {
            self.config.catalog_limit
        } else {
            self.config.standard_limit
        };
        let w = if catalog {
            &mut l.catalog
        } else {
            &mut l.standard
        };
        if w.opened.is_none_or(|o| now.duration_since(o) >= window) {
            *w = Window {
                opened: Some(now),
                used: 0,
            };
        }
        if w.used >= quota {
            let block = Duration::from_millis(self.config.block_ms);
            l.blocked_until = Some(now + block);
            l.standard = Window::default();
            l.catalog = Window::default();
            return Err(block);
        }
        w.used += 1;
        Ok(())
    }
}

type Shared = Arc<Sim>;

fn router(sim: Shared) -> Router {
    let api = Router::new()
        .route("/ws/orders", get(list_orders))
        .route("/ws/orders/{id}", get(get_order).post(update_order))
        .route("/ws/listings", get(list_listings).post(upload_catalog))
        .route("/ws/listings/{id}", get(get_listing).post(update_listing))
        .route("/ws/tasks/{id}", get(get_task))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not-found", "Not found.") })
        .layer(middleware::from_fn_with_state(sim.clone(), guard));
    let admin = Router::new()
        .route("/offers/{sku}", get(admin_offer).put(admin_set_offer))
        .route("/orders", post(admin_new_order))
        .route("/orders/{id}", get(admin_order))
        .route("/orders/{id}/cancel", post(admin_cancel))
        .route("/orders/{id}/refund", post(admin_refund))
        .route("/stats", get(admin_stats))
        .route("/stats/reset", post(admin_reset))
        .route("/faults", post(admin_fault).delete(admin_clear_faults))
        .route("/revoke-token", post(admin_revoke))
        .route("/restore-token", post(admin_restore))
        .merge(crate::storm::routes(sim.clone()));
    let app = Router::new()
        .nest("/__admin", admin)
        .merge(api)
        .with_state(sim.clone());
    crate::storm::layer(app, sim)
}

/// A Back Market error: `{"code", "message"}` (assumed shape).
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({"code": code, "message": message}))).into_response()
}

fn too_many(wait: Duration) -> Response {
    let mut resp = error(
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-requests",
        "Rate limit exceeded: requests are refused for 10 seconds.",
    );
    let secs = wait.as_millis().div_ceil(1000).max(1) as u64;
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// Statistics, injected faults, rate limits, auth and mandatory headers around every call.
async fn guard(State(sim): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let catalog = path.starts_with("/ws/listings");
    {
        let mut s = relock(&sim.stats);
        s.requests += 1;
        if catalog {
            s.catalog_requests += 1;
        } else {
            s.standard_requests += 1;
        }
        *s.by_path
            .entry(format!("{} {path}", req.method()))
            .or_default() += 1;
    }
    if let Err(wait) = sim.admit(catalog) {
        relock(&sim.stats).rate_limited += 1;
        return too_many(wait);
    }
    let expected = format!("Basic {}", sim.config.token());
    let auth_ok = !sim.revoked.load(Ordering::SeqCst)
        && req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == expected);
    if !auth_ok {
        relock(&sim.stats).unauthorized += 1;
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid-token",
            "Invalid or missing token in the Authorization header.",
        );
    }
    if req.headers().get(header::ACCEPT_LANGUAGE).is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "missing-accept-language",
            "The Accept-Language header is mandatory (e.g. fr-fr).",
        );
    }
    let ua_ok = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("BM-"));
    if !ua_ok {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid-user-agent",
            "The User-Agent must name the integration: BM-<company>-<integration>;<contact>.",
        );
    }
    let fault = sim.faults.take(&path);
    if fault.is_some() {
        relock(&sim.stats).faults_injected += 1;
    }
    match fault {
        None => next.run(req).await,
        Some(f) => match f.kind {
            FaultKind::Status => {
                let status =
                    StatusCode::from_u16(f.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                error(
                    status,
                    "server-error",
                    status.canonical_reason().unwrap_or("Injected failure"),
                )
            }
            FaultKind::Malformed => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"count\": 3, \"results\": [{\"order_id\": 1, \"sta",
            )
                .into_response(),
            FaultKind::RateLimit => {
                relock(&sim.stats).rate_limited += 1;
                too_many(Duration::from_millis(f.reset_ms))
            }
            FaultKind::Timeout => {
                tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
                next.run(req).await
            }
        },
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    page: Option<usize>,
    #[serde(rename = "page-size")]
    page_size: Option<usize>,
    date_modification: Option<String>,
    state: Option<u8>,
    sku: Option<String>,
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
                .ok()
                .map(|t| t.and_utc())
        })
}

fn page_of<T: Clone>(
    sim: &Sim,
    items: Vec<T>,
    q: &ListQuery,
    path: &str,
    render: impl Fn(&T) -> Value,
) -> Response {
    let size = q.page_size.unwrap_or(10).clamp(1, sim.config.max_page_size);
    let page = q.page.unwrap_or(1).max(1);
    let count = items.len();
    let start = (page - 1).saturating_mul(size);
    let results: Vec<Value> = items.iter().skip(start).take(size).map(render).collect();
    let link = |p: usize| format!("https://www.backmarket.fr{path}?page={p}&page-size={size}");
    Json(json!({
        "count": count,
        "next": (start + size < count).then(|| link(page + 1)),
        "previous": (page > 1).then(|| link(page - 1)),
        "results": results,
    }))
    .into_response()
}

async fn list_orders(State(sim): State<Shared>, Query(q): Query<ListQuery>) -> Response {
    let since = match q.date_modification.as_deref().map(parse_time) {
        Some(None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid-date",
                "date_modification must be YYYY-MM-DD HH:MM:SS.",
            );
        }
        Some(t) => t,
        None => None,
    };
    let acc = relock(&sim.account);
    let mut orders: Vec<Order> = acc
        .orders
        .values()
        .filter(|o| since.is_none_or(|s| o.modified >= s))
        .filter(|o| q.state.is_none_or(|s| o.state == s))
        .cloned()
        .collect();
    orders.sort_by_key(|o| (o.modified, o.id));
    let cur = sim.config.currency.clone();
    page_of(&sim, orders, &q, "/ws/orders", |o| o.json(&cur))
}

async fn get_order(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    let acc = relock(&sim.account);
    match id.parse::<i64>().ok().and_then(|id| acc.orders.get(&id)) {
        Some(o) => Json(o.json(&sim.config.currency)).into_response(),
        None => error(StatusCode::NOT_FOUND, "not-found", "Order not found."),
    }
}

#[derive(Debug, Deserialize)]
struct OrderChange {
    new_state: Option<u8>,
    sku: Option<String>,
    tracking_number: Option<String>,
    shipper: Option<String>,
    tracking_url: Option<String>,
}

async fn update_order(
    State(sim): State<Shared>,
    Path(id): Path<String>,
    body: Option<Json<OrderChange>>,
) -> Response {
    let Some(Json(change)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid-body",
            "A JSON body is required.",
        );
    };
    let mut acc = relock(&sim.account);
    let Some(order) = id
        .parse::<i64>()
        .ok()
        .and_then(|id| acc.orders.get_mut(&id))
    else {
        return error(StatusCode::NOT_FOUND, "not-found", "Order not found.");
    };
    match change.new_state {
        Some(2) => {
            let Some(sku) = change.sku.as_deref() else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "missing-sku",
                    "new_state 2 validates one orderline: `sku` is required.",
                );
            };
            let Some(line) = order.lines.iter_mut().find(|l| l.sku == sku) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "unknown-sku",
                    "No orderline has this sku.",
                );
            };
            if line.state != 1 {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid-state",
                    "The orderline is not pending validation.",
                );
            }
            line.state = 2;
            if order.lines.iter().all(|l| l.state == 2) {
                order.state = 3;
            }
        }
        Some(3) => {
            let tracking = change.tracking_number.unwrap_or_default();
            let shipper = change.shipper.unwrap_or_default();
            if tracking.trim().is_empty() || shipper.trim().is_empty() {
                return error(
                    StatusCode::BAD_REQUEST,
                    "missing-tracking",
                    "new_state 3 needs `tracking_number` and `shipper`.",
                );
            }
            if order.state != 3 {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid-state",
                    "Only accepted orders (state 3) can be shipped.",
                );
            }
            let mut shipped = 0;
            for l in order.lines.iter_mut() {
                if l.state == 2 && change.sku.as_deref().is_none_or(|s| s == l.sku) {
                    l.state = 3;
                    shipped += 1;
                }
            }
            if shipped == 0 {
                return error(StatusCode::BAD_REQUEST, "invalid-state", "Nothing to ship.");
            }
            order
                .shipments
                .push((shipper, tracking, change.tracking_url.unwrap_or_default()));
            if order.lines.iter().all(|l| l.state >= 3) {
                order.state = 9;
            }
        }
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid-state",
                "new_state must be 2 (validate an orderline) or 3 (ship).",
            );
        }
    }
    order.modified = Utc::now();
    Json(order.json(&sim.config.currency)).into_response()
}

async fn list_listings(State(sim): State<Shared>, Query(q): Query<ListQuery>) -> Response {
    let acc = relock(&sim.account);
    let items: Vec<Listing> = acc
        .listings
        .iter()
        .filter(|l| q.sku.as_deref().is_none_or(|s| s == l.sku))
        .cloned()
        .collect();
    let cur = sim.config.currency.clone();
    page_of(&sim, items, &q, "/ws/listings", |l| l.json(&cur))
}

fn find_listing(acc: &Account, id: &str) -> Option<usize> {
    let id: i64 = id.parse().ok()?;
    acc.listings.iter().position(|l| l.id == id)
}

async fn get_listing(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    let acc = relock(&sim.account);
    match find_listing(&acc, &id) {
        Some(i) => Json(acc.listings[i].json(&sim.config.currency)).into_response(),
        None => error(StatusCode::NOT_FOUND, "not-found", "Listing not found."),
    }
}

fn valid_price(text: &str) -> bool {
    let t = text.trim();
    !t.is_empty()
        && t.chars().all(|c| c.is_ascii_digit() || c == '.')
        && t.matches('.').count() <= 1
        && t.split('.').nth(1).is_none_or(|d| d.len() <= 2)
        && t.parse::<f64>().is_ok_and(|p| p > 0.0)
}

#[derive(Debug, Deserialize)]
struct ListingChange {
    quantity: Option<Value>,
    price: Option<Value>,
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn update_listing(
    State(sim): State<Shared>,
    Path(id): Path<String>,
    body: Option<Json<ListingChange>>,
) -> Response {
    let Some(Json(change)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid-body",
            "A JSON body is required.",
        );
    };
    let mut acc = relock(&sim.account);
    let Some(i) = find_listing(&acc, &id) else {
        return error(StatusCode::NOT_FOUND, "not-found", "Listing not found.");
    };
    let quantity = match change.quantity.as_ref().map(|q| as_text(q).parse::<i64>()) {
        Some(Ok(q)) if q >= 0 => Some(q),
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid-quantity",
                "quantity must be an integer >= 0.",
            );
        }
        None => None,
    };
    let price = match change.price.as_ref().map(as_text) {
        Some(p) if valid_price(&p) => Some(p),
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid-price",
                "price must be a positive amount with at most 2 decimals.",
            );
        }
        None => None,
    };
    let priced = price.is_some();
    let l = &mut acc.listings[i];
    if let Some(q) = quantity {
        l.quantity = q;
    }
    if let Some(p) = price {
        l.price = p;
    }
    if quantity.is_some() || priced {
        l.updates += 1;
    }
    l.modified = Utc::now();
    Json(l.json(&sim.config.currency)).into_response()
}

#[derive(Debug, Deserialize)]
struct Upload {
    catalog: Option<String>,
    quotechar: Option<String>,
    delimiter: Option<String>,
    encoding: Option<String>,
}

/// Splits CSV `text` into records of fields (quoted fields may hold delimiters, doubled quotes
/// and newlines).
fn parse_csv(text: &str, delim: char, quote: char) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == quote {
                if chars.peek() == Some(&quote) {
                    field.push(quote);
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
        } else if c == quote {
            quoted = true;
        } else if c == delim {
            row.push(std::mem::take(&mut field));
        } else if c == '\n' || c == '\r' {
            if c == '\r' && chars.peek() == Some(&'\n') {
                chars.next();
            }
            row.push(std::mem::take(&mut field));
            rows.push(std::mem::take(&mut row));
        } else {
            field.push(c);
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows.retain(|r| !(r.len() == 1 && r[0].trim().is_empty()));
    rows
}

fn one_char(v: Option<&str>, default: char) -> Option<char> {
    match v {
        None => Some(default),
        Some(s) => {
            let mut it = s.chars();
            let c = it.next()?;
            it.next().is_none().then_some(c)
        }
    }
}

async fn upload_catalog(State(sim): State<Shared>, body: Option<Json<Upload>>) -> Response {
    let Some(Json(up)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid-body",
            "A JSON body is required.",
        );
    };
    let Some(catalog) = up.catalog.filter(|c| !c.trim().is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "missing-catalog",
            "`catalog` (CSV text) is required.",
        );
    };
    let (Some(delim), Some(quote)) = (
        one_char(up.delimiter.as_deref(), ';'),
        one_char(up.quotechar.as_deref(), '"'),
    ) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid-csv-options",
            "delimiter and quotechar are single characters.",
        );
    };
    if up
        .encoding
        .as_deref()
        .is_some_and(|e| !e.eq_ignore_ascii_case("utf-8") && !e.eq_ignore_ascii_case("utf8"))
    {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid-encoding",
            "Only utf-8 catalogs are accepted.",
        );
    }
    let rows = parse_csv(&catalog, delim, quote);
    let Some((head, body)) = rows.split_first() else {
        return error(
            StatusCode::BAD_REQUEST,
            "missing-catalog",
            "The catalog is empty.",
        );
    };
    let col = |name: &str| {
        head.iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let Some(sku_col) = col("sku") else {
        return error(
            StatusCode::BAD_REQUEST,
            "missing-column",
            "The catalog needs a `sku` column.",
        );
    };
    if body.len() > sim.config.max_upload_rows {
        return error(
            StatusCode::BAD_REQUEST,
            "catalog-too-large",
            &format!("At most {} rows per upload.", sim.config.max_upload_rows),
        );
    }
    let (qty_col, price_col) = (col("quantity"), col("price"));
    let mut acc = relock(&sim.account);
    let mut errors = Vec::new();
    let now = Utc::now();
    for (n, row) in body.iter().enumerate() {
        let line = n + 2;
        let get = |c: Option<usize>| {
            c.and_then(|c| row.get(c))
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
        };
        let sku = row.get(sku_col).map(|s| s.trim()).unwrap_or("");
        let Some(&i) = acc.by_sku.get(sku) else {
            errors.push((
                line,
                sku.to_string(),
                "Unknown sku: create the listing in the back office first.".to_string(),
            ));
            continue;
        };
        let quantity = match get(qty_col).map(str::parse::<i64>) {
            Some(Ok(q)) if q >= 0 => Some(q),
            Some(_) => {
                errors.push((
                    line,
                    sku.to_string(),
                    "quantity must be an integer >= 0.".to_string(),
                ));
                continue;
            }
            None => None,
        };
        let price = match get(price_col) {
            Some(p) if valid_price(p) => Some(p.to_string()),
            Some(_) => {
                errors.push((
                    line,
                    sku.to_string(),
                    "price must be a positive amount with at most 2 decimals.".to_string(),
                ));
                continue;
            }
            None => None,
        };
        let l = &mut acc.listings[i];
        if let Some(q) = quantity {
            l.quantity = q;
        }
        if let Some(p) = price {
            l.price = p;
        }
        l.updates += 1;
        l.modified = now;
    }
    let id = acc.next_task;
    acc.next_task += 1;
    acc.tasks.insert(
        id,
        Task {
            id,
            rows: body.len(),
            ready_at: Instant::now() + sim.config.task_time(body.len()),
            errors,
        },
    );
    drop(acc);
    let mut s = relock(&sim.stats);
    s.uploads += 1;
    s.upload_rows += body.len() as u64;
    s.max_upload_rows = s.max_upload_rows.max(body.len() as u64);
    Json(json!({"bodymessage": id, "statuscode": 200})).into_response()
}

async fn get_task(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    let acc = relock(&sim.account);
    let Some(t) = id.parse::<i64>().ok().and_then(|id| acc.tasks.get(&id)) else {
        return error(StatusCode::NOT_FOUND, "not-found", "Task not found.");
    };
    if Instant::now() < t.ready_at {
        return Json(json!({"id": t.id, "status": "pending", "rows": t.rows})).into_response();
    }
    Json(json!({
        "id": t.id,
        "status": "done",
        "rows": t.rows,
        "succeeded": t.rows - t.errors.len(),
        "errors": t.errors.iter().map(|(line, sku, message)| json!({"line": line, "sku": sku, "message": message})).collect::<Vec<_>>(),
    }))
    .into_response()
}

// ---- admin ----

async fn admin_offer(State(sim): State<Shared>, Path(sku): Path<String>) -> Response {
    let acc = relock(&sim.account);
    let Some(&i) = acc.by_sku.get(&sku) else {
        return error(StatusCode::NOT_FOUND, "not-found", "No such offer.");
    };
    let l = &acc.listings[i];
    let mut v = l.json(&sim.config.currency);
    v["updates"] = json!(l.updates);
    Json(v).into_response()
}

#[derive(Debug, Deserialize)]
struct SetOffer {
    quantity: i64,
}

async fn admin_set_offer(
    State(sim): State<Shared>,
    Path(sku): Path<String>,
    Json(body): Json<SetOffer>,
) -> Response {
    let mut acc = relock(&sim.account);
    let Some(&i) = acc.by_sku.get(&sku) else {
        return error(StatusCode::NOT_FOUND, "not-found", "No such offer.");
    };
    let l = &mut acc.listings[i];
    l.quantity = body.quantity;
    l.modified = Utc::now();
    sim.storm_log
        .record(&sku, l.quantity.max(0), crate::storm::Cause::Admin);
    Json(l.json(&sim.config.currency)).into_response()
}

fn admin_order_json(o: &Order, currency: &str) -> Value {
    let mut v = o.json(currency);
    v["id"] = json!(o.id.to_string());
    v["status"] = json!(o.state.to_string());
    v["accepted"] = json!(o.state != 8 && o.lines.iter().all(|l| l.state >= 2 && l.state != 4));
    v["shipments"] = json!(
        o.shipments
            .iter()
            .map(|(c, t, u)| json!({"carrier": c, "tracking_number": t, "tracking_url": u}))
            .collect::<Vec<_>>()
    );
    v
}

async fn admin_order(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    let acc = relock(&sim.account);
    match id.parse::<i64>().ok().and_then(|id| acc.orders.get(&id)) {
        Some(o) => Json(admin_order_json(o, &sim.config.currency)).into_response(),
        None => error(StatusCode::NOT_FOUND, "not-found", "Order not found."),
    }
}

#[derive(Debug, Deserialize)]
struct NewOrder {
    sku: String,
    #[serde(default = "one")]
    quantity: i64,
}

fn one() -> i64 {
    1
}

async fn admin_new_order(State(sim): State<Shared>, Json(body): Json<NewOrder>) -> Response {
    let mut acc = relock(&sim.account);
    let Some(&i) = acc.by_sku.get(&body.sku) else {
        return error(StatusCode::NOT_FOUND, "not-found", "No such offer.");
    };
    // The order takes its units from the offer, atomically: never more than there are.
    let want = body.quantity.max(1);
    let available = acc.listings[i].quantity.max(0);
    if available < want {
        return crate::storm::insufficient(available);
    }
    acc.listings[i].quantity = available - want;
    sim.storm_log
        .record(&body.sku, available - want, crate::storm::Cause::Order);
    let l = acc.listings[i].clone();
    let id = acc.next_order;
    acc.next_order += 1;
    acc.next_line += 1;
    let line = acc.next_line;
    let party = DemoParty {
        first_name: "Camille".into(),
        last_name: "Martin".into(),
        company: String::new(),
        email: "camille.martin@example.com".into(),
        phone: "+33 6 12 34 56 78".into(),
        street: "12 rue de la Paix".into(),
        city: "Paris".into(),
        state: String::new(),
        zip: "75002".into(),
        country: "France".into(),
        country_iso2: "FR".into(),
    };
    let now = Utc::now();
    acc.orders.insert(
        id,
        Order {
            id,
            state: 1,
            created: now,
            modified: now,
            buyer: party.clone(),
            shipping: party,
            lines: vec![Line {
                id: line,
                sku: l.sku.clone(),
                listing_id: l.id,
                title: l.title.clone(),
                quantity: body.quantity.max(1),
                price: money(demo::to_units(&l.price)),
                state: 1,
            }],
            shipments: Vec::new(),
        },
    );
    (StatusCode::CREATED, Json(json!({"id": id.to_string()}))).into_response()
}

async fn admin_cancel(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    let mut acc = relock(&sim.account);
    let Some(o) = id
        .parse::<i64>()
        .ok()
        .and_then(|id| acc.orders.get_mut(&id))
    else {
        return error(StatusCode::NOT_FOUND, "not-found", "Order not found.");
    };
    o.state = 8;
    for l in o.lines.iter_mut() {
        l.state = 4;
    }
    o.modified = Utc::now();
    Json(admin_order_json(o, &sim.config.currency)).into_response()
}

async fn admin_refund(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    let mut acc = relock(&sim.account);
    let Some(o) = id
        .parse::<i64>()
        .ok()
        .and_then(|id| acc.orders.get_mut(&id))
    else {
        return error(StatusCode::NOT_FOUND, "not-found", "Order not found.");
    };
    for l in o.lines.iter_mut() {
        l.state = if l.state == 3 { 6 } else { 5 };
    }
    o.modified = Utc::now();
    Json(admin_order_json(o, &sim.config.currency)).into_response()
}

async fn admin_stats(State(sim): State<Shared>) -> Response {
    let (once, more, never) = {
        let acc = relock(&sim.account);
        let mut c = (0u64, 0u64, 0u64);
        for l in &acc.listings {
            match l.updates {
                0 => c.2 += 1,
                1 => c.0 += 1,
                _ => c.1 += 1,
            }
        }
        c
    };
    let s = relock(&sim.stats);
    Json(json!({
        "requests": s.requests,
        "rate_limited": s.rate_limited,
        "unauthorized": s.unauthorized,
        "faults_injected": s.faults_injected,
        "catalog_requests": s.catalog_requests,
        "standard_requests": s.standard_requests,
        "uploads": s.uploads,
        "upload_rows": s.upload_rows,
        "max_upload_rows": s.max_upload_rows,
        "by_path": s.by_path,
        "offers_applied_once": once,
        "offers_applied_more": more,
        "offers_never": never,
    }))
    .into_response()
}

async fn admin_reset(State(sim): State<Shared>) -> Response {
    *relock(&sim.stats) = Stats::default();
    for l in relock(&sim.account).listings.iter_mut() {
        l.updates = 0;
    }
    Json(json!({"ok": true})).into_response()
}

async fn admin_fault(State(sim): State<Shared>, Json(f): Json<Fault>) -> Response {
    sim.faults.push(f);
    Json(json!({"pending": sim.faults.pending().len()})).into_response()
}

async fn admin_clear_faults(State(sim): State<Shared>) -> Response {
    sim.faults.clear();
    Json(json!({"pending": 0})).into_response()
}

async fn admin_revoke(State(sim): State<Shared>) -> Response {
    sim.revoked.store(true, Ordering::SeqCst);
    Json(json!({"revoked": true})).into_response()
}

async fn admin_restore(State(sim): State<Shared>) -> Response {
    sim.revoked.store(false, Ordering::SeqCst);
    Json(json!({"revoked": false})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quotes_and_newlines() {
        let rows = parse_csv(
            "sku;quantity;price\n\"a;1\";2;3.50\r\n\"b\"\"x\";0;\n",
            ';',
            '"',
        );
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1], vec!["a;1", "2", "3.50"]);
        assert_eq!(rows[2], vec!["b\"x", "0", ""]);
    }

    #[test]
    fn floor_arithmetic() {
        let cfg = SimConfig::default();
        assert_eq!(export_floor(100_000, &cfg), Duration::from_millis(40_500));
        assert_eq!(export_floor(1_000, &cfg), Duration::from_millis(500));
        assert_eq!(export_floor(0, &cfg), Duration::ZERO);
    }

    #[test]
    fn money_rounds_to_cents() {
        assert_eq!(money(demo::to_units("19.999")), "20.00");
        assert_eq!(money(demo::to_units("10")), "10.00");
    }
}

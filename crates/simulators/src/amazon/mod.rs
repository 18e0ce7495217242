//! An Amazon seller account as SP-API serves it: Login with Amazon refresh-token grant
//! (`/auth/o2/token`, access tokens that expire), Orders v0 (getOrders with LastUpdatedAfter
//! and NextToken, getOrderItems, confirmShipment), Listings Items 2021-08-01 (search, get,
//! patch with `mode=VALIDATION_PREVIEW`), FBA inventory summaries, Feeds 2021-06-30 with
//! JSON_LISTINGS_FEED processed asynchronously (25,000 messages at most, a processing report
//! per feed; one seller's feeds are processed one at a time, in creation order: an assumption,
//! Amazon documents no processing times) and pre-signed document URLs (`/__docs/{id}`), and
//! Product Type Definitions for
//! its demo product type (`HOME`, a schema of the simulator's own making in Amazon's style), and
//! Finances v0 listFinancialEvents (`PostedAfter`/`PostedBefore`, `NextToken`) with the refund
//! events that `POST /__admin/orders/{id}/refund` posts (`RefundEventList` only).
//!
//! Every SP-API operation has the documented token bucket (rate and burst, scalable with
//! [`SimConfig::limit_scale`], off with [`SimConfig::limits`]); an empty bucket answers 429
//! with Amazon's error body `{"errors":[{"code","message","details"}]}`; every answer names
//! the rate in `x-amzn-RateLimit-Limit`. `/__admin/` serves the marketplace admin contract.

mod api;
mod storm;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::demo;
use crate::faults::{Fault, FaultKind, FaultQueue};

/// Documented maximum of messages in one JSON_LISTINGS_FEED.
pub const MAX_FEED_MESSAGES: usize = 25_000;

/// Configuration of a simulated seller account.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// LWA client id of the application.
    pub client_id: String,
    /// LWA client secret.
    pub client_secret: String,
    /// The seller's refresh token.
    pub refresh_token: String,
    /// The seller's merchant token (`{sellerId}` of the listings paths).
    pub seller_id: String,
    /// The marketplace served.
    pub marketplace_id: String,
    /// Currency of the marketplace.
    pub currency: String,
    /// Demo listings to seed.
    pub products: usize,
    /// Demo orders to seed.
    pub orders: usize,
    /// Seed of the demo data.
    pub seed: u64,
    /// Enforce the documented usage plans (token buckets).
    pub limits: bool,
    /// Multiplies every documented rate (bursts stay): 1.0 is Amazon's; tests speed up.
    pub limit_scale: f64,
    /// Life of an access token (Amazon: one hour).
    pub token_ttl: Duration,
    /// Fixed part of a feed's processing time.
    pub feed_base: Duration,
    /// Processing time per feed message.
    pub feed_per_message: Duration,
    /// Faults active from the start.
    pub faults: Vec<Fault>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            client_id: "amzn1.application-oa2-client.demo".into(),
            client_secret: "amzn-demo-client-secret".into(),
            refresh_token: "Atzr|amzn-demo-refresh-token".into(),
            seller_id: "A3DEMOSELLER01".into(),
            marketplace_id: "ATVPDKIKX0DER".into(),
            currency: "USD".into(),
            products: 60,
            orders: 12,
            seed: 42,
            limits: true,
            limit_scale: 1.0,
            token_ttl: Duration::from_secs(3600),
            feed_base: Duration::from_secs(2),
            feed_per_message: Duration::from_micros(200),
            faults: Vec::new(),
        }
    }
}

/// (operation, rate per second, burst) of every simulated SP-API operation, as documented.
pub const USAGE_PLANS: [(&str, f64, u32); 14] = [
    ("getOrders", 0.0167, 20),
    ("getOrderItems", 0.5, 30),
    ("confirmShipment", 2.0, 10),
    ("getListingsItem", 5.0, 10),
    ("patchListingsItem", 5.0, 5),
    ("putListingsItem", 5.0, 10),
    ("searchListingsItems", 5.0, 5),
    ("getInventorySummaries", 2.0, 2),
    ("createFeedDocument", 0.5, 15),
    ("createFeed", 0.0083, 15),
    ("getFeed", 2.0, 15),
    ("getFeedDocument", 0.0222, 10),
    ("getDefinitionsProductType", 5.0, 10),
    ("listFinancialEvents", 0.5, 30),
];

fn plan(op: &str) -> (f64, u32) {
    USAGE_PLANS
        .iter()
        .find(|(o, _, _)| *o == op)
        .map_or((1.0, 1), |(_, r, b)| (*r, *b))
}

/// The least time the documented limits allow for exporting stock and price of `offers`
/// offers through JSON_LISTINGS_FEED, with this simulator's processing model (one seller's
/// feeds are processed one at a time in creation order, each taking `feed_base +
/// messages × feed_per_message`):
///
/// `k = ceil(offers / 25,000)` feeds (fewer feeds cannot hold them, more only add
/// `feed_base` each). Feed `i` (0-based) can be created at the earliest at
/// `c_i = max(0, i + 1 − 15) / (0.0083 × scale)` s (createFeed: burst 15, 0.0083/s; its
/// document: burst 15, 0.5/s, never later) and finishes at
/// `f_i = max(c_i, f_(i−1)) + feed_base + messages_i × feed_per_message`; its report can be
/// read at `max(f_i, max(0, i + 1 − 10) / (0.0222 × scale))` (getFeedDocument: burst 10).
/// The floor is the last of those. Uploads and polls are free (getFeed allows 2/s, burst 15).
/// For 100,000 offers with the defaults: 4 × (2 s + 25,000 × 200 µs) = 28 s.
pub fn export_floor(offers: usize, cfg: &SimConfig) -> Duration {
    let k = offers.div_ceil(MAX_FEED_MESSAGES);
    let scale = if cfg.limits {
        cfg.limit_scale.max(1e-9)
    } else {
        f64::INFINITY
    };
    let after_burst = |i: usize, burst: usize, rate: f64| -> f64 {
        ((i + 1).saturating_sub(burst) as f64) / (rate * scale)
    };
    let (mut finished, mut floor) = (0f64, 0f64);
    for i in 0..k {
        let messages = (offers - i * MAX_FEED_MESSAGES).min(MAX_FEED_MESSAGES);
        let created = after_burst(i, 15, 0.0083).max(after_burst(i, 15, 0.5));
        finished = created.max(finished)
            + cfg.feed_base.as_secs_f64()
            + messages as f64 * cfg.feed_per_message.as_secs_f64();
        floor = floor.max(finished.max(after_burst(i, 10, 0.0222)));
    }
    Duration::from_secs_f64(floor)
}

/// One offer of the seller.
#[derive(Debug, Clone)]
pub(crate) struct Listing {
    pub sku: String,
    pub asin: String,
    pub title: String,
    pub description: String,
    pub brand: String,
    pub product_type: String,
    pub price: String,
    pub quantity: i64,
    pub fba: Option<i64>,
    pub lead_time: Option<i32>,
    pub weight: f64,
    pub image: String,
    /// `color`, `material`, `size` (the HOME product type's attributes buyers filter by).
    pub specifics: std::collections::BTreeMap<String, String>,
    pub issues: Vec<(String, String, String)>,
    pub updates: u64,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

/// One line of an order.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub item_id: String,
    pub asin: String,
    pub sku: String,
    pub title: String,
    pub quantity: i64,
    pub shipped: i64,
    pub unit_price: String,
}

/// One order.
#[derive(Debug, Clone)]
pub(crate) struct SimOrder {
    pub id: String,
    pub status: String,
    pub purchased: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub lines: Vec<Line>,
    pub shipments: Vec<(String, String)>,
    pub refunded: bool,
    pub buyer: demo::DemoParty,
}

/// A refund financial event (Finances v0 `RefundEventList`).
#[derive(Debug, Clone)]
pub(crate) struct SimRefund {
    pub order_id: String,
    pub posted: DateTime<Utc>,
    /// (order item id, sku, quantity refunded, amount refunded in ten-thousandths).
    pub items: Vec<(String, String, i64, i64)>,
}

/// A submitted feed.
#[derive(Debug, Clone)]
pub(crate) struct SimFeed {
    pub id: String,
    pub created: DateTime<Utc>,
    pub ready_at: Instant,
    pub status: String,
    pub messages: Option<Vec<Value>>,
    pub fatal: Option<String>,
    pub result_doc: Option<String>,
    pub message_count: usize,
}

/// Everything the account holds.
#[derive(Debug, Default)]
pub(crate) struct Account {
    pub listings: BTreeMap<String, Listing>,
    pub orders: Vec<SimOrder>,
    /// Refund financial events, in posting order.
    pub refunds: Vec<SimRefund>,
    pub feeds: Vec<SimFeed>,
    /// Document id → content (None until uploaded).
    pub documents: HashMap<String, Option<Vec<u8>>>,
    /// Uploaded feed documents, parsed at upload (outside the lock of the API calls).
    pub parsed: HashMap<String, Result<Value, String>>,
    pub next_id: u64,
}

#[derive(Debug, Default)]
struct Stats {
    requests: u64,
    rate_limited: u64,
    unauthorized: u64,
    token_requests: u64,
    by_operation: BTreeMap<String, u64>,
}

/// Shared state of one simulator.
pub(crate) struct Sim {
    pub config: SimConfig,
    pub base: String,
    state: Mutex<Account>,
    faults: FaultQueue,
    stats: Mutex<Stats>,
    buckets: Mutex<HashMap<&'static str, (f64, Instant)>>,
    tokens: Mutex<HashMap<String, Instant>>,
    refresh_revoked: AtomicBool,
    /// Changes of sellable quantities (`/__admin/quantity-log`).
    storm_log: crate::storm::QuantityLog,
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a handler panicked mid-request; the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Shared = Arc<Sim>;

/// Marks this platform's [`crate::server::Running`].
#[derive(Debug)]
pub struct Platform;

/// A running simulator; stops when `stop` is called or when dropped.
pub type RunningSimulator = crate::server::Running<Platform>;

impl RunningSimulator {
    /// `http://<addr>/auth/o2/token`: the value for a connection's `auth_url`.
    pub fn auth_url(&self) -> String {
        format!("{}/auth/o2/token", self.base_url())
    }
}

/// Starts a simulated seller account on `addr` (port 0: any free port) in a tokio task.
pub async fn start(addr: SocketAddr, config: SimConfig) -> std::io::Result<RunningSimulator> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let sim = Arc::new(Sim::new(config, format!("http://{addr}")));
    crate::storm::init(&*sim);
    let server = crate::server::Server::serve(listener, router(sim), "amazon");
    Ok(crate::server::Running::new(addr, server))
}

fn order_status(demo: &str, i: usize) -> &'static str {
    match demo {
        "awaiting_fulfillment" => "Unshipped",
        "pending" if i.is_multiple_of(2) => "Pending",
        "pending" => "PendingAvailability",
        "shipped" if i.is_multiple_of(3) => "InvoiceUnconfirmed",
        "shipped" | "completed" => "Shipped",
        "cancelled" => "Canceled",
        _ => "Unshipped",
    }
}

impl Sim {
    fn new(config: SimConfig, base: String) -> Self {
        let catalog = demo::catalog(config.seed, config.products);
        let offers = demo::offers(config.seed, &catalog);
        let mut state = Account::default();
        for (i, (p, o)) in catalog.iter().zip(&offers).enumerate() {
            state.listings.insert(
                o.sku.clone(),
                Listing {
                    sku: o.sku.clone(),
                    asin: format!("B0{:08}", i + 1),
                    title: p.name.clone(),
                    description: p.description.clone(),
                    brand: p.brand.clone(),
                    product_type: "HOME".into(),
                    price: o.price.clone(),
                    quantity: o.quantity,
                    fba: (i % 5 == 0).then_some(o.quantity / 2 + 3),
                    lead_time: o.lead_time_days,
                    weight: p.weight,
                    image: p.images.first().cloned().unwrap_or_default(),
                    specifics: Default::default(),
                    issues: o.listing_error.clone().into_iter().collect(),
                    updates: 0,
                    created: p.created_at,
                    updated: p.modified_at,
                },
            );
        }
        for (i, o) in demo::orders(config.seed, &catalog, config.orders)
            .into_iter()
            .enumerate()
        {
            let status = order_status(&o.status, i).to_string();
            let id = format!(
                "{:03}-{:07}-{:07}",
                100 + i % 900,
                1_000_000 + i,
                2_000_000 + i * 7
            );
            let lines = o
                .lines
                .iter()
                .enumerate()
                .map(|(j, l)| Line {
                    item_id: format!("{}{:02}", 40_000_000_000u64 + i as u64 * 100, j),
                    asin: format!("B0{:08}", l.product + 1),
                    sku: l.sku.clone(),
                    title: l.name.clone(),
                    quantity: l.quantity,
                    shipped: if matches!(status.as_str(), "Shipped" | "InvoiceUnconfirmed") {
                        l.quantity
                    } else {
                        0
                    },
                    unit_price: l.unit_price.clone(),
                })
                .collect();
            state.orders.push(SimOrder {
                id,
                status,
                purchased: o.created_at,
                updated: o.created_at + chrono::Duration::hours(2),
                lines,
                shipments: Vec::new(),
                refunded: false,
                buyer: o.buyer.clone(),
            });
        }
        Self {
            base,
            state: Mutex::new(state),
            faults: FaultQueue::new(config.faults.clone()),
            stats: Mutex::new(Stats::default()),
            buckets: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            refresh_revoked: AtomicBool::new(false),
            storm_log: crate::storm::QuantityLog::default(),
            config,
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, Account> {
        relock(&self.state)
    }

    /// Spends a token of `op`'s bucket; `Err` when it is empty.
    fn take(&self, op: &'static str) -> Result<(), ()> {
        if !self.config.limits {
            return Ok(());
        }
        let (rate, burst) = plan(op);
        let rate = rate * self.config.limit_scale;
        let now = Instant::now();
        let mut b = relock(&self.buckets);
        let (tokens, last) = b.entry(op).or_insert((f64::from(burst), now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(f64::from(burst));
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(())
        }
    }

    /// Issues an access token.
    fn issue_token(&self) -> String {
        let mut tokens = relock(&self.tokens);
        let token = format!("Atza|sim-{}-{}", tokens.len() + 1, self.config.seed);
        tokens.insert(token.clone(), Instant::now() + self.config.token_ttl);
        token
    }

    /// Whether `token` is valid: `Err(details)` otherwise.
    fn check_token(&self, token: Option<&str>) -> Result<(), &'static str> {
        let Some(token) = token else {
            return Err("The request is missing the x-amz-access-token header.");
        };
        match relock(&self.tokens).get(token) {
            Some(exp) if *exp > Instant::now() => Ok(()),
            Some(_) => Err("The access token you provided has expired."),
            None => Err("The access token you provided is revoked, malformed or invalid."),
        }
    }
}

/// Amazon's error body with `status`.
pub(crate) fn amz_error(status: StatusCode, code: &str, message: &str, details: &str) -> Response {
    (
        status,
        Json(json!({"errors": [{"code": code, "message": message, "details": details}]})),
    )
        .into_response()
}

fn router(sim: Shared) -> Router {
    let apis = api::routes()
        .fallback(|| async {
            amz_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "The requested resource was not found.",
                "",
            )
        })
        .layer(middleware::from_fn_with_state(sim.clone(), guard));
    let app = Router::new()
        .route("/auth/o2/token", post(token))
        .route(
            "/__docs/{id}",
            get(api::download)
                .put(api::upload)
                // Feed documents of 25,000 messages are several megabytes.
                .layer(axum::extract::DefaultBodyLimit::max(256 * 1024 * 1024)),
        )
        .nest(
            "/__admin",
            admin_routes().merge(crate::storm::routes(sim.clone())),
        )
        .merge(apis)
        .with_state(sim.clone());
    crate::storm::layer(app, sim)
}

/// The SP-API operation of a request.
fn operation(method: &Method, path: &str) -> Option<&'static str> {
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    Some(match (method.as_str(), seg.as_slice()) {
        ("GET", ["orders", "v0", "orders"]) => "getOrders",
        ("GET", ["orders", "v0", "orders", _, "orderItems"]) => "getOrderItems",
        ("POST", ["orders", "v0", "orders", _, "shipmentConfirmation"]) => "confirmShipment",
        ("GET", ["listings", "2021-08-01", "items", _]) => "searchListingsItems",
        ("GET", ["listings", "2021-08-01", "items", _, _]) => "getListingsItem",
        ("PATCH", ["listings", "2021-08-01", "items", _, _]) => "patchListingsItem",
        ("PUT", ["listings", "2021-08-01", "items", _, _]) => "putListingsItem",
        ("GET", ["fba", "inventory", "v1", "summaries"]) => "getInventorySummaries",
        ("POST", ["feeds", "2021-06-30", "documents"]) => "createFeedDocument",
        ("POST", ["feeds", "2021-06-30", "feeds"]) => "createFeed",
        ("GET", ["feeds", "2021-06-30", "feeds", _]) => "getFeed",
        ("GET", ["feeds", "2021-06-30", "documents", _]) => "getFeedDocument",
        ("GET", ["definitions", "2020-09-01", "productTypes", _]) => "getDefinitionsProductType",
        ("GET", ["finances", "v0", "financialEvents"]) => "listFinancialEvents",
        _ => return None,
    })
}

/// Auth, usage plans, injected faults and statistics, around every SP-API request.
async fn guard(State(sim): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let op = operation(req.method(), &path);
    {
        let mut stats = relock(&sim.stats);
        stats.requests += 1;
        *stats
            .by_operation
            .entry(op.unwrap_or("unknown").to_string())
            .or_default() += 1;
    }
    let token = req
        .headers()
        .get("x-amz-access-token")
        .and_then(|v| v.to_str().ok());
    if let Err(details) = sim.check_token(token) {
        relock(&sim.stats).unauthorized += 1;
        return amz_error(
            StatusCode::FORBIDDEN,
            "Unauthorized",
            "Access to requested resource is denied.",
            details,
        );
    }
    let rate = op.map(|o| plan(o).0 * sim.config.limit_scale);
    let with_rate = |mut resp: Response| {
        if let Some(r) = rate.filter(|_| sim.config.limits)
            && let Ok(v) = HeaderValue::from_str(&format!("{r}"))
        {
            resp.headers_mut().insert("x-amzn-ratelimit-limit", v);
        }
        resp
    };
    if let Some(op) = op
        && sim.take(op).is_err()
    {
        relock(&sim.stats).rate_limited += 1;
        return with_rate(amz_error(
            StatusCode::TOO_MANY_REQUESTS,
            "QuotaExceeded",
            "You exceeded your quota for the requested resource.",
            "",
        ));
    }
    let resp = match sim.faults.take(&path) {
        Some(f) => match f.kind {
            FaultKind::Status => {
                let status =
                    StatusCode::from_u16(f.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                amz_error(
                    status,
                    "InternalFailure",
                    status.canonical_reason().unwrap_or("Injected failure"),
                    "",
                )
            }
            FaultKind::Malformed => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"payload\": {\"Orders\": [{\"AmazonOrderId\": \"1",
            )
                .into_response(),
            FaultKind::RateLimit => {
                relock(&sim.stats).rate_limited += 1;
                amz_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "QuotaExceeded",
                    "You exceeded your quota for the requested resource.",
                    "",
                )
            }
            FaultKind::Timeout => {
                tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
                next.run(req).await
            }
        },
        None => next.run(req).await,
    };
    with_rate(resp)
}

/// `POST /auth/o2/token`: the LWA refresh-token grant (form body).
async fn token(State(sim): State<Shared>, body: String) -> Response {
    relock(&sim.stats).token_requests += 1;
    let form: HashMap<String, String> = body
        .split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((form_decode(k), form_decode(v)))
        })
        .collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let lwa_error = |status: StatusCode, error: &str, description: &str| {
        (
            status,
            Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    };
    if field("grant_type") != "refresh_token" {
        return lwa_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server",
        );
    }
    if field("client_id") != sim.config.client_id
        || field("client_secret") != sim.config.client_secret
    {
        return lwa_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    }
    if field("refresh_token") != sim.config.refresh_token
        || sim.refresh_revoked.load(Ordering::SeqCst)
    {
        return lwa_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The request has an invalid grant parameter : refresh_token",
        );
    }
    let access = sim.issue_token();
    Json(json!({
        "access_token": access,
        "refresh_token": sim.config.refresh_token,
        "token_type": "bearer",
        "expires_in": sim.config.token_ttl.as_secs().max(1),
    }))
    .into_response()
}

fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn admin_routes() -> Router<Shared> {
    Router::new()
        .route("/offers/{sku}", get(admin_offer).put(admin_set_offer))
        .route("/orders", post(admin_new_order))
        .route("/orders/{id}", get(admin_order))
        .route("/orders/{id}/cancel", post(admin_cancel))
        .route("/orders/{id}/refund", post(admin_refund))
        .route("/stats", get(admin_stats))
        .route("/stats/reset", post(admin_reset))
        .route("/feeds", get(admin_feeds))
        .route("/documents", get(admin_documents))
        .route("/faults", post(admin_fault).delete(admin_clear_faults))
        .route("/revoke-token", post(admin_revoke))
        .route("/restore-token", post(admin_restore))
        .route("/expire-tokens", post(admin_expire))
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"error": "not found"}))).into_response()
}

pub(crate) fn offer_json(l: &Listing) -> Value {
    json!({
        "sku": l.sku, "asin": l.asin, "quantity": l.quantity, "price": l.price,
        "updates": l.updates, "fba_quantity": l.fba, "title": l.title, "brand": l.brand,
        "description": l.description, "product_type": l.product_type, "weight": l.weight,
        "issues": l.issues.iter().map(|(c, m, f)| json!({"code": c, "message": m, "field": f})).collect::<Vec<_>>(),
    })
}

async fn admin_offer(State(sim): State<Shared>, Path(sku): Path<String>) -> Response {
    api::process_due(&sim);
    match sim.state().listings.get(&sku) {
        Some(l) => Json(offer_json(l)).into_response(),
        None => not_found(),
    }
}

async fn admin_set_offer(
    State(sim): State<Shared>,
    Path(sku): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut st = sim.state();
    let Some(l) = st.listings.get_mut(&sku) else {
        return not_found();
    };
    if let Some(q) = body.get("quantity").and_then(Value::as_i64) {
        l.quantity = q;
        sim.storm_log
            .record(&sku, q.max(0), crate::storm::Cause::Admin);
    }
    if let Some(p) = body.get("price").and_then(Value::as_str) {
        l.price = p.to_string();
    }
    l.updated = Utc::now();
    Json(offer_json(l)).into_response()
}

fn order_admin_json(o: &SimOrder) -> Value {
    json!({
        "id": o.id, "status": o.status, "accepted": true, "refunded": o.refunded,
        "last_update": o.updated.to_rfc3339(),
        "shipments": o.shipments.iter().map(|(c, t)| json!({"carrier": c, "tracking_number": t})).collect::<Vec<_>>(),
        "lines": o.lines.iter().map(|l| json!({"sku": l.sku, "quantity": l.quantity, "shipped": l.shipped, "order_item_id": l.item_id})).collect::<Vec<_>>(),
    })
}

async fn admin_order(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    match sim.state().orders.iter().find(|o| o.id == id) {
        Some(o) => Json(order_admin_json(o)).into_response(),
        None => not_found(),
    }
}

async fn admin_new_order(State(sim): State<Shared>, Json(body): Json<Value>) -> Response {
    let sku = body.get("sku").and_then(Value::as_str).unwrap_or_default();
    let quantity = body
        .get("quantity")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(1);
    let mut st = sim.state();
    let Some(l) = st.listings.get_mut(sku) else {
        return not_found();
    };
    // The order takes its units from the listing, atomically: never more than there are.
    let available = l.quantity.max(0);
    if available < quantity {
        return crate::storm::insufficient(available);
    }
    l.quantity = available - quantity;
    l.updated = Utc::now();
    sim.storm_log
        .record(sku, l.quantity, crate::storm::Cause::Order);
    let l = l.clone();
    st.next_id += 1;
    let n = st.next_id;
    let id = format!("902-{:07}-{:07}", 3_000_000 + n, 4_000_000 + n);
    let now = Utc::now();
    st.orders.push(SimOrder {
        id: id.clone(),
        status: "Unshipped".into(),
        purchased: now,
        updated: now,
        lines: vec![Line {
            item_id: format!("{}", 50_000_000_000u64 + n),
            asin: l.asin.clone(),
            sku: l.sku.clone(),
            title: l.title.clone(),
            quantity,
            shipped: 0,
            unit_price: l.price.clone(),
        }],
        shipments: Vec::new(),
        refunded: false,
        buyer: demo::DemoParty {
            first_name: "Sam".into(),
            last_name: "Buyer".into(),
            company: String::new(),
            email: "buyer@marketplace.amazon.com".into(),
            phone: String::new(),
            street: "1 Main St".into(),
            city: "Seattle".into(),
            state: "WA".into(),
            zip: "98101".into(),
            country: "United States".into(),
            country_iso2: "US".into(),
        },
    });
    (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
}

async fn admin_cancel(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    let mut st = sim.state();
    match st.orders.iter_mut().find(|o| o.id == id) {
        Some(o) => {
            o.status = "Canceled".into();
            o.updated = Utc::now();
            Json(order_admin_json(o)).into_response()
        }
        None => not_found(),
    }
}

/// A refund in full: Amazon's Orders API does not show it (the order keeps its status and its
/// LastUpdateDate); it is posted (now) as a refund financial event of every line, which
/// listFinancialEvents serves. Refunding a refunded order again changes nothing.
async fn admin_refund(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    let mut guard = sim.state();
    let st = &mut *guard;
    let Some(o) = st.orders.iter_mut().find(|o| o.id == id) else {
        return not_found();
    };
    if !o.refunded {
        o.refunded = true;
        st.refunds.push(SimRefund {
            order_id: o.id.clone(),
            posted: Utc::now(),
            items: o
                .lines
                .iter()
                .map(|l| {
                    (
                        l.item_id.clone(),
                        l.sku.clone(),
                        l.quantity,
                        demo::to_units(&l.unit_price) * l.quantity,
                    )
                })
                .collect(),
        });
    }
    Json(order_admin_json(o)).into_response()
}

async fn admin_stats(State(sim): State<Shared>) -> Response {
    api::process_due(&sim);
    let st = sim.state();
    let count = |f: &dyn Fn(u64) -> bool| st.listings.values().filter(|l| f(l.updates)).count();
    let s = relock(&sim.stats);
    Json(json!({
        "requests": s.requests,
        "rate_limited": s.rate_limited,
        "unauthorized": s.unauthorized,
        "token_requests": s.token_requests,
        "by_operation": s.by_operation,
        "offers_applied_once": count(&|u| u == 1),
        "offers_applied_more": count(&|u| u > 1),
        "offers_never": count(&|u| u == 0),
        "feeds": st.feeds.len(),
        "faults_pending": sim.faults.pending().len(),
    }))
    .into_response()
}

async fn admin_reset(State(sim): State<Shared>) -> Response {
    *relock(&sim.stats) = Stats::default();
    for l in sim.state().listings.values_mut() {
        l.updates = 0;
    }
    Json(json!({"reset": true})).into_response()
}

async fn admin_feeds(State(sim): State<Shared>) -> Response {
    api::process_due(&sim);
    let st = sim.state();
    Json(json!(
        st.feeds
            .iter()
            .map(|f| json!({"feedId": f.id, "status": f.status, "messages": f.message_count}))
            .collect::<Vec<_>>()
    ))
    .into_response()
}

/// Every feed document uploaded so far (input feeds, not reports), parsed.
async fn admin_documents(State(sim): State<Shared>) -> Response {
    let st = sim.state();
    let mut ids: Vec<&String> = st
        .documents
        .iter()
        .filter(|(id, content)| id.contains(".doc") && content.is_some())
        .map(|(id, _)| id)
        .collect();
    ids.sort();
    let docs: Vec<Value> = ids
        .into_iter()
        .filter_map(|id| st.documents.get(id).cloned().flatten())
        .filter_map(|c| serde_json::from_slice(&c).ok())
        .collect();
    Json(Value::Array(docs)).into_response()
}

async fn admin_fault(State(sim): State<Shared>, Json(fault): Json<Fault>) -> Response {
    sim.faults.push(fault);
    Json(json!({"pending": sim.faults.pending().len()})).into_response()
}

async fn admin_clear_faults(State(sim): State<Shared>) -> Response {
    sim.faults.clear();
    Json(json!({"pending": 0})).into_response()
}

async fn admin_revoke(State(sim): State<Shared>) -> Response {
    sim.refresh_revoked.store(true, Ordering::SeqCst);
    relock(&sim.tokens).clear();
    Json(json!({"revoked": true})).into_response()
}

async fn admin_restore(State(sim): State<Shared>) -> Response {
    sim.refresh_revoked.store(false, Ordering::SeqCst);
    Json(json!({"revoked": false})).into_response()
}

/// Every access token issued so far expires now.
async fn admin_expire(State(sim): State<Shared>) -> Response {
    let now = Instant::now();
    for exp in relock(&sim.tokens).values_mut() {
        *exp = now;
    }
    Json(json!({"expired": true})).into_response()
}

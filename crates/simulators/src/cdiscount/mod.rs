//! A CDiscount seller account on the Octopia seller API v2 (`/seller/v2`), as the connector
//! `marketsync_connectors::cdiscount` uses it, with the OAuth 2 client-credentials token
//! endpoint of Octopia's Keycloak realm (`/auth/realms/maas/protocol/openid-connect/token`).
//!
//! Served:
//! - `POST /auth/realms/maas/protocol/openid-connect/token` (form `grant_type=client_credentials`,
//!   `client_id`, `client_secret`): `{access_token, expires_in, token_type}`; a wrong client is
//!   401 `{"error":"invalid_client","error_description":…}` (Keycloak's shape).
//! - every `/seller/v2/…` call needs `Authorization: Bearer <token>` (401 when missing, unknown
//!   or expired) and `SellerId: <seller id>` (403 when another seller's).
//! - `GET /seller/v2/sellers`: the seller's account.
//! - `GET /seller/v2/offers?salesChannelId&limit (≤ 1000)&cursor&sellerExternalReference&expand=salesChannelFeedback`:
//!   `{items}` and a `Link: <…>; rel="next"` header while more remain.
//! - `GET /seller/v2/orders?pageIndex&pageSize (≤ 100)&updatedAtMin&orderId&sort=updatedAt`:
//!   `{items, pageIndex, pageSize, totalCount}`, oldest update first.
//! - `GET /seller/v2/orders/{orderId}`; `POST /seller/v2/orders/{orderId}/approval-status`
//!   `{"approvalStatus":"Accepted"|"Refused"}` (409 unless `WaitingAcceptance`);
//!   `POST /seller/v2/orders/{orderId}/shipments` `[{parcelNumber, carrierName, trackingUrl,
//!   orderLineIds}]` (409 unless `InPreparation`).
//! - offer integration: `POST /seller/v2/offer-packages` `{packageType, salesChannelId}` → 201
//!   with `Content-Location`; `POST …/offer-packages/{id}/offer-requests` (a JSON array of at most
//!   [`SimConfig::upload_max`] offer requests, a package at most [`SimConfig::package_max`]);
//!   `PATCH …/offer-packages/{id}` `{"state":"Ready"}`; `GET …/offer-packages/{id}` (state
//!   `WaitingForCompletion` → `IntegrationPending` → `Integrated`, after
//!   [`SimConfig::integration_ms`]); `GET …/offer-packages/{id}/offer-requests-results?limit (≤
//!   1000)&cursor` (409 before `Integrated`).
//!
//! Errors are RFC 7807 problem documents `{type, title, status, detail, traceId}`. The rate
//! limit is a token bucket per seller ([`SimConfig::rate_per_sec`], [`SimConfig::burst`]),
//! answered with 429 and `Retry-After` (seconds). The numbers are the connector's documented
//! assumptions (see `marketsync_connectors::cdiscount`, "Assumptions").
//!
//! `/__admin/` (no auth) follows the marketplace simulators' shared contract: offers, orders
//! (new, cancel, refund), stats, faults, plus `revoke-token`, `restore-token`,
//! `expire-tokens` and `packages`.

mod storm;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::demo::{self, DemoParty};
use crate::faults::{Fault, FaultKind, FaultQueue};

/// The sales channel of Cdiscount.fr.
pub const SALES_CHANNEL: &str = "CDISFR";
/// Path of the token endpoint.
pub const TOKEN_PATH: &str = "/auth/realms/maas/protocol/openid-connect/token";

/// How the simulator is seeded and which limits it enforces.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Offers (one per demo product).
    pub products: usize,
    /// Seeded orders.
    pub orders: usize,
    /// Seed of the demo data.
    pub seed: u64,
    /// OAuth client id (the seed's `api_key`).
    pub client_id: String,
    /// OAuth client secret (the seed's `api_token`).
    pub client_secret: String,
    /// Seller id (the seed's `seller_login`), expected in the `SellerId` header.
    pub seller_id: String,
    /// Life of an access token, in seconds.
    pub token_ttl_secs: u64,
    /// Whether the rate limit is enforced.
    pub limits: bool,
    /// Sustained requests per second per seller (assumed).
    pub rate_per_sec: f64,
    /// Requests the bucket holds (assumed).
    pub burst: u32,
    /// Offer requests per package (documented: 40,000).
    pub package_max: usize,
    /// Offer requests per upload call (assumed).
    pub upload_max: usize,
    /// Time a package takes to integrate once Ready (assumed).
    pub integration_ms: u64,
    /// Faults from the start.
    pub faults: Vec<Fault>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            products: 60,
            orders: 12,
            seed: 42,
            client_id: "cdiscount-demo-client".into(),
            client_secret: "cdiscount-demo-secret".into(),
            seller_id: "98979".into(),
            token_ttl_secs: 7200,
            limits: true,
            rate_per_sec: 20.0,
            burst: 20,
            package_max: 40_000,
            upload_max: 1_000,
            integration_ms: 2_000,
            faults: Vec::new(),
        }
    }
}

/// Maximum `limit` of offer and result lists.
pub const LIST_MAX: usize = 1_000;
/// Maximum `pageSize` of order lists.
pub const ORDERS_PAGE_MAX: usize = 100;

/// The least time the limits of `cfg` allow for exporting stock and price of `offers` offers:
///
/// packages `P = ⌈n / package_max⌉`; per package of `s` offers: 1 create + `⌈s / upload_max⌉`
/// uploads + 1 `Ready` + 1 status read + `⌈s / 1000⌉` result pages. The token bucket lets the
/// k-th request go no sooner than `(k − burst) / rate`, so all `R` requests take at least
/// `(R − burst) / rate`. The last package's results cannot be read sooner than
/// `integration_ms` after its `Ready`, which is request number `R_ready` (every create, upload
/// and `Ready`): at least `(R_ready − burst) / rate + integration`. The floor is the larger.
/// Defaults, 100,000 offers: 3 packages (40,000, 40,000, 20,000), R = 3 + 100 + 3 + 3 + 100 =
/// 209, (209 − 20) / 20 = 9.45 s; R_ready = 106, (106 − 20) / 20 + 2 = 6.3 s; floor 9.45 s.
pub fn export_floor(offers: usize, cfg: &SimConfig) -> Duration {
    if offers == 0 {
        return Duration::ZERO;
    }
    let sizes: Vec<usize> = (0..offers.div_ceil(cfg.package_max))
        .map(|i| (offers - i * cfg.package_max).min(cfg.package_max))
        .collect();
    let uploads: usize = sizes.iter().map(|s| s.div_ceil(cfg.upload_max)).sum();
    let results: usize = sizes.iter().map(|s| s.div_ceil(LIST_MAX)).sum();
    let p = sizes.len();
    let total = (p + uploads + p + p + results) as f64;
    let ready = (p + uploads + p) as f64;
    let rate = if cfg.limits {
        cfg.rate_per_sec
    } else {
        f64::INFINITY
    };
    let burst = f64::from(cfg.burst);
    let paced = |r: f64| ((r - burst).max(0.0)) / rate;
    let tail = paced(ready) + cfg.integration_ms as f64 / 1000.0;
    Duration::from_secs_f64(paced(total).max(tail))
}

/// Marks this platform's [`crate::server::Running`].
#[derive(Debug)]
pub struct Platform;

/// A running simulator; stops when `stop` is called or when dropped.
pub type RunningSimulator = crate::server::Running<Platform>;

impl RunningSimulator {
    /// The seller API base (`…/seller/v2`), what `settings.base_url` points at.
    pub fn api_url(&self) -> String {
        format!("{}/seller/v2", self.base_url())
    }

    /// The token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.base_url())
    }
}

/// Starts a simulator on `addr` (port 0: any free port).
pub async fn start(addr: SocketAddr, config: SimConfig) -> std::io::Result<RunningSimulator> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let sim = Arc::new(Sim::new(config));
    crate::storm::init(&*sim);
    let server = crate::server::Server::serve(listener, router(sim), "cdiscount");
    Ok(crate::server::Running::new(addr, server))
}

#[derive(Debug, Clone)]
struct Offer {
    sku: String,
    offer_id: String,
    gtin: String,
    title: String,
    price_cents: i64,
    quantity: i64,
    preparation_time: Option<i32>,
    error: Option<(String, String, String)>,
    updates: u64,
}

#[derive(Debug, Clone)]
struct Line {
    id: String,
    sku: String,
    title: String,
    quantity: i64,
    unit_cents: i64,
}

#[derive(Debug, Clone)]
struct Parcel {
    number: String,
    carrier: String,
    url: String,
    lines: Vec<String>,
}

#[derive(Debug, Clone)]
struct Order {
    id: String,
    status: String,
    accepted: bool,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    buyer: DemoParty,
    shipping: DemoParty,
    lines: Vec<Line>,
    parcels: Vec<Parcel>,
    refunded_cents: i64,
}

impl Order {
    fn total(&self) -> i64 {
        self.lines.iter().map(|l| l.unit_cents * l.quantity).sum()
    }
}

#[derive(Debug)]
struct Package {
    id: String,
    kind: String,
    channel: String,
    state: String,
    requests: Vec<Value>,
    uploads: u32,
    ready_at: Option<Instant>,
    results: Vec<Value>,
    created: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct Stats {
    requests: u64,
    rate_limited: u64,
    unauthorized: u64,
    tokens: u64,
    faults: u64,
}

#[derive(Debug)]
struct Store {
    offers: Vec<Offer>,
    by_sku: HashMap<String, usize>,
    orders: Vec<Order>,
    packages: Vec<Package>,
    next_order: u64,
    tokens: HashMap<String, Instant>,
    token_seq: u64,
    revoked: bool,
    bucket: (f64, Instant),
    stats: Stats,
}

struct Sim {
    cfg: SimConfig,
    store: Mutex<Store>,
    faults: FaultQueue,
    /// Changes of sellable quantities (`/__admin/quantity-log`).
    storm_log: crate::storm::QuantityLog,
}

/// A demo price (decimal text) in cents.
fn cents(text: &str) -> i64 {
    (text.trim().parse::<f64>().unwrap_or(0.0) * 100.0).round() as i64
}

/// Cents as decimal text with two places.
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Sim {
    fn new(cfg: SimConfig) -> Self {
        let catalog = demo::catalog(cfg.seed, cfg.products);
        let offers: Vec<Offer> = demo::offers(cfg.seed, &catalog)
            .into_iter()
            .map(|o| {
                let p = &catalog[o.product];
                Offer {
                    offer_id: format!("{}-{}", SALES_CHANNEL, o.product + 1),
                    gtin: p.gtin.clone(),
                    title: p.name.clone(),
                    price_cents: cents(&o.price),
                    quantity: o.quantity,
                    preparation_time: o.lead_time_days,
                    error: o.listing_error.clone(),
                    updates: 0,
                    sku: o.sku,
                }
            })
            .collect();
        let by_sku = offers
            .iter()
            .enumerate()
            .map(|(i, o)| (o.sku.clone(), i))
            .collect();
        let mut orders = Vec::new();
        for (i, d) in demo::orders(cfg.seed, &catalog, cfg.orders)
            .into_iter()
            .enumerate()
        {
            let status = match d.status.as_str() {
                "pending" => "WaitingAcceptance",
                "awaiting_fulfillment" => "InPreparation",
                "shipped" => "Shipped",
                "completed" => "Delivered",
                _ => "Cancelled",
            };
            let lines = d
                .lines
                .iter()
                .enumerate()
                .map(|(j, l)| Line {
                    id: format!("{}", j + 1),
                    // Offers exist per product: a variant's line names its product's offer.
                    sku: catalog[l.product].sku.clone(),
                    title: l.name.clone(),
                    quantity: l.quantity,
                    unit_cents: cents(&l.unit_price),
                })
                .collect();
            orders.push(Order {
                id: format!("{}{:06}", d.created_at.format("%y%m%d"), i + 1),
                status: status.into(),
                accepted: status != "WaitingAcceptance",
                created: d.created_at,
                updated: d.created_at,
                buyer: d.buyer,
                shipping: d.shipping,
                lines,
                parcels: Vec::new(),
                refunded_cents: 0,
            });
        }
        let next_order = orders.len() as u64 + 1;
        let burst = f64::from(cfg.burst);
        Self {
            faults: FaultQueue::new(cfg.faults.clone()),
            store: Mutex::new(Store {
                offers,
                by_sku,
                orders,
                packages: Vec::new(),
                next_order,
                tokens: HashMap::new(),
                token_seq: 0,
                revoked: false,
                bucket: (burst, Instant::now()),
                stats: Stats::default(),
            }),
            storm_log: crate::storm::QuantityLog::default(),
            cfg,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        let mut s = self.store.lock().unwrap_or_else(|e| e.into_inner());
        if s.settle(&self.cfg) {
            self.log_integrated(&s);
        }
        s
    }
}

impl Store {
    /// Integrates every package whose integration time has passed, in the order they became
    /// Ready.
    fn settle(&mut self, cfg: &SimConfig) -> bool {
        let now = Instant::now();
        let due = Duration::from_millis(cfg.integration_ms);
        let mut ready: Vec<usize> = (0..self.packages.len())
            .filter(|&i| {
                let p = &self.packages[i];
                p.state == "IntegrationPending" && p.ready_at.is_some_and(|t| now >= t + due)
            })
            .collect();
        ready.sort_by_key(|&i| self.packages[i].ready_at);
        let integrated = !ready.is_empty();
        for i in ready {
            let requests = std::mem::take(&mut self.packages[i].requests);
            let kind = self.packages[i].kind.clone();
            let mut seen = std::collections::HashSet::new();
            let mut results = Vec::with_capacity(requests.len());
            for r in &requests {
                results.push(self.apply(&kind, r, &mut seen));
            }
            let p = &mut self.packages[i];
            p.requests = requests;
            p.results = results;
            p.state = "Integrated".into();
        }
        integrated
    }

    fn apply(
        &mut self,
        kind: &str,
        r: &Value,
        seen: &mut std::collections::HashSet<String>,
    ) -> Value {
        let sku = r
            .get("sellerExternalReference")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let reject = |code: &str, message: &str, field: &str| {
            json!({
                "sellerExternalReference": sku,
                "integrationStatus": "Rejected",
                "resultCode": code,
                "errors": [{"code": code, "message": message, "field": field}],
            })
        };
        if sku.is_empty() {
            return reject(
                "MissingSellerExternalReference",
                "sellerExternalReference is required",
                "sellerExternalReference",
            );
        }
        if !seen.insert(sku.clone()) {
            return json!({"sellerExternalReference": sku, "integrationStatus": "Duplicated",
                "resultCode": "Duplicated", "errors": []});
        }
        if kind != "Update" {
            return reject(
                "UnsupportedPackageType",
                "only Update packages are simulated",
                "packageType",
            );
        }
        let Some(&i) = self.by_sku.get(&sku) else {
            return reject(
                "OfferNotFound",
                "no offer with this sellerExternalReference on the sales channel",
                "sellerExternalReference",
            );
        };
        let price = match r.get("price") {
            None | Some(Value::Null) => None,
            Some(p) => match p.get("price").and_then(|v| {
                v.as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            }) {
                Some(v) if v > 0.0 && v.is_finite() => Some((v * 100.0).round() as i64),
                _ => return reject("InvalidPrice", "price must be a positive amount", "price"),
            },
        };
        let quantity = match r.get("quantity") {
            None | Some(Value::Null) => None,
            Some(q) => match q.as_i64() {
                Some(v) if v >= 0 => Some(v),
                _ => {
                    return reject(
                        "InvalidQuantity",
                        "quantity must be a non-negative integer",
                        "quantity",
                    );
                }
            },
        };
        if price.is_none() && quantity.is_none() {
            return reject(
                "NothingToUpdate",
                "an Update offer request needs a field to update",
                "",
            );
        }
        let o = &mut self.offers[i];
        if let Some(p) = price {
            o.price_cents = p;
        }
        if let Some(q) = quantity {
            o.quantity = q;
        }
        o.updates += 1;
        json!({"sellerExternalReference": sku, "integrationStatus": "Integrated",
            "resultCode": "Updated", "errors": []})
    }

    fn order(&mut self, id: &str) -> Option<&mut Order> {
        self.orders.iter_mut().find(|o| o.id == id)
    }
}

fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = json!({
        "type": format!("https://developer.octopia-io.net/errors/{}", status.as_u16()),
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
        "traceId": format!("00-{:016x}-01", rand_id()),
    });
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

fn rand_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0x5eed);
    N.fetch_add(0x9E37_79B9, Ordering::Relaxed)
}

fn too_many(retry_secs: u64) -> Response {
    let mut resp = problem(
        StatusCode::TOO_MANY_REQUESTS,
        "Too Many Requests",
        "Rate limit exceeded, retry later",
    );
    resp.headers_mut()
        .insert("retry-after", HeaderValue::from(retry_secs.max(1)));
    resp
}

fn router(sim: Arc<Sim>) -> Router {
    let api = Router::new()
        .route("/sellers", get(seller))
        .route("/offers", get(list_offers))
        .route("/orders", get(list_orders))
        .route("/orders/{id}", get(one_order))
        .route("/orders/{id}/approval-status", post(approve))
        .route("/orders/{id}/shipments", post(ship))
        .route("/offer-packages", post(create_package))
        .route(
            "/offer-packages/{id}",
            get(package_status).patch(package_patch),
        )
        .route("/offer-packages/{id}/offer-requests", post(upload))
        .route("/offer-packages/{id}/offer-requests-results", get(results))
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
        .route("/expire-tokens", post(admin_expire))
        .route("/packages", get(admin_packages))
        .merge(crate::storm::routes(sim.clone()));
    let app = Router::new()
        .route(TOKEN_PATH, post(token))
        .nest("/seller/v2", api)
        .nest("/__admin", admin)
        .with_state(sim.clone());
    crate::storm::layer(app, sim)
}

/// Faults, bearer token, seller header and the rate limit, in that order.
async fn guard(State(sim): State<Arc<Sim>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    sim.lock().stats.requests += 1;
    if let Some(f) = sim.faults.take(&path) {
        sim.lock().stats.faults += 1;
        match f.kind {
            FaultKind::Status => {
                let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_GATEWAY);
                return problem(status, "Injected fault", "injected by /__admin/faults");
            }
            FaultKind::Timeout => tokio::time::sleep(Duration::from_millis(f.delay_ms)).await,
            FaultKind::Malformed => {
                return (
                    StatusCode::OK,
                    [("content-type", "application/json")],
                    "{\"items\": [",
                )
                    .into_response();
            }
            FaultKind::RateLimit => {
                sim.lock().stats.rate_limited += 1;
                return too_many(f.reset_ms.div_ceil(1000));
            }
        }
    }
    let headers = req.headers();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let seller = headers
        .get("sellerid")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    {
        let mut s = sim.lock();
        let valid = bearer
            .as_deref()
            .and_then(|t| s.tokens.get(t))
            .is_some_and(|exp| *exp > Instant::now());
        if !valid || s.revoked {
            s.stats.unauthorized += 1;
            return problem(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "The access token is missing, invalid or expired",
            );
        }
        if seller.as_deref() != Some(sim.cfg.seller_id.as_str()) {
            return problem(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "The SellerId header does not name a seller this client may act for",
            );
        }
        if sim.cfg.limits {
            let now = Instant::now();
            let (tokens, last) = s.bucket;
            let cap = f64::from(sim.cfg.burst);
            let tokens =
                (tokens + now.duration_since(last).as_secs_f64() * sim.cfg.rate_per_sec).min(cap);
            if tokens < 1.0 {
                s.bucket = (tokens, now);
                s.stats.rate_limited += 1;
                let wait = (1.0 - tokens) / sim.cfg.rate_per_sec;
                return too_many(wait.ceil() as u64);
            }
            s.bucket = (tokens - 1.0, now);
        }
    }
    next.run(req).await
}

async fn token(State(sim): State<Arc<Sim>>, body: String) -> Response {
    let form: BTreeMap<String, String> = body
        .split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((decode(k), decode(v)))
        })
        .collect();
    if let Some(f) = sim.faults.take(TOKEN_PATH)
        && f.kind == FaultKind::Status
    {
        let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_GATEWAY);
        return (status, axum::Json(json!({"error": "server_error"}))).into_response();
    }
    let mut s = sim.lock();
    s.stats.requests += 1;
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "unsupported_grant_type",
                "error_description": "Unsupported grant_type"})),
        )
            .into_response();
    }
    let ok = form.get("client_id") == Some(&sim.cfg.client_id)
        && form.get("client_secret") == Some(&sim.cfg.client_secret)
        && !s.revoked;
    if !ok {
        s.stats.unauthorized += 1;
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client",
                "error_description": "Invalid client or Invalid client credentials"})),
        )
            .into_response();
    }
    s.token_seq += 1;
    s.stats.tokens += 1;
    let token = format!("octopia-sim-{}-{:x}", s.token_seq, rand_id());
    let ttl = sim.cfg.token_ttl_secs;
    s.tokens
        .insert(token.clone(), Instant::now() + Duration::from_secs(ttl));
    axum::Json(json!({
        "access_token": token,
        "expires_in": ttl,
        "refresh_expires_in": 0,
        "token_type": "Bearer",
        "not-before-policy": 0,
        "scope": "profile email",
    }))
    .into_response()
}

fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn seller(State(sim): State<Arc<Sim>>) -> Response {
    axum::Json(json!({
        "sellerId": sim.cfg.seller_id,
        "shopName": "Marketsync demo seller",
        "status": "Active",
        "salesChannels": [{"salesChannelId": SALES_CHANNEL, "status": "Active"}],
    }))
    .into_response()
}

fn offer_json(o: &Offer, feedback: bool) -> Value {
    let mut v = json!({
        "offerId": o.offer_id,
        "sellerExternalReference": o.sku,
        "salesChannelId": SALES_CHANNEL,
        "product": {"gtin": o.gtin, "title": o.title},
        "condition": "New",
        "offerState": if o.error.is_some() { "Inactive" } else { "Active" },
        "facialPrice": {"price": serde_json::Number::from_f64(o.price_cents as f64 / 100.0), "currencyCode": "EUR"},
        "quantity": o.quantity,
        "preparationTime": o.preparation_time,
        "deliveryModes": [{"code": "STD", "cost": 4.99}],
    });
    if feedback {
        let errors: Vec<Value> = o
            .error
            .iter()
            .map(|(c, m, f)| json!({"code": c, "message": m, "field": f, "severity": "Error"}))
            .collect();
        v["salesChannelFeedback"] = json!({
            "status": if errors.is_empty() { "Published" } else { "NotPublished" },
            "errors": errors,
        });
    }
    v
}

fn page_params(
    q: &HashMap<String, String>,
    name: &str,
    max: usize,
    default: usize,
) -> Result<usize, String> {
    match q.get(name) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(format!("{name} must be between 1 and {max}")),
        },
    }
}

fn next_link(path: &str, cursor: usize, limit: usize, extra: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "</seller/v2{path}?cursor={cursor}&limit={limit}{extra}>; rel=\"next\""
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

async fn list_offers(
    State(sim): State<Arc<Sim>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let limit = match page_params(&q, "limit", LIST_MAX, 100) {
        Ok(n) => n,
        Err(m) => return problem(StatusCode::BAD_REQUEST, "Bad Request", &m),
    };
    if q.get("salesChannelId").is_some_and(|c| c != SALES_CHANNEL) {
        return axum::Json(json!({"items": []})).into_response();
    }
    let cursor: usize = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let feedback = q
        .get("expand")
        .is_some_and(|e| e.split(',').any(|x| x == "salesChannelFeedback"));
    let refs: Vec<&str> = q
        .get("sellerExternalReference")
        .map(|s| s.split(',').collect())
        .unwrap_or_default();
    let s = sim.lock();
    let matching: Vec<&Offer> = s
        .offers
        .iter()
        .filter(|o| refs.is_empty() || refs.contains(&o.sku.as_str()))
        .collect();
    let items: Vec<Value> = matching
        .iter()
        .skip(cursor)
        .take(limit)
        .map(|o| offer_json(o, feedback))
        .collect();
    let mut resp = axum::Json(json!({"items": items})).into_response();
    if cursor + limit < matching.len() {
        let extra = if feedback {
            "&expand=salesChannelFeedback"
        } else {
            ""
        };
        resp.headers_mut()
            .insert("link", next_link("/offers", cursor + limit, limit, extra));
    }
    resp
}

fn party(p: &DemoParty) -> Value {
    json!({
        "firstName": p.first_name, "lastName": p.last_name, "companyName": p.company,
        "email": p.email, "phone": p.phone, "addressLine1": p.street, "city": p.city,
        "postalCode": p.zip, "countryCode": "FR",
    })
}

fn order_json(o: &Order) -> Value {
    json!({
        "orderId": o.id,
        "salesChannelId": SALES_CHANNEL,
        "status": o.status,
        "supplyMode": "Seller",
        "createdAt": ts(o.created),
        "updatedAt": ts(o.updated),
        "customer": party(&o.buyer),
        "shippingAddress": party(&o.shipping),
        "currencyCode": "EUR",
        "totalPrice": money(o.total()),
        "refundedAmount": money(o.refunded_cents),
        "lines": o.lines.iter().map(|l| json!({
            "orderLineId": l.id,
            "offer": {"sellerExternalReference": l.sku, "productTitle": l.title},
            "quantity": l.quantity,
            "unitSalesPrice": money(l.unit_cents),
        })).collect::<Vec<_>>(),
        "parcels": o.parcels.iter().map(|p| json!({
            "parcelNumber": p.number, "carrierName": p.carrier, "trackingUrl": p.url,
            "orderLineIds": p.lines,
        })).collect::<Vec<_>>(),
    })
}

async fn list_orders(
    State(sim): State<Arc<Sim>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let size = match page_params(&q, "pageSize", ORDERS_PAGE_MAX, 50) {
        Ok(n) => n,
        Err(m) => return problem(StatusCode::BAD_REQUEST, "Bad Request", &m),
    };
    let index: usize = match q.get("pageIndex").map(|v| v.parse::<usize>()) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        _ => {
            return problem(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "pageIndex must be 1 or more",
            );
        }
    };
    let parse = |name: &str| -> Result<Option<DateTime<Utc>>, String> {
        match q.get(name) {
            None => Ok(None),
            Some(v) => DateTime::parse_from_rfc3339(v)
                .map(|d| Some(d.with_timezone(&Utc)))
                .map_err(|_| format!("{name} must be an ISO 8601 date-time")),
        }
    };
    let (min, max) = match (parse("updatedAtMin"), parse("updatedAtMax")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(m), _) | (_, Err(m)) => {
            return problem(StatusCode::BAD_REQUEST, "Bad Request", &m);
        }
    };
    let ids: Vec<&str> = q
        .get("orderId")
        .map(|s| s.split(',').collect())
        .unwrap_or_default();
    let s = sim.lock();
    let mut matching: Vec<&Order> = s
        .orders
        .iter()
        .filter(|o| min.is_none_or(|m| o.updated >= m))
        .filter(|o| max.is_none_or(|m| o.updated < m))
        .filter(|o| ids.is_empty() || ids.contains(&o.id.as_str()))
        .collect();
    matching.sort_by(|a, b| a.updated.cmp(&b.updated).then(a.id.cmp(&b.id)));
    let items: Vec<Value> = matching
        .iter()
        .skip((index - 1) * size)
        .take(size)
        .map(|o| order_json(o))
        .collect();
    axum::Json(json!({
        "items": items, "pageIndex": index, "pageSize": size, "totalCount": matching.len(),
    }))
    .into_response()
}

async fn one_order(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    let mut s = sim.lock();
    match s.order(&id) {
        Some(o) => axum::Json(order_json(o)).into_response(),
        None => problem(StatusCode::NOT_FOUND, "Not Found", "no such order"),
    }
}

async fn approve(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    body: Option<axum::Json<Value>>,
) -> Response {
    let decision = body
        .as_ref()
        .and_then(|b| b.get("approvalStatus").or_else(|| b.get("approval_status")))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if decision != "Accepted" && decision != "Refused" {
        return problem(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "approvalStatus must be Accepted or Refused",
        );
    }
    let mut s = sim.lock();
    let Some(o) = s.order(&id) else {
        return problem(StatusCode::NOT_FOUND, "Not Found", "no such order");
    };
    if o.status != "WaitingAcceptance" {
        return problem(
            StatusCode::CONFLICT,
            "Conflict",
            &format!("the order is {}, not WaitingAcceptance", o.status),
        );
    }
    if decision == "Accepted" {
        o.status = "InPreparation".into();
        o.accepted = true;
    } else {
        o.status = "Refused".into();
    }
    o.updated = Utc::now();
    (
        StatusCode::CREATED,
        axum::Json(json!({"orderId": id, "approvalStatus": decision})),
    )
        .into_response()
}

async fn ship(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    body: Option<axum::Json<Value>>,
) -> Response {
    let Some(axum::Json(Value::Array(parcels))) = body else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "the body must be an array of parcels",
        );
    };
    let mut s = sim.lock();
    let Some(o) = s.order(&id) else {
        return problem(StatusCode::NOT_FOUND, "Not Found", "no such order");
    };
    if o.status != "InPreparation" {
        return problem(
            StatusCode::CONFLICT,
            "Conflict",
            &format!(
                "the order is {}, only InPreparation orders can be shipped",
                o.status
            ),
        );
    }
    let mut new = Vec::new();
    for p in &parcels {
        let text = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let lines: Vec<String> = p
            .get("orderLineIds")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if text("parcelNumber").is_empty() || text("carrierName").is_empty() || lines.is_empty() {
            return problem(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                "each parcel needs parcelNumber, carrierName and orderLineIds",
            );
        }
        if let Some(bad) = lines.iter().find(|l| !o.lines.iter().any(|x| &x.id == *l)) {
            return problem(
                StatusCode::BAD_REQUEST,
                "Bad Request",
                &format!("unknown orderLineId {bad}"),
            );
        }
        new.push(Parcel {
            number: text("parcelNumber"),
            carrier: text("carrierName"),
            url: text("trackingUrl"),
            lines,
        });
    }
    o.parcels.extend(new);
    let shipped: std::collections::HashSet<&String> =
        o.parcels.iter().flat_map(|p| p.lines.iter()).collect();
    if o.lines.iter().all(|l| shipped.contains(&l.id)) {
        o.status = "Shipped".into();
    }
    o.updated = Utc::now();
    (StatusCode::CREATED, axum::Json(json!({"orderId": id}))).into_response()
}

fn package_json(p: &Package) -> Value {
    let count = |st: &str| {
        p.results
            .iter()
            .filter(|r| r["integrationStatus"] == st)
            .count()
    };
    json!({
        "packageId": p.id,
        "packageType": p.kind,
        "salesChannelId": p.channel,
        "state": p.state,
        "offerRequestCount": p.requests.len(),
        "integratedCount": count("Integrated"),
        "rejectedCount": count("Rejected"),
        "duplicatedCount": count("Duplicated"),
        "createdAt": ts(p.created),
    })
}

async fn create_package(State(sim): State<Arc<Sim>>, body: Option<axum::Json<Value>>) -> Response {
    let body = body.map(|b| b.0).unwrap_or(Value::Null);
    let kind = body
        .get("packageType")
        .or_else(|| body.get("PackageType"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if !["Upsert", "Update", "Delete"].contains(&kind) {
        return problem(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "packageType must be Upsert, Update or Delete",
        );
    }
    let channel = body
        .get("salesChannelId")
        .and_then(Value::as_str)
        .unwrap_or(SALES_CHANNEL)
        .to_string();
    let mut s = sim.lock();
    let id = format!("{:08x}-pkg-{}", rand_id() as u32, s.packages.len() + 1);
    let p = Package {
        id: id.clone(),
        kind: kind.into(),
        channel,
        state: "WaitingForCompletion".into(),
        requests: Vec::new(),
        uploads: 0,
        ready_at: None,
        results: Vec::new(),
        created: Utc::now(),
    };
    let body = package_json(&p);
    s.packages.push(p);
    let mut resp = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/seller/v2/offer-packages/{id}")) {
        resp.headers_mut().insert("content-location", v);
    }
    resp
}

async fn upload(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    body: Option<axum::Json<Value>>,
) -> Response {
    let Some(axum::Json(Value::Array(items))) = body else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "the body must be an array of offer requests",
        );
    };
    if items.len() > sim.cfg.upload_max {
        return problem(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            &format!("at most {} offer requests per call", sim.cfg.upload_max),
        );
    }
    let max = sim.cfg.package_max;
    let mut s = sim.lock();
    let Some(p) = s.packages.iter_mut().find(|p| p.id == id) else {
        return problem(StatusCode::NOT_FOUND, "Not Found", "no such package");
    };
    if p.state != "WaitingForCompletion" {
        return problem(
            StatusCode::CONFLICT,
            "Conflict",
            &format!(
                "the package is {}: offer requests can no longer be added",
                p.state
            ),
        );
    }
    if p.requests.len() + items.len() > max {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unprocessable Entity",
            &format!("a package holds at most {max} offer requests"),
        );
    }
    p.uploads += 1;
    let n = items.len();
    p.requests.extend(items);
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({"offerRequestCount": n})),
    )
        .into_response()
}

async fn package_status(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    let s = sim.lock();
    match s.packages.iter().find(|p| p.id == id) {
        Some(p) => axum::Json(package_json(p)).into_response(),
        None => problem(StatusCode::NOT_FOUND, "Not Found", "no such package"),
    }
}

async fn package_patch(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    body: Option<axum::Json<Value>>,
) -> Response {
    let state = body
        .as_ref()
        .and_then(|b| b.get("state").or_else(|| b.get("State")))
        .and_then(Value::as_str)
        .unwrap_or("");
    if state != "Ready" {
        return problem(
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "state may only be set to Ready",
        );
    }
    let mut s = sim.lock();
    let Some(p) = s.packages.iter_mut().find(|p| p.id == id) else {
        return problem(StatusCode::NOT_FOUND, "Not Found", "no such package");
    };
    if p.state == "WaitingForCompletion" {
        if p.requests.is_empty() {
            return problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Unprocessable Entity",
                "an empty package cannot be submitted",
            );
        }
        p.state = "IntegrationPending".into();
        p.ready_at = Some(Instant::now());
    }
    axum::Json(package_json(p)).into_response()
}

async fn results(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let limit = match page_params(&q, "limit", LIST_MAX, 100) {
        Ok(n) => n,
        Err(m) => return problem(StatusCode::BAD_REQUEST, "Bad Request", &m),
    };
    let cursor: usize = q.get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let s = sim.lock();
    let Some(p) = s.packages.iter().find(|p| p.id == id) else {
        return problem(StatusCode::NOT_FOUND, "Not Found", "no such package");
    };
    if p.state != "Integrated" {
        return problem(
            StatusCode::CONFLICT,
            "Conflict",
            &format!("the package is {}: results are not available yet", p.state),
        );
    }
    let items: Vec<&Value> = p.results.iter().skip(cursor).take(limit).collect();
    let mut resp = axum::Json(json!({"items": items})).into_response();
    if cursor + limit < p.results.len() {
        let path = format!("/offer-packages/{id}/offer-requests-results");
        resp.headers_mut()
            .insert("link", next_link(&path, cursor + limit, limit, ""));
    }
    resp
}

// ---- /__admin ----

async fn admin_offer(State(sim): State<Arc<Sim>>, Path(sku): Path<String>) -> Response {
    let s = sim.lock();
    match s.by_sku.get(&sku).map(|&i| &s.offers[i]) {
        Some(o) => axum::Json(json!({
            "sku": o.sku, "quantity": o.quantity, "price": money(o.price_cents),
            "updates": o.updates, "gtin": o.gtin, "preparation_time": o.preparation_time,
            "listing_error": o.error.as_ref().map(|e| e.0.clone()),
        }))
        .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn admin_set_offer(
    State(sim): State<Arc<Sim>>,
    Path(sku): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = sim.lock();
    let Some(&i) = s.by_sku.get(&sku) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(q) = body.get("quantity").and_then(Value::as_i64) {
        s.offers[i].quantity = q;
        sim.storm_log
            .record(&sku, q.max(0), crate::storm::Cause::Admin);
    }
    axum::Json(json!({"sku": sku, "quantity": s.offers[i].quantity})).into_response()
}

fn admin_order_json(o: &Order) -> Value {
    json!({
        "id": o.id, "status": o.status, "accepted": o.accepted,
        "updated_at": ts(o.updated), "refunded": money(o.refunded_cents),
        "shipments": o.parcels.iter().map(|p| json!({
            "carrier": p.carrier, "tracking_number": p.number, "tracking_url": p.url,
            "lines": p.lines,
        })).collect::<Vec<_>>(),
    })
}

async fn admin_order(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    let mut s = sim.lock();
    match s.order(&id) {
        Some(o) => axum::Json(admin_order_json(o)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn admin_new_order(
    State(sim): State<Arc<Sim>>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let sku = body.get("sku").and_then(Value::as_str).unwrap_or("");
    let quantity = body.get("quantity").and_then(Value::as_i64).unwrap_or(1);
    let mut s = sim.lock();
    let Some(&i) = s.by_sku.get(sku) else {
        return (StatusCode::BAD_REQUEST, "unknown sku").into_response();
    };
    // The order takes its units from the offer, atomically: never more than there are.
    let available = s.offers[i].quantity.max(0);
    if available < quantity {
        return crate::storm::insufficient(available);
    }
    s.offers[i].quantity = available - quantity;
    sim.storm_log
        .record(sku, available - quantity, crate::storm::Cause::Order);
    let offer = s.offers[i].clone();
    let now = Utc::now();
    let id = format!("{}N{:05}", now.format("%y%m%d"), s.next_order);
    s.next_order += 1;
    let buyer = DemoParty {
        first_name: "Camille".into(),
        last_name: "Martin".into(),
        company: String::new(),
        email: "camille.martin@example.fr".into(),
        phone: "+33 1 23 45 67 89".into(),
        street: "12 rue de la Paix".into(),
        city: "Paris".into(),
        state: String::new(),
        zip: "75002".into(),
        country: "France".into(),
        country_iso2: "FR".into(),
    };
    s.orders.push(Order {
        id: id.clone(),
        status: "WaitingAcceptance".into(),
        accepted: false,
        created: now,
        updated: now,
        shipping: buyer.clone(),
        buyer,
        lines: vec![Line {
            id: "1".into(),
            sku: offer.sku,
            title: offer.title,
            quantity,
            unit_cents: offer.price_cents,
        }],
        parcels: Vec::new(),
        refunded_cents: 0,
    });
    (StatusCode::CREATED, axum::Json(json!({"id": id}))).into_response()
}

async fn admin_cancel(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    let mut s = sim.lock();
    let Some(o) = s.order(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    o.status = "Cancelled".into();
    o.updated = Utc::now();
    axum::Json(admin_order_json(o)).into_response()
}

async fn admin_refund(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    let mut s = sim.lock();
    let Some(o) = s.order(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    o.refunded_cents = o.total();
    o.updated = Utc::now();
    axum::Json(admin_order_json(o)).into_response()
}

async fn admin_stats(State(sim): State<Arc<Sim>>) -> Response {
    let s = sim.lock();
    let once = s.offers.iter().filter(|o| o.updates == 1).count();
    let more = s.offers.iter().filter(|o| o.updates > 1).count();
    let never = s.offers.iter().filter(|o| o.updates == 0).count();
    axum::Json(json!({
        "requests": s.stats.requests,
        "rate_limited": s.stats.rate_limited,
        "unauthorized": s.stats.unauthorized,
        "tokens_issued": s.stats.tokens,
        "faults_injected": s.stats.faults,
        "offers_applied_once": once,
        "offers_applied_more": more,
        "offers_never": never,
        "packages": s.packages.len(),
    }))
    .into_response()
}

async fn admin_reset(State(sim): State<Arc<Sim>>) -> Response {
    let mut s = sim.lock();
    s.stats = Stats::default();
    for o in &mut s.offers {
        o.updates = 0;
    }
    axum::Json(json!({"reset": true})).into_response()
}

async fn admin_fault(State(sim): State<Arc<Sim>>, axum::Json(f): axum::Json<Fault>) -> Response {
    sim.faults.push(f);
    axum::Json(json!({"pending": sim.faults.pending().len()})).into_response()
}

async fn admin_clear_faults(State(sim): State<Arc<Sim>>) -> Response {
    sim.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn admin_revoke(State(sim): State<Arc<Sim>>) -> Response {
    let mut s = sim.lock();
    s.revoked = true;
    s.tokens.clear();
    axum::Json(json!({"revoked": true})).into_response()
}

async fn admin_restore(State(sim): State<Arc<Sim>>) -> Response {
    sim.lock().revoked = false;
    axum::Json(json!({"revoked": false})).into_response()
}

async fn admin_expire(State(sim): State<Arc<Sim>>) -> Response {
    let mut s = sim.lock();
    let now = Instant::now();
    for exp in s.tokens.values_mut() {
        *exp = now;
    }
    axum::Json(json!({"expired": s.tokens.len()})).into_response()
}

async fn admin_packages(State(sim): State<Arc<Sim>>) -> Response {
    let s = sim.lock();
    let list: Vec<Value> = s
        .packages
        .iter()
        .map(|p| {
            let mut v = package_json(p);
            v["uploads"] = json!(p.uploads);
            v
        })
        .collect();
    axum::Json(json!({"packages": list})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_of_the_default_limits() {
        let f = export_floor(100_000, &SimConfig::default());
        assert!((f.as_secs_f64() - 9.45).abs() < 1e-6, "{f:?}");
        assert_eq!(export_floor(0, &SimConfig::default()), Duration::ZERO);
    }
}

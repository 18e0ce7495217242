//! An eBay seller account behind the Sell APIs: OAuth token endpoint (refresh-token and
//! client-credentials grants, 2-hour access tokens), Inventory API (inventory items, offers,
//! bulkUpdatePriceQuantity and bulkCreateOrReplaceInventoryItem with their 25-request maximum),
//! Fulfillment API (getOrders with `lastmodifieddate` filter and `limit` ≤ 200, shipping
//! fulfillments), Account API (return policies) and Notification API (topics, destinations,
//! subscriptions, public keys; deliveries signed with an ECDSA P-256 key generated from the
//! seed, `X-EBAY-SIGNATURE` as eBay documents it). Errors have eBay's shape
//! `{"errors":[{"errorId","domain","category","message"}]}`.
//!
//! Limits: eBay documents daily call limits per API (Inventory 2,000,000, Fulfillment 100,000,
//! Account 25,000, Notification 10,000). ASSUMPTION (also the connector's): a day's budget is
//! spent no faster than evenly, as a token bucket of `limit / 86,400` calls per second with one
//! minute's worth as a burst; beyond it the simulator answers 429 (errorId 2001).
//!
//! `/__admin/` serves the marketplace admin contract (offers, orders, stats, faults) plus
//! `POST /expire-tokens`, `POST /revoke-token`, `GET /offers` (every sku with its offer id) and
//! `GET /deliveries`.

mod admin;
mod api;
mod storm;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::demo::{self, DemoParty};
use crate::faults::{Fault, FaultKind, FaultQueue};

/// eBay's documented daily call limits, per API family.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DailyCalls {
    /// Sell Inventory API (2,000,000).
    pub inventory: u32,
    /// Sell Fulfillment API (100,000).
    pub fulfillment: u32,
    /// Sell Account API (25,000).
    pub account: u32,
    /// Commerce Notification API (10,000).
    pub notification: u32,
}

impl Default for DailyCalls {
    fn default() -> Self {
        Self {
            inventory: 2_000_000,
            fulfillment: 100_000,
            account: 25_000,
            notification: 10_000,
        }
    }
}

/// Seconds' worth of a daily budget allowed at once (ASSUMPTION, module docs).
pub const BURST_SECONDS: f64 = 60.0;
/// Documented maximum requests per bulk call.
pub const MAX_BULK: usize = 25;
/// Documented maximum `limit` of getOrders and getInventoryItems.
pub const MAX_LIMIT: usize = 200;

/// Configuration of a simulated eBay account.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// App ID.
    pub client_id: String,
    /// Cert ID.
    pub client_secret: String,
    /// The user's refresh token.
    pub refresh_token: String,
    /// Verification token expected of destinations (none: any).
    pub verification_token: Option<String>,
    /// Demo products (one inventory item and one offer each).
    pub products: usize,
    /// Demo orders.
    pub orders: usize,
    /// Seed of the demo data and of the notification signing key.
    pub seed: u64,
    /// Enforce the daily call limits (as token buckets).
    pub limits: bool,
    /// The daily limits enforced.
    pub daily_calls: DailyCalls,
    /// Seconds' worth of a daily budget allowed at once (default [`BURST_SECONDS`]).
    pub burst_secs: f64,
    /// Life of access tokens in seconds (eBay: 7,200).
    pub token_ttl_secs: u64,
    /// Faults active from the start.
    pub faults: Vec<Fault>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            client_id: "ebay-demo-app-id".into(),
            client_secret: "ebay-demo-cert-id".into(),
            refresh_token: "ebay-demo-refresh-token".into(),
            verification_token: None,
            products: 40,
            orders: 12,
            seed: 42,
            limits: true,
            daily_calls: DailyCalls::default(),
            burst_secs: BURST_SECONDS,
            token_ttl_secs: 7200,
            faults: Vec::new(),
        }
    }
}

/// (calls per second, burst) of a daily budget with `burst_secs` seconds' worth at once.
pub fn pace(daily: u32, burst_secs: f64) -> (f64, f64) {
    let rate = f64::from(daily) / 86_400.0;
    (rate, (rate * burst_secs).floor().max(1.0))
}

/// The least time eBay's limits allow to export stock and price of `offers` offers:
/// `calls = ceil(offers / 25)` bulkUpdatePriceQuantity calls; the Inventory API bucket lets
/// `burst` of them go at once and the rest at `rate` per second, so
/// `floor = max(0, calls - burst) / rate`. With the documented 2,000,000 calls/day:
/// rate = 2,000,000 / 86,400 = 23.148/s, burst = floor(60 × 23.148) = 1,388; for 100,000 offers
/// calls = 4,000 and floor = (4,000 − 1,388) / 23.148 = 112.8 s. Without limits: zero.
pub fn export_floor(offers: usize, cfg: &SimConfig) -> Duration {
    if !cfg.limits {
        return Duration::ZERO;
    }
    let calls = offers.div_ceil(MAX_BULK) as f64;
    let (rate, burst) = pace(cfg.daily_calls.inventory, cfg.burst_secs);
    Duration::from_secs_f64(((calls - burst).max(0.0)) / rate)
}

/// Marks this platform's [`crate::server::Running`].
#[derive(Debug)]
pub struct Platform;

/// A running simulator; stops when `stop` is called or when dropped.
pub type RunningSimulator = crate::server::Running<Platform>;

impl RunningSimulator {
    /// Base URL of an API family (`inventory`, `fulfillment`, `account`, `notification`).
    pub fn family_url(&self, family: &str) -> String {
        let path = match family {
            "inventory" => "/sell/inventory/v1",
            "fulfillment" => "/sell/fulfillment/v1",
            "account" => "/sell/account/v1",
            _ => "/commerce/notification/v1",
        };
        format!("{}{path}", self.base_url())
    }
}

/// Starts a simulated eBay account on `addr` (port 0: any free port).
pub async fn start(addr: SocketAddr, config: SimConfig) -> std::io::Result<RunningSimulator> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let sim = Arc::new(Sim::new(config));
    crate::storm::init(&*sim);
    let server = crate::server::Server::serve(listener, router(sim), "ebay");
    Ok(crate::server::Running::new(addr, server))
}

/// An inventory item with its (single) offer.
#[derive(Debug, Clone)]
pub(crate) struct Listing {
    pub sku: String,
    /// The inventory item's `product` object.
    pub product: Value,
    pub condition: String,
    pub package: Option<Value>,
    pub offer_id: String,
    pub price: String,
    pub currency: String,
    pub quantity: i64,
    pub published: bool,
    pub on_hold: bool,
    pub return_policy_id: Option<String>,
    pub category_id: String,
    /// Times stock or price were set through the API.
    pub updates: u64,
}

/// A shipping fulfillment.
#[derive(Debug, Clone)]
pub(crate) struct Fulfillment {
    pub id: String,
    pub carrier: String,
    pub tracking: String,
    pub shipped: DateTime<Utc>,
    pub lines: Vec<(String, i64)>,
}

/// A line item.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub id: String,
    pub sku: String,
    pub title: String,
    pub quantity: i64,
    /// Unit price, ten-thousandths.
    pub unit: i64,
}

/// An order.
#[derive(Debug, Clone)]
pub(crate) struct SimOrder {
    pub id: String,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub lines: Vec<Line>,
    pub paid: bool,
    pub cancelled: bool,
    /// (refund id, amount in ten-thousandths, date).
    pub refunds: Vec<(String, i64, DateTime<Utc>)>,
    pub fulfillments: Vec<Fulfillment>,
    pub buyer: DemoParty,
    pub ship_to: DemoParty,
    pub currency: String,
}

impl SimOrder {
    pub(crate) fn total(&self) -> i64 {
        self.lines.iter().map(|l| l.unit * l.quantity).sum()
    }

    pub(crate) fn shipped(&self, line: &str) -> i64 {
        self.fulfillments
            .iter()
            .flat_map(|f| f.lines.iter())
            .filter(|(id, _)| id == line)
            .map(|(_, q)| *q)
            .sum()
    }

    pub(crate) fn fulfillment_status(&self) -> &'static str {
        let shipped: Vec<bool> = self
            .lines
            .iter()
            .map(|l| self.shipped(&l.id) >= l.quantity)
            .collect();
        if shipped.iter().all(|s| *s) {
            "FULFILLED"
        } else if self.fulfillments.is_empty() {
            "NOT_STARTED"
        } else {
            "IN_PROGRESS"
        }
    }

    pub(crate) fn payment_status(&self) -> &'static str {
        let refunded: i64 = self.refunds.iter().map(|r| r.1).sum();
        if refunded > 0 && refunded >= self.total() {
            "FULLY_REFUNDED"
        } else if refunded > 0 {
            "PARTIALLY_REFUNDED"
        } else if self.paid {
            "PAID"
        } else {
            "PENDING"
        }
    }
}

/// Notification API state.
#[derive(Debug, Default)]
pub(crate) struct Notifications {
    /// (id, name, endpoint, verification token).
    pub destinations: Vec<(String, String, String, String)>,
    /// (id, topic, destination id).
    pub subscriptions: Vec<(String, String, String)>,
    /// (topic, endpoint, HTTP status, 0 when unreachable).
    pub deliveries: Vec<(String, String, u16)>,
    pub counter: u64,
}

/// A daily budget as a token bucket.
#[derive(Debug)]
pub(crate) struct Bucket {
    rate: f64,
    cap: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(daily: u32, burst_secs: f64) -> Self {
        let (rate, cap) = pace(daily, burst_secs);
        Self {
            rate,
            cap,
            tokens: cap,
            last: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.cap);
        self.last = now;
        // A hair of tolerance for clock skew between client and server buckets.
        if self.tokens >= 1.0 - 1e-3 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn refill(&mut self) {
        self.tokens = self.cap;
        self.last = Instant::now();
    }
}

/// Request counters.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub requests: u64,
    pub rate_limited: u64,
    pub unauthorized: u64,
    pub faults: u64,
    pub by_path: BTreeMap<String, u64>,
}

/// Shared state of one simulator.
pub(crate) struct Sim {
    pub config: SimConfig,
    pub listings: Mutex<Vec<Listing>>,
    pub by_sku: Mutex<HashMap<String, usize>>,
    pub orders: Mutex<Vec<SimOrder>>,
    pub policies: Vec<(String, String)>,
    /// access token → (expiry, application token?).
    pub tokens: Mutex<HashMap<String, (Instant, bool)>>,
    pub token_counter: Mutex<u64>,
    pub revoked: AtomicBool,
    pub buckets: Mutex<HashMap<&'static str, Bucket>>,
    pub faults: FaultQueue,
    pub stats: Mutex<Stats>,
    pub notifications: Mutex<Notifications>,
    pub signing_key: p256::ecdsa::SigningKey,
    pub key_id: String,
    pub http: reqwest::Client,
    /// Changes of sellable quantities (`/__admin/quantity-log`).
    pub storm_log: crate::storm::QuantityLog,
}

pub(crate) fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// eBay-style order id of order number `n`.
pub(crate) fn order_id(n: usize) -> String {
    format!(
        "{:02}-{:05}-{:05}",
        10 + n % 90,
        10_000 + n / 7 % 90_000,
        10_000 + n % 90_000
    )
}

fn signing_key(seed: u64) -> p256::ecdsa::SigningKey {
    use sha2::Digest;
    let mut counter = 0u32;
    loop {
        let mut h = sha2::Sha256::new();
        h.update(b"ebay simulator notification key");
        h.update(seed.to_le_bytes());
        h.update(counter.to_le_bytes());
        let bytes = h.finalize();
        if let Ok(k) = p256::ecdsa::SigningKey::from_bytes(&bytes) {
            return k;
        }
        counter += 1;
    }
}

impl Sim {
    fn new(config: SimConfig) -> Self {
        let catalog = demo::catalog(config.seed, config.products);
        let offers = demo::offers(config.seed, &catalog);
        let policies = vec![
            ("6196932000".to_string(), "30 days money back".to_string()),
            ("6196933000".to_string(), "60 days free returns".to_string()),
        ];
        let mut listings = Vec::with_capacity(catalog.len());
        let mut by_sku = HashMap::with_capacity(catalog.len());
        for (i, (p, o)) in catalog.iter().zip(&offers).enumerate() {
            let mut aspects = serde_json::Map::new();
            if !p.brand.is_empty() {
                aspects.insert("Brand".into(), json!([p.brand]));
            }
            for (k, v) in p
                .variants
                .first()
                .map(|v| v.options.clone())
                .unwrap_or_default()
            {
                aspects.insert(k, json!([v]));
            }
            let mut product = json!({
                "title": p.name,
                "description": p.description,
                "aspects": aspects,
                "imageUrls": p.images,
            });
            if !p.brand.is_empty() {
                product["brand"] = json!(p.brand);
            }
            if !p.gtin.is_empty() {
                product["ean"] = json!([p.gtin]);
            }
            by_sku.insert(o.sku.clone(), i);
            listings.push(Listing {
                sku: o.sku.clone(),
                product,
                condition: "NEW".into(),
                package: Some(json!({"weight": {"value": p.weight, "unit": "KILOGRAM"}})),
                offer_id: format!("{}", 5_000_000_000u64 + i as u64),
                price: o.price.clone(),
                currency: "USD".into(),
                quantity: o.quantity,
                published: o.listing_error.is_none(),
                on_hold: false,
                return_policy_id: o
                    .return_policy
                    .then(|| policies[i % policies.len()].0.clone()),
                category_id: format!("{}", 9355 + (i % 5) * 100),
                updates: 0,
            });
        }
        let demo_orders = demo::orders(config.seed, &catalog, config.orders);
        let orders = demo_orders
            .iter()
            .enumerate()
            .map(|(n, d)| {
                let id = order_id(n);
                let lines: Vec<Line> = d
                    .lines
                    .iter()
                    .enumerate()
                    .map(|(j, l)| Line {
                        id: format!("{}{:03}", 10_000_000_000u64 + n as u64 * 1000, j),
                        sku: l.sku.clone(),
                        title: l.name.clone(),
                        quantity: l.quantity,
                        unit: demo::to_units(&l.unit_price),
                    })
                    .collect();
                let mut o = SimOrder {
                    id,
                    created: d.created_at,
                    modified: d.created_at,
                    lines,
                    paid: d.status != "pending",
                    cancelled: d.status == "cancelled",
                    refunds: Vec::new(),
                    fulfillments: Vec::new(),
                    buyer: d.buyer.clone(),
                    ship_to: d.shipping.clone(),
                    currency: "USD".into(),
                };
                if matches!(d.status.as_str(), "shipped" | "completed") {
                    o.fulfillments.push(Fulfillment {
                        id: format!("FUL{n:06}"),
                        carrier: "USPS".into(),
                        tracking: format!("9400{:018}", n),
                        shipped: d.created_at + chrono::Duration::hours(20),
                        lines: o.lines.iter().map(|l| (l.id.clone(), l.quantity)).collect(),
                    });
                    o.modified = d.created_at + chrono::Duration::hours(20);
                }
                o
            })
            .collect();
        let buckets = HashMap::from([
            (
                "inventory",
                Bucket::new(config.daily_calls.inventory, config.burst_secs),
            ),
            (
                "fulfillment",
                Bucket::new(config.daily_calls.fulfillment, config.burst_secs),
            ),
            (
                "account",
                Bucket::new(config.daily_calls.account, config.burst_secs),
            ),
            (
                "notification",
                Bucket::new(config.daily_calls.notification, config.burst_secs),
            ),
        ]);
        Self {
            signing_key: signing_key(config.seed),
            key_id: format!("sim-key-{:08x}", config.seed),
            listings: Mutex::new(listings),
            by_sku: Mutex::new(by_sku),
            orders: Mutex::new(orders),
            policies,
            tokens: Mutex::new(HashMap::new()),
            token_counter: Mutex::new(0),
            revoked: AtomicBool::new(false),
            buckets: Mutex::new(buckets),
            faults: FaultQueue::new(config.faults.clone()),
            stats: Mutex::new(Stats::default()),
            notifications: Mutex::new(Notifications::default()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            storm_log: crate::storm::QuantityLog::default(),
            config,
        }
    }

    /// Issues an access token.
    pub(crate) fn issue(&self, app: bool) -> String {
        let n = {
            let mut c = relock(&self.token_counter);
            *c += 1;
            *c
        };
        let token = format!(
            "v^1.1#i^1#{}#sim{:x}{n:06}",
            if app { "a" } else { "u" },
            self.config.seed
        );
        relock(&self.tokens).insert(
            token.clone(),
            (
                Instant::now() + Duration::from_secs(self.config.token_ttl_secs),
                app,
            ),
        );
        token
    }

    /// The public key in PEM.
    pub(crate) fn public_pem(&self) -> String {
        use base64::Engine as _;
        // SubjectPublicKeyInfo of an uncompressed P-256 point: the fixed DER header
        // (id-ecPublicKey, prime256v1) and the 65-byte point.
        const SPKI_P256: [u8; 26] = [
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        let point = self.signing_key.verifying_key().to_encoded_point(false);
        let mut der = SPKI_P256.to_vec();
        der.extend_from_slice(point.as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
            lines.join("\n")
        )
    }

    /// `X-EBAY-SIGNATURE` of `body`.
    pub(crate) fn sign(&self, body: &[u8]) -> String {
        use base64::Engine as _;
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        use sha1::Digest;
        let digest = sha1::Sha1::digest(body);
        let sig: p256::ecdsa::Signature = match self.signing_key.sign_prehash(&digest) {
            Ok(s) => s,
            Err(_) => return String::new(),
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        let header = json!({
            "alg": "ECDSA",
            "kid": self.key_id,
            "signature": b64.encode(sig.to_der().as_bytes()),
            "digest": "SHA1",
        });
        b64.encode(header.to_string())
    }

    /// Sends a signed notification of `topic` to every subscribed destination.
    pub(crate) fn notify(self: &Arc<Self>, topic: &str, data: Value) {
        let targets: Vec<String> = {
            let n = relock(&self.notifications);
            n.subscriptions
                .iter()
                .filter(|(_, t, _)| t == topic)
                .filter_map(|(_, _, d)| n.destinations.iter().find(|x| &x.0 == d))
                .map(|d| d.2.clone())
                .collect()
        };
        for endpoint in targets {
            let id = {
                let mut n = relock(&self.notifications);
                n.counter += 1;
                n.counter
            };
            let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let body = json!({
                "metadata": {"topic": topic, "schemaVersion": "1.0", "deprecated": false},
                "notification": {
                    "notificationId": format!("{:08x}-sim-{id:012}", self.config.seed),
                    "eventDate": now,
                    "publishDate": now,
                    "publishAttemptCount": 1,
                    "data": data,
                }
            })
            .to_string();
            let signature = self.sign(body.as_bytes());
            let sim = self.clone();
            let topic = topic.to_string();
            tokio::spawn(async move {
                let status = sim
                    .http
                    .post(&endpoint)
                    .header("content-type", "application/json")
                    .header("x-ebay-signature", signature)
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                relock(&sim.notifications)
                    .deliveries
                    .push((topic, endpoint, status));
            });
        }
    }
}

pub(crate) type Shared = Arc<Sim>;

fn router(sim: Shared) -> Router {
    let api = api::routes()
        .fallback(not_found)
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

async fn not_found(req: Request) -> Response {
    error(
        StatusCode::NOT_FOUND,
        2002,
        "API_ROUTING",
        &format!("Resource not found: {}", req.uri().path()),
    )
}

/// An eBay error answer.
pub(crate) fn error(status: StatusCode, id: u32, domain: &str, message: &str) -> Response {
    let category = if status.is_server_error() {
        "APPLICATION"
    } else {
        "REQUEST"
    };
    (
        status,
        axum::Json(json!({"errors": [{
            "errorId": id, "domain": domain, "category": category, "message": message,
        }]})),
    )
        .into_response()
}

fn family(path: &str) -> Option<&'static str> {
    if path.starts_with("/sell/inventory/") {
        Some("inventory")
    } else if path.starts_with("/sell/fulfillment/") {
        Some("fulfillment")
    } else if path.starts_with("/sell/account/") {
        Some("account")
    } else if path.starts_with("/commerce/notification/") {
        Some("notification")
    } else {
        None
    }
}

/// Auth, daily budgets, injected faults and statistics around every API request.
async fn guard(State(sim): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    {
        let mut s = relock(&sim.stats);
        s.requests += 1;
        *s.by_path
            .entry(format!("{} {path}", req.method()))
            .or_default() += 1;
    }
    let fam = family(&path);
    if let Some(fam) = fam {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default()
            .to_string();
        let valid = !sim.revoked.load(Ordering::SeqCst)
            && relock(&sim.tokens)
                .get(&token)
                .is_some_and(|(exp, _)| *exp > Instant::now());
        if !valid {
            relock(&sim.stats).unauthorized += 1;
            return error(
                StatusCode::UNAUTHORIZED,
                1001,
                "OAuth",
                "Invalid access token. Check the value of the Authorization HTTP request header.",
            );
        }
        if sim.config.limits && !relock(&sim.buckets).get_mut(fam).is_none_or(|b| b.take()) {
            relock(&sim.stats).rate_limited += 1;
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                2001,
                "ACCESS",
                "Too many requests. The request limit has been reached for the resource.",
            );
        }
    }
    let Some(fault) = sim.faults.take(&path) else {
        return next.run(req).await;
    };
    relock(&sim.stats).faults += 1;
    match fault.kind {
        FaultKind::Status => {
            let status =
                StatusCode::from_u16(fault.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            error(
                status,
                if status.is_server_error() {
                    10_000
                } else {
                    25_001
                },
                "API_INVENTORY",
                status.canonical_reason().unwrap_or("Injected failure"),
            )
        }
        FaultKind::Malformed => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"inventoryItems\": [{\"sku\": \"trunc",
        )
            .into_response(),
        FaultKind::RateLimit => {
            relock(&sim.stats).rate_limited += 1;
            error(
                StatusCode::TOO_MANY_REQUESTS,
                2001,
                "ACCESS",
                "Too many requests. The request limit has been reached for the resource.",
            )
        }
        FaultKind::Timeout => {
            tokio::time::sleep(Duration::from_millis(fault.delay_ms)).await;
            next.run(req).await
        }
    }
}

/// eBay's timestamp format.
pub(crate) fn ebay_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

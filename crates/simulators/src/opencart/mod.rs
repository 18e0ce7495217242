//! An OpenCart store with an API user and the REST Admin API extension.
//!
//! Modelled protocol (see the crate README):
//! - Session: OpenCart's own API login, `POST /index.php?route=api/login` with the API user's
//!   `username` and `key` (System → Users → API) → `{"success": …, "api_token": …}`. The token
//!   goes with every later call as the `api_token` query parameter and expires after
//!   [`SimConfig::session_lifetime_ms`] (OpenCart API sessions: 60 minutes). A wrong key, a
//!   disabled (revoked) API user or an expired token answer 401 with OpenCart's warning text.
//! - Data: the routes of the opencart-api.com "REST Admin API" extension in their
//!   `index.php?route=rest/...` form, JSON bodies, `{"success": 1|0, "error": [...], "data": …}`
//!   envelopes, `limit`/`page` paging and `filter_date_modified_from/_to` filters.
//! - Variants: each product with size/colour variants has one select option whose values are
//!   the combinations, each with its own `sku`, `quantity`, `price` (+/- `price_prefix`).
//! - OpenCart has no stock locations: one quantity per product or option value.
//! - OpenCart documents no rate limit: a configurable fixed window answers 429 with
//!   `Retry-After` (seconds) when exhausted.
//! - OpenCart core has no webhooks: none are simulated.

mod storm;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::demo::{self, DemoParty};
use crate::faults::{Fault, FaultKind, FaultQueue};

/// Configuration of a simulated OpenCart store.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Store name (`config_name`).
    pub store_name: String,
    /// The API user's name.
    pub api_username: String,
    /// The API user's key (OpenCart generates 256 characters; any text works here).
    pub api_key: String,
    /// Lifetime of an `api_token` session, in milliseconds (OpenCart: 60 minutes).
    pub session_lifetime_ms: u64,
    /// Demo products to seed.
    pub products: usize,
    /// Demo orders to seed.
    pub orders: usize,
    /// Seed of the demo data.
    pub seed: u64,
    /// Largest `limit` of a list (the extension documents none; 100 here).
    pub max_page_size: usize,
    /// Largest quantity update batch (the extension documents none; 100 here).
    pub max_quantity_batch: usize,
    /// Requests per rate-limit window (OpenCart documents none; a hosting limit is modelled).
    pub rate_limit_requests: u32,
    /// Window length in milliseconds.
    pub rate_limit_window_ms: u64,
    /// Store currency.
    pub currency: String,
    /// Faults active from the start.
    pub faults: Vec<Fault>,
    /// Answer a refused login as OpenCart core's `api/login` does: HTTP 200 with the
    /// `error` object (default: 401, as the REST extension answers refused credentials).
    pub core_login_errors: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            store_name: "Trailhead Outfitters".into(),
            api_username: "Default".into(),
            api_key: "oc-demo-key-7Hq2LxV9pR4mT8nW".into(),
            session_lifetime_ms: 3_600_000,
            products: 60,
            orders: 12,
            seed: 42,
            max_page_size: 100,
            max_quantity_batch: 100,
            rate_limit_requests: 600,
            rate_limit_window_ms: 60_000,
            currency: "USD".into(),
            faults: Vec::new(),
            core_login_errors: false,
        }
    }
}

/// Marks this platform's [`crate::server::Running`].
#[derive(Debug)]
pub struct Platform;

/// A running simulator; stops when `stop` is called or when dropped.
pub type RunningSimulator = crate::server::Running<Platform>;

/// Starts a simulated store on `addr` (port 0: any free port).
pub async fn start(addr: SocketAddr, config: SimConfig) -> std::io::Result<RunningSimulator> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let sim = Arc::new(Sim::new(config));
    crate::storm::init(&*sim);
    let app = Router::new()
        .route("/index.php", any(api))
        .route(
            "/__admin/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/__admin/revoke-token", post(revoke))
        .route("/__admin/restore-token", post(restore))
        .route("/__admin/expire-sessions", post(expire_sessions))
        .route("/__admin/stats", get(stats))
        .route(
            "/__admin/products/{sku}",
            get(admin_product).patch(admin_edit_product),
        )
        .route("/__admin/orders", post(admin_add_order))
        .route("/__admin/orders/{id}", get(admin_order))
        .nest("/__admin", crate::storm::routes(sim.clone()))
        .with_state(sim.clone());
    let app = crate::storm::layer(app, sim);
    let server = crate::server::Server::serve(listener, app, "opencart");
    Ok(crate::server::Running::new(addr, server))
}

#[derive(Debug, Clone)]
struct OptionValue {
    id: i64,
    name: String,
    sku: String,
    quantity: i64,
    /// Price difference in ten-thousandths (sign gives the prefix).
    delta: i64,
    ean: String,
}

#[derive(Debug, Clone)]
struct Product {
    id: i64,
    sku: String,
    name: String,
    description: String,
    manufacturer_id: i64,
    categories: Vec<i64>,
    price: String,
    weight: f64,
    length: f64,
    width: f64,
    height: f64,
    ean: String,
    images: Vec<String>,
    status: bool,
    quantity: i64,
    option_name: String,
    option_id: i64,
    values: Vec<OptionValue>,
    date_added: DateTime<Utc>,
    date_modified: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Line {
    id: i64,
    product_id: i64,
    name: String,
    sku: String,
    option: Option<(String, String)>,
    quantity: i64,
    price: String,
}

#[derive(Debug, Clone)]
struct History {
    status_id: i64,
    comment: String,
    notify: bool,
    date_added: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Order {
    id: i64,
    status_id: i64,
    buyer: DemoParty,
    shipping: DemoParty,
    lines: Vec<Line>,
    date_added: DateTime<Utc>,
    date_modified: DateTime<Utc>,
    histories: Vec<History>,
}

/// OpenCart's default order statuses.
const STATUSES: [(i64, &str); 8] = [
    (1, "Pending"),
    (2, "Processing"),
    (3, "Shipped"),
    (5, "Complete"),
    (7, "Canceled"),
    (11, "Refunded"),
    (15, "Processed"),
    (16, "Voided"),
];

fn status_name(id: i64) -> &'static str {
    STATUSES
        .iter()
        .find(|(i, _)| *i == id)
        .map_or("Unknown", |(_, n)| n)
}

#[derive(Debug, Default)]
struct Store {
    products: Vec<Product>,
    manufacturers: BTreeMap<i64, String>,
    /// id → (name, parent id).
    categories: BTreeMap<i64, (String, i64)>,
    orders: Vec<Order>,
    next_id: i64,
}

impl Store {
    fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    fn manufacturer(&mut self, name: &str) -> i64 {
        if name.is_empty() {
            return 0;
        }
        if let Some((id, _)) = self.manufacturers.iter().find(|(_, n)| *n == name) {
            return *id;
        }
        let id = self.id();
        self.manufacturers.insert(id, name.to_string());
        id
    }

    fn category(&mut self, path: &str) -> i64 {
        let mut parent = 0;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            let found = self
                .categories
                .iter()
                .find(|(_, (n, p))| n == part && *p == parent)
                .map(|(id, _)| *id);
            parent = match found {
                Some(id) => id,
                None => {
                    let id = self.id();
                    self.categories.insert(id, (part.to_string(), parent));
                    id
                }
            };
        }
        parent
    }

    fn category_path(&self, id: i64) -> String {
        let mut parts = Vec::new();
        let mut cur = id;
        while let Some((name, parent)) = self.categories.get(&cur) {
            parts.push(name.clone());
            cur = *parent;
            if parts.len() > 20 {
                break;
            }
        }
        parts.reverse();
        parts.join("/")
    }

    fn seeded(config: &SimConfig) -> Self {
        let catalog = demo::catalog(config.seed, config.products);
        let mut s = Store {
            next_id: 0,
            ..Store::default()
        };
        for p in &catalog {
            let manufacturer_id = s.manufacturer(&p.brand);
            let categories = if p.category.is_empty() {
                Vec::new()
            } else {
                vec![s.category(&p.category)]
            };
            let id = s.id();
            let base = demo::to_units(&p.price);
            let mut values = Vec::new();
            for v in &p.variants {
                let vid = s.id();
                values.push(OptionValue {
                    id: vid,
                    name: v
                        .options
                        .iter()
                        .map(|(_, val)| val.as_str())
                        .collect::<Vec<_>>()
                        .join(" / "),
                    sku: v.sku.clone(),
                    quantity: v.stock.iter().map(|s| s.on_hand).sum(),
                    delta: v.price.as_deref().map_or(0, |pr| demo::to_units(pr) - base),
                    ean: v.gtin.clone(),
                });
            }
            let option_id = if values.is_empty() { 0 } else { s.id() };
            s.products.push(Product {
                id,
                sku: p.sku.clone(),
                name: p.name.clone(),
                description: p.description.clone(),
                manufacturer_id,
                categories,
                price: p.price.clone(),
                weight: p.weight,
                length: p.depth,
                width: p.width,
                height: p.height,
                ean: p.gtin.clone(),
                images: p.images.clone(),
                status: p.visible,
                quantity: if values.is_empty() {
                    p.stock.iter().map(|s| s.on_hand).sum()
                } else {
                    values.iter().map(|v| v.quantity).sum()
                },
                option_name: p.options.join(" / "),
                option_id,
                values,
                date_added: p.created_at,
                date_modified: p.modified_at,
            });
        }
        // Order ids follow the demo order: 1, 2, 3, …
        for o in &demo::orders(config.seed, &catalog, config.orders) {
            let status_id = match o.status.as_str() {
                "pending" => 1,
                "shipped" => 3,
                "completed" => 5,
                "cancelled" => 7,
                _ => 2,
            };
            let lines: Vec<(String, i64)> = o
                .lines
                .iter()
                .map(|l| (l.sku.clone(), l.quantity))
                .collect();
            s.create_order(&o.buyer, &o.shipping, &lines, status_id, o.created_at);
        }
        s
    }

    /// (product index, option value index) of a sku.
    fn find_sku(&self, sku: &str) -> Option<(usize, Option<usize>)> {
        self.products.iter().enumerate().find_map(|(i, p)| {
            if p.sku == sku {
                Some((i, None))
            } else {
                p.values
                    .iter()
                    .position(|v| v.sku == sku)
                    .map(|j| (i, Some(j)))
            }
        })
    }

    fn create_order(
        &mut self,
        buyer: &DemoParty,
        shipping: &DemoParty,
        lines: &[(String, i64)],
        status_id: i64,
        at: DateTime<Utc>,
    ) -> i64 {
        let mut out = Vec::new();
        for (sku, qty) in lines {
            let Some((pi, vi)) = self.find_sku(sku) else {
                continue;
            };
            let line_id = self.id();
            let p = &self.products[pi];
            let base = demo::to_units(&p.price);
            let (price, option) = match vi {
                Some(j) => (
                    demo::from_units(base + p.values[j].delta),
                    Some((p.option_name.clone(), p.values[j].name.clone())),
                ),
                None => (demo::from_units(base), None),
            };
            out.push(Line {
                id: line_id,
                product_id: p.id,
                name: p.name.clone(),
                sku: sku.clone(),
                option,
                quantity: *qty,
                price,
            });
        }
        let id = self.orders.iter().map(|o| o.id).max().unwrap_or(0) + 1;
        self.orders.push(Order {
            id,
            status_id,
            buyer: buyer.clone(),
            shipping: shipping.clone(),
            lines: out,
            date_added: at,
            date_modified: at,
            histories: vec![History {
                status_id,
                comment: String::new(),
                notify: false,
                date_added: at,
            }],
        });
        id
    }

    fn product_json(&self, p: &Product) -> Value {
        let options: Vec<Value> = if p.values.is_empty() {
            Vec::new()
        } else {
            vec![json!({
                "product_option_id": p.option_id,
                "option_id": p.option_id,
                "name": p.option_name,
                "type": "select",
                "required": "1",
                "option_value": p.values.iter().map(|v| json!({
                    "product_option_value_id": v.id,
                    "option_value_id": v.id,
                    "name": v.name,
                    "sku": v.sku,
                    "ean": v.ean,
                    "quantity": v.quantity,
                    "subtract": "1",
                    "price": demo::from_units(v.delta.abs()),
                    "price_prefix": if v.delta < 0 { "-" } else { "+" },
                    "weight": "0.00000000",
                    "weight_prefix": "+",
                })).collect::<Vec<_>>(),
            })]
        };
        json!({
            "id": p.id,
            "product_id": p.id,
            "model": p.sku,
            "sku": p.sku,
            "ean": p.ean,
            "upc": "",
            "mpn": "",
            "quantity": p.quantity,
            "price": p.price,
            "weight": format!("{:.8}", p.weight),
            "weight_class": "kg",
            "length": format!("{:.8}", p.length),
            "width": format!("{:.8}", p.width),
            "height": format!("{:.8}", p.height),
            "length_class": "cm",
            "status": if p.status { "1" } else { "0" },
            "manufacturer_id": p.manufacturer_id,
            "manufacturer": self.manufacturers.get(&p.manufacturer_id).cloned().unwrap_or_default(),
            "image": p.images.first().cloned().unwrap_or_default(),
            "images": p.images.iter().skip(1).collect::<Vec<_>>(),
            "product_description": [{
                "language_id": 1,
                "name": p.name,
                "description": p.description,
            }],
            "category": p.categories.iter().map(|c| json!({
                "id": c,
                "name": self.categories.get(c).map(|x| x.0.clone()).unwrap_or_default(),
            })).collect::<Vec<_>>(),
            "options": options,
            "date_added": fmt_date(p.date_added),
            "date_modified": fmt_date(p.date_modified),
        })
    }

    fn order_json(&self, o: &Order) -> Value {
        let total: i64 = o
            .lines
            .iter()
            .map(|l| demo::to_units(&l.price) * l.quantity)
            .sum();
        json!({
            "order_id": o.id,
            "store_id": 0,
            "order_status_id": o.status_id,
            "status": status_name(o.status_id),
            "firstname": o.buyer.first_name,
            "lastname": o.buyer.last_name,
            "email": o.buyer.email,
            "telephone": o.buyer.phone,
            "shipping_firstname": o.shipping.first_name,
            "shipping_lastname": o.shipping.last_name,
            "shipping_company": o.shipping.company,
            "shipping_address_1": o.shipping.street,
            "shipping_city": o.shipping.city,
            "shipping_postcode": o.shipping.zip,
            "shipping_zone": o.shipping.state,
            "shipping_country": o.shipping.country,
            "shipping_iso_code_2": o.shipping.country_iso2,
            "total": demo::from_units(total),
            "currency_code": "USD",
            "currency_value": "1.00000000",
            "date_added": fmt_date(o.date_added),
            "date_modified": fmt_date(o.date_modified),
            "products": o.lines.iter().map(|l| json!({
                "order_product_id": l.id,
                "product_id": l.product_id,
                "name": l.name,
                "model": l.sku,
                "sku": l.sku,
                "quantity": l.quantity,
                "price": l.price,
                "total": demo::from_units(demo::to_units(&l.price) * l.quantity),
                "option": l.option.iter().map(|(n, v)| json!({"name": n, "value": v, "type": "select", "sku": l.sku})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "histories": o.histories.iter().map(|h| json!({
                "order_status_id": h.status_id,
                "status": status_name(h.status_id),
                "comment": h.comment,
                "notify": if h.notify { "1" } else { "0" },
                "date_added": fmt_date(h.date_added),
            })).collect::<Vec<_>>(),
        })
    }
}

/// OpenCart's MySQL datetime text.
fn fmt_date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S") {
        return Some(t.and_utc());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

#[derive(Debug, Default)]
struct Stats {
    total: u64,
    by_route: BTreeMap<String, u64>,
    rate_limited: u64,
    unauthorized: u64,
    expired: u64,
    faults_injected: u64,
    logins: u64,
    quantity_batches: Vec<usize>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    used: u32,
}

struct Sim {
    config: SimConfig,
    store: Mutex<Store>,
    faults: FaultQueue,
    window: Mutex<Window>,
    stats: Mutex<Stats>,
    sessions: Mutex<HashMap<String, Instant>>,
    revoked: AtomicBool,
    token_seq: AtomicU64,
    /// Changes of sellable quantities (`/__admin/quantity-log`).
    storm_log: crate::storm::QuantityLog,
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Shared = Arc<Sim>;

impl Sim {
    fn new(config: SimConfig) -> Self {
        Self {
            store: Mutex::new(Store::seeded(&config)),
            faults: FaultQueue::new(config.faults.clone()),
            window: Mutex::new(Window {
                started: Instant::now(),
                used: 0,
            }),
            stats: Mutex::new(Stats::default()),
            sessions: Mutex::new(HashMap::new()),
            revoked: AtomicBool::new(false),
            token_seq: AtomicU64::new(1),
            storm_log: crate::storm::QuantityLog::default(),
            config,
        }
    }

    /// Spends one request of the window; `Err(ms until reset)` when exhausted.
    fn take_window(&self) -> Result<(), u64> {
        let length = Duration::from_millis(self.config.rate_limit_window_ms.max(1));
        let mut w = relock(&self.window);
        let now = Instant::now();
        if now.duration_since(w.started) >= length {
            w.started = now;
            w.used = 0;
        }
        if w.used >= self.config.rate_limit_requests.max(1) {
            let left = length.saturating_sub(now.duration_since(w.started));
            return Err(left.as_millis() as u64);
        }
        w.used += 1;
        Ok(())
    }
}

/// The REST Admin API envelope of an error.
fn rest_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"success": 0, "error": [message], "data": []})),
    )
        .into_response()
}

fn rest_ok(data: Value) -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({"success": 1, "error": [], "data": data})),
    )
        .into_response()
}

fn too_many(reset_ms: u64) -> Response {
    let mut resp = rest_error(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests, please try again later.",
    );
    let secs = reset_ms.div_ceil(1000).max(1);
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

const NO_PERMISSION: &str = "Warning: You do not have permission to access the API!";

/// Every API request: statistics, rate limit, faults, session check, then the route.
async fn api(
    State(sim): State<Shared>,
    method: Method,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let route = params.get("route").cloned().unwrap_or_default();
    {
        let mut s = relock(&sim.stats);
        s.total += 1;
        *s.by_route.entry(format!("{method} {route}")).or_default() += 1;
    }
    if let Err(reset) = sim.take_window() {
        relock(&sim.stats).rate_limited += 1;
        return too_many(reset);
    }
    if let Some(f) = sim.faults.take(&route) {
        relock(&sim.stats).faults_injected += 1;
        match f.kind {
            FaultKind::Status => {
                let status =
                    StatusCode::from_u16(f.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                return rest_error(status, status.canonical_reason().unwrap_or("Error"));
            }
            FaultKind::Malformed => {
                return (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    "{\"success\":1,\"error\":[],\"data\":[{\"id\":1,\"model\":\"Trunc",
                )
                    .into_response();
            }
            FaultKind::RateLimit => return too_many(f.reset_ms),
            FaultKind::Timeout => tokio::time::sleep(Duration::from_millis(f.delay_ms)).await,
        }
    }
    if route == "api/login" {
        return login(&sim, &body);
    }
    let token = params.get("api_token").cloned().unwrap_or_default();
    let issued = relock(&sim.sessions).get(&token).copied();
    let valid = match issued {
        Some(t) if !sim.revoked.load(Ordering::SeqCst) => {
            if t.elapsed() >= Duration::from_millis(sim.config.session_lifetime_ms) {
                relock(&sim.sessions).remove(&token);
                relock(&sim.stats).expired += 1;
                false
            } else {
                true
            }
        }
        _ => false,
    };
    if !valid {
        relock(&sim.stats).unauthorized += 1;
        return rest_error(StatusCode::UNAUTHORIZED, NO_PERMISSION);
    }
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(v) => v,
            Err(e) => {
                return rest_error(StatusCode::BAD_REQUEST, &format!("Invalid JSON: {e}"));
            }
        }
    };
    match (method.as_str(), route.as_str()) {
        ("GET", "rest/store_admin/store") => store_info(&sim),
        ("GET", "rest/product_admin/products") if params.contains_key("id") => {
            product_by(&sim, |p| {
                Some(p.id.to_string()) == params.get("id").cloned()
            })
        }
        ("GET", "rest/product_admin/products") => products(&sim, &params),
        ("GET", "rest/product_admin/getproductbysku") => {
            let sku = params.get("sku").cloned().unwrap_or_default();
            product_by(&sim, |p| {
                p.sku == sku || p.values.iter().any(|v| v.sku == sku)
            })
        }
        ("PUT", "rest/product_admin/products") => edit_product(&sim, &params, &body),
        ("PUT", "rest/product_admin/productquantitybysku") => quantities(&sim, &body),
        ("GET", "rest/manufacturer_admin/manufacturer") => manufacturers(&sim),
        ("POST", "rest/manufacturer_admin/manufacturer") => add_manufacturer(&sim, &body),
        ("GET", "rest/category_admin/category") => categories(&sim),
        ("GET", "rest/order_admin/listorderswithdetails") => orders(&sim, &params),
        ("POST", "rest/order_admin/orderhistory") => add_history(&sim, &params, &body),
        _ => rest_error(StatusCode::NOT_FOUND, "The requested route was not found."),
    }
}

/// One `application/x-www-form-urlencoded` key or value, decoded.
fn form_decode(text: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn login(sim: &Sim, body: &[u8]) -> Response {
    relock(&sim.stats).logins += 1;
    // JSON, or OpenCart's form encoding.
    let fields: HashMap<String, String> = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => o
            .into_iter()
            .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
            .collect(),
        _ => String::from_utf8_lossy(body)
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (form_decode(k), form_decode(v)))
            .collect(),
    };
    let user_ok = fields.get("username").map(String::as_str) == Some(&sim.config.api_username);
    let key_ok = fields.get("key").map(String::as_str) == Some(&sim.config.api_key);
    if !user_ok || !key_ok || sim.revoked.load(Ordering::SeqCst) {
        relock(&sim.stats).unauthorized += 1;
        let status = if sim.config.core_login_errors {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        return (
            status,
            axum::Json(json!({"error": {"key": "Warning: Incorrect API Key!"}})),
        )
            .into_response();
    }
    let n = sim.token_seq.fetch_add(1, Ordering::SeqCst);
    let token = format!("{:026x}", (n as u128) * 0x9E37_79B9_7F4A_7C15 + 0xA5A5);
    relock(&sim.sessions).insert(token.clone(), Instant::now());
    (
        StatusCode::OK,
        axum::Json(json!({
            "success": "Success: API session successfully started!",
            "api_token": token,
        })),
    )
        .into_response()
}

fn store_info(sim: &Sim) -> Response {
    rest_ok(json!({
        "store_id": 0,
        "config_name": sim.config.store_name,
        "config_currency": sim.config.currency,
        "config_weight_class": "kg",
        "config_length_class": "cm",
    }))
}

/// `limit` and `page`, or the message of the 400 the extension answers.
fn page_limit(sim: &Sim, params: &HashMap<String, String>) -> Result<(usize, usize), String> {
    let parse = |name: &str, default: usize| -> Result<usize, String> {
        match params.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| format!("Invalid {name} parameter")),
        }
    };
    let limit = parse("limit", 20)?;
    let page = parse("page", 1)?.max(1);
    if limit == 0 || limit > sim.config.max_page_size {
        return Err(format!(
            "Limit must be between 1 and {}",
            sim.config.max_page_size
        ));
    }
    Ok((page, limit))
}

fn date_filter(
    params: &HashMap<String, String>,
    name: &str,
) -> Result<Option<DateTime<Utc>>, String> {
    match params.get(name).filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(v) => parse_date(v)
            .map(Some)
            .ok_or_else(|| format!("Invalid {name}")),
    }
}

/// Page, limit and the `date_modified` window of a list request.
type ListParams = (usize, usize, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

fn list_params(sim: &Sim, params: &HashMap<String, String>) -> Result<ListParams, String> {
    let (page, limit) = page_limit(sim, params)?;
    let from = date_filter(params, "filter_date_modified_from")?;
    let to = date_filter(params, "filter_date_modified_to")?;
    Ok((page, limit, from, to))
}

fn products(sim: &Sim, params: &HashMap<String, String>) -> Response {
    let (page, limit, from, to) = match list_params(sim, params) {
        Ok(v) => v,
        Err(m) => return rest_error(StatusCode::BAD_REQUEST, &m),
    };
    let store = relock(&sim.store);
    let data: Vec<Value> = store
        .products
        .iter()
        .filter(|p| from.is_none_or(|f| p.date_modified >= f))
        .filter(|p| to.is_none_or(|t| p.date_modified < t))
        .skip((page - 1) * limit)
        .take(limit)
        .map(|p| store.product_json(p))
        .collect();
    rest_ok(json!(data))
}

fn product_by(sim: &Sim, pred: impl Fn(&Product) -> bool) -> Response {
    let store = relock(&sim.store);
    match store.products.iter().find(|p| pred(p)) {
        Some(p) => rest_ok(store.product_json(p)),
        None => rest_error(StatusCode::NOT_FOUND, "Product not found"),
    }
}

fn touch(p: &mut Product) {
    let now = Utc::now();
    p.date_modified = if now > p.date_modified {
        now
    } else {
        p.date_modified + chrono::Duration::seconds(1)
    };
}

fn edit_product(sim: &Sim, params: &HashMap<String, String>, body: &Value) -> Response {
    let Some(id) = params.get("id").and_then(|v| v.parse::<i64>().ok()) else {
        return rest_error(StatusCode::BAD_REQUEST, "Product id is required");
    };
    let Some(obj) = body.as_object() else {
        return rest_error(StatusCode::BAD_REQUEST, "Invalid product data");
    };
    let mut store = relock(&sim.store);
    let known_m: Vec<i64> = store.manufacturers.keys().copied().collect();
    let known_c: Vec<i64> = store.categories.keys().copied().collect();
    let Some(i) = store.products.iter().position(|p| p.id == id) else {
        return rest_error(StatusCode::NOT_FOUND, "Product not found");
    };
    let p = &mut store.products[i];
    let number = |v: &Value| -> Option<f64> {
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    };
    if let Some(v) = obj.get("price") {
        let text = match v {
            Value::String(s) => s.trim().to_string(),
            other => other.to_string(),
        };
        if text.parse::<f64>().map_or(true, |f| f < 0.0) {
            return rest_error(StatusCode::BAD_REQUEST, "Price must be a positive number");
        }
        p.price = text;
    }
    if let Some(v) = obj.get("weight") {
        match number(v) {
            Some(w) if w >= 0.0 => p.weight = w,
            _ => return rest_error(StatusCode::BAD_REQUEST, "Weight must be a positive number"),
        }
    }
    if let Some(v) = obj.get("manufacturer_id") {
        let m = number(v).unwrap_or(-1.0) as i64;
        if m != 0 && !known_m.contains(&m) {
            return rest_error(StatusCode::BAD_REQUEST, "Manufacturer not found");
        }
        p.manufacturer_id = m;
    }
    if let Some(v) = obj.get("product_category") {
        let ids: Vec<i64> = v
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| number(x).map(|f| f as i64))
                    .collect()
            })
            .unwrap_or_default();
        if ids.iter().any(|c| !known_c.contains(c)) {
            return rest_error(StatusCode::BAD_REQUEST, "Category not found");
        }
        p.categories = ids;
    }
    if let Some(descs) = obj.get("product_description").and_then(Value::as_array) {
        for d in descs {
            if let Some(n) = d.get("name").and_then(Value::as_str) {
                if n.trim().is_empty() {
                    return rest_error(
                        StatusCode::BAD_REQUEST,
                        "Product Name must be between 1 and 255 characters!",
                    );
                }
                p.name = n.to_string();
            }
            if let Some(desc) = d.get("description").and_then(Value::as_str) {
                p.description = desc.to_string();
            }
        }
    }
    touch(p);
    let json = store.product_json(&store.products[i]);
    rest_ok(json)
}

fn quantities(sim: &Sim, body: &Value) -> Response {
    let Some(items) = body.as_array() else {
        return rest_error(StatusCode::BAD_REQUEST, "Invalid quantity data");
    };
    if items.is_empty() || items.len() > sim.config.max_quantity_batch {
        return rest_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "Between 1 and {} items can be updated at once",
                sim.config.max_quantity_batch
            ),
        );
    }
    relock(&sim.stats).quantity_batches.push(items.len());
    let mut store = relock(&sim.store);
    let mut errors = Vec::new();
    for item in items {
        let sku = item.get("sku").and_then(Value::as_str).unwrap_or_default();
        let qty = item.get("quantity").and_then(Value::as_i64);
        let (Some(qty), Some((pi, vi))) = (qty, store.find_sku(sku)) else {
            errors.push(format!(
                "Product with sku {sku} not found or invalid quantity"
            ));
            continue;
        };
        let p = &mut store.products[pi];
        match vi {
            Some(j) => {
                p.values[j].quantity = qty;
                p.quantity = p.values.iter().map(|v| v.quantity).sum();
            }
            None => p.quantity = qty,
        }
        touch(p);
    }
    (
        StatusCode::OK,
        axum::Json(
            json!({"success": if errors.is_empty() { 1 } else { 0 }, "error": errors, "data": []}),
        ),
    )
        .into_response()
}

fn manufacturers(sim: &Sim) -> Response {
    let store = relock(&sim.store);
    rest_ok(json!(
        store
            .manufacturers
            .iter()
            .map(|(id, n)| json!({"manufacturer_id": id, "name": n}))
            .collect::<Vec<_>>()
    ))
}

fn add_manufacturer(sim: &Sim, body: &Value) -> Response {
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim();
    if name.is_empty() {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "Manufacturer Name must be between 1 and 64 characters!",
        );
    }
    let id = relock(&sim.store).manufacturer(name);
    rest_ok(json!({"id": id}))
}

fn categories(sim: &Sim) -> Response {
    let store = relock(&sim.store);
    rest_ok(json!(
        store
            .categories
            .iter()
            .map(|(id, (n, parent))| json!({"category_id": id, "name": n, "parent_id": parent}))
            .collect::<Vec<_>>()
    ))
}

fn orders(sim: &Sim, params: &HashMap<String, String>) -> Response {
    let (page, limit, from, to) = match list_params(sim, params) {
        Ok(v) => v,
        Err(m) => return rest_error(StatusCode::BAD_REQUEST, &m),
    };
    let id_above = params
        .get("filter_id_larger_than")
        .and_then(|v| v.parse::<i64>().ok());
    let id_below = params
        .get("filter_id_lower_than")
        .and_then(|v| v.parse::<i64>().ok());
    let store = relock(&sim.store);
    let data: Vec<Value> = store
        .orders
        .iter()
        .filter(|o| id_above.is_none_or(|i| o.id > i))
        .filter(|o| id_below.is_none_or(|i| o.id < i))
        .filter(|o| from.is_none_or(|f| o.date_modified >= f))
        .filter(|o| to.is_none_or(|t| o.date_modified < t))
        .skip((page - 1) * limit)
        .take(limit)
        .map(|o| store.order_json(o))
        .collect();
    rest_ok(json!(data))
}

fn add_history(sim: &Sim, params: &HashMap<String, String>, body: &Value) -> Response {
    let Some(id) = params.get("id").and_then(|v| v.parse::<i64>().ok()) else {
        return rest_error(StatusCode::BAD_REQUEST, "Order id is required");
    };
    let Some(status_id) = body.get("order_status_id").and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    }) else {
        return rest_error(StatusCode::BAD_REQUEST, "Order status id is required");
    };
    if !STATUSES.iter().any(|(i, _)| *i == status_id) {
        return rest_error(StatusCode::BAD_REQUEST, "Invalid order status id");
    }
    let comment = body
        .get("comment")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let notify = body.get("notify").is_some_and(|v| {
        v.as_bool().unwrap_or(false) || v.as_i64() == Some(1) || v.as_str() == Some("1")
    });
    let mut store = relock(&sim.store);
    let Some(o) = store.orders.iter_mut().find(|o| o.id == id) else {
        return rest_error(StatusCode::NOT_FOUND, "Order not found");
    };
    let now = Utc::now();
    o.status_id = status_id;
    o.date_modified = now;
    o.histories.push(History {
        status_id,
        comment: comment.to_string(),
        notify,
        date_added: now,
    });
    rest_ok(json!([]))
}

// ---- /__admin/ (not OpenCart's: test control, never limited or authenticated) ----

fn admin_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": message}))).into_response()
}

async fn add_fault(State(sim): State<Shared>, body: Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(f) => {
            sim.faults.push(f);
            (
                StatusCode::CREATED,
                axum::Json(json!({"pending": sim.faults.pending()})),
            )
                .into_response()
        }
        Err(e) => admin_error(StatusCode::BAD_REQUEST, &format!("invalid fault: {e}")),
    }
}

async fn list_faults(State(sim): State<Shared>) -> Response {
    axum::Json(json!({"pending": sim.faults.pending()})).into_response()
}

async fn clear_faults(State(sim): State<Shared>) -> Response {
    sim.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

/// Disables the API user: logins fail and every session is refused.
async fn revoke(State(sim): State<Shared>) -> Response {
    sim.revoked.store(true, Ordering::SeqCst);
    StatusCode::NO_CONTENT.into_response()
}

async fn restore(State(sim): State<Shared>) -> Response {
    sim.revoked.store(false, Ordering::SeqCst);
    StatusCode::NO_CONTENT.into_response()
}

/// Ends every session now, as their expiry would.
async fn expire_sessions(State(sim): State<Shared>) -> Response {
    relock(&sim.sessions).clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn stats(State(sim): State<Shared>) -> Response {
    let s = relock(&sim.stats);
    axum::Json(json!({
        "requests_total": s.total,
        "requests": s.by_route,
        "rate_limited": s.rate_limited,
        "unauthorized": s.unauthorized,
        "expired_sessions": s.expired,
        "faults_injected": s.faults_injected,
        "logins": s.logins,
        "quantity_batches": s.quantity_batches,
    }))
    .into_response()
}

async fn admin_product(State(sim): State<Shared>, Path(sku): Path<String>) -> Response {
    let store = relock(&sim.store);
    let Some((pi, _)) = store.find_sku(&sku) else {
        return admin_error(StatusCode::NOT_FOUND, &format!("no product with sku {sku}"));
    };
    let p = &store.products[pi];
    let mut body = store.product_json(p);
    if let Some(o) = body.as_object_mut() {
        o.insert(
            "category_paths".into(),
            json!(
                p.categories
                    .iter()
                    .map(|c| store.category_path(*c))
                    .collect::<Vec<_>>()
            ),
        );
    }
    axum::Json(body).into_response()
}

/// Edits a product as a merchant would in the admin: `name`, `description`, `price`,
/// `quantity` (of the product or, by its sku, of an option value).
async fn admin_edit_product(
    State(sim): State<Shared>,
    Path(sku): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(Value::Object(edit)) = serde_json::from_slice::<Value>(&body) else {
        return admin_error(StatusCode::BAD_REQUEST, "expected a JSON object");
    };
    let mut store = relock(&sim.store);
    let Some((pi, vi)) = store.find_sku(&sku) else {
        return admin_error(StatusCode::NOT_FOUND, &format!("no product with sku {sku}"));
    };
    let p = &mut store.products[pi];
    if let Some(n) = edit.get("name").and_then(Value::as_str) {
        p.name = n.to_string();
    }
    if let Some(d) = edit.get("description").and_then(Value::as_str) {
        p.description = d.to_string();
    }
    if let Some(pr) = edit.get("price").and_then(Value::as_str) {
        p.price = pr.to_string();
    }
    if let Some(q) = edit.get("quantity").and_then(Value::as_i64) {
        match vi {
            Some(j) => {
                p.values[j].quantity = q;
                p.quantity = p.values.iter().map(|v| v.quantity).sum();
            }
            None => p.quantity = q,
        }
    }
    touch(p);
    let json = store.product_json(&store.products[pi]);
    axum::Json(json).into_response()
}

fn test_buyer() -> DemoParty {
    DemoParty {
        first_name: "Casey".into(),
        last_name: "Tester".into(),
        company: String::new(),
        email: "casey.tester@example.com".into(),
        phone: "+1-555-0199".into(),
        street: "1 Test Plaza".into(),
        city: "Austin".into(),
        state: "Texas".into(),
        zip: "78701".into(),
        country: "United States".into(),
        country_iso2: "US".into(),
    }
}

/// Adds an order: `{"lines": [{"sku", "quantity"}], "order_status_id"?}`.
async fn admin_add_order(State(sim): State<Shared>, body: Bytes) -> Response {
    if let Some(o) = crate::storm::StormOrder::parse(&body) {
        return storm::order(&sim, &o);
    }
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut store = relock(&sim.store);
    let mut lines: Vec<(String, i64)> = req
        .get("lines")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|l| {
                    Some((
                        l.get("sku")?.as_str()?.to_string(),
                        l.get("quantity").and_then(Value::as_i64).unwrap_or(1),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    if lines.is_empty() {
        match store.products.first() {
            Some(p) => lines.push((p.values.first().map_or(p.sku.clone(), |v| v.sku.clone()), 1)),
            None => return admin_error(StatusCode::BAD_REQUEST, "the store has no products"),
        }
    }
    if let Some((sku, _)) = lines.iter().find(|(s, _)| store.find_sku(s).is_none()) {
        return admin_error(StatusCode::BAD_REQUEST, &format!("unknown sku {sku}"));
    }
    let status = req
        .get("order_status_id")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    // Stock moves with the order (as far as there is any: this shape never refuses).
    for (sku, quantity) in &lines {
        if let Ok(left) = store.take_stock(sku, *quantity, false) {
            sim.storm_log.record(sku, left, crate::storm::Cause::Order);
        }
    }
    let buyer = test_buyer();
    let id = store.create_order(&buyer, &buyer, &lines, status, Utc::now());
    let json = store
        .orders
        .iter()
        .find(|o| o.id == id)
        .map(|o| store.order_json(o))
        .unwrap_or(Value::Null);
    (StatusCode::CREATED, axum::Json(json)).into_response()
}

async fn admin_order(State(sim): State<Shared>, Path(id): Path<i64>) -> Response {
    let store = relock(&sim.store);
    match store.orders.iter().find(|o| o.id == id) {
        Some(o) => axum::Json(store.order_json(o)).into_response(),
        None => admin_error(StatusCode::NOT_FOUND, "no such order"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_the_demo_catalog_with_variant_skus() {
        let s = Store::seeded(&SimConfig {
            products: 20,
            orders: 5,
            ..SimConfig::default()
        });
        let catalog = demo::catalog(42, 20);
        assert_eq!(s.products.len(), 20);
        for (p, d) in s.products.iter().zip(&catalog) {
            assert_eq!(p.sku, d.sku);
            assert_eq!(p.values.len(), d.variants.len());
            for (v, dv) in p.values.iter().zip(&d.variants) {
                assert_eq!(v.sku, dv.sku);
                assert_eq!(v.quantity, dv.stock.iter().map(|s| s.on_hand).sum::<i64>());
            }
        }
        assert_eq!(s.orders.len(), 5);
        assert_eq!(s.orders[0].id, 1);
    }

    #[test]
    fn category_paths_round_trip() {
        let mut s = Store::default();
        let id = s.category("Men/Tops/Hoodies");
        assert_eq!(s.category_path(id), "Men/Tops/Hoodies");
        assert_eq!(s.category("Men/Tops/Hoodies"), id);
    }
}

//! A Mirakl marketplace instance as one seller (shop) sees it: the Mirakl Marketplace Platform
//! seller API (`/api/...`) with the shop API key sent raw in `Authorization`, the optional
//! `shop_id` query parameter, offset pagination (`offset`, `max` ≤ 100), orders (OR11 list,
//! OR21 accept, OR23 tracking, OR24 ship), offers (OF21 list, OF24 JSON updates, OF01
//! multipart CSV import, OF02 import status, OF03 error report), A01 account, and the
//! `/__admin/` contract every marketplace simulator serves.
//!
//! Limits: Mirakl documents a "maximum usage" per API. The ones this simulator enforces, per
//! shop, with `429` and a `Retry-After` header in seconds (Mirakl's documented 429 shape):
//! OR11 (a poll, i.e. a first page, `offset` 0: once per minute; the further pages of the same
//! poll are free), OF01, OF24, OF02 and OF03 (once per minute each). [`SimConfig::interval`]
//! scales "once per minute" for tests; [`SimConfig::limits`] turns them off.
//!
//! Imports (OF01, OF24) are asynchronous: the answer carries an `import_id`; the import is
//! `WAITING`/`RUNNING` for [`SimConfig::import_base`] plus one second per
//! [`SimConfig::import_lines_per_sec`] lines (an ASSUMED processing speed, not documented by
//! Mirakl), then `COMPLETE`, with the refused lines in its error report (OF03: the file's
//! own columns plus `error-line` and `error-message`).
//!
//! The marketplace's own listing errors show on OF21 offers: `active: false` and
//! `inactivity_reasons` codes (the demo offers' listing errors).

mod api;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::faults::{Fault, FaultKind, FaultQueue};

/// Lines an offer import file (OF01) or an OF24 call may hold (ASSUMED: Mirakl documents file
/// sizes loosely; the connector chunks at the same number).
pub const MAX_IMPORT_LINES: usize = 100_000;
/// Documented maximum `max` of offset-paginated lists.
pub const MAX_PAGE_SIZE: usize = 100;

/// Configuration of a simulated Mirakl instance and shop.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The shop's API key (sent raw in `Authorization`).
    pub api_key: String,
    /// The shop's id (the optional `shop_id` query parameter must equal it).
    pub shop_id: i64,
    /// Shop name (A01).
    pub shop_name: String,
    /// Demo products (one offer each).
    pub products: usize,
    /// Demo orders.
    pub orders: usize,
    /// Seed of the demo data.
    pub seed: u64,
    /// Currency of the offers and orders.
    pub currency: String,
    /// Enforce the documented call frequencies (429 + Retry-After).
    pub limits: bool,
    /// "Once per minute": the least time between two calls of a limited API.
    pub interval: Duration,
    /// Fixed part of an import's processing time (ASSUMED).
    pub import_base: Duration,
    /// Lines an import processes per second (ASSUMED).
    pub import_lines_per_sec: u64,
    /// Faults active from the start.
    pub faults: Vec<Fault>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            api_key: "mirakl-demo-shop-key".into(),
            shop_id: 2001,
            shop_name: "Demo Shop".into(),
            products: 60,
            orders: 12,
            seed: 42,
            currency: "EUR".into(),
            limits: true,
            interval: Duration::from_secs(60),
            import_base: Duration::from_millis(300),
            import_lines_per_sec: 100_000,
            faults: Vec::new(),
        }
    }
}

impl SimConfig {
    /// Processing time of an import of `lines` lines.
    pub fn processing(&self, lines: usize) -> Duration {
        self.import_base
            + Duration::from_secs_f64(lines as f64 / self.import_lines_per_sec.max(1) as f64)
    }
}

/// The least time the limits allow for exporting stock and price of `offers` offers:
/// files of at most [`MAX_IMPORT_LINES`] lines, one OF01 call per `interval` (once per
/// minute), each processed in `import_base + lines / import_lines_per_sec`; the last file's
/// status (OF02) can be read as soon as it completes. So
/// `floor = (files - 1) × interval + processing(lines of the last file)`; e.g. 100,000 offers
/// with the defaults: `0 × 60 s + 0.3 s + 100,000 / 100,000 s = 1.3 s`; 250,000 offers:
/// `2 × 60 s + 0.3 s + 0.5 s = 120.8 s`.
pub fn export_floor(offers: usize, cfg: &SimConfig) -> Duration {
    if offers == 0 {
        return Duration::ZERO;
    }
    let files = offers.div_ceil(MAX_IMPORT_LINES);
    let last = offers - (files - 1) * MAX_IMPORT_LINES;
    let interval = if cfg.limits {
        cfg.interval
    } else {
        Duration::ZERO
    };
    interval * (files as u32 - 1) + cfg.processing(last)
}

/// Marks this platform's [`crate::server::Running`].
#[derive(Debug)]
pub struct Platform;

/// A running simulator; stops when `stop` is called or when dropped.
pub type RunningSimulator = crate::server::Running<Platform>;

/// Starts a simulated Mirakl instance on `addr` (port 0: any free port) in a tokio task.
pub async fn start(addr: SocketAddr, config: SimConfig) -> std::io::Result<RunningSimulator> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let sim = Arc::new(Sim::new(config));
    crate::storm::init(&*sim);
    let server = crate::server::Server::serve(listener, router(sim), "mirakl");
    Ok(crate::server::Running::new(addr, server))
}

/// Request counters.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) requests: u64,
    pub(crate) by_api: HashMap<String, u64>,
    pub(crate) rate_limited: u64,
    pub(crate) unauthorized: u64,
}

/// Shared state of one simulator.
pub(crate) struct Sim {
    pub(crate) config: SimConfig,
    pub(crate) store: Mutex<api::Store>,
    pub(crate) faults: FaultQueue,
    pub(crate) stats: Mutex<Stats>,
    /// Last accepted call of each limited API.
    last_call: Mutex<HashMap<&'static str, Instant>>,
    pub(crate) key_revoked: AtomicBool,
    /// Changes of sellable quantities (`/__admin/quantity-log`).
    pub(crate) storm_log: crate::storm::QuantityLog,
}

pub(crate) fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a handler panicked mid-request; the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sim {
    fn new(config: SimConfig) -> Self {
        Self {
            store: Mutex::new(api::Store::seeded(&config)),
            faults: FaultQueue::new(config.faults.clone()),
            stats: Mutex::new(Stats::default()),
            last_call: Mutex::new(HashMap::new()),
            key_revoked: AtomicBool::new(false),
            storm_log: crate::storm::QuantityLog::default(),
            config,
        }
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, api::Store> {
        let mut store = relock(&self.store);
        if store.settle(Instant::now()) {
            self.log_applied(&store);
        }
        store
    }
}

pub(crate) type Shared = Arc<Sim>;

fn router(sim: Shared) -> Router {
    let api = api::routes()
        .fallback(not_found)
        // Import files are larger than axum's 2 MB default (ASSUMED limit: 64 MB).
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
        .layer(middleware::from_fn_with_state(sim.clone(), guard));
    let app = Router::new()
        .nest(
            "/__admin",
            api::admin_routes().merge(crate::storm::routes(sim.clone())),
        )
        .merge(api)
        .with_state(sim.clone());
    crate::storm::layer(app, sim)
}

async fn not_found(req: Request) -> ApiError {
    error(
        StatusCode::NOT_FOUND,
        &format!("No resource found for {}", req.uri().path()),
    )
}

/// The Mirakl API code of a request, and whether its call frequency is limited.
fn api_of(req: &Request) -> (&'static str, bool) {
    let path = req.uri().path();
    let query = req.uri().query().unwrap_or("");
    let first_page = !query
        .split('&')
        .any(|kv| kv.strip_prefix("offset=").is_some_and(|v| v != "0"));
    let method = req.method().as_str();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", ["api", "orders"]) => ("OR11", first_page),
        ("PUT", ["api", "orders", _, "accept"]) => ("OR21", false),
        ("PUT", ["api", "orders", _, "tracking"]) => ("OR23", false),
        ("PUT", ["api", "orders", _, "ship"]) => ("OR24", false),
        ("GET", ["api", "offers"]) => ("OF21", false),
        ("POST", ["api", "offers"]) => ("OF24", true),
        ("POST", ["api", "offers", "imports"]) => ("OF01", true),
        ("GET", ["api", "offers", "imports", _]) => ("OF02", true),
        ("GET", ["api", "offers", "imports", _, "error_report"]) => ("OF03", true),
        ("GET", ["api", "account"]) => ("A01", false),
        _ => ("other", false),
    }
}

fn too_many(wait: Duration) -> Response {
    let mut resp = error(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests: this API is limited to one call per minute",
    )
    .into_response();
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// Auth, `shop_id`, call frequencies, injected faults and statistics around every API call.
async fn guard(State(sim): State<Shared>, req: Request, next: Next) -> Response {
    let (api, limited) = api_of(&req);
    {
        let mut stats = relock(&sim.stats);
        stats.requests += 1;
        *stats.by_api.entry(api.to_string()).or_default() += 1;
    }
    let key_ok = !sim.key_revoked.load(Ordering::SeqCst)
        && req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|k| k == sim.config.api_key);
    if !key_ok {
        relock(&sim.stats).unauthorized += 1;
        return error(StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    }
    let shop = req.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("shop_id=").map(str::to_string))
    });
    if let Some(shop) = shop
        && shop != sim.config.shop_id.to_string()
    {
        return error(
            StatusCode::FORBIDDEN,
            &format!("You do not have access to shop {shop}"),
        )
        .into_response();
    }
    if let Some(f) = sim.faults.take(req.uri().path()) {
        match f.kind {
            FaultKind::Status => {
                let status =
                    StatusCode::from_u16(f.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                let msg = status.canonical_reason().unwrap_or("Injected failure");
                return error(status, msg).into_response();
            }
            FaultKind::Malformed => {
                return (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    "{\"orders\": [{\"order_id\": \"Trunc",
                )
                    .into_response();
            }
            FaultKind::RateLimit => {
                relock(&sim.stats).rate_limited += 1;
                return too_many(Duration::from_millis(f.reset_ms));
            }
            FaultKind::Timeout => tokio::time::sleep(Duration::from_millis(f.delay_ms)).await,
        }
    }
    if limited && sim.config.limits {
        let now = Instant::now();
        let mut last = relock(&sim.last_call);
        if let Some(prev) = last.get(api) {
            let since = now.duration_since(*prev);
            if since < sim.config.interval {
                drop(last);
                relock(&sim.stats).rate_limited += 1;
                return too_many(sim.config.interval - since);
            }
        }
        last.insert(api, now);
    }
    next.run(req).await
}

/// An error answer of the simulated API: Mirakl's `{status, message}` body.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: Value,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// What a handler returns.
pub(crate) type ApiResult = Result<Response, ApiError>;

/// A Mirakl error.
pub(crate) fn error(status: StatusCode, message: &str) -> ApiError {
    ApiError {
        status,
        body: json!({ "status": status.as_u16(), "message": message }),
    }
}

/// A 200 JSON answer.
pub(crate) fn ok(body: Value) -> ApiResult {
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

/// The parts of a `multipart/form-data` body: (name, content).
pub(crate) fn multipart(content_type: &str, body: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))?
        .trim_matches('"');
    let delim = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    let start = find(rest, delim.as_bytes())?;
    rest = &rest[start + delim.len()..];
    loop {
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).to_string();
        rest = &rest[head_end + 4..];
        let next = find(rest, format!("\r\n{delim}").as_bytes())?;
        let content = rest[..next].to_vec();
        rest = &rest[next + 2 + delim.len()..];
        let name = head
            .split(';')
            .map(str::trim)
            .find_map(|p| p.strip_prefix("name="))
            .map(|n| n.trim_matches('"').to_string())
            .unwrap_or_default();
        parts.push((name, content));
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        i += hay[i..].iter().position(|&b| b == first)?;
        if hay[i..].starts_with(needle) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Splits one `;`-separated CSV line (fields optionally quoted, `""` escapes a quote).
pub(crate) fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ';' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// One CSV field, quoted.
pub(crate) fn csv_quote(field: &str) -> String {
    format!("\"{}\"", field.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_multipart() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"import_mode\"\r\n\r\nNORMAL\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"offers.csv\"\r\nContent-Type: text/csv\r\n\r\n\"sku\";\"price\"\r\n\"a\";\"1\"\r\n--XyZ--\r\n";
        let parts = multipart("multipart/form-data; boundary=XyZ", body).expect("parts");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], ("import_mode".into(), b"NORMAL".to_vec()));
        assert_eq!(parts[1].0, "file");
        assert_eq!(parts[1].1, b"\"sku\";\"price\"\r\n\"a\";\"1\"".to_vec());
    }

    #[test]
    fn splits_csv() {
        assert_eq!(csv_fields("\"a;b\";\"c\"\"d\";e"), vec!["a;b", "c\"d", "e"]);
    }

    #[test]
    fn floor_arithmetic() {
        let cfg = SimConfig::default();
        assert_eq!(export_floor(100_000, &cfg), Duration::from_millis(1300));
        assert_eq!(export_floor(250_000, &cfg), Duration::from_millis(120_800));
    }
}

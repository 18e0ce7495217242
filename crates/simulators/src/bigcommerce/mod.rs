//! A BigCommerce store: the V3 catalog and inventory APIs and the V2 orders API, as documented
//! by BigCommerce's OpenAPI specs (`shared/specs/bigcommerce/`), with `X-Auth-Token` auth, the
//! documented window rate limit and its `X-Rate-Limit-*` headers, and `/__admin/` endpoints for
//! fault injection and inspection. See the crate's README for the endpoint list.

mod admin;
mod catalog;
mod hooks;
mod inventory;
mod orders;
mod store;
mod storm;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::faults::{Fault, FaultKind, FaultQueue};
use store::Store;

/// Configuration of a simulated BigCommerce store.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Store hash, the `{store_hash}` of `/stores/{store_hash}/v3`.
    pub store_hash: String,
    /// The one valid `X-Auth-Token`.
    pub access_token: String,
    /// Demo products to seed.
    pub products: usize,
    /// Demo orders to seed.
    pub orders: usize,
    /// Seed of the demo data.
    pub seed: u64,
    /// Requests allowed per window (BigCommerce Standard plans: 150).
    pub rate_limit_requests: u32,
    /// Window length in milliseconds (BigCommerce: 30 000).
    pub rate_limit_window_ms: u64,
    /// Store currency.
    pub currency: String,
    /// Faults active from the start.
    pub faults: Vec<Fault>,
    /// Serve every product as a simple product (one base variant holding the stock of the
    /// first demo variant): keeps catalogs of a million products small, for benchmarks.
    pub simple_products: bool,
    /// The `include_fields` (comma-separated) the product documents are kept rendered for at
    /// start, as a platform keeps its documents stored: empty for every field. Other field
    /// lists are rendered on first request and kept.
    pub document_fields: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            store_hash: "demo-store".into(),
            access_token: "bc-demo-token".into(),
            products: 60,
            orders: 12,
            seed: 42,
            rate_limit_requests: 150,
            rate_limit_window_ms: 30_000,
            currency: "USD".into(),
            faults: Vec::new(),
            simple_products: false,
            document_fields: String::new(),
        }
    }
}

/// A running simulator; stops when [`RunningSimulator::stop`] is called or when dropped.
#[derive(Debug)]
pub struct RunningSimulator {
    /// Address it listens on.
    pub addr: SocketAddr,
    store_hash: String,
    server: crate::server::Server,
}

impl RunningSimulator {
    /// `http://<addr>`: the value for a connection's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://<addr>/stores/<hash>/v3`.
    pub fn v3_url(&self) -> String {
        format!("{}/stores/{}/v3", self.base_url(), self.store_hash)
    }

    /// `http://<addr>/stores/<hash>/v2`.
    pub fn v2_url(&self) -> String {
        format!("{}/stores/{}/v2", self.base_url(), self.store_hash)
    }

    /// `http://<addr>/__admin`.
    pub fn admin_url(&self) -> String {
        format!("{}/__admin", self.base_url())
    }

    /// Stops serving and waits (briefly) for the server task to end.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// Starts a simulated store on `addr` (port 0: any free port) in a tokio task.
pub async fn start(addr: SocketAddr, config: SimConfig) -> std::io::Result<RunningSimulator> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let store_hash = config.store_hash.clone();
    let sim = Arc::new(Sim::new(config));
    crate::storm::init(&*sim);
    let app = router(sim);
    let server = crate::server::Server::serve(listener, app, "bigcommerce");
    Ok(RunningSimulator {
        addr,
        store_hash,
        server,
    })
}

/// Request counters served by `GET /__admin/stats`.
#[derive(Debug, Default)]
struct Stats {
    total: u64,
    by_path: BTreeMap<String, u64>,
    rate_limited: u64,
    unauthorized: u64,
    faults_injected: u64,
}

/// The fixed rate-limit window of the store.
#[derive(Debug)]
struct Window {
    quota: u32,
    length: Duration,
    started: Instant,
    used: u32,
}

/// What the rate-limit headers of one response say.
#[derive(Debug, Clone, Copy)]
struct Budget {
    left: u32,
    quota: u32,
    window_ms: u64,
    reset_ms: u64,
}

impl Window {
    fn roll(&mut self, now: Instant) {
        if now.duration_since(self.started) >= self.length {
            self.started = now;
            self.used = 0;
        }
    }

    fn budget(&self, now: Instant) -> Budget {
        let elapsed = now.duration_since(self.started);
        let reset = self.length.saturating_sub(elapsed);
        Budget {
            left: self.quota.saturating_sub(self.used),
            quota: self.quota,
            window_ms: self.length.as_millis() as u64,
            reset_ms: (reset.as_micros() as u64).div_ceil(1000).max(1),
        }
    }

    /// Spends one request; `Err` when the window is exhausted.
    fn take(&mut self) -> Result<Budget, Budget> {
        let now = Instant::now();
        self.roll(now);
        if self.used >= self.quota {
            return Err(self.budget(now));
        }
        self.used += 1;
        Ok(self.budget(now))
    }

    fn peek(&mut self) -> Budget {
        let now = Instant::now();
        self.roll(now);
        self.budget(now)
    }
}

/// Shared state of one simulator.
pub(crate) struct Sim {
    config: SimConfig,
    store: Mutex<Store>,
    faults: FaultQueue,
    window: Mutex<Window>,
    stats: Mutex<Stats>,
    token_revoked: AtomicBool,
    /// Webhook subscriptions (`/v3/hooks`).
    hooks: Mutex<Vec<hooks::Hook>>,
    /// Webhook deliveries made so far (the seed of each delivery's `hash`).
    deliveries: Mutex<u64>,
    /// (scope, HTTP status answered, 0 when unreachable) of each delivery.
    delivery_log: Mutex<Vec<(String, u16)>>,
    /// The client that delivers webhooks.
    http: reqwest::Client,
    /// Changes of sellable quantities (`/__admin/quantity-log`).
    storm_log: crate::storm::QuantityLog,
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a handler panicked mid-request; the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sim {
    fn new(config: SimConfig) -> Self {
        let store = Store::seeded(
            config.seed,
            config.products,
            config.orders,
            &config.currency,
            config.simple_products,
        );
        store.prerender(&store::Fields::parse(&config.document_fields, ""));
        Self {
            store: Mutex::new(store),
            faults: FaultQueue::new(config.faults.clone()),
            window: Mutex::new(Window {
                quota: config.rate_limit_requests.max(1),
                length: Duration::from_millis(config.rate_limit_window_ms.max(1)),
                started: Instant::now(),
                used: 0,
            }),
            stats: Mutex::new(Stats::default()),
            token_revoked: AtomicBool::new(false),
            hooks: Mutex::new(Vec::new()),
            deliveries: Mutex::new(0),
            delivery_log: Mutex::new(Vec::new()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            storm_log: crate::storm::QuantityLog::default(),
            config,
        }
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        relock(&self.store)
    }

    /// Base URL of the V2 API as the store advertises it in resource links.
    pub(crate) fn v2_base(&self) -> String {
        format!(
            "https://api.bigcommerce.com/stores/{}/v2",
            self.config.store_hash
        )
    }
}

type Shared = Arc<Sim>;

fn router(sim: Shared) -> Router {
    let hash = sim.config.store_hash.clone();
    let v3 = Router::new()
        .merge(catalog::routes())
        .merge(inventory::routes())
        .merge(hooks::routes());
    let api = Router::new()
        .nest(&format!("/stores/{hash}/v3"), v3)
        .nest(&format!("/stores/{hash}/v2"), orders::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(sim.clone(), guard));
    let app = Router::new()
        .nest(
            "/__admin",
            admin::routes().merge(crate::storm::routes(sim.clone())),
        )
        .merge(api)
        .layer(middleware::from_fn_with_state(sim.clone(), emit))
        .with_state(sim.clone());
    crate::storm::layer(app, sim)
}

/// After every request, the changes it made go out to webhook subscribers.
async fn emit(State(sim): State<Shared>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    hooks::deliver(&sim);
    resp
}

async fn not_found(req: Request) -> ApiError {
    let path = req.uri().path().to_string();
    if path.contains("/v2/") {
        v2_error(
            StatusCode::NOT_FOUND,
            "The requested resource was not found.",
        )
    } else {
        v3_error(
            StatusCode::NOT_FOUND,
            &format!("The route {path} was not found."),
        )
    }
}

fn set_rate_headers(headers: &mut HeaderMap, b: Budget) {
    let pairs = [
        ("x-rate-limit-requests-left", u64::from(b.left)),
        ("x-rate-limit-requests-quota", u64::from(b.quota)),
        ("x-rate-limit-time-window-ms", b.window_ms),
        ("x-rate-limit-time-reset-ms", b.reset_ms),
    ];
    for (name, value) in pairs {
        headers.insert(name, HeaderValue::from(value));
    }
}

/// Auth, rate limit, injected faults and statistics, around every API request.
async fn guard(State(sim): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    {
        let mut stats = relock(&sim.stats);
        stats.total += 1;
        *stats
            .by_path
            .entry(format!("{} {path}", req.method()))
            .or_default() += 1;
    }
    let token_ok = !sim.token_revoked.load(Ordering::SeqCst)
        && req
            .headers()
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t == sim.config.access_token);
    if !token_ok {
        relock(&sim.stats).unauthorized += 1;
        let budget = relock(&sim.window).peek();
        let mut resp = v3_error(
            StatusCode::UNAUTHORIZED,
            "You are not authorized to access this resource. Check the X-Auth-Token header.",
        )
        .into_response();
        set_rate_headers(resp.headers_mut(), budget);
        return resp;
    }
    let taken = relock(&sim.window).take();
    let budget = match taken {
        Ok(b) => b,
        Err(b) => {
            relock(&sim.stats).rate_limited += 1;
            let mut resp = v3_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests: the rate limit of this store was exceeded.",
            )
            .into_response();
            set_rate_headers(resp.headers_mut(), b);
            return resp;
        }
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
                let title = status.canonical_reason().unwrap_or("Injected failure");
                v3_error(status, title).into_response()
            }
            FaultKind::Malformed => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"data\": [{\"id\": 1, \"name\": \"Trunc",
            )
                .into_response(),
            FaultKind::RateLimit => {
                let mut resp = v3_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many requests: the rate limit of this store was exceeded.",
                )
                .into_response();
                let b = Budget {
                    left: 0,
                    reset_ms: f.reset_ms,
                    ..budget
                };
                set_rate_headers(resp.headers_mut(), b);
                return resp;
            }
            FaultKind::Timeout => {
                tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
                next.run(req).await
            }
        },
        None => next.run(req).await,
    };
    set_rate_headers(resp.headers_mut(), budget);
    resp
}

/// An error answer of the simulated API: a status and the platform's error body.
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

/// A V3 error (`{status, title, type, errors}`).
pub(crate) fn v3_error(status: StatusCode, title: &str) -> ApiError {
    v3_error_with(status, title, json!({}))
}

/// A V3 error with field details.
pub(crate) fn v3_error_with(status: StatusCode, title: &str, errors: Value) -> ApiError {
    let body = json!({
        "status": status.as_u16(),
        "title": title,
        "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
        "errors": errors,
    });
    ApiError { status, body }
}

/// A V2 error (`[{status, message}]`).
pub(crate) fn v2_error(status: StatusCode, message: &str) -> ApiError {
    let body = json!([{ "status": status.as_u16(), "message": message }]);
    ApiError { status, body }
}

/// A 200 JSON answer.
pub(crate) fn ok(body: Value) -> ApiResult {
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

/// Query parameters by name (the last value wins).
pub(crate) type Params = HashMap<String, String>;

/// Comma-separated values of a parameter (empty when absent).
pub(crate) fn list(params: &Params, name: &str) -> Vec<String> {
    params
        .get(name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// Comma-separated integers of a parameter.
pub(crate) fn int_list(params: &Params, name: &str) -> Vec<i64> {
    list(params, name)
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// `page` and `limit` of a request, validated like BigCommerce (422 for non-integers).
pub(crate) fn page_limit(
    params: &Params,
    default: usize,
    max: usize,
) -> Result<(usize, usize), ApiError> {
    let parse = |name: &str, dflt: usize| -> Result<usize, ApiError> {
        match params.get(name) {
            None => Ok(dflt),
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as usize)
                .ok_or_else(|| {
                    v3_error_with(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "The query parameters are invalid.",
                        json!({ name: "must be a positive integer" }),
                    )
                }),
        }
    };
    let page = parse("page", 1)?.max(1);
    let limit = parse("limit", default)?.clamp(1, max);
    Ok((page, limit))
}

/// The slice of `items` on `page`, and V3's `meta.pagination`.
pub(crate) fn paginate<T>(items: Vec<T>, page: usize, limit: usize) -> (Vec<T>, Value) {
    let total = items.len();
    let data: Vec<T> = items
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .collect();
    let meta = pagination_meta(total, data.len(), page, limit);
    (data, meta)
}

/// V3's `meta.pagination` of page `page` holding `count` of `total` items.
pub(crate) fn pagination_meta(total: usize, count: usize, page: usize, limit: usize) -> Value {
    let total_pages = total.div_ceil(limit);
    let mut links = serde_json::Map::new();
    if page > 1 {
        links.insert(
            "previous".into(),
            json!(format!("?page={}&limit={limit}", page - 1)),
        );
    }
    links.insert(
        "current".into(),
        json!(format!("?page={page}&limit={limit}")),
    );
    if page < total_pages {
        links.insert(
            "next".into(),
            json!(format!("?page={}&limit={limit}", page + 1)),
        );
    }
    json!({
        "pagination": {
            "total": total,
            "count": count,
            "per_page": limit,
            "current_page": page,
            "total_pages": total_pages,
            "links": links,
        }
    })
}

/// Parses a JSON request body, or the 400 BigCommerce answers.
pub(crate) fn parse_body(body: &[u8], v2: bool) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let msg = format!("The request body is not valid JSON: {e}");
        if v2 {
            v2_error(StatusCode::BAD_REQUEST, &msg)
        } else {
            v3_error(StatusCode::BAD_REQUEST, &msg)
        }
    })
}

/// Parses a date filter: RFC 3339, RFC 2822, or a bare date (start of that day, UTC).
pub(crate) fn parse_date(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{DateTime, NaiveDate, Utc};
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_rfc2822(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_blocks_after_quota_and_resets() {
        let mut w = Window {
            quota: 2,
            length: Duration::from_millis(50),
            started: Instant::now(),
            used: 0,
        };
        assert_eq!(w.take().map(|b| b.left).ok(), Some(1));
        assert_eq!(w.take().map(|b| b.left).ok(), Some(0));
        let blocked = w.take();
        assert!(blocked.is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(w.take().is_ok());
    }

    #[test]
    fn paginates_with_meta() {
        let (data, meta) = paginate((1..=7).collect::<Vec<_>>(), 2, 3);
        assert_eq!(data, vec![4, 5, 6]);
        assert_eq!(meta["pagination"]["total_pages"], 3);
        assert_eq!(meta["pagination"]["links"]["next"], "?page=3&limit=3");
    }

    #[test]
    fn parses_dates() {
        assert!(parse_date("2025-01-15").is_some());
        assert!(parse_date("2025-01-15T00:03:17Z").is_some());
        assert!(parse_date("Thu, 20 Apr 2017 11:32:00 -0400").is_some());
        assert!(parse_date("nope").is_none());
    }
}

//! A WooCommerce store: the WooCommerce REST API v3 (`/wp-json/wc/v3`) as documented in
//! `woocommerce/woocommerce-rest-api-docs` for what marketsync uses: products and variations
//! (with their batch endpoints), product categories, orders and order notes, webhooks, settings
//! and system status. Consumer key and secret are accepted as HTTP Basic auth or as the
//! `consumer_key`/`consumer_secret` query parameters; errors are WordPress REST errors
//! `{code, message, data: {status}}`; lists are paginated by `page`/`per_page` (at most 100)
//! with `X-WP-Total`, `X-WP-TotalPages` and `Link` headers. WooCommerce itself documents no rate
//! limit: the host's limit is modelled as a configurable requests-per-window answered with
//! `429` and `Retry-After`. Every change of a product, stock or order (including `/__admin/`
//! edits) is delivered to the subscribed webhooks, signed like WooCommerce
//! (`X-WC-Webhook-Signature`: base64 HMAC-SHA256 of the raw body with the webhook's secret).
//! See the crate's README for the endpoint list.

mod admin;
mod api;
mod store;
mod storm;
mod webhooks;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use crate::faults::{Fault, FaultKind, FaultQueue};
use store::Store;

/// The WooCommerce version the simulated store reports.
pub(crate) const WC_VERSION: &str = "8.6.1";
/// Path of the REST API v3 under the store URL.
pub const API_PATH: &str = "/wp-json/wc/v3";

/// Configuration of a simulated WooCommerce store.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The valid consumer key (`ck_…`).
    pub consumer_key: String,
    /// The valid consumer secret (`cs_…`).
    pub consumer_secret: String,
    /// Permissions of the key: `read`, `write` or `read_write` (WooCommerce's key levels).
    pub key_permissions: String,
    /// Site title reported by the system status.
    pub site_name: String,
    /// Demo products to seed.
    pub products: usize,
    /// Demo orders to seed.
    pub orders: usize,
    /// Seed of the demo data.
    pub seed: u64,
    /// Store currency.
    pub currency: String,
    /// The site's timezone, in minutes east of UTC (dates are rendered in it and as GMT).
    pub utc_offset_minutes: i32,
    /// Largest `per_page` (WordPress REST: 100).
    pub max_per_page: usize,
    /// Largest number of create + update + delete items of one batch request (WooCommerce: 100).
    pub max_batch_items: usize,
    /// The host's rate limit: requests per window (WooCommerce documents none).
    pub rate_limit_requests: u32,
    /// The host's rate-limit window in milliseconds.
    pub rate_limit_window_ms: u64,
    /// Faults active from the start.
    pub faults: Vec<Fault>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            consumer_key: "ck_4f1c2a9d0e8b7c6a5f4e3d2c1b0a9f8e7d6c5b4a".into(),
            consumer_secret: "cs_9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d".into(),
            key_permissions: "read_write".into(),
            site_name: "Trailhead Outfitters".into(),
            products: 60,
            orders: 12,
            seed: 42,
            currency: "USD".into(),
            utc_offset_minutes: -300,
            max_per_page: 100,
            max_batch_items: 100,
            rate_limit_requests: 120,
            rate_limit_window_ms: 60_000,
            faults: Vec::new(),
        }
    }
}

/// Marks this platform's [`crate::server::Running`].
#[derive(Debug)]
pub struct Platform;

/// A running simulator; stops when `stop` is called or when dropped.
pub type RunningSimulator = crate::server::Running<Platform>;

impl RunningSimulator {
    /// `http://<addr>/wp-json/wc/v3`.
    pub fn api_url(&self) -> String {
        format!("{}{API_PATH}", self.base_url())
    }
}

/// Starts a simulated store on `addr` (port 0: any free port) in a tokio task.
pub async fn start(addr: SocketAddr, config: SimConfig) -> std::io::Result<RunningSimulator> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let sim = Arc::new(Sim::new(config, format!("http://{addr}")));
    crate::storm::init(&*sim);
    let app = router(sim);
    let server = crate::server::Server::serve(listener, app, "woocommerce");
    Ok(crate::server::Running::new(addr, server))
}

/// Request counters served by `GET /__admin/stats`.
#[derive(Debug, Default)]
struct Stats {
    total: u64,
    by_path: BTreeMap<String, u64>,
    rate_limited: u64,
    unauthorized: u64,
    faults_injected: u64,
    /// Items of each accepted batch request, by path, in order.
    batch_items: BTreeMap<String, Vec<usize>>,
    /// Batch requests refused for exceeding the item limit.
    batches_too_large: u64,
    webhook_deliveries: u64,
}

/// The host's fixed rate-limit window.
#[derive(Debug)]
struct Window {
    quota: u32,
    length: Duration,
    started: Instant,
    used: u32,
}

impl Window {
    /// Spends one request; `Err(time to reset)` when the window is exhausted.
    fn take(&mut self) -> Result<(), Duration> {
        let now = Instant::now();
        if now.duration_since(self.started) >= self.length {
            self.started = now;
            self.used = 0;
        }
        if self.used >= self.quota {
            return Err(self.length.saturating_sub(now.duration_since(self.started)));
        }
        self.used += 1;
        Ok(())
    }
}

/// Shared state of one simulator.
pub(crate) struct Sim {
    config: SimConfig,
    /// `http://<addr>`: the site URL.
    site: String,
    store: Mutex<Store>,
    faults: FaultQueue,
    window: Mutex<Window>,
    stats: Mutex<Stats>,
    key_revoked: AtomicBool,
    deliveries: Mutex<Vec<webhooks::Delivery>>,
    /// Changes of sellable quantities (`/__admin/quantity-log`).
    storm_log: crate::storm::QuantityLog,
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a handler panicked mid-request; the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sim {
    fn new(config: SimConfig, site: String) -> Self {
        let store = Store::seeded(
            config.seed,
            config.products,
            config.orders,
            &config.currency,
            config.utc_offset_minutes,
        );
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
            key_revoked: AtomicBool::new(false),
            deliveries: Mutex::new(Vec::new()),
            site,
            storm_log: crate::storm::QuantityLog::default(),
            config,
        }
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        relock(&self.store)
    }

    /// `http://<addr>/wp-json/wc/v3`, the base of resource links.
    pub(crate) fn base(&self) -> String {
        format!("{}{API_PATH}", self.site)
    }

    /// Records an accepted batch of `items` items.
    pub(crate) fn record_batch(&self, path: &str, items: usize) {
        relock(&self.stats)
            .batch_items
            .entry(path.to_string())
            .or_default()
            .push(items);
    }

    /// Records a batch refused for its size.
    pub(crate) fn record_batch_too_large(&self) {
        relock(&self.stats).batches_too_large += 1;
    }
}

type Shared = Arc<Sim>;

fn router(sim: Shared) -> Router {
    let api = Router::new()
        .nest(API_PATH, api::routes())
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

async fn not_found() -> ApiError {
    wp_error(
        StatusCode::NOT_FOUND,
        "rest_no_route",
        "No route was found matching the URL and request method.",
    )
}

/// Consumer key and secret of a request: HTTP Basic first, then the query string.
fn credentials(req: &Request) -> Option<(String, String)> {
    if let Some(basic) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())?;
        let (k, s) = decoded.split_once(':')?;
        return Some((k.to_string(), s.to_string()));
    }
    let query = req.uri().query()?;
    let mut key = None;
    let mut secret = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match k {
            "consumer_key" => key = Some(v),
            "consumer_secret" => secret = Some(v),
            _ => {}
        }
    }
    Some((key?, secret?))
}

/// Decodes `%XX` escapes and `+` of a query value.
pub(crate) fn percent_decode(text: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
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

/// The 401 WooCommerce answers a request without valid credentials.
fn unauthorized(req: &Request, sim: &Sim) -> Option<ApiError> {
    let revoked = sim.key_revoked.load(Ordering::SeqCst);
    match credentials(req) {
        None => {
            // No credentials: the request runs as a visitor and fails the permission check.
            let (code, message) = match *req.method() {
                Method::GET => (
                    "woocommerce_rest_cannot_view",
                    "Sorry, you cannot list resources.",
                ),
                Method::DELETE => (
                    "woocommerce_rest_cannot_delete",
                    "Sorry, you are not allowed to delete this resource.",
                ),
                Method::POST => (
                    "woocommerce_rest_cannot_create",
                    "Sorry, you are not allowed to create resources.",
                ),
                _ => (
                    "woocommerce_rest_cannot_edit",
                    "Sorry, you are not allowed to edit this resource.",
                ),
            };
            Some(wp_error(StatusCode::UNAUTHORIZED, code, message))
        }
        Some((key, _)) if revoked || key != sim.config.consumer_key => Some(wp_error(
            StatusCode::UNAUTHORIZED,
            "woocommerce_rest_authentication_error",
            "Consumer key is invalid.",
        )),
        Some((_, secret)) if secret != sim.config.consumer_secret => Some(wp_error(
            StatusCode::UNAUTHORIZED,
            "woocommerce_rest_authentication_error",
            "Consumer secret is invalid.",
        )),
        Some(_) => {
            let write = *req.method() != Method::GET && *req.method() != Method::HEAD;
            let allowed = match sim.config.key_permissions.as_str() {
                "read" => !write,
                "write" => write,
                _ => true,
            };
            (!allowed).then(|| {
                let message = if write {
                    "The API key provided does not have write permissions."
                } else {
                    "The API key provided does not have read permissions."
                };
                wp_error(
                    StatusCode::UNAUTHORIZED,
                    "woocommerce_rest_authentication_error",
                    message,
                )
            })
        }
    }
}

/// The host's 429 (WooCommerce documents no rate limit; hosts answer 429 with Retry-After).
fn too_many(wait: Duration) -> Response {
    let secs = wait.as_millis().div_ceil(1000).max(1) as u64;
    let mut resp = wp_error(
        StatusCode::TOO_MANY_REQUESTS,
        "rest_too_many_requests",
        "Too many requests. Please wait before trying again.",
    )
    .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
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
    if let Err(wait) = relock(&sim.window).take() {
        relock(&sim.stats).rate_limited += 1;
        return too_many(wait);
    }
    if let Some(err) = unauthorized(&req, &sim) {
        relock(&sim.stats).unauthorized += 1;
        let mut resp = err.into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"WooCommerce REST API\""),
        );
        return resp;
    }
    let fault = sim.faults.take(&path);
    if fault.is_some() {
        relock(&sim.stats).faults_injected += 1;
    }
    match fault {
        Some(f) => match f.kind {
            FaultKind::Status => {
                let status =
                    StatusCode::from_u16(f.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                let mut body = json!({
                    "code": "internal_server_error",
                    "message": "<p>There has been a critical error on this website.</p>",
                    "data": {"status": status.as_u16()},
                    "additional_errors": [],
                });
                if status.is_client_error() {
                    body["code"] = json!("rest_injected_error");
                    body["message"] = json!(status.canonical_reason().unwrap_or("Error"));
                }
                (status, axum::Json(body)).into_response()
            }
            FaultKind::Malformed => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
                "[{\"id\": 1, \"name\": \"Trunc",
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
        None => next.run(req).await,
    }
}

/// An error answer of the simulated API: a status and the WordPress REST error body.
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

/// A WordPress REST error `{code, message, data: {status}}`.
pub(crate) fn wp_error(status: StatusCode, code: &str, message: &str) -> ApiError {
    ApiError {
        status,
        body: json!({"code": code, "message": message, "data": {"status": status.as_u16()}}),
    }
}

/// `rest_invalid_param` (400) for the named parameters.
pub(crate) fn invalid_param(params: &[(&str, String)]) -> ApiError {
    let names: Vec<&str> = params.iter().map(|(n, _)| *n).collect();
    let details: serde_json::Map<String, Value> = params
        .iter()
        .map(|(n, m)| ((*n).to_string(), json!(m)))
        .collect();
    ApiError {
        status: StatusCode::BAD_REQUEST,
        body: json!({
            "code": "rest_invalid_param",
            "message": format!("Invalid parameter(s): {}", names.join(", ")),
            "data": {"status": 400, "params": details},
        }),
    }
}

/// A 200 JSON answer.
pub(crate) fn ok(body: Value) -> ApiResult {
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

/// A 201 JSON answer.
pub(crate) fn created(body: Value) -> ApiResult {
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
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

/// `page` and `per_page` of a list request, validated like WordPress (`rest_invalid_param`).
pub(crate) fn page_params(params: &Params, max: usize) -> Result<(usize, usize), ApiError> {
    let mut bad = Vec::new();
    let int = |name: &str, dflt: usize| -> Option<i64> {
        match params.get(name) {
            None => Some(dflt as i64),
            Some(v) => v.trim().parse::<i64>().ok(),
        }
    };
    let page = int("page", 1);
    let per_page = int("per_page", 10);
    let page = match page {
        Some(p) if p >= 1 => p as usize,
        Some(_) => {
            bad.push((
                "page",
                "page must be greater than or equal to 1".to_string(),
            ));
            1
        }
        None => {
            bad.push(("page", "page is not of type integer.".to_string()));
            1
        }
    };
    let per_page = match per_page {
        Some(p) if p >= 1 && p as usize <= max => p as usize,
        Some(_) => {
            bad.push((
                "per_page",
                format!("per_page must be between 1 (inclusive) and {max} (inclusive)"),
            ));
            10
        }
        None => {
            bad.push(("per_page", "per_page is not of type integer.".to_string()));
            10
        }
    };
    if bad.is_empty() {
        Ok((page, per_page))
    } else {
        Err(invalid_param(&bad))
    }
}

/// One page of `items` with `X-WP-Total`, `X-WP-TotalPages` and the `Link` header.
pub(crate) fn paged(items: Vec<Value>, page: usize, per_page: usize, url: &str) -> ApiResult {
    let total = items.len();
    let pages = total.div_ceil(per_page);
    let data: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut resp = (StatusCode::OK, axum::Json(Value::Array(data))).into_response();
    let h = resp.headers_mut();
    h.insert("x-wp-total", HeaderValue::from(total as u64));
    h.insert("x-wp-totalpages", HeaderValue::from(pages as u64));
    let mut links = Vec::new();
    if page > 1 && page <= pages + 1 {
        links.push(format!(
            "<{url}?page={}&per_page={per_page}>; rel=\"prev\"",
            page - 1
        ));
    }
    if page < pages {
        links.push(format!(
            "<{url}?page={}&per_page={per_page}>; rel=\"next\"",
            page + 1
        ));
    }
    if !links.is_empty()
        && let Ok(v) = HeaderValue::from_str(&links.join(", "))
    {
        h.insert(header::LINK, v);
    }
    Ok(resp)
}

/// Parses a JSON request body, or the 400 WordPress answers.
pub(crate) fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|_| {
        wp_error(
            StatusCode::BAD_REQUEST,
            "rest_invalid_json",
            "Invalid JSON body passed.",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_blocks_after_quota() {
        let mut w = Window {
            quota: 2,
            length: Duration::from_millis(50),
            started: Instant::now(),
            used: 0,
        };
        assert!(w.take().is_ok());
        assert!(w.take().is_ok());
        assert!(w.take().is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(w.take().is_ok());
    }

    #[test]
    fn page_params_follow_wordpress() {
        let mut p = Params::new();
        assert_eq!(page_params(&p, 100).ok(), Some((1, 10)));
        p.insert("per_page".into(), "101".into());
        let err = page_params(&p, 100).expect_err("too large");
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert_eq!(err.body["code"], "rest_invalid_param");
        p.insert("per_page".into(), "100".into());
        p.insert("page".into(), "3".into());
        assert_eq!(page_params(&p, 100).ok(), Some((3, 100)));
    }

    #[test]
    fn decodes_query_values() {
        assert_eq!(percent_decode("a%3Ab+c"), "a:b c");
        assert_eq!(percent_decode("100%"), "100%");
    }
}

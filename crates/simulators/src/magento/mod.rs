//! A Magento 2 / Adobe Commerce store: the REST API under `/rest/<store_code>/V1` (`default`,
//! `all` or any store code) for what the connector uses (products and configurable children,
//! attribute options, categories, MSI sources and source items, orders, shipments, the async
//! bulk API and its status, the Adobe Commerce webhooks subscription API), with integration
//! token (bearer) and OAuth 1.0a (HMAC-SHA256) auth, `searchCriteria` paging with the maximum
//! page size (300), errors as `{"message","parameters"}`, a configurable rate-limit window
//! (429 + `Retry-After`, as Adobe Commerce Cloud's edge answers; Magento itself has none),
//! webhook deliveries signed like Adobe Commerce webhooks (`x-adobe-commerce-webhook-signature`)
//! and `/__admin/` endpoints for fault injection and inspection. See the crate's README.

mod api;
mod store;
mod storm;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::demo::DemoParty;
use crate::faults::{Fault, FaultKind, FaultQueue};
use store::Store;

/// Maximum `searchCriteria[pageSize]` (Magento 2.4.7+: `webapi/validation/maximum_page_size`,
/// default 300).
pub const MAX_PAGE_SIZE: usize = 300;

/// Configuration of a simulated Magento store.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The integration's access token (`Authorization: Bearer`, or OAuth 1.0a `oauth_token`).
    pub access_token: String,
    /// The integration's access token secret (OAuth 1.0a).
    pub access_token_secret: String,
    /// The integration's consumer key (OAuth 1.0a).
    pub consumer_key: String,
    /// The integration's consumer secret (OAuth 1.0a).
    pub consumer_secret: String,
    /// Key of the webhook signatures (`x-adobe-commerce-webhook-signature`).
    pub webhook_secret: String,
    /// Demo products to seed.
    pub products: usize,
    /// Demo orders to seed.
    pub orders: usize,
    /// Seed of the demo data.
    pub seed: u64,
    /// Maximum `searchCriteria[pageSize]` (Magento default 300).
    pub max_page_size: usize,
    /// Maximum source items in one `POST /V1/inventory/source-items` request or one bulk
    /// operation (not documented by Magento; a deployment limit modelled here).
    pub max_source_items: usize,
    /// Requests allowed per window (Adobe Commerce Cloud edge rate limiting; Magento: none).
    pub rate_limit_requests: u32,
    /// Window length in milliseconds.
    pub rate_limit_window_ms: u64,
    /// Store currency.
    pub currency: String,
    /// Store name shown by `/V1/store/storeConfigs`.
    pub store_name: String,
    /// Bulk status polls that still answer "open" before the operations complete.
    pub bulk_open_polls: u32,
    /// Faults active from the start.
    pub faults: Vec<Fault>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            access_token: "mage-demo-access-token".into(),
            access_token_secret: "mage-demo-token-secret".into(),
            consumer_key: "mage-demo-consumer-key".into(),
            consumer_secret: "mage-demo-consumer-secret".into(),
            webhook_secret: "mage-demo-webhook-key".into(),
            products: 60,
            orders: 12,
            seed: 42,
            max_page_size: MAX_PAGE_SIZE,
            max_source_items: 100,
            rate_limit_requests: 300,
            rate_limit_window_ms: 60_000,
            currency: "USD".into(),
            store_name: "Demo Outdoor Store".into(),
            bulk_open_polls: 1,
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
    /// `http://<addr>/rest/default/V1`.
    pub fn v1_url(&self) -> String {
        format!("{}/rest/default/V1", self.base_url())
    }
}

/// Starts a simulated store on `addr` (port 0: any free port) in a tokio task.
pub async fn start(addr: SocketAddr, config: SimConfig) -> std::io::Result<RunningSimulator> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let sim = Arc::new(Sim::new(config));
    crate::storm::init(&*sim);
    let app = router(sim);
    let server = crate::server::Server::serve(listener, app, "magento");
    Ok(crate::server::Running::new(addr, server))
}

#[derive(Debug, Default)]
struct Stats {
    total: u64,
    by_path: BTreeMap<String, u64>,
    rate_limited: u64,
    unauthorized: u64,
    faults_injected: u64,
    source_item_batches: Vec<usize>,
}

#[derive(Debug)]
struct Window {
    quota: u32,
    length: Duration,
    started: Instant,
    used: u32,
}

impl Window {
    /// Spends one request; `Err(ms until the reset)` when the window is exhausted.
    fn take(&mut self) -> Result<(), u64> {
        let now = Instant::now();
        if now.duration_since(self.started) >= self.length {
            self.started = now;
            self.used = 0;
        }
        if self.used >= self.quota {
            let left = self.length.saturating_sub(now.duration_since(self.started));
            return Err(left.as_millis() as u64);
        }
        self.used += 1;
        Ok(())
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
    deliveries: Mutex<Vec<Value>>,
    delivery_seq: AtomicU64,
    nonces: Mutex<std::collections::HashSet<String>>,
    /// Changes of sellable quantities (`/__admin/quantity-log`).
    storm_log: crate::storm::QuantityLog,
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sim {
    fn new(config: SimConfig) -> Self {
        Self {
            store: Mutex::new(Store::seeded(
                config.seed,
                config.products,
                config.orders,
                &config.currency,
            )),
            faults: FaultQueue::new(config.faults.clone()),
            window: Mutex::new(Window {
                quota: config.rate_limit_requests.max(1),
                length: Duration::from_millis(config.rate_limit_window_ms.max(1)),
                started: Instant::now(),
                used: 0,
            }),
            stats: Mutex::new(Stats::default()),
            token_revoked: AtomicBool::new(false),
            deliveries: Mutex::new(Vec::new()),
            delivery_seq: AtomicU64::new(0),
            nonces: Mutex::new(std::collections::HashSet::new()),
            storm_log: crate::storm::QuantityLog::default(),
            config,
        }
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        relock(&self.store)
    }

    pub(crate) fn config(&self) -> &SimConfig {
        &self.config
    }

    pub(crate) fn record_source_batch(&self, n: usize) {
        relock(&self.stats).source_item_batches.push(n);
    }

    /// Posts `data` to every subscription of `method`, signed like Adobe Commerce webhooks.
    pub(crate) fn notify(self: &Arc<Self>, method: &str, data: Value) {
        let hooks: Vec<String> = self
            .store()
            .hooks
            .iter()
            .filter(|h| h.webhook_method == method)
            .map(|h| h.url.clone())
            .collect();
        for url in hooks {
            let seq = self.delivery_seq.fetch_add(1, Ordering::SeqCst) + 1;
            let id = format!(
                "{:08x}-4d2c-4a8e-9b1f-{:012x}",
                seq * 2_654_435_761 % 0xffff_ffff,
                seq
            );
            let body = json!({ "eventName": method, "data": data }).to_string();
            let signature = sign(&self.config.webhook_secret, body.as_bytes());
            let ts = chrono::Utc::now().timestamp().to_string();
            let headers = vec![
                ("Content-Type".to_string(), "application/json".to_string()),
                ("x-adobe-commerce-webhook-signature".to_string(), signature),
                ("x-adobe-commerce-webhook-id".to_string(), id.clone()),
                ("x-adobe-commerce-webhook-timestamp".to_string(), ts),
            ];
            relock(&self.deliveries).push(json!({
                "id": id, "url": url, "method": method,
                "headers": headers.iter().cloned().collect::<BTreeMap<_, _>>(),
                "body": body,
            }));
            tokio::spawn(async move {
                if let Err(e) = post_raw(&url, &headers, body.as_bytes()).await {
                    tracing::warn!(error = %e, "webhook delivery failed");
                }
            });
        }
    }
}

/// Base64 HMAC-SHA256 of `body` under `key`.
pub fn sign(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A minimal HTTP/1.1 POST to an `http://host:port/path` URL (webhook deliveries).
async fn post_raw(url: &str, headers: &[(String, String)], body: &[u8]) -> std::io::Result<u16> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| std::io::Error::other("only http:// webhook URLs are delivered"))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(host))
            .await
            .map_err(|_| std::io::Error::other("connect timed out"))??;
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await?;
    stream.write_all(body).await?;
    let mut buf = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .map_err(|_| std::io::Error::other("no answer"))??;
    let text = String::from_utf8_lossy(&buf[..n]);
    Ok(text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0))
}

type Shared = Arc<Sim>;

fn router(sim: Shared) -> Router {
    let api = Router::new()
        .nest("/rest/{store_code}/V1", api::routes())
        .nest("/rest/{store_code}/async/bulk/V1", api::bulk_routes())
        .nest("/rest/V1", api::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(sim.clone(), guard));
    let app = Router::new()
        .nest(
            "/__admin",
            admin_routes().merge(crate::storm::routes(sim.clone())),
        )
        .merge(api)
        .with_state(sim.clone());
    crate::storm::layer(app, sim)
}

async fn not_found(req: Request) -> ApiError {
    let _ = req;
    mage_error(
        StatusCode::NOT_FOUND,
        "Request does not match any route.",
        json!([]),
    )
}

/// RFC 3986 percent-encoding of OAuth 1.0a.
pub fn oauth_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
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

/// The OAuth 1.0a HMAC-SHA256 signature of a request (RFC 5849 §3.4).
pub fn oauth_signature(
    method: &str,
    base_url: &str,
    params: &[(String, String)],
    consumer_secret: &str,
    token_secret: &str,
) -> String {
    let mut enc: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "oauth_signature")
        .map(|(k, v)| (oauth_encode(k), oauth_encode(v)))
        .collect();
    enc.sort();
    let normalized = enc
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let base = format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        oauth_encode(base_url),
        oauth_encode(&normalized)
    );
    let key = format!(
        "{}&{}",
        oauth_encode(consumer_secret),
        oauth_encode(token_secret)
    );
    sign(&key, base.as_bytes())
}

/// Checks the request's credentials: a bearer integration token, or an OAuth 1.0a signature
/// (in the `Authorization: OAuth` header or in the query).
/// Outcome of the credential check.
enum Auth {
    /// Accepted; an OAuth request's `consumer_key:nonce:timestamp`, recorded once it reaches
    /// the application (Magento refuses a nonce it has seen).
    Ok(Option<String>),
    /// Refused.
    Refused,
    /// An OAuth nonce already used.
    Replayed,
}

fn authorized(sim: &Sim, req: &Request) -> Auth {
    match check_credentials(sim, req) {
        Some(None) => Auth::Ok(None),
        Some(Some(nonce)) if relock(&sim.nonces).contains(&nonce) => Auth::Replayed,
        Some(Some(nonce)) => Auth::Ok(Some(nonce)),
        None => Auth::Refused,
    }
}

/// `None`: refused; `Some(None)`: a bearer token; `Some(Some(nonce))`: a valid OAuth request.
fn check_credentials(sim: &Sim, req: &Request) -> Option<Option<String>> {
    if sim.token_revoked.load(Ordering::SeqCst) {
        return None;
    }
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(token) = auth.strip_prefix("Bearer ") {
        return (token.trim() == sim.config.access_token).then_some(None);
    }
    let query: Vec<(String, String)> = Query::<Vec<(String, String)>>::try_from_uri(req.uri())
        .map(|q| q.0)
        .unwrap_or_default();
    let mut params = query.clone();
    if let Some(list) = auth.strip_prefix("OAuth ") {
        for part in list.split(',') {
            if let Some((k, v)) = part.trim().split_once('=') {
                let v = v.trim().trim_matches('"');
                if k != "realm" {
                    params.push((percent_decode(k), percent_decode(v)));
                }
            }
        }
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (Some(key), Some(token), Some(method), Some(sig), Some(nonce), Some(ts)) = (
        get("oauth_consumer_key"),
        get("oauth_token"),
        get("oauth_signature_method"),
        get("oauth_signature"),
        get("oauth_nonce"),
        get("oauth_timestamp"),
    ) else {
        return None;
    };
    if key != sim.config.consumer_key || token != sim.config.access_token || method != "HMAC-SHA256"
    {
        return None;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let base_url = format!("http://{}{}", host.to_ascii_lowercase(), req.uri().path());
    let want = oauth_signature(
        req.method().as_str(),
        &base_url,
        &params,
        &sim.config.consumer_secret,
        &sim.config.access_token_secret,
    );
    let same = want.len() == sig.len()
        && want
            .bytes()
            .zip(sig.bytes())
            .fold(0, |a, (x, y)| a | (x ^ y))
            == 0;
    same.then(|| Some(format!("{key}:{nonce}:{ts}")))
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
    // The edge (Adobe Commerce Cloud's rate limiting) answers before Magento sees the request.
    if let Err(reset_ms) = relock(&sim.window).take() {
        relock(&sim.stats).rate_limited += 1;
        return too_many(reset_ms);
    }
    let fault = sim.faults.take(&path);
    if fault.is_some() {
        relock(&sim.stats).faults_injected += 1;
    }
    if let Some(f) = &fault
        && f.kind == FaultKind::RateLimit
    {
        return too_many(f.reset_ms);
    }
    match authorized(&sim, &req) {
        Auth::Ok(nonce) => {
            if let Some(n) = nonce {
                relock(&sim.nonces).insert(n);
            }
        }
        Auth::Refused => {
            relock(&sim.stats).unauthorized += 1;
            return mage_error(
                StatusCode::UNAUTHORIZED,
                "The consumer isn't authorized to access %resources.",
                json!({ "resources": "Magento_Catalog::products" }),
            )
            .into_response();
        }
        Auth::Replayed => {
            relock(&sim.stats).unauthorized += 1;
            return mage_error(
                StatusCode::UNAUTHORIZED,
                "The nonce is already being used by the consumer with ID %1.",
                json!([sim.config.consumer_key]),
            )
            .into_response();
        }
    }
    match fault {
        Some(f) => match f.kind {
            FaultKind::Status => {
                let status =
                    StatusCode::from_u16(f.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                mage_error(
                    status,
                    status.canonical_reason().unwrap_or("Internal Error."),
                    json!([]),
                )
                .into_response()
            }
            FaultKind::Malformed => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"items\": [{\"id\": 1, \"sku\": \"Trunc",
            )
                .into_response(),
            FaultKind::RateLimit => too_many(f.reset_ms),
            FaultKind::Timeout => {
                tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
                next.run(req).await
            }
        },
        None => next.run(req).await,
    }
}

fn too_many(reset_ms: u64) -> Response {
    let secs = reset_ms.div_ceil(1000).max(1);
    let mut resp = mage_error(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests. Retry after %1 seconds.",
        json!([secs.to_string()]),
    )
    .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// An error answer: a status and Magento's `{"message","parameters"}` body.
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

/// Magento's error body.
pub(crate) fn mage_error(status: StatusCode, message: &str, parameters: Value) -> ApiError {
    ApiError {
        status,
        body: json!({ "message": message, "parameters": parameters }),
    }
}

/// A 200 JSON answer.
pub(crate) fn ok(body: Value) -> ApiResult {
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

// ---------------------------------------------------------------------------------------
// /__admin/

fn admin_routes() -> Router<Shared> {
    Router::new()
        .route(
            "/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/revoke-token", post(revoke))
        .route("/restore-token", post(restore))
        .route("/stats", get(stats))
        .route("/products/{sku}", get(admin_product).patch(edit_product))
        .route("/orders", post(add_order))
        .route("/orders/{id}", get(admin_order))
        .route("/webhooks", get(deliveries))
        .route("/bulk", get(bulks))
}

fn admin_error(status: StatusCode, message: &str) -> ApiError {
    ApiError {
        status,
        body: json!({ "error": message }),
    }
}

async fn add_fault(State(sim): State<Shared>, body: Bytes) -> ApiResult {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) => {
            sim.faults.push(fault);
            Ok((
                StatusCode::CREATED,
                axum::Json(json!({ "pending": sim.faults.pending() })),
            )
                .into_response())
        }
        Err(e) => Err(admin_error(
            StatusCode::BAD_REQUEST,
            &format!("invalid fault: {e}"),
        )),
    }
}

async fn list_faults(State(sim): State<Shared>) -> ApiResult {
    ok(json!({ "pending": sim.faults.pending() }))
}

async fn clear_faults(State(sim): State<Shared>) -> ApiResult {
    sim.faults.clear();
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn revoke(State(sim): State<Shared>) -> ApiResult {
    sim.token_revoked.store(true, Ordering::SeqCst);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn restore(State(sim): State<Shared>) -> ApiResult {
    sim.token_revoked.store(false, Ordering::SeqCst);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn stats(State(sim): State<Shared>) -> ApiResult {
    let s = relock(&sim.stats);
    ok(json!({
        "requests_total": s.total,
        "requests": s.by_path,
        "rate_limited": s.rate_limited,
        "unauthorized": s.unauthorized,
        "faults_injected": s.faults_injected,
        "source_item_batches": s.source_item_batches,
    }))
}

async fn deliveries(State(sim): State<Shared>) -> ApiResult {
    ok(json!(relock(&sim.deliveries).clone()))
}

async fn bulks(State(sim): State<Shared>) -> ApiResult {
    let store = sim.store();
    ok(json!(
        store
            .bulks
            .iter()
            .map(|b| json!({"bulk_uuid": b.uuid, "topic": b.topic, "operation_count": b.ops.len(),
                "items": b.ops.iter().map(|o| o.payload["sourceItems"].as_array().map_or(0, Vec::len)).collect::<Vec<_>>()}))
            .collect::<Vec<_>>()
    ))
}

/// The product owning `sku` as stored: the REST body, its children, stock per source and
/// names behind category ids.
async fn admin_product(State(sim): State<Shared>, Path(sku): Path<String>) -> ApiResult {
    let store = sim.store();
    let Some(i) = store.owner_of(&sku) else {
        return Err(admin_error(
            StatusCode::NOT_FOUND,
            &format!("no product with sku {sku}"),
        ));
    };
    let p = &store.products[i];
    let mut body = store.product_json(p);
    let skus: Vec<String> = std::iter::once(p.sku.clone())
        .chain(
            p.children
                .iter()
                .filter_map(|c| store.by_id(*c).map(|c| c.sku.clone())),
        )
        .collect();
    let stock: Vec<Value> = store
        .stock
        .iter()
        .filter(|((s, _), _)| skus.contains(s))
        .map(|((s, src), (q, st))| store.source_item_json(s, src, *q, *st))
        .collect();
    let children: Vec<Value> = p
        .children
        .iter()
        .filter_map(|c| store.by_id(*c).map(|c| store.product_json(c)))
        .collect();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("stock".into(), json!(stock));
        obj.insert("children".into(), json!(children));
        obj.insert("brand_name".into(), json!(p.brand));
        obj.insert("description_text".into(), json!(p.description));
        obj.insert(
            "category_paths".into(),
            json!(
                p.category_ids
                    .iter()
                    .map(|c| store.category_path(*c))
                    .collect::<Vec<_>>()
            ),
        );
    }
    ok(body)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ProductEdit {
    name: Option<String>,
    description: Option<String>,
    brand: Option<String>,
    price: Option<String>,
    weight: Option<f64>,
    /// (source code → quantity) of the edited sku.
    stock: BTreeMap<String, f64>,
}

/// Edits a product as a merchant would in the admin; notifies webhooks.
async fn edit_product(
    State(sim): State<Shared>,
    Path(sku): Path<String>,
    body: Bytes,
) -> ApiResult {
    let edit: ProductEdit = serde_json::from_slice(&body)
        .map_err(|e| admin_error(StatusCode::BAD_REQUEST, &format!("invalid edit: {e}")))?;
    let (product, stock) = {
        let mut store = sim.store();
        let Some(i) = store.by_sku(&sku) else {
            return Err(admin_error(StatusCode::NOT_FOUND, "no such sku"));
        };
        let p = &mut store.products[i];
        let touched = edit.name.is_some()
            || edit.description.is_some()
            || edit.brand.is_some()
            || edit.price.is_some()
            || edit.weight.is_some();
        if let Some(v) = edit.name {
            p.name = v;
        }
        if let Some(v) = edit.description {
            p.description = v;
        }
        if let Some(v) = edit.brand {
            p.brand = v;
        }
        if let Some(v) = edit.price {
            p.price = v;
        }
        if let Some(v) = edit.weight {
            p.weight = v;
        }
        if touched {
            p.updated_at = chrono::Utc::now();
        }
        let product = touched.then(|| json!({"product": {"id": p.id, "sku": p.sku}}));
        let mut items = Vec::new();
        for (src, q) in &edit.stock {
            store.stock.insert((sku.clone(), src.clone()), (*q, 1));
            items.push(store.source_item_json(&sku, src, *q, 1));
        }
        (
            product,
            (!items.is_empty()).then(|| json!({"sourceItems": items})),
        )
    };
    if let Some(p) = product {
        sim.notify(api::PRODUCT_EVENT, p);
    }
    if let Some(s) = stock {
        sim.notify(api::STOCK_EVENT, s);
    }
    admin_product(State(sim), Path(sku)).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NewOrder {
    lines: Vec<NewLine>,
}

#[derive(Debug, Deserialize)]
struct NewLine {
    sku: String,
    #[serde(default = "one")]
    quantity: i64,
}

fn one() -> i64 {
    1
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

async fn add_order(State(sim): State<Shared>, body: Bytes) -> ApiResult {
    if let Some(o) = crate::storm::StormOrder::parse(&body) {
        return Ok(storm::order(&sim, &o));
    }
    let req: NewOrder = if body.iter().all(u8::is_ascii_whitespace) {
        NewOrder::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| admin_error(StatusCode::BAD_REQUEST, &format!("invalid order: {e}")))?
    };
    let (json, event) = {
        let mut store = sim.store();
        let mut lines: Vec<(String, i64)> =
            req.lines.into_iter().map(|l| (l.sku, l.quantity)).collect();
        if lines.is_empty() {
            match store.products.iter().find(|p| p.type_id == "simple") {
                Some(p) => lines.push((p.sku.clone(), 1)),
                None => return Err(admin_error(StatusCode::BAD_REQUEST, "no products")),
            }
        }
        if let Some((sku, _)) = lines.iter().find(|(s, _)| store.by_sku(s).is_none()) {
            return Err(admin_error(
                StatusCode::BAD_REQUEST,
                &format!("unknown sku {sku}"),
            ));
        }
        // Stock moves with the order (as far as there is any: this shape never refuses).
        for (sku, quantity) in &lines {
            if let Ok(left) = store.take_stock(sku, *quantity, false) {
                sim.storm_log.record(sku, left, crate::storm::Cause::Order);
            }
        }
        let id = store.create_order(&lines, test_buyer());
        let o = store.orders.iter().find(|o| o.id == id).cloned();
        let Some(o) = o else {
            return Err(admin_error(StatusCode::BAD_REQUEST, "not created"));
        };
        (
            store.order_json(&o),
            json!({"order": {"entity_id": o.id, "increment_id": format!("{:09}", o.id), "status": o.status}}),
        )
    };
    sim.notify(api::ORDER_EVENT, event);
    Ok((StatusCode::CREATED, axum::Json(json)).into_response())
}

async fn admin_order(State(sim): State<Shared>, Path(id): Path<i64>) -> ApiResult {
    let store = sim.store();
    let Some(o) = store.orders.iter().find(|o| o.id == id) else {
        return Err(admin_error(StatusCode::NOT_FOUND, "no such order"));
    };
    let mut body = store.order_json(o);
    let shipments: Vec<Value> = store
        .shipments
        .iter()
        .filter(|s| s.order_id == id)
        .map(|s| store.shipment_json(s))
        .collect();
    body["shipments"] = json!(shipments);
    ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_encoding_is_rfc3986() {
        assert_eq!(oauth_encode("a b+c~*"), "a%20b%2Bc~%2A");
        assert_eq!(percent_decode("a%20b%2Bc"), "a b+c");
    }

    #[test]
    fn window_blocks_after_quota() {
        let mut w = Window {
            quota: 1,
            length: Duration::from_millis(50),
            started: Instant::now(),
            used: 0,
        };
        assert!(w.take().is_ok());
        assert!(w.take().is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(w.take().is_ok());
    }
}

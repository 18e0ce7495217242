//! A Shopify store: the GraphQL Admin API (version 2025-01) at
//! `POST /admin/api/2025-01/graphql.json`, as Shopify documents it, for the operations the
//! marketsync connector sends: `X-Shopify-Access-Token` auth (401 with Shopify's body for a
//! wrong or revoked token), the cost-based leaky bucket with `extensions.cost.throttleStatus`
//! and `THROTTLED` errors (HTTP 200), the 1000-point single-query limit, `first`/`last` at most
//! 250 and input arrays at most 250 (`MAX_INPUT_SIZE_EXCEEDED`), cursor pagination, bulk
//! operations whose JSONL result is served at a URL, `userErrors` in mutation payloads,
//! webhook subscriptions and signed webhook deliveries (`X-Shopify-Hmac-Sha256`), plus the
//! `/__admin/` endpoints every simulator has. See the crate's README for the details.
//!
//! The GraphQL layer is a small executor: operations are recognised by their root fields and
//! answered with the shapes Shopify documents, not by a general GraphQL engine.

mod admin;
mod cost;
mod graphql;
mod store;
mod storm;
mod webhooks;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::faults::{Fault, FaultKind, FaultQueue};
use store::Store;

/// The Admin API version the simulator serves.
pub const API_VERSION: &str = "2025-01";

/// Shopify plans and their GraphQL Admin API bucket (maximum points, points restored per second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Standard plans: 1000 points, 100 per second.
    Standard,
    /// Advanced Shopify: 2000 points, 200 per second.
    Advanced,
    /// Shopify Plus: 10 000 points, 1000 per second.
    Plus,
    /// Custom figures (for tests): bucket size and restore rate.
    Custom {
        /// Bucket size in points.
        maximum: u32,
        /// Points restored per second.
        restore_rate: u32,
    },
}

impl Plan {
    /// (bucket size, restore rate per second).
    pub fn bucket(self) -> (u32, u32) {
        match self {
            Plan::Standard => (1000, 100),
            Plan::Advanced => (2000, 200),
            Plan::Plus => (10_000, 1000),
            Plan::Custom {
                maximum,
                restore_rate,
            } => (maximum.max(1), restore_rate.max(1)),
        }
    }
}

/// Configuration of a simulated Shopify store.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The shop's permanent domain, `{shop}.myshopify.com` (sent in `X-Shopify-Shop-Domain`).
    pub shop_domain: String,
    /// The shop's name (`shop { name }`).
    pub shop_name: String,
    /// The one valid Admin API access token (`X-Shopify-Access-Token`).
    pub access_token: String,
    /// The app's API secret: the key of webhook HMACs.
    pub api_secret: String,
    /// Access scopes granted to the app (`currentAppInstallation.accessScopes`).
    pub scopes: Vec<String>,
    /// Demo products to seed.
    pub products: usize,
    /// Demo orders to seed.
    pub orders: usize,
    /// Seed of the demo data.
    pub seed: u64,
    /// Plan, which sets the cost bucket (Standard: 1000 points, 100/s).
    pub plan: Plan,
    /// Maximum requested cost of one query (Shopify: 1000).
    pub max_query_cost: u32,
    /// Maximum `first`/`last` of a connection and maximum input array size (Shopify: 250).
    pub max_page_size: usize,
    /// Polls of a bulk operation answered `RUNNING` before it completes.
    pub bulk_polls_before_done: u32,
    /// Shop currency.
    pub currency: String,
    /// Faults active from the start.
    pub faults: Vec<Fault>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            shop_domain: "marketsync-demo.myshopify.com".into(),
            shop_name: "Marketsync Demo Outfitters".into(),
            access_token: "shpat_0123456789abcdef0123456789abcdef".into(),
            api_secret: "shpss_demo_app_secret_0123456789abcdef".into(),
            scopes: [
                "read_products",
                "write_products",
                "read_orders",
                "write_orders",
                "read_inventory",
                "write_inventory",
                "read_customers",
                "write_customers",
                "read_fulfillments",
                "write_fulfillments",
            ]
            .map(String::from)
            .to_vec(),
            products: 60,
            orders: 12,
            seed: 42,
            plan: Plan::Standard,
            max_query_cost: 1000,
            max_page_size: 250,
            bulk_polls_before_done: 1,
            currency: "USD".into(),
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
    /// The GraphQL Admin endpoint.
    pub fn graphql_url(&self) -> String {
        format!("{}/admin/api/{API_VERSION}/graphql.json", self.base_url())
    }
}

/// Starts a simulated shop on `addr` (port 0: any free port) in a tokio task.
pub async fn start(addr: SocketAddr, config: SimConfig) -> std::io::Result<RunningSimulator> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let sim = Arc::new(Sim::new(config, format!("http://{addr}")));
    crate::storm::init(&*sim);
    let app = router(sim);
    let server = crate::server::Server::serve(listener, app, "shopify");
    Ok(crate::server::Running::new(addr, server))
}

/// Request counters served by `GET /__admin/stats`.
#[derive(Debug, Default)]
struct Stats {
    total: u64,
    /// By kind: `query <Name>`, `mutation <Name>`, `GET /__bulk` …
    by_kind: BTreeMap<String, u64>,
    rate_limited: u64,
    throttled: u64,
    unauthorized: u64,
    faults_injected: u64,
    cost_total: u64,
}

/// The cost-based leaky bucket of the shop.
#[derive(Debug)]
struct Bucket {
    maximum: f64,
    restore_rate: f64,
    available: f64,
    at: Instant,
}

impl Bucket {
    fn refill(&mut self) {
        let now = Instant::now();
        let gained = now.duration_since(self.at).as_secs_f64() * self.restore_rate;
        self.available = (self.available + gained).min(self.maximum);
        self.at = now;
    }

    /// Spends `cost` points; `false` (nothing spent) when the bucket is short.
    fn spend(&mut self, cost: u32) -> bool {
        self.refill();
        if f64::from(cost) > self.available {
            return false;
        }
        self.available -= f64::from(cost);
        true
    }

    /// Gives back `points` (the unused part of a query's requested cost).
    fn refund(&mut self, points: u32) {
        self.refill();
        self.available = (self.available + f64::from(points)).min(self.maximum);
    }

    fn status(&mut self) -> serde_json::Value {
        self.refill();
        json!({
            "maximumAvailable": self.maximum,
            "currentlyAvailable": self.available.floor() as u64,
            "restoreRate": self.restore_rate,
        })
    }
}

/// A webhook delivery, as sent (for `/__admin/webhooks/deliveries`).
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Delivery {
    pub url: String,
    pub topic: String,
    pub webhook_id: String,
    pub event_id: String,
    pub status: Option<u16>,
}

/// Shared state of one simulator.
pub(crate) struct Sim {
    config: SimConfig,
    base_url: String,
    store: Mutex<Store>,
    faults: FaultQueue,
    bucket: Mutex<Bucket>,
    stats: Mutex<Stats>,
    token_revoked: AtomicBool,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    /// Client of webhook deliveries (`None` if none could be built, e.g. no TLS provider).
    http: Option<reqwest::Client>,
    /// Changes of sellable quantities (`/__admin/quantity-log`).
    storm_log: crate::storm::QuantityLog,
}

pub(crate) fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a handler panicked mid-request; the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sim {
    fn new(config: SimConfig, base_url: String) -> Self {
        let store = Store::seeded(
            config.seed,
            config.products,
            config.orders,
            &config.currency,
        );
        let (maximum, restore) = config.plan.bucket();
        Self {
            store: Mutex::new(store),
            faults: FaultQueue::new(config.faults.clone()),
            bucket: Mutex::new(Bucket {
                maximum: f64::from(maximum),
                restore_rate: f64::from(restore),
                available: f64::from(maximum),
                at: Instant::now(),
            }),
            stats: Mutex::new(Stats::default()),
            token_revoked: AtomicBool::new(false),
            deliveries: Arc::new(Mutex::new(Vec::new())),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .ok(),
            base_url,
            storm_log: crate::storm::QuantityLog::default(),
            config,
        }
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        relock(&self.store)
    }

    fn count(&self, kind: &str) {
        let mut s = relock(&self.stats);
        s.total += 1;
        *s.by_kind.entry(kind.to_string()).or_default() += 1;
    }

    /// Sends the webhooks of the store's pending events to every subscribed URL.
    pub(crate) fn flush_webhooks(&self) {
        let events = self.store().take_events();
        if events.is_empty() {
            return;
        }
        let subs = self.store().webhooks.clone();
        for ev in events {
            for sub in subs.iter().filter(|s| s.topic == ev.topic) {
                webhooks::deliver(
                    self.http.as_ref(),
                    &self.config,
                    Arc::clone(&self.deliveries),
                    &sub.callback_url,
                    &ev,
                );
            }
        }
    }
}

type Shared = Arc<Sim>;

fn router(sim: Shared) -> Router {
    let app = Router::new()
        .nest(
            "/__admin",
            admin::routes().merge(crate::storm::routes(sim.clone())),
        )
        .route(
            &format!("/admin/api/{API_VERSION}/graphql.json"),
            post(graphql_endpoint),
        )
        .route("/__bulk/{file}", get(bulk_file))
        .fallback(not_found)
        .with_state(sim.clone());
    crate::storm::layer(app, sim)
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"errors": "Not Found"})),
    )
        .into_response()
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Auth, injected faults, statistics, cost and throttling around every GraphQL request.
async fn graphql_endpoint(State(sim): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let path = format!("/admin/api/{API_VERSION}/graphql.json");
    let token_ok = !sim.token_revoked.load(Ordering::SeqCst)
        && headers
            .get("x-shopify-access-token")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t == sim.config.access_token);
    let request: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    let query = request
        .as_ref()
        .and_then(|r| r["query"].as_str())
        .unwrap_or("")
        .to_string();
    let variables = request
        .as_ref()
        .map(|r| r["variables"].clone())
        .unwrap_or(serde_json::Value::Null);
    let op = graphql::Operation::parse(
        &query,
        request.as_ref().and_then(|r| r["operationName"].as_str()),
    );
    sim.count(&op.kind());
    // Shopify checks the token before it looks at the request.
    if !token_ok {
        relock(&sim.stats).unauthorized += 1;
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}),
        );
    }
    if request.is_none() || query.is_empty() {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"errors": {"query": "Required parameter missing or invalid"}}),
        );
    }
    if let Some(f) = sim.faults.take(&format!("{path} {}", op.kind())) {
        relock(&sim.stats).faults_injected += 1;
        match f.kind {
            FaultKind::Status => {
                let status =
                    StatusCode::from_u16(f.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                return json_response(
                    status,
                    json!({"errors": status.canonical_reason().unwrap_or("Injected failure")}),
                );
            }
            FaultKind::Malformed => {
                return (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    "{\"data\": {\"products\": {\"nodes\": [{\"id\": \"gid://shopify/Prod",
                )
                    .into_response();
            }
            FaultKind::RateLimit => {
                relock(&sim.stats).rate_limited += 1;
                let secs = (f.reset_ms as f64 / 1000.0).max(0.001);
                let mut resp = json_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}),
                );
                if let Ok(v) = HeaderValue::from_str(&format!("{secs:.1}")) {
                    resp.headers_mut().insert("retry-after", v);
                }
                return resp;
            }
            FaultKind::Timeout => {
                tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
            }
        }
    }
    let cost = match cost::requested_cost(&query, &variables, sim.config.max_page_size.max(1)) {
        Ok(c) => c,
        Err(e) => return json_response(StatusCode::OK, json!({"errors": [e]})),
    };
    if cost > sim.config.max_query_cost {
        let status = relock(&sim.bucket).status();
        return json_response(
            StatusCode::OK,
            json!({
                "errors": [{
                    "message": format!("Query cost is {cost}, which exceeds the single query max cost limit ({}).\n\nSee https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk operations should be used instead.\nSee https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n", sim.config.max_query_cost),
                    "extensions": {"code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": sim.config.max_query_cost}
                }],
                "extensions": {"cost": {"requestedQueryCost": cost, "actualQueryCost": null, "throttleStatus": status}}
            }),
        );
    }
    let (spent, status_before) = {
        let mut b = relock(&sim.bucket);
        let spent = b.spend(cost);
        (spent, b.status())
    };
    if !spent {
        {
            let mut s = relock(&sim.stats);
            s.throttled += 1;
            s.rate_limited += 1;
        }
        return json_response(
            StatusCode::OK,
            json!({
                "errors": [{
                    "message": "Throttled",
                    "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}
                }],
                "extensions": {"cost": {"requestedQueryCost": cost, "actualQueryCost": null, "throttleStatus": status_before}}
            }),
        );
    }
    let mut answer = graphql::execute(&sim, &op, &query, &variables);
    sim.flush_webhooks();
    // Shopify charges the requested cost up front and refunds what the answer did not use.
    let actual = cost::actual_cost(&query, &variables, &answer["data"]).min(cost);
    let status = {
        let mut b = relock(&sim.bucket);
        b.refund(cost - actual);
        b.status()
    };
    relock(&sim.stats).cost_total += u64::from(actual);
    if let Some(obj) = answer.as_object_mut() {
        obj.insert(
            "extensions".into(),
            json!({"cost": {"requestedQueryCost": cost, "actualQueryCost": actual, "throttleStatus": status}}),
        );
    }
    json_response(StatusCode::OK, answer)
}

/// A bulk operation's JSONL result (Shopify serves it from signed storage URLs, without the
/// access token).
async fn bulk_file(State(sim): State<Shared>, Path(file): Path<String>) -> Response {
    sim.count("GET /__bulk");
    let id = file.trim_end_matches(".jsonl");
    let body = sim.store().bulk_results.get(id).cloned();
    match body {
        Some(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/jsonl")],
            text,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "NoSuchKey").into_response(),
    }
}

/// A GraphQL error object.
pub(crate) fn gql_error(message: &str, code: &str) -> serde_json::Value {
    json!({"message": message, "extensions": {"code": code}})
}

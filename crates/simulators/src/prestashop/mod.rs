//! A PrestaShop shop's webservice (`{shop}/api/...`) as PrestaShop 8 documents it: the
//! webservice key as the HTTP Basic user with an empty password (or the `ws_key` query
//! parameter), XML by default and JSON with `output_format=JSON`, the list parameters
//! `display`, `filter[field]`, `date=1`, `sort` and `limit=offset,count`, writes as a PUT of the
//! full resource XML (in the body or, like PrestaShop's dispatcher, in the `xml` parameter),
//! `POST /api/order_histories` to change an order's state, and errors as
//! `<prestashop><errors><error><code/><message/></error></errors></prestashop>`.
//!
//! PrestaShop documents no rate limit and no webhooks. The simulator models the limit of the
//! host in front of a shop as a fixed window (`rate_limit_requests` per
//! `rate_limit_window_ms`, off when 0) answered with 429 and `Retry-After`; it has no webhooks.
//! `/__admin/` endpoints inject faults and inspect the state, as for every simulator.

mod admin;
mod store;
mod storm;
mod xml;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64_free::decode_basic_user;
use serde_json::{Value, json};

use crate::faults::{Fault, FaultKind, FaultQueue};
use store::{Filter, Store};

/// The webservice version the simulator announces in `PSWS-Version`.
pub const PSWS_VERSION: &str = "8.1.7";

/// Configuration of a simulated PrestaShop shop.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The one valid webservice key (32 characters in PrestaShop).
    pub webservice_key: String,
    /// Shop name (`PS_SHOP_NAME`).
    pub shop_name: String,
    /// Demo products to seed.
    pub products: usize,
    /// Demo orders to seed.
    pub orders: usize,
    /// Seed of the demo data.
    pub seed: u64,
    /// Host limit: requests per window (0: no limit, PrestaShop itself has none).
    pub rate_limit_requests: u32,
    /// Host limit window in milliseconds.
    pub rate_limit_window_ms: u64,
    /// Largest `count` of `limit=offset,count` accepted (0: no limit, as PrestaShop). A larger
    /// one is answered 400 with a webservice error (a host protecting itself).
    pub max_page_size: usize,
    /// Faults active from the start.
    pub faults: Vec<Fault>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            webservice_key: "ZR92FNY5UFRERNI3O9Z5QDHWKTP3YIIT".into(),
            shop_name: "Demo Outdoor Shop".into(),
            products: 60,
            orders: 12,
            seed: 42,
            rate_limit_requests: 300,
            rate_limit_window_ms: 60_000,
            max_page_size: 0,
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
    /// `http://<addr>/api`.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.base_url())
    }
}

/// Starts a simulated shop on `addr` (port 0: any free port) in a tokio task.
pub async fn start(addr: SocketAddr, config: SimConfig) -> std::io::Result<RunningSimulator> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let sim = Arc::new(Sim::new(config));
    crate::storm::init(&*sim);
    let app = router(sim);
    let server = crate::server::Server::serve(listener, app, "prestashop");
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
    /// `count` of every list request, by resource (what the connector asked per page).
    page_sizes: BTreeMap<String, Vec<usize>>,
    /// PUTs by resource.
    writes: BTreeMap<String, u64>,
}

#[derive(Debug)]
struct Window {
    quota: u32,
    length: Duration,
    started: Instant,
    used: u32,
}

impl Window {
    /// Spends one request; `Err(wait)` when the window is exhausted.
    fn take(&mut self) -> Result<(), Duration> {
        if self.quota == 0 {
            return Ok(());
        }
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
    store: Mutex<Store>,
    faults: FaultQueue,
    window: Mutex<Window>,
    stats: Mutex<Stats>,
    key_revoked: AtomicBool,
    /// Changes of sellable quantities (`/__admin/quantity-log`).
    storm_log: crate::storm::QuantityLog,
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a handler panicked mid-request; the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sim {
    fn new(config: SimConfig) -> Self {
        Self {
            store: Mutex::new(Store::seeded(
                config.seed,
                config.products,
                config.orders,
                &config.shop_name,
            )),
            faults: FaultQueue::new(config.faults.clone()),
            window: Mutex::new(Window {
                quota: config.rate_limit_requests,
                length: Duration::from_millis(config.rate_limit_window_ms.max(1)),
                started: Instant::now(),
                used: 0,
            }),
            stats: Mutex::new(Stats::default()),
            key_revoked: AtomicBool::new(false),
            storm_log: crate::storm::QuantityLog::default(),
            config,
        }
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        relock(&self.store)
    }
}

type Shared = Arc<Sim>;

fn router(sim: Shared) -> Router {
    let api = Router::new()
        .route("/api", get(root))
        .route("/api/", get(root))
        .route("/api/{resource}", get(list).post(create))
        .route("/api/{resource}/", get(list).post(create))
        .route("/api/{resource}/{id}", get(one).put(update))
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

/// The resources this shop serves (the webservice key's permissions).
const RESOURCES: [&str; 18] = [
    "addresses",
    "carriers",
    "categories",
    "combinations",
    "configurations",
    "currencies",
    "customers",
    "languages",
    "manufacturers",
    "order_carriers",
    "order_histories",
    "order_states",
    "orders",
    "product_option_values",
    "product_options",
    "products",
    "shops",
    "stock_availables",
];

/// Resources that accept PUT, and (for products) fields the webservice refuses to write.
fn writable(resource: &str) -> bool {
    matches!(
        resource,
        "products" | "stock_availables" | "order_carriers" | "combinations" | "manufacturers"
    )
}

const READ_ONLY_PRODUCT_FIELDS: [&str; 2] = ["manufacturer_name", "quantity"];

async fn not_found(req: Request) -> Response {
    let path = req.uri().path().to_string();
    ps_error(
        StatusCode::NOT_FOUND,
        22,
        &format!("Method or resource not found: {path}"),
        false,
    )
}

/// Whether the request asked for JSON.
fn wants_json(params: &HashMap<String, String>) -> bool {
    params
        .get("output_format")
        .or_else(|| params.get("io_format"))
        .is_some_and(|f| f.eq_ignore_ascii_case("json"))
}

/// A webservice error in PrestaShop's shape (XML, or JSON `{"errors":[{code,message}]}`).
pub(crate) fn ps_error(status: StatusCode, code: u32, message: &str, json: bool) -> Response {
    let mut resp = if json {
        (
            status,
            axum::Json(json!({"errors": [{"code": code, "message": message}]})),
        )
            .into_response()
    } else {
        (
            status,
            [(header::CONTENT_TYPE, "text/xml;charset=utf-8")],
            xml::errors(code, message),
        )
            .into_response()
    };
    resp.headers_mut()
        .insert("psws-version", HeaderValue::from_static(PSWS_VERSION));
    resp
}

fn query_params(query: Option<&str>) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for pair in query.unwrap_or_default().split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k);
        map.insert(k, percent_decode(v));
    }
    map
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

mod base64_free {
    //! The user of an HTTP Basic `Authorization` header (standard base64, decoded by hand to
    //! keep the simulator's dependencies small).

    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    }

    /// `Basic base64(user:password)` → `user`.
    pub(super) fn decode_basic_user(header: &str) -> Option<String> {
        let b64 = header.strip_prefix("Basic ")?.trim().trim_end_matches('=');
        let mut out = Vec::new();
        let mut acc = 0u32;
        let mut bits = 0;
        for c in b64.bytes() {
            acc = (acc << 6) | val(c)?;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        let text = String::from_utf8(out).ok()?;
        Some(
            text.split_once(':')
                .map_or(text.clone(), |(u, _)| u.to_string()),
        )
    }
}

/// Auth, host rate limit, injected faults and statistics, around every webservice request.
async fn guard(State(sim): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let params = query_params(req.uri().query());
    let json = wants_json(&params);
    {
        let mut stats = relock(&sim.stats);
        stats.total += 1;
        *stats
            .by_path
            .entry(format!("{} {path}", req.method()))
            .or_default() += 1;
    }
    let key = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(decode_basic_user)
        .or_else(|| params.get("ws_key").cloned())
        .filter(|k| !k.is_empty());
    let key_ok = !sim.key_revoked.load(Ordering::SeqCst)
        && key.as_deref() == Some(sim.config.webservice_key.as_str());
    if !key_ok {
        relock(&sim.stats).unauthorized += 1;
        let (code, message) = match key {
            None => (17, "Authentication key is empty"),
            Some(_) => (18, "Invalid authentication key"),
        };
        let mut resp = ps_error(StatusCode::UNAUTHORIZED, code, message, json);
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                "Basic realm=\"Welcome to PrestaShop Webservice, please enter the authentication key as the login. No password required.\"",
            ),
        );
        return resp;
    }
    let taken = relock(&sim.window).take();
    if let Err(wait) = taken {
        relock(&sim.stats).rate_limited += 1;
        return too_many(wait, json);
    }
    let fault = sim.faults.take(&path);
    if fault.is_some() {
        relock(&sim.stats).faults_injected += 1;
    }
    let mut resp = match fault {
        Some(f) => match f.kind {
            FaultKind::Status => {
                let status =
                    StatusCode::from_u16(f.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                let reason = status.canonical_reason().unwrap_or("Injected failure");
                ps_error(status, 0, reason, json)
            }
            FaultKind::Malformed => {
                let body: &'static str = if json {
                    "{\"products\":[{\"id\":1,\"name\":\"Trunc"
                } else {
                    "<?xml version=\"1.0\"?><prestashop><products><product><id>1"
                };
                (StatusCode::OK, body).into_response()
            }
            FaultKind::RateLimit => {
                relock(&sim.stats).rate_limited += 1;
                return too_many(Duration::from_millis(f.reset_ms), json);
            }
            FaultKind::Timeout => {
                tokio::time::sleep(Duration::from_millis(f.delay_ms)).await;
                next.run(req).await
            }
        },
        None => next.run(req).await,
    };
    resp.headers_mut()
        .insert("psws-version", HeaderValue::from_static(PSWS_VERSION));
    resp
}

fn too_many(wait: Duration, json: bool) -> Response {
    let secs = wait.as_millis().div_ceil(1000).max(1) as u64;
    let mut resp = ps_error(
        StatusCode::TOO_MANY_REQUESTS,
        0,
        "Too many requests to this shop, retry later",
        json,
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// A 200 (or `status`) answer of one resource or a list, in the requested format.
fn render(status: StatusCode, json: bool, xml_body: Vec<u8>, json_body: Value) -> Response {
    if json {
        (status, axum::Json(json_body)).into_response()
    } else {
        (
            status,
            [(header::CONTENT_TYPE, "text/xml;charset=utf-8")],
            xml_body,
        )
            .into_response()
    }
}

fn api_base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}/api")
}

/// `GET /api/`: the resources the key may use.
async fn root(
    State(_sim): State<Shared>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let base = api_base(&headers);
    if wants_json(&params) {
        let obj: serde_json::Map<String, Value> = RESOURCES
            .iter()
            .map(|r| (r.to_string(), json!({"href": format!("{base}/{r}")})))
            .collect();
        return render(StatusCode::OK, true, Vec::new(), json!({ "api": obj }));
    }
    let mut xml_text = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<prestashop xmlns:xlink=\"http://www.w3.org/1999/xlink\"><api shopName=\"shop\">",
    );
    for r in RESOURCES {
        xml_text.push_str(&format!(
            "<{r} xlink:href=\"{base}/{r}\" get=\"true\" put=\"true\" post=\"true\" patch=\"true\" delete=\"false\" head=\"true\"/>"
        ));
    }
    xml_text.push_str("</api></prestashop>");
    render(StatusCode::OK, false, xml_text.into_bytes(), Value::Null)
}

fn known(resource: &str) -> bool {
    RESOURCES.contains(&resource)
}

/// `GET /api/{resource}`: a list with `display`, `filter[...]`, `date`, `sort`, `limit`.
async fn list(
    State(sim): State<Shared>,
    Path(resource): Path<String>,
    headers: HeaderMap,
    req: Request,
) -> Response {
    let params = query_params(req.uri().query());
    let json = wants_json(&params);
    if !known(&resource) {
        return ps_error(
            StatusCode::BAD_REQUEST,
            22,
            &format!(
                "Resource of type \"{resource}\" does not exists. Did you mean: \"products\"?"
            ),
            json,
        );
    }
    let date = params.get("date").is_some_and(|d| d == "1");
    let mut filters: Vec<(String, Filter)> = Vec::new();
    for (k, v) in &params {
        let Some(field) = k.strip_prefix("filter[").and_then(|f| f.strip_suffix(']')) else {
            continue;
        };
        if field.starts_with("date_") && !date {
            return ps_error(
                StatusCode::BAD_REQUEST,
                33,
                "To filter by date, you must also set the parameter date=1",
                json,
            );
        }
        match store::parse_filter(v) {
            Some(f) => filters.push((field.to_string(), f)),
            None => {
                return ps_error(
                    StatusCode::BAD_REQUEST,
                    35,
                    &format!("Unable to filter by {field}: the value must be in brackets"),
                    json,
                );
            }
        }
    }
    let (offset, count) = match params.get("limit") {
        None => (0, usize::MAX),
        Some(l) => {
            let parsed = match l.split_once(',') {
                Some((o, c)) => o.trim().parse().ok().zip(c.trim().parse().ok()),
                None => l.trim().parse().ok().map(|c| (0usize, c)),
            };
            match parsed {
                Some(v) => v,
                None => {
                    return ps_error(
                        StatusCode::BAD_REQUEST,
                        36,
                        "The \"limit\" value has to be formed as this example: \"5,25\" or \"10\"",
                        json,
                    );
                }
            }
        }
    };
    let max = sim.config.max_page_size;
    if max > 0 && count > max {
        return ps_error(
            StatusCode::BAD_REQUEST,
            36,
            &format!("The \"limit\" count may not exceed {max} on this shop"),
            json,
        );
    }
    relock(&sim.stats)
        .page_sizes
        .entry(resource.clone())
        .or_default()
        .push(if count == usize::MAX { 0 } else { count });
    let mut items: Vec<Value> = {
        let store = sim.store();
        store
            .table(&resource)
            .into_iter()
            .flatten()
            .map(|(_, v)| v)
            .filter(|v| {
                filters
                    .iter()
                    .all(|(f, flt)| store::matches(v, f, flt, date && f.starts_with("date_")))
            })
            .cloned()
            .collect()
    };
    if let Some(spec) = params.get("sort")
        && let Err(e) = store::sort(&mut items, spec)
    {
        return ps_error(StatusCode::BAD_REQUEST, 37, &e, json);
    }
    let items: Vec<Value> = items.into_iter().skip(offset).take(count).collect();
    let full = params.get("display").is_some_and(|d| d == "full");
    let shown: Vec<Value> = match params.get("display").filter(|_| !full) {
        Some(d) => {
            let fields: Vec<&str> = d
                .trim_start_matches('[')
                .trim_end_matches(']')
                .split(',')
                .map(str::trim)
                .collect();
            items
                .iter()
                .map(|v| {
                    let mut o = serde_json::Map::new();
                    for f in &fields {
                        if let Some(x) = v.get(*f) {
                            o.insert((*f).to_string(), x.clone());
                        }
                    }
                    Value::Object(o)
                })
                .collect()
        }
        None if full => items,
        None => items.iter().map(|v| json!({"id": v["id"]})).collect(),
    };
    let links = (!full && !params.contains_key("display")).then(|| api_base(&headers));
    let xml_body = if json {
        Vec::new()
    } else {
        xml::list(&resource, &shown, links.as_deref())
    };
    // PrestaShop answers an empty JSON list with `[]`, not `{"products": []}`.
    let json_body = if shown.is_empty() {
        json!([])
    } else {
        json!({ resource.clone(): shown })
    };
    render(StatusCode::OK, json, xml_body, json_body)
}

/// `GET /api/{resource}/{id}`.
async fn one(
    State(sim): State<Shared>,
    Path((resource, id)): Path<(String, String)>,
    req: Request,
) -> Response {
    let params = query_params(req.uri().query());
    let json = wants_json(&params);
    let Some(id) = id.parse::<i64>().ok() else {
        return ps_error(StatusCode::BAD_REQUEST, 31, "Id is invalid", json);
    };
    let found = sim
        .store()
        .table(&resource)
        .and_then(|t| t.get(&id))
        .cloned();
    match found {
        Some(v) => {
            let name = xml::singular(&resource);
            let xml_body = if json {
                Vec::new()
            } else {
                xml::one(&name, &v)
            };
            render(StatusCode::OK, json, xml_body, json!({ name: v }))
        }
        None if known(&resource) => ps_error(
            StatusCode::NOT_FOUND,
            87,
            &format!("Id(s) not exists: {id}"),
            json,
        ),
        None => ps_error(
            StatusCode::BAD_REQUEST,
            22,
            &format!("Resource of type \"{resource}\" does not exists"),
            json,
        ),
    }
}

/// The XML of a write: the body, or the `xml` parameter (PrestaShop's dispatcher reads both).
fn input_xml(params: &HashMap<String, String>, body: &Bytes) -> Option<Vec<u8>> {
    if let Some(x) = params.get("xml").filter(|x| !x.trim().is_empty()) {
        return Some(x.as_bytes().to_vec());
    }
    (!body.iter().all(u8::is_ascii_whitespace)).then(|| body.to_vec())
}

/// `PUT /api/{resource}/{id}`: replaces the resource with the full XML sent.
async fn update(
    State(sim): State<Shared>,
    Path((resource, id)): Path<(String, String)>,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let params = query_params(uri.query());
    let json = wants_json(&params);
    let Some(id) = id.parse::<i64>().ok() else {
        return ps_error(StatusCode::BAD_REQUEST, 31, "Id is invalid", json);
    };
    if !writable(&resource) {
        return ps_error(
            StatusCode::METHOD_NOT_ALLOWED,
            25,
            &format!("Method PUT is not allowed for the resource {resource}"),
            json,
        );
    }
    let Some(input) = input_xml(&params, &body) else {
        return ps_error(StatusCode::BAD_REQUEST, 67, "XML is empty", json);
    };
    let (name, mut value) = match xml::parse(&input) {
        Ok(v) => v,
        Err(e) => {
            return ps_error(
                StatusCode::BAD_REQUEST,
                127,
                &format!("XML error : {e}"),
                json,
            );
        }
    };
    if name != xml::singular(&resource) {
        return ps_error(
            StatusCode::BAD_REQUEST,
            89,
            &format!(
                "The resource in the XML must be <{}>",
                xml::singular(&resource)
            ),
            json,
        );
    }
    if value["id"].as_str() != Some(id.to_string().as_str()) {
        return ps_error(
            StatusCode::BAD_REQUEST,
            90,
            "id is forbidden when adding a new resource, and must match the URL when updating",
            json,
        );
    }
    if resource == "products"
        && let Some(f) = READ_ONLY_PRODUCT_FIELDS
            .iter()
            .find(|f| value.get(**f).is_some())
    {
        return ps_error(
            StatusCode::BAD_REQUEST,
            93,
            &format!("parameter \"{f}\" not writable. Please remove this attribute of this XML"),
            json,
        );
    }
    let mut store = sim.store();
    let Some(old) = store.table(&resource).and_then(|t| t.get(&id)).cloned() else {
        return ps_error(
            StatusCode::NOT_FOUND,
            87,
            &format!("Id(s) not exists: {id}"),
            json,
        );
    };
    // A PUT must carry the whole resource: required fields missing from it are refused.
    let required: &[&str] = match resource.as_str() {
        "products" => &["price", "name", "link_rewrite"],
        "stock_availables" => &[
            "id_product",
            "id_product_attribute",
            "quantity",
            "depends_on_stock",
            "out_of_stock",
        ],
        "order_carriers" => &["id_order", "id_carrier"],
        "combinations" => &["id_product", "minimal_quantity"],
        _ => &["name"],
    };
    if let Some(f) = required.iter().find(|f| {
        value
            .get(**f)
            .is_none_or(|v| v.as_str().is_some_and(|s| s.trim().is_empty()))
    }) {
        return ps_error(
            StatusCode::BAD_REQUEST,
            41,
            &format!("parameter \"{f}\" required"),
            json,
        );
    }
    if resource == "products" {
        for f in ["price", "weight"] {
            if let Some(v) = value[f].as_str()
                && v.trim().parse::<f64>().is_err()
            {
                return ps_error(
                    StatusCode::BAD_REQUEST,
                    85,
                    &format!("Validation error: \"Property Product->{f} is not valid\""),
                    json,
                );
            }
        }
        let id_m = value["id_manufacturer"]
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0);
        value["manufacturer_name"] = json!(store.manufacturer_name(id_m));
        value["quantity"] = old["quantity"].clone();
        value["date_add"] = old["date_add"].clone();
        if let Some(p) = value["price"].as_str() {
            value["price"] = json!(store::six(p));
        }
    }
    if resource == "stock_availables"
        && value["quantity"]
            .as_str()
            .is_none_or(|q| q.trim().parse::<i64>().is_err())
    {
        return ps_error(
            StatusCode::BAD_REQUEST,
            85,
            "Validation error: \"Property StockAvailable->quantity is not valid\"",
            json,
        );
    }
    value["id"] = json!(id);
    store.table_mut(&resource).insert(id, value.clone());
    let pid = value["id_product"]
        .as_str()
        .and_then(|s| s.parse::<i64>().ok());
    match resource.as_str() {
        "products" => store.touch_product(id),
        "stock_availables" | "combinations" => {
            if let Some(pid) = pid {
                if resource == "stock_availables" {
                    store.sync_product_quantity(pid);
                }
                store.touch_product(pid);
            }
        }
        _ => {}
    }
    let value = store
        .table(&resource)
        .and_then(|t| t.get(&id))
        .cloned()
        .unwrap_or(value);
    drop(store);
    *relock(&sim.stats)
        .writes
        .entry(resource.clone())
        .or_default() += 1;
    let name = xml::singular(&resource);
    let xml_body = if json {
        Vec::new()
    } else {
        xml::one(&name, &value)
    };
    render(StatusCode::OK, json, xml_body, json!({ name: value }))
}

/// `POST /api/manufacturers`: a new manufacturer (brand).
fn create_manufacturer(
    sim: &Shared,
    params: &HashMap<String, String>,
    body: &Bytes,
    json: bool,
) -> Response {
    let Some(input) = input_xml(params, body) else {
        return ps_error(StatusCode::BAD_REQUEST, 67, "XML is empty", json);
    };
    let (name, mut value) = match xml::parse(&input) {
        Ok(v) => v,
        Err(e) => {
            return ps_error(
                StatusCode::BAD_REQUEST,
                127,
                &format!("XML error : {e}"),
                json,
            );
        }
    };
    if name != "manufacturer" {
        return ps_error(
            StatusCode::BAD_REQUEST,
            89,
            "The resource in the XML must be <manufacturer>",
            json,
        );
    }
    if value.get("id").is_some_and(|v| v.as_str() != Some("")) {
        return ps_error(
            StatusCode::BAD_REQUEST,
            90,
            "id is forbidden when adding a new resource",
            json,
        );
    }
    if value["name"].as_str().is_none_or(|n| n.trim().is_empty()) {
        return ps_error(
            StatusCode::BAD_REQUEST,
            41,
            "parameter \"name\" required",
            json,
        );
    }
    let mut store = sim.store();
    let id = store.next_id("manufacturers");
    value["id"] = json!(id);
    if value.get("active").is_none() {
        value["active"] = json!("1");
    }
    store.table_mut("manufacturers").insert(id, value.clone());
    drop(store);
    *relock(&sim.stats)
        .writes
        .entry("manufacturers".into())
        .or_default() += 1;
    let xml_body = if json {
        Vec::new()
    } else {
        xml::one("manufacturer", &value)
    };
    render(
        StatusCode::CREATED,
        json,
        xml_body,
        json!({ "manufacturer": value }),
    )
}

/// `POST /api/{resource}`: order histories (an order's state change) and manufacturers.
async fn create(
    State(sim): State<Shared>,
    Path(resource): Path<String>,
    uri: axum::http::Uri,
    body: Bytes,
) -> Response {
    let params = query_params(uri.query());
    let json = wants_json(&params);
    if resource == "manufacturers" {
        return create_manufacturer(&sim, &params, &body, json);
    }
    if resource != "order_histories" {
        return ps_error(
            StatusCode::METHOD_NOT_ALLOWED,
            25,
            &format!("Method POST is not allowed for the resource {resource} on this shop"),
            json,
        );
    }
    let Some(input) = input_xml(&params, &body) else {
        return ps_error(StatusCode::BAD_REQUEST, 67, "XML is empty", json);
    };
    let (name, mut value) = match xml::parse(&input) {
        Ok(v) => v,
        Err(e) => {
            return ps_error(
                StatusCode::BAD_REQUEST,
                127,
                &format!("XML error : {e}"),
                json,
            );
        }
    };
    if name != "order_history" {
        return ps_error(
            StatusCode::BAD_REQUEST,
            89,
            "The resource in the XML must be <order_history>",
            json,
        );
    }
    let num = |f: &str| value[f].as_str().and_then(|s| s.trim().parse::<i64>().ok());
    let (Some(order), Some(state)) = (num("id_order"), num("id_order_state")) else {
        return ps_error(
            StatusCode::BAD_REQUEST,
            41,
            "parameters \"id_order\" and \"id_order_state\" required",
            json,
        );
    };
    let mut store = sim.store();
    if !store::ORDER_STATES.iter().any(|(id, _)| *id == state) {
        return ps_error(
            StatusCode::BAD_REQUEST,
            85,
            "Validation error: \"Property OrderHistory->id_order_state is not valid\"",
            json,
        );
    }
    let now = store::ps_date(chrono::Utc::now());
    let Some(o) = store.table_mut("orders").get_mut(&order) else {
        return ps_error(
            StatusCode::BAD_REQUEST,
            85,
            "Validation error: \"Property OrderHistory->id_order is not valid\"",
            json,
        );
    };
    o["current_state"] = json!(state.to_string());
    o["date_upd"] = json!(now.clone());
    value["date_add"] = json!(now);
    value["id_employee"] = json!("0");
    let id = store.next_id("order_histories");
    value["id"] = json!(id);
    store.table_mut("order_histories").insert(id, value.clone());
    drop(store);
    *relock(&sim.stats)
        .writes
        .entry(resource.clone())
        .or_default() += 1;
    let xml_body = if json {
        Vec::new()
    } else {
        xml::one("order_history", &value)
    };
    render(
        StatusCode::CREATED,
        json,
        xml_body,
        json!({ "order_history": value }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_basic_user() {
        // "KEY123:" in base64.
        assert_eq!(
            decode_basic_user("Basic S0VZMTIzOg==").as_deref(),
            Some("KEY123")
        );
        assert_eq!(decode_basic_user("Bearer x"), None);
    }

    #[test]
    fn decodes_query() {
        let p = query_params(Some("filter%5Bid%5D=%5B1%7C2%5D&limit=0,5"));
        assert_eq!(p.get("filter[id]").map(String::as_str), Some("[1|2]"));
        assert_eq!(p.get("limit").map(String::as_str), Some("0,5"));
    }
}

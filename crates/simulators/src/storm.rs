//! The stock-storm admin contract every simulator serves under `/__admin` (see the crate's
//! README, "Stock storm admin contract"): listings created in bulk, sellable quantities read
//! and set, orders that take stock atomically, and a log of every change of a sku's sellable
//! quantity with the wall-clock moment it took effect and its cause.
//!
//! A simulator implements [`StormStore`] against its own store and merges [`routes`] into its
//! router; [`layer`] wraps the whole router so that any change an API request made (or an
//! admin endpoint outside this contract) is logged when the request ends. Changes made by the
//! contract's own endpoints, by orders and by asynchronous imports are recorded where they
//! happen, under the store's lock, so their cause and moment are exact.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The most entries the log keeps (the oldest are dropped).
pub(crate) const MAX_ENTRIES: usize = 1_000_000;

/// Catalogs up to this many skus are tracked from the start; larger ones (benchmarks of big
/// catalogs) only once the contract's listings endpoint is first used, so that their API
/// requests do not pay for a scan of every sku.
const TRACK_FROM_START: usize = 20_000;

/// Why a sellable quantity changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Cause {
    /// A write through the platform's API (or an asynchronous import applied).
    Api,
    /// `POST /__admin/orders`.
    Order,
    /// `/__admin/listings`, `PUT /__admin/quantities/{sku}` or another admin edit.
    Admin,
}

/// One change of a sku's sellable quantity.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Entry {
    seq: u64,
    sku: String,
    quantity: i64,
    at_ms: i64,
    cause: Cause,
}

#[derive(Debug, Default)]
struct LogInner {
    seq: u64,
    entries: VecDeque<Entry>,
    /// The last sellable quantity known per sku.
    last: HashMap<String, i64>,
}

/// Every change of a sku's sellable quantity, in order.
#[derive(Debug, Default)]
pub(crate) struct QuantityLog {
    inner: Mutex<LogInner>,
    tracking: AtomicBool,
}

impl QuantityLog {
    /// Records `quantity` as the sellable quantity of `sku` now; logs it when it differs from
    /// the last one known (a sku not known yet counts as a change).
    pub(crate) fn record(&self, sku: &str, quantity: i64, cause: Cause) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Self::record_in(&mut inner, sku, quantity, cause);
    }

    fn record_in(inner: &mut LogInner, sku: &str, quantity: i64, cause: Cause) {
        match inner.last.get_mut(sku) {
            Some(q) if *q == quantity => return,
            Some(q) => *q = quantity,
            None => {
                inner.last.insert(sku.to_string(), quantity);
            }
        }
        inner.seq += 1;
        let entry = Entry {
            seq: inner.seq,
            sku: sku.to_string(),
            quantity,
            at_ms: chrono::Utc::now().timestamp_millis(),
            cause,
        };
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.pop_front();
        }
        inner.entries.push_back(entry);
    }

    /// Whether API requests are diffed against the last known quantities.
    pub(crate) fn tracking(&self) -> bool {
        self.tracking.load(Ordering::Acquire)
    }

    /// The entries after `after`, at most `limit`, and the `next` cursor.
    fn page(&self, after: u64, limit: usize) -> Value {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // Entries are in seq order: skip by position.
        let first = inner.entries.front().map_or(0, |e| e.seq);
        let skip = if after < first {
            0
        } else {
            (after - first + 1) as usize
        };
        let skip = skip.min(inner.entries.len());
        let entries: Vec<&Entry> = inner.entries.range(skip..).take(limit).collect();
        let next = entries.last().map_or(after, |e| e.seq);
        json!({ "entries": entries, "next": next })
    }
}

/// One item of `POST /__admin/listings`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ListingItem {
    pub sku: String,
    #[serde(default)]
    pub title: Option<String>,
    /// Decimal text ("19.90"); a JSON number is accepted too.
    #[serde(default, deserialize_with = "de_price")]
    pub price: Option<String>,
    #[serde(default)]
    pub quantity: i64,
}

impl ListingItem {
    /// The title to give a new product: the one asked for, or one made from the sku.
    pub(crate) fn title_or_sku(&self) -> String {
        self.title
            .clone()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| format!("Storm item {}", self.sku))
    }

    /// The price to give a new product (default "10.00").
    pub(crate) fn price_or_default(&self) -> String {
        self.price.clone().unwrap_or_else(|| "10.00".into())
    }
}

fn de_price<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    })
}

#[derive(Debug, Deserialize)]
struct ListingsBody {
    items: Vec<ListingItem>,
}

#[derive(Debug, Deserialize)]
struct QuantityBody {
    quantity: i64,
}

/// What [`StormStore::upsert_listings`] did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Upserted {
    pub created: usize,
    pub updated: usize,
}

/// An order of `POST /__admin/orders` in the contract's shape: `{sku, quantity}`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct StormOrder {
    pub sku: String,
    #[serde(default = "one")]
    pub quantity: i64,
}

fn one() -> i64 {
    1
}

impl StormOrder {
    /// The body as the contract's `{sku, quantity}` (no `lines`), or `None`; a quantity below
    /// 1 counts as 1, as the marketplaces' admin orders always did.
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        let v: Value = serde_json::from_slice(body).ok()?;
        if v.get("lines").is_some() || !v.get("sku").is_some_and(Value::is_string) {
            return None;
        }
        serde_json::from_value::<Self>(v).ok().map(|o| Self {
            quantity: o.quantity.max(1),
            ..o
        })
    }
}

/// `409 {"error":"insufficient stock","available":N}`.
pub(crate) fn insufficient(available: i64) -> Response {
    (
        StatusCode::CONFLICT,
        axum::Json(json!({"error": "insufficient stock", "available": available})),
    )
        .into_response()
}

/// `404 {"error":"unknown sku S"}`.
pub(crate) fn unknown_sku(sku: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": format!("unknown sku {sku}")})),
    )
        .into_response()
}

/// `201 {"id": "<order id>"}`.
pub(crate) fn order_created(id: impl std::fmt::Display) -> Response {
    (
        StatusCode::CREATED,
        axum::Json(json!({"id": id.to_string()})),
    )
        .into_response()
}

/// How many units to take from each of `levels` (first location first) to take `want`;
/// `None` when they hold fewer. Negative levels count as 0.
pub(crate) fn take_in_order(levels: &[i64], want: i64) -> Option<Vec<i64>> {
    let have: i64 = levels.iter().map(|q| (*q).max(0)).sum();
    if have < want {
        return None;
    }
    let mut left = want;
    Some(
        levels
            .iter()
            .map(|q| {
                let t = (*q).max(0).min(left);
                left -= t;
                t
            })
            .collect(),
    )
}

/// What a simulator implements to serve the contract.
pub(crate) trait StormStore: Send + Sync + 'static {
    /// The simulator's log.
    fn quantity_log(&self) -> &QuantityLog;

    /// Calls `f` with every sku and its sellable quantity (shops: summed over locations;
    /// marketplaces: the offer quantity), holding the store's lock for the whole visit.
    fn visit_quantities(&self, f: &mut dyn FnMut(&str, i64));

    /// Creates a simple product / active offer per new sku, or sets quantity and price of an
    /// existing one; records each new sellable quantity with [`Cause::Admin`] under the lock.
    fn upsert_listings(&self, items: &[ListingItem]) -> Upserted;

    /// Someone changed the quantity on the channel (shops: on the first location, the others
    /// to 0); records it with [`Cause::Admin`] and sends the platform's webhook where it has
    /// one. `false` for an unknown sku.
    fn set_quantity(self: Arc<Self>, sku: &str, quantity: i64) -> bool;
}

/// Logs every sku whose sellable quantity differs from the last known one, with `cause`.
pub(crate) fn sync<S: StormStore + ?Sized>(store: &S, cause: Cause) {
    let log = store.quantity_log();
    if !log.tracking() {
        return;
    }
    store.visit_quantities(&mut |sku, q| log.record(sku, q, cause));
}

/// Starts tracking: remembers every current quantity without logging it.
pub(crate) fn start_tracking<S: StormStore + ?Sized>(store: &S) {
    let log = store.quantity_log();
    if log.tracking() {
        return;
    }
    store.visit_quantities(&mut |sku, q| {
        let mut inner = log.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.last.entry(sku.to_string()).or_insert(q);
    });
    log.tracking.store(true, Ordering::Release);
}

/// Called once a simulator's store is seeded: tracks small catalogs from the start.
pub(crate) fn init<S: StormStore + ?Sized>(store: &S) {
    let mut n = 0usize;
    store.visit_quantities(&mut |_, _| n += 1);
    if n <= TRACK_FROM_START {
        start_tracking(store);
    }
}

/// The contract's routes (`/listings`, `/quantities`, `/quantities/{sku}`, `/quantity-log`),
/// to merge into a simulator's `/__admin` router (`POST /orders` stays each simulator's own).
pub(crate) fn routes<S: StormStore, T: Clone + Send + Sync + 'static>(store: Arc<S>) -> Router<T> {
    Router::new()
        .route("/listings", post(listings::<S>))
        .route("/quantities", get(quantities::<S>))
        .route("/quantities/{sku}", put(set_quantity::<S>))
        .route("/quantity-log", get(quantity_log::<S>))
        .with_state(store)
}

/// Wraps a simulator's whole router: after every request (but reads of `/__admin`), any
/// sellable quantity that changed is logged (cause `admin` under `/__admin`, `api` elsewhere).
pub(crate) fn layer<S: StormStore>(router: Router, store: Arc<S>) -> Router {
    router.layer(middleware::from_fn_with_state(store, after_request::<S>))
}

async fn after_request<S: StormStore>(
    State(store): State<Arc<S>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let admin = path.starts_with("/__admin");
    let read_only_admin = admin && (req.method() == Method::GET || path == "/__admin/quantity-log");
    let resp = next.run(req).await;
    if !read_only_admin {
        let cause = if admin { Cause::Admin } else { Cause::Api };
        sync(&*store, cause);
    }
    resp
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": message})),
    )
        .into_response()
}

async fn listings<S: StormStore>(State(store): State<Arc<S>>, body: Bytes) -> Response {
    let body: ListingsBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(format!("invalid listings: {e}")),
    };
    if let Some(bad) = body
        .items
        .iter()
        .find(|i| i.sku.trim().is_empty() || i.quantity < 0)
    {
        return bad_request(format!(
            "every item needs a sku and a quantity >= 0 (sku {:?})",
            bad.sku
        ));
    }
    start_tracking(&*store);
    let store2 = store.clone();
    let items = body.items;
    let done = tokio::task::spawn_blocking(move || store2.upsert_listings(&items)).await;
    match done {
        Ok(u) => axum::Json(json!({"created": u.created, "updated": u.updated})).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn quantities<S: StormStore>(
    State(store): State<Arc<S>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let wanted: Option<HashSet<&str>> =
        params
            .get("skus")
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect()
            });
    let mut out = serde_json::Map::new();
    store.visit_quantities(&mut |sku, q| {
        if wanted.as_ref().is_none_or(|w| w.contains(sku)) {
            out.insert(sku.to_string(), json!(q));
        }
    });
    axum::Json(Value::Object(out)).into_response()
}

async fn set_quantity<S: StormStore>(
    State(store): State<Arc<S>>,
    Path(sku): Path<String>,
    body: Bytes,
) -> Response {
    let body: QuantityBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return bad_request(format!("invalid body: {e}")),
    };
    if body.quantity < 0 {
        return bad_request("quantity must be >= 0".into());
    }
    if store.set_quantity(&sku, body.quantity) {
        axum::Json(json!({"sku": sku, "quantity": body.quantity})).into_response()
    } else {
        unknown_sku(&sku)
    }
}

async fn quantity_log<S: StormStore>(
    State(store): State<Arc<S>>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let after = params
        .get("after")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let limit = params
        .get("limit")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000usize);
    axum::Json(store.quantity_log().page(after, limit)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_only_changes_and_pages() {
        let log = QuantityLog::default();
        log.record("A", 3, Cause::Admin);
        log.record("A", 3, Cause::Api);
        log.record("A", 2, Cause::Order);
        log.record("B", 0, Cause::Admin);
        let all = log.page(0, 10);
        assert_eq!(all["entries"].as_array().map(Vec::len), Some(3));
        assert_eq!(all["next"], 3);
        assert_eq!(all["entries"][1]["cause"], "order");
        let rest = log.page(2, 10);
        assert_eq!(rest["entries"][0]["sku"], "B");
        let none = log.page(3, 10);
        assert_eq!(none["next"], 3);
    }

    #[test]
    fn takes_from_locations_in_order() {
        assert_eq!(take_in_order(&[1, 5], 3), Some(vec![1, 2]));
        assert_eq!(take_in_order(&[-2, 3], 4), None);
    }
}

//! The shop's data and the handlers of the seller API and of `/__admin/`.

#[path = "storm.rs"]
mod storm;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ApiError, ApiResult, MAX_IMPORT_LINES, MAX_PAGE_SIZE, Shared, SimConfig, csv_fields, csv_quote,
    error, multipart, ok, relock,
};
use crate::demo::{self, DemoParty};
use crate::faults::Fault;

/// Mirakl's offer state code for "New".
const STATE_NEW: &str = "11";

/// One offer of the shop.
#[derive(Debug, Clone)]
pub(crate) struct Offer {
    id: i64,
    sku: String,
    product_sku: String,
    title: String,
    description: String,
    gtin: String,
    price: String,
    quantity: i64,
    state_code: String,
    leadtime: Option<i32>,
    reasons: Vec<String>,
    updates: u64,
    updated: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct Line {
    id: String,
    sku: String,
    title: String,
    quantity: i64,
    unit_price: String,
    state: String,
    refunds: Vec<(String, i64, DateTime<Utc>)>,
    cancelations: Vec<(String, i64, DateTime<Utc>)>,
}

#[derive(Debug, Clone)]
struct Order {
    id: String,
    state: String,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    customer: DemoParty,
    lines: Vec<Line>,
    accepted: bool,
    /// (carrier_code, carrier_name, tracking_number).
    tracking: Option<(String, String, String)>,
}

/// One line of an offer import.
#[derive(Debug, Clone)]
struct ImportLine {
    sku: String,
    price: Option<String>,
    quantity: Option<i64>,
    state: Option<String>,
    leadtime: Option<Option<i32>>,
    /// OF24: every field not sent is reset to its default.
    full: bool,
}

#[derive(Debug)]
struct Import {
    id: i64,
    mode: String,
    created: DateTime<Utc>,
    done_at: Instant,
    applied: bool,
    lines_read: usize,
    good: Vec<ImportLine>,
    /// Header of the file, and (line number, raw line, message) of each refused line.
    header: String,
    errors: Vec<(usize, String, String)>,
    success: usize,
}

/// Everything the shop holds.
pub(crate) struct Store {
    offers: Vec<Offer>,
    by_sku: HashMap<String, usize>,
    orders: Vec<Order>,
    imports: Vec<Import>,
    currency: String,
    shop_id: i64,
    shop_name: String,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn demo_state(status: &str) -> &'static str {
    match status {
        "awaiting_fulfillment" => "SHIPPING",
        "pending" => "WAITING_ACCEPTANCE",
        "shipped" => "SHIPPED",
        "completed" => "RECEIVED",
        "cancelled" => "CANCELED",
        _ => "SHIPPING",
    }
}

fn money(units: i64) -> String {
    format!("{:.2}", units as f64 / 10_000.0)
}

fn price_value(text: &str) -> Value {
    text.parse::<f64>().map(|f| json!(f)).unwrap_or(Value::Null)
}

impl Store {
    pub(crate) fn seeded(cfg: &SimConfig) -> Self {
        let catalog = demo::catalog(cfg.seed, cfg.products);
        let offers = demo::offers(cfg.seed, &catalog);
        let now = Utc::now();
        let offers: Vec<Offer> = offers
            .iter()
            .map(|o| {
                let p = &catalog[o.product];
                Offer {
                    id: 3000 + o.product as i64,
                    sku: o.sku.clone(),
                    product_sku: format!("MKP-{:06}", o.product + 1),
                    title: p.name.clone(),
                    description: p.description.clone(),
                    gtin: p.gtin.clone(),
                    price: o.price.clone(),
                    quantity: o.quantity,
                    state_code: STATE_NEW.into(),
                    leadtime: o.lead_time_days,
                    reasons: o.listing_error.iter().map(|(c, _, _)| c.clone()).collect(),
                    updates: 0,
                    updated: p.modified_at,
                }
            })
            .collect();
        let by_sku = offers
            .iter()
            .enumerate()
            .map(|(i, o)| (o.sku.clone(), i))
            .collect();
        let orders = demo::orders(cfg.seed, &catalog, cfg.orders)
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                let id = format!("MO{:05}-A", i + 1);
                let state = demo_state(&o.status).to_string();
                let lines = o
                    .lines
                    .iter()
                    .enumerate()
                    .map(|(j, l)| Line {
                        id: format!("{id}-{}", j + 1),
                        sku: catalog[l.product].sku.clone(),
                        title: l.name.clone(),
                        quantity: l.quantity,
                        unit_price: l.unit_price.clone(),
                        state: state.clone(),
                        refunds: Vec::new(),
                        cancelations: if state == "CANCELED" {
                            vec![(format!("C-{id}-{j}"), l.quantity, o.created_at)]
                        } else {
                            Vec::new()
                        },
                    })
                    .collect();
                let accepted = !matches!(state.as_str(), "WAITING_ACCEPTANCE" | "CANCELED");
                let updated = o.created_at.min(now);
                Order {
                    tracking: (state == "SHIPPED" || state == "RECEIVED").then(|| {
                        (
                            "UPS".to_string(),
                            "UPS".to_string(),
                            format!("1Z{:010}", i + 1),
                        )
                    }),
                    id,
                    state,
                    created: o.created_at.min(now),
                    updated,
                    customer: o.buyer,
                    lines,
                    accepted,
                }
            })
            .collect();
        Self {
            offers,
            by_sku,
            orders,
            imports: Vec::new(),
            currency: cfg.currency.clone(),
            shop_id: cfg.shop_id,
            shop_name: cfg.shop_name.clone(),
        }
    }

    /// Applies every import whose processing has ended.
    /// Applies every import whose processing has ended; whether any was.
    pub(crate) fn settle(&mut self, now: Instant) -> bool {
        let mut due = Vec::new();
        for imp in self.imports.iter_mut() {
            if !imp.applied && imp.done_at <= now {
                imp.applied = true;
                due.push(std::mem::take(&mut imp.good));
            }
        }
        let at = Utc::now();
        let applied = !due.is_empty();
        for lines in due {
            for l in lines {
                let Some(&i) = self.by_sku.get(&l.sku) else {
                    continue;
                };
                let o = &mut self.offers[i];
                if l.full {
                    o.state_code = l.state.clone().unwrap_or_else(|| STATE_NEW.into());
                    o.leadtime = l.leadtime.flatten();
                }
                if let Some(p) = l.price {
                    o.price = p;
                }
                if let Some(q) = l.quantity {
                    o.quantity = q;
                }
                if !l.full {
                    if let Some(s) = l.state {
                        o.state_code = s;
                    }
                    if let Some(lt) = l.leadtime {
                        o.leadtime = lt;
                    }
                }
                o.updates += 1;
                o.updated = at;
            }
        }
        applied
    }

    fn offer_json(&self, o: &Offer) -> Value {
        let mut v = json!({
            "offer_id": o.id,
            "shop_sku": o.sku,
            "product_sku": o.product_sku,
            "product_title": o.title,
            "product_references": [{"reference_type": "EAN", "reference": o.gtin}],
            "description": o.description,
            "price": price_value(&o.price),
            "total_price": price_value(&o.price),
            "quantity": o.quantity,
            "state_code": o.state_code,
            "active": o.reasons.is_empty() && o.quantity > 0,
            "inactivity_reasons": o.reasons.iter().cloned()
                .chain((o.quantity <= 0).then(|| "ZERO_QUANTITY".to_string()))
                .collect::<Vec<_>>(),
            "currency_iso_code": self.currency,
            "shop_id": self.shop_id,
            "last_updated_date": ts(o.updated),
        });
        if let (Some(lt), Some(obj)) = (o.leadtime, v.as_object_mut()) {
            obj.insert("leadtime_to_ship".into(), json!(lt));
        }
        v
    }

    fn order_json(&self, o: &Order) -> Value {
        let c = &o.customer;
        let address = json!({
            "firstname": c.first_name, "lastname": c.last_name, "company": c.company,
            "street_1": c.street, "city": c.city, "zip_code": c.zip, "state": c.state,
            "country": c.country, "country_iso_code": c.country_iso2, "phone": c.phone,
        });
        let mut total = 0i64;
        let lines: Vec<Value> = o
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let unit = demo::to_units(&l.unit_price);
                total += unit * l.quantity;
                json!({
                    "order_line_id": l.id,
                    "order_line_index": i + 1,
                    "order_line_state": l.state,
                    "offer_sku": l.sku,
                    "product_title": l.title,
                    "quantity": l.quantity,
                    "price_unit": price_value(&money(unit)),
                    "price": price_value(&money(unit * l.quantity)),
                    "total_price": price_value(&money(unit * l.quantity)),
                    "refunds": l.refunds.iter().map(|(id, q, t)| json!({
                        "id": id, "quantity": q, "amount": price_value(&money(unit * q)),
                        "state": "REFUNDED", "created_date": ts(*t),
                    })).collect::<Vec<_>>(),
                    "cancelations": l.cancelations.iter().map(|(id, q, t)| json!({
                        "id": id, "quantity": q, "amount": price_value(&money(unit * q)),
                        "created_date": ts(*t),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let (code, name, number) = o.tracking.clone().unwrap_or_default();
        json!({
            "order_id": o.id,
            "order_state": o.state,
            "created_date": ts(o.created),
            "last_updated_date": ts(o.updated),
            "currency_iso_code": self.currency,
            "total_price": price_value(&money(total)),
            "price": price_value(&money(total)),
            "shipping_carrier_code": (!code.is_empty()).then_some(code),
            "shipping_company": (!name.is_empty()).then_some(name),
            "shipping_tracking": (!number.is_empty()).then_some(number),
            "customer": {
                "customer_id": format!("CUST-{}", c.email.len()),
                "firstname": c.first_name,
                "lastname": c.last_name,
                "shipping_address": address.clone(),
                "billing_address": address,
            },
            "customer_notification_email": c.email,
            "order_lines": lines,
        })
    }

    fn order_mut(&mut self, id: &str) -> Result<&mut Order, ApiError> {
        self.orders
            .iter_mut()
            .find(|o| o.id == id)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, &format!("Order {id} not found")))
    }

    /// Validates the lines of an import and queues it.
    fn queue(
        &mut self,
        cfg: &SimConfig,
        received: Instant,
        mode: &str,
        header: String,
        lines: Vec<(usize, String, Result<ImportLine, String>)>,
    ) -> (i64, Instant) {
        let id = 1000 + self.imports.len() as i64 + 1;
        let mut good = Vec::new();
        let mut errors = Vec::new();
        for (n, raw, parsed) in lines {
            match parsed.and_then(|l| {
                if self.by_sku.contains_key(&l.sku) {
                    Ok(l)
                } else {
                    Err(format!(
                        "The offer with sku '{}' does not exist: product-id and product-id-type are required to create an offer",
                        l.sku
                    ))
                }
            }) {
                Ok(l) => good.push(l),
                Err(m) => errors.push((n, raw, m)),
            }
        }
        let read = good.len() + errors.len();
        self.imports.push(Import {
            id,
            mode: mode.to_string(),
            created: Utc::now(),
            done_at: received + cfg.processing(read),
            applied: false,
            lines_read: read,
            success: good.len(),
            good,
            header,
            errors,
        });
        (id, received + cfg.processing(read))
    }
}

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/account", get(account))
        .route("/api/orders", get(list_orders))
        .route("/api/orders/{id}/accept", put(accept))
        .route("/api/orders/{id}/tracking", put(tracking))
        .route("/api/orders/{id}/ship", put(ship))
        .route("/api/offers", get(list_offers).post(update_offers))
        .route("/api/offers/imports", post(import_offers))
        .route("/api/offers/imports/{id}", get(import_status))
        .route("/api/offers/imports/{id}/error_report", get(error_report))
}

pub(super) fn admin_routes() -> Router<Shared> {
    Router::new()
        .route("/faults", get(list_faults).post(add_fault))
        .route("/revoke-token", post(revoke))
        .route("/restore-token", post(restore))
        .route("/stats", get(stats))
        .route("/stats/reset", post(reset_stats))
        .route("/offers/{sku}", get(admin_offer).put(admin_set_offer))
        .route("/orders", post(admin_add_order))
        .route("/orders/{id}", get(admin_order))
        .route("/orders/{id}/cancel", post(admin_cancel))
        .route("/orders/{id}/refund", post(admin_refund))
}

type Params = HashMap<String, String>;

fn bad(message: &str) -> ApiError {
    error(StatusCode::BAD_REQUEST, message)
}

/// `offset` and `max` (≤ 100, Mirakl answers 400 above).
fn paging(p: &Params) -> Result<(usize, usize), ApiError> {
    let offset = match p.get("offset") {
        None => 0,
        Some(v) => v
            .parse()
            .map_err(|_| bad("offset must be a positive integer"))?,
    };
    let max = match p.get("max") {
        None => 10,
        Some(v) => v.parse().map_err(|_| bad("max must be an integer"))?,
    };
    if max == 0 || max > MAX_PAGE_SIZE {
        return Err(bad(&format!("max must be between 1 and {MAX_PAGE_SIZE}")));
    }
    Ok((offset, max))
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| bad(&format!("Invalid date '{text}': expected ISO 8601")))
}

async fn account(State(sim): State<Shared>) -> ApiResult {
    let s = sim.store();
    ok(json!({
        "shop_id": s.shop_id,
        "shop_name": s.shop_name,
        "shop_state": "OPEN",
        "currency_iso_code": s.currency,
    }))
}

async fn list_orders(State(sim): State<Shared>, Query(p): Query<Params>) -> ApiResult {
    let (offset, max) = paging(&p)?;
    let since = p
        .get("start_update_date")
        .map(|t| parse_time(t))
        .transpose()?;
    let until = p
        .get("end_update_date")
        .map(|t| parse_time(t))
        .transpose()?;
    let list = |name: &str| -> Vec<String> {
        p.get(name)
            .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
            .unwrap_or_default()
    };
    let ids = list("order_ids");
    let states = list("order_state_codes");
    let store = sim.store();
    let mut found: Vec<&Order> = store
        .orders
        .iter()
        .filter(|o| since.is_none_or(|s| o.updated >= s))
        .filter(|o| until.is_none_or(|u| o.updated < u))
        .filter(|o| ids.is_empty() || ids.contains(&o.id))
        .filter(|o| states.is_empty() || states.contains(&o.state))
        .collect();
    found.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
    let total = found.len();
    let orders: Vec<Value> = found
        .into_iter()
        .skip(offset)
        .take(max)
        .map(|o| store.order_json(o))
        .collect();
    ok(json!({ "orders": orders, "total_count": total }))
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad(&format!("Invalid JSON body: {e}")))
}

async fn accept(State(sim): State<Shared>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let decisions: Vec<(String, bool)> = body["order_lines"]
        .as_array()
        .ok_or_else(|| bad("order_lines is required"))?
        .iter()
        .map(|l| {
            (
                l["id"].as_str().unwrap_or_default().to_string(),
                l["accepted"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    let mut store = sim.store();
    let order = store.order_mut(&id)?;
    if order.state != "WAITING_ACCEPTANCE" {
        return Err(bad(&format!(
            "Order {id} is in state {} and cannot be accepted or refused",
            order.state
        )));
    }
    if order
        .lines
        .iter()
        .any(|l| !decisions.iter().any(|(d, _)| d == &l.id))
    {
        return Err(bad("Every order line must be accepted or refused"));
    }
    let all = decisions.iter().all(|(_, a)| *a);
    order.state = if all { "SHIPPING" } else { "REFUSED" }.into();
    order.accepted = all;
    for l in order.lines.iter_mut() {
        l.state = order.state.clone();
    }
    order.updated = Utc::now();
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn tracking(State(sim): State<Shared>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let number = body["tracking_number"].as_str().unwrap_or_default();
    let code = body["carrier_code"].as_str().unwrap_or_default();
    let name = body["carrier_name"].as_str().unwrap_or_default();
    if code.is_empty() && name.is_empty() {
        return Err(bad("carrier_code or carrier_name is required"));
    }
    let mut store = sim.store();
    let order = store.order_mut(&id)?;
    if !matches!(order.state.as_str(), "SHIPPING" | "SHIPPED") {
        return Err(bad(&format!(
            "Tracking cannot be updated for order {id} in state {}",
            order.state
        )));
    }
    order.tracking = Some((code.into(), name.into(), number.into()));
    order.updated = Utc::now();
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn ship(State(sim): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let mut store = sim.store();
    let order = store.order_mut(&id)?;
    if order.state != "SHIPPING" {
        return Err(bad(&format!(
            "Order {id} is in state {} and cannot be shipped",
            order.state
        )));
    }
    order.state = "SHIPPED".into();
    for l in order.lines.iter_mut() {
        l.state = "SHIPPED".into();
    }
    order.updated = Utc::now();
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_offers(State(sim): State<Shared>, Query(p): Query<Params>) -> ApiResult {
    let (offset, max) = paging(&p)?;
    let skus: Vec<String> = p
        .get("sku")
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let store = sim.store();
    let found: Vec<&Offer> = store
        .offers
        .iter()
        .filter(|o| skus.is_empty() || skus.contains(&o.sku))
        .collect();
    let total = found.len();
    let offers: Vec<Value> = found
        .into_iter()
        .skip(offset)
        .take(max)
        .map(|o| store.offer_json(o))
        .collect();
    ok(json!({ "offers": offers, "total_count": total }))
}

fn check_price(text: &str) -> Result<String, String> {
    let t = text.trim();
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() && f >= 0.0 => Ok(t.to_string()),
        _ => Err(format!("The price '{text}' is invalid")),
    }
}

fn check_quantity(text: &str) -> Result<i64, String> {
    match text.trim().parse::<i64>() {
        Ok(q) if q >= 0 => Ok(q),
        _ => Err(format!("The quantity '{text}' must be a positive integer")),
    }
}

/// Applies an import in the background when its processing ends (so a status read finds it
/// done without doing the work); returns its id.
fn settle_at(sim: &Shared, (id, done_at): (i64, Instant)) -> i64 {
    let sim = sim.clone();
    tokio::spawn(async move {
        tokio::time::sleep_until(done_at.into()).await;
        drop(sim.store());
    });
    id
}

/// OF24: offers as JSON; every field not sent is reset to its default.
async fn update_offers(State(sim): State<Shared>, body: Bytes) -> ApiResult {
    // Processing starts when the request is in: reading it is part of it.
    let received = Instant::now();
    let body = parse_body(&body)?;
    let offers = body["offers"]
        .as_array()
        .ok_or_else(|| bad("offers is required"))?;
    if offers.len() > MAX_IMPORT_LINES {
        return Err(bad("Too many offers in one call"));
    }
    let lines = offers
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let sku = o["shop_sku"].as_str().unwrap_or_default().to_string();
            let parsed = (|| {
                if o["update_delete"].as_str().unwrap_or("update") != "update" {
                    return Err("Only update is supported".to_string());
                }
                let price = match &o["price"] {
                    Value::Number(n) => Some(check_price(&n.to_string())?),
                    Value::String(s) => Some(check_price(s)?),
                    _ => return Err("price is required".into()),
                };
                let quantity = match &o["quantity"] {
                    Value::Number(n) => Some(check_quantity(&n.to_string())?),
                    _ => Some(0),
                };
                Ok(ImportLine {
                    sku: sku.clone(),
                    price,
                    quantity,
                    state: o["state_code"].as_str().map(str::to_string),
                    leadtime: Some(o["leadtime_to_ship"].as_i64().map(|v| v as i32)),
                    full: true,
                })
            })();
            (i + 1, o.to_string(), parsed)
        })
        .collect();
    let cfg = sim.config.clone();
    let queued = sim
        .store()
        .queue(&cfg, received, "NORMAL", "offer".into(), lines);
    let id = settle_at(&sim, queued);
    Ok((StatusCode::CREATED, axum::Json(json!({ "import_id": id }))).into_response())
}

/// OF01: a multipart CSV file (`file`) and `import_mode`.
async fn import_offers(State(sim): State<Shared>, headers: HeaderMap, body: Bytes) -> ApiResult {
    // Processing starts when the file is in: parsing it is part of it.
    let received = Instant::now();
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ct.starts_with("multipart/form-data") {
        return Err(bad("The request must be multipart/form-data"));
    }
    let parts = multipart(ct, &body).ok_or_else(|| bad("Malformed multipart body"))?;
    let file = parts
        .iter()
        .find(|(n, _)| n == "file")
        .ok_or_else(|| bad("The file parameter is required"))?;
    let mode = parts
        .iter()
        .find(|(n, _)| n == "import_mode")
        .map(|(_, v)| String::from_utf8_lossy(v).trim().to_string())
        .unwrap_or_else(|| "NORMAL".into());
    if !matches!(mode.as_str(), "NORMAL" | "PARTIAL_UPDATE" | "REPLACE") {
        return Err(bad(&format!("Unknown import_mode {mode}")));
    }
    if mode == "REPLACE" {
        return Err(bad("REPLACE imports are not supported by this simulator"));
    }
    let text = String::from_utf8_lossy(&file.1);
    let mut rows = text.lines().filter(|l| !l.trim().is_empty());
    let header = rows
        .next()
        .ok_or_else(|| bad("The file is empty"))?
        .to_string();
    let cols: Vec<String> = csv_fields(&header);
    let col = |name: &str| cols.iter().position(|c| c == name);
    let sku_col = col("sku").ok_or_else(|| bad("The column sku is required"))?;
    let (price_col, qty_col, state_col, lead_col, ud_col) = (
        col("price"),
        col("quantity"),
        col("state"),
        col("leadtime-to-ship"),
        col("update-delete"),
    );
    let mut lines = Vec::new();
    for (i, raw) in rows.enumerate() {
        if i >= MAX_IMPORT_LINES {
            return Err(bad(&format!(
                "The file holds more than {MAX_IMPORT_LINES} lines"
            )));
        }
        let f = csv_fields(raw);
        let get = |c: Option<usize>| {
            c.and_then(|c| f.get(c))
                .map(|s| s.trim())
                .filter(|s| !s.is_empty())
        };
        let parsed = (|| {
            if get(ud_col).is_some_and(|u| u != "update") {
                return Err("Only update is supported".to_string());
            }
            let sku = get(Some(sku_col)).ok_or("The sku is required")?.to_string();
            Ok(ImportLine {
                sku,
                price: get(price_col).map(check_price).transpose()?,
                quantity: get(qty_col).map(check_quantity).transpose()?,
                state: get(state_col).map(str::to_string),
                leadtime: get(lead_col)
                    .map(|v| {
                        v.parse::<i32>()
                            .map(Some)
                            .map_err(|_| "Invalid leadtime-to-ship")
                    })
                    .transpose()?,
                full: false,
            })
        })();
        lines.push((i + 2, raw.to_string(), parsed));
    }
    let cfg = sim.config.clone();
    let queued = sim.store().queue(&cfg, received, &mode, header, lines);
    let id = settle_at(&sim, queued);
    Ok((StatusCode::CREATED, axum::Json(json!({ "import_id": id }))).into_response())
}

fn find_import(store: &Store, id: &str) -> Result<usize, ApiError> {
    store
        .imports
        .iter()
        .position(|i| i.id.to_string() == id)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, &format!("Import {id} not found")))
}

async fn import_status(State(sim): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let store = sim.store();
    let imp = &store.imports[find_import(&store, &id)?];
    let status = if imp.applied { "COMPLETE" } else { "RUNNING" };
    let done = imp.applied;
    ok(json!({
        "import_id": imp.id,
        "date_created": ts(imp.created),
        "mode": imp.mode,
        "type": "MIRAKL",
        "status": status,
        "reason_status": Value::Null,
        "has_error_report": done && !imp.errors.is_empty(),
        "lines_read": if done { imp.lines_read } else { 0 },
        "lines_in_success": if done { imp.success } else { 0 },
        "lines_in_error": if done { imp.errors.len() } else { 0 },
        "lines_in_pending": if done { 0 } else { imp.lines_read },
        "offer_inserted": 0,
        "offer_updated": if done { imp.success } else { 0 },
        "offer_deleted": 0,
    }))
}

async fn error_report(State(sim): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let store = sim.store();
    let imp = &store.imports[find_import(&store, &id)?];
    if !imp.applied || imp.errors.is_empty() {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("No error report for import {id}"),
        ));
    }
    let mut out = format!(
        "{};{};{}\n",
        imp.header,
        csv_quote("error-line"),
        csv_quote("error-message")
    );
    for (n, raw, msg) in &imp.errors {
        if imp.header == "offer" {
            // OF24 imports: the offer as JSON in one column.
            out.push_str(&format!("{};{n};{}\n", csv_quote(raw), csv_quote(msg)));
        } else {
            out.push_str(&format!("{raw};{n};{}\n", csv_quote(msg)));
        }
    }
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/csv")], out).into_response())
}

// ----- /__admin/ -----

async fn add_fault(State(sim): State<Shared>, body: Bytes) -> ApiResult {
    let fault: Fault =
        serde_json::from_slice(&body).map_err(|e| bad(&format!("invalid fault: {e}")))?;
    sim.faults.push(fault);
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "pending": sim.faults.pending() })),
    )
        .into_response())
}

async fn list_faults(State(sim): State<Shared>) -> ApiResult {
    ok(json!({ "pending": sim.faults.pending() }))
}

async fn revoke(State(sim): State<Shared>) -> ApiResult {
    sim.key_revoked.store(true, Ordering::SeqCst);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn restore(State(sim): State<Shared>) -> ApiResult {
    sim.key_revoked.store(false, Ordering::SeqCst);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn stats(State(sim): State<Shared>) -> ApiResult {
    let (once, more, never) = {
        let store = sim.store();
        store
            .offers
            .iter()
            .fold((0, 0, 0), |(a, b, c), o| match o.updates {
                0 => (a, b, c + 1),
                1 => (a + 1, b, c),
                _ => (a, b + 1, c),
            })
    };
    let s = relock(&sim.stats);
    ok(json!({
        "requests": s.requests,
        "by_api": s.by_api,
        "rate_limited": s.rate_limited,
        "unauthorized": s.unauthorized,
        "offers_applied_once": once,
        "offers_applied_more": more,
        "offers_never": never,
    }))
}

async fn reset_stats(State(sim): State<Shared>) -> ApiResult {
    *relock(&sim.stats) = super::Stats::default();
    for o in sim.store().offers.iter_mut() {
        o.updates = 0;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn not_found(what: &str) -> ApiError {
    error(StatusCode::NOT_FOUND, what)
}

async fn admin_offer(State(sim): State<Shared>, Path(sku): Path<String>) -> ApiResult {
    let store = sim.store();
    let &i = store
        .by_sku
        .get(&sku)
        .ok_or_else(|| not_found("no such offer"))?;
    let o = &store.offers[i];
    let mut v = store.offer_json(o);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("sku".into(), json!(o.sku));
        obj.insert("price".into(), json!(o.price));
        obj.insert("updates".into(), json!(o.updates));
    }
    ok(v)
}

async fn admin_set_offer(
    State(sim): State<Shared>,
    Path(sku): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let mut store = sim.store();
    let &i = store
        .by_sku
        .get(&sku)
        .ok_or_else(|| not_found("no such offer"))?;
    let o = &mut store.offers[i];
    if let Some(q) = body["quantity"].as_i64() {
        o.quantity = q;
        sim.storm_log
            .record(&sku, q.max(0), crate::storm::Cause::Admin);
    }
    if let Some(p) = body["price"].as_str() {
        o.price = p.to_string();
    }
    o.updated = Utc::now();
    ok(json!({ "sku": sku }))
}

#[derive(Debug, Deserialize)]
struct NewOrder {
    sku: Option<String>,
    quantity: Option<i64>,
}

async fn admin_add_order(State(sim): State<Shared>, body: Bytes) -> ApiResult {
    let req: NewOrder = if body.iter().all(u8::is_ascii_whitespace) {
        NewOrder {
            sku: None,
            quantity: None,
        }
    } else {
        serde_json::from_slice(&body).map_err(|e| bad(&format!("invalid order: {e}")))?
    };
    let mut store = sim.store();
    let offer = match &req.sku {
        Some(s) => store.by_sku.get(s).map(|&i| store.offers[i].clone()),
        None => store.offers.first().cloned(),
    }
    .ok_or_else(|| bad("unknown sku"))?;
    let quantity = req.quantity.unwrap_or(1).max(1);
    // The order takes its units from the offer, atomically: never more than there are.
    let i = store.by_sku.get(&offer.sku).copied().unwrap_or(0);
    let available = store.offers[i].quantity.max(0);
    if available < quantity {
        return Ok(crate::storm::insufficient(available));
    }
    store.offers[i].quantity = available - quantity;
    sim.storm_log
        .record(&offer.sku, available - quantity, crate::storm::Cause::Order);
    let id = format!("MO{:05}-A", store.orders.len() + 1);
    let now = Utc::now();
    store.orders.push(Order {
        id: id.clone(),
        state: "WAITING_ACCEPTANCE".into(),
        created: now,
        updated: now,
        customer: DemoParty {
            first_name: "Camille".into(),
            last_name: "Martin".into(),
            company: String::new(),
            email: "camille.martin@example.com".into(),
            phone: "+33 1 23 45 67 89".into(),
            street: "12 rue de la Paix".into(),
            city: "Paris".into(),
            state: String::new(),
            zip: "75002".into(),
            country: "France".into(),
            country_iso2: "FR".into(),
        },
        lines: vec![Line {
            id: format!("{id}-1"),
            sku: offer.sku.clone(),
            title: offer.title.clone(),
            quantity,
            unit_price: offer.price.clone(),
            state: "WAITING_ACCEPTANCE".into(),
            refunds: Vec::new(),
            cancelations: Vec::new(),
        }],
        accepted: false,
        tracking: None,
    });
    Ok((StatusCode::CREATED, axum::Json(json!({ "id": id }))).into_response())
}

async fn admin_order(State(sim): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let store = sim.store();
    let o = store
        .orders
        .iter()
        .find(|o| o.id == id)
        .ok_or_else(|| not_found("no such order"))?;
    let mut v = store.order_json(o);
    let shipments: Vec<Value> = o
        .tracking
        .iter()
        .map(|(code, name, number)| {
            json!({
                "carrier": if name.is_empty() { code } else { name },
                "carrier_code": code,
                "tracking_number": number,
            })
        })
        .collect();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("id".into(), json!(o.id));
        obj.insert("status".into(), json!(o.state));
        obj.insert("accepted".into(), json!(o.accepted));
        obj.insert("shipments".into(), json!(shipments));
    }
    ok(v)
}

async fn admin_cancel(State(sim): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let mut store = sim.store();
    let o = store.order_mut(&id)?;
    let now = Utc::now();
    o.state = "CANCELED".into();
    for (j, l) in o.lines.iter_mut().enumerate() {
        l.state = "CANCELED".into();
        l.cancelations = vec![(format!("C-{id}-{j}"), l.quantity, now)];
    }
    o.updated = now;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn admin_refund(State(sim): State<Shared>, Path(id): Path<String>) -> ApiResult {
    let mut store = sim.store();
    let o = store.order_mut(&id)?;
    let now = Utc::now();
    for (j, l) in o.lines.iter_mut().enumerate() {
        l.state = "REFUNDED".into();
        l.refunds = vec![(format!("R-{id}-{j}"), l.quantity, now)];
    }
    o.updated = now;
    Ok(StatusCode::NO_CONTENT.into_response())
}

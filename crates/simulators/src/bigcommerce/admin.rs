//! `/__admin/`: fault injection, token revocation, statistics and state inspection for tests.
//! Not part of BigCommerce's API; never rate limited or authenticated.

use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::store::Consignments;
use super::{ApiError, ApiResult, Shared, ok, relock};
use crate::demo::DemoParty;
use crate::faults::Fault;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/revoke-token", post(revoke))
        .route("/restore-token", post(restore))
        .route("/stats", get(stats))
        .route("/products/{sku}", get(product))
        .route("/orders", post(add_order))
        .route("/orders/{id}", get(order))
}

fn admin_error(status: StatusCode, message: &str) -> ApiError {
    ApiError {
        status,
        body: json!({ "error": message }),
    }
}

fn bad_request(message: &str) -> ApiError {
    admin_error(StatusCode::BAD_REQUEST, message)
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
        Err(e) => Err(bad_request(&format!("invalid fault: {e}"))),
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
    let deliveries: Vec<Value> = relock(&sim.delivery_log)
        .iter()
        .map(|(scope, status)| json!({"scope": scope, "status": status}))
        .collect();
    ok(json!({
        "requests_total": s.total,
        "requests": s.by_path,
        "rate_limited": s.rate_limited,
        "unauthorized": s.unauthorized,
        "faults_injected": s.faults_injected,
        "webhook_deliveries": deliveries,
    }))
}

/// The product owning `sku` (its own or a variant's), as stored, with stock per location and
/// the names behind its brand and category ids.
async fn product(State(sim): State<Shared>, Path(sku): Path<String>) -> ApiResult {
    let store = sim.store();
    let Some(pi) = store.find_product(&sku) else {
        return Err(admin_error(
            StatusCode::NOT_FOUND,
            &format!("no product with sku {sku}"),
        ));
    };
    let p = &store.products[pi];
    let mut body = store.product_json(p, true, true);
    let stock: Vec<Value> = p
        .variants
        .iter()
        .flat_map(|v| {
            store.locations.iter().map(|l| {
                json!({
                    "sku": v.sku,
                    "location_id": l.id,
                    "location_code": l.code,
                    "on_hand": store.stock.get(&(v.id, l.id)).copied().unwrap_or(0),
                })
            })
        })
        .collect();
    let brand = store
        .brands
        .iter()
        .find(|b| b.id == p.brand_id)
        .map(|b| b.name.clone())
        .unwrap_or_default();
    let categories: Vec<String> = p
        .categories
        .iter()
        .map(|c| store.category_path(*c))
        .collect();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("stock".into(), json!(stock));
        obj.insert("brand_name".into(), json!(brand));
        obj.insert("category_paths".into(), json!(categories));
    }
    ok(body)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NewOrder {
    /// (sku, quantity) lines; default: one unit of the first product.
    lines: Vec<NewLine>,
    /// V2 status id; default 11 (Awaiting Fulfillment).
    status_id: Option<i64>,
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
        return Ok(storm_order(&sim, &o));
    }
    let req: NewOrder = if body.iter().all(u8::is_ascii_whitespace) {
        NewOrder::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return Err(bad_request(&format!("invalid order: {e}"))),
        }
    };
    let base = sim.v2_base();
    let mut store = sim.store();
    let mut lines: Vec<(String, i64)> =
        req.lines.into_iter().map(|l| (l.sku, l.quantity)).collect();
    if lines.is_empty() {
        match store.products.first().and_then(|p| p.variants.first()) {
            Some(v) => lines.push((v.sku.clone(), 1)),
            None => return Err(bad_request("the store has no products")),
        }
    }
    if let Some((sku, _)) = lines.iter().find(|(s, _)| store.find_sku(s).is_none()) {
        return Err(bad_request(&format!("unknown sku {sku}")));
    }
    // Stock moves with the order (as far as there is any: this shape never refuses).
    for (sku, quantity) in &lines {
        if let Some((pi, vi)) = store.find_sku(sku) {
            let vid = store.products[pi].variants[vi].id;
            let _ = store.take_stock(vid, *quantity, false);
            sim.storm_log
                .record(sku, store.sellable(vid), crate::storm::Cause::Order);
        }
    }
    let buyer = test_buyer();
    let customer = store.orders.len() as i64 + 1000;
    let id = store.create_order(
        customer,
        &buyer,
        &buyer,
        &lines,
        req.status_id.unwrap_or(11),
        Utc::now(),
    );
    store.changed(
        "store/order/created",
        serde_json::json!({"type": "order", "id": id}),
    );
    match store.orders.iter().find(|o| o.id == id) {
        Some(o) => Ok((
            StatusCode::CREATED,
            axum::Json(store.order_json(o, &base, Consignments::Link)),
        )
            .into_response()),
        None => Err(bad_request("order was not created")),
    }
}

async fn order(State(sim): State<Shared>, Path(id): Path<i64>) -> ApiResult {
    let base = sim.v2_base();
    let store = sim.store();
    let Some(o) = store.orders.iter().find(|o| o.id == id) else {
        return Err(admin_error(StatusCode::NOT_FOUND, "no such order"));
    };
    let mut body = store.order_json(o, &base, Consignments::Link);
    if let Some(obj) = body.as_object_mut() {
        let products: Vec<Value> = o
            .products
            .iter()
            .map(|p| store.order_product_json(o, p))
            .collect();
        let shipments: Vec<Value> = o
            .shipments
            .iter()
            .map(|s| store.shipment_json(o, s))
            .collect();
        obj.insert("products".into(), json!(products));
        obj.insert("shipments".into(), json!(shipments));
    }
    ok(body)
}

/// `POST /__admin/orders` in the storm contract's shape `{sku, quantity}`: refused with 409
/// when fewer units are sellable; otherwise the stock is taken and the order (Awaiting
/// Fulfillment, paid) created under the same lock.
fn storm_order(sim: &Shared, o: &crate::storm::StormOrder) -> axum::response::Response {
    let mut store = sim.store();
    let Some((pi, vi)) = store.find_sku(&o.sku) else {
        return crate::storm::unknown_sku(&o.sku);
    };
    let vid = store.products[pi].variants[vi].id;
    if let Err(available) = store.take_stock(vid, o.quantity, true) {
        return crate::storm::insufficient(available);
    }
    sim.storm_log
        .record(&o.sku, store.sellable(vid), crate::storm::Cause::Order);
    let buyer = test_buyer();
    let customer = store.orders.len() as i64 + 1000;
    let id = store.create_order(
        customer,
        &buyer,
        &buyer,
        &[(o.sku.clone(), o.quantity)],
        11,
        Utc::now(),
    );
    store.changed(
        "store/order/created",
        serde_json::json!({"type": "order", "id": id}),
    );
    crate::storm::order_created(id)
}

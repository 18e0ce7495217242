//! `/__admin/`: the admin contract every marketplace simulator serves (offers, orders, stats,
//! faults), plus token revocation. Not part of Refurbed's API; never rate limited or
//! authenticated.

use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::{Value, json};

use super::{ApiError, Item, Order, Shared, Stats, item_json, offer_json, relock};
use crate::demo;
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
        .route("/stats/reset", post(reset_stats))
        .route("/offers/{sku}", get(offer).put(set_offer))
        .route("/orders", post(add_order))
        .route("/orders/{id}", get(order))
        .route("/orders/{id}/cancel", post(cancel))
        .route("/orders/{id}/refund", post(refund))
}

type AdminResult = Result<Response, ApiError>;

fn admin_error(status: StatusCode, message: &str) -> ApiError {
    ApiError {
        status,
        body: json!({ "error": message }),
    }
}

fn ok(v: Value) -> AdminResult {
    Ok((StatusCode::OK, axum::Json(v)).into_response())
}

async fn add_fault(State(sim): State<Shared>, body: Bytes) -> AdminResult {
    let fault: Fault = serde_json::from_slice(&body)
        .map_err(|e| admin_error(StatusCode::BAD_REQUEST, &format!("invalid fault: {e}")))?;
    sim.faults.push(fault);
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "pending": sim.faults.pending() })),
    )
        .into_response())
}

async fn list_faults(State(sim): State<Shared>) -> AdminResult {
    ok(json!({ "pending": sim.faults.pending() }))
}

async fn clear_faults(State(sim): State<Shared>) -> AdminResult {
    sim.faults.clear();
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn revoke(State(sim): State<Shared>) -> AdminResult {
    sim.token_revoked.store(true, Ordering::SeqCst);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn restore(State(sim): State<Shared>) -> AdminResult {
    sim.token_revoked.store(false, Ordering::SeqCst);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn stats(State(sim): State<Shared>) -> AdminResult {
    let (once, more, never) = {
        let store = sim.store();
        let count = |f: &dyn Fn(u64) -> bool| store.offers.iter().filter(|o| f(o.updates)).count();
        (count(&|u| u == 1), count(&|u| u > 1), count(&|u| u == 0))
    };
    let s = relock(&sim.stats);
    ok(json!({
        "merchant_id": sim.config.merchant_id,
        "requests": s.requests,
        "rate_limited": s.rate_limited,
        "unauthorized": s.unauthorized,
        "faults_injected": s.faults_injected,
        "by_method": s.by_method,
        "largest_batch": s.largest_batch,
        "offers_applied_once": once,
        "offers_applied_more": more,
        "offers_never": never,
    }))
}

async fn reset_stats(State(sim): State<Shared>) -> AdminResult {
    *relock(&sim.stats) = Stats::default();
    for o in sim.store().offers.iter_mut() {
        o.updates = 0;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn not_found(what: &str) -> ApiError {
    admin_error(StatusCode::NOT_FOUND, &format!("{what} not found"))
}

async fn offer(State(sim): State<Shared>, Path(sku): Path<String>) -> AdminResult {
    let store = sim.store();
    let i = *store.by_sku.get(&sku).ok_or_else(|| not_found(&sku))?;
    let o = &store.offers[i];
    let mut v = offer_json(o);
    v["quantity"] = json!(o.stock);
    v["price"] = json!(o.price);
    v["updates"] = json!(o.updates);
    ok(v)
}

async fn set_offer(State(sim): State<Shared>, Path(sku): Path<String>, body: Bytes) -> AdminResult {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| admin_error(StatusCode::BAD_REQUEST, &e.to_string()))?;
    let mut store = sim.store();
    let i = *store.by_sku.get(&sku).ok_or_else(|| not_found(&sku))?;
    let o = &mut store.offers[i];
    if let Some(q) = body["quantity"].as_i64() {
        o.stock = q.max(0);
    }
    sim.storm_log
        .record(&sku, o.stock, crate::storm::Cause::Admin);
    if let Some(p) = body["price"].as_str() {
        o.price = p.to_string();
    }
    ok(offer_json(o))
}

fn order_view(o: &Order) -> Value {
    let states: std::collections::BTreeSet<&str> = o.items.iter().map(|i| i.state).collect();
    let shipments: Vec<Value> = o
        .items
        .iter()
        .filter_map(|i| i.carrier.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|(c, n)| json!({ "carrier": c, "tracking_number": n }))
        .collect();
    json!({
        "id": o.id.to_string(),
        "status": states.into_iter().collect::<Vec<_>>().join(","),
        "accepted": o.items.iter().all(|i| i.state != "NEW")
            && o.items.iter().any(|i| matches!(i.state, "ACCEPTED" | "SHIPPED" | "RETURNED")),
        "shipments": shipments,
        "updated_at": o.updated_at.to_rfc3339(),
        "items": o.items.iter().map(|i| item_json(o.id, i)).collect::<Vec<_>>(),
    })
}

fn find(orders: &mut [Order], id: &str) -> Result<usize, ApiError> {
    orders
        .iter()
        .position(|o| o.id.to_string() == id)
        .ok_or_else(|| not_found(&format!("order {id}")))
}

async fn order(State(sim): State<Shared>, Path(id): Path<String>) -> AdminResult {
    let mut store = sim.store();
    let i = find(&mut store.orders, &id)?;
    ok(order_view(&store.orders[i]))
}

async fn add_order(State(sim): State<Shared>, body: Bytes) -> AdminResult {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| admin_error(StatusCode::BAD_REQUEST, &e.to_string()))?;
    let sku = body["sku"]
        .as_str()
        .ok_or_else(|| admin_error(StatusCode::BAD_REQUEST, "sku is required"))?
        .to_string();
    let quantity = body["quantity"].as_i64().unwrap_or(1).max(1);
    let mut store = sim.store();
    let i = *store.by_sku.get(&sku).ok_or_else(|| not_found(&sku))?;
    // The order takes its units from the offer, atomically: never more than there are.
    let available = store.offers[i].stock.max(0);
    if available < quantity {
        return Ok(crate::storm::insufficient(available));
    }
    store.offers[i].stock = available - quantity;
    sim.storm_log
        .record(&sku, available - quantity, crate::storm::Cause::Order);
    let (name, price) = (store.offers[i].instance_name.clone(), {
        let p = &store.offers[i].price;
        super::money(demo::to_units(p))
    });
    let id = store
        .orders
        .iter()
        .map(|o| o.id)
        .max()
        .unwrap_or(70_000_000)
        + 1;
    let mut items = Vec::new();
    for _ in 0..quantity {
        let item_id = store.next_item;
        store.next_item += 1;
        items.push(Item {
            id: item_id,
            sku: sku.clone(),
            name: name.clone(),
            state: "NEW",
            price: price.clone(),
            refunded: "0.00".into(),
            tracking_url: None,
            carrier: None,
        });
    }
    let template = demo::orders(sim.config.seed, &demo::catalog(sim.config.seed, 1), 1);
    let buyer = template
        .first()
        .map(|o| o.shipping.clone())
        .ok_or_else(|| admin_error(StatusCode::INTERNAL_SERVER_ERROR, "no demo buyer"))?;
    let now = Utc::now();
    store.orders.push(Order {
        id,
        released_at: now,
        updated_at: now,
        email: buyer.email.clone(),
        shipping: buyer,
        items,
    });
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "id": id.to_string() })),
    )
        .into_response())
}

async fn cancel(State(sim): State<Shared>, Path(id): Path<String>) -> AdminResult {
    let mut store = sim.store();
    let i = find(&mut store.orders, &id)?;
    let o = &mut store.orders[i];
    for it in o.items.iter_mut() {
        if matches!(it.state, "NEW" | "ACCEPTED") {
            it.state = "CANCELLED";
        }
    }
    o.updated_at = Utc::now();
    ok(order_view(o))
}

async fn refund(State(sim): State<Shared>, Path(id): Path<String>) -> AdminResult {
    let mut store = sim.store();
    let i = find(&mut store.orders, &id)?;
    let o = &mut store.orders[i];
    for it in o.items.iter_mut() {
        it.refunded = it.price.clone();
        if it.state == "SHIPPED" {
            it.state = "RETURNED";
        }
    }
    o.updated_at = Utc::now();
    ok(order_view(o))
}

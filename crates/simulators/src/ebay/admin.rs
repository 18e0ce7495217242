//! `/__admin/`: the marketplace admin contract (offers, orders, stats, faults) plus token
//! expiry/revocation and notification deliveries. Not part of eBay's API.

use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{offer_json, order_json};
use super::{Line, Shared, SimOrder, order_id, relock};
use crate::demo::{self, DemoParty};
use crate::faults::Fault;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/expire-tokens", post(expire_tokens))
        .route("/revoke-token", post(revoke))
        .route("/restore-token", post(restore))
        .route("/stats", get(stats))
        .route("/stats/reset", post(reset_stats))
        .route("/offers", get(all_offers))
        .route("/offers/{sku}", get(offer).put(set_quantity))
        .route("/orders", post(add_order))
        .route("/orders/{id}", get(order))
        .route("/orders/{id}/cancel", post(cancel))
        .route("/orders/{id}/refund", post(refund))
        .route("/deliveries", get(deliveries))
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": format!("{what} not found")})),
    )
        .into_response()
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

async fn add_fault(State(sim): State<Shared>, body: Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(f) => {
            sim.faults.push(f);
            (
                StatusCode::CREATED,
                axum::Json(json!({"pending": sim.faults.pending()})),
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn list_faults(State(sim): State<Shared>) -> Response {
    ok(json!({"pending": sim.faults.pending()}))
}

async fn clear_faults(State(sim): State<Shared>) -> Response {
    sim.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

/// Every access token issued so far expires now.
async fn expire_tokens(State(sim): State<Shared>) -> Response {
    let now = std::time::Instant::now();
    for (exp, _) in relock(&sim.tokens).values_mut() {
        *exp = now;
    }
    StatusCode::NO_CONTENT.into_response()
}

/// The seller revoked the authorization: the refresh token and every access token are dead.
async fn revoke(State(sim): State<Shared>) -> Response {
    sim.revoked.store(true, Ordering::SeqCst);
    StatusCode::NO_CONTENT.into_response()
}

async fn restore(State(sim): State<Shared>) -> Response {
    sim.revoked.store(false, Ordering::SeqCst);
    StatusCode::NO_CONTENT.into_response()
}

async fn stats(State(sim): State<Shared>) -> Response {
    let (once, more, never) = {
        let listings = relock(&sim.listings);
        let mut c = (0u64, 0u64, 0u64);
        for l in listings.iter() {
            match l.updates {
                0 => c.2 += 1,
                1 => c.0 += 1,
                _ => c.1 += 1,
            }
        }
        c
    };
    let s = relock(&sim.stats);
    ok(json!({
        "requests": s.requests,
        "rate_limited": s.rate_limited,
        "unauthorized": s.unauthorized,
        "faults_injected": s.faults,
        "by_path": s.by_path,
        "offers_applied_once": once,
        "offers_applied_more": more,
        "offers_never": never,
    }))
}

/// Zeroes the counters (requests, updates) and refills the call budgets.
async fn reset_stats(State(sim): State<Shared>) -> Response {
    *relock(&sim.stats) = super::Stats::default();
    for l in relock(&sim.listings).iter_mut() {
        l.updates = 0;
    }
    for b in relock(&sim.buckets).values_mut() {
        b.refill();
    }
    StatusCode::NO_CONTENT.into_response()
}

/// Every sku with its offer id.
async fn all_offers(State(sim): State<Shared>) -> Response {
    let listings = relock(&sim.listings);
    let list: Vec<Value> = listings
        .iter()
        .map(|l| json!({"sku": l.sku, "offerId": l.offer_id}))
        .collect();
    ok(json!({"offers": list}))
}

async fn offer(State(sim): State<Shared>, Path(sku): Path<String>) -> Response {
    let idx = relock(&sim.by_sku).get(&sku).copied();
    let Some(i) = idx else {
        return not_found("offer");
    };
    let l = relock(&sim.listings)[i].clone();
    let mut v = offer_json(&l);
    v["quantity"] = json!(l.quantity);
    v["price"] = json!(l.price);
    v["updates"] = json!(l.updates);
    v["product"] = l.product.clone();
    v["return_policy"] = json!(l.return_policy_id);
    ok(v)
}

#[derive(Deserialize)]
struct SetQuantity {
    quantity: i64,
}

async fn set_quantity(State(sim): State<Shared>, Path(sku): Path<String>, body: Bytes) -> Response {
    let Ok(q) = serde_json::from_slice::<SetQuantity>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "{\"quantity\": int} expected"})),
        )
            .into_response();
    };
    let idx = relock(&sim.by_sku).get(&sku).copied();
    let Some(i) = idx else {
        return not_found("offer");
    };
    relock(&sim.listings)[i].quantity = q.quantity;
    sim.storm_log
        .record(&sku, q.quantity.max(0), crate::storm::Cause::Admin);
    StatusCode::NO_CONTENT.into_response()
}

fn admin_order(o: &SimOrder) -> Value {
    let mut v = order_json(o);
    let status = if o.cancelled {
        "CANCELED".to_string()
    } else if o.payment_status() != "PAID" {
        o.payment_status().to_string()
    } else {
        o.fulfillment_status().to_string()
    };
    v["id"] = json!(o.id);
    v["status"] = json!(status);
    v["accepted"] = json!(true);
    v["shipments"] = json!(
        o.fulfillments
            .iter()
            .map(|f| json!({"carrier": f.carrier, "tracking_number": f.tracking}))
            .collect::<Vec<_>>()
    );
    v
}

async fn order(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    let orders = relock(&sim.orders);
    match orders.iter().find(|o| o.id == id) {
        Some(o) => ok(admin_order(o)),
        None => not_found("order"),
    }
}

#[derive(Deserialize)]
struct NewOrder {
    sku: String,
    #[serde(default = "one")]
    quantity: i64,
}

fn one() -> i64 {
    1
}

fn buyer() -> DemoParty {
    DemoParty {
        first_name: "Test".into(),
        last_name: "Buyer".into(),
        company: String::new(),
        email: "test.buyer@example.com".into(),
        phone: "+1 555 0100".into(),
        street: "1 Test Street".into(),
        city: "San Jose".into(),
        state: "CA".into(),
        zip: "95125".into(),
        country: "United States".into(),
        country_iso2: "US".into(),
    }
}

/// A new paid order placed now.
async fn add_order(State(sim): State<Shared>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<NewOrder>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "{\"sku\", \"quantity\"} expected"})),
        )
            .into_response();
    };
    let idx = relock(&sim.by_sku).get(&req.sku).copied();
    let Some(i) = idx else {
        return not_found("sku");
    };
    let want = req.quantity.max(1);
    // Stock and order move together: the listings stay locked until the order exists, and an
    // order for more than is available is refused.
    let mut listings = relock(&sim.listings);
    let (title, price) = {
        let l = &mut listings[i];
        let available = l.quantity.max(0);
        if available < want {
            return crate::storm::insufficient(available);
        }
        l.quantity = available - want;
        sim.storm_log
            .record(&req.sku, l.quantity, crate::storm::Cause::Order);
        (
            l.product
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            l.price.clone(),
        )
    };
    let now = Utc::now();
    let id = {
        let mut orders = relock(&sim.orders);
        let n = orders.len();
        let id = order_id(n);
        orders.push(SimOrder {
            id: id.clone(),
            created: now,
            modified: now,
            lines: vec![Line {
                id: format!("{}{:03}", 10_000_000_000u64 + n as u64 * 1000, 0),
                sku: req.sku.clone(),
                title,
                quantity: want,
                unit: demo::to_units(&price),
            }],
            paid: true,
            cancelled: false,
            refunds: Vec::new(),
            fulfillments: Vec::new(),
            buyer: buyer(),
            ship_to: buyer(),
            currency: "USD".into(),
        });
        id
    };
    drop(listings);
    (StatusCode::CREATED, axum::Json(json!({"id": id}))).into_response()
}

async fn cancel(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    let mut orders = relock(&sim.orders);
    match orders.iter_mut().find(|o| o.id == id) {
        Some(o) => {
            o.cancelled = true;
            o.modified = Utc::now();
            ok(admin_order(o))
        }
        None => not_found("order"),
    }
}

async fn refund(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    let mut orders = relock(&sim.orders);
    match orders.iter_mut().find(|o| o.id == id) {
        Some(o) => {
            let now = Utc::now();
            let left = o.total() - o.refunds.iter().map(|r| r.1).sum::<i64>();
            if left > 0 {
                let rid = format!("RF{}{}", o.id.replace('-', ""), o.refunds.len());
                o.refunds.push((rid, left, now));
            }
            o.modified = now;
            ok(admin_order(o))
        }
        None => not_found("order"),
    }
}

async fn deliveries(State(sim): State<Shared>) -> Response {
    let n = relock(&sim.notifications);
    ok(
        json!({"deliveries": n.deliveries.iter().map(|(t, e, s)| json!({"topic": t, "endpoint": e, "status": s})).collect::<Vec<_>>()}),
    )
}

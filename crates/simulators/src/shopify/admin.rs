//! `/__admin/`: fault injection, token revocation, statistics, product and order inspection and
//! editing, order creation and webhook delivery logs for tests. Not part of Shopify's API;
//! never authenticated or throttled. Edits announce webhooks like API changes do.

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

use super::store::numeric_id;
use super::{Shared, relock};
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
        .route("/products/{sku}", get(product).put(edit_product))
        .route("/stock/{sku}", axum::routing::put(edit_stock))
        .route("/orders", post(add_order))
        .route("/orders/{id}", get(order))
        .route("/webhooks", get(webhooks))
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    reply(status, json!({ "error": message }))
}

async fn add_fault(State(sim): State<Shared>, body: Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) => {
            sim.faults.push(fault);
            reply(
                StatusCode::CREATED,
                json!({ "pending": sim.faults.pending() }),
            )
        }
        Err(e) => error(StatusCode::BAD_REQUEST, &format!("invalid fault: {e}")),
    }
}

async fn list_faults(State(sim): State<Shared>) -> Response {
    reply(StatusCode::OK, json!({ "pending": sim.faults.pending() }))
}

async fn clear_faults(State(sim): State<Shared>) -> Response {
    sim.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn revoke(State(sim): State<Shared>) -> Response {
    sim.token_revoked.store(true, Ordering::SeqCst);
    StatusCode::NO_CONTENT.into_response()
}

async fn restore(State(sim): State<Shared>) -> Response {
    sim.token_revoked.store(false, Ordering::SeqCst);
    StatusCode::NO_CONTENT.into_response()
}

async fn stats(State(sim): State<Shared>) -> Response {
    let s = relock(&sim.stats);
    let bucket = relock(&sim.bucket).status();
    reply(
        StatusCode::OK,
        json!({
            "requests_total": s.total,
            "requests": s.by_kind,
            "rate_limited": s.rate_limited,
            "throttled": s.throttled,
            "unauthorized": s.unauthorized,
            "faults_injected": s.faults_injected,
            "cost_total": s.cost_total,
            "throttle_status": bucket,
        }),
    )
}

/// The product owning `sku`, as the GraphQL `Product` with `variants`, metafields and the stock
/// of every variant per location (`stock: [{sku, location_id, location, on_hand}]`).
async fn product(State(sim): State<Shared>, Path(sku): Path<String>) -> Response {
    let store = sim.store();
    let Some(pi) = store.find_product(&sku) else {
        return error(StatusCode::NOT_FOUND, &format!("no product with sku {sku}"));
    };
    let p = &store.products[pi];
    let mut body = store.product_json(p);
    let stock: Vec<Value> = p
        .variants
        .iter()
        .flat_map(|v| {
            store.locations.iter().map(|l| {
                json!({
                    "sku": v.sku,
                    "location_id": l.id,
                    "location": l.name,
                    "on_hand": store.levels.get(&(v.item_id, l.id)).copied().unwrap_or(0),
                })
            })
        })
        .collect();
    body["stock"] = json!(stock);
    reply(StatusCode::OK, body)
}

/// Edits a product as a merchant would in the Shopify admin: `{title?, descriptionHtml?,
/// vendor?, productType?, status?, price?}` (price: every variant). Sends `products/update`.
async fn edit_product(State(sim): State<Shared>, Path(sku): Path<String>, body: Bytes) -> Response {
    let edit: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid edit: {e}")),
    };
    let answer = {
        let mut store = sim.store();
        let Some(pi) = store.find_product(&sku) else {
            return error(StatusCode::NOT_FOUND, &format!("no product with sku {sku}"));
        };
        let p = &mut store.products[pi];
        if let Some(v) = edit["title"].as_str() {
            p.title = v.into();
        }
        if let Some(v) = edit["descriptionHtml"].as_str() {
            p.description = v.into();
        }
        if let Some(v) = edit["vendor"].as_str() {
            p.vendor = v.into();
        }
        if let Some(v) = edit["productType"].as_str() {
            p.product_type = v.into();
        }
        if let Some(v) = edit["status"].as_str() {
            p.status = v.into();
        }
        if let Some(v) = edit["price"].as_str() {
            for var in &mut p.variants {
                var.price = v.into();
            }
        }
        store.product_changed(pi);
        store.product_json(&store.products[pi])
    };
    sim.flush_webhooks();
    reply(StatusCode::OK, answer)
}

#[derive(Debug, Deserialize)]
struct StockEdit {
    location: String,
    on_hand: i64,
}

/// Sets the stock of a variant sku at a location (`{location: name or id, on_hand}`). Sends
/// `inventory_levels/update`.
async fn edit_stock(State(sim): State<Shared>, Path(sku): Path<String>, body: Bytes) -> Response {
    let edit: StockEdit = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid edit: {e}")),
    };
    {
        let mut store = sim.store();
        let Some((pi, vi)) = store.find_variant_sku(&sku) else {
            return error(StatusCode::NOT_FOUND, &format!("no variant with sku {sku}"));
        };
        let item = store.products[pi].variants[vi].item_id;
        let Some(loc) = store
            .locations
            .iter()
            .find(|l| l.name == edit.location || Some(l.id) == numeric_id(&edit.location))
            .map(|l| l.id)
        else {
            return error(StatusCode::NOT_FOUND, "no such location");
        };
        store.levels.insert((item, loc), edit.on_hand);
        store.stock_changed(item, loc);
    }
    sim.flush_webhooks();
    StatusCode::NO_CONTENT.into_response()
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

pub(super) fn test_buyer() -> DemoParty {
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

/// Creates a paid, unfulfilled order (`{lines: [{sku, quantity}]}`; default one unit of the
/// first variant). Sends `orders/create`.
async fn add_order(State(sim): State<Shared>, body: Bytes) -> Response {
    if let Some(o) = crate::storm::StormOrder::parse(&body) {
        return super::storm::order(&sim, &o);
    }
    let req: NewOrder = if body.iter().all(u8::is_ascii_whitespace) {
        NewOrder::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid order: {e}")),
        }
    };
    let answer = {
        let mut store = sim.store();
        let mut lines: Vec<(String, i64)> =
            req.lines.into_iter().map(|l| (l.sku, l.quantity)).collect();
        if lines.is_empty() {
            match store.products.first().and_then(|p| p.variants.first()) {
                Some(v) => lines.push((v.sku.clone(), 1)),
                None => return error(StatusCode::BAD_REQUEST, "the shop has no products"),
            }
        }
        if let Some((sku, _)) = lines
            .iter()
            .find(|(s, _)| store.find_variant_sku(s).is_none())
        {
            return error(StatusCode::BAD_REQUEST, &format!("unknown sku {sku}"));
        }
        // Stock moves with the order (as far as there is any: this shape never refuses).
        for (sku, quantity) in &lines {
            if let Some((pi, vi)) = store.find_variant_sku(sku) {
                let item = store.products[pi].variants[vi].item_id;
                let _ = store.take_stock(item, *quantity, false);
                sim.storm_log
                    .record(sku, store.sellable(item), crate::storm::Cause::Order);
            }
        }
        let buyer = test_buyer();
        let id = store.create_order(&buyer, &buyer, &lines, Utc::now(), true);
        match store.orders.iter().find(|o| o.id == id) {
            Some(o) => store.order_json(o),
            None => return error(StatusCode::BAD_REQUEST, "order was not created"),
        }
    };
    sim.flush_webhooks();
    reply(StatusCode::CREATED, answer)
}

/// An order as the GraphQL `Order` (lines, fulfillments with tracking, fulfillment orders).
async fn order(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    let store = sim.store();
    let n = numeric_id(&id);
    match store.orders.iter().find(|o| Some(o.id) == n) {
        Some(o) => reply(StatusCode::OK, store.order_json(o)),
        None => error(StatusCode::NOT_FOUND, "no such order"),
    }
}

/// Subscriptions and the deliveries sent so far.
async fn webhooks(State(sim): State<Shared>) -> Response {
    let subs: Vec<Value> = sim
        .store()
        .webhooks
        .iter()
        .map(|w| json!({"id": w.id, "topic": w.topic, "callback_url": w.callback_url}))
        .collect();
    let deliveries = relock(&sim.deliveries).clone();
    reply(
        StatusCode::OK,
        json!({"subscriptions": subs, "deliveries": deliveries}),
    )
}

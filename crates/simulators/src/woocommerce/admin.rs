//! `/__admin/`: fault injection, key revocation, statistics, state inspection and edits, order
//! creation and the webhook delivery log, for tests. Not part of WooCommerce's API; never rate
//! limited or authenticated. Edits through here are changes like any other: they fire webhooks.

use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::update_product_in;
use super::store::now;
use super::{ApiError, ApiResult, Shared, ok, relock, webhooks};
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
        .route("/orders", post(add_order))
        .route("/orders/{id}", get(order).put(edit_order))
        .route("/webhooks", get(webhooks_list))
        .route("/webhooks/deliveries", get(deliveries))
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

/// Revokes the REST API key (as "Revoke API key" in WooCommerce > Settings > Advanced).
async fn revoke(State(sim): State<Shared>) -> ApiResult {
    sim.key_revoked.store(true, Ordering::SeqCst);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn restore(State(sim): State<Shared>) -> ApiResult {
    sim.key_revoked.store(false, Ordering::SeqCst);
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
        "batch_items": s.batch_items,
        "batches_too_large": s.batches_too_large,
        "webhook_deliveries": s.webhook_deliveries,
    }))
}

/// The product owning `sku` (its own or a variation's) as the API renders it, plus its
/// `variations`, `stock` per sku, `brand` and `category_paths`.
async fn product(State(sim): State<Shared>, Path(sku): Path<String>) -> ApiResult {
    let store = sim.store();
    let Some((pi, _)) = store.find_sku(&sku) else {
        return Err(admin_error(
            StatusCode::NOT_FOUND,
            &format!("no product with sku {sku}"),
        ));
    };
    let p = &store.products[pi];
    let base = sim.base();
    let mut body = store.product_json(p, &base, &sim.site);
    let variations: Vec<Value> = p
        .variations
        .iter()
        .map(|v| store.variation_json(p, v, &base, &sim.site))
        .collect();
    let stock: Vec<Value> = if p.variable {
        p.variations
            .iter()
            .map(|v| json!({"sku": v.sku, "manage_stock": v.manage_stock, "stock_quantity": v.stock_quantity}))
            .collect()
    } else {
        vec![
            json!({"sku": p.sku, "manage_stock": p.manage_stock, "stock_quantity": p.stock_quantity}),
        ]
    };
    let brand = p
        .attributes
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case("brand") && !a.variation)
        .and_then(|a| a.options.first().cloned())
        .unwrap_or_default();
    let paths: Vec<String> = p
        .categories
        .iter()
        .map(|c| store.category_path(*c))
        .collect();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("variations_detail".into(), json!(variations));
        obj.insert("stock".into(), json!(stock));
        obj.insert("brand".into(), json!(brand));
        obj.insert("category_paths".into(), json!(paths));
    }
    ok(body)
}

/// Edits the product or variation owning `sku` with a body in the API's update shape
/// (`{"stock_quantity": 3}`, `{"description": "…"}`); fires `product.updated`.
async fn edit_product(
    State(sim): State<Shared>,
    Path(sku): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body: Value =
        serde_json::from_slice(&body).map_err(|e| bad_request(&format!("invalid body: {e}")))?;
    let id = {
        let store = sim.store();
        match store.find_sku(&sku) {
            Some((pi, Some(vi))) => store.products[pi].variations[vi].id,
            Some((pi, None)) => store.products[pi].id,
            None => {
                return Err(admin_error(
                    StatusCode::NOT_FOUND,
                    &format!("no product with sku {sku}"),
                ));
            }
        }
    };
    let (fired, json) = update_product_in(&sim, id, &body)?;
    webhooks::fire(&sim, "product", "updated", fired);
    ok(json)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NewOrder {
    /// (sku, quantity) lines; default: one unit of the first product.
    lines: Vec<NewLine>,
    /// WooCommerce status; default `processing`.
    status: Option<String>,
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
        state: "TX".into(),
        zip: "78701".into(),
        country: "United States".into(),
        country_iso2: "US".into(),
    }
}

/// Places an order now (as a checkout would); fires `order.created`.
async fn add_order(State(sim): State<Shared>, body: Bytes) -> ApiResult {
    if let Some(o) = crate::storm::StormOrder::parse(&body) {
        return Ok(super::storm::order(&sim, &o));
    }
    let req: NewOrder = if body.iter().all(u8::is_ascii_whitespace) {
        NewOrder::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| bad_request(&format!("invalid order: {e}")))?
    };
    let status = req.status.unwrap_or_else(|| "processing".into());
    if !super::store::ORDER_STATUSES.contains(&status.as_str()) {
        return Err(bad_request(&format!("unknown status {status}")));
    }
    let (id, json) = {
        let mut store = sim.store();
        let mut lines: Vec<(String, i64)> =
            req.lines.into_iter().map(|l| (l.sku, l.quantity)).collect();
        if lines.is_empty() {
            match store.products.first() {
                Some(p) => lines.push((
                    p.variations
                        .first()
                        .map_or(p.sku.clone(), |v| v.sku.clone()),
                    1,
                )),
                None => return Err(bad_request("the store has no products")),
            }
        }
        if let Some((sku, _)) = lines.iter().find(|(s, _)| store.find_sku(s).is_none()) {
            return Err(bad_request(&format!("unknown sku {sku}")));
        }
        // Stock moves with the order (as far as there is any: this shape never refuses).
        for (sku, quantity) in &lines {
            if let Ok(left) = super::storm::take_stock(&mut store, sku, *quantity, false) {
                sim.storm_log.record(sku, left, crate::storm::Cause::Order);
            }
        }
        let buyer = test_buyer();
        let id = store.create_order(&buyer, &buyer, &lines, &status, now());
        let o = store
            .orders
            .iter()
            .find(|o| o.id == id)
            .ok_or_else(|| bad_request("order was not created"))?;
        (id, store.order_json(o, &sim.base()))
    };
    webhooks::fire(&sim, "order", "created", id);
    Ok((StatusCode::CREATED, axum::Json(json)).into_response())
}

/// An order as the API renders it, with its `notes`.
async fn order(State(sim): State<Shared>, Path(id): Path<i64>) -> ApiResult {
    let store = sim.store();
    let Some(o) = store.orders.iter().find(|o| o.id == id) else {
        return Err(admin_error(StatusCode::NOT_FOUND, "no such order"));
    };
    let base = sim.base();
    let mut body = store.order_json(o, &base);
    let notes: Vec<Value> = o
        .notes
        .iter()
        .map(|n| store.note_json(o, n, &base))
        .collect();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("notes".into(), json!(notes));
    }
    ok(body)
}

#[derive(Debug, Deserialize)]
struct OrderEdit {
    status: String,
}

/// Changes an order's status (as a shop manager would); fires `order.updated`.
async fn edit_order(State(sim): State<Shared>, Path(id): Path<i64>, body: Bytes) -> ApiResult {
    let edit: OrderEdit =
        serde_json::from_slice(&body).map_err(|e| bad_request(&format!("invalid body: {e}")))?;
    let json = {
        let mut store = sim.store();
        super::api::set_order_status(&mut store, id, &edit.status)?;
        let o = store
            .orders
            .iter()
            .find(|o| o.id == id)
            .ok_or_else(|| admin_error(StatusCode::NOT_FOUND, "no such order"))?;
        store.order_json(o, &sim.base())
    };
    webhooks::fire(&sim, "order", "updated", id);
    ok(json)
}

/// Every webhook with its secret (which the API never shows).
async fn webhooks_list(State(sim): State<Shared>) -> ApiResult {
    let store = sim.store();
    let base = sim.base();
    let list: Vec<Value> = store
        .webhooks
        .iter()
        .map(|w| {
            let mut j = store.webhook_json(w, &base);
            j["secret"] = json!(w.secret);
            j
        })
        .collect();
    ok(json!(list))
}

async fn deliveries(State(sim): State<Shared>) -> ApiResult {
    ok(json!(*relock(&sim.deliveries)))
}

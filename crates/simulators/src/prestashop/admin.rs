//! `/__admin/`: fault injection, key revocation, statistics and state inspection for tests.
//! Not part of PrestaShop's webservice; never rate limited or authenticated.

use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

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
        .route("/orders", post(add_order))
        .route("/orders/{id}", get(order))
}

fn admin_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn add_fault(State(sim): State<Shared>, body: Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(fault) => {
            sim.faults.push(fault);
            (
                StatusCode::CREATED,
                axum::Json(json!({ "pending": sim.faults.pending() })),
            )
                .into_response()
        }
        Err(e) => admin_error(StatusCode::BAD_REQUEST, &format!("invalid fault: {e}")),
    }
}

async fn list_faults(State(sim): State<Shared>) -> Response {
    ok(json!({ "pending": sim.faults.pending() }))
}

async fn clear_faults(State(sim): State<Shared>) -> Response {
    sim.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn revoke(State(sim): State<Shared>) -> Response {
    sim.key_revoked.store(true, Ordering::SeqCst);
    StatusCode::NO_CONTENT.into_response()
}

async fn restore(State(sim): State<Shared>) -> Response {
    sim.key_revoked.store(false, Ordering::SeqCst);
    StatusCode::NO_CONTENT.into_response()
}

async fn stats(State(sim): State<Shared>) -> Response {
    let s = relock(&sim.stats);
    ok(json!({
        "requests_total": s.total,
        "requests": s.by_path,
        "rate_limited": s.rate_limited,
        "unauthorized": s.unauthorized,
        "faults_injected": s.faults_injected,
        "page_sizes": s.page_sizes,
        "writes": s.writes,
    }))
}

/// The product owning `sku` (its own or a combination's) as stored, with its combinations,
/// their stock and the names behind its manufacturer and category ids.
fn product_view(sim: &Shared, sku: &str) -> Option<Value> {
    let store = sim.store();
    let (pid, _) = store.find_sku(sku)?;
    let mut p = store.table("products")?.get(&pid)?.clone();
    let pid_s = pid.to_string();
    let combinations: Vec<Value> = store
        .table("combinations")
        .into_iter()
        .flatten()
        .filter(|(_, c)| c["id_product"] == pid_s.as_str())
        .map(|(_, c)| c.clone())
        .collect();
    let stock: Vec<Value> = store
        .table("stock_availables")
        .into_iter()
        .flatten()
        .filter(|(_, r)| r["id_product"] == pid_s.as_str())
        .map(|(_, r)| {
            let attr = r["id_product_attribute"].as_str().unwrap_or("0");
            let sku = if attr == "0" {
                p["reference"].clone()
            } else {
                combinations
                    .iter()
                    .find(|c| c["id"].as_i64().is_some() && c["id"].as_i64() == attr.parse::<i64>().ok())
                    .map(|c| c["reference"].clone())
                    .unwrap_or(Value::Null)
            };
            json!({"id": r["id"], "sku": sku, "id_product_attribute": attr, "quantity": r["quantity"]})
        })
        .collect();
    let categories: Vec<String> = p["associations"]["categories"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str()?.parse::<i64>().ok())
        .filter(|id| *id > 2)
        .map(|id| category_path(&store, id))
        .collect();
    if let Some(o) = p.as_object_mut() {
        o.insert("combinations".into(), json!(combinations));
        o.insert("stock".into(), json!(stock));
        o.insert("category_paths".into(), json!(categories));
    }
    Some(p)
}

fn category_path(store: &super::Store, mut id: i64) -> String {
    let mut parts = Vec::new();
    while id > 2 {
        let Some(c) = store.table("categories").and_then(|t| t.get(&id)) else {
            break;
        };
        parts.push(
            c["name"][0]["value"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        id = c["id_parent"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
    }
    parts.reverse();
    parts.join("/")
}

async fn product(State(sim): State<Shared>, Path(sku): Path<String>) -> Response {
    match product_view(&sim, &sku) {
        Some(p) => ok(p),
        None => admin_error(StatusCode::NOT_FOUND, &format!("no product with sku {sku}")),
    }
}

/// Edits a product as a merchant would in the back office: `{name?, description?, price?,
/// weight?, reference?, quantity?}` (`quantity` sets the stock of the sku's own row).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ProductEdit {
    name: Option<String>,
    description: Option<String>,
    price: Option<String>,
    weight: Option<String>,
    quantity: Option<i64>,
}

async fn edit_product(State(sim): State<Shared>, Path(sku): Path<String>, body: Bytes) -> Response {
    let edit: ProductEdit = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, &format!("invalid edit: {e}")),
    };
    {
        let mut store = sim.store();
        let Some((pid, cid)) = store.find_sku(&sku) else {
            return admin_error(StatusCode::NOT_FOUND, &format!("no product with sku {sku}"));
        };
        if let Some(p) = store.table_mut("products").get_mut(&pid) {
            if let Some(n) = &edit.name {
                p["name"] = json!([{ "id": "1", "value": n }]);
            }
            if let Some(d) = &edit.description {
                p["description"] = json!([{ "id": "1", "value": d }]);
            }
            if let Some(v) = &edit.price {
                p["price"] = json!(super::store::six(v));
            }
            if let Some(v) = &edit.weight {
                p["weight"] = json!(super::store::six(v));
            }
        }
        if let Some(q) = edit.quantity {
            let (pid_s, cid_s) = (pid.to_string(), cid.to_string());
            let row = store
                .table("stock_availables")
                .into_iter()
                .flatten()
                .find(|(_, r)| {
                    r["id_product"] == pid_s.as_str() && r["id_product_attribute"] == cid_s.as_str()
                })
                .map(|(id, _)| *id);
            if let Some(r) = row.and_then(|id| store.table_mut("stock_availables").get_mut(&id)) {
                r["quantity"] = json!(q.to_string());
            }
            store.sync_product_quantity(pid);
        }
        store.touch_product(pid);
    }
    match product_view(&sim, &sku) {
        Some(p) => ok(p),
        None => admin_error(StatusCode::NOT_FOUND, "product vanished"),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NewOrder {
    /// (sku, quantity) lines; default: one unit of the first product's first sku.
    lines: Vec<NewLine>,
    /// Order state id; default 2 (Payment accepted).
    current_state: Option<i64>,
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

async fn add_order(State(sim): State<Shared>, body: Bytes) -> Response {
    if let Some(o) = crate::storm::StormOrder::parse(&body) {
        return super::storm::order(&sim, &o);
    }
    let req: NewOrder = if body.iter().all(u8::is_ascii_whitespace) {
        NewOrder::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return admin_error(StatusCode::BAD_REQUEST, &format!("invalid order: {e}")),
        }
    };
    let id = {
        let mut store = sim.store();
        let mut lines: Vec<(String, i64)> =
            req.lines.into_iter().map(|l| (l.sku, l.quantity)).collect();
        if lines.is_empty() {
            let first = store
                .table("combinations")
                .and_then(|t| t.values().next())
                .and_then(|c| c["reference"].as_str())
                .or_else(|| {
                    store
                        .table("products")
                        .and_then(|t| t.values().next())
                        .and_then(|p| p["reference"].as_str())
                })
                .map(String::from);
            match first {
                Some(sku) => lines.push((sku, 1)),
                None => return admin_error(StatusCode::BAD_REQUEST, "the shop has no products"),
            }
        }
        if let Some((sku, _)) = lines.iter().find(|(s, _)| store.find_sku(s).is_none()) {
            return admin_error(StatusCode::BAD_REQUEST, &format!("unknown sku {sku}"));
        }
        // Stock moves with the order (as far as there is any: this shape never refuses).
        for (sku, quantity) in &lines {
            if let Ok(left) = store.take_stock(sku, *quantity, false) {
                sim.storm_log.record(sku, left, crate::storm::Cause::Order);
            }
        }
        match store.add_order(&test_buyer(), &lines, req.current_state.unwrap_or(2)) {
            Ok(id) => id,
            Err(e) => return admin_error(StatusCode::BAD_REQUEST, &e),
        }
    };
    match order_view(&sim, id) {
        Some(o) => (StatusCode::CREATED, axum::Json(o)).into_response(),
        None => admin_error(StatusCode::BAD_REQUEST, "order was not created"),
    }
}

/// An order with its carriers (tracking) and state history.
fn order_view(sim: &Shared, id: i64) -> Option<Value> {
    let store = sim.store();
    let mut o = store.table("orders")?.get(&id)?.clone();
    let id_s = id.to_string();
    let pick = |table: &str| -> Vec<Value> {
        store
            .table(table)
            .into_iter()
            .flatten()
            .filter(|(_, r)| r["id_order"] == id_s.as_str())
            .map(|(_, r)| r.clone())
            .collect()
    };
    let carriers = pick("order_carriers");
    let histories = pick("order_histories");
    if let Some(obj) = o.as_object_mut() {
        obj.insert("order_carriers".into(), json!(carriers));
        obj.insert("order_histories".into(), json!(histories));
    }
    Some(o)
}

async fn order(State(sim): State<Shared>, Path(id): Path<i64>) -> Response {
    match order_view(&sim, id) {
        Some(o) => ok(o),
        None => admin_error(StatusCode::NOT_FOUND, "no such order"),
    }
}

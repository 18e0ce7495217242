//! V2 orders: list (a JSON array, 204 when empty), one order, status updates, order products,
//! shipping addresses and shipments.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::Utc;
use serde_json::{Value, json};

use super::store::{Consignments, Order, Shipment, status_name};
use super::{ApiError, ApiResult, Params, Shared, ok, parse_body, parse_date, v2_error};

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/orders", get(list_orders))
        .route("/orders/count", get(count_orders))
        .route("/orders/{id}", get(get_order).put(update_order))
        .route("/orders/{id}/products", get(order_products))
        .route("/orders/{id}/shipping_addresses", get(shipping_addresses))
        .route("/orders/{id}/consignments", get(consignments))
        .route(
            "/orders/{id}/shipments",
            get(shipments).post(create_shipment),
        )
        .route("/order_statuses", get(statuses))
}

fn not_found() -> ApiError {
    v2_error(
        StatusCode::NOT_FOUND,
        "The requested resource was not found.",
    )
}

fn no_content() -> ApiResult {
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `page` and `limit` of V2 (limit at most 250); V2 answers a bad value with 400.
fn v2_page(q: &Params, default: usize) -> Result<(usize, usize), ApiError> {
    let parse = |name: &str, dflt: usize| -> Result<usize, ApiError> {
        match q.get(name) {
            None => Ok(dflt),
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as usize)
                .ok_or_else(|| {
                    v2_error(
                        StatusCode::BAD_REQUEST,
                        &format!("The field '{name}' is invalid."),
                    )
                }),
        }
    };
    Ok((
        parse("page", 1)?.max(1),
        parse("limit", default)?.clamp(1, 250),
    ))
}

/// What `include` (a comma-separated list: `consignments`, `consignments.line_items`, `fees`)
/// and `consignment_structure` ask of an order response.
fn includes(q: &Params) -> Result<Consignments, ApiError> {
    let mut wanted = Consignments::Link;
    for item in q
        .get("include")
        .map(String::as_str)
        .unwrap_or("")
        .split(',')
    {
        match item.trim() {
            "" | "fees" => {}
            "consignments" if wanted == Consignments::Link => wanted = Consignments::Included,
            "consignments" => {}
            "consignments.line_items" => wanted = Consignments::WithLines,
            other => {
                return Err(v2_error(
                    StatusCode::BAD_REQUEST,
                    &format!("The include '{other}' is not supported."),
                ));
            }
        }
    }
    match q.get("consignment_structure").map(String::as_str) {
        None => Ok(if wanted == Consignments::Link {
            wanted
        } else {
            Consignments::Legacy(wanted == Consignments::WithLines)
        }),
        Some("object") => Ok(wanted),
        Some(_) => Err(v2_error(
            StatusCode::BAD_REQUEST,
            "The field 'consignment_structure' is invalid.",
        )),
    }
}

fn filtered<'a>(orders: &'a [Order], q: &Params) -> Result<Vec<&'a Order>, ApiError> {
    let date = |name: &str| -> Result<Option<chrono::DateTime<Utc>>, ApiError> {
        match q.get(name) {
            None => Ok(None),
            Some(v) => parse_date(v).map(Some).ok_or_else(|| {
                v2_error(
                    StatusCode::BAD_REQUEST,
                    &format!("The field '{name}' is invalid."),
                )
            }),
        }
    };
    let min_modified = date("min_date_modified")?;
    let max_modified = date("max_date_modified")?;
    let min_created = date("min_date_created")?;
    let max_created = date("max_date_created")?;
    let int = |name: &str| q.get(name).and_then(|v| v.parse::<i64>().ok());
    let (status, min_id, max_id) = (int("status_id"), int("min_id"), int("max_id"));
    Ok(orders
        .iter()
        .filter(|o| min_modified.is_none_or(|m| o.date_modified >= m))
        .filter(|o| max_modified.is_none_or(|m| o.date_modified <= m))
        .filter(|o| min_created.is_none_or(|m| o.date_created >= m))
        .filter(|o| max_created.is_none_or(|m| o.date_created <= m))
        .filter(|o| status.is_none_or(|s| o.status_id == s))
        .filter(|o| min_id.is_none_or(|m| o.id >= m))
        .filter(|o| max_id.is_none_or(|m| o.id <= m))
        .collect())
}

async fn list_orders(State(sim): State<Shared>, Query(q): Query<Params>) -> ApiResult {
    let (page, limit) = v2_page(&q, 50)?;
    let include = includes(&q)?;
    let base = sim.v2_base();
    let store = sim.store();
    let matching = filtered(&store.orders, &q)?;
    let data: Vec<Value> = matching
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .map(|o| store.order_json(o, &base, include))
        .collect();
    if data.is_empty() {
        return no_content();
    }
    ok(Value::Array(data))
}

async fn count_orders(State(sim): State<Shared>, Query(q): Query<Params>) -> ApiResult {
    let store = sim.store();
    let matching = filtered(&store.orders, &q)?;
    let statuses: Vec<Value> = (0..15)
        .map(|id| {
            let name = status_name(id);
            json!({
                "id": id,
                "name": name,
                "system_label": name,
                "custom_label": name,
                "system_description": name,
                "count": matching.iter().filter(|o| o.status_id == id).count(),
                "sort_order": id,
            })
        })
        .collect();
    ok(json!({ "statuses": statuses, "count": matching.len() }))
}

async fn statuses() -> ApiResult {
    let list: Vec<Value> = (0..15)
        .map(|id| {
            let name = status_name(id);
            json!({ "id": id, "name": name, "system_label": name, "custom_label": name,
                    "system_description": name, "order": id })
        })
        .collect();
    ok(Value::Array(list))
}

async fn get_order(
    State(sim): State<Shared>,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> ApiResult {
    let include = includes(&q)?;
    let base = sim.v2_base();
    let store = sim.store();
    match store.orders.iter().find(|o| o.id == id) {
        Some(o) => ok(store.order_json(o, &base, include)),
        None => Err(not_found()),
    }
}

async fn update_order(State(sim): State<Shared>, Path(id): Path<i64>, body: Bytes) -> ApiResult {
    let body = parse_body(&body, true)?;
    let base = sim.v2_base();
    let mut store = sim.store();
    let Some(index) = store.orders.iter().position(|o| o.id == id) else {
        return Err(not_found());
    };
    if let Some(status) = body.get("status_id") {
        match status.as_i64().filter(|s| (0..15).contains(s)) {
            Some(s) => {
                let o = &mut store.orders[index];
                let previous = o.status_id;
                o.status_id = s;
                o.date_modified = Utc::now();
                store.changed(
                    "store/order/statusUpdated",
                    json!({"type": "order", "id": id,
                           "status": {"previous_status_id": previous, "new_status_id": s}}),
                );
            }
            None => {
                return Err(v2_error(
                    StatusCode::BAD_REQUEST,
                    "The field 'status_id' is invalid.",
                ));
            }
        }
    }
    let o = &store.orders[index];
    ok(store.order_json(o, &base, Consignments::Link))
}

async fn order_products(
    State(sim): State<Shared>,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> ApiResult {
    let (page, limit) = v2_page(&q, 50)?;
    let store = sim.store();
    let Some(o) = store.orders.iter().find(|o| o.id == id) else {
        return Err(not_found());
    };
    let data: Vec<Value> = o
        .products
        .iter()
        .skip((page - 1) * limit)
        .take(limit)
        .map(|p| store.order_product_json(o, p))
        .collect();
    ok(Value::Array(data))
}

/// `GET /orders/{id}/consignments` (`include=consignments.line_items` puts the order products
/// in).
async fn consignments(
    State(sim): State<Shared>,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> ApiResult {
    let lines = match q.get("include").map(String::as_str) {
        None | Some("") => false,
        Some("consignments.line_items") => true,
        Some(other) => {
            return Err(v2_error(
                StatusCode::BAD_REQUEST,
                &format!("The include '{other}' is not supported."),
            ));
        }
    };
    let base = sim.v2_base();
    let store = sim.store();
    let Some(o) = store.orders.iter().find(|o| o.id == id) else {
        return Err(not_found());
    };
    ok(store.consignments_json(o, &base, lines))
}

async fn shipping_addresses(
    State(sim): State<Shared>,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> ApiResult {
    let (page, limit) = v2_page(&q, 50)?;
    let base = sim.v2_base();
    let store = sim.store();
    let Some(o) = store.orders.iter().find(|o| o.id == id) else {
        return Err(not_found());
    };
    let data: Vec<Value> = o
        .shipping_addresses
        .iter()
        .skip((page - 1) * limit)
        .take(limit)
        .map(|a| store.shipping_address_json(o, a, &base))
        .collect();
    ok(Value::Array(data))
}

async fn shipments(
    State(sim): State<Shared>,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> ApiResult {
    let (page, limit) = v2_page(&q, 50)?;
    let store = sim.store();
    let Some(o) = store.orders.iter().find(|o| o.id == id) else {
        return Err(not_found());
    };
    let data: Vec<Value> = o
        .shipments
        .iter()
        .skip((page - 1) * limit)
        .take(limit)
        .map(|s| store.shipment_json(o, s))
        .collect();
    if data.is_empty() {
        return no_content();
    }
    ok(Value::Array(data))
}

async fn create_shipment(State(sim): State<Shared>, Path(id): Path<i64>, body: Bytes) -> ApiResult {
    let body = parse_body(&body, true)?;
    let bad = |m: &str| v2_error(StatusCode::BAD_REQUEST, m);
    let mut store = sim.store();
    let shipment_id = store.alloc();
    let Some(index) = store.orders.iter().position(|o| o.id == id) else {
        return Err(not_found());
    };
    let order = &store.orders[index];
    let Some(address) = body.get("order_address_id").and_then(Value::as_i64) else {
        return Err(bad("The field 'order_address_id' is required."));
    };
    if !order.shipping_addresses.iter().any(|a| a.id == address) {
        return Err(bad("The field 'order_address_id' is invalid."));
    }
    let Some(items) = body
        .get("items")
        .and_then(Value::as_array)
        .filter(|i| !i.is_empty())
    else {
        return Err(bad("The field 'items' is required."));
    };
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let tracking_number = text("tracking_number");
    if tracking_number.chars().count() > 50 {
        return Err(bad(
            "The field 'tracking_number' must be at most 50 characters.",
        ));
    }
    let mut shipped = Vec::new();
    for item in items {
        let opid = item.get("order_product_id").and_then(Value::as_i64);
        let quantity = item.get("quantity").and_then(Value::as_i64).unwrap_or(0);
        let Some(p) = opid.and_then(|x| order.products.iter().find(|p| p.id == x)) else {
            return Err(bad("The field 'order_product_id' is invalid."));
        };
        let already: i64 = shipped
            .iter()
            .filter(|(x, _, _)| *x == p.id)
            .map(|(_, _, q)| *q)
            .sum();
        if quantity <= 0 || p.quantity_shipped + already + quantity > p.quantity {
            return Err(bad(&format!(
                "The quantity of order product {} exceeds the quantity left to ship.",
                p.id
            )));
        }
        shipped.push((p.id, p.product_id, quantity));
    }
    let now = Utc::now();
    let order = &mut store.orders[index];
    for (opid, _, q) in &shipped {
        if let Some(p) = order.products.iter_mut().find(|p| p.id == *opid) {
            p.quantity_shipped += q;
        }
    }
    let all = order
        .products
        .iter()
        .all(|p| p.quantity_shipped >= p.quantity);
    order.status_id = if all { 2 } else { 3 };
    order.date_shipped = Some(now);
    order.date_modified = now;
    let order_id = order.id;
    order.shipments.push(Shipment {
        id: shipment_id,
        order_address_id: address,
        date_created: now,
        tracking_number,
        shipping_provider: text("shipping_provider"),
        tracking_carrier: text("tracking_carrier"),
        comments: text("comments"),
        items: shipped,
    });
    store.changed(
        "store/order/updated",
        json!({"type": "order", "id": order_id}),
    );
    let order = &store.orders[index];
    let body = order
        .shipments
        .last()
        .map(|s| store.shipment_json(order, s))
        .unwrap_or(Value::Null);
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

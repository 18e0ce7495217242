//! The REST handlers under `/rest/<store_code>/V1` and `/rest/<store_code>/async/bulk/V1`.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use chrono::Utc;
use serde_json::{Value, json};

use super::store::{Bulk, BulkOp, Criteria, Hook, Shipment, Store, Track};
use super::{ApiError, ApiResult, Shared, mage_error, ok};

/// Adobe Commerce webhook method of product saves.
pub(crate) const PRODUCT_EVENT: &str = "observer.catalog_product_save_after";
/// Adobe Commerce webhook method of MSI source item saves.
pub(crate) const STOCK_EVENT: &str = "plugin.magento.inventory_api.api.source_items_save.execute";
/// Adobe Commerce webhook method of order saves.
pub(crate) const ORDER_EVENT: &str = "observer.sales_order_save_after";

type Params = Query<Vec<(String, String)>>;
type PathMap = Path<HashMap<String, String>>;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/store/storeViews", get(store_views))
        .route("/store/storeConfigs", get(store_configs))
        .route("/products/attributes", get(attributes))
        .route("/products", get(products))
        .route("/products/{sku}", get(product).put(put_product))
        .route(
            "/products/attributes/{code}/options",
            get(attribute_options),
        )
        .route("/configurable-products/{sku}/children", get(children))
        .route("/categories/list", get(categories))
        .route("/inventory/sources", get(sources))
        .route(
            "/inventory/source-items",
            get(source_items).post(save_source_items),
        )
        .route("/orders", get(orders))
        .route("/orders/{id}", get(order))
        .route("/orders/{id}/cancel", post(cancel))
        .route("/orders/{id}/comments", post(comment))
        .route("/order/{id}/ship", post(ship))
        .route("/shipments", get(shipments))
        .route("/bulk/{uuid}/status", get(bulk_status))
        .route("/webhooks/subscribe", post(subscribe))
        .route("/webhooks/unsubscribe", post(unsubscribe))
        .route("/webhooks/list", get(list_hooks))
}

pub(super) fn bulk_routes() -> Router<Shared> {
    Router::new().route("/inventory/source-items", post(bulk_source_items))
}

/// The answer of a `void` service method: Magento answers 200 with an empty array (the 2.4.9
/// schema documents no success response for these operations at all).
fn void() -> ApiResult {
    ok(json!([]))
}

fn bad_request(message: &str, parameters: Value) -> ApiError {
    mage_error(StatusCode::BAD_REQUEST, message, parameters)
}

fn required(field: &str) -> ApiError {
    bad_request(
        "\"%fieldName\" is required. Enter and try again.",
        json!({ "fieldName": field }),
    )
}

fn no_product() -> ApiError {
    mage_error(
        StatusCode::NOT_FOUND,
        "The product that was requested doesn't exist. Verify the product and try again.",
        json!([]),
    )
}

fn no_entity(field: &str, value: &str) -> ApiError {
    mage_error(
        StatusCode::NOT_FOUND,
        "No such entity with %fieldName = %fieldValue",
        json!({ "fieldName": field, "fieldValue": value }),
    )
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|_| {
        bad_request(
            "Decoding error: \n%1",
            json!(["the request body is not valid JSON"]),
        )
    })
}

fn criteria(params: &[(String, String)], required_here: bool) -> Result<Criteria, ApiError> {
    let c = Criteria::parse(params).map_err(|name| {
        bad_request(
            "\"%fieldName\" is not expected.",
            json!({ "fieldName": name }),
        )
    })?;
    if required_here && !c.present {
        return Err(required("searchCriteria"));
    }
    Ok(c)
}

/// Filters, sorts and pages `items` by `c`: Magento's search result.
fn search(sim: &Shared, mut items: Vec<Value>, c: &Criteria) -> ApiResult {
    let max = sim.config().max_page_size;
    if let Some(size) = c.page_size
        && size > max
    {
        return Err(bad_request(
            "Maximum SearchCriteria pageSize is %1",
            json!([max.to_string()]),
        ));
    }
    items.retain(|i| c.matches(i));
    if let Some((field, desc)) = &c.sort {
        items.sort_by(|a, b| {
            let (x, y) = (&a[field.as_str()], &b[field.as_str()]);
            let o = match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                _ => x.to_string().cmp(&y.to_string()),
            };
            if *desc { o.reverse() } else { o }
        });
    }
    let total = items.len();
    let page_items = match c.page_size.filter(|s| *s > 0) {
        Some(size) => {
            // Magento answers a page past the end with the last page.
            let last = total.div_ceil(size).max(1);
            let page = c.current_page.unwrap_or(1).clamp(1, last);
            items
                .into_iter()
                .skip((page - 1) * size)
                .take(size)
                .collect()
        }
        None => items,
    };
    let groups: Vec<Value> = c
        .groups
        .iter()
        .map(|g| {
            json!({"filters": g.iter().map(|f| json!({
                "field": f.field, "value": f.value,
                "condition_type": if f.condition.is_empty() { "eq" } else { f.condition.as_str() },
            })).collect::<Vec<_>>()})
        })
        .collect();
    let mut sc = json!({ "filter_groups": groups });
    if let Some(s) = c.page_size {
        sc["page_size"] = json!(s);
    }
    if let Some(p) = c.current_page {
        sc["current_page"] = json!(p);
    }
    ok(json!({ "items": page_items, "search_criteria": sc, "total_count": total }))
}

async fn store_views(State(sim): State<Shared>) -> ApiResult {
    ok(json!([
        {"id": 0, "code": "admin", "name": "Admin", "website_id": 0, "store_group_id": 0, "is_active": 1},
        {"id": 1, "code": "default", "name": sim.config().store_name, "website_id": 1,
         "store_group_id": 1, "is_active": 1},
    ]))
}

async fn store_configs(State(sim): State<Shared>) -> ApiResult {
    let currency = sim.store().currency.clone();
    ok(json!([{
        "id": 1, "code": "default", "website_id": 1, "locale": "en_US",
        "base_currency_code": currency, "default_display_currency_code": currency,
        "timezone": "UTC", "weight_unit": "kgs",
        "base_url": "https://demo-outdoor.example.com/", "base_link_url": "https://demo-outdoor.example.com/",
        "base_static_url": "https://demo-outdoor.example.com/static/",
        "base_media_url": "https://demo-outdoor.example.com/media/",
        "secure_base_url": "https://demo-outdoor.example.com/",
        "secure_base_link_url": "https://demo-outdoor.example.com/",
        "secure_base_static_url": "https://demo-outdoor.example.com/static/",
        "secure_base_media_url": "https://demo-outdoor.example.com/media/",
    }]))
}

async fn attributes(State(sim): State<Shared>, Query(q): Params) -> ApiResult {
    let c = criteria(&q, true)?;
    let items: Vec<Value> = sim
        .store()
        .attributes
        .iter()
        .map(|(code, a)| {
            json!({
                "attribute_id": a.id,
                "attribute_code": code,
                "frontend_input": "select",
                "entity_type_id": "4",
                "frontend_labels": [],
                "default_frontend_label": a.label,
                "is_required": false,
                "scope": "global",
                "options": std::iter::once(json!({"label": " ", "value": ""}))
                    .chain(a.options.iter().map(|(id, l)| json!({"label": l, "value": id.to_string()})))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    search(&sim, items, &c)
}

async fn products(State(sim): State<Shared>, Query(q): Params) -> ApiResult {
    let c = criteria(&q, true)?;
    let items: Vec<Value> = {
        let store = sim.store();
        store
            .products
            .iter()
            .map(|p| store.product_json(p))
            .collect()
    };
    search(&sim, items, &c)
}

async fn product(State(sim): State<Shared>, Path(p): PathMap) -> ApiResult {
    let sku = p.get("sku").cloned().unwrap_or_default();
    let store = sim.store();
    let i = store.by_sku(&sku).ok_or_else(no_product)?;
    ok(store.product_json(&store.products[i]))
}

async fn children(State(sim): State<Shared>, Path(p): PathMap) -> ApiResult {
    let sku = p.get("sku").cloned().unwrap_or_default();
    let store = sim.store();
    let i = store.by_sku(&sku).ok_or_else(no_product)?;
    let kids: Vec<Value> = store.products[i]
        .children
        .iter()
        .filter_map(|c| store.by_id(*c))
        .map(|c| store.product_json(c))
        .collect();
    ok(json!(kids))
}

async fn attribute_options(State(sim): State<Shared>, Path(p): PathMap) -> ApiResult {
    let code = p.get("code").cloned().unwrap_or_default();
    let store = sim.store();
    let a = store
        .attributes
        .get(&code)
        .ok_or_else(|| no_entity("attributeCode", &code))?;
    let mut out = vec![json!({"label": " ", "value": ""})];
    out.extend(
        a.options
            .iter()
            .map(|(id, label)| json!({"label": label, "value": id.to_string()})),
    );
    ok(json!(out))
}

async fn categories(State(sim): State<Shared>, Query(q): Params) -> ApiResult {
    let c = criteria(&q, true)?;
    let items: Vec<Value> = {
        let store = sim.store();
        store
            .categories
            .iter()
            .map(|c| store.category_json(c))
            .collect()
    };
    search(&sim, items, &c)
}

async fn sources(State(sim): State<Shared>, Query(q): Params) -> ApiResult {
    let c = criteria(&q, false)?;
    let items: Vec<Value> = sim
        .store()
        .sources
        .iter()
        .map(|s| {
            json!({"source_code": s.code, "name": s.name, "enabled": true,
                   "country_id": "US", "postcode": "00000", "use_default_carrier_config": true})
        })
        .collect();
    search(&sim, items, &c)
}

async fn source_items(State(sim): State<Shared>, Query(q): Params) -> ApiResult {
    let c = criteria(&q, true)?;
    let items = sim.store().source_items();
    search(&sim, items, &c)
}

/// Validates and applies source items; `Err` holds the error messages.
fn apply_source_items(store: &mut Store, items: &[Value], max: usize) -> Result<(), Vec<String>> {
    if items.len() > max {
        return Err(vec![format!(
            "The number of source items ({}) exceeds the maximum of {max} per request.",
            items.len()
        )]);
    }
    let mut errors = Vec::new();
    let mut parsed = Vec::new();
    for item in items {
        let sku = item["sku"].as_str().unwrap_or_default().to_string();
        let source = item["source_code"].as_str().unwrap_or_default().to_string();
        let qty = item["quantity"].as_f64();
        if store.by_sku(&sku).is_none() {
            errors.push(format!("Product with SKU \"{sku}\" does not exist."));
        } else if !store.sources.iter().any(|s| s.code == source) {
            errors.push(format!("Source with code \"{source}\" does not exist."));
        } else if qty.is_none_or(|q| q < 0.0 || !q.is_finite()) {
            errors.push(format!(
                "\"quantity\" of \"{sku}\" should be a positive number."
            ));
        } else {
            let status = item["status"].as_i64().unwrap_or(1);
            parsed.push((sku, source, qty.unwrap_or(0.0), status));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    for (sku, source, qty, status) in parsed {
        store.stock.insert((sku, source), (qty, status));
    }
    Ok(())
}

async fn save_source_items(State(sim): State<Shared>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let Some(items) = body["sourceItems"].as_array().cloned() else {
        return Err(required("sourceItems"));
    };
    let max = sim.config().max_source_items;
    let result = apply_source_items(&mut sim.store(), &items, max);
    if let Err(errors) = result {
        return Err(ApiError {
            status: StatusCode::BAD_REQUEST,
            body: json!({
                "message": "Validation Failed",
                "errors": errors.iter().map(|e| json!({"message": e, "parameters": []})).collect::<Vec<_>>(),
            }),
        });
    }
    sim.record_source_batch(items.len());
    sim.notify(STOCK_EVENT, json!({ "sourceItems": items }));
    void()
}

async fn bulk_source_items(State(sim): State<Shared>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let Some(requests) = body.as_array().cloned() else {
        return Err(bad_request(
            "Decoding error: \n%1",
            json!(["an array of request bodies is expected"]),
        ));
    };
    let mut store = sim.store();
    let uuid = format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        store.bulks.len() as u64 * 7919 + 0x1000_0000,
        store.bulks.len() & 0xffff,
        store.bulks.len() & 0xfff,
        requests.len() & 0xfff,
        Utc::now().timestamp_micros() as u64 & 0xffff_ffff_ffff
    );
    let ops: Vec<BulkOp> = requests
        .iter()
        .enumerate()
        .map(|(i, r)| BulkOp {
            id: i as i64,
            status: 4,
            message: None,
            error_code: None,
            payload: r.clone(),
        })
        .collect();
    let request_items: Vec<Value> = ops
        .iter()
        .map(|o| json!({"id": o.id, "data_hash": format!("{:x}", o.payload.to_string().len() * 31 + o.id as usize), "status": "accepted"}))
        .collect();
    store.bulks.push(Bulk {
        uuid: uuid.clone(),
        topic: "async.magento.inventoryapi.api.sourceitemssaveinterface.execute.post".into(),
        ops,
        polls: 0,
        started: Utc::now(),
    });
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({ "bulk_uuid": uuid, "request_items": request_items, "errors": false })),
    )
        .into_response())
}

async fn bulk_status(State(sim): State<Shared>, Path(p): PathMap) -> ApiResult {
    let uuid = p.get("uuid").cloned().unwrap_or_default();
    let max = sim.config().max_source_items;
    let open_polls = sim.config().bulk_open_polls;
    let mut applied = Vec::new();
    let body = {
        let mut guard = sim.store();
        let store = &mut *guard;
        let Some(bi) = store.bulks.iter().position(|b| b.uuid == uuid) else {
            return Err(no_entity("bulkUuid", &uuid));
        };
        store.bulks[bi].polls += 1;
        if store.bulks[bi].polls > open_polls {
            let mut ops = std::mem::take(&mut store.bulks[bi].ops);
            for op in ops.iter_mut().filter(|o| o.status == 4) {
                let items = op.payload["sourceItems"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                match apply_source_items(store, &items, max) {
                    Ok(()) => {
                        op.status = 1;
                        op.message = Some("Service execution success Magento\\InventoryApi\\Api\\SourceItemsSaveInterface\\Interceptor::execute".into());
                        applied.push(items);
                    }
                    Err(errors) => {
                        op.status = 3;
                        op.error_code = Some(0);
                        op.message = Some(errors.join("; "));
                    }
                }
            }
            store.bulks[bi].ops = ops;
        }
        let b = &store.bulks[bi];
        json!({
            "operations_list": b.ops.iter().map(|o| json!({
                "id": o.id, "status": o.status,
                "result_message": o.message.clone().unwrap_or_default(),
                "error_code": o.error_code.unwrap_or(0),
            })).collect::<Vec<_>>(),
            "user_type": 2,
            "bulk_id": b.uuid,
            "description": format!("Topic {}", b.topic),
            "start_time": super::store::mage_date(b.started),
            "user_id": 1,
            "operation_count": b.ops.len(),
        })
    };
    for items in applied {
        sim.record_source_batch(items.len());
        sim.notify(STOCK_EVENT, json!({ "sourceItems": items }));
    }
    ok(body)
}

async fn put_product(State(sim): State<Shared>, Path(p): PathMap, body: Bytes) -> ApiResult {
    let sku = p.get("sku").cloned().unwrap_or_default();
    let body = parse_body(&body)?;
    let Some(prod) = body.get("product").filter(|p| p.is_object()) else {
        return Err(required("product"));
    };
    let (json, event) = {
        let mut store = sim.store();
        let i = store.by_sku(&sku).ok_or_else(no_product)?;
        let mut category_ids = None;
        if let Some(links) = prod["extension_attributes"]["category_links"].as_array() {
            let mut ids = Vec::new();
            for l in links {
                let id = match &l["category_id"] {
                    Value::String(s) => s.parse::<i64>().ok(),
                    v => v.as_i64(),
                };
                match id.filter(|id| store.categories.iter().any(|c| c.id == *id)) {
                    Some(id) => ids.push(id),
                    None => {
                        return Err(bad_request(
                            "Could not save product \"%1\" with position %2 to category %3",
                            json!([sku, l["position"], l["category_id"]]),
                        ));
                    }
                }
            }
            category_ids = Some(ids);
        }
        let p = &mut store.products[i];
        if let Some(v) = prod["name"].as_str() {
            p.name = v.to_string();
        }
        match &prod["price"] {
            Value::Number(n) => p.price = n.to_string(),
            Value::String(s) if s.parse::<f64>().is_ok() => p.price = s.clone(),
            Value::Null => {}
            _ => {
                return Err(bad_request(
                    "The \"%1\" value's type is invalid.",
                    json!(["price"]),
                ));
            }
        }
        match &prod["weight"] {
            Value::Number(n) => p.weight = n.as_f64().unwrap_or(0.0),
            Value::String(s) => {
                p.weight = s.parse().map_err(|_| {
                    bad_request("The \"%1\" value's type is invalid.", json!(["weight"]))
                })?
            }
            _ => {}
        }
        if let Some(s) = prod["status"].as_i64() {
            p.status = s;
        }
        if let Some(attrs) = prod["custom_attributes"].as_array() {
            for a in attrs {
                let value = a["value"].as_str().unwrap_or_default().to_string();
                match a["attribute_code"].as_str() {
                    Some("description") => p.description = value,
                    Some("brand") => p.brand = value,
                    Some("ean") => p.gtin = value,
                    _ => {}
                }
            }
        }
        if let Some(ids) = category_ids {
            p.category_ids = ids;
        }
        p.updated_at = Utc::now();
        let event = json!({"product": {"id": p.id, "sku": p.sku}});
        let p = store.products[i].clone();
        (store.product_json(&p), event)
    };
    sim.notify(PRODUCT_EVENT, event);
    ok(json)
}

async fn orders(State(sim): State<Shared>, Query(q): Params) -> ApiResult {
    let c = criteria(&q, true)?;
    let items: Vec<Value> = {
        let store = sim.store();
        store.orders.iter().map(|o| store.order_json(o)).collect()
    };
    search(&sim, items, &c)
}

fn order_id(p: &HashMap<String, String>) -> Result<i64, ApiError> {
    let id = p.get("id").cloned().unwrap_or_default();
    id.parse()
        .map_err(|_| bad_request("The \"%1\" value's type is invalid.", json!([id])))
}

fn no_order() -> ApiError {
    mage_error(
        StatusCode::NOT_FOUND,
        "The entity that was requested doesn't exist. Verify the entity and try again.",
        json!([]),
    )
}

async fn order(State(sim): State<Shared>, Path(p): PathMap) -> ApiResult {
    let id = order_id(&p)?;
    let store = sim.store();
    let o = store
        .orders
        .iter()
        .find(|o| o.id == id)
        .ok_or_else(no_order)?;
    ok(store.order_json(o))
}

fn order_event(store: &Store, id: i64) -> Value {
    let status = store
        .orders
        .iter()
        .find(|o| o.id == id)
        .map(|o| o.status.clone())
        .unwrap_or_default();
    json!({"order": {"entity_id": id, "increment_id": format!("{id:09}"), "status": status}})
}

async fn cancel(State(sim): State<Shared>, Path(p): PathMap) -> ApiResult {
    let id = order_id(&p)?;
    let (done, event) = {
        let mut store = sim.store();
        let o = store
            .orders
            .iter_mut()
            .find(|o| o.id == id)
            .ok_or_else(no_order)?;
        let done = !matches!(o.state.as_str(), "complete" | "closed" | "canceled");
        if done {
            o.state = "canceled".into();
            o.status = "canceled".into();
            o.updated_at = Utc::now();
        }
        (done, order_event(&store, id))
    };
    if done {
        sim.notify(ORDER_EVENT, event);
    }
    ok(json!(done))
}

async fn comment(State(sim): State<Shared>, Path(p): PathMap, body: Bytes) -> ApiResult {
    let id = order_id(&p)?;
    let body = parse_body(&body)?;
    let Some(h) = body.get("statusHistory").filter(|h| h.is_object()) else {
        return Err(required("statusHistory"));
    };
    let event = {
        let mut store = sim.store();
        let o = store
            .orders
            .iter_mut()
            .find(|o| o.id == id)
            .ok_or_else(no_order)?;
        let status = h["status"].as_str().unwrap_or(&o.status).to_string();
        o.comments.push((
            h["comment"].as_str().unwrap_or_default().into(),
            status.clone(),
        ));
        o.status = status;
        o.updated_at = Utc::now();
        order_event(&store, id)
    };
    sim.notify(ORDER_EVENT, event);
    ok(json!(true))
}

async fn ship(State(sim): State<Shared>, Path(p): PathMap, body: Bytes) -> ApiResult {
    let id = order_id(&p)?;
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        parse_body(&body)?
    };
    let (shipment_id, event) = {
        let mut guard = sim.store();
        let store = &mut *guard;
        let sid = store.shipments.iter().map(|s| s.id).max().unwrap_or(0) + 1;
        let o = store
            .orders
            .iter_mut()
            .find(|o| o.id == id)
            .ok_or_else(no_order)?;
        if matches!(o.state.as_str(), "canceled" | "closed" | "holded") {
            return Err(bad_request(
                "Shipment Document Validation Error(s):\nThe order does not allow a shipment to be created.",
                json!([]),
            ));
        }
        let mut lines: Vec<(i64, i64)> = Vec::new();
        match body["items"].as_array().filter(|a| !a.is_empty()) {
            Some(items) => {
                for it in items {
                    let item_id = it["order_item_id"].as_i64().unwrap_or(0);
                    let qty = it["qty"].as_f64().unwrap_or(0.0) as i64;
                    let Some(line) = o.items.iter().find(|i| i.id == item_id) else {
                        return Err(bad_request(
                            "Shipment Document Validation Error(s):\nThe shipment contains an item that is not part of the order.",
                            json!([]),
                        ));
                    };
                    if qty <= 0 || qty > line.qty - line.qty_shipped {
                        return Err(bad_request(
                            "Shipment Document Validation Error(s):\nYou can't create a shipment without products.",
                            json!([]),
                        ));
                    }
                    lines.push((item_id, qty));
                }
            }
            None => {
                lines = o
                    .items
                    .iter()
                    .filter(|i| i.qty > i.qty_shipped)
                    .map(|i| (i.id, i.qty - i.qty_shipped))
                    .collect()
            }
        }
        if lines.is_empty() {
            return Err(bad_request(
                "Shipment Document Validation Error(s):\nYou can't create a shipment without products.",
                json!([]),
            ));
        }
        for (item, qty) in &lines {
            if let Some(i) = o.items.iter_mut().find(|i| i.id == *item) {
                i.qty_shipped += qty;
            }
        }
        if o.items.iter().all(|i| i.qty_shipped >= i.qty) {
            o.state = "complete".into();
            o.status = "complete".into();
        }
        o.updated_at = Utc::now();
        let tracks = body["tracks"]
            .as_array()
            .map(|t| {
                t.iter()
                    .map(|t| Track {
                        number: t["track_number"].as_str().unwrap_or_default().into(),
                        title: t["title"].as_str().unwrap_or_default().into(),
                        carrier: t["carrier_code"].as_str().unwrap_or_default().into(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        store.shipments.push(Shipment {
            id: sid,
            order_id: id,
            items: lines,
            tracks,
            created_at: Utc::now(),
        });
        (sid, order_event(store, id))
    };
    sim.notify(ORDER_EVENT, event);
    ok(json!(shipment_id))
}

async fn shipments(State(sim): State<Shared>, Query(q): Params) -> ApiResult {
    let c = criteria(&q, true)?;
    let items: Vec<Value> = {
        let store = sim.store();
        store
            .shipments
            .iter()
            .map(|s| store.shipment_json(s))
            .collect()
    };
    search(&sim, items, &c)
}

fn hook_of(body: &Value) -> Result<Hook, ApiError> {
    let w = body
        .get("webhook")
        .filter(|w| w.is_object())
        .ok_or_else(|| required("webhook"))?;
    let text = |k: &str| w[k].as_str().unwrap_or_default().to_string();
    let hook = Hook {
        extra: w.clone(),
        webhook_method: text("webhook_method"),
        webhook_type: text("webhook_type"),
        batch_name: text("batch_name"),
        hook_name: text("hook_name"),
        url: text("url"),
    };
    for (k, v) in [
        ("webhook_method", &hook.webhook_method),
        ("webhook_type", &hook.webhook_type),
        ("batch_name", &hook.batch_name),
        ("hook_name", &hook.hook_name),
    ] {
        if v.is_empty() {
            return Err(required(k));
        }
    }
    Ok(hook)
}

async fn subscribe(State(sim): State<Shared>, body: Bytes) -> ApiResult {
    let hook = hook_of(&parse_body(&body)?)?;
    if hook.url.is_empty() {
        return Err(required("url"));
    }
    let mut store = sim.store();
    store.hooks.retain(|h| {
        !(h.webhook_method == hook.webhook_method
            && h.webhook_type == hook.webhook_type
            && h.batch_name == hook.batch_name
            && h.hook_name == hook.hook_name)
    });
    store.hooks.push(hook);
    void()
}

async fn unsubscribe(State(sim): State<Shared>, body: Bytes) -> ApiResult {
    let hook = hook_of(&parse_body(&body)?)?;
    sim.store().hooks.retain(|h| {
        !(h.webhook_method == hook.webhook_method
            && h.webhook_type == hook.webhook_type
            && h.batch_name == hook.batch_name
            && h.hook_name == hook.hook_name)
    });
    ok(json!(true))
}

async fn list_hooks(State(sim): State<Shared>) -> ApiResult {
    ok(json!(
        sim.store().hooks.iter().map(Hook::json).collect::<Vec<_>>()
    ))
}

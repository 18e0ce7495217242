//! V3 inventory: locations, items (per location and across locations), absolute and relative
//! adjustments (at most 2000 items per request, as documented).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use super::store::{Location, Product, Store, Variant};
use super::{
    ApiError, ApiResult, Params, Shared, int_list, list, ok, page_limit, paginate, parse_body,
    v3_error, v3_error_with,
};

/// Documented maximum of items in one adjustment request.
pub(crate) const MAX_ADJUSTMENT_ITEMS: usize = 2000;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/inventory/locations", get(locations))
        .route("/inventory/items", get(items))
        .route("/inventory/locations/{id}/items", get(location_items))
        .route("/inventory/adjustments/absolute", put(absolute))
        .route("/inventory/adjustments/relative", post(relative))
}

async fn locations(State(sim): State<Shared>, Query(q): Query<Params>) -> ApiResult {
    let (page, limit) = page_limit(&q, 50, 1000)?;
    let ids = int_list(&q, "location_id:in");
    let codes = list(&q, "location_code:in");
    let store = sim.store();
    let matching = store
        .locations
        .iter()
        .filter(|l| ids.is_empty() || ids.contains(&l.id))
        .filter(|l| codes.is_empty() || codes.contains(&l.code))
        .collect();
    let (page_items, meta) = paginate(matching, page, limit);
    let data: Vec<Value> = page_items
        .into_iter()
        .map(|l| store.location_json(l))
        .collect();
    ok(json!({ "data": data, "meta": meta }))
}

fn matching_variants<'a>(store: &'a Store, q: &Params) -> Vec<(&'a Product, &'a Variant)> {
    let skus = list(q, "sku:in");
    let variants = int_list(q, "variant_id:in");
    let products = int_list(q, "product_id:in");
    store
        .products
        .iter()
        .filter(|p| products.is_empty() || products.contains(&p.id))
        .flat_map(|p| p.variants.iter().map(move |v| (p, v)))
        .filter(|(_, v)| skus.is_empty() || skus.contains(&v.sku))
        .filter(|(_, v)| variants.is_empty() || variants.contains(&v.id))
        .collect()
}

async fn items(State(sim): State<Shared>, Query(q): Query<Params>) -> ApiResult {
    let (page, limit) = page_limit(&q, 50, 1000)?;
    let location_ids = int_list(&q, "location_id:in");
    let codes = list(&q, "location_code:in");
    let store = sim.store();
    let locations: Vec<&Location> = store
        .locations
        .iter()
        .filter(|l| location_ids.is_empty() || location_ids.contains(&l.id))
        .filter(|l| codes.is_empty() || codes.contains(&l.code))
        .collect();
    let (page_items, meta) = paginate(matching_variants(&store, &q), page, limit);
    let data: Vec<Value> = page_items
        .into_iter()
        .map(|(p, v)| store.item_json(p, v, &locations))
        .collect();
    ok(json!({ "data": data, "meta": meta }))
}

async fn location_items(
    State(sim): State<Shared>,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> ApiResult {
    let (page, limit) = page_limit(&q, 50, 1000)?;
    let store = sim.store();
    if !store.locations.iter().any(|l| l.id == id) {
        return Err(v3_error(
            StatusCode::NOT_FOUND,
            "The requested location was not found.",
        ));
    }
    let (page_items, meta) = paginate(matching_variants(&store, &q), page, limit);
    let data: Vec<Value> = page_items
        .into_iter()
        .map(|(p, v)| store.location_item_json(p, v, id))
        .collect();
    ok(json!({ "data": data, "meta": meta }))
}

/// Resolves every item of an adjustment to (variant id, location id, quantity), or the 422.
fn resolve(store: &Store, body: &Value) -> Result<Vec<(i64, i64, i64)>, ApiError> {
    let Some(items) = body.get("items").and_then(Value::as_array) else {
        return Err(v3_error_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Payload contains invalid fields",
            json!({ "items": "items is required" }),
        ));
    };
    if items.len() > MAX_ADJUSTMENT_ITEMS {
        return Err(v3_error_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Payload contains invalid fields",
            json!({ "items": format!("at most {MAX_ADJUSTMENT_ITEMS} items per request") }),
        ));
    }
    let mut errors = serde_json::Map::new();
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let location = item.get("location_id").and_then(Value::as_i64);
        let quantity = item.get("quantity").and_then(Value::as_i64);
        let variant = if let Some(sku) = item.get("sku").and_then(Value::as_str) {
            store
                .find_sku(sku)
                .map(|(pi, vi)| store.products[pi].variants[vi].id)
                .ok_or(format!("sku {sku} was not found"))
        } else if let Some(vid) = item.get("variant_id").and_then(Value::as_i64) {
            store
                .products
                .iter()
                .flat_map(|p| p.variants.iter())
                .find(|v| v.id == vid)
                .map(|v| v.id)
                .ok_or(format!("variant_id {vid} was not found"))
        } else if let Some(pid) = item.get("product_id").and_then(Value::as_i64) {
            match store.products.iter().find(|p| p.id == pid) {
                Some(p) if p.has_options => Err(format!(
                    "product_id {pid} is tracked by variant, please update stock by variant id"
                )),
                Some(p) => p
                    .variants
                    .first()
                    .map(|v| v.id)
                    .ok_or(format!("product_id {pid} has no inventory item")),
                None => Err(format!("product_id {pid} was not found")),
            }
        } else {
            Err("one of sku, variant_id or product_id is required".to_string())
        };
        match (variant, location, quantity) {
            (Err(e), _, _) => {
                errors.insert(format!("items.{i}"), json!(e));
            }
            (_, None, _) => {
                errors.insert(
                    format!("items.{i}.location_id"),
                    json!("location_id is required"),
                );
            }
            (_, Some(l), _) if !store.locations.iter().any(|x| x.id == l) => {
                errors.insert(
                    format!("items.{i}.location_id"),
                    json!(format!("location {l} was not found")),
                );
            }
            (_, _, None) => {
                errors.insert(
                    format!("items.{i}.quantity"),
                    json!("quantity must be an integer"),
                );
            }
            (Ok(v), Some(l), Some(q)) => out.push((v, l, q)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        let title = errors
            .values()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("; ");
        Err(v3_error_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("[{title}]"),
            Value::Object(errors),
        ))
    }
}

fn transaction(store: &mut Store) -> Value {
    let n = store.alloc();
    json!({ "transaction_id": format!("3fa85f64-5717-4562-b3fc-{n:012x}") })
}

async fn absolute(State(sim): State<Shared>, body: Bytes) -> ApiResult {
    let body = parse_body(&body, false)?;
    let mut store = sim.store();
    let items = resolve(&store, &body)?;
    if let Some((i, _)) = items.iter().enumerate().find(|(_, (_, _, q))| *q < 0) {
        return Err(v3_error_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Payload contains invalid fields",
            json!({ format!("items.{i}.quantity"): "quantity must not be negative" }),
        ));
    }
    for (variant, location, quantity) in items {
        store.stock.insert((variant, location), quantity);
        store.stock_version += 1;
        stock_changed(&mut store, variant, "absolute", quantity);
    }
    ok(transaction(&mut store))
}

async fn relative(State(sim): State<Shared>, body: Bytes) -> ApiResult {
    let body = parse_body(&body, false)?;
    let mut store = sim.store();
    let items = resolve(&store, &body)?;
    for (variant, location, delta) in items {
        store.stock_version += 1;
        let q = store.stock.entry((variant, location)).or_insert(0);
        *q = (*q + delta).max(0);
        stock_changed(&mut store, variant, "relative", delta);
    }
    ok(transaction(&mut store))
}

/// `store/sku/inventory/updated` for subscribers.
fn stock_changed(store: &mut Store, variant: i64, method: &str, value: i64) {
    let product = store.product_of_variant(variant).unwrap_or(0);
    store.changed(
        "store/sku/inventory/updated",
        json!({"type": "sku", "id": variant,
               "inventory": {"product_id": product, "method": method, "value": value,
                             "variant_id": variant}}),
    );
}

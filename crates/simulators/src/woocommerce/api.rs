//! The REST API v3 routes: products, variations, batches, categories, orders, order notes,
//! webhooks, settings and system status.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde_json::{Value, json};

use super::store::{Attribute, ORDER_STATUSES, Product, Store, TOPICS, Variation, Webhook, now};
use super::{
    ApiError, ApiResult, Params, Shared, created, invalid_param, list, ok, page_params, paged,
    parse_body, webhooks, wp_error,
};

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/system_status", get(system_status))
        .route("/settings/{group}", get(settings))
        .route("/products", get(list_products).post(create_product))
        .route("/products/batch", post(batch_products))
        .route("/products/categories", get(list_categories))
        .route("/products/categories/{id}", get(get_category))
        .route("/products/{id}", get(get_product).put(update_product))
        .route("/products/{id}/variations", get(list_variations))
        .route("/products/{id}/variations/batch", post(batch_variations))
        .route(
            "/products/{id}/variations/{vid}",
            get(get_variation).put(update_variation),
        )
        .route("/orders", get(list_orders))
        .route("/orders/{id}", get(get_order).put(update_order))
        .route("/orders/{id}/notes", get(list_notes).post(create_note))
        .route("/webhooks", get(list_webhooks).post(create_webhook))
        .route(
            "/webhooks/{id}",
            get(get_webhook).put(update_webhook).delete(delete_webhook),
        )
}

fn invalid_id(code: &str) -> ApiError {
    wp_error(StatusCode::NOT_FOUND, code, "Invalid ID.")
}

fn product_not_found() -> ApiError {
    invalid_id("woocommerce_rest_product_invalid_id")
}

async fn system_status(State(sim): State<Shared>) -> ApiResult {
    let store = sim.store();
    ok(json!({
        "environment": {
            "home_url": sim.site,
            "site_url": sim.site,
            "version": super::WC_VERSION,
            "wp_version": "6.4.3",
            "wp_multisite": false,
            "language": "en_US",
            "server_info": "simulator",
            "default_timezone": "UTC",
        },
        "database": {"wc_database_version": super::WC_VERSION},
        "active_plugins": [],
        "theme": {"name": "Storefront"},
        "settings": {
            "api_enabled": true,
            "force_ssl": false,
            "currency": store.currency,
            "currency_symbol": "&#36;",
            "currency_position": "left",
            "thousand_separator": ",",
            "decimal_separator": ".",
            "number_of_decimals": 2,
            "geolocation_enabled": false,
            "taxonomies": {"external": "external", "grouped": "grouped", "simple": "simple", "variable": "variable"},
        },
        "security": {"secure_connection": false, "hide_errors": true},
        "pages": [],
        "post_type_counts": [
            {"type": "product", "count": store.products.len()},
            {"type": "shop_order", "count": store.orders.len()},
        ],
        "site_title": sim.config.site_name,
    }))
}

fn setting(id: &str, label: &str, value: &str, group: &str, base: &str) -> Value {
    json!({
        "id": id,
        "label": label,
        "description": "",
        "type": "select",
        "default": value,
        "value": value,
        "group_id": group,
        "_links": {
            "self": [{"href": format!("{base}/settings/{group}/{id}")}],
            "collection": [{"href": format!("{base}/settings/{group}")}],
        }
    })
}

async fn settings(State(sim): State<Shared>, Path(group): Path<String>) -> ApiResult {
    let base = sim.base();
    let currency = sim.store().currency.clone();
    match group.as_str() {
        "general" => ok(json!([
            setting(
                "woocommerce_default_country",
                "Selling location(s)",
                "US:TX",
                "general",
                &base
            ),
            setting(
                "woocommerce_currency",
                "Currency",
                &currency,
                "general",
                &base
            ),
            setting(
                "woocommerce_price_num_decimals",
                "Number of decimals",
                "2",
                "general",
                &base
            ),
        ])),
        "products" => ok(json!([
            setting(
                "woocommerce_weight_unit",
                "Weight unit",
                "kg",
                "products",
                &base
            ),
            setting(
                "woocommerce_dimension_unit",
                "Dimensions unit",
                "cm",
                "products",
                &base
            ),
            setting(
                "woocommerce_manage_stock",
                "Manage stock",
                "yes",
                "products",
                &base
            ),
        ])),
        _ => Err(wp_error(
            StatusCode::NOT_FOUND,
            "rest_setting_setting_group_invalid",
            "Invalid setting group.",
        )),
    }
}

/// A date filter: `YYYY-MM-DDTHH:MM:SS` in the site's timezone (GMT with `dates_are_gmt`), or
/// RFC 3339 with its own offset.
fn date_param(
    q: &Params,
    name: &'static str,
    store: &Store,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(text) = q.get(name) else {
        return Ok(None);
    };
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .map_err(|_| invalid_param(&[(name, "Invalid date.".to_string())]))?;
    let gmt = q
        .get("dates_are_gmt")
        .is_some_and(|v| matches!(v.as_str(), "true" | "1"));
    if gmt {
        return Ok(Some(naive.and_utc()));
    }
    let offset = FixedOffset::east_opt(store.utc_offset_minutes * 60)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset is valid"));
    Ok(offset
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc)))
}

/// `orderby`/`order` of a list (default: date, descending).
fn sort_key(q: &Params) -> (String, bool) {
    let by = q.get("orderby").cloned().unwrap_or_else(|| "date".into());
    let asc = q.get("order").is_some_and(|o| o == "asc");
    (by, asc)
}

fn ids(q: &Params, name: &str) -> Vec<i64> {
    list(q, name)
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect()
}

async fn list_products(State(sim): State<Shared>, Query(q): Query<Params>) -> ApiResult {
    let (page, per_page) = page_params(&q, sim.config.max_per_page)?;
    let store = sim.store();
    let after = date_param(&q, "modified_after", &store)?;
    let before = date_param(&q, "modified_before", &store)?;
    let skus = list(&q, "sku");
    let include = ids(&q, "include");
    let kind = q.get("type").cloned();
    let status = q.get("status").cloned().filter(|s| s != "any");
    let base = sim.base();
    let mut rows: Vec<(i64, DateTime<Utc>, String, Value)> = Vec::new();
    for p in &store.products {
        let matches_product = (skus.is_empty() || skus.contains(&p.sku))
            && (include.is_empty() || include.contains(&p.id))
            && after.is_none_or(|a| p.date_modified > a)
            && before.is_none_or(|b| p.date_modified < b)
            && kind
                .as_deref()
                .is_none_or(|k| k == if p.variable { "variable" } else { "simple" })
            && status.as_deref().is_none_or(|s| s == p.status);
        if matches_product {
            rows.push((
                p.id,
                p.date_created,
                p.name.clone(),
                store.product_json(p, &base, &sim.site),
            ));
        }
        // A sku search looks at variations too (post types product and product_variation).
        if !skus.is_empty() {
            for v in &p.variations {
                if skus.contains(&v.sku)
                    && (include.is_empty() || include.contains(&v.id))
                    && kind.as_deref().is_none_or(|k| k == "variation")
                {
                    rows.push((
                        v.id,
                        v.date_created,
                        v.sku.clone(),
                        store.variation_as_product_json(p, v, &base, &sim.site),
                    ));
                }
            }
        }
    }
    drop(store);
    let (by, asc) = sort_key(&q);
    match by.as_str() {
        "id" | "include" => rows.sort_by_key(|r| r.0),
        "title" | "slug" => rows.sort_by(|a, b| a.2.cmp(&b.2)),
        _ => rows.sort_by_key(|r| (r.1, r.0)),
    }
    if !asc {
        rows.reverse();
    }
    let items = rows.into_iter().map(|r| r.3).collect();
    paged(items, page, per_page, &format!("{}/products", sim.base()))
}

async fn get_product(State(sim): State<Shared>, Path(id): Path<i64>) -> ApiResult {
    let store = sim.store();
    let base = sim.base();
    if let Some(pi) = store.product_index(id) {
        return ok(store.product_json(&store.products[pi], &base, &sim.site));
    }
    // Variations are products too: `GET /products/{variation_id}` renders them.
    if let Some((pi, vi)) = store.variation_index(id) {
        let p = &store.products[pi];
        return ok(store.variation_as_product_json(p, &p.variations[vi], &base, &sim.site));
    }
    Err(product_not_found())
}

fn as_string(body: &Value, name: &'static str) -> Result<Option<String>, ApiError> {
    match body.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Null) => Ok(Some(String::new())),
        Some(_) => Err(invalid_param(&[(
            name,
            format!("{name} is not of type string."),
        )])),
    }
}

fn as_decimal_string(body: &Value, name: &'static str) -> Result<Option<String>, ApiError> {
    let v = as_string(body, name)?;
    if let Some(s) = &v
        && !s.is_empty()
        && !super::store::is_decimal(s.trim())
    {
        return Err(invalid_param(&[(
            name,
            format!("{name} is not a valid decimal number."),
        )]));
    }
    Ok(v.map(|s| s.trim().to_string()))
}

fn as_int(body: &Value, name: &'static str) -> Result<Option<i64>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .map(Some)
            .ok_or_else(|| invalid_param(&[(name, format!("{name} is not of type integer."))])),
    }
}

fn as_bool(body: &Value, name: &'static str) -> Result<Option<bool>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(invalid_param(&[(
            name,
            format!("{name} is not of type boolean."),
        )])),
    }
}

fn sku_taken(store: &Store, sku: &str, own: i64) -> bool {
    !sku.is_empty()
        && store.products.iter().any(|p| {
            (p.id != own && p.sku == sku)
                || p.variations.iter().any(|v| v.id != own && v.sku == sku)
        })
}

fn invalid_sku() -> ApiError {
    wp_error(
        StatusCode::BAD_REQUEST,
        "product_invalid_sku",
        "Invalid or duplicated SKU.",
    )
}

/// Applies a product update body; the product is only changed when every field is valid.
fn apply_product(store: &Store, p: &mut Product, body: &Value) -> Result<(), ApiError> {
    let mut next = p.clone();
    if let Some(v) = as_string(body, "name")? {
        next.name = v;
    }
    if let Some(v) = as_string(body, "description")? {
        next.description = v;
    }
    if let Some(v) = as_string(body, "short_description")? {
        next.short_description = v;
    }
    if let Some(v) = as_string(body, "sku")? {
        if sku_taken(store, &v, p.id) {
            return Err(invalid_sku());
        }
        next.sku = v;
    }
    if let Some(v) = as_string(body, "global_unique_id")? {
        next.global_unique_id = v;
    }
    if let Some(v) = as_decimal_string(body, "regular_price")? {
        // Variable products take their prices from their variations.
        if !p.variable {
            next.regular_price = v;
        }
    }
    if let Some(v) = as_decimal_string(body, "weight")? {
        next.weight = v;
    }
    if let Some(v) = as_string(body, "status")? {
        if !matches!(v.as_str(), "draft" | "pending" | "private" | "publish") {
            return Err(invalid_param(&[(
                "status",
                "status is not one of draft, pending, private, publish.".into(),
            )]));
        }
        next.status = v;
    }
    if let Some(v) = as_string(body, "catalog_visibility")? {
        if !matches!(v.as_str(), "visible" | "catalog" | "search" | "hidden") {
            return Err(invalid_param(&[(
                "catalog_visibility",
                "catalog_visibility is not one of visible, catalog, search, hidden.".into(),
            )]));
        }
        next.catalog_visibility = v;
    }
    if let Some(v) = as_bool(body, "manage_stock")? {
        next.manage_stock = v && !p.variable;
    }
    if let Some(v) = as_int(body, "stock_quantity")? {
        next.stock_quantity = v;
    }
    if let Some(d) = body.get("dimensions").and_then(Value::as_object) {
        let get = |k: &str| d.get(k).and_then(Value::as_str).map(str::to_string);
        if let Some(l) = get("length") {
            next.dimensions.0 = l;
        }
        if let Some(w) = get("width") {
            next.dimensions.1 = w;
        }
        if let Some(h) = get("height") {
            next.dimensions.2 = h;
        }
    }
    if let Some(cats) = body.get("categories") {
        let Some(arr) = cats.as_array() else {
            return Err(invalid_param(&[(
                "categories",
                "categories is not of type array.".into(),
            )]));
        };
        let mut ids = Vec::new();
        for c in arr {
            let id = c.get("id").and_then(Value::as_i64).ok_or_else(|| {
                invalid_param(&[(
                    "categories",
                    "categories[0][id] is not of type integer.".into(),
                )])
            })?;
            if !store.categories.iter().any(|x| x.id == id) {
                return Err(wp_error(
                    StatusCode::BAD_REQUEST,
                    "woocommerce_rest_invalid_term_id",
                    "Invalid term ID.",
                ));
            }
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        // A product always has a category: the default one when none is given.
        next.categories = if ids.is_empty() { vec![15] } else { ids };
    }
    if let Some(attrs) = body.get("attributes") {
        let Some(arr) = attrs.as_array() else {
            return Err(invalid_param(&[(
                "attributes",
                "attributes is not of type array.".into(),
            )]));
        };
        let mut out = Vec::new();
        for a in arr {
            let name = a.get("name").and_then(Value::as_str).unwrap_or("").trim();
            if name.is_empty() {
                continue;
            }
            let options = match a.get("options") {
                Some(Value::Array(o)) => o
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                Some(Value::String(s)) => s.split('|').map(|x| x.trim().to_string()).collect(),
                _ => Vec::new(),
            };
            out.push(Attribute {
                name: name.to_string(),
                options,
                variation: a.get("variation").and_then(Value::as_bool).unwrap_or(false),
                visible: a.get("visible").and_then(Value::as_bool).unwrap_or(false),
            });
        }
        next.attributes = out;
    }
    next.date_modified = now();
    *p = next;
    Ok(())
}

fn apply_variation(store: &Store, v: &mut Variation, body: &Value) -> Result<(), ApiError> {
    let mut next = v.clone();
    if let Some(s) = as_string(body, "sku")? {
        if sku_taken(store, &s, v.id) {
            return Err(invalid_sku());
        }
        next.sku = s;
    }
    if let Some(s) = as_decimal_string(body, "regular_price")? {
        next.regular_price = s;
    }
    if let Some(s) = as_decimal_string(body, "weight")? {
        next.weight = s;
    }
    if let Some(s) = as_string(body, "global_unique_id")? {
        next.global_unique_id = s;
    }
    if let Some(b) = as_bool(body, "manage_stock")? {
        next.manage_stock = b;
    }
    if let Some(q) = as_int(body, "stock_quantity")? {
        next.stock_quantity = q;
    }
    next.date_modified = now();
    *v = next;
    Ok(())
}

/// Updates product `id` (a product or, by its id, a variation); returns (fired id, rendered).
pub(crate) fn update_product_in(
    sim: &Shared,
    id: i64,
    body: &Value,
) -> Result<(i64, Value), ApiError> {
    let mut store = sim.store();
    let base = sim.base();
    if let Some(pi) = store.product_index(id) {
        let mut p = store.products[pi].clone();
        apply_product(&store, &mut p, body)?;
        store.products[pi] = p;
        let json = store.product_json(&store.products[pi], &base, &sim.site);
        return Ok((id, json));
    }
    if let Some((pi, vi)) = store.variation_index(id) {
        let mut v = store.products[pi].variations[vi].clone();
        apply_variation(&store, &mut v, body)?;
        store.products[pi].variations[vi] = v;
        store.products[pi].date_modified = now();
        let p = &store.products[pi];
        let json = store.variation_as_product_json(p, &p.variations[vi], &base, &sim.site);
        return Ok((id, json));
    }
    Err(product_not_found())
}

async fn update_product(State(sim): State<Shared>, Path(id): Path<i64>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let (fired, json) = update_product_in(&sim, id, &body)?;
    webhooks::fire(&sim, "product", "updated", fired);
    ok(json)
}

fn create_product_in(sim: &Shared, body: &Value) -> Result<(i64, Value), ApiError> {
    let mut store = sim.store();
    let kind = as_string(body, "type")?.unwrap_or_else(|| "simple".into());
    if kind != "simple" && kind != "variable" {
        return Err(invalid_param(&[(
            "type",
            "type is not one of simple, variable.".into(),
        )]));
    }
    let id = store.id();
    let t = now();
    let mut p = Product {
        id,
        name: String::new(),
        slug: format!("product-{id}"),
        sku: String::new(),
        variable: kind == "variable",
        status: "publish".into(),
        catalog_visibility: "visible".into(),
        description: String::new(),
        short_description: String::new(),
        regular_price: String::new(),
        weight: String::new(),
        dimensions: (String::new(), String::new(), String::new()),
        categories: vec![15],
        images: Vec::new(),
        attributes: Vec::new(),
        global_unique_id: String::new(),
        manage_stock: false,
        stock_quantity: 0,
        variations: Vec::new(),
        date_created: t,
        date_modified: t,
    };
    apply_product(&store, &mut p, body)?;
    store.products.push(p);
    let json = store.product_json(
        store.products.last().expect("just pushed"),
        &sim.base(),
        &sim.site,
    );
    Ok((id, json))
}

async fn create_product(State(sim): State<Shared>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let (id, json) = create_product_in(&sim, &body)?;
    webhooks::fire(&sim, "product", "created", id);
    created(json)
}

fn item_error(id: Value, e: ApiError) -> Value {
    json!({"id": id, "error": e.body})
}

/// The `create`, `update` and `delete` items of a batch body.
type BatchLists = (Vec<Value>, Vec<Value>, Vec<Value>);

/// The create/update/delete lists of a batch body, checked against the item limit.
fn batch_lists(sim: &Shared, body: &Value, path: &str) -> Result<BatchLists, ApiError> {
    let take = |k: &str| {
        body.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (c, u, d) = (take("create"), take("update"), take("delete"));
    let total = c.len() + u.len() + d.len();
    if total > sim.config.max_batch_items {
        sim.record_batch_too_large();
        return Err(wp_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "woocommerce_rest_request_entity_too_large",
            &format!(
                "Unable to accept more than {} items for this request.",
                sim.config.max_batch_items
            ),
        ));
    }
    sim.record_batch(path, total);
    Ok((c, u, d))
}

async fn batch_products(State(sim): State<Shared>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let path = format!("POST {}/products/batch", super::API_PATH);
    let (creates, updates, deletes) = batch_lists(&sim, &body, &path)?;
    let mut out = serde_json::Map::new();
    let mut fired = Vec::new();
    if body.get("create").is_some() {
        let mut res = Vec::new();
        for item in &creates {
            match create_product_in(&sim, item) {
                Ok((id, json)) => {
                    fired.push(("created", id));
                    res.push(json);
                }
                Err(e) => res.push(item_error(json!(0), e)),
            }
        }
        out.insert("create".into(), json!(res));
    }
    if body.get("update").is_some() {
        let mut res = Vec::new();
        for item in &updates {
            let Some(id) = item.get("id").and_then(Value::as_i64) else {
                res.push(item_error(json!(0), product_not_found()));
                continue;
            };
            match update_product_in(&sim, id, item) {
                Ok((fid, json)) => {
                    fired.push(("updated", fid));
                    res.push(json);
                }
                Err(e) => res.push(item_error(json!(id), e)),
            }
        }
        out.insert("update".into(), json!(res));
    }
    if body.get("delete").is_some() {
        let mut res = Vec::new();
        for item in &deletes {
            let id = item.as_i64().unwrap_or(0);
            let mut store = sim.store();
            match store.product_index(id) {
                Some(pi) => {
                    let json = store.product_json(&store.products[pi], &sim.base(), &sim.site);
                    store.products.remove(pi);
                    fired.push(("deleted", id));
                    res.push(json);
                }
                None => res.push(item_error(json!(id), product_not_found())),
            }
        }
        out.insert("delete".into(), json!(res));
    }
    for (event, id) in fired {
        webhooks::fire(&sim, "product", event, id);
    }
    ok(Value::Object(out))
}

fn parent_index(store: &Store, id: i64) -> Result<usize, ApiError> {
    store.product_index(id).ok_or_else(product_not_found)
}

async fn list_variations(
    State(sim): State<Shared>,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> ApiResult {
    let (page, per_page) = page_params(&q, sim.config.max_per_page)?;
    let store = sim.store();
    let pi = parent_index(&store, id)?;
    let p = &store.products[pi];
    let skus = list(&q, "sku");
    let include = ids(&q, "include");
    let base = sim.base();
    let mut vs: Vec<&Variation> = p
        .variations
        .iter()
        .filter(|v| skus.is_empty() || skus.contains(&v.sku))
        .filter(|v| include.is_empty() || include.contains(&v.id))
        .collect();
    let (by, asc) = sort_key(&q);
    if by == "id" || by == "menu_order" {
        vs.sort_by_key(|v| v.id);
    } else {
        vs.sort_by_key(|v| (v.date_created, v.id));
    }
    if !asc && by != "menu_order" {
        vs.reverse();
    }
    let items = vs
        .iter()
        .map(|v| store.variation_json(p, v, &base, &sim.site))
        .collect();
    paged(
        items,
        page,
        per_page,
        &format!("{base}/products/{id}/variations"),
    )
}

fn variation_of(store: &Store, id: i64, vid: i64) -> Result<(usize, usize), ApiError> {
    let pi = parent_index(store, id)?;
    let vi = store.products[pi]
        .variations
        .iter()
        .position(|v| v.id == vid)
        .ok_or_else(|| invalid_id("woocommerce_rest_product_variation_invalid_id"))?;
    Ok((pi, vi))
}

async fn get_variation(State(sim): State<Shared>, Path((id, vid)): Path<(i64, i64)>) -> ApiResult {
    let store = sim.store();
    let (pi, vi) = variation_of(&store, id, vid)?;
    let p = &store.products[pi];
    ok(store.variation_json(p, &p.variations[vi], &sim.base(), &sim.site))
}

fn update_variation_in(sim: &Shared, id: i64, vid: i64, body: &Value) -> Result<Value, ApiError> {
    let mut store = sim.store();
    let (pi, vi) = variation_of(&store, id, vid)?;
    let mut v = store.products[pi].variations[vi].clone();
    apply_variation(&store, &mut v, body)?;
    store.products[pi].variations[vi] = v;
    // Saving a variation syncs (and saves) its parent.
    store.products[pi].date_modified = now();
    let p = &store.products[pi];
    Ok(store.variation_json(p, &p.variations[vi], &sim.base(), &sim.site))
}

async fn update_variation(
    State(sim): State<Shared>,
    Path((id, vid)): Path<(i64, i64)>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let json = update_variation_in(&sim, id, vid, &body)?;
    webhooks::fire(&sim, "product", "updated", vid);
    ok(json)
}

async fn batch_variations(
    State(sim): State<Shared>,
    Path(id): Path<i64>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    parent_index(&sim.store(), id)?;
    let path = format!("POST {}/products/{id}/variations/batch", super::API_PATH);
    let (creates, updates, deletes) = batch_lists(&sim, &body, &path)?;
    let mut out = serde_json::Map::new();
    let mut fired = Vec::new();
    if body.get("create").is_some() {
        let res: Vec<Value> = creates
            .iter()
            .map(|_| {
                item_error(
                    json!(0),
                    wp_error(
                        StatusCode::BAD_REQUEST,
                        "woocommerce_rest_cannot_create",
                        "Creating variations is not supported by this simulator.",
                    ),
                )
            })
            .collect();
        out.insert("create".into(), json!(res));
    }
    if body.get("update").is_some() {
        let mut res = Vec::new();
        for item in &updates {
            let vid = item.get("id").and_then(Value::as_i64).unwrap_or(0);
            match update_variation_in(&sim, id, vid, item) {
                Ok(json) => {
                    fired.push(vid);
                    res.push(json);
                }
                Err(e) => res.push(item_error(json!(vid), e)),
            }
        }
        out.insert("update".into(), json!(res));
    }
    if body.get("delete").is_some() {
        let mut res = Vec::new();
        for item in &deletes {
            let vid = item.as_i64().unwrap_or(0);
            let mut store = sim.store();
            match variation_of(&store, id, vid) {
                Ok((pi, vi)) => {
                    let p = &store.products[pi];
                    let json = store.variation_json(p, &p.variations[vi], &sim.base(), &sim.site);
                    store.products[pi].variations.remove(vi);
                    res.push(json);
                }
                Err(e) => res.push(item_error(json!(vid), e)),
            }
        }
        out.insert("delete".into(), json!(res));
    }
    for vid in fired {
        webhooks::fire(&sim, "product", "updated", vid);
    }
    ok(Value::Object(out))
}

async fn list_categories(State(sim): State<Shared>, Query(q): Query<Params>) -> ApiResult {
    let (page, per_page) = page_params(&q, sim.config.max_per_page)?;
    let store = sim.store();
    let base = sim.base();
    let parent: Option<i64> = q.get("parent").and_then(|p| p.parse().ok());
    let include = ids(&q, "include");
    let mut cats: Vec<_> = store
        .categories
        .iter()
        .filter(|c| parent.is_none_or(|p| c.parent == p))
        .filter(|c| include.is_empty() || include.contains(&c.id))
        .collect();
    // Terms are ordered by name by default.
    let (by, asc) = (
        q.get("orderby").cloned().unwrap_or_else(|| "name".into()),
        q.get("order").is_none_or(|o| o != "desc"),
    );
    if by == "id" {
        cats.sort_by_key(|c| c.id);
    } else {
        cats.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    }
    if !asc {
        cats.reverse();
    }
    let items = cats.iter().map(|c| store.category_json(c, &base)).collect();
    paged(
        items,
        page,
        per_page,
        &format!("{base}/products/categories"),
    )
}

async fn get_category(State(sim): State<Shared>, Path(id): Path<i64>) -> ApiResult {
    let store = sim.store();
    match store.categories.iter().find(|c| c.id == id) {
        Some(c) => ok(store.category_json(c, &sim.base())),
        None => Err(wp_error(
            StatusCode::NOT_FOUND,
            "woocommerce_rest_term_invalid",
            "Resource does not exist.",
        )),
    }
}

fn order_not_found() -> ApiError {
    invalid_id("woocommerce_rest_shop_order_invalid_id")
}

async fn list_orders(State(sim): State<Shared>, Query(q): Query<Params>) -> ApiResult {
    let (page, per_page) = page_params(&q, sim.config.max_per_page)?;
    let store = sim.store();
    let after = date_param(&q, "modified_after", &store)?;
    let before = date_param(&q, "modified_before", &store)?;
    let created_after = date_param(&q, "after", &store)?;
    let statuses: Vec<String> = list(&q, "status")
        .into_iter()
        .filter(|s| s != "any")
        .collect();
    if let Some(bad) = statuses
        .iter()
        .find(|s| !ORDER_STATUSES.contains(&s.as_str()))
    {
        return Err(invalid_param(&[(
            "status",
            format!(
                "status[0] is not one of {}; got {bad}.",
                ORDER_STATUSES.join(", ")
            ),
        )]));
    }
    let include = ids(&q, "include");
    let base = sim.base();
    let mut os: Vec<_> = store
        .orders
        .iter()
        .filter(|o| after.is_none_or(|a| o.date_modified > a))
        .filter(|o| before.is_none_or(|b| o.date_modified < b))
        .filter(|o| created_after.is_none_or(|a| o.date_created > a))
        .filter(|o| {
            if statuses.is_empty() {
                o.status != "trash"
            } else {
                statuses.contains(&o.status)
            }
        })
        .filter(|o| include.is_empty() || include.contains(&o.id))
        .collect();
    let (by, asc) = sort_key(&q);
    if by == "id" || by == "include" {
        os.sort_by_key(|o| o.id);
    } else {
        os.sort_by_key(|o| (o.date_created, o.id));
    }
    if !asc {
        os.reverse();
    }
    let items = os.iter().map(|o| store.order_json(o, &base)).collect();
    paged(items, page, per_page, &format!("{base}/orders"))
}

async fn get_order(State(sim): State<Shared>, Path(id): Path<i64>) -> ApiResult {
    let store = sim.store();
    match store.orders.iter().find(|o| o.id == id) {
        Some(o) => ok(store.order_json(o, &sim.base())),
        None => Err(order_not_found()),
    }
}

/// Sets an order's status (WooCommerce stamps `date_completed` on completion).
pub(crate) fn set_order_status(store: &mut Store, id: i64, status: &str) -> Result<(), ApiError> {
    if !ORDER_STATUSES.contains(&status) {
        return Err(invalid_param(&[(
            "status",
            format!("status is not one of {}.", ORDER_STATUSES.join(", ")),
        )]));
    }
    let o = store.order_mut(id).ok_or_else(order_not_found)?;
    let t = now();
    if o.status != status {
        o.status = status.to_string();
        if status == "completed" {
            o.date_completed = Some(t);
        }
        if status == "processing" && o.date_paid.is_none() {
            o.date_paid = Some(t);
        }
    }
    o.date_modified = t;
    Ok(())
}

async fn update_order(State(sim): State<Shared>, Path(id): Path<i64>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let json = {
        let mut store = sim.store();
        if store.orders.iter().all(|o| o.id != id) {
            return Err(order_not_found());
        }
        let status = as_string(&body, "status")?;
        match status {
            Some(s) => set_order_status(&mut store, id, &s)?,
            None => {
                if let Some(o) = store.order_mut(id) {
                    o.date_modified = now();
                }
            }
        }
        let o = store
            .orders
            .iter()
            .find(|o| o.id == id)
            .ok_or_else(order_not_found)?;
        store.order_json(o, &sim.base())
    };
    webhooks::fire(&sim, "order", "updated", id);
    ok(json)
}

async fn list_notes(
    State(sim): State<Shared>,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> ApiResult {
    let store = sim.store();
    let o = store
        .orders
        .iter()
        .find(|o| o.id == id)
        .ok_or_else(order_not_found)?;
    let kind = q.get("type").cloned().unwrap_or_else(|| "any".into());
    let base = sim.base();
    // Newest first, like WooCommerce.
    let notes: Vec<Value> = o
        .notes
        .iter()
        .rev()
        .filter(|n| match kind.as_str() {
            "customer" => n.customer_note,
            "internal" => !n.customer_note,
            _ => true,
        })
        .map(|n| store.note_json(o, n, &base))
        .collect();
    ok(json!(notes))
}

async fn create_note(State(sim): State<Shared>, Path(id): Path<i64>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let note = as_string(&body, "note")?.unwrap_or_default();
    if note.trim().is_empty() {
        return Err(wp_error(
            StatusCode::BAD_REQUEST,
            "rest_missing_callback_param",
            "Missing parameter(s): note",
        ));
    }
    let customer = as_bool(&body, "customer_note")?.unwrap_or(false);
    let mut store = sim.store();
    let nid = store
        .add_note(id, &note, customer, now())
        .ok_or_else(order_not_found)?;
    let o = store
        .orders
        .iter()
        .find(|o| o.id == id)
        .ok_or_else(order_not_found)?;
    let n = o
        .notes
        .iter()
        .find(|n| n.id == nid)
        .ok_or_else(order_not_found)?;
    created(store.note_json(o, n, &sim.base()))
}

fn webhook_not_found() -> ApiError {
    invalid_id("woocommerce_rest_webhook_invalid_id")
}

async fn list_webhooks(State(sim): State<Shared>, Query(q): Query<Params>) -> ApiResult {
    let (page, per_page) = page_params(&q, sim.config.max_per_page)?;
    let store = sim.store();
    let status = q.get("status").cloned().filter(|s| s != "all");
    let base = sim.base();
    let mut ws: Vec<&Webhook> = store
        .webhooks
        .iter()
        .filter(|w| status.as_deref().is_none_or(|s| w.status == s))
        .collect();
    ws.sort_by_key(|w| std::cmp::Reverse(w.id));
    let items = ws.iter().map(|w| store.webhook_json(w, &base)).collect();
    paged(items, page, per_page, &format!("{base}/webhooks"))
}

fn valid_topic(topic: &str) -> bool {
    TOPICS.iter().any(|(t, _)| *t == topic) || topic.starts_with("action.")
}

fn valid_status(status: &str) -> bool {
    matches!(status, "active" | "paused" | "disabled")
}

async fn create_webhook(State(sim): State<Shared>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let topic = as_string(&body, "topic")?.unwrap_or_default();
    if !valid_topic(&topic) {
        return Err(wp_error(
            StatusCode::BAD_REQUEST,
            "woocommerce_rest_webhook_invalid_topic",
            "Webhook topic is required and must be valid.",
        ));
    }
    let url = as_string(&body, "delivery_url")?.unwrap_or_default();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(wp_error(
            StatusCode::BAD_REQUEST,
            "woocommerce_rest_webhook_invalid_delivery_url",
            "Webhook delivery URL must be a valid URL starting with http:// or https://.",
        ));
    }
    let status = as_string(&body, "status")?.unwrap_or_else(|| "active".into());
    if !valid_status(&status) {
        return Err(invalid_param(&[(
            "status",
            "status is not one of active, paused, disabled.".into(),
        )]));
    }
    let t = now();
    let (json, id) = {
        let mut store = sim.store();
        let id = store.id();
        let secret = as_string(&body, "secret")?
            .filter(|s| !s.is_empty())
            // WooCommerce defaults the secret to a hash of the current user.
            .unwrap_or_else(|| webhooks::signature(sim.config.consumer_key.as_bytes(), "user-1"));
        let name = as_string(&body, "name")?
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("Webhook created on {}", t.format("%B %e, %Y @ %l:%M %p")));
        let w = Webhook {
            id,
            name,
            status,
            topic,
            delivery_url: url.clone(),
            secret,
            date_created: t,
            date_modified: t,
        };
        store.webhooks.push(w);
        let w = store.webhooks.last().expect("just pushed");
        (store.webhook_json(w, &sim.base()), id)
    };
    webhooks::ping(url, id);
    created(json)
}

async fn get_webhook(State(sim): State<Shared>, Path(id): Path<i64>) -> ApiResult {
    let store = sim.store();
    match store.webhooks.iter().find(|w| w.id == id) {
        Some(w) => ok(store.webhook_json(w, &sim.base())),
        None => Err(webhook_not_found()),
    }
}

async fn update_webhook(State(sim): State<Shared>, Path(id): Path<i64>, body: Bytes) -> ApiResult {
    let body = parse_body(&body)?;
    let mut store = sim.store();
    let base = sim.base();
    let i = store
        .webhooks
        .iter()
        .position(|w| w.id == id)
        .ok_or_else(webhook_not_found)?;
    let mut w = store.webhooks[i].clone();
    if let Some(t) = as_string(&body, "topic")? {
        if !valid_topic(&t) {
            return Err(wp_error(
                StatusCode::BAD_REQUEST,
                "woocommerce_rest_webhook_invalid_topic",
                "Webhook topic must be valid.",
            ));
        }
        w.topic = t;
    }
    if let Some(s) = as_string(&body, "status")? {
        if !valid_status(&s) {
            return Err(invalid_param(&[(
                "status",
                "status is not one of active, paused, disabled.".into(),
            )]));
        }
        w.status = s;
    }
    if let Some(u) = as_string(&body, "delivery_url")? {
        w.delivery_url = u;
    }
    if let Some(s) = as_string(&body, "secret")? {
        w.secret = s;
    }
    if let Some(n) = as_string(&body, "name")? {
        w.name = n;
    }
    w.date_modified = now();
    store.webhooks[i] = w;
    ok(store.webhook_json(&store.webhooks[i], &base))
}

async fn delete_webhook(
    State(sim): State<Shared>,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> ApiResult {
    if !q.get("force").is_some_and(|f| f == "true" || f == "1") {
        return Err(wp_error(
            StatusCode::NOT_IMPLEMENTED,
            "woocommerce_rest_trash_not_supported",
            "Webhooks do not support trashing.",
        ));
    }
    let mut store = sim.store();
    let i = store
        .webhooks
        .iter()
        .position(|w| w.id == id)
        .ok_or_else(webhook_not_found)?;
    let json = store.webhook_json(&store.webhooks[i], &sim.base());
    store.webhooks.remove(i);
    ok(json)
}

//! V3 catalog: products (with variants and images), variants, brands, categories, category trees.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::Utc;
use serde_json::{Value, json};

use super::store::{Fields, Product, Store, Variant};
use super::{
    ApiError, ApiResult, Params, Shared, int_list, list, ok, page_limit, paginate, pagination_meta,
    parse_body, parse_date, v3_error, v3_error_with,
};

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/catalog/products", get(list_products).post(create_product))
        .route(
            "/catalog/products/{id}",
            get(get_product).put(update_product),
        )
        .route("/catalog/products/{id}/variants", get(product_variants))
        .route("/catalog/variants", get(all_variants))
        .route("/catalog/brands", get(list_brands).post(create_brand))
        .route("/catalog/brands/{id}", get(get_brand))
        .route("/catalog/categories", get(list_categories))
        .route("/catalog/categories/{id}", get(get_category))
        .route("/catalog/trees/categories", get(tree_categories))
}

fn includes(params: &Params) -> (bool, bool) {
    let inc = list(params, "include");
    (
        inc.iter().any(|i| i == "variants"),
        inc.iter().any(|i| i == "images"),
    )
}

/// `include_fields` / `exclude_fields` of a product read.
fn fields(params: &Params) -> Fields {
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
    Fields::parse(get("include_fields"), get("exclude_fields"))
}

fn product_not_found() -> ApiError {
    v3_error(
        StatusCode::NOT_FOUND,
        "The requested product was not found.",
    )
}

async fn list_products(State(sim): State<Shared>, Query(q): Query<Params>) -> ApiResult {
    let (page, limit) = page_limit(&q, 50, 250)?;
    let min = q.get("date_modified:min").and_then(|d| parse_date(d));
    let max = q.get("date_modified:max").and_then(|d| parse_date(d));
    let skus = list(&q, "sku:in");
    let ids = int_list(&q, "id:in");
    let categories = int_list(&q, "categories:in");
    let (with_variants, with_images) = includes(&q);
    let fields = fields(&q);
    let store = sim.store();
    if q.keys().all(|k| {
        matches!(
            k.as_str(),
            "page" | "limit" | "include" | "include_fields" | "exclude_fields"
        )
    }) {
        // No filter: slice the page directly instead of scanning the catalog.
        let total = store.products.len();
        let docs: Vec<_> = store
            .products
            .iter()
            .skip((page - 1) * limit)
            .take(limit)
            .map(|p| store.product_json_text(p, with_variants, with_images, &fields))
            .collect();
        let meta = pagination_meta(total, docs.len(), page, limit);
        let mut body = String::with_capacity(docs.iter().map(|d| d.len() + 1).sum::<usize>() + 512);
        body.push_str("{\"data\":[");
        for (i, d) in docs.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(d);
        }
        body.push_str("],\"meta\":");
        body.push_str(&meta.to_string());
        body.push('}');
        return Ok((
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response());
    }
    let matching: Vec<&Product> = store
        .products
        .iter()
        .filter(|p| min.is_none_or(|m| p.date_modified >= m))
        .filter(|p| max.is_none_or(|m| p.date_modified <= m))
        .filter(|p| skus.is_empty() || skus.contains(&p.sku))
        .filter(|p| q.get("sku").is_none_or(|s| &p.sku == s))
        .filter(|p| ids.is_empty() || ids.contains(&p.id))
        .filter(|p| q.get("id").is_none_or(|i| p.id.to_string() == *i))
        .filter(|p| q.get("name").is_none_or(|n| &p.name == n))
        .filter(|p| {
            q.get("brand_id")
                .is_none_or(|b| p.brand_id.to_string() == *b)
        })
        .filter(|p| categories.is_empty() || p.categories.iter().any(|c| categories.contains(c)))
        .filter(|p| {
            q.get("is_visible")
                .is_none_or(|v| (v == "true" || v == "1") == p.is_visible)
        })
        .collect();
    let (page_items, meta) = paginate(matching, page, limit);
    let data: Vec<Value> = page_items
        .into_iter()
        .map(|p| {
            let mut doc = store.product_json(p, with_variants, with_images);
            fields.apply(&mut doc);
            doc
        })
        .collect();
    ok(json!({ "data": data, "meta": meta }))
}

async fn get_product(
    State(sim): State<Shared>,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> ApiResult {
    let (with_variants, with_images) = includes(&q);
    let fields = fields(&q);
    let store = sim.store();
    match store.products.iter().find(|p| p.id == id) {
        Some(p) => {
            let mut doc = store.product_json(p, with_variants, with_images);
            fields.apply(&mut doc);
            ok(json!({ "data": doc, "meta": {} }))
        }
        None => Err(product_not_found()),
    }
}

/// A validated change of one product (every field checked before anything is applied).
#[derive(Default)]
struct Change {
    name: Option<String>,
    sku: Option<String>,
    description: Option<String>,
    price: Option<f64>,
    weight: Option<f64>,
    width: Option<f64>,
    height: Option<f64>,
    depth: Option<f64>,
    is_visible: Option<bool>,
    brand_id: Option<i64>,
    brand_name: Option<String>,
    categories: Option<Vec<i64>>,
    upc: Option<String>,
    gtin: Option<String>,
    mpn: Option<String>,
}

fn invalid(field: &str, why: &str) -> ApiError {
    v3_error_with(
        StatusCode::UNPROCESSABLE_ENTITY,
        "JSON data is missing or invalid",
        json!({ field: why }),
    )
}

fn conflict(title: &str) -> ApiError {
    v3_error(StatusCode::CONFLICT, title)
}

fn parse_change(store: &Store, body: &Value, self_id: Option<i64>) -> Result<Change, ApiError> {
    let obj = body
        .as_object()
        .ok_or_else(|| invalid("body", "must be a JSON object"))?;
    let mut c = Change::default();
    let text = |k: &str, max: usize| -> Result<Option<String>, ApiError> {
        match obj.get(k) {
            None => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
            Some(Value::String(_)) => Err(invalid(k, &format!("must be at most {max} characters"))),
            Some(_) => Err(invalid(k, "must be a string")),
        }
    };
    let number = |k: &str| -> Result<Option<f64>, ApiError> {
        match obj.get(k) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(f) if f >= 0.0 => Ok(Some(f)),
                Some(_) => Err(invalid(k, "must be greater than or equal to 0")),
                None => Err(invalid(k, "must be a number")),
            },
        }
    };
    c.name = text("name", 250)?;
    if c.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(invalid("name", "must not be empty"));
    }
    c.sku = text("sku", 255)?;
    c.description = text("description", usize::MAX)?;
    c.upc = text("upc", 14)?;
    c.gtin = text("gtin", 14)?;
    c.mpn = text("mpn", 255)?;
    c.brand_name = text("brand_name", 255)?;
    c.price = number("price")?;
    c.weight = number("weight")?;
    c.width = number("width")?;
    c.height = number("height")?;
    c.depth = number("depth")?;
    c.is_visible = match obj.get("is_visible") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(invalid("is_visible", "must be a boolean")),
    };
    c.brand_id = match obj.get("brand_id") {
        None => None,
        Some(v) => match v.as_i64() {
            Some(0) => Some(0),
            Some(id) if store.brands.iter().any(|b| b.id == id) => Some(id),
            Some(id) => return Err(conflict(&format!("Brand {id} does not exist."))),
            None => return Err(invalid("brand_id", "must be an integer")),
        },
    };
    c.categories = match obj.get("categories") {
        None => None,
        Some(Value::Array(items)) => {
            let mut ids = Vec::new();
            for item in items {
                let id = item
                    .as_f64()
                    .filter(|f| f.fract() == 0.0)
                    .map(|f| f as i64)
                    .ok_or_else(|| invalid("categories", "must be an array of category ids"))?;
                if !store.categories.iter().any(|c| c.id == id) {
                    return Err(conflict(&format!("Category {id} does not exist.")));
                }
                ids.push(id);
            }
            Some(ids)
        }
        Some(_) => return Err(invalid("categories", "must be an array of category ids")),
    };
    if let Some(name) = &c.name
        && store
            .products
            .iter()
            .any(|p| Some(p.id) != self_id && p.name.eq_ignore_ascii_case(name))
    {
        return Err(conflict(&format!(
            "The product name \"{name}\" is a duplicate."
        )));
    }
    if let Some(sku) = c.sku.as_deref().filter(|s| !s.is_empty())
        && store
            .products
            .iter()
            .any(|p| Some(p.id) != self_id && p.variants.iter().any(|v| v.sku == sku))
    {
        return Err(conflict(&format!("The sku \"{sku}\" is a duplicate.")));
    }
    Ok(c)
}

fn apply(store: &mut Store, index: usize, c: Change) {
    let brand_id = match (&c.brand_name, c.brand_id) {
        (Some(name), _) if name.trim().is_empty() => Some(0),
        (Some(name), _) => Some(store.brand_id_or_create(name.trim())),
        (None, id) => id,
    };
    let p = &mut store.products[index];
    if let Some(v) = c.name {
        p.name = v;
    }
    if let Some(v) = c.sku {
        if !p.has_options
            && let Some(base) = p.variants.first_mut()
        {
            base.sku = v.clone();
        }
        p.sku = v;
    }
    if let Some(v) = c.description {
        p.description = v;
    }
    if let Some(v) = c.price {
        p.price = v;
    }
    if let Some(v) = c.weight {
        p.weight = v;
    }
    if let Some(v) = c.width {
        p.width = v;
    }
    if let Some(v) = c.height {
        p.height = v;
    }
    if let Some(v) = c.depth {
        p.depth = v;
    }
    if let Some(v) = c.is_visible {
        p.is_visible = v;
    }
    if let Some(v) = brand_id {
        p.brand_id = v;
    }
    if let Some(v) = c.categories {
        p.categories = v;
    }
    if let Some(v) = c.upc {
        p.upc = v;
    }
    if let Some(v) = c.gtin {
        p.gtin = v;
    }
    if let Some(v) = c.mpn {
        p.mpn = v;
    }
    p.date_modified = Utc::now();
    let id = p.id;
    store.changed(
        "store/product/updated",
        json!({"type": "product", "id": id}),
    );
}

async fn update_product(
    State(sim): State<Shared>,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body, false)?;
    let (with_variants, with_images) = includes(&q);
    let mut store = sim.store();
    let Some(index) = store.products.iter().position(|p| p.id == id) else {
        return Err(product_not_found());
    };
    let change = parse_change(&store, &body, Some(id))?;
    apply(&mut store, index, change);
    let p = &store.products[index];
    ok(json!({ "data": store.product_json(p, with_variants, with_images), "meta": {} }))
}

async fn create_product(State(sim): State<Shared>, body: Bytes) -> ApiResult {
    let body = parse_body(&body, false)?;
    for required in ["name", "type", "weight", "price"] {
        if body.get(required).is_none() {
            return Err(invalid(required, "is required"));
        }
    }
    let mut store = sim.store();
    let change = parse_change(&store, &body, None)?;
    let id = store.alloc() + 100;
    let vid = store.alloc() + 1000;
    let now = Utc::now();
    let sku = change.sku.clone().unwrap_or_default();
    store.products.push(Product {
        id,
        name: String::new(),
        sku: sku.clone(),
        description: String::new(),
        brand_id: 0,
        categories: Vec::new(),
        weight: 0.0,
        width: 0.0,
        height: 0.0,
        depth: 0.0,
        price: 0.0,
        upc: String::new(),
        mpn: String::new(),
        gtin: String::new(),
        is_visible: true,
        date_created: now,
        date_modified: now,
        has_options: false,
        variants: vec![Variant {
            id: vid,
            sku,
            price: None,
            weight: None,
            gtin: String::new(),
            option_values: Vec::new(),
        }],
        images: Vec::new(),
    });
    let index = store.products.len() - 1;
    apply(&mut store, index, change);
    let locations: Vec<i64> = store.locations.iter().map(|l| l.id).collect();
    for l in locations {
        store.stock.insert((vid, l), 0);
        store.stock_version += 1;
    }
    let p = &store.products[index];
    ok(json!({ "data": store.product_json(p, true, true), "meta": {} }))
}

async fn product_variants(
    State(sim): State<Shared>,
    Path(id): Path<i64>,
    Query(q): Query<Params>,
) -> ApiResult {
    let (page, limit) = page_limit(&q, 50, 250)?;
    let store = sim.store();
    let Some(p) = store.products.iter().find(|p| p.id == id) else {
        return Err(product_not_found());
    };
    let (items, meta) = paginate(p.variants.iter().collect(), page, limit);
    let data: Vec<Value> = items
        .into_iter()
        .map(|v| store.variant_json(p, v))
        .collect();
    ok(json!({ "data": data, "meta": meta }))
}

async fn all_variants(State(sim): State<Shared>, Query(q): Query<Params>) -> ApiResult {
    let (page, limit) = page_limit(&q, 50, 250)?;
    let skus = list(&q, "sku:in");
    let products = int_list(&q, "product_id:in");
    let store = sim.store();
    let all: Vec<(&Product, &Variant)> = store
        .products
        .iter()
        .filter(|p| products.is_empty() || products.contains(&p.id))
        .flat_map(|p| p.variants.iter().map(move |v| (p, v)))
        .filter(|(_, v)| skus.is_empty() || skus.contains(&v.sku))
        .collect();
    let (items, meta) = paginate(all, page, limit);
    let data: Vec<Value> = items
        .into_iter()
        .map(|(p, v)| store.variant_json(p, v))
        .collect();
    ok(json!({ "data": data, "meta": meta }))
}

async fn list_brands(State(sim): State<Shared>, Query(q): Query<Params>) -> ApiResult {
    let (page, limit) = page_limit(&q, 50, 250)?;
    let ids = int_list(&q, "id:in");
    let store = sim.store();
    let matching = store
        .brands
        .iter()
        .filter(|b| q.get("name").is_none_or(|n| b.name.eq_ignore_ascii_case(n)))
        .filter(|b| ids.is_empty() || ids.contains(&b.id))
        .collect();
    let (items, meta) = paginate(matching, page, limit);
    let data: Vec<Value> = items.into_iter().map(|b| store.brand_json(b)).collect();
    ok(json!({ "data": data, "meta": meta }))
}

async fn get_brand(State(sim): State<Shared>, Path(id): Path<i64>) -> ApiResult {
    let store = sim.store();
    match store.brands.iter().find(|b| b.id == id) {
        Some(b) => ok(json!({ "data": store.brand_json(b), "meta": {} })),
        None => Err(v3_error(
            StatusCode::NOT_FOUND,
            "The requested brand was not found.",
        )),
    }
}

async fn create_brand(State(sim): State<Shared>, body: Bytes) -> ApiResult {
    let body = parse_body(&body, false)?;
    let Some(name) = body
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
    else {
        return Err(invalid("name", "is required"));
    };
    let mut store = sim.store();
    if store
        .brands
        .iter()
        .any(|b| b.name.eq_ignore_ascii_case(name))
    {
        return Err(conflict(&format!("The brand \"{name}\" already exists.")));
    }
    let id = store.brand_id_or_create(name);
    let data = store
        .brands
        .iter()
        .find(|b| b.id == id)
        .map(|b| store.brand_json(b))
        .unwrap_or(Value::Null);
    ok(json!({ "data": data, "meta": {} }))
}

async fn list_categories(State(sim): State<Shared>, Query(q): Query<Params>) -> ApiResult {
    let (page, limit) = page_limit(&q, 50, 250)?;
    let ids = int_list(&q, "id:in");
    let store = sim.store();
    let matching = store
        .categories
        .iter()
        .filter(|c| ids.is_empty() || ids.contains(&c.id))
        .filter(|c| {
            q.get("parent_id")
                .is_none_or(|p| c.parent_id.to_string() == *p)
        })
        .filter(|c| q.get("name").is_none_or(|n| &c.name == n))
        .collect();
    let (items, meta) = paginate(matching, page, limit);
    let data: Vec<Value> = items.into_iter().map(|c| store.category_json(c)).collect();
    ok(json!({ "data": data, "meta": meta }))
}

async fn get_category(State(sim): State<Shared>, Path(id): Path<i64>) -> ApiResult {
    let store = sim.store();
    match store.categories.iter().find(|c| c.id == id) {
        Some(c) => ok(json!({ "data": store.category_json(c), "meta": {} })),
        None => Err(v3_error(
            StatusCode::NOT_FOUND,
            "The requested category was not found.",
        )),
    }
}

async fn tree_categories(State(sim): State<Shared>, Query(q): Query<Params>) -> ApiResult {
    let (page, limit) = page_limit(&q, 50, 250)?;
    let ids = int_list(&q, "category_id:in");
    let store = sim.store();
    let matching = store
        .categories
        .iter()
        .filter(|c| ids.is_empty() || ids.contains(&c.id))
        .collect();
    let (items, meta) = paginate(matching, page, limit);
    let data: Vec<Value> = items
        .into_iter()
        .map(|c| store.tree_category_json(c))
        .collect();
    ok(json!({ "data": data, "meta": meta }))
}

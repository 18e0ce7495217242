//! The SP-API operations of the simulated account.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Listing, MAX_FEED_MESSAGES, Shared, SimFeed, amz_error};
use crate::demo;

type Params = Query<HashMap<String, String>>;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/orders/v0/orders", get(get_orders))
        .route("/orders/v0/orders/{id}/orderItems", get(get_order_items))
        .route(
            "/orders/v0/orders/{id}/shipmentConfirmation",
            post(confirm_shipment),
        )
        .route("/listings/2021-08-01/items/{seller}", get(search_listings))
        .route(
            "/listings/2021-08-01/items/{seller}/{sku}",
            get(get_listing).patch(patch_listing).put(put_listing),
        )
        .route("/fba/inventory/v1/summaries", get(inventory_summaries))
        .route("/feeds/2021-06-30/documents", post(create_feed_document))
        .route("/feeds/2021-06-30/documents/{id}", get(get_feed_document))
        .route("/feeds/2021-06-30/feeds", post(create_feed))
        .route("/feeds/2021-06-30/feeds/{id}", get(get_feed))
        .route(
            "/definitions/2020-09-01/productTypes/{product_type}",
            get(product_type_definition),
        )
        .route("/finances/v0/financialEvents", get(list_financial_events))
}

fn invalid(message: &str) -> Response {
    amz_error(StatusCode::BAD_REQUEST, "InvalidInput", message, "")
}

fn not_found(message: &str) -> Response {
    amz_error(StatusCode::NOT_FOUND, "NotFound", message, "")
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn list(p: &HashMap<String, String>, name: &str) -> Vec<String> {
    p.get(name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn check_marketplace(sim: &Shared, p: &HashMap<String, String>, name: &str) -> Option<Response> {
    let ids = list(p, name);
    if ids.is_empty() {
        return Some(invalid(&format!("Missing required parameter '{name}'.")));
    }
    if !ids.contains(&sim.config.marketplace_id) {
        return Some(invalid(&format!(
            "Invalid {name}: the seller does not participate in {}.",
            ids.join(",")
        )));
    }
    None
}

/// Opaque page tokens: base64 of the query they continue.
fn encode_token(v: &Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn decode_token(t: &str) -> Option<Value> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Ten-thousandths → decimal text with two decimals (Amazon's currency amounts).
fn cents(units: i64) -> String {
    let sign = if units < 0 { "-" } else { "" };
    let u = units.unsigned_abs();
    format!("{sign}{}.{:02}", u / 10_000, (u % 10_000) / 100)
}

fn money(amount: &str, currency: &str) -> Value {
    json!({"CurrencyCode": currency, "Amount": amount})
}

async fn get_orders(State(sim): State<Shared>, Query(p): Params) -> Response {
    if let Some(r) = check_marketplace(&sim, &p, "MarketplaceIds") {
        return r;
    }
    let query = match p.get("NextToken") {
        Some(t) => match decode_token(t) {
            Some(q) => q,
            None => return invalid("Invalid NextToken."),
        },
        None => {
            if p.contains_key("CreatedAfter") && p.contains_key("LastUpdatedAfter") {
                return invalid("CreatedAfter and LastUpdatedAfter cannot both be set.");
            }
            let (field, after) = match (p.get("LastUpdatedAfter"), p.get("CreatedAfter")) {
                (Some(a), _) => ("updated", a),
                (None, Some(a)) => ("created", a),
                (None, None) => {
                    return invalid("Either CreatedAfter or LastUpdatedAfter must be specified.");
                }
            };
            if parse_time(after).is_none() {
                return invalid("Dates must be in ISO 8601 format.");
            }
            let size: usize = match p.get("MaxResultsPerPage").map(|s| s.parse::<usize>()) {
                None => 100,
                Some(Ok(n)) if (1..=100).contains(&n) => n,
                Some(_) => return invalid("MaxResultsPerPage must be between 1 and 100."),
            };
            json!({
                "field": field, "after": after,
                "before": p.get("LastUpdatedBefore").or(p.get("CreatedBefore")),
                "ids": list(&p, "AmazonOrderIds"), "statuses": list(&p, "OrderStatuses"),
                "size": size, "offset": 0,
            })
        }
    };
    let after = query["after"].as_str().and_then(parse_time);
    let before = query["before"].as_str().and_then(parse_time);
    let by_created = query["field"] == "created";
    let ids: Vec<String> = serde_json::from_value(query["ids"].clone()).unwrap_or_default();
    let statuses: Vec<String> =
        serde_json::from_value(query["statuses"].clone()).unwrap_or_default();
    let size = query["size"].as_u64().unwrap_or(100) as usize;
    let offset = query["offset"].as_u64().unwrap_or(0) as usize;
    let st = sim.state();
    let mut matching: Vec<&super::SimOrder> = st
        .orders
        .iter()
        .filter(|o| {
            let t = if by_created { o.purchased } else { o.updated };
            after.is_none_or(|a| t >= a)
                && before.is_none_or(|b| t < b)
                && (ids.is_empty() || ids.contains(&o.id))
                && (statuses.is_empty() || statuses.contains(&o.status))
        })
        .collect();
    matching.sort_by(|a, b| (a.updated, &a.id).cmp(&(b.updated, &b.id)));
    let currency = &sim.config.currency;
    let orders: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(size)
        .map(|o| {
            let total: i64 = o
                .lines
                .iter()
                .map(|l| demo::to_units(&l.unit_price) * l.quantity)
                .sum();
            let shipped: i64 = o.lines.iter().map(|l| l.shipped).sum();
            let ordered: i64 = o.lines.iter().map(|l| l.quantity).sum();
            let b = &o.buyer;
            json!({
                "AmazonOrderId": o.id,
                "PurchaseDate": iso(o.purchased),
                "LastUpdateDate": iso(o.updated),
                "OrderStatus": o.status,
                "FulfillmentChannel": "MFN",
                "SalesChannel": "Amazon.com",
                "OrderTotal": money(&cents(total), currency),
                "NumberOfItemsShipped": shipped,
                "NumberOfItemsUnshipped": ordered - shipped,
                "MarketplaceId": sim.config.marketplace_id,
                "OrderType": "StandardOrder",
                "IsPrime": false,
                "IsBusinessOrder": false,
                "ShippingAddress": {
                    "Name": format!("{} {}", b.first_name, b.last_name),
                    "AddressLine1": b.street, "City": b.city, "StateOrRegion": b.state,
                    "PostalCode": b.zip, "CountryCode": b.country_iso2, "Phone": b.phone,
                },
                "BuyerInfo": {"BuyerEmail": b.email, "BuyerName": format!("{} {}", b.first_name, b.last_name)},
            })
        })
        .collect();
    let mut payload = json!({"Orders": orders});
    if offset + size < matching.len() {
        let mut next = query.clone();
        next["offset"] = json!(offset + size);
        payload["NextToken"] = json!(encode_token(&next));
    }
    if !by_created {
        payload["LastUpdatedBefore"] = json!(iso(Utc::now()));
    }
    Json(json!({"payload": payload})).into_response()
}

/// listFinancialEvents: the refund events posted in [PostedAfter, PostedBefore) (PostedBefore
/// defaults to now; Amazon's default, two minutes ago, is not simulated), oldest first,
/// `MaxResultsPerPage` (1 to 100, default 100) a page, continued by NextToken.
async fn list_financial_events(State(sim): State<Shared>, Query(p): Params) -> Response {
    let query = match p.get("NextToken") {
        Some(t) => match decode_token(t) {
            Some(q) => q,
            None => return invalid("Invalid NextToken."),
        },
        None => {
            let after = match p.get("PostedAfter").map(|a| parse_time(a)) {
                None => None,
                Some(Some(a)) => Some(a),
                Some(None) => return invalid("PostedAfter must be in ISO 8601 format."),
            };
            let before = match p.get("PostedBefore").map(|b| parse_time(b)) {
                None => None,
                Some(Some(b)) => Some(b),
                Some(None) => return invalid("PostedBefore must be in ISO 8601 format."),
            };
            if before.is_some() && after.is_none() {
                return invalid("PostedAfter is required when PostedBefore is specified.");
            }
            if let (Some(a), Some(b)) = (after, before)
                && b <= a
            {
                return invalid("PostedBefore must be later than PostedAfter.");
            }
            if before.is_some_and(|b| b > Utc::now()) {
                return invalid("PostedBefore must not be in the future.");
            }
            let size: usize = match p.get("MaxResultsPerPage").map(|s| s.parse::<usize>()) {
                None => 100,
                Some(Ok(n)) if (1..=100).contains(&n) => n,
                Some(_) => return invalid("MaxResultsPerPage must be between 1 and 100."),
            };
            json!({
                "after": after.map(iso),
                "before": before.unwrap_or_else(Utc::now).to_rfc3339(),
                "size": size, "offset": 0,
            })
        }
    };
    let after = query["after"].as_str().and_then(parse_time);
    let before = query["before"].as_str().and_then(parse_time);
    let size = query["size"].as_u64().unwrap_or(100) as usize;
    let offset = query["offset"].as_u64().unwrap_or(0) as usize;
    let st = sim.state();
    let currency = &sim.config.currency;
    let matching: Vec<&super::SimRefund> = st
        .refunds
        .iter()
        .filter(|r| after.is_none_or(|a| r.posted >= a) && before.is_none_or(|b| r.posted < b))
        .collect();
    let events: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(size)
        .map(|r| {
            let items: Vec<Value> = r
                .items
                .iter()
                .enumerate()
                .map(|(i, (item_id, sku, quantity, units))| {
                    let amount = -(*units as f64) / 10_000.0;
                    json!({
                        "SellerSKU": sku,
                        "OrderItemId": item_id,
                        "OrderAdjustmentItemId": format!("{}{i:02}", r.posted.timestamp()),
                        "QuantityShipped": quantity,
                        "ItemChargeAdjustmentList": [{
                            "ChargeType": "Principal",
                            "ChargeAmount": {"CurrencyCode": currency, "CurrencyAmount": amount},
                        }],
                    })
                })
                .collect();
            json!({
                "AmazonOrderId": r.order_id,
                "MarketplaceName": "Amazon.com",
                "PostedDate": iso(r.posted),
                "ShipmentItemAdjustmentList": items,
            })
        })
        .collect();
    let mut payload = json!({"FinancialEvents": {"RefundEventList": events}});
    if offset + size < matching.len() {
        let mut next = query.clone();
        next["offset"] = json!(offset + size);
        payload["NextToken"] = json!(encode_token(&next));
    }
    Json(json!({"payload": payload})).into_response()
}

async fn get_order_items(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    let st = sim.state();
    let Some(o) = st.orders.iter().find(|o| o.id == id) else {
        return not_found(&format!("Order {id} was not found."));
    };
    let items: Vec<Value> = o
        .lines
        .iter()
        .map(|l| {
            json!({
                "ASIN": l.asin, "SellerSKU": l.sku, "OrderItemId": l.item_id, "Title": l.title,
                "QuantityOrdered": l.quantity, "QuantityShipped": l.shipped,
                "ItemPrice": money(&cents(demo::to_units(&l.unit_price) * l.quantity), &sim.config.currency),
            })
        })
        .collect();
    Json(json!({"payload": {"AmazonOrderId": o.id, "OrderItems": items}})).into_response()
}

async fn confirm_shipment(
    State(sim): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return invalid("The request body is not valid JSON.");
    };
    if body["marketplaceId"].as_str() != Some(sim.config.marketplace_id.as_str()) {
        return invalid("marketplaceId is missing or not the order's marketplace.");
    }
    let pkg = &body["packageDetail"];
    let text = |k: &str| pkg[k].as_str().filter(|s| !s.is_empty());
    let (Some(carrier), Some(tracking), Some(_), Some(_)) = (
        text("carrierCode"),
        text("trackingNumber"),
        text("packageReferenceId"),
        text("shipDate"),
    ) else {
        return invalid(
            "packageDetail needs packageReferenceId, carrierCode, trackingNumber and shipDate.",
        );
    };
    let Some(items) = pkg["orderItems"].as_array().filter(|a| !a.is_empty()) else {
        return invalid("packageDetail.orderItems is required.");
    };
    let mut st = sim.state();
    let Some(o) = st.orders.iter_mut().find(|o| o.id == id) else {
        return not_found(&format!("Order {id} was not found."));
    };
    if !matches!(o.status.as_str(), "Unshipped" | "PartiallyShipped") {
        return invalid(&format!(
            "The order is {} and cannot be confirmed as shipped.",
            o.status
        ));
    }
    for item in items {
        let item_id = item["orderItemId"].as_str().unwrap_or_default();
        let quantity = item["quantity"].as_i64().unwrap_or(0);
        match o.lines.iter().find(|l| l.item_id == item_id) {
            Some(l) if quantity >= 1 && l.shipped + quantity <= l.quantity => {}
            Some(_) => return invalid(&format!("Invalid quantity for order item {item_id}.")),
            None => return invalid(&format!("Order item {item_id} is not in the order.")),
        }
    }
    for item in items {
        let item_id = item["orderItemId"].as_str().unwrap_or_default();
        let quantity = item["quantity"].as_i64().unwrap_or(0);
        if let Some(l) = o.lines.iter_mut().find(|l| l.item_id == item_id) {
            l.shipped += quantity;
        }
    }
    o.shipments
        .push((carrier.to_string(), tracking.to_string()));
    o.status = if o.lines.iter().all(|l| l.shipped >= l.quantity) {
        "Shipped".into()
    } else {
        "PartiallyShipped".into()
    };
    o.updated = Utc::now();
    StatusCode::NO_CONTENT.into_response()
}

/// A listings item with the parts `included` asks for.
fn item_json(sim: &Shared, l: &Listing, included: &[String]) -> Value {
    let mp = &sim.config.marketplace_id;
    let wants =
        |k: &str| included.is_empty() && k == "summaries" || included.iter().any(|i| i == k);
    let mut item = json!({"sku": l.sku});
    if wants("summaries") {
        let mut status = vec!["DISCOVERABLE"];
        if l.issues.is_empty() && l.quantity > 0 {
            status.push("BUYABLE");
        }
        item["summaries"] = json!([{
            "marketplaceId": mp, "asin": l.asin, "productType": l.product_type,
            "conditionType": "new_new", "status": status, "itemName": l.title,
            "createdDate": iso(l.created), "lastUpdatedDate": iso(l.updated),
            "mainImage": {"link": l.image, "height": 500, "width": 500},
        }]);
    }
    if wants("attributes") {
        let text = |v: &str| json!([{"value": v, "language_tag": "en_US", "marketplace_id": mp}]);
        let mut attrs = serde_json::Map::new();
        attrs.insert("item_name".into(), text(&l.title));
        if !l.brand.is_empty() {
            attrs.insert("brand".into(), text(&l.brand));
        }
        if !l.description.is_empty() {
            attrs.insert("product_description".into(), text(&l.description));
        }
        for (name, value) in &l.specifics {
            attrs.insert(name.clone(), text(value));
        }
        attrs.insert(
            "item_weight".into(),
            json!([{"value": l.weight, "unit": "kilograms", "marketplace_id": mp}]),
        );
        attrs.insert(
            "condition_type".into(),
            json!([{"value": "new_new", "marketplace_id": mp}]),
        );
        let mut fa = json!({"fulfillment_channel_code": "DEFAULT", "quantity": l.quantity, "marketplace_id": mp});
        if let Some(d) = l.lead_time {
            fa["lead_time_to_ship_max_days"] = json!(d);
        }
        attrs.insert("fulfillment_availability".into(), json!([fa]));
        attrs.insert(
            "purchasable_offer".into(),
            json!([{"marketplace_id": mp, "currency": sim.config.currency,
                    "our_price": [{"schedule": [{"value_with_tax": price_number(&l.price)}]}]}]),
        );
        item["attributes"] = Value::Object(attrs);
    }
    if wants("issues") {
        item["issues"] = json!(
            l.issues
                .iter()
                .map(|(c, m, f)| json!({
                    "code": c, "message": m, "severity": "ERROR", "attributeNames": [f],
                    "categories": ["INVALID_ATTRIBUTE"],
                }))
                .collect::<Vec<_>>()
        );
    }
    if wants("offers") {
        item["offers"] = json!([{
            "marketplaceId": mp, "offerType": "B2C",
            "price": {"currencyCode": sim.config.currency, "amount": l.price},
        }]);
    }
    if wants("fulfillmentAvailability") {
        let mut fa = vec![json!({"fulfillmentChannelCode": "DEFAULT", "quantity": l.quantity})];
        if let Some(q) = l.fba {
            fa.push(json!({"fulfillmentChannelCode": "AMAZON_NA", "quantity": q}));
        }
        item["fulfillmentAvailability"] = json!(fa);
    }
    item
}

fn price_number(text: &str) -> Value {
    text.parse::<serde_json::Number>()
        .map(Value::Number)
        .unwrap_or_else(|_| json!(text))
}

fn check_seller(sim: &Shared, seller: &str) -> Option<Response> {
    if seller != sim.config.seller_id {
        return Some(amz_error(
            StatusCode::FORBIDDEN,
            "Unauthorized",
            "Access to requested resource is denied.",
            "The sellerId does not match the authorized selling partner.",
        ));
    }
    None
}

async fn search_listings(
    State(sim): State<Shared>,
    Path(seller): Path<String>,
    Query(p): Params,
) -> Response {
    if let Some(r) =
        check_seller(&sim, &seller).or_else(|| check_marketplace(&sim, &p, "marketplaceIds"))
    {
        return r;
    }
    let size: usize = match p.get("pageSize").map(|s| s.parse::<usize>()) {
        None => 10,
        Some(Ok(n)) if (1..=20).contains(&n) => n,
        Some(_) => return invalid("pageSize must be between 1 and 20."),
    };
    let offset: usize = match p.get("pageToken") {
        Some(t) => match decode_token(t).and_then(|v| v["offset"].as_u64()) {
            Some(o) => o as usize,
            None => return invalid("Invalid pageToken."),
        },
        None => 0,
    };
    let skus = list(&p, "identifiers");
    if !skus.is_empty() && p.get("identifiersType").map(String::as_str) != Some("SKU") {
        return invalid("identifiersType must be SKU for these identifiers.");
    }
    let after = p.get("lastUpdatedAfter").and_then(|t| parse_time(t));
    let included = list(&p, "includedData");
    let st = sim.state();
    let matching: Vec<&Listing> = st
        .listings
        .values()
        .filter(|l| {
            (skus.is_empty() || skus.contains(&l.sku)) && after.is_none_or(|a| l.updated >= a)
        })
        .collect();
    let items: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(size)
        .map(|l| item_json(&sim, l, &included))
        .collect();
    let mut body = json!({"numberOfResults": matching.len(), "items": items});
    if offset + size < matching.len() {
        body["pagination"] = json!({"nextToken": encode_token(&json!({"offset": offset + size}))});
    }
    Json(body).into_response()
}

async fn get_listing(
    State(sim): State<Shared>,
    Path((seller, sku)): Path<(String, String)>,
    Query(p): Params,
) -> Response {
    if let Some(r) =
        check_seller(&sim, &seller).or_else(|| check_marketplace(&sim, &p, "marketplaceIds"))
    {
        return r;
    }
    let st = sim.state();
    match st.listings.get(&sku) {
        Some(l) => Json(item_json(&sim, l, &list(&p, "includedData"))).into_response(),
        None => not_found(&format!("SKU '{sku}' not found in marketplace.")),
    }
}

/// An issue of a submission or feed message.
fn issue(code: &str, message: &str, attribute: &str) -> Value {
    json!({"code": code, "message": message, "severity": "ERROR", "attributeNames": [attribute]})
}

/// Applies (or, with `apply` false, only checks) JSON Patch operations on a listing; the
/// issues found. `counts` says whether stock/price changes count as updates.
fn apply_patches(l: &mut Listing, patches: &[Value], apply: bool) -> Vec<Value> {
    let mut issues = Vec::new();
    let mut next = l.clone();
    let mut touched_offer = false;
    for p in patches {
        let op = p["op"].as_str().unwrap_or_default();
        let path = p["path"].as_str().unwrap_or_default();
        let Some(attr) = path.strip_prefix("/attributes/") else {
            issues.push(issue(
                "4000001",
                &format!("The path '{path}' is not valid."),
                path,
            ));
            continue;
        };
        if !matches!(op, "replace" | "add" | "merge") {
            issues.push(issue(
                "4000002",
                &format!("The operation '{op}' is not supported here."),
                attr,
            ));
            continue;
        }
        let first = &p["value"][0];
        let text = first["value"]
            .as_str()
            .unwrap_or_default()
            .trim()
            .to_string();
        match attr {
            "item_name" if text.is_empty() => issues.push(issue(
                "90220",
                "'item_name' is required but not supplied.",
                attr,
            )),
            "item_name" if text.chars().count() > 200 => issues.push(issue(
                "8560",
                "'item_name' exceeds the maximum length of 200 characters.",
                attr,
            )),
            "item_name" => next.title = text,
            "product_description" if text.chars().count() > 2000 => issues.push(issue(
                "8560",
                "'product_description' exceeds the maximum length of 2000 characters.",
                attr,
            )),
            "product_description" => next.description = text,
            "brand" if text.is_empty() => issues.push(issue(
                "90220",
                "'brand' is required but not supplied.",
                attr,
            )),
            "brand" => next.brand = text,
            "color" | "material" | "size" if text.is_empty() || text.chars().count() > 100 => {
                issues.push(issue(
                    "8560",
                    &format!("'{attr}' must have a value of 1 to 100 characters."),
                    attr,
                ))
            }
            "color" | "material" | "size" => {
                next.specifics.insert(attr.to_string(), text);
            }
            "item_weight" => match first["value"].as_f64() {
                Some(w) if w > 0.0 => next.weight = w,
                _ => issues.push(issue(
                    "8541",
                    "'item_weight' must be a positive number.",
                    attr,
                )),
            },
            "fulfillment_availability" => match first["quantity"].as_i64() {
                Some(q) if q >= 0 => {
                    next.quantity = q;
                    touched_offer = true;
                }
                _ => issues.push(issue(
                    "90241",
                    "'quantity' must be a whole number of 0 or more.",
                    attr,
                )),
            },
            "purchasable_offer" => {
                let amount = &first["our_price"][0]["schedule"][0]["value_with_tax"];
                let text = match amount {
                    Value::Number(n) => n.to_string(),
                    Value::String(s) => s.clone(),
                    _ => String::new(),
                };
                match text.parse::<f64>() {
                    Ok(v) if v > 0.0 && demo::decimals(&text) <= 2 => {
                        next.price = cents(demo::to_units(&text));
                        touched_offer = true;
                    }
                    _ => issues.push(issue(
                        "90244",
                        &format!(
                            "The price '{text}' is not a positive amount with at most 2 decimals."
                        ),
                        attr,
                    )),
                }
            }
            other => issues.push(issue(
                "90000",
                &format!(
                    "The attribute '{other}' is not supported by product type {}.",
                    l.product_type
                ),
                other,
            )),
        }
    }
    if apply && issues.is_empty() {
        if touched_offer {
            next.updates += 1;
        }
        next.updated = Utc::now();
        *l = next;
    }
    issues
}

async fn patch_listing(
    State(sim): State<Shared>,
    Path((seller, sku)): Path<(String, String)>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    if let Some(r) =
        check_seller(&sim, &seller).or_else(|| check_marketplace(&sim, &p, "marketplaceIds"))
    {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return invalid("The request body is not valid JSON.");
    };
    let (Some(_), Some(patches)) = (body["productType"].as_str(), body["patches"].as_array())
    else {
        return invalid("productType and patches are required.");
    };
    let preview = match p.get("mode").map(String::as_str) {
        None => false,
        Some("VALIDATION_PREVIEW") => true,
        Some(_) => return invalid("mode must be VALIDATION_PREVIEW."),
    };
    let mut st = sim.state();
    let Some(l) = st.listings.get_mut(&sku) else {
        return not_found(&format!("SKU '{sku}' not found in marketplace."));
    };
    let issues = apply_patches(l, patches, !preview);
    let status = match (issues.is_empty(), preview) {
        (false, _) => "INVALID",
        (true, true) => "VALID",
        (true, false) => "ACCEPTED",
    };
    Json(json!({
        "sku": sku, "status": status, "submissionId": format!("sub-{}", Utc::now().timestamp_micros()),
        "issues": issues,
    }))
    .into_response()
}

/// putListingsItem: creates the listing (or replaces the one of that sku) from its
/// attributes; every attribute is applied as a `replace` patch, so the same checks hold.
async fn put_listing(
    State(sim): State<Shared>,
    Path((seller, sku)): Path<(String, String)>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    if let Some(r) =
        check_seller(&sim, &seller).or_else(|| check_marketplace(&sim, &p, "marketplaceIds"))
    {
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return invalid("The request body is not valid JSON.");
    };
    let (Some(product_type), Some(attributes)) =
        (body["productType"].as_str(), body["attributes"].as_object())
    else {
        return invalid("productType and attributes are required.");
    };
    let preview = match p.get("mode").map(String::as_str) {
        None => false,
        Some("VALIDATION_PREVIEW") => true,
        Some(_) => return invalid("mode must be VALIDATION_PREVIEW."),
    };
    let patches: Vec<Value> = attributes
        .iter()
        .map(|(name, value)| json!({"op": "replace", "path": format!("/attributes/{name}"), "value": value}))
        .collect();
    let mut st = sim.state();
    let n = st.listings.len();
    let now = Utc::now();
    let mut listing = st
        .listings
        .get(&sku)
        .cloned()
        .unwrap_or_else(|| crate::amazon::Listing {
            sku: sku.clone(),
            asin: format!("B1{:08}", n + 1),
            title: String::new(),
            description: String::new(),
            brand: String::new(),
            product_type: product_type.to_string(),
            price: "0.00".into(),
            quantity: 0,
            fba: None,
            lead_time: None,
            weight: 0.0,
            image: String::new(),
            specifics: Default::default(),
            issues: Vec::new(),
            updates: 0,
            created: now,
            updated: now,
        });
    listing.product_type = product_type.to_string();
    let issues = apply_patches(&mut listing, &patches, true);
    let status = match (issues.is_empty(), preview) {
        (false, _) => "INVALID",
        (true, true) => "VALID",
        (true, false) => "ACCEPTED",
    };
    if status == "ACCEPTED" {
        st.listings.insert(sku.clone(), listing);
    }
    Json(json!({
        "sku": sku, "status": status, "submissionId": format!("sub-{}", Utc::now().timestamp_micros()),
        "issues": issues,
    }))
    .into_response()
}

async fn inventory_summaries(State(sim): State<Shared>, Query(p): Params) -> Response {
    if p.get("granularityType").map(String::as_str) != Some("Marketplace") {
        return invalid("granularityType must be Marketplace.");
    }
    if p.get("granularityId") != Some(&sim.config.marketplace_id) {
        return invalid("granularityId must be the marketplace id.");
    }
    if let Some(r) = check_marketplace(&sim, &p, "marketplaceIds") {
        return r;
    }
    let offset = match p.get("nextToken") {
        Some(t) => match decode_token(t).and_then(|v| v["offset"].as_u64()) {
            Some(o) => o as usize,
            None => return invalid("Invalid nextToken."),
        },
        None => 0,
    };
    let skus = list(&p, "sellerSkus");
    let details = p.get("details").map(String::as_str) == Some("true");
    let st = sim.state();
    let fba: Vec<&Listing> = st
        .listings
        .values()
        .filter(|l| l.fba.is_some() && (skus.is_empty() || skus.contains(&l.sku)))
        .collect();
    const PAGE: usize = 50;
    let summaries: Vec<Value> = fba
        .iter()
        .skip(offset)
        .take(PAGE)
        .map(|l| {
            let total = l.fba.unwrap_or(0);
            let reserved = total.min(1);
            let mut s = json!({
                "asin": l.asin, "fnSku": format!("X00{}", &l.asin[2..]), "sellerSku": l.sku,
                "condition": "NewItem", "lastUpdatedTime": iso(l.updated), "productName": l.title,
                "totalQuantity": total,
            });
            if details {
                s["inventoryDetails"] = json!({
                    "fulfillableQuantity": total - reserved,
                    "inboundWorkingQuantity": 0, "inboundShippedQuantity": 0, "inboundReceivingQuantity": 0,
                    "reservedQuantity": {"totalReservedQuantity": reserved, "pendingCustomerOrderQuantity": reserved,
                        "pendingTransshipmentQuantity": 0, "fcProcessingQuantity": 0},
                });
            }
            s
        })
        .collect();
    let mut body = json!({
        "payload": {
            "granularity": {"granularityType": "Marketplace", "granularityId": sim.config.marketplace_id},
            "inventorySummaries": summaries,
        },
    });
    if offset + PAGE < fba.len() {
        body["pagination"] = json!({"nextToken": encode_token(&json!({"offset": offset + PAGE}))});
    }
    Json(body).into_response()
}

fn new_id(st: &mut super::Account, prefix: &str) -> String {
    st.next_id += 1;
    format!("{prefix}{}", 50_000 + st.next_id)
}

async fn create_feed_document(State(sim): State<Shared>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return invalid("The request body is not valid JSON.");
    };
    if body["contentType"].as_str().is_none_or(str::is_empty) {
        return invalid("contentType is required.");
    }
    let mut st = sim.state();
    let id = new_id(&mut st, "amzn1.tortuga.4.na.doc");
    st.documents.insert(id.clone(), None);
    (
        StatusCode::CREATED,
        Json(json!({"feedDocumentId": id, "url": format!("{}/__docs/{id}", sim.base)})),
    )
        .into_response()
}

/// `PUT /__docs/{id}`: the upload to a pre-signed URL.
pub(super) async fn upload(
    State(sim): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if !sim.state().documents.contains_key(&id) {
        return (
            StatusCode::FORBIDDEN,
            "<Error><Code>AccessDenied</Code></Error>",
        )
            .into_response();
    }
    let parsed = serde_json::from_slice::<Value>(&body).map_err(|e| e.to_string());
    let mut st = sim.state();
    st.parsed.insert(id.clone(), parsed);
    match st.documents.get_mut(&id) {
        Some(doc) => {
            *doc = Some(body.to_vec());
            StatusCode::OK.into_response()
        }
        None => (
            StatusCode::FORBIDDEN,
            "<Error><Code>AccessDenied</Code></Error>",
        )
            .into_response(),
    }
}

/// `GET /__docs/{id}`: the download from a pre-signed URL.
pub(super) async fn download(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    if let Some(schema) = id.strip_prefix("schema-") {
        return match product_type_schema(schema, &sim.config.marketplace_id) {
            Some(s) => Json(s).into_response(),
            None => (
                StatusCode::NOT_FOUND,
                "<Error><Code>NoSuchKey</Code></Error>",
            )
                .into_response(),
        };
    }
    let st = sim.state();
    match st.documents.get(&id) {
        Some(Some(content)) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            content.clone(),
        )
            .into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            "<Error><Code>NoSuchKey</Code></Error>",
        )
            .into_response(),
    }
}

async fn get_feed_document(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    if !sim.state().documents.contains_key(&id) {
        return not_found(&format!("Feed document {id} was not found."));
    }
    Json(json!({"feedDocumentId": id, "url": format!("{}/__docs/{id}", sim.base)})).into_response()
}

async fn create_feed(State(sim): State<Shared>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return invalid("The request body is not valid JSON.");
    };
    if body["feedType"].as_str() != Some("JSON_LISTINGS_FEED") {
        return invalid("feedType is not supported by this simulator (JSON_LISTINGS_FEED only).");
    }
    let mps: Vec<&str> = body["marketplaceIds"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !mps.contains(&sim.config.marketplace_id.as_str()) {
        return invalid("marketplaceIds must name the seller's marketplace.");
    }
    let doc_id = body["inputFeedDocumentId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut st = sim.state();
    let parsed = match st.documents.get(&doc_id) {
        Some(Some(_)) => st
            .parsed
            .remove(&doc_id)
            .unwrap_or_else(|| Err("the document was already used by another feed".into())),
        Some(None) => return invalid("The input feed document was not uploaded."),
        None => return invalid("inputFeedDocumentId is not a feed document of this seller."),
    };
    // Applied when the processing time has passed.
    let (messages, fatal) = match parsed {
        Err(e) => (None, Some(format!("The feed is not valid JSON: {e}"))),
        Ok(mut doc) => {
            let msgs = match doc["messages"].take() {
                Value::Array(a) => a,
                _ => Vec::new(),
            };
            if doc["header"]["version"] != "2.0"
                || doc["header"]["sellerId"] != sim.config.seller_id.as_str()
            {
                (
                    None,
                    Some("The feed header must have version 2.0 and the seller's sellerId.".into()),
                )
            } else if msgs.is_empty() || msgs.len() > MAX_FEED_MESSAGES {
                (
                    None,
                    Some(format!(
                        "A feed must have between 1 and {MAX_FEED_MESSAGES} messages; it has {}.",
                        msgs.len()
                    )),
                )
            } else {
                (Some(msgs), None)
            }
        }
    };
    let count = messages.as_ref().map_or(0, Vec::len);
    let processing = sim.config.feed_base + sim.config.feed_per_message * count as u32;
    let id = new_id(&mut st, "");
    // One seller's feeds are processed one at a time, in the order they were created.
    let queue_free = st
        .feeds
        .iter()
        .map(|f| f.ready_at)
        .max()
        .unwrap_or_else(Instant::now)
        .max(Instant::now());
    st.feeds.push(SimFeed {
        id: id.clone(),
        created: Utc::now(),
        ready_at: queue_free + processing,
        status: "IN_QUEUE".into(),
        messages,
        fatal,
        result_doc: None,
        message_count: count,
    });
    // The feed is applied when its processing ends, whether or not anyone asks for it then.
    let ready_at = queue_free + processing;
    drop(st);
    let waker = sim.clone();
    tokio::spawn(async move {
        tokio::time::sleep_until(ready_at.into()).await;
        process_due(&waker);
    });
    (StatusCode::ACCEPTED, Json(json!({"feedId": id}))).into_response()
}

/// Processes every feed whose time has come.
pub(super) fn process_due(sim: &Shared) {
    let now = Instant::now();
    let mut st = sim.state();
    let due: Vec<usize> = st
        .feeds
        .iter()
        .enumerate()
        .filter(|(_, f)| f.result_doc.is_none() && f.ready_at <= now)
        .map(|(i, _)| i)
        .collect();
    let mut applied = false;
    for i in due {
        let feed = st.feeds[i].clone();
        let mut issues = Vec::new();
        let (mut accepted, mut invalid_count) = (0u64, 0u64);
        if let Some(why) = &feed.fatal {
            issues.push(json!({"code": "4000000", "severity": "ERROR", "message": why}));
        }
        for m in feed.messages.iter().flatten() {
            let id = m["messageId"].as_u64().filter(|i| *i >= 1);
            let sku = m["sku"].as_str().unwrap_or_default().to_string();
            let mut problems: Vec<Value> = Vec::new();
            if id.is_none() || sku.is_empty() {
                problems.push(json!({"code": "4000001", "severity": "ERROR", "message": "messageId and sku are required."}));
            } else if m["operationType"] != "PATCH" && m["operationType"] != "PARTIAL_UPDATE" {
                problems.push(json!({"code": "4000002", "severity": "ERROR", "message": "Only PATCH and PARTIAL_UPDATE are supported by this simulator."}));
            } else if m["productType"].as_str().is_none_or(str::is_empty) {
                problems.push(json!({"code": "4000003", "severity": "ERROR", "message": "productType is required."}));
            } else {
                match st.listings.get_mut(&sku) {
                    None => problems.push(json!({"code": "4000004", "severity": "ERROR",
                        "message": format!("SKU '{sku}' does not exist for this seller; create the listing first.")})),
                    Some(l) => {
                        let patches = m["patches"].as_array().cloned().unwrap_or_default();
                        for mut p in apply_patches(l, &patches, true) {
                            if let Some(o) = p.as_object_mut() {
                                let attr = o.remove("attributeNames").and_then(|a| a[0].as_str().map(str::to_string));
                                if let Some(a) = attr {
                                    o.insert("attributeName".into(), json!(a));
                                }
                            }
                            problems.push(p);
                        }
                    }
                }
            }
            if problems.is_empty() {
                accepted += 1;
            } else {
                invalid_count += 1;
                for mut p in problems {
                    if let Some(id) = id {
                        p["messageId"] = json!(id);
                    }
                    if !sku.is_empty() {
                        p["sku"] = json!(sku);
                    }
                    issues.push(p);
                }
            }
        }
        let report = json!({
            "header": {"sellerId": sim.config.seller_id, "version": "2.0", "feedId": feed.id},
            "issues": issues,
            "summary": {
                "errors": issues.len(), "warnings": 0,
                "messagesProcessed": feed.message_count, "messagesAccepted": accepted,
                "messagesInvalid": invalid_count,
            },
        });
        let doc = new_id(&mut st, "amzn1.tortuga.4.na.report");
        st.documents
            .insert(doc.clone(), Some(report.to_string().into_bytes()));
        let f = &mut st.feeds[i];
        f.status = if feed.fatal.is_some() {
            "FATAL"
        } else {
            "DONE"
        }
        .into();
        f.result_doc = Some(doc);
        f.messages = None;
        applied = true;
    }
    if applied {
        sim.log_applied(&st);
    }
    // Feeds not yet due show IN_PROGRESS once half their time has passed.
    for f in st.feeds.iter_mut().filter(|f| f.result_doc.is_none()) {
        if f.ready_at.saturating_duration_since(now) < Duration::from_millis(500) {
            f.status = "IN_PROGRESS".into();
        }
    }
}

async fn get_feed(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    process_due(&sim);
    let st = sim.state();
    let Some(f) = st.feeds.iter().find(|f| f.id == id) else {
        return not_found(&format!("Feed {id} was not found."));
    };
    let mut body = json!({
        "feedId": f.id, "feedType": "JSON_LISTINGS_FEED",
        "marketplaceIds": [sim.config.marketplace_id],
        "createdTime": iso(f.created), "processingStatus": f.status,
    });
    if let Some(doc) = &f.result_doc {
        body["resultFeedDocumentId"] = json!(doc);
        body["processingEndTime"] = json!(iso(Utc::now()));
    }
    Json(body).into_response()
}

/// The simulator's own schema of a demo product type, in the style of Amazon's product type
/// definitions (attributes as arrays of `{value, language_tag, marketplace_id}`).
pub(crate) fn product_type_schema(product_type: &str, marketplace_id: &str) -> Option<Value> {
    if product_type != "HOME" {
        return None;
    }
    let text = |title: &str, max: u64| {
        json!({
            "title": title, "type": "array", "minItems": 1, "maxItems": 1,
            "items": {"type": "object", "required": ["value"], "properties": {
                "value": {"type": "string", "minLength": 1, "maxLength": max},
                "language_tag": {"type": "string"},
                "marketplace_id": {"type": "string", "enum": [marketplace_id]},
            }},
        })
    };
    Some(json!({
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": format!("https://schemas.marketsync.test/product-types/HOME/{marketplace_id}"),
        "$comment": "Demo product type of the marketsync Amazon simulator.",
        "type": "object",
        "required": ["item_name", "brand", "product_description", "condition_type"],
        "properties": {
            "item_name": text("Item Name", 200),
            "brand": text("Brand Name", 100),
            "product_description": text("Product Description", 2000),
            "color": text("Colour", 100),
            "material": text("Material", 100),
            "size": text("Size", 100),
            "condition_type": {"type": "array", "items": {"type": "object", "required": ["value"],
                "properties": {"value": {"type": "string", "enum": ["new_new", "refurbished_refurbished", "used_good"]}}}},
            "item_weight": {"type": "array", "items": {"type": "object", "required": ["value", "unit"],
                "properties": {"value": {"type": "number", "exclusiveMinimum": 0},
                               "unit": {"type": "string", "enum": ["grams", "kilograms", "pounds", "ounces"]}}}},
        },
    }))
}

async fn product_type_definition(
    State(sim): State<Shared>,
    Path(product_type): Path<String>,
    Query(p): Params,
) -> Response {
    if let Some(r) = check_marketplace(&sim, &p, "marketplaceIds") {
        return r;
    }
    let Some(schema) = product_type_schema(&product_type, &sim.config.marketplace_id) else {
        return not_found(&format!("Product type {product_type} was not found."));
    };
    let checksum = format!("{:x}", schema.to_string().len());
    Json(json!({
        "metaSchema": {"link": {"resource": "https://json-schema.org/draft/2019-09/schema", "verb": "GET"}, "checksum": "draft-2019-09"},
        "schema": {"link": {"resource": format!("{}/__docs/schema-{product_type}", sim.base), "verb": "GET"}, "checksum": checksum},
        "requirements": "LISTING",
        "requirementsEnforced": "ENFORCED",
        "propertyGroups": {"offer": {"title": "Offer", "propertyNames": ["condition_type"]},
                           "product_identity": {"title": "Product Identity", "propertyNames": ["item_name", "brand", "product_description"]}},
        "locale": "en_US",
        "marketplaceIds": [sim.config.marketplace_id],
        "productType": product_type,
        "displayName": "Home",
        "productTypeVersion": {"version": "SIM-1", "latest": true},
    }))
    .into_response()
}

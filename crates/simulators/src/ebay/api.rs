//! The eBay API routes: OAuth token endpoint, Inventory, Fulfillment, Account and Notification.

// Handlers bail out with a ready `Response`; its size does not matter in a test server.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{
    Fulfillment, Listing, MAX_BULK, MAX_LIMIT, Shared, SimOrder, ebay_time, error, relock,
};
use crate::demo::{self, DemoParty};

type Params = HashMap<String, String>;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/identity/v1/oauth2/token", post(token))
        .route("/sell/inventory/v1/inventory_item", get(items))
        .route(
            "/sell/inventory/v1/inventory_item/{sku}",
            get(item).put(put_item),
        )
        .route(
            "/sell/inventory/v1/bulk_update_price_quantity",
            post(bulk_price_quantity),
        )
        .route(
            "/sell/inventory/v1/bulk_create_or_replace_inventory_item",
            post(bulk_items),
        )
        .route("/sell/inventory/v1/offer", get(offers))
        .route("/sell/inventory/v1/offer/{offer_id}", get(offer))
        .route("/sell/fulfillment/v1/order", get(orders))
        .route("/sell/fulfillment/v1/order/{order_id}", get(order))
        .route(
            "/sell/fulfillment/v1/order/{order_id}/shipping_fulfillment",
            get(fulfillments).post(create_fulfillment),
        )
        .route("/sell/account/v1/return_policy", get(return_policies))
        .route(
            "/commerce/notification/v1/public_key/{kid}",
            get(public_key),
        )
        .route("/commerce/notification/v1/topic", get(topics))
        .route(
            "/commerce/notification/v1/destination",
            get(destinations).post(create_destination),
        )
        .route(
            "/commerce/notification/v1/subscription",
            get(subscriptions).post(create_subscription),
        )
        .route(
            "/commerce/notification/v1/subscription/{id}/test",
            post(test_subscription),
        )
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn bad(id: u32, domain: &str, message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, id, domain, message)
}

fn parse_json(body: &[u8], domain: &str) -> Result<Value, Response> {
    serde_json::from_slice(body)
        .map_err(|e| bad(2004, domain, &format!("Request decoding failed: {e}")))
}

fn form(body: &[u8]) -> HashMap<String, String> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                    match u8::from_str_radix(hex, 16) {
                        Ok(b) => {
                            out.push(b);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": code, "error_description": description})),
    )
        .into_response()
}

/// POST /identity/v1/oauth2/token: refresh-token and client-credentials grants.
async fn token(State(sim): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    relock(&sim.stats).requests += 1;
    let expected = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        sim.config.client_id, sim.config.client_secret
    ));
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .map(str::trim);
    if basic != Some(expected.as_str()) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    }
    let f = form(&body);
    let ttl = sim.config.token_ttl_secs;
    match f.get("grant_type").map(String::as_str) {
        Some("refresh_token") => {
            if sim.revoked.load(Ordering::SeqCst)
                || f.get("refresh_token") != Some(&sim.config.refresh_token)
            {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the provided authorization refresh token is invalid or was issued to another client",
                );
            }
            let t = sim.issue(false);
            ok(json!({"access_token": t, "expires_in": ttl, "token_type": "User Access Token"}))
        }
        Some("client_credentials") => {
            let t = sim.issue(true);
            ok(
                json!({"access_token": t, "expires_in": ttl, "token_type": "Application Access Token"}),
            )
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant type in request is not supported by the authorization server",
        ),
    }
}

fn item_json(l: &Listing) -> Value {
    let mut v = json!({
        "sku": l.sku,
        "locale": "en_US",
        "product": l.product,
        "condition": l.condition,
        "availability": {"shipToLocationAvailability": {"quantity": l.quantity}},
    });
    if let Some(p) = &l.package {
        v["packageWeightAndSize"] = p.clone();
    }
    v
}

pub(super) fn offer_json(l: &Listing) -> Value {
    let mut policies = json!({
        "fulfillmentPolicyId": "6196940000",
        "paymentPolicyId": "6196945000",
    });
    if let Some(r) = &l.return_policy_id {
        policies["returnPolicyId"] = json!(r);
    }
    let mut v = json!({
        "offerId": l.offer_id,
        "sku": l.sku,
        "marketplaceId": "EBAY_US",
        "format": "FIXED_PRICE",
        "availableQuantity": l.quantity,
        "categoryId": l.category_id,
        "listingDescription": l.product.get("description").cloned().unwrap_or(json!("")),
        "listingPolicies": policies,
        "merchantLocationKey": "WAREHOUSE-1",
        "pricingSummary": {"price": {"value": l.price, "currency": l.currency}},
        "status": if l.published { "PUBLISHED" } else { "UNPUBLISHED" },
    });
    if l.published {
        v["listing"] = json!({
            "listingId": format!("1{}", &l.offer_id[1..]),
            "listingStatus": if l.quantity > 0 { "ACTIVE" } else { "OUT_OF_STOCK" },
            "listingOnHold": l.on_hold,
            "soldQuantity": 0,
        });
    }
    v
}

fn int_param(p: &Params, name: &str, default: usize, domain: &str) -> Result<usize, Response> {
    match p.get(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| bad(25709, domain, &format!("Invalid value for {name}."))),
    }
}

/// GET inventory_item: `limit` 1..=200 (default 25), `offset` = page number.
async fn items(State(sim): State<Shared>, Query(p): Query<Params>) -> Response {
    let limit = match int_param(&p, "limit", 25, "API_INVENTORY") {
        Ok(l) if (1..=MAX_LIMIT).contains(&l) => l,
        Ok(_) => {
            return bad(
                25709,
                "API_INVENTORY",
                "Invalid value for limit. The maximum is 200.",
            );
        }
        Err(r) => return r,
    };
    let page = match int_param(&p, "offset", 0, "API_INVENTORY") {
        Ok(o) => o,
        Err(r) => return r,
    };
    let listings = relock(&sim.listings);
    let total = listings.len();
    let slice: Vec<Value> = listings
        .iter()
        .skip(page * limit)
        .take(limit)
        .map(item_json)
        .collect();
    let href = |o: usize| {
        format!("https://api.ebay.com/sell/inventory/v1/inventory_item?limit={limit}&offset={o}")
    };
    let mut body = json!({
        "href": href(page),
        "limit": limit,
        "size": slice.len(),
        "total": total,
        "inventoryItems": slice,
    });
    if (page + 1) * limit < total {
        body["next"] = json!(href(page + 1));
    }
    if page > 0 {
        body["prev"] = json!(href(page - 1));
    }
    ok(body)
}

fn sku_missing(sku: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        25710,
        "API_INVENTORY",
        &format!("We didn't find the resource/entity you are requesting. SKU {sku} not found."),
    )
}

async fn item(State(sim): State<Shared>, Path(sku): Path<String>) -> Response {
    let idx = relock(&sim.by_sku).get(&sku).copied();
    match idx {
        Some(i) => ok(item_json(&relock(&sim.listings)[i])),
        None => sku_missing(&sku),
    }
}

fn content_language(headers: &HeaderMap) -> Result<(), Response> {
    match headers
        .get("content-language")
        .and_then(|v| v.to_str().ok())
    {
        Some(l) if !l.trim().is_empty() => Ok(()),
        _ => Err(bad(
            25709,
            "API_INVENTORY",
            "Invalid value for header Content-Language.",
        )),
    }
}

/// Validates an inventory item body; `Err(message)`.
fn check_item(body: &Value) -> Result<(), String> {
    if !body.is_object() {
        return Err("The inventory item must be an object.".into());
    }
    if let Some(p) = body.get("product") {
        if let Some(t) = p.get("title") {
            let t = t.as_str().unwrap_or_default();
            if t.is_empty() || t.chars().count() > 80 {
                return Err("The title must be 1 to 80 characters.".into());
            }
        }
        if let Some(a) = p.get("aspects")
            && !a.is_object()
        {
            return Err("product.aspects must be an object of arrays of strings.".into());
        }
    }
    Ok(())
}

fn apply_item(sim: &Shared, sku: &str, body: &Value) -> bool {
    // Locks in the order every other path takes them: `by_sku`, then `listings`.
    let mut by_sku = relock(&sim.by_sku);
    let idx = by_sku.get(sku).copied();
    let mut listings = relock(&sim.listings);
    let quantity = body
        .pointer("/availability/shipToLocationAvailability/quantity")
        .and_then(Value::as_i64);
    match idx {
        Some(i) => {
            let l = &mut listings[i];
            if let Some(p) = body.get("product") {
                l.product = p.clone();
            }
            if let Some(c) = body.get("condition").and_then(Value::as_str) {
                l.condition = c.to_string();
            }
            l.package = body.get("packageWeightAndSize").cloned();
            if let Some(q) = quantity {
                l.quantity = q;
            }
            false
        }
        None => {
            let n = listings.len();
            listings.push(Listing {
                sku: sku.to_string(),
                product: body.get("product").cloned().unwrap_or(json!({})),
                condition: body
                    .get("condition")
                    .and_then(Value::as_str)
                    .unwrap_or("NEW")
                    .into(),
                package: body.get("packageWeightAndSize").cloned(),
                offer_id: format!("{}", 5_000_000_000u64 + n as u64),
                price: "0.00".into(),
                currency: "USD".into(),
                quantity: quantity.unwrap_or(0),
                published: false,
                on_hold: false,
                return_policy_id: None,
                category_id: String::new(),
                updates: 0,
            });
            by_sku.insert(sku.to_string(), n);
            true
        }
    }
}

/// PUT inventory_item/{sku} (createOrReplaceInventoryItem).
async fn put_item(
    State(sim): State<Shared>,
    Path(sku): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = content_language(&headers) {
        return r;
    }
    let body = match parse_json(&body, "API_INVENTORY") {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Err(m) = check_item(&body) {
        return bad(25002, "API_INVENTORY", &m);
    }
    if apply_item(&sim, &sku, &body) {
        (StatusCode::CREATED, axum::Json(json!({}))).into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

fn too_many() -> Response {
    bad(
        25709,
        "API_INVENTORY",
        "Invalid value for requests. A bulk call takes at most 25 requests.",
    )
}

/// POST bulk_create_or_replace_inventory_item.
async fn bulk_items(State(sim): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = content_language(&headers) {
        return r;
    }
    let body = match parse_json(&body, "API_INVENTORY") {
        Ok(b) => b,
        Err(r) => return r,
    };
    let requests = body
        .get("requests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if requests.is_empty() || requests.len() > MAX_BULK {
        return too_many();
    }
    let mut all_ok = true;
    let responses: Vec<Value> = requests
        .iter()
        .map(|r| {
            let sku = r.get("sku").and_then(Value::as_str).unwrap_or_default();
            match check_item(r) {
                Ok(()) if !sku.is_empty() => {
                    apply_item(&sim, sku, r);
                    json!({"sku": sku, "locale": "en_US", "statusCode": 200})
                }
                other => {
                    all_ok = false;
                    let msg = other.err().unwrap_or_else(|| "The SKU is missing.".into());
                    json!({"sku": sku, "statusCode": 400, "errors": [{
                        "errorId": 25002, "domain": "API_INVENTORY", "category": "REQUEST", "message": msg}]})
                }
            }
        })
        .collect();
    let status = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    (status, axum::Json(json!({"responses": responses}))).into_response()
}

fn valid_price(text: &str) -> bool {
    let t = text.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && frac.len() <= 2
        && frac.chars().all(|c| c.is_ascii_digit())
        && demo::to_units(t) > 0
}

fn req_error(id: u32, message: &str) -> Value {
    json!([{"errorId": id, "domain": "API_INVENTORY", "category": "REQUEST", "message": message}])
}

/// POST bulk_update_price_quantity: at most 25 requests; one response per offer (per sku when
/// the request has no offers); 200 when all succeeded, 207 otherwise.
async fn bulk_price_quantity(State(sim): State<Shared>, body: Bytes) -> Response {
    let body = match parse_json(&body, "API_INVENTORY") {
        Ok(b) => b,
        Err(r) => return r,
    };
    let requests = body
        .get("requests")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if requests.is_empty() || requests.len() > MAX_BULK {
        return too_many();
    }
    let offer_count: usize = requests
        .iter()
        .map(|r| {
            r.get("offers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        })
        .sum();
    if offer_count > MAX_BULK {
        return too_many();
    }
    let mut responses = Vec::new();
    let mut all_ok = true;
    let mut events: Vec<(&'static str, Value)> = Vec::new();
    {
        let by_sku = relock(&sim.by_sku);
        let mut listings = relock(&sim.listings);
        for r in &requests {
            let sku = r
                .get("sku")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let offers = r
                .get("offers")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let Some(&i) = by_sku.get(&sku) else {
                all_ok = false;
                responses.push(json!({"sku": sku, "statusCode": 404,
                    "errors": req_error(25702, &format!("SKU {sku} is not available in the system."))}));
                continue;
            };
            let l = &mut listings[i];
            let ship_to = r
                .pointer("/shipToLocationAvailability/quantity")
                .map(|q| q.as_i64().filter(|q| *q >= 0));
            // Validate everything first: a request is applied whole or not at all.
            let mut problem: Option<(Option<String>, u32, String)> = None;
            if let Some(None) = ship_to {
                problem = Some((
                    None,
                    25604,
                    "Invalid quantity: it must be 0 or more.".into(),
                ));
            }
            let mut changes = Vec::new();
            for o in &offers {
                let id = o
                    .get("offerId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                if id != l.offer_id {
                    problem = Some((
                        Some(id.clone()),
                        25713,
                        format!("Offer {id} is not available for SKU {sku}."),
                    ));
                    break;
                }
                let q = match o.get("availableQuantity") {
                    None => None,
                    Some(q) => match q.as_i64().filter(|q| *q >= 0) {
                        Some(q) => Some(q),
                        None => {
                            problem = Some((
                                Some(id.clone()),
                                25604,
                                "Invalid availableQuantity.".into(),
                            ));
                            break;
                        }
                    },
                };
                let price = match o.get("price") {
                    None => None,
                    Some(p) => {
                        let value = p.get("value").and_then(Value::as_str).unwrap_or_default();
                        let currency = p.get("currency").and_then(Value::as_str).unwrap_or("USD");
                        if !valid_price(value) || currency != l.currency {
                            problem = Some((
                                Some(id.clone()),
                                25711,
                                format!(
                                    "Invalid price {value} {currency}: a positive amount with at most 2 decimals in {} is required.",
                                    l.currency
                                ),
                            ));
                            break;
                        }
                        Some(value.to_string())
                    }
                };
                changes.push((id, q, price));
            }
            if let Some((offer, id, msg)) = problem {
                all_ok = false;
                let mut resp =
                    json!({"sku": sku, "statusCode": 400, "errors": req_error(id, &msg)});
                if let Some(o) = offer {
                    resp["offerId"] = json!(o);
                }
                responses.push(resp);
                continue;
            }
            let mut changed = false;
            if let Some(Some(q)) = ship_to {
                changed |= l.quantity != q;
                l.quantity = q;
            }
            for (id, q, price) in &changes {
                if let Some(q) = q {
                    changed |= l.quantity != *q;
                    l.quantity = *q;
                }
                if let Some(p) = price {
                    if &l.price != p {
                        events.push(("ITEM_PRICE_REVISION", json!({"sku": sku, "offerId": id, "price": {"value": p, "currency": l.currency}})));
                    }
                    l.price = p.clone();
                }
                responses.push(json!({"sku": sku, "offerId": id, "statusCode": 200}));
            }
            if changed {
                events.push((
                    "ITEM_AVAILABILITY",
                    json!({"sku": sku, "offerId": l.offer_id, "availableQuantity": l.quantity}),
                ));
            }
            if offers.is_empty() {
                responses.push(json!({"sku": sku, "statusCode": 200}));
            }
            if ship_to.is_some() || !changes.is_empty() {
                l.updates += 1;
            }
        }
    }
    for (topic, data) in events {
        sim.notify(topic, data);
    }
    let status = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    (status, axum::Json(json!({"responses": responses}))).into_response()
}

/// GET offer?sku=: the sku's offers (404 when it has none).
async fn offers(State(sim): State<Shared>, Query(p): Query<Params>) -> Response {
    let Some(sku) = p.get("sku").filter(|s| !s.is_empty()) else {
        return bad(
            25707,
            "API_INVENTORY",
            "This is an invalid value for a SKU. A SKU is required.",
        );
    };
    if let Some(m) = p.get("marketplace_id")
        && m != "EBAY_US"
    {
        return error(
            StatusCode::NOT_FOUND,
            25713,
            "API_INVENTORY",
            "This Offer is not available.",
        );
    }
    let idx = relock(&sim.by_sku).get(sku).copied();
    let Some(i) = idx else {
        return error(
            StatusCode::NOT_FOUND,
            25713,
            "API_INVENTORY",
            "This Offer is not available.",
        );
    };
    let l = relock(&sim.listings)[i].clone();
    if l.price == "0.00" && !l.published && l.category_id.is_empty() {
        // An inventory item created through the API has no offer yet.
        return error(
            StatusCode::NOT_FOUND,
            25713,
            "API_INVENTORY",
            "This Offer is not available.",
        );
    }
    ok(json!({
        "href": format!("https://api.ebay.com/sell/inventory/v1/offer?sku={sku}"),
        "limit": 100,
        "size": 1,
        "total": 1,
        "offers": [offer_json(&l)],
    }))
}

async fn offer(State(sim): State<Shared>, Path(offer_id): Path<String>) -> Response {
    let listings = relock(&sim.listings);
    match listings.iter().find(|l| l.offer_id == offer_id) {
        Some(l) => ok(offer_json(l)),
        None => error(
            StatusCode::NOT_FOUND,
            25713,
            "API_INVENTORY",
            "This Offer is not available.",
        ),
    }
}

fn money(units: i64, currency: &str) -> Value {
    let cents = (units + 50) / 100;
    json!({"value": format!("{}.{:02}", cents / 100, cents % 100), "currency": currency})
}

fn contact(p: &DemoParty) -> Value {
    json!({
        "fullName": format!("{} {}", p.first_name, p.last_name),
        "contactAddress": {
            "addressLine1": p.street,
            "city": p.city,
            "stateOrProvince": p.state,
            "postalCode": p.zip,
            "countryCode": p.country_iso2,
        },
        "primaryPhone": {"phoneNumber": p.phone},
        "email": p.email,
    })
}

pub(super) fn order_json(o: &SimOrder) -> Value {
    let c = o.currency.as_str();
    let total = o.total();
    let lines: Vec<Value> = o
        .lines
        .iter()
        .map(|l| {
            let shipped = o.shipped(&l.id);
            json!({
                "lineItemId": l.id,
                "legacyItemId": format!("1{}", &l.id[1..12.min(l.id.len())]),
                "sku": l.sku,
                "title": l.title,
                "quantity": l.quantity,
                "lineItemCost": money(l.unit * l.quantity, c),
                "total": money(l.unit * l.quantity, c),
                "soldFormat": "FIXED_PRICE",
                "listingMarketplaceId": "EBAY_US",
                "purchaseMarketplaceId": "EBAY_US",
                "lineItemFulfillmentStatus": if shipped >= l.quantity { "FULFILLED" } else if shipped > 0 { "IN_PROGRESS" } else { "NOT_STARTED" },
            })
        })
        .collect();
    let refunds: Vec<Value> = o
        .refunds
        .iter()
        .map(|(id, amount, date)| {
            json!({"refundId": id, "refundDate": ebay_time(*date), "amount": money(*amount, c), "refundStatus": "REFUNDED"})
        })
        .collect();
    let mut cancel = json!({"cancelState": if o.cancelled { "CANCELED" } else { "NONE_REQUESTED" }, "cancelRequests": []});
    if o.cancelled {
        cancel["cancelledDate"] = json!(ebay_time(o.modified));
    }
    json!({
        "orderId": o.id,
        "legacyOrderId": o.id,
        "creationDate": ebay_time(o.created),
        "lastModifiedDate": ebay_time(o.modified),
        "orderFulfillmentStatus": o.fulfillment_status(),
        "orderPaymentStatus": o.payment_status(),
        "sellerId": "sim_seller",
        "salesRecordReference": o.id.replace('-', ""),
        "buyer": {"username": o.buyer.email.split('@').next().unwrap_or("buyer"), "buyerRegistrationAddress": contact(&o.buyer)},
        "pricingSummary": {"priceSubtotal": money(total, c), "total": money(total, c)},
        "cancelStatus": cancel,
        "paymentSummary": {
            "totalDueSeller": money(total, c),
            "refunds": refunds,
            "payments": [{"paymentMethod": "EBAY", "paymentStatus": if o.paid { "PAID" } else { "PENDING" }, "amount": money(total, c)}],
        },
        "fulfillmentStartInstructions": [{
            "fulfillmentInstructionsType": "SHIP_TO",
            "ebaySupportedFulfillment": false,
            "shippingStep": {"shipTo": contact(&o.ship_to), "shippingCarrierCode": "USPS", "shippingServiceCode": "USPSPriority"},
        }],
        "fulfillmentHrefs": o.fulfillments.iter().map(|f| format!("https://api.ebay.com/sell/fulfillment/v1/order/{}/shipping_fulfillment/{}", o.id, f.id)).collect::<Vec<_>>(),
        "lineItems": lines,
    })
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `lastmodifieddate:[from..to]` / `creationdate:[from..to]` → (field, from, to).
#[allow(clippy::type_complexity)]
fn parse_filter(
    f: &str,
) -> Result<Vec<(String, Option<DateTime<Utc>>, Option<DateTime<Utc>>)>, String> {
    let mut out = Vec::new();
    for part in f.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (field, range) = part
            .split_once(':')
            .ok_or_else(|| format!("invalid filter `{part}`"))?;
        match field {
            "lastmodifieddate" | "creationdate" => {
                let inner = range
                    .strip_prefix('[')
                    .and_then(|r| r.strip_suffix(']'))
                    .ok_or_else(|| format!("invalid date range `{range}`"))?;
                let (a, b) = inner
                    .split_once("..")
                    .ok_or_else(|| format!("invalid date range `{range}`"))?;
                let from = if a.is_empty() {
                    None
                } else {
                    Some(parse_time(a).ok_or_else(|| format!("invalid date `{a}`"))?)
                };
                let to = if b.is_empty() {
                    None
                } else {
                    Some(parse_time(b).ok_or_else(|| format!("invalid date `{b}`"))?)
                };
                out.push((field.to_string(), from, to));
            }
            "orderfulfillmentstatus" => {}
            other => return Err(format!("unsupported filter field `{other}`")),
        }
    }
    Ok(out)
}

/// GET order: `filter`, `limit` ≤ 200 (default 50), `offset`, `orderIds` (≤ 50).
async fn orders(State(sim): State<Shared>, Query(p): Query<Params>) -> Response {
    let limit = match int_param(&p, "limit", 50, "API_FULFILLMENT") {
        Ok(l) if (1..=MAX_LIMIT).contains(&l) => l,
        Ok(_) => {
            return bad(
                30800,
                "API_FULFILLMENT",
                "Invalid limit. Supported ranges 1 - 200.",
            );
        }
        Err(r) => return r,
    };
    let offset = match int_param(&p, "offset", 0, "API_FULFILLMENT") {
        Ok(o) => o,
        Err(r) => return r,
    };
    let all = relock(&sim.orders).clone();
    let mut selected: Vec<&SimOrder> =
        if let Some(ids) = p.get("orderIds").filter(|s| !s.is_empty()) {
            let ids: Vec<&str> = ids.split(',').map(str::trim).collect();
            if ids.len() > 50 {
                return bad(30810, "API_FULFILLMENT", "Too many order ids: at most 50.");
            }
            all.iter()
                .filter(|o| ids.contains(&o.id.as_str()))
                .collect()
        } else {
            let filters = match p.get("filter").map(|f| parse_filter(f)).transpose() {
                Ok(f) => f.unwrap_or_default(),
                Err(m) => return bad(30830, "API_FULFILLMENT", &format!("Invalid filter: {m}")),
            };
            all.iter()
                .filter(|o| {
                    filters.iter().all(|(field, from, to)| {
                        let t = if field == "creationdate" {
                            o.created
                        } else {
                            o.modified
                        };
                        from.is_none_or(|f| t >= f) && to.is_none_or(|x| t <= x)
                    })
                })
                .collect()
        };
    selected.sort_by(|a, b| a.modified.cmp(&b.modified).then_with(|| a.id.cmp(&b.id)));
    let total = selected.len();
    let page: Vec<Value> = selected
        .iter()
        .skip(offset)
        .take(limit)
        .map(|o| order_json(o))
        .collect();
    let href = |o: usize| {
        format!("https://api.ebay.com/sell/fulfillment/v1/order?limit={limit}&offset={o}")
    };
    let mut body = json!({"href": href(offset), "limit": limit, "offset": offset, "total": total, "orders": page});
    if offset + limit < total {
        body["next"] = json!(href(offset + limit));
    }
    ok(body)
}

fn order_missing(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        32100,
        "API_FULFILLMENT",
        &format!("Invalid Order Id: {id}"),
    )
}

async fn order(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    let orders = relock(&sim.orders);
    match orders.iter().find(|o| o.id == id) {
        Some(o) => ok(order_json(o)),
        None => order_missing(&id),
    }
}

fn fulfillment_json(f: &Fulfillment) -> Value {
    json!({
        "fulfillmentId": f.id,
        "shipmentTrackingNumber": f.tracking,
        "shippingCarrierCode": f.carrier,
        "shippedDate": ebay_time(f.shipped),
        "lineItems": f.lines.iter().map(|(id, q)| json!({"lineItemId": id, "quantity": q})).collect::<Vec<_>>(),
    })
}

async fn fulfillments(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    let orders = relock(&sim.orders);
    match orders.iter().find(|o| o.id == id) {
        Some(o) => ok(json!({
            "total": o.fulfillments.len(),
            "fulfillments": o.fulfillments.iter().map(fulfillment_json).collect::<Vec<_>>(),
        })),
        None => order_missing(&id),
    }
}

/// POST order/{id}/shipping_fulfillment: 201 with `Location`.
async fn create_fulfillment(
    State(sim): State<Shared>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let body = match parse_json(&body, "API_FULFILLMENT") {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut orders = relock(&sim.orders);
    let Some(o) = orders.iter_mut().find(|o| o.id == id) else {
        return order_missing(&id);
    };
    if o.cancelled {
        return bad(
            32500,
            "API_FULFILLMENT",
            "The order was cancelled: it cannot be shipped.",
        );
    }
    let lines = body
        .get("lineItems")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if lines.is_empty() {
        return bad(32100, "API_FULFILLMENT", "lineItems is required.");
    }
    let mut shipped = Vec::new();
    for l in &lines {
        let lid = l
            .get("lineItemId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let q = l.get("quantity").and_then(Value::as_i64).unwrap_or(0);
        let Some(line) = o.lines.iter().find(|x| x.id == lid) else {
            return bad(
                32100,
                "API_FULFILLMENT",
                &format!("Invalid lineItemId {lid}."),
            );
        };
        if q < 1 || o.shipped(lid) + q > line.quantity {
            return bad(
                32100,
                "API_FULFILLMENT",
                &format!("Invalid quantity {q} for line item {lid}."),
            );
        }
        shipped.push((lid.to_string(), q));
    }
    let s = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let carrier = s("shippingCarrierCode");
    let tracking = s("trackingNumber");
    if tracking.is_empty() != carrier.is_empty() {
        return bad(
            32100,
            "API_FULFILLMENT",
            "shippingCarrierCode and trackingNumber go together.",
        );
    }
    let now = Utc::now();
    let shipped_at = parse_time(&s("shippedDate")).unwrap_or(now);
    let fid = if tracking.is_empty() {
        format!("FUL{}", o.fulfillments.len() + 1)
    } else {
        tracking.clone()
    };
    o.fulfillments.push(Fulfillment {
        id: fid.clone(),
        carrier,
        tracking,
        shipped: shipped_at,
        lines: shipped,
    });
    o.modified = now;
    let location =
        format!("https://api.ebay.com/sell/fulfillment/v1/order/{id}/shipping_fulfillment/{fid}");
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(json!({})),
    )
        .into_response()
}

async fn return_policies(State(sim): State<Shared>, Query(p): Query<Params>) -> Response {
    if p.get("marketplace_id").is_none_or(|m| m.is_empty()) {
        return bad(20401, "API_ACCOUNT", "Missing field marketplaceId.");
    }
    let list: Vec<Value> = sim
        .policies
        .iter()
        .map(|(id, name)| {
            json!({
                "returnPolicyId": id, "name": name, "marketplaceId": "EBAY_US",
                "categoryTypes": [{"name": "ALL_EXCLUDING_MOTORS_VEHICLES", "default": true}],
                "returnsAccepted": true, "returnPeriod": {"value": 30, "unit": "DAY"},
                "refundMethod": "MONEY_BACK", "returnShippingCostPayer": "BUYER",
            })
        })
        .collect();
    ok(
        json!({"href": "https://api.ebay.com/sell/account/v1/return_policy?marketplace_id=EBAY_US",
        "limit": 20, "offset": 0, "total": list.len(), "returnPolicies": list}),
    )
}

/// GET public_key/{kid}: needs an application token.
async fn public_key(
    State(sim): State<Shared>,
    Path(kid): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .trim()
        .to_string();
    let app = relock(&sim.tokens).get(&token).is_some_and(|(_, app)| *app);
    if !app {
        return error(
            StatusCode::FORBIDDEN,
            1100,
            "ACCESS",
            "Access denied: getPublicKey needs an application access token (client credentials grant).",
        );
    }
    if kid != sim.key_id {
        return error(
            StatusCode::NOT_FOUND,
            195001,
            "API_NOTIFICATION",
            &format!("The public key {kid} was not found."),
        );
    }
    ok(json!({"algorithm": "ECDSA", "digest": "SHA1", "key": sim.public_pem()}))
}

/// Topics the simulator offers (ASSUMPTION: eBay's getTopics lists more; these are the ones
/// marketsync uses).
pub(super) const TOPICS: [(&str, &str, &str); 3] = [
    (
        "MARKETPLACE_ACCOUNT_DELETION",
        "APPLICATION",
        "Notifies that an eBay user asked to have their account data deleted.",
    ),
    (
        "ITEM_AVAILABILITY",
        "USER",
        "Notifies of a change of an offer's available quantity.",
    ),
    (
        "ITEM_PRICE_REVISION",
        "USER",
        "Notifies of a change of an offer's price.",
    ),
];

async fn topics() -> Response {
    let list: Vec<Value> = TOPICS
        .iter()
        .map(|(id, scope, description)| json!({
            "topicId": id, "description": description, "status": "ENABLED", "context": "SELLER",
            "scope": scope, "filterable": false,
            "authorizationScopes": ["https://api.ebay.com/oauth/api_scope"],
            "supportedPayloads": [{"format": ["JSON"], "schemaVersion": "1.0", "deliveryProtocol": "HTTPS", "deprecated": false}],
        }))
        .collect();
    ok(
        json!({"href": "https://api.ebay.com/commerce/notification/v1/topic", "limit": 20, "total": list.len(), "topics": list}),
    )
}

async fn destinations(State(sim): State<Shared>) -> Response {
    let n = relock(&sim.notifications);
    let list: Vec<Value> = n
        .destinations
        .iter()
        .map(|(id, name, endpoint, token)| {
            json!({
                "destinationId": id, "name": name, "status": "ENABLED",
                "deliveryConfig": {"endpoint": endpoint, "verificationToken": token},
            })
        })
        .collect();
    ok(
        json!({"href": "https://api.ebay.com/commerce/notification/v1/destination", "limit": 20, "total": list.len(), "destinations": list}),
    )
}

async fn create_destination(State(sim): State<Shared>, body: Bytes) -> Response {
    let body = match parse_json(&body, "API_NOTIFICATION") {
        Ok(b) => b,
        Err(r) => return r,
    };
    let endpoint = body
        .pointer("/deliveryConfig/endpoint")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let token = body
        .pointer("/deliveryConfig/verificationToken")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return bad(195011, "API_NOTIFICATION", "Invalid or missing endpoint.");
    }
    let token_ok = (32..=80).contains(&token.len())
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !token_ok
        || sim
            .config
            .verification_token
            .as_ref()
            .is_some_and(|t| t != &token)
    {
        return bad(
            195012,
            "API_NOTIFICATION",
            "Invalid or missing verification token.",
        );
    }
    let mut n = relock(&sim.notifications);
    if n.destinations.iter().any(|d| d.2 == endpoint) {
        return error(
            StatusCode::CONFLICT,
            195013,
            "API_NOTIFICATION",
            "A destination with this endpoint already exists.",
        );
    }
    let id = format!("dest-{}", n.destinations.len() + 1);
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("destination")
        .to_string();
    n.destinations.push((id.clone(), name, endpoint, token));
    let location = format!("https://api.ebay.com/commerce/notification/v1/destination/{id}");
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(json!({})),
    )
        .into_response()
}

async fn subscriptions(State(sim): State<Shared>) -> Response {
    let n = relock(&sim.notifications);
    let list: Vec<Value> = n
        .subscriptions
        .iter()
        .map(|(id, topic, dest)| {
            json!({
                "subscriptionId": id, "topicId": topic, "destinationId": dest, "status": "ENABLED",
                "payload": {"format": "JSON", "schemaVersion": "1.0", "deliveryProtocol": "HTTPS"},
            })
        })
        .collect();
    ok(
        json!({"href": "https://api.ebay.com/commerce/notification/v1/subscription", "limit": 20, "total": list.len(), "subscriptions": list}),
    )
}

async fn create_subscription(State(sim): State<Shared>, body: Bytes) -> Response {
    let body = match parse_json(&body, "API_NOTIFICATION") {
        Ok(b) => b,
        Err(r) => return r,
    };
    let topic = body
        .get("topicId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let dest = body
        .get("destinationId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !TOPICS.iter().any(|t| t.0 == topic) {
        return bad(
            195002,
            "API_NOTIFICATION",
            &format!("Invalid or missing topic id {topic}."),
        );
    }
    let mut n = relock(&sim.notifications);
    if !n.destinations.iter().any(|d| d.0 == dest) {
        return bad(
            195004,
            "API_NOTIFICATION",
            "Invalid or missing destination id.",
        );
    }
    if n.subscriptions.iter().any(|s| s.1 == topic && s.2 == dest) {
        return error(
            StatusCode::CONFLICT,
            195016,
            "API_NOTIFICATION",
            "This subscription already exists.",
        );
    }
    let id = format!("sub-{}", n.subscriptions.len() + 1);
    n.subscriptions.push((id.clone(), topic, dest));
    let location = format!("https://api.ebay.com/commerce/notification/v1/subscription/{id}");
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(json!({})),
    )
        .into_response()
}

/// POST subscription/{id}/test: a test notification of the subscription's topic.
async fn test_subscription(State(sim): State<Shared>, Path(id): Path<String>) -> Response {
    let topic = relock(&sim.notifications)
        .subscriptions
        .iter()
        .find(|s| s.0 == id)
        .map(|s| s.1.clone());
    match topic {
        Some(t) => {
            let data = if t == "MARKETPLACE_ACCOUNT_DELETION" {
                json!({"username": "test_user", "userId": "ma8vp1jySJC", "eiasToken": "nY+sHZ2PrBmdj6wVnY+sEZ2PrA2dj6wJnY+gAZGEpwmdj6x9nY+seQ=="})
            } else {
                json!({"sku": "TEST-SKU", "offerId": "5000000000"})
            };
            sim.notify(&t, data);
            StatusCode::ACCEPTED.into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            195003,
            "API_NOTIFICATION",
            "The subscription was not found.",
        ),
    }
}

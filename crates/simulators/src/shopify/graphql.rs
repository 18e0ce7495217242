//! The GraphQL executor of the simulator: the root fields the connector uses, answered with
//! the Admin API's shapes (projected onto the request's selection, aliases honoured), cursor
//! pagination, Shopify's search syntax (`updated_at:>='…'`, `sku:…`, `id:…`, `OR`, `AND`),
//! `userErrors` in mutation payloads.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::cost::{self, Field};
use super::store::{BulkOp, Fulfillment, Store, gid, numeric_id, topic_header, ts};
use super::{Sim, gql_error};

/// What a request asks, for statistics.
#[derive(Debug, Clone)]
pub(crate) struct Operation {
    kind: String,
    name: String,
}

impl Operation {
    /// Reads the operation type and name from the document (or `operationName`).
    pub(crate) fn parse(query: &str, operation_name: Option<&str>) -> Self {
        let parsed = cost::parse(query, &Value::Null).ok();
        let kind = parsed
            .as_ref()
            .map(|p| p.kind.clone())
            .unwrap_or_else(|| "query".into());
        let name = operation_name
            .map(str::to_string)
            .or_else(|| parsed.as_ref().and_then(|p| p.name.clone()))
            .or_else(|| {
                parsed
                    .as_ref()
                    .and_then(|p| p.fields.first().map(|f| f.name.clone()))
            })
            .unwrap_or_else(|| "anonymous".into());
        Self { kind, name }
    }

    /// `query Name` / `mutation Name`.
    pub(crate) fn kind(&self) -> String {
        format!("{} {}", self.kind, self.name)
    }
}

/// Projects `v` onto a selection.
pub(crate) fn project(sel: &[Field], v: &Value) -> Value {
    if v.is_null() {
        return Value::Null;
    }
    if let Value::Array(items) = v {
        return Value::Array(items.iter().map(|i| project(sel, i)).collect());
    }
    let mut out = Map::new();
    for f in sel {
        if f.name == "..." {
            if let Value::Object(m) = project(&f.children, v) {
                out.extend(m);
            }
            continue;
        }
        let value = match f.name.as_str() {
            "metafield" => {
                let key = format!(
                    "{}.{}",
                    f.str_arg("namespace").unwrap_or(""),
                    f.str_arg("key").unwrap_or("")
                );
                match v["__metafields"].get(&key) {
                    Some(val) if !val.as_str().unwrap_or("").is_empty() => project(
                        &f.children,
                        &json!({"__typename": "Metafield", "key": f.str_arg("key"), "namespace": f.str_arg("namespace"), "value": val}),
                    ),
                    _ => Value::Null,
                }
            }
            "quantities" => {
                let names: Vec<&str> = f
                    .args
                    .get("names")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let all = v["quantities"].as_array().cloned().unwrap_or_default();
                Value::Array(
                    all.iter()
                        .filter(|q| names.contains(&q["name"].as_str().unwrap_or("")))
                        .map(|q| project(&f.children, q))
                        .collect(),
                )
            }
            name => {
                let raw = v.get(name).cloned().unwrap_or(Value::Null);
                if f.children.is_empty() {
                    raw
                } else if let Value::Array(items) = &raw {
                    if is_connection(f) {
                        let n = f.int_arg("first").map_or(items.len(), |n| n as usize);
                        connection(f, items.iter().take(n).cloned().collect(), items.len() > n)
                    } else {
                        let n = f.int_arg("first").map_or(items.len(), |n| n as usize);
                        Value::Array(
                            items
                                .iter()
                                .take(n)
                                .map(|i| project(&f.children, i))
                                .collect(),
                        )
                    }
                } else {
                    project(&f.children, &raw)
                }
            }
        };
        out.insert(f.key().to_string(), value);
    }
    Value::Object(out)
}

fn is_connection(f: &Field) -> bool {
    f.children
        .iter()
        .any(|c| matches!(c.name.as_str(), "nodes" | "edges" | "pageInfo"))
}

fn cursor_of(item: &Value) -> String {
    let id = numeric_id(item["id"].as_str().unwrap_or("")).unwrap_or(0);
    STANDARD.encode(format!("{{\"last_id\":{id}}}"))
}

fn decode_cursor(cursor: &str) -> Option<u64> {
    let bytes = STANDARD.decode(cursor).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v["last_id"].as_u64()
}

/// A connection of `items` (already one page) projected onto `f`.
fn connection(f: &Field, items: Vec<Value>, has_next: bool) -> Value {
    let mut out = Map::new();
    for c in &f.children {
        let value = match c.name.as_str() {
            "nodes" => Value::Array(items.iter().map(|i| project(&c.children, i)).collect()),
            "edges" => Value::Array(
                items
                    .iter()
                    .map(|i| {
                        project(
                            &c.children,
                            &json!({"cursor": cursor_of(i), "node": i.clone()}),
                        )
                    })
                    .collect(),
            ),
            "pageInfo" => project(
                &c.children,
                &json!({
                    "hasNextPage": has_next,
                    "hasPreviousPage": false,
                    "startCursor": items.first().map(cursor_of),
                    "endCursor": items.last().map(cursor_of),
                }),
            ),
            _ => Value::Null,
        };
        out.insert(c.key().to_string(), value);
    }
    Value::Object(out)
}

/// One term of a search query: `field:value`, `field:>=value` …
#[derive(Debug)]
struct Term {
    field: String,
    op: String,
    value: String,
}

/// A search query as clauses joined by AND, each a list of terms joined by OR.
fn parse_search(q: &str) -> Vec<Vec<Term>> {
    let mut clauses = Vec::new();
    for clause in q.split(" AND ") {
        let mut terms = Vec::new();
        for t in clause.split(" OR ") {
            let t = t.trim().trim_matches(|c| c == '(' || c == ')').trim();
            let Some((field, rest)) = t.split_once(':') else {
                if !t.is_empty() {
                    terms.push(Term {
                        field: "title".into(),
                        op: "".into(),
                        value: t.into(),
                    });
                }
                continue;
            };
            let op: String = rest.chars().take_while(|c| "<>=".contains(*c)).collect();
            let value = rest[op.len()..].trim_matches(|c| c == '\'' || c == '"');
            terms.push(Term {
                field: field.trim().to_string(),
                op,
                value: value.to_string(),
            });
        }
        if !terms.is_empty() {
            clauses.push(terms);
        }
    }
    clauses
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}

/// Whether an object matches a search query; `values(field)` gives the object's values.
fn matches(clauses: &[Vec<Term>], values: &dyn Fn(&str) -> Vec<String>) -> bool {
    clauses.iter().all(|terms| {
        terms.iter().any(|t| {
            let vals = values(&t.field);
            if vals.is_empty() && !t.field.ends_with("_at") {
                // Unknown fields are ignored by Shopify's search (they match everything).
                return !matches!(t.field.as_str(), "sku" | "id" | "title" | "name")
                    && !t.field.starts_with("metafields.");
            }
            vals.iter().any(|v| match t.op.as_str() {
                "" | "=" => {
                    if t.value.ends_with('*') {
                        v.to_lowercase()
                            .starts_with(&t.value.trim_end_matches('*').to_lowercase())
                    } else if t.field.ends_with("_at") {
                        parse_time(v) == parse_time(&t.value)
                    } else {
                        v.eq_ignore_ascii_case(&t.value)
                    }
                }
                op => match (parse_time(v), parse_time(&t.value)) {
                    (Some(a), Some(b)) => match op {
                        ">" => a > b,
                        ">=" => a >= b,
                        "<" => a < b,
                        "<=" => a <= b,
                        _ => false,
                    },
                    _ => false,
                },
            })
        })
    })
}

/// A page of `items` (sorted by id) after the `after` cursor, projected onto `f`.
fn page(f: &Field, items: Vec<Value>) -> Value {
    let after = f.str_arg("after").and_then(decode_cursor);
    let reverse = f.args.get("reverse").and_then(Value::as_bool) == Some(true);
    let mut items = items;
    items.sort_by_key(|i| numeric_id(i["id"].as_str().unwrap_or("")).unwrap_or(0));
    if reverse {
        items.reverse();
    }
    let items: Vec<Value> = match after {
        Some(last) => items
            .into_iter()
            .skip_while(|i| numeric_id(i["id"].as_str().unwrap_or("")) != Some(last))
            .skip(1)
            .collect(),
        None => items,
    };
    let n = f
        .int_arg("first")
        .or_else(|| f.int_arg("last"))
        .unwrap_or(50) as usize;
    let has_next = items.len() > n;
    connection(f, items.into_iter().take(n).collect(), has_next)
}

fn user_error(field: &[&str], message: &str, code: Option<&str>) -> Value {
    let mut e = json!({"field": field, "message": message});
    if let Some(c) = code {
        e["code"] = json!(c);
    }
    e
}

/// Executes a document: `{data, errors?}`.
pub(crate) fn execute(sim: &Sim, op: &Operation, query: &str, variables: &Value) -> Value {
    let parsed = match cost::parse(query, variables) {
        Ok(p) => p,
        Err(e) => {
            return json!({"errors": [gql_error(&format!("Parse error: {e}"), "PARSE_ERROR")]});
        }
    };
    let _ = op;
    let mut data = Map::new();
    let mut errors = Vec::new();
    for f in &parsed.fields {
        let result = if parsed.kind == "mutation" {
            mutation(sim, f)
        } else {
            read(sim, f)
        };
        match result {
            Ok(v) => {
                data.insert(f.key().to_string(), v);
            }
            Err(e) => {
                data.insert(f.key().to_string(), Value::Null);
                let mut e = e;
                e["path"] = json!([f.key()]);
                errors.push(e);
            }
        }
    }
    let mut out = json!({"data": data});
    if !errors.is_empty() {
        out["errors"] = Value::Array(errors);
    }
    out
}

fn bulk_json(sim: &Sim, op: &BulkOp) -> Value {
    let done = op.polls >= sim.config.bulk_polls_before_done;
    json!({
        "__typename": "BulkOperation",
        "id": gid("BulkOperation", op.id),
        "status": if done { "COMPLETED" } else { "RUNNING" },
        "errorCode": null,
        "createdAt": ts(op.created),
        "completedAt": if done { json!(ts(op.created)) } else { Value::Null },
        "objectCount": if done { op.objects.to_string() } else { "0".into() },
        "rootObjectCount": if done { op.objects.to_string() } else { "0".into() },
        "fileSize": Value::Null,
        "url": if done { json!(format!("{}/__bulk/{}.jsonl", sim.base_url, op.id)) } else { Value::Null },
        "partialDataUrl": null,
        "query": op.query,
        "type": "QUERY",
    })
}

fn product_values(store: &Store, i: usize, field: &str) -> Vec<String> {
    let p = &store.products[i];
    match field {
        "id" => vec![p.id.to_string()],
        "sku" => p.variants.iter().map(|v| v.sku.clone()).collect(),
        "metafields.custom.sku" => vec![p.sku.clone()],
        "updated_at" => vec![ts(p.updated)],
        "created_at" => vec![ts(p.created)],
        "title" => vec![p.title.clone()],
        "vendor" => vec![p.vendor.clone()],
        "product_type" => vec![p.product_type.clone()],
        "status" => vec![p.status.clone()],
        "handle" => vec![p.handle.clone()],
        _ => Vec::new(),
    }
}

fn read(sim: &Sim, f: &Field) -> Result<Value, Value> {
    let clauses = parse_search(f.str_arg("query").unwrap_or(""));
    match f.name.as_str() {
        "shop" => Ok(project(
            &f.children,
            &json!({
                "__typename": "Shop",
                "id": gid("Shop", 1),
                "name": sim.config.shop_name,
                "myshopifyDomain": sim.config.shop_domain,
                "currencyCode": sim.config.currency,
                "plan": {"displayName": "Basic", "partnerDevelopment": false, "shopifyPlus": false},
            }),
        )),
        "currentAppInstallation" => Ok(project(
            &f.children,
            &json!({
                "id": gid("AppInstallation", 1),
                "accessScopes": sim.config.scopes.iter().map(|s| json!({"handle": s, "description": s})).collect::<Vec<_>>(),
            }),
        )),
        "products" => {
            let store = sim.store();
            let items = (0..store.products.len())
                .filter(|i| matches(&clauses, &|field| product_values(&store, *i, field)))
                .map(|i| store.product_json(&store.products[i]))
                .collect();
            Ok(page(f, items))
        }
        "product" => {
            let store = sim.store();
            let id = f.str_arg("id").and_then(numeric_id);
            Ok(store
                .products
                .iter()
                .find(|p| Some(p.id) == id)
                .map(|p| project(&f.children, &store.product_json(p)))
                .unwrap_or(Value::Null))
        }
        "inventoryItems" => {
            let store = sim.store();
            let mut items = Vec::new();
            for (pi, p) in store.products.iter().enumerate() {
                for (vi, v) in p.variants.iter().enumerate() {
                    let updated = store
                        .item_updated
                        .get(&v.item_id)
                        .copied()
                        .unwrap_or(p.updated);
                    let ok = matches(&clauses, &|field| match field {
                        "sku" => vec![v.sku.clone()],
                        "id" => vec![v.item_id.to_string()],
                        "updated_at" => vec![ts(updated)],
                        "created_at" => vec![ts(p.created)],
                        _ => Vec::new(),
                    });
                    if ok {
                        items.push(store.item_json(pi, vi));
                    }
                }
            }
            Ok(page(f, items))
        }
        "locations" => {
            let store = sim.store();
            let items = store
                .locations
                .iter()
                .map(|l| json!({"__typename": "Location", "id": gid("Location", l.id), "name": l.name, "isActive": true}))
                .collect();
            Ok(page(f, items))
        }
        "orders" => {
            let store = sim.store();
            let items = store
                .orders
                .iter()
                .filter(|o| {
                    matches(&clauses, &|field| match field {
                        "id" => vec![o.id.to_string()],
                        "name" => vec![format!("#{}", o.number), o.number.to_string()],
                        "updated_at" => vec![ts(o.updated)],
                        "created_at" => vec![ts(o.created)],
                        "sku" => o.lines.iter().map(|l| l.sku.clone()).collect(),
                        _ => Vec::new(),
                    })
                })
                .map(|o| store.order_json(o))
                .collect();
            Ok(page(f, items))
        }
        "order" => {
            let store = sim.store();
            let id = f.str_arg("id").and_then(numeric_id);
            Ok(store
                .orders
                .iter()
                .find(|o| Some(o.id) == id)
                .map(|o| project(&f.children, &store.order_json(o)))
                .unwrap_or(Value::Null))
        }
        "webhookSubscriptions" => {
            let store = sim.store();
            let url = f.str_arg("callbackUrl");
            let items = store
                .webhooks
                .iter()
                .filter(|w| url.is_none_or(|u| u == w.callback_url))
                .map(|w| {
                    json!({
                        "__typename": "WebhookSubscription",
                        "id": gid("WebhookSubscription", w.id),
                        "topic": w.topic,
                        "format": "JSON",
                        "createdAt": ts(w.created),
                        "endpoint": {"__typename": "WebhookHttpEndpoint", "callbackUrl": w.callback_url},
                    })
                })
                .collect();
            Ok(page(f, items))
        }
        "currentBulkOperation" => {
            let mut store = sim.store();
            match store.bulk_ops.last_mut() {
                Some(op) => {
                    op.polls += 1;
                    let op = op.clone();
                    Ok(project(&f.children, &bulk_json(sim, &op)))
                }
                None => Ok(Value::Null),
            }
        }
        "node" => {
            let id = f.str_arg("id").unwrap_or("");
            let n = numeric_id(id);
            let mut store = sim.store();
            if id.contains("/BulkOperation/") {
                match store.bulk_ops.iter_mut().find(|o| Some(o.id) == n) {
                    Some(op) => {
                        op.polls += 1;
                        let op = op.clone();
                        Ok(project(&f.children, &bulk_json(sim, &op)))
                    }
                    None => Ok(Value::Null),
                }
            } else if id.contains("/Product/") {
                Ok(store
                    .products
                    .iter()
                    .find(|p| Some(p.id) == n)
                    .map(|p| project(&f.children, &store.product_json(p)))
                    .unwrap_or(Value::Null))
            } else {
                Ok(Value::Null)
            }
        }
        other => Err(gql_error(
            &format!("Field '{other}' doesn't exist on type 'QueryRoot'"),
            "undefinedField",
        )),
    }
}

fn mutation(sim: &Sim, f: &Field) -> Result<Value, Value> {
    let payload = match f.name.as_str() {
        "productUpdate" => product_update(sim, f),
        "productVariantsBulkUpdate" => variants_bulk_update(sim, f),
        "inventorySetQuantities" => set_quantities(sim, f),
        "fulfillmentCreate" => fulfillment_create(sim, f),
        "orderCancel" => order_cancel(sim, f),
        "webhookSubscriptionCreate" => webhook_create(sim, f),
        "bulkOperationRunQuery" => bulk_run(sim, f),
        other => {
            return Err(gql_error(
                &format!("Field '{other}' doesn't exist on type 'Mutation'"),
                "undefinedField",
            ));
        }
    };
    Ok(project(&f.children, &payload))
}

fn product_update(sim: &Sim, f: &Field) -> Value {
    let input = f.args.get("product").cloned().unwrap_or(Value::Null);
    let id = input["id"].as_str().and_then(numeric_id);
    let mut store = sim.store();
    let Some(pi) = store.products.iter().position(|p| Some(p.id) == id) else {
        return json!({"product": null, "userErrors": [user_error(&["id"], "Product does not exist", None)]});
    };
    if let Some(t) = input["title"].as_str() {
        if t.trim().is_empty() {
            return json!({"product": null, "userErrors": [user_error(&["title"], "Title can't be blank", None)]});
        }
        store.products[pi].title = t.to_string();
    }
    if let Some(d) = input["descriptionHtml"].as_str() {
        store.products[pi].description = d.to_string();
    }
    if let Some(v) = input["vendor"].as_str() {
        store.products[pi].vendor = v.to_string();
    }
    if let Some(t) = input["productType"].as_str() {
        store.products[pi].product_type = t.to_string();
    }
    store.product_changed(pi);
    json!({"product": store.product_json(&store.products[pi]), "userErrors": []})
}

fn variants_bulk_update(sim: &Sim, f: &Field) -> Value {
    let id = f.str_arg("productId").and_then(numeric_id);
    let inputs = f
        .args
        .get("variants")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut store = sim.store();
    let Some(pi) = store.products.iter().position(|p| Some(p.id) == id) else {
        return json!({"product": null, "productVariants": null, "userErrors": [user_error(&["productId"], "Product does not exist", Some("PRODUCT_DOES_NOT_EXIST"))]});
    };
    let mut errors = Vec::new();
    for (k, v) in inputs.iter().enumerate() {
        let vid = v["id"].as_str().and_then(numeric_id);
        if !store.products[pi]
            .variants
            .iter()
            .any(|x| Some(x.id) == vid)
        {
            errors.push(user_error(
                &["variants", &k.to_string(), "id"],
                "Product variant does not exist",
                Some("PRODUCT_VARIANT_DOES_NOT_EXIST"),
            ));
        }
        if let Some(p) = v.get("price").filter(|p| !p.is_null()) {
            let text = p
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| p.to_string());
            if text.parse::<f64>().map_or(true, |x| x < 0.0) {
                errors.push(user_error(
                    &["variants", &k.to_string(), "price"],
                    "Price must be greater than or equal to 0",
                    Some("GREATER_THAN_OR_EQUAL_TO"),
                ));
            }
        }
    }
    if !errors.is_empty() {
        return json!({"product": null, "productVariants": null, "userErrors": errors});
    }
    for v in &inputs {
        let vid = v["id"].as_str().and_then(numeric_id);
        if let Some(x) = store.products[pi]
            .variants
            .iter_mut()
            .find(|x| Some(x.id) == vid)
        {
            if let Some(p) = v.get("price").filter(|p| !p.is_null()) {
                x.price = p
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| p.to_string());
            }
            if let Some(b) = v["barcode"].as_str() {
                x.barcode = b.to_string();
            }
            let w = &v["inventoryItem"]["measurement"]["weight"];
            if let Some(value) = w["value"].as_f64() {
                x.weight = match w["unit"].as_str() {
                    Some("GRAMS") => value / 1000.0,
                    Some("POUNDS") => value * 0.453_592_37,
                    Some("OUNCES") => value * 0.028_349_523,
                    _ => value,
                };
            }
        }
    }
    store.product_changed(pi);
    let p = store.product_json(&store.products[pi]);
    json!({"product": p, "productVariants": p["variants"], "userErrors": []})
}

fn set_quantities(sim: &Sim, f: &Field) -> Value {
    let input = f.args.get("input").cloned().unwrap_or(Value::Null);
    let name = input["name"].as_str().unwrap_or("");
    let ignore_compare = input["ignoreCompareQuantity"].as_bool() == Some(true);
    let quantities = input["quantities"].as_array().cloned().unwrap_or_default();
    let mut store = sim.store();
    let mut errors = Vec::new();
    if name != "available" && name != "on_hand" {
        errors.push(user_error(
            &["input", "name"],
            "The quantity name must be either 'available' or 'on_hand'.",
            Some("INVALID_NAME"),
        ));
    }
    let mut changes = Vec::new();
    for (k, q) in quantities.iter().enumerate() {
        let item = q["inventoryItemId"].as_str().and_then(numeric_id);
        let location = q["locationId"].as_str().and_then(numeric_id);
        let field = |f: &str| {
            vec![
                "input".to_string(),
                "quantities".into(),
                k.to_string(),
                f.into(),
            ]
        };
        let field_err = |f: &str, msg: &str, code: &str| {
            let path = field(f);
            let refs: Vec<&str> = path.iter().map(String::as_str).collect();
            user_error(&refs, msg, Some(code))
        };
        let (Some(item), Some(location)) = (item, location) else {
            errors.push(field_err(
                "inventoryItemId",
                "The specified inventory item could not be found.",
                "INVALID_INVENTORY_ITEM",
            ));
            continue;
        };
        if store.find_item(item).is_none() {
            errors.push(field_err(
                "inventoryItemId",
                "The specified inventory item could not be found.",
                "INVALID_INVENTORY_ITEM",
            ));
            continue;
        }
        if !store.locations.iter().any(|l| l.id == location) {
            errors.push(field_err(
                "locationId",
                "The specified location could not be found.",
                "INVALID_LOCATION",
            ));
            continue;
        }
        let Some(quantity) = q["quantity"].as_i64() else {
            errors.push(field_err(
                "quantity",
                "The quantity is invalid.",
                "INVALID_QUANTITY_NEGATIVE",
            ));
            continue;
        };
        let current = store.levels.get(&(item, location)).copied().unwrap_or(0);
        if !ignore_compare {
            match q["compareQuantity"].as_i64() {
                Some(c) if c == current => {}
                Some(_) => {
                    errors.push(field_err(
                        "compareQuantity",
                        "The compareQuantity argument no longer matches the persisted quantity.",
                        "COMPARE_QUANTITY_STALE",
                    ));
                    continue;
                }
                None => {
                    errors.push(field_err(
                        "compareQuantity",
                        "The compareQuantity value is required unless ignoreCompareQuantity is true.",
                        "COMPARE_QUANTITY_REQUIRED",
                    ));
                    continue;
                }
            }
        }
        changes.push((item, location, quantity, quantity - current));
    }
    if !errors.is_empty() {
        return json!({"inventoryAdjustmentGroup": null, "userErrors": errors});
    }
    let mut out = Vec::new();
    for (item, location, quantity, delta) in changes {
        store.levels.insert((item, location), quantity);
        store.stock_changed(item, location);
        out.push(json!({"name": name, "delta": delta, "quantityAfterChange": quantity,
            "item": {"id": gid("InventoryItem", item)}, "location": {"id": gid("Location", location)}}));
    }
    json!({
        "inventoryAdjustmentGroup": {"reason": input["reason"], "createdAt": ts(Utc::now()), "changes": out},
        "userErrors": [],
    })
}

fn fulfillment_create(sim: &Sim, f: &Field) -> Value {
    let input = f.args.get("fulfillment").cloned().unwrap_or(Value::Null);
    let groups = input["lineItemsByFulfillmentOrder"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut store = sim.store();
    let err = |msg: &str| json!({"fulfillment": null, "userErrors": [user_error(&["fulfillment"], msg, None)]});
    let Some(group) = groups.first() else {
        return err("lineItemsByFulfillmentOrder must not be empty");
    };
    let fo = group["fulfillmentOrderId"].as_str().and_then(numeric_id);
    let Some(oi) = store.orders.iter().position(|o| Some(o.fo_id) == fo) else {
        return err("Fulfillment order does not exist.");
    };
    if store.orders[oi].cancelled.is_some() {
        return err("Fulfillment order is closed: the order was cancelled.");
    }
    let mut shipped = Vec::new();
    let wanted = group["fulfillmentOrderLineItems"].as_array().cloned();
    {
        let order = &store.orders[oi];
        match wanted {
            Some(items) if !items.is_empty() => {
                for it in items {
                    let id = it["id"].as_str().and_then(numeric_id);
                    let q = it["quantity"].as_i64().unwrap_or(0);
                    let Some(l) = order.lines.iter().find(|l| Some(l.fo_line_id) == id) else {
                        return err("Fulfillment order line item does not exist.");
                    };
                    if q <= 0 || q > l.quantity - l.fulfilled {
                        return err(&format!(
                            "Quantity {q} is more than the {} remaining of line item {}.",
                            l.quantity - l.fulfilled,
                            l.sku
                        ));
                    }
                    shipped.push((l.id, q));
                }
            }
            _ => {
                for l in &order.lines {
                    if l.quantity > l.fulfilled {
                        shipped.push((l.id, l.quantity - l.fulfilled));
                    }
                }
            }
        }
    }
    if shipped.is_empty() {
        return err("The fulfillment order has nothing left to fulfill.");
    }
    let id = store.new_id();
    let tracking = &input["trackingInfo"];
    let fulfillment = Fulfillment {
        id,
        company: tracking["company"].as_str().unwrap_or("").to_string(),
        number: tracking["number"].as_str().unwrap_or("").to_string(),
        lines: shipped.clone(),
        created: Utc::now(),
    };
    {
        let order = &mut store.orders[oi];
        for (line, q) in &shipped {
            if let Some(l) = order.lines.iter_mut().find(|l| l.id == *line) {
                l.fulfilled += q;
            }
        }
        order.fulfillments.push(fulfillment.clone());
    }
    store.order_changed(oi, false);
    let o = store.orders[oi].clone();
    json!({"fulfillment": store.fulfillment_json(&o, &fulfillment), "userErrors": []})
}

fn order_cancel(sim: &Sim, f: &Field) -> Value {
    let id = f.str_arg("orderId").and_then(numeric_id);
    let mut store = sim.store();
    let Some(oi) = store.orders.iter().position(|o| Some(o.id) == id) else {
        let e = user_error(&["orderId"], "Order does not exist", Some("NOT_FOUND"));
        return json!({"job": null, "orderCancelUserErrors": [e], "userErrors": [e]});
    };
    if store.orders[oi].cancelled.is_none() {
        store.orders[oi].cancelled = Some(Utc::now());
        store.order_changed(oi, false);
    }
    let job = store.new_id();
    json!({"job": {"id": gid("Job", job), "done": true}, "orderCancelUserErrors": [], "userErrors": []})
}

const TOPICS: [&str; 7] = [
    "PRODUCTS_CREATE",
    "PRODUCTS_UPDATE",
    "PRODUCTS_DELETE",
    "INVENTORY_LEVELS_UPDATE",
    "ORDERS_CREATE",
    "ORDERS_UPDATED",
    "ORDERS_FULFILLED",
];

fn webhook_create(sim: &Sim, f: &Field) -> Value {
    let topic = f.str_arg("topic").unwrap_or("").to_string();
    let url = f
        .args
        .get("webhookSubscription")
        .and_then(|w| w["callbackUrl"].as_str())
        .unwrap_or("")
        .to_string();
    let mut store = sim.store();
    if !TOPICS.contains(&topic.as_str()) {
        return json!({"webhookSubscription": null, "userErrors": [user_error(&["topic"], &format!("Topic {topic} is not supported by the simulator"), None)]});
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return json!({"webhookSubscription": null, "userErrors": [user_error(&["webhookSubscription", "callbackUrl"], "Address is invalid", None)]});
    }
    if store
        .webhooks
        .iter()
        .any(|w| w.topic == topic && w.callback_url == url)
    {
        return json!({"webhookSubscription": null, "userErrors": [user_error(&["webhookSubscription", "callbackUrl"], "Address for this topic has already been taken", None)]});
    }
    let id = store.new_id();
    let sub = super::store::Subscription {
        id,
        topic: topic.clone(),
        callback_url: url.clone(),
        created: Utc::now(),
    };
    store.webhooks.push(sub);
    let _ = topic_header(&topic);
    json!({
        "webhookSubscription": {
            "__typename": "WebhookSubscription",
            "id": gid("WebhookSubscription", id),
            "topic": topic,
            "format": "JSON",
            "endpoint": {"__typename": "WebhookHttpEndpoint", "callbackUrl": url},
        },
        "userErrors": [],
    })
}

fn bulk_run(sim: &Sim, f: &Field) -> Value {
    let inner = f.str_arg("query").unwrap_or("").to_string();
    let parsed = match cost::parse(&inner, &Value::Null) {
        Ok(p) => p,
        Err(e) => {
            return json!({"bulkOperation": null, "userErrors": [user_error(&["query"], &format!("Invalid bulk query: {e}"), Some("INVALID"))]});
        }
    };
    let Some(root) = parsed.fields.first().filter(|r| r.name == "products") else {
        return json!({"bulkOperation": null, "userErrors": [user_error(&["query"], "The simulator runs bulk queries of `products` only", Some("INVALID"))]});
    };
    let mut store = sim.store();
    if let Some(running) = store.bulk_ops.last()
        && running.polls < sim.config.bulk_polls_before_done
    {
        let msg = format!(
            "A bulk query operation for this app and shop is already in progress: {}.",
            gid("BulkOperation", running.id)
        );
        return json!({"bulkOperation": null, "userErrors": [user_error(&["query"], &msg, Some("OPERATION_IN_PROGRESS"))]});
    }
    // The node selection of the root connection (edges { node { … } } or nodes { … }).
    let node_sel: Vec<Field> = root
        .child("edges")
        .and_then(|e| e.child("node"))
        .or_else(|| root.child("nodes"))
        .map(|n| n.children.clone())
        .unwrap_or_default();
    let clauses = parse_search(root.str_arg("query").unwrap_or(""));
    let mut lines = Vec::new();
    let mut objects = 0usize;
    for i in 0..store.products.len() {
        if !matches(&clauses, &|field| product_values(&store, i, field)) {
            continue;
        }
        let pj = store.product_json(&store.products[i]);
        let (conns, plain): (Vec<Field>, Vec<Field>) =
            node_sel.iter().cloned().partition(is_connection);
        lines.push(project(&plain, &pj).to_string());
        objects += 1;
        for c in conns {
            let sel = c
                .child("edges")
                .and_then(|e| e.child("node"))
                .or_else(|| c.child("nodes"))
                .map(|n| n.children.clone())
                .unwrap_or_default();
            for item in pj[c.name.as_str()].as_array().cloned().unwrap_or_default() {
                let mut line = project(&sel, &item);
                line["__parentId"] = pj["id"].clone();
                lines.push(line.to_string());
                objects += 1;
            }
        }
    }
    let id = store.new_id();
    let op = BulkOp {
        id,
        query: inner,
        polls: 0,
        objects,
        created: Utc::now(),
    };
    let mut text = lines.join("\n");
    text.push('\n');
    store.bulk_results.insert(id.to_string(), text);
    store.bulk_ops.push(op.clone());
    json!({"bulkOperation": bulk_json(sim, &op), "userErrors": []})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_syntax() {
        let c = parse_search("updated_at:>='2025-01-01T00:00:00Z' AND (sku:A OR sku:B)");
        assert_eq!(c.len(), 2);
        let vals = |f: &str| match f {
            "updated_at" => vec!["2025-02-01T00:00:00Z".to_string()],
            "sku" => vec!["B".to_string()],
            _ => vec![],
        };
        assert!(matches(&c, &vals));
        let c = parse_search("updated_at:<'2025-01-01T00:00:00Z'");
        assert!(!matches(&c, &vals));
    }

    #[test]
    fn cursors_round_trip() {
        let c = cursor_of(&json!({"id": "gid://shopify/Product/77"}));
        assert_eq!(decode_cursor(&c), Some(77));
    }
}

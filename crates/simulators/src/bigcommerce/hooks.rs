//! The V3 webhooks API (`/v3/hooks`) and the delivery of webhook events.
//!
//! BigCommerce does not sign webhook payloads: a subscriber verifies a call by the custom
//! `headers` it gave when it created the hook, which the store sends with every delivery.
//! Each delivery is a POST of `{scope, store_id, data, hash, created_at, producer}`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::Utc;
use serde_json::{Value, json};

use super::{ApiResult, Shared, ok, parse_body, relock, v3_error, v3_error_with};

/// One subscription.
#[derive(Debug, Clone)]
pub(crate) struct Hook {
    pub id: i64,
    pub scope: String,
    pub destination: String,
    pub is_active: bool,
    pub headers: serde_json::Map<String, Value>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/hooks", get(list).post(create))
        .route("/hooks/{id}", get(one).put(update).delete(remove))
}

fn hook_json(sim: &Shared, h: &Hook) -> Value {
    json!({
        "id": h.id,
        "client_id": "marketsync-simulator",
        "store_hash": sim.config.store_hash,
        "scope": h.scope,
        "destination": h.destination,
        "is_active": h.is_active,
        "events_history_enabled": false,
        "headers": h.headers,
        "created_at": h.created_at,
        "updated_at": h.updated_at,
    })
}

async fn list(State(sim): State<Shared>) -> ApiResult {
    let hooks = relock(&sim.hooks);
    let data: Vec<Value> = hooks.iter().map(|h| hook_json(&sim, h)).collect();
    let n = data.len();
    ok(json!({
        "data": data,
        "meta": {"pagination": {"total": n, "count": n, "per_page": 50, "current_page": 1,
                                "total_pages": 1, "links": {}}}
    }))
}

async fn one(State(sim): State<Shared>, Path(id): Path<i64>) -> ApiResult {
    let hooks = relock(&sim.hooks);
    match hooks.iter().find(|h| h.id == id) {
        Some(h) => ok(json!({"data": hook_json(&sim, h), "meta": {}})),
        None => Err(v3_error(StatusCode::NOT_FOUND, "Webhook not found")),
    }
}

fn scope_ok(scope: &str) -> bool {
    scope.starts_with("store/") && scope.split('/').count() >= 3
}

async fn create(State(sim): State<Shared>, body: Bytes) -> ApiResult {
    let body = parse_body(&body, false)?;
    let scope = body.get("scope").and_then(Value::as_str).unwrap_or("");
    let destination = body
        .get("destination")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !scope_ok(scope) || !destination.starts_with("http") {
        return Err(v3_error_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Input is invalid",
            json!({"scope": "a store/... scope is required",
                   "destination": "an http(s) URL is required"}),
        ));
    }
    let headers = body
        .get("headers")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let now = Utc::now().timestamp();
    let mut hooks = relock(&sim.hooks);
    let id = hooks.iter().map(|h| h.id).max().unwrap_or(0) + 1;
    let hook = Hook {
        id,
        scope: scope.to_string(),
        destination: destination.to_string(),
        is_active: body
            .get("is_active")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        headers,
        created_at: now,
        updated_at: now,
    };
    let out = hook_json(&sim, &hook);
    hooks.push(hook);
    Ok((StatusCode::OK, axum::Json(json!({"data": out, "meta": {}}))).into_response())
}

async fn update(State(sim): State<Shared>, Path(id): Path<i64>, body: Bytes) -> ApiResult {
    let body = parse_body(&body, false)?;
    let mut hooks = relock(&sim.hooks);
    let Some(h) = hooks.iter_mut().find(|h| h.id == id) else {
        return Err(v3_error(StatusCode::NOT_FOUND, "Webhook not found"));
    };
    if let Some(d) = body.get("destination").and_then(Value::as_str) {
        h.destination = d.to_string();
    }
    if let Some(a) = body.get("is_active").and_then(Value::as_bool) {
        h.is_active = a;
    }
    if let Some(hd) = body.get("headers").and_then(Value::as_object) {
        h.headers = hd.clone();
    }
    h.updated_at = Utc::now().timestamp();
    let out = hook_json(&sim, h);
    ok(json!({"data": out, "meta": {}}))
}

async fn remove(State(sim): State<Shared>, Path(id): Path<i64>) -> ApiResult {
    let mut hooks = relock(&sim.hooks);
    let Some(i) = hooks.iter().position(|h| h.id == id) else {
        return Err(v3_error(StatusCode::NOT_FOUND, "Webhook not found"));
    };
    let h = hooks.remove(i);
    ok(json!({"data": hook_json(&sim, &h), "meta": {}}))
}

/// Whether a hook of `hook_scope` receives an event of `scope` (`store/product/*` covers
/// every product event).
fn matches(hook_scope: &str, scope: &str) -> bool {
    match hook_scope.strip_suffix("/*") {
        Some(prefix) => scope.starts_with(&format!("{prefix}/")),
        None => hook_scope == scope,
    }
}

/// Sends the changes recorded since the last call to every active subscriber, each in its own
/// task (a slow subscriber delays nothing).
pub(crate) fn deliver(sim: &Shared) {
    let changes = std::mem::take(&mut sim.store().changes);
    if changes.is_empty() {
        return;
    }
    let hooks: Vec<Hook> = relock(&sim.hooks)
        .iter()
        .filter(|h| h.is_active)
        .cloned()
        .collect();
    for (scope, data) in changes {
        for h in hooks.iter().filter(|h| matches(&h.scope, &scope)) {
            let created_at = Utc::now().timestamp();
            let mut n = relock(&sim.deliveries);
            *n += 1;
            let hash = format!(
                "{:040x}",
                u128::from(*n) * 0x9e37_79b9_7f4a_7c15 + created_at as u128
            );
            drop(n);
            let payload = json!({
                "scope": scope,
                "store_id": "1001",
                "data": data,
                "hash": hash,
                "created_at": created_at,
                "producer": format!("stores/{}", sim.config.store_hash),
            });
            let client = sim.http.clone();
            let mut req = client
                .post(&h.destination)
                .header("content-type", "application/json")
                .body(payload.to_string());
            for (k, v) in &h.headers {
                if let Some(v) = v.as_str() {
                    req = req.header(k.as_str(), v);
                }
            }
            let sim2 = sim.clone();
            tokio::spawn(async move {
                let status = match req.send().await {
                    Ok(r) => r.status().as_u16(),
                    Err(e) => {
                        tracing::debug!(error = %e, "webhook delivery failed");
                        0
                    }
                };
                relock(&sim2.delivery_log).push((h_scope_of(&payload), status));
            });
        }
    }
}

fn h_scope_of(payload: &Value) -> String {
    payload["scope"].as_str().unwrap_or("").to_string()
}

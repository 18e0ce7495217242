//! Platforms, connections and syncs: the connector service's side of the API.

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use marketsync_proto::v1::{
    Connection, ConnectionRef, CreateConnectionRequest, Empty, ListConnectionsRequest,
    ListSyncsRequest, PlatformInfo, SyncRef, TestConnectionResponse, UpdateConnectionRequest,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::audit::{self, Change, mask_all};
use crate::auth::{Caller, Operator};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody, OptionalJson};
use crate::sync::{self, SyncAccepted, SyncRequest, SyncView};

const CONNECTOR: &str = "connector";

/// Supported platforms.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformList {
    /// The platforms with their credential and setting fields.
    pub items: Vec<PlatformInfo>,
}

/// A connection as the API shows it: credentials only ever masked.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConnectionView {
    /// Id.
    pub id: String,
    /// Name (unique in the tenant).
    pub name: String,
    /// Platform id (`shopify`, `amazon`, …).
    pub platform: String,
    /// Credentials, masked (`****` and the last 4 characters).
    #[schema(value_type = Object)]
    pub credentials: Value,
    /// Settings (`base_url`, `sync_frequency`, `batch_size`, …).
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Whether syncs run.
    pub enabled: bool,
    /// `new`, `ok`, `syncing`, `error`, …
    pub status: String,
    /// Last finished sync (RFC 3339).
    pub last_sync_at: Option<String>,
    /// Records synced so far.
    pub items_synced: i64,
    /// Errors so far.
    pub error_count: i64,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Updated (RFC 3339).
    pub updated_at: String,
}

fn json_object(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({}),
    }
}

impl From<Connection> for ConnectionView {
    fn from(c: Connection) -> Self {
        Self {
            credentials: json_object(&c.credentials_masked_json),
            settings: json_object(&c.settings_json),
            id: c.id,
            name: c.name,
            platform: c.platform,
            enabled: c.enabled,
            status: c.status,
            last_sync_at: (!c.last_sync_at.is_empty()).then_some(c.last_sync_at),
            items_synced: c.items_synced,
            error_count: c.error_count,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// The connections of the tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionList {
    /// Connections.
    pub items: Vec<ConnectionView>,
}

/// Body of `POST /api/v1/connections`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateConnection {
    /// Name, unique in the tenant.
    pub name: String,
    /// Platform id, from `GET /api/v1/platforms`.
    pub platform: String,
    /// Credentials, with the field names of the platform.
    #[schema(value_type = Object)]
    pub credentials: Value,
    /// Settings: `base_url`, `auth_url`, `sync_frequency`, `batch_size`, `retry_attempts`,
    /// `timeout_secs`, `debug`, `sync_inventory`, `sync_orders`, `warehouse_mapping`, …
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
}

/// Body of `PATCH /api/v1/connections/{id}`: fields present are changed.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdateConnection {
    /// New name.
    pub name: Option<String>,
    /// Credentials to replace; keys absent are kept.
    #[schema(value_type = Option<Object>)]
    pub credentials: Option<Value>,
    /// New settings.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
    /// Enable or disable syncs.
    pub enabled: Option<bool>,
}

/// Query of `GET /api/v1/connections/{id}/syncs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncListQuery {
    /// Most recent syncs to return (default 50, at most 500).
    pub limit: Option<i64>,
}

/// Syncs of a connection, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SyncList {
    /// Syncs.
    pub items: Vec<SyncView>,
}

fn connection_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found("connection not found"))
}

fn require_object(field: &str, v: &Value) -> Result<(), ApiError> {
    if v.is_object() {
        Ok(())
    } else {
        Err(ApiError::invalid(format!("{field} must be a JSON object")))
    }
}

async fn fetch_connection(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Connection> {
    Ok(state
        .connector
        .clone()
        .get_connection(ConnectionRef {
            tenant_id: caller.tenant(),
            id: id.to_string(),
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner())
}

/// Supported platforms with their credential and setting fields.
#[utoipa::path(get, path = "/api/v1/platforms", tag = "connections",
    responses(
        (status = 200, description = "ok", body = PlatformList),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn list_platforms(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<PlatformList>> {
    let resp = state
        .connector
        .clone()
        .list_platforms(Empty {})
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner();
    Ok(Json(PlatformList {
        items: resp.platforms,
    }))
}

/// Creates a connection (operator).
#[utoipa::path(post, path = "/api/v1/connections", tag = "connections",
    request_body = CreateConnection,
    responses(
        (status = 201, description = "created; credentials masked", body = ConnectionView),
        (status = 400, description = "invalid request (JSON error)", body = ErrorBody),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "the key's role does not allow this", body = ErrorBody),
        (status = 409, description = "a connection of that name exists", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn create_connection(
    State(state): State<AppState>,
    Operator(caller): Operator,
    ApiJson(body): ApiJson<CreateConnection>,
) -> ApiResult<(StatusCode, Json<ConnectionView>)> {
    let name = body.name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid("name must not be empty"));
    }
    let platform = body.platform.trim();
    if platform.is_empty() {
        return Err(ApiError::invalid("platform must not be empty"));
    }
    require_object("credentials", &body.credentials)?;
    let settings = body.settings.unwrap_or_else(|| json!({}));
    if settings.is_null() {
        return Err(ApiError::invalid("settings must be a JSON object"));
    }
    require_object("settings", &settings)?;
    let conn = state
        .connector
        .clone()
        .create_connection(CreateConnectionRequest {
            tenant_id: caller.tenant(),
            name: name.to_string(),
            platform: platform.to_string(),
            credentials_json: body.credentials.to_string(),
            settings_json: settings.to_string(),
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner();
    let view = ConnectionView::from(conn);
    audit::record_after(
        &state.pool,
        &caller.actor(),
        Change {
            tenant_id: caller.tenant_id,
            action: "connection.create",
            target_type: "connection",
            target_id: view.id.clone(),
            before: None,
            after: serde_json::to_value(&view).ok(),
        },
    )
    .await;
    tracing::info!(connection = %view.id, platform = %view.platform, "connection created");
    Ok((StatusCode::CREATED, Json(view)))
}

/// The connections of the tenant.
#[utoipa::path(get, path = "/api/v1/connections", tag = "connections",
    responses(
        (status = 200, description = "ok", body = ConnectionList),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn list_connections(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ConnectionList>> {
    let resp = state
        .connector
        .clone()
        .list_connections(ListConnectionsRequest {
            tenant_id: caller.tenant(),
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner();
    Ok(Json(ConnectionList {
        items: resp
            .connections
            .into_iter()
            .map(ConnectionView::from)
            .collect(),
    }))
}

/// One connection.
#[utoipa::path(get, path = "/api/v1/connections/{id}", tag = "connections",
    params(("id" = String, Path, description = "connection id")),
    responses(
        (status = 200, description = "ok", body = ConnectionView),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "not found, or another tenant's", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn get_connection(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ConnectionView>> {
    connection_id(&id)?;
    let conn = fetch_connection(&state, &caller, &id).await?;
    Ok(Json(conn.into()))
}

/// Changes a connection (operator): name, credentials (partial), settings, enabled.
#[utoipa::path(patch, path = "/api/v1/connections/{id}", tag = "connections",
    params(("id" = String, Path, description = "connection id")),
    request_body = UpdateConnection,
    responses(
        (status = 200, description = "ok", body = ConnectionView),
        (status = 400, description = "invalid request (JSON error)", body = ErrorBody),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "the key's role does not allow this", body = ErrorBody),
        (status = 404, description = "not found, or another tenant's", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn update_connection(
    State(state): State<AppState>,
    Operator(caller): Operator,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateConnection>,
) -> ApiResult<Json<ConnectionView>> {
    connection_id(&id)?;
    let name = match &body.name {
        Some(n) if n.trim().is_empty() => return Err(ApiError::invalid("name must not be empty")),
        Some(n) => Some(n.trim().to_string()),
        None => None,
    };
    if let Some(c) = &body.credentials {
        require_object("credentials", c)?;
    }
    if let Some(s) = &body.settings {
        require_object("settings", s)?;
    }
    if name.is_none()
        && body.credentials.is_none()
        && body.settings.is_none()
        && body.enabled.is_none()
    {
        return Err(ApiError::invalid(
            "nothing to change: give name, credentials, settings or enabled",
        ));
    }
    let before = ConnectionView::from(fetch_connection(&state, &caller, &id).await?);
    let conn = state
        .connector
        .clone()
        .update_connection(UpdateConnectionRequest {
            tenant_id: caller.tenant(),
            id: id.clone(),
            name: name.clone(),
            credentials_json: body.credentials.as_ref().map(Value::to_string),
            settings_json: body.settings.as_ref().map(Value::to_string),
            enabled: body.enabled,
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner();
    let view = ConnectionView::from(conn);
    let mut change = serde_json::Map::new();
    if let Some(n) = &name {
        change.insert("name".into(), json!(n));
    }
    if let Some(c) = &body.credentials {
        change.insert("credentials".into(), mask_all(c));
    }
    if let Some(s) = &body.settings {
        change.insert("settings".into(), s.clone());
    }
    if let Some(e) = body.enabled {
        change.insert("enabled".into(), json!(e));
    }
    audit::record_after(
        &state.pool,
        &caller.actor(),
        Change {
            tenant_id: caller.tenant_id,
            action: "connection.update",
            target_type: "connection",
            target_id: id.clone(),
            before: serde_json::to_value(&before).ok(),
            after: Some(json!({ "request": change, "connection": view })),
        },
    )
    .await;
    tracing::info!(connection = %id, "connection updated");
    Ok(Json(view))
}

/// Removes a connection (operator).
#[utoipa::path(delete, path = "/api/v1/connections/{id}", tag = "connections",
    params(("id" = String, Path, description = "connection id")),
    responses(
        (status = 204, description = "removed"),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "the key's role does not allow this", body = ErrorBody),
        (status = 404, description = "not found, or another tenant's", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn delete_connection(
    State(state): State<AppState>,
    Operator(caller): Operator,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    connection_id(&id)?;
    let before = ConnectionView::from(fetch_connection(&state, &caller, &id).await?);
    state
        .connector
        .clone()
        .delete_connection(ConnectionRef {
            tenant_id: caller.tenant(),
            id: id.clone(),
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?;
    audit::record_after(
        &state.pool,
        &caller.actor(),
        Change {
            tenant_id: caller.tenant_id,
            action: "connection.delete",
            target_type: "connection",
            target_id: id.clone(),
            before: serde_json::to_value(&before).ok(),
            after: None,
        },
    )
    .await;
    tracing::info!(connection = %id, "connection deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Tries the connection's credentials against the platform (operator).
#[utoipa::path(post, path = "/api/v1/connections/{id}/test", tag = "connections",
    params(("id" = String, Path, description = "connection id")),
    responses(
        (status = 200, description = "ok", body = TestConnectionResponse),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "the key's role does not allow this", body = ErrorBody),
        (status = 404, description = "not found, or another tenant's", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn test_connection(
    State(state): State<AppState>,
    Operator(caller): Operator,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<TestConnectionResponse>> {
    connection_id(&id)?;
    let resp = state
        .connector
        .clone()
        .test_connection(ConnectionRef {
            tenant_id: caller.tenant(),
            id,
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner();
    Ok(Json(resp))
}

/// Requests a sync of the connection (operator); answered at once with the sync id.
#[utoipa::path(post, path = "/api/v1/connections/{id}/sync", tag = "syncs",
    params(("id" = String, Path, description = "connection id")),
    request_body(content = Option<SyncRequest>, description = "optional; defaults apply"),
    responses(
        (status = 202, description = "queued", body = SyncAccepted),
        (status = 400, description = "invalid request (JSON error)", body = ErrorBody),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "the key's role does not allow this", body = ErrorBody),
        (status = 404, description = "not found, or another tenant's", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn request_sync(
    State(state): State<AppState>,
    Operator(caller): Operator,
    ApiPath(id): ApiPath<String>,
    OptionalJson(body): OptionalJson<SyncRequest>,
) -> ApiResult<(StatusCode, Json<SyncAccepted>)> {
    connection_id(&id)?;
    let request = body.validate()?;
    let conn = fetch_connection(&state, &caller, &id).await?;
    let conn_id = Uuid::parse_str(&conn.id).map_err(ApiError::internal)?;
    let sync_id = sync::enqueue(
        &state.pool,
        &state.bus,
        caller.tenant_id,
        conn_id,
        &caller.actor(),
        &request,
    )
    .await?;
    state
        .metrics
        .published
        .get_or_create(&marketsync_common::health::KindLabels {
            kind: "sync_command".into(),
        })
        .inc();
    Ok((StatusCode::ACCEPTED, Json(SyncAccepted { sync_id })))
}

/// A sync: `queued` until the connector picks it up, then `running`, `completed` or `failed`.
#[utoipa::path(get, path = "/api/v1/syncs/{id}", tag = "syncs",
    params(("id" = String, Path, description = "sync id")),
    responses(
        (status = 200, description = "ok", body = SyncView),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "not found, or another tenant's", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn get_sync(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<SyncView>> {
    let sync_id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found("sync not found"))?;
    let result = state
        .connector
        .clone()
        .get_sync(SyncRef {
            tenant_id: caller.tenant(),
            id: sync_id.to_string(),
        })
        .await;
    match result {
        Ok(run) => Ok(Json(run.into_inner().into())),
        Err(s) if s.code() == tonic::Code::NotFound => {
            match sync::find_request(&state.pool, caller.tenant_id, sync_id).await? {
                Some(r) => Ok(Json(SyncView::queued(&r))),
                None => Err(ApiError::not_found("sync not found")),
            }
        }
        Err(s) => Err(ApiError::grpc(CONNECTOR)(s)),
    }
}

/// The latest syncs of a connection, newest first (queued ones included).
#[utoipa::path(get, path = "/api/v1/connections/{id}/syncs", tag = "syncs",
    params(("id" = String, Path, description = "connection id"), SyncListQuery),
    responses(
        (status = 200, description = "ok", body = SyncList),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "not found, or another tenant's", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn list_syncs(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<SyncListQuery>,
) -> ApiResult<Json<SyncList>> {
    let conn_id = connection_id(&id)?;
    let (limit, _) = super::page(q.limit, None)?;
    // 404 for an unknown connection or another tenant's.
    fetch_connection(&state, &caller, &id).await?;
    let runs = state
        .connector
        .clone()
        .list_syncs(ListSyncsRequest {
            tenant_id: caller.tenant(),
            connection_id: id.clone(),
            limit: limit as i32,
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner()
        .syncs;
    let known: HashSet<String> = runs.iter().map(|r| r.id.clone()).collect();
    let oldest_run = runs.iter().map(|r| r.started_at.clone()).min();
    let mut items: Vec<SyncView> = Vec::new();
    // Requests the connector has not picked up yet come first: they are the newest.
    for r in sync::list_requests(&state.pool, caller.tenant_id, conn_id, limit).await? {
        if known.contains(&r.sync_id.to_string()) {
            continue;
        }
        // Older than every run listed: the connector knows it under another page; skip it.
        let requested = marketsync_common::ts(Some(r.requested_at));
        if runs.len() as i64 >= limit
            && oldest_run
                .as_ref()
                .is_some_and(|o| !o.is_empty() && &requested < o)
        {
            continue;
        }
        items.push(SyncView::queued(&r));
    }
    items.extend(runs.into_iter().map(SyncView::from));
    items.truncate(limit as usize);
    Ok(Json(SyncList { items }))
}

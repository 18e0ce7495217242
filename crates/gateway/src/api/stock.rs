//! The stock ledger: levels, a sku's history, adjustments, warehouses and their system of
//! record, a channel's consistency report, and backup points.

use axum::Json;
use axum::extract::State;
use marketsync_proto::v1::{
    AdjustStockRequest, AdjustStockResponse, ConnectionRef, ConsistencyReport, ConsistencyRequest,
    GetStockRequest, LedgerLevel, RestoreStockBackupRequest, RestoreStockBackupResponse,
    SetStockWarehouseRequest, StockAdjustment, StockBackup, StockHistoryRequest,
    StockHistoryResponse, StockWarehouse, TenantRef,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::audit::{self, Change};
use crate::auth::{Caller, Operator};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};

const CONNECTOR: &str = "connector";

/// Query of `GET /api/v1/stock`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StockQuery {
    /// Only this sku.
    pub sku: Option<String>,
    /// Only this warehouse.
    pub warehouse: Option<String>,
    /// Rows per page (default 100, at most 1000); a page never splits a sku.
    pub limit: Option<i64>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// A page of the ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct StockPage {
    /// On hand, reserved and available per sku and warehouse.
    pub items: Vec<LedgerLevel>,
    /// Token of the next page; absent on the last.
    pub next_page_token: Option<String>,
}

/// Query of `GET /api/v1/stock/{sku}/history`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Entries per page (default 100, at most 1000), newest first.
    pub limit: Option<i64>,
    /// Entries older than this entry id.
    pub before_id: Option<i64>,
}

/// Adjustments to apply together.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AdjustmentRequest {
    /// Changes of on-hand quantities.
    pub items: Vec<AdjustmentItem>,
    /// A retried request with the same key changes nothing again.
    pub idempotency_key: Option<String>,
}

/// One adjustment.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AdjustmentItem {
    /// Sku.
    pub sku: String,
    /// Warehouse code.
    pub warehouse: String,
    /// Units: the new on-hand quantity when `absolute`, else units added (negative: removed).
    pub quantity: i64,
    /// Set on hand to `quantity` instead of adding it.
    #[serde(default)]
    pub absolute: bool,
    /// `adjustment` (default) or `correction`.
    #[serde(default)]
    pub cause: Option<String>,
    /// Why, for the history.
    #[serde(default)]
    pub note: Option<String>,
}

/// The system of record of a warehouse.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WarehouseRequest {
    /// The connection whose stock imports set this warehouse's on-hand quantities; null: none
    /// (the warehouse is kept by adjustments).
    pub source_connection_id: Option<String>,
}

/// The tenant's warehouses.
#[derive(Debug, Serialize, ToSchema)]
pub struct WarehouseList {
    /// Every warehouse in the ledger or declared.
    pub items: Vec<StockWarehouse>,
}

/// A connection's backup points.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupList {
    /// Newest first.
    pub items: Vec<StockBackup>,
}

/// Query of `GET /api/v1/connections/{id}/consistency`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// Most differences listed (default 100, at most 5000).
    pub limit: Option<i64>,
}

fn check_uuid(id: &str, what: &str) -> ApiResult<()> {
    uuid::Uuid::parse_str(id)
        .map(|_| ())
        .map_err(|_| ApiError::not_found(format!("{what} not found")))
}

/// The ledger: on hand, reserved and available to sell per sku and warehouse.
#[utoipa::path(get, path = "/api/v1/stock", tag = "stock", params(StockQuery),
    responses(
        (status = 200, description = "ok", body = StockPage),
        (status = 400, description = "bad limit", body = ErrorBody),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn list_stock(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<StockQuery>,
) -> ApiResult<Json<StockPage>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit must be between 1 and 1000"));
    }
    let resp = state
        .connector
        .clone()
        .get_stock(GetStockRequest {
            tenant_id: caller.tenant(),
            sku: q.sku.unwrap_or_default(),
            warehouse: q.warehouse.unwrap_or_default(),
            page_token: q.page_token.unwrap_or_default(),
            limit: limit as i32,
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner();
    Ok(Json(StockPage {
        items: resp.levels,
        next_page_token: Some(resp.next_page_token).filter(|t| !t.is_empty()),
    }))
}

/// A sku's history: every ledger entry with its cause (newest first), its rows, its order
/// reservations, and what each channel should show, was sent and was seen showing.
#[utoipa::path(get, path = "/api/v1/stock/{sku}/history", tag = "stock",
    params(("sku" = String, Path, description = "sku"), HistoryQuery),
    responses(
        (status = 200, description = "ok", body = StockHistoryResponse),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn sku_history(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(sku): ApiPath<String>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<StockHistoryResponse>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit must be between 1 and 1000"));
    }
    let resp = state
        .connector
        .clone()
        .stock_history(StockHistoryRequest {
            tenant_id: caller.tenant(),
            sku,
            before_id: q.before_id.unwrap_or(0),
            limit: limit as i32,
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner();
    Ok(Json(resp))
}

/// Adjusts on-hand quantities by hand (operator): each change becomes an `adjustment` or
/// `correction` entry, and every channel listing the sku gets its new quantity at once.
#[utoipa::path(post, path = "/api/v1/stock/adjustments", tag = "stock",
    request_body = AdjustmentRequest,
    responses(
        (status = 200, description = "applied (or, with a key seen before, already applied: `duplicate`)", body = AdjustStockResponse),
        (status = 400, description = "a bad item", body = ErrorBody),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "the key's role does not allow this", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn adjust(
    State(state): State<AppState>,
    Operator(caller): Operator,
    ApiJson(body): ApiJson<AdjustmentRequest>,
) -> ApiResult<Json<AdjustStockResponse>> {
    let resp = state
        .connector
        .clone()
        .adjust_stock(AdjustStockRequest {
            tenant_id: caller.tenant(),
            items: body
                .items
                .iter()
                .map(|i| StockAdjustment {
                    sku: i.sku.clone(),
                    warehouse: i.warehouse.clone(),
                    absolute: i.absolute,
                    quantity: i.quantity,
                    cause: i.cause.clone().unwrap_or_default(),
                    note: i.note.clone().unwrap_or_default(),
                })
                .collect(),
            actor: caller.key_name.clone(),
            idempotency_key: body.idempotency_key.clone().unwrap_or_default(),
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner();
    if !resp.duplicate {
        let changes: Vec<_> = resp
            .entries
            .iter()
            .take(1000)
            .map(|e| {
                json!({"sku": e.sku, "warehouse": e.warehouse, "on_hand_delta": e.on_hand_delta,
                       "on_hand": e.on_hand_after, "cause": e.cause})
            })
            .collect();
        audit::record_after(
            &state.pool,
            &caller.actor(),
            Change {
                tenant_id: caller.tenant_id,
                action: "stock.adjust",
                target_type: "stock",
                target_id: body
                    .items
                    .first()
                    .map(|i| i.sku.clone())
                    .unwrap_or_default(),
                before: None,
                after: Some(json!({"items": body.items.len(), "entries": changes})),
            },
        )
        .await;
    }
    Ok(Json(resp))
}

/// The tenant's warehouses and the connection that is the system of record of each.
#[utoipa::path(get, path = "/api/v1/stock/warehouses", tag = "stock",
    responses(
        (status = 200, description = "ok", body = WarehouseList),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn list_warehouses(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<WarehouseList>> {
    let resp = state
        .connector
        .clone()
        .list_stock_warehouses(TenantRef {
            tenant_id: caller.tenant(),
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner();
    Ok(Json(WarehouseList {
        items: resp.warehouses,
    }))
}

/// Declares which connection is the system of record of a warehouse (operator): its stock
/// imports set the ledger's on-hand quantities there, and it receives no pushed quantities.
#[utoipa::path(put, path = "/api/v1/stock/warehouses/{code}", tag = "stock",
    params(("code" = String, Path, description = "warehouse code")),
    request_body = WarehouseRequest,
    responses(
        (status = 200, description = "saved", body = StockWarehouse),
        (status = 400, description = "unknown connection", body = ErrorBody),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "the key's role does not allow this", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn set_warehouse(
    State(state): State<AppState>,
    Operator(caller): Operator,
    ApiPath(code): ApiPath<String>,
    ApiJson(body): ApiJson<WarehouseRequest>,
) -> ApiResult<Json<StockWarehouse>> {
    let resp = state
        .connector
        .clone()
        .set_stock_warehouse(SetStockWarehouseRequest {
            tenant_id: caller.tenant(),
            code: code.clone(),
            source_connection_id: body.source_connection_id.clone().unwrap_or_default(),
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner();
    audit::record_after(
        &state.pool,
        &caller.actor(),
        Change {
            tenant_id: caller.tenant_id,
            action: "stock.warehouse",
            target_type: "warehouse",
            target_id: code,
            before: None,
            after: Some(json!({"source_connection_id": resp.source_connection_id})),
        },
    )
    .await;
    Ok(Json(resp))
}

/// The data consistency score of a channel: what it was last seen showing (its latest stock
/// import) against what the ledger and its rules say it should show, with the differences.
/// A forced full sync with `export_inventory` repairs them.
#[utoipa::path(get, path = "/api/v1/connections/{id}/consistency", tag = "stock",
    params(("id" = String, Path, description = "connection id"), ConsistencyQuery),
    responses(
        (status = 200, description = "ok", body = ConsistencyReport),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "not found, or another tenant's", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn consistency(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ConsistencyQuery>,
) -> ApiResult<Json<ConsistencyReport>> {
    check_uuid(&id, "connection")?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=5000).contains(&limit) {
        return Err(ApiError::invalid("limit must be between 1 and 5000"));
    }
    let resp = state
        .connector
        .clone()
        .get_consistency(ConsistencyRequest {
            tenant_id: caller.tenant(),
            connection_id: id,
            limit: limit as i32,
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner();
    Ok(Json(resp))
}

/// Backup points of a connection: what the channel showed before each forced full export.
#[utoipa::path(get, path = "/api/v1/connections/{id}/backups", tag = "stock",
    params(("id" = String, Path, description = "connection id")),
    responses(
        (status = 200, description = "ok", body = BackupList),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "not found, or another tenant's", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn list_backups(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<BackupList>> {
    check_uuid(&id, "connection")?;
    let resp = state
        .connector
        .clone()
        .list_stock_backups(ConnectionRef {
            tenant_id: caller.tenant(),
            id,
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner();
    Ok(Json(BackupList {
        items: resp.backups,
    }))
}

/// Puts a backup point's quantities and prices back on its channel (operator).
#[utoipa::path(post, path = "/api/v1/backups/{id}/restore", tag = "stock",
    params(("id" = String, Path, description = "backup id")),
    responses(
        (status = 200, description = "restored", body = RestoreStockBackupResponse),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "the key's role does not allow this", body = ErrorBody),
        (status = 404, description = "not found, or another tenant's", body = ErrorBody),
        (status = 503, description = "the channel or a service is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn restore_backup(
    State(state): State<AppState>,
    Operator(caller): Operator,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RestoreStockBackupResponse>> {
    check_uuid(&id, "backup")?;
    let resp = state
        .connector
        .clone()
        .restore_stock_backup(RestoreStockBackupRequest {
            tenant_id: caller.tenant(),
            id: id.clone(),
            actor: caller.key_name.clone(),
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner();
    audit::record_after(
        &state.pool,
        &caller.actor(),
        Change {
            tenant_id: caller.tenant_id,
            action: "stock.backup.restore",
            target_type: "backup",
            target_id: id,
            before: None,
            after: Some(json!({"restored": resp.restored, "rejected": resp.rejected.len()})),
        },
    )
    .await;
    Ok(Json(resp))
}

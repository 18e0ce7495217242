//! `GET /api/v1/audit`: who changed what and when.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::Page;
use crate::AppState;
use crate::audit::{self, AuditEntry};
use crate::auth::Operator;
use crate::error::{ApiQuery, ApiResult, ErrorBody};

/// A page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    /// Entries, newest first.
    pub items: Vec<AuditEntry>,
    /// Entries of the tenant.
    pub total: i64,
}

/// The tenant's audit log, newest first (operator): configuration, syncs, decisions, rules,
/// keys; secrets masked.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(Page),
    responses(
        (status = 200, description = "ok", body = AuditList),
        (status = 400, description = "invalid request (JSON error)", body = ErrorBody),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "the key's role does not allow this", body = ErrorBody),
    ))]
pub(crate) async fn list_audit(
    State(state): State<AppState>,
    Operator(caller): Operator,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<Json<AuditList>> {
    let (limit, offset) = page.resolve()?;
    let (items, total) = audit::list(&state.pool, caller.tenant_id, limit, offset).await?;
    Ok(Json(AuditList { items, total }))
}

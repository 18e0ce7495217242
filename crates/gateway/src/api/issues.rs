//! Issues (monitor service), decisions and corrections (knowledge service).

use axum::Json;
use axum::extract::State;
use marketsync_proto::v1::{
    Correction, CorrectionRef, DecisionRequest, DecisionResponse, Issue, IssueRef,
    ListIssuesRequest, ListRequest,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::Page;
use crate::AppState;
use crate::audit::{self, Change};
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};

const MONITOR: &str = "monitor";
const KNOWLEDGE: &str = "knowledge";

/// Statuses an issue can have.
pub const ISSUE_STATUSES: &[&str] = &["pending_review", "auto_corrected", "resolved", "rejected"];

/// Decisions a person can take on an issue.
pub const DECISIONS: &[&str] = &["approved", "rejected", "modified"];

/// Filters and page of `GET /api/v1/issues`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IssueQuery {
    /// `pending_review`, `auto_corrected`, `resolved` or `rejected`.
    pub status: Option<String>,
    /// Platform id.
    pub platform: Option<String>,
    /// Issue type (`missing_required_field`, …).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub issue_type: Option<String>,
    /// Items per page (default 50, at most 500).
    pub limit: Option<i64>,
    /// Items to skip.
    pub offset: Option<i64>,
}

/// A page of issues.
#[derive(Debug, Serialize, ToSchema)]
pub struct IssueList {
    /// Issues, with their suggestions and confidence.
    pub items: Vec<Issue>,
    /// Issues matching the filters.
    pub total: i64,
}

/// Body of `POST /api/v1/issues/{id}/decision`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DecisionBody {
    /// `approved` (the suggestion), `rejected` or `modified` (with `solution`).
    pub decision: String,
    /// The value chosen by the person: a string, or any JSON value. Required for `modified`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub solution: Option<Value>,
    /// For `approved`: the index of the suggestion approved, from 0 (default 0, the first).
    #[serde(default)]
    pub suggestion: Option<i64>,
}

/// A page of corrections.
#[derive(Debug, Serialize, ToSchema)]
pub struct CorrectionList {
    /// Corrections, newest first.
    pub items: Vec<Correction>,
}

fn non_empty(v: Option<String>) -> String {
    v.map(|s| s.trim().to_string()).unwrap_or_default()
}

/// Issues of the tenant, filtered.
#[utoipa::path(get, path = "/api/v1/issues", tag = "issues",
    params(IssueQuery),
    responses(
        (status = 200, description = "ok", body = IssueList),
        (status = 400, description = "invalid request (JSON error)", body = ErrorBody),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn list_issues(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<IssueQuery>,
) -> ApiResult<Json<IssueList>> {
    let (limit, offset) = super::page(q.limit, q.offset)?;
    let status = non_empty(q.status);
    if !status.is_empty() && !ISSUE_STATUSES.contains(&status.as_str()) {
        return Err(ApiError::invalid(format!(
            "status must be one of {}",
            ISSUE_STATUSES.join(", ")
        )));
    }
    let resp = state
        .monitor
        .clone()
        .list_issues(ListIssuesRequest {
            tenant_id: caller.tenant(),
            status,
            platform: non_empty(q.platform),
            issue_type: non_empty(q.issue_type),
            limit: limit as i32,
            offset: offset as i32,
        })
        .await
        .map_err(ApiError::grpc(MONITOR))?
        .into_inner();
    Ok(Json(IssueList {
        items: resp.issues,
        total: resp.total,
    }))
}

/// One issue with its suggestions and confidence.
#[utoipa::path(get, path = "/api/v1/issues/{id}", tag = "issues",
    params(("id" = String, Path, description = "issue id")),
    responses(
        (status = 200, description = "ok", body = Issue),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "not found, or another tenant's", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn get_issue(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Issue>> {
    let issue = state
        .monitor
        .clone()
        .get_issue(IssueRef {
            tenant_id: caller.tenant(),
            id,
        })
        .await
        .map_err(ApiError::grpc(MONITOR))?
        .into_inner();
    Ok(Json(issue))
}

/// Records a person's decision on an issue; the knowledge base learns from it.
#[utoipa::path(post, path = "/api/v1/issues/{id}/decision", tag = "issues",
    params(("id" = String, Path, description = "issue id")),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "ok", body = DecisionResponse),
        (status = 400, description = "invalid request (JSON error)", body = ErrorBody),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "not found, or another tenant's", body = ErrorBody),
        (status = 409, description = "the issue was already decided", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<DecisionBody>,
) -> ApiResult<Json<DecisionResponse>> {
    let decision = body.decision.trim().to_ascii_lowercase();
    if !DECISIONS.contains(&decision.as_str()) {
        return Err(ApiError::invalid(format!(
            "decision must be one of {}",
            DECISIONS.join(", ")
        )));
    }
    let solution = match body.solution {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
    };
    if decision == "modified" && solution.trim().is_empty() {
        return Err(ApiError::invalid("a modified decision needs a solution"));
    }
    let suggestion = match body.suggestion {
        None => None,
        Some(_) if decision != "approved" => {
            return Err(ApiError::invalid(
                "suggestion names the suggestion of an approved decision",
            ));
        }
        Some(i) if !(0..=i64::from(i32::MAX)).contains(&i) => {
            return Err(ApiError::invalid(
                "suggestion must be the index of one of the issue's suggestions, from 0",
            ));
        }
        Some(i) => Some(i as i32),
    };
    let resp = state
        .knowledge
        .clone()
        .record_decision(DecisionRequest {
            tenant_id: caller.tenant(),
            issue_id: id.clone(),
            decision: decision.clone(),
            solution: solution.clone(),
            decided_by: caller.key_name.clone(),
            suggestion,
        })
        .await
        .map_err(ApiError::grpc(KNOWLEDGE))?
        .into_inner();
    audit::record_after(
        &state.pool,
        &caller.actor(),
        Change {
            tenant_id: caller.tenant_id,
            action: "issue.decision",
            target_type: "issue",
            target_id: id.clone(),
            before: None,
            after: Some(json!({
                "decision": decision,
                "solution": solution,
                "suggestion": suggestion,
                "decision_id": resp.decision_id,
                "pattern_id": resp.pattern_id,
                "correction_id": resp.correction_id,
                "rule_active": resp.rule_active,
                "confidence": resp.confidence,
            })),
        },
    )
    .await;
    tracing::info!(issue = %id, %decision, "decision recorded");
    Ok(Json(resp))
}

/// Corrections of the tenant, newest first.
#[utoipa::path(get, path = "/api/v1/corrections", tag = "corrections",
    params(Page),
    responses(
        (status = 200, description = "ok", body = CorrectionList),
        (status = 400, description = "invalid request (JSON error)", body = ErrorBody),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn list_corrections(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<Json<CorrectionList>> {
    let (limit, offset) = page.resolve()?;
    let resp = state
        .knowledge
        .clone()
        .list_corrections(ListRequest {
            tenant_id: caller.tenant(),
            limit: limit as i32,
            offset: offset as i32,
        })
        .await
        .map_err(ApiError::grpc(KNOWLEDGE))?
        .into_inner();
    Ok(Json(CorrectionList {
        items: resp.corrections,
    }))
}

/// Undoes an applied correction: the old value is written back to the channel.
#[utoipa::path(post, path = "/api/v1/corrections/{id}/undo", tag = "corrections",
    params(("id" = String, Path, description = "correction id")),
    responses(
        (status = 200, description = "ok", body = Correction),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 404, description = "not found, or another tenant's", body = ErrorBody),
        (status = 409, description = "the correction cannot be undone", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn undo_correction(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Correction>> {
    let correction = state
        .knowledge
        .clone()
        .undo_correction(CorrectionRef {
            tenant_id: caller.tenant(),
            id: id.clone(),
            requested_by: caller.key_name.clone(),
        })
        .await
        .map_err(ApiError::grpc(KNOWLEDGE))?
        .into_inner();
    audit::record_after(
        &state.pool,
        &caller.actor(),
        Change {
            tenant_id: caller.tenant_id,
            action: "correction.undo",
            target_type: "correction",
            target_id: id.clone(),
            before: Some(json!({ "field": correction.field, "value": correction.new_value })),
            after: Some(json!({
                "field": correction.field,
                "value": correction.old_value,
                "status": correction.status,
            })),
        },
    )
    .await;
    tracing::info!(correction = %id, "correction undone");
    Ok(Json(correction))
}

//! The knowledge base (patterns, rules, decisions, export and import) and the tenant's metrics.

use axum::Json;
use axum::extract::State;
use marketsync_proto::v1::{
    Decision, KnowledgeStats, ListRequest, MonitorStats, Pattern, Rule, RulesDocument, TenantRef,
    UpdateRuleRequest,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::Page;
use crate::AppState;
use crate::audit::{self, Change};
use crate::auth::{Admin, Caller, Operator};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, ErrorBody};

const MONITOR: &str = "monitor";
const KNOWLEDGE: &str = "knowledge";

/// Issue patterns.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatternList {
    /// Patterns.
    pub items: Vec<Pattern>,
}

/// Auto-correction rules.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    /// Rules.
    pub items: Vec<Rule>,
}

/// Decisions taken by people.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionList {
    /// Decisions, newest first.
    pub items: Vec<Decision>,
}

/// Body of `PATCH /api/v1/knowledge/rules/{id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRule {
    /// Whether the rule applies corrections by itself.
    pub is_active: Option<bool>,
    /// Confidence needed to auto-apply, 0 to 1.
    pub confidence_threshold: Option<f64>,
}

/// Answer of an import.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Imported {
    /// Rules imported.
    pub imported: i64,
}

/// The seed's metrics of the tenant, with the raw counters.
///
/// - `issue_detection_rate`: issues detected per 1000 records validated (the seed's "per 1000
///   syncs", a sync being one record's check);
/// - `auto_correction_rate`: corrections applied automatically by learned rules (they reached
///   the channel, whatever happened next) / issues detected, 0 to 1;
/// - `correction_accuracy`: successful / (successful + failed + undone + recurred) corrections,
///   a successful one being applied and neither undone nor followed by the same issue on the
///   same record within the recurrence window; 1 when no correction had an outcome;
/// - `human_review_time_seconds`: mean time from an issue to a person's decision;
/// - `knowledge_growth`: patterns learned in the last 7 days;
/// - `confidence_trend`: mean pattern confidence after the decisions of the last 30 days minus
///   the mean of the decisions before (0 without older decisions).
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    /// Issues per 1000 records validated.
    pub issue_detection_rate: f64,
    /// Corrections applied automatically / issues detected, 0 to 1.
    pub auto_correction_rate: f64,
    /// Mean time from an issue to a person's decision, in seconds.
    pub human_review_time_seconds: f64,
    /// Successful / (successful + failed + undone + recurred) corrections; 1 when there were none.
    pub correction_accuracy: f64,
    /// Patterns learned in the last 7 days.
    pub knowledge_growth: i64,
    /// Change of the mean confidence over 30 days.
    pub confidence_trend: f64,
    /// Issues detected.
    pub issues_total: i64,
    /// Records validated.
    pub records_validated: i64,
    /// Issues by status.
    pub issues_by_status: std::collections::HashMap<String, i64>,
    /// Issues by type.
    pub issues_by_type: std::collections::HashMap<String, i64>,
    /// Syncs seen by the monitor.
    pub syncs_seen: i64,
    /// Patterns known.
    pub patterns: i64,
    /// Active rules.
    pub rules_active: i64,
    /// Rules switched off because their success rate fell below the floor.
    pub rules_switched_off: i64,
    /// Decisions taken.
    pub decisions: i64,
    /// Approved decisions.
    pub approved: i64,
    /// Rejected decisions.
    pub rejected: i64,
    /// Modified decisions.
    pub modified: i64,
    /// Corrections the channel accepted (including those later undone or come back).
    pub corrections_applied: i64,
    /// Corrections applied and neither undone nor come back.
    pub corrections_successful: i64,
    /// Corrections that failed.
    pub corrections_failed: i64,
    /// Corrections proposed by learned rules on their own.
    pub corrections_auto: i64,
    /// Corrections applied automatically by learned rules.
    pub corrections_auto_applied: i64,
    /// Corrections undone (or undo requested).
    pub corrections_undone: i64,
    /// Corrections whose issue came back for the same record.
    pub corrections_recurred: i64,
    /// Issues recognised as a known pattern with decisions (the seed's phase 2).
    pub issues_recognized: i64,
    /// Mean confidence after each decision.
    pub avg_confidence: f64,
}

impl Stats {
    /// Combines the monitor's and the knowledge service's counters.
    pub fn combine(m: MonitorStats, k: KnowledgeStats) -> Self {
        let issue_detection_rate = if m.records_validated > 0 {
            m.issues_total as f64 * 1000.0 / m.records_validated as f64
        } else {
            0.0
        };
        let auto_correction_rate = if m.issues_total > 0 {
            (k.corrections_auto_applied as f64 / m.issues_total as f64).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let judged = k.corrections_successful
            + k.corrections_failed
            + k.corrections_undone
            + k.corrections_recurred;
        let correction_accuracy = if judged > 0 {
            k.corrections_successful as f64 / judged as f64
        } else {
            1.0
        };
        Self {
            issue_detection_rate,
            auto_correction_rate,
            human_review_time_seconds: k.avg_review_seconds,
            correction_accuracy,
            knowledge_growth: k.patterns_last_7_days,
            confidence_trend: k.confidence_trend_30d,
            issues_total: m.issues_total,
            records_validated: m.records_validated,
            issues_by_status: m.by_status,
            issues_by_type: m.by_type,
            syncs_seen: m.syncs_seen,
            patterns: k.patterns,
            rules_active: k.rules_active,
            rules_switched_off: k.rules_switched_off,
            decisions: k.decisions,
            approved: k.approved,
            rejected: k.rejected,
            modified: k.modified,
            corrections_applied: k.corrections_applied,
            corrections_successful: k.corrections_successful,
            corrections_failed: k.corrections_failed,
            corrections_auto: k.corrections_auto,
            corrections_auto_applied: k.corrections_auto_applied,
            corrections_undone: k.corrections_undone,
            corrections_recurred: k.corrections_recurred,
            issues_recognized: k.issues_recognized,
            avg_confidence: k.avg_confidence,
        }
    }
}

fn list_request(caller: &Caller, page: &Page) -> ApiResult<ListRequest> {
    let (limit, offset) = page.resolve()?;
    Ok(ListRequest {
        tenant_id: caller.tenant(),
        limit: limit as i32,
        offset: offset as i32,
    })
}

/// Issue patterns learned for the tenant.
#[utoipa::path(get, path = "/api/v1/knowledge/patterns", tag = "knowledge",
    params(Page),
    responses(
        (status = 200, description = "ok", body = PatternList),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn list_patterns(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<Json<PatternList>> {
    let resp = state
        .knowledge
        .clone()
        .list_patterns(list_request(&caller, &page)?)
        .await
        .map_err(ApiError::grpc(KNOWLEDGE))?
        .into_inner();
    Ok(Json(PatternList {
        items: resp.patterns,
    }))
}

/// Auto-correction rules of the tenant.
#[utoipa::path(get, path = "/api/v1/knowledge/rules", tag = "knowledge",
    params(Page),
    responses(
        (status = 200, description = "ok", body = RuleList),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn list_rules(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<Json<RuleList>> {
    let resp = state
        .knowledge
        .clone()
        .list_rules(list_request(&caller, &page)?)
        .await
        .map_err(ApiError::grpc(KNOWLEDGE))?
        .into_inner();
    Ok(Json(RuleList { items: resp.rules }))
}

/// Decisions taken on the tenant's issues.
#[utoipa::path(get, path = "/api/v1/knowledge/decisions", tag = "knowledge",
    params(Page),
    responses(
        (status = 200, description = "ok", body = DecisionList),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn list_decisions(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<Page>,
) -> ApiResult<Json<DecisionList>> {
    let resp = state
        .knowledge
        .clone()
        .list_decisions(list_request(&caller, &page)?)
        .await
        .map_err(ApiError::grpc(KNOWLEDGE))?
        .into_inner();
    Ok(Json(DecisionList {
        items: resp.decisions,
    }))
}

/// Finds a rule for the audit trail's "before" (best effort: the first 500 rules).
async fn current_rule(state: &AppState, caller: &Caller, id: &str) -> Option<Rule> {
    let resp = state
        .knowledge
        .clone()
        .list_rules(ListRequest {
            tenant_id: caller.tenant(),
            limit: super::MAX_LIMIT as i32,
            offset: 0,
        })
        .await
        .ok()?
        .into_inner();
    resp.rules.into_iter().find(|r| r.id == id)
}

/// Activates or deactivates a rule, or changes its threshold (admin).
#[utoipa::path(patch, path = "/api/v1/knowledge/rules/{id}", tag = "knowledge",
    params(("id" = String, Path, description = "rule id")),
    request_body = UpdateRule,
    responses(
        (status = 200, description = "ok", body = Rule),
        (status = 400, description = "invalid request (JSON error)", body = ErrorBody),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "the key's role does not allow this", body = ErrorBody),
        (status = 404, description = "not found, or another tenant's", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn update_rule(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateRule>,
) -> ApiResult<Json<Rule>> {
    if body.is_active.is_none() && body.confidence_threshold.is_none() {
        return Err(ApiError::invalid(
            "nothing to change: give is_active or confidence_threshold",
        ));
    }
    if let Some(t) = body.confidence_threshold
        && !(0.0..=1.0).contains(&t)
    {
        return Err(ApiError::invalid(
            "confidence_threshold must be between 0 and 1",
        ));
    }
    let before = current_rule(&state, &caller, &id).await;
    let rule = state
        .knowledge
        .clone()
        .update_rule(UpdateRuleRequest {
            tenant_id: caller.tenant(),
            id: id.clone(),
            is_active: body.is_active,
            confidence_threshold: body.confidence_threshold,
        })
        .await
        .map_err(ApiError::grpc(KNOWLEDGE))?
        .into_inner();
    audit::record_after(
        &state.pool,
        &caller.actor(),
        Change {
            tenant_id: caller.tenant_id,
            action: "rule.update",
            target_type: "rule",
            target_id: id.clone(),
            before: before.map(|r| {
                json!({ "is_active": r.is_active, "confidence_threshold": r.confidence_threshold })
            }),
            after: Some(json!({
                "is_active": rule.is_active,
                "confidence_threshold": rule.confidence_threshold,
            })),
        },
    )
    .await;
    tracing::info!(rule = %id, "rule updated");
    Ok(Json(rule))
}

/// The tenant's rules as a JSON document, for `POST /api/v1/knowledge/import` (operator).
#[utoipa::path(get, path = "/api/v1/knowledge/export", tag = "knowledge",
    responses(
        (status = 200, description = "the export document", body = Object),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "the key's role does not allow this", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn export_rules(
    State(state): State<AppState>,
    Operator(caller): Operator,
) -> ApiResult<Json<Value>> {
    let doc = state
        .knowledge
        .clone()
        .export_rules(TenantRef {
            tenant_id: caller.tenant(),
        })
        .await
        .map_err(ApiError::grpc(KNOWLEDGE))?
        .into_inner();
    let value: Value = serde_json::from_str(&doc.json).map_err(ApiError::internal)?;
    Ok(Json(value))
}

/// Imports rules from an export document (admin).
#[utoipa::path(post, path = "/api/v1/knowledge/import", tag = "knowledge",
    request_body(content = Object, description = "a document of GET /api/v1/knowledge/export"),
    responses(
        (status = 200, description = "ok", body = Imported),
        (status = 400, description = "invalid request (JSON error)", body = ErrorBody),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "the key's role does not allow this", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn import_rules(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiJson(doc): ApiJson<Value>,
) -> ApiResult<Json<Imported>> {
    if !doc.is_object() && !doc.is_array() {
        return Err(ApiError::invalid(
            "the body must be a document of GET /api/v1/knowledge/export",
        ));
    }
    let resp = state
        .knowledge
        .clone()
        .import_rules(RulesDocument {
            json: doc.to_string(),
            tenant_id: caller.tenant(),
        })
        .await
        .map_err(ApiError::grpc(KNOWLEDGE))?
        .into_inner();
    audit::record_after(
        &state.pool,
        &caller.actor(),
        Change {
            tenant_id: caller.tenant_id,
            action: "knowledge.import",
            target_type: "knowledge",
            target_id: caller.tenant(),
            before: None,
            after: Some(json!({ "imported": resp.imported })),
        },
    )
    .await;
    tracing::info!(imported = resp.imported, "rules imported");
    Ok(Json(Imported {
        imported: resp.imported,
    }))
}

/// The seed's metrics: issue detection rate, auto-correction rate, human review time,
/// correction accuracy, knowledge growth, confidence trend.
#[utoipa::path(get, path = "/api/v1/stats", tag = "stats",
    responses(
        (status = 200, description = "ok", body = Stats),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn stats(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Stats>> {
    let tenant = TenantRef {
        tenant_id: caller.tenant(),
    };
    let mut monitor = state.monitor.clone();
    let mut knowledge = state.knowledge.clone();
    let (m, k) = tokio::join!(monitor.stats(tenant.clone()), knowledge.stats(tenant));
    let m = m.map_err(ApiError::grpc(MONITOR))?.into_inner();
    let k = k.map_err(ApiError::grpc(KNOWLEDGE))?.into_inner();
    Ok(Json(Stats::combine(m, k)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_follow_the_seed_formulas() {
        let m = MonitorStats {
            issues_total: 20,
            records_validated: 4000,
            ..Default::default()
        };
        let k = KnowledgeStats {
            // Proposed on their own: 7; applied: 5 (the rate counts those).
            corrections_auto: 7,
            corrections_auto_applied: 5,
            corrections_applied: 12,
            corrections_successful: 8,
            corrections_failed: 1,
            corrections_undone: 2,
            corrections_recurred: 1,
            avg_review_seconds: 42.0,
            patterns_last_7_days: 3,
            confidence_trend_30d: 0.1,
            ..Default::default()
        };
        let s = Stats::combine(m, k);
        assert!((s.issue_detection_rate - 5.0).abs() < 1e-9);
        assert!((s.auto_correction_rate - 0.25).abs() < 1e-9);
        // 8 / (8 + 1 + 2 + 1): undone and recurred corrections are not successes.
        assert!((s.correction_accuracy - 8.0 / 12.0).abs() < 1e-9);
        assert_eq!(s.human_review_time_seconds, 42.0);
        assert_eq!(s.knowledge_growth, 3);
        assert_eq!(s.confidence_trend, 0.1);
        assert_eq!(s.corrections_recurred, 1);

        let empty = Stats::combine(MonitorStats::default(), KnowledgeStats::default());
        assert_eq!(empty.issue_detection_rate, 0.0);
        assert_eq!(empty.auto_correction_rate, 0.0);
        assert_eq!(empty.correction_accuracy, 1.0);
    }
}

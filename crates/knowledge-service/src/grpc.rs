//! KnowledgeService over gRPC.

use std::sync::Arc;

use marketsync_common::{Error, ErrorCode, ts};
use marketsync_proto::v1::knowledge_service_server::KnowledgeService;
use marketsync_proto::v1::*;
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::postgres::PgRow;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    Knowledge, Plan, RuleRow, State, insert_correction, logic_transform, pattern_confidence,
    pattern_knowledge, pattern_of, publish_correction, publish_recognitions, recognize, records_of,
    rule_of, transform,
};

/// The gRPC API.
pub struct Api {
    /// Shared state.
    pub state: Arc<State>,
}

type R<T> = Result<Response<T>, Status>;

fn uuid(s: &str, what: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(s).map_err(|_| Error::invalid(format!("{what} must be a UUID")))
}

fn page(limit: i32, offset: i32) -> (i64, i64) {
    (
        if limit <= 0 { 50 } else { limit.min(500) } as i64,
        offset.max(0) as i64,
    )
}

const RULE_SQL: &str = "SELECT r.auto_rule_id, r.tenant_id, r.pattern_id, r.correction_logic, \
     r.confidence_threshold, r.success_rate, r.application_count, r.is_active, r.created_at, \
     p.issue_description FROM auto_correction_rules r JOIN issue_patterns p USING (pattern_id)";

async fn to_rule(state: &State, r: &PgRow) -> Result<Rule, Error> {
    let id: Uuid = r.get(0);
    let tenant: Uuid = r.get(1);
    let pattern: Uuid = r.get(2);
    let logic: Value = r.get(3);
    let (confidence, approvals) = pattern_confidence(&state.pool, pattern).await?;
    Ok(Rule {
        id: id.to_string(),
        tenant_id: tenant.to_string(),
        pattern_id: pattern.to_string(),
        correction_logic_json: logic.to_string(),
        confidence_threshold: r.get(4),
        success_rate: r.get(5),
        application_count: r.get::<i32, _>(6) as i64,
        is_active: r.get(7),
        created_at: ts(r.get(8)),
        confidence,
        approvals: approvals as i64,
        description: r.get(9),
    })
}

const CORR_SQL: &str = "SELECT id, tenant_id, issue_id, connection_id, platform, sku, external_id, field, \
     old_value, new_value, rule_id, pattern_id, origin, status, error, confidence, created_at, applied_at, \
     record_kind FROM corrections";

fn to_correction(r: &PgRow) -> Correction {
    let u = |i: usize| -> String {
        r.get::<Option<Uuid>, _>(i)
            .map(|u| u.to_string())
            .unwrap_or_default()
    };
    Correction {
        id: u(0),
        tenant_id: u(1),
        issue_id: u(2),
        connection_id: u(3),
        platform: r.get(4),
        sku: r.get(5),
        external_id: r.get(6),
        field: r.get(7),
        old_value: r.get(8),
        new_value: r.get(9),
        rule_id: u(10),
        pattern_id: u(11),
        origin: r.get(12),
        status: r.get(13),
        error: r.get(14),
        confidence: r.get(15),
        created_at: ts(r.get(16)),
        applied_at: ts(r.get(17)),
        record_kind: r.get(18),
        notice: String::new(),
    }
}

impl Api {
    /// Recognises the pattern's pending issues again (up to 500) after a decision.
    async fn refresh_pending(
        &self,
        tenant: Uuid,
        pattern: Uuid,
        decided: &Issue,
        knowledge: Knowledge,
        rule: Option<RuleRow>,
    ) -> Result<(), marketsync_common::bus::HandlerError> {
        let pending = self
            .state
            .monitor
            .clone()
            .list_issues(ListIssuesRequest {
                tenant_id: tenant.to_string(),
                status: "pending_review".into(),
                platform: decided.platform.clone(),
                issue_type: decided.issue_type.clone(),
                limit: 500,
                offset: 0,
            })
            .await
            .map_err(Error::from)?
            .into_inner()
            .issues;
        let issues: Vec<&Issue> = pending
            .iter()
            .filter(|i| i.field == decided.field && i.rule == decided.rule && i.id != decided.id)
            .collect();
        if issues.is_empty() {
            return Ok(());
        }
        let plan = Plan {
            pattern,
            rule,
            knowledge,
            issues,
        };
        let records = if plan.needs_records() {
            records_of(&self.state, tenant, &plan.issues).await
        } else {
            Default::default()
        };
        let items: Vec<IssueRecognition> = recognize(&plan, &records)
            .into_iter()
            .map(|(item, _)| item)
            .collect();
        let by_id: std::collections::HashMap<String, &Issue> =
            plan.issues.iter().map(|i| (i.id.clone(), *i)).collect();
        publish_recognitions(
            &self.state,
            tenant,
            items,
            &by_id,
            &format!("decision:{}:{}", decided.id, knowledge.decisions),
        )
        .await
    }
}

#[tonic::async_trait]
impl KnowledgeService for Api {
    async fn record_decision(&self, req: Request<DecisionRequest>) -> R<DecisionResponse> {
        let r = req.into_inner();
        let tenant = uuid(&r.tenant_id, "tenant_id")?;
        uuid(&r.issue_id, "issue_id")?;
        if !["approved", "rejected", "modified"].contains(&r.decision.as_str()) {
            return Err(Error::invalid("decision must be approved, rejected or modified").into());
        }
        if r.decision == "modified" && r.solution.trim().is_empty() {
            return Err(Error::invalid("a modified decision needs a solution").into());
        }
        if r.suggestion.is_some() && r.decision != "approved" {
            return Err(
                Error::invalid("suggestion names the suggestion of an approved decision").into(),
            );
        }
        let issue = self
            .state
            .monitor
            .clone()
            .get_issue(IssueRef {
                tenant_id: r.tenant_id.clone(),
                id: r.issue_id.clone(),
            })
            .await
            .map_err(Error::from)?
            .into_inner();
        if issue.status != "pending_review" {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!("issue is {}, not pending review", issue.status),
            )
            .into());
        }
        let index = r.suggestion.unwrap_or(0);
        if index < 0 || (r.suggestion.is_some() && index as usize >= issue.suggestions.len()) {
            return Err(Error::invalid(format!(
                "suggestion must be an index of the issue's {} suggestion(s), from 0",
                issue.suggestions.len()
            ))
            .into());
        }
        let top = issue.suggestions.get(index as usize).cloned();
        if r.decision == "approved" && top.is_none() {
            return Err(Error::invalid("no suggestion to approve: modify with a solution").into());
        }
        let value = match r.decision.as_str() {
            "modified" => Some(r.solution.trim().to_string()),
            "approved" => top.as_ref().map(|s| s.value.clone()),
            _ => None,
        };
        let record: Option<Product> = serde_json::from_str(&issue.record_json).ok();
        // A modified decision teaches the correction, not only the value: a transformation of
        // this issue's record that gives the person's value, replayed on the next records.
        let learned = (r.decision == "modified").then(|| {
            transform::learn(
                &issue.field,
                record.as_ref(),
                &issue.current_value,
                &r.solution,
            )
        });
        let strategy = match (&learned, &top) {
            (Some(_), _) => transform::STRATEGY.to_string(),
            (None, Some(s)) if r.decision == "approved" => s.strategy.clone(),
            _ => String::new(),
        };
        let created = chrono::DateTime::parse_from_rfc3339(&issue.created_at)
            .map(|d| {
                (chrono::Utc::now() - d.with_timezone(&chrono::Utc)).num_milliseconds() as f64
                    / 1000.0
            })
            .unwrap_or(0.0)
            .max(0.0);
        let mut tx = self.state.pool.begin().await.map_err(Error::from)?;
        let pattern = pattern_of(&mut tx, tenant, &issue)
            .await
            .map_err(Error::from)?;
        let existing = rule_of(&mut *tx, pattern).await.map_err(Error::from)?;
        let decision_id = Uuid::now_v7();
        let mut final_solution = json!({"strategy": strategy, "value": value});
        if let Some(t) = &learned {
            final_solution["transform"] = serde_json::to_value(t).unwrap_or(Value::Null);
        }
        if r.decision == "approved" {
            final_solution["suggestion"] = json!(index);
        }
        sqlx::query(
            "INSERT INTO correction_decisions (decision_id, tenant_id, pattern_id, issue_id, issue_data, \
             ai_suggestion, human_decision, final_solution, decided_by, review_seconds) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
        )
        .bind(decision_id)
        .bind(tenant)
        .bind(pattern)
        .bind(uuid(&issue.id, "issue id")?)
        .bind(json!({"sku": issue.sku, "field": issue.field, "current_value": issue.current_value,
                     "issue_type": issue.issue_type, "platform": issue.platform,
                     "recognized": issue.recognized}))
        .bind(serde_json::to_value(&top).unwrap_or(Value::Null))
        .bind(&r.decision)
        .bind(final_solution)
        .bind(&r.decided_by)
        .bind(created)
        .execute(&mut *tx)
        .await
        .map_err(|e| match Error::from(e) {
            e if e.code == ErrorCode::AlreadyExists => {
                Error::new(ErrorCode::FailedPrecondition, "this issue was already decided")
            }
            e => e,
        })?;
        let k = pattern_knowledge(&mut *tx, pattern)
            .await
            .map_err(Error::from)?;
        let (confidence, approvals) = (k.confidence, k.approvals);
        sqlx::query("UPDATE correction_decisions SET confidence_score = $2 WHERE decision_id = $1")
            .bind(decision_id)
            .bind(confidence)
            .execute(&mut *tx)
            .await
            .map_err(Error::from)?;
        // The pattern's correction logic: what was learned from a modification (value maps
        // gain entries), or the approved strategy. Approving the learned suggestion keeps it.
        let logic = match (&learned, r.decision.as_str()) {
            (Some(t), _) => {
                let previous = existing.as_ref().and_then(|r| logic_transform(&r.logic));
                let t = transform::merge(previous.as_ref(), t.clone());
                Some(json!({
                    "strategy": transform::STRATEGY, "field": issue.field,
                    "description": t.describe(), "transform": t,
                    "learned_from": issue.id,
                }))
            }
            (None, "approved") if strategy == transform::STRATEGY && existing.is_some() => None,
            (None, "approved") => Some(json!({"strategy": strategy, "field": issue.field})),
            _ => None,
        };
        if let Some(logic) = &logic {
            sqlx::query(
                "INSERT INTO auto_correction_rules AS r (auto_rule_id, tenant_id, pattern_id, correction_logic, confidence_threshold) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (pattern_id) DO UPDATE SET \
                 correction_logic = EXCLUDED.correction_logic, updated_at = now(), \
                 is_active = CASE WHEN r.correction_logic IS DISTINCT FROM EXCLUDED.correction_logic \
                   AND r.switched_off_at IS NOT NULL THEN true ELSE r.is_active END, \
                 success_count = CASE WHEN r.correction_logic IS DISTINCT FROM EXCLUDED.correction_logic THEN 0 ELSE r.success_count END, \
                 failure_count = CASE WHEN r.correction_logic IS DISTINCT FROM EXCLUDED.correction_logic THEN 0 ELSE r.failure_count END, \
                 success_rate = CASE WHEN r.correction_logic IS DISTINCT FROM EXCLUDED.correction_logic THEN 1.0 ELSE r.success_rate END, \
                 switched_off_at = CASE WHEN r.correction_logic IS DISTINCT FROM EXCLUDED.correction_logic THEN NULL ELSE r.switched_off_at END",
            )
            .bind(Uuid::now_v7())
            .bind(tenant)
            .bind(pattern)
            .bind(logic)
            .bind(self.state.policy.threshold)
            .execute(&mut *tx)
            .await
            .map_err(Error::from)?;
        }
        let rule = rule_of(&mut *tx, pattern).await.map_err(Error::from)?;
        let rule_active = rule
            .as_ref()
            .map(|r| {
                r.active
                    && self
                        .state
                        .policy
                        .may_auto_apply(confidence, approvals, r.threshold)
            })
            .unwrap_or(false);
        let correction = match &value {
            Some(v) => insert_correction(
                &mut tx, tenant, &issue, pattern, None, v, "human", confidence,
            )
            .await
            .map_err(Error::from)?,
            None => None,
        };
        tx.commit().await.map_err(Error::from)?;
        self.state.kb.decision(&r.decision);
        if let Some(c) = &correction {
            publish_correction(&self.state, c, "proposed").await?;
        }
        let (status, resolution) = match r.decision.as_str() {
            "rejected" => ("rejected", format!("rejected by {}", r.decided_by)),
            d => (
                "resolved",
                format!(
                    "{d} by {}: applying `{}`",
                    r.decided_by,
                    value.clone().unwrap_or_default()
                ),
            ),
        };
        let decided = self
            .state
            .monitor
            .clone()
            .set_issue_status(SetIssueStatusRequest {
                tenant_id: r.tenant_id.clone(),
                id: r.issue_id.clone(),
                status: status.into(),
                resolution,
            })
            .await
            .map_err(Error::from)?
            .into_inner();
        // Phase 2 for the pattern's issues still under review: they show the new confidence
        // and the correction learned, replayed on their own records. Best effort: the
        // decision is recorded whatever happens here.
        if let Err(e) = self.refresh_pending(tenant, pattern, &issue, k, rule).await {
            tracing::warn!(pattern = %pattern, error = ?e, "pending issues of the pattern not refreshed");
        }
        tracing::info!(issue = %r.issue_id, decision = %r.decision, pattern = %pattern, confidence, approvals, rule_active, "decision recorded");
        Ok(Response::new(DecisionResponse {
            decision_id: decision_id.to_string(),
            pattern_id: pattern.to_string(),
            confidence,
            rule_active,
            correction_id: correction.map(|c| c.id).unwrap_or_default(),
            issue: Some(decided),
            correction_logic_json: logic.map(|l| l.to_string()).unwrap_or_default(),
            approved: if r.decision == "approved" { top } else { None },
        }))
    }

    async fn list_patterns(&self, req: Request<ListRequest>) -> R<ListPatternsResponse> {
        let r = req.into_inner();
        let (limit, offset) = page(r.limit, r.offset);
        let rows = sqlx::query(
            "SELECT p.pattern_id, p.tenant_id, p.marketplace_name, p.issue_type, p.issue_description, \
             p.pattern_signature, p.occurrence_count, p.last_seen_at, coalesce(r.success_rate, 1.0) \
             FROM issue_patterns p LEFT JOIN auto_correction_rules r USING (pattern_id) \
             WHERE p.tenant_id = $1 ORDER BY p.occurrence_count DESC, p.pattern_id LIMIT $2 OFFSET $3",
        )
        .bind(uuid(&r.tenant_id, "tenant_id")?)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.state.pool)
        .await
        .map_err(Error::from)?;
        let mut patterns = Vec::new();
        for row in rows {
            let id: Uuid = row.get(0);
            let tenant: Uuid = row.get(1);
            let sig: Value = row.get(5);
            let (confidence, _) = pattern_confidence(&self.state.pool, id)
                .await
                .map_err(Error::from)?;
            patterns.push(Pattern {
                id: id.to_string(),
                tenant_id: tenant.to_string(),
                platform: row.get(2),
                issue_type: row.get(3),
                description: row.get(4),
                signature_json: sig.to_string(),
                occurrence_count: row.get::<i32, _>(6) as i64,
                last_seen_at: ts(row.get(7)),
                confidence,
                success_rate: row.get(8),
            });
        }
        Ok(Response::new(ListPatternsResponse { patterns }))
    }

    async fn list_rules(&self, req: Request<ListRequest>) -> R<ListRulesResponse> {
        let r = req.into_inner();
        let (limit, offset) = page(r.limit, r.offset);
        let sql =
            format!("{RULE_SQL} WHERE r.tenant_id = $1 ORDER BY r.created_at LIMIT $2 OFFSET $3");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(uuid(&r.tenant_id, "tenant_id")?)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.state.pool)
            .await
            .map_err(Error::from)?;
        let mut rules = Vec::new();
        for row in &rows {
            rules.push(to_rule(&self.state, row).await?);
        }
        Ok(Response::new(ListRulesResponse { rules }))
    }

    async fn list_decisions(&self, req: Request<ListRequest>) -> R<ListDecisionsResponse> {
        let r = req.into_inner();
        let (limit, offset) = page(r.limit, r.offset);
        let rows = sqlx::query(
            "SELECT decision_id, tenant_id, pattern_id, issue_id, ai_suggestion, human_decision, \
             final_solution, decided_by, decided_at, confidence_score FROM correction_decisions \
             WHERE tenant_id = $1 ORDER BY decided_at DESC LIMIT $2 OFFSET $3",
        )
        .bind(uuid(&r.tenant_id, "tenant_id")?)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.state.pool)
        .await
        .map_err(Error::from)?;
        let decisions = rows
            .iter()
            .map(|row| Decision {
                id: row.get::<Uuid, _>(0).to_string(),
                tenant_id: row.get::<Uuid, _>(1).to_string(),
                pattern_id: row.get::<Uuid, _>(2).to_string(),
                issue_id: row.get::<Uuid, _>(3).to_string(),
                ai_suggestion_json: row.get::<Value, _>(4).to_string(),
                human_decision: row.get(5),
                final_solution_json: row.get::<Value, _>(6).to_string(),
                decided_by: row.get(7),
                decided_at: ts(row.get(8)),
                confidence_score: row.get(9),
            })
            .collect();
        Ok(Response::new(ListDecisionsResponse { decisions }))
    }

    async fn update_rule(&self, req: Request<UpdateRuleRequest>) -> R<Rule> {
        let r = req.into_inner();
        let tenant = uuid(&r.tenant_id, "tenant_id")?;
        let id = uuid(&r.id, "id")?;
        if let Some(t) = r.confidence_threshold
            && !(0.0..=1.0).contains(&t)
        {
            return Err(Error::invalid("confidence_threshold must be within 0..1").into());
        }
        let done = sqlx::query(
            "UPDATE auto_correction_rules SET is_active = coalesce($3, is_active), \
             confidence_threshold = coalesce($4, confidence_threshold), updated_at = now() \
             WHERE tenant_id = $1 AND auto_rule_id = $2",
        )
        .bind(tenant)
        .bind(id)
        .bind(r.is_active)
        .bind(r.confidence_threshold)
        .execute(&self.state.pool)
        .await
        .map_err(Error::from)?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("rule not found").into());
        }
        let sql = format!("{RULE_SQL} WHERE r.tenant_id = $1 AND r.auto_rule_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(id)
            .fetch_one(&self.state.pool)
            .await
            .map_err(Error::from)?;
        Ok(Response::new(to_rule(&self.state, &row).await?))
    }

    async fn export_rules(&self, req: Request<TenantRef>) -> R<RulesDocument> {
        let r = req.into_inner();
        let tenant = uuid(&r.tenant_id, "tenant_id")?;
        let rows = sqlx::query(
            "SELECT p.pattern_signature, p.issue_description, r.correction_logic, r.confidence_threshold, \
             r.is_active FROM auto_correction_rules r JOIN issue_patterns p USING (pattern_id) \
             WHERE r.tenant_id = $1 ORDER BY p.signature_key",
        )
        .bind(tenant)
        .fetch_all(&self.state.pool)
        .await
        .map_err(Error::from)?;
        let rules: Vec<Value> = rows
            .iter()
            .map(|row| {
                json!({
                    "signature": row.get::<Value, _>(0),
                    "description": row.get::<String, _>(1),
                    "correction_logic": row.get::<Value, _>(2),
                    "confidence_threshold": row.get::<f64, _>(3),
                    "is_active": row.get::<bool, _>(4),
                })
            })
            .collect();
        let doc =
            json!({"version": 1, "exported_at": marketsync_common::now_rfc3339(), "rules": rules});
        Ok(Response::new(RulesDocument {
            json: doc.to_string(),
            tenant_id: r.tenant_id,
        }))
    }

    async fn import_rules(&self, req: Request<RulesDocument>) -> R<ImportResponse> {
        let r = req.into_inner();
        let tenant = uuid(&r.tenant_id, "tenant_id")?;
        let doc: Value = serde_json::from_str(&r.json)
            .map_err(|e| Error::invalid(format!("not a rules document: {e}")))?;
        let rules = doc
            .get("rules")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::invalid("a rules document has a `rules` array"))?;
        let mut tx = self.state.pool.begin().await.map_err(Error::from)?;
        let mut imported = 0;
        for (n, rule) in rules.iter().enumerate() {
            let sig = rule.get("signature").cloned().unwrap_or(Value::Null);
            let field = |k: &str| sig.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let issue = Issue {
                platform: field("platform"),
                issue_type: field("issue_type"),
                field: field("field"),
                rule: field("rule"),
                ..Default::default()
            };
            if issue.platform.is_empty() || issue.issue_type.is_empty() {
                return Err(Error::invalid(format!(
                    "rules[{n}]: signature needs platform and issue_type"
                ))
                .into());
            }
            let logic = rule.get("correction_logic").cloned().unwrap_or(json!({}));
            if logic.get("strategy").and_then(Value::as_str).is_none() {
                return Err(Error::invalid(format!(
                    "rules[{n}]: correction_logic needs a strategy"
                ))
                .into());
            }
            let threshold = rule
                .get("confidence_threshold")
                .and_then(Value::as_f64)
                .unwrap_or(self.state.policy.threshold);
            if !(0.0..=1.0).contains(&threshold) {
                return Err(Error::invalid(format!(
                    "rules[{n}]: confidence_threshold must be within 0..1"
                ))
                .into());
            }
            let active = rule
                .get("is_active")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let pattern = pattern_of(&mut tx, tenant, &issue)
                .await
                .map_err(Error::from)?;
            sqlx::query(
                "INSERT INTO auto_correction_rules (auto_rule_id, tenant_id, pattern_id, correction_logic, \
                 confidence_threshold, is_active) VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (pattern_id) DO UPDATE \
                 SET correction_logic = EXCLUDED.correction_logic, confidence_threshold = EXCLUDED.confidence_threshold, \
                 is_active = EXCLUDED.is_active, updated_at = now()",
            )
            .bind(Uuid::now_v7())
            .bind(tenant)
            .bind(pattern)
            .bind(logic)
            .bind(threshold)
            .bind(active)
            .execute(&mut *tx)
            .await
            .map_err(Error::from)?;
            imported += 1;
        }
        tx.commit().await.map_err(Error::from)?;
        Ok(Response::new(ImportResponse { imported }))
    }

    async fn list_corrections(&self, req: Request<ListRequest>) -> R<ListCorrectionsResponse> {
        let r = req.into_inner();
        let (limit, offset) = page(r.limit, r.offset);
        let sql =
            format!("{CORR_SQL} WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT $2 OFFSET $3");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(uuid(&r.tenant_id, "tenant_id")?)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.state.pool)
            .await
            .map_err(Error::from)?;
        Ok(Response::new(ListCorrectionsResponse {
            corrections: rows.iter().map(to_correction).collect(),
        }))
    }

    async fn undo_correction(&self, req: Request<CorrectionRef>) -> R<Correction> {
        let r = req.into_inner();
        let tenant = uuid(&r.tenant_id, "tenant_id")?;
        let id = uuid(&r.id, "id")?;
        let sql = format!("{CORR_SQL} WHERE tenant_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(id)
            .fetch_optional(&self.state.pool)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::not_found("correction not found"))?;
        let mut c = to_correction(&row);
        if c.status != "applied" {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!(
                    "only an applied correction can be undone (this one is {})",
                    c.status
                ),
            )
            .into());
        }
        sqlx::query("UPDATE corrections SET status = 'undo_requested' WHERE id = $1")
            .bind(id)
            .execute(&self.state.pool)
            .await
            .map_err(Error::from)?;
        c.status = "undo_requested".into();
        publish_correction(&self.state, &c, "undo").await?;
        Ok(Response::new(c))
    }

    async fn stats(&self, req: Request<TenantRef>) -> R<KnowledgeStats> {
        let tenant = uuid(&req.into_inner().tenant_id, "tenant_id")?;
        Ok(Response::new(
            crate::stats(&self.state.pool, Some(tenant))
                .await
                .map_err(Error::from)?,
        ))
    }
}

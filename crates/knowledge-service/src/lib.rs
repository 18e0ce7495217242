//! The knowledge service: learns from people's decisions (the seed's knowledge base), applies a
//! learned correction on its own once confident enough, and tracks whether corrections work.

mod grpc;
pub mod learn;
pub mod replay;

use std::sync::Arc;

use async_nats::jetstream::Message;
use marketsync_common::bus::{Bus, HandlerError, decode};
use marketsync_common::config::Service;
use marketsync_common::db;
use marketsync_common::grpc::TracedChannel;
use marketsync_common::health::Metrics;
use marketsync_common::service::Base;
use marketsync_proto::v1::knowledge_service_server::KnowledgeServiceServer;
use marketsync_proto::v1::monitor_service_client::MonitorServiceClient;
use marketsync_proto::v1::{Correction, Issue, IssueBatch};
use serde_json::json;
use sqlx::{PgPool, Postgres, Row, Transaction};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use learn::Policy;

/// Shared state.
pub struct State {
    /// Database (schema `knowledge`).
    pub pool: PgPool,
    /// NATS.
    pub bus: Bus,
    /// Metrics.
    pub metrics: Metrics,
    /// Learning settings.
    pub policy: Policy,
    /// The monitor, for issues.
    pub monitor: MonitorServiceClient<TracedChannel>,
}

/// Runs the service until `shutdown`.
pub async fn run(shutdown: CancellationToken) -> anyhow::Result<()> {
    let policy = Policy::from_env()?;
    let base = Base::start(Service::Knowledge, &db::migrations::KNOWLEDGE).await?;
    let health = base.health();
    let Base {
        grpc_addr,
        http_addr,
        pool,
        bus,
        metrics,
    } = base;
    let monitor = MonitorServiceClient::new(marketsync_common::grpc::channel(
        &Service::Monitor.grpc_url(),
    )?);
    let state = Arc::new(State {
        pool: pool.clone(),
        bus: bus.clone(),
        metrics: metrics.clone(),
        policy,
        monitor,
    });
    let serving = marketsync_common::grpc::serve(
        "marketsync.v1.KnowledgeService",
        KnowledgeServiceServer::new(grpc::Api {
            state: state.clone(),
        }),
        grpc_addr,
        http_addr,
        health,
        shutdown.clone(),
    )
    .await?;
    let issues = bus
        .durable(
            "ISSUES",
            "knowledge-issues",
            vec![bus.subject(&["issues", "*", "detected"])],
        )
        .await?;
    let corrections = bus
        .durable(
            "CORRECTIONS",
            "knowledge-corrections",
            vec![
                bus.subject(&["corrections", "*", "applied"]),
                bus.subject(&["corrections", "*", "failed"]),
                bus.subject(&["corrections", "*", "undone"]),
            ],
        )
        .await?;
    tracing::info!(grpc = %serving.grpc, http = %serving.http, "knowledge listening");
    let st = state.clone();
    let t1 = bus.spawn(
        issues,
        "knowledge-issues",
        metrics.clone(),
        shutdown.clone(),
        1,
        move |msg| handle_issues(st.clone(), msg),
    );
    let st = state.clone();
    let t2 = bus.spawn(
        corrections,
        "knowledge-corrections",
        metrics.clone(),
        shutdown.clone(),
        1,
        move |msg| handle_correction(st.clone(), msg),
    );
    shutdown.cancelled().await;
    let _ = tokio::join!(t1, t2);
    for t in serving.tasks {
        let _ = t.await;
    }
    tracing::info!("knowledge stopped");
    Ok(())
}

/// `platform|issue_type|field|rule`: what makes two issues the same pattern.
pub fn signature_key(i: &Issue) -> String {
    format!("{}|{}|{}|{}", i.platform, i.issue_type, i.field, i.rule)
}

/// Finds or creates the pattern of an issue, counting the issue once as an occurrence.
pub(crate) async fn pattern_of(
    tx: &mut Transaction<'_, Postgres>,
    tenant: Uuid,
    issue: &Issue,
) -> Result<Uuid, sqlx::Error> {
    let key = signature_key(issue);
    let signature = json!({
        "platform": issue.platform, "issue_type": issue.issue_type,
        "field": issue.field, "rule": issue.rule,
    });
    let pattern: Uuid = sqlx::query_scalar(
        "INSERT INTO issue_patterns (pattern_id, tenant_id, marketplace_name, issue_type, \
         issue_description, pattern_signature, signature_key) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (tenant_id, signature_key) DO UPDATE SET last_seen_at = now() RETURNING pattern_id",
    )
    .bind(Uuid::now_v7())
    .bind(tenant)
    .bind(&issue.platform)
    .bind(&issue.issue_type)
    .bind(format!("{} ({} on {})", issue.issue_type.replace('_', " "), issue.field, issue.platform))
    .bind(signature)
    .bind(key)
    .fetch_one(&mut **tx)
    .await?;
    if let Ok(issue_id) = Uuid::parse_str(&issue.id) {
        let fresh = sqlx::query(
            "INSERT INTO pattern_occurrences (issue_id, tenant_id, pattern_id) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(issue_id)
        .bind(tenant)
        .bind(pattern)
        .execute(&mut **tx)
        .await?;
        if fresh.rows_affected() == 1 {
            sqlx::query(
                "UPDATE issue_patterns SET occurrence_count = occurrence_count + 1 WHERE pattern_id = $1",
            )
            .bind(pattern)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(pattern)
}

/// (confidence, approvals) of a pattern from its decisions.
pub(crate) async fn pattern_confidence(
    ex: impl sqlx::PgExecutor<'_>,
    pattern: Uuid,
) -> Result<(f64, usize), sqlx::Error> {
    let decisions: Vec<String> = sqlx::query_scalar(
        "SELECT human_decision FROM correction_decisions WHERE pattern_id = $1 ORDER BY decided_at, decision_id",
    )
    .bind(pattern)
    .fetch_all(ex)
    .await?;
    let refs: Vec<&str> = decisions.iter().map(String::as_str).collect();
    let approvals = refs.iter().filter(|d| **d == "approved").count();
    Ok((learn::confidence(&refs), approvals))
}

/// Publishes a correction event.
pub(crate) async fn publish_correction(
    state: &State,
    c: &Correction,
    what: &str,
) -> Result<(), marketsync_common::Error> {
    state
        .bus
        .publish(
            state.bus.subject(&["corrections", &c.tenant_id, what]),
            &format!("marketsync.correction.{what}.v1"),
            &c.tenant_id,
            &format!("{}.{what}", c.id),
            c,
        )
        .await
}

/// Records a correction and returns it as an event.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert_correction(
    tx: &mut Transaction<'_, Postgres>,
    tenant: Uuid,
    issue: &Issue,
    pattern: Uuid,
    rule: Option<Uuid>,
    value: &str,
    origin: &str,
    confidence: f64,
) -> Result<Option<Correction>, sqlx::Error> {
    let id = Uuid::now_v7();
    let issue_id = Uuid::parse_str(&issue.id).unwrap_or_else(|_| Uuid::nil());
    let connection = Uuid::parse_str(&issue.connection_id).unwrap_or_else(|_| Uuid::nil());
    let inserted = sqlx::query(
        "INSERT INTO corrections (id, tenant_id, issue_id, pattern_id, rule_id, connection_id, platform, \
         record_kind, sku, external_id, field, old_value, new_value, origin, confidence) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) ON CONFLICT (issue_id, origin) DO NOTHING",
    )
    .bind(id)
    .bind(tenant)
    .bind(issue_id)
    .bind(pattern)
    .bind(rule)
    .bind(connection)
    .bind(&issue.platform)
    .bind(&issue.record_kind)
    .bind(&issue.sku)
    .bind(&issue.external_id)
    .bind(&issue.field)
    .bind(&issue.current_value)
    .bind(value)
    .bind(origin)
    .bind(confidence)
    .execute(&mut **tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Ok(None);
    }
    Ok(Some(Correction {
        id: id.to_string(),
        tenant_id: tenant.to_string(),
        issue_id: issue.id.clone(),
        connection_id: issue.connection_id.clone(),
        platform: issue.platform.clone(),
        sku: issue.sku.clone(),
        external_id: issue.external_id.clone(),
        field: issue.field.clone(),
        old_value: issue.current_value.clone(),
        new_value: value.to_string(),
        rule_id: rule.map(|r| r.to_string()).unwrap_or_default(),
        pattern_id: pattern.to_string(),
        origin: origin.to_string(),
        status: "proposed".into(),
        confidence,
        created_at: marketsync_common::now_rfc3339(),
        record_kind: issue.record_kind.clone(),
        ..Default::default()
    }))
}

/// Each detected issue: counted in its pattern; corrected on its own when the pattern's rule
/// is active and confident enough (phase 3 of the seed). Issues are handled per pattern, so a
/// batch costs a few statements whatever its size.
async fn handle_issues(state: Arc<State>, msg: Message) -> Result<(), HandlerError> {
    let batch: IssueBatch = decode(&msg)?;
    let tenant = Uuid::parse_str(&batch.tenant_id)
        .map_err(|_| HandlerError::Poison("invalid tenant".into()))?;
    let mut groups: std::collections::BTreeMap<String, Vec<&Issue>> = Default::default();
    for issue in &batch.issues {
        groups.entry(signature_key(issue)).or_default().push(issue);
    }
    let mut proposed = Vec::new();
    let mut tx = state.pool.begin().await?;
    for issues in groups.values() {
        let first = issues[0];
        let key = signature_key(first);
        let signature = json!({
            "platform": first.platform, "issue_type": first.issue_type,
            "field": first.field, "rule": first.rule,
        });
        let pattern: Uuid = sqlx::query_scalar(
            "INSERT INTO issue_patterns (pattern_id, tenant_id, marketplace_name, issue_type, \
             issue_description, pattern_signature, signature_key) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id, signature_key) DO UPDATE SET last_seen_at = now() RETURNING pattern_id",
        )
        .bind(Uuid::now_v7())
        .bind(tenant)
        .bind(&first.platform)
        .bind(&first.issue_type)
        .bind(format!(
            "{} ({} on {})",
            first.issue_type.replace('_', " "),
            first.field,
            first.platform
        ))
        .bind(signature)
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
        let ids: Vec<Uuid> = issues
            .iter()
            .filter_map(|i| Uuid::parse_str(&i.id).ok())
            .collect();
        // Occurrences count once per issue, whatever the redeliveries.
        sqlx::query(
            "WITH fresh AS (INSERT INTO pattern_occurrences (issue_id, tenant_id, pattern_id) \
             SELECT i, $1, $2 FROM UNNEST($3::uuid[]) AS t(i) ON CONFLICT DO NOTHING RETURNING 1) \
             UPDATE issue_patterns SET occurrence_count = occurrence_count + (SELECT count(*) FROM fresh) \
             WHERE pattern_id = $2",
        )
        .bind(tenant)
        .bind(pattern)
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
        let rule = sqlx::query(
            "SELECT auto_rule_id, correction_logic, confidence_threshold, is_active \
             FROM auto_correction_rules WHERE pattern_id = $1",
        )
        .bind(pattern)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(rule) = rule else { continue };
        let rule_id: Uuid = rule.get(0);
        let logic: serde_json::Value = rule.get(1);
        let threshold: f64 = rule.get(2);
        let active: bool = rule.get(3);
        if !active {
            continue;
        }
        let (confidence, approvals) = pattern_confidence(&mut *tx, pattern).await?;
        if !state
            .policy
            .may_auto_apply(confidence, approvals, threshold)
        {
            continue;
        }
        let strategy = logic.get("strategy").and_then(|s| s.as_str()).unwrap_or("");
        for issue in issues {
            let Some(value) = issue
                .suggestions
                .iter()
                .find(|s| s.strategy == strategy)
                .map(|s| s.value.clone())
            else {
                continue;
            };
            if let Some(c) = insert_correction(
                &mut tx,
                tenant,
                issue,
                pattern,
                Some(rule_id),
                &value,
                "auto",
                confidence,
            )
            .await?
            {
                proposed.push(c);
            }
        }
    }
    tx.commit().await?;
    for c in &proposed {
        tracing::info!(correction = %c.id, sku = %c.sku, field = %c.field, confidence = c.confidence, "auto-correction proposed");
        publish_correction(&state, c, "proposed").await?;
    }
    state.metrics.record("issues", batch.issues.len() as u64);
    state
        .metrics
        .record("auto_corrections", proposed.len() as u64);
    Ok(())
}

/// Tracks outcomes: correction status, rule application count and success rate; a rule whose
/// success rate falls below the floor is switched off.
async fn handle_correction(state: Arc<State>, msg: Message) -> Result<(), HandlerError> {
    let c: Correction = decode(&msg)?;
    let Ok(id) = Uuid::parse_str(&c.id) else {
        return Err(HandlerError::Poison("invalid correction id".into()));
    };
    let status = msg.subject.rsplit('.').next().unwrap_or("").to_string();
    let prev: Option<String> = sqlx::query_scalar(
        "UPDATE corrections SET status = $2, error = $3, applied_at = CASE WHEN $2 = 'applied' THEN now() ELSE applied_at END \
         WHERE id = $1 AND status <> $2 RETURNING status",
    )
    .bind(id)
    .bind(&status)
    .bind(&c.error)
    .fetch_optional(&state.pool)
    .await?;
    if prev.is_none() {
        return Ok(()); // duplicate delivery
    }
    if let Ok(rule) = Uuid::parse_str(&c.rule_id) {
        let (ok, bad) = match status.as_str() {
            "applied" => (1, 0),
            "failed" | "undone" => (0, 1),
            _ => (0, 0),
        };
        let applied = if status == "applied" { 1 } else { 0 };
        sqlx::query(
            "UPDATE auto_correction_rules SET application_count = application_count + $2, \
             success_count = success_count + $3, failure_count = failure_count + $4, \
             success_rate = CASE WHEN success_count + $3 + failure_count + $4 = 0 THEN 1.0 \
               ELSE (success_count + $3)::float8 / (success_count + $3 + failure_count + $4) END, \
             is_active = is_active AND NOT (success_count + $3 + failure_count + $4 >= 3 AND \
               (success_count + $3)::float8 / (success_count + $3 + failure_count + $4) < $5), \
             updated_at = now() WHERE auto_rule_id = $1",
        )
        .bind(rule)
        .bind(applied)
        .bind(ok)
        .bind(bad)
        .bind(state.policy.success_floor)
        .execute(&state.pool)
        .await?;
    }
    Ok(())
}

//! The knowledge service: learns from people's decisions (the seed's knowledge base), applies a
//! learned correction on its own once confident enough, and tracks whether corrections work.
//!
//! The seed's four phases, as they show in data and API:
//! 1. *Detect and ask*: every detected issue (`ms.issues.<t>.detected`) is counted in its
//!    pattern (`platform|issue_type|field|rule`); a person decides
//!    (`POST /api/v1/issues/{id}/decision`: approved — suggestion `suggestion`, default 0 —,
//!    rejected, or modified with a solution) and the decision is saved with the pattern's
//!    confidence after it (the seed's formula, [`learn::confidence`]).
//! 2. *Recognise and ask faster*: an issue of a pattern with decisions (or an imported rule) is
//!    recognised: the knowledge service tells the monitor (`MonitorService.RecognizeIssues`,
//!    kept in the issue's own columns, so the monitor never calls back) and the issue shows
//!    `recognized: true`, `pattern_id`, the pattern's confidence as its `confidence`, and the
//!    pattern's correction replayed on its own record as suggestion 0. It is announced on
//!    `ms.issues.<t>.recognized`. The pattern's pending issues are recognised again after each
//!    decision, so the queue shows the new confidence at once.
//! 3. *Auto-correct and notify*: when the rule is active, approvals ≥ `MARKETSYNC_MIN_APPROVALS`
//!    and confidence ≥ the rule's threshold, that correction is proposed on its own
//!    (`ms.corrections.<t>.proposed`, origin `auto`); once the channel accepted it, a notice is
//!    published on `ms.corrections.<t>.auto_corrected` (nothing to do, undo possible).
//! 4. *Keep learning*: confidence is recomputed at every decision; each correction's outcome
//!    (applied: success; failed, undone, or its issue back for the same record within
//!    `MARKETSYNC_RECURRENCE_WINDOW_SECS`: failure) updates its rule's success rate; a rule below
//!    `MARKETSYNC_SUCCESS_FLOOR` after `MARKETSYNC_MIN_OUTCOMES` outcomes is switched off and
//!    the issues it corrected go back to review.
//!
//! A `modified` decision teaches the correction, not only the value: [`transform::learn`]
//! finds how the person's value derives from the issue's record (a template over its fields,
//! a numeric rule, a value map, or a constant), stored as the rule's `correction_logic`
//! (`{"strategy":"learned_transform","transform":…}`) and applied to each next issue's own
//! record.

mod grpc;
pub mod learn;
pub mod metrics;
pub mod replay;
pub mod transform;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_nats::jetstream::Message;
use marketsync_common::bus::{Bus, HandlerError, decode};
use marketsync_common::config::Service;
use marketsync_common::db;
use marketsync_common::grpc::TracedChannel;
use marketsync_common::health::Metrics;
use marketsync_common::service::Base;
use marketsync_proto::v1::connector_service_client::ConnectorServiceClient;
use marketsync_proto::v1::knowledge_service_server::KnowledgeServiceServer;
use marketsync_proto::v1::monitor_service_client::MonitorServiceClient;
use marketsync_proto::v1::{
    Correction, Issue, IssueBatch, IssueRecognition, KnowledgeStats, ListProductsRequest, Product,
    RecognizeIssuesRequest, SetIssueStatusRequest, Suggestion,
};
use serde_json::json;
use sqlx::{PgPool, Postgres, Row, Transaction};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use learn::Policy;
use metrics::KbMetrics;
use transform::Transform;

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
    /// The connector, for the records of issues a learned transform reads.
    pub connector: ConnectorServiceClient<TracedChannel>,
    /// The knowledge base's own metrics.
    pub kb: KbMetrics,
    /// Held while issues of switched-off rules go back to review.
    pub reviewing: tokio::sync::Mutex<()>,
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
    let connector = ConnectorServiceClient::new(marketsync_common::grpc::channel(
        &Service::Connector.grpc_url(),
    )?);
    let stats_every = std::time::Duration::from_secs_f64(
        marketsync_common::config::var_or("MARKETSYNC_KNOWLEDGE_STATS_SECS", "30")
            .parse::<f64>()?
            .max(0.1),
    );
    let state = Arc::new(State {
        pool: pool.clone(),
        bus: bus.clone(),
        kb: KbMetrics::register(&metrics),
        metrics: metrics.clone(),
        policy,
        monitor,
        connector,
        reviewing: tokio::sync::Mutex::new(()),
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
    // The seed's metrics as gauges, and issues of switched-off rules not yet back to review.
    let st = state.clone();
    let stop = shutdown.clone();
    let t3 = tokio::spawn(async move {
        loop {
            match stats(&st.pool, None).await {
                Ok(s) => st.kb.set(&s),
                Err(e) => tracing::warn!(error = %e, "knowledge metrics not refreshed"),
            }
            if let Err(e) = return_to_review(&st).await {
                tracing::warn!(error = ?e, "issues of switched-off rules not yet back to review");
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(stats_every) => {}
            }
        }
    });
    shutdown.cancelled().await;
    let _ = tokio::join!(t1, t2, t3);
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

/// What the knowledge base knows of a pattern from people's decisions.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Knowledge {
    /// The seed's confidence over the pattern's decisions.
    pub confidence: f64,
    /// Approved decisions.
    pub approvals: usize,
    /// All decisions.
    pub decisions: usize,
}

/// The confidence, approvals and decisions of a pattern.
pub(crate) async fn pattern_knowledge(
    ex: impl sqlx::PgExecutor<'_>,
    pattern: Uuid,
) -> Result<Knowledge, sqlx::Error> {
    let decisions: Vec<String> = sqlx::query_scalar(
        "SELECT human_decision FROM correction_decisions WHERE pattern_id = $1 ORDER BY decided_at, decision_id",
    )
    .bind(pattern)
    .fetch_all(ex)
    .await?;
    let refs: Vec<&str> = decisions.iter().map(String::as_str).collect();
    Ok(Knowledge {
        confidence: learn::confidence(&refs),
        approvals: refs.iter().filter(|d| **d == "approved").count(),
        decisions: refs.len(),
    })
}

/// A pattern's auto-correction rule.
#[derive(Debug, Clone)]
pub(crate) struct RuleRow {
    pub id: Uuid,
    pub logic: serde_json::Value,
    pub threshold: f64,
    pub active: bool,
}

/// The rule of a pattern, if one was learned or imported.
pub(crate) async fn rule_of(
    ex: impl sqlx::PgExecutor<'_>,
    pattern: Uuid,
) -> Result<Option<RuleRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT auto_rule_id, correction_logic, confidence_threshold, is_active \
         FROM auto_correction_rules WHERE pattern_id = $1",
    )
    .bind(pattern)
    .fetch_optional(ex)
    .await?;
    Ok(row.map(|r| RuleRow {
        id: r.get(0),
        logic: r.get(1),
        threshold: r.get(2),
        active: r.get(3),
    }))
}

/// The learned transform of a rule's logic (`{"strategy":"learned_transform","transform":…}`).
pub(crate) fn logic_transform(logic: &serde_json::Value) -> Option<Transform> {
    if logic.get("strategy").and_then(|s| s.as_str()) != Some(transform::STRATEGY) {
        return None;
    }
    serde_json::from_value(logic.get("transform")?.clone()).ok()
}

/// The correction a rule's logic gives for an issue, as a suggestion ranked first: its learned
/// transform applied to the issue's own record, or the issue's own suggestion of the approved
/// strategy (replayed by the engine on this record). `None` when it cannot tell, or when it
/// would change nothing.
pub(crate) fn replay(
    logic: &serde_json::Value,
    k: &Knowledge,
    issue: &Issue,
    record: Option<&Product>,
) -> Option<Suggestion> {
    let strategy = logic.get("strategy").and_then(|s| s.as_str())?;
    let (value, how) = if strategy == transform::STRATEGY {
        let t = logic_transform(logic)?;
        (
            t.apply(record, &issue.current_value)?,
            format!("learned from a person's correction: {}", t.describe()),
        )
    } else {
        let s = issue.suggestions.iter().find(|s| s.strategy == strategy)?;
        (
            s.value.clone(),
            format!("the correction approved before for this pattern ({strategy})"),
        )
    };
    if value.trim().is_empty() || value == issue.current_value {
        return None;
    }
    Some(Suggestion {
        strategy: strategy.to_string(),
        value,
        confidence: k.confidence,
        explanation: format!(
            "{how}; {} of {} decisions approved",
            k.approvals, k.decisions
        ),
    })
}

/// Phase 3 for one issue: a learned transform is as sure as its pattern; an engine strategy
/// (a classifier's guess, an extracted value) is applied on its own only when the engine is,
/// for this record, at least as sure as the rule's threshold: its guesses vary from record to
/// record, and a pattern's approvals vouch for the strategy, not for every guess.
pub(crate) fn sure_enough(issue: &Issue, learned: &Suggestion, threshold: f64) -> bool {
    issue
        .suggestions
        .iter()
        .find(|x| x.strategy == learned.strategy)
        .is_none_or(|x| x.confidence >= threshold)
}

/// The record of an issue: the one it carries, else the connector's (read per connection for
/// the skus asked). Issues whose record cannot be read get none.
pub(crate) async fn records_of(
    state: &State,
    tenant: Uuid,
    issues: &[&Issue],
) -> HashMap<(String, String), Product> {
    let mut out = HashMap::new();
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in issues {
        match serde_json::from_str::<Product>(&i.record_json) {
            Ok(p) if !i.record_json.is_empty() => {
                out.insert((i.connection_id.clone(), i.sku.clone()), p);
            }
            _ => missing
                .entry(i.connection_id.clone())
                .or_default()
                .push(i.sku.clone()),
        }
    }
    for (connection, mut skus) in missing {
        skus.sort();
        skus.dedup();
        for chunk in skus.chunks(1000) {
            let answer = state
                .connector
                .clone()
                .list_products(ListProductsRequest {
                    tenant_id: tenant.to_string(),
                    connection_id: connection.clone(),
                    limit: chunk.len() as i32,
                    skus: chunk.to_vec(),
                    ..Default::default()
                })
                .await;
            match answer {
                Ok(a) => {
                    for p in a.into_inner().products {
                        out.insert((connection.clone(), p.sku.clone()), p);
                    }
                }
                Err(e) => {
                    tracing::warn!(connection = %connection, error = %e.message(), "records of issues not read from the connector");
                }
            }
        }
    }
    out
}

/// What is known of one pattern's issues in a batch.
struct Plan<'a> {
    pattern: Uuid,
    rule: Option<RuleRow>,
    knowledge: Knowledge,
    issues: Vec<&'a Issue>,
}

impl Plan<'_> {
    /// Phase 2: a pattern people decided on (or with an imported rule).
    fn recognized(&self) -> bool {
        self.knowledge.decisions > 0 || self.rule.is_some()
    }

    fn active_rule(&self) -> Option<&RuleRow> {
        self.rule.as_ref().filter(|r| r.active)
    }

    fn needs_records(&self) -> bool {
        self.active_rule()
            .and_then(|r| logic_transform(&r.logic))
            .is_some_and(|t| t.needs_record())
    }
}

/// Recognitions of a pattern's issues (learned suggestion of the active rule first) and the
/// corrections its rule may apply on its own.
fn recognize(
    plan: &Plan<'_>,
    records: &HashMap<(String, String), Product>,
) -> Vec<(IssueRecognition, Option<Suggestion>)> {
    plan.issues
        .iter()
        .map(|issue| {
            let record = records.get(&(issue.connection_id.clone(), issue.sku.clone()));
            let learned = plan
                .active_rule()
                .and_then(|r| replay(&r.logic, &plan.knowledge, issue, record));
            (
                IssueRecognition {
                    issue_id: issue.id.clone(),
                    pattern_id: plan.pattern.to_string(),
                    pattern_confidence: plan.knowledge.confidence,
                    learned: learned.iter().cloned().collect(),
                },
                learned,
            )
        })
        .collect()
}

/// Tells the monitor what was recognised (suggestions learned rank first), marks the
/// occurrences, and publishes `issues.<tenant>.recognized` for dashboards.
pub(crate) async fn publish_recognitions(
    state: &State,
    tenant: Uuid,
    items: Vec<IssueRecognition>,
    issues: &HashMap<String, &Issue>,
    event_id: &str,
) -> Result<(), HandlerError> {
    if items.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = items
        .iter()
        .filter_map(|i| Uuid::parse_str(&i.issue_id).ok())
        .collect();
    sqlx::query("UPDATE pattern_occurrences SET recognized = true WHERE issue_id = ANY($1) AND NOT recognized")
        .bind(&ids)
        .execute(&state.pool)
        .await?;
    let mut events = Vec::with_capacity(items.len());
    for chunk in items.chunks(500) {
        state
            .monitor
            .clone()
            .recognize_issues(RecognizeIssuesRequest {
                tenant_id: tenant.to_string(),
                items: chunk.to_vec(),
            })
            .await
            .map_err(|e| {
                HandlerError::Transient(format!(
                    "recognising issues on the monitor: {}",
                    e.message()
                ))
            })?;
    }
    for item in &items {
        let Some(issue) = issues.get(&item.issue_id) else {
            continue;
        };
        let mut i = (*issue).clone();
        i.recognized = true;
        i.pattern_id = item.pattern_id.clone();
        i.pattern_confidence = item.pattern_confidence;
        i.confidence = item.pattern_confidence;
        i.suggestions
            .retain(|s| !item.learned.iter().any(|l| l.value == s.value));
        i.suggestions.splice(0..0, item.learned.iter().cloned());
        i.record_json.clear();
        events.push(i);
    }
    state.kb.recognized.inc_by(items.len() as u64);
    let t = tenant.to_string();
    for (n, chunk) in events.chunks(500).enumerate() {
        state
            .bus
            .publish(
                state.bus.subject(&["issues", &t, "recognized"]),
                "marketsync.issues.recognized.v1",
                &t,
                &format!("{event_id}:recognized:{n}"),
                &IssueBatch {
                    tenant_id: t.clone(),
                    issues: chunk.to_vec(),
                },
            )
            .await?;
    }
    Ok(())
}

/// Adds an outcome change to a rule's counts and recomputes its success rate; a rule falling
/// below the floor (after enough outcomes) is switched off. Returns whether it was just now.
pub(crate) async fn count_outcome(
    tx: &mut Transaction<'_, Postgres>,
    policy: &Policy,
    rule: Uuid,
    (successes, failures): (i64, i64),
    applied: i64,
) -> Result<bool, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE auto_correction_rules SET application_count = application_count + $2, \
         success_count = greatest(success_count + $3, 0), failure_count = greatest(failure_count + $4, 0), \
         updated_at = now() WHERE auto_rule_id = $1 RETURNING success_count, failure_count, is_active",
    )
    .bind(rule)
    .bind(applied)
    .bind(successes)
    .bind(failures)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(false) };
    let (s, f, active): (i32, i32, bool) = (row.get(0), row.get(1), row.get(2));
    let off = active && policy.switch_off(s as i64, f as i64);
    sqlx::query(
        "UPDATE auto_correction_rules SET success_rate = $2, is_active = is_active AND NOT $3, \
         switched_off_at = CASE WHEN $3 THEN now() ELSE switched_off_at END, \
         returned_to_review = returned_to_review AND NOT $3 WHERE auto_rule_id = $1",
    )
    .bind(rule)
    .bind(learn::success_rate(s as i64, f as i64))
    .bind(off)
    .execute(&mut **tx)
    .await?;
    if off {
        tracing::warn!(rule = %rule, successes = s, failures = f, floor = policy.success_floor, "rule switched off: success rate below the floor");
    }
    Ok(off)
}

/// Issues of rules switched off by their success rate go back to review (pending_review on
/// the monitor): those its corrections were applied or proposed for. Retried until done.
pub(crate) async fn return_to_review(state: &State) -> Result<(), HandlerError> {
    // One at a time in this process (the consumers and the periodic retry may all try).
    let _one = state.reviewing.lock().await;
    let rules = sqlx::query(
        "SELECT auto_rule_id, tenant_id, success_rate FROM auto_correction_rules \
         WHERE NOT returned_to_review AND NOT is_active",
    )
    .fetch_all(&state.pool)
    .await?;
    for r in rules {
        let (rule, tenant, rate): (Uuid, Uuid, f64) = (r.get(0), r.get(1), r.get(2));
        let issues: Vec<Uuid> = sqlx::query_scalar(
            "SELECT DISTINCT issue_id FROM corrections WHERE rule_id = $1 AND origin = 'auto' \
             AND status IN ('proposed', 'applied', 'recurred')",
        )
        .bind(rule)
        .fetch_all(&state.pool)
        .await?;
        let mut back = 0;
        for issue in &issues {
            let answer = state
                .monitor
                .clone()
                .set_issue_status(SetIssueStatusRequest {
                    tenant_id: tenant.to_string(),
                    id: issue.to_string(),
                    status: "pending_review".into(),
                    resolution: format!(
                        "back to review: its auto-correction rule was switched off (success rate {:.0}% below {:.0}%)",
                        rate * 100.0,
                        state.policy.success_floor * 100.0
                    ),
                })
                .await;
            match answer {
                Ok(_) => back += 1,
                // Another open issue of the same record and rule is under review already, or
                // the issue is gone.
                Err(e)
                    if matches!(
                        e.code(),
                        tonic::Code::AlreadyExists
                            | tonic::Code::NotFound
                            | tonic::Code::InvalidArgument
                    ) => {}
                Err(e) => {
                    return Err(HandlerError::Transient(format!(
                        "sending issues back to review: {}",
                        e.message()
                    )));
                }
            }
        }
        let done = sqlx::query(
            "UPDATE auto_correction_rules SET returned_to_review = true \
             WHERE auto_rule_id = $1 AND NOT returned_to_review",
        )
        .bind(rule)
        .execute(&state.pool)
        .await?;
        if done.rows_affected() == 0 {
            continue; // another replica did it meanwhile
        }
        state.kb.rules_switched_off.inc();
        tracing::warn!(rule = %rule, tenant = %tenant, issues = back, "issues of a switched-off rule back to review");
    }
    Ok(())
}

/// Each detected issue is counted in its pattern (phase 1); a pattern people decided on
/// recognises it, showing the pattern's confidence and the approved correction replayed on its
/// own record first (phase 2); an active, confident rule corrects it on its own (phase 3); and
/// an issue that comes back for a record a correction was applied to makes that correction a
/// failure (phase 4). Issues are handled per pattern, so a batch costs a few statements
/// whatever its size.
async fn handle_issues(state: Arc<State>, msg: Message) -> Result<(), HandlerError> {
    let batch: IssueBatch = decode(&msg)?;
    let tenant = Uuid::parse_str(&batch.tenant_id)
        .map_err(|_| HandlerError::Poison("invalid tenant".into()))?;
    let source =
        marketsync_common::bus::event_id(&msg).unwrap_or_else(|| Uuid::now_v7().to_string());
    let mut groups: BTreeMap<String, Vec<&Issue>> = Default::default();
    for issue in &batch.issues {
        groups.entry(signature_key(issue)).or_default().push(issue);
    }
    let mut plans = Vec::new();
    let mut switched_off = false;
    let mut tx = state.pool.begin().await?;
    for issues in groups.into_values() {
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
        // Phase 4: an issue back for a record a correction of this pattern was applied to
        // within the window: that correction did not work.
        let connections: Vec<Uuid> = issues
            .iter()
            .map(|i| Uuid::parse_str(&i.connection_id).unwrap_or_else(|_| Uuid::nil()))
            .collect();
        let skus: Vec<&str> = issues.iter().map(|i| i.sku.as_str()).collect();
        let issue_ids: Vec<Uuid> = issues
            .iter()
            .map(|i| Uuid::parse_str(&i.id).unwrap_or_else(|_| Uuid::nil()))
            .collect();
        let recurred = sqlx::query(
            "WITH x AS (SELECT * FROM UNNEST($3::uuid[], $4::text[], $5::uuid[]) AS x(conn, sku, issue)), \
             old AS (SELECT DISTINCT ON (c.id) c.id, c.outcome, x.issue FROM corrections c \
               JOIN x ON c.connection_id = x.conn AND c.sku = x.sku \
               WHERE c.tenant_id = $1 AND c.pattern_id = $2 AND c.status = 'applied' \
               AND c.issue_id <> x.issue AND c.applied_at > now() - make_interval(secs => $6)) \
             UPDATE corrections c SET status = 'recurred', outcome = 'failure', recurred_at = now(), \
               recurred_by = old.issue FROM old WHERE c.id = old.id AND c.status = 'applied' \
             RETURNING c.id, c.rule_id, c.origin, old.outcome, c.sku",
        )
        .bind(tenant)
        .bind(pattern)
        .bind(&connections)
        .bind(&skus)
        .bind(&issue_ids)
        .bind(state.policy.recurrence_window_secs as f64)
        .fetch_all(&mut *tx)
        .await?;
        for r in &recurred {
            let (id, rule, origin, before, sku): (
                Uuid,
                Option<Uuid>,
                String,
                Option<String>,
                String,
            ) = (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
            tracing::warn!(correction = %id, sku = %sku, origin = %origin, "issue came back after its correction: counted as a failure");
            state.kb.outcome(&origin, "recurred");
            if let Some(rule) = rule {
                let delta = learn::outcome_delta(before.as_deref(), Some("failure"));
                switched_off |= count_outcome(&mut tx, &state.policy, rule, delta, 0).await?;
            }
        }
        let plan = Plan {
            pattern,
            rule: rule_of(&mut *tx, pattern).await?,
            knowledge: pattern_knowledge(&mut *tx, pattern).await?,
            issues,
        };
        if plan.recognized() {
            plans.push(plan);
        }
    }
    tx.commit().await?;

    // Records, for learned transforms that read the issue's own record.
    let wanted: Vec<&Issue> = plans
        .iter()
        .filter(|p| p.needs_records())
        .flat_map(|p| p.issues.iter().copied())
        .collect();
    let records = if wanted.is_empty() {
        HashMap::new()
    } else {
        records_of(&state, tenant, &wanted).await
    };

    let mut proposed = Vec::new();
    let mut recognitions = Vec::new();
    let mut tx = state.pool.begin().await?;
    for plan in &plans {
        let auto = plan.active_rule().filter(|r| {
            state.policy.may_auto_apply(
                plan.knowledge.confidence,
                plan.knowledge.approvals,
                r.threshold,
            )
        });
        for ((item, learned), issue) in recognize(plan, &records).into_iter().zip(&plan.issues) {
            recognitions.push(item);
            // Phase 3: confident enough to correct on its own.
            if let (Some(rule), Some(s)) = (auto, learned)
                && sure_enough(issue, &s, rule.threshold)
                && let Some(c) = insert_correction(
                    &mut tx,
                    tenant,
                    issue,
                    plan.pattern,
                    Some(rule.id),
                    &s.value,
                    "auto",
                    plan.knowledge.confidence,
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
    let by_id: HashMap<String, &Issue> = batch.issues.iter().map(|i| (i.id.clone(), i)).collect();
    publish_recognitions(&state, tenant, recognitions, &by_id, &source).await?;
    if switched_off {
        return_to_review(&state).await?;
    }
    state.metrics.record("issues", batch.issues.len() as u64);
    state
        .metrics
        .record("auto_corrections", proposed.len() as u64);
    state.kb.auto_proposed.inc_by(proposed.len() as u64);
    Ok(())
}

/// Tracks outcomes (phase 4): the correction's status and outcome, its rule's application
/// count and success rate (a correction counts once: applied a success, failed or undone a
/// failure, an applied one later undone or come back moved from success to failure); a rule
/// whose success rate falls below the floor is switched off and its issues go back to review.
/// An auto-correction applied is announced on `corrections.<tenant>.auto_corrected`.
async fn handle_correction(state: Arc<State>, msg: Message) -> Result<(), HandlerError> {
    let mut c: Correction = decode(&msg)?;
    let Ok(id) = Uuid::parse_str(&c.id) else {
        return Err(HandlerError::Poison("invalid correction id".into()));
    };
    let status = msg.subject.rsplit('.').next().unwrap_or("").to_string();
    let outcome = learn::outcome(&status);
    let mut tx = state.pool.begin().await?;
    // `applied` only moves a proposed correction (a late duplicate must not revive one that
    // came back or was undone).
    let row = sqlx::query(
        "WITH old AS (SELECT id, outcome FROM corrections WHERE id = $1 FOR UPDATE) \
         UPDATE corrections c SET status = $2, error = $3, outcome = coalesce($4, c.outcome), \
           applied_at = CASE WHEN $2 = 'applied' THEN now() ELSE c.applied_at END \
         FROM old WHERE c.id = old.id AND c.status <> $2 \
           AND ($2 <> 'applied' OR c.status = 'proposed') \
         RETURNING c.rule_id, old.outcome, c.origin, c.confidence",
    )
    .bind(id)
    .bind(&status)
    .bind(&c.error)
    .bind(outcome)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Ok(()); // duplicate delivery, or unknown
    };
    let (rule, before, origin, confidence): (Option<Uuid>, Option<String>, String, f64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    state.kb.outcome(&origin, &status);
    let mut switched_off = false;
    if let Some(rule) = rule {
        let delta = learn::outcome_delta(before.as_deref(), outcome);
        let applied = i64::from(status == "applied");
        switched_off = count_outcome(&mut tx, &state.policy, rule, delta, applied).await?;
    }
    tx.commit().await?;
    if status == "applied" && origin == "auto" {
        // Phase 3: a person is told, nothing to do.
        c.status = "applied".into();
        c.confidence = confidence;
        c.notice = format!(
            "{} of {} on {} was corrected automatically to `{}` by a learned rule (confidence {:.0}%); nothing to do, undo it if it is wrong",
            c.field,
            c.sku,
            c.platform,
            c.new_value,
            confidence * 100.0
        );
        publish_correction(&state, &c, "auto_corrected").await?;
    }
    if switched_off {
        return_to_review(&state).await?;
    }
    Ok(())
}

/// The knowledge base's figures, for a tenant or (None) all of them.
pub(crate) async fn stats(
    pool: &PgPool,
    tenant: Option<Uuid>,
) -> Result<KnowledgeStats, sqlx::Error> {
    let row = sqlx::query(
        "WITH d AS (SELECT count(*) AS total, \
            count(*) FILTER (WHERE human_decision = 'approved') AS approved, \
            count(*) FILTER (WHERE human_decision = 'rejected') AS rejected, \
            count(*) FILTER (WHERE human_decision = 'modified') AS modified, \
            coalesce(avg(review_seconds), 0) AS review, coalesce(avg(confidence_score), 0) AS conf, \
            coalesce(avg(confidence_score) FILTER (WHERE decided_at > now() - interval '30 days'), 0) \
              - coalesce(avg(confidence_score) FILTER (WHERE decided_at <= now() - interval '30 days'), \
                         avg(confidence_score) FILTER (WHERE decided_at > now() - interval '30 days'), 0) AS trend \
            FROM correction_decisions WHERE ($1::uuid IS NULL OR tenant_id = $1)), \
         c AS (SELECT count(*) FILTER (WHERE status IN ('applied', 'undo_requested', 'undone', 'recurred')) AS applied, \
            count(*) FILTER (WHERE status = 'failed') AS failed, \
            count(*) FILTER (WHERE origin = 'auto') AS auto, \
            count(*) FILTER (WHERE status IN ('undone', 'undo_requested')) AS undone, \
            count(*) FILTER (WHERE status = 'applied') AS successful, \
            count(*) FILTER (WHERE status = 'recurred') AS recurred, \
            count(*) FILTER (WHERE origin = 'auto' AND status IN ('applied', 'undo_requested', 'undone', 'recurred')) AS auto_applied \
            FROM corrections WHERE ($1::uuid IS NULL OR tenant_id = $1)), \
         p AS (SELECT count(*) AS patterns, count(*) FILTER (WHERE created_at > now() - interval '7 days') AS growth \
            FROM issue_patterns WHERE ($1::uuid IS NULL OR tenant_id = $1)), \
         r AS (SELECT count(*) FILTER (WHERE is_active) AS active, \
            count(*) FILTER (WHERE switched_off_at IS NOT NULL) AS off \
            FROM auto_correction_rules WHERE ($1::uuid IS NULL OR tenant_id = $1)), \
         o AS (SELECT coalesce(sum(occurrence_count), 0)::int8 AS seen FROM issue_patterns \
            WHERE ($1::uuid IS NULL OR tenant_id = $1)), \
         g AS (SELECT count(*) AS recognized FROM pattern_occurrences \
            WHERE recognized AND ($1::uuid IS NULL OR tenant_id = $1)) \
         SELECT p.patterns, r.active, d.total, d.approved, d.rejected, d.modified, c.applied, c.failed, \
           c.auto, d.review::float8, d.conf::float8, p.growth, d.trend::float8, c.undone, c.successful, \
           c.recurred, c.auto_applied, o.seen, g.recognized, r.off FROM d, c, p, r, o, g",
    )
    .bind(tenant)
    .fetch_one(pool)
    .await?;
    Ok(KnowledgeStats {
        patterns: row.get(0),
        rules_active: row.get(1),
        decisions: row.get(2),
        approved: row.get(3),
        rejected: row.get(4),
        modified: row.get(5),
        corrections_applied: row.get(6),
        corrections_failed: row.get(7),
        corrections_auto: row.get(8),
        avg_review_seconds: row.get(9),
        avg_confidence: row.get(10),
        patterns_last_7_days: row.get(11),
        confidence_trend_30d: row.get(12),
        corrections_undone: row.get(13),
        corrections_successful: row.get(14),
        corrections_recurred: row.get(15),
        corrections_auto_applied: row.get(16),
        issues_seen: row.get(17),
        issues_recognized: row.get(18),
        rules_switched_off: row.get(19),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_guess_applies_itself_only_when_sure_for_its_record() {
        let mut i = issue("", &[("classify_category", "Men/Tops/Tees")]);
        let learned = Suggestion {
            strategy: "classify_category".into(),
            value: "Men/Tops/Tees".into(),
            confidence: 0.95,
            ..Default::default()
        };
        assert!(sure_enough(&i, &learned, 0.8), "the engine is 0.85 sure");
        i.suggestions[0].confidence = 0.55;
        assert!(
            !sure_enough(&i, &learned, 0.8),
            "a guess of 0.55 waits for a person"
        );
        let transform = Suggestion {
            strategy: transform::STRATEGY.into(),
            ..learned
        };
        assert!(
            sure_enough(&i, &transform, 0.8),
            "a learned transform is the pattern's"
        );
    }

    fn issue(current: &str, suggestions: &[(&str, &str)]) -> Issue {
        Issue {
            field: "description".into(),
            current_value: current.into(),
            suggestions: suggestions
                .iter()
                .map(|(s, v)| Suggestion {
                    strategy: s.to_string(),
                    value: v.to_string(),
                    confidence: 0.85,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn replay_ranks_the_learned_correction_with_the_patterns_confidence() {
        let k = Knowledge {
            confidence: 0.6,
            approvals: 1,
            decisions: 2,
        };
        // An approved engine strategy: the issue's own suggestion of that strategy.
        let logic = json!({"strategy": "generate_description", "field": "description"});
        let i = issue(
            "",
            &[("other", "x"), ("generate_description", "Made here.")],
        );
        let s = replay(&logic, &k, &i, None).expect("replayed");
        assert_eq!(s.value, "Made here.");
        assert_eq!(s.strategy, "generate_description");
        assert_eq!(s.confidence, 0.6);
        assert!(s.explanation.contains("1 of 2"), "{}", s.explanation);
        assert!(replay(&logic, &k, &issue("", &[("other", "x")]), None).is_none());

        // A learned transform on the issue's own record.
        let t = transform::Transform::Template {
            template: "{title} by {brand}.".into(),
        };
        let logic = json!({"strategy": transform::STRATEGY, "transform": t});
        let p = Product {
            title: "Vest".into(),
            brand: "Nimbus".into(),
            ..Default::default()
        };
        let s = replay(&logic, &k, &issue("", &[]), Some(&p)).expect("learned");
        assert_eq!(s.value, "Vest by Nimbus.");
        assert_eq!(s.strategy, transform::STRATEGY);
        assert!(replay(&logic, &k, &issue("", &[]), None).is_none());
        // A correction that changes nothing is no correction.
        assert!(replay(&logic, &k, &issue("Vest by Nimbus.", &[]), Some(&p)).is_none());
        assert!(logic_transform(&json!({"strategy": "generate_description"})).is_none());
    }
}

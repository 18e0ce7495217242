//! The monitor service: validates every record against its channel's rules, raises one issue
//! per record and rule (never two), attaches suggestions from the built-in engine, resolves
//! issues the channel fixed, and follows corrections to keep issue status true.

pub mod ai;
pub mod classify;
pub mod engine;
pub mod eval;
pub mod extract;
mod grpc;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_nats::jetstream::Message;
use marketsync_common::bus::{Bus, HandlerError, decode, event_id};
use marketsync_common::config::Service;
use marketsync_common::db;
use marketsync_common::grpc::TracedChannel;
use marketsync_common::health::Metrics;
use marketsync_common::service::Base;
use marketsync_proto::v1::ListProductsRequest;
use marketsync_proto::v1::connector_service_client::ConnectorServiceClient;
use marketsync_proto::v1::monitor_service_server::MonitorServiceServer;
use marketsync_proto::v1::{Correction, Issue, IssueBatch, Product, RecordBatch, Suggestion};

use sqlx::PgPool;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Default suggestions per issue (seed: `max_suggestions`); the configured value is
/// `ai_monitoring.max_suggestions` ([`ai::Ai::max_suggestions`]).
pub const MAX_SUGGESTIONS: usize = 3;

/// Shared state.
pub struct State {
    /// Database (schema `monitor`).
    pub pool: PgPool,
    /// NATS.
    pub bus: Bus,
    /// Metrics.
    pub metrics: Metrics,
    /// The connector, whose catalog the engine learns from.
    pub connector: ConnectorServiceClient<TracedChannel>,
    /// Suggestion providers: the built-in engine, and an LLM when configured.
    pub ai: ai::Ai,
    /// Per-tenant engine models, learned from the catalog.
    models: Mutex<HashMap<Uuid, Arc<Mutex<engine::Model>>>>,
    /// Per connection, hashes of the skus that may have open issues (a superset: a sku is
    /// added before its issue is written and never removed), so a batch of records probes the
    /// issues table only for those, and a first import not at all.
    open: std::sync::Mutex<HashMap<Uuid, HashSet<u64>>>,
    written: std::sync::atomic::AtomicU64,
}

/// Rows written between two refreshes of the planner's statistics.
const ANALYZE_EVERY: u64 = 50_000;

impl State {
    /// Refreshes the statistics of the growing tables after every [`ANALYZE_EVERY`] rows this
    /// process wrote: during a bulk import autovacuum lags behind and stale statistics make the
    /// planner scan instead of probing the indexes.
    async fn refresh_statistics(&self, written: u64) {
        let before = self
            .written
            .fetch_add(written, std::sync::atomic::Ordering::Relaxed);
        if before / ANALYZE_EVERY != (before + written) / ANALYZE_EVERY
            && let Err(e) = sqlx::query("ANALYZE issues").execute(&self.pool).await
        {
            tracing::warn!(error = %e, "analyze failed");
        }
    }

    async fn model(&self, tenant: Uuid) -> Result<Arc<Mutex<engine::Model>>, HandlerError> {
        let mut models = self.models.lock().await;
        if let Some(m) = models.get(&tenant) {
            return Ok(m.clone());
        }
        // First use since start: learn from the catalog the connector stored so far, page by
        // page (the records of the batch at hand are among them; learning is idempotent).
        let mut m = engine::Model::default();
        let mut client = self.connector.clone();
        let mut page_token = String::new();
        let mut learned = 0usize;
        loop {
            let page = client
                .list_products(ListProductsRequest {
                    tenant_id: tenant.to_string(),
                    page_token,
                    limit: 5_000,
                    ..Default::default()
                })
                .await
                .map_err(|e| {
                    HandlerError::Transient(format!(
                        "reading the catalog from the connector: {}",
                        e.message()
                    ))
                })?
                .into_inner();
            learned += page.products.len();
            for p in &page.products {
                m.learn(p);
                self.ai.learn(tenant, p);
            }
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        m.refresh();
        tracing::info!(tenant = %tenant, products = learned, "suggestion model learned from the catalog");
        let m = Arc::new(Mutex::new(m));
        models.insert(tenant, m.clone());
        Ok(m)
    }

    /// The positions in `skus` of those that may have open issues on `connection` (the set is
    /// read from the issues table on first use).
    async fn may_have_open(
        &self,
        tenant: Uuid,
        connection: Uuid,
        skus: &[&str],
    ) -> Result<Vec<usize>, HandlerError> {
        let loaded = relock(&self.open).contains_key(&connection);
        if !loaded {
            let rows: Vec<String> = sqlx::query_scalar(
                "SELECT sku FROM issues WHERE tenant_id = $1 AND connection_id = $2 \
                 AND status = 'pending_review'",
            )
            .bind(tenant)
            .bind(connection)
            .fetch_all(&self.pool)
            .await?;
            let mut open = relock(&self.open);
            let set = open.entry(connection).or_default();
            set.extend(rows.iter().map(|s| engine::sku_hash(s)));
        }
        let open = relock(&self.open);
        let set = open.get(&connection);
        Ok(skus
            .iter()
            .enumerate()
            .filter(|(_, s)| set.is_some_and(|set| set.contains(&engine::sku_hash(s))))
            .map(|(i, _)| i)
            .collect())
    }

    /// Marks skus that are about to get an open issue.
    fn add_open<'a>(&self, connection: Uuid, skus: impl Iterator<Item = &'a str>) {
        let mut open = relock(&self.open);
        let set = open.entry(connection).or_default();
        set.extend(skus.map(engine::sku_hash));
    }
}

fn relock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the service until `shutdown`.
pub async fn run(shutdown: CancellationToken) -> anyhow::Result<()> {
    // The AI configuration is checked before anything starts.
    let ai_config = ai::config::AiConfig::from_env()?;
    let base = Base::start(Service::Monitor, &db::migrations::MONITOR).await?;
    let health = base.health();
    let Base {
        grpc_addr,
        http_addr,
        pool,
        bus,
        metrics,
    } = base;
    let state = Arc::new(State {
        pool: pool.clone(),
        bus: bus.clone(),
        metrics: metrics.clone(),
        connector: ConnectorServiceClient::new(marketsync_common::grpc::channel(
            &Service::Connector.grpc_url(),
        )?),
        ai: ai::Ai::new(ai_config, &metrics)?,
        models: Mutex::new(HashMap::new()),
        open: std::sync::Mutex::new(HashMap::new()),
        written: std::sync::atomic::AtomicU64::new(0),
    });
    let serving = marketsync_common::grpc::serve(
        "marketsync.v1.MonitorService",
        MonitorServiceServer::new(grpc::Api {
            state: state.clone(),
        }),
        grpc_addr,
        http_addr,
        health,
        shutdown.clone(),
    )
    .await?;
    let records = bus
        .durable(
            "RECORDS",
            "monitor-records",
            vec![bus.subject(&["records", "*", "*", "products"])],
        )
        .await?;
    let corrections = bus
        .durable(
            "CORRECTIONS",
            "monitor-corrections",
            vec![
                bus.subject(&["corrections", "*", "applied"]),
                bus.subject(&["corrections", "*", "failed"]),
                bus.subject(&["corrections", "*", "undone"]),
            ],
        )
        .await?;
    let stock = bus
        .durable(
            "STOCK",
            "monitor-stock-alerts",
            vec![bus.subject(&["stock", "*", "alert"])],
        )
        .await?;
    tracing::info!(grpc = %serving.grpc, http = %serving.http, "monitor listening");
    let st = state.clone();
    let t1 = bus.spawn(
        records,
        "monitor-records",
        metrics.clone(),
        shutdown.clone(),
        4,
        move |msg| handle_records(st.clone(), msg),
    );
    let st = state.clone();
    let t2 = bus.spawn(
        corrections,
        "monitor-corrections",
        metrics.clone(),
        shutdown.clone(),
        2,
        move |msg| handle_correction(st.clone(), msg),
    );
    let st = state.clone();
    let t3 = bus.spawn(
        stock,
        "monitor-stock-alerts",
        metrics.clone(),
        shutdown.clone(),
        2,
        move |msg| handle_stock_alert(st.clone(), msg),
    );
    shutdown.cancelled().await;
    let _ = tokio::join!(t1, t2, t3);
    for t in serving.tasks {
        let _ = t.await;
    }
    tracing::info!("monitor stopped");
    Ok(())
}

fn bad(what: &str) -> HandlerError {
    HandlerError::Poison(format!("invalid {what}"))
}

/// Validates a batch of products: new issues inserted and published as `detected`, issues the
/// channel fixed marked `resolved`.
async fn handle_records(state: Arc<State>, msg: Message) -> Result<(), HandlerError> {
    let mut batch: RecordBatch = decode(&msg)?;
    let tenant = Uuid::parse_str(&batch.tenant_id).map_err(|_| bad("tenant"))?;
    let connection = Uuid::parse_str(&batch.connection_id).map_err(|_| bad("connection"))?;
    // One record per sku, the last one winning (an upsert may not touch a row twice).
    let mut seen = std::collections::HashSet::new();
    batch.products.reverse();
    batch.products.retain(|p| seen.insert(p.sku.clone()));
    batch.products.reverse();
    let model = state.model(tenant).await?;

    // Learn first so suggestions for this batch can use it.
    {
        let mut m = model.lock().await;
        for p in &batch.products {
            m.learn(p);
            state.ai.learn(tenant, p);
        }
        m.refresh();
    }
    let mut found = Found::default();
    let mut passed: Vec<(usize, &'static str)> = Vec::new();
    let mut pending: Vec<ai::Pending> = Vec::new();
    {
        // With `ai_monitoring.enabled: false` issues are raised without suggestions.
        let (enabled, max) = (state.ai.enabled(), state.ai.max_suggestions());
        let m = model.lock().await;
        for (i, p) in batch.products.iter().enumerate() {
            let (findings, ok) = m.validate_on(p, &batch.platform);
            passed.extend(ok.into_iter().map(|r| (i, r)));
            for f in findings {
                let suggestions = if enabled {
                    m.suggest(p, &f, max)
                } else {
                    Vec::new()
                };
                pending.push(ai::Pending {
                    product: i,
                    finding: f,
                    suggestions,
                });
            }
        }
    }
    // The LLM, when configured, adds its suggestions (outside the model's lock; bounded in
    // concurrency and time, the built-in suggestions standing on any failure).
    if state.ai.uses_llm() {
        pending = state.ai.refine(tenant, &batch.products, pending).await;
    }
    for x in pending {
        found.push(&batch.products[x.product], x.finding, x.suggestions);
    }

    let mut tx = state.pool.begin().await?;
    // Open issues of this batch's records whose rule now passes were fixed on the channel: one
    // probe of the open-issue index per sku, so the cost depends neither on how many issues
    // are stored nor on how fresh the planner's statistics are during a bulk import.
    let skus: Vec<&str> = batch.products.iter().map(|p| p.sku.as_str()).collect();
    let candidates: Vec<&str> = state
        .may_have_open(tenant, connection, &skus)
        .await?
        .into_iter()
        .map(|i| skus[i])
        .collect();
    // None of the findings' records can have an open issue yet (a first import): they are
    // inserted without the conflict check on the open-issue index.
    let certainly_new = {
        let maybe: HashSet<&str> = candidates.iter().copied().collect();
        !found.skus.iter().any(|s| maybe.contains(s.as_str()))
    };
    state.add_open(connection, found.skus.iter().map(String::as_str));
    let open: Vec<(Uuid, String, String)> = if passed.is_empty() || candidates.is_empty() {
        Vec::new()
    } else {
        sqlx::query_as(
            "SELECT o.id, x.s, o.rule FROM UNNEST($3::text[]) AS x(s) \
             CROSS JOIN LATERAL (SELECT id, rule FROM issues WHERE sku = x.s \
               AND connection_id = $2 AND tenant_id = $1 AND status = 'pending_review') o",
        )
        .bind(tenant)
        .bind(connection)
        .bind(&candidates)
        .fetch_all(&mut *tx)
        .await?
    };
    let fixed: Vec<Uuid> = if open.is_empty() {
        Vec::new()
    } else {
        let index: HashMap<&str, usize> = skus.iter().enumerate().map(|(i, s)| (*s, i)).collect();
        let ok: std::collections::HashSet<(usize, &str)> = passed.iter().copied().collect();
        open.iter()
            .filter(|(_, sku, rule)| {
                index
                    .get(sku.as_str())
                    .is_some_and(|i| ok.contains(&(*i, rule.as_str())))
            })
            .map(|(id, _, _)| *id)
            .collect()
    };
    let resolved: Vec<Uuid> = if fixed.is_empty() {
        Vec::new()
    } else {
        sqlx::query_scalar(
            "UPDATE issues SET status = 'resolved', resolution = 'fixed on the channel', \
             resolved_at = now(), updated_at = now() \
             WHERE tenant_id = $1 AND id = ANY($2) AND status = 'pending_review' RETURNING id",
        )
        .bind(tenant)
        .bind(&fixed)
        .fetch_all(&mut *tx)
        .await?
    };

    // New issues are inserted; an open one for the same record and rule is refreshed. Issues
    // this very message raised before (a redelivery after a failed publish) count as new
    // again, so they are published however the first attempt ended.
    let source = event_id(&msg).unwrap_or_else(|| Uuid::now_v7().to_string());
    let mut inserted: Vec<(Uuid, String, String, bool)> = Vec::new();
    if certainly_new && !found.ids.is_empty() {
        // Another replica may have raised one meanwhile: then the batch takes the upsert.
        sqlx::query("SAVEPOINT fresh").execute(&mut *tx).await?;
        match found
            .bind(
                sqlx::query_as(INSERT_NEW),
                tenant,
                connection,
                &batch.platform,
                &source,
            )
            .fetch_all(&mut *tx)
            .await
        {
            Ok(rows) => inserted = rows,
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {
                sqlx::query("ROLLBACK TO SAVEPOINT fresh")
                    .execute(&mut *tx)
                    .await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    if inserted.is_empty() && !found.ids.is_empty() {
        inserted = found
            .bind(
                sqlx::query_as(UPSERT),
                tenant,
                connection,
                &batch.platform,
                &source,
            )
            .fetch_all(&mut *tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO validation_counters (tenant_id, records, batches) VALUES ($1, $2, 1) \
         ON CONFLICT (tenant_id) DO UPDATE SET records = validation_counters.records + EXCLUDED.records, \
         batches = validation_counters.batches + 1",
    )
    .bind(tenant)
    .bind(batch.products.len() as i64)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    state
        .metrics
        .record("products_validated", batch.products.len() as u64);
    state.refresh_statistics(inserted.len() as u64).await;

    // The issues inserted now are published as they were written (no read back).
    let new: HashMap<(String, String), Uuid> = inserted
        .into_iter()
        .filter(|(_, _, _, new)| *new)
        .map(|(id, sku, rule, _)| ((sku, rule), id))
        .collect();
    if !new.is_empty() {
        state.metrics.record("issues_detected", new.len() as u64);
        let issues = found.into_issues(&tenant, &connection, &batch.platform, &new);
        publish(
            &state,
            tenant,
            "detected",
            &format!("{source}:detected"),
            issues,
        )
        .await?;
    }
    if !resolved.is_empty() {
        let issues = grpc::load(&state.pool, tenant, &resolved).await?;
        publish(
            &state,
            tenant,
            "resolved",
            &format!("{source}:resolved"),
            issues,
        )
        .await?;
    }
    Ok(())
}

/// Inserts a batch's issues, column by column (`$1` tenant, `$2` connection, `$3` platform,
/// `$4`..`$14` the columns of [`Found`], `$15` the event that raised them).
macro_rules! insert_issues {
    () => {
        "INSERT INTO issues (id, tenant_id, connection_id, platform, record_kind, sku, \
         external_id, issue_type, field, rule, severity, description, current_value, suggestions, \
         confidence, detected_by) \
         SELECT i, $1, $2, $3, 'product', s, e, t, f, r, sv, d, v, sg, c, $15 FROM UNNEST($4::uuid[], \
         $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
         $12::text[], $13::jsonb[], $14::float8[]) AS x(i, s, e, t, f, r, sv, d, v, sg, c) "
    };
}

/// New issues of a batch, none of whose records has an open issue (the open-issue index is
/// still unique: a duplicate fails the statement).
const INSERT_NEW: &str = concat!(insert_issues!(), "RETURNING id, sku, rule, true");

/// Issues of a batch: inserted, or an open one for the same record and rule refreshed.
const UPSERT: &str = concat!(
    insert_issues!(),
    "ON CONFLICT (sku, rule, connection_id, tenant_id) WHERE status = 'pending_review' \
     DO UPDATE SET current_value = EXCLUDED.current_value, suggestions = EXCLUDED.suggestions, \
     external_id = EXCLUDED.external_id, updated_at = now() \
     RETURNING id, sku, rule, (xmax = 0 OR issues.detected_by = $15)"
);

type IssueQuery<'q> = sqlx::query::QueryAs<
    'q,
    sqlx::Postgres,
    (Uuid, String, String, bool),
    sqlx::postgres::PgArguments,
>;

/// The findings of one batch, column by column as they are written.
#[derive(Default)]
struct Found {
    ids: Vec<Uuid>,
    skus: Vec<String>,
    external_ids: Vec<String>,
    types: Vec<&'static str>,
    fields: Vec<&'static str>,
    rules: Vec<&'static str>,
    severities: Vec<&'static str>,
    descriptions: Vec<String>,
    values: Vec<String>,
    suggestions: Vec<Vec<Suggestion>>,
    confidences: Vec<f64>,
}

impl Found {
    /// Binds the columns to [`INSERT_NEW`] or [`UPSERT`].
    fn bind<'q>(
        &'q self,
        q: IssueQuery<'q>,
        tenant: Uuid,
        connection: Uuid,
        platform: &'q str,
        source: &'q str,
    ) -> IssueQuery<'q> {
        q.bind(tenant)
            .bind(connection)
            .bind(platform)
            .bind(&self.ids)
            .bind(&self.skus)
            .bind(&self.external_ids)
            .bind(&self.types)
            .bind(&self.fields)
            .bind(&self.rules)
            .bind(&self.severities)
            .bind(&self.descriptions)
            .bind(&self.values)
            .bind(
                self.suggestions
                    .iter()
                    .map(sqlx::types::Json)
                    .collect::<Vec<_>>(),
            )
            .bind(&self.confidences)
            .bind(source)
    }

    fn push(&mut self, p: &Product, f: engine::Finding, s: Vec<Suggestion>) {
        self.confidences
            .push(s.first().map(|s| s.confidence).unwrap_or(0.0));
        self.suggestions.push(s);
        self.ids.push(Uuid::now_v7());
        self.skus.push(p.sku.clone());
        self.external_ids.push(p.external_id.clone());
        self.types.push(f.issue_type);
        self.fields.push(f.field);
        self.rules.push(f.rule);
        self.severities.push(f.severity);
        self.descriptions.push(f.description);
        self.values.push(f.current_value);
    }

    /// The issues among `new` ((sku, rule) → id as stored) as events carry them (the record
    /// is the connector's: GetIssue reads it from there).
    fn into_issues(
        self,
        tenant: &Uuid,
        connection: &Uuid,
        platform: &str,
        new: &HashMap<(String, String), Uuid>,
    ) -> Vec<Issue> {
        let now = marketsync_common::ts(Some(chrono::Utc::now()));
        let (tenant, connection) = (tenant.to_string(), connection.to_string());
        let mut out = Vec::with_capacity(new.len());
        let columns = self
            .ids
            .into_iter()
            .zip(self.skus)
            .zip(self.external_ids)
            .zip(self.types.into_iter().zip(self.fields).zip(self.rules))
            .zip(self.severities.into_iter().zip(self.descriptions))
            .zip(self.values.into_iter().zip(self.suggestions))
            .zip(self.confidences);
        for ((((((_, sku), external_id), ((t, f), r)), (sv, d)), (v, sg)), c) in columns {
            let Some(id) = new.get(&(sku.clone(), r.to_string())) else {
                continue;
            };
            out.push(Issue {
                id: id.to_string(),
                tenant_id: tenant.clone(),
                connection_id: connection.clone(),
                platform: platform.to_string(),
                record_kind: "product".into(),
                sku,
                external_id,
                issue_type: t.into(),
                field: f.into(),
                rule: r.into(),
                severity: sv.into(),
                description: d,
                current_value: v,
                status: "pending_review".into(),
                suggestions: sg,
                created_at: now.clone(),
                confidence: c,
                ..Default::default()
            });
        }
        out
    }
}

async fn publish(
    state: &State,
    tenant: Uuid,
    what: &str,
    id: &str,
    issues: Vec<Issue>,
) -> Result<(), HandlerError> {
    let t = tenant.to_string();
    for (n, chunk) in issues.chunks(500).enumerate() {
        let batch = IssueBatch {
            tenant_id: t.clone(),
            issues: chunk.to_vec(),
        };
        state
            .bus
            .publish(
                state.bus.subject(&["issues", &t, what]),
                &format!("marketsync.issues.{what}.v1"),
                &t,
                &format!("{id}:{n}"),
                &batch,
            )
            .await?;
    }
    Ok(())
}

/// Keeps issue status in step with corrections: applied by a rule → `auto_corrected`, by a
/// person → `resolved`; failed or undone → back to `pending_review`.
async fn handle_correction(state: Arc<State>, msg: Message) -> Result<(), HandlerError> {
    let c: Correction = decode(&msg)?;
    let tenant = Uuid::parse_str(&c.tenant_id).map_err(|_| bad("tenant"))?;
    let Ok(issue) = Uuid::parse_str(&c.issue_id) else {
        return Ok(());
    };
    let (status, resolution) = match (msg.subject.rsplit('.').next(), c.origin.as_str()) {
        (Some("applied"), "auto") => (
            "auto_corrected",
            format!("auto-corrected to `{}`", c.new_value),
        ),
        (Some("applied"), _) => ("resolved", format!("corrected to `{}`", c.new_value)),
        (Some("failed"), _) => ("pending_review", format!("correction failed: {}", c.error)),
        (Some("undone"), _) => ("pending_review", "correction undone".to_string()),
        _ => return Ok(()),
    };
    let updated = sqlx::query(
        "UPDATE issues SET status = $3, resolution = $4, updated_at = now(), \
         resolved_at = CASE WHEN $3 IN ('resolved', 'auto_corrected') THEN now() ELSE NULL END \
         WHERE tenant_id = $1 AND id = $2 AND status <> 'rejected' RETURNING id",
    )
    .bind(tenant)
    .bind(issue)
    .bind(status)
    .bind(&resolution)
    .fetch_optional(&state.pool)
    .await;
    match updated {
        Ok(_) => {}
        // Another open issue exists for the same record and rule: keep this one closed.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {}
        Err(e) => return Err(e.into()),
    }
    if status != "pending_review" {
        let issues = grpc::load(&state.pool, tenant, &[issue]).await?;
        publish(
            &state,
            tenant,
            "resolved",
            &format!("{}:{}:resolved", c.id, status),
            issues,
        )
        .await?;
    }
    Ok(())
}

/// Stock problems the connector reports become issues: drift (resolved by the connection's
/// policy when it is raised, so it is kept as a resolved issue with that resolution), a push
/// that keeps failing (pending review until the channel accepts the sku again).
async fn handle_stock_alert(state: Arc<State>, msg: Message) -> Result<(), HandlerError> {
    let a: marketsync_proto::v1::StockAlert = decode(&msg)?;
    let tenant = Uuid::parse_str(&a.tenant_id).map_err(|_| bad("tenant"))?;
    let connection = Uuid::parse_str(&a.connection_id).map_err(|_| bad("connection"))?;
    let id = Uuid::parse_str(&a.id).map_err(|_| bad("alert id"))?;
    match a.kind.as_str() {
        "drift" | "push_failed" => {
            let drift = a.kind == "drift";
            let (issue_type, rule, status) = if drift {
                ("stock_drift", "stock.drift", "resolved")
            } else {
                ("stock_push_failed", "stock.push_failed", "pending_review")
            };
            // The alert id is the issue id: a redelivered alert inserts nothing.
            let inserted = sqlx::query(
                "INSERT INTO issues (id, tenant_id, connection_id, platform, record_kind, sku, external_id, \
                   issue_type, field, rule, severity, description, current_value, status, resolution, \
                   resolved_at, detected_by) \
                 VALUES ($1, $2, $3, $4, 'stock', $5, '', $6, 'quantity', $7, $8, $9, $10, $11, $12, \
                   CASE WHEN $11 = 'resolved' THEN now() END, $13) ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(tenant)
            .bind(connection)
            .bind(&a.platform)
            .bind(&a.sku)
            .bind(issue_type)
            .bind(rule)
            .bind(if drift { "medium" } else { "high" })
            .bind(&a.message)
            .bind(a.observed.to_string())
            .bind(status)
            .bind(&a.resolution)
            .bind(format!("stock-alert:{}", a.id))
            .execute(&state.pool)
            .await?
            .rows_affected();
            if inserted > 0 {
                let issues = grpc::load(&state.pool, tenant, &[id]).await?;
                let what = if drift { "resolved" } else { "detected" };
                publish(&state, tenant, what, &format!("{}:{what}", a.id), issues).await?;
            }
        }
        "push_recovered" => {
            let ids: Vec<Uuid> = sqlx::query_scalar(
                "UPDATE issues SET status = 'resolved', resolution = 'the channel accepted the quantity', \
                   resolved_at = now(), updated_at = now() \
                 WHERE tenant_id = $1 AND connection_id = $2 AND sku = $3 AND rule = 'stock.push_failed' \
                   AND status = 'pending_review' RETURNING id",
            )
            .bind(tenant)
            .bind(connection)
            .bind(&a.sku)
            .fetch_all(&state.pool)
            .await?;
            if !ids.is_empty() {
                let issues = grpc::load(&state.pool, tenant, &ids).await?;
                publish(
                    &state,
                    tenant,
                    "resolved",
                    &format!("{}:resolved", a.id),
                    issues,
                )
                .await?;
            }
        }
        _ => {}
    }
    Ok(())
}

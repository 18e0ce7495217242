//! The monitor service: validates every record against its channel's rules, raises one issue
//! per record and rule (never two), attaches suggestions from the built-in engine, resolves
//! issues the channel fixed, and follows corrections to keep issue status true.

pub mod engine;
mod grpc;

use std::collections::HashMap;
use std::sync::Arc;

use async_nats::jetstream::Message;
use marketsync_common::bus::{Bus, HandlerError, decode, event_id};
use marketsync_common::config::Service;
use marketsync_common::db;
use marketsync_common::health::Metrics;
use marketsync_common::service::Base;
use marketsync_proto::v1::monitor_service_server::MonitorServiceServer;
use marketsync_proto::v1::{Correction, Issue, IssueBatch, Product, RecordBatch};

use sqlx::{PgPool, Row};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Suggestions per issue (seed: `max_suggestions`).
pub const MAX_SUGGESTIONS: usize = 3;

/// Shared state.
pub struct State {
    /// Database (schema `monitor`).
    pub pool: PgPool,
    /// NATS.
    pub bus: Bus,
    /// Metrics.
    pub metrics: Metrics,
    /// Per-tenant engine models, learned from the catalog.
    models: Mutex<HashMap<Uuid, Arc<Mutex<engine::Model>>>>,
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
            && let Err(e) = sqlx::query("ANALYZE issues, catalog")
                .execute(&self.pool)
                .await
        {
            tracing::warn!(error = %e, "analyze failed");
        }
    }

    async fn model(&self, tenant: Uuid) -> Result<Arc<Mutex<engine::Model>>, HandlerError> {
        let mut models = self.models.lock().await;
        if let Some(m) = models.get(&tenant) {
            return Ok(m.clone());
        }
        // First use since start: learn from the catalog stored so far.
        let rows = sqlx::query(
            "SELECT sku, title, brand, categories, weight FROM catalog WHERE tenant_id = $1",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        let mut m = engine::Model::default();
        for r in rows {
            m.learn(&Product {
                sku: r.get(0),
                title: r.get(1),
                brand: r.get(2),
                categories: r.get(3),
                weight: r.get(4),
                ..Default::default()
            });
        }
        let m = Arc::new(Mutex::new(m));
        models.insert(tenant, m.clone());
        Ok(m)
    }
}

/// Runs the service until `shutdown`.
pub async fn run(shutdown: CancellationToken) -> anyhow::Result<()> {
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
        models: Mutex::new(HashMap::new()),
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
    shutdown.cancelled().await;
    let _ = tokio::join!(t1, t2);
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
        }
    }
    let mut ids = Vec::new();
    let mut skus = Vec::new();
    let mut ext = Vec::new();
    let mut types = Vec::new();
    let mut fields = Vec::new();
    let mut rules = Vec::new();
    let mut severities = Vec::new();
    let mut descriptions = Vec::new();
    let mut values = Vec::new();
    let mut suggestions = Vec::new();
    let mut records = Vec::new();
    let mut confidences = Vec::new();
    let mut ok_skus = Vec::new();
    let mut ok_rules = Vec::new();
    {
        let m = model.lock().await;
        for p in &batch.products {
            let (findings, passed) = engine::validate(p);
            for r in passed {
                ok_skus.push(p.sku.clone());
                ok_rules.push(r.to_string());
            }
            if findings.is_empty() {
                continue;
            }
            let record = serde_json::to_value(p).unwrap_or_default();
            for f in findings {
                let s = m.suggest(p, &f, MAX_SUGGESTIONS);
                confidences.push(s.first().map(|s| s.confidence).unwrap_or(0.0));
                suggestions.push(serde_json::to_value(&s).unwrap_or_default());
                ids.push(Uuid::now_v7());
                skus.push(p.sku.clone());
                ext.push(p.external_id.clone());
                types.push(f.issue_type.to_string());
                fields.push(f.field.to_string());
                rules.push(f.rule.to_string());
                severities.push(f.severity.to_string());
                descriptions.push(f.description);
                values.push(f.current_value);
                records.push(record.clone());
            }
        }
    }

    let mut tx = state.pool.begin().await?;
    let titles: Vec<&str> = batch.products.iter().map(|p| p.title.as_str()).collect();
    let cat_skus: Vec<&str> = batch.products.iter().map(|p| p.sku.as_str()).collect();
    let brands: Vec<&str> = batch.products.iter().map(|p| p.brand.as_str()).collect();
    let cats: Vec<String> = batch
        .products
        .iter()
        .map(|p| p.categories.join("\u{1f}"))
        .collect();
    let weights: Vec<Option<f64>> = batch.products.iter().map(|p| p.weight).collect();
    // Which records were known before: a record seen for the first time has no open issue to
    // resolve, which spares a bulk import the look-up below.
    let known: Vec<(String, bool)> = sqlx::query_as(
        "INSERT INTO catalog (tenant_id, sku, title, brand, categories, weight) \
         SELECT $1, s, t, b, CASE WHEN c = '' THEN '{}'::text[] ELSE string_to_array(c, chr(31)) END, w \
         FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::float8[]) AS x(s, t, b, c, w) \
         ON CONFLICT (tenant_id, sku) DO UPDATE SET title = EXCLUDED.title, brand = EXCLUDED.brand, \
         categories = EXCLUDED.categories, weight = EXCLUDED.weight, updated_at = now() \
         RETURNING sku, (xmax <> 0)",
    )
    .bind(tenant)
    .bind(&cat_skus)
    .bind(&titles)
    .bind(&brands)
    .bind(&cats)
    .bind(&weights)
    .fetch_all(&mut *tx)
    .await?;
    let known: std::collections::HashSet<String> = known
        .into_iter()
        .filter_map(|(sku, existed)| existed.then_some(sku))
        .collect();
    let (ok_skus, ok_rules): (Vec<String>, Vec<String>) = ok_skus
        .into_iter()
        .zip(ok_rules)
        .filter(|(sku, _)| known.contains(sku))
        .unzip();

    // New issues are inserted; an open one for the same record and rule is refreshed.
    let inserted: Vec<(Uuid, bool)> = sqlx::query_as(
        "INSERT INTO issues (id, tenant_id, connection_id, platform, record_kind, sku, external_id, \
         issue_type, field, rule, severity, description, current_value, suggestions, record_json, confidence) \
         SELECT i, $1, $2, $3, 'product', s, e, t, f, r, sv, d, v, sg, rj, c FROM UNNEST($4::uuid[], \
         $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
         $12::text[], $13::jsonb[], $14::jsonb[], $15::float8[]) AS x(i, s, e, t, f, r, sv, d, v, sg, rj, c) \
         ON CONFLICT (tenant_id, connection_id, sku, rule) WHERE status = 'pending_review' \
         DO UPDATE SET current_value = EXCLUDED.current_value, suggestions = EXCLUDED.suggestions, \
         record_json = EXCLUDED.record_json, external_id = EXCLUDED.external_id, updated_at = now() \
         RETURNING id, (xmax = 0)",
    )
    .bind(tenant)
    .bind(connection)
    .bind(&batch.platform)
    .bind(&ids)
    .bind(&skus)
    .bind(&ext)
    .bind(&types)
    .bind(&fields)
    .bind(&rules)
    .bind(&severities)
    .bind(&descriptions)
    .bind(&values)
    .bind(&suggestions)
    .bind(&records)
    .bind(&confidences)
    .fetch_all(&mut *tx)
    .await?;
    // Issues of this batch's records whose rule now passes: one probe of the open-issue index
    // per (sku, rule), so the cost does not depend on how many issues are stored nor on how
    // fresh the planner's statistics are during a bulk import.
    let resolved: Vec<Uuid> = if ok_skus.is_empty() {
        Vec::new()
    } else {
        sqlx::query_scalar(
            "UPDATE issues SET status = 'resolved', resolution = 'fixed on the channel', \
             resolved_at = now(), updated_at = now() \
             WHERE id = ANY(ARRAY(SELECT o.id FROM UNNEST($3::text[], $4::text[]) AS x(s, r) \
               CROSS JOIN LATERAL (SELECT id FROM issues WHERE sku = x.s AND rule = x.r \
                 AND connection_id = $2 AND tenant_id = $1 AND status = 'pending_review') o)) \
             RETURNING id",
        )
        .bind(tenant)
        .bind(connection)
        .bind(&ok_skus)
        .bind(&ok_rules)
        .fetch_all(&mut *tx)
        .await?
    };
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

    let new_ids: Vec<Uuid> = inserted
        .iter()
        .filter(|(_, new)| *new)
        .map(|(id, _)| *id)
        .collect();
    let source = event_id(&msg).unwrap_or_else(|| Uuid::now_v7().to_string());
    if !new_ids.is_empty() {
        state
            .metrics
            .record("issues_detected", new_ids.len() as u64);
        let issues = grpc::load(&state.pool, tenant, &new_ids).await?;
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

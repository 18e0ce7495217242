//! MonitorService over gRPC.

use std::sync::Arc;

use marketsync_common::{Error, ts};
use marketsync_proto::v1::monitor_service_server::MonitorService;
use marketsync_proto::v1::*;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::State;

/// The gRPC API.
pub struct Api {
    /// Shared state.
    pub state: Arc<State>,
}

type R<T> = Result<Response<T>, Status>;

const COLUMNS: &str = "id, tenant_id, connection_id, platform, record_kind, sku, external_id, issue_type, \
     field, rule, severity, description, current_value, status, suggestions, created_at, \
     resolved_at, resolution, confidence, learned, recognized, pattern_id, pattern_confidence";

/// The statuses an issue can have.
pub const STATUSES: &[&str] = &["pending_review", "auto_corrected", "resolved", "rejected"];

fn to_issue(r: &PgRow) -> Issue {
    let id: Uuid = r.get(0);
    let tenant: Uuid = r.get(1);
    let conn: Uuid = r.get(2);
    let suggestions: Value = r.get(14);
    let mut suggestions: Vec<Suggestion> = serde_json::from_value(suggestions).unwrap_or_default();
    // What the knowledge base learned ranks first (an engine suggestion of the same value is
    // not repeated).
    let learned: Vec<Suggestion> =
        serde_json::from_value(r.get::<Value, _>(19)).unwrap_or_default();
    if !learned.is_empty() {
        suggestions.retain(|s| !learned.iter().any(|l| l.value == s.value));
        suggestions.splice(0..0, learned);
    }
    let recognized: bool = r.get(20);
    let pattern_confidence: f64 = r.get(22);
    Issue {
        id: id.to_string(),
        tenant_id: tenant.to_string(),
        connection_id: conn.to_string(),
        platform: r.get(3),
        record_kind: r.get(4),
        sku: r.get(5),
        external_id: r.get(6),
        issue_type: r.get(7),
        field: r.get(8),
        rule: r.get(9),
        severity: r.get(10),
        description: r.get(11),
        current_value: r.get(12),
        status: r.get(13),
        suggestions,
        created_at: ts(r.get(15)),
        resolved_at: ts(r.get(16)),
        resolution: r.get(17),
        confidence: if recognized {
            pattern_confidence
        } else {
            r.get(18)
        },
        recognized,
        pattern_id: r
            .get::<Option<Uuid>, _>(21)
            .map(|u| u.to_string())
            .unwrap_or_default(),
        pattern_confidence,
        ..Default::default()
    }
}

/// Fills `record_json` of product issues with the record as the connector stores it (issues
/// keep no copy: one read per connection of the page instead of a record written per issue).
/// A connector that cannot answer leaves the records empty; the issues are still served.
async fn attach_records(state: &State, tenant: Uuid, issues: &mut [Issue]) {
    let mut by_connection: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for i in issues.iter().filter(|i| i.record_kind == "product") {
        by_connection
            .entry(i.connection_id.clone())
            .or_default()
            .push(i.sku.clone());
    }
    for (connection, mut skus) in by_connection {
        skus.sort();
        skus.dedup();
        let answer = state
            .connector
            .clone()
            .list_products(ListProductsRequest {
                tenant_id: tenant.to_string(),
                connection_id: connection.clone(),
                limit: skus.len() as i32,
                skus,
                ..Default::default()
            })
            .await;
        let products = match answer {
            Ok(a) => a.into_inner().products,
            Err(e) => {
                tracing::warn!(connection = %connection, error = %e.message(), "records of issues not read from the connector");
                continue;
            }
        };
        let json: std::collections::HashMap<&str, String> = products
            .iter()
            .filter_map(|p| Some((p.sku.as_str(), serde_json::to_string(p).ok()?)))
            .collect();
        for i in issues.iter_mut().filter(|i| i.connection_id == connection) {
            if let Some(j) = json.get(i.sku.as_str()) {
                i.record_json = j.clone();
            }
        }
    }
}

/// Loads issues by id.
pub async fn load(pool: &PgPool, tenant: Uuid, ids: &[Uuid]) -> Result<Vec<Issue>, sqlx::Error> {
    let sql =
        format!("SELECT {COLUMNS} FROM issues WHERE tenant_id = $1 AND id = ANY($2) ORDER BY id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(ids)
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(to_issue).collect())
}

fn uuid(s: &str, what: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(s).map_err(|_| Error::invalid(format!("{what} must be a UUID")))
}

#[tonic::async_trait]
impl MonitorService for Api {
    async fn list_issues(&self, req: Request<ListIssuesRequest>) -> R<ListIssuesResponse> {
        let r = req.into_inner();
        let tenant = uuid(&r.tenant_id, "tenant_id")?;
        if !r.status.is_empty() && !STATUSES.contains(&r.status.as_str()) {
            return Err(
                Error::invalid(format!("status must be one of {}", STATUSES.join(", "))).into(),
            );
        }
        let limit = if r.limit <= 0 { 50 } else { r.limit.min(500) } as i64;
        let offset = r.offset.max(0) as i64;
        let filter = "tenant_id = $1 AND ($2 = '' OR status = $2) AND ($3 = '' OR platform = $3) \
                      AND ($4 = '' OR issue_type = $4)";
        let sql = format!(
            "SELECT {COLUMNS} FROM issues WHERE {filter} ORDER BY created_at DESC, id DESC LIMIT $5 OFFSET $6"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .bind(&r.status)
            .bind(&r.platform)
            .bind(&r.issue_type)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.state.pool)
            .await
            .map_err(Error::from)?;
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM issues WHERE {filter}"
        )))
        .bind(tenant)
        .bind(&r.status)
        .bind(&r.platform)
        .bind(&r.issue_type)
        .fetch_one(&self.state.pool)
        .await
        .map_err(Error::from)?;
        let mut issues: Vec<Issue> = rows.iter().map(to_issue).collect();
        attach_records(&self.state, tenant, &mut issues).await;
        Ok(Response::new(ListIssuesResponse { issues, total }))
    }

    async fn get_issue(&self, req: Request<IssueRef>) -> R<Issue> {
        let r = req.into_inner();
        let tenant = uuid(&r.tenant_id, "tenant_id")?;
        let id = uuid(&r.id, "id")?;
        let mut issue = load(&self.state.pool, tenant, &[id])
            .await
            .map_err(Error::from)?
            .pop()
            .ok_or_else(|| Error::not_found("issue not found"))?;
        attach_records(&self.state, tenant, std::slice::from_mut(&mut issue)).await;
        Ok(Response::new(issue))
    }

    async fn set_issue_status(&self, req: Request<SetIssueStatusRequest>) -> R<Issue> {
        let r = req.into_inner();
        let tenant = uuid(&r.tenant_id, "tenant_id")?;
        let id = uuid(&r.id, "id")?;
        if !STATUSES.contains(&r.status.as_str()) {
            return Err(
                Error::invalid(format!("status must be one of {}", STATUSES.join(", "))).into(),
            );
        }
        let done = sqlx::query(
            "UPDATE issues SET status = $3, resolution = $4, updated_at = now(), \
             resolved_at = CASE WHEN $3 = 'pending_review' THEN NULL ELSE now() END \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant)
        .bind(id)
        .bind(&r.status)
        .bind(&r.resolution)
        .execute(&self.state.pool)
        .await
        .map_err(Error::from)?;
        if done.rows_affected() == 0 {
            return Err(Error::not_found("issue not found").into());
        }
        let mut issue = load(&self.state.pool, tenant, &[id])
            .await
            .map_err(Error::from)?
            .pop()
            .ok_or_else(|| Error::not_found("issue not found"))?;
        attach_records(&self.state, tenant, std::slice::from_mut(&mut issue)).await;
        Ok(Response::new(issue))
    }

    async fn recognize_issues(
        &self,
        req: Request<RecognizeIssuesRequest>,
    ) -> R<RecognizeIssuesResponse> {
        let r = req.into_inner();
        let tenant = uuid(&r.tenant_id, "tenant_id")?;
        let mut ids = Vec::with_capacity(r.items.len());
        let mut patterns = Vec::with_capacity(r.items.len());
        let mut confidences = Vec::with_capacity(r.items.len());
        let mut learned = Vec::with_capacity(r.items.len());
        for (n, item) in r.items.iter().enumerate() {
            ids.push(uuid(&item.issue_id, &format!("items[{n}].issue_id"))?);
            patterns.push(uuid(&item.pattern_id, &format!("items[{n}].pattern_id"))?);
            if !(0.0..=1.0).contains(&item.pattern_confidence) {
                return Err(Error::invalid(format!(
                    "items[{n}].pattern_confidence must be within 0..1"
                ))
                .into());
            }
            confidences.push(item.pattern_confidence);
            learned.push(sqlx::types::Json(item.learned.clone()));
        }
        let updated = sqlx::query(
            "UPDATE issues SET recognized = true, pattern_id = x.p, pattern_confidence = x.c, \
             learned = x.l, updated_at = now() \
             FROM UNNEST($2::uuid[], $3::uuid[], $4::float8[], $5::jsonb[]) AS x(i, p, c, l) \
             WHERE issues.tenant_id = $1 AND issues.id = x.i",
        )
        .bind(tenant)
        .bind(&ids)
        .bind(&patterns)
        .bind(&confidences)
        .bind(&learned)
        .execute(&self.state.pool)
        .await
        .map_err(Error::from)?
        .rows_affected();
        Ok(Response::new(RecognizeIssuesResponse {
            updated: updated as i64,
        }))
    }

    async fn stats(&self, req: Request<TenantRef>) -> R<MonitorStats> {
        let tenant = uuid(&req.into_inner().tenant_id, "tenant_id")?;
        let rows = sqlx::query(
            "SELECT status, issue_type, count(*) FROM issues WHERE tenant_id = $1 GROUP BY 1, 2",
        )
        .bind(tenant)
        .fetch_all(&self.state.pool)
        .await
        .map_err(Error::from)?;
        let mut stats = MonitorStats::default();
        for r in rows {
            let n: i64 = r.get(2);
            stats.issues_total += n;
            *stats.by_status.entry(r.get(0)).or_insert(0) += n;
            *stats.by_type.entry(r.get(1)).or_insert(0) += n;
        }
        let counters =
            sqlx::query("SELECT records, batches FROM validation_counters WHERE tenant_id = $1")
                .bind(tenant)
                .fetch_optional(&self.state.pool)
                .await
                .map_err(Error::from)?;
        if let Some(c) = counters {
            stats.records_validated = c.get(0);
            stats.syncs_seen = c.get(1);
        }
        Ok(Response::new(stats))
    }
}

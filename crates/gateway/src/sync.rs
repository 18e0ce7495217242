//! Sync requests: validated, recorded in `sync_requests` (so a sync reads as `queued` until the
//! connector picks it up), audited, and published as a [`SyncCommand`] on
//! `<prefix>.cmd.<tenant>.<connection>.sync`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use marketsync_common::bus::Bus;
use marketsync_proto::v1::{SyncCommand, SyncFilters};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::audit::{self, Actor, Change};
use crate::error::ApiError;

/// CloudEvents type of a sync command.
pub const SYNC_REQUESTED: &str = "marketsync.sync.requested.v1";

/// Operations a sync may run.
pub const OPERATIONS: &[&str] = &[
    "import_products",
    "import_inventory",
    "export_inventory",
    "import_orders",
    "export_orders",
];

/// Operations of a sync that names none.
pub const DEFAULT_OPERATIONS: &[&str] = &["import_products", "import_inventory", "import_orders"];

/// Body of `POST /api/v1/connections/{id}/sync` (every field optional).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// Operations to run; default `import_products`, `import_inventory`, `import_orders`.
    #[schema(example = json!(["import_products", "import_inventory"]))]
    pub operations: Option<Vec<String>>,
    /// Ignore the incremental cursors and sync everything.
    pub force_full: Option<bool>,
    /// Restrict the sync.
    pub filters: Option<SyncRequestFilters>,
}

/// Filters of a sync.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncRequestFilters {
    /// Only these SKUs.
    pub skus: Option<Vec<String>>,
    /// Only records changed since (RFC 3339).
    pub since: Option<String>,
    /// Only records changed until (RFC 3339).
    pub until: Option<String>,
}

/// A validated sync request.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSync {
    /// Operations, deduplicated, in request order.
    pub operations: Vec<String>,
    /// Full sync.
    pub force_full: bool,
    /// Filters.
    pub filters: SyncFilters,
}

fn rfc3339(field: &str, v: &Option<String>) -> Result<String, ApiError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(String::new()),
        Some(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| {
                t.with_timezone(&Utc)
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            })
            .map_err(|_| {
                ApiError::invalid(format!(
                    "filters.{field} must be an RFC 3339 timestamp (e.g. 2024-01-31T00:00:00Z)"
                ))
            }),
    }
}

impl SyncRequest {
    /// Checks the operations and filters (400 on anything unknown or malformed).
    pub fn validate(&self) -> Result<ValidSync, ApiError> {
        let operations: Vec<String> = match &self.operations {
            None => DEFAULT_OPERATIONS.iter().map(|s| s.to_string()).collect(),
            Some(ops) if ops.is_empty() => {
                return Err(ApiError::invalid(
                    "operations must name at least one operation when given",
                ));
            }
            Some(ops) => {
                let mut out: Vec<String> = Vec::new();
                for op in ops {
                    let op = op.trim();
                    if !OPERATIONS.contains(&op) {
                        return Err(ApiError::invalid(format!(
                            "unknown operation {op:?}: expected one of {}",
                            OPERATIONS.join(", ")
                        )));
                    }
                    if !out.iter().any(|o| o == op) {
                        out.push(op.to_string());
                    }
                }
                out
            }
        };
        let f = self.filters.clone().unwrap_or_default();
        let skus: Vec<String> = f
            .skus
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.trim().to_string())
            .collect();
        if skus.iter().any(String::is_empty) {
            return Err(ApiError::invalid(
                "filters.skus must not contain empty SKUs",
            ));
        }
        let since = rfc3339("since", &f.since)?;
        let until = rfc3339("until", &f.until)?;
        if !since.is_empty() && !until.is_empty() && since > until {
            return Err(ApiError::invalid(
                "filters.since must not be after filters.until",
            ));
        }
        Ok(ValidSync {
            operations,
            force_full: self.force_full.unwrap_or(false),
            filters: SyncFilters {
                skus,
                since,
                until,
                ids: Vec::new(),
            },
        })
    }
}

/// Answer of a sync request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SyncAccepted {
    /// Id of the sync; poll `GET /api/v1/syncs/{sync_id}` or watch `/api/v1/events`.
    pub sync_id: Uuid,
}

/// Records, audits and publishes a sync of `connection_id` for `tenant_id` requested by
/// `actor`. The connection must have been checked to exist. Returns the new sync id (also the
/// command's `ce-id` and `Nats-Msg-Id`). A NATS failure is a 503 and leaves nothing recorded.
pub async fn enqueue(
    pool: &PgPool,
    bus: &Bus,
    tenant_id: Uuid,
    connection_id: Uuid,
    actor: &Actor,
    request: &ValidSync,
) -> Result<Uuid, ApiError> {
    let sync_id = Uuid::now_v7();
    let tenant = tenant_id.to_string();
    let connection = connection_id.to_string();
    let cmd = SyncCommand {
        tenant_id: tenant.clone(),
        connection_id: connection.clone(),
        sync_id: sync_id.to_string(),
        operations: request.operations.clone(),
        force_full: request.force_full,
        filters: Some(request.filters.clone()),
        requested_by: actor.name.clone(),
        orders: Vec::new(),
    };

    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO sync_requests (sync_id, tenant_id, connection_id, operations, force_full, \
         requested_by) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(sync_id)
    .bind(tenant_id)
    .bind(connection_id)
    .bind(&request.operations)
    .bind(request.force_full)
    .bind(&actor.name)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        actor,
        Change {
            tenant_id,
            action: "sync.request",
            target_type: "connection",
            target_id: connection.clone(),
            before: None,
            after: Some(json!({
                "sync_id": sync_id,
                "operations": request.operations,
                "force_full": request.force_full,
                "filters": request.filters,
            })),
        },
    )
    .await?;
    // Published before the commit: if NATS refuses, nothing is recorded. If the commit failed
    // after a publish, the connector still runs the sync and reports it.
    let subject = bus.subject(&["cmd", &tenant, &connection, "sync"]);
    bus.publish(subject, SYNC_REQUESTED, &tenant, &sync_id.to_string(), &cmd)
        .await
        .map_err(|e| ApiError::service_unavailable("message bus", e))?;
    tx.commit().await?;
    tracing::info!(%sync_id, tenant = %tenant_id, connection = %connection_id, operations = ?request.operations, "sync requested");
    Ok(sync_id)
}

/// A sync request recorded by the gateway.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecordedSync {
    /// Sync id.
    pub sync_id: Uuid,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Connection.
    pub connection_id: Uuid,
    /// Operations.
    pub operations: Vec<String>,
    /// Full sync.
    pub force_full: bool,
    /// Key name of the requester.
    pub requested_by: String,
    /// When.
    pub requested_at: DateTime<Utc>,
}

/// The sync request `sync_id` of `tenant_id`, if the gateway recorded one (another tenant's is
/// `None`).
pub async fn find_request(
    pool: &PgPool,
    tenant_id: Uuid,
    sync_id: Uuid,
) -> sqlx::Result<Option<RecordedSync>> {
    sqlx::query_as(
        "SELECT sync_id, tenant_id, connection_id, operations, force_full, requested_by, \
         requested_at FROM sync_requests WHERE sync_id = $1 AND tenant_id = $2",
    )
    .bind(sync_id)
    .bind(tenant_id)
    .fetch_optional(pool)
    .await
}

/// The latest sync requests of a connection, newest first.
pub async fn list_requests(
    pool: &PgPool,
    tenant_id: Uuid,
    connection_id: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<RecordedSync>> {
    sqlx::query_as(
        "SELECT sync_id, tenant_id, connection_id, operations, force_full, requested_by, \
         requested_at FROM sync_requests WHERE tenant_id = $1 AND connection_id = $2 \
         ORDER BY requested_at DESC LIMIT $3",
    )
    .bind(tenant_id)
    .bind(connection_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A sync as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SyncView {
    /// Sync id.
    pub id: String,
    /// Connection.
    pub connection_id: String,
    /// `queued`, `running`, `completed` or `failed`.
    pub status: String,
    /// Records per kind and outcome.
    pub counts: HashMap<String, i64>,
    /// Errors met.
    pub errors: Vec<String>,
    /// Operations run.
    pub operations: Vec<String>,
    /// Full sync.
    pub force_full: bool,
    /// Started (RFC 3339), null while queued.
    pub started_at: Option<String>,
    /// Finished (RFC 3339), null until done.
    pub finished_at: Option<String>,
}

impl SyncView {
    /// A sync the connector has not picked up yet.
    pub fn queued(r: &RecordedSync) -> Self {
        Self {
            id: r.sync_id.to_string(),
            connection_id: r.connection_id.to_string(),
            status: "queued".into(),
            counts: HashMap::new(),
            errors: Vec::new(),
            operations: r.operations.clone(),
            force_full: r.force_full,
            started_at: None,
            finished_at: None,
        }
    }
}

fn non_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

impl From<marketsync_proto::v1::SyncRun> for SyncView {
    fn from(r: marketsync_proto::v1::SyncRun) -> Self {
        Self {
            id: r.id,
            connection_id: r.connection_id,
            status: r.status,
            counts: r.counts,
            errors: r.errors,
            operations: r.operations,
            force_full: r.force_full,
            started_at: non_empty(r.started_at),
            finished_at: non_empty(r.finished_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let v = SyncRequest::default().validate().expect("valid");
        assert_eq!(v.operations, DEFAULT_OPERATIONS);
        assert!(!v.force_full);

        let bad = SyncRequest {
            operations: Some(vec!["import_everything".into()]),
            ..Default::default()
        };
        assert!(bad.validate().is_err());

        let dates = SyncRequest {
            filters: Some(SyncRequestFilters {
                since: Some("yesterday".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(dates.validate().is_err());

        let ok = SyncRequest {
            operations: Some(vec!["export_orders".into(), "export_orders".into()]),
            force_full: Some(true),
            filters: Some(SyncRequestFilters {
                skus: Some(vec!["A-1".into()]),
                since: Some("2024-01-01T00:00:00+01:00".into()),
                until: None,
            }),
        }
        .validate()
        .expect("valid");
        assert_eq!(ok.operations, vec!["export_orders"]);
        assert_eq!(ok.filters.since, "2023-12-31T23:00:00.000Z");
    }
}

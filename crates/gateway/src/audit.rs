//! The audit log: who (API key id and name) changed what (action and target) and when, with the
//! state before and after. Secrets never get here: connection credentials are stored masked.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

/// Who acts: an API key, or the operator CLI / the system (no key).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Actor {
    /// The API key, when the change came through the REST API.
    pub key_id: Option<Uuid>,
    /// The key's name, or `cli` / `system`.
    pub name: String,
}

impl Actor {
    /// An actor without a key (the operator CLI, start-up tasks).
    pub fn system(name: impl Into<String>) -> Self {
        Self {
            key_id: None,
            name: name.into(),
        }
    }
}

/// One change to record.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// Tenant the change belongs to.
    pub tenant_id: Uuid,
    /// What was done: `connection.create`, `sync.request`, `issue.decision`, …
    pub action: &'a str,
    /// Kind of the changed thing: `connection`, `sync`, `issue`, …
    pub target_type: &'a str,
    /// Its id.
    pub target_id: String,
    /// State before (masked), if any.
    pub before: Option<Value>,
    /// State after (masked), if any.
    pub after: Option<Value>,
}

/// Writes one audit entry with `executor` (a pool or an open transaction, so the entry commits
/// with the change it describes).
pub async fn record<'e, E>(executor: E, actor: &Actor, change: Change<'_>) -> sqlx::Result<Uuid>
where
    E: sqlx::PgExecutor<'e>,
{
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO audit_log (id, tenant_id, actor_key_id, actor_name, action, target_type, \
         target_id, before, after) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(change.tenant_id)
    .bind(actor.key_id)
    .bind(&actor.name)
    .bind(change.action)
    .bind(change.target_type)
    .bind(&change.target_id)
    .bind(change.before.map(sqlx::types::Json))
    .bind(change.after.map(sqlx::types::Json))
    .execute(executor)
    .await?;
    Ok(id)
}

/// Records a change made elsewhere (through gRPC) after it succeeded: a failure is logged and
/// does not fail the request, whose change is already done.
pub async fn record_after(pool: &PgPool, actor: &Actor, change: Change<'_>) {
    let action = change.action.to_string();
    if let Err(e) = record(pool, actor, change).await {
        tracing::error!(error = %e, %action, "audit entry not written");
    }
}

/// An audit entry as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    /// Entry id.
    pub id: Uuid,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Who.
    pub actor: Actor,
    /// What was done (`connection.create`, …).
    pub action: String,
    /// Kind of the changed thing.
    pub target_type: String,
    /// Its id.
    pub target_id: String,
    /// State before, secrets masked.
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    /// State after, secrets masked.
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    /// When.
    pub at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    tenant_id: Uuid,
    actor_key_id: Option<Uuid>,
    actor_name: String,
    action: String,
    target_type: String,
    target_id: String,
    before: Option<sqlx::types::Json<Value>>,
    after: Option<sqlx::types::Json<Value>>,
    at: DateTime<Utc>,
}

/// A page of a tenant's audit log, newest first, and the total count.
pub async fn list(
    pool: &PgPool,
    tenant_id: Uuid,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<AuditEntry>, i64)> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, tenant_id, actor_key_id, actor_name, action, target_type, target_id, \
         before, after, at FROM audit_log WHERE tenant_id = $1 \
         ORDER BY at DESC, id DESC LIMIT $2 OFFSET $3",
    )
    .bind(tenant_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let (total,): (i64,) = sqlx::query_as("SELECT count(*) FROM audit_log WHERE tenant_id = $1")
        .bind(tenant_id)
        .fetch_one(pool)
        .await?;
    let items = rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            tenant_id: r.tenant_id,
            actor: Actor {
                key_id: r.actor_key_id,
                name: r.actor_name,
            },
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            before: r.before.map(|j| j.0),
            after: r.after.map(|j| j.0),
            at: r.at,
        })
        .collect();
    Ok((items, total))
}

/// Replaces every value of a credentials object with `****` (keys are kept, so the trail shows
/// which credentials changed, never what they are).
pub fn mask_all(credentials: &Value) -> Value {
    match credentials {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, _)| (k.clone(), Value::String("****".into())))
                .collect(),
        ),
        Value::Null => Value::Null,
        _ => Value::String("****".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_masked_entirely() {
        let masked = mask_all(&serde_json::json!({"api_key": "sk_live_123", "user": "bob"}));
        assert_eq!(
            masked,
            serde_json::json!({"api_key": "****", "user": "****"})
        );
        assert_eq!(mask_all(&serde_json::json!("secret")), "****");
    }
}

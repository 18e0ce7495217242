//! Tenants and API keys, as the operator CLI manages them. Keys are `msk_` followed by 43
//! characters of base64url (32 random bytes); only their SHA-256 is stored, with a short display
//! prefix. Creating a tenant or a key is audited.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Actor, Change};
use crate::auth::{self, KEY_PREFIX, Role};

/// Characters of a key kept as its display prefix (`msk_` and 8 more).
const DISPLAY_PREFIX_LEN: usize = KEY_PREFIX.len() + 8;

/// Connects to `DATABASE_URL` (creating the database and the `gateway` schema if needed) and
/// migrates the gateway schema.
pub async fn connect_db() -> anyhow::Result<PgPool> {
    let pool =
        marketsync_common::db::connect(&marketsync_common::config::database_url(), "gateway", 4)
            .await?;
    marketsync_common::db::migrate(&pool, &marketsync_common::db::migrations::GATEWAY).await?;
    Ok(pool)
}

/// A tenant.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Tenant {
    /// Id.
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// An API key as listed (never the key itself).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApiKeyInfo {
    /// Id.
    pub id: Uuid,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Name (the actor in the audit log).
    pub name: String,
    /// `merchant`, `operator` or `admin`.
    pub role: String,
    /// Display prefix of the key.
    pub prefix: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last used (updated at most about once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revoked, if so.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Creates the tenant `name`, or returns the id of the existing tenant of that name.
pub async fn create_tenant(pool: &PgPool, name: &str) -> anyhow::Result<Uuid> {
    let name = name.trim();
    anyhow::ensure!(!name.is_empty(), "a tenant needs a name");
    let mut tx = pool.begin().await?;
    let created: Option<(Uuid,)> = sqlx::query_as(
        "INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    let id = match created {
        Some((id,)) => {
            audit::record(
                &mut *tx,
                &Actor::system("cli"),
                Change {
                    tenant_id: id,
                    action: "tenant.create",
                    target_type: "tenant",
                    target_id: id.to_string(),
                    before: None,
                    after: Some(json!({ "id": id, "name": name })),
                },
            )
            .await?;
            tracing::info!(tenant = %id, "tenant created");
            id
        }
        None => {
            let (id,): (Uuid,) = sqlx::query_as("SELECT id FROM tenants WHERE name = $1")
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
            id
        }
    };
    tx.commit().await?;
    Ok(id)
}

/// Every tenant, oldest first.
pub async fn list_tenants(pool: &PgPool) -> anyhow::Result<Vec<Tenant>> {
    Ok(
        sqlx::query_as("SELECT id, name, created_at FROM tenants ORDER BY created_at, name")
            .fetch_all(pool)
            .await?,
    )
}

/// Creates an API key of `role` (`merchant`, `operator` or `admin`) for a tenant and returns
/// the key in clear text: it is shown this once and only its SHA-256 is kept.
pub async fn create_api_key(
    pool: &PgPool,
    tenant_id: Uuid,
    role: &str,
    name: &str,
) -> anyhow::Result<String> {
    let role: Role = role.parse()?;
    let name = name.trim();
    anyhow::ensure!(!name.is_empty(), "an API key needs a name");
    let tenant: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_optional(pool)
        .await?;
    anyhow::ensure!(tenant.is_some(), "tenant {tenant_id} does not exist");

    let key = generate_key()?;
    let prefix = &key[..DISPLAY_PREFIX_LEN];
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO api_keys (id, tenant_id, name, role, key_hash, prefix) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(name)
    .bind(role.as_str())
    .bind(auth::hash_key(&key))
    .bind(prefix)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut *tx,
        &Actor::system("cli"),
        Change {
            tenant_id,
            action: "api_key.create",
            target_type: "api_key",
            target_id: id.to_string(),
            before: None,
            after: Some(json!({ "id": id, "name": name, "role": role, "prefix": prefix })),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(key_id = %id, tenant = %tenant_id, %role, key_prefix = prefix, "api key created");
    Ok(key)
}

/// The API keys of a tenant (without the keys), oldest first.
pub async fn list_api_keys(pool: &PgPool, tenant_id: Uuid) -> anyhow::Result<Vec<ApiKeyInfo>> {
    Ok(sqlx::query_as(
        "SELECT id, tenant_id, name, role, prefix, created_at, last_used_at, revoked_at \
         FROM api_keys WHERE tenant_id = $1 ORDER BY created_at",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await?)
}

/// Revokes a key of a tenant; returns whether a live key was revoked. Audited.
pub async fn revoke_api_key(pool: &PgPool, tenant_id: Uuid, key_id: Uuid) -> anyhow::Result<bool> {
    let mut tx = pool.begin().await?;
    let revoked = sqlx::query(
        "UPDATE api_keys SET revoked_at = now() \
         WHERE id = $1 AND tenant_id = $2 AND revoked_at IS NULL",
    )
    .bind(key_id)
    .bind(tenant_id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if revoked {
        audit::record(
            &mut *tx,
            &Actor::system("cli"),
            Change {
                tenant_id,
                action: "api_key.revoke",
                target_type: "api_key",
                target_id: key_id.to_string(),
                before: Some(json!({ "revoked": false })),
                after: Some(json!({ "revoked": true })),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(revoked)
}

/// A new random key: `msk_` + base64url(32 random bytes), 47 characters.
fn generate_key() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_shape() {
        let k = generate_key().expect("key");
        assert_eq!(k.len(), auth::KEY_LEN);
        assert!(k.starts_with("msk_"));
        assert!(
            k[4..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(k, generate_key().expect("key"));
        assert_eq!(auth::hash_key(&k).len(), 64);
    }
}

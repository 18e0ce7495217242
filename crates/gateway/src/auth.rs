//! API keys and roles: `Authorization: Bearer <key>` identifies a key (only its SHA-256 is
//! stored), the key gives a tenant and a role, and the role decides what the caller may do.
//! Admin keys may act on another tenant with `X-Marketsync-Tenant: <uuid>`.

use std::str::FromStr;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::audit::Actor;
use crate::error::ApiError;

/// Header by which an admin key acts on another tenant.
pub const TENANT_HEADER: &str = "x-marketsync-tenant";

/// Prefix of every API key.
pub const KEY_PREFIX: &str = "msk_";

/// Length of a key: the prefix and 43 characters of unpadded base64url (32 random bytes).
pub const KEY_LEN: usize = KEY_PREFIX.len() + 43;

/// What a key may do; each role includes the ones before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Own tenant: read everything, decide on issues, undo corrections.
    Merchant,
    /// Also configure: connections, syncs, knowledge export, audit log.
    Operator,
    /// Also edit the knowledge base, import rules, and act on any tenant.
    Admin,
}

impl Role {
    /// Lower-case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Merchant => "merchant",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "merchant" => Ok(Role::Merchant),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(anyhow::anyhow!(
                "unknown role {other:?}: expected merchant, operator or admin"
            )),
        }
    }
}

/// SHA-256 (hex) of a key, the only form in which keys are stored.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The API key.
    pub key_id: Uuid,
    /// The key's name (recorded as the actor and as `decided_by`).
    pub key_name: String,
    /// Display prefix of the key (safe to log).
    pub key_prefix: String,
    /// The key's role.
    pub role: Role,
    /// The key's own tenant.
    pub home_tenant: Uuid,
    /// The tenant the request acts on: the key's, or the admin's `X-Marketsync-Tenant`.
    pub tenant_id: Uuid,
}

impl Caller {
    /// The actor of audit entries.
    pub fn actor(&self) -> Actor {
        Actor {
            key_id: Some(self.key_id),
            name: self.key_name.clone(),
        }
    }

    /// The tenant as gRPC requests carry it.
    pub fn tenant(&self) -> String {
        self.tenant_id.to_string()
    }

    /// 403 unless the key's role is at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this action needs the {role} role; the key has the {} role",
                self.role
            )))
        }
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    role: String,
    prefix: String,
    last_used_at: Option<DateTime<Utc>>,
}

/// Finds the live (not revoked) key of a bearer token; `None` when unknown or revoked.
async fn lookup(state: &AppState, token: &str) -> Result<Option<KeyRow>, ApiError> {
    if !token.starts_with(KEY_PREFIX) || token.len() != KEY_LEN {
        return Ok(None);
    }
    let row: Option<KeyRow> = sqlx::query_as(
        "SELECT id, tenant_id, name, role, prefix, last_used_at FROM api_keys \
         WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash_key(token))
    .fetch_optional(&state.pool)
    .await?;
    Ok(row)
}

/// Marks a key used, at most about once a minute, off the request path.
fn touch(state: &AppState, key: &KeyRow) {
    let stale = key
        .last_used_at
        .is_none_or(|t| Utc::now() - t > chrono::Duration::seconds(60));
    if !stale {
        return;
    }
    let pool = state.pool.clone();
    let id = key.id;
    tokio::spawn(async move {
        let r = sqlx::query(
            "UPDATE api_keys SET last_used_at = now() WHERE id = $1 \
             AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
        )
        .bind(id)
        .execute(&pool)
        .await;
        if let Err(e) = r {
            tracing::warn!(key_id = %id, error = %e, "cannot update key last use");
        }
    });
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(c.clone());
        }
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthenticated("missing Authorization: Bearer <api key>"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                let (scheme, rest) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .ok_or_else(|| {
                ApiError::unauthenticated("the Authorization header must be Bearer <api key>")
            })?;
        let key = lookup(state, token)
            .await?
            .ok_or_else(|| ApiError::unauthenticated("unknown or revoked API key"))?;
        let role = Role::from_str(&key.role).map_err(ApiError::internal)?;
        touch(state, &key);

        let mut tenant_id = key.tenant_id;
        if let Some(v) = parts.headers.get(TENANT_HEADER) {
            let wanted = v
                .to_str()
                .ok()
                .and_then(|s| Uuid::parse_str(s.trim()).ok())
                .ok_or_else(|| ApiError::invalid("X-Marketsync-Tenant must be a tenant uuid"))?;
            if wanted != key.tenant_id {
                if role != Role::Admin {
                    return Err(ApiError::forbidden(
                        "only admin keys may act on another tenant",
                    ));
                }
                let exists: Option<(Uuid,)> =
                    sqlx::query_as("SELECT id FROM tenants WHERE id = $1")
                        .bind(wanted)
                        .fetch_optional(&state.pool)
                        .await?;
                if exists.is_none() {
                    return Err(ApiError::not_found("tenant not found"));
                }
                tenant_id = wanted;
            }
        }

        let span = tracing::Span::current();
        span.record("key_prefix", key.prefix.as_str());
        span.record("tenant", tracing::field::display(tenant_id));
        let caller = Caller {
            key_id: key.id,
            key_name: key.name,
            key_prefix: key.prefix,
            role,
            home_tenant: key.tenant_id,
            tenant_id,
        };
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// A caller with at least the operator role (403 otherwise).
pub struct Operator(pub Caller);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let c = Caller::from_request_parts(parts, state).await?;
        c.require(Role::Operator)?;
        Ok(Operator(c))
    }
}

/// A caller with the admin role (403 otherwise).
pub struct Admin(pub Caller);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let c = Caller::from_request_parts(parts, state).await?;
        c.require(Role::Admin)?;
        Ok(Admin(c))
    }
}

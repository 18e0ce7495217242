//! Connections and their encrypted credentials.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use marketsync_common::{Error, Result, ts};
use marketsync_connectors::{ConnectionConfig, Connector, Credentials, Settings};
use marketsync_proto::v1::{Connection, PlatformInfo};
use serde_json::{Map, Value};
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::State;

/// Columns of a connection row, in the order [`to_proto`] reads them.
pub const COLUMNS: &str = "id, tenant_id, name, platform, credentials_masked, settings, enabled, status, \
     last_sync_at, items_synced, error_count, created_at, updated_at";

/// Masks credential values for responses and audit: secret fields become `****` plus their
/// last four characters when long enough to keep that safe, other fields stay readable.
pub fn mask_credentials(platform: Option<&PlatformInfo>, creds: &Map<String, Value>) -> Value {
    let mut out = Map::new();
    for (k, v) in creds {
        let secret = platform
            .and_then(|p| p.credentials.iter().find(|f| &f.name == k))
            .map(|f| f.secret)
            .unwrap_or(true);
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let masked = if !secret {
            text
        } else if text.chars().count() >= 16 {
            let tail: String = text
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("****{tail}")
        } else {
            "****".to_string()
        };
        out.insert(k.clone(), Value::String(masked));
    }
    Value::Object(out)
}

/// A connection row as the proto message.
pub fn to_proto(r: &PgRow) -> Connection {
    let id: Uuid = r.get(0);
    let tenant: Uuid = r.get(1);
    let masked: Value = r.get(4);
    let settings: Value = r.get(5);
    Connection {
        id: id.to_string(),
        tenant_id: tenant.to_string(),
        name: r.get(2),
        platform: r.get(3),
        credentials_masked_json: masked.to_string(),
        settings_json: settings.to_string(),
        enabled: r.get(6),
        status: r.get(7),
        last_sync_at: ts(r.get(8)),
        items_synced: r.get(9),
        error_count: r.get(10),
        created_at: ts(r.get(11)),
        updated_at: ts(r.get(12)),
    }
}

/// Parses a UUID argument.
pub fn uuid(s: &str, what: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|_| Error::invalid(format!("{what} must be a UUID")))
}

/// The platform descriptor, or an invalid-argument error.
pub fn platform(id: &str) -> Result<PlatformInfo> {
    marketsync_connectors::registry()
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| Error::invalid(format!("unknown platform `{id}`")))
}

/// Settings from JSON text, validated.
pub fn parse_settings(text: &str) -> Result<(Value, Settings)> {
    let value: Value = if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(text).map_err(|e| Error::invalid(format!("settings: {e}")))?
    };
    if !value.is_object() {
        return Err(Error::invalid("settings must be a JSON object"));
    }
    let settings: Settings = serde_json::from_value(value.clone())
        .map_err(|e| Error::invalid(format!("settings: {e}")))?;
    crate::stock::rules::StockRules::from_settings(&value).map_err(Error::invalid)?;
    if let Some(ops) = value.get("poll_operations") {
        let ok = ops.as_array().is_some_and(|a| {
            a.iter().all(|o| {
                o.as_str()
                    .is_some_and(|o| crate::sync::OPERATIONS.contains(&o))
            })
        });
        if !ok {
            return Err(Error::invalid(format!(
                "settings.poll_operations must be a list of: {}",
                crate::sync::OPERATIONS.join(", ")
            )));
        }
    }
    for (name, url) in settings
        .base_url
        .iter()
        .map(|u| ("base_url", u))
        .chain(settings.auth_url.iter().map(|u| ("auth_url", u)))
    {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::invalid(format!(
                "settings.{name} must be an http(s) URL"
            )));
        }
    }
    Ok((value, settings))
}

/// Credentials from JSON text: an object whose values are strings.
pub fn parse_credentials(text: &str) -> Result<Map<String, Value>> {
    let value: Value = serde_json::from_str(text)
        .map_err(|_| Error::invalid("credentials must be a JSON object"))?;
    match value {
        Value::Object(m) => Ok(m),
        _ => Err(Error::invalid("credentials must be a JSON object")),
    }
}

/// Checks the platform's required credentials are present.
pub fn check_required(platform: &PlatformInfo, creds: &Map<String, Value>) -> Result<()> {
    let missing: Vec<&str> = platform
        .credentials
        .iter()
        .filter(|f| f.required)
        .filter(|f| {
            creds
                .get(&f.name)
                .map(|v| v.is_null() || v.as_str() == Some(""))
                .unwrap_or(true)
        })
        .map(|f| f.name.as_str())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "missing credentials for {}: {}",
            platform.id,
            missing.join(", ")
        )))
    }
}

/// Encrypts credentials: (key id, ciphertext).
pub fn encrypt(state: &State, creds: &Map<String, Value>) -> Result<(String, Vec<u8>)> {
    let plain = serde_json::to_vec(creds).map_err(Error::internal)?;
    state.keyring.encrypt(&plain).map_err(Error::internal)
}

/// Decrypts a connection's credentials.
pub async fn load_credentials(
    state: &State,
    tenant: Uuid,
    id: Uuid,
) -> Result<(String, Map<String, Value>, Value)> {
    let row = sqlx::query(
        "SELECT platform, credentials_key_id, credentials_ciphertext, settings FROM connections \
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| Error::not_found("connection not found"))?;
    let key_id: String = row.get(1);
    let ct: Vec<u8> = row.get(2);
    let plain = state
        .keyring
        .decrypt(&key_id, &ct)
        .map_err(|e| Error::internal(format!("credentials of connection {id}: {e}")))?;
    let creds: Map<String, Value> = serde_json::from_slice(&plain).map_err(Error::internal)?;
    Ok((row.get(0), creds, row.get(3)))
}

/// Everything needed to build the connector of a connection.
pub async fn connection_config(state: &State, tenant: Uuid, id: Uuid) -> Result<ConnectionConfig> {
    let (platform, creds, settings) = load_credentials(state, tenant, id).await?;
    let credentials = Credentials::from_json(&Value::Object(creds)).map_err(Error::internal)?;
    let settings: Settings = serde_json::from_value(settings).unwrap_or_default();
    Ok(ConnectionConfig {
        platform,
        credentials,
        settings,
    })
}

/// One connector per connection, shared by everything in this process that talks to the
/// platform (syncs, webhooks, the stock pusher, shipments, corrections): they spend one rate
/// budget together instead of each believing it has the whole, and share what a connector
/// keeps (tokens, sessions, looked-up ids). Rebuilt when the connection changes.
#[derive(Default)]
pub struct Connectors {
    built: Mutex<HashMap<Uuid, Built>>,
}

/// A connector and the version (`updated_at`) of the connection it was built from.
type Built = (DateTime<Utc>, Arc<dyn Connector>);

/// The connection's connector, built once per version of the connection. A configuration the
/// platform's connector refuses is an invalid-argument error.
pub async fn connector(state: &State, tenant: Uuid, id: Uuid) -> Result<Arc<dyn Connector>> {
    let updated: DateTime<Utc> =
        sqlx::query_scalar("SELECT updated_at FROM connections WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .fetch_optional(&state.pool)
            .await?
            .ok_or_else(|| Error::not_found("connection not found"))?;
    let cached = |map: &HashMap<Uuid, Built>| {
        map.get(&id)
            .filter(|(at, _)| *at == updated)
            .map(|(_, c)| c.clone())
    };
    if let Some(c) = cached(&state.connectors.lock()) {
        return Ok(c);
    }
    let cfg = connection_config(state, tenant, id).await?;
    let built: Arc<dyn Connector> = marketsync_connectors::build(cfg)
        .map_err(|e| Error::invalid(e.to_string()))?
        .into();
    let mut map = state.connectors.lock();
    // Another task may have built the same version meanwhile: everyone keeps one.
    if let Some(c) = cached(&map) {
        return Ok(c);
    }
    map.insert(id, (updated, built.clone()));
    Ok(built)
}

impl Connectors {
    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Built>> {
        // A map of handles: a panic elsewhere cannot leave it inconsistent.
        self.built.lock().unwrap_or_else(|e| e.into_inner())
    }
}

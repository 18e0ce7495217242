//! Applies corrections (and their undo) to the platform, once per correction.

use std::sync::Arc;

use async_nats::jetstream::Message;
use marketsync_common::bus::{HandlerError, decode};
use marketsync_connectors::FieldUpdate;
use marketsync_proto::v1::{Correction, Product};
use prost::Message as _;
use sqlx::Row;
use uuid::Uuid;

use crate::{State, store};

/// Handles `corrections.<tenant>.proposed` (apply `new_value`) and `.undo` (restore
/// `old_value`), publishing `applied`/`undone` or `failed`.
pub async fn handle(state: Arc<State>, msg: Message) -> Result<(), HandlerError> {
    let mut c: Correction = decode(&msg)?;
    let undo = msg.subject.ends_with(".undo");
    let action = if undo { "undo" } else { "apply" };
    let id = Uuid::parse_str(&c.id).map_err(|_| HandlerError::Poison("correction id".into()))?;
    let tenant =
        Uuid::parse_str(&c.tenant_id).map_err(|_| HandlerError::Poison("tenant id".into()))?;
    let connection = Uuid::parse_str(&c.connection_id)
        .map_err(|_| HandlerError::Poison("connection id".into()))?;

    let done: Option<String> = sqlx::query_scalar(
        "SELECT status FROM applied_corrections WHERE correction_id = $1 AND action = $2",
    )
    .bind(id)
    .bind(action)
    .fetch_optional(&state.pool)
    .await?;
    if let Some(status) = done {
        // Already handled: publish the outcome again (deduplicated by id) in case the first
        // publish was lost, then ack.
        c.status = status;
        return publish(&state, &c, undo).await;
    }

    let value = if undo {
        c.old_value.clone()
    } else {
        c.new_value.clone()
    };
    let update = FieldUpdate {
        external_id: c.external_id.clone(),
        sku: c.sku.clone(),
        field: c.field.clone(),
        value: value.clone(),
    };
    let outcome = match store::connector(&state, tenant, connection).await {
        Ok(conn) => conn.update_field(&update).await,
        Err(e) if e.code == marketsync_common::ErrorCode::InvalidArgument => {
            Err(marketsync_connectors::ConnectorError::Config(
                e.message
                    .trim_start_matches("invalid configuration: ")
                    .to_string(),
            ))
        }
        Err(e) if e.code == marketsync_common::ErrorCode::NotFound => Err(
            marketsync_connectors::ConnectorError::NotFound("connection".into()),
        ),
        Err(e) => return Err(HandlerError::Transient(e.message)),
    };
    let status = match outcome {
        Ok(()) => {
            update_local(&state, connection, &c.sku, &c.field, &value).await?;
            c.error.clear();
            if undo { "undone" } else { "applied" }
        }
        Err(e) if e.is_transient() => return Err(HandlerError::Transient(e.to_string())),
        Err(e) => {
            c.error = e.to_string();
            "failed"
        }
    };
    c.status = status.to_string();
    c.applied_at = marketsync_common::now_rfc3339();
    sqlx::query(
        "INSERT INTO applied_corrections (correction_id, action, tenant_id, status, error) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(action)
    .bind(tenant)
    .bind(status)
    .bind(&c.error)
    .execute(&state.pool)
    .await?;
    tracing::info!(correction = %id, field = %c.field, sku = %c.sku, %status, "correction handled");
    publish(&state, &c, undo).await
}

async fn publish(state: &State, c: &Correction, undo: bool) -> Result<(), HandlerError> {
    let what = if c.status == "failed" {
        "failed"
    } else if undo {
        "undone"
    } else {
        "applied"
    };
    let subject = state.bus.subject(&["corrections", &c.tenant_id, what]);
    let id = format!("{}.{}", c.id, what);
    state
        .bus
        .publish(
            subject,
            &format!("marketsync.correction.{what}.v1"),
            &c.tenant_id,
            &id,
            c,
        )
        .await?;
    Ok(())
}

/// Keeps our copy of the record in step with what the platform now has.
async fn update_local(
    state: &State,
    connection: Uuid,
    sku: &str,
    field: &str,
    value: &str,
) -> Result<(), HandlerError> {
    let row = sqlx::query("SELECT record FROM products WHERE connection_id = $1 AND sku = $2")
        .bind(connection)
        .bind(sku)
        .fetch_optional(&state.pool)
        .await?;
    let Some(row) = row else { return Ok(()) };
    let bytes: Vec<u8> = row.get(0);
    let mut p = Product::decode(bytes.as_slice())?;
    match field {
        "description" => p.description = value.to_string(),
        "brand" => p.brand = value.to_string(),
        "title" => p.title = value.to_string(),
        "categories" => {
            p.categories = value
                .split(';')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        }
        "weight" => p.weight = value.parse().ok(),
        "price" => {
            p.raw_price = value.to_string();
            if let Some(m) = p.price.as_mut() {
                m.amount = value.to_string();
            }
        }
        _ => {}
    }
    sqlx::query(
        "UPDATE products SET record = $3, updated_at = now() WHERE connection_id = $1 AND sku = $2",
    )
    .bind(connection)
    .bind(sku)
    .bind(p.encode_to_vec())
    .execute(&state.pool)
    .await?;
    Ok(())
}

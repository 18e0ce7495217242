//! End-to-end: the four services as processes, real NATS and PostgreSQL, the BigCommerce
//! simulator over HTTP, everything driven through the gateway.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod ai;
mod bad_input;
mod flow;
mod knowledge;
#[macro_use]
mod marketplaces;
mod platforms;
mod stock;
mod storm;
mod telemetry;
mod webhooks;

use std::time::Duration;

use marketsync_e2e::System;
use serde_json::Value;

/// Pending issues of a type.
pub async fn pending(sys: &System, issue_type: &str) -> anyhow::Result<Vec<Value>> {
    let v = sys
        .get(&format!(
            "/api/v1/issues?status=pending_review&type={issue_type}&limit=500"
        ))
        .await?;
    Ok(v["items"].as_array().cloned().unwrap_or_default())
}

/// Products stored by the connector for a connection.
pub async fn stored_products(sys: &System, connection: &str) -> anyhow::Result<i64> {
    let pool = sys.db().await?;
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM connector.products WHERE connection_id = $1::uuid",
    )
    .bind(connection)
    .fetch_one(&pool)
    .await?;
    Ok(n)
}

/// A long timeout for syncs on a busy 2-core machine.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(120);

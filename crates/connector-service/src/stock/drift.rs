//! What a channel was seen showing (its own stock import, from a webhook or a reconciliation
//! poll), compared with what marketsync last sent it. A difference still there after the
//! grace time (an order placed on the channel and not imported yet is no drift) is drift: it is
//! recorded, resolved by the connection's policy, and raised as an issue.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::alerts;
use super::ledger::{self, Change};
use super::rules::{DriftPolicy, StockRules};
use crate::State;

/// Records what a channel shows for `skus` (read by a stock import that started at `read_at`)
/// and resolves drift. Returns the skus found drifting.
#[allow(clippy::too_many_arguments)]
pub async fn observe(
    state: &State,
    tenant: Uuid,
    connection: Uuid,
    platform: &str,
    settings: &serde_json::Value,
    own_warehouses: &[&str],
    skus: &[&str],
    read_at: DateTime<Utc>,
) -> Result<Vec<String>, sqlx::Error> {
    if skus.is_empty() {
        return Ok(Vec::new());
    }
    let rules = StockRules::from_settings(settings).unwrap_or_default();
    let own: Vec<String> = own_warehouses.iter().map(|s| s.to_string()).collect();
    // (sku, shown, pushed, pushed_at, pending, suspect, suspect_since)
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        String,
        i64,
        Option<i64>,
        Option<DateTime<Utc>>,
        bool,
        Option<i64>,
        Option<DateTime<Utc>>,
    )> = sqlx::query_as(
        "WITH shown AS (SELECT sku, sum(available)::int8 AS q FROM stock_levels \
           WHERE connection_id = $1 AND sku = ANY($2) AND warehouse <> ALL($3) GROUP BY sku) \
         UPDATE channel_stock c SET observed = shown.q, observed_at = now() FROM shown \
         WHERE c.connection_id = $1 AND c.sku = shown.sku \
         RETURNING c.sku, shown.q, c.pushed, c.pushed_at, c.dirty, c.suspect, c.suspect_since",
    )
    .bind(connection)
    .bind(skus)
    .bind(&own)
    .fetch_all(&state.pool)
    .await?;
    let grace = chrono::Duration::seconds(rules.drift_grace_secs as i64);
    let now = Utc::now();
    let mut drifted = Vec::new();
    let mut suspects: Vec<(String, i64)> = Vec::new();
    let mut cleared: Vec<String> = Vec::new();
    for (sku, shown, pushed, pushed_at, pending, suspect, since) in rows {
        let Some(pushed) = pushed else { continue };
        // A push under way or sent after the read began: the read may predate it.
        if pending || pushed_at.is_some_and(|t| t >= read_at) {
            continue;
        }
        if shown == pushed {
            if suspect.is_some() {
                cleared.push(sku);
            }
            continue;
        }
        let confirmed = rules.drift_grace_secs == 0
            || (suspect == Some(shown) && since.is_some_and(|t| now - t >= grace));
        if !confirmed {
            if suspect != Some(shown) {
                suspects.push((sku, shown));
            }
            continue;
        }
        resolve(
            state, tenant, connection, platform, &rules, &sku, pushed, shown,
        )
        .await?;
        drifted.push(sku);
    }
    if !suspects.is_empty() {
        sqlx::query(
            "UPDATE channel_stock c SET suspect = t.q, suspect_since = now() \
             FROM UNNEST($2::text[], $3::int8[]) AS t(s, q) WHERE c.connection_id = $1 AND c.sku = t.s",
        )
        .bind(connection)
        .bind(suspects.iter().map(|s| s.0.clone()).collect::<Vec<_>>())
        .bind(suspects.iter().map(|s| s.1).collect::<Vec<_>>())
        .execute(&state.pool)
        .await?;
    }
    if !cleared.is_empty() {
        sqlx::query(
            "UPDATE channel_stock SET suspect = NULL, suspect_since = NULL WHERE connection_id = $1 AND sku = ANY($2)",
        )
        .bind(connection)
        .bind(&cleared)
        .execute(&state.pool)
        .await?;
    }
    if !drifted.is_empty() {
        state.wake_pushers();
    }
    Ok(drifted)
}

#[allow(clippy::too_many_arguments)]
async fn resolve(
    state: &State,
    tenant: Uuid,
    connection: Uuid,
    platform: &str,
    rules: &StockRules,
    sku: &str,
    pushed: i64,
    shown: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = state.pool.begin().await?;
    let resolution = match rules.drift_policy {
        DriftPolicy::Overwrite => {
            sqlx::query(
                "UPDATE channel_stock SET dirty = true, dirty_since = now(), touch = touch + 1, \
                   pushed = $3, suspect = NULL, suspect_since = NULL WHERE connection_id = $1 AND sku = $2",
            )
            .bind(connection)
            .bind(sku)
            // What the channel shows now, so the push is sent whatever it was sent before.
            .bind(shown)
            .execute(&mut *tx)
            .await?;
            "overwritten"
        }
        DriftPolicy::Accept => {
            // Into the feeding warehouse with the most stock for this sku.
            let whs: Vec<(String, i64)> = sqlx::query_as(
                "SELECT warehouse, on_hand FROM stock_ledger WHERE tenant_id = $1 AND sku = $2 \
                 ORDER BY on_hand DESC, warehouse FOR UPDATE",
            )
            .bind(tenant)
            .bind(sku)
            .fetch_all(&mut *tx)
            .await?;
            let wh = whs
                .iter()
                .find(|(w, _)| rules.feeds(w))
                .map(|(w, _)| w.clone())
                .unwrap_or_else(|| rules.warehouses.first().cloned().unwrap_or_default());
            // What the channel shows is taken as the truth, and is what it was sent.
            sqlx::query(
                "UPDATE channel_stock SET pushed = $3, pushed_at = now(), suspect = NULL, suspect_since = NULL \
                 WHERE connection_id = $1 AND sku = $2",
            )
            .bind(connection)
            .bind(sku)
            .bind(shown)
            .execute(&mut *tx)
            .await?;
            if !wh.is_empty() {
                ledger::apply(
                    &mut tx,
                    tenant,
                    &[Change {
                        sku: sku.to_string(),
                        warehouse: wh,
                        on_hand_delta: shown - pushed,
                        cause: "drift",
                        connection: Some(connection),
                        note: format!("the channel showed {shown} where {pushed} was sent"),
                        ..Default::default()
                    }],
                    None,
                )
                .await?;
            }
            "accepted as an adjustment"
        }
    };
    let policy = match rules.drift_policy {
        DriftPolicy::Overwrite => "overwrite",
        DriftPolicy::Accept => "accept",
    };
    sqlx::query(
        "INSERT INTO stock_drift (tenant_id, connection_id, sku, expected, observed, policy, resolution) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant)
    .bind(connection)
    .bind(sku)
    .bind(pushed)
    .bind(shown)
    .bind(policy)
    .bind(resolution)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(connection = %connection, sku, sent = pushed, shown, resolution, "stock drift");
    let msg = format!("the channel shows {shown} units where marketsync sent {pushed}");
    alerts::publish(
        state, tenant, connection, platform, sku, "drift", pushed, shown, &msg, resolution,
    )
    .await;
    Ok(())
}

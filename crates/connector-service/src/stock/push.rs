//! Propagation: one pusher per channel connection sends the skus marked due, scarcest first,
//! through the platform's batch endpoint (marketplaces: offers; shops: stock per location),
//! with the quantity the ledger gives at the moment of sending. Bursts coalesce by themselves:
//! a sku changed ten times before its turn is sent once. The platform's rate budget is kept by
//! the connector's own limiter (a call waits for its turn); pushes spend it in the background
//! ([`marketsync_connectors::background`]: not while an order import of the connection waits,
//! and leaving it a fifth), and a pusher holds a lease on its connection so replicas never
//! push the same channel at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use marketsync_connectors::{Connector, ConnectorError, ExportReport, OfferUpdate};
use marketsync_proto::v1::StockLevel;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::alerts;
use super::ledger;
use super::rules::{PushMode, StockRules};
use crate::{State, store};

/// How long a pusher's hold on its connection lasts without renewal.
/// Longest wait for the rate budget before gathering a push (the lease outlives it).
const MAX_SLOT_WAIT: Duration = Duration::from_secs(5);
const LEASE_SECS: i64 = 10;
/// Failed attempts after which a push becomes an issue.
pub const FAIL_ALERT_AT: i32 = 3;
/// Rounds of one pass, beyond those its backlog needs, before yielding (a sku changed on every
/// round cannot starve the rest).
const MAX_ROUNDS: usize = 200;

/// The connection's (shared) connector as a pusher last used it.
#[derive(Default)]
pub struct Cached {
    built: Option<Arc<dyn Connector>>,
    /// The platform has no offer export: stock goes out per location.
    shop: bool,
}

/// Starts and stops one pusher per enabled connection.
pub async fn supervise(state: Arc<State>, shutdown: CancellationToken) {
    let mut workers: HashMap<Uuid, (tokio::task::JoinHandle<()>, CancellationToken)> =
        HashMap::new();
    loop {
        match sqlx::query_as::<_, (Uuid, Uuid)>(
            "SELECT id, tenant_id FROM connections WHERE enabled",
        )
        .fetch_all(&state.pool)
        .await
        {
            Ok(rows) => {
                let live: HashMap<Uuid, Uuid> = rows.into_iter().collect();
                workers.retain(|id, (task, stop)| {
                    let keep = live.contains_key(id) && !task.is_finished();
                    if !keep {
                        stop.cancel();
                    }
                    keep
                });
                for (id, tenant) in live {
                    workers.entry(id).or_insert_with(|| {
                        let stop = shutdown.child_token();
                        let task = tokio::spawn(worker(state.clone(), tenant, id, stop.clone()));
                        (task, stop)
                    });
                }
            }
            Err(e) => tracing::warn!(error = %e, "stock pushers: cannot list connections"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = shutdown.cancelled() => break,
        }
    }
    for (_, (task, stop)) in workers {
        stop.cancel();
        let _ = task.await;
    }
}

async fn worker(state: Arc<State>, tenant: Uuid, connection: Uuid, stop: CancellationToken) {
    let holder = Uuid::new_v4();
    let mut wake = state.stock_wake.subscribe();
    let mut cached = Cached::default();
    loop {
        wake.borrow_and_update();
        if let Err(e) = pass(&state, tenant, connection, holder, &mut cached, false).await {
            tracing::warn!(connection = %connection, error = %e, "stock push pass failed");
        }
        tokio::select! {
            _ = wake.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.cancelled() => break,
        }
    }
    let _ = sqlx::query(
        "UPDATE stock_push_leases SET until = now() WHERE connection_id = $1 AND holder = $2",
    )
    .bind(connection)
    .bind(holder)
    .execute(&state.pool)
    .await;
}

/// Takes (or renews) the connection's lease; `Some(last scheduled push)` when held.
async fn lease(
    state: &State,
    connection: Uuid,
    holder: Uuid,
) -> Result<Option<Option<DateTime<Utc>>>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO stock_push_leases (connection_id, holder, until) \
         VALUES ($1, $2, now() + make_interval(secs => $3)) \
         ON CONFLICT (connection_id) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until \
         WHERE stock_push_leases.holder = EXCLUDED.holder OR stock_push_leases.until < now() \
         RETURNING last_full_push",
    )
    .bind(connection)
    .bind(holder)
    .bind(LEASE_SECS as f64)
    .fetch_optional(&state.pool)
    .await
}

/// Skus due on a connection now (failures wait for their retry time).
async fn due_count(state: &State, connection: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM channel_stock WHERE connection_id = $1 AND dirty \
           AND (retry_at IS NULL OR retry_at <= now())",
    )
    .bind(connection)
    .fetch_one(&state.pool)
    .await
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pushed {
    /// Skus the channel accepted a new quantity for.
    pub sent: u64,
    /// Skus already showing their quantity (nothing sent).
    pub unchanged: u64,
    /// Skus the channel refused or could not be reached for.
    pub failed: u64,
}

/// Sends everything due on a connection. `force` (a forced full export) pushes whatever the
/// connection's push mode says, waiting for the lease when a pusher holds it.
pub async fn pass(
    state: &State,
    tenant: Uuid,
    connection: Uuid,
    holder: Uuid,
    cached: &mut Cached,
    force: bool,
) -> anyhow::Result<Pushed> {
    let mut total = Pushed::default();
    let mut due = due_count(state, connection).await?;
    if due == 0 {
        return Ok(total);
    }
    let row: Option<(serde_json::Value, bool, String)> = sqlx::query_as(
        "SELECT settings, enabled AND NOT EXISTS (SELECT 1 FROM stock_warehouses w \
           WHERE w.tenant_id = c.tenant_id AND w.source_connection_id = c.id), platform \
         FROM connections c WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(connection)
    .fetch_optional(&state.pool)
    .await?;
    let Some((settings, pushable, platform)) = row else {
        return Ok(total);
    };
    let rules = StockRules::from_settings(&settings).unwrap_or_default();
    if !force && (!pushable || rules.push == PushMode::Off) {
        return Ok(total);
    }
    let mut waited = 0;
    let last_scheduled = loop {
        match lease(state, connection, holder).await? {
            Some(last) => break last,
            None if force && waited < 60 => {
                waited += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            None => return Ok(total),
        }
    };
    if !force && rules.push == PushMode::Scheduled {
        let interval = chrono::Duration::seconds(rules.push_interval_secs as i64);
        if last_scheduled.is_some_and(|t| Utc::now() - t < interval) {
            return Ok(total);
        }
    }
    // `store::connector` rebuilds when the connection changes; what this pusher learned of
    // the old one (whether it exports offers) goes with it.
    let connector = store::connector(state, tenant, connection).await?;
    if !cached
        .built
        .as_ref()
        .is_some_and(|b| Arc::ptr_eq(b, &connector))
    {
        cached.built = Some(connector);
        cached.shop = false;
    }
    // Enough rounds for everything due now in batches (a scheduled push sends it all), and
    // MAX_ROUNDS more for what becomes due meanwhile.
    let rounds = MAX_ROUNDS + (due / i64::from(rules.batch(&platform, due).max(1))) as usize;
    for round in 0..rounds {
        if round > 0 {
            due = due_count(state, connection).await?;
        }
        if due == 0 {
            break;
        }
        // Wait for the rate budget before gathering what is due, not after: the push then
        // carries every change made while it waited (a paced budget sends one call every
        // half second or so; gathered first, the changes of that half second would wait for
        // the next call).
        let wait = cached
            .built
            .as_ref()
            .map_or(Duration::ZERO, |c| c.stock_push_wait())
            .min(MAX_SLOT_WAIT);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let claimed: Vec<(String, i64, Option<i64>, i32)> = sqlx::query_as(
            "SELECT sku, touch, pushed, attempts FROM channel_stock WHERE connection_id = $1 AND dirty \
               AND (retry_at IS NULL OR retry_at <= now()) \
             ORDER BY target_hint, dirty_since NULLS FIRST, sku LIMIT $2",
        )
        .bind(connection)
        .bind(i64::from(rules.batch(&platform, due)))
        .fetch_all(&state.pool)
        .await?;
        if claimed.is_empty() {
            break;
        }
        let n = claimed.len();
        let began = std::time::Instant::now();
        let p = push_batch(
            state, tenant, connection, &platform, &rules, cached, claimed,
        )
        .await?;
        tracing::debug!(connection = %connection, platform = %platform, due, claimed = n,
            sent = p.sent, unchanged = p.unchanged, failed = p.failed,
            ms = began.elapsed().as_millis() as u64, "stock push round");
        total.sent += p.sent;
        total.unchanged += p.unchanged;
        total.failed += p.failed;
        if lease(state, connection, holder).await?.is_none() {
            break;
        }
        if p.failed as usize == n {
            // Everything failed: the failures wait for their retry time.
            break;
        }
    }
    if rules.push == PushMode::Scheduled && !force {
        sqlx::query("UPDATE stock_push_leases SET last_full_push = now() WHERE connection_id = $1")
            .bind(connection)
            .execute(&state.pool)
            .await?;
    }
    // Nothing due any more: let another pusher (a forced export, a replica) take over at once.
    sqlx::query(
        "UPDATE stock_push_leases SET until = now() WHERE connection_id = $1 AND holder = $2",
    )
    .bind(connection)
    .bind(holder)
    .execute(&state.pool)
    .await?;
    Ok(total)
}

/// Spreads `q` over a shop's locations: locations that are feeding warehouses get up to that
/// warehouse's available units, the first location takes the rest, the others 0.
pub fn distribute(q: i64, locations: &[String], feeding: &[(String, i64)]) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = locations.iter().map(|l| (l.clone(), 0)).collect();
    let mut rest = q;
    for (loc, n) in out.iter_mut() {
        if let Some((_, a)) = feeding.iter().find(|(w, _)| w == loc) {
            let take = rest.min((*a).max(0));
            *n = take;
            rest -= take;
        }
    }
    if rest > 0
        && let Some(first) = out.first_mut()
    {
        first.1 += rest;
    }
    out
}

async fn push_batch(
    state: &State,
    tenant: Uuid,
    connection: Uuid,
    platform: &str,
    rules: &StockRules,
    cached: &mut Cached,
    claimed: Vec<(String, i64, Option<i64>, i32)>,
) -> anyhow::Result<Pushed> {
    let skus: Vec<String> = claimed.iter().map(|c| c.0.clone()).collect();
    let mut db = state.pool.acquire().await?;
    let avail = ledger::available(&mut db, tenant, &skus).await?;
    drop(db);
    let target =
        |sku: &str| ledger::listed(rules, avail.get(sku).map(Vec::as_slice).unwrap_or(&[]));
    let mut settle: Vec<(String, i64, i64)> = Vec::new();
    let mut send: Vec<(String, i64, i64)> = Vec::new();
    let mut attempts: HashMap<String, i32> = HashMap::new();
    for (sku, touch, pushed, tries) in &claimed {
        let q = target(sku);
        attempts.insert(sku.clone(), *tries);
        if *pushed == Some(q) {
            settle.push((sku.clone(), q, *touch));
        } else {
            send.push((sku.clone(), q, *touch));
        }
    }
    let mut out = Pushed {
        unchanged: settle.len() as u64,
        ..Default::default()
    };
    if !send.is_empty() {
        let connector = cached.built.as_ref().expect("built");
        // In the background of the shared connector's rate budget: its order imports (which
        // tell the ledger of a sale) go first.
        let result = marketsync_connectors::background(export(
            state,
            connection,
            connector.as_ref(),
            &mut cached.shop,
            rules,
            &send,
            &avail,
        ))
        .await;
        match result {
            Ok(report) => {
                let mut refused: HashMap<String, String> = HashMap::new();
                for (key, why) in report.rejected {
                    if let Some((sku, _, _)) = send
                        .iter()
                        .find(|(s, _, _)| key == *s || key.starts_with(&format!("{s}@")))
                    {
                        refused.entry(sku.clone()).or_insert(why);
                    }
                }
                let failed: Vec<(String, String)> = refused.into_iter().collect();
                out.failed = failed.len() as u64;
                for (sku, q, touch) in send {
                    if !failed.iter().any(|(s, _)| *s == sku) {
                        settle.push((sku, q, touch));
                        out.sent += 1;
                    }
                }
                fail(state, tenant, connection, platform, &failed, &attempts).await?;
            }
            Err(e) => {
                let why = e.to_string();
                tracing::warn!(connection = %connection, skus = send.len(), error = %why, "stock push failed");
                let failed: Vec<(String, String)> = send
                    .iter()
                    .map(|(s, _, _)| (s.clone(), why.clone()))
                    .collect();
                out.failed = failed.len() as u64;
                fail(state, tenant, connection, platform, &failed, &attempts).await?;
            }
        }
    }
    if !settle.is_empty() {
        let recovered: Vec<String> = settle
            .iter()
            .filter(|(s, _, _)| attempts.get(s).copied().unwrap_or(0) >= FAIL_ALERT_AT)
            .map(|(s, _, _)| s.clone())
            .collect();
        sqlx::query(
            "UPDATE channel_stock c SET pushed = t.q, pushed_at = now(), \
               dirty = (c.touch <> t.touch), \
               dirty_since = CASE WHEN c.touch <> t.touch THEN c.dirty_since ELSE NULL END, \
               attempts = 0, last_error = '', retry_at = NULL, suspect = NULL, suspect_since = NULL \
             FROM UNNEST($2::text[], $3::int8[], $4::int8[]) AS t(s, q, touch) \
             WHERE c.connection_id = $1 AND c.sku = t.s",
        )
        .bind(connection)
        .bind(settle.iter().map(|s| s.0.clone()).collect::<Vec<_>>())
        .bind(settle.iter().map(|s| s.1).collect::<Vec<_>>())
        .bind(settle.iter().map(|s| s.2).collect::<Vec<_>>())
        .execute(&state.pool)
        .await?;
        for sku in recovered {
            alerts::publish(
                state,
                tenant,
                connection,
                platform,
                &sku,
                "push_recovered",
                0,
                0,
                "the channel accepts this sku's quantity again",
                "",
            )
            .await;
        }
        state.metrics.record("stock_pushed", out.sent);
    }
    Ok(out)
}

async fn fail(
    state: &State,
    tenant: Uuid,
    connection: Uuid,
    platform: &str,
    failed: &[(String, String)],
    attempts: &HashMap<String, i32>,
) -> anyhow::Result<()> {
    if failed.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE channel_stock c SET attempts = c.attempts + 1, last_error = t.why, \
           retry_at = now() + make_interval(secs => least(power(2, c.attempts + 1), 300)) \
         FROM UNNEST($2::text[], $3::text[]) AS t(s, why) WHERE c.connection_id = $1 AND c.sku = t.s",
    )
    .bind(connection)
    .bind(failed.iter().map(|f| f.0.clone()).collect::<Vec<_>>())
    .bind(failed.iter().map(|f| f.1.clone()).collect::<Vec<_>>())
    .execute(&state.pool)
    .await?;
    for (sku, why) in failed {
        if attempts.get(sku).copied().unwrap_or(0) + 1 == FAIL_ALERT_AT {
            let msg = format!("pushing the quantity failed {FAIL_ALERT_AT} times: {why}");
            alerts::publish(
                state,
                tenant,
                connection,
                platform,
                sku,
                "push_failed",
                0,
                0,
                &msg,
                "",
            )
            .await;
        }
    }
    Ok(())
}

/// Sends quantities: as offers where the platform has them, else as stock per location.
async fn export(
    state: &State,
    connection: Uuid,
    c: &dyn Connector,
    shop: &mut bool,
    rules: &StockRules,
    send: &[(String, i64, i64)],
    avail: &HashMap<String, Vec<(String, i64)>>,
) -> Result<ExportReport, ConnectorError> {
    let skus: Vec<&str> = send.iter().map(|s| s.0.as_str()).collect();
    if !*shop {
        let ids: Vec<(String, String)> = sqlx::query_as(
            "SELECT sku, external_id FROM products WHERE connection_id = $1 AND sku = ANY($2)",
        )
        .bind(connection)
        .bind(&skus)
        .fetch_all(&state.pool)
        .await
        .map_err(|e| ConnectorError::Transient(format!("database: {e}")))?;
        let ids: HashMap<String, String> = ids.into_iter().collect();
        let offers: Vec<OfferUpdate> = send
            .iter()
            .map(|(sku, q, _)| OfferUpdate {
                sku: sku.clone(),
                external_id: ids.get(sku).cloned().unwrap_or_default(),
                quantity: Some(*q),
                price: None,
            })
            .collect();
        match c.export_offers(&offers).await {
            Err(ConnectorError::Unsupported(_)) => *shop = true,
            other => return other,
        }
    }
    let own = c.marketplace_warehouses();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT sku, warehouse FROM stock_levels WHERE connection_id = $1 AND sku = ANY($2) ORDER BY sku, warehouse",
    )
    .bind(connection)
    .bind(&skus)
    .fetch_all(&state.pool)
    .await
    .map_err(|e| ConnectorError::Transient(format!("database: {e}")))?;
    let mut known: HashMap<&str, Vec<String>> = HashMap::new();
    for (sku, wh) in &rows {
        if !own.contains(&wh.as_str()) {
            known.entry(sku.as_str()).or_default().push(wh.clone());
        }
    }
    let mut levels = Vec::new();
    let mut report = ExportReport::default();
    for (sku, q, _) in send {
        let feeding: Vec<(String, i64)> = avail
            .get(sku)
            .map(|ws| ws.iter().filter(|(w, _)| rules.feeds(w)).cloned().collect())
            .unwrap_or_default();
        let locations: Vec<String> = if !rules.locations.is_empty() {
            rules.locations.clone()
        } else if let Some(ls) = known.get(sku.as_str()) {
            ls.clone()
        } else {
            feeding.iter().map(|(w, _)| w.clone()).collect()
        };
        if locations.is_empty() {
            report.rejected.push((
                sku.clone(),
                "no location known for this sku on the channel: import its inventory first".into(),
            ));
            continue;
        }
        for (warehouse, n) in distribute(*q, &locations, &feeding) {
            levels.push(StockLevel {
                sku: sku.clone(),
                warehouse,
                on_hand: n,
                reserved: 0,
                available: n,
            });
        }
    }
    if !levels.is_empty() {
        let r = c.export_stock(&levels).await?;
        report.accepted += r.accepted;
        report.rejected.extend(r.rejected);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_fill_feeding_locations_first_then_the_first_location() {
        let locs = vec!["EAST".to_string(), "WEST".to_string(), "POPUP".to_string()];
        let feeding = vec![("WEST".to_string(), 2), ("EAST".to_string(), 5)];
        assert_eq!(
            distribute(6, &locs, &feeding),
            vec![("EAST".into(), 5), ("WEST".into(), 1), ("POPUP".into(), 0)]
        );
        assert_eq!(
            distribute(0, &locs, &feeding),
            vec![("EAST".into(), 0), ("WEST".into(), 0), ("POPUP".into(), 0)]
        );
        let one = vec!["MAIN".to_string()];
        assert_eq!(
            distribute(4, &one, &[("DC1".into(), 9)]),
            vec![("MAIN".into(), 4)]
        );
    }
}

//! One stock truth across every channel: the ledger ([`ledger`]), allocation rules
//! ([`rules`]), propagation ([`push`]), drift ([`drift`]), and here the reads, adjustments,
//! consistency audit and backup points served over gRPC.

pub mod alerts;
pub mod drift;
pub mod ledger;
pub mod push;
pub mod rules;

use std::collections::HashMap;

use marketsync_common::{Error, ts};
use marketsync_connectors::{ConnectorError, OfferUpdate};
use marketsync_proto::v1::{
    AdjustStockRequest, AdjustStockResponse, ChannelQuantity, ConnectionRef, ConsistencyReport,
    ConsistencyRequest, GetStockRequest, GetStockResponse, LedgerLevel, ListStockBackupsResponse,
    ListStockWarehousesResponse, Money, Product, RestoreStockBackupRequest,
    RestoreStockBackupResponse, SetStockWarehouseRequest, StockBackup, StockDrift, StockEntry,
    StockHistoryRequest, StockHistoryResponse, StockLevel, StockReservation, StockWarehouse,
    TenantRef,
};
use prost::Message as _;
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use crate::State;
use crate::store::{self, uuid};
use ledger::Change;
use rules::StockRules;

fn level(r: &PgRow) -> LedgerLevel {
    let on_hand: i64 = r.get("on_hand");
    let reserved: i64 = r.get("reserved");
    LedgerLevel {
        sku: r.get("sku"),
        warehouse: r.get("warehouse"),
        on_hand,
        reserved,
        available: on_hand - reserved,
        updated_at: ts(r.get("updated_at")),
    }
}

fn entry(r: &PgRow) -> StockEntry {
    let conn: Option<Uuid> = r.get("connection_id");
    StockEntry {
        id: r.get("id"),
        sku: r.get("sku"),
        warehouse: r.get("warehouse"),
        cause: r.get("cause"),
        on_hand_delta: r.get("on_hand_delta"),
        reserved_delta: r.get("reserved_delta"),
        on_hand_after: r.get("on_hand_after"),
        reserved_after: r.get("reserved_after"),
        connection_id: conn.map(|c| c.to_string()).unwrap_or_default(),
        reference: r.get("reference"),
        actor: r.get("actor"),
        note: r.get("note"),
        created_at: ts(r.get("created_at")),
    }
}

const ENTRY_COLUMNS: &str = "id, sku, warehouse, cause, on_hand_delta, reserved_delta, on_hand_after, \
     reserved_after, connection_id, reference, actor, note, created_at";

/// A page of the ledger, by sku.
pub async fn get(state: &State, r: GetStockRequest) -> Result<GetStockResponse, Error> {
    let tenant = uuid(&r.tenant_id, "tenant_id")?;
    let limit = if r.limit <= 0 { 100 } else { r.limit.min(1000) } as i64;
    let rows = sqlx::query(
        "SELECT sku, warehouse, on_hand, reserved, updated_at FROM stock_ledger \
         WHERE tenant_id = $1 AND ($2 = '' OR sku = $2) AND ($3 = '' OR warehouse = $3) AND sku > $4 \
         ORDER BY sku, warehouse LIMIT $5",
    )
    .bind(tenant)
    .bind(&r.sku)
    .bind(&r.warehouse)
    .bind(&r.page_token)
    .bind(limit + 1)
    .fetch_all(&state.pool)
    .await?;
    let mut levels: Vec<LedgerLevel> = rows.iter().map(level).collect();
    let mut next = String::new();
    if levels.len() as i64 > limit {
        levels.truncate(limit as usize);
        // Pages end on a whole sku, so no sku is split over two pages.
        let last = levels.last().map(|l| l.sku.clone()).unwrap_or_default();
        let first = levels.first().map(|l| l.sku.clone()).unwrap_or_default();
        if first != last {
            levels.retain(|l| l.sku != last);
            next = levels.last().map(|l| l.sku.clone()).unwrap_or_default();
        } else {
            next = last;
        }
    }
    Ok(GetStockResponse {
        levels,
        next_page_token: next,
    })
}

/// A sku's entries (newest first), its rows, its reservations and what each channel shows.
pub async fn history(state: &State, r: StockHistoryRequest) -> Result<StockHistoryResponse, Error> {
    let tenant = uuid(&r.tenant_id, "tenant_id")?;
    if r.sku.is_empty() {
        return Err(Error::invalid("sku is required"));
    }
    let limit = if r.limit <= 0 { 100 } else { r.limit.min(1000) } as i64;
    let sql = format!(
        "SELECT {ENTRY_COLUMNS} FROM stock_entries WHERE tenant_id = $1 AND sku = $2 \
         AND ($3 = 0 OR id < $3) ORDER BY id DESC LIMIT $4"
    );
    let entries = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(&r.sku)
        .bind(r.before_id)
        .bind(limit)
        .fetch_all(&state.pool)
        .await?
        .iter()
        .map(entry)
        .collect();
    let levels = sqlx::query(
        "SELECT sku, warehouse, on_hand, reserved, updated_at FROM stock_ledger \
         WHERE tenant_id = $1 AND sku = $2 ORDER BY warehouse",
    )
    .bind(tenant)
    .bind(&r.sku)
    .fetch_all(&state.pool)
    .await?
    .iter()
    .map(level)
    .collect();
    let reservations = sqlx::query(
        "SELECT connection_id, order_id, line, sku, warehouse, quantity, state, created_at, updated_at \
         FROM stock_reservations WHERE tenant_id = $1 AND sku = $2 ORDER BY created_at DESC LIMIT 200",
    )
    .bind(tenant)
    .bind(&r.sku)
    .fetch_all(&state.pool)
    .await?
    .iter()
    .map(|r| StockReservation {
        connection_id: r.get::<Uuid, _>(0).to_string(),
        order_id: r.get(1),
        line: r.get::<i32, _>(2) + 1,
        sku: r.get(3),
        warehouse: r.get(4),
        quantity: r.get(5),
        state: r.get(6),
        created_at: ts(r.get(7)),
        updated_at: ts(r.get(8)),
    })
    .collect();
    let channels = channel_rows(state, tenant, None, Some(&r.sku), false, 100).await?;
    Ok(StockHistoryResponse {
        entries,
        levels,
        reservations,
        channels,
    })
}

/// Channel rows with the quantity each should show now.
async fn channel_rows(
    state: &State,
    tenant: Uuid,
    connection: Option<Uuid>,
    sku: Option<&str>,
    only_differences: bool,
    limit: i64,
) -> Result<Vec<ChannelQuantity>, Error> {
    let rows = sqlx::query(
        "SELECT c.connection_id, c.sku, c.pushed, c.pushed_at, c.observed, c.observed_at, c.dirty, \
           c.last_error, c.attempts, n.settings \
         FROM channel_stock c JOIN connections n ON n.id = c.connection_id \
         WHERE c.tenant_id = $1 AND ($2::uuid IS NULL OR c.connection_id = $2) \
           AND ($3::text IS NULL OR c.sku = $3) ORDER BY c.connection_id, c.sku",
    )
    .bind(tenant)
    .bind(connection)
    .bind(sku)
    .fetch_all(&state.pool)
    .await?;
    let skus: Vec<String> = rows.iter().map(|r| r.get::<String, _>(1)).collect();
    let mut db = state.pool.acquire().await?;
    let avail = ledger::available(&mut db, tenant, &skus).await?;
    let mut rules_of: HashMap<Uuid, StockRules> = HashMap::new();
    let mut out = Vec::new();
    for r in rows {
        let conn: Uuid = r.get(0);
        let settings: serde_json::Value = r.get(9);
        let rules = rules_of
            .entry(conn)
            .or_insert_with(|| StockRules::from_settings(&settings).unwrap_or_default());
        let sku: String = r.get(1);
        let expected = ledger::listed(rules, avail.get(&sku).map(Vec::as_slice).unwrap_or(&[]));
        let pushed: Option<i64> = r.get(2);
        let observed: Option<i64> = r.get(4);
        if only_differences && observed.is_none_or(|o| o == expected) {
            continue;
        }
        out.push(ChannelQuantity {
            connection_id: conn.to_string(),
            sku,
            expected,
            has_pushed: pushed.is_some(),
            pushed: pushed.unwrap_or(0),
            pushed_at: ts(r.get(3)),
            has_observed: observed.is_some(),
            observed: observed.unwrap_or(0),
            observed_at: ts(r.get(5)),
            pending: r.get(6),
            last_error: r.get(7),
            attempts: r.get(8),
        });
        if out.len() as i64 >= limit {
            break;
        }
    }
    Ok(out)
}

/// Manual adjustments and corrections (absolute or relative), once per idempotency key.
pub async fn adjust(state: &State, r: AdjustStockRequest) -> Result<AdjustStockResponse, Error> {
    let tenant = uuid(&r.tenant_id, "tenant_id")?;
    if r.items.is_empty() {
        return Err(Error::invalid("items must not be empty"));
    }
    if r.items.len() > 10_000 {
        return Err(Error::invalid("at most 10000 items per adjustment"));
    }
    for (i, it) in r.items.iter().enumerate() {
        if it.sku.trim().is_empty() || it.warehouse.trim().is_empty() {
            return Err(Error::invalid(format!(
                "items[{i}]: sku and warehouse are required"
            )));
        }
        if it.absolute && it.quantity < 0 {
            return Err(Error::invalid(format!(
                "items[{i}]: an absolute quantity must not be negative"
            )));
        }
        if !matches!(it.cause.as_str(), "" | "adjustment" | "correction") {
            return Err(Error::invalid(format!(
                "items[{i}]: cause must be adjustment or correction"
            )));
        }
    }
    let key = (!r.idempotency_key.is_empty()).then(|| format!("adjust:{}", r.idempotency_key));
    let mut tx = state.pool.begin().await?;
    if let Some(k) = &key {
        // Serialises requests with the same key; the second finds the first's entries.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("{tenant}:{k}"))
            .execute(&mut *tx)
            .await?;
        let seen: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM stock_entries WHERE tenant_id = $1 AND idempotency_key LIKE $2 || ':%')",
        )
        .bind(tenant)
        .bind(k)
        .fetch_one(&mut *tx)
        .await?;
        if seen {
            let skus: Vec<String> = r.items.iter().map(|i| i.sku.clone()).collect();
            let levels = sqlx::query(
                "SELECT sku, warehouse, on_hand, reserved, updated_at FROM stock_ledger \
                 WHERE tenant_id = $1 AND sku = ANY($2) ORDER BY sku, warehouse",
            )
            .bind(tenant)
            .bind(&skus)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(level)
            .collect();
            return Ok(AdjustStockResponse {
                levels,
                duplicate: true,
                entries: vec![],
            });
        }
    }
    let skus: Vec<&str> = r.items.iter().map(|i| i.sku.as_str()).collect();
    let whs: Vec<&str> = r.items.iter().map(|i| i.warehouse.as_str()).collect();
    let current: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT l.sku, l.warehouse, l.on_hand FROM stock_ledger l \
         JOIN UNNEST($2::text[], $3::text[]) AS t(s, w) ON l.sku = t.s AND l.warehouse = t.w \
         WHERE l.tenant_id = $1 ORDER BY l.sku, l.warehouse FOR UPDATE OF l",
    )
    .bind(tenant)
    .bind(&skus)
    .bind(&whs)
    .fetch_all(&mut *tx)
    .await?;
    let mut now: HashMap<(String, String), i64> =
        current.into_iter().map(|(s, w, o)| ((s, w), o)).collect();
    let mut changes = Vec::new();
    for it in &r.items {
        let cur = now
            .entry((it.sku.trim().to_string(), it.warehouse.trim().to_string()))
            .or_insert(0);
        let delta = if it.absolute {
            it.quantity - *cur
        } else {
            it.quantity
        };
        *cur += delta;
        changes.push(Change {
            sku: it.sku.trim().to_string(),
            warehouse: it.warehouse.trim().to_string(),
            on_hand_delta: delta,
            cause: if it.cause == "correction" {
                "correction"
            } else {
                "adjustment"
            },
            actor: r.actor.clone(),
            note: it.note.clone(),
            ..Default::default()
        });
    }
    let (after, ids) = ledger::apply(&mut tx, tenant, &changes, key.as_deref()).await?;
    tx.commit().await?;
    state.wake_pushers();
    let entries = if ids.is_empty() {
        vec![]
    } else {
        let sql =
            format!("SELECT {ENTRY_COLUMNS} FROM stock_entries WHERE id = ANY($1) ORDER BY id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&ids)
            .fetch_all(&state.pool)
            .await?
            .iter()
            .map(entry)
            .collect()
    };
    let levels = after
        .into_iter()
        .map(|l| LedgerLevel {
            available: l.on_hand - l.reserved,
            sku: l.sku,
            warehouse: l.warehouse,
            on_hand: l.on_hand,
            reserved: l.reserved,
            updated_at: chrono::Utc::now().to_rfc3339(),
        })
        .collect();
    Ok(AdjustStockResponse {
        levels,
        duplicate: false,
        entries,
    })
}

/// The tenant's warehouses with their system of record.
pub async fn warehouses(state: &State, r: TenantRef) -> Result<ListStockWarehousesResponse, Error> {
    let tenant = uuid(&r.tenant_id, "tenant_id")?;
    let rows: Vec<(String, Option<Uuid>, Option<chrono::DateTime<chrono::Utc>>)> = sqlx::query_as(
        "SELECT code, source_connection_id, max(updated_at) FROM ( \
           SELECT code, source_connection_id, updated_at FROM stock_warehouses WHERE tenant_id = $1 \
           UNION ALL SELECT DISTINCT warehouse, NULL::uuid, NULL::timestamptz FROM stock_ledger WHERE tenant_id = $1 \
         ) w GROUP BY code, source_connection_id ORDER BY code",
    )
    .bind(tenant)
    .fetch_all(&state.pool)
    .await?;
    let mut out: Vec<StockWarehouse> = Vec::new();
    for (code, source, updated) in rows {
        // A declared source wins over the bare ledger code.
        if let Some(prev) = out.iter_mut().find(|w| w.code == code) {
            if source.is_some() {
                prev.source_connection_id = source.map(|s| s.to_string()).unwrap_or_default();
                prev.updated_at = ts(updated);
            }
            continue;
        }
        out.push(StockWarehouse {
            code,
            source_connection_id: source.map(|s| s.to_string()).unwrap_or_default(),
            updated_at: ts(updated),
        });
    }
    Ok(ListStockWarehousesResponse { warehouses: out })
}

/// Declares (or clears) a warehouse's system of record.
pub async fn set_warehouse(
    state: &State,
    r: SetStockWarehouseRequest,
) -> Result<StockWarehouse, Error> {
    let tenant = uuid(&r.tenant_id, "tenant_id")?;
    let code = r.code.trim();
    if code.is_empty() {
        return Err(Error::invalid("code is required"));
    }
    let source = if r.source_connection_id.is_empty() {
        None
    } else {
        let id = uuid(&r.source_connection_id, "source_connection_id")?;
        let found: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM connections WHERE tenant_id = $1 AND id = $2)",
        )
        .bind(tenant)
        .bind(id)
        .fetch_one(&state.pool)
        .await?;
        if !found {
            return Err(Error::invalid("source_connection_id: no such connection"));
        }
        Some(id)
    };
    let updated: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "INSERT INTO stock_warehouses (tenant_id, code, source_connection_id) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id, code) DO UPDATE SET source_connection_id = EXCLUDED.source_connection_id, \
         updated_at = now() RETURNING updated_at",
    )
    .bind(tenant)
    .bind(code)
    .bind(source)
    .fetch_one(&state.pool)
    .await?;
    Ok(StockWarehouse {
        code: code.to_string(),
        source_connection_id: source.map(|s| s.to_string()).unwrap_or_default(),
        updated_at: updated.to_rfc3339(),
    })
}

/// What a channel shows against what it should show.
pub async fn consistency(state: &State, r: ConsistencyRequest) -> Result<ConsistencyReport, Error> {
    let tenant = uuid(&r.tenant_id, "tenant_id")?;
    let connection = uuid(&r.connection_id, "connection_id")?;
    let platform: String =
        sqlx::query_scalar("SELECT platform FROM connections WHERE tenant_id = $1 AND id = $2")
            .bind(tenant)
            .bind(connection)
            .fetch_optional(&state.pool)
            .await?
            .ok_or_else(|| Error::not_found("connection not found"))?;
    let all = channel_rows(state, tenant, Some(connection), None, false, i64::MAX).await?;
    let limit = if r.limit <= 0 { 100 } else { r.limit.min(5000) } as usize;
    let compared = all.iter().filter(|c| c.has_observed).count() as i64;
    let matching = all
        .iter()
        .filter(|c| c.has_observed && c.observed == c.expected)
        .count() as i64;
    let oldest = all
        .iter()
        .filter(|c| c.has_observed)
        .map(|c| c.observed_at.clone())
        .min()
        .unwrap_or_default();
    let report = ConsistencyReport {
        connection_id: connection.to_string(),
        platform,
        score: if compared == 0 {
            1.0
        } else {
            matching as f64 / compared as f64
        },
        compared,
        matching,
        unobserved: all.iter().filter(|c| !c.has_observed).count() as i64,
        pending: all.iter().filter(|c| c.pending).count() as i64,
        failing: all.iter().filter(|c| !c.last_error.is_empty()).count() as i64,
        differences: all
            .into_iter()
            .filter(|c| c.has_observed && c.observed != c.expected)
            .take(limit)
            .collect(),
        recent_drift: sqlx::query_as::<
            _,
            (
                i64,
                String,
                i64,
                i64,
                String,
                String,
                chrono::DateTime<chrono::Utc>,
            ),
        >(
            "SELECT id, sku, expected, observed, policy, resolution, detected_at FROM stock_drift \
             WHERE tenant_id = $1 AND connection_id = $2 ORDER BY id DESC LIMIT 50",
        )
        .bind(tenant)
        .bind(connection)
        .fetch_all(&state.pool)
        .await?
        .into_iter()
        .map(
            |(id, sku, expected, observed, policy, resolution, at)| StockDrift {
                id,
                sku,
                expected,
                observed,
                policy,
                resolution,
                detected_at: at.to_rfc3339(),
            },
        )
        .collect(),
        generated_at: chrono::Utc::now().to_rfc3339(),
        oldest_observation: oldest,
    };
    Ok(report)
}

fn backup(r: &PgRow) -> StockBackup {
    StockBackup {
        id: r.get::<Uuid, _>("id").to_string(),
        connection_id: r.get::<Uuid, _>("connection_id").to_string(),
        reason: r.get("reason"),
        items: r.get("items"),
        created_by: r.get("created_by"),
        created_at: ts(r.get("created_at")),
        restored_at: ts(r.get("restored_at")),
        restored_by: r.get("restored_by"),
    }
}

const BACKUP_COLUMNS: &str =
    "id, connection_id, reason, items, created_by, created_at, restored_at, restored_by";

/// A connection's backup points, newest first.
pub async fn backups(state: &State, r: ConnectionRef) -> Result<ListStockBackupsResponse, Error> {
    let tenant = uuid(&r.tenant_id, "tenant_id")?;
    let connection = uuid(&r.id, "id")?;
    let sql = format!(
        "SELECT {BACKUP_COLUMNS} FROM stock_backups WHERE tenant_id = $1 AND connection_id = $2 \
         ORDER BY created_at DESC LIMIT 100"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(connection)
        .fetch_all(&state.pool)
        .await?;
    Ok(ListStockBackupsResponse {
        backups: rows.iter().map(backup).collect(),
    })
}

/// Saves what the channel shows (quantities per warehouse, and prices) before a forced full
/// export overwrites it. Returns the backup id and its item count.
pub async fn save_backup(
    state: &State,
    tenant: Uuid,
    connection: Uuid,
    reason: &str,
    by: &str,
) -> Result<(Uuid, i64), sqlx::Error> {
    let id = Uuid::now_v7();
    let mut tx = state.pool.begin().await?;
    sqlx::query(
        "INSERT INTO stock_backups (id, tenant_id, connection_id, reason, items, created_by) VALUES ($1, $2, $3, $4, 0, $5)",
    )
    .bind(id)
    .bind(tenant)
    .bind(connection)
    .bind(reason)
    .bind(by)
    .execute(&mut *tx)
    .await?;
    let levels: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT sku, warehouse, available FROM stock_levels WHERE connection_id = $1",
    )
    .bind(connection)
    .fetch_all(&mut *tx)
    .await?;
    let records: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT sku, record FROM products WHERE connection_id = $1")
            .bind(connection)
            .fetch_all(&mut *tx)
            .await?;
    let prices: HashMap<String, Money> = records
        .into_iter()
        .filter_map(|(sku, rec)| Some((sku, Product::decode(rec.as_slice()).ok()?.price?)))
        .collect();
    let (mut s, mut w, mut q, mut p, mut c) = (vec![], vec![], vec![], vec![], vec![]);
    for (sku, wh, n) in levels {
        let price = prices.get(&sku).cloned().unwrap_or_default();
        s.push(sku);
        w.push(wh);
        q.push(n);
        p.push(price.amount);
        c.push(price.currency);
    }
    sqlx::query(
        "INSERT INTO stock_backup_items (backup_id, sku, warehouse, quantity, price, currency) \
         SELECT $1, s, w, q, p, c FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::text[], $6::text[]) AS t(s, w, q, p, c)",
    )
    .bind(id)
    .bind(&s)
    .bind(&w)
    .bind(&q)
    .bind(&p)
    .bind(&c)
    .execute(&mut *tx)
    .await?;
    let n = s.len() as i64;
    sqlx::query("UPDATE stock_backups SET items = $2 WHERE id = $1")
        .bind(id)
        .bind(n)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((id, n))
}

/// Puts a backup's quantities (and prices, where the channel takes them with offers) back on
/// its channel. The channel then shows the backup until the ledger next changes those skus
/// (set `settings.stock.push` to `off` to keep it).
pub async fn restore(
    state: &State,
    r: RestoreStockBackupRequest,
) -> Result<RestoreStockBackupResponse, Error> {
    let tenant = uuid(&r.tenant_id, "tenant_id")?;
    let id = uuid(&r.id, "id")?;
    let sql =
        format!("SELECT {BACKUP_COLUMNS} FROM stock_backups WHERE tenant_id = $1 AND id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .bind(id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| Error::not_found("backup not found"))?;
    let connection: Uuid = row.get("connection_id");
    let items: Vec<(String, String, i64, String, String)> = sqlx::query_as(
        "SELECT sku, warehouse, quantity, price, currency FROM stock_backup_items WHERE backup_id = $1 ORDER BY sku, warehouse",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    let connector = store::connector(state, tenant, connection).await?;
    let own = connector.marketplace_warehouses();
    let mut per_sku: Vec<(String, i64, Option<Money>)> = Vec::new();
    for (sku, wh, q, price, currency) in &items {
        if own.contains(&wh.as_str()) {
            continue;
        }
        match per_sku.last_mut() {
            Some(last) if last.0 == *sku => last.1 += q,
            _ => per_sku.push((
                sku.clone(),
                *q,
                (!price.is_empty()).then(|| Money {
                    amount: price.clone(),
                    currency: currency.clone(),
                }),
            )),
        }
    }
    let ids: HashMap<String, String> = sqlx::query_as::<_, (String, String)>(
        "SELECT sku, external_id FROM products WHERE connection_id = $1",
    )
    .bind(connection)
    .fetch_all(&state.pool)
    .await?
    .into_iter()
    .collect();
    let offers: Vec<OfferUpdate> = per_sku
        .iter()
        .map(|(sku, q, price)| OfferUpdate {
            sku: sku.clone(),
            external_id: ids.get(sku).cloned().unwrap_or_default(),
            quantity: Some(*q),
            price: price.clone(),
        })
        .collect();
    let mut report = marketsync_connectors::ExportReport::default();
    for chunk in offers.chunks(25_000) {
        match connector.export_offers(chunk).await {
            Ok(rep) => {
                report.accepted += rep.accepted;
                report.rejected.extend(rep.rejected);
            }
            Err(ConnectorError::Unsupported(_)) => {
                let levels: Vec<StockLevel> = items
                    .iter()
                    .filter(|(_, wh, _, _, _)| !own.contains(&wh.as_str()))
                    .map(|(sku, wh, q, _, _)| StockLevel {
                        sku: sku.clone(),
                        warehouse: wh.clone(),
                        on_hand: *q,
                        reserved: 0,
                        available: *q,
                    })
                    .collect();
                for part in levels.chunks(1000) {
                    let rep = connector
                        .export_stock(part)
                        .await
                        .map_err(|e| Error::unavailable(format!("restore: {e}")))?;
                    report.accepted += rep.accepted;
                    report.rejected.extend(rep.rejected);
                }
                break;
            }
            Err(e) => return Err(Error::unavailable(format!("restore: {e}"))),
        }
    }
    // What the channel now shows is what it was sent.
    sqlx::query(
        "UPDATE channel_stock c SET pushed = t.q, pushed_at = now(), dirty = false, dirty_since = NULL \
         FROM UNNEST($2::text[], $3::int8[]) AS t(s, q) WHERE c.connection_id = $1 AND c.sku = t.s",
    )
    .bind(connection)
    .bind(per_sku.iter().map(|p| p.0.clone()).collect::<Vec<_>>())
    .bind(per_sku.iter().map(|p| p.1).collect::<Vec<_>>())
    .execute(&state.pool)
    .await?;
    let sql = format!(
        "UPDATE stock_backups SET restored_at = now(), restored_by = $2 WHERE id = $1 RETURNING {BACKUP_COLUMNS}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(&r.actor)
        .fetch_one(&state.pool)
        .await?;
    tracing::info!(backup = %id, connection = %connection, restored = report.accepted, refused = report.rejected.len(), "stock backup restored");
    Ok(RestoreStockBackupResponse {
        backup: Some(backup(&row)),
        restored: report.accepted as i64,
        rejected: report
            .rejected
            .into_iter()
            .take(100)
            .map(|(k, why)| format!("{k}: {why}"))
            .collect(),
    })
}

//! The ledger: on hand and reserved per tenant, sku and warehouse, changed only through
//! [`apply`], which writes one entry per change with its cause, and marks every channel that
//! lists a changed sku as due for a push (the pushers recompute the quantity when they send
//! it, so a push always carries the ledger as it is then).

use std::collections::{BTreeMap, HashMap};

use marketsync_connectors::order_status;
use marketsync_proto::v1::{Order, StockLevel};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::rules::{PushMode, StockRules};

/// One change of a ledger row.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub sku: String,
    pub warehouse: String,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
    /// import, order, cancellation, shipment, adjustment, correction, drift
    pub cause: &'static str,
    pub connection: Option<Uuid>,
    pub reference: String,
    pub actor: String,
    pub note: String,
}

/// A ledger row after a change.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub sku: String,
    pub warehouse: String,
    pub on_hand: i64,
    pub reserved: i64,
}

/// Applies `changes` in `tx`: rows are created at zero when missing, every change becomes an
/// entry (with the row's quantities after it), and every push channel listing a changed sku is
/// marked due. Returns the rows after the changes and the entry ids.
pub async fn apply(
    tx: &mut PgConnection,
    tenant: Uuid,
    changes: &[Change],
    key: Option<&str>,
) -> Result<(Vec<Level>, Vec<i64>), sqlx::Error> {
    let changes: Vec<&Change> = changes
        .iter()
        .filter(|c| c.on_hand_delta != 0 || c.reserved_delta != 0)
        .collect();
    if changes.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    // Net change per row (ON CONFLICT can touch a row once per statement).
    let mut net: BTreeMap<(&str, &str), (i64, i64)> = BTreeMap::new();
    for c in &changes {
        let e = net.entry((&c.sku, &c.warehouse)).or_default();
        e.0 += c.on_hand_delta;
        e.1 += c.reserved_delta;
    }
    let skus: Vec<&str> = net.keys().map(|k| k.0).collect();
    let whs: Vec<&str> = net.keys().map(|k| k.1).collect();
    let oh: Vec<i64> = net.values().map(|v| v.0).collect();
    let rs: Vec<i64> = net.values().map(|v| v.1).collect();
    let after: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "INSERT INTO stock_ledger (tenant_id, sku, warehouse, on_hand, reserved) \
         SELECT $1, s, w, o, r FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::int8[]) AS t(s, w, o, r) \
         ON CONFLICT (tenant_id, sku, warehouse) DO UPDATE SET \
           on_hand = stock_ledger.on_hand + EXCLUDED.on_hand, \
           reserved = stock_ledger.reserved + EXCLUDED.reserved, updated_at = now() \
         RETURNING sku, warehouse, on_hand, reserved",
    )
    .bind(tenant)
    .bind(&skus)
    .bind(&whs)
    .bind(&oh)
    .bind(&rs)
    .fetch_all(&mut *tx)
    .await?;
    let finals: HashMap<(String, String), (i64, i64)> = after
        .iter()
        .map(|(s, w, o, r)| ((s.clone(), w.clone()), (*o, *r)))
        .collect();
    // Quantities after each change: walk each row's changes backwards from its final state.
    let mut running = finals.clone();
    let mut after_each = vec![(0i64, 0i64); changes.len()];
    for (i, c) in changes.iter().enumerate().rev() {
        let cur = running
            .get_mut(&(c.sku.clone(), c.warehouse.clone()))
            .expect("row returned");
        after_each[i] = *cur;
        cur.0 -= c.on_hand_delta;
        cur.1 -= c.reserved_delta;
    }
    let col = |f: fn(&Change) -> String| changes.iter().map(|c| f(c)).collect::<Vec<String>>();
    let ids: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO stock_entries (tenant_id, sku, warehouse, cause, on_hand_delta, reserved_delta, \
           on_hand_after, reserved_after, connection_id, reference, actor, note, idempotency_key) \
         SELECT $1, s, w, c, od, rd, oa, ra, cn, rf, ac, nt, \
           CASE WHEN $13::text IS NULL THEN NULL ELSE $13 || ':' || n END \
         FROM UNNEST($2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[], $7::int8[], $8::int8[], \
           $9::uuid[], $10::text[], $11::text[], $12::text[]) WITH ORDINALITY \
           AS t(s, w, c, od, rd, oa, ra, cn, rf, ac, nt, n) ORDER BY n RETURNING id",
    )
    .bind(tenant)
    .bind(col(|c| c.sku.clone()))
    .bind(col(|c| c.warehouse.clone()))
    .bind(col(|c| c.cause.to_string()))
    .bind(changes.iter().map(|c| c.on_hand_delta).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.reserved_delta).collect::<Vec<_>>())
    .bind(after_each.iter().map(|a| a.0).collect::<Vec<_>>())
    .bind(after_each.iter().map(|a| a.1).collect::<Vec<_>>())
    .bind(changes.iter().map(|c| c.connection).collect::<Vec<_>>())
    .bind(col(|c| c.reference.clone()))
    .bind(col(|c| c.actor.clone()))
    .bind(col(|c| c.note.clone()))
    .bind(key)
    .fetch_all(&mut *tx)
    .await?;
    let mut touched: Vec<String> = finals.keys().map(|k| k.0.clone()).collect();
    touched.sort();
    touched.dedup();
    mark_due(tx, tenant, &touched).await?;
    let levels = after
        .into_iter()
        .map(|(sku, warehouse, on_hand, reserved)| Level {
            sku,
            warehouse,
            on_hand,
            reserved,
        })
        .collect();
    Ok((levels, ids))
}

/// A connection that receives pushed quantities.
#[derive(Debug, Clone)]
pub struct Channel {
    pub id: Uuid,
    pub rules: StockRules,
}

/// The tenant's push channels: enabled connections that sync inventory, are not the system of
/// record of any warehouse, and whose rules do not turn pushing off.
pub async fn channels(db: &mut PgConnection, tenant: Uuid) -> Result<Vec<Channel>, sqlx::Error> {
    let rows: Vec<(Uuid, serde_json::Value)> = sqlx::query_as(
        "SELECT id, settings FROM connections c WHERE tenant_id = $1 AND enabled \
           AND coalesce(settings->>'sync_inventory', 'true') <> 'false' \
           AND NOT EXISTS (SELECT 1 FROM stock_warehouses w \
                           WHERE w.tenant_id = $1 AND w.source_connection_id = c.id)",
    )
    .bind(tenant)
    .fetch_all(&mut *db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, settings)| {
            let rules = StockRules::from_settings(&settings).ok()?;
            (rules.push != PushMode::Off).then_some(Channel { id, rules })
        })
        .collect())
}

/// Available (on hand − reserved) per sku and warehouse.
pub async fn available(
    db: &mut PgConnection,
    tenant: Uuid,
    skus: &[String],
) -> Result<HashMap<String, Vec<(String, i64)>>, sqlx::Error> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT sku, warehouse, on_hand - reserved FROM stock_ledger \
         WHERE tenant_id = $1 AND sku = ANY($2) ORDER BY sku, warehouse",
    )
    .bind(tenant)
    .bind(skus)
    .fetch_all(&mut *db)
    .await?;
    let mut out: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    for (sku, wh, a) in rows {
        out.entry(sku).or_default().push((wh, a));
    }
    Ok(out)
}

/// What `rules` list for a sku with these warehouses.
pub fn listed(rules: &StockRules, warehouses: &[(String, i64)]) -> i64 {
    let sum: i64 = warehouses
        .iter()
        .filter(|(w, _)| rules.feeds(w))
        .map(|(_, a)| (*a).max(0))
        .sum();
    rules.listed(sum)
}

/// Marks `skus` due on every push channel that lists them (it imported the sku as a product or
/// a stock level), with a hint of the new quantity so the scarcest go first.
pub async fn mark_due(
    db: &mut PgConnection,
    tenant: Uuid,
    skus: &[String],
) -> Result<(), sqlx::Error> {
    if skus.is_empty() {
        return Ok(());
    }
    let chans = channels(db, tenant).await?;
    if chans.is_empty() {
        return Ok(());
    }
    let avail = available(db, tenant, skus).await?;
    let mut cs = Vec::new();
    let mut ss = Vec::new();
    let mut hs = Vec::new();
    for ch in &chans {
        for sku in skus {
            let whs = avail.get(sku).map(Vec::as_slice).unwrap_or(&[]);
            cs.push(ch.id);
            ss.push(sku.as_str());
            hs.push(listed(&ch.rules, whs));
        }
    }
    sqlx::query(
        "INSERT INTO channel_stock (tenant_id, connection_id, sku, target_hint, dirty, dirty_since, touch) \
         SELECT $1, c, s, h, true, now(), 1 FROM UNNEST($2::uuid[], $3::text[], $4::int8[]) AS t(c, s, h) \
         WHERE EXISTS (SELECT 1 FROM products p WHERE p.connection_id = t.c AND p.sku = t.s) \
            OR EXISTS (SELECT 1 FROM stock_levels l WHERE l.connection_id = t.c AND l.sku = t.s) \
         ORDER BY c, s \
         ON CONFLICT (connection_id, sku) DO UPDATE SET target_hint = EXCLUDED.target_hint, \
           dirty = true, dirty_since = coalesce(channel_stock.dirty_since, now()), \
           touch = channel_stock.touch + 1",
    )
    .bind(tenant)
    .bind(&cs)
    .bind(&ss)
    .bind(&hs)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// A channel that has just imported `skus`: the ones in the ledger it has no row for yet are
/// marked due, so a channel connected after the ledger was filled gets its quantities.
/// Returns whether any was.
pub async fn adopt(
    pool: &PgPool,
    tenant: Uuid,
    connection: Uuid,
    skus: &[&str],
) -> Result<bool, sqlx::Error> {
    if skus.is_empty() {
        return Ok(false);
    }
    let mut db = pool.acquire().await?;
    let new: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT l.sku FROM stock_ledger l WHERE l.tenant_id = $1 AND l.sku = ANY($3) \
           AND NOT EXISTS (SELECT 1 FROM channel_stock c WHERE c.connection_id = $2 AND c.sku = l.sku)",
    )
    .bind(tenant)
    .bind(connection)
    .bind(skus)
    .fetch_all(&mut *db)
    .await?;
    if new.is_empty() {
        return Ok(false);
    }
    let chans = channels(&mut db, tenant).await?;
    let Some(ch) = chans.into_iter().find(|c| c.id == connection) else {
        return Ok(false);
    };
    let avail = available(&mut db, tenant, &new).await?;
    let hs: Vec<i64> = new
        .iter()
        .map(|s| listed(&ch.rules, avail.get(s).map(Vec::as_slice).unwrap_or(&[])))
        .collect();
    sqlx::query(
        "INSERT INTO channel_stock (tenant_id, connection_id, sku, target_hint, dirty, dirty_since, touch) \
         SELECT $1, $2, s, h, true, now(), 1 FROM UNNEST($3::text[], $4::int8[]) AS t(s, h) \
         ON CONFLICT (connection_id, sku) DO NOTHING",
    )
    .bind(tenant)
    .bind(connection)
    .bind(&new)
    .bind(&hs)
    .execute(&mut *db)
    .await?;
    Ok(true)
}

/// Whether a sync of `connection` works with the ledger: its tenant keeps one (any row), or the
/// connection is a warehouse's system of record (its first import fills it). Connections of
/// tenants without one keep the mirror behaviour (export what the connection imported).
pub async fn in_use(pool: &PgPool, tenant: Uuid, connection: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM stock_ledger WHERE tenant_id = $1) \
             OR EXISTS (SELECT 1 FROM stock_warehouses WHERE source_connection_id = $2)",
    )
    .bind(tenant)
    .bind(connection)
    .fetch_one(pool)
    .await
}

/// Imported stock of a connection that is the system of record of some warehouses: their
/// on-hand quantities become the ledger's (an `import` entry for each difference). Returns
/// whether anything changed.
pub async fn import_levels(
    pool: &PgPool,
    tenant: Uuid,
    connection: Uuid,
    levels: &[StockLevel],
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let sourced: Vec<String> = sqlx::query_scalar(
        "SELECT code FROM stock_warehouses WHERE tenant_id = $1 AND source_connection_id = $2",
    )
    .bind(tenant)
    .bind(connection)
    .fetch_all(&mut *tx)
    .await?;
    let mine: Vec<&StockLevel> = levels
        .iter()
        .filter(|l| sourced.contains(&l.warehouse))
        .collect();
    if mine.is_empty() {
        return Ok(false);
    }
    let skus: Vec<&str> = mine.iter().map(|l| l.sku.as_str()).collect();
    let whs: Vec<&str> = mine.iter().map(|l| l.warehouse.as_str()).collect();
    // Locked, so a concurrent order on these rows waits and sees the imported quantity.
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
    let now: HashMap<(String, String), i64> =
        current.into_iter().map(|(s, w, o)| ((s, w), o)).collect();
    let changes: Vec<Change> = mine
        .iter()
        .filter_map(|l| {
            let old = now
                .get(&(l.sku.clone(), l.warehouse.clone()))
                .copied()
                .unwrap_or(0);
            (l.on_hand != old).then(|| Change {
                sku: l.sku.clone(),
                warehouse: l.warehouse.clone(),
                on_hand_delta: l.on_hand - old,
                cause: "import",
                connection: Some(connection),
                ..Default::default()
            })
        })
        .collect();
    let changed = !changes.is_empty();
    apply(&mut tx, tenant, &changes, None).await?;
    tx.commit().await?;
    Ok(changed)
}

/// The hold an order status asks for on its lines.
fn wanted(status: &str) -> &'static str {
    match status {
        order_status::SHIPPED | order_status::COMPLETED => "consumed",
        order_status::CANCELLED | order_status::REFUNDED => "released",
        _ => "reserved",
    }
}

/// Orders imported from a connection reserve their lines once (by connection, order and
/// line), cancellations release and shipments consume what was reserved. An order first seen
/// already finished is recorded as historical and changes nothing. Returns whether the ledger
/// changed.
pub async fn reserve_orders(
    pool: &PgPool,
    tenant: Uuid,
    connection: Uuid,
    rules: &StockRules,
    orders: &[Order],
) -> Result<bool, sqlx::Error> {
    if orders.is_empty() {
        return Ok(false);
    }
    let mut tx = pool.begin().await?;
    let ids: Vec<&str> = orders.iter().map(|o| o.external_id.as_str()).collect();
    let existing: Vec<(String, i32, String, String, i64)> = sqlx::query_as(
        "SELECT order_id, line, warehouse, state, quantity FROM stock_reservations \
         WHERE connection_id = $1 AND order_id = ANY($2) ORDER BY order_id, line FOR UPDATE",
    )
    .bind(connection)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let existing: HashMap<(String, i32), (String, String, i64)> = existing
        .into_iter()
        .map(|(o, l, w, s, q)| ((o, l), (w, s, q)))
        .collect();
    let mut skus: Vec<String> = orders
        .iter()
        .flat_map(|o| o.lines.iter().map(|l| l.sku.clone()))
        .filter(|s| !s.is_empty())
        .collect();
    skus.sort();
    skus.dedup();
    // The rows these orders may reserve from, locked so two channels selling the last unit
    // are serialised.
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT sku, warehouse, on_hand - reserved FROM stock_ledger \
         WHERE tenant_id = $1 AND sku = ANY($2) ORDER BY sku, warehouse FOR UPDATE",
    )
    .bind(tenant)
    .bind(&skus)
    .fetch_all(&mut *tx)
    .await?;
    let mut avail: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    for (s, w, a) in rows {
        avail.entry(s).or_default().push((w, a));
    }
    let mut changes = Vec::new();
    let (mut r_order, mut r_line, mut r_sku, mut r_wh, mut r_qty, mut r_state) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for o in orders {
        let want = wanted(&o.status);
        for (i, line) in o.lines.iter().enumerate() {
            if line.sku.is_empty() || line.quantity <= 0 {
                continue;
            }
            let i = i as i32;
            let reference = format!("{}#{}", o.external_id, i + 1);
            let (warehouse, state) = match existing.get(&(o.external_id.clone(), i)) {
                None if want == "reserved" => {
                    // From the feeding warehouse with the most available.
                    let wh = avail
                        .get_mut(&line.sku)
                        .and_then(|ws| {
                            ws.iter_mut()
                                .filter(|(w, _)| rules.feeds(w))
                                .max_by_key(|(_, a)| *a)
                        })
                        .map(|(w, a)| {
                            *a -= line.quantity;
                            w.clone()
                        })
                        .unwrap_or_default();
                    if !wh.is_empty() {
                        changes.push(Change {
                            sku: line.sku.clone(),
                            warehouse: wh.clone(),
                            reserved_delta: line.quantity,
                            cause: "order",
                            connection: Some(connection),
                            reference,
                            ..Default::default()
                        });
                    }
                    (wh, "reserved")
                }
                None => (String::new(), "historical"),
                Some((wh, state, qty)) if state == "reserved" && want != "reserved" => {
                    if !wh.is_empty() {
                        let consumed = want == "consumed";
                        changes.push(Change {
                            sku: line.sku.clone(),
                            warehouse: wh.clone(),
                            reserved_delta: -qty,
                            on_hand_delta: if consumed { -qty } else { 0 },
                            cause: if consumed { "shipment" } else { "cancellation" },
                            connection: Some(connection),
                            reference,
                            ..Default::default()
                        });
                    }
                    (wh.clone(), want)
                }
                Some(_) => continue,
            };
            r_order.push(o.external_id.clone());
            r_line.push(i);
            r_sku.push(line.sku.clone());
            r_wh.push(warehouse);
            r_qty.push(line.quantity);
            r_state.push(state.to_string());
        }
    }
    if !r_order.is_empty() {
        sqlx::query(
            "INSERT INTO stock_reservations (tenant_id, connection_id, order_id, line, sku, warehouse, quantity, state) \
             SELECT $1, $2, o, l, s, w, q, st FROM UNNEST($3::text[], $4::int4[], $5::text[], $6::text[], $7::int8[], $8::text[]) \
               AS t(o, l, s, w, q, st) \
             ON CONFLICT (connection_id, order_id, line) DO UPDATE SET state = EXCLUDED.state, updated_at = now()",
        )
        .bind(tenant)
        .bind(connection)
        .bind(&r_order)
        .bind(&r_line)
        .bind(&r_sku)
        .bind(&r_wh)
        .bind(&r_qty)
        .bind(&r_state)
        .execute(&mut *tx)
        .await?;
    }
    let changed = !changes.is_empty();
    apply(&mut tx, tenant, &changes, None).await?;
    tx.commit().await?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_statuses_map_to_holds() {
        assert_eq!(wanted(order_status::AWAITING_ACCEPTANCE), "reserved");
        assert_eq!(wanted(order_status::PROCESSING), "reserved");
        assert_eq!(wanted(order_status::SHIPPED), "consumed");
        assert_eq!(wanted(order_status::CANCELLED), "released");
    }

    #[test]
    fn listed_sums_only_feeding_warehouses_and_ignores_oversold_rows() {
        let rules: StockRules =
            serde_json::from_value(serde_json::json!({"warehouses": ["A", "B"]})).expect("valid");
        let whs = vec![
            ("A".to_string(), 3),
            ("B".to_string(), -2),
            ("C".to_string(), 9),
        ];
        assert_eq!(listed(&rules, &whs), 3);
    }
}

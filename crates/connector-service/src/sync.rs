//! Runs sync commands: imports page by page, commits, publishes, checkpoints, so a sync killed
//! in the middle resumes where it stopped when its command is redelivered, and nothing is lost
//! or doubled (upserts keyed by connection and sku/order, events deduplicated by id).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use async_nats::jetstream::{AckKind, Message};
use chrono::{DateTime, Utc};
use marketsync_common::bus::{HandlerError, decode};
use marketsync_connectors::{Connector, ConnectorError, ImportQuery, Page};
use marketsync_proto::v1::{Order, Product, RecordBatch, StockLevel, SyncCommand, SyncEvent};
use prost::Message as _;
use serde_json::{Value, json};
use sqlx::Row;
use uuid::Uuid;

use crate::{State, store};

/// Operations in the order a sync runs them.
pub const OPERATIONS: &[&str] = &[
    "import_products",
    "import_inventory",
    "import_orders",
    "export_inventory",
    "export_orders",
];

/// Most records committed (and published) together when pages arrive faster than commits.
const COMMIT_RECORDS: usize = 1_000;

const DEFAULT_OPERATIONS: &[&str] = &["import_products", "import_inventory", "import_orders"];

enum Stop {
    /// The platform failed the sync (bad credentials, rejected, out of retries).
    Platform(String),
    /// Our own infrastructure failed: redeliver the command and resume.
    Infra(HandlerError),
}

impl From<Stop> for HandlerError {
    fn from(s: Stop) -> Self {
        match s {
            Stop::Infra(e) => e,
            Stop::Platform(p) => HandlerError::Transient(p),
        }
    }
}

impl From<HandlerError> for Stop {
    fn from(e: HandlerError) -> Self {
        Stop::Infra(e)
    }
}
impl From<sqlx::Error> for Stop {
    fn from(e: sqlx::Error) -> Self {
        Stop::Infra(e.into())
    }
}
impl From<marketsync_common::Error> for Stop {
    fn from(e: marketsync_common::Error) -> Self {
        Stop::Infra(HandlerError::Transient(e.message))
    }
}
impl From<ConnectorError> for Stop {
    fn from(e: ConnectorError) -> Self {
        Stop::Platform(e.to_string())
    }
}

struct Run {
    state: Arc<State>,
    msg: Message,
    tenant: Uuid,
    connection: Uuid,
    sync_id: Uuid,
    platform: String,
    counts: BTreeMap<String, i64>,
    checkpoint: serde_json::Map<String, Value>,
    cmd: SyncCommand,
    page_size: u32,
    settings: Value,
    /// The tenant keeps a stock ledger.
    ledger: bool,
    /// The connector's own warehouses (a marketplace's fulfilment stock).
    own_warehouses: Vec<&'static str>,
    /// Whether the connection had no product when this run first wrote one (its pages are
    /// then inserted, not upserted); unknown until the first page.
    fresh_products: Option<bool>,
}

fn poison(what: &str) -> HandlerError {
    HandlerError::Poison(format!("invalid sync command: {what}"))
}

/// Handles one `cmd.<tenant>.<connection>.sync` message.
pub async fn handle(state: Arc<State>, msg: Message) -> Result<(), HandlerError> {
    let cmd: SyncCommand = decode(&msg)?;
    let sync_id = cmd.sync_id.clone();
    let result = run_command(state.clone(), msg, cmd).await;
    state.webhook_batches.finished(&sync_id);
    result
}

async fn run_command(
    state: Arc<State>,
    msg: Message,
    cmd: SyncCommand,
) -> Result<(), HandlerError> {
    let tenant = Uuid::parse_str(&cmd.tenant_id).map_err(|_| poison("tenant_id"))?;
    let connection = Uuid::parse_str(&cmd.connection_id).map_err(|_| poison("connection_id"))?;
    let sync_id = Uuid::parse_str(&cmd.sync_id).map_err(|_| poison("sync_id"))?;
    let mut ops: Vec<String> = if cmd.operations.is_empty() {
        DEFAULT_OPERATIONS.iter().map(|s| s.to_string()).collect()
    } else {
        cmd.operations.clone()
    };
    if let Some(bad) = ops.iter().find(|o| !OPERATIONS.contains(&o.as_str())) {
        return Err(poison(&format!("unknown operation `{bad}`")));
    }
    ops.sort_by_key(|o| OPERATIONS.iter().position(|x| x == o));
    ops.dedup();

    let conn = sqlx::query(
        "SELECT platform, enabled, settings FROM connections WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(connection)
    .fetch_optional(&state.pool)
    .await?;
    let Some(conn) = conn else {
        tracing::warn!(%sync_id, %connection, "sync of an unknown connection dropped");
        return Ok(());
    };
    let platform: String = conn.get(0);
    let enabled: bool = conn.get(1);
    let settings: Value = conn.get(2);
    let page_size = settings
        .get("batch_size")
        .and_then(Value::as_u64)
        .unwrap_or(250)
        .clamp(1, 250) as u32;

    sqlx::query(
        "INSERT INTO sync_runs (id, tenant_id, connection_id, status, operations, force_full, requested_by) \
         VALUES ($1, $2, $3, 'queued', $4, $5, $6) ON CONFLICT (id) DO NOTHING",
    )
    .bind(sync_id)
    .bind(tenant)
    .bind(connection)
    .bind(&ops)
    .bind(cmd.force_full)
    .bind(&cmd.requested_by)
    .execute(&state.pool)
    .await?;
    let row = sqlx::query("SELECT status, counts, checkpoint FROM sync_runs WHERE id = $1")
        .bind(sync_id)
        .fetch_one(&state.pool)
        .await?;
    let status: String = row.get(0);
    if status == "completed" || status == "failed" {
        tracing::info!(%sync_id, %status, "duplicate sync command ignored");
        return Ok(());
    }
    let counts: Value = row.get(1);
    let checkpoint: Value = row.get(2);
    let resumed = status == "running";
    sqlx::query(
        "UPDATE sync_runs SET status = 'running', started_at = coalesce(started_at, now()) WHERE id = $1",
    )
    .bind(sync_id)
    .execute(&state.pool)
    .await?;

    let mut run = Run {
        state: state.clone(),
        msg,
        tenant,
        connection,
        sync_id,
        platform,
        counts: serde_json::from_value(counts).unwrap_or_default(),
        checkpoint: checkpoint.as_object().cloned().unwrap_or_default(),
        cmd,
        page_size,
        settings,
        ledger: false,
        own_warehouses: Vec::new(),
        fresh_products: None,
    };
    tracing::info!(%sync_id, %connection, resumed, operations = ?ops, "sync started");
    run.event("started", "", 0, 0, vec![]).await?;

    let outcome = if !enabled {
        Err(Stop::Platform("connection is disabled".into()))
    } else {
        run.execute(&ops).await
    };
    match outcome {
        Ok(()) => run.finish(None).await?,
        Err(Stop::Platform(e)) => run.finish(Some(e)).await?,
        Err(Stop::Infra(e)) => {
            // Keep the run `running`: the redelivered command resumes from the checkpoint.
            return Err(e);
        }
    }
    Ok(())
}

impl Run {
    async fn execute(&mut self, ops: &[String]) -> Result<(), Stop> {
        let connector = store::connector(&self.state, self.tenant, self.connection)
            .await
            .map_err(|e| match e.code {
                // The connector refuses the connection's configuration: the sync fails.
                marketsync_common::ErrorCode::InvalidArgument => Stop::Platform(e.message),
                _ => e.into(),
            })?;
        self.own_warehouses = connector.marketplace_warehouses().to_vec();
        // A source of record fills the ledger with its first import.
        self.ledger =
            crate::stock::ledger::in_use(&self.state.pool, self.tenant, self.connection).await?;
        for op in ops {
            if self.op_state(op).get("done").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            match op.as_str() {
                "import_products" => self.import_products(connector.as_ref()).await?,
                "import_inventory" => self.import_stock(connector.as_ref()).await?,
                "import_orders" => self.import_orders(connector.as_ref()).await?,
                "export_inventory" => self.export_stock(connector.as_ref()).await?,
                "export_orders" => {
                    // Order status changes originate in the stock and order work; none are
                    // pending until then, so there is nothing to push.
                    self.bump("orders_exported", 0);
                }
                _ => {}
            }
            self.set_op(op, json!({"done": true}));
            self.save().await?;
        }
        Ok(())
    }

    fn op_state(&self, op: &str) -> serde_json::Map<String, Value> {
        self.checkpoint
            .get(op)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }

    fn set_op(&mut self, op: &str, v: Value) {
        let mut cur = self.op_state(op);
        if let Value::Object(m) = v {
            cur.extend(m);
        }
        self.checkpoint.insert(op.to_string(), Value::Object(cur));
    }

    fn bump(&mut self, key: &str, n: i64) {
        *self.counts.entry(key.to_string()).or_insert(0) += n;
    }

    async fn save(&self) -> Result<(), Stop> {
        sqlx::query("UPDATE sync_runs SET counts = $2, checkpoint = $3 WHERE id = $1")
            .bind(self.sync_id)
            .bind(json!(self.counts))
            .bind(Value::Object(self.checkpoint.clone()))
            .execute(&self.state.pool)
            .await?;
        // Tell JetStream the command is still being worked on.
        let _ = self.msg.ack_with(AckKind::Progress).await;
        Ok(())
    }

    /// The incremental window of an operation: (since, this run's start to store as cursor).
    async fn window(&mut self, op: &str) -> Result<(Option<DateTime<Utc>>, DateTime<Utc>), Stop> {
        let st = self.op_state(op);
        let started = st
            .get("started")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(Utc::now);
        self.set_op(op, json!({"started": started.to_rfc3339()}));
        let filters = self.cmd.filters.clone().unwrap_or_default();
        if let Some(since) = parse_time(&filters.since) {
            return Ok((Some(since), started));
        }
        if self.cmd.force_full {
            return Ok((None, started));
        }
        let cursor: Option<String> = sqlx::query_scalar(
            "SELECT value FROM cursors WHERE connection_id = $1 AND operation = $2",
        )
        .bind(self.connection)
        .bind(op)
        .fetch_optional(&self.state.pool)
        .await?;
        Ok((cursor.as_deref().and_then(parse_time), started))
    }

    /// Advances the cursor of an operation, after every page it covers is committed.
    async fn advance(&self, op: &str, to: DateTime<Utc>) -> Result<(), Stop> {
        let filters = self.cmd.filters.clone().unwrap_or_default();
        if !filters.skus.is_empty() || !filters.ids.is_empty() || !filters.until.is_empty() {
            // A partial sync says nothing about records outside its filter.
            return Ok(());
        }
        // A small lookback so records changed while the page was read are seen again.
        let value = (to - chrono::Duration::seconds(2)).to_rfc3339();
        sqlx::query(
            "INSERT INTO cursors (tenant_id, connection_id, operation, value) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (connection_id, operation) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        )
        .bind(self.tenant)
        .bind(self.connection)
        .bind(op)
        .bind(value)
        .execute(&self.state.pool)
        .await?;
        Ok(())
    }

    fn query(&self, since: Option<DateTime<Utc>>, page: Option<String>) -> ImportQuery {
        let filters = self.cmd.filters.clone().unwrap_or_default();
        ImportQuery {
            since,
            until: parse_time(&filters.until),
            skus: filters.skus,
            ids: filters.ids,
            page,
            page_size: self.page_size,
        }
    }

    async fn pages<T, F, Fut>(
        &mut self,
        op: &str,
        since: Option<DateTime<Utc>>,
        mut fetch: F,
        mut commit: impl AsyncCommit<T>,
    ) -> Result<(), Stop>
    where
        F: FnMut(ImportQuery) -> Fut,
        Fut: std::future::Future<Output = Result<Page<T>, ConnectorError>>,
    {
        let mut page: Option<String> = self
            .op_state(op)
            .get("page")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut done: i64 = self
            .op_state(op)
            .get("done_items")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        // The next pages are read while the current one is committed: a bounded channel keeps
        // at most a few pages in memory, and the fetches stay in order (page tokens chain).
        let first = self.query(since, page.clone());
        let (tx, rx) = tokio::sync::mpsc::channel::<(Option<String>, Page<T>)>(4);
        let producer = async move {
            let mut query = first;
            loop {
                let token = query.page.clone();
                let result = fetch(query.clone()).await?;
                let next = result.next.clone();
                if tx.send((token, result)).await.is_err() {
                    return Ok::<(), Stop>(());
                }
                match next {
                    Some(n) => query.page = Some(n),
                    None => return Ok(()),
                }
            }
        };
        let consumer = async {
            // Owned here, so a failed commit drops the receiver and the producer stops.
            let mut rx = rx;
            while let Some((token, result)) = rx.recv().await {
                let total = result.total.map(|t| t as i64).unwrap_or(0);
                let page_key = token.unwrap_or_else(|| "first".into());
                let mut items = result.items;
                let mut next = result.next;
                // Pages already read are committed together (one transaction and one message
                // for up to COMMIT_RECORDS records), so a fast platform means fewer, larger
                // writes, and a slow one commits each page as it comes.
                while items.len() < COMMIT_RECORDS {
                    match rx.try_recv() {
                        Ok((_, more)) => {
                            items.extend(more.items);
                            next = more.next;
                        }
                        Err(_) => break,
                    }
                }
                let n = items.len() as i64;
                commit.commit(self, &page_key, items).await?;
                done += n;
                page = next;
                self.set_op(op, json!({"page": page, "done_items": done}));
                self.save().await?;
                self.event("progress", op, done, total.max(done), vec![])
                    .await?;
            }
            Ok::<(), Stop>(())
        };
        // A failed commit drops the receiver, which stops the producer; a failed fetch closes
        // the channel after the pages already read are committed.
        let (fetched, committed) = tokio::join!(producer, consumer);
        committed?;
        fetched
    }

    async fn import_products(&mut self, c: &dyn Connector) -> Result<(), Stop> {
        let (since, started) = self.window("import_products").await?;
        self.pages(
            "import_products",
            since,
            |q| async move { c.products_page(&q).await },
            ProductsCommit,
        )
        .await?;
        self.advance("import_products", started).await
    }

    async fn import_stock(&mut self, c: &dyn Connector) -> Result<(), Stop> {
        let (since, started) = self.window("import_inventory").await?;
        self.pages(
            "import_inventory",
            since,
            |q| async move { c.stock_page(&q).await },
            StockCommit,
        )
        .await?;
        self.advance("import_inventory", started).await
    }

    async fn import_orders(&mut self, c: &dyn Connector) -> Result<(), Stop> {
        let (since, started) = self.window("import_orders").await?;
        // Orders a webhook delivered whole are committed as delivered; only the ids they do
        // not cover are read from the platform.
        let read = self.import_delivered_orders().await?;
        // Its calls go first in the connection's rate budget (a channel's stock pushes wait
        // while they do): an order tells the ledger of a sale.
        if read {
            marketsync_connectors::priority(self.pages(
                "import_orders",
                since,
                |q| async move { c.orders_page(&q).await },
                OrdersCommit,
            ))
            .await?;
        }
        // Orders the marketplace holds until the seller accepts them are accepted once they
        // are committed here (again on a resumed run: only those still awaiting are sent).
        let accepted = marketsync_connectors::priority(crate::orders::accept_waiting(
            &self.state,
            self.tenant,
            self.connection,
            c,
        ))
        .await
        .map_err(|e| match e {
            crate::orders::AcceptFailure::Db(e) => Stop::from(e),
            crate::orders::AcceptFailure::Platform(e) => Stop::from(e),
        })?;
        if accepted.accepted > 0 || !accepted.refused.is_empty() {
            self.bump("orders_accepted", accepted.accepted);
            self.bump("orders_refused", accepted.refused.len() as i64);
            for why in &accepted.refused {
                tracing::warn!(connection = %self.connection, refusal = %why, "the marketplace refused an order acceptance");
            }
        }
        self.advance("import_orders", started).await
    }

    /// Commits the orders the command carries (delivered whole by the platform's webhook),
    /// those this connection does not know yet: one it knows may have changed since it was
    /// created, and a delivery may come late. Leaves in the filter the ids still to read, and
    /// says whether any are.
    async fn import_delivered_orders(&mut self) -> Result<bool, Stop> {
        if self.cmd.orders.is_empty() {
            return Ok(true);
        }
        let delivered = std::mem::take(&mut self.cmd.orders);
        let ids: Vec<&str> = delivered.iter().map(|o| o.external_id.as_str()).collect();
        let known: Vec<String> = sqlx::query_scalar(
            "SELECT external_id FROM orders WHERE connection_id = $1 AND external_id = ANY($2)",
        )
        .bind(self.connection)
        .bind(&ids)
        .fetch_all(&self.state.pool)
        .await?;
        let covered: HashSet<String> = ids.iter().map(|s| s.to_string()).collect();
        let fresh: Vec<Order> = delivered
            .into_iter()
            .filter(|o| !known.contains(&o.external_id))
            .collect();
        if !fresh.is_empty() {
            OrdersCommit.commit(self, "delivered", fresh).await?;
        }
        let Some(filters) = self.cmd.filters.as_mut().filter(|f| !f.ids.is_empty()) else {
            return Ok(true);
        };
        let rest: Vec<String> = filters
            .ids
            .iter()
            .filter(|id| !covered.contains(*id))
            .cloned()
            .collect();
        if rest.is_empty() {
            // The filter stays as it was: the run stays partial (its cursor does not move).
            return Ok(false);
        }
        filters.ids = rest;
        Ok(true)
    }

    async fn export_stock(&mut self, c: &dyn Connector) -> Result<(), Stop> {
        if self.ledger {
            return self.export_from_ledger().await;
        }
        let filters = self.cmd.filters.clone().unwrap_or_default();
        let rows = sqlx::query(
            "SELECT sku, warehouse, on_hand, reserved, available FROM stock_levels \
             WHERE connection_id = $1 AND (cardinality($2::text[]) = 0 OR sku = ANY($2)) ORDER BY sku",
        )
        .bind(self.connection)
        .bind(&filters.skus)
        .fetch_all(&self.state.pool)
        .await?;
        let levels: Vec<StockLevel> = rows
            .iter()
            .map(|r| StockLevel {
                sku: r.get(0),
                warehouse: r.get(1),
                on_hand: r.get(2),
                reserved: r.get(3),
                available: r.get(4),
            })
            .collect();
        if self.export_offers(c, &levels).await? {
            return Ok(());
        }
        let total = levels.len() as i64;
        let mut done = 0;
        for chunk in levels.chunks(self.page_size as usize) {
            let report = c.export_stock(chunk).await?;
            self.bump("stock_exported", report.accepted as i64);
            self.bump("stock_rejected", report.rejected.len() as i64);
            done += chunk.len() as i64;
            self.event("progress", "export_inventory", done, total, vec![])
                .await?;
        }
        Ok(())
    }

    /// A tenant with a ledger exports what each channel should show: the skus due (all of the
    /// channel's skus on a forced full export, after saving what the channel shows now as a
    /// backup point), pushed at once whatever the connection's push mode.
    async fn export_from_ledger(&mut self) -> Result<(), Stop> {
        let st = self.state.clone();
        if self.cmd.force_full && !self.op_state("export_inventory").contains_key("backup") {
            let (backup, items) = crate::stock::save_backup(
                &st,
                self.tenant,
                self.connection,
                "forced full export",
                &self.cmd.requested_by,
            )
            .await?;
            let skus: Vec<String> = sqlx::query_scalar(
                "SELECT sku FROM products WHERE connection_id = $1 UNION SELECT sku FROM stock_levels WHERE connection_id = $1",
            )
            .bind(self.connection)
            .fetch_all(&st.pool)
            .await?;
            let refs: Vec<&str> = skus.iter().map(String::as_str).collect();
            crate::stock::ledger::adopt(&st.pool, self.tenant, self.connection, &refs).await?;
            sqlx::query(
                "UPDATE channel_stock SET dirty = true, dirty_since = coalesce(dirty_since, now()), \
                 touch = touch + 1, retry_at = NULL, pushed = NULL WHERE connection_id = $1",
            )
            .bind(self.connection)
            .execute(&st.pool)
            .await?;
            tracing::info!(sync_id = %self.sync_id, %backup, items, "backup point saved before the forced full export");
            self.bump("backup_items", items);
            self.set_op("export_inventory", json!({"backup": backup.to_string()}));
            self.save().await?;
        }
        let mut cached = crate::stock::push::Cached::default();
        let pushed = crate::stock::push::pass(
            &st,
            self.tenant,
            self.connection,
            self.sync_id,
            &mut cached,
            true,
        )
        .await
        .map_err(|e| Stop::Platform(format!("stock export: {e}")))?;
        self.bump("stock_exported", pushed.sent as i64);
        self.bump("stock_unchanged", pushed.unchanged as i64);
        self.bump("stock_rejected", pushed.failed as i64);
        Ok(())
    }

    /// Marketplaces take stock and price of their offers in bulk: one update per sku with the
    /// quantity available over every warehouse and the catalog price. `false` when the
    /// platform has no bulk offer export (shops: stock levels go out per warehouse).
    async fn export_offers(
        &mut self,
        c: &dyn Connector,
        levels: &[StockLevel],
    ) -> Result<bool, Stop> {
        let own = c.marketplace_warehouses();
        let mine: Vec<StockLevel> = levels
            .iter()
            .filter(|l| !own.contains(&l.warehouse.as_str()))
            .cloned()
            .collect();
        let mut offers = marketsync_connectors::OfferUpdate::quantities(&mine);
        let skus: Vec<&str> = offers.iter().map(|o| o.sku.as_str()).collect();
        let rows: Vec<(String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT sku, external_id, record FROM products WHERE connection_id = $1 AND sku = ANY($2)",
        )
        .bind(self.connection)
        .bind(&skus)
        .fetch_all(&self.state.pool)
        .await?;
        let mut known: HashMap<String, (String, Option<marketsync_proto::v1::Money>)> = rows
            .into_iter()
            .map(|(sku, ext, rec)| {
                let price = Product::decode(rec.as_slice()).ok().and_then(|p| p.price);
                (sku, (ext, price))
            })
            .collect();
        for o in &mut offers {
            if let Some((external_id, price)) = known.remove(&o.sku) {
                o.external_id = external_id;
                o.price = price.filter(|m| !m.amount.is_empty());
            }
        }
        let total = offers.len() as i64;
        let mut done = 0;
        // Large slices: the connector splits them by the marketplace's own batch maximum.
        for chunk in offers.chunks(25_000) {
            let report = match c.export_offers(chunk).await {
                Err(ConnectorError::Unsupported(_)) if done == 0 => return Ok(false),
                other => other?,
            };
            self.bump("stock_exported", report.accepted as i64);
            self.bump("stock_rejected", report.rejected.len() as i64);
            for (sku, why) in report.rejected.iter().take(20) {
                tracing::warn!(connection = %self.connection, sku = %sku, reason = %why, "the marketplace refused an offer update");
            }
            done += chunk.len() as i64;
            self.event("progress", "export_inventory", done, total, vec![])
                .await?;
        }
        Ok(true)
    }

    /// A stock page in the ledger: a system of record's on-hand quantities become the
    /// ledger's; a channel's are what it shows (drift is looked for); skus new to a channel
    /// are marked due.
    async fn stock_into_ledger(&mut self, items: &[StockLevel]) -> Result<(), Stop> {
        let st = self.state.clone();
        if crate::stock::ledger::import_levels(&st.pool, self.tenant, self.connection, items)
            .await?
        {
            st.wake_pushers();
        }
        let mut skus: Vec<&str> = items.iter().map(|l| l.sku.as_str()).collect();
        skus.dedup();
        let adopted =
            crate::stock::ledger::adopt(&st.pool, self.tenant, self.connection, &skus).await?;
        let read_at = self
            .op_state("import_inventory")
            .get("started")
            .and_then(Value::as_str)
            .and_then(parse_time)
            .unwrap_or_else(Utc::now);
        let drifted = crate::stock::drift::observe(
            &st,
            self.tenant,
            self.connection,
            &self.platform,
            &self.settings,
            &self.own_warehouses,
            &skus,
            read_at,
        )
        .await?;
        self.bump("stock_drift", drifted.len() as i64);
        // (drift wakes the pushers itself)
        if adopted {
            st.wake_pushers();
        }
        Ok(())
    }

    async fn publish_batch(
        &self,
        subject: String,
        id: String,
        batch: RecordBatch,
    ) -> Result<(), Stop> {
        let n = (batch.products.len() + batch.stock.len() + batch.orders.len()) as u64;
        self.state
            .bus
            .publish(
                subject,
                "marketsync.records.batch.v1",
                &self.tenant.to_string(),
                &id,
                &batch,
            )
            .await?;
        self.state.metrics.record(&batch.kind, n);
        Ok(())
    }

    fn batch(&self, kind: &str) -> RecordBatch {
        RecordBatch {
            tenant_id: self.tenant.to_string(),
            connection_id: self.connection.to_string(),
            platform: self.platform.clone(),
            sync_id: self.sync_id.to_string(),
            kind: kind.to_string(),
            ..Default::default()
        }
    }

    async fn event(
        &self,
        status: &str,
        operation: &str,
        done: i64,
        total: i64,
        errors: Vec<String>,
    ) -> Result<(), Stop> {
        let ev = SyncEvent {
            tenant_id: self.tenant.to_string(),
            connection_id: self.connection.to_string(),
            sync_id: self.sync_id.to_string(),
            status: status.to_string(),
            operation: operation.to_string(),
            counts: self.counts.clone().into_iter().collect::<HashMap<_, _>>(),
            errors,
            done,
            total,
            platform: self.platform.clone(),
        };
        let subject = self.state.bus.subject(&[
            "sync",
            &self.tenant.to_string(),
            &self.connection.to_string(),
            status,
        ]);
        let id = format!("{}.{status}.{operation}.{done}", self.sync_id);
        self.state
            .bus
            .publish(
                subject,
                &format!("marketsync.sync.{status}.v1"),
                &self.tenant.to_string(),
                &id,
                &ev,
            )
            .await?;
        Ok(())
    }

    async fn finish(&mut self, error: Option<String>) -> Result<(), HandlerError> {
        let (status, errors) = match &error {
            None => ("completed", vec![]),
            Some(e) => ("failed", vec![e.clone()]),
        };
        let items: i64 = ["products", "stock_levels", "orders"]
            .iter()
            .filter_map(|k| self.counts.get(*k))
            .sum();
        let mut tx = self.state.pool.begin().await?;
        sqlx::query(
            "UPDATE sync_runs SET status = $2, errors = $3, counts = $4, finished_at = now() WHERE id = $1",
        )
        .bind(self.sync_id)
        .bind(status)
        .bind(json!(errors))
        .bind(json!(self.counts))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE connections SET last_sync_at = now(), items_synced = items_synced + $3, \
             error_count = error_count + $4, status = $5 WHERE tenant_id = $1 AND id = $2",
        )
        .bind(self.tenant)
        .bind(self.connection)
        .bind(items)
        .bind(if error.is_some() { 1i64 } else { 0 })
        .bind(if error.is_some() { "error" } else { "ok" })
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        match &error {
            None => {
                tracing::info!(sync_id = %self.sync_id, counts = ?self.counts, "sync completed")
            }
            Some(e) => tracing::warn!(sync_id = %self.sync_id, error = %e, "sync failed"),
        }
        Ok(self.event(status, "", items, items, errors).await?)
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if s.is_empty() {
        return None;
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc())
        })
}

/// Commits one page of records: upsert, then publish.
trait AsyncCommit<T> {
    async fn commit(&mut self, run: &mut Run, page: &str, items: Vec<T>) -> Result<(), Stop>;
}

struct ProductsCommit;
impl AsyncCommit<Product> for ProductsCommit {
    async fn commit(&mut self, run: &mut Run, page: &str, items: Vec<Product>) -> Result<(), Stop> {
        let mut by_sku: BTreeMap<String, Product> = BTreeMap::new();
        for p in items {
            by_sku.insert(p.sku.clone(), p);
        }
        let items: Vec<Product> = by_sku.into_values().collect();
        let skus: Vec<&str> = items.iter().map(|p| p.sku.as_str()).collect();
        let ids: Vec<&str> = items.iter().map(|p| p.external_id.as_str()).collect();
        let recs: Vec<Vec<u8>> = items.iter().map(|p| p.encode_to_vec()).collect();
        let fresh = match run.fresh_products {
            Some(f) => f,
            None => {
                let any: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM products WHERE connection_id = $1)",
                )
                .bind(run.connection)
                .fetch_one(&run.state.pool)
                .await?;
                run.fresh_products = Some(!any);
                !any
            }
        };
        // A connection's first import inserts its pages: an upsert's conflict check costs
        // PostgreSQL a third more per row. Should a row exist after all (a webhook's sync of
        // the same connection), the page is upserted instead, as every later page.
        let upsert = !fresh
            || match write_products(run, &skus, &ids, &recs, false).await {
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {
                    run.fresh_products = Some(false);
                    true
                }
                other => other.map(|_| false)?,
            };
        if upsert {
            write_products(run, &skus, &ids, &recs, true).await?;
        }
        if run.ledger
            && crate::stock::ledger::adopt(&run.state.pool, run.tenant, run.connection, &skus)
                .await?
        {
            run.state.wake_pushers();
        }
        run.bump("products", items.len() as i64);
        run.bump(
            "variants",
            items.iter().map(|p| p.variants.len() as i64).sum(),
        );
        let subject = run.state.bus.subject(&[
            "records",
            &run.tenant.to_string(),
            &run.platform,
            "products",
        ]);
        // The batch message is the batch header followed by the records as they were encoded
        // for the database (a repeated field may come after the others on the wire), so each
        // record is encoded once.
        let payload = products_payload(&run.batch("products"), &recs);
        run.state
            .bus
            .publish_encoded(
                subject,
                "marketsync.records.batch.v1",
                &run.tenant.to_string(),
                &format!("{}:products:{page}", run.sync_id),
                payload.into(),
            )
            .await?;
        run.state.metrics.record("products", items.len() as u64);
        Ok(())
    }
}

/// Writes a page of products: inserted, or upserted by (connection, sku).
async fn write_products(
    run: &Run,
    skus: &[&str],
    ids: &[&str],
    recs: &[Vec<u8>],
    upsert: bool,
) -> Result<(), sqlx::Error> {
    macro_rules! insert {
        () => {
            "INSERT INTO products (tenant_id, connection_id, sku, external_id, record) \
             SELECT $1, $2, s, e, r FROM UNNEST($3::text[], $4::text[], $5::bytea[]) AS t(s, e, r)"
        };
    }
    let sql = if upsert {
        concat!(
            insert!(),
            " ON CONFLICT (connection_id, sku) DO UPDATE SET external_id = EXCLUDED.external_id, \
             record = EXCLUDED.record, updated_at = now()"
        )
    } else {
        insert!()
    };
    sqlx::query(sql)
        .bind(run.tenant)
        .bind(run.connection)
        .bind(skus)
        .bind(ids)
        .bind(recs)
        .execute(&run.state.pool)
        .await?;
    Ok(())
}

/// Field number of `RecordBatch.products`.
const RECORD_BATCH_PRODUCTS: u32 = 6;

/// `header` (a batch without records) encoded, followed by `products` already encoded.
fn products_payload(header: &RecordBatch, products: &[Vec<u8>]) -> Vec<u8> {
    let mut payload = header.encode_to_vec();
    payload.reserve(products.iter().map(|r| r.len() + 6).sum());
    for r in products {
        prost::encoding::encode_key(
            RECORD_BATCH_PRODUCTS,
            prost::encoding::WireType::LengthDelimited,
            &mut payload,
        );
        prost::encoding::encode_varint(r.len() as u64, &mut payload);
        payload.extend_from_slice(r);
    }
    payload
}

struct StockCommit;
impl AsyncCommit<StockLevel> for StockCommit {
    async fn commit(
        &mut self,
        run: &mut Run,
        page: &str,
        items: Vec<StockLevel>,
    ) -> Result<(), Stop> {
        let mut by_key: BTreeMap<(String, String), StockLevel> = BTreeMap::new();
        for s in items {
            by_key.insert((s.sku.clone(), s.warehouse.clone()), s);
        }
        let items: Vec<StockLevel> = by_key.into_values().collect();
        let skus: Vec<&str> = items.iter().map(|s| s.sku.as_str()).collect();
        let whs: Vec<&str> = items.iter().map(|s| s.warehouse.as_str()).collect();
        let on_hand: Vec<i64> = items.iter().map(|s| s.on_hand).collect();
        let reserved: Vec<i64> = items.iter().map(|s| s.reserved).collect();
        let available: Vec<i64> = items.iter().map(|s| s.available).collect();
        let changed: Vec<(String, String)> = sqlx::query_as(
            "INSERT INTO stock_levels (tenant_id, connection_id, sku, warehouse, on_hand, reserved, available) \
             SELECT $1, $2, s, w, o, r, a FROM UNNEST($3::text[], $4::text[], $5::int8[], $6::int8[], $7::int8[]) AS t(s, w, o, r, a) \
             ON CONFLICT (connection_id, sku, warehouse) DO UPDATE SET on_hand = EXCLUDED.on_hand, \
             reserved = EXCLUDED.reserved, available = EXCLUDED.available, updated_at = now() \
             WHERE (stock_levels.on_hand, stock_levels.reserved, stock_levels.available) \
             IS DISTINCT FROM (EXCLUDED.on_hand, EXCLUDED.reserved, EXCLUDED.available) \
             RETURNING sku, warehouse",
        )
        .bind(run.tenant)
        .bind(run.connection)
        .bind(&skus)
        .bind(&whs)
        .bind(&on_hand)
        .bind(&reserved)
        .bind(&available)
        .fetch_all(&run.state.pool)
        .await?;
        run.bump("stock_levels", items.len() as i64);
        if run.ledger {
            run.stock_into_ledger(&items).await?;
        }
        let tenant = run.tenant.to_string();
        if !changed.is_empty() {
            let mut batch = run.batch("stock");
            batch.stock = items
                .iter()
                .filter(|s| changed.contains(&(s.sku.clone(), s.warehouse.clone())))
                .cloned()
                .collect();
            let subject = run.state.bus.subject(&["stock", &tenant, "changed"]);
            run.publish_batch(
                subject,
                format!("{}:stock-changed:{page}", run.sync_id),
                batch,
            )
            .await?;
        }
        let subject = run
            .state
            .bus
            .subject(&["records", &tenant, &run.platform, "stock"]);
        let mut batch = run.batch("stock");
        batch.stock = items;
        run.publish_batch(subject, format!("{}:stock:{page}", run.sync_id), batch)
            .await
    }
}

struct OrdersCommit;
impl AsyncCommit<Order> for OrdersCommit {
    async fn commit(&mut self, run: &mut Run, page: &str, items: Vec<Order>) -> Result<(), Stop> {
        let mut by_id: BTreeMap<String, Order> = BTreeMap::new();
        for o in items {
            by_id.insert(o.external_id.clone(), o);
        }
        let items: Vec<Order> = by_id.into_values().collect();
        let ids: Vec<&str> = items.iter().map(|o| o.external_id.as_str()).collect();
        let statuses: Vec<&str> = items.iter().map(|o| o.status.as_str()).collect();
        let recs: Vec<Vec<u8>> = items.iter().map(|o| o.encode_to_vec()).collect();
        // xmax = 0 tells a fresh insert from an update: only new orders count as imported.
        let inserted: Vec<bool> = sqlx::query_scalar(
            "INSERT INTO orders (tenant_id, connection_id, external_id, status, record) \
             SELECT $1, $2, e, s, r FROM UNNEST($3::text[], $4::text[], $5::bytea[]) AS t(e, s, r) \
             ON CONFLICT (connection_id, external_id) DO UPDATE SET status = EXCLUDED.status, \
             record = EXCLUDED.record, updated_at = now() RETURNING (xmax = 0)",
        )
        .bind(run.tenant)
        .bind(run.connection)
        .bind(&ids)
        .bind(&statuses)
        .bind(&recs)
        .fetch_all(&run.state.pool)
        .await?;
        run.bump("orders", items.len() as i64);
        run.bump("orders_new", inserted.iter().filter(|b| **b).count() as i64);
        if run.ledger {
            let rules =
                crate::stock::rules::StockRules::from_settings(&run.settings).unwrap_or_default();
            if crate::stock::ledger::reserve_orders(
                &run.state.pool,
                run.tenant,
                run.connection,
                &rules,
                &items,
            )
            .await?
            {
                run.state.wake_pushers();
            }
        }
        let subject =
            run.state
                .bus
                .subject(&["orders", &run.tenant.to_string(), &run.platform, "imported"]);
        let mut batch = run.batch("orders");
        batch.orders = items;
        run.publish_batch(subject, format!("{}:orders:{page}", run.sync_id), batch)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_of_encoded_products_decodes_as_the_batch() {
        let products: Vec<Product> = (0..3)
            .map(|i| Product {
                sku: format!("SKU-{i}"),
                title: "A title with ünïcode".into(),
                ..Default::default()
            })
            .collect();
        let header = RecordBatch {
            tenant_id: "t".into(),
            kind: "products".into(),
            ..Default::default()
        };
        let recs: Vec<Vec<u8>> = products.iter().map(|p| p.encode_to_vec()).collect();
        let decoded =
            RecordBatch::decode(products_payload(&header, &recs).as_slice()).expect("decodes");
        let mut expected = header;
        expected.products = products;
        assert_eq!(decoded, expected);
    }
}

//! Webhooks and the reconciliation poll.
//!
//! A platform's webhook call reaches the gateway at `/api/v1/webhooks/{connection_id}`, which
//! hands it here: the connection's connector checks the signature with the connection's own
//! secret, a call older than the tolerance is refused as a replay, a delivery seen before is
//! acknowledged and ignored, and any other starts a targeted sync of the records it names, so
//! a webhook produces exactly the events a poll of those records would. Connections with a
//! `sync_frequency` are also polled (incrementally) on that schedule: the poll catches whatever
//! webhooks missed.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use marketsync_common::{Error, ErrorCode};
use marketsync_connectors::{ConnectorError, WebhookCall};
use marketsync_proto::v1::{
    ReceiveWebhookRequest, ReceiveWebhookResponse, RegisterWebhooksRequest,
    RegisterWebhooksResponse, SyncCommand, SyncFilters, WebhookChallengeRequest,
    WebhookChallengeResponse,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::State;
use crate::store::{self, uuid};

/// How old a webhook call may be (by the platform's own timestamp) before it is refused as a
/// replay: `MARKETSYNC_WEBHOOK_TOLERANCE_SECS`, default 300.
fn tolerance() -> chrono::Duration {
    let secs = marketsync_common::config::var("MARKETSYNC_WEBHOOK_TOLERANCE_SECS")
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(300)
        .max(1);
    chrono::Duration::seconds(secs)
}

/// The operation that re-reads records of a kind.
fn operation(kind: &str) -> Option<&'static str> {
    match kind {
        "products" => Some("import_products"),
        "stock" => Some("import_inventory"),
        "orders" => Some("import_orders"),
        _ => None,
    }
}

fn rejected(connection: Uuid, platform: &str, reason: &str) -> Error {
    tracing::warn!(connection = %connection, platform, reason, "webhook rejected");
    Error::new(
        ErrorCode::Unauthenticated,
        format!("webhook rejected: {reason}"),
    )
}

/// Seconds after a push during which the channel's product or stock webhook about the same
/// records is taken as the echo of that push.
const ECHO_SECS: f64 = 30.0;

/// On a push channel, at most one product or stock import per kind is started by webhooks in
/// this many seconds.
const ECHO_COALESCE_SECS: f64 = 30.0;

/// Whether every record a product or stock webhook names was pushed by marketsync moments ago
/// or is about to be (then the webhook reports our own write, or a quantity the next push
/// replaces anyway). A webhook naming nothing is never an echo. An outside change in that
/// window is found by the next reconciliation instead.
async fn echo_of_push(
    state: &State,
    connection: Uuid,
    event: &marketsync_connectors::WebhookEvent,
) -> Result<bool, Error> {
    // On a channel marketsync pushes to, a product or stock webhook only serves to find drift:
    // while one such import started in the last seconds, the next ones are left to it and to
    // the reconciliation poll (a channel whose webhooks name no sku, such as Shopify's
    // inventory items, would otherwise spend its budget importing every push back).
    let busy: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM channel_stock WHERE connection_id = $1) \
           AND EXISTS (SELECT 1 FROM webhook_deliveries WHERE connection_id = $1 AND kind = $2 \
             AND delivery_id <> $3 AND sync_id IS NOT NULL \
             AND received_at > now() - make_interval(secs => $4))",
    )
    .bind(connection)
    .bind(&event.kind)
    .bind(&event.id)
    .bind(ECHO_COALESCE_SECS)
    .fetch_one(&state.pool)
    .await?;
    if busy {
        return Ok(true);
    }
    if event.skus.is_empty() && event.external_ids.is_empty() {
        return Ok(false);
    }
    let (recent, total): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE c.dirty OR c.pushed_at > now() - make_interval(secs => $4)), count(*) \
         FROM channel_stock c WHERE c.connection_id = $1 AND (c.sku = ANY($2) OR c.sku IN \
           (SELECT sku FROM products WHERE connection_id = $1 AND external_id = ANY($3)))",
    )
    .bind(connection)
    .bind(&event.skus)
    .bind(&event.external_ids)
    .bind(ECHO_SECS)
    .fetch_one(&state.pool)
    .await?;
    Ok(total > 0 && recent == total)
}

/// How long the first webhook of a burst waits for others about the same connection and kind
/// before their sync starts: a storm of order webhooks becomes a few targeted syncs of many
/// records instead of one sync (and its platform calls) per record.
const BATCH_WINDOW: Duration = Duration::from_millis(250);
/// Most records one webhook-started sync names.
const BATCH_MAX: usize = 200;
/// While the previous webhook sync of a connection and operation is still running, the next
/// batch keeps collecting for up to this long (a burst then queues one sync, not dozens).
const BATCH_HOLD: Duration = Duration::from_secs(2);
/// The most bytes of delivered orders one command carries (NATS allows 1 MiB a message).
const DELIVERED_MAX_BYTES: usize = 256 * 1024;

type BatchKey = (Uuid, &'static str);

/// Webhook calls waiting to join one targeted sync, per connection and operation, and the
/// webhook syncs started and not finished yet.
#[derive(Default)]
pub struct Batches {
    pending: std::sync::Mutex<BatchState>,
}

#[derive(Default)]
struct BatchState {
    open: std::collections::HashMap<BatchKey, Batch>,
    unfinished: std::collections::HashMap<BatchKey, String>,
}

struct Batch {
    cmd: SyncCommand,
    /// Records named so far.
    records: usize,
    /// Encoded size of the orders the command carries whole.
    delivered_bytes: usize,
    /// The calls waiting for the command to be on the bus.
    waiters: Vec<tokio::sync::oneshot::Sender<Result<(), String>>>,
}

impl Batches {
    fn lock(&self) -> std::sync::MutexGuard<'_, BatchState> {
        // Commands being assembled: a panic elsewhere cannot leave one half-written.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A sync has finished (or was found done): the next batch of its connection and
    /// operation may go at once.
    pub fn finished(&self, sync_id: &str) {
        self.lock().unfinished.retain(|_, id| id != sync_id);
    }

    /// Takes the open batch of `key` to send, marking it unfinished.
    fn take(&self, key: BatchKey) -> Option<Batch> {
        let mut st = self.lock();
        let batch = st.open.remove(&key)?;
        st.unfinished.insert(key, batch.cmd.sync_id.clone());
        Some(batch)
    }
}

/// Adds a webhook's records to the connection's next targeted sync of `op` and returns once
/// that sync's command is on the bus (the platform is answered only then, so an accepted
/// webhook is never lost), with the sync's id.
async fn join_batch(
    state: &Arc<State>,
    tenant: Uuid,
    connection: Uuid,
    op: &'static str,
    event: &marketsync_connectors::WebhookEvent,
) -> Result<String, Error> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let key = (connection, op);
    let (sync_id, first) = {
        let mut st = state.webhook_batches.lock();
        let first = !st.open.contains_key(&key);
        let batch = st.open.entry(key).or_insert_with(|| Batch {
            cmd: SyncCommand {
                tenant_id: tenant.to_string(),
                connection_id: connection.to_string(),
                sync_id: Uuid::now_v7().to_string(),
                operations: vec![op.to_string()],
                force_full: false,
                filters: Some(SyncFilters::default()),
                requested_by: format!("webhook:{}", event.topic),
                orders: Vec::new(),
            },
            records: 0,
            delivered_bytes: 0,
            waiters: Vec::new(),
        });
        let filters = batch.cmd.filters.get_or_insert_with(Default::default);
        for sku in &event.skus {
            if !filters.skus.contains(sku) {
                filters.skus.push(sku.clone());
            }
        }
        for id in &event.external_ids {
            if !filters.ids.contains(id) {
                filters.ids.push(id.clone());
            }
        }
        for order in &event.orders {
            // Past the bound the order is read from the platform like any other id (the
            // command stays well under the bus's largest message).
            let size = prost::Message::encoded_len(order);
            if batch.delivered_bytes + size <= DELIVERED_MAX_BYTES
                && !batch
                    .cmd
                    .orders
                    .iter()
                    .any(|o| o.external_id == order.external_id)
            {
                batch.delivered_bytes += size;
                batch.cmd.orders.push(order.clone());
            }
        }
        batch.records = filters.skus.len() + filters.ids.len();
        batch.waiters.push(tx);
        let full = batch.records >= BATCH_MAX;
        let id = batch.cmd.sync_id.clone();
        if full && let Some(b) = st.open.remove(&key) {
            st.unfinished.insert(key, b.cmd.sync_id.clone());
            let state = state.clone();
            tokio::spawn(async move { flush(&state, b).await });
        }
        (id, first && !full)
    };
    if first {
        let st = state.clone();
        tokio::spawn(async move {
            tokio::time::sleep(BATCH_WINDOW).await;
            let held = std::time::Instant::now();
            while held.elapsed() < BATCH_HOLD
                && st.webhook_batches.lock().unfinished.contains_key(&key)
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if let Some(b) = st.webhook_batches.take(key) {
                flush(&st, b).await;
            }
        });
    }
    match rx.await {
        Ok(Ok(())) => Ok(sync_id),
        Ok(Err(e)) => Err(Error::unavailable(e)),
        Err(_) => Err(Error::unavailable("the webhook's sync was not started")),
    }
}

async fn flush(state: &State, batch: Batch) {
    let result = publish(state, &batch.cmd).await.map_err(|e| e.message);
    for w in batch.waiters {
        let _ = w.send(result.clone());
    }
}

/// Answers a platform's challenge GET on a connection's webhook URL.
pub async fn challenge(
    state: &Arc<State>,
    r: WebhookChallengeRequest,
) -> Result<WebhookChallengeResponse, Error> {
    let connection = uuid(&r.connection_id, "connection_id")?;
    let tenant: Uuid = sqlx::query_scalar("SELECT tenant_id FROM connections WHERE id = $1")
        .bind(connection)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| Error::not_found("connection not found"))?;
    let connector = store::connector(state, tenant, connection).await?;
    let query = r.query.into_iter().collect();
    match connector.answer_challenge(&query, &r.endpoint) {
        Ok((content_type, body)) => {
            tracing::info!(connection = %connection, "webhook challenge answered");
            Ok(WebhookChallengeResponse { content_type, body })
        }
        Err(ConnectorError::Unsupported(what)) => Err(Error::new(
            ErrorCode::FailedPrecondition,
            format!("{what} are not supported"),
        )),
        Err(e) => Err(Error::invalid(e.to_string())),
    }
}

pub async fn receive(
    state: &Arc<State>,
    r: ReceiveWebhookRequest,
) -> Result<ReceiveWebhookResponse, Error> {
    let connection = uuid(&r.connection_id, "connection_id")?;
    let (tenant, enabled): (Uuid, bool) =
        sqlx::query_as("SELECT tenant_id, enabled FROM connections WHERE id = $1")
            .bind(connection)
            .fetch_optional(&state.pool)
            .await?
            .ok_or_else(|| Error::not_found("connection not found"))?;
    let connector = store::connector(state, tenant, connection).await?;
    let platform = connector.platform().to_string();
    let call = WebhookCall {
        headers: r
            .headers
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect(),
        body: r.body,
    };
    let event = match connector.verify_webhook(&call) {
        Ok(e) => e,
        Err(ConnectorError::Auth(reason)) => return Err(rejected(connection, &platform, &reason)),
        Err(ConnectorError::Unsupported(what)) => {
            return Err(Error::new(
                ErrorCode::FailedPrecondition,
                format!("{what} are not supported: the reconciliation poll covers this platform"),
            ));
        }
        Err(e) => return Err(Error::invalid(format!("webhook not understood: {e}"))),
    };
    if let Some(sent) = event.sent_at {
        let age = Utc::now() - sent;
        if age > tolerance() || -age > tolerance() {
            return Err(rejected(
                connection,
                &platform,
                &format!(
                    "sent {}s ago, outside the replay tolerance",
                    age.num_seconds()
                ),
            ));
        }
    }
    if event.kind == "ping" {
        tracing::info!(connection = %connection, platform = %platform, "webhook ping acknowledged");
        return Ok(ReceiveWebhookResponse {
            tenant_id: tenant.to_string(),
            platform,
            delivery_id: event.id,
            topic: event.topic,
            kind: event.kind,
            duplicate: false,
            sync_id: String::new(),
        });
    }
    if !enabled {
        return Err(Error::new(
            ErrorCode::FailedPrecondition,
            "the connection is disabled: webhooks are ignored until it is enabled",
        ));
    }
    if event.id.is_empty() {
        return Err(Error::invalid("webhook without a delivery id"));
    }
    let Some(op) = operation(&event.kind) else {
        return Err(Error::invalid(format!(
            "webhook topic `{}` is not about products, stock or orders",
            event.topic
        )));
    };
    let fresh = sqlx::query(
        "INSERT INTO webhook_deliveries (tenant_id, connection_id, delivery_id, topic, kind, sync_id) \
         VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(connection)
    .bind(&event.id)
    .bind(&event.topic)
    .bind(&event.kind)
    .execute(&state.pool)
    .await?
    .rows_affected()
        == 1;
    let mut resp = ReceiveWebhookResponse {
        tenant_id: tenant.to_string(),
        platform: platform.clone(),
        delivery_id: event.id.clone(),
        topic: event.topic.clone(),
        kind: event.kind.clone(),
        duplicate: !fresh,
        sync_id: String::new(),
    };
    state.metrics.record("webhooks_received", 1);
    if !fresh {
        tracing::info!(connection = %connection, delivery = %event.id, "duplicate webhook ignored");
        return Ok(resp);
    }
    if op != "import_orders" && echo_of_push(state, connection, &event).await? {
        // The platform telling us about the quantity we have just written: importing it again
        // would only spend the channel's rate budget (a busy channel echoes every push).
        tracing::debug!(connection = %connection, delivery = %event.id, "webhook echoes our own stock push");
        state.metrics.record("webhooks_echo", 1);
        return Ok(resp);
    }
    let sync_id = match join_batch(state, tenant, connection, op, &event).await {
        Ok(id) => id,
        Err(e) => {
            // Forget the delivery so the platform's retry is acted on.
            let _ = sqlx::query(
                "DELETE FROM webhook_deliveries WHERE connection_id = $1 AND delivery_id = $2",
            )
            .bind(connection)
            .bind(&event.id)
            .execute(&state.pool)
            .await;
            return Err(e);
        }
    };
    sqlx::query(
        "UPDATE webhook_deliveries SET sync_id = $3 WHERE connection_id = $1 AND delivery_id = $2",
    )
    .bind(connection)
    .bind(&event.id)
    .bind(Uuid::parse_str(&sync_id).ok())
    .execute(&state.pool)
    .await?;
    tracing::info!(connection = %connection, delivery = %event.id, topic = %event.topic,
        records = event.skus.len() + event.external_ids.len(), %sync_id, "webhook accepted");
    resp.sync_id = sync_id;
    Ok(resp)
}

async fn publish(state: &State, cmd: &SyncCommand) -> Result<(), Error> {
    let subject = state
        .bus
        .subject(&["cmd", &cmd.tenant_id, &cmd.connection_id, "sync"]);
    state
        .bus
        .publish(
            subject,
            "marketsync.sync.requested.v1",
            &cmd.tenant_id,
            &cmd.sync_id,
            cmd,
        )
        .await
}

/// Subscribes the platform's change notifications to `url`.
pub async fn register(
    state: &Arc<State>,
    r: RegisterWebhooksRequest,
) -> Result<RegisterWebhooksResponse, Error> {
    let tenant = uuid(&r.tenant_id, "tenant_id")?;
    let connection = uuid(&r.connection_id, "connection_id")?;
    let url = r.url.trim();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(Error::invalid("url must be an http(s) URL"));
    }
    let connector = store::connector(state, tenant, connection).await?;
    let topics = connector
        .register_webhooks(url)
        .await
        .map_err(|e| match e {
            ConnectorError::Unsupported(what) => Error::new(
                ErrorCode::FailedPrecondition,
                format!("{what} are not supported: the reconciliation poll covers this platform"),
            ),
            ConnectorError::Auth(m) => Error::new(ErrorCode::FailedPrecondition, m),
            other => Error::unavailable(other),
        })?;
    tracing::info!(connection = %connection, topics = ?topics, "webhooks registered");
    Ok(RegisterWebhooksResponse { topics })
}

/// Every `every`, starts an incremental sync of each connection whose `sync_frequency` has
/// elapsed and whose previous poll has finished (a slow poll, such as Amazon's waiting for
/// getOrderItems tokens, is never joined by a second one splitting the same budget; a poll
/// stuck for an hour no longer holds the next back), claimed with one UPDATE so several
/// replicas never start the same poll twice; and forgets webhook deliveries older than a week.
pub async fn schedule(state: Arc<State>, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = poll_due(&state).await {
            tracing::warn!(error = %e, "reconciliation poll failed; retrying at the next tick");
        }
    }
}

async fn poll_due(state: &State) -> Result<(), Error> {
    let due: Vec<(Uuid, Uuid, Option<serde_json::Value>)> = sqlx::query_as(
        "UPDATE connections SET next_sync_at = now() + make_interval(secs => \
           (settings->>'sync_frequency')::float8) \
         WHERE enabled AND jsonb_typeof(settings->'sync_frequency') = 'number' \
           AND (settings->>'sync_frequency')::float8 > 0 \
           AND coalesce(next_sync_at, created_at + make_interval(secs => \
                 (settings->>'sync_frequency')::float8)) <= now() \
           AND NOT EXISTS (SELECT 1 FROM sync_runs r WHERE r.tenant_id = connections.tenant_id \
                 AND r.connection_id = connections.id AND r.requested_by = 'schedule' \
                 AND r.status IN ('queued', 'running') AND r.created_at > now() - interval '1 hour') \
         RETURNING tenant_id, id, settings->'poll_operations'",
    )
    .fetch_all(&state.pool)
    .await?;
    for (tenant, connection, ops) in due {
        // `settings.poll_operations` narrows what the poll reads (e.g. only new orders on a
        // marketplace whose stock marketsync pushes); the default operations otherwise.
        let operations: Vec<String> = ops
            .and_then(|v| serde_json::from_value::<Vec<String>>(v).ok())
            .unwrap_or_default()
            .into_iter()
            .filter(|o| crate::sync::OPERATIONS.contains(&o.as_str()))
            .collect();
        let cmd = SyncCommand {
            tenant_id: tenant.to_string(),
            connection_id: connection.to_string(),
            sync_id: Uuid::now_v7().to_string(),
            operations,
            force_full: false,
            filters: None,
            requested_by: "schedule".into(),
            orders: Vec::new(),
        };
        publish(state, &cmd).await?;
        tracing::info!(connection = %connection, sync = %cmd.sync_id, "scheduled sync started");
    }
    sqlx::query("DELETE FROM webhook_deliveries WHERE received_at < now() - interval '7 days'")
        .execute(&state.pool)
        .await?;
    Ok(())
}

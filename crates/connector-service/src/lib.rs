//! The connector service: owns connections (credentials encrypted with AES-256-GCM), sync runs,
//! cursors and the records imported from each platform. It consumes sync commands and
//! corrections to apply, and publishes records, sync progress and imported orders.

mod corrections;
mod grpc;
mod orders;
mod stock;
mod store;
mod sync;
mod webhooks;

use std::sync::Arc;

use marketsync_common::bus::Bus;
use marketsync_common::config::Service;
use marketsync_common::crypto::Keyring;
use marketsync_common::db;
use marketsync_common::health::Metrics;
use marketsync_common::service::Base;
use marketsync_proto::v1::connector_service_server::ConnectorServiceServer;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub use store::mask_credentials;

/// Shared state of the service.
pub struct State {
    /// Database (schema `connector`).
    pub pool: PgPool,
    /// NATS.
    pub bus: Bus,
    /// Credential keys.
    pub keyring: Keyring,
    /// Metrics.
    pub metrics: Metrics,
    /// Bumped after every ledger change: wakes the stock pushers.
    pub stock_wake: tokio::sync::watch::Sender<u64>,
    /// The connector of each connection, shared by all that use it.
    pub connectors: store::Connectors,
    /// Webhook calls waiting to join one targeted sync.
    pub webhook_batches: webhooks::Batches,
}

impl State {
    /// Tells the stock pushers something is due.
    pub fn wake_pushers(&self) {
        self.stock_wake.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// Runs the service until `shutdown` is cancelled.
pub async fn run(shutdown: CancellationToken) -> anyhow::Result<()> {
    let keyring = Keyring::from_env().map_err(|e| anyhow::anyhow!("master key: {e}"))?;
    let base = Base::start(Service::Connector, &db::migrations::CONNECTOR).await?;
    let health = base.health();
    let Base {
        grpc_addr,
        http_addr,
        pool,
        bus,
        metrics,
    } = base;
    let state = Arc::new(State {
        pool: pool.clone(),
        bus: bus.clone(),
        keyring,
        metrics: metrics.clone(),
        stock_wake: tokio::sync::watch::channel(0).0,
        connectors: store::Connectors::default(),
        webhook_batches: webhooks::Batches::default(),
    });

    let serving = marketsync_common::grpc::serve(
        "marketsync.v1.ConnectorService",
        ConnectorServiceServer::new(grpc::Api {
            state: state.clone(),
        }),
        grpc_addr,
        http_addr,
        health,
        shutdown.clone(),
    )
    .await?;

    let cmd = bus
        .durable(
            "CMD",
            "connector-sync",
            vec![bus.subject(&["cmd", "*", "*", "sync"])],
        )
        .await?;
    let corr = bus
        .durable(
            "CORRECTIONS",
            "connector-corrections",
            vec![
                bus.subject(&["corrections", "*", "proposed"]),
                bus.subject(&["corrections", "*", "undo"]),
            ],
        )
        .await?;
    tracing::info!(grpc = %serving.grpc, http = %serving.http, "connector listening");

    // Syncs of different connections run side by side: one waiting for its platform's rate
    // budget (a marketplace that allows an order poll a minute) must not hold up the others.
    let concurrency = marketsync_common::config::var("MARKETSYNC_SYNC_CONCURRENCY")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(64)
        .max(1);
    let st = state.clone();
    let sync_task = bus.spawn(
        cmd,
        "connector-sync",
        metrics.clone(),
        shutdown.clone(),
        concurrency,
        move |msg| sync::handle(st.clone(), msg),
    );
    let st = state.clone();
    let corr_task = bus.spawn(
        corr,
        "connector-corrections",
        metrics.clone(),
        shutdown.clone(),
        4,
        move |msg| corrections::handle(st.clone(), msg),
    );
    let schedule_every = marketsync_common::config::var("MARKETSYNC_SCHEDULE_TICK_SECS")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(15)
        .max(1);
    let schedule_task = tokio::spawn(webhooks::schedule(
        state.clone(),
        std::time::Duration::from_secs(schedule_every),
        shutdown.clone(),
    ));
    let push_task = tokio::spawn(stock::push::supervise(state.clone(), shutdown.clone()));
    shutdown.cancelled().await;
    let _ = tokio::join!(sync_task, corr_task, schedule_task, push_task);
    for t in serving.tasks {
        let _ = t.await;
    }
    tracing::info!("connector stopped");
    Ok(())
}

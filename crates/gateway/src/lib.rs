//! The marketsync API gateway: the REST API of DESIGN.md, a Server-Sent Events stream of each
//! tenant's sync, issue and correction events, API keys with roles, tenants, and the audit log.
//!
//! It owns the `gateway` schema (tenants, API keys, audit log, sync requests), answers REST by
//! calling the connector, monitor and knowledge services over gRPC with the caller's tenant, and
//! publishes sync commands on NATS JetStream.

pub mod admin;
mod api;
pub mod audit;
pub mod auth;
pub mod error;
pub mod openapi;
pub mod sync;

use std::net::SocketAddr;
use std::sync::Arc;

use marketsync_common::bus::Bus;
use marketsync_common::config::{self, Service};
use marketsync_common::db;
use marketsync_common::grpc::TracedChannel;
use marketsync_common::health::{self, HealthState, Metrics};
use marketsync_proto::v1::connector_service_client::ConnectorServiceClient;
use marketsync_proto::v1::knowledge_service_client::KnowledgeServiceClient;
use marketsync_proto::v1::monitor_service_client::MonitorServiceClient;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Everything the gateway needs to start, read from the environment by
/// [`GatewayConfig::from_env`] or built by hand (tests).
#[derive(Clone)]
pub struct GatewayConfig {
    /// REST listen address (`MARKETSYNC_GATEWAY_ADDR`, default `127.0.0.1:8080`); port 0 picks
    /// a free port, reported by [`serve`].
    pub addr: SocketAddr,
    /// PostgreSQL URL (`DATABASE_URL`); the gateway uses the `gateway` schema.
    pub database_url: String,
    /// NATS URL (`NATS_URL`).
    pub nats_url: String,
    /// Prefix of NATS subjects and streams (`MARKETSYNC_SUBJECT_PREFIX`, default `ms`).
    pub subject_prefix: String,
    /// Connector gRPC URL (`MARKETSYNC_CONNECTOR_GRPC_URL`).
    pub connector_url: String,
    /// Monitor gRPC URL (`MARKETSYNC_MONITOR_GRPC_URL`).
    pub monitor_url: String,
    /// Knowledge gRPC URL (`MARKETSYNC_KNOWLEDGE_GRPC_URL`).
    pub knowledge_url: String,
    /// Size of the database pool.
    pub db_max_connections: u32,
}

impl GatewayConfig {
    /// Reads the configuration from the environment, with DESIGN.md's defaults.
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Self {
            addr: config::addr(config::GATEWAY_ADDR, config::defaults::GATEWAY_ADDR)?,
            database_url: config::database_url(),
            nats_url: config::nats_url(),
            subject_prefix: config::subject_prefix(),
            connector_url: Service::Connector.grpc_url(),
            monitor_url: Service::Monitor.grpc_url(),
            knowledge_url: Service::Knowledge.grpc_url(),
            db_max_connections: 16,
        })
    }
}

/// Shared state of the request handlers.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Inner>);

pub(crate) struct Inner {
    pub pool: PgPool,
    pub bus: Bus,
    pub connector: ConnectorServiceClient<TracedChannel>,
    pub monitor: MonitorServiceClient<TracedChannel>,
    pub knowledge: KnowledgeServiceClient<TracedChannel>,
    pub metrics: Metrics,
    pub http: api::HttpMetrics,
    /// Cancelled at shutdown; ends the open event streams so the server can drain.
    pub shutdown: CancellationToken,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Connects to PostgreSQL (migrating the `gateway` schema) and NATS (ensuring the streams),
/// then serves the REST API and the health endpoints on `cfg.addr` until `shutdown` is
/// cancelled. Returns the bound address and the server task, which ends once the server has
/// drained.
pub async fn serve(
    cfg: GatewayConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let pool = db::connect(&cfg.database_url, "gateway", cfg.db_max_connections).await?;
    db::migrate(&pool, &db::migrations::GATEWAY).await?;
    let bus = Bus::connect(&cfg.nats_url, &cfg.subject_prefix, "gateway").await?;
    bus.ensure_streams().await?;

    let metrics = Metrics::new("gateway");
    let http = api::HttpMetrics::new(&metrics);
    let state = AppState(Arc::new(Inner {
        pool: pool.clone(),
        bus: bus.clone(),
        connector: ConnectorServiceClient::new(marketsync_common::grpc::channel(
            &cfg.connector_url,
        )?),
        monitor: MonitorServiceClient::new(marketsync_common::grpc::channel(&cfg.monitor_url)?),
        knowledge: KnowledgeServiceClient::new(marketsync_common::grpc::channel(
            &cfg.knowledge_url,
        )?),
        metrics: metrics.clone(),
        http,
        shutdown: shutdown.clone(),
    }));

    let router = api::router(state).merge(health::router(HealthState {
        pool: Some(pool),
        nats: Some(bus.client.clone()),
        metrics,
    }));
    let (addr, handle) = health::serve(cfg.addr, router, shutdown).await?;
    tracing::info!(%addr, prefix = %cfg.subject_prefix, "gateway listening");
    Ok((addr, handle))
}

/// Runs the gateway with the configuration of the environment until `shutdown` is cancelled.
pub async fn run(shutdown: CancellationToken) -> anyhow::Result<()> {
    let cfg = GatewayConfig::from_env()?;
    let (_addr, handle) = serve(cfg, shutdown).await?;
    handle
        .await
        .map_err(|e| anyhow::anyhow!("gateway server task failed: {e}"))?;
    tracing::info!("gateway stopped");
    Ok(())
}

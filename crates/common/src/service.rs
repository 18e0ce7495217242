//! What every database-backed service does at start: read its addresses, connect to its schema
//! and migrate it, connect to NATS and create the streams, and set up its metrics.

use std::net::SocketAddr;

use sqlx::PgPool;
use sqlx::migrate::Migrator;

use crate::bus::Bus;
use crate::config::{self, Service};
use crate::db;
use crate::health::{HealthState, Metrics};

/// A started service's connections and addresses.
pub struct Base {
    /// gRPC listen address.
    pub grpc_addr: SocketAddr,
    /// Health and metrics listen address.
    pub http_addr: SocketAddr,
    /// Its database schema.
    pub pool: PgPool,
    /// NATS, streams created.
    pub bus: Bus,
    /// Its metrics.
    pub metrics: Metrics,
}

impl Base {
    /// Connects `service` to its schema (migrated with `migrator`) and to NATS.
    pub async fn start(service: Service, migrator: &Migrator) -> anyhow::Result<Self> {
        let name = service.name();
        let grpc_addr = service.grpc_addr()?;
        let http_addr = service.http_addr()?;
        let pool = db::connect(&config::database_url(), name, 16).await?;
        db::migrate(&pool, migrator).await?;
        let bus = Bus::connect(&config::nats_url(), &config::subject_prefix(), name).await?;
        bus.ensure_streams().await?;
        Ok(Self {
            grpc_addr,
            http_addr,
            pool,
            bus,
            metrics: Metrics::new(name),
        })
    }

    /// What its `/readyz` checks and `/metrics` shows.
    pub fn health(&self) -> HealthState {
        HealthState {
            pool: Some(self.pool.clone()),
            nats: Some(self.bus.client.clone()),
            metrics: self.metrics.clone(),
        }
    }
}

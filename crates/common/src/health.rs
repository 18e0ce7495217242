//! `/healthz` (alive), `/readyz` (database and NATS reachable) and `/metrics` (Prometheus text)
//! for every service.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use sqlx::PgPool;

/// Labels of per-consumer counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsumerLabels {
    /// Durable consumer name.
    pub consumer: String,
    /// `ack`, `nak` or `term`.
    pub outcome: String,
}

/// Labels of per-subject-family counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// What was counted (`products`, `issues`, …).
    pub kind: String,
}

/// Metrics every service exposes, plus the registry for service-specific ones.
#[derive(Clone)]
pub struct Metrics {
    /// Messages handled by each consumer, by outcome.
    pub messages: Family<ConsumerLabels, Counter>,
    /// Events published, by kind.
    pub published: Family<KindLabels, Counter>,
    /// Records processed, by kind.
    pub records: Family<KindLabels, Counter>,
    /// Resident memory in bytes (updated on scrape).
    pub rss_bytes: Gauge,
    registry: Arc<std::sync::Mutex<Registry>>,
}

impl Metrics {
    /// A registry with the common metrics, prefixed `marketsync_<service>`.
    pub fn new(service: &str) -> Self {
        let mut registry = Registry::with_prefix(format!("marketsync_{service}"));
        let messages = Family::<ConsumerLabels, Counter>::default();
        let published = Family::<KindLabels, Counter>::default();
        let records = Family::<KindLabels, Counter>::default();
        let rss_bytes = Gauge::default();
        registry.register(
            "messages",
            "Messages handled by JetStream consumers",
            messages.clone(),
        );
        registry.register("published", "Events published", published.clone());
        registry.register("records", "Records processed", records.clone());
        registry.register(
            "resident_memory_bytes",
            "Resident set size",
            rss_bytes.clone(),
        );
        Self {
            messages,
            published,
            records,
            rss_bytes,
            registry: Arc::new(std::sync::Mutex::new(registry)),
        }
    }

    /// Registers a service-specific metric.
    pub fn register(
        &self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) {
        if let Ok(mut r) = self.registry.lock() {
            r.register(name, help, metric);
        }
    }

    /// Counts a consumer outcome.
    pub fn message(&self, consumer: &str, outcome: &str) {
        self.messages
            .get_or_create(&ConsumerLabels {
                consumer: consumer.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Counts records of a kind.
    pub fn record(&self, kind: &str, n: u64) {
        self.records
            .get_or_create(&KindLabels { kind: kind.into() })
            .inc_by(n);
    }

    /// Prometheus text exposition.
    pub fn encode(&self) -> String {
        self.rss_bytes.set(rss_bytes().unwrap_or(0) as i64);
        let mut out = String::new();
        if let Ok(r) = self.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &r);
        }
        out
    }
}

/// Resident set size of this process, from /proc (Linux).
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_kb(&status, "VmRSS:").map(|kb| kb * 1024)
}

/// Peak resident set size of this process, from /proc (Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status_kb(&status, "VmHWM:").map(|kb| kb * 1024)
}

fn status_kb(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// What `/readyz` checks.
#[derive(Clone)]
pub struct HealthState {
    /// Database, if the service has one.
    pub pool: Option<PgPool>,
    /// NATS client, if the service uses NATS.
    pub nats: Option<async_nats::Client>,
    /// Metrics to expose.
    pub metrics: Metrics,
}

impl HealthState {
    /// Whether the dependencies answer.
    pub async fn ready(&self) -> Result<(), String> {
        if let Some(pool) = &self.pool {
            sqlx::query("SELECT 1")
                .execute(pool)
                .await
                .map_err(|_| "database unreachable".to_string())?;
        }
        if let Some(nats) = &self.nats
            && nats.connection_state() != async_nats::connection::State::Connected
        {
            return Err("nats disconnected".into());
        }
        Ok(())
    }
}

/// The router of the three endpoints (merge it into a bigger one or serve it alone).
pub fn router(state: HealthState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(s): State<HealthState>) -> impl IntoResponse {
    match s.ready().await {
        Ok(()) => (StatusCode::OK, "ready".to_string()),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

async fn metrics(State(s): State<HealthState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

/// Serves `router` on `addr` until `shutdown` is cancelled; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        let r = axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "http server failed");
        }
    });
    Ok((bound, handle))
}

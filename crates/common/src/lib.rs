//! Plumbing shared by the marketsync services: configuration from the environment, telemetry,
//! PostgreSQL pools and migrations, NATS JetStream publishing and consuming, credential
//! encryption, the HTTP health and metrics endpoints, gRPC serving, and the error codes that
//! map to both gRPC and HTTP statuses.

/// Every marketsync process allocates through mimalloc: the services build and drop many small
/// strings and vectors per record, and glibc's allocator took about a tenth of the machine in
/// the pipeline benchmark.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod ai_config;
pub mod bus;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod grpc;
pub mod health;
pub mod service;
pub mod telemetry;

pub use error::{Error, ErrorCode, Result};

/// Installs the process-wide rustls crypto provider (ring). Call once at start-up.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Resolves when the process receives Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Now as RFC 3339 text, the format of every timestamp in events and responses.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Formats an optional timestamp as RFC 3339 (empty when absent).
pub fn ts(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

//! Every environment variable marketsync reads, in one place, with its default.

use std::net::SocketAddr;

/// PostgreSQL URL.
pub const DATABASE_URL: &str = "DATABASE_URL";
/// NATS URL (JetStream on).
pub const NATS_URL: &str = "NATS_URL";
/// Gateway REST listen address.
pub const GATEWAY_ADDR: &str = "MARKETSYNC_GATEWAY_ADDR";
/// Base64 of the 32-byte master key for credentials.
pub const MASTER_KEY: &str = "MARKETSYNC_MASTER_KEY";
/// Id of the master key (stored beside each ciphertext).
pub const MASTER_KEY_ID: &str = "MARKETSYNC_MASTER_KEY_ID";
/// Older keys still accepted for decryption: `id1:base64,id2:base64`.
pub const OLD_MASTER_KEYS: &str = "MARKETSYNC_OLD_MASTER_KEYS";
/// File the dev master key is generated into when no key is set.
pub const MASTER_KEY_FILE: &str = "MARKETSYNC_MASTER_KEY_FILE";
/// Prefix of every NATS subject and stream (default `ms`; tests use their own).
pub const SUBJECT_PREFIX: &str = "MARKETSYNC_SUBJECT_PREFIX";
/// OTLP endpoint; traces are exported only when set.
pub const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Log filter (tracing EnvFilter syntax).
pub const LOG: &str = "MARKETSYNC_LOG";
/// Log format: `json` (default) or `text`.
pub const LOG_FORMAT: &str = "MARKETSYNC_LOG_FORMAT";

/// Defaults of DESIGN.md.
pub mod defaults {
    /// PostgreSQL.
    pub const DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/marketsync";
    /// NATS.
    pub const NATS_URL: &str = "nats://127.0.0.1:4222";
    /// Gateway.
    pub const GATEWAY_ADDR: &str = "127.0.0.1:8080";
    /// Subject prefix.
    pub const SUBJECT_PREFIX: &str = "ms";
}

/// One of the gRPC services, for its addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// connector
    Connector,
    /// monitor
    Monitor,
    /// knowledge
    Knowledge,
}

impl Service {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Connector => "connector",
            Self::Monitor => "monitor",
            Self::Knowledge => "knowledge",
        }
    }
    fn upper(self) -> &'static str {
        match self {
            Self::Connector => "CONNECTOR",
            Self::Monitor => "MONITOR",
            Self::Knowledge => "KNOWLEDGE",
        }
    }
    fn default_grpc_port(self) -> u16 {
        match self {
            Self::Connector => 50051,
            Self::Monitor => 50052,
            Self::Knowledge => 50053,
        }
    }
    fn default_http_port(self) -> u16 {
        match self {
            Self::Connector => 8081,
            Self::Monitor => 8082,
            Self::Knowledge => 8083,
        }
    }
    /// `MARKETSYNC_<S>_GRPC_ADDR`: where the service listens for gRPC.
    pub fn grpc_addr_var(self) -> String {
        format!("MARKETSYNC_{}_GRPC_ADDR", self.upper())
    }
    /// `MARKETSYNC_<S>_GRPC_URL`: where the others reach it.
    pub fn grpc_url_var(self) -> String {
        format!("MARKETSYNC_{}_GRPC_URL", self.upper())
    }
    /// `MARKETSYNC_<S>_HTTP_ADDR`: its /healthz, /readyz and /metrics.
    pub fn http_addr_var(self) -> String {
        format!("MARKETSYNC_{}_HTTP_ADDR", self.upper())
    }
    /// gRPC listen address.
    pub fn grpc_addr(self) -> anyhow::Result<SocketAddr> {
        addr(
            &self.grpc_addr_var(),
            &format!("127.0.0.1:{}", self.default_grpc_port()),
        )
    }
    /// HTTP listen address.
    pub fn http_addr(self) -> anyhow::Result<SocketAddr> {
        addr(
            &self.http_addr_var(),
            &format!("127.0.0.1:{}", self.default_http_port()),
        )
    }
    /// URL the other services dial.
    pub fn grpc_url(self) -> String {
        var(&self.grpc_url_var()).unwrap_or_else(|| match var(&self.grpc_addr_var()) {
            Some(a) => format!("http://{a}"),
            None => format!("http://127.0.0.1:{}", self.default_grpc_port()),
        })
    }
}

/// A non-empty environment variable.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// An environment variable or its default.
pub fn var_or(name: &str, default: &str) -> String {
    var(name).unwrap_or_else(|| default.to_string())
}

/// A socket address from the environment or its default, validated.
pub fn addr(name: &str, default: &str) -> anyhow::Result<SocketAddr> {
    let v = var_or(name, default);
    v.parse()
        .map_err(|e| anyhow::anyhow!("{name}={v} is not a socket address: {e}"))
}

/// Database URL.
pub fn database_url() -> String {
    var_or(DATABASE_URL, defaults::DATABASE_URL)
}

/// NATS URL.
pub fn nats_url() -> String {
    var_or(NATS_URL, defaults::NATS_URL)
}

/// Subject prefix.
pub fn subject_prefix() -> String {
    var_or(SUBJECT_PREFIX, defaults::SUBJECT_PREFIX)
}

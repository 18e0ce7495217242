//! gRPC plumbing: serving with health and reflection, dialing with trace context.

use std::net::SocketAddr;

use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Span of an incoming gRPC call, child of the caller's trace context.
pub fn server_span(req: &http::Request<()>) -> tracing::Span {
    let span = tracing::info_span!("grpc", path = %req.uri().path());
    crate::telemetry::link_http(&span, req.headers());
    span
}

/// The gRPC health and reflection services for the marketsync descriptor, with `service_name`
/// marked serving.
pub async fn health_and_reflection(
    service_name: &str,
) -> anyhow::Result<(
    tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
)> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(service_name, tonic_health::ServingStatus::Serving)
        .await;
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(marketsync_proto::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    Ok((health, reflection))
}

/// Binds a TCP listener for a gRPC server (port 0 picks a free one).
pub async fn bind(
    addr: SocketAddr,
) -> anyhow::Result<(SocketAddr, tokio_stream::wrappers::TcpListenerStream)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr()?;
    Ok((
        bound,
        tokio_stream::wrappers::TcpListenerStream::new(listener),
    ))
}

/// Adds the current trace context to every outgoing call.
#[derive(Clone, Copy, Default)]
pub struct TraceInterceptor;

struct MetaInjector<'a>(&'a mut tonic::metadata::MetadataMap);
impl Injector for MetaInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(k, v);
        }
    }
}

impl Interceptor for TraceInterceptor {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let cx = tracing::Span::current().context();
        TraceContextPropagator::new().inject_context(&cx, &mut MetaInjector(req.metadata_mut()));
        Ok(req)
    }
}

/// A traced channel to one of the services.
pub type TracedChannel = tonic::service::interceptor::InterceptedService<Channel, TraceInterceptor>;

/// Dials `url` lazily (the connection is made on first use and re-made after failures).
pub fn channel(url: &str) -> anyhow::Result<TracedChannel> {
    let ch = Endpoint::from_shared(url.to_string())
        .map_err(|e| anyhow::anyhow!("bad gRPC url {url}: {e}"))?
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(30))
        .connect_lazy();
    Ok(tonic::service::interceptor::InterceptedService::new(
        ch,
        TraceInterceptor,
    ))
}

/// A running service's listeners.
pub struct Serving {
    /// Bound gRPC address.
    pub grpc: SocketAddr,
    /// Bound HTTP (health and metrics) address.
    pub http: SocketAddr,
    /// The server tasks; they end after `shutdown`.
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Serves a service's gRPC API `svc` (named `grpc_name`) with gRPC health and reflection on
/// `grpc_addr`, and `/healthz`, `/readyz` and `/metrics` on `http_addr`, until `shutdown`.
pub async fn serve<S>(
    grpc_name: &str,
    svc: S,
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    health: crate::health::HealthState,
    shutdown: tokio_util::sync::CancellationToken,
) -> anyhow::Result<Serving>
where
    S: tower::Service<http::Request<tonic::body::Body>, Error = std::convert::Infallible>
        + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Response: axum::response::IntoResponse,
    S::Future: Send + 'static,
{
    let (http, http_task) =
        crate::health::serve(http_addr, crate::health::router(health), shutdown.clone()).await?;
    let (health_svc, reflection) = health_and_reflection(grpc_name).await?;
    let (grpc, incoming) = bind(grpc_addr).await?;
    let grpc_task = tokio::spawn(async move {
        let r = tonic::transport::Server::builder()
            .trace_fn(server_span)
            .add_service(health_svc)
            .add_service(reflection)
            .add_service(svc)
            .serve_with_incoming_shutdown(incoming, async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "grpc server failed");
        }
    });
    Ok(Serving {
        grpc,
        http,
        tasks: vec![http_task, grpc_task],
    })
}

//! Telemetry: one sync is one trace across the four services (exported over OTLP to a small
//! receiver of our own), and every service serves gRPC health and reflection and Prometheus
//! metrics.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use marketsync_e2e::System;
use marketsync_simulators::bigcommerce::SimConfig;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use serde_json::json;

use crate::SYNC_TIMEOUT;

/// (service name, trace id hex, span name)
type Spans = Arc<Mutex<Vec<(String, String, String)>>>;

struct Receiver(Spans);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut out = self.0.lock().unwrap();
        for rs in req.into_inner().resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref()?.value.clone())
                .map(|v| match v {
                    AnyValue::StringValue(s) => s,
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    let trace: String = span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                    out.push((service.clone(), trace, span.name));
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sync_is_one_trace_across_the_services() -> anyhow::Result<()> {
    let spans: Spans = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let svc = TraceServiceServer::new(Receiver(spans.clone()));
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(tokio_stream_listener(listener))
            .await;
    });
    let endpoint = format!("http://{addr}");
    let sys = System::start_with(
        "telemetry",
        SimConfig {
            products: 12,
            ..SimConfig::default()
        },
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    )
    .await?;
    let conn = sys.connect_bigcommerce("shop", json!({})).await?;
    let sync = sys.sync(conn["id"].as_str().unwrap(), json!({})).await?;
    let run = sys.wait_sync(&sync, SYNC_TIMEOUT).await?;
    assert_eq!(run["status"], "completed", "{run}");

    // The trace of the sync request reaches all four services.
    let services = sys
        .eventually(
            "spans of the four services in one trace",
            Duration::from_secs(30),
            || {
                let spans = spans.clone();
                async move {
                    let spans = spans.lock().unwrap().clone();
                    // The sync request's trace is the one every service took part in.
                    let mut by_trace: std::collections::BTreeMap<String, Vec<String>> =
                        Default::default();
                    for (service, trace, _) in &spans {
                        by_trace
                            .entry(trace.clone())
                            .or_default()
                            .push(service.clone());
                    }
                    let Some(mut services) = by_trace.into_values().max_by_key(|s| {
                        let mut d = s.clone();
                        d.sort();
                        d.dedup();
                        d.len()
                    }) else {
                        return Ok(None);
                    };
                    services.sort();
                    services.dedup();
                    Ok((services.len() == 4).then_some(services))
                }
            },
        )
        .await;
    let all = spans.lock().unwrap().clone();
    let services = services.map_err(|e| anyhow::anyhow!("{e}; spans: {all:?}"))?;
    assert_eq!(
        services,
        [
            "marketsync-connector",
            "marketsync-gateway",
            "marketsync-knowledge",
            "marketsync-monitor"
        ]
    );
    sys.stop().await;
    Ok(())
}

fn tokio_stream_listener(
    l: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(l, |l| async move {
        let r = l.accept().await.map(|(s, _)| s);
        Some((r, l))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_serves_health_reflection_and_metrics() -> anyhow::Result<()> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let sys = System::start(
        "health",
        SimConfig {
            products: 4,
            ..SimConfig::default()
        },
    )
    .await?;
    for (svc, grpc_name) in [
        ("CONNECTOR", "marketsync.v1.ConnectorService"),
        ("MONITOR", "marketsync.v1.MonitorService"),
        ("KNOWLEDGE", "marketsync.v1.KnowledgeService"),
    ] {
        let url = sys
            .env(&format!("MARKETSYNC_{svc}_GRPC_URL"))
            .unwrap()
            .to_string();
        let channel = tonic::transport::Endpoint::from_shared(url.clone())?
            .connect()
            .await?;
        let health = HealthClient::new(channel.clone())
            .check(HealthCheckRequest {
                service: grpc_name.into(),
            })
            .await?
            .into_inner();
        assert_eq!(health.status, 1, "{svc} not SERVING");
        let req = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut stream = ServerReflectionClient::new(channel)
            .server_reflection_info(futures::stream::iter([req]))
            .await?
            .into_inner();
        let resp = stream.message().await?.expect("a reflection answer");
        let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
            panic!("unexpected reflection answer from {svc}");
        };
        assert!(
            list.service.iter().any(|s| s.name == grpc_name),
            "{svc}: {list:?}"
        );

        let http = sys.env(&format!("MARKETSYNC_{svc}_HTTP_ADDR")).unwrap();
        for path in ["healthz", "readyz"] {
            let r = sys.http.get(format!("http://{http}/{path}")).send().await?;
            assert_eq!(r.status(), 200, "{svc} /{path}");
        }
        let metrics = sys
            .http
            .get(format!("http://{http}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        let prefix = format!("marketsync_{}_", svc.to_lowercase());
        assert!(metrics.contains(&prefix), "{svc} metrics: {metrics}");
    }
    let metrics = sys
        .http
        .get(format!("{}/metrics", sys.gateway))
        .send()
        .await?;
    assert_eq!(metrics.status(), 200);
    sys.stop().await;
    Ok(())
}

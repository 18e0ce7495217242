//! The REST routes, their request metrics and tracing spans, pagination and fallbacks.

pub(crate) mod audit;
pub(crate) mod connections;
pub(crate) mod events;
pub(crate) mod issues;
pub(crate) mod knowledge;
pub(crate) mod orders;
pub(crate) mod stock;
pub(crate) mod webhooks;

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use marketsync_common::health::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use serde::Deserialize;
use tracing::Instrument;
use utoipa::IntoParams;

use crate::AppState;
use crate::error::{ApiError, BODY_LIMIT};

/// Default page size.
pub const DEFAULT_LIMIT: i64 = 50;
/// Largest page size.
pub const MAX_LIMIT: i64 = 500;

/// Pagination of list endpoints.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Items per page (default 50, at most 500).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
}

impl Page {
    /// `(limit, offset)` with defaults applied and bounds checked.
    pub fn resolve(&self) -> Result<(i64, i64), ApiError> {
        page(self.limit, self.offset)
    }
}

/// `(limit, offset)` from optional query values: limit defaults to 50 and is capped at 500.
pub fn page(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if limit < 1 {
        return Err(ApiError::invalid("limit must be at least 1"));
    }
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid("offset must not be negative"));
    }
    if offset > i64::from(i32::MAX) {
        return Err(ApiError::invalid("offset is too large"));
    }
    Ok((limit.min(MAX_LIMIT), offset))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteOnly {
    method: String,
    route: String,
}

type HistogramFamily = Family<RouteOnly, Histogram, fn() -> Histogram>;

/// HTTP request metrics of the gateway.
#[derive(Clone)]
pub(crate) struct HttpMetrics {
    requests: Family<RouteLabels, Counter>,
    duration: HistogramFamily,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.002, 2.0, 14))
}

impl HttpMetrics {
    pub(crate) fn new(metrics: &Metrics) -> Self {
        let requests = Family::<RouteLabels, Counter>::default();
        let duration: HistogramFamily = Family::new_with_constructor(duration_histogram);
        metrics.register(
            "http_requests",
            "REST requests by route and status",
            requests.clone(),
        );
        metrics.register(
            "http_request_duration_seconds",
            "REST request latency by route",
            duration.clone(),
        );
        Self { requests, duration }
    }
}

/// Span, log line and metrics of each matched request.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let span = tracing::info_span!(
        "http",
        method = %method,
        route = %route,
        key_prefix = tracing::field::Empty,
        tenant = tracing::field::Empty,
    );
    marketsync_common::telemetry::link_http(&span, req.headers());
    let start = Instant::now();
    let resp = next.run(req).instrument(span.clone()).await;
    let elapsed = start.elapsed();
    let status = resp.status().as_u16();
    state
        .http
        .requests
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
            status,
        })
        .inc();
    state
        .http
        .duration
        .get_or_create(&RouteOnly { method, route })
        .observe(elapsed.as_secs_f64());
    let _enter = span.enter();
    let ms = elapsed.as_millis() as u64;
    if status >= 500 {
        tracing::warn!(status, duration_ms = ms, "request failed");
    } else {
        tracing::debug!(status, duration_ms = ms, "request served");
    }
    resp
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> Response {
    let mut e = ApiError::invalid("method not allowed on this route");
    e.status = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    e.code = "method_not_allowed";
    e.into_response()
}

async fn openapi_json() -> impl IntoResponse {
    axum::Json(crate::openapi::document())
}

/// Every REST route of DESIGN.md (the health routes are merged in by the caller).
pub(crate) fn router(state: AppState) -> Router {
    use axum::routing::patch;
    Router::new()
        .route("/api/v1/openapi.json", get(openapi_json))
        .route("/api/v1/platforms", get(connections::list_platforms))
        .route(
            "/api/v1/connections",
            get(connections::list_connections).post(connections::create_connection),
        )
        .route(
            "/api/v1/connections/{id}",
            get(connections::get_connection)
                .patch(connections::update_connection)
                .delete(connections::delete_connection),
        )
        .route(
            "/api/v1/connections/{id}/test",
            post(connections::test_connection),
        )
        .route(
            "/api/v1/connections/{id}/sync",
            post(connections::request_sync),
        )
        .route(
            "/api/v1/connections/{id}/syncs",
            get(connections::list_syncs),
        )
        .route("/api/v1/syncs/{id}", get(connections::get_sync))
        .route(
            "/api/v1/connections/{id}/webhooks",
            post(webhooks::register),
        )
        .route(
            "/api/v1/webhooks/{connection_id}",
            post(webhooks::receive).get(webhooks::challenge),
        )
        .route("/api/v1/connections/{id}/orders", get(orders::list_orders))
        .route(
            "/api/v1/connections/{id}/orders/{order_id}",
            get(orders::get_order),
        )
        .route(
            "/api/v1/connections/{id}/orders/{order_id}/shipments",
            post(orders::ship_order),
        )
        .route("/api/v1/stock", get(stock::list_stock))
        .route("/api/v1/stock/adjustments", post(stock::adjust))
        .route("/api/v1/stock/warehouses", get(stock::list_warehouses))
        .route("/api/v1/stock/warehouses/{code}", put(stock::set_warehouse))
        .route("/api/v1/stock/{sku}/history", get(stock::sku_history))
        .route(
            "/api/v1/connections/{id}/consistency",
            get(stock::consistency),
        )
        .route("/api/v1/connections/{id}/backups", get(stock::list_backups))
        .route("/api/v1/backups/{id}/restore", post(stock::restore_backup))
        .route("/api/v1/issues", get(issues::list_issues))
        .route("/api/v1/issues/{id}", get(issues::get_issue))
        .route("/api/v1/issues/{id}/decision", post(issues::decide))
        .route("/api/v1/corrections", get(issues::list_corrections))
        .route(
            "/api/v1/corrections/{id}/undo",
            post(issues::undo_correction),
        )
        .route("/api/v1/knowledge/patterns", get(knowledge::list_patterns))
        .route("/api/v1/knowledge/rules", get(knowledge::list_rules))
        .route(
            "/api/v1/knowledge/rules/{id}",
            patch(knowledge::update_rule),
        )
        .route(
            "/api/v1/knowledge/decisions",
            get(knowledge::list_decisions),
        )
        .route("/api/v1/knowledge/export", get(knowledge::export_rules))
        .route("/api/v1/knowledge/import", post(knowledge::import_rules))
        .route("/api/v1/stats", get(knowledge::stats))
        .route("/api/v1/events", get(events::events))
        .route("/api/v1/audit", get(audit::list_audit))
        .route_layer(middleware::from_fn_with_state(state.clone(), observe))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Liveness (served by the shared health router; documented here).
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "alive", body = String, content_type = "text/plain")))]
#[allow(dead_code)]
pub(crate) async fn healthz() {}

/// Readiness: the database and NATS answer (served by the shared health router).
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses(
        (status = 200, description = "ready", body = String, content_type = "text/plain"),
        (status = 503, description = "a dependency is down", body = String, content_type = "text/plain"),
    ))]
#[allow(dead_code)]
pub(crate) async fn readyz() {}

/// Prometheus metrics (served by the shared health router).
#[utoipa::path(get, path = "/metrics", tag = "health", security(()),
    responses((status = 200, description = "OpenMetrics text", body = String,
        content_type = "application/openmetrics-text")))]
#[allow(dead_code)]
pub(crate) async fn metrics() {}

/// This OpenAPI document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "the OpenAPI 3.1 document", body = Object)))]
#[allow(dead_code)]
pub(crate) async fn openapi() {}

//! Platform webhooks: received at a per-connection URL (no API key: the platform signs the call
//! and the connector service checks the signature with the connection's own secret), and
//! registered on the platform by an operator.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header;
use axum::response::IntoResponse;
use marketsync_proto::v1::{
    ReceiveWebhookRequest, RegisterWebhooksRequest, WebhookChallengeRequest,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::AppState;
use crate::audit::{self, Change};
use crate::auth::Operator;
use crate::error::{ApiError, ApiPath, ApiResult, ErrorBody, OptionalJson};

const CONNECTOR: &str = "connector";

/// What the gateway answers a platform's webhook call.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhookAccepted {
    /// The platform's delivery id.
    pub delivery_id: String,
    /// The platform's topic.
    pub topic: String,
    /// True when the delivery was received before (nothing new was started).
    pub duplicate: bool,
    /// The sync that re-reads the records the webhook named (absent for a duplicate).
    pub sync_id: Option<String>,
}

/// Receives a platform's webhook call for a connection: signature verified, replays refused,
/// duplicates acknowledged and ignored, the records it names synced.
#[utoipa::path(post, path = "/api/v1/webhooks/{connection_id}", tag = "webhooks",
    params(("connection_id" = String, Path, description = "connection id")),
    request_body(content = String, description = "the platform's webhook payload, as sent", content_type = "application/json"),
    responses(
        (status = 200, description = "accepted (or a duplicate, acknowledged)", body = WebhookAccepted),
        (status = 400, description = "not a webhook this platform sends", body = ErrorBody),
        (status = 401, description = "forged, altered or replayed call", body = ErrorBody),
        (status = 404, description = "no such connection", body = ErrorBody),
        (status = 409, description = "the platform has no webhooks", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ),
    security(()))]
pub(crate) async fn receive(
    State(state): State<AppState>,
    ApiPath(connection_id): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<WebhookAccepted>> {
    if uuid::Uuid::parse_str(&connection_id).is_err() {
        return Err(ApiError::not_found("connection not found"));
    }
    let headers: HashMap<String, String> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let resp = state
        .connector
        .clone()
        .receive_webhook(ReceiveWebhookRequest {
            connection_id,
            headers,
            body: body.to_vec(),
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner();
    Ok(Json(WebhookAccepted {
        delivery_id: resp.delivery_id,
        topic: resp.topic,
        duplicate: resp.duplicate,
        sync_id: (!resp.sync_id.is_empty()).then_some(resp.sync_id),
    }))
}

/// Answers a platform's check that this URL is the subscriber's (eBay's `challenge_code`
/// GET: the answer is the SHA-256 of the code, the connection's verification token and this
/// endpoint). The endpoint is `$MARKETSYNC_PUBLIC_URL/api/v1/webhooks/{id}` when that is set,
/// else built from the request's Host.
#[utoipa::path(get, path = "/api/v1/webhooks/{connection_id}", tag = "webhooks",
    params(("connection_id" = String, Path, description = "connection id"),
           ("challenge_code" = Option<String>, Query, description = "the platform's challenge")),
    responses(
        (status = 200, description = "the challenge answered", body = Object),
        (status = 400, description = "not a challenge this platform sends", body = ErrorBody),
        (status = 404, description = "no such connection", body = ErrorBody),
        (status = 409, description = "the platform has no webhook challenge", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ),
    security(()))]
pub(crate) async fn challenge(
    State(state): State<AppState>,
    ApiPath(connection_id): ApiPath<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<axum::response::Response> {
    if uuid::Uuid::parse_str(&connection_id).is_err() {
        return Err(ApiError::not_found("connection not found"));
    }
    let path = format!("/api/v1/webhooks/{connection_id}");
    let endpoint = match marketsync_common::config::var("MARKETSYNC_PUBLIC_URL") {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}{path}")
        }
    };
    let resp = state
        .connector
        .clone()
        .answer_webhook_challenge(WebhookChallengeRequest {
            connection_id,
            query,
            endpoint,
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner();
    Ok(([(header::CONTENT_TYPE, resp.content_type)], resp.body).into_response())
}

/// Where the platform should send webhooks.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct RegisterWebhooks {
    /// Public URL of this gateway's webhook route for the connection; default
    /// `$MARKETSYNC_PUBLIC_URL/api/v1/webhooks/{id}`.
    pub url: Option<String>,
}

/// The subscriptions made.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebhooksRegistered {
    /// The URL the platform will call.
    pub url: String,
    /// The platform topics subscribed.
    pub topics: Vec<String>,
}

/// Subscribes the platform's product, stock and order notifications to this gateway
/// (operator; idempotent).
#[utoipa::path(post, path = "/api/v1/connections/{id}/webhooks", tag = "webhooks",
    params(("id" = String, Path, description = "connection id")),
    request_body(content = Option<RegisterWebhooks>, description = "optional; the URL defaults to MARKETSYNC_PUBLIC_URL"),
    responses(
        (status = 200, description = "subscribed", body = WebhooksRegistered),
        (status = 400, description = "no URL given and MARKETSYNC_PUBLIC_URL unset", body = ErrorBody),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 403, description = "the key's role does not allow this", body = ErrorBody),
        (status = 404, description = "not found, or another tenant's", body = ErrorBody),
        (status = 409, description = "the platform has no webhooks", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn register(
    State(state): State<AppState>,
    Operator(caller): Operator,
    ApiPath(id): ApiPath<String>,
    OptionalJson(body): OptionalJson<RegisterWebhooks>,
) -> ApiResult<Json<WebhooksRegistered>> {
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(ApiError::not_found("connection not found"));
    }
    let url = match body.url {
        Some(u) => u,
        None => match marketsync_common::config::var("MARKETSYNC_PUBLIC_URL") {
            Some(base) => format!("{}/api/v1/webhooks/{id}", base.trim_end_matches('/')),
            None => {
                return Err(ApiError::invalid(
                    "give `url`, or set MARKETSYNC_PUBLIC_URL to the gateway's public address",
                ));
            }
        },
    };
    let resp = state
        .connector
        .clone()
        .register_webhooks(RegisterWebhooksRequest {
            tenant_id: caller.tenant(),
            connection_id: id.clone(),
            url: url.clone(),
        })
        .await
        .map_err(ApiError::grpc(CONNECTOR))?
        .into_inner();
    audit::record_after(
        &state.pool,
        &caller.actor(),
        Change {
            tenant_id: caller.tenant_id,
            action: "connection.webhooks",
            target_type: "connection",
            target_id: id.clone(),
            before: None,
            after: Some(json!({ "url": url, "topics": resp.topics })),
        },
    )
    .await;
    Ok(Json(WebhooksRegistered {
        url,
        topics: resp.topics,
    }))
}

//! `GET /api/v1/events`: the caller's tenant's sync, issue and correction events as
//! Server-Sent Events, read from JetStream with ordered (ephemeral) consumers that start at new
//! messages.

use std::convert::Infallible;
use std::time::Duration;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::{self, BoxStream, Stream, StreamExt};
use marketsync_proto::v1::{Correction, IssueBatch, SyncEvent};
use prost::Message;
use serde_json::json;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};

/// Interval of keep-alive comments.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// (stream family, subject token) of the families streamed.
const FAMILIES: [(&str, &str); 3] = [
    ("SYNC", "sync"),
    ("ISSUES", "issues"),
    ("CORRECTIONS", "corrections"),
];

fn bus_unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::service_unavailable("message bus", e)
}

/// Turns one JetStream message into an SSE event named after its subject
/// (`sync.progress`, `issues.detected`, `corrections.applied`, …) with the payload as JSON.
fn to_event(prefix: &str, msg: &async_nats::jetstream::Message) -> Option<Event> {
    let rest = msg
        .subject
        .as_str()
        .strip_prefix(prefix)?
        .strip_prefix('.')?;
    let family = rest.split('.').next()?;
    let kind = rest.rsplit('.').next()?;
    let payload = msg.payload.as_ref();
    let data = match family {
        "sync" => serde_json::to_string(&SyncEvent::decode(payload).ok()?),
        "issues" => serde_json::to_string(&IssueBatch::decode(payload).ok()?),
        "corrections" => serde_json::to_string(&Correction::decode(payload).ok()?),
        _ => return None,
    }
    .ok()?;
    let name = format!("{family}.{kind}");
    if name.contains(['\n', '\r']) {
        return None;
    }
    let mut event = Event::default().event(name).data(data);
    if let Some(id) = marketsync_common::bus::event_id(msg)
        && !id.contains(['\n', '\r', '\0'])
    {
        event = event.id(id);
    }
    Some(event)
}

/// Live events of the caller's tenant: `sync.started|progress|completed|failed` (a SyncEvent),
/// `issues.detected|resolved` (an IssueBatch), `corrections.proposed|applied|failed|undone` (a
/// Correction). A first `ready` event says the subscription is in place; a keep-alive comment
/// follows every 15 s of silence.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    responses(
        (status = 200, description = "text/event-stream of `event: <family>.<kind>` with JSON \
            data: SyncEvent, IssueBatch or Correction", body = String,
            content_type = "text/event-stream"),
        (status = 401, description = "missing, unknown or revoked API key", body = ErrorBody),
        (status = 503, description = "a service behind the gateway is unavailable; retry later", body = ErrorBody),
    ))]
pub(crate) async fn events(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let tenant = caller.tenant();
    let bus = &state.bus;
    let mut sources: Vec<BoxStream<'static, Option<Event>>> = Vec::new();
    for (family, token) in FAMILIES {
        let js_stream = bus
            .js
            .get_stream(bus.stream_name(family))
            .await
            .map_err(bus_unavailable)?;
        let consumer = js_stream
            .create_consumer(OrderedConfig {
                filter_subject: bus.subject(&[token, &tenant, ">"]),
                deliver_policy: DeliverPolicy::New,
                ..Default::default()
            })
            .await
            .map_err(bus_unavailable)?;
        let messages = consumer.messages().await.map_err(bus_unavailable)?;
        let prefix = bus.prefix().to_string();
        sources.push(
            messages
                .map(move |m| match m {
                    Ok(msg) => {
                        let event = to_event(&prefix, &msg);
                        if event.is_none() {
                            tracing::warn!(subject = %msg.subject, "undecodable event skipped");
                        }
                        event
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "event stream error");
                        None
                    }
                })
                .boxed(),
        );
    }
    tracing::info!(tenant = %tenant, key_prefix = %caller.key_prefix, "event stream opened");
    let ready = Event::default()
        .event("ready")
        .data(json!({ "tenant_id": tenant }).to_string());
    let live = stream::select_all(sources).filter_map(|e| async move { e });
    let events = stream::once(async move { ready })
        .chain(live)
        .map(Ok::<_, Infallible>)
        // Ends the stream at shutdown so the server can drain.
        .take_until(state.shutdown.clone().cancelled_owned());
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")))
}

//! A stand-in for the gateway, speaking the parts of its REST and SSE contract (DESIGN.md) that
//! `marketsync sync` and `marketsync health` use, with scripted sync outcomes. It tests the
//! CLI's side of the contract in isolation; the real gateway is exercised by the workspace's
//! end-to-end tests.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// The key the fake gateway accepts.
pub const API_KEY: &str = "msk_test_key";
/// The one connection it knows.
pub const CONNECTION_ID: &str = "0190a7b2-0000-7000-8000-000000000001";

/// How the requested sync goes.
#[derive(Debug, Clone, Copy)]
pub enum Script {
    /// Events: started, progress (and noise), completed.
    Completes,
    /// Events: started, failed.
    Fails,
    /// No events at all; the sync completes on the second poll.
    Silent,
}

struct Inner {
    script: Script,
    events: broadcast::Sender<String>,
    last_sync_request: Mutex<Option<Value>>,
    polls: AtomicUsize,
}

/// A running fake gateway; stops when dropped.
pub struct FakeGateway {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeGateway {
    /// Body of the last POST …/sync.
    pub fn last_sync_request(&self) -> Option<Value> {
        self.inner.last_sync_request.lock().expect("lock").clone()
    }

    /// GET /api/v1/syncs/{id} calls so far.
    pub fn polls(&self) -> usize {
        self.inner.polls.load(Ordering::SeqCst)
    }
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a fake gateway on a free port.
pub async fn start(script: Script) -> FakeGateway {
    let (events, _) = broadcast::channel(64);
    let inner = Arc::new(Inner {
        script,
        events,
        last_sync_request: Mutex::new(None),
        polls: AtomicUsize::new(0),
    });
    let app = Router::new()
        .route("/readyz", get(|| async { "ok" }))
        .route(
            "/unhealthy",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "not ready") }),
        )
        .route("/api/v1/events", get(events_stream))
        .route("/api/v1/connections", get(connections))
        .route("/api/v1/connections/{id}/sync", post(start_sync))
        .route("/api/v1/syncs/{id}", get(get_sync))
        .with_state(inner.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    // Keep-alive comments, as a real SSE server sends them.
    let keepalive = inner.events.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            // No receiver yet is fine: the task lives as long as the test's runtime.
            let _ = keepalive.send(": keep-alive\n\n".into());
        }
    });
    FakeGateway { url, inner, task }
}

/// The 401 answer when the request lacks the right key.
fn rejection(headers: &HeaderMap) -> Option<Response> {
    let ok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {API_KEY}"));
    if ok {
        None
    } else {
        Some(
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(
                    json!({"error": {"code": "unauthenticated", "message": "invalid API key"}}),
                ),
            )
                .into_response(),
        )
    }
}

async fn events_stream(State(s): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    if let Some(r) = rejection(&headers) {
        return r;
    }
    let rx = s.events.subscribe();
    let first = futures::stream::once(async { Ok::<_, Infallible>(": connected\n\n".to_string()) });
    let rest = futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(chunk) => return Some((Ok::<_, Infallible>(chunk), rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(first.chain(rest)))
        .expect("response")
}

async fn connections(State(_): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    if let Some(r) = rejection(&headers) {
        return r;
    }
    axum::Json(json!({"items": [
        {"id": CONNECTION_ID, "name": "demo-bigcommerce", "platform": "bigcommerce"}
    ]}))
    .into_response()
}

fn event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn sync_event(sync_id: &str, status: &str, extra: Value) -> Value {
    let mut v = json!({
        "tenant_id": "t-1", "connection_id": CONNECTION_ID, "sync_id": sync_id,
        "status": status, "operation": "", "counts": {}, "errors": [], "done": 0, "total": 0,
        "platform": "bigcommerce"
    });
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, val) in e {
            o.insert(k.clone(), val.clone());
        }
    }
    v
}

async fn start_sync(
    State(s): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    if let Some(r) = rejection(&headers) {
        return r;
    }
    if id != CONNECTION_ID {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": {"message": "no such connection"}})),
        )
            .into_response();
    }
    *s.last_sync_request.lock().expect("lock") = Some(body.0);
    let events = match s.script {
        Script::Completes => vec![
            event("sync.started", sync_event("s-1", "running", json!({}))),
            event(
                "sync.progress",
                sync_event(
                    "other-sync",
                    "running",
                    json!({"operation": "other-sync-op", "done": 1, "total": 2}),
                ),
            ),
            event(
                "sync.progress",
                sync_event(
                    "s-1",
                    "running",
                    json!({"operation": "import_products", "counts": {"imported": 30}, "done": 30, "total": 60}),
                ),
            ),
            event("issue.detected", json!({"tenant_id": "t-1", "issues": []})),
            event(
                "sync.completed",
                sync_event(
                    "s-1",
                    "completed",
                    json!({"counts": {"imported": 60, "failed": 0}, "done": 60, "total": 60}),
                ),
            ),
        ],
        Script::Fails => vec![
            event("sync.started", sync_event("s-1", "running", json!({}))),
            event(
                "sync.failed",
                sync_event(
                    "s-1",
                    "failed",
                    json!({"errors": ["bigcommerce answered 401"]}),
                ),
            ),
        ],
        Script::Silent => vec![],
    };
    let tx = s.events.clone();
    tokio::spawn(async move {
        for e in events {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = tx.send(e);
        }
    });
    (StatusCode::ACCEPTED, axum::Json(json!({"sync_id": "s-1"}))).into_response()
}

async fn get_sync(
    State(s): State<Arc<Inner>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = rejection(&headers) {
        return r;
    }
    if id != "s-1" {
        return StatusCode::NOT_FOUND.into_response();
    }
    let n = s.polls.fetch_add(1, Ordering::SeqCst) + 1;
    let body = if n < 2 {
        json!({"status": "running", "counts": {"imported": 3}, "errors": [], "started_at": "2024-01-01T00:00:00Z", "finished_at": null})
    } else {
        json!({"status": "completed", "counts": {"imported": 7}, "errors": [], "started_at": "2024-01-01T00:00:00Z", "finished_at": "2024-01-01T00:00:05Z"})
    };
    axum::Json(body).into_response()
}

//! `marketsync sync`: start a sync through the gateway and follow it to its end.
//!
//! The event stream is opened *before* the sync is requested so that no event of it can be
//! missed; events of other syncs are ignored. While the stream is silent for `--poll-after`
//! seconds (or closed, or refused), the sync's status is polled every second instead.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::api::{Api, list_items};
use crate::cli::SyncArgs;
use crate::sse::{SseEvent, SseParser};

/// Consecutive failed polls after which we give up.
const MAX_POLL_FAILURES: u32 = 30;

/// Where a sync stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Queued or started.
    Started,
    /// Running, with progress.
    Progress,
    /// Ended well.
    Completed,
    /// Ended with errors.
    Failed,
}

impl Phase {
    /// From an SSE event name (`sync.completed`…) or a status (`completed`, `running`…).
    fn parse(s: &str) -> Option<Self> {
        match s.trim().trim_start_matches("sync.") {
            "queued" | "started" | "pending" => Some(Self::Started),
            "progress" | "running" => Some(Self::Progress),
            "completed" | "succeeded" | "success" | "done" => Some(Self::Completed),
            "failed" | "error" | "cancelled" | "canceled" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// What we know of the sync after an event or a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncUpdate {
    /// The sync it is about (empty when a poll answer does not repeat it).
    pub sync_id: String,
    /// Phase.
    pub phase: Phase,
    /// Operation running (e.g. `import_products`), if said.
    pub operation: String,
    /// Counters (e.g. `imported`, `failed`).
    pub counts: BTreeMap<String, i64>,
    /// Error messages.
    pub errors: Vec<String>,
    /// Items done of `total`.
    pub done: i64,
    /// Items in all (0 when unknown).
    pub total: i64,
}

impl SyncUpdate {
    /// Reads a `SyncEvent` JSON (an SSE `data:`) or a sync resource (a poll answer); `phase`
    /// comes from `hint` (the SSE event name) when given, else from the `status` field.
    pub fn from_json(v: &Value, hint: Option<&str>) -> Option<Self> {
        // Tolerate an envelope such as {"type": …, "data": {…}}.
        let v = if v.get("sync_id").is_some() {
            v
        } else {
            v.get("data")
                .or_else(|| v.get("payload"))
                .filter(|d| d.get("sync_id").is_some())
                .unwrap_or(v)
        };
        let status = v.get("status").and_then(Value::as_str).unwrap_or_default();
        let phase = hint
            .and_then(Phase::parse)
            .or_else(|| Phase::parse(status))?;
        let text = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let counts = v
            .get("counts")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, n)| int(n).map(|n| (k.clone(), n)))
                    .collect()
            })
            .unwrap_or_default();
        let errors = v
            .get("errors")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(error_text).collect())
            .unwrap_or_default();
        let sync_id = match text("sync_id") {
            s if !s.is_empty() => s,
            _ => text("id"),
        };
        Some(Self {
            sync_id,
            phase,
            operation: text("operation"),
            counts,
            errors,
            done: v.get("done").and_then(int).unwrap_or(0),
            total: v.get("total").and_then(int).unwrap_or(0),
        })
    }

    /// `import_products imported=40 failed=1`.
    pub fn summary(&self) -> String {
        let counts = format_counts(&self.counts);
        match (self.operation.is_empty(), counts.is_empty()) {
            (true, _) => counts,
            (false, true) => self.operation.clone(),
            (false, false) => format!("{} {counts}", self.operation),
        }
    }
}

/// An integer from a JSON number or numeric string (proto3 JSON writes int64 as strings).
fn int(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// One error of a sync as text: a string, or an object's `message` (with its `sku`).
fn error_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let msg = o
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            match o.get("sku").and_then(Value::as_str) {
                Some(sku) if !sku.is_empty() => format!("{sku}: {msg}"),
                _ => msg,
            }
        }
        other => other.to_string(),
    }
}

/// `a=1 b=2`, in key order.
pub fn format_counts(counts: &BTreeMap<String, i64>) -> String {
    counts
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Shows progress: a bar on a terminal, plain lines otherwise.
enum View {
    Bar(ProgressBar),
    Lines { last: String },
}

impl View {
    fn new(sync_id: &str) -> Self {
        if !std::io::stdout().is_terminal() {
            return Self::Lines {
                last: String::new(),
            };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
        if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_msg}")
        {
            bar.set_style(style);
        }
        bar.set_message(format!("sync {sync_id} queued"));
        bar.enable_steady_tick(Duration::from_millis(120));
        Self::Bar(bar)
    }

    fn update(&mut self, u: &SyncUpdate) {
        match self {
            Self::Bar(bar) => {
                if u.total > 0 {
                    if bar.length().is_none()
                        && let Ok(style) = ProgressStyle::with_template(
                            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
                        )
                    {
                        bar.set_style(style);
                    }
                    bar.set_length(u64::try_from(u.total).unwrap_or(0));
                    bar.set_position(u64::try_from(u.done.max(0)).unwrap_or(0));
                }
                let summary = u.summary();
                bar.set_message(if summary.is_empty() {
                    "running".to_string()
                } else {
                    summary
                });
            }
            Self::Lines { last } => {
                let mut line = match u.phase {
                    Phase::Started => "started".to_string(),
                    _ => "progress".to_string(),
                };
                if u.total > 0 {
                    line.push_str(&format!(" {}/{}", u.done, u.total));
                }
                let summary = u.summary();
                if !summary.is_empty() {
                    line.push(' ');
                    line.push_str(&summary);
                }
                if *last != line {
                    println!("{line}");
                    *last = line;
                }
            }
        }
    }

    fn finish(&self) {
        if let Self::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// Runs the command: exit 0 when the sync completes, 1 when it fails.
pub async fn run(args: SyncArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.api.api_url, &args.api.api_key)?;
    let connection = resolve_connection(&api, &args.connection).await?;

    let (tx, mut rx) = mpsc::unbounded_channel::<SseEvent>();
    let reader = match api.stream("/api/v1/events").await {
        Ok(resp) => Some(tokio::spawn(read_events(resp, tx))),
        Err(e) => {
            eprintln!("warning: cannot open the event stream ({e:#}); polling the sync instead");
            None
        }
    };
    let mut stream_open = reader.is_some();

    let mut body = json!({});
    if !args.operations.is_empty() {
        body["operations"] = json!(
            args.operations
                .iter()
                .map(|o| o.as_str())
                .collect::<Vec<_>>()
        );
    }
    if args.full {
        body["force_full"] = json!(true);
    }
    let mut filters = json!({});
    if !args.skus.is_empty() {
        filters["skus"] = json!(args.skus);
    }
    if let Some(since) = &args.since {
        filters["since"] = json!(since);
    }
    if let Some(until) = &args.until {
        filters["until"] = json!(until);
    }
    if filters.as_object().is_some_and(|f| !f.is_empty()) {
        body["filters"] = filters;
    }
    let path = format!("/api/v1/connections/{connection}/sync");
    let started: Value = api
        .post(&path, &body)
        .await
        .context("cannot start the sync")?;
    let sync_id = started
        .get("sync_id")
        .or_else(|| started.get("id"))
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("the gateway accepted the sync but returned no sync_id"))?
        .to_string();
    eprintln!("sync {sync_id} started for connection {connection}");

    let mut view = View::new(&sync_id);
    let poll_after = Duration::from_secs(args.poll_after);
    let mut last_event = Instant::now();
    let mut poll_failures = 0u32;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let outcome = loop {
        tokio::select! {
            ev = rx.recv(), if stream_open => match ev {
                Some(ev) => {
                    let Some(u) = parse_event(&ev) else { continue };
                    if u.sync_id != sync_id {
                        continue;
                    }
                    last_event = Instant::now();
                    match u.phase {
                        Phase::Completed | Phase::Failed => break u,
                        _ => view.update(&u),
                    }
                }
                None => stream_open = false,
            },
            _ = ticker.tick() => {
                if stream_open && last_event.elapsed() < poll_after {
                    continue;
                }
                match api.get::<Value>(&format!("/api/v1/syncs/{sync_id}")).await {
                    Ok(v) => {
                        poll_failures = 0;
                        if let Some(mut u) = SyncUpdate::from_json(&v, None) {
                            u.sync_id.clone_from(&sync_id);
                            match u.phase {
                                Phase::Completed | Phase::Failed => break u,
                                _ => view.update(&u),
                            }
                        }
                    }
                    Err(e) => {
                        poll_failures += 1;
                        if poll_failures >= MAX_POLL_FAILURES {
                            view.finish();
                            return Err(e.context(format!(
                                "cannot follow sync {sync_id}; check it later with GET /api/v1/syncs/{sync_id}"
                            )));
                        }
                    }
                }
            }
        }
    };
    view.finish();
    if let Some(r) = reader {
        r.abort();
    }
    Ok(report(&outcome))
}

/// Prints the outcome; the exit code.
fn report(u: &SyncUpdate) -> ExitCode {
    let counts = format_counts(&u.counts);
    if u.phase == Phase::Completed {
        if counts.is_empty() {
            println!("sync {} completed", u.sync_id);
        } else {
            println!("sync {} completed: {counts}", u.sync_id);
        }
        for e in &u.errors {
            println!("  warning: {e}");
        }
        ExitCode::SUCCESS
    } else {
        if counts.is_empty() {
            println!("sync {} failed", u.sync_id);
        } else {
            println!("sync {} failed: {counts}", u.sync_id);
        }
        for e in &u.errors {
            println!("  error: {e}");
        }
        ExitCode::FAILURE
    }
}

/// A sync update from an SSE event of the gateway's stream; `None` for other kinds of events.
pub fn parse_event(ev: &SseEvent) -> Option<SyncUpdate> {
    let named = ev.event.starts_with("sync.");
    if !named && ev.event != "message" {
        return None; // issue and correction events
    }
    let v: Value = serde_json::from_str(&ev.data).ok()?;
    SyncUpdate::from_json(&v, named.then_some(ev.event.as_str()))
}

/// Feeds the SSE events of `resp` into `tx` until the stream or the receiver ends.
async fn read_events(mut resp: reqwest::Response, tx: mpsc::UnboundedSender<SseEvent>) {
    let mut parser = SseParser::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        for ev in parser.push(&chunk) {
            if tx.send(ev).is_err() {
                return;
            }
        }
    }
}

/// The id of a connection given by id or by name.
pub async fn resolve_connection(api: &Api, connection: &str) -> anyhow::Result<String> {
    let wanted = connection.trim();
    if Uuid::parse_str(wanted).is_ok() {
        return Ok(wanted.to_string());
    }
    let list: Value = api
        .get("/api/v1/connections")
        .await
        .context("cannot look the connection up by name")?;
    let items = list_items(&list);
    if let Some(id) = items
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(wanted))
        .and_then(|c| c.get("id"))
        .and_then(Value::as_str)
    {
        return Ok(id.to_string());
    }
    let names: Vec<&str> = items
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    if names.is_empty() {
        bail!("no connection named {wanted:?} (this API key sees no connections)");
    }
    bail!(
        "no connection named {wanted:?}; the connections are: {}",
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: &str, data: &str) -> SseEvent {
        SseEvent {
            event: name.into(),
            data: data.into(),
            id: None,
        }
    }

    #[test]
    fn progress_event() {
        let u = parse_event(&ev(
            "sync.progress",
            r#"{"tenant_id":"t","connection_id":"c","sync_id":"s1","status":"running",
                "operation":"import_products","counts":{"imported":"40","failed":1},
                "errors":[],"done":40,"total":60,"platform":"bigcommerce"}"#,
        ))
        .expect("update");
        assert_eq!(u.phase, Phase::Progress);
        assert_eq!(u.sync_id, "s1");
        assert_eq!((u.done, u.total), (40, 60));
        assert_eq!(u.summary(), "import_products failed=1 imported=40");
    }

    #[test]
    fn terminal_events_and_others() {
        let done =
            parse_event(&ev("sync.completed", r#"{"sync_id":"s","counts":{}}"#)).expect("update");
        assert_eq!(done.phase, Phase::Completed);
        let failed = parse_event(&ev(
            "sync.failed",
            r#"{"sync_id":"s","errors":["401 from platform",{"sku":"A","message":"bad"}]}"#,
        ))
        .expect("update");
        assert_eq!(failed.phase, Phase::Failed);
        assert_eq!(failed.errors, vec!["401 from platform", "A: bad"]);
        assert!(parse_event(&ev("issue.detected", r#"{"sync_id":"s"}"#)).is_none());
        assert!(parse_event(&ev("sync.progress", "not json")).is_none());
        // Unnamed events fall back to the status field.
        let u =
            parse_event(&ev("message", r#"{"sync_id":"s","status":"failed"}"#)).expect("update");
        assert_eq!(u.phase, Phase::Failed);
    }

    #[test]
    fn poll_answers() {
        let v = serde_json::json!({"id": "s", "status": "completed", "counts": {"imported": 3},
            "errors": [], "started_at": "x", "finished_at": "y"});
        let u = SyncUpdate::from_json(&v, None).expect("update");
        assert_eq!(u.phase, Phase::Completed);
        assert_eq!(u.sync_id, "s");
        assert_eq!(format_counts(&u.counts), "imported=3");
        let queued =
            SyncUpdate::from_json(&serde_json::json!({"status": "queued"}), None).expect("update");
        assert_eq!(queued.phase, Phase::Started);
    }
}

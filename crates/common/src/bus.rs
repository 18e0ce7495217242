//! NATS JetStream: streams and durable pull consumers created idempotently, events published
//! with CloudEvents headers, `Nats-Msg-Id` and W3C trace context, and a consumer loop that acks
//! after the handler's side effect committed, NAKs with backoff on transient errors and
//! terminates (and dead-letters) poison messages.

use std::future::Future;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer::PullConsumer, stream};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::health::Metrics;

/// The stream families: (suffix of the stream name, subject token after the prefix).
pub const FAMILIES: &[(&str, &str)] = &[
    ("CMD", "cmd"),
    ("RECORDS", "records"),
    ("SYNC", "sync"),
    ("ISSUES", "issues"),
    ("CORRECTIONS", "corrections"),
    ("ORDERS", "orders"),
    ("STOCK", "stock"),
    ("DEADLETTER", "deadletter"),
];

/// A connection to NATS with JetStream and the subject prefix.
#[derive(Clone)]
pub struct Bus {
    /// Core client.
    pub client: async_nats::Client,
    /// JetStream context.
    pub js: jetstream::Context,
    prefix: String,
    source: String,
}

/// What a handler asks the consumer loop to do with a message.
#[derive(Debug)]
pub enum HandlerError {
    /// Retry later (database or dependency down); NAK with delay.
    Transient(String),
    /// Will never succeed (undecodable, invalid); terminate and dead-letter.
    Poison(String),
}

impl From<crate::Error> for HandlerError {
    fn from(e: crate::Error) -> Self {
        match e.code {
            crate::ErrorCode::InvalidArgument | crate::ErrorCode::NotFound => {
                HandlerError::Poison(e.message)
            }
            _ => HandlerError::Transient(e.message),
        }
    }
}

impl From<sqlx::Error> for HandlerError {
    fn from(e: sqlx::Error) -> Self {
        HandlerError::Transient(format!("database: {e}"))
    }
}

impl From<prost::DecodeError> for HandlerError {
    fn from(e: prost::DecodeError) -> Self {
        HandlerError::Poison(format!("undecodable payload: {e}"))
    }
}

impl Bus {
    /// Connects to NATS (retrying while the server comes up) with the given subject prefix;
    /// `source` names the publishing service in `ce-source`.
    pub async fn connect(url: &str, prefix: &str, source: &str) -> anyhow::Result<Self> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("marketsync-{source}"))
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to NATS at {url}: {e}"))?;
        let js = jetstream::new(client.clone());
        Ok(Self {
            client,
            js,
            prefix: prefix.to_string(),
            source: format!("/marketsync/{source}"),
        })
    }

    /// The subject prefix (`ms` by default).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>.<parts…>`.
    pub fn subject(&self, parts: &[&str]) -> String {
        let mut s = self.prefix.clone();
        for p in parts {
            s.push('.');
            s.push_str(p);
        }
        s
    }

    /// Name of the stream of a family (`MS_RECORDS`, …).
    pub fn stream_name(&self, family: &str) -> String {
        format!(
            "{}_{}",
            self.prefix.to_uppercase().replace(['.', '-'], "_"),
            family
        )
    }

    /// Creates (or updates) every stream; idempotent, safe at every start.
    pub async fn ensure_streams(&self) -> anyhow::Result<()> {
        for (family, token) in FAMILIES {
            let cfg = stream::Config {
                name: self.stream_name(family),
                subjects: vec![format!("{}.{}.>", self.prefix, token)],
                retention: stream::RetentionPolicy::Limits,
                storage: stream::StorageType::File,
                max_age: Duration::from_secs(7 * 24 * 3600),
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            };
            // Services start together and race to create the same streams: a creation that
            // loses the race fails ("subjects overlap"), and the stream is there on a retry.
            let mut attempt = 0;
            loop {
                match self.js.get_or_create_stream(cfg.clone()).await {
                    Ok(_) => break,
                    Err(_) if attempt < 5 => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                    }
                    Err(e) => anyhow::bail!("cannot create stream {family}: {e}"),
                }
            }
        }
        Ok(())
    }

    /// Headers of an event: CloudEvents attributes, `Nats-Msg-Id` = `ce-id`, trace context.
    pub fn headers(&self, id: &str, ce_type: &str, tenant: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("ce-id", id);
        h.insert("ce-type", ce_type);
        h.insert("ce-source", self.source.as_str());
        h.insert("ce-time", crate::now_rfc3339().as_str());
        h.insert("ce-specversion", "1.0");
        h.insert("ce-tenant", tenant);
        h.insert("content-type", "application/protobuf");
        h.insert("Nats-Msg-Id", id);
        crate::telemetry::inject_nats(&mut h);
        h
    }

    /// Publishes one event and waits for JetStream's ack. `id` makes redeliveries of the same
    /// logical event collapse (JetStream deduplicates on `Nats-Msg-Id`).
    pub async fn publish<M: prost::Message>(
        &self,
        subject: String,
        ce_type: &str,
        tenant: &str,
        id: &str,
        msg: &M,
    ) -> crate::Result<()> {
        self.publish_encoded(subject, ce_type, tenant, id, msg.encode_to_vec().into())
            .await
    }

    /// Publishes an event already encoded (a batch built from records encoded once for the
    /// database and once more for nothing else).
    pub async fn publish_encoded(
        &self,
        subject: String,
        ce_type: &str,
        tenant: &str,
        id: &str,
        payload: bytes::Bytes,
    ) -> crate::Result<()> {
        let headers = self.headers(id, ce_type, tenant);
        let ack = self
            .js
            .publish_with_headers(subject, headers, payload)
            .await
            .map_err(|e| crate::Error::unavailable(format!("nats publish: {e}")))?;
        ack.await
            .map_err(|e| crate::Error::unavailable(format!("nats ack: {e}")))?;
        Ok(())
    }

    /// Publishes many events pipelined (all sent, then all acks awaited).
    pub async fn publish_all<M: prost::Message>(
        &self,
        ce_type: &str,
        tenant: &str,
        events: Vec<(String, String, M)>,
    ) -> crate::Result<()> {
        let mut acks = Vec::with_capacity(events.len());
        for (subject, id, msg) in events {
            let headers = self.headers(&id, ce_type, tenant);
            let ack = self
                .js
                .publish_with_headers(subject, headers, msg.encode_to_vec().into())
                .await
                .map_err(|e| crate::Error::unavailable(format!("nats publish: {e}")))?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await
                .map_err(|e| crate::Error::unavailable(format!("nats ack: {e}")))?;
        }
        Ok(())
    }

    /// A durable pull consumer on a family's stream, created if missing (idempotent).
    ///
    /// One filter is set as `filter_subject`; several as `filter_subjects`, which servers
    /// older than 2.10 ignore, so [`Bus::run`] also checks each message against the filters.
    pub async fn durable(
        &self,
        family: &str,
        name: &str,
        filter_subjects: Vec<String>,
    ) -> anyhow::Result<Durable> {
        let stream = self
            .js
            .get_stream(self.stream_name(family))
            .await
            .map_err(|e| anyhow::anyhow!("stream {family} missing: {e}"))?;
        let (filter_subject, many) = match filter_subjects.as_slice() {
            [one] => (one.clone(), Vec::new()),
            _ => (String::new(), filter_subjects.clone()),
        };
        let cfg = jetstream::consumer::pull::Config {
            durable_name: Some(name.to_string()),
            filter_subject,
            filter_subjects: many,
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(60),
            max_deliver: 20,
            max_ack_pending: 10_000,
            ..Default::default()
        };
        let consumer = stream
            .get_or_create_consumer(name, cfg)
            .await
            .map_err(|e| anyhow::anyhow!("consumer {name}: {e}"))?;
        Ok(Durable {
            consumer,
            filters: filter_subjects,
        })
    }

    /// Runs `handler` over the consumer's messages until `shutdown`, at most `concurrency` at
    /// once: ack on `Ok`, NAK with a growing delay on [`HandlerError::Transient`], TERM and
    /// dead-letter on [`HandlerError::Poison`]. In-flight handlers finish before it returns.
    pub async fn run<F, Fut>(
        &self,
        durable: Durable,
        name: &'static str,
        metrics: Metrics,
        shutdown: CancellationToken,
        concurrency: usize,
        handler: F,
    ) where
        F: Fn(jetstream::Message) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let Durable { consumer, filters } = durable;
        let handler = std::sync::Arc::new(handler);
        let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        'outer: loop {
            while tasks.try_join_next().is_some() {}
            if shutdown.is_cancelled() {
                break;
            }
            let batch = consumer
                .fetch()
                .max_messages((concurrency * 4).clamp(16, 512))
                .expires(Duration::from_secs(1))
                .messages()
                .await;
            let mut messages = match batch {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(consumer = name, error = %e, "fetch failed, retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = shutdown.cancelled() => break,
                    }
                }
            };
            loop {
                let next = tokio::select! {
                    m = messages.next() => m,
                    _ = shutdown.cancelled() => break 'outer,
                };
                let Some(msg) = next else { break };
                let msg = match msg {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(consumer = name, error = %e, "message error");
                        break;
                    }
                };
                if !filters.iter().any(|f| subject_matches(f, &msg.subject)) {
                    // Outside this consumer's filters (a pre-2.10 server ignored them).
                    let _ = msg.ack().await;
                    continue;
                }
                let permit = tokio::select! {
                    p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break 'outer },
                    _ = shutdown.cancelled() => break 'outer,
                };
                let handler = handler.clone();
                let metrics = metrics.clone();
                let bus = self.clone();
                tasks.spawn(async move {
                    bus.process(name, &metrics, msg, handler.as_ref()).await;
                    drop(permit);
                });
            }
        }
        // Let in-flight handlers finish (their messages are acked or redelivered).
        let _ = tokio::time::timeout(Duration::from_secs(15), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
    }

    /// [`Bus::run`] in its own task.
    pub fn spawn<F, Fut>(
        &self,
        durable: Durable,
        name: &'static str,
        metrics: Metrics,
        shutdown: CancellationToken,
        concurrency: usize,
        handler: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: Fn(jetstream::Message) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let bus = self.clone();
        tokio::spawn(async move {
            bus.run(durable, name, metrics, shutdown, concurrency, handler)
                .await
        })
    }

    async fn process<F, Fut>(
        &self,
        name: &str,
        metrics: &Metrics,
        msg: jetstream::Message,
        handler: &F,
    ) where
        F: Fn(jetstream::Message) -> Fut,
        Fut: Future<Output = Result<(), HandlerError>>,
    {
        let delivered = msg.info().map(|i| i.delivered).unwrap_or(1);
        let span = tracing::info_span!("consume", consumer = name, subject = %msg.subject);
        crate::telemetry::link_nats(&span, msg.headers.as_ref());
        let outcome = handler(msg.clone()).instrument(span.clone()).await;
        let _enter = span.enter();
        match outcome {
            Ok(()) => {
                metrics.message(name, "ack");
                if let Err(e) = msg.double_ack().await {
                    tracing::warn!(consumer = name, error = %e, "ack failed");
                }
            }
            Err(HandlerError::Transient(reason)) => {
                metrics.message(name, "nak");
                let delay = Duration::from_millis(200 * 2u64.pow((delivered as u32).min(8)));
                tracing::warn!(consumer = name, %reason, delivered, delay_ms = delay.as_millis() as u64, "transient failure, will redeliver");
                let _ = msg.ack_with(AckKind::Nak(Some(delay))).await;
            }
            Err(HandlerError::Poison(reason)) => {
                metrics.message(name, "term");
                tracing::error!(consumer = name, %reason, subject = %msg.subject, "poison message terminated");
                self.dead_letter(name, &msg, &reason).await;
                let _ = msg.ack_with(AckKind::Term).await;
            }
        }
    }

    async fn dead_letter(&self, consumer: &str, msg: &jetstream::Message, reason: &str) {
        let mut h = msg.headers.clone().unwrap_or_default();
        h.insert("ms-dead-reason", reason);
        h.insert("ms-dead-subject", msg.subject.as_str());
        h.insert("ms-dead-consumer", consumer);
        // The dead letter is a new message: drop the original dedup id.
        h.insert("Nats-Msg-Id", uuid::Uuid::now_v7().to_string().as_str());
        let subject = self.subject(&["deadletter", consumer]);
        if let Ok(ack) = self
            .js
            .publish_with_headers(subject, h, msg.payload.clone())
            .await
        {
            let _ = ack.await;
        }
    }
}

/// A durable consumer and the subjects it is meant to see.
pub struct Durable {
    /// The consumer.
    pub consumer: PullConsumer,
    /// Its filter subjects.
    pub filters: Vec<String>,
}

/// Whether a NATS subject matches a filter with `*` and `>` wildcards.
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut f = filter.split('.');
    let mut s = subject.split('.');
    loop {
        match (f.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// The tenant header of an event (`ce-tenant`).
pub fn tenant_of(msg: &jetstream::Message) -> Option<String> {
    msg.headers
        .as_ref()?
        .get("ce-tenant")
        .map(|v| v.as_str().to_string())
}

/// The `ce-id` of an event.
pub fn event_id(msg: &jetstream::Message) -> Option<String> {
    msg.headers
        .as_ref()?
        .get("ce-id")
        .map(|v| v.as_str().to_string())
}

/// Decodes a protobuf payload; an undecodable one is poison.
pub fn decode<M: prost::Message + Default>(msg: &jetstream::Message) -> Result<M, HandlerError> {
    Ok(M::decode(msg.payload.as_ref())?)
}

#[cfg(test)]
mod tests {
    use super::subject_matches;

    #[test]
    fn wildcards() {
        assert!(subject_matches(
            "ms.issues.*.detected",
            "ms.issues.t1.detected"
        ));
        assert!(!subject_matches(
            "ms.issues.*.detected",
            "ms.issues.t1.resolved"
        ));
        assert!(subject_matches("ms.records.>", "ms.records.t.bc.products"));
        assert!(!subject_matches("ms.records.>", "ms.records"));
        assert!(!subject_matches("ms.a.*", "ms.a.b.c"));
    }
}

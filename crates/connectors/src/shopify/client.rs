//! The Shopify GraphQL client of one connection: `X-Shopify-Access-Token` auth, the cost-based
//! leaky bucket (waits by `extensions.cost.throttleStatus` before a query the bucket cannot
//! pay, and after a `THROTTLED` error), retries (shared HTTP stack), GraphQL error mapping,
//! and the download of bulk operation results.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::Instant;

use super::config::{MAX_QUERY_COST, STANDARD_BUCKET, ShopifyConfig};
use crate::http::{Call, HttpClient, RateLimiter};
use crate::{ConnectorError, Result};

/// THROTTLED answers waited out before giving up.
const MAX_THROTTLED: u32 = 30;

/// What the last `throttleStatus` said.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    maximum: f64,
    available: f64,
    restore_rate: f64,
    at: Instant,
}

impl Bucket {
    fn available_now(&self) -> f64 {
        let gained = self.at.elapsed().as_secs_f64() * self.restore_rate;
        (self.available + gained).min(self.maximum)
    }

    /// How long until `cost` points are available.
    /// What the bucket must hold before a query of `cost` is sent: in the background (stock
    /// pushes) also a fifth of the bucket, left to order imports, so a storm of pushes never
    /// makes a sale wait for the bucket to refill.
    fn need(&self, cost: u32) -> f64 {
        let cost = f64::from(cost.min(MAX_QUERY_COST));
        if crate::http::in_background() {
            cost + self.maximum / 5.0
        } else {
            cost
        }
    }

    fn wait_for(&self, cost: f64) -> Duration {
        let short = cost.min(self.maximum) - self.available_now();
        if short <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(short / self.restore_rate.max(1.0))
        }
    }
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    errors: Option<Value>,
    #[serde(default)]
    extensions: Option<Extensions>,
}

#[derive(Debug, Deserialize)]
struct Extensions {
    #[serde(default)]
    cost: Option<Cost>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Cost {
    #[serde(default)]
    requested_query_cost: Option<f64>,
    #[serde(default)]
    throttle_status: Option<ThrottleStatus>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThrottleStatus {
    maximum_available: f64,
    currently_available: f64,
    restore_rate: f64,
}

/// Client of one Shopify shop.
pub(crate) struct Client {
    http: HttpClient,
    download: reqwest::Client,
    limiter: Arc<RateLimiter>,
    bucket: Mutex<Option<Bucket>>,
    pub(crate) cfg: ShopifyConfig,
}

impl Client {
    /// A client for `cfg`.
    pub(crate) fn new(cfg: ShopifyConfig) -> Result<Self> {
        // Shopify's GraphQL limit is the cost bucket, not a request count: the request budget
        // only carries 429 pauses (Retry-After) and throttle waits.
        let limiter = Arc::new(RateLimiter::new(10_000, Duration::from_secs(1), None));
        let http = HttpClient::new(
            super::PLATFORM,
            cfg.policy.clone(),
            &[
                ("x-shopify-access-token", cfg.access_token.clone()),
                ("accept", "application/json".into()),
                ("content-type", "application/json".into()),
            ],
            cfg.secrets.clone(),
            Arc::clone(&limiter),
        )?;
        // Bulk results live at signed storage URLs: fetched without the access token.
        let download = reqwest::Client::builder()
            .timeout(cfg.policy.timeout.max(Duration::from_secs(5)))
            .build()
            .map_err(|e| ConnectorError::Config(format!("http client: {e}")))?;
        Ok(Self {
            http,
            download,
            limiter,
            bucket: Mutex::new(None),
            cfg,
        })
    }

    fn bucket(&self) -> Option<Bucket> {
        *self.bucket.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn observe(&self, status: &ThrottleStatus) {
        *self.bucket.lock().unwrap_or_else(|e| e.into_inner()) = Some(Bucket {
            maximum: status.maximum_available,
            available: status.currently_available,
            restore_rate: status.restore_rate,
            at: Instant::now(),
        });
    }

    /// Sends `document` with `variables`; `cost` is its requested cost (the wait before it when
    /// the bucket is short). Returns `data`, decoded.
    pub(crate) async fn query<T: DeserializeOwned>(
        &self,
        document: &str,
        variables: Value,
        cost: u32,
    ) -> Result<T> {
        let body = serde_json::json!({ "query": document, "variables": variables });
        let call = Call::new(Method::POST, &self.cfg.graphql_url).json(&body)?;
        let mut throttled = 0u32;
        loop {
            let wait = self
                .bucket()
                .map(|b| b.wait_for(b.need(cost)))
                .unwrap_or(Duration::ZERO);
            if !wait.is_zero() {
                tracing::debug!(
                    platform = super::PLATFORM,
                    wait_ms = wait.as_millis() as u64,
                    cost,
                    "cost bucket short, waiting"
                );
                tokio::time::sleep(wait).await;
            }
            let envelope: Envelope = self.http.send(&call).await?.ok_or_else(|| {
                ConnectorError::Malformed("the GraphQL endpoint answered with an empty body".into())
            })?;
            let cost_info = envelope.extensions.as_ref().and_then(|e| e.cost.as_ref());
            if let Some(status) = cost_info.and_then(|c| c.throttle_status.as_ref()) {
                self.observe(status);
            }
            if let Some(errors) = envelope.errors.as_ref().filter(|e| !is_empty(e)) {
                let codes = error_codes(errors);
                let message = self.http.redact(&error_messages(errors));
                if codes.iter().any(|c| c == "THROTTLED") {
                    throttled += 1;
                    if throttled > MAX_THROTTLED {
                        return Err(ConnectorError::RateLimited(message));
                    }
                    let requested = cost_info
                        .and_then(|c| c.requested_query_cost)
                        .unwrap_or(f64::from(cost));
                    let (maximum, restore) = STANDARD_BUCKET;
                    let b = self.bucket().unwrap_or(Bucket {
                        maximum,
                        available: 0.0,
                        restore_rate: restore,
                        at: Instant::now(),
                    });
                    let wait = b.wait_for(requested).max(Duration::from_millis(10));
                    tracing::info!(
                        platform = super::PLATFORM,
                        wait_ms = wait.as_millis() as u64,
                        "throttled by the cost bucket, waiting for it to refill"
                    );
                    self.limiter.block_for(wait);
                    continue;
                }
                if codes.iter().any(|c| c == "ACCESS_DENIED") {
                    return Err(ConnectorError::Auth(message));
                }
                return Err(ConnectorError::Rejected {
                    status: 400,
                    message,
                });
            }
            let data = envelope.data.unwrap_or(Value::Null);
            return serde_json::from_value(data)
                .map_err(|e| ConnectorError::Malformed(format!("unexpected GraphQL data: {e}")));
        }
    }

    /// Downloads a bulk operation's JSONL result (retrying transient failures).
    pub(crate) async fn download(&self, url: &str) -> Result<String> {
        let attempts = self.cfg.policy.retry.attempts.max(1);
        let mut failures = 0;
        loop {
            let outcome = match self.download.get(url).send().await {
                Ok(resp) if resp.status().is_success() => match resp.text().await {
                    Ok(text) => return Ok(text),
                    Err(_) => "the body could not be read".to_string(),
                },
                Ok(resp) if resp.status().is_server_error() => {
                    format!("HTTP {}", resp.status().as_u16())
                }
                Ok(resp) => {
                    return Err(ConnectorError::Rejected {
                        status: resp.status().as_u16(),
                        message: "bulk operation result could not be downloaded".into(),
                    });
                }
                Err(e) if e.is_timeout() => "timed out".to_string(),
                Err(_) => "connection failed".to_string(),
            };
            failures += 1;
            if failures >= attempts {
                // Never the URL: it is a signed link.
                return Err(ConnectorError::Transient(format!(
                    "bulk operation result: {outcome}"
                )));
            }
            tokio::time::sleep(self.cfg.policy.retry.delay(failures)).await;
        }
    }

    /// `text` without credential values.
    pub(crate) fn redact(&self, text: &str) -> String {
        self.http.redact(text)
    }

    /// The marketsync warehouse of a location: `warehouse_mapping` by gid, number or name, else
    /// its name.
    pub(crate) fn warehouse_of(&self, id: &str, name: &str) -> String {
        let m = &self.cfg.warehouse_mapping;
        let number = id.rsplit('/').next().unwrap_or(id);
        m.get(id)
            .or_else(|| m.get(number))
            .or_else(|| m.get(name))
            .cloned()
            .unwrap_or_else(|| {
                if name.is_empty() {
                    number.to_string()
                } else {
                    name.to_string()
                }
            })
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// `extensions.code` of every error.
fn error_codes(errors: &Value) -> Vec<String> {
    errors
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The messages of GraphQL errors (an array of `{message}` or a plain string).
fn error_messages(errors: &Value) -> String {
    match errors {
        Value::Array(a) => a
            .iter()
            .take(5)
            .map(|e| {
                let m = e["message"].as_str().unwrap_or("error");
                let first_line = m.lines().next().unwrap_or(m);
                match e["extensions"]["code"].as_str() {
                    Some(c) => format!("{first_line} ({c})"),
                    None => first_line.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn background_queries_leave_a_fifth_of_the_bucket() {
        let b = Bucket {
            maximum: 1000.0,
            available: 250.0,
            restore_rate: 100.0,
            at: Instant::now(),
        };
        // An order import pays 100 of the 250 at once.
        assert_eq!(b.wait_for(b.need(100)), Duration::ZERO);
        // A push of the same cost waits until 300 are there (100 + the 200 left to imports).
        let w = crate::http::background(async { b.wait_for(b.need(100)) }).await;
        assert!(
            w > Duration::from_millis(450) && w <= Duration::from_millis(500),
            "{w:?}"
        );
    }

    #[test]
    fn bucket_waits_for_the_missing_points() {
        let b = Bucket {
            maximum: 1000.0,
            available: 100.0,
            restore_rate: 100.0,
            at: Instant::now(),
        };
        let w = b.wait_for(300.0);
        assert!(w > Duration::from_millis(1900) && w <= Duration::from_secs(2));
        assert_eq!(b.wait_for(50.0), Duration::ZERO);
    }

    #[test]
    fn reads_graphql_errors() {
        let e = serde_json::json!([{"message": "Throttled", "extensions": {"code": "THROTTLED"}}]);
        assert_eq!(error_codes(&e), vec!["THROTTLED"]);
        assert_eq!(error_messages(&e), "Throttled (THROTTLED)");
    }
}

//! HTTP transport of the Merchant API: `POST {base}/refb.merchant.v1.<Service>/<Method>` with
//! a JSON body, `Authorization: Plain <token>`, and a pacer that mirrors the API's
//! `X-RateLimit-*` window.
//!
//! Why a pacer of its own: Refurbed's `X-RateLimit-Reset` is a unix timestamp, while the shared
//! `RateLimitHeaders` of `crate::http` reads a reset header as milliseconds from now. The shared
//! client keeps retries, 429 handling (`Retry-After`), redaction and logging; this pacer keeps
//! the window: it spends one request of the window per call, takes the remaining count the API
//! reports, and when nothing is left waits for the reported reset.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::config::RefurbedConfig;
use crate::http::{Call, HttpClient, RateLimiter};
use crate::{ConnectorError, Result};

/// Margin after a reported reset before the next window is spent (clock granularity).
const RESET_MARGIN_MS: u64 = 5;

/// The API's rate-limit window as the last answers described it.
#[derive(Debug)]
struct Window {
    /// Requests per window (`X-RateLimit-Limit`).
    limit: u32,
    /// Requests left in the current window, counting the ones sent since the last answer.
    remaining: u32,
    /// End of the current window, unix milliseconds; `None` until an answer names it.
    reset_ms: Option<u64>,
}

/// Keeps a connection inside the API's rate-limit window.
#[derive(Debug)]
pub(crate) struct Pacer {
    window: Mutex<Window>,
    assumed_window: Duration,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
}

impl Pacer {
    /// A pacer assuming `limit` requests per `window` until the API says otherwise.
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        Self {
            window: Mutex::new(Window {
                limit: limit.max(1),
                remaining: limit.max(1),
                reset_ms: None,
            }),
            assumed_window: window,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        // Plain numbers: a panic elsewhere cannot leave them inconsistent.
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the window has a request left, and spends it.
    pub(crate) async fn acquire(&self) {
        loop {
            let wait = {
                let mut w = self.lock();
                let now = now_ms();
                if w.reset_ms.is_some_and(|r| now >= r + RESET_MARGIN_MS) {
                    w.remaining = w.limit;
                    w.reset_ms = None;
                }
                if w.remaining > 0 {
                    w.remaining -= 1;
                    return;
                }
                match w.reset_ms {
                    Some(r) => Duration::from_millis(r + RESET_MARGIN_MS - now),
                    // Spent without a known reset (no headers yet): the assumed window.
                    None => {
                        w.reset_ms = Some(now + self.assumed_window.as_millis() as u64);
                        self.assumed_window
                    }
                }
            };
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                "refurbed rate limit window spent, waiting for its reset"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes what an answer's `X-RateLimit-*` headers say.
    pub(crate) fn observe(&self, headers: &HeaderMap) {
        let limit = header_u64(headers, "x-ratelimit-limit");
        let remaining = header_u64(headers, "x-ratelimit-remaining");
        let reset = header_u64(headers, "x-ratelimit-reset").map(|s| s.saturating_mul(1000));
        let mut w = self.lock();
        if let Some(l) = limit {
            w.limit = u32::try_from(l).unwrap_or(u32::MAX).max(1);
        }
        let (Some(left), Some(reset)) = (remaining, reset) else {
            return;
        };
        let left = u32::try_from(left).unwrap_or(u32::MAX);
        match w.reset_ms {
            // An answer from a window that is already over.
            Some(cur) if reset < cur => {}
            // The same window: the API's count wins when it is lower (other clients, retries).
            Some(cur) if reset == cur => w.remaining = w.remaining.min(left),
            // A window the pacer had not seen yet (or had rolled over to without its end).
            Some(_) => {
                w.reset_ms = Some(reset);
                w.remaining = left;
            }
            None => {
                w.reset_ms = Some(reset);
                w.remaining = w.remaining.min(left);
            }
        }
    }
}

/// The HTTP side of one connection.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) cfg: RefurbedConfig,
    http: HttpClient,
    pacer: Arc<Pacer>,
}

impl Client {
    pub(crate) fn new(cfg: RefurbedConfig) -> Result<Self> {
        // The window is kept by the pacer; the shared limiter only has to not get in its way.
        let limiter = Arc::new(RateLimiter::new(u32::MAX, Duration::from_secs(1), None));
        let http = HttpClient::new(
            super::PLATFORM,
            cfg.policy.clone(),
            &[
                ("authorization", format!("Plain {}", cfg.api_token)),
                ("content-type", "application/json".to_string()),
                ("accept", "application/json".to_string()),
            ],
            cfg.secrets.clone(),
            limiter,
        )?;
        Ok(Self {
            pacer: Arc::new(Pacer::new(cfg.rate_limit_requests, cfg.rate_limit_window)),
            http,
            cfg,
        })
    }

    /// Calls `method` (`OfferService/ListOffers`, …) with `body`.
    pub(crate) async fn rpc<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: &str,
        body: &B,
    ) -> Result<T> {
        let call = Call::new(
            Method::POST,
            format!("{}/refb.merchant.v1.{method}", self.cfg.base_url),
        )
        .json(body)?;
        self.pacer.acquire().await;
        let pacer = self.pacer.clone();
        self.http
            .send_with(&call, move |what, reply| {
                pacer.observe(&reply.headers);
                serde_json::from_slice::<T>(&reply.body).map_err(|e| {
                    ConnectorError::Malformed(format!("{what}: HTTP {}: {e}", reply.status))
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[tokio::test]
    async fn pacer_waits_for_the_reported_reset() {
        let p = Pacer::new(2, Duration::from_millis(100));
        p.acquire().await;
        let mut h = HeaderMap::new();
        let reset_s = now_ms() / 1000 + 1;
        h.insert("x-ratelimit-limit", HeaderValue::from(2));
        h.insert("x-ratelimit-remaining", HeaderValue::from(0));
        h.insert("x-ratelimit-reset", HeaderValue::from(reset_s));
        p.observe(&h);
        let start = now_ms();
        p.acquire().await;
        assert!(now_ms() + 2 >= reset_s * 1000, "waited for the reset");
        assert!(now_ms() - start <= 1_100);
    }

    #[tokio::test]
    async fn pacer_keeps_the_assumed_budget_without_headers() {
        let p = Pacer::new(2, Duration::from_millis(120));
        let start = std::time::Instant::now();
        for _ in 0..3 {
            p.acquire().await;
        }
        assert!(start.elapsed() >= Duration::from_millis(120));
    }
}

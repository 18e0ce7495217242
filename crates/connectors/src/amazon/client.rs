//! The SP-API HTTP client of one connection: an LWA access token (`x-amz-access-token`,
//! refreshed before expiry, one retry with a fresh token after a 401/403), one token bucket per
//! operation (the documented usage plans) that follows `x-amzn-RateLimit-Limit`, retries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;

use super::config::AmazonConfig;
use crate::http::{Call, HttpClient, RateLimiter};
use crate::oauth::{ClientAuth, Grant, GrantType, TokenSource};
use crate::{ConnectorError, Result};

/// Header in which Amazon reports the rate (requests per second) applied to a request.
const RATE_LIMIT_HEADER: &str = "x-amzn-ratelimit-limit";

/// A documented SP-API operation and its default usage plan (rate per second, burst).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    GetOrders,
    GetOrderItems,
    ConfirmShipment,
    GetListingsItem,
    PatchListingsItem,
    PutListingsItem,
    SearchListingsItems,
    GetInventorySummaries,
    CreateFeedDocument,
    CreateFeed,
    GetFeed,
    GetFeedDocument,
    GetDefinitionsProductType,
    /// Finances v0 listFinancialEvents (refunds).
    ListFinancialEvents,
    /// Downloads from and uploads to the pre-signed document URLs (not SP-API: no token, no
    /// usage plan).
    Document,
}

impl Op {
    /// (rate per second, burst) as documented in the operation's reference (and the models'
    /// "Usage plan" tables in `shared/specs/amazon-sp-api/`).
    pub(crate) fn plan(self) -> (f64, u32) {
        match self {
            Op::GetOrders => (0.0167, 20),
            Op::GetOrderItems => (0.5, 30),
            Op::ConfirmShipment => (2.0, 10),
            Op::GetListingsItem => (5.0, 10),
            Op::PatchListingsItem => (5.0, 5),
            Op::PutListingsItem => (5.0, 10),
            Op::SearchListingsItems => (5.0, 5),
            Op::GetInventorySummaries => (2.0, 2),
            Op::CreateFeedDocument => (0.5, 15),
            Op::CreateFeed => (0.0083, 15),
            Op::GetFeed => (2.0, 15),
            Op::GetFeedDocument => (0.0222, 10),
            Op::GetDefinitionsProductType => (5.0, 10),
            Op::ListFinancialEvents => (0.5, 30),
            Op::Document => (50.0, 50),
        }
    }
}

/// One operation's bucket, the rate it was made with, and a shadow count of its tokens (the
/// shared limiter does not tell), so a bucket replaced for a new rate starts as empty as the
/// old one was.
struct Bucket {
    rate: f64,
    limiter: Arc<RateLimiter>,
    tokens: f64,
    last: std::time::Instant,
}

impl Bucket {
    fn new(op: Op, rate: f64) -> Self {
        let (_, burst) = op.plan();
        Self {
            rate,
            limiter: Arc::new(RateLimiter::token_bucket(rate, burst, None)),
            tokens: f64::from(burst),
            last: std::time::Instant::now(),
        }
    }

    /// Counts one request in the shadow.
    fn spend(&mut self, burst: u32) {
        let now = std::time::Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = ((self.tokens + refill).min(f64::from(burst)) - 1.0).max(0.0);
        self.last = now;
    }
}

/// Client of one seller account.
pub(crate) struct Client {
    http: HttpClient,
    tokens: TokenSource,
    buckets: Mutex<HashMap<Op, Bucket>>,
    pub(crate) cfg: AmazonConfig,
}

impl Client {
    /// A client for `cfg`.
    pub(crate) fn new(cfg: AmazonConfig) -> Result<Self> {
        let http = HttpClient::new(
            super::PLATFORM,
            cfg.policy.clone(),
            &[("accept", "application/json".into())],
            cfg.secrets.clone(),
            // Every SP-API call names its own bucket; this one only paces what names none.
            Arc::new(RateLimiter::token_bucket(10.0, 10, None)),
        )?;
        let tokens = TokenSource::new(
            super::PLATFORM,
            cfg.policy.clone(),
            Grant {
                token_url: cfg.auth_url.clone(),
                client_id: cfg.client_id.clone(),
                client_secret: cfg.client_secret.clone(),
                grant: GrantType::RefreshToken(cfg.refresh_token.clone()),
                scope: None,
                client_auth: ClientAuth::Form,
            },
        )?;
        Ok(Self {
            http,
            tokens,
            buckets: Mutex::new(HashMap::new()),
            cfg,
        })
    }

    fn limiter(&self, op: Op) -> Arc<RateLimiter> {
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = b.entry(op).or_insert_with(|| Bucket::new(op, op.plan().0));
        bucket.spend(op.plan().1);
        bucket.limiter.clone()
    }

    /// Follows the rate Amazon says it applied (`x-amzn-RateLimit-Limit`): a different rate
    /// replaces the operation's bucket (same burst), emptied to the shadow count of the old.
    async fn follow_rate(&self, op: Op, rate: f64) {
        let (_, burst) = op.plan();
        let (limiter, spent) = {
            let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
            let bucket = b.entry(op).or_insert_with(|| Bucket::new(op, rate));
            if (bucket.rate - rate).abs() <= bucket.rate * 0.01 {
                return;
            }
            tracing::debug!(operation = ?op, rate, "following x-amzn-RateLimit-Limit");
            let now = std::time::Instant::now();
            let refill = now.duration_since(bucket.last).as_secs_f64() * bucket.rate;
            let tokens = (bucket.tokens + refill).min(f64::from(burst));
            let fresh = Bucket::new(op, rate);
            let limiter = fresh.limiter.clone();
            *bucket = Bucket {
                tokens,
                last: now,
                ..fresh
            };
            (limiter, f64::from(burst) - tokens.floor())
        };
        // A new bucket is full: spend what the old one had spent (immediate, it is full).
        for _ in 0..spent as u32 {
            limiter.acquire().await;
        }
    }

    /// Sends an SP-API call of `op` with the access token; decodes its JSON (`None`: empty).
    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        op: Op,
        make: impl Fn() -> Call,
    ) -> Result<Option<T>> {
        let token = self.tokens.token().await?;
        match self.send_once(op, make(), &token).await {
            Err(ConnectorError::Auth(_)) => {
                // Expired or revoked access token: one more try with a fresh one.
                self.tokens.invalidate().await;
                let token = self.tokens.token().await?;
                self.send_once(op, make(), &token).await
            }
            other => other,
        }
    }

    /// Like [`Client::send`], for answers that must have a body.
    pub(crate) async fn fetch<T: DeserializeOwned>(
        &self,
        op: Op,
        make: impl Fn() -> Call,
    ) -> Result<T> {
        self.send(op, make).await?.ok_or_else(|| {
            ConnectorError::Malformed("the platform answered with an empty body".into())
        })
    }

    async fn send_once<T: DeserializeOwned>(
        &self,
        op: Op,
        call: Call,
        token: &str,
    ) -> Result<Option<T>> {
        let call = call
            .header("x-amz-access-token", token)
            .limiter(self.limiter(op));
        let observed = Mutex::new(None::<f64>);
        let result = self
            .http
            .send_with(&call, |what, reply| {
                let rate = reply
                    .header(RATE_LIMIT_HEADER)
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|r| r.is_finite() && *r > 0.0);
                *observed.lock().unwrap_or_else(|e| e.into_inner()) = rate;
                if reply.status == 204 || reply.body.iter().all(u8::is_ascii_whitespace) {
                    return Ok(None);
                }
                serde_json::from_slice::<T>(&reply.body)
                    .map(Some)
                    .map_err(|e| {
                        ConnectorError::Malformed(format!("{what}: HTTP {}: {e}", reply.status))
                    })
            })
            .await;
        let rate = *observed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rate) = rate {
            self.follow_rate(op, rate).await;
        }
        result
    }

    /// Sends a call to a pre-signed document URL (no token); the raw body.
    pub(crate) async fn document(&self, call: Call) -> Result<bytes::Bytes> {
        let call = call.limiter(self.limiter(Op::Document));
        self.http
            .send_with(&call, |_, reply| Ok(reply.body.clone()))
            .await
    }

    /// A fresh access token (test_connection).
    pub(crate) async fn token(&self) -> Result<String> {
        self.tokens.token().await
    }
}

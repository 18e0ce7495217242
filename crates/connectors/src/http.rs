//! HTTP behaviour shared by every connector: timeouts, retries with backoff, a client-side
//! rate limiter that follows the platform's rate-limit headers, error mapping, and debug logging
//! with every credential value redacted.
//!
//! A platform module builds one [`HttpClient`] per connection (default headers carry its auth)
//! and one [`RateLimiter`] shared by every call of that connection, then sends [`Call`]s.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::{ConnectorError, Result};

/// How a connector's HTTP client behaves.
#[derive(Debug, Clone)]
pub struct HttpPolicy {
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries of transient failures.
    pub retry: RetryPolicy,
    /// Log request and response bodies (secrets redacted).
    pub debug: bool,
}

/// Exponential backoff for transient failures (5xx, timeouts, 429 without a reset hint).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Total attempts, first included.
    pub attempts: u32,
    /// First delay.
    pub base_delay: Duration,
    /// Longest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Delay before attempt `n` (1-based retry count).
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Longest body kept in a debug log line.
const MAX_LOGGED_BODY: usize = 16 * 1024;
/// Extra wait after a reset hint, so the platform's window has surely rolled over.
const RESET_MARGIN: Duration = Duration::from_millis(5);
/// Header a validating proxy (Stoplight Prism) adds when a request or response breaks the spec.
const VIOLATIONS_HEADER: &str = "sl-violations";

/// Names of a platform's rate-limit response headers (any may be absent).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RateLimitHeaders {
    /// Requests left in the current window.
    pub left: &'static str,
    /// Milliseconds until the window resets (also sent with a 429).
    pub reset_ms: &'static str,
}

/// How a task's calls share a connection's rate budget with the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Order imports (they tell the ledger of a sale): go first.
    Priority,
    /// Stock pushes: leave the reserve and yield to waiting priority calls.
    Background,
}

tokio::task_local! {
    static CLASS: Class;
}

/// Runs `f` with its calls first in line: while one of them waits for a connection's rate
/// budget, [`background`] calls do not spend it. Order imports run so.
pub async fn priority<F: std::future::Future>(f: F) -> F::Output {
    CLASS.scope(Class::Priority, f).await
}

/// Runs `f` with its calls in the background: they leave a fifth of a connection's rate budget
/// (of a window's quota until its last tenth, or of a token bucket's burst) to the others, and
/// spend none while a [`priority`] call waits for it (for at most [`MAX_YIELD`] per call, so
/// a long import cannot hold them back for good). Stock pushes run so: a channel's order
/// imports never wait behind a backlog of pushes. Other calls are not affected.
pub async fn background<F: std::future::Future>(f: F) -> F::Output {
    CLASS.scope(Class::Background, f).await
}

fn class() -> Option<Class> {
    CLASS.try_with(|c| *c).ok()
}

/// Whether the calls of the current task run in the [`background`] (a platform whose budget is
/// not a request count, as Shopify's cost bucket, keeps the reserve by this).
pub(crate) fn in_background() -> bool {
    class() == Some(Class::Background)
}

/// The part of a budget of `quota` (a window's requests or a bucket's burst) background calls
/// leave to the others.
fn reserve(quota: u32) -> u32 {
    quota / 5
}

/// How long a background call waits before looking again while a priority call waits.
const YIELD: Duration = Duration::from_millis(10);

/// The longest a background call yields to waiting priority calls.
pub(crate) const MAX_YIELD: Duration = Duration::from_secs(30);

/// Windows at least this long are spent evenly by background calls (a tenth of the quota at
/// once, the rest spread over the window).
const PACED_WINDOW: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Budget {
    quota: u32,
    window: Duration,
    remaining: u32,
    reset_at: Instant,
    /// The platform said nothing is left (or answered 429): nothing is sent before this.
    blocked_until: Option<Instant>,
    /// Token bucket mode (Amazon's usage plans): tokens per second, tokens now, last refill.
    bucket: Option<(f64, f64, Instant)>,
    /// [`priority`] calls waiting for the budget now.
    waiting: usize,
    /// When the last `quota` requests were sent (quotas up to [`SLIDING_MAX`]): no window-long
    /// span holds more than the quota, whatever the phase of the platform's own window (a
    /// client window of its own, not aligned with the platform's, lets up to twice the quota
    /// through around a boundary, and the platform answers 429).
    sent: VecDeque<Instant>,
}

/// Quotas up to this are kept sliding (a log of one instant per request of the window).
const SLIDING_MAX: u32 = 1024;

/// Counts a priority call as waiting while it exists.
struct Waiting<'a>(&'a RateLimiter);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut b = self.0.lock();
        b.waiting = b.waiting.saturating_sub(1);
    }
}

/// A request budget per fixed window kept by the client (the connection's own quota), plus
/// whatever the platform's headers say: when the platform reports nothing left, or answers
/// 429, every caller waits until the platform's reset.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    headers: Option<RateLimitHeaders>,
    budget: Mutex<Budget>,
}

impl RateLimiter {
    /// `quota` requests per `window`, refined by `headers` when the platform sends them.
    pub(crate) fn new(quota: u32, window: Duration, headers: Option<RateLimitHeaders>) -> Self {
        let quota = quota.max(1);
        Self {
            headers,
            budget: Mutex::new(Budget {
                quota,
                window,
                remaining: quota,
                reset_at: Instant::now() + window,
                blocked_until: None,
                bucket: None,
                waiting: 0,
                sent: VecDeque::new(),
            }),
        }
    }

    /// A token bucket: `rate` requests per second on average, at most `burst` at once (the
    /// shape of Amazon SP-API usage plans), refined by `headers` like [`RateLimiter::new`].
    pub(crate) fn token_bucket(rate: f64, burst: u32, headers: Option<RateLimitHeaders>) -> Self {
        let burst = burst.max(1);
        let limiter = Self::new(burst, Duration::from_secs(1), headers);
        limiter.lock().bucket = Some((rate.max(1e-6), f64::from(burst), Instant::now()));
        limiter
    }

    fn lock(&self) -> MutexGuard<'_, Budget> {
        // The budget is plain numbers: a panic elsewhere cannot leave it inconsistent.
        self.budget.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until both budgets allow one more request, and spends it. Inside
    /// [`background`], also until no [`priority`] call waits (for at most [`MAX_YIELD`]), and
    /// only while more than the reserve is left (a fixed window's reserve is released in its
    /// last tenth: unspent, it would be lost at the reset anyway).
    pub(crate) async fn acquire(&self) {
        let class = class();
        let background = class == Some(Class::Background);
        let began = Instant::now();
        let mut waiting: Option<Waiting<'_>> = None;
        loop {
            // `None`: spent (the lock is released before `waiting` is dropped).
            let wait = self.try_spend(background, background && began.elapsed() < MAX_YIELD);
            let Some(wait) = wait else {
                return;
            };
            if class == Some(Class::Priority) && waiting.is_none() {
                self.lock().waiting += 1;
                waiting = Some(Waiting(self));
            }
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                background,
                "rate limit budget spent, waiting"
            );
            tokio::time::sleep(wait + RESET_MARGIN).await;
        }
    }

    /// How long a background call would wait for the budget now (zero: it could go at once);
    /// spends nothing. A caller that batches what is due waits this long before it gathers the
    /// batch, so the call carries everything that became due while it waited.
    pub(crate) fn background_wait(&self) -> Duration {
        self.check(true, false, false).unwrap_or(Duration::ZERO)
    }

    /// Spends one request when the budgets allow it (`None`), else says how long to wait:
    /// `background` leaves the reserve and, when `yields`, waits while a priority call waits.
    fn try_spend(&self, background: bool, yields: bool) -> Option<Duration> {
        self.check(background, yields, true)
    }

    /// [`RateLimiter::try_spend`], spending only when `spend`.
    fn check(&self, background: bool, yields: bool, spend: bool) -> Option<Duration> {
        let mut b = self.lock();
        let now = Instant::now();
        let yielding = yields && b.waiting > 0;
        if let Some(until) = b.blocked_until.filter(|u| *u > now) {
            return Some(until - now);
        }
        b.blocked_until = None;
        if let Some((rate, tokens, last)) = b.bucket {
            let cap = f64::from(b.quota);
            let tokens = (tokens + now.duration_since(last).as_secs_f64() * rate).min(cap);
            let need = if background {
                1.0 + f64::from(reserve(b.quota))
            } else {
                1.0
            };
            if tokens >= need && !yielding {
                b.bucket = Some((rate, tokens - if spend { 1.0 } else { 0.0 }, now));
                return None;
            }
            b.bucket = Some((rate, tokens, now));
            let refill = Duration::from_secs_f64((need - tokens).max(0.0) / rate);
            return Some(if yielding { refill.max(YIELD) } else { refill });
        }
        if now >= b.reset_at {
            b.remaining = b.quota;
            b.reset_at = now + b.window;
        }
        let to_reset = b.reset_at - now;
        let keep = if background && to_reset > b.window / 10 {
            reserve(b.quota)
        } else {
            0
        };
        // A long window is spent evenly by background calls: spent at once, it would leave
        // them nothing until its reset (half a minute or more), and what becomes due meanwhile
        // would wait that long; spread out, each call carries what became due since the last.
        if keep > 0 && b.window >= PACED_WINDOW && !yielding && b.remaining > keep {
            let window = b.window.as_secs_f64();
            let usable = f64::from(b.quota - keep);
            let burst = f64::from((b.quota / 10).max(1));
            let elapsed = window - to_reset.as_secs_f64();
            let spent = f64::from(b.quota - b.remaining);
            if spent + 1.0 > burst + usable * elapsed / window {
                let at = (spent + 1.0 - burst) / usable * window;
                return Some(Duration::from_secs_f64((at - elapsed).max(0.001)));
            }
        }
        if b.quota <= SLIDING_MAX
            && b.sent.len() >= b.quota as usize
            && let Some(oldest) = b.sent.front().copied()
            && oldest + b.window > now
        {
            // The quota was sent within the last window: the oldest of them must age out.
            return Some(oldest + b.window - now);
        }
        if b.remaining > keep && !yielding {
            if spend {
                b.remaining -= 1;
                if b.quota <= SLIDING_MAX {
                    b.sent.push_back(now);
                    while b.sent.len() > b.quota as usize {
                        b.sent.pop_front();
                    }
                }
            }
            return None;
        }
        Some(if b.remaining == 0 {
            to_reset
        } else if yielding {
            YIELD
        } else {
            // Only the reserve is left: it is released in the window's last tenth.
            to_reset - b.window / 10
        })
    }

    /// Follows the platform's headers: nothing left means wait for its reset.
    pub(crate) fn observe(&self, headers: &HeaderMap) {
        let Some(names) = self.headers else {
            return;
        };
        if header_u64(headers, names.left) != Some(0) {
            return;
        }
        if let Some(reset) = header_u64(headers, names.reset_ms) {
            self.block_for(Duration::from_millis(reset));
        }
    }

    /// Nothing may be sent for `wait` (after a 429 or an exhausted platform window).
    pub(crate) fn block_for(&self, wait: Duration) {
        let mut b = self.lock();
        let until = Instant::now() + wait;
        b.blocked_until = Some(b.blocked_until.map_or(until, |u| u.max(until)));
    }

    /// The reset hint of a 429 response, if the platform sent one.
    fn reset_hint(&self, headers: &HeaderMap) -> Option<Duration> {
        let from_platform = self
            .headers
            .and_then(|n| header_u64(headers, n.reset_ms))
            .map(Duration::from_millis);
        from_platform.or_else(|| header_u64(headers, "retry-after").map(Duration::from_secs))
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f >= 0.0)
        .map(|f| f.ceil() as u64)
}

/// One HTTP request to send (and retry) as is.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    method: Method,
    url: String,
    query: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    /// Headers of this call only (a body's content type, a per-request signature).
    headers: Vec<(String, String)>,
    /// The budget of this operation when it has its own (per-operation rate limits); the
    /// client's otherwise.
    limiter: Option<Arc<RateLimiter>>,
}

/// A successful answer as the platform sent it.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers (paging totals, links).
    pub headers: reqwest::header::HeaderMap,
    /// The body, byte for byte.
    pub body: bytes::Bytes,
}

impl Reply {
    /// A response header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Call {
    /// A request without a body.
    pub(crate) fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            query: Vec::new(),
            body: None,
            headers: Vec::new(),
            limiter: None,
        }
    }

    /// Adds a header of this call only (a fresh OAuth bearer token, a signature). Its value
    /// is sent marked sensitive and never logged.
    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Spends this operation's own budget instead of the client's.
    pub(crate) fn limiter(mut self, limiter: Arc<RateLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// A GET.
    pub(crate) fn get(url: impl Into<String>) -> Self {
        Self::new(Method::GET, url)
    }

    /// Adds a query parameter.
    pub(crate) fn query(mut self, name: &str, value: impl ToString) -> Self {
        self.query.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets a JSON body.
    pub(crate) fn json<B: serde::Serialize + ?Sized>(mut self, body: &B) -> Result<Self> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ConnectorError::Config(format!("request body cannot be encoded: {e}")))?;
        self.body = Some(bytes);
        Ok(self)
    }

    /// Sets a body of another type (XML, a form), with its content type.
    pub(crate) fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self.headers
            .push(("content-type".into(), content_type.to_string()));
        self
    }

    /// Sets an `application/x-www-form-urlencoded` body.
    pub(crate) fn form(self, fields: &[(&str, &str)]) -> Self {
        let encoded: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect();
        self.body("application/x-www-form-urlencoded", encoded.join("&"))
    }

    /// The URL path (no host, no query) for messages.
    fn path(&self) -> &str {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, r)| r);
        rest.find('/').map_or("/", |i| &rest[i..])
    }
}

/// `application/x-www-form-urlencoded` encoding of one key or value.
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// What one attempt ended with.
enum Failure {
    /// Worth another attempt after a backoff.
    Retry(ConnectorError),
    /// Rate limited: wait for the platform's reset hint (or a backoff), then try again.
    Limited(Option<Duration>, String),
    /// Final.
    Fatal(ConnectorError),
}

/// An HTTP client for one connection: default headers (auth), timeouts, retries, rate limit.
#[derive(Clone)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    policy: HttpPolicy,
    headers: HeaderMap,
    secrets: Arc<Vec<String>>,
    limiter: Arc<RateLimiter>,
    platform: &'static str,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the header values or the secrets themselves.
        f.debug_struct("HttpClient")
            .field("platform", &self.platform)
            .field("policy", &self.policy)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// How long a background call would wait for this client's rate budget now.
    pub(crate) fn background_wait(&self) -> Duration {
        self.limiter.background_wait()
    }

    /// A client sending `headers` with every request. `secrets` are redacted from every error
    /// and log line; header values are marked sensitive.
    pub(crate) fn new(
        platform: &'static str,
        policy: HttpPolicy,
        headers: &[(&'static str, String)],
        secrets: Vec<String>,
        limiter: Arc<RateLimiter>,
    ) -> Result<Self> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let mut v = HeaderValue::from_str(value).map_err(|_| {
                ConnectorError::Config(format!(
                    "credential for header `{name}` has invalid characters"
                ))
            })?;
            v.set_sensitive(true);
            map.insert(HeaderName::from_static(name), v);
        }
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("marketsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConnectorError::Config(format!("http client: {e}")))?;
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 3).collect();
        // Longest first, so a secret containing another is redacted whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Ok(Self {
            client,
            policy,
            headers: map,
            secrets: Arc::new(secrets),
            limiter,
            platform,
        })
    }

    /// `text` with every credential value replaced by `[redacted]`.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in self.secrets.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "[redacted]");
            }
        }
        out
    }

    /// Sends `call` with retries and decodes the JSON answer; `None` for an empty answer (204).
    pub(crate) async fn send<T: DeserializeOwned>(&self, call: &Call) -> Result<Option<T>> {
        self.send_with(call, |what, reply| {
            if reply.status == 204 || reply.body.iter().all(u8::is_ascii_whitespace) {
                return Ok(None);
            }
            serde_json::from_slice::<T>(&reply.body)
                .map(Some)
                .map_err(|e| {
                    ConnectorError::Malformed(format!("{what}: HTTP {}: {e}", reply.status))
                })
        })
        .await
    }

    /// The retry loop around one call; `read` turns a successful answer into the result (a
    /// `Malformed` error from it is retried like a transient failure).
    pub(crate) async fn send_with<T>(
        &self,
        call: &Call,
        read: impl Fn(&str, &Reply) -> Result<T>,
    ) -> Result<T> {
        let attempts = self.policy.retry.attempts.max(1);
        // 429s with a reset hint are the platform pacing us, not failures: they get their own
        // (larger) allowance so a busy window does not eat the transient-error retries.
        let max_limited = attempts.saturating_mul(4).max(8);
        let (mut failures, mut limited) = (0u32, 0u32);
        let limiter = call.limiter.as_ref().unwrap_or(&self.limiter);
        loop {
            limiter.acquire().await;
            let outcome = match self.attempt(call, limiter).await {
                Ok((what, reply)) => match read(&what, &reply) {
                    Ok(v) => Ok(v),
                    Err(e @ ConnectorError::Malformed(_)) => Err(Failure::Retry(e)),
                    Err(e) => Err(Failure::Fatal(e)),
                },
                Err(f) => Err(f),
            };
            match outcome {
                Ok(v) => return Ok(v),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Limited(hint, message)) => {
                    limited += 1;
                    if limited > max_limited {
                        return Err(ConnectorError::RateLimited(message));
                    }
                    let wait = hint.unwrap_or_else(|| self.policy.retry.delay(limited));
                    tracing::info!(
                        platform = self.platform,
                        wait_ms = wait.as_millis() as u64,
                        "rate limited by the platform, waiting for the reset"
                    );
                    limiter.block_for(wait + RESET_MARGIN);
                }
                Err(Failure::Retry(e)) => {
                    failures += 1;
                    if failures >= attempts {
                        return Err(e);
                    }
                    let delay = self.policy.retry.delay(failures);
                    tracing::warn!(
                        platform = self.platform,
                        attempt = failures,
                        delay_ms = delay.as_millis() as u64,
                        error = %e,
                        "transient failure, retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn attempt(
        &self,
        call: &Call,
        limiter: &RateLimiter,
    ) -> Result<(String, Reply), Failure> {
        let what = format!("{} {}", call.method, self.redact(call.path()));
        let mut req = self
            .client
            .request(call.method.clone(), &call.url)
            .headers(self.headers.clone());
        if !call.headers.is_empty() {
            // Replacing the client's headers of the same names (a body's own content type).
            let mut own = reqwest::header::HeaderMap::new();
            for (name, value) in &call.headers {
                if let (Ok(n), Ok(v)) = (
                    reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                    reqwest::header::HeaderValue::from_str(value),
                ) {
                    let mut v = v;
                    v.set_sensitive(true);
                    own.append(n, v);
                }
            }
            req = req.headers(own);
        }
        if !call.query.is_empty() {
            req = req.query(&call.query);
        }
        if let Some(body) = &call.body {
            req = req.body(body.clone());
        }
        if self.policy.debug {
            let body = call
                .body
                .as_deref()
                .map(|b| self.loggable(b))
                .unwrap_or_default();
            let query: BTreeMap<&str, &str> = call
                .query
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            tracing::debug!(
                platform = self.platform,
                request = %what,
                query = %self.redact(&format!("{query:?}")),
                body = %body,
                "http request"
            );
        }
        let resp = req.send().await.map_err(|e| self.transport(&what, &e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        limiter.observe(&headers);
        let bytes = resp.bytes().await.map_err(|e| self.transport(&what, &e))?;
        if self.policy.debug {
            tracing::debug!(
                platform = self.platform,
                request = %what,
                status = status.as_u16(),
                body = %self.loggable(&bytes),
                "http response"
            );
        }
        if status.is_success() {
            return Ok((
                what,
                Reply {
                    status: status.as_u16(),
                    headers,
                    body: bytes,
                },
            ));
        }
        let message = self.redact(&format!(
            "{what}: HTTP {}: {}{}",
            status.as_u16(),
            platform_message(&bytes),
            violations(&headers)
        ));
        Err(match status.as_u16() {
            401 | 403 => Failure::Fatal(ConnectorError::Auth(message)),
            404 => Failure::Fatal(ConnectorError::NotFound(message)),
            429 => Failure::Limited(limiter.reset_hint(&headers), message),
            408 | 500..=599 => Failure::Retry(ConnectorError::Transient(message)),
            code => Failure::Fatal(ConnectorError::Rejected {
                status: code,
                message,
            }),
        })
    }

    fn transport(&self, what: &str, e: &reqwest::Error) -> Failure {
        let kind = if e.is_timeout() {
            format!("timed out after {:?}", self.policy.timeout)
        } else if e.is_connect() {
            "connection failed".to_string()
        } else {
            "request failed".to_string()
        };
        // Without the URL: it may carry credentials (store hash, keys in the query).
        let detail = self.redact(&e.to_string());
        let detail = strip_url(&detail);
        Failure::Retry(ConnectorError::Transient(format!(
            "{what}: {kind} ({detail})"
        )))
    }

    fn loggable(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        let mut text = self.redact(&text);
        if text.len() > MAX_LOGGED_BODY {
            let mut cut = MAX_LOGGED_BODY;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str("…[truncated]");
        }
        text
    }
}

/// reqwest's message without the "for url (…)" part.
fn strip_url(text: &str) -> String {
    match text.find(" for url (") {
        Some(i) => {
            let rest = &text[i..];
            let end = rest.find(')').map_or(rest.len(), |j| j + 1);
            format!("{}{}", &text[..i], &rest[end..])
        }
        None => text.to_string(),
    }
}

/// The violations a validating proxy reported, for the error message.
fn violations(headers: &HeaderMap) -> String {
    headers
        .get(VIOLATIONS_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| format!(" (spec violations: {v})"))
        .unwrap_or_default()
}

/// The platform's own error message from an error body: `title`/`message`/`error`/`detail` of
/// an object (plus its `errors` details), the first `message` of an array, or the text itself.
pub(crate) fn platform_message(body: &[u8]) -> String {
    fn from_value(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::Object(o) => {
                let head = ["title", "message", "error", "detail", "error_description"]
                    .iter()
                    .find_map(|k| o.get(*k).and_then(|x| x.as_str()).filter(|s| !s.is_empty()))
                    .map(str::to_string);
                let details = match o.get("errors") {
                    Some(serde_json::Value::Object(e)) if !e.is_empty() => Some(
                        e.iter()
                            .take(10)
                            .map(|(k, v)| match v.as_str() {
                                Some(s) => format!("{k}: {s}"),
                                None => format!("{k}: {v}"),
                            })
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                    Some(serde_json::Value::Array(a)) if !a.is_empty() => Some(
                        a.iter()
                            .filter_map(from_value)
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                    _ => None,
                };
                match (head, details) {
                    (Some(h), Some(d)) => Some(format!("{h} ({d})")),
                    (h, d) => h.or(d),
                }
            }
            serde_json::Value::Array(a) => a.first().and_then(from_value),
            serde_json::Value::String(s) => Some(s.clone()),
            _ => None,
        }
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(m) = from_value(&v)
    {
        return m;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "no error details".to_string();
    }
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1), Duration::from_millis(100));
        assert_eq!(p.delay(3), Duration::from_millis(400));
        assert_eq!(p.delay(30), Duration::from_secs(10));
    }

    #[test]
    fn platform_messages() {
        let v3 = br#"{"status":422,"title":"JSON data is missing or invalid","type":"x","errors":{"weight":"must be >= 0"}}"#;
        assert_eq!(
            platform_message(v3),
            "JSON data is missing or invalid (weight: must be >= 0)"
        );
        let v2 = br#"[{"status":400,"message":"The field 'items' is required."}]"#;
        assert_eq!(platform_message(v2), "The field 'items' is required.");
        assert_eq!(platform_message(b"oops"), "oops");
        assert_eq!(platform_message(b""), "no error details");
    }

    #[test]
    fn strips_urls() {
        assert_eq!(
            strip_url("error sending request for url (http://h/stores/abc/v3) boom"),
            "error sending request boom"
        );
    }

    #[test]
    fn call_path_has_no_host_or_query() {
        let c = Call::get("http://127.0.0.1:9/stores/x/v3/catalog/products").query("page", 2);
        assert_eq!(c.path(), "/stores/x/v3/catalog/products");
    }

    #[test]
    fn redacts_every_credential_value() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = HttpClient::new(
            "test",
            HttpPolicy {
                timeout: Duration::from_secs(1),
                retry: RetryPolicy::default(),
                debug: true,
            },
            &[("x-auth-token", "tok-123456".into())],
            vec!["tok-123456".into(), "store-hash-9".into(), "ab".into()],
            Arc::new(RateLimiter::new(10, Duration::from_secs(1), None)),
        )
        .expect("client");
        assert_eq!(
            client.redact("GET /stores/store-hash-9/v3 with tok-123456 (ab)"),
            "GET /stores/[redacted]/v3 with [redacted] (ab)"
        );
        let long = "x".repeat(MAX_LOGGED_BODY + 10);
        assert!(client.loggable(long.as_bytes()).ends_with("…[truncated]"));
        assert!(!format!("{client:?}").contains("tok-123456"));
    }

    #[tokio::test]
    async fn limiter_waits_when_platform_says_nothing_left() {
        let l = RateLimiter::new(
            100,
            Duration::from_secs(30),
            Some(RateLimitHeaders {
                left: "x-left",
                reset_ms: "x-reset",
            }),
        );
        l.acquire().await;
        let mut h = HeaderMap::new();
        h.insert("x-left", HeaderValue::from_static("0"));
        h.insert("x-reset", HeaderValue::from_static("120"));
        l.observe(&h);
        let start = std::time::Instant::now();
        l.acquire().await;
        assert!(start.elapsed() >= Duration::from_millis(120));
    }

    #[tokio::test]
    async fn limiter_ignores_a_distant_reset_while_requests_are_left() {
        let l = RateLimiter::new(
            100,
            Duration::from_secs(30),
            Some(RateLimitHeaders {
                left: "x-left",
                reset_ms: "x-reset",
            }),
        );
        let mut h = HeaderMap::new();
        h.insert("x-left", HeaderValue::from_static("120"));
        h.insert("x-reset", HeaderValue::from_static("29000"));
        l.observe(&h);
        let start = std::time::Instant::now();
        l.acquire().await;
        assert!(start.elapsed() < Duration::from_millis(100));
    }

    #[tokio::test]
    async fn background_calls_leave_a_fifth_of_a_window_until_its_last_tenth() {
        let l = RateLimiter::new(10, Duration::from_millis(1000), None);
        let start = std::time::Instant::now();
        background(async {
            for _ in 0..8 {
                l.acquire().await;
            }
        })
        .await;
        assert!(start.elapsed() < Duration::from_millis(150));
        // Other calls have the reserve at once.
        l.acquire().await;
        assert!(start.elapsed() < Duration::from_millis(150));
        // The reserve's last request is a background call's in the window's last tenth.
        background(l.acquire()).await;
        let t = start.elapsed();
        assert!(
            t >= Duration::from_millis(880) && t < Duration::from_millis(1000),
            "{t:?}"
        );
    }

    #[tokio::test]
    async fn the_wait_of_a_background_call_is_told_without_spending() {
        // 100 calls per 10 s: 10 at once, then one per 125 ms.
        let l = RateLimiter::new(100, Duration::from_secs(10), None);
        assert_eq!(l.background_wait(), Duration::ZERO);
        background(async {
            for _ in 0..10 {
                l.acquire().await;
            }
        })
        .await;
        let wait = l.background_wait();
        assert!(
            wait > Duration::from_millis(50) && wait <= Duration::from_millis(125),
            "{wait:?}"
        );
        // Asking spent nothing: the same answer, and the call goes after that wait.
        assert!(l.background_wait() <= wait);
        let start = std::time::Instant::now();
        background(l.acquire()).await;
        assert!(start.elapsed() >= wait - Duration::from_millis(20));
        assert!(start.elapsed() < Duration::from_millis(300));
    }

    #[tokio::test]
    async fn background_calls_spread_a_long_window() {
        // 100 calls per 10 s: background calls may spend 10 at once, then 80 over the window
        // (one per 125 ms); others are not held back.
        let l = RateLimiter::new(100, Duration::from_secs(10), None);
        let start = std::time::Instant::now();
        background(async {
            for _ in 0..10 {
                l.acquire().await;
            }
        })
        .await;
        assert!(start.elapsed() < Duration::from_millis(100));
        for _ in 0..5 {
            l.acquire().await;
        }
        assert!(start.elapsed() < Duration::from_millis(100));
        // 15 spent: the next background call waits until the allowance is 16 (750 ms).
        background(l.acquire()).await;
        let t = start.elapsed();
        assert!(
            t >= Duration::from_millis(700) && t < Duration::from_millis(1000),
            "{t:?}"
        );
        // The next one 125 ms later.
        background(l.acquire()).await;
        let t2 = start.elapsed() - t;
        assert!(
            t2 >= Duration::from_millis(100) && t2 < Duration::from_millis(300),
            "{t2:?}"
        );
    }

    #[tokio::test]
    async fn background_calls_leave_a_fifth_of_a_bucket() {
        // 5 tokens a second, 10 at most: a background call needs 3 (1 + the reserve of 2).
        let l = RateLimiter::token_bucket(5.0, 10, None);
        let start = std::time::Instant::now();
        background(async {
            for _ in 0..8 {
                l.acquire().await;
            }
        })
        .await;
        l.acquire().await;
        assert!(start.elapsed() < Duration::from_millis(150));
        // One token left: the next background call waits for two more (400 ms).
        background(l.acquire()).await;
        let t = start.elapsed();
        assert!(t >= Duration::from_millis(380), "{t:?}");
    }

    #[tokio::test]
    async fn background_calls_wait_while_a_priority_call_waits() {
        let l = Arc::new(RateLimiter::new(1, Duration::from_millis(300), None));
        l.acquire().await;
        let order = Arc::new(Mutex::new(Vec::new()));
        // A push waits for the next window first, then an import joins it.
        let push = {
            let (l, order) = (l.clone(), order.clone());
            tokio::spawn(background(async move {
                l.acquire().await;
                order.lock().expect("order").push("push");
            }))
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let import = {
            let (l, order) = (l.clone(), order.clone());
            tokio::spawn(priority(async move {
                l.acquire().await;
                order.lock().expect("order").push("import");
            }))
        };
        import.await.expect("import");
        push.await.expect("push");
        assert_eq!(*order.lock().expect("order"), ["import", "push"]);
        // Other calls waiting do not count.
        let other = {
            let l = l.clone();
            tokio::spawn(async move { l.acquire().await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(l.lock().waiting, 0);
        other.await.expect("other");
        // A waiting call that gives up no longer holds pushes back.
        l.acquire().await;
        let gave_up = tokio::time::timeout(Duration::from_millis(20), priority(l.acquire())).await;
        assert!(gave_up.is_err());
        assert_eq!(l.lock().waiting, 0);
    }

    #[tokio::test]
    async fn no_window_long_span_holds_more_than_the_quota() {
        // 10 per 400 ms. Ten calls just before the client's window resets, then ten more: a
        // fixed window would let the second ten go at its reset, twenty within a few ms; the
        // platform's window (of any phase) would refuse half of them.
        let l = RateLimiter::new(10, Duration::from_millis(400), None);
        let start = std::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(350)).await;
        for _ in 0..10 {
            l.acquire().await;
        }
        let first = start.elapsed();
        for _ in 0..10 {
            l.acquire().await;
        }
        let second = start.elapsed();
        assert!(first < Duration::from_millis(390), "{first:?}");
        assert!(
            second >= first + Duration::from_millis(380),
            "the second ten waited for the first to age out: {first:?} → {second:?}"
        );
        // Asking spends nothing either way.
        assert!(l.background_wait() > Duration::ZERO);
    }

    #[tokio::test]
    async fn limiter_keeps_own_budget() {
        let l = RateLimiter::new(2, Duration::from_millis(150), None);
        let start = std::time::Instant::now();
        for _ in 0..3 {
            l.acquire().await;
        }
        assert!(start.elapsed() >= Duration::from_millis(140));
    }
}

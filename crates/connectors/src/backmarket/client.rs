//! The Back Market HTTP client of one connection: `Authorization: Basic <token>`, the
//! mandatory `Accept-Language` and an integration `User-Agent`, and the two documented
//! budgets (standard and catalog), each a [`RateLimiter`] chosen per call by its path.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::config::BackMarketConfig;
use crate::http::{Call, HttpClient, RateLimiter};
use crate::{ConnectorError, Result};

/// Which budget a path spends: catalog endpoints are `/ws/listings…`, the rest is standard.
pub(crate) fn is_catalog(path: &str) -> bool {
    path.starts_with("/ws/listings")
}

/// Client of one Back Market seller account.
pub(crate) struct Client {
    http: HttpClient,
    pub(crate) cfg: BackMarketConfig,
    standard: OnceLock<Arc<RateLimiter>>,
    catalog: OnceLock<Arc<RateLimiter>>,
}

impl Client {
    /// A client for `cfg`.
    pub(crate) fn new(cfg: BackMarketConfig) -> Result<Self> {
        let headers = vec![
            ("authorization", format!("Basic {}", cfg.token)),
            ("accept", "application/json".to_string()),
            ("content-type", "application/json".to_string()),
            (
                "accept-language",
                super::config::ACCEPT_LANGUAGE.to_string(),
            ),
            ("user-agent", cfg.user_agent()),
        ];
        // Every call names its own budget; this one is never spent.
        let unused = Arc::new(RateLimiter::new(u32::MAX, Duration::from_secs(1), None));
        let http = HttpClient::new(
            super::PLATFORM,
            cfg.policy.clone(),
            &headers,
            cfg.secrets.clone(),
            unused,
        )?;
        Ok(Self {
            http,
            cfg,
            standard: OnceLock::new(),
            catalog: OnceLock::new(),
        })
    }

    /// The budget of `path`. Each is made on first use, so its first window opens with the
    /// connection's first request, as Back Market's does; its window is the documented one
    /// plus a margin (1/40, 250 ms of 10 s) for the time requests spend in flight.
    pub(crate) fn limiter(&self, path: &str) -> Arc<RateLimiter> {
        let (cell, quota) = if is_catalog(path) {
            (&self.catalog, self.cfg.catalog_limit)
        } else {
            (&self.standard, self.cfg.standard_limit)
        };
        cell.get_or_init(|| {
            let margin = (self.cfg.window / 40).max(Duration::from_millis(10));
            Arc::new(RateLimiter::new(quota, self.cfg.window + margin, None))
        })
        .clone()
    }

    /// A call of `path` (under `/ws`) with its budget.
    pub(crate) fn call(&self, method: Method, path: &str) -> Call {
        Call::new(method, format!("{}{path}", self.cfg.base_url)).limiter(self.limiter(path))
    }

    /// Sends a call whose answer must be a JSON body.
    pub(crate) async fn fetch(&self, call: Call) -> Result<Value> {
        self.http.send::<Value>(&call).await?.ok_or_else(|| {
            ConnectorError::Malformed("the platform answered with an empty body".into())
        })
    }

    /// A GET of `path` with `query`.
    pub(crate) async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let mut call = self.call(Method::GET, path);
        for (k, v) in query {
            call = call.query(k, v);
        }
        self.fetch(call).await
    }

    /// A POST of `body` to `path`.
    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let call = self.call(Method::POST, path).json(body)?;
        self.fetch(call).await
    }
}

//! A thin client of the gateway's REST API (`/api/v1`, Bearer API key).
//!
//! Errors name the method, the path and the gateway's own message, never the API key.

use std::time::Duration;

use anyhow::{Context, anyhow};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The gateway's answer to a request that did not succeed.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `METHOD path` of the request.
    pub request: String,
    /// The gateway's message (from its JSON error body), or the start of the body.
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} answered {}", self.request, self.status)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if self.status == StatusCode::UNAUTHORIZED {
            write!(f, " (check --api-key / MARKETSYNC_API_KEY)")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// Client of one gateway with one API key.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Deliberately without the key.
        f.debug_struct("Api").field("base", &self.base).finish()
    }
}

impl Api {
    /// A client of the gateway at `base` (e.g. `http://127.0.0.1:8080`) using `key`.
    pub fn new(base: &str, key: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            key: key.trim().to_string(),
        })
    }

    /// The gateway's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A request to `path` (starting with `/`) with the key; a 30 s timeout unless `stream`.
    fn request(&self, method: Method, path: &str, stream: bool) -> RequestBuilder {
        let rb = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.key);
        if stream {
            rb
        } else {
            rb.timeout(Duration::from_secs(30))
        }
    }

    /// Sends and turns a non-2xx answer into an [`ApiError`].
    async fn send(
        &self,
        rb: RequestBuilder,
        method: &Method,
        path: &str,
    ) -> anyhow::Result<Response> {
        let request = format!("{method} {path}");
        let resp = rb.send().await.map_err(|e| {
            let e = e.without_url();
            anyhow!("{request} at {} failed: {}", self.base, describe(&e))
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        Err(ApiError {
            status,
            request,
            message: error_message(&body),
        }
        .into())
    }

    /// GET `path` as JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let resp = self
            .send(self.request(Method::GET, path, false), &Method::GET, path)
            .await?;
        resp.json()
            .await
            .with_context(|| format!("GET {path}: the answer is not the expected JSON"))
    }

    /// POST `body` to `path`, JSON answer.
    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> anyhow::Result<T> {
        let resp = self
            .send(
                self.request(Method::POST, path, false).json(body),
                &Method::POST,
                path,
            )
            .await?;
        resp.json()
            .await
            .with_context(|| format!("POST {path}: the answer is not the expected JSON"))
    }

    /// Opens a long-lived GET (the SSE stream) without a total timeout.
    pub async fn stream(&self, path: &str) -> anyhow::Result<Response> {
        self.send(
            self.request(Method::GET, path, true)
                .header(reqwest::header::ACCEPT, "text/event-stream"),
            &Method::GET,
            path,
        )
        .await
    }
}

/// The human part of a reqwest error, with its causes (URLs are already stripped).
pub fn describe(e: &reqwest::Error) -> String {
    let mut s = if e.is_connect() {
        "cannot connect".to_string()
    } else if e.is_timeout() {
        "timed out".to_string()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}

/// The message of a JSON error body (`{"error":{"message":…}}`, `{"error":"…"}`,
/// `{"message":…}`), else the start of the body.
pub fn error_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        let candidates = [
            v.pointer("/error/message"),
            v.get("message"),
            v.get("error"),
            v.get("detail"),
        ];
        for c in candidates.into_iter().flatten() {
            if let Some(s) = c.as_str() {
                return s.to_string();
            }
        }
    }
    let trimmed = body.trim();
    trimmed.chars().take(300).collect()
}

/// The items of a list answer: a bare array, or the first array among the usual wrapper fields
/// (`items`, `data`, `connections`, `results`), or the first array field of the object.
pub fn list_items(v: &Value) -> Vec<Value> {
    if let Some(a) = v.as_array() {
        return a.clone();
    }
    if let Some(obj) = v.as_object() {
        for k in ["items", "data", "connections", "results"] {
            if let Some(a) = obj.get(k).and_then(Value::as_array) {
                return a.clone();
            }
        }
        if let Some(a) = obj.values().find_map(Value::as_array) {
            return a.clone();
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_messages() {
        assert_eq!(
            error_message(r#"{"error":{"code":"not_found","message":"no such connection"}}"#),
            "no such connection"
        );
        assert_eq!(error_message(r#"{"error":"bad key"}"#), "bad key");
        assert_eq!(error_message("plain text"), "plain text");
    }

    #[test]
    fn list_shapes() {
        assert_eq!(list_items(&json!([1, 2])).len(), 2);
        assert_eq!(list_items(&json!({"items": [1]})).len(), 1);
        assert_eq!(
            list_items(&json!({"total": 1, "whatever": [1, 2, 3]})).len(),
            3
        );
        assert!(list_items(&json!({"x": 1})).is_empty());
    }
}

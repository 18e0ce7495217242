//! The LLM client: one chat turn (a system and a user message) to an OpenAI-compatible
//! chat-completions API, Azure OpenAI, or Anthropic's Messages API, with a timeout per
//! request and retries with backoff after timeouts, transport errors, 429 and 5xx (honouring
//! `Retry-After`). Other 4xx answers are final. The API key travels only in the auth header
//! and is redacted from every error.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::config::{LlmSettings, OPENAI_API, Provider, expose};

/// Longest wait a `Retry-After` may ask for; a longer one ends the call (the built-in engine
/// answers instead).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Why a call gave no answer. Messages never hold the API key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// No answer within the timeout.
    #[error("the provider did not answer within {0:?}")]
    Timeout(Duration),
    /// Connecting or reading failed.
    #[error("transport error: {0}")]
    Transport(String),
    /// The provider answered with an error status.
    #[error("the provider answered {status}: {detail}")]
    Status {
        /// HTTP status.
        status: u16,
        /// An excerpt of the answer, redacted.
        detail: String,
    },
    /// The answer is not what the API documents.
    #[error("unexpected answer: {0}")]
    Malformed(String),
}

/// One failed attempt: the error, whether another attempt may help, and how long the provider
/// asked to wait.
struct Failure {
    error: LlmError,
    retry: bool,
    after: Option<Duration>,
}

/// A client of one provider.
pub struct LlmClient {
    http: reqwest::Client,
    settings: LlmSettings,
    url: String,
    headers: HeaderMap,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient")
            .field("provider", &self.settings.provider)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl LlmClient {
    /// A client for `settings` (not [`Provider::Builtin`]).
    pub fn new(settings: LlmSettings) -> Result<Self, LlmError> {
        let base = &settings.base_url;
        let url = match settings.provider {
            Provider::OpenAi => format!("{base}/v1/chat/completions"),
            Provider::Azure => format!(
                "{base}/openai/deployments/{}/chat/completions?api-version={}",
                settings.azure_deployment, settings.azure_api_version
            ),
            Provider::Anthropic => format!("{base}/v1/messages"),
            Provider::Builtin => {
                return Err(LlmError::Malformed(
                    "the built-in engine has no HTTP client".into(),
                ));
            }
        };
        let mut headers = HeaderMap::new();
        if let Some(key) = &settings.api_key {
            let (name, value) = match settings.provider {
                Provider::Azure => ("api-key", expose(key).to_string()),
                Provider::Anthropic => ("x-api-key", expose(key).to_string()),
                _ => ("authorization", format!("Bearer {}", expose(key))),
            };
            let mut v = HeaderValue::from_str(&value).map_err(|_| {
                LlmError::Malformed("the API key cannot be sent in a header".into())
            })?;
            v.set_sensitive(true);
            headers.insert(HeaderName::from_static(name), v);
        }
        if settings.provider == Provider::Anthropic {
            headers.insert(
                HeaderName::from_static("anthropic-version"),
                HeaderValue::from_static("2023-06-01"),
            );
        }
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("marketsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Transport(format!("http client: {}", e.without_url())))?;
        Ok(Self {
            http,
            settings,
            url,
            headers,
        })
    }

    /// The provider's settings.
    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// The request body of one chat turn.
    pub fn body(&self, system: &str, user: &str) -> Value {
        let s = &self.settings;
        match s.provider {
            Provider::Anthropic => json!({
                "model": s.model,
                "max_tokens": s.max_tokens,
                "temperature": 0.2,
                "system": system,
                "messages": [{"role": "user", "content": user}],
            }),
            _ => {
                let mut body = json!({
                    "messages": [
                        {"role": "system", "content": system},
                        {"role": "user", "content": user},
                    ],
                    "response_format": {"type": "json_object"},
                });
                if s.provider == Provider::OpenAi && s.base_url == OPENAI_API {
                    // OpenAI itself: `max_tokens` is deprecated there and refused by its
                    // reasoning models, as is any temperature but the default.
                    body["max_completion_tokens"] = json!(s.max_tokens);
                } else {
                    // Azure and OpenAI-compatible servers (vLLM, Ollama, llama.cpp, proxies).
                    body["max_tokens"] = json!(s.max_tokens);
                    body["temperature"] = json!(0.2);
                }
                // Azure routes by deployment; the others need the model.
                if s.provider != Provider::Azure {
                    body["model"] = json!(s.model);
                }
                body
            }
        }
    }

    /// Sends one chat turn and returns the assistant's text, retrying as configured.
    pub async fn complete(&self, system: &str, user: &str) -> Result<String, LlmError> {
        let body = self.body(system, user);
        let mut attempt = 0u32;
        loop {
            let failure = match self.attempt(&body).await {
                Ok(text) => return Ok(text),
                Err(f) => f,
            };
            if !failure.retry || attempt >= self.settings.retries {
                return Err(failure.error);
            }
            let wait = failure.after.unwrap_or_else(|| backoff(attempt));
            if wait > MAX_RETRY_AFTER {
                return Err(failure.error);
            }
            tracing::debug!(
                provider = %self.settings.provider,
                attempt = attempt + 1,
                wait_ms = wait.as_millis() as u64,
                error = %failure.error,
                "llm call failed, retrying"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, body: &Value) -> Result<String, Failure> {
        let sent = self
            .http
            .post(&self.url)
            .headers(self.headers.clone())
            .json(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Err(self.transport(e)),
        };
        let status = response.status();
        let after = retry_after(response.headers());
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => return Err(self.transport(e)),
        };
        if !status.is_success() {
            let code = status.as_u16();
            return Err(Failure {
                error: LlmError::Status {
                    status: code,
                    detail: self.redact(&excerpt(&text, 200)),
                },
                // 429 (rate limited), 408, 5xx and Anthropic's 529 (overloaded) may pass later.
                retry: code == 429 || code == 408 || status.is_server_error(),
                after,
            });
        }
        let answer: Value = serde_json::from_str(&text).map_err(|_| Failure {
            error: LlmError::Malformed(format!("not JSON: {}", self.redact(&excerpt(&text, 80)))),
            retry: false,
            after: None,
        })?;
        self.content(&answer).map_err(|m| Failure {
            error: LlmError::Malformed(self.redact(&m)),
            retry: false,
            after: None,
        })
    }

    /// The assistant's text in a chat-completions or Messages answer.
    fn content(&self, answer: &Value) -> Result<String, String> {
        match self.settings.provider {
            Provider::Anthropic => {
                let blocks = answer
                    .get("content")
                    .and_then(Value::as_array)
                    .ok_or("no `content` array")?;
                let text: String = blocks
                    .iter()
                    .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
                    .filter_map(|b| b.get("text").and_then(Value::as_str))
                    .collect();
                if text.trim().is_empty() {
                    return Err("no text block".into());
                }
                Ok(text)
            }
            _ => {
                let message = answer
                    .get("choices")
                    .and_then(|c| c.get(0))
                    .and_then(|c| c.get("message"))
                    .ok_or("no `choices[0].message`")?;
                if let Some(r) = message.get("refusal").and_then(Value::as_str) {
                    return Err(format!("the model refused: {}", excerpt(r, 80)));
                }
                message
                    .get("content")
                    .and_then(Value::as_str)
                    .filter(|t| !t.trim().is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| "no text in `choices[0].message.content`".into())
            }
        }
    }

    fn transport(&self, e: reqwest::Error) -> Failure {
        let error = if e.is_timeout() {
            LlmError::Timeout(self.settings.timeout)
        } else {
            // Without the URL: it could carry a proxy's credentials; the source chain says
            // what failed.
            let e = e.without_url();
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(": ");
                msg.push_str(&s.to_string());
                source = s.source();
            }
            LlmError::Transport(self.redact(&msg))
        };
        Failure {
            error,
            retry: true,
            after: None,
        }
    }

    /// `text` with the API key replaced by `[redacted]`.
    fn redact(&self, text: &str) -> String {
        match &self.settings.api_key {
            Some(k) if expose(k).len() >= 3 && text.contains(expose(k)) => {
                text.replace(expose(k), "[redacted]")
            }
            _ => text.to_string(),
        }
    }
}

/// 250 ms, 500 ms, 1 s, … up to 8 s, with up to a fifth more at random so replicas spread.
fn backoff(attempt: u32) -> Duration {
    let base = 250u64.saturating_mul(1 << attempt.min(5)).min(8_000);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    Duration::from_millis(base + nanos % (base / 5 + 1))
}

/// The wait a 429 or 503 asks for: `retry-after-ms` (OpenAI, Azure), or `Retry-After` in
/// seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_millis(ms as u64));
    }
    let v = get("retry-after")?;
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

fn excerpt(s: &str, n: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_its_three_shapes() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn openai_itself_gets_max_completion_tokens_and_compatible_servers_max_tokens() {
        use crate::ai::config::AiConfig;
        let client = |base: Option<&str>| {
            let env = move |k: &str| match k {
                "MARKETSYNC_AI_PROVIDER" => Some("openai".to_string()),
                "MARKETSYNC_AI_MODEL" => Some("gpt-4o".to_string()),
                "MARKETSYNC_AI_API_KEY" => Some("sk-x".to_string()),
                "MARKETSYNC_AI_BASE_URL" => base.map(str::to_string),
                _ => None,
            };
            let c = AiConfig::load_with(&env).expect("config");
            LlmClient::new(c.llm.expect("llm")).expect("client")
        };
        marketsync_common::install_crypto_provider();
        let b = client(None).body("s", "u");
        assert_eq!(b["max_completion_tokens"], 1024);
        assert!(b.get("max_tokens").is_none() && b.get("temperature").is_none());
        assert_eq!(b["model"], "gpt-4o");
        let b = client(Some("http://127.0.0.1:11434/v1")).body("s", "u");
        assert_eq!(b["max_tokens"], 1024);
        assert_eq!(b["temperature"], 0.2);
        assert!(b.get("max_completion_tokens").is_none());
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert!(
            backoff(0) >= Duration::from_millis(250) && backoff(0) <= Duration::from_millis(300)
        );
        assert!(backoff(2) >= Duration::from_secs(1));
        assert!(backoff(30) <= Duration::from_millis(9_600));
    }
}

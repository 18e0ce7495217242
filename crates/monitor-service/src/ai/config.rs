//! The monitor's AI configuration: the seed's settings (shared with the knowledge service, see
//! [`marketsync_common::ai_config`]) and the suggestion provider with its connection settings.

use std::fmt;
use std::time::Duration;

use marketsync_common::ai_config::{AiConfigError, AiSettings, vars};
use secrecy::{ExposeSecret, SecretString};

/// Model name the built-in engine reports.
pub const BUILTIN_MODEL: &str = "marketsync-builtin";

/// OpenAI's own API (the `openai` provider's default base URL).
pub const OPENAI_API: &str = "https://api.openai.com";

/// Anthropic's API (the `anthropic` provider's default base URL).
pub const ANTHROPIC_API: &str = "https://api.anthropic.com";

/// Default Azure OpenAI `api-version` (the data-plane inference GA release).
pub const AZURE_API_VERSION: &str = "2024-10-21";

/// Where suggestions come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// The built-in, offline engine alone (the default).
    Builtin,
    /// An OpenAI-compatible chat-completions API (OpenAI, a local server, a proxy).
    OpenAi,
    /// Azure OpenAI (deployment in the path, `api-key` header, `api-version` query).
    Azure,
    /// Anthropic's Messages API.
    Anthropic,
}

impl Provider {
    /// The name used in configuration and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Builtin => "builtin",
            Provider::OpenAi => "openai",
            Provider::Azure => "azure",
            Provider::Anthropic => "anthropic",
        }
    }

    fn parse(v: &str) -> Result<Self, String> {
        match v.trim().to_ascii_lowercase().as_str() {
            "builtin" | "" => Ok(Provider::Builtin),
            "openai" => Ok(Provider::OpenAi),
            "azure" => Ok(Provider::Azure),
            "anthropic" => Ok(Provider::Anthropic),
            other => Err(format!(
                "unknown provider `{}` (expected builtin, openai, azure or anthropic)",
                other.chars().take(40).collect::<String>()
            )),
        }
    }

    fn default_base_url(self) -> Option<&'static str> {
        match self {
            Provider::OpenAi => Some(OPENAI_API),
            Provider::Anthropic => Some(ANTHROPIC_API),
            Provider::Azure | Provider::Builtin => None,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to reach an LLM provider.
#[derive(Clone)]
pub struct LlmSettings {
    /// `openai`, `azure` or `anthropic`.
    pub provider: Provider,
    /// Base URL without a trailing `/` (and without `/v1`: the paths add it).
    pub base_url: String,
    /// API key, sent only in the provider's auth header.
    pub api_key: Option<SecretString>,
    /// Model sent in the request (Azure: the deployment decides, the model is not sent).
    pub model: String,
    /// Azure deployment name.
    pub azure_deployment: String,
    /// Azure `api-version`.
    pub azure_api_version: String,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Retries after a timeout, a transport error, a 429 or a 5xx.
    pub retries: u32,
    /// Most tokens a completion may use.
    pub max_tokens: u32,
    /// Requests in flight at once, over all batches.
    pub concurrency: usize,
    /// Most findings of one batch sent to the provider.
    pub max_batch: usize,
    /// Time a batch waits for the provider at most.
    pub batch_deadline: Duration,
}

impl fmt::Debug for LlmSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmSettings")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("model", &self.model)
            .field("azure_deployment", &self.azure_deployment)
            .field("azure_api_version", &self.azure_api_version)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("max_tokens", &self.max_tokens)
            .field("concurrency", &self.concurrency)
            .field("max_batch", &self.max_batch)
            .field("batch_deadline", &self.batch_deadline)
            .finish()
    }
}

/// The monitor's AI configuration (the default: the built-in engine with the seed's
/// defaults).
#[derive(Debug, Clone, Default)]
pub struct AiConfig {
    /// The seed's settings.
    pub settings: AiSettings,
    /// The LLM provider; `None` for the built-in engine alone.
    pub llm: Option<LlmSettings>,
}

impl AiConfig {
    /// Reads the configuration from the process environment (and the file it names).
    pub fn from_env() -> Result<Self, AiConfigError> {
        Self::load_with(&|name| marketsync_common::config::var(name))
    }

    /// As [`AiConfig::from_env`], reading variables through `env`.
    pub fn load_with(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, AiConfigError> {
        let settings = AiSettings::load_with(env)?;
        let bad = |var: &str, message: String| AiConfigError::Env {
            var: var.to_string(),
            message,
        };
        let provider = Provider::parse(&env(vars::AI_PROVIDER).unwrap_or_default())
            .map_err(|m| bad(vars::AI_PROVIDER, m))?;
        if provider == Provider::Builtin {
            return Ok(Self {
                settings,
                llm: None,
            });
        }
        let number = |var: &str, default: u64, min: u64, max: u64| -> Result<u64, AiConfigError> {
            match env(var) {
                None => Ok(default),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (min..=max).contains(n))
                    .ok_or_else(|| {
                        bad(
                            var,
                            format!(
                                "must be a whole number from {min} to {max}, got `{}`",
                                v.chars().take(40).collect::<String>()
                            ),
                        )
                    }),
            }
        };
        let explicit_base = env(vars::AI_BASE_URL);
        let base_url = match (&explicit_base, provider.default_base_url()) {
            (Some(b), _) => normalise_base_url(b).map_err(|m| bad(vars::AI_BASE_URL, m))?,
            (None, Some(d)) => d.to_string(),
            (None, None) => {
                return Err(bad(
                    vars::AI_BASE_URL,
                    format!(
                        "provider {provider} needs its endpoint, e.g. https://<resource>.openai.azure.com"
                    ),
                ));
            }
        };
        let api_key = match env(vars::AI_API_KEY) {
            Some(k) => {
                let k = k.trim();
                if !k.bytes().all(|b| (0x21..0x7f).contains(&b)) {
                    return Err(bad(
                        vars::AI_API_KEY,
                        "holds characters a header cannot carry".into(),
                    ));
                }
                Some(SecretString::from(k.to_string()))
            }
            // A vendor's own endpoint needs a key; a local server or a proxy may not.
            None if explicit_base.is_none() || provider == Provider::Azure => {
                return Err(bad(
                    vars::AI_API_KEY,
                    format!("provider {provider} needs an API key"),
                ));
            }
            None => None,
        };
        let model = settings.ai_monitoring.model.clone().unwrap_or_default();
        if model.is_empty() && provider != Provider::Azure {
            return Err(bad(
                vars::AI_MODEL,
                format!(
                    "provider {provider} needs a model: set ai_monitoring.model in the file or {}",
                    vars::AI_MODEL
                ),
            ));
        }
        let azure_deployment = if provider == Provider::Azure {
            let d = env(vars::AI_AZURE_DEPLOYMENT).unwrap_or_else(|| model.clone());
            let d = d.trim().to_string();
            if d.is_empty()
                || !d
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(bad(
                    vars::AI_AZURE_DEPLOYMENT,
                    "provider azure needs a deployment name (letters, digits, `-`, `_`, `.`); \
                     it defaults to the model"
                        .into(),
                ));
            }
            d
        } else {
            String::new()
        };
        let azure_api_version =
            env(vars::AI_AZURE_API_VERSION).unwrap_or_else(|| AZURE_API_VERSION.to_string());
        if !azure_api_version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(bad(
                vars::AI_AZURE_API_VERSION,
                "must look like 2024-10-21".into(),
            ));
        }
        let timeout = Duration::from_millis(number(vars::AI_TIMEOUT_MS, 10_000, 100, 120_000)?);
        let batch_deadline =
            Duration::from_millis(number(vars::AI_BATCH_DEADLINE_MS, 20_000, 100, 45_000)?);
        Ok(Self {
            settings,
            llm: Some(LlmSettings {
                provider,
                base_url,
                api_key,
                model,
                azure_deployment,
                azure_api_version,
                timeout,
                retries: number(vars::AI_RETRIES, 2, 0, 10)? as u32,
                max_tokens: number(vars::AI_MAX_TOKENS, 1024, 16, 32_768)? as u32,
                concurrency: number(vars::AI_CONCURRENCY, 4, 1, 64)? as usize,
                max_batch: number(vars::AI_MAX_BATCH, 20, 1, 10_000)? as usize,
                batch_deadline,
            }),
        })
    }

    /// The provider in use.
    pub fn provider(&self) -> Provider {
        self.llm
            .as_ref()
            .map(|l| l.provider)
            .unwrap_or(Provider::Builtin)
    }

    /// The model in use (the built-in engine's name for the built-in provider, the Azure
    /// deployment for Azure).
    pub fn model(&self) -> &str {
        match &self.llm {
            None => BUILTIN_MODEL,
            Some(l) if l.provider == Provider::Azure => &l.azure_deployment,
            Some(l) => &l.model,
        }
    }

    /// Suggestions kept per issue.
    pub fn max_suggestions(&self) -> usize {
        self.settings.ai_monitoring.max_suggestions
    }

    /// Whether issues get suggestions at all.
    pub fn enabled(&self) -> bool {
        self.settings.ai_monitoring.enabled
    }
}

/// `https://host[:port][/path]` without a trailing `/` or `/v1`; no credentials, query or
/// fragment (the value is not echoed: it might hold a secret).
fn normalise_base_url(raw: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(raw.trim())
        .map_err(|e| format!("not a URL ({e}); expected e.g. https://api.openai.com"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http:// or https:// URL with a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "must not carry credentials: set {} instead",
            vars::AI_API_KEY
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or a fragment".into());
    }
    let mut s = url.as_str().trim_end_matches('/').to_string();
    if let Some(stripped) = s.strip_suffix("/v1") {
        s = stripped.to_string();
    }
    Ok(s)
}

/// The API key's value, for the auth header only.
pub(crate) fn expose(key: &SecretString) -> &str {
    key.expose_secret()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_builtin_engine_is_the_default() {
        let c = AiConfig::load_with(&env(&[])).expect("defaults");
        assert_eq!(c.provider(), Provider::Builtin);
        assert_eq!(c.model(), BUILTIN_MODEL);
        assert_eq!(c.max_suggestions(), 3);
        assert!(c.enabled());
        // A model named in the file does not switch the provider.
        let c = AiConfig::load_with(&env(&[(vars::AI_MODEL, "gpt-4")])).expect("builtin");
        assert_eq!(c.provider(), Provider::Builtin);
        assert_eq!(c.model(), BUILTIN_MODEL);
    }

    #[test]
    fn openai_anthropic_and_azure_settings() {
        let c = AiConfig::load_with(&env(&[
            (vars::AI_PROVIDER, "openai"),
            (vars::AI_MODEL, "gpt-4o-mini"),
            (vars::AI_API_KEY, "sk-test-123"),
        ]))
        .expect("openai");
        let l = c.llm.as_ref().expect("llm");
        assert_eq!(l.base_url, "https://api.openai.com");
        assert_eq!(l.timeout, Duration::from_secs(10));
        assert_eq!(l.retries, 2);
        assert_eq!(c.model(), "gpt-4o-mini");
        assert!(!format!("{c:?}").contains("sk-test-123"));

        let c = AiConfig::load_with(&env(&[
            (vars::AI_PROVIDER, "openai"),
            (vars::AI_MODEL, "llama3.1"),
            (vars::AI_BASE_URL, "http://127.0.0.1:11434/v1/"),
            (vars::AI_TIMEOUT_MS, "2500"),
            (vars::AI_RETRIES, "0"),
        ]))
        .expect("a local server needs no key");
        let l = c.llm.as_ref().expect("llm");
        assert_eq!(l.base_url, "http://127.0.0.1:11434");
        assert!(l.api_key.is_none());
        assert_eq!(l.timeout, Duration::from_millis(2500));
        assert_eq!(l.retries, 0);

        let c = AiConfig::load_with(&env(&[
            (vars::AI_PROVIDER, "Anthropic"),
            (vars::AI_MODEL, "claude-sonnet-4-5"),
            (vars::AI_API_KEY, "sk-ant-x"),
        ]))
        .expect("anthropic");
        assert_eq!(c.provider(), Provider::Anthropic);
        assert_eq!(
            c.llm.as_ref().expect("llm").base_url,
            "https://api.anthropic.com"
        );

        let c = AiConfig::load_with(&env(&[
            (vars::AI_PROVIDER, "azure"),
            (vars::AI_BASE_URL, "https://shop.openai.azure.com"),
            (vars::AI_API_KEY, "az-key"),
            (vars::AI_MODEL, "gpt-4o"),
        ]))
        .expect("azure");
        let l = c.llm.as_ref().expect("llm");
        assert_eq!(l.azure_deployment, "gpt-4o");
        assert_eq!(l.azure_api_version, AZURE_API_VERSION);
        assert_eq!(c.model(), "gpt-4o");
    }

    #[test]
    fn provider_errors_are_clear_and_keep_secrets() {
        let err = |pairs: &[(&str, &str)]| {
            AiConfig::load_with(&env(pairs))
                .expect_err("must fail")
                .to_string()
        };
        assert_eq!(
            err(&[(vars::AI_PROVIDER, "gemini")]),
            "MARKETSYNC_AI_PROVIDER: unknown provider `gemini` (expected builtin, openai, azure \
             or anthropic)"
        );
        assert_eq!(
            err(&[(vars::AI_PROVIDER, "openai"), (vars::AI_MODEL, "gpt-4")]),
            "MARKETSYNC_AI_API_KEY: provider openai needs an API key"
        );
        assert!(
            err(&[(vars::AI_PROVIDER, "anthropic"), (vars::AI_API_KEY, "k")])
                .starts_with("MARKETSYNC_AI_MODEL: provider anthropic needs a model")
        );
        assert!(
            err(&[(vars::AI_PROVIDER, "azure"), (vars::AI_API_KEY, "k")])
                .starts_with("MARKETSYNC_AI_BASE_URL: provider azure needs its endpoint")
        );
        assert!(
            err(&[
                (vars::AI_PROVIDER, "azure"),
                (vars::AI_API_KEY, "k"),
                (vars::AI_BASE_URL, "https://x.openai.azure.com"),
            ])
            .starts_with("MARKETSYNC_AI_AZURE_DEPLOYMENT: provider azure needs a deployment")
        );
        let e = err(&[
            (vars::AI_PROVIDER, "openai"),
            (vars::AI_MODEL, "gpt-4"),
            (vars::AI_BASE_URL, "https://user:hunter2secret@llm.example"),
        ]);
        assert!(e.contains("must not carry credentials"), "{e}");
        assert!(!e.contains("hunter2secret"), "{e}");
        assert_eq!(
            err(&[
                (vars::AI_PROVIDER, "openai"),
                (vars::AI_MODEL, "gpt-4"),
                (vars::AI_API_KEY, "k"),
                (vars::AI_TIMEOUT_MS, "0"),
            ]),
            "MARKETSYNC_AI_TIMEOUT_MS: must be a whole number from 100 to 120000, got `0`"
        );
        assert!(
            err(&[
                (vars::AI_PROVIDER, "openai"),
                (vars::AI_MODEL, "gpt-4"),
                (vars::AI_API_KEY, "k"),
                (vars::AI_RETRIES, "many"),
            ])
            .starts_with("MARKETSYNC_AI_RETRIES: must be a whole number from 0 to 10")
        );
        let e = err(&[
            (vars::AI_PROVIDER, "openai"),
            (vars::AI_MODEL, "gpt-4"),
            (vars::AI_API_KEY, "sk-with a space"),
        ]);
        assert!(!e.contains("sk-with"), "{e}");
    }
}

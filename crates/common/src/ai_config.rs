//! The seed's AI settings, shared by the monitor (suggestions) and the knowledge service
//! (learning): `ai_monitoring` and `knowledge_management`, as in the seed's
//! `config/ai_config.yaml`.
//!
//! Layers, later wins: embedded defaults, the YAML file named by `MARKETSYNC_AI_CONFIG`, the
//! older learning variables (`MARKETSYNC_CONFIDENCE_THRESHOLD`, `MARKETSYNC_MIN_APPROVALS`),
//! then the `MARKETSYNC_AI_*` / `MARKETSYNC_KNOWLEDGE_*` overrides. Every value is validated
//! where it is read, and an error names the file line or the variable.
//!
//! The file is the subset of YAML the seed uses: two sections, each a map of `key: value`
//! scalars (plain, `"double"` or `'single'` quoted), `#` comments and blank lines.

use std::fmt;

/// Names of the environment variables of the AI settings (the monitor's provider variables
/// included, so every name is listed here once).
pub mod vars {
    /// Path of the YAML file in the seed's shape (optional).
    pub const CONFIG_FILE: &str = "MARKETSYNC_AI_CONFIG";
    /// `ai_monitoring.enabled`.
    pub const AI_ENABLED: &str = "MARKETSYNC_AI_ENABLED";
    /// `ai_monitoring.model`.
    pub const AI_MODEL: &str = "MARKETSYNC_AI_MODEL";
    /// `ai_monitoring.confidence_threshold`.
    pub const AI_CONFIDENCE_THRESHOLD: &str = "MARKETSYNC_AI_CONFIDENCE_THRESHOLD";
    /// `ai_monitoring.max_suggestions`.
    pub const AI_MAX_SUGGESTIONS: &str = "MARKETSYNC_AI_MAX_SUGGESTIONS";
    /// `knowledge_management.enabled`.
    pub const KNOWLEDGE_ENABLED: &str = "MARKETSYNC_KNOWLEDGE_ENABLED";
    /// `knowledge_management.learning_rate`.
    pub const LEARNING_RATE: &str = "MARKETSYNC_LEARNING_RATE";
    /// `knowledge_management.min_occurrences`.
    pub const MIN_OCCURRENCES: &str = "MARKETSYNC_MIN_OCCURRENCES";
    /// Older name of `ai_monitoring.confidence_threshold` (the knowledge service's auto-apply
    /// threshold); `MARKETSYNC_AI_CONFIDENCE_THRESHOLD` wins over it.
    pub const LEGACY_CONFIDENCE_THRESHOLD: &str = "MARKETSYNC_CONFIDENCE_THRESHOLD";
    /// Older name of `knowledge_management.min_occurrences`; `MARKETSYNC_MIN_OCCURRENCES`
    /// wins over it.
    pub const LEGACY_MIN_APPROVALS: &str = "MARKETSYNC_MIN_APPROVALS";

    /// Suggestion provider: `builtin` (default), `openai`, `azure` or `anthropic`.
    pub const AI_PROVIDER: &str = "MARKETSYNC_AI_PROVIDER";
    /// Base URL of the provider's API (vendor default for `openai` and `anthropic`).
    pub const AI_BASE_URL: &str = "MARKETSYNC_AI_BASE_URL";
    /// API key of the provider (secret).
    pub const AI_API_KEY: &str = "MARKETSYNC_AI_API_KEY";
    /// Timeout of one request, in milliseconds.
    pub const AI_TIMEOUT_MS: &str = "MARKETSYNC_AI_TIMEOUT_MS";
    /// Retries of a request after a timeout, a 429 or a 5xx.
    pub const AI_RETRIES: &str = "MARKETSYNC_AI_RETRIES";
    /// Azure OpenAI deployment name (defaults to the model).
    pub const AI_AZURE_DEPLOYMENT: &str = "MARKETSYNC_AI_AZURE_DEPLOYMENT";
    /// Azure OpenAI `api-version`.
    pub const AI_AZURE_API_VERSION: &str = "MARKETSYNC_AI_AZURE_API_VERSION";
    /// Most tokens a completion may use.
    pub const AI_MAX_TOKENS: &str = "MARKETSYNC_AI_MAX_TOKENS";
    /// Provider requests in flight at once, over all batches.
    pub const AI_CONCURRENCY: &str = "MARKETSYNC_AI_CONCURRENCY";
    /// Most findings of one batch sent to the provider; a larger batch uses the built-in
    /// engine alone.
    pub const AI_MAX_BATCH: &str = "MARKETSYNC_AI_MAX_BATCH";
    /// Time a batch may wait for the provider, in milliseconds, before the findings still
    /// waiting keep the built-in suggestions.
    pub const AI_BATCH_DEADLINE_MS: &str = "MARKETSYNC_AI_BATCH_DEADLINE_MS";
}

/// `ai_monitoring`: how issues get suggestions.
#[derive(Debug, Clone, PartialEq)]
pub struct AiMonitoring {
    /// Whether issues get suggestions at all (rules still detect issues when off).
    pub enabled: bool,
    /// Model of the LLM provider (`gpt-4`, …); `None` until set. The built-in engine ignores
    /// it.
    pub model: Option<String>,
    /// Confidence at or above which a learned correction applies itself (0..=1).
    pub confidence_threshold: f64,
    /// Suggestions kept per issue (1..=10).
    pub max_suggestions: usize,
}

impl Default for AiMonitoring {
    fn default() -> Self {
        Self {
            enabled: true,
            model: None,
            confidence_threshold: 0.80,
            max_suggestions: 3,
        }
    }
}

/// `knowledge_management`: how decisions become rules.
#[derive(Debug, Clone, PartialEq)]
pub struct KnowledgeManagement {
    /// Whether decisions are learned from.
    pub enabled: bool,
    /// Step by which one decision moves a pattern's confidence (0 < rate <= 1).
    pub learning_rate: f64,
    /// Approvals needed before a rule may apply itself (1..=1000).
    pub min_occurrences: u32,
}

impl Default for KnowledgeManagement {
    fn default() -> Self {
        Self {
            enabled: true,
            learning_rate: 0.1,
            min_occurrences: 3,
        }
    }
}

/// Both sections of the seed's AI configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AiSettings {
    /// `ai_monitoring`.
    pub ai_monitoring: AiMonitoring,
    /// `knowledge_management`.
    pub knowledge_management: KnowledgeManagement,
}

/// Why the AI configuration cannot be used. Messages name the file line or the variable, never
/// a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum AiConfigError {
    /// The file cannot be read.
    #[error("AI config {path}: cannot read it: {message}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// A line of the file is not understood or holds an invalid value.
    #[error("AI config {path} line {line}: {message}")]
    File {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An environment variable holds an invalid value.
    #[error("{var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        message: String,
    },
}

/// Sections of the file.
const SECTIONS: &[&str] = &["ai_monitoring", "knowledge_management"];

/// Environment overrides, in the order they apply (later wins).
const ENV_KEYS: &[(&str, &str, &str)] = &[
    (
        vars::LEGACY_CONFIDENCE_THRESHOLD,
        "ai_monitoring",
        "confidence_threshold",
    ),
    (
        vars::LEGACY_MIN_APPROVALS,
        "knowledge_management",
        "min_occurrences",
    ),
    (vars::AI_ENABLED, "ai_monitoring", "enabled"),
    (vars::AI_MODEL, "ai_monitoring", "model"),
    (
        vars::AI_CONFIDENCE_THRESHOLD,
        "ai_monitoring",
        "confidence_threshold",
    ),
    (vars::AI_MAX_SUGGESTIONS, "ai_monitoring", "max_suggestions"),
    (vars::KNOWLEDGE_ENABLED, "knowledge_management", "enabled"),
    (vars::LEARNING_RATE, "knowledge_management", "learning_rate"),
    (
        vars::MIN_OCCURRENCES,
        "knowledge_management",
        "min_occurrences",
    ),
];

impl AiSettings {
    /// Defaults, then the file named by `MARKETSYNC_AI_CONFIG`, then the environment.
    pub fn load() -> Result<Self, AiConfigError> {
        Self::load_with(&|name| crate::config::var(name))
    }

    /// As [`AiSettings::load`], reading variables through `env` (tests pass a map).
    pub fn load_with(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, AiConfigError> {
        let mut s = Self::default();
        if let Some(path) = env(vars::CONFIG_FILE) {
            let text = std::fs::read_to_string(&path).map_err(|e| AiConfigError::Read {
                path: path.clone(),
                message: e.to_string(),
            })?;
            s.apply_file(&text, &path)?;
        }
        for (var, section, key) in ENV_KEYS {
            if let Some(v) = env(var) {
                s.set(section, key, v.trim())
                    .map_err(|message| AiConfigError::Env {
                        var: (*var).to_string(),
                        message,
                    })?;
            }
        }
        Ok(s)
    }

    /// The settings a file's text gives over the defaults (`path` names it in errors).
    pub fn from_yaml(text: &str, path: &str) -> Result<Self, AiConfigError> {
        let mut s = Self::default();
        s.apply_file(text, path)?;
        Ok(s)
    }

    fn apply_file(&mut self, text: &str, path: &str) -> Result<(), AiConfigError> {
        let err = |line: usize, message: String| AiConfigError::File {
            path: path.to_string(),
            line,
            message,
        };
        let mut section: Option<&str> = None;
        let mut seen: Vec<(String, String)> = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let content = strip_comment(raw).trim_end();
            if content.trim().is_empty() {
                continue;
            }
            let indent = content.len() - content.trim_start().len();
            let content = content.trim_start();
            if raw[..indent].contains('\t') {
                return Err(err(line, "indent with spaces, not tabs".into()));
            }
            if indent == 0 && (content == "---" || content == "...") {
                continue;
            }
            let Some((key, value)) = content.split_once(':') else {
                return Err(err(
                    line,
                    format!("expected `key: value`, found `{}`", excerpt(content)),
                ));
            };
            let key = key.trim();
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(err(line, format!("invalid key `{}`", excerpt(key))));
            }
            let value = value.trim();
            if indent == 0 {
                if !value.is_empty() {
                    return Err(err(
                        line,
                        format!(
                            "`{key}` must be a section ({}) holding `key: value` lines",
                            SECTIONS.join(" or ")
                        ),
                    ));
                }
                let Some(s) = SECTIONS.iter().find(|s| **s == key) else {
                    return Err(err(
                        line,
                        format!(
                            "unknown section `{key}` (expected {})",
                            SECTIONS.join(" or ")
                        ),
                    ));
                };
                section = Some(*s);
                continue;
            }
            let Some(sec) = section else {
                return Err(err(line, "indented line outside a section".into()));
            };
            if value.is_empty() {
                return Err(err(
                    line,
                    format!("`{key}` has no value (nested maps are not supported)"),
                ));
            }
            let value = unquote(value).map_err(|m| err(line, m))?;
            if seen.iter().any(|(s, k)| s == sec && k == key) {
                return Err(err(line, format!("`{sec}.{key}` is set twice")));
            }
            seen.push((sec.to_string(), key.to_string()));
            self.set(sec, key, &value).map_err(|m| err(line, m))?;
        }
        Ok(())
    }

    /// Sets one key from its text, validated.
    fn set(&mut self, section: &str, key: &str, value: &str) -> Result<(), String> {
        let m = &mut self.ai_monitoring;
        let k = &mut self.knowledge_management;
        match (section, key) {
            ("ai_monitoring", "enabled") => m.enabled = boolean(key, value)?,
            ("ai_monitoring", "model") => {
                let v = value.trim();
                if v.len() > 200 || v.chars().any(char::is_control) {
                    return Err("model must be a name of at most 200 characters on one line".into());
                }
                m.model = (!v.is_empty()).then(|| v.to_string());
            }
            ("ai_monitoring", "confidence_threshold") => {
                m.confidence_threshold = fraction(key, value, true)?
            }
            ("ai_monitoring", "max_suggestions") => {
                m.max_suggestions = integer(key, value, 1, 10)? as usize
            }
            ("knowledge_management", "enabled") => k.enabled = boolean(key, value)?,
            ("knowledge_management", "learning_rate") => {
                k.learning_rate = fraction(key, value, false)?
            }
            ("knowledge_management", "min_occurrences") => {
                k.min_occurrences = integer(key, value, 1, 1000)? as u32
            }
            _ => {
                let known: &[&str] = if section == "ai_monitoring" {
                    &[
                        "enabled",
                        "model",
                        "confidence_threshold",
                        "max_suggestions",
                    ]
                } else {
                    &["enabled", "learning_rate", "min_occurrences"]
                };
                return Err(format!(
                    "unknown key `{key}` in {section} (expected one of {})",
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }
}

impl fmt::Display for AiSettings {
    /// One line for the start-up log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.ai_monitoring;
        let k = &self.knowledge_management;
        write!(
            f,
            "ai_monitoring(enabled={}, model={}, confidence_threshold={}, max_suggestions={}) \
             knowledge_management(enabled={}, learning_rate={}, min_occurrences={})",
            m.enabled,
            m.model.as_deref().unwrap_or("-"),
            m.confidence_threshold,
            m.max_suggestions,
            k.enabled,
            k.learning_rate,
            k.min_occurrences
        )
    }
}

/// A line without its comment: `#` at the start or after a blank, outside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev_blank = true;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '#') if prev_blank => return &line[..i],
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        prev_blank = c.is_whitespace();
    }
    line
}

/// A scalar's text: quotes removed (`\"` and `\\` in double quotes, `''` in single quotes).
fn unquote(v: &str) -> Result<String, String> {
    let Some(first) = v.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        if v.starts_with(['{', '[', '&', '*', '!', '|', '>']) {
            return Err(format!(
                "`{}`: only plain or quoted scalars are supported",
                excerpt(v)
            ));
        }
        return Ok(v.to_string());
    };
    let mut out = String::new();
    let mut chars = v[1..].chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if first == '"' => match chars.next() {
                Some(e @ ('"' | '\\')) => out.push(e),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                _ => return Err("unsupported escape in a quoted value".into()),
            },
            '\'' if first == '\'' && chars.peek() == Some(&'\'') => {
                chars.next();
                out.push('\'');
            }
            c if c == first => {
                return if chars.all(char::is_whitespace) {
                    Ok(out)
                } else {
                    Err("text after the closing quote".into())
                };
            }
            c => out.push(c),
        }
    }
    Err("unterminated quoted value".into())
}

fn excerpt(s: &str) -> String {
    s.chars().take(40).collect()
}

fn boolean(key: &str, v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("{key} must be true or false, got `{}`", excerpt(v))),
    }
}

/// A number within 0..=1 (`zero_ok` false: above 0).
fn fraction(key: &str, v: &str, zero_ok: bool) -> Result<f64, String> {
    let range = if zero_ok {
        "within 0 and 1"
    } else {
        "above 0 and at most 1"
    };
    let bad = || format!("{key} must be a number {range}, got `{}`", excerpt(v));
    let x: f64 = v.trim().parse().map_err(|_| bad())?;
    let ok = x.is_finite() && x <= 1.0 && if zero_ok { x >= 0.0 } else { x > 0.0 };
    if ok { Ok(x) } else { Err(bad()) }
}

fn integer(key: &str, v: &str, min: u64, max: u64) -> Result<u64, String> {
    v.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            format!(
                "{key} must be a whole number from {min} to {max}, got `{}`",
                excerpt(v)
            )
        })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The seed's `config/ai_config.yaml`, as printed (trailing blanks included).
    const SEED: &str = concat!(
        "# config/ai_config.yaml\n",
        "ai_monitoring:\n",
        "  enabled: true\n",
        "  model: \"gpt-4\"\n",
        "  confidence_threshold: 0.80  # Auto-apply if >= 80%\n",
        "  max_suggestions: 3\n",
        "  \n",
        "knowledge_management:\n",
        "  enabled: true\n",
        "  learning_rate: 0.1\n",
        "  min_occurrences: 3  # Need 3 approvals before auto-apply\n",
    );

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_seed_file_parses_to_its_values() {
        let s = AiSettings::from_yaml(SEED, "ai_config.yaml").expect("seed parses");
        assert_eq!(
            s,
            AiSettings {
                ai_monitoring: AiMonitoring {
                    enabled: true,
                    model: Some("gpt-4".into()),
                    confidence_threshold: 0.80,
                    max_suggestions: 3,
                },
                knowledge_management: KnowledgeManagement {
                    enabled: true,
                    learning_rate: 0.1,
                    min_occurrences: 3,
                },
            }
        );
    }

    #[test]
    fn defaults_without_file_or_variables() {
        let s = AiSettings::load_with(&env(&[])).expect("defaults");
        assert_eq!(s, AiSettings::default());
        assert_eq!(s.ai_monitoring.max_suggestions, 3);
        assert_eq!(s.ai_monitoring.model, None);
    }

    #[test]
    fn a_file_and_the_environment_layer_in_order() {
        let dir = std::env::temp_dir().join(format!("ms-ai-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("ai_config.yaml");
        std::fs::write(&path, SEED).expect("write");
        let path = path.to_string_lossy().to_string();
        let s = AiSettings::load_with(&env(&[
            (vars::CONFIG_FILE, &path),
            (vars::LEGACY_CONFIDENCE_THRESHOLD, "0.7"),
            (vars::LEGACY_MIN_APPROVALS, "4"),
            (vars::MIN_OCCURRENCES, "5"),
            (vars::AI_MAX_SUGGESTIONS, "5"),
            (vars::AI_MODEL, "claude-sonnet-4-5"),
            (vars::AI_ENABLED, "false"),
            (vars::LEARNING_RATE, "0.25"),
            (vars::KNOWLEDGE_ENABLED, "no"),
        ]))
        .expect("layers");
        let m = &s.ai_monitoring;
        let k = &s.knowledge_management;
        assert!(!m.enabled);
        assert_eq!(m.model.as_deref(), Some("claude-sonnet-4-5"));
        // The older variable beats the file; the newer one would beat both.
        assert_eq!(m.confidence_threshold, 0.7);
        assert_eq!(m.max_suggestions, 5);
        assert!(!k.enabled);
        assert_eq!(k.learning_rate, 0.25);
        assert_eq!(k.min_occurrences, 5);
        let s = AiSettings::load_with(&env(&[
            (vars::LEGACY_CONFIDENCE_THRESHOLD, "0.7"),
            (vars::AI_CONFIDENCE_THRESHOLD, "0.9"),
        ]))
        .expect("new wins");
        assert_eq!(s.ai_monitoring.confidence_threshold, 0.9);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_values_name_the_line_or_the_variable() {
        let cases: &[(&str, &str)] = &[
            (
                "ai_monitoring:\n  confidence_threshold: 1.5\n",
                "line 2: confidence_threshold must be a number within 0 and 1, got `1.5`",
            ),
            (
                "ai_monitoring:\n  max_suggestions: 0\n",
                "line 2: max_suggestions must be a whole number from 1 to 10, got `0`",
            ),
            (
                "ai_monitoring:\n  enabled: maybe\n",
                "line 2: enabled must be true or false",
            ),
            (
                "knowledge_management:\n  learning_rate: 0\n",
                "line 2: learning_rate must be a number above 0",
            ),
            (
                "ai_monitoring:\n  enabled: true\n  max_sugestions: 3\n",
                "line 3: unknown key `max_sugestions` in ai_monitoring",
            ),
            (
                "ai_monitorin:\n  enabled: true\n",
                "line 1: unknown section",
            ),
            (
                "  enabled: true\n",
                "line 1: indented line outside a section",
            ),
            (
                "ai_monitoring: true\n",
                "line 1: `ai_monitoring` must be a section",
            ),
            (
                "ai_monitoring:\n  model: \"gpt-4\n",
                "line 2: unterminated quoted value",
            ),
            (
                "ai_monitoring:\n  enabled: true\n  enabled: false\n",
                "line 3: `ai_monitoring.enabled` is set twice",
            ),
            ("# c\n\nai_monitoring:\n\tenabled: true\n", "line 4: indent"),
            (
                "ai_monitoring:\n  model: {a: b}\n",
                "line 2: `{a: b}`: only plain or quoted scalars",
            ),
        ];
        for (text, want) in cases {
            let e = AiSettings::from_yaml(text, "x.yaml")
                .expect_err(text)
                .to_string();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(e.starts_with("AI config x.yaml line"), "{e}");
        }
        let e = AiSettings::load_with(&env(&[(vars::AI_CONFIDENCE_THRESHOLD, "eighty")]))
            .expect_err("bad env")
            .to_string();
        assert_eq!(
            e,
            "MARKETSYNC_AI_CONFIDENCE_THRESHOLD: confidence_threshold must be a number within \
             0 and 1, got `eighty`"
        );
        let e = AiSettings::load_with(&env(&[(vars::MIN_OCCURRENCES, "-1")]))
            .expect_err("bad env")
            .to_string();
        assert!(
            e.starts_with("MARKETSYNC_MIN_OCCURRENCES: min_occurrences"),
            "{e}"
        );
        let e = AiSettings::load_with(&env(&[(vars::CONFIG_FILE, "/nonexistent/ai.yaml")]))
            .expect_err("missing file")
            .to_string();
        assert!(
            e.starts_with("AI config /nonexistent/ai.yaml: cannot read it"),
            "{e}"
        );
    }

    #[test]
    fn quotes_comments_and_document_markers() {
        let s = AiSettings::from_yaml(
            "---\nai_monitoring:   # the monitor\n  model: 'team''s # model'  # a comment\n\
             knowledge_management:\n  min_occurrences: \"7\"\n",
            "q.yaml",
        )
        .expect("parses");
        assert_eq!(s.ai_monitoring.model.as_deref(), Some("team's # model"));
        assert_eq!(s.knowledge_management.min_occurrences, 7);
        let s = AiSettings::from_yaml("ai_monitoring:\n  model: \"\"\n", "e.yaml").expect("empty");
        assert_eq!(s.ai_monitoring.model, None);
    }
}

//! Suggestion providers: the built-in, offline engine ([`crate::engine`], always there and the
//! default) and, when configured, an LLM (an OpenAI-compatible chat-completions API, Azure
//! OpenAI or Anthropic's Messages API) whose suggestions are merged with the built-in ones.
//!
//! Only product findings whose fix is text (a description, a brand, a category among the
//! tenant's, an attribute value) are sent, and only through [`prompt::build`], which reads an
//! allow-list of product fields and scrubs each one ([`scrub`]). The provider takes products
//! only: orders, stock and buyers have no way in. When the LLM fails (timeout, error status,
//! an answer that is not the documented JSON) the built-in suggestions stand and the failure
//! is counted (`marketsync_monitor_ai_llm_calls_total{outcome="fallback"}`); after repeated
//! failures the LLM is left alone for a while. `ai_monitoring.enabled: false` turns every
//! suggestion off: rules still detect issues, which then wait for a person's solution.

pub mod config;
pub mod llm;
pub mod prompt;
pub mod scrub;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use marketsync_common::health::Metrics;
use marketsync_proto::v1::{Product, Suggestion};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::engine::Finding;
use config::{AiConfig, Provider};
use llm::{LlmClient, LlmError};
use scrub::Scrubber;

/// Consecutive failed calls after which the LLM is left alone for [`BREAKER_PAUSE`].
pub const BREAKER_FAILURES: u32 = 5;

/// How long the LLM is left alone after [`BREAKER_FAILURES`] failures in a row.
pub const BREAKER_PAUSE: Duration = Duration::from_secs(30);

/// Distinct categories remembered per tenant for the category prompt.
const MAX_KNOWN_CATEGORIES: usize = 5_000;

/// Answers remembered (by tenant and prompt), so a product synced again unchanged does not
/// cost another call; the memory is emptied when full.
const MAX_CACHED: usize = 10_000;

/// One finding of a batch waiting for its suggestions.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Position of its product in the batch.
    pub product: usize,
    /// The finding.
    pub finding: Finding,
    /// Its suggestions so far (the built-in engine's), best first.
    pub suggestions: Vec<Suggestion>,
}

/// Labels of the LLM call counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    /// `openai`, `azure` or `anthropic`.
    provider: String,
    /// `ok`, `cached` (the same prompt was answered before), `fallback` (failed: the
    /// built-in suggestions stand) or `skipped` (batch too large, or paused after repeated
    /// failures).
    outcome: String,
}

/// The configured suggestion providers of the monitor.
pub struct Ai {
    config: AiConfig,
    llm: Option<LlmClient>,
    scrubber: Scrubber,
    permits: Semaphore,
    failures: AtomicU32,
    paused_until_ms: AtomicU64,
    calls: Family<CallLabels, Counter>,
    /// Per tenant, category → products seen in it (only kept when an LLM is configured).
    categories: std::sync::Mutex<HashMap<Uuid, HashMap<String, u32>>>,
    /// Valid answers by a hash of tenant and prompt.
    answers: std::sync::Mutex<HashMap<u64, Vec<Suggestion>>>,
}

impl std::fmt::Debug for Ai {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ai")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Ai {
    /// The providers `config` describes; registers the call counter in `metrics`.
    pub fn new(config: AiConfig, metrics: &Metrics) -> Result<Self, LlmError> {
        let llm = config.llm.clone().map(LlmClient::new).transpose()?;
        let calls = Family::<CallLabels, Counter>::default();
        metrics.register(
            "ai_llm_calls",
            "Suggestion requests to the LLM provider, by outcome",
            calls.clone(),
        );
        let permits = Semaphore::new(config.llm.as_ref().map(|l| l.concurrency).unwrap_or(1));
        if config.provider() == Provider::Builtin
            && let Some(m) = config
                .settings
                .ai_monitoring
                .model
                .as_deref()
                .filter(|m| *m != config::BUILTIN_MODEL)
        {
            tracing::warn!(
                model = m,
                "ai_monitoring.model is ignored: the provider is the built-in engine \
                 (set MARKETSYNC_AI_PROVIDER to use an LLM)"
            );
        }
        tracing::info!(
            provider = %config.provider(),
            model = config.model(),
            settings = %config.settings,
            "suggestion providers configured"
        );
        Ok(Self {
            config,
            llm,
            scrubber: Scrubber::new(),
            permits,
            failures: AtomicU32::new(0),
            paused_until_ms: AtomicU64::new(0),
            calls,
            categories: std::sync::Mutex::new(HashMap::new()),
            answers: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The same providers with a scrubber that also knows personal names (a deny-list).
    pub fn with_scrubber(mut self, scrubber: Scrubber) -> Self {
        self.scrubber = scrubber;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &AiConfig {
        &self.config
    }

    /// Whether issues get suggestions at all (`ai_monitoring.enabled`).
    pub fn enabled(&self) -> bool {
        self.config.enabled()
    }

    /// Suggestions kept per issue (`ai_monitoring.max_suggestions`).
    pub fn max_suggestions(&self) -> usize {
        self.config.max_suggestions()
    }

    /// Whether an LLM is asked.
    pub fn uses_llm(&self) -> bool {
        self.llm.is_some() && self.enabled()
    }

    /// Remembers the categories of a tenant's product, the choices a category prompt offers
    /// (nothing is kept for the built-in engine alone).
    pub fn learn(&self, tenant: Uuid, p: &Product) {
        if !self.uses_llm() {
            return;
        }
        let mut all = self.categories.lock().unwrap_or_else(|e| e.into_inner());
        let known = all.entry(tenant).or_default();
        for c in p.categories.iter().filter(|c| !c.trim().is_empty()) {
            if let Some(n) = known.get_mut(c) {
                *n += 1;
            } else if known.len() < MAX_KNOWN_CATEGORIES {
                known.insert(c.clone(), 1);
            }
        }
    }

    /// The tenant's most common categories, most common first.
    fn known_categories(&self, tenant: Uuid) -> Vec<String> {
        let all = self.categories.lock().unwrap_or_else(|e| e.into_inner());
        let Some(known) = all.get(&tenant) else {
            return Vec::new();
        };
        let mut v: Vec<(&String, &u32)> = known.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        v.into_iter()
            .take(prompt::MAX_CANDIDATES)
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// Merges the LLM's suggestions into those of the findings it can help with. A finding
    /// keeps its built-in suggestions alone when the LLM is off, fails, is paused, or the
    /// batch holds more such findings than `MARKETSYNC_AI_MAX_BATCH`. Calls run a few at a
    /// time (`MARKETSYNC_AI_CONCURRENCY` over all batches) and the batch waits at most
    /// `MARKETSYNC_AI_BATCH_DEADLINE_MS`.
    pub async fn refine(
        &self,
        tenant: Uuid,
        products: &[Product],
        mut pending: Vec<Pending>,
    ) -> Vec<Pending> {
        let Some(llm) = self.llm.as_ref().filter(|_| self.enabled()) else {
            return pending;
        };
        let settings = llm.settings();
        let max = self.max_suggestions();
        let known = if pending
            .iter()
            .any(|x| x.finding.issue_type == "missing_category")
        {
            self.known_categories(tenant)
        } else {
            Vec::new()
        };
        let mut prompts: Vec<(usize, prompt::Prompt)> = pending
            .iter()
            .enumerate()
            .filter_map(|(i, x)| {
                let p = products.get(x.product)?;
                // For a category: the built-in engine's ranked guesses first, then the
                // tenant's most common categories.
                let candidates: Vec<String> = if x.finding.issue_type == "missing_category" {
                    x.suggestions
                        .iter()
                        .map(|s| s.value.clone())
                        .chain(known.iter().cloned())
                        .collect()
                } else {
                    Vec::new()
                };
                prompt::build(p, &x.finding, &candidates, max, &self.scrubber).map(|pr| (i, pr))
            })
            .collect();
        // Prompts answered before (the product unchanged since) need no call.
        prompts.retain(|(i, pr)| {
            let Some(cached) = self.cached(tenant, pr) else {
                return true;
            };
            let x = &mut pending[*i];
            x.suggestions = prompt::merge(std::mem::take(&mut x.suggestions), cached, max);
            self.count("cached", 1);
            false
        });
        if prompts.is_empty() {
            return pending;
        }
        if prompts.len() > settings.max_batch {
            tracing::debug!(
                findings = prompts.len(),
                max_batch = settings.max_batch,
                "batch too large for the llm: built-in suggestions only"
            );
            self.count("skipped", prompts.len() as u64);
            return pending;
        }
        if self.paused() {
            self.count("skipped", prompts.len() as u64);
            return pending;
        }
        let deadline = tokio::time::Instant::now() + settings.batch_deadline;
        let calls = prompts.into_iter().map(|(i, pr)| async move {
            let answer = tokio::time::timeout_at(deadline, async {
                let _permit = self.permits.acquire().await.ok()?;
                if self.paused() {
                    return None;
                }
                let answer = self.ask(llm, &pr).await;
                if let Ok(s) = &answer {
                    self.remember(tenant, &pr, s.clone());
                }
                Some(answer)
            })
            .await;
            (i, answer)
        });
        for (i, answer) in futures::future::join_all(calls).await {
            let x = &mut pending[i];
            match answer {
                Ok(Some(Ok(suggestions))) => {
                    self.failures.store(0, Ordering::Relaxed);
                    self.count("ok", 1);
                    let builtin = std::mem::take(&mut x.suggestions);
                    x.suggestions = prompt::merge(builtin, suggestions, max);
                }
                Ok(Some(Err(e))) => {
                    self.count("fallback", 1);
                    self.failed();
                    tracing::warn!(
                        provider = %settings.provider,
                        issue_type = x.finding.issue_type,
                        error = %e,
                        "llm suggestion failed: built-in suggestions kept"
                    );
                }
                Ok(None) => self.count("skipped", 1),
                Err(_) => {
                    self.count("fallback", 1);
                    tracing::warn!(
                        provider = %settings.provider,
                        issue_type = x.finding.issue_type,
                        deadline_ms = settings.batch_deadline.as_millis() as u64,
                        "llm suggestion past the batch deadline: built-in suggestions kept"
                    );
                }
            }
        }
        pending
    }

    async fn ask(&self, llm: &LlmClient, pr: &prompt::Prompt) -> Result<Vec<Suggestion>, LlmError> {
        let text = llm.complete(&pr.system, &pr.user).await?;
        pr.parse(&text).map_err(LlmError::Malformed)
    }

    fn key(tenant: Uuid, pr: &prompt::Prompt) -> u64 {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        BuildHasherDefault::<DefaultHasher>::default().hash_one((tenant, &pr.system, &pr.user))
    }

    fn cached(&self, tenant: Uuid, pr: &prompt::Prompt) -> Option<Vec<Suggestion>> {
        let answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        answers.get(&Self::key(tenant, pr)).cloned()
    }

    fn remember(&self, tenant: Uuid, pr: &prompt::Prompt, suggestions: Vec<Suggestion>) {
        let mut answers = self.answers.lock().unwrap_or_else(|e| e.into_inner());
        if answers.len() >= MAX_CACHED {
            answers.clear();
        }
        answers.insert(Self::key(tenant, pr), suggestions);
    }

    fn count(&self, outcome: &str, n: u64) {
        let provider = self.config.provider().name().to_string();
        self.calls
            .get_or_create(&CallLabels {
                provider,
                outcome: outcome.to_string(),
            })
            .inc_by(n);
    }

    fn paused(&self) -> bool {
        now_ms() < self.paused_until_ms.load(Ordering::Relaxed)
    }

    fn failed(&self) {
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= BREAKER_FAILURES {
            self.failures.store(0, Ordering::Relaxed);
            self.paused_until_ms.store(
                now_ms() + BREAKER_PAUSE.as_millis() as u64,
                Ordering::Relaxed,
            );
            tracing::warn!(
                failures = n,
                pause_s = BREAKER_PAUSE.as_secs(),
                "llm failing repeatedly: built-in suggestions only for a while"
            );
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

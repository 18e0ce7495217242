//! The OpenCart HTTP client of one connection: configuration, the API session (`api/login` →
//! `api_token`, logged in again once when the store says the session ended), the REST Admin
//! API envelope, the client-side rate budget and cached lookups.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use crate::http::{Call, HttpClient, RateLimiter};
use crate::{ConnectionConfig, ConnectorError, HttpPolicy, Result};

/// Requests per window of the client-side budget (OpenCart documents no rate limit; hosts
/// commonly throttle around 10 requests per second).
pub const DEFAULT_RATE_LIMIT_REQUESTS: u32 = 600;
/// Window of the client-side budget, in milliseconds.
pub const DEFAULT_RATE_LIMIT_WINDOW_MS: u64 = 60_000;
/// Largest `limit` the connector asks for (the extension documents no maximum; its demo
/// pages and the simulator stop at 100).
pub const MAX_PAGE_SIZE: u32 = 100;
/// Default page size.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Items per `productquantitybysku` request (no documented maximum; 100 like the pages).
pub const MAX_QUANTITY_BATCH: usize = 100;
/// Warehouse code of the store's single stock pool when `warehouse_mapping` names none.
pub const DEFAULT_WAREHOUSE: &str = "default";

/// Everything the OpenCart connector needs, validated.
#[derive(Clone)]
pub struct OpenCartConfig {
    /// `{store_url}/index.php` (or `settings.base_url`'s).
    pub endpoint: String,
    pub(crate) username: String,
    pub(crate) key: String,
    /// Currency of prices (the store's default; the API does not say it per product).
    pub currency: String,
    /// Default page size.
    pub page_size: u32,
    /// Client-side budget: requests per window.
    pub rate_limit_requests: u32,
    /// Client-side budget: window length.
    pub rate_limit_window: Duration,
    /// Store id (`0`) or name → marketsync warehouse code.
    pub warehouse_mapping: BTreeMap<String, String>,
    /// Timeouts, retries, debug logging.
    pub policy: HttpPolicy,
    pub(crate) secrets: Vec<String>,
}

impl std::fmt::Debug for OpenCartConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenCartConfig")
            .field("endpoint", &self.endpoint)
            .field("username", &"[redacted]")
            .field("key", &"[redacted]")
            .field("page_size", &self.page_size)
            .field("rate_limit_requests", &self.rate_limit_requests)
            .field("rate_limit_window", &self.rate_limit_window)
            .field("warehouse_mapping", &self.warehouse_mapping)
            .field("policy", &self.policy)
            .finish()
    }
}

fn check_url(name: &str, url: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(ConnectorError::Config(format!(
            "{name} must be an http:// or https:// URL"
        )));
    }
    Ok(url.to_string())
}

impl OpenCartConfig {
    /// Reads and validates a connection's credentials and settings.
    pub fn from_connection(config: &ConnectionConfig) -> Result<Self> {
        let creds = &config.credentials;
        let settings = &config.settings;
        let store_url = check_url("credential `store_url`", creds.require("store_url")?)?;
        let username = creds.require("api_username")?.trim().to_string();
        let key = creds.require("api_key")?.trim().to_string();
        if let Some(unknown) = settings.api_urls.keys().find(|k| k.as_str() != "api") {
            return Err(ConnectorError::Config(format!(
                "settings.api_urls: unknown API family `{unknown}` (known: api)"
            )));
        }
        let base = match (settings.api_urls.get("api"), settings.base_url.as_deref()) {
            (Some(u), _) => check_url("settings.api_urls.api", u)?,
            (None, Some(u)) => check_url("settings.base_url", u)?,
            (None, None) => store_url,
        };
        let endpoint = if base.ends_with("/index.php") {
            base
        } else {
            format!("{base}/index.php")
        };
        // The store URL is no secret; the key and the user name are.
        let secrets = vec![username.clone(), key.clone()];
        Ok(Self {
            endpoint,
            username,
            key,
            currency: "USD".into(),
            page_size: settings
                .batch_size
                .unwrap_or(DEFAULT_PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE),
            rate_limit_requests: settings
                .rate_limit_requests
                .unwrap_or(DEFAULT_RATE_LIMIT_REQUESTS)
                .max(1),
            rate_limit_window: Duration::from_millis(
                settings
                    .rate_limit_window_ms
                    .unwrap_or(DEFAULT_RATE_LIMIT_WINDOW_MS)
                    .max(1),
            ),
            warehouse_mapping: settings.warehouse_mapping.clone(),
            policy: settings.http_policy(),
            secrets,
        })
    }
}

/// The REST Admin API envelope: `{"success": 1|0, "error": [...], "data": …}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<T> {
    #[serde(default)]
    pub success: Value,
    #[serde(default)]
    pub error: Value,
    pub data: Option<T>,
}

impl<T> Envelope<T> {
    /// Whether the store said it succeeded.
    pub fn ok(&self) -> bool {
        matches!(&self.success, Value::Number(n) if n.as_i64() == Some(1))
            || self.success == Value::Bool(true)
            || self.success.as_str() == Some("1")
    }

    /// The store's error messages.
    pub fn errors(&self) -> Vec<String> {
        match &self.error {
            Value::String(s) if !s.is_empty() => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string))
                .collect(),
            Value::Object(o) => o
                .values()
                .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct LoginAnswer {
    #[serde(default)]
    api_token: Option<String>,
    #[serde(default)]
    error: Value,
}

/// A logged-in session: its token and a client that redacts it.
struct Session {
    token: String,
    http: HttpClient,
}

/// Category lookups: id → path, lowercase path → id.
#[derive(Debug, Default)]
pub(crate) struct Categories {
    pub paths: HashMap<i64, String>,
    pub ids: HashMap<String, i64>,
}

#[derive(Debug, Deserialize)]
struct OcCategory {
    #[serde(deserialize_with = "super::mapping::de_i64")]
    category_id: i64,
    #[serde(default)]
    name: String,
    #[serde(default, deserialize_with = "super::mapping::de_i64")]
    parent_id: i64,
}

#[derive(Debug, Deserialize)]
struct OcManufacturer {
    #[serde(deserialize_with = "super::mapping::de_i64")]
    manufacturer_id: i64,
    #[serde(default)]
    name: String,
}

/// Client of one OpenCart store.
pub(crate) struct Client {
    pub(crate) cfg: OpenCartConfig,
    limiter: Arc<RateLimiter>,
    login_http: HttpClient,
    session: Mutex<Option<Arc<Session>>>,
    categories: RwLock<Option<Arc<Categories>>>,
    manufacturers: RwLock<Option<Arc<HashMap<i64, String>>>>,
}

impl Client {
    /// A client for `cfg`, with its own rate limiter; no network call.
    pub(crate) fn new(cfg: OpenCartConfig) -> Result<Self> {
        let limiter = Arc::new(RateLimiter::new(
            cfg.rate_limit_requests,
            cfg.rate_limit_window,
            None,
        ));
        let login_http = Self::http(&cfg, &limiter, None)?;
        Ok(Self {
            cfg,
            limiter,
            login_http,
            session: Mutex::new(None),
            categories: RwLock::new(None),
            manufacturers: RwLock::new(None),
        })
    }

    fn http(
        cfg: &OpenCartConfig,
        limiter: &Arc<RateLimiter>,
        token: Option<&str>,
    ) -> Result<HttpClient> {
        let mut secrets = cfg.secrets.clone();
        secrets.extend(token.map(str::to_string));
        HttpClient::new(
            super::PLATFORM,
            cfg.policy.clone(),
            &[
                ("accept", "application/json".into()),
                ("content-type", "application/json".into()),
            ],
            secrets,
            Arc::clone(limiter),
        )
    }

    /// A call to `route` of `index.php`.
    pub(crate) fn call(&self, method: Method, route: &str) -> Call {
        Call::new(method, self.cfg.endpoint.clone()).query("route", route)
    }

    /// Logs in: `POST index.php?route=api/login` with the form fields `username` and `key`, as
    /// OpenCart core reads them.
    async fn login(&self) -> Result<Arc<Session>> {
        let call = self.call(Method::POST, "api/login").form(&[
            ("username", self.cfg.username.as_str()),
            ("key", self.cfg.key.as_str()),
        ]);
        let answer: LoginAnswer = self.login_http.send(&call).await?.ok_or_else(|| {
            ConnectorError::Malformed("api/login answered with an empty body".into())
        })?;
        // OpenCart core answers a refused login with HTTP 200 and an `error` object.
        let token = match answer.api_token.filter(|t| !t.trim().is_empty()) {
            Some(t) if answer.error.is_null() => t,
            _ => {
                let message = match &answer.error {
                    Value::Object(o) => o
                        .values()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; "),
                    Value::String(s) => s.clone(),
                    _ => "no api_token in the answer".into(),
                };
                return Err(ConnectorError::Auth(
                    self.login_http.redact(&format!("api/login: {message}")),
                ));
            }
        };
        let http = Self::http(&self.cfg, &self.limiter, Some(&token))?;
        tracing::debug!(platform = super::PLATFORM, "opencart api session started");
        Ok(Arc::new(Session { token, http }))
    }

    /// The current session, logging in when there is none (or when `stale` is it).
    async fn session(&self, stale: Option<&str>) -> Result<Arc<Session>> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref()
            && stale != Some(s.token.as_str())
        {
            return Ok(Arc::clone(s));
        }
        *guard = None;
        let s = self.login().await?;
        *guard = Some(Arc::clone(&s));
        Ok(s)
    }

    /// Sends `call` with the session's `api_token`; when the store refuses the session (expired
    /// or ended), logs in again once and retries.
    pub(crate) async fn send<T: DeserializeOwned>(&self, call: &Call) -> Result<Envelope<T>> {
        let session = self.session(None).await?;
        let first = session
            .http
            .send::<Envelope<T>>(&call.clone().query("api_token", &session.token))
            .await;
        let answer = match first {
            Err(ConnectorError::Auth(_)) => {
                tracing::info!(
                    platform = super::PLATFORM,
                    "api session refused, logging in again"
                );
                let fresh = self.session(Some(&session.token)).await?;
                fresh
                    .http
                    .send::<Envelope<T>>(&call.clone().query("api_token", &fresh.token))
                    .await?
            }
            other => other?,
        };
        answer.ok_or_else(|| {
            ConnectorError::Malformed("the store answered with an empty body".into())
        })
    }

    /// Sends `call` and returns its `data`, or the store's error.
    pub(crate) async fn data<T: DeserializeOwned>(&self, call: &Call) -> Result<T> {
        let env = self.send::<T>(call).await?;
        if !env.ok() {
            return Err(ConnectorError::Rejected {
                status: 200,
                message: self.redact(&env.errors().join("; ")),
            });
        }
        env.data
            .ok_or_else(|| ConnectorError::Malformed("the answer has no `data`".into()))
    }

    /// Category paths, loaded once per connection (`refresh` reloads).
    pub(crate) async fn categories(&self, refresh: bool) -> Result<Arc<Categories>> {
        if !refresh && let Some(c) = self.categories.read().await.as_ref() {
            return Ok(c.clone());
        }
        let call = self.call(Method::GET, "rest/category_admin/category");
        let list: Vec<OcCategory> = self.data(&call).await?;
        let by_id: HashMap<i64, &OcCategory> = list.iter().map(|c| (c.category_id, c)).collect();
        let mut paths = HashMap::new();
        for c in &list {
            let mut names = vec![c.name.as_str()];
            let mut parent = c.parent_id;
            while let Some(p) = by_id.get(&parent) {
                names.push(p.name.as_str());
                parent = p.parent_id;
                if names.len() > 20 {
                    break;
                }
            }
            names.reverse();
            paths.insert(c.category_id, names.join("/"));
        }
        let ids = paths
            .iter()
            .map(|(id, p)| (p.to_lowercase(), *id))
            .collect();
        let c = Arc::new(Categories { paths, ids });
        *self.categories.write().await = Some(Arc::clone(&c));
        Ok(c)
    }

    /// Manufacturer id → name, loaded once per connection (`refresh` reloads).
    pub(crate) async fn manufacturers(&self, refresh: bool) -> Result<Arc<HashMap<i64, String>>> {
        if !refresh && let Some(m) = self.manufacturers.read().await.as_ref() {
            return Ok(m.clone());
        }
        let call = self.call(Method::GET, "rest/manufacturer_admin/manufacturer");
        let list: Vec<OcManufacturer> = self.data(&call).await?;
        let m = Arc::new(
            list.into_iter()
                .map(|m| (m.manufacturer_id, m.name))
                .collect(),
        );
        *self.manufacturers.write().await = Some(Arc::clone(&m));
        Ok(m)
    }

    /// The marketsync warehouse of the store's stock (`warehouse_mapping` by `0` or
    /// `default`, else `default`).
    pub(crate) fn warehouse(&self) -> String {
        let m = &self.cfg.warehouse_mapping;
        m.get("0")
            .or_else(|| m.get(DEFAULT_WAREHOUSE))
            .cloned()
            .unwrap_or_else(|| DEFAULT_WAREHOUSE.to_string())
    }

    /// Whether `warehouse` is the store's stock pool.
    pub(crate) fn is_store_warehouse(&self, warehouse: &str) -> bool {
        warehouse == self.warehouse() || warehouse == DEFAULT_WAREHOUSE || warehouse == "0"
    }

    /// `text` without credential values.
    pub(crate) fn redact(&self, text: &str) -> String {
        self.login_http.redact(text)
    }
}

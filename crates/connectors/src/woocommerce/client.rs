//! The WooCommerce HTTP client of one connection: consumer key/secret auth (HTTP Basic or the
//! query-string fallback), one rate budget per connection (429 + `Retry-After` honoured by the
//! shared HTTP layer), pagination helpers and cached store lookups (categories, settings).

use std::collections::HashMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use tokio::sync::RwLock;

use super::config::{AuthMethod, MAX_PAGE_SIZE, WooCommerceConfig};
use super::mapping::{self, WcCategory, WcSetting};
use crate::http::{Call, HttpClient, RateLimiter};
use crate::{ConnectorError, Result};

/// Pages fetched at most when listing a whole collection (100 per page).
const MAX_PAGES: u32 = 1000;

/// Category lookups: id → path, and lowercase path → id.
#[derive(Debug, Default)]
pub(crate) struct Categories {
    pub paths: HashMap<i64, String>,
    pub ids: HashMap<String, i64>,
}

/// Store settings a mapping needs.
#[derive(Debug, Clone)]
pub(crate) struct StoreSettings {
    pub currency: String,
    pub weight_unit: String,
    pub dimension_unit: String,
}

/// Client of one WooCommerce store.
pub(crate) struct Client {
    http: HttpClient,
    pub(crate) cfg: WooCommerceConfig,
    categories: RwLock<Option<Arc<Categories>>>,
    settings: RwLock<Option<Arc<StoreSettings>>>,
}

impl Client {
    /// How long a background call would wait for the rate budget now.
    pub(crate) fn background_wait(&self) -> std::time::Duration {
        self.http.background_wait()
    }

    /// A client for `cfg`, with its own rate limiter.
    pub(crate) fn new(cfg: WooCommerceConfig) -> Result<Self> {
        // WooCommerce sends no rate-limit headers; hosts answer 429 with Retry-After.
        let limiter = Arc::new(RateLimiter::new(
            cfg.rate_limit_requests,
            cfg.rate_limit_window,
            None,
        ));
        let mut headers = vec![
            ("accept", "application/json".to_string()),
            ("content-type", "application/json".to_string()),
        ];
        if cfg.auth == AuthMethod::Basic {
            headers.push(("authorization", cfg.basic_header()));
        }
        let http = HttpClient::new(
            super::PLATFORM,
            cfg.policy.clone(),
            &headers,
            cfg.secrets.clone(),
            limiter,
        )?;
        Ok(Self {
            http,
            cfg,
            categories: RwLock::new(None),
            settings: RwLock::new(None),
        })
    }

    /// A call to `path` under the API base (with the query-string credentials when chosen).
    pub(crate) fn call(&self, method: reqwest::Method, path: &str) -> Call {
        let call = Call::new(method, format!("{}{path}", self.cfg.api_url));
        match self.cfg.auth {
            AuthMethod::Basic => call,
            AuthMethod::QueryString => call
                .query("consumer_key", &self.cfg.consumer_key)
                .query("consumer_secret", &self.cfg.consumer_secret),
        }
    }

    /// A GET of `path`.
    pub(crate) fn get(&self, path: &str) -> Call {
        self.call(reqwest::Method::GET, path)
    }

    /// Sends a call whose answer must have a body.
    pub(crate) async fn fetch<T: DeserializeOwned>(&self, call: Call) -> Result<T> {
        self.http.send(&call).await?.ok_or_else(|| {
            ConnectorError::Malformed("the platform answered with an empty body".into())
        })
    }

    /// One page of a list with the totals WooCommerce sends beside it (`X-WP-Total`,
    /// `X-WP-TotalPages`), when it sends them.
    pub(crate) async fn fetch_page<T: DeserializeOwned>(
        &self,
        call: Call,
    ) -> Result<(Vec<T>, Option<u64>, Option<u32>)> {
        self.http
            .send_with(&call, |what, reply| {
                let items: Vec<T> = if reply.body.iter().all(u8::is_ascii_whitespace) {
                    Vec::new()
                } else {
                    serde_json::from_slice(&reply.body).map_err(|e| {
                        ConnectorError::Malformed(format!("{what}: HTTP {}: {e}", reply.status))
                    })?
                };
                let number = |name: &str| {
                    reply
                        .header(name)
                        .and_then(|v| v.trim().parse::<u64>().ok())
                };
                let pages = number("x-wp-totalpages").map(|p| p.min(u64::from(u32::MAX)) as u32);
                Ok((items, number("x-wp-total"), pages))
            })
            .await
    }

    /// Every item of a list, 100 per page, until a short page.
    pub(crate) async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut call = self
                .get(path)
                .query("page", page)
                .query("per_page", MAX_PAGE_SIZE);
            for (k, v) in query {
                call = call.query(k, v);
            }
            let batch: Vec<T> = self.fetch(call).await?;
            let n = batch.len();
            out.extend(batch);
            if n < MAX_PAGE_SIZE as usize {
                break;
            }
        }
        Ok(out)
    }

    /// Category paths, loaded once per connection (`refresh` reloads).
    pub(crate) async fn categories(&self, refresh: bool) -> Result<Arc<Categories>> {
        if !refresh && let Some(c) = self.categories.read().await.as_ref() {
            return Ok(c.clone());
        }
        let list: Vec<WcCategory> = self
            .list_all("/products/categories", &[("orderby", "id".into())])
            .await?;
        let paths = mapping::category_paths(&list);
        let ids = paths
            .iter()
            .map(|(id, path)| (path.to_lowercase(), *id))
            .collect();
        let c = Arc::new(Categories { paths, ids });
        *self.categories.write().await = Some(Arc::clone(&c));
        Ok(c)
    }

    /// Currency and units of the store (`/settings/general`, `/settings/products`), once per
    /// connection.
    pub(crate) async fn settings(&self) -> Result<Arc<StoreSettings>> {
        if let Some(s) = self.settings.read().await.as_ref() {
            return Ok(s.clone());
        }
        let (general, products) = futures::try_join!(
            self.fetch::<Vec<WcSetting>>(self.get("/settings/general")),
            self.fetch::<Vec<WcSetting>>(self.get("/settings/products")),
        )?;
        let value = |list: &[WcSetting], id: &str, dflt: &str| {
            list.iter()
                .find(|s| s.id == id)
                .and_then(|s| s.value.as_str())
                .filter(|v| !v.is_empty())
                .unwrap_or(dflt)
                .to_string()
        };
        let s = Arc::new(StoreSettings {
            currency: value(&general, "woocommerce_currency", "USD"),
            weight_unit: value(&products, "woocommerce_weight_unit", "kg"),
            dimension_unit: value(&products, "woocommerce_dimension_unit", "cm"),
        });
        *self.settings.write().await = Some(Arc::clone(&s));
        Ok(s)
    }

    /// `text` without credential values.
    pub(crate) fn redact(&self, text: &str) -> String {
        self.http.redact(text)
    }
}

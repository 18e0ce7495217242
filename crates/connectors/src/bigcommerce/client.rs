//! The BigCommerce HTTP client of one connection: `X-Auth-Token` auth, the window rate limit
//! (one budget per connection, following `X-Rate-Limit-*`), retries, pagination helpers and
//! cached lookups (brands, categories, locations).

use std::collections::HashMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use tokio::sync::RwLock;

use super::config::{BigCommerceConfig, MAX_PAGE_SIZE};
use super::mapping::{self, BcBrand, BcCategory, BcLocation, V3List};
use crate::http::{Call, HttpClient, RateLimitHeaders, RateLimiter};
use crate::{ConnectorError, Result};

/// BigCommerce's rate-limit headers.
const RATE_LIMIT_HEADERS: RateLimitHeaders = RateLimitHeaders {
    left: "x-rate-limit-requests-left",
    reset_ms: "x-rate-limit-time-reset-ms",
};

/// Pages fetched at most when listing a whole lookup collection (250 per page).
const MAX_LOOKUP_PAGES: u64 = 400;

/// Category lookups: id → path, and lowercase path → id.
#[derive(Debug, Default)]
pub(crate) struct Categories {
    pub paths: HashMap<i64, String>,
    pub ids: HashMap<String, i64>,
}

/// Client of one BigCommerce store.
pub(crate) struct Client {
    http: HttpClient,
    pub(crate) cfg: BigCommerceConfig,
    brands: RwLock<Option<Arc<HashMap<i64, String>>>>,
    categories: RwLock<Option<Arc<Categories>>>,
    locations: RwLock<Option<Arc<Vec<BcLocation>>>>,
}

impl Client {
    /// How long a background call would wait for the rate budget now.
    pub(crate) fn background_wait(&self) -> std::time::Duration {
        self.http.background_wait()
    }

    /// A client for `cfg`, with its own rate limiter.
    pub(crate) fn new(cfg: BigCommerceConfig) -> Result<Self> {
        let limiter = Arc::new(RateLimiter::new(
            cfg.rate_limit_requests,
            cfg.rate_limit_window,
            Some(RATE_LIMIT_HEADERS),
        ));
        let http = HttpClient::new(
            super::PLATFORM,
            cfg.policy.clone(),
            &[
                ("x-auth-token", cfg.access_token.clone()),
                ("accept", "application/json".into()),
                ("content-type", "application/json".into()),
            ],
            cfg.secrets.clone(),
            limiter,
        )?;
        Ok(Self {
            http,
            cfg,
            brands: RwLock::new(None),
            categories: RwLock::new(None),
            locations: RwLock::new(None),
        })
    }

    /// Sends a call and decodes its JSON (`None`: 204 or empty body).
    pub(crate) async fn send<T: DeserializeOwned>(&self, call: Call) -> Result<Option<T>> {
        self.http.send(&call).await
    }

    /// Sends a call whose answer must have a body.
    pub(crate) async fn fetch<T: DeserializeOwned>(&self, call: Call) -> Result<T> {
        self.http.send(&call).await?.ok_or_else(|| {
            ConnectorError::Malformed("the platform answered with an empty body".into())
        })
    }

    /// Every item of a V3 list, following `meta.pagination`.
    async fn list_all<T: DeserializeOwned>(&self, base: &str, path: &str) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut page = 1u64;
        loop {
            let call = Call::get(format!("{base}{path}"))
                .query("page", page)
                .query("limit", MAX_PAGE_SIZE);
            let list: V3List<T> = self.fetch(call).await?;
            let got = list.data.len();
            out.extend(list.data);
            let next = list.meta.pagination.as_ref().and_then(|p| p.next_page());
            match next {
                Some(n) if got > 0 && n <= MAX_LOOKUP_PAGES => page = n,
                _ => return Ok(out),
            }
        }
    }

    /// Brand id → name, loaded once per connection (`refresh` reloads).
    pub(crate) async fn brands(&self, refresh: bool) -> Result<Arc<HashMap<i64, String>>> {
        if !refresh && let Some(b) = self.brands.read().await.as_ref() {
            return Ok(b.clone());
        }
        let list: Vec<BcBrand> = self
            .list_all(&self.cfg.urls.brands, "/catalog/brands")
            .await?;
        let map = Arc::new(list.into_iter().map(|b| (b.id, b.name)).collect());
        *self.brands.write().await = Some(Arc::clone(&map));
        Ok(map)
    }

    /// Forgets the cached brands (after a write may have created one).
    pub(crate) async fn forget_brands(&self) {
        *self.brands.write().await = None;
    }

    /// Category paths, loaded once per connection (`refresh` reloads).
    pub(crate) async fn categories(&self, refresh: bool) -> Result<Arc<Categories>> {
        if !refresh && let Some(c) = self.categories.read().await.as_ref() {
            return Ok(c.clone());
        }
        let list: Vec<BcCategory> = self
            .list_all(&self.cfg.urls.categories, "/catalog/categories")
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

    /// Inventory locations, loaded once per connection (`refresh` reloads).
    pub(crate) async fn locations(&self, refresh: bool) -> Result<Arc<Vec<BcLocation>>> {
        if !refresh && let Some(l) = self.locations.read().await.as_ref() {
            return Ok(l.clone());
        }
        let list: Vec<BcLocation> = self
            .list_all(&self.cfg.urls.locations, "/inventory/locations")
            .await?;
        let l = Arc::new(list);
        *self.locations.write().await = Some(Arc::clone(&l));
        Ok(l)
    }

    /// The marketsync warehouse of a location: `warehouse_mapping` by id or code, else its code.
    pub(crate) fn warehouse_of(&self, id: i64, code: &str) -> String {
        let mapping = &self.cfg.warehouse_mapping;
        mapping
            .get(&id.to_string())
            .or_else(|| mapping.get(code))
            .cloned()
            .unwrap_or_else(|| {
                if code.is_empty() {
                    id.to_string()
                } else {
                    code.to_string()
                }
            })
    }

    /// The location id of a marketsync warehouse (the inverse of [`Client::warehouse_of`]).
    pub(crate) fn location_of(&self, locations: &[BcLocation], warehouse: &str) -> Option<i64> {
        let mapped = self
            .cfg
            .warehouse_mapping
            .iter()
            .filter(|(_, w)| w.as_str() == warehouse)
            .find_map(|(key, _)| {
                locations
                    .iter()
                    .find(|l| l.id.to_string() == *key || l.code == *key || l.label == *key)
            });
        mapped
            .or_else(|| {
                locations
                    .iter()
                    .find(|l| l.code == warehouse || l.id.to_string() == warehouse)
            })
            .map(|l| l.id)
    }

    /// `text` without credential values.
    pub(crate) fn redact(&self, text: &str) -> String {
        self.http.redact(text)
    }
}

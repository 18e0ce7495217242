//! The Magento HTTP client of one connection: integration-token (bearer) or OAuth 1.0a
//! (HMAC-SHA256) auth, the client-side rate budget, `searchCriteria` building and cached
//! lookups (store config, categories, configurable attributes, MSI sources).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::RwLock;

use super::config::{AuthMode, MAX_PAGE_SIZE, MagentoConfig};
use super::mapping::{MageAttribute, MageCategory, MageSource, SearchResult, StoreConfig};
use crate::http::{Call, HttpClient, RateLimiter};
use crate::{ConnectorError, Result};

/// Pages fetched at most when listing a whole lookup collection.
const MAX_LOOKUP_PAGES: u64 = 200;

/// One filter of a `searchCriteria` filter group: (field, value, condition_type).
pub(crate) type Filter = (String, String, &'static str);

/// A request before signing.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    method: Method,
    url: String,
    query: Vec<(String, String)>,
    body: Option<Value>,
}

impl Req {
    pub(crate) fn get(url: String) -> Self {
        Self {
            method: Method::GET,
            url,
            query: Vec::new(),
            body: None,
        }
    }

    pub(crate) fn new(method: Method, url: String, body: Value) -> Self {
        Self {
            method,
            url,
            query: Vec::new(),
            body: Some(body),
        }
    }

    pub(crate) fn query(mut self, name: &str, value: impl ToString) -> Self {
        self.query.push((name.to_string(), value.to_string()));
        self
    }

    /// `searchCriteria`: filter groups (AND of groups, OR inside one), page size, current page,
    /// sorted by `sort` ascending.
    pub(crate) fn criteria(
        mut self,
        groups: &[Vec<Filter>],
        page_size: u64,
        current_page: u64,
        sort: Option<&str>,
    ) -> Self {
        for (g, filters) in groups.iter().enumerate() {
            for (f, (field, value, cond)) in filters.iter().enumerate() {
                let k = format!("searchCriteria[filter_groups][{g}][filters][{f}]");
                self = self
                    .query(&format!("{k}[field]"), field)
                    .query(&format!("{k}[value]"), value)
                    .query(&format!("{k}[condition_type]"), cond);
            }
        }
        self = self
            .query("searchCriteria[pageSize]", page_size)
            .query("searchCriteria[currentPage]", current_page);
        if let Some(field) = sort {
            self = self
                .query("searchCriteria[sortOrders][0][field]", field)
                .query("searchCriteria[sortOrders][0][direction]", "ASC");
        }
        self
    }
}

/// RFC 3986 percent-encoding (OAuth 1.0a, path segments).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Base64 HMAC-SHA256.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The OAuth 1.0a signature base string's URL: scheme and host lower case, default port
/// dropped, no query (RFC 5849 §3.4.1.2).
fn base_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let (host, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let path = path.split('?').next().unwrap_or("");
    let scheme = scheme.to_ascii_lowercase();
    let mut host = host.to_ascii_lowercase();
    if (scheme == "http" && host.ends_with(":80")) || (scheme == "https" && host.ends_with(":443"))
    {
        host.truncate(host.rfind(':').unwrap_or(host.len()));
    }
    let path = if path.is_empty() { "/" } else { path };
    format!("{scheme}://{host}{path}")
}

/// OAuth 1.0a HMAC-SHA256 signature of `method base_url params`.
pub(crate) fn oauth_signature(
    method: &str,
    url: &str,
    params: &[(String, String)],
    consumer_secret: &str,
    token_secret: &str,
) -> String {
    let mut enc: Vec<(String, String)> =
        params.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    enc.sort();
    let normalized = enc
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let base = format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(&base_url(url)),
        encode(&normalized)
    );
    let key = format!("{}&{}", encode(consumer_secret), encode(token_secret));
    base64::engine::general_purpose::STANDARD.encode(hmac_sha256(key.as_bytes(), base.as_bytes()))
}

/// Client of one Magento store.
pub(crate) struct Client {
    http: HttpClient,
    pub(crate) cfg: MagentoConfig,
    nonce: AtomicU64,
    store_config: RwLock<Option<Arc<StoreConfig>>>,
    categories: RwLock<Option<Arc<Vec<MageCategory>>>>,
    attributes: RwLock<HashMap<i64, Arc<MageAttribute>>>,
    sources: RwLock<Option<Arc<Vec<MageSource>>>>,
}

impl Client {
    /// How long a background call would wait for the rate budget now.
    pub(crate) fn background_wait(&self) -> std::time::Duration {
        self.http.background_wait()
    }

    pub(crate) fn new(cfg: MagentoConfig) -> Result<Self> {
        let limiter = Arc::new(RateLimiter::new(
            cfg.rate_limit_requests,
            cfg.rate_limit_window,
            None,
        ));
        let mut headers = vec![
            ("accept", "application/json".to_string()),
            ("content-type", "application/json".to_string()),
        ];
        if cfg.auth == AuthMode::Bearer {
            headers.push(("authorization", format!("Bearer {}", cfg.access_token)));
        }
        // OAuth 1.0a: Magento refuses a nonce it has seen, so every retry after a failure that
        // reached Magento (5xx, timeout, bad body) is signed anew here; the shared client only
        // repeats requests answered 429 by the edge, which Magento never saw.
        let mut policy = cfg.policy.clone();
        if cfg.auth == AuthMode::OAuth1 {
            policy.retry.attempts = 1;
        }
        let http = HttpClient::new(
            super::PLATFORM,
            policy,
            &headers,
            cfg.secrets.clone(),
            limiter,
        )?;
        Ok(Self {
            http,
            cfg,
            nonce: AtomicU64::new(0),
            store_config: RwLock::new(None),
            categories: RwLock::new(None),
            attributes: RwLock::new(HashMap::new()),
            sources: RwLock::new(None),
        })
    }

    /// The call of `req`, OAuth-signed (parameters in the query) in `oauth1` mode.
    fn call(&self, req: Req) -> Result<Call> {
        let mut query = req.query;
        if self.cfg.auth == AuthMode::OAuth1 {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let n = self.nonce.fetch_add(1, Ordering::Relaxed);
            let seed = format!("{}:{}:{n}", now.as_nanos(), req.url);
            let nonce: String = hmac_sha256(self.cfg.consumer_key.as_bytes(), seed.as_bytes())
                .iter()
                .take(16)
                .map(|b| format!("{b:02x}"))
                .collect();
            let oauth = [
                ("oauth_consumer_key", self.cfg.consumer_key.clone()),
                ("oauth_token", self.cfg.access_token.clone()),
                ("oauth_signature_method", "HMAC-SHA256".to_string()),
                ("oauth_timestamp", now.as_secs().to_string()),
                ("oauth_nonce", nonce),
                ("oauth_version", "1.0".to_string()),
            ];
            query.extend(oauth.iter().map(|(k, v)| (k.to_string(), v.clone())));
            let sig = oauth_signature(
                req.method.as_str(),
                &req.url,
                &query,
                &self.cfg.consumer_secret,
                &self.cfg.access_token_secret,
            );
            query.push(("oauth_signature".into(), sig));
        }
        let mut call = Call::new(req.method, req.url);
        for (k, v) in &query {
            call = call.query(k, v);
        }
        if let Some(body) = &req.body {
            call = call.json(body)?;
        }
        Ok(call)
    }

    /// Sends a request and decodes its JSON (`None`: empty body).
    pub(crate) async fn send<T: DeserializeOwned>(&self, req: Req) -> Result<Option<T>> {
        if self.cfg.auth == AuthMode::Bearer {
            return self.http.send(&self.call(req)?).await;
        }
        let attempts = self.cfg.policy.retry.attempts.max(1);
        let mut failures = 0;
        loop {
            match self.http.send(&self.call(req.clone())?).await {
                Err(e @ (ConnectorError::Transient(_) | ConnectorError::Malformed(_))) => {
                    failures += 1;
                    if failures >= attempts {
                        return Err(e);
                    }
                    let delay = self.cfg.policy.retry.delay(failures);
                    tracing::warn!(
                        platform = super::PLATFORM,
                        attempt = failures,
                        error = %e,
                        "transient failure, retrying with a new OAuth signature"
                    );
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    /// Sends a request whose answer must have a body.
    pub(crate) async fn fetch<T: DeserializeOwned>(&self, req: Req) -> Result<T> {
        self.send(req).await?.ok_or_else(|| {
            ConnectorError::Malformed("the platform answered with an empty body".into())
        })
    }

    /// Every item of a search, following `total_count`.
    async fn search_all<T: DeserializeOwned>(
        &self,
        path: &str,
        groups: &[Vec<Filter>],
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let size = MAX_PAGE_SIZE as u64;
        for page in 1..=MAX_LOOKUP_PAGES {
            let req =
                Req::get(format!("{}{path}", self.cfg.urls.v1)).criteria(groups, size, page, None);
            let res: SearchResult<T> = self.fetch(req).await?;
            let got = res.items.len();
            out.extend(res.items);
            if got == 0 || page * size >= res.total_count {
                break;
            }
        }
        Ok(out)
    }

    /// The default store view's configuration (currency, weight unit), loaded once.
    pub(crate) async fn store_config(&self) -> Result<Arc<StoreConfig>> {
        if let Some(c) = self.store_config.read().await.as_ref() {
            return Ok(c.clone());
        }
        let list: Vec<StoreConfig> = self
            .fetch(Req::get(format!("{}/store/storeConfigs", self.cfg.urls.v1)))
            .await?;
        let c = list
            .iter()
            .find(|c| c.code == "default")
            .or(list.first())
            .cloned()
            .unwrap_or_default();
        let c = Arc::new(c);
        *self.store_config.write().await = Some(c.clone());
        Ok(c)
    }

    /// Every category, loaded once per connection (`refresh` reloads).
    pub(crate) async fn categories(&self, refresh: bool) -> Result<Arc<Vec<MageCategory>>> {
        if !refresh && let Some(c) = self.categories.read().await.as_ref() {
            return Ok(c.clone());
        }
        let list: Vec<MageCategory> = self.search_all("/categories/list", &[]).await?;
        let c = Arc::new(list);
        *self.categories.write().await = Some(c.clone());
        Ok(c)
    }

    /// The configurable attributes of `ids` (code and option labels), cached.
    pub(crate) async fn attributes(&self, ids: &[i64]) -> Result<HashMap<i64, Arc<MageAttribute>>> {
        let missing: Vec<String> = {
            let cache = self.attributes.read().await;
            ids.iter()
                .filter(|id| !cache.contains_key(id))
                .map(i64::to_string)
                .collect()
        };
        if !missing.is_empty() {
            let filter = vec![("attribute_id".to_string(), missing.join(","), "in")];
            let list: Vec<MageAttribute> =
                self.search_all("/products/attributes", &[filter]).await?;
            let mut cache = self.attributes.write().await;
            for a in list {
                cache.insert(a.attribute_id, Arc::new(a));
            }
        }
        let cache = self.attributes.read().await;
        Ok(ids
            .iter()
            .filter_map(|id| cache.get(id).map(|a| (*id, a.clone())))
            .collect())
    }

    /// MSI sources, loaded once per connection.
    pub(crate) async fn sources(&self) -> Result<Arc<Vec<MageSource>>> {
        if let Some(s) = self.sources.read().await.as_ref() {
            return Ok(s.clone());
        }
        let list: Vec<MageSource> = self.search_all("/inventory/sources", &[]).await?;
        let s = Arc::new(list);
        *self.sources.write().await = Some(s.clone());
        Ok(s)
    }

    /// The marketsync warehouse of a source: `warehouse_mapping` by code or name, else its code.
    pub(crate) fn warehouse_of(&self, code: &str, sources: &[MageSource]) -> String {
        let m = &self.cfg.warehouse_mapping;
        let name = sources
            .iter()
            .find(|s| s.source_code == code)
            .map(|s| s.name.as_str());
        m.get(code)
            .or_else(|| name.and_then(|n| m.get(n)))
            .cloned()
            .unwrap_or_else(|| code.to_string())
    }

    /// The source code of a marketsync warehouse (the inverse of [`Client::warehouse_of`]).
    pub(crate) fn source_of(&self, warehouse: &str, sources: &[MageSource]) -> Option<String> {
        let mapped = self
            .cfg
            .warehouse_mapping
            .iter()
            .filter(|(_, w)| w.as_str() == warehouse)
            .find_map(|(key, _)| {
                sources
                    .iter()
                    .find(|s| s.source_code == *key || s.name == *key)
            });
        mapped
            .or_else(|| sources.iter().find(|s| s.source_code == warehouse))
            .map(|s| s.source_code.clone())
    }

    /// `text` without credential values.
    pub(crate) fn redact(&self, text: &str) -> String {
        self.http.redact(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_drop_default_ports_and_query() {
        assert_eq!(
            base_url("HTTPS://Shop.Example.com:443/rest/V1/products?x=1"),
            "https://shop.example.com/rest/V1/products"
        );
        assert_eq!(
            base_url("http://127.0.0.1:8080/a"),
            "http://127.0.0.1:8080/a"
        );
    }

    #[test]
    fn encodes_rfc3986() {
        assert_eq!(encode("a b+c/~"), "a%20b%2Bc%2F~");
    }
}

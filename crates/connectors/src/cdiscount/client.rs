//! Connection configuration and HTTP client of a CDiscount seller on the Octopia seller API:
//! the OAuth 2 client-credentials token (cached, renewed before it expires, renewed once more
//! when a call comes back 401), the `SellerId` header and the client-side rate budget.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::http::{Call, HttpClient, RateLimiter};
use crate::oauth::{ClientAuth, Grant, GrantType, TokenSource};
use crate::{ConnectionConfig, ConnectorError, HttpPolicy, Result};

/// Production seller API base.
pub const DEFAULT_API_URL: &str = "https://api.octopia-io.net/seller/v2";
/// Path of Octopia's token endpoint (Keycloak realm `maas`).
pub const TOKEN_PATH: &str = "/auth/realms/maas/protocol/openid-connect/token";
/// Production token endpoint.
pub const DEFAULT_AUTH_URL: &str =
    "https://auth.octopia-io.net/auth/realms/maas/protocol/openid-connect/token";
/// Sales channel of Cdiscount.fr.
pub const SALES_CHANNEL: &str = "CDISFR";
/// ASSUMED sustained requests per second per seller (see the module docs).
pub const DEFAULT_RATE_PER_SEC: f64 = 20.0;
/// ASSUMED bucket size of the seller's rate limit.
pub const DEFAULT_BURST: u32 = 20;
/// Requests the client keeps in hand below the platform's bucket, against network jitter.
pub const BURST_MARGIN: u32 = 5;
/// Documented maximum of offer requests in one offer package.
pub const PACKAGE_MAX: usize = 40_000;
/// ASSUMED maximum of offer requests per upload call.
pub const UPLOAD_MAX: usize = 1_000;
/// ASSUMED maximum `limit` of offer and integration-result lists.
pub const LIST_MAX: u32 = 1_000;
/// ASSUMED maximum `pageSize` of order lists.
pub const ORDERS_PAGE_MAX: u32 = 100;

/// Everything the CDiscount connector needs, validated.
#[derive(Clone)]
pub struct CdiscountConfig {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    /// Seller id sent as `SellerId`.
    pub seller_id: String,
    /// Seller API base, without a trailing slash.
    pub api_url: String,
    /// Token endpoint.
    pub auth_url: String,
    /// Sustained requests per second.
    pub rate_per_sec: f64,
    /// Requests the client may send at once.
    pub burst: u32,
    /// Default page size.
    pub page_size: u32,
    /// Timeouts, retries, debug logging.
    pub policy: HttpPolicy,
}

impl std::fmt::Debug for CdiscountConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CdiscountConfig")
            .field("client_id", &"[redacted]")
            .field("client_secret", &"[redacted]")
            .field("seller_id", &self.seller_id)
            .field("api_url", &self.api_url)
            .field("auth_url", &self.auth_url)
            .field("rate_per_sec", &self.rate_per_sec)
            .field("burst", &self.burst)
            .field("page_size", &self.page_size)
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

impl CdiscountConfig {
    /// Reads a connection: `api_key` = OAuth client id, `api_token` = client secret,
    /// `seller_login` = seller id (the module docs' assumption).
    pub fn from_connection(config: &ConnectionConfig) -> Result<Self> {
        let creds = &config.credentials;
        let s = &config.settings;
        let client_id = creds.require("api_key")?.trim().to_string();
        let client_secret = creds.require("api_token")?.trim().to_string();
        let seller_id = creds.require("seller_login")?.trim().to_string();
        if seller_id.chars().any(|c| c.is_control() || c == ' ') {
            return Err(ConnectorError::Config(
                "credential `seller_login` must be the seller id, without spaces".into(),
            ));
        }
        let api_url = match s.base_url.as_deref().filter(|u| !u.trim().is_empty()) {
            Some(u) => {
                let u = check_url("settings.base_url", u)?;
                // A bare origin (a simulator, a proxy) gets the API's path.
                let has_path = u
                    .split_once("://")
                    .is_some_and(|(_, rest)| rest.contains('/'));
                if has_path {
                    u
                } else {
                    format!("{u}/seller/v2")
                }
            }
            None => DEFAULT_API_URL.to_string(),
        };
        // A simulator or proxy serves both: the token endpoint lives at its origin.
        let auth_url = match s.auth_url.as_deref().filter(|u| !u.trim().is_empty()) {
            Some(u) => check_url("settings.auth_url", u)?,
            None if api_url == DEFAULT_API_URL => DEFAULT_AUTH_URL.to_string(),
            None => {
                let origin = api_url
                    .strip_suffix("/seller/v2")
                    .unwrap_or(api_url.as_str());
                format!("{origin}{TOKEN_PATH}")
            }
        };
        let (rate_per_sec, burst) = match (s.rate_limit_requests, s.rate_limit_window_ms) {
            (Some(n), Some(ms)) if n > 0 && ms > 0 => (f64::from(n) * 1000.0 / ms as f64, n),
            (Some(n), None) if n > 0 => (f64::from(n), n),
            _ => (DEFAULT_RATE_PER_SEC, DEFAULT_BURST),
        };
        Ok(Self {
            client_id,
            client_secret,
            seller_id,
            api_url,
            auth_url,
            rate_per_sec,
            burst,
            page_size: s.batch_size.unwrap_or(100).clamp(1, ORDERS_PAGE_MAX),
            policy: s.http_policy(),
        })
    }
}

/// One answer of the API, decoded, with the next page's cursor from its `Link` header.
pub(crate) struct Answer<T> {
    pub body: Option<T>,
    pub next_cursor: Option<String>,
    pub location: Option<String>,
}

/// HTTP client of one connection.
#[derive(Clone, Debug)]
pub(crate) struct Client {
    pub cfg: Arc<CdiscountConfig>,
    http: HttpClient,
    tokens: TokenSource,
}

impl Client {
    pub(crate) fn new(cfg: CdiscountConfig) -> Result<Self> {
        let secrets = vec![cfg.client_id.clone(), cfg.client_secret.clone()];
        let limiter = RateLimiter::token_bucket(
            cfg.rate_per_sec,
            cfg.burst.saturating_sub(BURST_MARGIN).max(1),
            None,
        );
        let http = HttpClient::new(
            super::PLATFORM,
            cfg.policy.clone(),
            &[("sellerid", cfg.seller_id.clone())],
            secrets.clone(),
            Arc::new(limiter),
        )?;
        // ASSUMED: at most 500 tokens per hour per client.
        let tokens = TokenSource::with_limiter(
            super::PLATFORM,
            cfg.policy.clone(),
            Grant {
                token_url: cfg.auth_url.clone(),
                client_id: cfg.client_id.clone(),
                client_secret: cfg.client_secret.clone(),
                grant: GrantType::ClientCredentials,
                scope: None,
                client_auth: ClientAuth::Form,
            },
            Arc::new(RateLimiter::new(500, Duration::from_secs(3600), None)),
        )?;
        Ok(Self {
            cfg: Arc::new(cfg),
            http,
            tokens,
        })
    }

    /// The API URL of `path` (starting with `/`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.api_url)
    }

    /// Sends `make()` with a bearer token; a 401 renews the token and sends once more.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        make: impl Fn() -> Call,
    ) -> Result<Answer<T>> {
        let token = self.tokens.token().await?;
        match self.once(make(), &token).await {
            Err(ConnectorError::Auth(_)) => {
                self.tokens.invalidate().await;
                let token = self.tokens.token().await?;
                self.once(make(), &token).await
            }
            other => other,
        }
    }

    async fn once<T: DeserializeOwned>(&self, call: Call, token: &str) -> Result<Answer<T>> {
        let call = call
            .header("authorization", format!("Bearer {token}"))
            .header("accept", "application/json");
        self.http
            .send_with(&call, |what, reply| {
                let body = if reply.status == 204 || reply.body.iter().all(u8::is_ascii_whitespace)
                {
                    None
                } else {
                    Some(serde_json::from_slice::<T>(&reply.body).map_err(|e| {
                        ConnectorError::Malformed(format!("{what}: HTTP {}: {e}", reply.status))
                    })?)
                };
                Ok(Answer {
                    body,
                    next_cursor: reply.header("link").and_then(next_cursor),
                    location: reply.header("content-location").map(str::to_string),
                })
            })
            .await
    }
}

/// The `cursor` of the `rel="next"` link of a `Link` header.
pub(crate) fn next_cursor(link: &str) -> Option<String> {
    link.split(',')
        .find(|part| part.contains("rel=\"next\""))
        .and_then(|part| {
            let url = part.split('>').next()?.trim().trim_start_matches('<');
            let query = url.split_once('?')?.1;
            query.split('&').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                k.eq_ignore_ascii_case("cursor").then(|| v.to_string())
            })
        })
        .filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_next_cursor() {
        assert_eq!(
            next_cursor("</seller/v2/offers?cursor=100&limit=100>; rel=\"next\"").as_deref(),
            Some("100")
        );
        assert_eq!(
            next_cursor("<https://x/offers?limit=5&Cursor=abc>; rel=\"next\", <https://x/offers>; rel=\"first\"")
                .as_deref(),
            Some("abc")
        );
        assert_eq!(next_cursor("<https://x/offers>; rel=\"first\""), None);
    }
}

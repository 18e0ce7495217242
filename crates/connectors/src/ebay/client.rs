//! The eBay HTTP client of one connection: the user access token of the refresh-token grant
//! (shared [`TokenSource`]), an application token (client credentials grant) for the
//! Notification API, one call budget per API family, and the headers eBay wants.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::config::{APP_SCOPE, EbayConfig, Pace, SCOPES};
use crate::http::{Call, HttpClient, RateLimiter};
use crate::oauth::{ClientAuth, Grant, GrantType, TokenSource};
use crate::{ConnectorError, Result};

/// Which API family (and so which budget) a call belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Inventory,
    Fulfillment,
    Account,
    Notification,
}

/// Client of one eBay seller account.
pub(crate) struct Client {
    pub(crate) http: HttpClient,
    pub(crate) cfg: EbayConfig,
    tokens: TokenSource,
    /// The application token (client-credentials grant) getPublicKey wants.
    app_tokens: TokenSource,
    inventory: Arc<RateLimiter>,
    fulfillment: Arc<RateLimiter>,
    account: Arc<RateLimiter>,
    notification: Arc<RateLimiter>,
}

/// Calls of a burst kept in reserve (at least this many, or 1% of the burst): requests leave
/// in budget order but reach eBay with some jitter; the reserve absorbs `reserve / rate`
/// seconds of it.
const BURST_RESERVE: u32 = 2;

fn bucket(p: Pace) -> Arc<RateLimiter> {
    let reserve = BURST_RESERVE.max(p.burst / 100);
    let burst = if p.burst > 2 * reserve {
        p.burst - reserve
    } else {
        p.burst
    };
    Arc::new(RateLimiter::token_bucket(p.rate, burst, None))
}

impl Client {
    /// A client for `cfg`.
    pub(crate) fn new(cfg: EbayConfig) -> Result<Self> {
        let grant = |grant, scope: String| Grant {
            token_url: cfg.token_url.clone(),
            client_id: cfg.client_id.clone(),
            client_secret: cfg.client_secret.clone(),
            grant,
            scope: Some(scope),
            client_auth: ClientAuth::Basic,
        };
        let tokens = TokenSource::new(
            super::PLATFORM,
            cfg.policy.clone(),
            grant(
                GrantType::RefreshToken(cfg.refresh_token.clone()),
                SCOPES.join(" "),
            ),
        )?;
        let app_tokens = TokenSource::new(
            super::PLATFORM,
            cfg.policy.clone(),
            grant(GrantType::ClientCredentials, APP_SCOPE.to_string()),
        )?;
        let inventory = bucket(cfg.inventory_pace);
        let http = HttpClient::new(
            super::PLATFORM,
            cfg.policy.clone(),
            &[
                ("accept", "application/json".into()),
                ("content-type", "application/json".into()),
            ],
            cfg.secrets.clone(),
            inventory.clone(),
        )?;
        Ok(Self {
            http,
            tokens,
            app_tokens,
            inventory,
            fulfillment: bucket(cfg.fulfillment_pace),
            account: bucket(cfg.account_pace),
            notification: bucket(cfg.notification_pace),
            cfg,
        })
    }

    fn limiter(&self, family: Family) -> Arc<RateLimiter> {
        match family {
            Family::Inventory => self.inventory.clone(),
            Family::Fulfillment => self.fulfillment.clone(),
            Family::Account => self.account.clone(),
            Family::Notification => self.notification.clone(),
        }
    }

    /// Sends `make()` with the user token, the marketplace header and the family's budget;
    /// a 401 is retried once with a fresh token.
    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        family: Family,
        make: impl Fn() -> Call,
    ) -> Result<Option<T>> {
        let limiter = self.limiter(family);
        let marketplace = self.cfg.marketplace_id.clone();
        self.tokens
            .send(&self.http, "authorization", "Bearer ", || {
                make()
                    .header("x-ebay-c-marketplace-id", marketplace.clone())
                    .limiter(limiter.clone())
            })
            .await
    }

    /// Like [`Client::send`], for answers that must have a body.
    pub(crate) async fn fetch<T: DeserializeOwned>(
        &self,
        family: Family,
        make: impl Fn() -> Call,
    ) -> Result<T> {
        self.send(family, make).await?.ok_or_else(|| {
            ConnectorError::Malformed("the platform answered with an empty body".into())
        })
    }

    /// A user access token (checks the credentials).
    pub(crate) async fn user_token(&self) -> Result<String> {
        self.tokens.token().await
    }

    /// Sends `call` with the application token (Notification API public keys).
    pub(crate) async fn send_app<T: DeserializeOwned>(&self, call: Call) -> Result<Option<T>> {
        let limiter = self.notification.clone();
        self.app_tokens
            .send(&self.http, "authorization", "Bearer ", || {
                call.clone().limiter(limiter.clone())
            })
            .await
    }
}

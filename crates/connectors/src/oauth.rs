//! OAuth 2 access tokens, shared by the platforms that use them: the refresh-token grant
//! (RFC 6749 §6: Login with Amazon for SP-API with the client credentials in the form body,
//! eBay's user tokens with them as HTTP Basic) and the client-credentials grant (§4.4: eBay's
//! application token, Octopia's seller API). The access token is cached and renewed before it
//! expires; a call that comes back 401 gets one more try with a fresh token; refused
//! credentials (`invalid_grant`, `invalid_client`) are an [`ConnectorError::Auth`], whose
//! message asks to re-authorize. Token answers are never body-logged: they are secrets.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

use crate::http::{Call, HttpClient, RateLimiter, Reply};
use crate::{ConnectorError, HttpPolicy, Result};

/// A token is refreshed when less than this is left of its life.
const REFRESH_MARGIN: Duration = Duration::from_secs(120);

/// How the client id and secret travel to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuth {
    /// `client_id` and `client_secret` as form fields (Login with Amazon).
    Form,
    /// `Authorization: Basic base64(client_id:client_secret)` (eBay).
    Basic,
}

/// Which grant asks for the access token.
#[derive(Clone)]
pub(crate) enum GrantType {
    /// The seller's long-lived refresh token.
    RefreshToken(String),
    /// The client's own credentials (no seller authorization involved).
    ClientCredentials,
}

impl std::fmt::Debug for GrantType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::RefreshToken(_) => "RefreshToken([redacted])",
            Self::ClientCredentials => "ClientCredentials",
        })
    }
}

/// What the token endpoint needs.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    /// Token endpoint URL.
    pub token_url: String,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// The grant.
    pub grant: GrantType,
    /// Space-separated scopes to ask for, when the platform wants them.
    pub scope: Option<String>,
    /// How the client authenticates.
    pub client_auth: ClientAuth,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// A cached access token for one connection.
#[derive(Clone)]
pub(crate) struct TokenSource {
    grant: Arc<Grant>,
    http: HttpClient,
    cached: Arc<Mutex<Option<(String, Instant)>>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("token_url", &self.grant.token_url)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// A token source; `platform` labels its log lines and errors.
    pub(crate) fn new(platform: &'static str, policy: HttpPolicy, grant: Grant) -> Result<Self> {
        Self::with_limiter(
            platform,
            policy,
            grant,
            Arc::new(RateLimiter::new(10, Duration::from_secs(1), None)),
        )
    }

    /// A token source whose token requests spend `limiter` (a platform's token quota).
    pub(crate) fn with_limiter(
        platform: &'static str,
        policy: HttpPolicy,
        grant: Grant,
        limiter: Arc<RateLimiter>,
    ) -> Result<Self> {
        let mut secrets = vec![grant.client_secret.clone()];
        if let GrantType::RefreshToken(r) = &grant.grant {
            secrets.push(r.clone());
        }
        // Token answers are never body-logged: the access token in them is a secret too.
        let policy = HttpPolicy {
            debug: false,
            ..policy
        };
        let http = HttpClient::new(platform, policy, &[], secrets, limiter)?;
        Ok(Self {
            grant: Arc::new(grant),
            http,
            cached: Arc::new(Mutex::new(None)),
        })
    }

    /// A valid access token: the cached one, or a fresh one when it is about to expire.
    pub(crate) async fn token(&self) -> Result<String> {
        let mut cached = self.cached.lock().await;
        if let Some((token, expires)) = cached.as_ref()
            && Instant::now() + REFRESH_MARGIN < *expires
        {
            return Ok(token.clone());
        }
        let (token, expires) = self.refresh().await?;
        *cached = Some((token.clone(), expires));
        Ok(token)
    }

    /// Forgets the cached token (the platform refused it).
    pub(crate) async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn refresh(&self) -> Result<(String, Instant)> {
        let g = &self.grant;
        let mut form: Vec<(&str, &str)> = match &g.grant {
            GrantType::RefreshToken(r) => {
                vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", r.as_str()),
                ]
            }
            GrantType::ClientCredentials => vec![("grant_type", "client_credentials")],
        };
        if let Some(scope) = g.scope.as_deref() {
            form.push(("scope", scope));
        }
        let mut call = match g.client_auth {
            ClientAuth::Form => {
                form.push(("client_id", g.client_id.as_str()));
                form.push(("client_secret", g.client_secret.as_str()));
                Call::new(reqwest::Method::POST, &g.token_url).form(&form)
            }
            ClientAuth::Basic => {
                let basic = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", g.client_id, g.client_secret));
                Call::new(reqwest::Method::POST, &g.token_url)
                    .form(&form)
                    .header("authorization", format!("Basic {basic}"))
            }
        };
        call = call.header("accept", "application/json");
        let sent = Instant::now();
        let reply = self
            .http
            .send_with(&call, |what, reply: &Reply| {
                serde_json::from_slice::<TokenResponse>(&reply.body)
                    .map_err(|e| ConnectorError::Malformed(format!("{what}: token response: {e}")))
            })
            .await
            .map_err(|e| match e {
                // 400 invalid_grant: the seller revoked the authorization or it expired.
                ConnectorError::Rejected { message, .. } | ConnectorError::Auth(message) => {
                    ConnectorError::Auth(match g.grant {
                        GrantType::RefreshToken(_) => {
                            format!("the refresh token was refused ({message})")
                        }
                        GrantType::ClientCredentials => {
                            format!("the client credentials were refused ({message})")
                        }
                    })
                }
                other => other,
            })?;
        if reply.access_token.is_empty() {
            return Err(ConnectorError::Malformed(
                "token response without access_token".into(),
            ));
        }
        let life = Duration::from_secs(reply.expires_in.unwrap_or(3600));
        Ok((reply.access_token, sent + life))
    }

    /// Sends `make()` with `header: <prefix><token>`; a 401 invalidates the token and the call
    /// is sent once more with a fresh one.
    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        http: &HttpClient,
        header: &str,
        prefix: &str,
        make: impl Fn() -> Call,
    ) -> Result<Option<T>> {
        let token = self.token().await?;
        match http
            .send::<T>(&make().header(header, format!("{prefix}{token}")))
            .await
        {
            Err(ConnectorError::Auth(_)) => {
                self.invalidate().await;
                let token = self.token().await?;
                http.send::<T>(&make().header(header, format!("{prefix}{token}")))
                    .await
            }
            other => other,
        }
    }
}

//! The outcome of a successful token request.

use std::time::{Duration, SystemTime};

use crate::secret::AccessToken;

/// Where a token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// Served from the token cache, without a request.
    Cache,
    /// Freshly issued by the identity provider.
    IdentityProvider,
}

impl TokenSource {
    /// MSAL Python's name for it: `cache` or `identity_provider`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TokenSource::Cache => "cache",
            TokenSource::IdentityProvider => "identity_provider",
        }
    }
}

/// A token and what is known about it. `Debug` shows everything but the token.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AuthenticationResult {
    /// The access token: send it as `Authorization: Bearer <token>`.
    pub access_token: AccessToken,
    /// The token type, normally `Bearer`.
    pub token_type: String,
    /// When the token expires.
    pub expires_on: SystemTime,
    /// Until when the identity provider's outage resilience extends it, if it said so.
    pub extended_expires_on: Option<SystemTime>,
    /// When to refresh the token proactively, if the identity provider said so.
    pub refresh_on: Option<SystemTime>,
    /// The scopes the token is for.
    pub scopes: Vec<String>,
    /// Cache or identity provider.
    pub token_source: TokenSource,
    /// The tenant that issued the token (the cache realm).
    pub tenant_id: Option<String>,
    /// The `client-request-id` of the request, when one was sent.
    pub correlation_id: Option<String>,
}

impl AuthenticationResult {
    /// Time left before the token expires (zero once it has).
    pub fn expires_in(&self) -> Duration {
        self.expires_on
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }
}

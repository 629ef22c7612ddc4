//! The outcome of a successful token request.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::account::Account;
use crate::secret::{AccessToken, IdToken};

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
    /// The ID token, for user sign-ins that granted `openid`.
    pub id_token: Option<IdToken>,
    /// The ID token's claims (decoded, not validated: it came straight from
    /// the token endpoint over TLS).
    pub id_token_claims: Option<IdTokenClaims>,
    /// The signed-in user, for user flows; `None` for app-only tokens.
    pub account: Option<Account>,
}

impl AuthenticationResult {
    /// Time left before the token expires (zero once it has).
    pub fn expires_in(&self) -> Duration {
        self.expires_on
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }
}

/// The claims of an ID token: who signed in, where and when. Claims are
/// personal data but not credentials, so `Debug` shows them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdTokenClaims(Map<String, Value>);

impl IdTokenClaims {
    /// Wraps decoded claims.
    pub(crate) fn new(claims: Map<String, Value>) -> Self {
        Self(claims)
    }

    /// Any claim, by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// All claims.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// A claim that is a string.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.0.get(name)?.as_str()
    }

    /// `sub`: the user's subject identifier for this application.
    pub fn subject(&self) -> Option<&str> {
        self.get_str("sub")
    }

    /// `oid`: the user's object id in the token's tenant.
    pub fn object_id(&self) -> Option<&str> {
        self.get_str("oid")
    }

    /// `tid`: the tenant that issued the token.
    pub fn tenant_id(&self) -> Option<&str> {
        self.get_str("tid")
    }

    /// `preferred_username`: the sign-in name (may change; not an identifier).
    pub fn preferred_username(&self) -> Option<&str> {
        self.get_str("preferred_username")
    }

    /// `name`: the display name.
    pub fn name(&self) -> Option<&str> {
        self.get_str("name")
    }

    /// `nonce`: the value the authorization request sent.
    pub fn nonce(&self) -> Option<&str> {
        self.get_str("nonce")
    }

    /// `auth_time`: when the user last authenticated, in epoch seconds
    /// (a number, or a numeric string as some providers send).
    pub fn auth_time(&self) -> Option<u64> {
        match self.0.get("auth_time")? {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && *f >= 0.0)
                    .map(|f| f as u64)
            }),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

//! The outcome of a successful token request.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::account::Account;
use crate::secret::{AccessToken, IdToken};
use crate::shared_str::SharedStr;

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
    pub token_type: SharedStr,
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
    pub tenant_id: Option<SharedStr>,
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
///
/// Shared, not copied, between clones: every silent cache hit returns the
/// claims of the same cached ID token, decoded once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IdTokenClaims(Arc<Map<String, Value>>);

impl Serialize for IdTokenClaims {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for IdTokenClaims {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Map::deserialize(deserializer).map(Self::new)
    }
}

impl IdTokenClaims {
    /// Wraps decoded claims.
    pub(crate) fn new(claims: Map<String, Value>) -> Self {
        Self(Arc::new(claims))
    }

    /// The same claims in a copy of one's own (not shared with clones of this).
    pub(crate) fn private_copy(&self) -> Self {
        Self::new(self.0.as_ref().clone())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_token_claims_serialize_as_the_bare_object() {
        let claims = IdTokenClaims::new(
            serde_json::json!({"sub": "s", "auth_time": 5})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        let json = serde_json::to_string(&claims).unwrap();
        assert_eq!(json, r#"{"sub":"s","auth_time":5}"#);
        let back: IdTokenClaims = serde_json::from_str(&json).unwrap();
        assert_eq!(back, claims);
        assert_eq!(
            format!("{claims:?}"),
            r#"IdTokenClaims({"sub": String("s"), "auth_time": Number(5)})"#
        );
        assert!(serde_json::from_str::<IdTokenClaims>("[1]").is_err());
    }
}

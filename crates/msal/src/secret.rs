//! Types that hold secrets: they redact themselves in `Debug` and `Display`
//! and zero their memory on drop, so a secret never lands in a log line, an
//! error message or a panic.

use std::fmt;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, Zeroizing};

const REDACTED: &str = "[REDACTED]";

/// A confidential client's secret, as registered with the identity provider.
#[derive(Clone)]
pub struct ClientSecret(SecretString);

impl ClientSecret {
    /// Wraps a secret string.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(SecretString::from(secret.into()))
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientSecret({REDACTED})")
    }
}

/// A user's password, for [`acquire_token_by_username_password`](crate::PublicClientApplication::acquire_token_by_username_password).
/// Redacted in `Debug`, zeroed on drop; it is sent to the token endpoint or
/// the user's federation server and nowhere else.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(SecretString::from(password.into()))
    }

    /// The password itself, for the one place that must send it.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Password({REDACTED})")
    }
}

impl From<String> for Password {
    fn from(password: String) -> Self {
        Self::new(password)
    }
}

/// An access token: a bearer credential for the resource it was issued for.
/// A token served from the cache shares the cache's copy (zeroed when the
/// last holder drops it) instead of copying it.
#[derive(Clone)]
pub struct AccessToken(CachedSecret);

impl AccessToken {
    /// Wraps a token string.
    pub fn new(token: impl Into<String>) -> Self {
        Self(CachedSecret::new(token))
    }

    pub(crate) fn shared(secret: &CachedSecret) -> Self {
        Self(secret.clone())
    }

    /// The token, to put in an `Authorization: Bearer` header. Named like
    /// every other secret's accessor, so reading one stands out in review.
    pub fn expose_secret(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessToken({REDACTED})")
    }
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.expose_secret() == other.expose_secret()
    }
}

impl Eq for AccessToken {}

/// An ID token: the identity provider's signed statement of who signed in.
/// It is a credential for some APIs (e.g. as `id_token_hint`), so it is
/// redacted like the other tokens; its decoded claims are in
/// [`IdTokenClaims`](crate::result::IdTokenClaims).
#[derive(Clone)]
pub struct IdToken(CachedSecret);

impl IdToken {
    /// Wraps a token string.
    pub fn new(token: impl Into<String>) -> Self {
        Self(CachedSecret::new(token))
    }

    pub(crate) fn shared(secret: &CachedSecret) -> Self {
        Self(secret.clone())
    }

    /// The raw JWT.
    pub fn expose_secret(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for IdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdToken({REDACTED})")
    }
}

/// A secret held in the token cache (access, refresh and ID tokens). It is
/// written to the serialized cache as a plain string, as every MSAL does, and
/// redacted everywhere else. Clones share one allocation (a cache hit hands
/// the token out without copying it), zeroed when the last clone is dropped.
#[derive(Clone, Default)]
pub(crate) struct CachedSecret(Arc<str>);

impl CachedSecret {
    pub(crate) fn new(secret: impl Into<String>) -> Self {
        // The String's buffer is copied into the shared one; zero it.
        let owned = Zeroizing::new(secret.into());
        Self::from_str(&owned)
    }

    /// Copies a secret read from a serialized cache.
    pub(crate) fn from_str(secret: &str) -> Self {
        Self(Arc::from(secret))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl Drop for CachedSecret {
    fn drop(&mut self) {
        // Only the last holder may (and can) write to the shared bytes.
        if let Some(bytes) = Arc::get_mut(&mut self.0) {
            bytes.zeroize();
        }
    }
}

impl fmt::Debug for CachedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl PartialEq for CachedSecret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Serialize for CachedSecret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for CachedSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

/// The access token a web API was called with, which it trades for a token
/// to a downstream API in the on-behalf-of flow
/// ([`acquire_token_on_behalf_of`](crate::ConfidentialClientApplication::acquire_token_on_behalf_of)).
/// It is the user's credential: redacted in `Debug`, zeroed on drop, sent
/// only to the token endpoint, and cached only as its SHA-256 hash.
#[derive(Clone)]
pub struct UserAssertion(SecretString);

impl UserAssertion {
    /// Wraps the incoming token (the value after `Bearer ` in the request's
    /// `Authorization` header).
    pub fn new(token: impl Into<String>) -> Self {
        Self(SecretString::from(token.into()))
    }

    /// The token itself, for the one place that must send it.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for UserAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserAssertion({REDACTED})")
    }
}

/// A federated identity credential: a token an application obtained for
/// itself (audience `api://AzureADTokenExchange`) and exchanges for a
/// user's tokens with
/// [`acquire_token_by_user_federated_identity_credential`](crate::ConfidentialClientApplication::acquire_token_by_user_federated_identity_credential).
/// Redacted in `Debug`, zeroed on drop, never cached.
#[derive(Clone)]
pub struct FederatedCredential(SecretString);

impl FederatedCredential {
    /// Wraps the credential (a JWT).
    pub fn new(token: impl Into<String>) -> Self {
        Self(SecretString::from(token.into()))
    }

    /// The credential itself, for the one place that must send it.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for FederatedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FederatedCredential({REDACTED})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let s = ClientSecret::new("p@ssw0rd-value");
        let t = AccessToken::new("eyJhbGciOi.payload.sig");
        let c = CachedSecret::new("refresh-token-value");
        let i = IdToken::new("eyJ.idtoken-payload.sig");
        let p = Password::new("correct horse battery");
        let ua = UserAssertion::new("eyJ.incoming-user-token.sig");
        let fic = FederatedCredential::new("eyJ.federated-credential.sig");
        let both = format!("{ua:?} {fic:?}");
        assert!(
            !both.contains("incoming") && !both.contains("federated-credential"),
            "{both}"
        );
        assert_eq!(ua.expose_secret(), "eyJ.incoming-user-token.sig");
        assert_eq!(fic.expose_secret(), "eyJ.federated-credential.sig");
        let all = format!("{s:?} {t:?} {c:?} {i:?} {:?} {p:?}", Some(&t));
        assert!(!all.contains("horse"), "{all}");
        assert_eq!(p.expose_secret(), "correct horse battery");
        assert!(
            !all.contains("p@ssw0rd")
                && !all.contains("payload")
                && !all.contains("refresh-token-value")
                && !all.contains("idtoken-payload"),
            "{all}"
        );
        assert_eq!(s.expose_secret(), "p@ssw0rd-value");
        assert_eq!(t.expose_secret(), "eyJhbGciOi.payload.sig");
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"refresh-token-value\"");
    }
}

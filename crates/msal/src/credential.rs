//! Client credentials: how a confidential application proves its identity
//! to the token endpoint — a secret, a certificate (a signed JWT assertion
//! built here) or an assertion the application supplies.
//!
//! The submodules own the parts: [`certificate`](ClientCertificate) loads
//! keys and certificates, `assertion` caches and calls assertion sources,
//! `jwt` builds and signs assertion JWTs; [`CredentialError`] (in the
//! leaf `error` module) says what went wrong.

mod assertion;
mod certificate;
mod jwt;
mod pem;

pub use crate::error::CredentialError;
pub use assertion::{AssertionRequest, ClientAssertion};
pub use certificate::{CertificatePassphrase, ClientCertificate};

use zeroize::Zeroizing;

use crate::error::Result;
use crate::secret::ClientSecret;

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE_JWT: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What a confidential client authenticates with.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ClientCredential {
    /// A client secret, sent as `client_secret` in the request body (as MSAL
    /// Python does, rather than HTTP Basic).
    Secret(ClientSecret),
    /// A certificate: each request carries a JWT assertion signed with its
    /// private key (`private_key_jwt`).
    Certificate(ClientCertificate),
    /// A client assertion the application supplies (a fixed string or a
    /// callback, e.g. a Kubernetes projected service account token).
    Assertion(ClientAssertion),
}

impl ClientCredential {
    /// The request parameters that authenticate the client to
    /// `token_endpoint` (an assertion's audience): `client_secret`, or
    /// `client_assertion_type` and `client_assertion`. Async because an
    /// assertion callback may be. The values are zeroed when dropped.
    ///
    /// `single_use`: a certificate's assertion is signed anew for this
    /// request instead of reused. Entra accepts MSAL's reused assertions;
    /// other OpenID providers may enforce RFC 7523's one use per `jti`
    /// (oidc-provider does), so OIDC authorities ask for a new one each time.
    pub(crate) async fn parameters(
        &self,
        client_id: &str,
        token_endpoint: &str,
        single_use: bool,
    ) -> Result<Vec<(&'static str, Zeroizing<String>)>> {
        let assertion = match self {
            ClientCredential::Secret(secret) => {
                return Ok(vec![(
                    "client_secret",
                    Zeroizing::new(secret.expose_secret().to_owned()),
                )]);
            }
            ClientCredential::Certificate(certificate) if single_use => {
                certificate.single_use_assertion(client_id, token_endpoint)?
            }
            ClientCredential::Certificate(certificate) => certificate.assertion(client_id, token_endpoint)?,
            ClientCredential::Assertion(assertion) => assertion.get(client_id, token_endpoint).await?,
        };
        Ok(vec![
            (
                "client_assertion_type",
                Zeroizing::new(CLIENT_ASSERTION_TYPE_JWT.to_owned()),
            ),
            ("client_assertion", Zeroizing::new(assertion)),
        ])
    }
}

impl From<ClientSecret> for ClientCredential {
    fn from(secret: ClientSecret) -> Self {
        ClientCredential::Secret(secret)
    }
}

impl From<ClientCertificate> for ClientCredential {
    fn from(certificate: ClientCertificate) -> Self {
        ClientCredential::Certificate(certificate)
    }
}

impl From<ClientAssertion> for ClientCredential {
    fn from(assertion: ClientAssertion) -> Self {
        ClientCredential::Assertion(assertion)
    }
}

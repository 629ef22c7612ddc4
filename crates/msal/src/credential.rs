//! Client credentials: how a confidential application proves its identity
//! to the token endpoint.

use crate::oauth2::Form;
use crate::secret::ClientSecret;

/// What a confidential client authenticates with.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ClientCredential {
    /// A client secret, sent as `client_secret` in the request body (as MSAL
    /// Python does, rather than HTTP Basic).
    Secret(ClientSecret),
}

impl ClientCredential {
    /// Adds the credential's parameters to a token request.
    pub(crate) fn apply(&self, form: Form) -> Form {
        match self {
            ClientCredential::Secret(secret) => form.add("client_secret", secret.expose_secret()),
        }
    }
}

impl From<ClientSecret> for ClientCredential {
    fn from(secret: ClientSecret) -> Self {
        ClientCredential::Secret(secret)
    }
}

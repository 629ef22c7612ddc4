//! The user federated identity credential flow (`user_fic` grant), as MSAL
//! Python 1.39 has it for agent identities: the application exchanges a
//! federated identity credential it holds (a token for
//! `api://AzureADTokenExchange`) and its own credential for a user's
//! tokens, naming the user by UPN or object id.
//!
//! Like MSAL Python, every call asks the identity provider; the tokens, the
//! account (`account_source` `user_fic`) and the refresh token land in the
//! cache under the user's normal keys, so later calls can be silent.

use crate::core::{AppCore, Grant, save};
use crate::credential::ClientCredential;
use crate::error::{Error, Result};
use crate::result::AuthenticationResult;
use crate::secret::FederatedCredential;
use crate::telemetry::ApiId;

/// The grant type MSAL sends.
const GRANT_TYPE: &str = "user_fic";

/// The user a [`user_fic`](crate::ConfidentialClientApplication::acquire_token_by_user_federated_identity_credential)
/// token is for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TargetUser {
    /// The user's principal name (`alice@contoso.com`), sent as `username`.
    Username(String),
    /// The user's object id (a GUID), sent as `user_id`.
    ObjectId(String),
}

/// Options of [`acquire_token_by_user_federated_identity_credential_with`](crate::ConfidentialClientApplication::acquire_token_by_user_federated_identity_credential_with).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct UserFicOptions {
    /// A claims challenge from the resource, sent as `claims`.
    pub claims_challenge: Option<String>,
}

impl UserFicOptions {
    /// Sets [`claims_challenge`](Self::claims_challenge).
    pub fn claims_challenge(mut self, claims: impl Into<String>) -> Self {
        self.claims_challenge = Some(claims.into());
        self
    }
}

pub(crate) async fn acquire<I, S>(
    core: &AppCore,
    credential: &ClientCredential,
    scopes: I,
    fic: &FederatedCredential,
    user: &TargetUser,
    options: &UserFicOptions,
) -> Result<AuthenticationResult>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let fic = fic.expose_secret().trim();
    if fic.is_empty() {
        return Err(Error::InvalidArgument(
            "the federated identity credential is empty".into(),
        ));
    }
    let (user_param, user_value) = match user {
        TargetUser::Username(upn) => ("username", upn.trim()),
        TargetUser::ObjectId(oid) => ("user_id", oid.trim()),
    };
    if user_value.is_empty() {
        return Err(Error::InvalidArgument(format!("the {user_param} is empty")));
    }
    let scopes = super::decorate_scopes(scopes)?;
    let claims = core.claims(options.claims_challenge.as_deref())?;
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let metadata = core.metadata(&correlation_id).await?;

    // Entra's cache service routes the request to the user's home region, as MSAL Python hints it.
    let grant = Grant::new(GRANT_TYPE, &scopes)
        .param("user_federated_identity_credential", fic)
        .subject(user_param, user_value)
        .claims(claims.as_deref())
        .credential(Some(credential));
    let grant = match user {
        TargetUser::Username(_) => grant.anchor_upn(user_value),
        TargetUser::ObjectId(_) => {
            let tenant = core.authority().tenant().unwrap_or(metadata.realm.as_str());
            grant.anchor(format!("Oid:{user_value}@{tenant}"))
        }
    };
    tracing::debug!(client_id = %core.client_id, endpoint = %metadata.token_endpoint, "exchanging a federated identity credential for a user's tokens");
    let call = core.call(ApiId::AcquireTokenByUserFic, &correlation_id, metadata);
    let response = call.token(grant).await?;
    let claims = save::id_token_claims(&response)?;
    save::save(&call.issued(&scopes, GRANT_TYPE), response, claims)
}

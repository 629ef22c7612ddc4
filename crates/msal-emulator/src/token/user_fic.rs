//! The `user_fic` grant (user federated identity credential), as MSAL
//! Python 1.39 sends it for agent identities: an app that holds a federated
//! identity credential (FIC) for itself exchanges it, with its own client
//! credential, for a user's tokens, naming the user by `username` (UPN) or
//! `user_id` (object id).
//!
//! The FIC is a token this emulator issued through the client credentials
//! grant for `api://AzureADTokenExchange/.default`: its signature, validity
//! window and issuer are checked, its `aud` must be
//! `api://AzureADTokenExchange`, and its subject the calling app's service
//! principal in the tenant, so one app cannot use another app's FIC.

use serde_json::Value;

use super::TokenRequest;
use super::client_auth::{self, ClientAuth};
use super::issue::{self, UserTokens};
use super::issued_token::{self, Rejection};
use crate::directory::AppKind;
use crate::error::EntraError;
use crate::scopes::Scopes;

/// The grant type MSAL sends.
pub(crate) const GRANT_TYPE: &str = "user_fic";

/// The audience of federated identity credentials (Entra's token exchange resource).
pub(crate) const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Handles `grant_type=user_fic`.
pub(crate) fn grant(req: &TokenRequest<'_>) -> Result<Value, EntraError> {
    let auth = ClientAuth::read(req.form, req.headers)?;
    let fic = req.form.required("user_federated_identity_credential")?;
    let scope = req.form.required("scope")?;
    let verified = issued_token::verify(req.state, fic).map_err(|r| match r {
        Rejection::Malformed => EntraError::jwt_malformed(),
        Rejection::Signature => EntraError::fic_signature(),
        Rejection::Expired { .. } | Rejection::NotYetValid => EntraError::fic_expired(),
        Rejection::Issuer(iss) => EntraError::fic_issuer(&iss),
    })?;
    let aud = verified.str("aud").unwrap_or_default();
    if !aud.eq_ignore_ascii_case(TOKEN_EXCHANGE_AUDIENCE) {
        return Err(EntraError::fic_audience(aud));
    }
    let tid = verified.str("tid").unwrap_or_default();
    let tenant = req.user_tenant(tid)?;
    let client = client_auth::find_client(req.state, tenant, &auth.client_id)?;
    if client.kind == AppKind::Public {
        return Err(EntraError::public_client_not_allowed(GRANT_TYPE));
    }
    client_auth::authenticate_confidential(req, client, &auth.credential)?;
    let sub = verified.str("sub").unwrap_or_default();
    if sub != issue::service_principal_id(tenant, client) {
        return Err(EntraError::fic_subject(sub));
    }

    let directory = req.state.directory();
    let user = match (req.form.get("username"), req.form.get("user_id")) {
        (Some(_), Some(_)) => {
            return Err(EntraError::malformed(
                "The parameters 'username' and 'user_id' are mutually exclusive.",
            ));
        }
        (Some(upn), None) => directory
            .user(upn.trim())
            .ok_or_else(|| EntraError::user_not_found(upn, tenant.shown_name()))?,
        (None, Some(oid)) => directory
            .users
            .iter()
            .find(|u| u.object_id.eq_ignore_ascii_case(oid.trim()))
            .ok_or_else(|| EntraError::user_not_found(oid, tenant.shown_name()))?,
        (None, None) => return Err(EntraError::missing_parameter("username")),
    };
    let home = req.user_home(user)?;
    if home.id != tenant.id {
        return Err(EntraError::user_not_found(&user.upn, tenant.shown_name()));
    }
    let scopes = Scopes::parse(scope);
    req.user_tokens(&UserTokens {
        tenant,
        client,
        user,
        scopes: &scopes,
        nonce: None,
        auth_time: req.state.clock.now(),
        offline: scopes.has("offline_access"),
        client_info: req.form.get("client_info") == Some("1"),
    })
}

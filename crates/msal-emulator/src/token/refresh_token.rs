//! The `refresh_token` grant: new tokens for a signed-in user from a refresh
//! token the emulator issued. As in Entra, a redeemed refresh token stays
//! valid (the response carries a new one too) until it expires after
//! [`REFRESH_TOKEN_INACTIVE_SECS`] or is revoked.
//!
//! A refresh token issued to an app in the family of client ids (FOCI) may
//! be redeemed by any family app, for tokens of the redeeming app; any other
//! cross-client redemption fails with the `client_mismatch` suberror, which
//! MSAL reads to stop trying family tokens for that app.

use serde_json::Value;

use super::TokenRequest;
use super::client_auth::{self, ClientAuth};
use super::issue::UserTokens;
use crate::clock;
use crate::error::EntraError;
use crate::scopes::Scopes;

/// How long a refresh token lives (Entra's inactivity lifetime: 90 days).
pub(crate) const REFRESH_TOKEN_INACTIVE_SECS: u64 = 90 * 86_400;

/// Handles `grant_type=refresh_token`.
pub(crate) fn grant(req: &TokenRequest<'_>) -> Result<Value, EntraError> {
    let auth = ClientAuth::read(req.form, req.headers)?;
    let token = req.form.required("refresh_token")?;
    let record = req
        .state
        .store
        .refresh_tokens()
        .get(token)
        .cloned()
        .filter(|rt| rt.realm == crate::store::Realm::Entra)
        .ok_or_else(|| EntraError::invalid_grant("The refresh token is not valid or was revoked."))?;
    if !record.client_id.eq_ignore_ascii_case(&auth.client_id)
        && !both_in_family(req, &record.client_id, &auth.client_id)
    {
        return Err(EntraError::client_mismatch());
    }
    if req.state.clock.now().saturating_sub(record.issued_at) >= REFRESH_TOKEN_INACTIVE_SECS {
        return Err(EntraError::refresh_token_expired(
            &clock::entra_time(record.issued_at),
            REFRESH_TOKEN_INACTIVE_SECS / 86_400,
        ));
    }
    let tenant = req.user_tenant(&record.tenant_id)?;
    let client = client_auth::find_client(req.state, tenant, &auth.client_id)?;
    client_auth::authenticate(req, client, &auth.credential)?;
    let user = req
        .state
        .directory()
        .user(&record.upn)
        .ok_or_else(|| EntraError::invalid_grant("The user no longer exists."))?;
    // A refresh token may be used for any resource; without `scope`, the
    // scopes it was issued with apply.
    let scopes = req
        .form
        .get("scope")
        .map(Scopes::parse)
        .unwrap_or_else(|| Scopes::parse(&record.scopes.join(" ")));
    req.user_tokens(&UserTokens {
        tenant,
        client,
        user,
        scopes: &scopes,
        nonce: None,
        auth_time: record.auth_time,
        // The refresh token is itself the offline_access grant.
        offline: true,
        client_info: req.form.get("client_info") == Some("1"),
    })
}

/// Whether both client ids name apps in the family of client ids.
fn both_in_family(req: &TokenRequest<'_>, issued_to: &str, redeemer: &str) -> bool {
    let family = |id: &str| req.state.directory().app(id).is_some_and(|app| app.family);
    family(issued_to) && family(redeemer)
}

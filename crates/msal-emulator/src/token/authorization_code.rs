//! The `authorization_code` grant: redeems a code from the authorize
//! endpoint once, within its lifetime, for the client and redirect URI it was
//! issued to, proving possession of the PKCE verifier.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::TokenRequest;
use super::client_auth::{self, ClientAuth};
use super::issue::UserTokens;
use crate::error::EntraError;
use crate::scopes::Scopes;

/// How long an authorization code can be redeemed (Entra: 10 minutes).
pub(crate) const CODE_LIFETIME_SECS: u64 = 600;

/// Handles `grant_type=authorization_code`.
pub(crate) fn grant(req: &TokenRequest<'_>) -> Result<Value, EntraError> {
    let auth = ClientAuth::read(req.form, req.headers)?;
    let code = req.form.required("code")?;
    let redirect_uri = req.form.required("redirect_uri")?;
    let record = req
        .state
        .store
        .codes()
        .get(code)
        .cloned()
        .filter(|c| c.realm == crate::store::Realm::Entra)
        .ok_or_else(|| EntraError::invalid_grant("The authorization code is not valid."))?;
    if !record.client_id.eq_ignore_ascii_case(&auth.client_id) {
        return Err(EntraError::invalid_grant(
            "The authorization code was issued to another client.",
        ));
    }
    if record.redeemed {
        return Err(EntraError::code_redeemed());
    }
    if req.state.clock.now().saturating_sub(record.issued_at) >= CODE_LIFETIME_SECS {
        return Err(EntraError::code_expired());
    }
    let tenant = req.user_tenant(&record.tenant_id)?;
    let client = client_auth::find_client(req.state, tenant, &auth.client_id)?;
    client_auth::authenticate(req, client, &auth.credential)?;
    if redirect_uri != record.redirect_uri {
        return Err(EntraError::invalid_grant(
            "The redirect_uri does not match the one the authorization code was issued for.",
        ));
    }
    // The challenge is kept in its S256 form whatever the method was (see
    // `authorize::entra_pkce`): one check serves `plain` and `S256`.
    match &record.code_challenge {
        Some(challenge) => {
            let verifier = req.form.required("code_verifier")?;
            if !super::constant_time_eq(&s256(verifier), challenge) {
                return Err(EntraError::code_verifier_mismatch());
            }
        }
        // A browser redeeming cross-origin (a single-page app) must use PKCE.
        None if req.headers.contains_key(axum::http::header::ORIGIN) => {
            return Err(EntraError::pkce_required_cross_origin());
        }
        None => {}
    }
    let user = req
        .state
        .directory()
        .user(&record.upn)
        .ok_or_else(|| EntraError::invalid_grant("The user no longer exists."))?;

    // Claim the code under the lock, so two concurrent redemptions cannot both win.
    match req.state.store.codes().get_mut(code) {
        Some(c) if !c.redeemed => c.redeemed = true,
        _ => return Err(EntraError::code_redeemed()),
    }

    let code_scopes = Scopes::parse(&record.scopes.join(" "));
    let scopes = req
        .form
        .get("scope")
        .map(Scopes::parse)
        .unwrap_or_else(|| code_scopes.clone());
    req.user_tokens(&UserTokens {
        tenant,
        client,
        user,
        scopes: &scopes,
        nonce: record.nonce.as_deref(),
        auth_time: record.auth_time,
        // offline_access consented on authorize still counts at redemption.
        offline: scopes.has("offline_access") || code_scopes.has("offline_access"),
        client_info: req.form.get("client_info") == Some("1"),
    })
}

/// The PKCE S256 transform: base64url (no padding) of SHA-256 of the verifier.
pub(crate) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}

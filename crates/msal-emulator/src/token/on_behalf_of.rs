//! The on-behalf-of grant (`urn:ietf:params:oauth:grant-type:jwt-bearer`
//! with `requested_token_use=on_behalf_of`): a middle-tier web API trades
//! the user's access token it was called with for a token to a downstream
//! API, for the same user.
//!
//! As in Entra, the incoming token must be one this emulator issued (its
//! signature, validity window and issuer are checked), a delegated user
//! token, and addressed to the calling app (`aud` is the app's client id or
//! one of its identifier URIs). The new tokens keep the user (`oid`, `upn`,
//! `tid`) and name the middle tier as their client (`azp`).

use axum::http::StatusCode;
use serde_json::Value;

use super::TokenRequest;
use super::client_auth::{self, ClientAuth};
use super::issue::UserTokens;
use super::issued_token::{self, Rejection};
use crate::clock;
use crate::directory::AppKind;
use crate::error::EntraError;
use crate::scopes::Scopes;

/// The grant type of the on-behalf-of flow (RFC 7523's JWT bearer grant).
pub(crate) const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Handles the on-behalf-of grant.
pub(crate) fn grant(req: &TokenRequest<'_>) -> Result<Value, EntraError> {
    let auth = ClientAuth::read(req.form, req.headers)?;
    let use_ = req.form.required("requested_token_use")?;
    if use_ != "on_behalf_of" {
        return Err(EntraError::malformed(&format!(
            "The value '{use_}' of the parameter 'requested_token_use' is not supported; expected 'on_behalf_of'."
        )));
    }
    let assertion = req.form.required("assertion")?;
    let scope = req.form.required("scope")?;
    let incoming = issued_token::verify(req.state, assertion).map_err(obo_rejection)?;

    // A delegated token only: an app token names no user to act for.
    let (Some("user"), Some(upn), Some(oid), Some(tid)) = (
        incoming.str("idtyp"),
        incoming.str("upn"),
        incoming.str("oid"),
        incoming.str("tid"),
    ) else {
        return Err(EntraError::obo_invalid_assertion(
            "The assertion is not a delegated (user) access token.",
        ));
    };
    let tenant = req.user_tenant(tid)?;
    let client = client_auth::find_client(req.state, tenant, &auth.client_id)?;
    if client.kind == AppKind::Public {
        return Err(EntraError::public_client_not_allowed(GRANT_TYPE));
    }
    client_auth::authenticate_confidential(req, client, &auth.credential)?;
    let aud = incoming.str("aud").unwrap_or_default();
    if !client.is_resource_named(aud) {
        return Err(EntraError::obo_audience_mismatch(aud, &client.client_id));
    }
    let user = req
        .state
        .directory()
        .user(upn)
        .filter(|u| u.object_id.eq_ignore_ascii_case(oid))
        .ok_or_else(|| EntraError::obo_invalid_assertion("The assertion's user does not exist."))?;
    let scopes = Scopes::parse(scope);
    req.user_tokens(&UserTokens {
        tenant,
        client,
        user,
        scopes: &scopes,
        nonce: None,
        // The user authenticated when the incoming token was issued (or before).
        auth_time: incoming
            .claims
            .get("iat")
            .and_then(Value::as_u64)
            .unwrap_or_else(|| req.state.clock.now()),
        offline: scopes.has("offline_access"),
        client_info: req.form.get("client_info") == Some("1"),
    })
}

/// Entra's answers for an incoming token that does not verify.
fn obo_rejection(rejection: Rejection) -> EntraError {
    match rejection {
        Rejection::Malformed => EntraError::jwt_malformed(),
        Rejection::Signature => EntraError::obo_invalid_assertion(
            "Assertion failed signature validation. [Reason - The key was not found.]",
        ),
        Rejection::Expired { exp, now } => EntraError::obo_assertion_expired(exp, now),
        Rejection::NotYetValid => {
            EntraError::obo_invalid_assertion("The assertion is not valid yet (its nbf lies in the future).")
        }
        Rejection::Issuer(iss) => EntraError::obo_invalid_assertion(&format!(
            "The assertion's issuer '{iss}' is not a valid issuer of this service."
        )),
    }
}

// Entra's error catalogue for assertion grants; kept beside the grants that
// use them so the shared catalogue in `error.rs` stays untouched.
impl EntraError {
    fn make(error: &'static str, code: u32, message: String) -> Self {
        EntraError {
            status: StatusCode::BAD_REQUEST,
            error,
            code,
            message,
            suberror: None,
        }
    }

    /// An incoming token that is not a JWT at all.
    pub(crate) fn jwt_malformed() -> Self {
        Self::make(
            "invalid_request",
            50027,
            "JWT token is invalid or malformed.".into(),
        )
    }

    /// An on-behalf-of assertion that does not verify or is not usable.
    pub(crate) fn obo_invalid_assertion(detail: &str) -> Self {
        Self::make("invalid_grant", 50013, format!("Assertion is invalid. {detail}"))
    }

    /// An on-behalf-of assertion past its expiry.
    pub(crate) fn obo_assertion_expired(exp: u64, now: u64) -> Self {
        Self::make(
            "invalid_grant",
            500133,
            format!(
                "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token. Current time: {}, expiry time of assertion {}.",
                clock::entra_time(now),
                clock::entra_time(exp)
            ),
        )
    }

    /// An on-behalf-of assertion addressed to another app than the caller.
    pub(crate) fn obo_audience_mismatch(aud: &str, client_id: &str) -> Self {
        Self::make(
            "invalid_grant",
            500131,
            format!(
                "Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '{aud}' and the expected audience is '{client_id}' or one of the Application Id URIs of this client."
            ),
        )
    }

    /// A federated identity credential from an issuer the app does not trust.
    pub(crate) fn fic_issuer(iss: &str) -> Self {
        Self::make(
            "invalid_client",
            700211,
            format!("No matching federated identity record found for presented assertion issuer '{iss}'."),
        )
    }

    /// A federated identity credential for another audience than token exchange.
    pub(crate) fn fic_audience(aud: &str) -> Self {
        Self::make(
            "invalid_client",
            700212,
            format!("No matching federated identity record found for presented assertion audience '{aud}'."),
        )
    }

    /// A federated identity credential whose subject is not the calling app.
    pub(crate) fn fic_subject(sub: &str) -> Self {
        Self::make(
            "invalid_client",
            700213,
            format!("No matching federated identity record found for presented assertion subject '{sub}'."),
        )
    }

    /// A federated identity credential outside its validity window.
    pub(crate) fn fic_expired() -> Self {
        Self::make(
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range.".into(),
        )
    }

    /// A federated identity credential whose signature does not verify.
    pub(crate) fn fic_signature() -> Self {
        Self::make(
            "invalid_client",
            700027,
            "Client assertion failed signature validation.".into(),
        )
    }
}

//! A protected resource on the emulator, `GET /resource/me`, for testing
//! claims challenges (Continuous Access Evaluation) end to end.
//!
//! It validates bearer tokens as a resource would (signature against the
//! published JWKS, expiry and issuer), and answers like Microsoft Graph's
//! `/me`. After [`Revocations::revoke`] for a user (an administrator's
//! "revoke sessions"), a token issued before that instant is refused: with
//! an `insufficient_claims` challenge naming the `nbf` to ask for if the
//! token says its client handles challenges (`xms_cc` has `cp1`), else with
//! `invalid_token`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::context::RequestContext;
use crate::reply;
use crate::server::AppState;

/// Clock skew tolerated on `nbf`, as resources commonly allow.
const NBF_SKEW_SECS: u64 = 300;

/// Session revocation instants per user (lowercased UPN).
#[derive(Debug, Default)]
pub(crate) struct Revocations {
    instants: Mutex<HashMap<String, u64>>,
}

impl Revocations {
    /// Records that tokens of `upn` issued before `at` are no longer accepted.
    pub(crate) fn revoke(&self, upn: &str, at: u64) {
        let mut instants = self.instants.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = instants.entry(upn.to_ascii_lowercase()).or_insert(at);
        *entry = (*entry).max(at);
    }

    /// The user's latest revocation instant, if any.
    pub(crate) fn revoked_at(&self, upn: &str) -> Option<u64> {
        self.instants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&upn.to_ascii_lowercase())
            .copied()
    }
}

/// The claims the resource reads from an access token.
#[derive(Debug, Deserialize)]
struct AccessClaims {
    iss: String,
    iat: u64,
    nbf: u64,
    exp: u64,
    tid: String,
    #[serde(default)]
    oid: Option<String>,
    #[serde(default)]
    upn: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    xms_cc: Vec<String>,
}

/// `GET /resource/me`.
pub(crate) async fn me(
    State(state): State<Arc<AppState>>,
    ctx: RequestContext,
    headers: HeaderMap,
) -> Response {
    let Some(token) = bearer(&headers) else {
        // RFC 6750 §3.1: no error code when the request had no credentials.
        return challenge(&ctx, None, "No bearer token was presented.");
    };
    let claims = match validate(&state, token) {
        Ok(claims) => claims,
        Err(reason) => return challenge(&ctx, Some(("invalid_token", None)), reason),
    };
    if let Some(revoked) = claims
        .upn
        .as_deref()
        .and_then(|u| state.revocations.revoked_at(u))
        && claims.iat < revoked
    {
        if claims.xms_cc.iter().any(|c| c == "cp1") {
            let wanted = json!({"access_token": {"nbf": {"essential": true, "value": revoked.to_string()}}});
            let encoded = STANDARD.encode(wanted.to_string());
            return challenge(
                &ctx,
                Some(("insufficient_claims", Some(&encoded))),
                "The user's sessions were revoked after this token was issued; ask for a new one with the claims challenge.",
            );
        }
        return challenge(
            &ctx,
            Some(("invalid_token", None)),
            "The user's sessions were revoked after this token was issued.",
        );
    }
    reply::json(
        StatusCode::OK,
        &json!({
            "oid": claims.oid,
            "upn": claims.upn,
            "name": claims.name,
            "tid": claims.tid,
        }),
    )
}

/// The token of an `Authorization: Bearer` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Checks the signature with the key the JWKS publishes (as a real resource
/// would), then expiry against the emulator's clock and the issuer.
fn validate(state: &AppState, token: &str) -> Result<AccessClaims, &'static str> {
    let mut validation = Validation::new(Algorithm::RS256);
    // Time is checked against the emulator's clock below, which tests move.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = crate::keys::decode_published::<AccessClaims>(&state.signing_keys, token, &validation)
        .map_err(|_| "The token is malformed or its signature is not valid.")?
        .claims;
    let now = state.clock.now();
    if claims.exp <= now {
        return Err("The token is expired.");
    }
    if claims.nbf > now.saturating_add(NBF_SKEW_SECS) {
        return Err("The token is not valid yet.");
    }
    if !issued_here(state, &claims) {
        return Err("The token was not issued by this emulator.");
    }
    Ok(claims)
}

/// Whether `iss` is `https://{this emulator}/{tid}/v2.0`, or the v1.0
/// issuer of `tid` (Microsoft Graph's tokens are v1.0).
fn issued_here(state: &AppState, claims: &AccessClaims) -> bool {
    if crate::token::issue::is_v1_issuer(&claims.iss, &claims.tid) {
        return true;
    }
    let Some(rest) = claims.iss.strip_prefix("https://") else {
        return false;
    };
    let Some((authority, path)) = rest.split_once('/') else {
        return false;
    };
    state.serves_host(&authority.to_ascii_lowercase()) && path == format!("{}/v2.0", claims.tid)
}

/// A `401` with a Bearer challenge: `error` (and `claims`) when given.
fn challenge(ctx: &RequestContext, error: Option<(&str, Option<&str>)>, message: &str) -> Response {
    let mut value = format!(
        "Bearer realm=\"\", authorization_uri=\"{}/common/oauth2/authorize\"",
        ctx.base_url
    );
    if let Some((error, claims)) = error {
        value.push_str(&format!(", error=\"{error}\""));
        if let Some(claims) = claims {
            value.push_str(&format!(", claims=\"{claims}\""));
        }
    }
    let body: Value = json!({
        "error": {
            "code": "InvalidAuthenticationToken",
            "message": message,
            "innerError": {
                "request-id": ctx.trace_id.to_string(),
                "client-request-id": ctx.correlation_id,
            }
        }
    });
    let mut response = reply::json(StatusCode::UNAUTHORIZED, &body);
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_keep_the_latest_instant() {
        let r = Revocations::default();
        assert_eq!(r.revoked_at("a@x"), None);
        r.revoke("A@x", 10);
        r.revoke("a@X", 5);
        assert_eq!(r.revoked_at("a@x"), Some(10));
    }

    #[test]
    fn reads_bearer_tokens() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer abc"));
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
    }
}

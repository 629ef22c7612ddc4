//! Verifying a token the emulator itself issued, when a client hands one
//! back as a grant: the incoming access token of the on-behalf-of grant and
//! the federated identity credential of the `user_fic` grant.
//!
//! The checks are a resource's: the signature against the key the JWKS
//! publishes (any key still published), `exp`/`nbf` against the emulator's clock (which tests move),
//! and an issuer of the form `https://{this emulator}/{tid}/v2.0`. What the
//! claims must say beyond that (audience, subject) is the grant's business.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use crate::server::AppState;

/// Clock skew tolerated on `nbf`, as Entra allows for incoming assertions.
const NBF_SKEW_SECS: u64 = 300;

/// Why an incoming token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Not a JWT with a JSON object payload, or an algorithm other than RS256.
    Malformed,
    /// The signature does not verify against the emulator's key.
    Signature,
    /// `exp` has passed (the claim's value is kept for the message).
    Expired { exp: u64, now: u64 },
    /// `nbf` lies in the future, beyond the tolerated skew.
    NotYetValid,
    /// The issuer is not this emulator (or does not match `tid`).
    Issuer(String),
}

/// The verified claims of an emulator-issued token.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    pub(crate) claims: Map<String, Value>,
}

impl Verified {
    /// A string claim, if present.
    pub(crate) fn str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }
}

/// Verifies `token` as one this emulator signed and that is valid now.
pub(crate) fn verify(state: &AppState, token: &str) -> Result<Verified, Rejection> {
    let mut validation = Validation::new(Algorithm::RS256);
    // Time is checked below against the emulator's clock, the audience by the grant.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = crate::keys::decode_published::<Map<String, Value>>(&state.signing_keys, token, &validation)
        .map_err(|e| match e.kind() {
        ErrorKind::InvalidSignature => Rejection::Signature,
        _ => Rejection::Malformed,
    })?;
    let claims = data.claims;
    let number = |name: &str| claims.get(name).and_then(Value::as_u64);
    let now = state.clock.now();
    let Some(exp) = number("exp") else {
        return Err(Rejection::Malformed);
    };
    if exp <= now {
        return Err(Rejection::Expired { exp, now });
    }
    if number("nbf").is_some_and(|nbf| nbf > now.saturating_add(NBF_SKEW_SECS)) {
        return Err(Rejection::NotYetValid);
    }
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or_default();
    let tid = claims.get("tid").and_then(Value::as_str).unwrap_or_default();
    if !issued_here(state, iss, tid) {
        return Err(Rejection::Issuer(iss.to_owned()));
    }
    Ok(Verified { claims })
}

/// Whether `iss` is `https://{this emulator}/{tid}/v2.0`, or the v1.0
/// issuer of `tid` (for APIs that accept v1.0 tokens).
fn issued_here(state: &AppState, iss: &str, tid: &str) -> bool {
    if super::issue::is_v1_issuer(iss, tid) {
        return true;
    }
    let Some(rest) = iss.strip_prefix("https://") else {
        return false;
    };
    let Some((authority, path)) = rest.split_once('/') else {
        return false;
    };
    !tid.is_empty() && state.serves_host(&authority.to_ascii_lowercase()) && path == format!("{tid}/v2.0")
}

/// The checks a proof-of-possession resource of this emulator makes of the
/// access token it is shown: issued here, valid, and for Microsoft Graph (the
/// resource these endpoints stand for). The reason, worded for a 401, when not.
pub(crate) fn verify_for_graph(state: &AppState, token: &str) -> Result<Verified, String> {
    let token = verify(state, token).map_err(|rejection| match rejection {
        Rejection::Expired { .. } => "The access token is expired.".to_owned(),
        Rejection::Signature => "The access token's signature does not verify.".to_owned(),
        other => format!("The access token is not valid here: {other:?}."),
    })?;
    let audience = token.str("aud").unwrap_or_default();
    if !audience.eq_ignore_ascii_case(crate::directory::MICROSOFT_GRAPH_RESOURCE)
        && !audience.eq_ignore_ascii_case(crate::directory::MICROSOFT_GRAPH_APP_ID)
    {
        return Err("The access token is not for this resource (Microsoft Graph).".into());
    }
    Ok(token)
}

//! Signed-request proof of possession (SHR PoP), as Entra does it for
//! MSAL's `PoPAuthenticationScheme`:
//!
//! - the token endpoint hook: a request with `token_type=pop` must carry
//!   `req_cnf`, the base64url JSON `{"kid": <JWK thumbprint>}`; the issued
//!   access token then carries `cnf: {"kid": …}` and the response says
//!   `token_type: pop` ([`requested`], [`bind`]);
//! - a protected resource, `GET` or `POST /resource/pop`, that accepts only
//!   `Authorization: PoP <shr>` and verifies, in order: the SHR's shape and
//!   its signature with its own `cnf.jwk`; the access token inside (`at`):
//!   signed here, unexpired, for Microsoft Graph, and bound (`cnf.kid`) to
//!   that JWK's thumbprint; `m`, `u` and `p` (and `q`, `b` when the request
//!   has a query or body) against the request; `ts` within five minutes of
//!   the emulator's clock; and a `nonce` not seen before. Each failure is a
//!   `401` naming what did not hold.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::error::EntraError;
use crate::reply;
use crate::server::AppState;
use crate::token::form::TokenForm;
use crate::token::issue;
use crate::token::issued_token;

/// How far an SHR's `ts` may be from the emulator's clock, either way.
pub(crate) const TIMESTAMP_WINDOW_SECS: u64 = 300;

/// A PoP token request: the thumbprint the token is to be bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PopRequest {
    kid: String,
}

/// The PoP part of a token request: `None` for a bearer token (no
/// `token_type`, `bearer` or `ssh-cert`, which crate::ssh handles); an error
/// for another type or a bad `req_cnf`.
pub(crate) fn requested(form: &TokenForm) -> Result<Option<PopRequest>, EntraError> {
    match form.get("token_type") {
        None => return Ok(None),
        Some(t) if t.eq_ignore_ascii_case("bearer") => return Ok(None),
        Some(t) if t.eq_ignore_ascii_case("pop") => {}
        // SSH certificates are the ssh module's (see crate::ssh).
        Some(t) if t.eq_ignore_ascii_case("ssh-cert") => return Ok(None),
        Some(_) => {
            return Err(EntraError::malformed(
                "The token_type must be bearer, pop or ssh-cert.",
            ));
        }
    }
    let req_cnf = form
        .get("req_cnf")
        .ok_or_else(|| EntraError::missing_parameter("req_cnf"))?;
    let invalid = || EntraError::malformed("The req_cnf parameter must be base64url JSON naming a kid.");
    let decoded = URL_SAFE_NO_PAD
        .decode(req_cnf.trim_end_matches('='))
        .map_err(|_| invalid())?;
    let cnf: Value = serde_json::from_slice(&decoded).map_err(|_| invalid())?;
    // A SHA-256 thumbprint, base64url: 43 characters of its alphabet.
    let kid = cnf
        .get("kid")
        .and_then(Value::as_str)
        .filter(|k| k.len() == 43 && URL_SAFE_NO_PAD.decode(k).is_ok())
        .ok_or_else(invalid)?;
    Ok(Some(PopRequest { kid: kid.to_owned() }))
}

/// Binds the access token of a token response to the requested key:
/// re-signs it with `cnf.kid` added and answers `token_type: pop`.
/// A bearer request's response passes unchanged.
pub(crate) fn bind(state: &AppState, pop: Option<&PopRequest>, mut body: Value) -> Result<Value, EntraError> {
    let Some(pop) = pop else {
        return Ok(body);
    };
    let mut claims = body
        .get("access_token")
        .and_then(Value::as_str)
        .and_then(|at| at.split('.').nth(1))
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
        .ok_or_else(EntraError::server_error)?;
    claims.insert("cnf".into(), json!({ "kid": pop.kid }));
    body["access_token"] = json!(issue::sign(state, &claims)?);
    body["token_type"] = json!("pop");
    tracing::info!(kid = %pop.kid, "issued a PoP token");
    Ok(body)
}

/// SHR nonces seen, each kept until its `ts` leaves the window (after
/// which the SHR is refused as stale anyway).
#[derive(Debug, Default)]
pub(crate) struct SeenNonces {
    seen: Mutex<HashMap<String, u64>>,
}

impl SeenNonces {
    /// Records `nonce` (of an SHR stamped `ts`); false when already seen.
    fn first_use(&self, nonce: &str, ts: u64, now: u64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.retain(|_, stamped| stamped.saturating_add(TIMESTAMP_WINDOW_SECS) >= now);
        seen.insert(nonce.to_owned(), ts).is_none()
    }
}

/// `GET` or `POST /resource/pop`.
pub(crate) async fn resource(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match verify(&state, &method, &uri, &headers, &body) {
        Ok(verified) => reply::json(StatusCode::OK, &verified),
        Err(reason) => reply::invalid_token("PoP", &reason),
    }
}

fn hash(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
}

/// The RFC 7638 SHA-256 thumbprint of a JWK (RSA or EC).
fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let members: &[&str] = match jwk.get("kty").and_then(Value::as_str)? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        _ => return None,
    };
    let mut parts = Vec::new();
    for name in members {
        let value = jwk.get(*name).and_then(Value::as_str)?;
        parts.push(format!("{}:{}", json!(name), json!(value)));
    }
    Some(hash(format!("{{{}}}", parts.join(",")).as_bytes()))
}

/// Checks one PoP request; the verified facts, or why it is refused.
fn verify(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, String> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("No Authorization header: a PoP request is required.")?;
    let (scheme, shr) = authorization
        .trim()
        .split_once(' ')
        .unwrap_or((authorization, ""));
    if !scheme.eq_ignore_ascii_case("pop") {
        return Err(format!(
            "The {scheme} scheme is not accepted: this resource requires PoP."
        ));
    }
    let shr = shr.trim();

    // The SHR: its header, its key, its signature.
    let decode_part = |part: Option<&str>| -> Option<Map<String, Value>> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part?).ok()?).ok()
    };
    let mut parts = shr.split('.');
    let (Some(shr_header), Some(payload)) = (decode_part(parts.next()), decode_part(parts.next())) else {
        return Err("The signed HTTP request is not a JWT.".into());
    };
    if shr_header.get("typ").and_then(Value::as_str) != Some("pop") {
        return Err("The signed HTTP request's typ is not pop.".into());
    }
    let algorithm = match shr_header.get("alg").and_then(Value::as_str) {
        Some("RS256") => Algorithm::RS256,
        Some("ES256") => Algorithm::ES256,
        _ => return Err("The signed HTTP request's alg must be RS256 or ES256.".into()),
    };
    let jwk_value = payload
        .get("cnf")
        .and_then(|c| c.get("jwk"))
        .ok_or("The signed HTTP request has no cnf.jwk.")?;
    let jwk: Jwk =
        serde_json::from_value(jwk_value.clone()).map_err(|_| "The cnf.jwk is not a usable public key.")?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| "The cnf.jwk is not a usable public key.")?;
    let mut validation = Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Map<String, Value>>(shr, &key, &validation)
        .map_err(|_| "The signed HTTP request's signature does not verify with its cnf.jwk.")?;
    let jwk_thumbprint = jwk_value
        .as_object()
        .and_then(thumbprint)
        .ok_or("The cnf.jwk is not an RSA or EC key.")?;

    // The access token: issued here, for this resource, bound to that key.
    let at = payload
        .get("at")
        .and_then(Value::as_str)
        .ok_or("The signed HTTP request carries no access token (at).")?;
    let token = issued_token::verify_for_graph(state, at)?;
    let bound_to = token
        .claims
        .get("cnf")
        .and_then(|c| c.get("kid"))
        .and_then(Value::as_str)
        .ok_or("The access token is not bound to a key (a bearer token, not a PoP token).")?;
    if bound_to != jwk_thumbprint {
        return Err("The access token is bound to another key than the one that signed the request.".into());
    }

    // The request itself.
    let claim = |name: &str| payload.get(name).and_then(Value::as_str);
    if claim("m") != Some(method.as_str()) {
        return Err(format!("The signed method (m) is not this request's {method}."));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or(uri.authority().map(|a| a.as_str()))
        .unwrap_or_default();
    if !claim("u").is_some_and(|u| u.eq_ignore_ascii_case(host)) {
        return Err("The signed host (u) is not this request's host.".into());
    }
    if claim("p") != Some(uri.path()) {
        return Err("The signed path (p) is not this request's path.".into());
    }
    match (uri.query().filter(|q| !q.is_empty()), payload.get("q")) {
        (None, None) => {}
        (Some(query), Some(signed))
            if signed.get(1).and_then(Value::as_str) == Some(hash(query.as_bytes()).as_str()) => {}
        _ => return Err("The signed query (q) is not this request's query.".into()),
    }
    match (body.is_empty(), claim("b")) {
        (true, None) => {}
        (_, Some(signed)) if signed == hash(body) => {}
        (false, None) => return Err("The request has a body and the signed request no body hash (b).".into()),
        _ => return Err("The signed body hash (b) is not this request's body.".into()),
    }
    let now = state.clock.now();
    let ts = payload
        .get("ts")
        .and_then(Value::as_u64)
        .ok_or("The signed HTTP request has no ts.")?;
    if ts.abs_diff(now) > TIMESTAMP_WINDOW_SECS {
        return Err("The signed HTTP request's ts is outside the five-minute window.".into());
    }
    let nonce = claim("nonce")
        .filter(|n| !n.is_empty())
        .ok_or("The signed HTTP request has no nonce.")?;
    if !state.pop_nonces.first_use(nonce, ts, now) {
        return Err("The signed HTTP request was replayed (its nonce was seen before).".into());
    }
    Ok(json!({
        "appid": token.str("appid"),
        "kid": bound_to,
        "m": method.as_str(),
        "u": host,
        "p": uri.path(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_follow_rfc_7638() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
        });
        assert_eq!(
            thumbprint(jwk.as_object().unwrap()).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
        assert_eq!(
            thumbprint(json!({"kty": "oct", "k": "x"}).as_object().unwrap()),
            None
        );
    }

    #[test]
    fn nonces_are_accepted_once() {
        let seen = SeenNonces::default();
        assert!(seen.first_use("a", 100, 100));
        assert!(!seen.first_use("a", 100, 100));
        assert!(seen.first_use("b", 100, 100));
    }
}

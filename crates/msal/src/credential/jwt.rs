//! Client assertion JWTs (RFC 7523): the claims MSAL puts in them, RS256 and
//! PS256 signing with aws-lc-rs, and reading the `exp` of an assertion an
//! application supplies.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::CredentialError;

/// How long an assertion MSAL builds is valid (its `exp` - `iat`).
pub(crate) const ASSERTION_LIFETIME_SECS: u64 = 600;

/// A JWS algorithm a certificate assertion is signed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, with a SHA-1 `x5t`.
    Rs256,
    /// RSASSA-PSS with SHA-256, with a SHA-256 `x5t#S256`.
    Ps256,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Ps256 => "PS256",
        }
    }
}

/// The claims of an assertion for `client_id` at `audience` issued at `now`:
/// `aud`, `iss` = `sub` = client id, `exp` = now + 600 s, `iat`, `nbf`, a
/// fresh `jti`; then `extra` (MSAL's `client_claims`), which wins on conflict
/// as in MSAL Python.
pub(crate) fn claims(
    client_id: &str,
    audience: &str,
    now: u64,
    extra: &Map<String, Value>,
) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("aud".into(), json!(audience));
    claims.insert("iss".into(), json!(client_id));
    claims.insert("sub".into(), json!(client_id));
    claims.insert("exp".into(), json!(now + ASSERTION_LIFETIME_SECS));
    claims.insert("iat".into(), json!(now));
    claims.insert("nbf".into(), json!(now));
    claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    for (name, value) in extra {
        claims.insert(name.clone(), value.clone());
    }
    claims
}

/// Signs `claims` with `key`; `header` holds the members besides `alg` and
/// `typ` (`x5t`, `x5t#S256`, `x5c`).
pub(crate) fn sign(
    key: &RsaKeyPair,
    algorithm: Algorithm,
    header: &Map<String, Value>,
    claims: &Map<String, Value>,
) -> Result<String, CredentialError> {
    let mut full_header = Map::new();
    full_header.insert("alg".into(), json!(algorithm.name()));
    full_header.insert("typ".into(), json!("JWT"));
    full_header.extend(header.iter().map(|(k, v)| (k.clone(), v.clone())));
    let encode = |value: &Map<String, Value>| -> Result<String, CredentialError> {
        let bytes = serde_json::to_vec(value).map_err(|_| CredentialError::Signing)?;
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    };
    let signing_input = format!("{}.{}", encode(&full_header)?, encode(claims)?);
    let padding = match algorithm {
        Algorithm::Rs256 => &RSA_PKCS1_SHA256,
        Algorithm::Ps256 => &RSA_PSS_SHA256,
    };
    let mut signature = vec![0u8; key.public_modulus_len()];
    key.sign(
        padding,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| CredentialError::Signing)?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// The `exp` of a JWT, if `token` is one with a numeric `exp` (no signature
/// check: it only bounds how long this library reuses the assertion).
pub(crate) fn expires_at(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("exp")?.as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_follow_msal_and_client_claims_win() {
        let mut extra = Map::new();
        extra.insert("xms_custom".into(), json!("v"));
        extra.insert("sub".into(), json!("override"));
        let c = claims("cid", "https://idp/t/oauth2/v2.0/token", 1000, &extra);
        assert_eq!(c["aud"], "https://idp/t/oauth2/v2.0/token");
        assert_eq!(c["iss"], "cid");
        assert_eq!(c["sub"], "override");
        assert_eq!(c["exp"], 1600);
        assert_eq!((c["iat"].clone(), c["nbf"].clone()), (json!(1000), json!(1000)));
        assert_eq!(c["xms_custom"], "v");
        let other = claims("cid", "a", 1000, &Map::new());
        assert_ne!(c["jti"], other["jti"]);
    }

    #[test]
    fn reads_exp_of_supplied_assertions() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"exp":1234}"#);
        assert_eq!(expires_at(&format!("h.{payload}.s")), Some(1234));
        assert_eq!(expires_at("not-a-jwt"), None);
        assert_eq!(expires_at("a.!!.c"), None);
    }
}

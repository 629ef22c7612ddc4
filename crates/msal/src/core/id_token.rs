//! Opt-in ID token validation (MSAL Python 1.38+ decodes ID tokens without
//! validating them, which stays the default): the signature with the
//! issuer's key (RS256; the JWKS is kept per `jwks_uri` and fetched again
//! when a token names a key it lacks), `iss` against the authority's
//! metadata (Entra's `{tenantid}` template filled with the token's `tid`),
//! `aud` against the client id, and `exp`/`nbf` with a clock skew
//! allowance. The nonce is the auth code flow's own check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use crate::discovery::AuthorityMetadata;
use crate::error::{IdTokenError, Result};
use crate::http::{HttpRequest, Method};
use crate::oauth2;
use crate::pipeline::{Outgoing, Pipeline, Purpose};
use crate::time::now_epoch;

/// The clock skew allowed on `exp` and `nbf` by default.
pub(crate) const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Whether ID tokens are validated, with what skew, and the keys fetched so far.
pub(crate) struct IdTokenValidator {
    pub enabled: bool,
    pub skew: Duration,
    keys: Mutex<HashMap<String, Arc<Vec<Jwk>>>>,
}

impl Default for IdTokenValidator {
    fn default() -> Self {
        IdTokenValidator {
            enabled: false,
            skew: DEFAULT_CLOCK_SKEW,
            keys: Mutex::default(),
        }
    }
}

/// An RSA signing key of a JWKS (other kinds are ignored).
#[derive(Clone, Debug, Deserialize)]
struct Jwk {
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    kty: String,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

#[derive(Deserialize)]
struct JwkSet {
    #[serde(default)]
    keys: Vec<Jwk>,
}

impl IdTokenValidator {
    pub(crate) fn new(enabled: bool, skew: Duration) -> Self {
        IdTokenValidator {
            enabled,
            skew,
            keys: Mutex::default(),
        }
    }

    /// Validates `id_token`, issued to `client_id` by the authority whose
    /// metadata is `metadata`.
    pub(crate) async fn validate(
        &self,
        pipeline: &Pipeline,
        metadata: &AuthorityMetadata,
        client_id: &str,
        id_token: &str,
        correlation_id: &str,
    ) -> Result<()> {
        let malformed = |what: &str| IdTokenError::Malformed(what.to_owned());
        let mut parts = id_token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("not three dot-separated parts").into());
        };
        let header: Map<String, Value> = oauth2::decode_base64url(header)
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| malformed("the header is not base64url JSON"))?;
        let claims: Map<String, Value> = oauth2::decode_base64url(payload)
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| malformed("the payload is not base64url JSON"))?;
        let signature =
            oauth2::decode_base64url(signature).ok_or_else(|| malformed("the signature is not base64url"))?;
        let alg = header.get("alg").and_then(Value::as_str).unwrap_or_default();
        if alg != "RS256" {
            return Err(IdTokenError::UnsupportedAlgorithm(alg.to_owned()).into());
        }
        let kid = header.get("kid").and_then(Value::as_str).unwrap_or_default();
        let jwks_uri = metadata
            .jwks_uri
            .as_ref()
            .ok_or(IdTokenError::NoMetadata("jwks_uri"))?;
        let key = match self.key(jwks_uri, kid) {
            Some(key) => key,
            None => {
                // A key rotated in since the keys were fetched: fetch them again.
                self.fetch(pipeline, jwks_uri, correlation_id).await?;
                self.key(jwks_uri, kid)
                    .ok_or_else(|| IdTokenError::UnknownKey { kid: kid.to_owned() })?
            }
        };
        let (Some(n), Some(e)) = (
            key.n.as_deref().and_then(oauth2::decode_base64url),
            key.e.as_deref().and_then(oauth2::decode_base64url),
        ) else {
            return Err(IdTokenError::UnknownKey { kid: kid.to_owned() }.into());
        };
        let message_len = id_token.len() - id_token.rsplit('.').next().map_or(0, str::len) - 1;
        let message = id_token.get(..message_len).unwrap_or_default();
        RsaPublicKeyComponents { n: &n, e: &e }
            .verify(&RSA_PKCS1_2048_8192_SHA256, message.as_bytes(), &signature)
            .map_err(|_| IdTokenError::Signature)?;
        self.check_claims(metadata, client_id, &claims)
    }

    fn check_claims(
        &self,
        metadata: &AuthorityMetadata,
        client_id: &str,
        claims: &Map<String, Value>,
    ) -> Result<()> {
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let issuer = metadata
            .issuer
            .as_deref()
            .ok_or(IdTokenError::NoMetadata("issuer"))?;
        let expected = issuer.replace("{tenantid}", &text("tid"));
        let actual = text("iss");
        if actual != expected {
            return Err(IdTokenError::Issuer { expected, actual }.into());
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => aud == client_id,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(client_id)),
            _ => false,
        };
        if !audience_ok {
            return Err(IdTokenError::Audience {
                expected: client_id.to_owned(),
                actual: claims.get("aud").map(Value::to_string).unwrap_or_default(),
            }
            .into());
        }
        let now = now_epoch();
        let skew = self.skew.as_secs();
        let time = |name: &str| claims.get(name).and_then(Value::as_u64);
        let exp = time("exp").ok_or_else(|| IdTokenError::Malformed("no exp".into()))?;
        if exp.saturating_add(skew) <= now {
            return Err(IdTokenError::Expired { exp }.into());
        }
        if let Some(nbf) = time("nbf")
            && nbf > now.saturating_add(skew)
        {
            return Err(IdTokenError::NotYetValid { nbf }.into());
        }
        Ok(())
    }

    fn key(&self, jwks_uri: &Url, kid: &str) -> Option<Jwk> {
        let keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        keys.get(jwks_uri.as_str())?
            .iter()
            .find(|k| k.kty == "RSA" && k.kid.as_deref().unwrap_or_default() == kid)
            .cloned()
    }

    async fn fetch(&self, pipeline: &Pipeline, jwks_uri: &Url, correlation_id: &str) -> Result<()> {
        let mut request = HttpRequest::new(Method::Get, jwks_uri.clone());
        request.headers = oauth2::library_headers(correlation_id);
        let delivered = pipeline.send(Outgoing::new(Purpose::Keys, request)).await?;
        let response = delivered.response;
        if response.status != 200 {
            return Err(crate::Error::InvalidResponse {
                endpoint: jwks_uri.to_string(),
                status: response.status,
                reason: "the issuer's keys are unavailable".into(),
            });
        }
        let set: JwkSet =
            serde_json::from_slice(&response.body).map_err(|e| crate::Error::InvalidResponse {
                endpoint: jwks_uri.to_string(),
                status: 200,
                reason: format!("not a JWKS: {e}"),
            })?;
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(jwks_uri.to_string(), Arc::new(set.keys));
        Ok(())
    }
}

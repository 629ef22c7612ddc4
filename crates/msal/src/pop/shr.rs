//! The signed HTTP request (SHR) that carries a PoP token, in the format
//! MSAL .NET's `SignedHttpRequest` produces (after
//! draft-ietf-oauth-signed-http-request): a JWT with header
//! `{"typ":"pop","alg":…,"kid":<key id>}` and payload `at` (the access
//! token), `ts` (Unix seconds), `m` (method), `u` (host[:port]), `p`
//! (path), `q` (query parameter names and hash, when the URL has a query),
//! `b` (body hash, when a body is signed), a fresh `nonce`, and
//! `cnf.jwk` (the public key), signed with the key the token is bound to.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use url::Url;

use super::PopKey;
use crate::error::{Error, Result};
use crate::time::now_epoch;

/// One outgoing request to sign.
#[derive(Clone, Debug)]
pub struct SignedHttpRequest {
    method: String,
    url: Url,
    body_hash: Option<String>,
    nonce: Option<String>,
    timestamp: Option<u64>,
}

/// `Authorization` header value `PoP <shr>` for a request without a signed
/// body: `access_token` (a PoP token bound to `key`) presented on a
/// `method` request to `url`.
pub fn pop_header(access_token: &str, key: &PopKey, method: &str, url: &str) -> Result<String> {
    SignedHttpRequest::new(method, url)?.authorization(access_token, key)
}

/// SHA-256, base64url without padding: the SHR's hash encoding.
fn hash(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
}

impl SignedHttpRequest {
    /// A `method` request to the absolute http(s) `url`.
    pub fn new(method: &str, url: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidArgument(format!("PoP request: {reason}"));
        let method = method.trim();
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(bad("the method must be an HTTP method name such as GET"));
        }
        let url = Url::parse(url).map_err(|e| bad(&format!("the URL does not parse: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none_or(str::is_empty) {
            return Err(bad("the URL must be an absolute http(s) URL"));
        }
        Ok(SignedHttpRequest {
            method: method.to_ascii_uppercase(),
            url,
            body_hash: None,
            nonce: None,
            timestamp: None,
        })
    }

    /// Signs the request body too (`b`, its SHA-256), so it cannot be altered.
    pub fn body(mut self, body: &[u8]) -> Self {
        self.body_hash = Some(hash(body));
        self
    }

    /// Uses `nonce` (one the resource handed out) instead of a random one.
    pub fn nonce(mut self, nonce: impl Into<String>) -> Self {
        self.nonce = Some(nonce.into());
        self
    }

    /// Uses `ts` (Unix seconds) instead of now, for a clock the resource
    /// agrees with.
    pub fn timestamp(mut self, ts: u64) -> Self {
        self.timestamp = Some(ts);
        self
    }

    /// The SHR JWT presenting `access_token`, signed with `key`.
    pub fn sign(&self, access_token: &str, key: &PopKey) -> Result<String> {
        if access_token.trim().is_empty() {
            return Err(Error::InvalidArgument(
                "PoP request: the access token is empty".into(),
            ));
        }
        let header = json!({"typ": "pop", "alg": key.algorithm(), "kid": key.key_id()});
        let mut payload = Map::new();
        payload.insert("at".into(), json!(access_token));
        payload.insert("ts".into(), json!(self.timestamp.unwrap_or_else(now_epoch)));
        payload.insert("m".into(), json!(self.method));
        payload.insert("u".into(), json!(authority(&self.url)));
        payload.insert("p".into(), json!(self.url.path()));
        if let Some(query) = self.url.query().filter(|q| !q.is_empty()) {
            payload.insert("q".into(), query_hash(query));
        }
        if let Some(body_hash) = &self.body_hash {
            payload.insert("b".into(), json!(body_hash));
        }
        let nonce = match &self.nonce {
            Some(nonce) => nonce.clone(),
            None => uuid::Uuid::new_v4().simple().to_string(),
        };
        payload.insert("nonce".into(), json!(nonce));
        payload.insert("cnf".into(), json!({ "jwk": key.public_jwk() }));
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(payload).to_string())
        );
        let signature = key.sign(input.as_bytes())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// The `Authorization` header value: `PoP <shr>`.
    pub fn authorization(&self, access_token: &str, key: &PopKey) -> Result<String> {
        Ok(format!("PoP {}", self.sign(access_token, key)?))
    }
}

/// `u`: the host, with the port when it is not the scheme's default (what
/// the request's `Host` header says).
fn authority(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// `q`: `[[names…], hash]`, the names in order and the SHA-256 of
/// `name=value` pairs joined by `&`, as they appear in the URL.
fn query_hash(query: &str) -> Value {
    let pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    let names: Vec<&str> = pairs
        .iter()
        .map(|p| p.split('=').next().unwrap_or_default())
        .collect();
    json!([names, hash(pairs.join("&").as_bytes())])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn the_shr_carries_the_request_and_verifies_with_the_key() {
        let key = PopKey::generate_p256().unwrap();
        let request = SignedHttpRequest::new("post", "https://api.example:8443/items/1?b=2&a=1")
            .unwrap()
            .body(b"{}")
            .timestamp(1_700_000_000);
        let shr = request.sign("the-token", &key).unwrap();
        let parts: Vec<&str> = shr.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode(parts[0]);
        assert_eq!(header, json!({"typ": "pop", "alg": "ES256", "kid": key.key_id()}));
        let payload = decode(parts[1]);
        assert_eq!(payload["at"], "the-token");
        assert_eq!(payload["ts"], 1_700_000_000);
        assert_eq!(payload["m"], "POST");
        assert_eq!(payload["u"], "api.example:8443");
        assert_eq!(payload["p"], "/items/1");
        assert_eq!(payload["q"][0], json!(["b", "a"]));
        assert_eq!(payload["q"][1], hash(b"b=2&a=1"));
        assert_eq!(payload["b"], hash(b"{}"));
        assert_eq!(payload["cnf"]["jwk"], *key.public_jwk());
        assert!(payload["nonce"].as_str().is_some_and(|n| n.len() >= 32));
        let point = [
            &[4u8][..],
            &URL_SAFE_NO_PAD
                .decode(key.public_jwk()["x"].as_str().unwrap())
                .unwrap(),
            &URL_SAFE_NO_PAD
                .decode(key.public_jwk()["y"].as_str().unwrap())
                .unwrap(),
        ]
        .concat();
        let verifier = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
            point,
        );
        let input = format!("{}.{}", parts[0], parts[1]);
        verifier
            .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(parts[2]).unwrap())
            .unwrap();
        // A fresh nonce each time.
        let again = decode(
            request
                .sign("the-token", &key)
                .unwrap()
                .split('.')
                .nth(1)
                .unwrap(),
        );
        assert_ne!(again["nonce"], payload["nonce"]);
    }

    #[test]
    fn default_ports_are_left_out_and_bad_requests_refused() {
        let key = PopKey::generate_p256().unwrap();
        let header = pop_header("t", &key, "GET", "https://Host.Example:443/").unwrap();
        let shr = header.strip_prefix("PoP ").unwrap();
        assert_eq!(decode(shr.split('.').nth(1).unwrap())["u"], "host.example");
        assert!(pop_header("t", &key, "GET", "/relative").is_err());
        assert!(pop_header("t", &key, "GE T", "https://h/").is_err());
        assert!(pop_header("", &key, "GET", "https://h/").is_err());
        assert!(pop_header("t", &key, "GET", "ftp://h/").is_err());
    }
}

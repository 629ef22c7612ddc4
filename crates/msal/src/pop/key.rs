//! The key a PoP token is bound to: its public JWK, its RFC 7638 thumbprint
//! (the key id Entra puts in the token's `cnf`), the `req_cnf` request
//! parameter, and signing. Keys are RSA 2048 (RS256) or P-256 (ES256),
//! generated or read from PKCS#8 by aws-lc-rs, or any other signer (an HSM,
//! a platform key store) behind [`PopSigner`].

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A private key that signs PoP requests, for keys this library does not
/// hold itself (a hardware or platform key store).
pub trait PopSigner: Send + Sync {
    /// The JWS algorithm of [`sign`](Self::sign): `RS256` or `ES256`.
    fn algorithm(&self) -> &str;

    /// The public key as a JWK: `kty` `RSA` with `n` and `e`, or `kty` `EC`
    /// with `crv` `P-256`, `x` and `y` (base64url, no padding).
    fn public_jwk(&self) -> Map<String, Value>;

    /// The JWS signature of `message` (for ES256, `r || s`, 64 bytes).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>>;
}

/// A key pair that PoP tokens are bound to and requests are signed with.
///
/// Cheap to clone (the key is shared). Its `Debug` shows the algorithm and
/// key id only.
#[derive(Clone)]
pub struct PopKey {
    signer: Arc<dyn PopSigner>,
    /// The public JWK with only its required members (what `cnf.jwk` carries).
    jwk: Value,
    key_id: String,
}

impl fmt::Debug for PopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PopKey")
            .field("algorithm", &self.signer.algorithm())
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

fn refused(reason: impl fmt::Display) -> Error {
    Error::ProofOfPossession(reason.to_string())
}

impl PopKey {
    /// A new RSA 2048 key (RS256), as MSAL .NET and Node generate by default.
    pub fn generate_rsa() -> Result<Self> {
        let key = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| refused("RSA key generation failed"))?;
        Self::from_signer(Arc::new(RsaSigner(key)))
    }

    /// A new P-256 key (ES256): smaller and faster to make than RSA.
    pub fn generate_p256() -> Result<Self> {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| refused("P-256 key generation failed"))?;
        Self::from_signer(Arc::new(EcSigner(key)))
    }

    /// A supplied private key in PKCS#8 DER: RSA (2048 bits or more) or P-256.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        if let Ok(key) = RsaKeyPair::from_pkcs8(der) {
            return Self::from_signer(Arc::new(RsaSigner(key)));
        }
        match EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
            Ok(key) => Self::from_signer(Arc::new(EcSigner(key))),
            Err(_) => Err(refused(
                "the key is neither an RSA nor a P-256 PKCS#8 private key",
            )),
        }
    }

    /// A supplied private key in a PEM `PRIVATE KEY` (PKCS#8) block.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self> {
        let der = pkcs8_block(pem).ok_or_else(|| refused("no PEM PRIVATE KEY block"))?;
        Self::from_pkcs8_der(&der)
    }

    /// A key held by `signer`. Its JWK must carry the members its
    /// thumbprint is made of.
    pub fn from_signer(signer: Arc<dyn PopSigner>) -> Result<Self> {
        let full = signer.public_jwk();
        let members: &[&str] = match (signer.algorithm(), full.get("kty").and_then(Value::as_str)) {
            ("RS256", Some("RSA")) => &["e", "kty", "n"],
            ("ES256", Some("EC")) => &["crv", "kty", "x", "y"],
            (alg, kty) => {
                return Err(refused(format!(
                    "unsupported key: algorithm {alg:?} with key type {kty:?} (RS256 with RSA or ES256 with EC)"
                )));
            }
        };
        // RFC 7638: the required members, in lexicographic order, no whitespace.
        let mut canonical = String::from("{");
        let mut jwk = Map::new();
        for (i, name) in members.iter().enumerate() {
            let Some(value) = full.get(*name).and_then(Value::as_str).filter(|v| !v.is_empty()) else {
                return Err(refused(format!("the public JWK has no {name}")));
            };
            if i > 0 {
                canonical.push(',');
            }
            canonical.push_str(&format!("{}:{}", json!(name), json!(value)));
            jwk.insert((*name).to_owned(), json!(value));
        }
        canonical.push('}');
        let key_id = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        Ok(PopKey {
            signer,
            jwk: Value::Object(jwk),
            key_id,
        })
    }

    /// The key id: the public key's JWK SHA-256 thumbprint (RFC 7638),
    /// base64url. Entra writes it in the token's `cnf.kid`; caches write it
    /// as the entry's `key_id`.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The `req_cnf` request parameter: base64url of `{"kid":"<key id>"}`.
    pub fn req_cnf(&self) -> String {
        URL_SAFE_NO_PAD.encode(json!({ "kid": self.key_id }).to_string())
    }

    /// The public key as a JWK (its required members only).
    pub fn public_jwk(&self) -> &Value {
        &self.jwk
    }

    /// The JWS algorithm the key signs with.
    pub fn algorithm(&self) -> &str {
        self.signer.algorithm()
    }

    /// Signs `message` (a JWS signing input).
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        self.signer.sign(message)
    }
}

/// The DER of the first `-----BEGIN PRIVATE KEY-----` block of `pem`.
fn pkcs8_block(pem: &str) -> Option<Vec<u8>> {
    let start = pem.find("-----BEGIN PRIVATE KEY-----")? + "-----BEGIN PRIVATE KEY-----".len();
    let end = start + pem.get(start..)?.find("-----END PRIVATE KEY-----")?;
    let body: String = pem.get(start..end)?.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// An RSA key held by aws-lc-rs.
struct RsaSigner(RsaKeyPair);

impl PopSigner for RsaSigner {
    fn algorithm(&self) -> &str {
        "RS256"
    }

    fn public_jwk(&self) -> Map<String, Value> {
        let parts = PublicKeyComponents::<Vec<u8>>::from(self.0.public_key());
        let mut jwk = Map::new();
        jwk.insert("kty".into(), json!("RSA"));
        jwk.insert("n".into(), json!(URL_SAFE_NO_PAD.encode(strip_zeros(&parts.n))));
        jwk.insert("e".into(), json!(URL_SAFE_NO_PAD.encode(strip_zeros(&parts.e))));
        jwk
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let mut signature = vec![0; self.0.public_modulus_len()];
        self.0
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut signature)
            .map_err(|_| refused("RS256 signing failed"))?;
        Ok(signature)
    }
}

/// JWK integers are unsigned big-endian without leading zero octets.
fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    bytes.get(first..).unwrap_or(bytes)
}

/// A P-256 key held by aws-lc-rs.
struct EcSigner(EcdsaKeyPair);

impl PopSigner for EcSigner {
    fn algorithm(&self) -> &str {
        "ES256"
    }

    fn public_jwk(&self) -> Map<String, Value> {
        // An uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
        let point = self.0.public_key().as_ref();
        let (x, y) = point
            .get(1..)
            .unwrap_or_default()
            .split_at(point.len().saturating_sub(1) / 2);
        let mut jwk = Map::new();
        jwk.insert("kty".into(), json!("EC"));
        jwk.insert("crv".into(), json!("P-256"));
        jwk.insert("x".into(), json!(URL_SAFE_NO_PAD.encode(x)));
        jwk.insert("y".into(), json!(URL_SAFE_NO_PAD.encode(y)));
        jwk
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        self.0
            .sign(&SystemRandom::new(), message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| refused("ES256 signing failed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_7638_s_example() {
        // RFC 7638 section 3.1's RSA key and its thumbprint.
        struct Example;
        impl PopSigner for Example {
            fn algorithm(&self) -> &str {
                "RS256"
            }
            fn public_jwk(&self) -> Map<String, Value> {
                let jwk = json!({
                    "kty": "RSA",
                    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
                    "e": "AQAB",
                    "alg": "RS256",
                    "kid": "2011-04-29"
                });
                jwk.as_object().cloned().unwrap()
            }
            fn sign(&self, _: &[u8]) -> Result<Vec<u8>> {
                Ok(Vec::new())
            }
        }
        let key = PopKey::from_signer(Arc::new(Example)).unwrap();
        assert_eq!(key.key_id(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        assert_eq!(
            key.public_jwk().as_object().unwrap().len(),
            3,
            "alg and kid dropped"
        );
        let cnf = URL_SAFE_NO_PAD.decode(key.req_cnf()).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&cnf).unwrap(),
            json!({"kid": "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"})
        );
        assert!(!format!("{key:?}").contains("0vx7"));
    }

    #[test]
    fn generated_keys_have_their_members_and_distinct_ids() {
        let ec = PopKey::generate_p256().unwrap();
        assert_eq!(ec.algorithm(), "ES256");
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(ec.public_jwk()["x"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert_eq!(ec.sign(b"m").unwrap().len(), 64);
        let rsa = PopKey::generate_rsa().unwrap();
        assert_eq!(rsa.algorithm(), "RS256");
        assert_eq!(rsa.public_jwk()["e"], "AQAB");
        assert_eq!(rsa.sign(b"m").unwrap().len(), 256);
        assert_ne!(ec.key_id(), PopKey::generate_p256().unwrap().key_id());
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(matches!(
            PopKey::from_pkcs8_der(b"nope"),
            Err(Error::ProofOfPossession(_))
        ));
        assert!(PopKey::from_pkcs8_pem("no pem here").is_err());
    }
}

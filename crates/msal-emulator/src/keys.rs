//! The token-signing key: an RSA 2048 key generated at start, the
//! self-signed certificate published for it (`x5c`), JWT signing and the JWKS
//! document.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_RSA_SHA256, RsaKeySize};
use serde::Serialize;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

/// Why the signing key could not be created.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyError {
    #[error("key or certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("generated key is not a PKCS#8 RSA key")]
    Pkcs8,
    #[error("cannot derive the public key: {0}")]
    Jwk(#[from] jsonwebtoken::errors::Error),
}

/// The RSA key tokens are signed with, and what the JWKS says about it.
pub(crate) struct SigningKey {
    kid: String,
    encoding_key: EncodingKey,
    n: String,
    e: String,
    x5c: String,
}

impl SigningKey {
    /// Generates a fresh RSA 2048 key and a self-signed certificate for it.
    pub(crate) fn generate() -> Result<SigningKey, KeyError> {
        SigningKey::generate_persistable().map(|(key, _)| key)
    }

    /// [`generate`](Self::generate), also returning the key (PKCS#8 PEM)
    /// and certificate (DER) to keep in a state directory.
    pub(crate) fn generate_persistable() -> Result<(SigningKey, (String, Vec<u8>)), KeyError> {
        let key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048)?;

        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "msal-emulator token signing");
        params.distinguished_name = dn;
        params.not_before = OffsetDateTime::now_utc() - Duration::hours(1);
        params.not_after = params.not_before + Duration::days(730);
        let cert = params.self_signed(&key)?;
        let cert_der = cert.der().to_vec();
        let signing = SigningKey::from_parts(&key, &cert_der)?;
        Ok((signing, (key.serialize_pem(), cert_der)))
    }

    /// The signing key kept in a state directory: its PKCS#8 PEM and its certificate's DER.
    pub(crate) fn from_persisted(key_pem: &str, cert_der: &[u8]) -> Result<SigningKey, KeyError> {
        let key = KeyPair::from_pem(key_pem)?;
        SigningKey::from_parts(&key, cert_der)
    }

    fn from_parts(key: &KeyPair, cert_der: &[u8]) -> Result<SigningKey, KeyError> {
        // jsonwebtoken wants PKCS#1 (RSAPrivateKey); rcgen hands out PKCS#8.
        let pkcs8 = key.serialize_der();
        let pkcs1 = pkcs8_private_key(&pkcs8).ok_or(KeyError::Pkcs8)?;
        let encoding_key = EncodingKey::from_rsa_der(pkcs1);
        let (n, e) = match Jwk::from_encoding_key(&encoding_key, Algorithm::RS256)?.algorithm {
            AlgorithmParameters::RSA(rsa) => (rsa.n, rsa.e),
            _ => return Err(KeyError::Pkcs8),
        };

        // Entra's kid and x5t are both the certificate's SHA-1 thumbprint.
        let thumbprint = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, cert_der);
        Ok(SigningKey {
            kid: URL_SAFE_NO_PAD.encode(thumbprint.as_ref()),
            encoding_key,
            n,
            e,
            x5c: STANDARD.encode(cert_der),
        })
    }

    /// The key id, in JWT headers and the JWKS.
    #[cfg(test)]
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` as an RS256 JWT with `typ: JWT` and this key's `kid`.
    pub(crate) fn sign<T: Serialize>(&self, claims: &T) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".into());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding_key)
    }

    /// The JWKS document, with Entra's extra `issuer` member on the key.
    pub(crate) fn jwks(&self, issuer: &str) -> Value {
        json!({
            "keys": [{
                "kty": "RSA",
                "use": "sig",
                "kid": self.kid,
                "x5t": self.kid,
                "n": self.n,
                "e": self.e,
                "x5c": [self.x5c],
                "issuer": issuer,
            }]
        })
    }
}

/// Returns the `privateKey` OCTET STRING of a DER PKCS#8 `PrivateKeyInfo`,
/// which for RSA is the PKCS#1 `RSAPrivateKey`.
fn pkcs8_private_key(pkcs8: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const OCTET_STRING: u8 = 0x04;
    let (tag, info, _) = der_tlv(pkcs8)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, _version, rest) = der_tlv(info)?;
    if tag != INTEGER {
        return None;
    }
    let (tag, _algorithm, rest) = der_tlv(rest)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, key, _) = der_tlv(rest)?;
    (tag == OCTET_STRING).then_some(key)
}

/// Splits one DER tag-length-value off `input`: (tag, value, rest).
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    Some((tag, value, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[test]
    fn signs_tokens_the_jwks_verifies() {
        let key = SigningKey::generate().unwrap();
        let token = key.sign(&json!({"sub": "x", "exp": 4_000_000_000u64})).unwrap();
        let jwks = key.jwks("https://issuer");
        let jwk = &jwks["keys"][0];
        assert_eq!(jwk["kid"], key.kid());
        assert_eq!(jwk["e"], "AQAB");
        let decoding =
            DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap()).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.required_spec_claims.clear();
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).unwrap();
        assert_eq!(data.claims["sub"], "x");
        assert_eq!(data.header.kid.as_deref(), Some(key.kid()));
    }

    #[test]
    fn der_parser_rejects_garbage() {
        assert_eq!(pkcs8_private_key(&[]), None);
        assert_eq!(pkcs8_private_key(&[0x30, 0x85, 1, 2, 3, 4, 5]), None);
        assert_eq!(pkcs8_private_key(&[0x30, 0x02, 0x02, 0x00]), None);
    }
}

//! The token-signing keys: RSA 2048 keys with the self-signed certificates
//! published for them (`x5c`), JWT signing, the JWKS document, and key
//! rollover.
//!
//! As Entra publishes several keys at once, the [`KeyRing`] publishes the
//! current key (which signs), the next one (published ahead, so validators
//! that cache the JWKS already know it when it starts signing) and, after
//! a roll, the previous one (so tokens it signed stay verifiable until the
//! roll after).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_RSA_SHA256, RsaKeySize};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
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

/// An RSA key tokens are signed with, and what the JWKS says about it.
pub(crate) struct SigningKey {
    kid: String,
    encoding_key: EncodingKey,
    n: String,
    e: String,
    x5c: String,
    /// What a state directory keeps of it.
    persisted: PersistedKey,
}

/// A signing key as a state directory keeps it: the key (PKCS#8 PEM) and
/// its certificate (DER, base64).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct PersistedKey {
    pub(crate) key_pem: String,
    pub(crate) cert_der: String,
}

impl std::fmt::Debug for PersistedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key never shows.
        f.debug_struct("PersistedKey").finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh RSA 2048 key and a self-signed certificate for it.
    pub(crate) fn generate() -> Result<SigningKey, KeyError> {
        let key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048)?;

        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "msal-emulator token signing");
        params.distinguished_name = dn;
        params.not_before = OffsetDateTime::now_utc() - Duration::hours(1);
        params.not_after = params.not_before + Duration::days(730);
        let cert = params.self_signed(&key)?;
        SigningKey::from_parts(&key, cert.der())
    }

    /// The signing key kept in a state directory.
    pub(crate) fn from_persisted(kept: &PersistedKey) -> Result<SigningKey, KeyError> {
        let key = KeyPair::from_pem(&kept.key_pem)?;
        let der = STANDARD.decode(&kept.cert_der).map_err(|_| KeyError::Pkcs8)?;
        SigningKey::from_parts(&key, &der)
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
            persisted: PersistedKey {
                key_pem: key.serialize_pem(),
                cert_der: STANDARD.encode(cert_der),
            },
        })
    }

    /// What a state directory keeps of it.
    pub(crate) fn persisted(&self) -> &PersistedKey {
        &self.persisted
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

    /// The key's JWKS entry, with Entra's extra `issuer` member.
    fn jwk(&self, issuer: &str) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": self.n,
            "e": self.e,
            "x5c": [self.x5c],
            "issuer": issuer,
        })
    }

    /// The public key, to verify what this key signed.
    pub(crate) fn decoding_key(&self) -> Result<jsonwebtoken::DecodingKey, jsonwebtoken::errors::Error> {
        jsonwebtoken::DecodingKey::from_rsa_components(&self.n, &self.e)
    }
}

/// The published keys: previous (after a roll), current, next.
struct Ring {
    previous: Option<Arc<SigningKey>>,
    current: Arc<SigningKey>,
    next: Arc<SigningKey>,
}

/// The signing keys the emulator publishes and signs with (see the module doc).
pub(crate) struct KeyRing {
    ring: RwLock<Ring>,
}

/// What a state directory keeps of the [`KeyRing`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PersistedRing {
    pub(crate) current: PersistedKey,
    pub(crate) next: PersistedKey,
    pub(crate) previous: Option<PersistedKey>,
}

impl KeyRing {
    /// A current and a next key, fresh (generated side by side: RSA key
    /// generation is the slow part of a start).
    pub(crate) fn generate() -> Result<KeyRing, KeyError> {
        let (current, next) = std::thread::scope(|s| {
            let next = s.spawn(SigningKey::generate);
            let current = SigningKey::generate();
            let next = next.join().unwrap_or_else(|_| SigningKey::generate());
            (current, next)
        });
        Ok(KeyRing::from_keys(None, current?, next?))
    }

    /// The ring a state directory kept.
    pub(crate) fn from_persisted(kept: &PersistedRing) -> Result<KeyRing, KeyError> {
        let previous = kept
            .previous
            .as_ref()
            .map(SigningKey::from_persisted)
            .transpose()?;
        Ok(KeyRing::from_keys(
            previous,
            SigningKey::from_persisted(&kept.current)?,
            SigningKey::from_persisted(&kept.next)?,
        ))
    }

    fn from_keys(previous: Option<SigningKey>, current: SigningKey, next: SigningKey) -> KeyRing {
        KeyRing {
            ring: RwLock::new(Ring {
                previous: previous.map(Arc::new),
                current: Arc::new(current),
                next: Arc::new(next),
            }),
        }
    }

    /// The keys, newest state (a poisoned lock still holds a whole ring:
    /// it is only ever replaced field by field under the write lock after
    /// everything that can fail).
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Ring> {
        self.ring.read().unwrap_or_else(|e| e.into_inner())
    }

    /// What a state directory keeps.
    pub(crate) fn persisted(&self) -> PersistedRing {
        let ring = self.read();
        PersistedRing {
            current: ring.current.persisted.clone(),
            next: ring.next.persisted.clone(),
            previous: ring.previous.as_ref().map(|k| k.persisted.clone()),
        }
    }

    /// Signs `claims` with the current key.
    pub(crate) fn sign<T: Serialize>(&self, claims: &T) -> Result<String, jsonwebtoken::errors::Error> {
        let current = self.read().current.clone();
        current.sign(claims)
    }

    /// The published key with this `kid`, if it is still published.
    pub(crate) fn key(&self, kid: &str) -> Option<Arc<SigningKey>> {
        let ring = self.read();
        [Some(&ring.current), Some(&ring.next), ring.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|k| k.kid == kid)
            .cloned()
    }

    /// The current key's id.
    pub(crate) fn current_kid(&self) -> String {
        self.read().current.kid.clone()
    }

    /// The JWKS document: current, next, then previous.
    pub(crate) fn jwks(&self, issuer: &str) -> Value {
        let ring = self.read();
        let keys: Vec<Value> = [Some(&ring.current), Some(&ring.next), ring.previous.as_ref()]
            .into_iter()
            .flatten()
            .map(|k| k.jwk(issuer))
            .collect();
        json!({ "keys": keys })
    }

    /// Rolls the keys over with `fresh` as the new next key: the next key
    /// signs from now on, the current one stays published as the previous
    /// one, and the previous one is withdrawn. Returns the new current kid.
    pub(crate) fn roll(&self, fresh: SigningKey) -> String {
        let mut ring = self.ring.write().unwrap_or_else(|e| e.into_inner());
        let next = std::mem::replace(&mut ring.next, Arc::new(fresh));
        let old = std::mem::replace(&mut ring.current, next);
        ring.previous = Some(old);
        ring.current.kid.clone()
    }
}

/// Verifies `token`'s RS256 signature against the published key its header
/// names; the claims are checked by the caller.
pub(crate) fn decode_published<T: serde::de::DeserializeOwned>(
    keys: &KeyRing,
    token: &str,
    validation: &jsonwebtoken::Validation,
) -> Result<jsonwebtoken::TokenData<T>, jsonwebtoken::errors::Error> {
    use jsonwebtoken::errors::ErrorKind;
    let header = jsonwebtoken::decode_header(token)?;
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| keys.key(kid))
        .ok_or_else(|| jsonwebtoken::errors::Error::from(ErrorKind::InvalidSignature))?;
    jsonwebtoken::decode(token, &key.decoding_key()?, validation)
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
        let jwk = key.jwk("https://issuer");
        let jwk = &jwk;
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
    fn roll_keeps_the_previous_key_for_one_roll() {
        let ring = KeyRing::generate().unwrap();
        let first = ring.current_kid();
        let token = ring.sign(&json!({"sub": "x"})).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        assert_eq!(ring.jwks("i")["keys"].as_array().unwrap().len(), 2);
        let next = ring.jwks("i")["keys"][1]["kid"].as_str().unwrap().to_owned();
        assert_eq!(ring.roll(SigningKey::generate().unwrap()), next);
        assert_eq!(ring.jwks("i")["keys"].as_array().unwrap().len(), 3);
        decode_published::<Value>(&ring, &token, &validation).unwrap();
        // Kept and restored as it was.
        let restored = KeyRing::from_persisted(&ring.persisted()).unwrap();
        assert_eq!(restored.current_kid(), next);
        decode_published::<Value>(&restored, &token, &validation).unwrap();
        ring.roll(SigningKey::generate().unwrap());
        assert!(ring.key(&first).is_none());
        assert!(decode_published::<Value>(&ring, &token, &validation).is_err());
    }

    #[test]
    fn der_parser_rejects_garbage() {
        assert_eq!(pkcs8_private_key(&[]), None);
        assert_eq!(pkcs8_private_key(&[0x30, 0x85, 1, 2, 3, 4, 5]), None);
        assert_eq!(pkcs8_private_key(&[0x30, 0x02, 0x02, 0x00]), None);
    }
}

//! The sealed form of a partition in Redis: AES-256-GCM under a key the
//! application supplies (the same key on every instance of the farm).
//!
//! Layout: `msal\0` (no JSON document starts with a NUL), a version byte
//! (1 = AES-256-GCM), the 12-byte random nonce, then the ciphertext with its
//! 16-byte tag. The Redis key is the additional authenticated data, so a
//! value copied under another partition's key does not open: a writer to
//! Redis cannot hand one user another user's tokens.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine as _;
use zeroize::Zeroizing;

/// What every sealed value starts with.
const MAGIC: &[u8] = b"msal\0";
/// The envelope version this library writes and reads.
const VERSION_AES_256_GCM: u8 = 1;
/// The bytes of an AES-256 key.
pub const ENCRYPTION_KEY_LEN: usize = 32;

/// An application's key for the values it keeps in Redis (AES-256-GCM).
/// Every instance sharing the cache must use the same key. Its `Debug`
/// shows nothing of the key.
pub struct CacheEncryptionKey {
    key: RandomizedNonceKey,
}

/// Why a [`CacheEncryptionKey`] could not be made. Never holds key material.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidEncryptionKey {
    /// The key is not 32 bytes long.
    #[error("a cache encryption key is {ENCRYPTION_KEY_LEN} bytes (AES-256); this one is {0}")]
    Length(usize),
    /// The text is not standard base64.
    #[error("the cache encryption key is not valid base64")]
    Base64,
    /// The crypto library refused the key.
    #[error("the crypto library refused the cache encryption key")]
    Rejected,
}

impl CacheEncryptionKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InvalidEncryptionKey> {
        if bytes.len() != ENCRYPTION_KEY_LEN {
            return Err(InvalidEncryptionKey::Length(bytes.len()));
        }
        let key = RandomizedNonceKey::new(&AES_256_GCM, bytes).map_err(|_| InvalidEncryptionKey::Rejected)?;
        Ok(Self { key })
    }

    /// A key from its 32 bytes in standard base64 (as key vaults and
    /// configuration files hold it).
    pub fn from_base64(text: &str) -> Result<Self, InvalidEncryptionKey> {
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| InvalidEncryptionKey::Base64)?,
        );
        Self::from_bytes(&bytes)
    }

    /// `plaintext` sealed for the Redis key `aad`, under a fresh random nonce.
    pub(super) fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Option<Vec<u8>> {
        let mut in_out = plaintext.to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(aad), &mut in_out)
            .ok()?;
        let mut sealed = Vec::with_capacity(MAGIC.len() + 1 + NONCE_LEN + in_out.len());
        sealed.extend_from_slice(MAGIC);
        sealed.push(VERSION_AES_256_GCM);
        sealed.extend_from_slice(nonce.as_ref());
        sealed.extend_from_slice(&in_out);
        Some(sealed)
    }

    /// The plaintext of a value [`is_sealed`], if this key sealed it for the
    /// Redis key `aad` and nobody altered it.
    pub(super) fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        let body = sealed.strip_prefix(MAGIC).ok_or(OpenError::NotSealed)?;
        let (&version, body) = body.split_first().ok_or(OpenError::Truncated)?;
        if version != VERSION_AES_256_GCM {
            return Err(OpenError::UnknownVersion(version));
        }
        if body.len() < NONCE_LEN {
            return Err(OpenError::Truncated);
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Truncated)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut in_out)
            .map_err(|_| OpenError::Unauthentic)?;
        let len = plaintext.len();
        in_out.truncate(len);
        Ok(in_out)
    }
}

/// Whether a value read from Redis is sealed (else it is plain JSON).
pub(super) fn is_sealed(value: &[u8]) -> bool {
    value.starts_with(MAGIC)
}

/// Why a sealed value did not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OpenError {
    /// Plain JSON where a sealed value was expected.
    NotSealed,
    /// Shorter than its header.
    Truncated,
    /// Written by a later version of the envelope.
    UnknownVersion(u8),
    /// Another key sealed it, it was sealed for another partition, or it was altered.
    Unauthentic,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotSealed => f.write_str("the value is not encrypted, but an encryption key is configured"),
            Self::Truncated => f.write_str("the encrypted value is truncated"),
            Self::UnknownVersion(v) => write!(f, "the encrypted value has an unknown envelope version {v}"),
            Self::Unauthentic => f.write_str(
                "the value does not decrypt with this key (another key, another partition's value, or altered)",
            ),
        }
    }
}

impl std::fmt::Debug for CacheEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheEncryptionKey(AES-256-GCM, redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> CacheEncryptionKey {
        CacheEncryptionKey::from_bytes(&[byte; ENCRYPTION_KEY_LEN]).unwrap()
    }

    #[test]
    fn a_sealed_value_opens_with_its_key_and_partition_only() {
        let plaintext = br#"{"AccessToken":{}}"#;
        let sealed = key(7).seal(b"msal:p1", plaintext).unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.windows(plaintext.len()).any(|w| w == plaintext));
        assert_eq!(key(7).open(b"msal:p1", &sealed).unwrap(), plaintext);
        assert_eq!(key(8).open(b"msal:p1", &sealed), Err(OpenError::Unauthentic));
        assert_eq!(key(7).open(b"msal:p2", &sealed), Err(OpenError::Unauthentic));
        // Each write draws a new nonce: equal plaintexts seal differently.
        assert_ne!(key(7).seal(b"msal:p1", plaintext).unwrap(), sealed);
    }

    #[test]
    fn altered_truncated_and_foreign_values_are_refused() {
        let sealed = key(1).seal(b"k", b"{}").unwrap();
        for at in [MAGIC.len() + 1, MAGIC.len() + 1 + NONCE_LEN, sealed.len() - 1] {
            let mut altered = sealed.clone();
            altered[at] ^= 1;
            assert_eq!(
                key(1).open(b"k", &altered),
                Err(OpenError::Unauthentic),
                "byte {at}"
            );
        }
        assert_eq!(
            key(1).open(b"k", &sealed[..MAGIC.len() + 4]),
            Err(OpenError::Truncated)
        );
        assert_eq!(
            key(1).open(b"k", &sealed[..MAGIC.len() + 1 + NONCE_LEN + 3]),
            Err(OpenError::Unauthentic)
        );
        assert_eq!(key(1).open(b"k", MAGIC), Err(OpenError::Truncated));
        let mut later = sealed.clone();
        later[MAGIC.len()] = 2;
        assert_eq!(key(1).open(b"k", &later), Err(OpenError::UnknownVersion(2)));
        assert_eq!(key(1).open(b"k", b"{}"), Err(OpenError::NotSealed));
        assert!(!is_sealed(b"{}"));
    }

    #[test]
    fn keys_must_be_32_bytes_and_never_show() {
        assert_eq!(
            CacheEncryptionKey::from_bytes(&[0; 16]).unwrap_err(),
            InvalidEncryptionKey::Length(16)
        );
        assert_eq!(
            CacheEncryptionKey::from_base64("not base64!").unwrap_err(),
            InvalidEncryptionKey::Base64
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode([0x5a; 32]);
        let key = CacheEncryptionKey::from_base64(&encoded).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains("5a") && !shown.contains(&encoded), "{shown}");
    }
}

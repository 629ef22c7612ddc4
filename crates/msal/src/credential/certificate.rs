//! Certificate credentials: an RSA private key and its X.509 certificate
//! (PEM, or PKCS#12/PFX with a passphrase), turned into signed client
//! assertions with the header MSAL Python picks.
//!
//! MSAL Python's choice (application.py `_build_client`): a SHA-1 thumbprint
//! given by the application → RS256 with `x5t`; a certificate it can hash
//! (a `public_certificate` or a PFX) → PS256 with `x5t#S256`. `x5c` (the
//! chain, for subject name / issuer authentication) is opt-in.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, digest};
use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use super::jwt::{self, Algorithm};
use super::{CredentialError, pem};
use crate::time::now_epoch;

/// How long a built assertion is reused: MSAL renews its 600-second
/// assertions after 540 seconds, so one never expires in flight.
pub(crate) const ASSERTION_REUSE_SECS: u64 = 540;

/// DER of the `rsaEncryption` algorithm identifier's OID (1.2.840.113549.1.1.1).
const RSA_ENCRYPTION_OID: [u8; 11] = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The passphrase of a PKCS#12 (PFX) file. Redacted in `Debug`, zeroed on drop.
#[derive(Clone)]
pub struct CertificatePassphrase(SecretString);

impl CertificatePassphrase {
    /// Wraps a passphrase (empty for an unprotected file).
    pub fn new(passphrase: impl Into<String>) -> Self {
        Self(SecretString::from(passphrase.into()))
    }
}

impl fmt::Debug for CertificatePassphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CertificatePassphrase([REDACTED])")
    }
}

/// Which thumbprint names the certificate in the assertion header.
#[derive(Clone, Debug)]
enum Thumbprint {
    /// SHA-1, as `x5t`, signed RS256.
    Sha1([u8; 20]),
    /// SHA-256, as `x5t#S256`, signed PS256.
    Sha256([u8; 32]),
}

/// The key and certificates, shared by clones.
struct Material {
    /// The private key; aws-lc frees (and cleanses) it when dropped.
    key: RsaKeyPair,
    /// The certificate chain as DER, leaf first; empty when only a
    /// thumbprint was given.
    chain: Vec<Vec<u8>>,
    /// The key as its PEM label and DER, for mutual TLS (a TLS stack takes
    /// it in this form, not as aws-lc's key pair); `None` when it was not
    /// kept (thumbprint-only credentials cannot do mTLS anyway).
    tls_key: Option<(&'static str, Zeroizing<Vec<u8>>)>,
}

/// An assertion built earlier, reused while young enough.
struct Cached {
    client_id: String,
    audience: String,
    created: u64,
    jwt: Zeroizing<String>,
}

/// A certificate credential: a private key plus the certificate Entra knows
/// it by. Build it with [`from_pem`](Self::from_pem),
/// [`from_pem_with_thumbprint`](Self::from_pem_with_thumbprint) or
/// [`from_pkcs12`](Self::from_pkcs12); `Debug` shows thumbprints only.
#[derive(Clone)]
pub struct ClientCertificate {
    material: Arc<Material>,
    thumbprint: Thumbprint,
    x5c: bool,
    client_claims: Map<String, Value>,
    cache: Arc<Mutex<Option<Cached>>>,
}

impl ClientCertificate {
    /// A PEM private key (`PRIVATE KEY` or `RSA PRIVATE KEY`, RSA,
    /// unencrypted) and its PEM certificate, optionally followed by the rest
    /// of its chain. Assertions are PS256 with `x5t#S256`, as MSAL Python's
    /// `public_certificate` form. Fails if the certificate does not hold the
    /// key's public key.
    pub fn from_pem(private_key_pem: &str, certificate_pem: &str) -> Result<Self, CredentialError> {
        let key = key_from_pem(private_key_pem)?;
        let certificates: Vec<Vec<u8>> = pem::parse(certificate_pem)?
            .into_iter()
            .filter(|b| b.label == "CERTIFICATE")
            .map(|b| b.der.to_vec())
            .collect();
        Self::with_chain(key, tls_key_from_pem(private_key_pem), certificates)
    }

    /// A PEM private key and the SHA-1 thumbprint (hex, as the Azure portal
    /// shows it) of its registered certificate: assertions are RS256 with
    /// `x5t`, as MSAL Python's `thumbprint` form. Kept for AD FS, which knows
    /// SHA-1 thumbprints only; prefer [`from_pem`](Self::from_pem).
    pub fn from_pem_with_thumbprint(
        private_key_pem: &str,
        sha1_thumbprint: &str,
    ) -> Result<Self, CredentialError> {
        let key = key_from_pem(private_key_pem)?;
        let hex: String = sha1_thumbprint.chars().filter(|c| *c != ':').collect();
        let thumbprint = decode_hex::<20>(&hex).ok_or(CredentialError::InvalidThumbprint)?;
        Ok(Self::new(
            Material {
                key,
                chain: Vec::new(),
                tls_key: None,
            },
            Thumbprint::Sha1(thumbprint),
        ))
    }

    /// A PKCS#12 (PFX) file's bytes and its passphrase: the private key and
    /// the certificate holding its public key (plus any chain in the file).
    /// PS256 with `x5t#S256`, as MSAL Python's `private_key_pfx_path`.
    pub fn from_pkcs12(pfx: &[u8], passphrase: &CertificatePassphrase) -> Result<Self, CredentialError> {
        let store = p12_keystore::KeyStore::from_pkcs12(
            pfx,
            passphrase.0.expose_secret(),
            p12_keystore::Pkcs12ImportPolicy::Relaxed,
        )
        .map_err(|e| match e {
            p12_keystore::error::Error::MacError(_) => CredentialError::WrongPassphrase,
            other => CredentialError::InvalidPkcs12(other.to_string()),
        })?;
        let (_, chain) = store.private_key_chain().ok_or(CredentialError::NoPrivateKey)?;
        let pkcs8 = Zeroizing::new(chain.key().as_der().to_vec());
        let key = rsa_from_pkcs8(&pkcs8)?;
        let certificates = chain.certs().iter().map(|c| c.as_der().to_vec()).collect();
        Self::with_chain(key, Some(("PRIVATE KEY", pkcs8)), certificates)
    }

    /// Whether assertions carry the certificate chain in `x5c`, as subject
    /// name / issuer (SNI) authentication needs. Off by default.
    pub fn with_x5c(mut self, send: bool) -> Self {
        self.x5c = send;
        self.cache = Arc::default();
        self
    }

    /// Claims added to every assertion (MSAL's `client_claims`); they
    /// override the standard ones on conflict, as in MSAL Python.
    pub fn with_client_claims(mut self, claims: Map<String, Value>) -> Self {
        self.client_claims = claims;
        self.cache = Arc::default();
        self
    }

    /// Names the certificate by its SHA-1 thumbprint (`x5t`, RS256) instead
    /// of SHA-256 (`x5t#S256`, PS256), for AD FS. A no-op when only a SHA-1
    /// thumbprint was given.
    pub fn with_sha1_thumbprint(mut self) -> Self {
        if let Some(leaf) = self.material.chain.first() {
            self.thumbprint = Thumbprint::Sha1(sha1(leaf));
            self.cache = Arc::default();
        }
        self
    }

    /// The leaf certificate's SHA-1 thumbprint in upper-case hex (as the
    /// Azure portal shows it), or the one given.
    pub fn sha1_thumbprint(&self) -> String {
        match (&self.thumbprint, self.material.chain.first()) {
            (_, Some(leaf)) => hex(&sha1(leaf)),
            (Thumbprint::Sha1(t), None) => hex(t),
            (Thumbprint::Sha256(_), None) => String::new(),
        }
    }

    /// The leaf certificate's SHA-256 thumbprint in upper-case hex; `None`
    /// when only a SHA-1 thumbprint was given.
    pub fn sha256_thumbprint(&self) -> Option<String> {
        self.material.chain.first().map(|leaf| hex(&sha256(leaf)))
    }

    /// The leaf certificate's `x5t#S256` (base64url SHA-256 of its DER), the
    /// id mTLS PoP tokens are bound to and cached under; `None` when only a
    /// SHA-1 thumbprint was given.
    pub(crate) fn x5t_s256(&self) -> Option<String> {
        self.material
            .chain
            .first()
            .map(|leaf| URL_SAFE_NO_PAD.encode(sha256(leaf)))
    }

    /// The key and chain as one PEM text (key first, then the chain leaf
    /// first), the TLS client identity of mutual TLS; `None` without a
    /// certificate or a kept key. Zeroed when dropped.
    pub(crate) fn tls_identity_pem(&self) -> Option<Zeroizing<Vec<u8>>> {
        let (label, der) = self.material.tls_key.as_ref()?;
        if self.material.chain.is_empty() {
            return None;
        }
        let mut text = Zeroizing::new(String::new());
        pem_block(&mut text, label, der);
        for certificate in &self.material.chain {
            pem_block(&mut text, "CERTIFICATE", certificate);
        }
        Some(Zeroizing::new(text.as_bytes().to_vec()))
    }

    fn new(material: Material, thumbprint: Thumbprint) -> Self {
        ClientCertificate {
            material: Arc::new(material),
            thumbprint,
            x5c: false,
            client_claims: Map::new(),
            cache: Arc::default(),
        }
    }

    /// Orders `certificates` leaf first (the one holding `key`'s public key).
    fn with_chain(
        key: RsaKeyPair,
        tls_key: Option<(&'static str, Zeroizing<Vec<u8>>)>,
        mut certificates: Vec<Vec<u8>>,
    ) -> Result<Self, CredentialError> {
        if certificates.is_empty() {
            return Err(CredentialError::NoCertificate);
        }
        let public = key.public_key().as_ref().to_vec();
        let mut leaf = None;
        for (i, der) in certificates.iter().enumerate() {
            let (_, cert) = x509_parser::parse_x509_certificate(der)
                .map_err(|e| CredentialError::InvalidCertificate(e.to_string()))?;
            if leaf.is_none() && cert.public_key().subject_public_key.data.as_ref() == public.as_slice() {
                leaf = Some(i);
            }
        }
        let leaf = leaf.ok_or(CredentialError::KeyCertificateMismatch)?;
        let first = certificates.remove(leaf);
        let thumbprint = Thumbprint::Sha256(sha256(&first));
        certificates.insert(0, first);
        Ok(Self::new(
            Material {
                key,
                chain: certificates,
                tls_key,
            },
            thumbprint,
        ))
    }

    /// The assertion for `client_id` at `token_endpoint`, reused for 540 s.
    pub(crate) fn assertion(&self, client_id: &str, token_endpoint: &str) -> Result<String, CredentialError> {
        self.assertion_at(client_id, token_endpoint, now_epoch())
    }

    /// [`assertion`](Self::assertion) with "now" given, so tests can move time.
    pub(crate) fn assertion_at(
        &self,
        client_id: &str,
        audience: &str,
        now: u64,
    ) -> Result<String, CredentialError> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cached) = cache.as_ref()
            && cached.client_id == client_id
            && cached.audience == audience
            && now >= cached.created
            && now < cached.created + ASSERTION_REUSE_SECS
        {
            return Ok(cached.jwt.to_string());
        }
        let claims = jwt::claims(client_id, audience, now, &self.client_claims);
        let jwt = jwt::sign(&self.material.key, self.algorithm(), &self.header(), &claims)?;
        *cache = Some(Cached {
            client_id: client_id.to_owned(),
            audience: audience.to_owned(),
            created: now,
            jwt: Zeroizing::new(jwt.clone()),
        });
        Ok(jwt)
    }

    /// A new assertion for `client_id` at `audience`, neither reused nor
    /// kept: for providers that accept each `jti` once.
    pub(crate) fn single_use_assertion(
        &self,
        client_id: &str,
        audience: &str,
    ) -> Result<String, CredentialError> {
        let claims = jwt::claims(client_id, audience, now_epoch(), &self.client_claims);
        jwt::sign(&self.material.key, self.algorithm(), &self.header(), &claims)
    }

    fn algorithm(&self) -> Algorithm {
        match self.thumbprint {
            Thumbprint::Sha1(_) => Algorithm::Rs256,
            Thumbprint::Sha256(_) => Algorithm::Ps256,
        }
    }

    fn header(&self) -> Map<String, Value> {
        let mut header = Map::new();
        match &self.thumbprint {
            Thumbprint::Sha1(t) => header.insert("x5t".into(), json!(URL_SAFE_NO_PAD.encode(t))),
            Thumbprint::Sha256(t) => header.insert("x5t#S256".into(), json!(URL_SAFE_NO_PAD.encode(t))),
        };
        if self.x5c && !self.material.chain.is_empty() {
            let chain: Vec<String> = self.material.chain.iter().map(|c| STANDARD.encode(c)).collect();
            header.insert("x5c".into(), json!(chain));
        }
        header
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("sha1_thumbprint", &self.sha1_thumbprint())
            .field("algorithm", &self.algorithm())
            .field("x5c", &self.x5c)
            .field("private_key", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// Appends `der` as a PEM block labelled `label` (64-column base64).
fn pem_block(out: &mut String, label: &str, der: &[u8]) {
    let encoded = Zeroizing::new(STANDARD.encode(der));
    out.push_str(&format!("-----BEGIN {label}-----\n"));
    for line in encoded.as_bytes().chunks(64) {
        // Base64 is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
}

/// The unencrypted private key block of a PEM text, for mutual TLS (the
/// one [`key_from_pem`] reads).
fn tls_key_from_pem(text: &str) -> Option<(&'static str, Zeroizing<Vec<u8>>)> {
    pem::parse(text)
        .ok()?
        .into_iter()
        .find_map(|block| match block.label.as_str() {
            "PRIVATE KEY" => Some(("PRIVATE KEY", block.der)),
            "RSA PRIVATE KEY" if !block.has_headers => Some(("RSA PRIVATE KEY", block.der)),
            _ => None,
        })
}

/// The RSA private key in a PEM text.
fn key_from_pem(text: &str) -> Result<RsaKeyPair, CredentialError> {
    for block in pem::parse(text)? {
        match block.label.as_str() {
            "PRIVATE KEY" => return rsa_from_pkcs8(&block.der),
            "RSA PRIVATE KEY" if block.has_headers => return Err(CredentialError::EncryptedPrivateKey),
            "RSA PRIVATE KEY" => {
                return RsaKeyPair::from_der(&block.der).map_err(|_| CredentialError::InvalidPrivateKey);
            }
            "ENCRYPTED PRIVATE KEY" => return Err(CredentialError::EncryptedPrivateKey),
            "EC PRIVATE KEY" => {
                return Err(CredentialError::UnsupportedKey(
                    "an EC key; Entra certificate credentials need an RSA key",
                ));
            }
            _ => {}
        }
    }
    Err(CredentialError::NoPrivateKey)
}

/// An RSA key from PKCS#8 DER; other algorithms are refused by name.
fn rsa_from_pkcs8(der: &[u8]) -> Result<RsaKeyPair, CredentialError> {
    // The algorithm identifier sits within the first few dozen bytes.
    let head = &der[..der.len().min(32)];
    if !head
        .windows(RSA_ENCRYPTION_OID.len())
        .any(|w| w == RSA_ENCRYPTION_OID)
    {
        return Err(CredentialError::UnsupportedKey(
            "not an RSA key; Entra certificate credentials need an RSA key",
        ));
    }
    RsaKeyPair::from_pkcs8(der).map_err(|_| CredentialError::InvalidPrivateKey)
}

fn sha1(der: &[u8]) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(digest(&SHA1_FOR_LEGACY_USE_ONLY, der).as_ref());
    out
}

fn sha256(der: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, der).as_ref());
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn decode_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    if hex.len() != N * 2 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_are_forty_hex_digits() {
        assert_eq!(decode_hex::<2>("0aFf"), Some([0x0a, 0xff]));
        assert_eq!(decode_hex::<2>("0aF"), None);
        assert_eq!(decode_hex::<2>("0aFg"), None);
        assert_eq!(decode_hex::<2>("éé"), None);
        assert_eq!(hex(&[0x0a, 0xff]), "0AFF");
    }

    #[test]
    fn single_use_assertions_are_new_each_time_and_leave_the_reused_one_alone() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let certificate =
            ClientCertificate::from_pem_with_thumbprint(&key.serialize_pem(), &"AB".repeat(20)).unwrap();
        let endpoint = "https://op.example/op/token";
        let reused = certificate.assertion("client", endpoint).unwrap();
        let one = certificate.single_use_assertion("client", endpoint).unwrap();
        let two = certificate.single_use_assertion("client", endpoint).unwrap();
        let jti = |jwt: &str| {
            let payload = URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1).unwrap()).unwrap();
            serde_json::from_slice::<Value>(&payload).unwrap()["jti"].clone()
        };
        assert_ne!(jti(&one), jti(&two));
        assert_ne!(jti(&one), jti(&reused));
        assert_eq!(certificate.assertion("client", endpoint).unwrap(), reused);
    }

    #[test]
    fn refuses_keys_it_cannot_use() {
        let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAQID\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert!(matches!(
            key_from_pem(encrypted),
            Err(CredentialError::EncryptedPrivateKey)
        ));
        let cert_only = "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            key_from_pem(cert_only),
            Err(CredentialError::NoPrivateKey)
        ));
        let garbage = "-----BEGIN PRIVATE KEY-----\nAQID\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            key_from_pem(garbage),
            Err(CredentialError::UnsupportedKey(_))
        ));
        let legacy =
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAQID\n-----END RSA PRIVATE KEY-----\n";
        assert!(matches!(
            key_from_pem(legacy),
            Err(CredentialError::EncryptedPrivateKey)
        ));
    }
}

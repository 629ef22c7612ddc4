//! The federation server's signing key: an RSA 2048 key generated at start
//! (separate from the token-signing key, as an AD FS token-signing
//! certificate is separate from Entra's keys) and its self-signed certificate.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_RSA_SHA256, RsaKeySize};
use time::{Duration, OffsetDateTime};

/// The key assertions are signed with.
pub(crate) struct FederationKey {
    key: RsaKeyPair,
    /// DER PKCS#1 `RSAPublicKey`.
    public_key_der: Vec<u8>,
    /// Base64 DER of the certificate, for `ds:X509Certificate`.
    cert_base64: String,
    cert_pem: String,
}

impl FederationKey {
    /// Generates a fresh key and a self-signed certificate for it.
    pub(crate) fn generate() -> Result<FederationKey, String> {
        let key =
            KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).map_err(|e| e.to_string())?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "msal-emulator federation token signing");
        params.distinguished_name = dn;
        params.not_before = OffsetDateTime::now_utc() - Duration::hours(1);
        params.not_after = params.not_before + Duration::days(730);
        let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
        let rsa = RsaKeyPair::from_pkcs8(&key.serialize_der()).map_err(|e| e.to_string())?;
        Ok(FederationKey {
            public_key_der: rsa.public_key().as_ref().to_vec(),
            key: rsa,
            cert_base64: STANDARD.encode(cert.der()),
            cert_pem: cert.pem(),
        })
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let mut signature = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut signature)
            .map_err(|e| e.to_string())?;
        Ok(signature)
    }

    /// Whether `signature` is this key's RSA-SHA256 signature of `message`.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.public_key_der)
            .verify(message, signature)
            .is_ok()
    }

    /// The certificate, base64 DER.
    pub(crate) fn cert_base64(&self) -> &str {
        &self.cert_base64
    }

    /// The certificate, PEM.
    pub(crate) fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The public key, DER PKCS#1 `RSAPublicKey`.
    pub(crate) fn public_key_der(&self) -> &[u8] {
        &self.public_key_der
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies() {
        let key = FederationKey::generate().unwrap();
        let sig = key.sign(b"hello").unwrap();
        assert!(key.verify(b"hello", &sig));
        assert!(!key.verify(b"hellp", &sig));
        assert!(key.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    }
}

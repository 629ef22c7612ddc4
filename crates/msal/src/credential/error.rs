//! Why a client credential could not be loaded or used. Messages describe
//! the problem, never the key material or passphrase.

use std::sync::Arc;

/// A certificate, key or assertion that cannot be used.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The text is not PEM, or a PEM block is damaged.
    #[error("invalid PEM: {0}")]
    InvalidPem(&'static str),
    /// The PEM text holds no private key.
    #[error("no private key found (expected a PEM 'PRIVATE KEY' or 'RSA PRIVATE KEY' block)")]
    NoPrivateKey,
    /// The private key is encrypted; decrypt it first or use a PKCS#12 file
    /// with its passphrase.
    #[error(
        "the PEM private key is encrypted; decrypt it first, or use a PKCS#12 (PFX) file and its passphrase"
    )]
    EncryptedPrivateKey,
    /// The private key is not an RSA key (Entra's certificate credentials
    /// sign with RS256 or PS256).
    #[error("unsupported private key: {0}")]
    UnsupportedKey(&'static str),
    /// The private key could not be parsed.
    #[error("the private key is not a valid RSA key")]
    InvalidPrivateKey,
    /// No certificate was found where one is required.
    #[error("no certificate found (expected a PEM 'CERTIFICATE' block or a certificate in the PKCS#12 file)")]
    NoCertificate,
    /// A certificate could not be parsed.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// None of the certificates holds the private key's public key.
    #[error("the certificate does not match the private key")]
    KeyCertificateMismatch,
    /// A thumbprint that is not 40 (SHA-1) hexadecimal digits.
    #[error("invalid SHA-1 thumbprint: expected 40 hexadecimal digits")]
    InvalidThumbprint,
    /// The PKCS#12 (PFX) data cannot be read.
    #[error("invalid PKCS#12 (PFX) data: {0}")]
    InvalidPkcs12(String),
    /// The PKCS#12 passphrase is wrong (its integrity check failed).
    #[error("wrong PKCS#12 passphrase (the file's integrity check failed)")]
    WrongPassphrase,
    /// Signing the assertion failed.
    #[error("signing the client assertion failed")]
    Signing,
    /// The application's assertion callback failed.
    #[error("the client assertion callback failed: {0}")]
    AssertionCallback(Arc<dyn std::error::Error + Send + Sync>),
    /// The assertion (string or callback result) is empty.
    #[error("the client assertion is empty")]
    EmptyAssertion,
}

//! The Service Fabric endpoint's pinned certificate. The cluster's token
//! service presents a self-signed certificate; the host tells its
//! applications the certificate's SHA-1 thumbprint
//! (`IDENTITY_SERVER_THUMBPRINT`). The connection is accepted only when the
//! leaf certificate's thumbprint equals it (compared in constant time),
//! instead of validating a chain to a root, and never through a proxy. The
//! handshake's signature is still checked with the certificate's key.

use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::error::{Error, ManagedIdentityError, ManagedIdentitySource, TransportError};
use crate::http::{BoxFuture, HttpClient, HttpRequest, HttpResponse, ReqwestHttpClient};

/// A SHA-1 thumbprint: 20 bytes.
pub(crate) type Thumbprint = [u8; 20];

/// `IDENTITY_SERVER_THUMBPRINT` as hosts write it: 40 hex digits, in either
/// case, possibly grouped with spaces or colons.
pub(crate) fn parse_thumbprint(text: &str) -> Result<Thumbprint, ManagedIdentityError> {
    let invalid = |reason: &str| ManagedIdentityError::InvalidEnvironment {
        host: ManagedIdentitySource::ServiceFabric,
        variable: "IDENTITY_SERVER_THUMBPRINT",
        reason: reason.to_owned(),
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b' ' | b':' | b'\t'))
        .collect();
    if digits.len() != 40 {
        return Err(invalid("a SHA-1 thumbprint is 40 hexadecimal digits"));
    }
    let mut out = [0u8; 20];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).map_err(|_| invalid("not hexadecimal"))?;
        *byte = u8::from_str_radix(text, 16).map_err(|_| invalid("not hexadecimal"))?;
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Accepts exactly the certificate whose SHA-1 is the pinned thumbprint,
/// and remembers the thumbprint of the last one it refused (for the error).
#[derive(Debug)]
struct PinnedVerifier {
    expected: Thumbprint,
    algorithms: WebPkiSupportedAlgorithms,
    refused: Mutex<Option<String>>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let actual = digest(&SHA1_FOR_LEGACY_USE_ONLY, end_entity.as_ref());
        if aws_lc_rs::constant_time::verify_slices_are_equal(actual.as_ref(), &self.expected).is_ok() {
            return Ok(ServerCertVerified::assertion());
        }
        *self.refused.lock().unwrap_or_else(PoisonError::into_inner) = Some(hex(actual.as_ref()));
        Err(rustls::Error::General(
            "the certificate's thumbprint is not IDENTITY_SERVER_THUMBPRINT".into(),
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The transport for the Service Fabric endpoint: reqwest over rustls with
/// the pinned verifier, no proxy. A refused certificate becomes
/// [`ManagedIdentityError::ServerCertificateMismatch`].
pub(crate) struct PinnedTransport {
    client: ReqwestHttpClient,
    verifier: Arc<PinnedVerifier>,
}

impl PinnedTransport {
    pub(crate) fn new(expected: Thumbprint) -> Result<PinnedTransport, Error> {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let verifier = Arc::new(PinnedVerifier {
            expected,
            algorithms: provider.signature_verification_algorithms,
            refused: Mutex::new(None),
        });
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::InvalidArgument(format!("TLS configuration: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier.clone())
            .with_no_client_auth();
        let client = ReqwestHttpClient::builder().pinned_tls(config).build()?;
        Ok(PinnedTransport { client, verifier })
    }

    /// The thumbprint of the certificate last refused, if any: taken, so a
    /// later failure for another reason is not reported as a mismatch.
    pub(crate) fn take_refused(&self) -> Option<String> {
        self.verifier
            .refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl HttpClient for PinnedTransport {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        self.client.execute(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_are_read_as_hosts_write_them() {
        let plain = parse_thumbprint("A1B2C3D4E5F60718293A4B5C6D7E8F9011223344").unwrap();
        assert_eq!(plain[0], 0xA1);
        assert_eq!(plain[19], 0x44);
        let grouped =
            parse_thumbprint("a1:b2:c3:d4:e5:f6:07:18:29:3a:4b:5c:6d:7e:8f:90:11:22:33:44").unwrap();
        assert_eq!(plain, grouped);
        let spaced = parse_thumbprint("a1b2 c3d4 e5f6 0718 293a 4b5c 6d7e 8f90 1122 3344").unwrap();
        assert_eq!(plain, spaced);
        for bad in [
            "",
            "A1B2",
            "Z1B2C3D4E5F60718293A4B5C6D7E8F9011223344",
            "é1B2C3D4E5F60718293A4B5C6D7E8F901122334",
        ] {
            assert!(matches!(
                parse_thumbprint(bad),
                Err(ManagedIdentityError::InvalidEnvironment { .. })
            ));
        }
    }
}

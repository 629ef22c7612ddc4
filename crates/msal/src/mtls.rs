//! mTLS proof of possession (RFC 8705 certificate-bound tokens), as MSAL
//! .NET's `WithMtlsProofOfPossession` for confidential clients with a
//! certificate: the token request goes over mutual TLS, presenting the
//! application's certificate, to Entra's mTLS token endpoint
//! (`https://{region}.mtlsauth.microsoft.com/{tenant}/oauth2/v2.0/token`,
//! so a region is needed, or an explicit [`MtlsPop::token_endpoint`]) with
//! `token_type=mtls_pop` and no client assertion (the handshake
//! authenticates the client). The token's `cnf` names the certificate's
//! `x5t#S256`; the resource accepts it (`Authorization: mtls_pop <token>`,
//! see [`authorization_value`]) only over a connection presenting the same
//! certificate, which [`MtlsPop::client`] builds.
//!
//! Owns the mTLS settings (endpoint override, trusted roots), the mutual-TLS
//! transport and the resource client. Requesting and caching is the
//! client credentials flow's (`ClientCredentialsOptions::mtls_pop`): tokens
//! are cached apart from bearer and signed-request PoP tokens, under the
//! certificate's `x5t#S256` as key id.

use std::sync::Arc;

use url::Url;

use crate::credential::ClientCertificate;
use crate::error::{Error, Result};
use crate::http::{HttpClient, ReqwestHttpClient, ReqwestHttpClientBuilder};

/// The `token_type` of an mTLS PoP token request and response.
pub const TOKEN_TYPE: &str = "mtls_pop";

/// The `Authorization` scheme an mTLS PoP token is presented with (MSAL
/// .NET's `mtls_pop`).
pub const AUTHORIZATION_SCHEME: &str = "mtls_pop";

/// The parent domain of Entra's regional mTLS token hosts (public cloud).
pub const MTLS_HOST_SUFFIX: &str = "mtlsauth.microsoft.com";

/// How to reach the mTLS token endpoint: Entra's regional one by default,
/// or [`token_endpoint`](Self::token_endpoint); and which roots to trust
/// there and at the resource (the platform's, plus any added).
#[derive(Clone, Debug, Default)]
pub struct MtlsPop {
    token_endpoint: Option<Url>,
    /// PEM texts of extra trusted roots, each checked when added.
    roots: Vec<Vec<u8>>,
}

impl MtlsPop {
    /// Entra's regional mTLS endpoint (the application's region, see
    /// `ConfidentialClientApplicationBuilder::azure_region`), platform roots.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends token requests to `endpoint` (an `https` token endpoint URL,
    /// e.g. an emulator's `{mtls_url}/{tenant}/oauth2/v2.0/token`) instead
    /// of Entra's regional mTLS host.
    pub fn token_endpoint(mut self, endpoint: &str) -> Result<Self> {
        let url = Url::parse(endpoint)
            .ok()
            .filter(|u| u.scheme() == "https" && u.host_str().is_some())
            .ok_or_else(|| Error::InvalidArgument("the mTLS token endpoint must be an https URL".into()))?;
        self.token_endpoint = Some(url);
        Ok(self)
    }

    /// Trusts the certificates in `pem` as well as the platform's roots,
    /// at the mTLS token endpoint and in [`client`](Self::client).
    pub fn add_root_certificates_pem(mut self, pem: &[u8]) -> Result<Self> {
        // Checked now, so a bad PEM fails here rather than at the first request.
        ReqwestHttpClient::builder().add_root_certificates_pem(pem)?;
        self.roots.push(pem.to_vec());
        Ok(self)
    }

    /// A reqwest client that presents `certificate` in every handshake:
    /// what calls the resource an mTLS PoP token is for. Fails when the
    /// credential has no certificate or no kept private key (one built from
    /// a SHA-1 thumbprint only).
    pub fn client(&self, certificate: &ClientCertificate) -> Result<reqwest::Client> {
        self.builder(certificate)?.build_reqwest()
    }

    /// The mutual-TLS transport for token requests.
    pub(crate) fn transport(&self, certificate: &ClientCertificate) -> Result<Arc<dyn HttpClient>> {
        Ok(Arc::new(self.builder(certificate)?.build()?))
    }

    fn builder(&self, certificate: &ClientCertificate) -> Result<ReqwestHttpClientBuilder> {
        let identity = certificate.tls_identity_pem().ok_or_else(no_certificate)?;
        let mut builder = ReqwestHttpClient::builder().client_identity_pem(&identity)?;
        for pem in &self.roots {
            builder = builder.add_root_certificates_pem(pem)?;
        }
        Ok(builder)
    }

    /// The token endpoint to use: the override, else `token_endpoint`'s
    /// path at `{region}.mtlsauth.microsoft.com`.
    pub(crate) fn endpoint(&self, region: Option<&str>, token_endpoint: &Url) -> Result<Url> {
        if let Some(url) = &self.token_endpoint {
            return Ok(url.clone());
        }
        let region = region.ok_or_else(|| {
            Error::InvalidArgument(
                "mTLS PoP needs an Azure region (the mTLS endpoint is regional) or MtlsPop::token_endpoint"
                    .into(),
            )
        })?;
        let mut url = token_endpoint.clone();
        url.set_host(Some(&format!("{region}.{MTLS_HOST_SUFFIX}")))
            .map_err(|e| Error::InvalidArgument(format!("no mTLS host for region {region:?}: {e}")))?;
        // Entra's mTLS hosts listen on 443 only.
        let _ = url.set_port(None);
        Ok(url)
    }
}

/// The error for a credential that cannot do mutual TLS.
pub(crate) fn no_certificate() -> Error {
    Error::InvalidArgument(
        "mTLS PoP needs a certificate credential with its certificate and private key \
         (ClientCertificate::from_pem or from_pkcs12)"
            .into(),
    )
}

/// The `Authorization` header value presenting an mTLS PoP token:
/// `mtls_pop <token>`.
pub fn authorization_value(access_token: &str) -> String {
    format!("{AUTHORIZATION_SCHEME} {access_token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_the_regional_mtls_host_unless_overridden() {
        let global = Url::parse("https://login.microsoftonline.com/contoso/oauth2/v2.0/token").unwrap();
        let regional = MtlsPop::new().endpoint(Some("westus2"), &global).unwrap();
        assert_eq!(
            regional.as_str(),
            "https://westus2.mtlsauth.microsoft.com/contoso/oauth2/v2.0/token"
        );
        assert!(matches!(
            MtlsPop::new().endpoint(None, &global),
            Err(Error::InvalidArgument(_))
        ));
        let custom = MtlsPop::new()
            .token_endpoint("https://127.0.0.1:8443/t/oauth2/v2.0/token")
            .unwrap();
        assert_eq!(
            custom.endpoint(None, &global).unwrap().as_str(),
            "https://127.0.0.1:8443/t/oauth2/v2.0/token"
        );
        assert!(MtlsPop::new().token_endpoint("http://127.0.0.1/t").is_err());
        assert!(
            MtlsPop::new()
                .add_root_certificates_pem(b"not a certificate")
                .is_err()
        );
        assert_eq!(authorization_value("abc"), "mtls_pop abc");
    }
}

//! mTLS proof of possession (RFC 8705 certificate-bound tokens), as Entra
//! serves it at `{region}.mtlsauth.microsoft.com` for confidential clients
//! with a certificate:
//!
//! - a second HTTPS listener ([`Emulator::mtls_url`](crate::Emulator::mtls_url)),
//!   same CA and server certificate, that requires a client certificate in
//!   the handshake (any certificate: which one an app may use is checked per
//!   request, so a wrong certificate gets Entra's error, not a reset);
//! - its token endpoint, `POST /{tenant}/oauth2/v2.0/token`, takes
//!   `grant_type=client_credentials` with `token_type=mtls_pop` only, the
//!   client authenticated by the presented certificate (its SHA-256
//!   thumbprint must be one of the app's registered certificates; no
//!   `client_assertion`); the access token carries
//!   `cnf: {"x5t#S256": base64url(SHA-256(certificate DER))}` and the
//!   response says `token_type: mtls_pop` ([`bind`]);
//! - a protected resource, `GET /resource/mtls`, that accepts
//!   `Authorization: mtls_pop <token>` (MSAL .NET's scheme for these
//!   tokens) only when the connection's client certificate is the one the
//!   token's `cnf` names; anything else is a `401`.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Extension, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Router, middleware};
use axum_server::Handle;
use axum_server::tls::TlsInfo;
use axum_server::tls_rustls::RustlsConfig;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::context::RequestContext;
use crate::error::EntraError;
use crate::reply;
use crate::server::{AppState, EmulatorError, counted};
use crate::stats::Endpoint;
use crate::token::issue;
use crate::token::issued_token;

/// The `token_type` of an mTLS PoP request and response, and the
/// `Authorization` scheme the resource takes (MSAL .NET's `mtls_pop`).
pub(crate) const TOKEN_TYPE: &str = "mtls_pop";

/// The `cnf` member naming the certificate (RFC 8705 section 3.1).
const CNF_MEMBER: &str = "x5t#S256";

/// base64url(SHA-256(`der`)): a certificate's `x5t#S256`.
pub(crate) fn thumbprint(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(der))
}

/// Accepts any client certificate whose handshake signature verifies: the
/// token endpoint and the resource decide what the certificate may do.
#[derive(Debug)]
struct AnyClientCertificate(Arc<CryptoProvider>);

impl ClientCertVerifier for AnyClientCertificate {
    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Still an X.509 certificate, so its thumbprint means something.
        x509_parser::parse_x509_certificate(end_entity.as_ref())
            .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The running mTLS listener.
pub(crate) struct Listener {
    pub(crate) port: u16,
    pub(crate) handle: Handle<SocketAddr>,
}

/// Binds a free port on `127.0.0.1` and serves the mTLS endpoints there
/// with the emulator's server certificate (`chain_pem`, `key_pem`).
pub(crate) async fn serve(
    state: &Arc<AppState>,
    chain_pem: &str,
    key_pem: &str,
    idle: Duration,
) -> Result<Listener, EmulatorError> {
    let crypto = |message: String| EmulatorError::Crypto {
        what: "the mTLS listener",
        message,
    };
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| crypto(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| crypto(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| crypto(e.to_string()))?
        .with_client_cert_verifier(Arc::new(AnyClientCertificate(provider)))
        .with_single_cert(chain, key)
        .map_err(|e| crypto(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];

    let bind_error = |source| EmulatorError::Bind { port: 0, source };
    let socket = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(bind_error)?;
    let port = socket.local_addr().map_err(bind_error)?.port();
    let handle = Handle::new();
    let server = axum_server::from_tcp_rustls(socket, RustlsConfig::from_config(Arc::new(config)))
        .map_err(bind_error)?
        .map(|tls| {
            tls.handshake_timeout(idle)
                .acceptor(axum_server::accept::NoDelayAcceptor::new())
        })
        .handle(handle.clone());
    let server = crate::server::bounded(server, idle);
    let app = Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            counted(state, Endpoint::Token, "POST", post(token_endpoint)),
        )
        .route(
            "/resource/mtls",
            counted(state, Endpoint::Resource, "GET", get(resource)),
        )
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::context::middleware,
        ))
        .with_state(state.clone());
    tokio::spawn(server.serve(app.into_make_service()));
    if handle.listening().await.is_none() {
        return Err(EmulatorError::NotReady("the mTLS listener stopped".into()));
    }
    Ok(Listener { port, handle })
}

/// The leaf certificate the client presented (the handshake requires one).
fn presented(tls: &TlsInfo) -> Option<&[u8]> {
    tls.peer_certificates.first().map(Vec::as_slice)
}

/// `POST /{tenant}/oauth2/v2.0/token` on the mTLS listener.
async fn token_endpoint(
    State(state): State<Arc<AppState>>,
    Extension(tls): Extension<Arc<TlsInfo>>,
    ctx: RequestContext,
    Path(tenant): Path<String>,
    request: Request,
) -> Response {
    let Some(certificate) = presented(&tls) else {
        return EntraError::malformed("No client certificate was presented.").to_response(&ctx);
    };
    crate::token::serve(&state, &ctx, &tenant, request, Some(certificate)).await
}

/// Checks an mTLS token request: `token_type=mtls_pop` and the client
/// credentials grant only.
pub(crate) fn check_request(grant_type: &str, token_type: Option<&str>) -> Result<(), EntraError> {
    if !token_type.is_some_and(|t| t.eq_ignore_ascii_case(TOKEN_TYPE)) {
        return Err(EntraError::malformed(
            "The mTLS endpoint issues mtls_pop tokens only: token_type must be mtls_pop.",
        ));
    }
    if grant_type != "client_credentials" {
        return Err(EntraError::malformed(
            "The mTLS endpoint serves the client_credentials grant only.",
        ));
    }
    Ok(())
}

/// Whether `certificate` is one of `app`'s registered certificates.
pub(crate) fn registered(app: &crate::directory::App, certificate: &[u8]) -> bool {
    app.certificates.iter().any(|pem| {
        crate::token::assertion::parse_certificate_pem(pem).is_ok_and(|der| der.as_slice() == certificate)
    })
}

/// Binds a token response's access token to `certificate`: re-signs it
/// with `cnf.x5t#S256` added and answers `token_type: mtls_pop`.
pub(crate) fn bind(state: &AppState, certificate: &[u8], mut body: Value) -> Result<Value, EntraError> {
    let mut claims = body
        .get("access_token")
        .and_then(Value::as_str)
        .and_then(|at| at.split('.').nth(1))
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
        .ok_or_else(EntraError::server_error)?;
    let x5t = thumbprint(certificate);
    claims.insert("cnf".into(), json!({ CNF_MEMBER: x5t }));
    body["access_token"] = json!(issue::sign(state, &claims)?);
    body["token_type"] = json!(TOKEN_TYPE);
    tracing::info!(x5t_s256 = %x5t, "issued an mTLS PoP token");
    Ok(body)
}

/// `GET /resource/mtls`.
async fn resource(
    State(state): State<Arc<AppState>>,
    Extension(tls): Extension<Arc<TlsInfo>>,
    headers: HeaderMap,
) -> Response {
    match verify(&state, presented(&tls), &headers) {
        Ok(verified) => reply::json(StatusCode::OK, &verified),
        Err(reason) => reply::invalid_token(TOKEN_TYPE, &reason),
    }
}

/// Checks one request to the resource; the verified facts, or why not.
fn verify(state: &AppState, certificate: Option<&[u8]>, headers: &HeaderMap) -> Result<Value, String> {
    let certificate = certificate.ok_or("No client certificate was presented.")?;
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("No Authorization header: an mtls_pop token is required.")?;
    let (scheme, token) = authorization
        .trim()
        .split_once(' ')
        .unwrap_or((authorization, ""));
    if !scheme.eq_ignore_ascii_case(TOKEN_TYPE) {
        return Err(format!(
            "The {scheme} scheme is not accepted: this resource requires mtls_pop."
        ));
    }
    let token = issued_token::verify_for_graph(state, token.trim())?;
    let bound_to = token
        .claims
        .get("cnf")
        .and_then(|c| c.get(CNF_MEMBER))
        .and_then(Value::as_str)
        .ok_or("The access token is not bound to a certificate (no cnf.x5t#S256).")?;
    let presented = thumbprint(certificate);
    if !crate::token::constant_time_eq(bound_to, &presented) {
        return Err("The access token is bound to another certificate than the one presented.".into());
    }
    Ok(json!({
        "appid": token.str("appid"),
        CNF_MEMBER: presented,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mtls_pop_client_credentials_requests_are_taken() {
        assert!(check_request("client_credentials", Some("mtls_pop")).is_ok());
        assert!(check_request("client_credentials", Some("MTLS_POP")).is_ok());
        assert!(check_request("client_credentials", None).is_err());
        assert!(check_request("client_credentials", Some("pop")).is_err());
        assert!(check_request("authorization_code", Some("mtls_pop")).is_err());
    }

    #[test]
    fn thumbprints_are_base64url_sha256() {
        // SHA-256("abc"), RFC 6234's test vector, base64url without padding.
        assert_eq!(thumbprint(b"abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    }
}

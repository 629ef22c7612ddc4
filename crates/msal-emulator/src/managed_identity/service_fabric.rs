//! Service Fabric's identity endpoint, over HTTPS with a certificate of
//! its own (self-signed ECDSA P-256 for `127.0.0.1` and `localhost`, not
//! signed by the emulator's CA: clients pin its SHA-1 thumbprint,
//! `IDENTITY_SERVER_THUMBPRINT`):
//! `GET /metadata/identity/oauth2/token?api-version=2019-07-01-preview&resource=R[&token_sha256_to_refresh=…][&xms_cc=…]`
//! with `Secret: $IDENTITY_HEADER` (a random secret per start).
//!
//! The identity is the system-assigned one (`principalId`, an object id,
//! selects another, as api-version `2020-05-01`, also accepted, allows).
//! `xms_cc` (comma-separated client capabilities) lands in the token's
//! `xms_cc` claim; `token_sha256_to_refresh` is accepted (a fresh token is
//! minted anyway) and must be 64 hex digits.
//!
//! Success: `{"token_type": "Bearer", "access_token", "expires_on": <epoch
//! number>, "resource"}`. Errors are `{"error": {"correlationId", "code",
//! "message"}}`: 401 `SecretHeaderNotFound`, 404 `ManagedIdentityNotFound`,
//! 400 `ArgumentNullOrEmpty` (no api-version or resource), 400
//! `InvalidParameter` (another api-version, a malformed parameter), 400
//! `InvalidResource` (AADSTS500011).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, SanType,
};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::{IdKind, IssueError, ManagedIdentitySource, Query, SelectError, Shape};
use crate::context::RequestContext;
use crate::reply;
use crate::server::AppState;
use crate::stats::Endpoint;

/// The endpoint's path (`IDENTITY_ENDPOINT` names it).
pub(crate) const PATH: &str = super::imds::TOKEN_PATH;

/// The api-versions accepted: MSAL Python's and Node's, and MSAL .NET 4.85's.
const API_VERSIONS: [&str; 2] = ["2019-07-01-preview", "2020-05-01"];

/// The header carrying `IDENTITY_HEADER`.
const SECRET_HEADER: &str = "secret";

/// Service Fabric's TLS identity.
pub(crate) struct Tls {
    /// The certificate (PEM): clients pinning it, or trusting it, use this.
    pub(crate) cert_pem: String,
    /// Its private key (PKCS#8 PEM).
    pub(crate) key_pem: String,
    /// Upper-case hex SHA-1 of the certificate's DER: `IDENTITY_SERVER_THUMBPRINT`.
    pub(crate) thumbprint: String,
}

impl Tls {
    /// A fresh self-signed certificate for `127.0.0.1` and `localhost`.
    pub(crate) fn generate() -> Result<Tls, rcgen::Error> {
        let not_before = OffsetDateTime::now_utc() - Duration::hours(1);
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            "msal-emulator Service Fabric managed identity",
        );
        dn.push(DnType::OrganizationName, "msal-emulator");
        params.distinguished_name = dn;
        params.subject_alt_names = vec![
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            SanType::DnsName("localhost".try_into()?),
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = not_before;
        params.not_after = not_before + Duration::days(90);
        let cert = params.self_signed(&key)?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.der());
        let thumbprint = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
        Ok(Tls {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            thumbprint,
        })
    }
}

/// Service Fabric's routes.
pub(crate) fn routes(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new().route(
        PATH,
        super::route(state, Endpoint::ServiceFabric, "GET", get(token)),
    )
}

/// `GET /metadata/identity/oauth2/token` (over HTTPS).
async fn token(State(state): State<Arc<AppState>>, ctx: RequestContext, request: Request) -> Response {
    let error = |status: StatusCode, code: &str, message: &str| {
        Shape::ServiceFabric.error(&ctx, status, code, message)
    };
    let null_or_empty = |name: &str| {
        error(
            StatusCode::BAD_REQUEST,
            "ArgumentNullOrEmpty",
            &format!("Value cannot be null or empty. Parameter name: {name}"),
        )
    };
    let invalid = |message: &str| error(StatusCode::BAD_REQUEST, "InvalidParameter", message);
    let Some(hosts) = super::hosts(&state) else {
        return super::not_enabled(&ctx, Shape::ServiceFabric);
    };
    if !super::header_matches(request.headers(), SECRET_HEADER, &hosts.service_fabric_secret) {
        return error(
            StatusCode::UNAUTHORIZED,
            "SecretHeaderNotFound",
            "Secret is not found in the request headers, or does not match.",
        );
    }
    let query = Query::parse(request.uri());
    match query.single("api-version") {
        Ok(None) | Err(super::ParamError::Empty(_)) => return null_or_empty("api-version"),
        Ok(Some(v)) if API_VERSIONS.contains(&v) => {}
        Ok(Some(v)) => {
            return invalid(&format!(
                "api-version '{v}' is not supported; use {}.",
                API_VERSIONS.join(" or ")
            ));
        }
        Err(e) => return invalid(&e.to_string()),
    }
    let resource = match query.single("resource") {
        Ok(Some(resource)) => resource,
        Ok(None) | Err(super::ParamError::Empty(_)) => return null_or_empty("resource"),
        Err(e) => return invalid(&e.to_string()),
    };
    match query.single("token_sha256_to_refresh") {
        Ok(None) => {}
        Ok(Some(hash)) if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            tracing::info!("Service Fabric token request refreshing a revoked token");
        }
        Ok(Some(_)) => return invalid("token_sha256_to_refresh must be a SHA-256 hex digest."),
        Err(e) => return invalid(&e.to_string()),
    }
    let capabilities: Vec<String> = match query.single("xms_cc") {
        Ok(value) => value
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect(),
        Err(e) => return invalid(&e.to_string()),
    };
    let identity = match super::select(&state, &query, &[("principalId", IdKind::Object)]) {
        Ok(identity) => identity,
        Err(e @ SelectError::NotFound(_)) => {
            return error(StatusCode::NOT_FOUND, "ManagedIdentityNotFound", &e.to_string());
        }
        Err(e) => return invalid(&e.to_string()),
    };
    let issued = match super::issue(&state, hosts, identity, resource, &capabilities) {
        Ok(issued) => issued,
        Err(IssueError::UnknownResource(message)) => {
            return error(StatusCode::BAD_REQUEST, "InvalidResource", &message);
        }
        Err(IssueError::Signing) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "The token could not be signed.",
            );
        }
    };
    let body = json!({
        "token_type": "Bearer",
        "access_token": issued.access_token,
        "expires_on": issued.expires_on,
        "resource": resource,
    });
    super::logged(
        ManagedIdentitySource::ServiceFabric,
        Some(&identity.client_id),
        reply::json_no_store(StatusCode::OK, &body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_is_the_certificates_sha1() {
        let tls = Tls::generate().unwrap();
        assert_eq!(tls.thumbprint.len(), 40);
        assert!(
            tls.thumbprint
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
        );
        assert!(tls.cert_pem.contains("BEGIN CERTIFICATE"));
        assert_ne!(tls.thumbprint, Tls::generate().unwrap().thumbprint);
    }
}

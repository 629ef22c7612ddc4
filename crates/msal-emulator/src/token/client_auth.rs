//! Client authentication at the token endpoint: `client_secret_post`,
//! `client_secret_basic` (RFC 6749 §2.3.1) and `private_key_jwt` client
//! assertions (verified in [`super::assertion`]).

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use super::TokenRequest;
use super::assertion::{self, Check};
use super::form::TokenForm;
use super::issue::ClientAcr;
use crate::directory::{App, AppKind, Tenant};
use crate::error::EntraError;
use crate::server::AppState;

/// The credential a client presented.
pub(crate) enum ClientCredential {
    /// None at all (public clients).
    None,
    /// A client secret, from the body or HTTP Basic.
    Secret(String),
    /// A client assertion (`client_assertion_type` + `client_assertion`).
    Assertion(String),
}

/// Who the client says it is and what it proved that with.
pub(crate) struct ClientAuth {
    pub(crate) client_id: String,
    pub(crate) credential: ClientCredential,
}

impl ClientAuth {
    /// Reads `client_id` and the credential from the form and `Authorization` header.
    pub(crate) fn read(form: &TokenForm, headers: &HeaderMap) -> Result<ClientAuth, EntraError> {
        let basic = basic_credentials(headers)?;
        let body_id = form.get("client_id");
        let client_id = match (&basic, body_id) {
            (Some((id, _)), Some(body)) if id != body => {
                return Err(EntraError::malformed(
                    "The client_id in the Authorization header differs from the one in the body.",
                ));
            }
            (Some((id, _)), _) => id.clone(),
            (None, Some(body)) => body.to_owned(),
            (None, None) => return Err(EntraError::missing_parameter("client_id")),
        };
        let body_secret = form.get("client_secret");
        let assertion_value = form.get("client_assertion");
        let assertion = assertion_value.is_some();
        let credential = match (basic, body_secret, assertion) {
            (Some(_), Some(_), _) | (Some(_), _, true) | (None, Some(_), true) => {
                return Err(EntraError::malformed(
                    "The request uses more than one client authentication method.",
                ));
            }
            (Some((_, secret)), None, false) => ClientCredential::Secret(secret),
            (None, Some(secret), false) => ClientCredential::Secret(secret.to_owned()),
            (None, None, true) => {
                let kind = form.get("client_assertion_type");
                if kind != Some(assertion::JWT_BEARER) {
                    return Err(EntraError::malformed(&format!(
                        "The client_assertion_type must be '{}'.",
                        assertion::JWT_BEARER
                    )));
                }
                ClientCredential::Assertion(assertion_value.unwrap_or_default().to_owned())
            }
            (None, None, false) => ClientCredential::None,
        };
        Ok(ClientAuth {
            client_id,
            credential,
        })
    }
}

/// Finds the client app and checks it may be used in `tenant`.
pub(crate) fn find_client<'a>(
    state: &'a AppState,
    tenant: &Tenant,
    client_id: &str,
) -> Result<&'a App, EntraError> {
    state
        .directory()
        .app(client_id)
        .filter(|app| app.usable_in(tenant))
        .ok_or_else(|| EntraError::app_not_found(client_id, tenant.shown_name()))
}

/// Verifies a confidential client's credential.
pub(crate) fn authenticate_confidential(
    req: &TokenRequest<'_>,
    app: &App,
    credential: &ClientCredential,
) -> Result<(), EntraError> {
    debug_assert_eq!(app.kind, AppKind::Confidential);
    match credential {
        // mTLS: the handshake's certificate authenticates the client.
        ClientCredential::None => match req.tls_client_certificate {
            Some(certificate) if crate::mtls::registered(app, certificate) => {
                req.client_acr.set(ClientAcr::Certificate);
                Ok(())
            }
            Some(certificate) => Err(EntraError::client_assertion_key_not_found(
                &app.client_id,
                &crate::mtls::thumbprint(certificate),
            )),
            None => Err(EntraError::missing_client_credential()),
        },
        ClientCredential::Assertion(jwt) => {
            let audience_ok = |aud: &str| is_token_endpoint(req, app, aud);
            let check = Check {
                now: req.state.clock.now(),
                audience_ok: &audience_ok,
                seen: &req.state.assertions,
            };
            assertion::verify(&check, app, jwt)?;
            req.client_acr.set(ClientAcr::Certificate);
            Ok(())
        }
        ClientCredential::Secret(secret) => {
            // Check every secret so timing does not tell which one nearly matched.
            let matched = app
                .secrets
                .iter()
                .fold(false, |acc, s| acc | constant_time_eq(s, secret));
            if matched {
                req.client_acr.set(ClientAcr::Secret);
                Ok(())
            } else {
                Err(EntraError::invalid_client_secret(&app.client_id))
            }
        }
    }
}

/// Authenticates a client of a user grant: a public client presents no
/// credential, a confidential one its secret.
pub(crate) fn authenticate(
    req: &TokenRequest<'_>,
    app: &App,
    credential: &ClientCredential,
) -> Result<(), EntraError> {
    match (app.kind, credential) {
        (AppKind::Public, ClientCredential::None) => Ok(()),
        (AppKind::Public, _) => Err(EntraError::public_client_with_credential()),
        (AppKind::Confidential, credential) => authenticate_confidential(req, app, credential),
    }
}

/// Whether `aud` names the token endpoint of this request as Entra accepts
/// it: this host, the request's tenant by GUID, name or domain (for
/// `common`/`organizations`, those segments or a tenant the app may be used
/// in), and the v2.0 or v1 token path, or the v2.0 issuer.
fn is_token_endpoint(req: &TokenRequest<'_>, app: &App, aud: &str) -> bool {
    let Ok(url) = url::Url::parse(aud) else {
        return false;
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    if url.scheme() != "https"
        || !req
            .state
            .serves_host(&format!("{host}:{port}").to_ascii_lowercase())
    {
        return false;
    }
    let path = url.path().trim_end_matches('/');
    let Some((tenant, rest)) = path.trim_start_matches('/').split_once('/') else {
        return false;
    };
    if !matches!(rest, "oauth2/v2.0/token" | "oauth2/token" | "v2.0") {
        return false;
    }
    match req.tenant {
        Some(t) => t.is_named(tenant),
        None => {
            super::is_multi_tenant(tenant)
                || req
                    .state
                    .directory()
                    .tenant(tenant)
                    .is_some_and(|t| app.usable_in(t))
        }
    }
}

/// Compares digests so the time taken does not depend on where strings differ.
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The client id of a well-formed HTTP Basic `Authorization` header (for
/// the access log; the secret is dropped at once).
pub(crate) fn basic_client_id(headers: &HeaderMap) -> Option<String> {
    basic_credentials(headers).ok().flatten().map(|(id, _secret)| id)
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))`, if present.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, EntraError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || EntraError::malformed("The Authorization header is not valid HTTP Basic.");
    let value = value.to_str().map_err(|_| bad())?.trim();
    let (scheme, encoded) = value.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let (id, secret) = (
        form_decode(id).ok_or_else(bad)?,
        form_decode(secret).ok_or_else(bad)?,
    );
    if id.is_empty() {
        return Err(bad());
    }
    Ok(Some((id, secret)))
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space).
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn decodes_basic_with_urlencoding() {
        let raw = STANDARD.encode("my%3Aid:p%40ss+word%7E");
        let got = basic_credentials(&headers(&format!("Basic {raw}"))).unwrap();
        assert_eq!(got, Some(("my:id".into(), "p@ss word~".into())));
    }

    #[test]
    fn rejects_bad_basic() {
        for bad in [
            "Basic",
            "Basic !!!",
            "Bearer abc",
            &format!("Basic {}", STANDARD.encode("nocolon")),
            &format!("Basic {}", STANDARD.encode("a:%zz")),
        ] {
            assert_eq!(
                basic_credentials(&headers(bad)).unwrap_err().code,
                9002313,
                "{bad}"
            );
        }
    }

    #[test]
    fn compares_secrets() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", ""));
    }
}

//! The examples' scaffolding, not part of what they show: where the
//! identity provider comes from (a real one named by environment variables,
//! or, when none is named, the local emulator started in this process with
//! its built-in apps, so every example runs anywhere), and the web examples'
//! listener and cookie plumbing. An application reads its own configuration
//! and keeps only the msal calls.
//!
//! | variable | meaning |
//! |---|---|
//! | `MSAL_AUTHORITY` | the authority, e.g. `https://login.microsoftonline.com/contoso.onmicrosoft.com`; unset: the emulator |
//! | `MSAL_CLIENT_ID` | the app registration's client id |
//! | `MSAL_CLIENT_SECRET` or `MSAL_CLIENT_SECRET_FILE` | a confidential app's secret, or a file holding it (never a flag) |
//! | `MSAL_CA_CERT` | a PEM file of extra trusted roots, e.g. the CA `msal emulator --cert-out` wrote |
//! | `MSAL_DOWNSTREAM_URL` | the API the web examples call for the user (default: Microsoft Graph's `/me`) |
//! | `MSAL_API_SCOPE` | the scope a web API exposes, for `web_farm` (default `api://{client id}/access_as_user`) |

// Each example uses part of this module.
#![allow(dead_code)]

use msal::ReqwestHttpClient;
use msal_emulator::{Emulator, EmulatorConfig, builtin};

/// What the example is, so the emulator can lend it the matching built-in app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// A desktop or command-line app (no secret): the emulator's public client.
    PublicClient,
    /// A web app that signs users in: the emulator's web app.
    WebApp,
    /// A web API called with users' tokens: the emulator's orders API.
    WebApi,
    /// A web app that signs users in to its own API and calls Graph for
    /// them on behalf of that token: the emulator's orders API, given the
    /// web app's redirect URI.
    WebAppWithApi,
}

/// The identity provider and app registration an example runs against.
pub(crate) struct Setup {
    /// The authority URL.
    pub(crate) authority: String,
    /// The app's client id.
    pub(crate) client_id: String,
    /// The app's secret, for confidential apps.
    pub(crate) client_secret: Option<String>,
    /// msal's transport, trusting `MSAL_CA_CERT` (or the emulator) too.
    pub(crate) http: ReqwestHttpClient,
    /// A client for the downstream API, trusting the same roots.
    pub(crate) web: reqwest::Client,
    /// The downstream API the web examples call as the user.
    pub(crate) downstream_url: String,
    /// The scope of the app's own API (`WebAppWithApi`).
    pub(crate) api_scope: String,
    /// The emulator, when no authority was configured: kept alive here.
    pub(crate) emulator: Option<Emulator>,
}

/// Microsoft Graph's profile of the signed-in user.
const GRAPH_ME: &str = "https://graph.microsoft.com/v1.0/me";

impl Setup {
    /// Reads the variables above, or starts the emulator when
    /// `MSAL_AUTHORITY` is unset.
    pub(crate) async fn from_env(role: Role) -> Result<Setup, Box<dyn std::error::Error>> {
        match std::env::var("MSAL_AUTHORITY") {
            Ok(authority) => Self::configured(authority),
            Err(_) => Self::emulated(role).await,
        }
    }

    fn configured(authority: String) -> Result<Setup, Box<dyn std::error::Error>> {
        let client_id = std::env::var("MSAL_CLIENT_ID").map_err(|_| "set MSAL_CLIENT_ID")?;
        let client_secret = match std::env::var("MSAL_CLIENT_SECRET_FILE") {
            Ok(path) => Some(std::fs::read_to_string(&path)?.trim().to_owned()),
            Err(_) => std::env::var("MSAL_CLIENT_SECRET").ok(),
        };
        let ca = match std::env::var("MSAL_CA_CERT") {
            Ok(path) => Some(std::fs::read(&path)?),
            Err(_) => None,
        };
        let api_scope =
            std::env::var("MSAL_API_SCOPE").unwrap_or_else(|_| format!("api://{client_id}/access_as_user"));
        Ok(Setup {
            authority,
            client_id,
            client_secret,
            http: msal_http(ca.as_deref())?,
            web: web_client(ca.as_deref())?,
            downstream_url: std::env::var("MSAL_DOWNSTREAM_URL").unwrap_or_else(|_| GRAPH_ME.into()),
            api_scope,
            emulator: None,
        })
    }

    async fn emulated(role: Role) -> Result<Setup, Box<dyn std::error::Error>> {
        let mut directory = builtin::directory();
        if role == Role::WebAppWithApi {
            // The built-in API has no redirect URI: give it the web app's.
            let api = directory
                .apps
                .iter_mut()
                .find(|app| app.client_id == builtin::API_CLIENT_ID)
                .ok_or("the emulator has no built-in API")?;
            api.redirect_uris.push(builtin::WEBAPP_REDIRECT_URI.into());
        }
        let emulator = Emulator::start(EmulatorConfig::new(directory)).await?;
        let ca = emulator.ca_cert_pem().as_bytes().to_vec();
        let (client_id, client_secret) = match role {
            Role::PublicClient => (builtin::PUBLIC_CLIENT_ID, None),
            Role::WebApp => (builtin::WEBAPP_CLIENT_ID, Some(builtin::WEBAPP_CLIENT_SECRET)),
            Role::WebApi | Role::WebAppWithApi => (builtin::API_CLIENT_ID, Some(builtin::API_CLIENT_SECRET)),
        };
        eprintln!(
            "No MSAL_AUTHORITY: using the local emulator at {}; sign in as {} / {}",
            emulator.url(),
            builtin::ALICE_UPN,
            builtin::ALICE_PASSWORD
        );
        Ok(Setup {
            authority: emulator.authority(builtin::CONTOSO_TENANT_NAME),
            client_id: client_id.into(),
            client_secret: client_secret.map(Into::into),
            http: msal_http(Some(&ca))?,
            web: web_client(Some(&ca))?,
            // The emulator's protected resource answers like Graph's /me.
            downstream_url: format!("{}/resource/me", emulator.url()),
            api_scope: format!("{}/{}", builtin::API_IDENTIFIER_URI, builtin::API_SCOPES[0]),
            emulator: Some(emulator),
        })
    }

    /// The client secret, or an error naming the variables to set.
    pub(crate) fn secret(&self) -> Result<msal::ClientSecret, Box<dyn std::error::Error>> {
        let secret = self
            .client_secret
            .clone()
            .ok_or("set MSAL_CLIENT_SECRET or MSAL_CLIENT_SECRET_FILE")?;
        Ok(msal::ClientSecret::new(secret))
    }
}

fn msal_http(ca: Option<&[u8]>) -> Result<ReqwestHttpClient, msal::Error> {
    let mut builder = ReqwestHttpClient::builder();
    if let Some(pem) = ca {
        builder = builder.add_root_certificates_pem(pem)?;
    }
    builder.build()
}

fn web_client(ca: Option<&[u8]>) -> Result<reqwest::Client, reqwest::Error> {
    let roots = match ca {
        Some(pem) => reqwest::Certificate::from_pem_bundle(pem)?,
        None => Vec::new(),
    };
    reqwest::Client::builder()
        .tls_certs_merge(roots)
        .timeout(std::time::Duration::from_secs(30))
        .build()
}

/// The port a web example listens on: `PORT`, else `default`.
pub(crate) fn port(default: u16) -> Result<u16, Box<dyn std::error::Error>> {
    match std::env::var("PORT") {
        Ok(port) => Ok(port.parse().map_err(|_| "PORT must be a port number")?),
        Err(_) => Ok(default),
    }
}

/// Listens on `127.0.0.1:PORT` (`PORT`, else `default`; `0` picks a free
/// port) and prints the address on stdout, where the tests read it.
pub(crate) async fn listen(
    default: u16,
) -> Result<(tokio::net::TcpListener, u16), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port(default)?)).await?;
    let port = listener.local_addr()?.port();
    println!("listening on http://localhost:{port}");
    use std::io::Write as _;
    std::io::stdout().flush()?;
    Ok((listener, port))
}

/// The value of the cookie `name` in a request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// A `Set-Cookie` value for a session cookie: unreadable by scripts, not
/// sent on cross-site subrequests. (Add `Secure` when served over HTTPS.)
pub(crate) fn session_cookie(name: &str, value: &str) -> String {
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax")
}

/// A `Set-Cookie` value that deletes the cookie `name`.
pub(crate) fn expired_cookie(name: &str) -> String {
    format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

//! Per-request context: trace id, correlation id, the base URL endpoints
//! are advertised under and the [`Site`] the host names; and the
//! middleware that creates it, echoes Entra's correlation headers and
//! bounds request time.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::middleware::Next;
use axum::response::Response;
use uuid::Uuid;

use crate::error::EntraError;
use crate::server::AppState;
use crate::site::{self, Site};

/// Longest time one request may take, body upload included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest `client-request-id` echoed back; longer ones are ignored.
const MAX_CLIENT_REQUEST_ID_LEN: usize = 128;

/// What every handler knows about the request it serves.
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    /// Entra's `trace_id` (also `x-ms-request-id`), fresh per request.
    pub(crate) trace_id: Uuid,
    /// The client's `client-request-id`, if it sent a usable one.
    pub(crate) client_request_id: Option<String>,
    /// Entra's `correlation_id`: the client's request id, else a fresh GUID.
    pub(crate) correlation_id: String,
    /// `https://host:port` as the client addressed the emulator.
    pub(crate) base_url: String,
    /// What the host addresses (Entra, a B2C or CIAM tenant, AD FS, ...).
    pub(crate) site: Site,
}

impl RequestContext {
    fn new(uri: &Uri, headers: &HeaderMap, state: &AppState) -> RequestContext {
        let client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= MAX_CLIENT_REQUEST_ID_LEN)
            .map(str::to_owned);
        let correlation_id = client_request_id
            .clone()
            .unwrap_or_else(|| Uuid::new_v4().to_string());
        let authority = authority(uri, headers, state);
        let site = Site::of(state.directory(), site::host_of(&authority));
        RequestContext {
            trace_id: Uuid::new_v4(),
            client_request_id,
            correlation_id,
            base_url: format!("https://{authority}"),
            site,
        }
    }

    /// The port part of the base URL (`:PORT`), or empty when the client
    /// dialled 443.
    fn port_suffix(&self) -> &str {
        let authority = self.base_url.trim_start_matches("https://");
        let host = site::host_of(authority);
        &authority[host.len()..]
    }

    /// The v2.0 issuer of tokens for tenant `tenant_id` under this request's
    /// host: `{base}/{tid}/v2.0`, or for a CIAM tenant Entra External ID's
    /// `https://{tid}.ciamlogin.com/{tid}/v2.0` (with this request's port).
    pub(crate) fn issuer(&self, tenant_id: &str) -> String {
        match &self.site {
            Site::Ciam(_) => format!(
                "https://{tenant_id}.ciamlogin.com{}/{tenant_id}/v2.0",
                self.port_suffix()
            ),
            _ => format!("{}/{tenant_id}/v2.0", self.base_url),
        }
    }
}

/// The `host[:port]` from the `Host` header (HTTP/2: the `:authority`)
/// when it names this emulator, so a client using `localhost` gets
/// `localhost` endpoints back; else the emulator's own `127.0.0.1:PORT`.
fn authority(uri: &Uri, headers: &HeaderMap, state: &AppState) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .map(str::to_ascii_lowercase);
    match host {
        Some(host) if state.serves_host(&host) => host,
        _ => state.url.trim_start_matches("https://").to_owned(),
    }
}

impl FromRequestParts<Arc<AppState>> for RequestContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        // The middleware always inserts one; building it here keeps handlers infallible.
        Ok(parts
            .extensions
            .get::<RequestContext>()
            .cloned()
            .unwrap_or_else(|| RequestContext::new(&parts.uri, &parts.headers, state)))
    }
}

/// Creates the [`RequestContext`], enforces the request timeout and adds
/// `x-ms-request-id` and the echoed `client-request-id` to every response.
pub(crate) async fn middleware(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let ctx = RequestContext::new(request.uri(), request.headers(), &state);
    request.extensions_mut().insert(ctx.clone());
    tracing::debug!(
        method = %request.method(),
        path = request.uri().path(),
        trace_id = %ctx.trace_id,
        "request"
    );
    let mut response = match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => EntraError::timeout().to_response(&ctx),
    };
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&ctx.trace_id.to_string()) {
        headers.insert("x-ms-request-id", v);
    }
    if let Some(v) = ctx
        .client_request_id
        .as_deref()
        .and_then(|id| HeaderValue::from_str(id).ok())
    {
        headers.insert("client-request-id", v);
    }
    response
}

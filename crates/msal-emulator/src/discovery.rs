//! Discovery endpoints: the v2.0 OpenID configuration, instance discovery
//! and the JWKS, with Entra's paths and document shapes (also for CIAM
//! tenants on their `ciamlogin.com` hosts).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::context::RequestContext;
use crate::directory::RESERVED_TENANT_SEGMENTS;
use crate::error::EntraError;
use crate::reply;
use crate::server::AppState;
use crate::site::{self, Site};

/// How an authority's tenant segment resolved.
enum TenantSegment {
    /// `common`, `organizations` or `consumers` (lowercased); for
    /// `consumers`, the personal accounts' tenant id when the directory has
    /// that tenant (its issuer is fixed, not a template).
    MultiTenant(&'static str, Option<String>),
    /// A tenant of the directory, by its GUID.
    Tenant(String),
}

impl TenantSegment {
    fn resolve(state: &AppState, ctx: &RequestContext, segment: &str) -> Option<TenantSegment> {
        if let Some(reserved) = RESERVED_TENANT_SEGMENTS
            .iter()
            .find(|r| r.eq_ignore_ascii_case(segment))
        {
            // A CIAM host serves its own tenant only.
            if matches!(ctx.site, Site::Ciam(_)) {
                return None;
            }
            let fixed = (*reserved == "consumers")
                .then(|| state.directory().consumers_tenant().map(|t| t.id.clone()))
                .flatten();
            return Some(TenantSegment::MultiTenant(reserved, fixed));
        }
        site::tenant_at(state.directory(), &ctx.site, segment).map(|t| TenantSegment::Tenant(t.id.clone()))
    }

    /// The path segment endpoints use: Entra's are the tenant GUID.
    fn path(&self) -> &str {
        match self {
            TenantSegment::MultiTenant(s, _) => s,
            TenantSegment::Tenant(id) => id,
        }
    }

    /// The issuer; multi-tenant documents carry Entra's `{tenantid}`
    /// template, except `consumers`, whose tokens all come from one tenant.
    fn issuer(&self, ctx: &RequestContext) -> String {
        match self {
            TenantSegment::MultiTenant(_, Some(id)) | TenantSegment::Tenant(id) => ctx.issuer(id),
            TenantSegment::MultiTenant(_, None) => ctx.issuer("{tenantid}"),
        }
    }
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub(crate) async fn openid_configuration(
    State(state): State<Arc<AppState>>,
    ctx: RequestContext,
    Path(tenant): Path<String>,
) -> Response {
    let Some(segment) = TenantSegment::resolve(&state, &ctx, &tenant) else {
        return with_cors(EntraError::invalid_tenant(&tenant).to_response(&ctx));
    };
    let base = &ctx.base_url;
    let t = segment.path();
    let region = match segment {
        TenantSegment::MultiTenant(..) => serde_json::Value::Null,
        TenantSegment::Tenant(_) => json!("NA"),
    };
    let body = json!({
        "token_endpoint": format!("{base}/{t}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported":
            ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{t}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": segment.issuer(&ctx),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "authorization_endpoint": format!("{base}/{t}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{t}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{t}/oauth2/v2.0/logout"),
        "claims_supported": [
            "sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
            "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time",
            "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash",
            "c_hash", "email"
        ],
        "kerberos_endpoint": format!("{base}/{t}/kerberos"),
        "tenant_region_scope": region,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    });
    cacheable(reply::json(StatusCode::OK, &body))
}

/// The headers Entra sends with its discovery documents and keys: any
/// origin may read them (single-page apps fetch them cross-origin), and
/// caches may keep them a day.
fn with_cors(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, OPTIONS"),
    );
    response
}

/// A discovery document or key set: [`with_cors`], cacheable for a day by
/// the client only (`private`), as Entra sends them.
fn cacheable(response: Response) -> Response {
    let mut response = with_cors(response);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=86400, private"),
    );
    response
}

/// `OPTIONS` on the discovery documents and keys: a CORS preflight, allowed
/// for any origin.
pub(crate) async fn preflight() -> Response {
    with_cors(StatusCode::OK.into_response())
}

/// `GET /{tenant}/discovery/v2.0/keys` (and the v1 `/{tenant}/discovery/keys`).
pub(crate) async fn jwks(
    State(state): State<Arc<AppState>>,
    ctx: RequestContext,
    Path(tenant): Path<String>,
) -> Response {
    let Some(segment) = TenantSegment::resolve(&state, &ctx, &tenant) else {
        return with_cors(EntraError::invalid_tenant(&tenant).to_response(&ctx));
    };
    let body = state.signing_keys.jwks(&segment.issuer(&ctx));
    cacheable(reply::json(StatusCode::OK, &body))
}

/// `GET /{tenant}/discovery/instance?api-version=1.1&authorization_endpoint=…`.
pub(crate) async fn instance_discovery(
    State(state): State<Arc<AppState>>,
    ctx: RequestContext,
    RawQuery(query): RawQuery,
) -> Response {
    match discover_instance(&state, query.as_deref().unwrap_or("")) {
        Ok(body) => reply::json(StatusCode::OK, &body),
        Err(e) => e.to_response(&ctx),
    }
}

fn discover_instance(state: &AppState, query: &str) -> Result<serde_json::Value, EntraError> {
    let mut api_version = None;
    let mut authorization_endpoint = None;
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "api-version" => api_version = Some(value.into_owned()),
            "authorization_endpoint" => authorization_endpoint = Some(value.into_owned()),
            _ => {}
        }
    }
    match api_version.as_deref() {
        None | Some("") => return Err(EntraError::missing_parameter("api-version")),
        Some("1.0" | "1.1") => {}
        Some(other) => return Err(EntraError::unsupported_api_version(other)),
    }
    let endpoint = authorization_endpoint.ok_or_else(EntraError::invalid_instance)?;
    let url = url::Url::parse(&endpoint).map_err(|_| EntraError::invalid_instance())?;
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    let tenant = url
        .path_segments()
        .and_then(|mut s| s.next())
        .filter(|t| !t.is_empty())
        .ok_or_else(EntraError::invalid_instance)?;
    if url.scheme() != "https" {
        return Err(EntraError::invalid_instance());
    }
    // The clouds' names (served when a client's resolver sends them here)
    // keep the form the client used, and get every cloud's aliases, as
    // Entra's document lists them.
    let cloud_port = url.port().filter(|p| *p == state.port);
    if (url.port().is_none() || cloud_port.is_some())
        && (crate::clouds::is_cloud_host(&host) || crate::regional::region_of(&host).is_some())
    {
        let authority = match cloud_port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        return Ok(json!({
            "tenant_discovery_endpoint":
                format!("https://{authority}/{tenant}/v2.0/.well-known/openid-configuration"),
            "api-version": "1.1",
            "metadata": crate::clouds::metadata(),
        }));
    }
    // MSAL Python sends its `instance` (the host without the port), so a
    // port-less loopback host means this emulator's port.
    let port = url.port().unwrap_or(state.port);
    let authority_host = format!("{host}:{port}");
    // Only loopback is left: B2C, CIAM and AD FS hosts are not Entra
    // instances (clients skip instance discovery for them), and Entra
    // answers `invalid_instance` for them as for any unknown host.
    if !(host == "127.0.0.1" || host == "localhost") || !state.serves_host(&authority_host) {
        return Err(EntraError::invalid_instance());
    }
    Ok(json!({
        "tenant_discovery_endpoint":
            format!("https://{authority_host}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": "127.0.0.1",
            "preferred_cache": "127.0.0.1",
            // Host names without the port, as MSAL's cache `environment` is.
            "aliases": ["127.0.0.1", "localhost"],
        }],
    }))
}

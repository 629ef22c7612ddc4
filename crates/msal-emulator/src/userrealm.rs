//! User realm discovery: `GET /{tenant}/userrealm/{username}?api-version=1.0`
//! tells a client whether the user's domain is managed (Entra checks the
//! password), federated (sign in at the federation server with WS-Trust)
//! or unknown. Entra answers per domain, whether or not the user exists.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use crate::context::RequestContext;
use crate::federation;
use crate::reply;
use crate::server::AppState;

/// Longest user name looked at; longer ones are simply unknown.
const MAX_USERNAME_LEN: usize = 256;

/// `GET /{tenant}/userrealm/{username}` (any tenant segment; MSAL uses `common`).
pub(crate) async fn user_realm(
    State(state): State<Arc<AppState>>,
    ctx: RequestContext,
    Path((_tenant, username)): Path<(String, String)>,
) -> Response {
    reply::json(StatusCode::OK, &realm(&state, &ctx.base_url, &username))
}

fn realm(state: &AppState, base_url: &str, username: &str) -> Value {
    let domain = username
        .rsplit_once('@')
        .map(|(_, d)| d)
        .filter(|d| !d.is_empty() && username.len() <= MAX_USERNAME_LEN);
    let tenant = domain.and_then(|d| state.directory().tenant_of_domain(d).map(|t| (d, t)));
    match tenant {
        None => json!({
            "ver": "1.0",
            "account_type": "Unknown",
            "cloud_instance_name": "microsoftonline.com",
        }),
        Some((domain, tenant)) if tenant.is_federated_domain(domain) => json!({
            "ver": "1.0",
            "account_type": "Federated",
            "domain_name": domain.to_ascii_lowercase(),
            "federation_protocol": "WSTrust",
            "federation_metadata_url": format!("{base_url}{}", federation::MEX_PATH),
            "federation_active_auth_url": format!("{base_url}{}", federation::TRUST_2005_PATH),
            "cloud_instance_name": "microsoftonline.com",
            "cloud_audience_urn": saml_audience(),
        }),
        Some((domain, _)) => json!({
            "ver": "1.0",
            "account_type": "Managed",
            "domain_name": domain.to_ascii_lowercase(),
            "cloud_instance_name": "microsoftonline.com",
            "cloud_audience_urn": saml_audience(),
        }),
    }
}

fn saml_audience() -> &'static str {
    federation::saml::MICROSOFT_ONLINE
}

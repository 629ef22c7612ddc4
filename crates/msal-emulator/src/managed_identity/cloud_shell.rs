//! Cloud Shell's identity endpoint: `POST /oauth2/token` with the form
//! `resource=R` and `Metadata: true`.
//!
//! Cloud Shell runs as the portal user who opened it, so its token is a
//! delegated (user) token: for the first user of the tenant the directory's
//! managed identities live in (the built-in directory: Alice, in Contoso),
//! or the directory's first user if it has no managed identity; `appid` is
//! [`CLOUD_SHELL_CLIENT_ID`](crate::builtin::CLOUD_SHELL_CLIENT_ID), `scp`
//! `user_impersonation`, lifetime the directory's token lifetime.
//!
//! Success: `{"access_token", "refresh_token": "", "expires_in": "3599",
//! "expires_on": "<epoch>", "not_before": "<epoch>", "resource",
//! "token_type": "Bearer"}`. Errors are `{"error", "error_description"}`,
//! 400: `invalid_request` for no metadata header, a body that is not a
//! form, no resource, or a user-assigned identity parameter (`client_id`,
//! `object_id`, `msi_res_id`, `mi_res_id`, in the query or the form: Cloud
//! Shell has no user-assigned identities, and MSALs refuse them before
//! asking); `invalid_resource` (AADSTS500011) for an unknown resource.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::post;
use serde::Serialize;
use serde_json::json;

use super::{ManagedIdentitySource, Query, Shape};
use crate::context::RequestContext;
use crate::directory::User;
use crate::reply;
use crate::server::AppState;
use crate::stats::Endpoint;
use crate::token::issue::pairwise_subject;

/// The endpoint's path (`MSI_ENDPOINT` names it).
pub(crate) const PATH: &str = "/oauth2/token";

/// Parameters naming a user-assigned identity, which Cloud Shell refuses.
const USER_ASSIGNED_PARAMS: [&str; 4] = ["client_id", "object_id", "msi_res_id", "mi_res_id"];

/// Claims of Cloud Shell's delegated access token.
#[derive(Debug, Serialize)]
struct CloudShellClaims<'a> {
    aud: &'a str,
    iss: String,
    iat: u64,
    nbf: u64,
    exp: u64,
    acr: &'static str,
    amr: [&'static str; 1],
    appid: &'static str,
    appidacr: &'static str,
    azp: &'static str,
    azpacr: &'static str,
    idtyp: &'static str,
    name: &'a str,
    oid: &'a str,
    preferred_username: &'a str,
    scp: &'static str,
    sub: String,
    tid: &'a str,
    unique_name: &'a str,
    upn: &'a str,
    uti: String,
    ver: &'static str,
}

/// Cloud Shell's routes.
pub(crate) fn routes(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new().route(
        PATH,
        super::route(state, Endpoint::CloudShell, "POST", post(token)),
    )
}

/// The user signed in to Cloud Shell (see the module docs).
fn signed_in_user(state: &AppState) -> Option<&User> {
    let directory = state.directory();
    let tenant = directory
        .system_assigned_identity()
        .or_else(|| directory.managed_identities.first())
        .and_then(|mi| directory.tenant(&mi.tenant));
    match tenant {
        Some(tenant) => directory.users.iter().find(|u| tenant.is_named(&u.tenant)),
        None => directory.users.first(),
    }
}

/// `POST /oauth2/token`.
async fn token(
    State(state): State<Arc<AppState>>,
    ctx: RequestContext,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let error = |code: &str, message: &str| Shape::OAuth.error(&ctx, StatusCode::BAD_REQUEST, code, message);
    let bad = |message: &str| error("invalid_request", message);
    if !super::has_metadata_header(&headers) {
        return bad("Required metadata header not specified");
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !is_form {
        return bad("The request body must be application/x-www-form-urlencoded");
    }
    let form = Query::from_form(&body);
    let query = Query::parse(&uri);
    if let Some(name) = USER_ASSIGNED_PARAMS
        .iter()
        .find(|name| form.first(name).is_some() || query.first(name).is_some())
    {
        return bad(&format!(
            "Cloud Shell does not support user-assigned managed identities ('{name}' was given)"
        ));
    }
    let resource = match form.required("resource") {
        Ok(resource) => resource,
        Err(e) => return bad(&e.to_string().replace("query variable", "form parameter")),
    };
    let Some(user) = signed_in_user(&state) else {
        return bad("No user is signed in to Cloud Shell: the directory has no users");
    };
    let Some(tenant) = state.directory().tenant(&user.tenant) else {
        return bad("The signed-in user's tenant does not exist");
    };
    if !super::resource_exists(&state, resource, tenant) {
        return error(
            "invalid_resource",
            &super::unknown_resource_message(resource, tenant.shown_name()),
        );
    }
    // After a session revocation, a fresh token must pass the resource's check.
    let now = state.clock.now();
    let now = state
        .revocations
        .revoked_at(&user.upn)
        .map_or(now, |r| now.max(r));
    let lifetime = state.directory().token_lifetime_secs;
    let exp = now.saturating_add(lifetime);
    let name = if user.display_name.is_empty() {
        &user.upn
    } else {
        &user.display_name
    };
    let client_id = crate::builtin::CLOUD_SHELL_CLIENT_ID;
    let claims = CloudShellClaims {
        aud: resource,
        iss: format!("{}/{}/v2.0", state.url, tenant.id),
        iat: now,
        nbf: now,
        exp,
        acr: "1",
        amr: ["pwd"],
        appid: client_id,
        appidacr: "0",
        azp: client_id,
        azpacr: "0",
        idtyp: "user",
        name,
        oid: &user.object_id,
        preferred_username: &user.upn,
        scp: "user_impersonation",
        sub: pairwise_subject(&user.object_id, client_id),
        tid: &tenant.id,
        unique_name: &user.upn,
        upn: &user.upn,
        uti: super::unique_token_id(),
        ver: "2.0",
    };
    let access_token = match state.signing_keys.sign(&claims) {
        Ok(token) => token,
        Err(e) => {
            tracing::error!(error = %e, "signing a Cloud Shell token failed");
            return super::imds::signing_failed(&ctx);
        }
    };
    tracing::info!(user = %user.upn, audience = resource, "issued Cloud Shell token");
    let body = json!({
        "access_token": access_token,
        "refresh_token": "",
        "expires_in": lifetime.to_string(),
        "expires_on": exp.to_string(),
        "not_before": now.to_string(),
        "resource": resource,
        "token_type": "Bearer",
    });
    super::logged(
        ManagedIdentitySource::CloudShell,
        Some(client_id),
        reply::json_no_store(StatusCode::OK, &body),
    )
}

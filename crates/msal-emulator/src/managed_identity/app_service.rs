//! App Service's (and Functions', Automation's) identity endpoint:
//! `GET /msi/token?api-version=2019-08-01&resource=R[&client_id=…|mi_res_id=…|object_id=…]`
//! with `X-IDENTITY-HEADER: $IDENTITY_HEADER` (a random secret per start).
//!
//! Success: `{"access_token", "expires_on": "<epoch>", "resource",
//! "token_type": "Bearer", "client_id"}`. Errors are
//! `{"statusCode": n, "message"}`: 401 for a missing or wrong identity
//! header, 400 for a missing or other api-version, no resource, more than
//! one id parameter, an unknown identity or resource.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use super::{IdKind, IssueError, ManagedIdentitySource, Query, Shape};
use crate::context::RequestContext;
use crate::reply;
use crate::server::AppState;
use crate::stats::Endpoint;

/// The endpoint's path (`IDENTITY_ENDPOINT` names it).
pub(crate) const PATH: &str = "/msi/token";

/// The api-version MSAL sends.
const API_VERSION: &str = "2019-08-01";

/// The header carrying `IDENTITY_HEADER`.
const SECRET_HEADER: &str = "x-identity-header";

/// The id parameters App Service reads.
const ID_PARAMS: [(&str, IdKind); 3] = [
    ("client_id", IdKind::Client),
    ("mi_res_id", IdKind::Resource),
    ("object_id", IdKind::Object),
];

/// App Service's routes.
pub(crate) fn routes(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new().route(PATH, super::route(state, Endpoint::AppService, "GET", get(token)))
}

/// `GET /msi/token`.
async fn token(State(state): State<Arc<AppState>>, ctx: RequestContext, request: Request) -> Response {
    let error = |status: StatusCode, message: &str| Shape::AppService.error(&ctx, status, "", message);
    let bad = |message: &str| error(StatusCode::BAD_REQUEST, message);
    let Some(hosts) = super::hosts(&state) else {
        return super::not_enabled(&ctx, Shape::AppService);
    };
    if !super::header_matches(request.headers(), SECRET_HEADER, &hosts.app_service_secret) {
        return error(
            StatusCode::UNAUTHORIZED,
            "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.",
        );
    }
    let query = Query::parse(request.uri());
    match query.required("api-version") {
        Err(e) => return bad(&e.to_string()),
        Ok(API_VERSION) => {}
        Ok(other) => {
            return bad(&format!(
                "api-version '{other}' is not supported; use {API_VERSION}."
            ));
        }
    }
    let resource = match query.required("resource") {
        Ok(resource) => resource,
        Err(e) => return bad(&e.to_string()),
    };
    let identity = match super::select(&state, &query, &ID_PARAMS) {
        Ok(identity) => identity,
        Err(e) => return bad(&format!("Unable to load the proper Managed Identity. {e}.")),
    };
    let issued = match super::issue(&state, hosts, identity, resource, &[]) {
        Ok(issued) => issued,
        Err(IssueError::UnknownResource(message)) => return bad(&message),
        Err(IssueError::Signing) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The token could not be signed.",
            );
        }
    };
    let body = json!({
        "access_token": issued.access_token,
        "expires_on": issued.expires_on.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": identity.client_id,
    });
    super::logged(
        ManagedIdentitySource::AppService,
        Some(&identity.client_id),
        reply::json_no_store(StatusCode::OK, &body),
    )
}

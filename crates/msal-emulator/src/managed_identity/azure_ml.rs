//! Azure Machine Learning's identity endpoint:
//! `GET /msi/auth?api-version=2017-09-01&resource=R[&clientid=ID]` with
//! `secret: $MSI_SECRET` (a random secret per start).
//!
//! Success: `{"access_token", "expires_in": n, "expires_on": "<epoch>",
//! "resource", "token_type": "Bearer"}` (`expires_in` a number). `clientid`
//! selects an identity by client id; MSAL .NET and Node also send it for
//! the system-assigned identity (`DEFAULT_IDENTITY_CLIENT_ID`), which works
//! as well. Errors are `{"error", "error_description"}`: 401 `unauthorized`
//! for a missing or wrong secret; 400 `invalid_request` for a missing or
//! other api-version, no resource, an empty or repeated `clientid`; 404
//! `not_found` for an unknown identity; 400 `invalid_resource` for an
//! unknown resource.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

use super::{IdKind, IssueError, ManagedIdentitySource, Query, SelectError, Shape};
use crate::context::RequestContext;
use crate::reply;
use crate::server::AppState;
use crate::stats::Endpoint;

/// The endpoint's path (`MSI_ENDPOINT` names it).
pub(crate) const PATH: &str = "/msi/auth";

/// The api-version MSAL sends.
const API_VERSION: &str = "2017-09-01";

/// The header carrying `MSI_SECRET`.
const SECRET_HEADER: &str = "secret";

/// Azure ML's routes.
pub(crate) fn routes(state: &Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new().route(PATH, super::route(state, Endpoint::AzureMl, "GET", get(token)))
}

/// `GET /msi/auth`.
async fn token(State(state): State<Arc<AppState>>, ctx: RequestContext, request: Request) -> Response {
    let error =
        |status: StatusCode, code: &str, message: &str| Shape::OAuth.error(&ctx, status, code, message);
    let bad = |message: &str| error(StatusCode::BAD_REQUEST, "invalid_request", message);
    let Some(hosts) = super::hosts(&state) else {
        return super::not_enabled(&ctx, Shape::OAuth);
    };
    if !super::header_matches(request.headers(), SECRET_HEADER, &hosts.azure_ml_secret) {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "The secret header is missing or does not match MSI_SECRET.",
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
    let identity = match super::select(&state, &query, &[("clientid", IdKind::Client)]) {
        Ok(identity) => identity,
        Err(e @ SelectError::NotFound(_)) => {
            return error(StatusCode::NOT_FOUND, "not_found", &e.to_string());
        }
        Err(e) => return bad(&e.to_string()),
    };
    let issued = match super::issue(&state, hosts, identity, resource, &[]) {
        Ok(issued) => issued,
        Err(IssueError::UnknownResource(message)) => {
            return error(StatusCode::BAD_REQUEST, "invalid_resource", &message);
        }
        Err(IssueError::Signing) => return super::imds::signing_failed(&ctx),
    };
    let body = json!({
        "access_token": issued.access_token,
        "expires_in": issued.expires_in,
        "expires_on": issued.expires_on.to_string(),
        "resource": resource,
        "token_type": "Bearer",
    });
    super::logged(
        ManagedIdentitySource::AzureMl,
        Some(&identity.client_id),
        reply::json_no_store(StatusCode::OK, &body),
    )
}

//! The v2.0 token endpoint: reads the form, resolves the tenant and
//! dispatches on `grant_type`.
//!
//! Each grant lives in its own submodule and returns either a token response
//! or an [`EntraError`]; adding a grant is a new [`GrantType`] variant, a
//! module and one match arm.

mod client_auth;
mod client_credentials;
mod form;
mod issue;

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::context::RequestContext;
use crate::directory::Tenant;
use crate::error::EntraError;
use crate::reply;
use crate::server::AppState;

use form::TokenForm;

/// The grants the token endpoint implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GrantType {
    /// `client_credentials`: an app token for a daemon.
    ClientCredentials,
}

impl GrantType {
    fn parse(value: &str) -> Option<GrantType> {
        match value {
            "client_credentials" => Some(GrantType::ClientCredentials),
            _ => None,
        }
    }
}

/// Everything a grant handler needs about one token request.
pub(crate) struct TokenRequest<'a> {
    pub(crate) state: &'a AppState,
    pub(crate) ctx: &'a RequestContext,
    pub(crate) tenant: &'a Tenant,
    pub(crate) form: &'a TokenForm,
    pub(crate) headers: &'a HeaderMap,
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) async fn token_endpoint(
    State(state): State<Arc<AppState>>,
    ctx: RequestContext,
    Path(tenant): Path<String>,
    request: Request,
) -> Response {
    match handle(&state, &ctx, &tenant, request).await {
        Ok(body) => reply::json_no_store(StatusCode::OK, &body),
        Err(e) => e.to_response(&ctx),
    }
}

async fn handle(
    state: &AppState,
    ctx: &RequestContext,
    tenant: &str,
    request: Request,
) -> Result<Value, EntraError> {
    let tenant = state
        .directory
        .tenant(tenant)
        .ok_or_else(|| EntraError::token_tenant_not_found(tenant))?;
    let (parts, body) = request.into_parts();
    let form = TokenForm::read(&parts.headers, body).await?;
    let grant_type = form.required("grant_type")?;
    let grant = GrantType::parse(grant_type).ok_or_else(|| EntraError::unsupported_grant_type(grant_type))?;
    let request = TokenRequest {
        state,
        ctx,
        tenant,
        form: &form,
        headers: &parts.headers,
    };
    match grant {
        GrantType::ClientCredentials => client_credentials::grant(&request),
    }
}

//! The v2.0 token endpoint: reads the form, resolves the tenant and
//! dispatches on `grant_type`.
//!
//! Each grant lives in its own submodule and returns either a token response
//! or an [`EntraError`]; adding a grant is a new [`GrantType`] variant, a
//! module and one match arm.

pub(crate) mod assertion;
pub(crate) mod authorization_code;
mod client_auth;
mod client_credentials;
mod device_code;
pub(crate) mod form;
pub(crate) mod issue;
pub(crate) mod issued_token;
mod on_behalf_of;
mod password;
mod refresh_token;
mod saml_bearer;
mod user_fic;

pub(crate) use client_auth::constant_time_eq;
pub(crate) use issue::client_info;

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::claims::ClaimsRequest;
use crate::context::RequestContext;
use crate::directory::{Tenant, User};
use crate::error::EntraError;
use crate::federation::saml::SamlVersion;
use crate::reply;
use crate::server::{AccessDetails, AppState};

use form::TokenForm;

/// The grants the token endpoint implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GrantType {
    /// `client_credentials`: an app token for a daemon.
    ClientCredentials,
    /// `authorization_code`: redeems a code from the authorize endpoint.
    AuthorizationCode,
    /// `refresh_token`: new tokens for a signed-in user.
    RefreshToken,
    /// `urn:ietf:params:oauth:grant-type:device_code`: polls a device code.
    DeviceCode,
    /// `password`: a managed user's name and password (ROPC).
    Password,
    /// `urn:ietf:params:oauth:grant-type:saml1_1-bearer`: a SAML 1.1
    /// assertion from the federation server.
    Saml11Bearer,
    /// `urn:ietf:params:oauth:grant-type:saml2-bearer`: a SAML 2.0
    /// assertion from the federation server.
    Saml2Bearer,
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer` with
    /// `requested_token_use=on_behalf_of`: a web API acting for its caller.
    OnBehalfOf,
    /// `user_fic`: a user's tokens for an app's federated identity credential.
    UserFic,
}

impl GrantType {
    fn parse(value: &str) -> Option<GrantType> {
        match value {
            "client_credentials" => Some(GrantType::ClientCredentials),
            "authorization_code" => Some(GrantType::AuthorizationCode),
            "refresh_token" => Some(GrantType::RefreshToken),
            device_code::GRANT_TYPE => Some(GrantType::DeviceCode),
            "password" => Some(GrantType::Password),
            "urn:ietf:params:oauth:grant-type:saml1_1-bearer" => Some(GrantType::Saml11Bearer),
            "urn:ietf:params:oauth:grant-type:saml2-bearer" => Some(GrantType::Saml2Bearer),
            on_behalf_of::GRANT_TYPE => Some(GrantType::OnBehalfOf),
            user_fic::GRANT_TYPE => Some(GrantType::UserFic),
            _ => None,
        }
    }

    /// The grant's wire value.
    fn wire(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::DeviceCode => device_code::GRANT_TYPE,
            GrantType::Password => "password",
            GrantType::Saml11Bearer => "urn:ietf:params:oauth:grant-type:saml1_1-bearer",
            GrantType::Saml2Bearer => "urn:ietf:params:oauth:grant-type:saml2-bearer",
            GrantType::OnBehalfOf => on_behalf_of::GRANT_TYPE,
            GrantType::UserFic => user_fic::GRANT_TYPE,
        }
    }
}

/// What the access log shows of a token request's grant: its wire value
/// when it is one the endpoint knows, `unsupported` otherwise (the value
/// sent is not repeated), nothing when none was sent.
pub(crate) fn logged_grant(grant_type: Option<&str>) -> Option<&'static str> {
    grant_type.map(|g| GrantType::parse(g).map_or("unsupported", GrantType::wire))
}

/// Everything a grant handler needs about one token request.
pub(crate) struct TokenRequest<'a> {
    pub(crate) state: &'a AppState,
    pub(crate) ctx: &'a RequestContext,
    /// The authority's tenant; `None` for `common` and `organizations`,
    /// where the user's home tenant (from the grant) is used.
    pub(crate) tenant: Option<&'a Tenant>,
    /// Whether the authority is `organizations`: work and school accounts only.
    pub(crate) organizations: bool,
    pub(crate) form: &'a TokenForm,
    pub(crate) headers: &'a HeaderMap,
    /// The request's `claims` parameter, parsed.
    pub(crate) claims: ClaimsRequest,
    /// How the client authenticated, once it has (tokens' `azpacr`/`appidacr`).
    pub(crate) client_acr: std::cell::Cell<issue::ClientAcr>,
    /// The client certificate (DER) of an mTLS request (see [`crate::mtls`]).
    pub(crate) tls_client_certificate: Option<&'a [u8]>,
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) async fn token_endpoint(
    State(state): State<Arc<AppState>>,
    ctx: RequestContext,
    Path(tenant): Path<String>,
    request: Request,
) -> Response {
    serve(&state, &ctx, &tenant, request, None).await
}

/// Serves one token request, arrived over mTLS with `tls_client_certificate`
/// (see [`crate::mtls`]) or over plain TLS.
pub(crate) async fn serve(
    state: &AppState,
    ctx: &RequestContext,
    tenant: &str,
    request: Request,
    tls_client_certificate: Option<&[u8]>,
) -> Response {
    let mut details = AccessDetails::default();
    let response = match handle(state, ctx, tenant, request, tls_client_certificate, &mut details).await {
        Ok(body) => reply::json_no_store(StatusCode::OK, &body),
        Err(e) => e.to_response(ctx),
    };
    details.attach(response)
}

/// Serves one token request; fills `details` for the access log as soon as
/// the form is read (grant type and client id, whatever the outcome).
async fn handle(
    state: &AppState,
    ctx: &RequestContext,
    tenant: &str,
    request: Request,
    tls_client_certificate: Option<&[u8]>,
    details: &mut AccessDetails,
) -> Result<Value, EntraError> {
    let organizations = tenant.eq_ignore_ascii_case("organizations");
    let tenant = if is_multi_tenant(tenant) && !matches!(ctx.site, crate::site::Site::Ciam(_)) {
        None
    } else {
        Some(
            crate::site::tenant_at(state.directory(), &ctx.site, tenant)
                .ok_or_else(|| EntraError::token_tenant_not_found(tenant))?,
        )
    };
    let (parts, body) = request.into_parts();
    let form = TokenForm::read(&parts.headers, body).await?;
    let basic_id = match form.get("client_id") {
        Some(_) => None,
        None => client_auth::basic_client_id(&parts.headers),
    };
    *details = AccessDetails::new(
        logged_grant(form.get("grant_type")),
        form.get("client_id").or(basic_id.as_deref()),
    );
    let grant_type = form.required("grant_type")?;
    state.stats.record_grant(grant_type);
    let grant = GrantType::parse(grant_type).ok_or_else(|| EntraError::unsupported_grant_type(grant_type))?;
    let request = TokenRequest {
        state,
        ctx,
        tenant,
        organizations,
        form: &form,
        headers: &parts.headers,
        claims: ClaimsRequest::parse(form.get("claims"))?,
        client_acr: std::cell::Cell::default(),
        tls_client_certificate,
    };
    // mTLS PoP: only at the mTLS endpoint, which issues nothing else.
    let token_type = form.get("token_type");
    match tls_client_certificate {
        Some(_) => crate::mtls::check_request(grant_type, token_type)?,
        None if token_type.is_some_and(|t| t.eq_ignore_ascii_case(crate::mtls::TOKEN_TYPE)) => {
            return Err(EntraError::malformed(
                "mtls_pop tokens are issued at the mTLS endpoint only.",
            ));
        }
        None => {}
    }
    // Signed-request PoP: read before the grant, bound to the issued token after.
    let pop = match tls_client_certificate {
        Some(_) => None,
        None => crate::pop::requested(&form)?,
    };
    let issued = match grant {
        GrantType::ClientCredentials => client_credentials::grant(&request),
        GrantType::AuthorizationCode => authorization_code::grant(&request),
        GrantType::RefreshToken => refresh_token::grant(&request),
        GrantType::DeviceCode => device_code::grant(&request),
        GrantType::Password => password::grant(&request),
        GrantType::Saml11Bearer => saml_bearer::grant(&request, SamlVersion::V1_1),
        GrantType::Saml2Bearer => saml_bearer::grant(&request, SamlVersion::V2_0),
        GrantType::OnBehalfOf => on_behalf_of::grant(&request),
        GrantType::UserFic => user_fic::grant(&request),
    }?;
    match tls_client_certificate {
        Some(certificate) => crate::mtls::bind(state, certificate, issued),
        None => crate::pop::bind(state, pop.as_ref(), issued),
    }
}

/// Whether a tenant segment is `common` or `organizations`: the signed-in
/// user's home tenant is meant. (`consumers` names the personal accounts'
/// tenant, see [`crate::site::tenant_at`].)
pub(crate) fn is_multi_tenant(segment: &str) -> bool {
    segment.eq_ignore_ascii_case("common") || segment.eq_ignore_ascii_case("organizations")
}

impl TokenRequest<'_> {
    /// Issues user tokens honouring this request's `claims` (`xms_cc`,
    /// `nbf`); every user grant issues through here.
    fn user_tokens(&self, t: &issue::UserTokens<'_>) -> Result<Value, EntraError> {
        // SSH certificates (`token_type=ssh-cert`): see crate::ssh.
        if let Some(ssh) = crate::ssh::SshRequest::read(self.form, t.scopes)? {
            let t = issue::UserTokens {
                scopes: ssh.user_scopes(),
                ..*t
            };
            let body = issue::user_tokens_with_claims(
                self.state,
                self.ctx,
                &t,
                &self.claims,
                self.client_acr.get(),
            )?;
            return ssh.certify(&self.state.ssh_ca, &t.user.upn, self.state.clock.now(), body);
        }
        issue::user_tokens_with_claims(self.state, self.ctx, t, &self.claims, self.client_acr.get())
    }

    /// Refuses a personal account's grant at `organizations`, and a work
    /// account's at `consumers`, as Entra does.
    fn check_audience(&self, user: &User, home: &Tenant) -> Result<(), EntraError> {
        let personal = home.kind == crate::directory::TenantKind::Consumers;
        if personal && self.organizations {
            return Err(EntraError::personal_account_not_supported(&user.upn));
        }
        if let Some(t) = self.tenant
            && t.kind == crate::directory::TenantKind::Consumers
            && !personal
        {
            return Err(EntraError::work_account_at_consumers(&user.upn));
        }
        Ok(())
    }

    /// The home tenant of a user named by the grant itself (password,
    /// assertion), checked against the authority's tenant as the sign-in
    /// page checks it.
    fn user_home(&self, user: &User) -> Result<&Tenant, EntraError> {
        let home = self
            .state
            .directory()
            .tenant(&user.tenant)
            .ok_or_else(|| EntraError::invalid_grant("The user's tenant no longer exists."))?;
        self.check_audience(user, home)?;
        match self.tenant {
            Some(t) if t.id != home.id => {
                let client_id = self.form.get("client_id").unwrap_or("");
                Err(EntraError::user_not_in_tenant(
                    &user.upn,
                    t.shown_name(),
                    client_id,
                ))
            }
            _ => Ok(home),
        }
    }

    /// The user's home tenant, checked against the authority's tenant: a
    /// grant issued in one tenant cannot be redeemed at another.
    fn user_tenant(&self, tenant_id: &str) -> Result<&Tenant, EntraError> {
        if self.tenant.is_some_and(|t| !t.id.eq_ignore_ascii_case(tenant_id)) {
            return Err(EntraError::invalid_grant(
                "The grant was issued in another tenant than the one in the request.",
            ));
        }
        let tenant = self
            .state
            .directory()
            .tenant(tenant_id)
            .ok_or_else(|| EntraError::invalid_grant("The grant's tenant no longer exists."))?;
        if self.organizations && tenant.kind == crate::directory::TenantKind::Consumers {
            return Err(EntraError::invalid_grant(
                "The grant was issued to a personal Microsoft account, which the organizations authority does not serve.",
            ));
        }
        Ok(tenant)
    }
}

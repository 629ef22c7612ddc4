//! Azure AD B2C: a B2C tenant's user flows on `{name}.b2clogin.com`, with
//! B2C's paths (`/{tenant}/{policy}/v2.0/.well-known/openid-configuration`,
//! `/{tenant}/{policy}/oauth2/v2.0/authorize|token`,
//! `/{tenant}/{policy}/discovery/v2.0/keys`), its sign-in page (local
//! accounts by email and password, and a button per external identity
//! provider, see [`social`]), its `AADB2C` errors, and its token shapes:
//! `iss` `https://{host}/{tenant id}/v2.0/`, `tfp` = the policy, `sub` =
//! the object id, `idp` for social accounts, and `client_info` with uid
//! `{oid}-{policy lowercased}` and utid the tenant id. Refresh tokens are
//! good at the policy that issued them only.

pub(crate) mod social;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::authorize::page::{self, escape};
use crate::authorize::{Reply, ResponseMode, redirect_matches};
use crate::context::RequestContext;
use crate::directory::{App, AppKind, Resource, Tenant, User};
use crate::reply;
use crate::scopes::Scopes;
use crate::server::{AccessDetails, AppState, counted};
use crate::site::Site;
use crate::stats::Endpoint;
use crate::store::{self, AuthCode, Realm, RefreshGrant};
use crate::token::authorization_code::{CODE_LIFETIME_SECS, s256};
use crate::token::constant_time_eq;
use crate::token::form::TokenForm;
use crate::token::issue::{self, shown_name};

/// B2C's default refresh token lifetime (14 days).
const REFRESH_TOKEN_LIFETIME_SECS: u64 = 14 * 86_400;

/// The B2C site's routes.
pub(crate) fn router(state: &Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/{tenant}/{policy}/v2.0/.well-known/openid-configuration",
            counted(
                state,
                Endpoint::OpenIdConfiguration,
                "GET",
                get(openid_configuration),
            ),
        )
        .route(
            "/{tenant}/{policy}/discovery/v2.0/keys",
            counted(state, Endpoint::Jwks, "GET", get(jwks)),
        )
        .route(
            "/{tenant}/{policy}/oauth2/v2.0/authorize",
            counted(
                state,
                Endpoint::Authorize,
                "GET or POST",
                get(authorize).post(authorize),
            ),
        )
        .route(
            "/{tenant}/{policy}/oauth2/v2.0/token",
            counted(state, Endpoint::Token, "POST", post(token)),
        )
        .route(
            "/{tenant}/oauth2/authresp",
            counted(state, Endpoint::Authorize, "GET", get(social::authresp)),
        )
        .fallback(not_found)
        .with_state(state.clone())
}

/// A B2C error: OAuth `error`, `AADB2C` code and message.
#[derive(Debug, Clone)]
pub(crate) struct B2cError {
    status: StatusCode,
    error: &'static str,
    code: u32,
    message: String,
}

impl B2cError {
    fn new(error: &'static str, code: u32, message: impl Into<String>) -> B2cError {
        B2cError {
            status: StatusCode::BAD_REQUEST,
            error,
            code,
            message: message.into(),
        }
    }

    /// B2C's `error_description`: code, message, correlation id, timestamp.
    fn description(&self, ctx: &RequestContext) -> String {
        format!(
            "AADB2C{}: {}\r\nCorrelation ID: {}\r\nTimestamp: {}\r\n",
            self.code,
            self.message,
            ctx.correlation_id,
            crate::clock::entra_timestamp()
        )
    }

    /// The JSON reply B2C's endpoints give.
    pub(crate) fn to_response(&self, ctx: &RequestContext) -> Response {
        reply::json(
            self.status,
            &json!({ "error": self.error, "error_description": self.description(ctx) }),
        )
    }

    /// Sent back to a verified redirect URI.
    fn to_app(&self, reply: &Reply, ctx: &RequestContext) -> Response {
        reply.send(vec![
            ("error", self.error.to_owned()),
            ("error_description", self.description(ctx)),
        ])
    }

    /// Shown as a page (the redirect URI cannot be trusted).
    fn page(&self, ctx: &RequestContext) -> Response {
        let body = format!(
            "<main>\n<h1>Sorry, but we're having trouble signing you in.</h1>\n\
             <div id=\"error\" role=\"alert\">{}</div>\n</main>\n",
            escape(&self.description(ctx))
        );
        page::html(self.status, page::document("Error", "", &body))
    }

    fn tenant_not_found(tenant: &str) -> B2cError {
        B2cError {
            status: StatusCode::NOT_FOUND,
            ..B2cError::new(
                "invalid_request",
                99002,
                format!("The tenant '{tenant}' is not served on this host."),
            )
        }
    }

    fn policy_not_found(policy: &str, tenant: &str) -> B2cError {
        B2cError {
            status: StatusCode::NOT_FOUND,
            ..B2cError::new(
                "invalid_request",
                90022,
                format!("Unable to return metadata for the policy '{policy}' in tenant '{tenant}'."),
            )
        }
    }

    fn missing_client_id() -> B2cError {
        B2cError::new(
            "invalid_request",
            90008,
            "The request does not contain a client ID parameter.",
        )
    }

    fn unknown_client(client_id: &str, tenant: &str) -> B2cError {
        B2cError::new(
            "unauthorized_client",
            90018,
            format!(
                "The client id '{client_id}' specified in the request is not registered in tenant '{tenant}'."
            ),
        )
    }

    fn redirect_uri_not_registered(redirect_uri: &str, client_id: &str) -> B2cError {
        B2cError::new(
            "redirect_uri_mismatch",
            90006,
            format!(
                "The redirect URI '{redirect_uri}' provided in the request is not registered for the client ID '{client_id}'."
            ),
        )
    }

    fn missing(parameter: &str) -> B2cError {
        B2cError::new(
            "invalid_request",
            90055,
            format!("The request does not contain the required parameter '{parameter}'."),
        )
    }

    fn unsupported_scope(scope: &str) -> B2cError {
        B2cError::new(
            "invalid_scope",
            90012,
            format!("The scope '{scope}' provided in request is not supported."),
        )
    }

    fn unsupported(what: &str, value: &str, code: u32) -> B2cError {
        B2cError::new(
            "unsupported_response_type",
            code,
            format!("The requested {what} '{value}' provided in the request is not supported."),
        )
    }

    fn invalid_grant(code: u32, message: impl Into<String>) -> B2cError {
        B2cError::new("invalid_grant", code, message)
    }

    fn invalid_client(message: &str) -> B2cError {
        B2cError {
            status: StatusCode::UNAUTHORIZED,
            ..B2cError::new("invalid_client", 90081, message)
        }
    }
}

/// Any other path on a B2C host.
async fn not_found(State(state): State<Arc<AppState>>, ctx: RequestContext, request: Request) -> Response {
    state.stats.record(Endpoint::Other);
    B2cError {
        status: StatusCode::NOT_FOUND,
        ..B2cError::new(
            "invalid_request",
            90021,
            format!(
                "The path '{}' is not served by this B2C tenant.",
                request.uri().path()
            ),
        )
    }
    .to_response(&ctx)
}

/// The B2C tenant of this host, if `segment` names it (name, domain or id).
fn tenant<'a>(state: &'a AppState, ctx: &RequestContext, segment: &str) -> Result<&'a Tenant, B2cError> {
    let Site::B2c(id) = &ctx.site else {
        return Err(B2cError::tenant_not_found(segment));
    };
    state
        .directory()
        .tenant(id)
        .filter(|t| t.is_named(segment))
        .ok_or_else(|| B2cError::tenant_not_found(segment))
}

/// The tenant and the policy (as the tenant spells it) of a request's path.
fn tenant_and_policy<'a>(
    state: &'a AppState,
    ctx: &RequestContext,
    segment: &str,
    policy: &str,
) -> Result<(&'a Tenant, &'a str), B2cError> {
    let tenant = tenant(state, ctx, segment)?;
    let policy = tenant
        .policy(policy)
        .ok_or_else(|| B2cError::policy_not_found(policy, segment))?;
    Ok((tenant, policy))
}

/// The issuer of a B2C tenant's tokens at this host (trailing slash, as B2C's).
fn issuer(ctx: &RequestContext, tenant: &Tenant) -> String {
    format!("{}/{}/v2.0/", ctx.base_url, tenant.id)
}

/// The base of a policy's endpoints, as B2C writes it (lowercase).
fn policy_base(ctx: &RequestContext, segment: &str, policy: &str) -> String {
    format!(
        "{}/{}/{}",
        ctx.base_url,
        segment.to_ascii_lowercase(),
        policy.to_ascii_lowercase()
    )
}

/// `GET /{tenant}/{policy}/v2.0/.well-known/openid-configuration`.
async fn openid_configuration(
    State(state): State<Arc<AppState>>,
    ctx: RequestContext,
    Path((segment, policy)): Path<(String, String)>,
) -> Response {
    let (tenant, policy) = match tenant_and_policy(&state, &ctx, &segment, &policy) {
        Ok(found) => found,
        Err(e) => return e.to_response(&ctx),
    };
    let base = policy_base(&ctx, &segment, policy);
    let body = json!({
        "issuer": issuer(&ctx, tenant),
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "response_types_supported": ["code", "code id_token", "code token", "code id_token token", "id_token", "id_token token", "token", "token id_token"],
        "scopes_supported": ["openid"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": ["name", "emails", "sub", "idp", "tfp", "iss", "iat", "exp", "aud", "acr", "nonce", "auth_time"],
    });
    reply::json(StatusCode::OK, &body)
}

/// `GET /{tenant}/{policy}/discovery/v2.0/keys`.
async fn jwks(
    State(state): State<Arc<AppState>>,
    ctx: RequestContext,
    Path((segment, policy)): Path<(String, String)>,
) -> Response {
    match tenant_and_policy(&state, &ctx, &segment, &policy) {
        Ok((tenant, _)) => reply::json(StatusCode::OK, &state.signing_keys.jwks(&issuer(&ctx, tenant))),
        Err(e) => e.to_response(&ctx),
    }
}

/// A validated authorize request at one policy.
pub(crate) struct B2cAuthorize<'a> {
    pub(crate) tenant: &'a Tenant,
    /// The tenant segment as requested (for the form's action).
    pub(crate) segment: String,
    pub(crate) policy: &'a str,
    pub(crate) client: &'a App,
    pub(crate) reply: Reply,
    pub(crate) scopes: Scopes,
    pub(crate) code_challenge: Option<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) client_info: bool,
    /// The parameters to carry through the sign-in form and the external
    /// provider's round trip.
    pub(crate) params: Vec<(String, String)>,
}

/// Why a B2C authorize request failed, and where the error goes.
pub(crate) enum Failure {
    /// Shown on a page: the redirect URI is not verified.
    Page(B2cError),
    /// Sent to the verified redirect URI.
    ToApp(Reply, B2cError),
}

impl Failure {
    pub(crate) fn respond(self, ctx: &RequestContext) -> Response {
        match self {
            Failure::Page(e) => e.page(ctx),
            Failure::ToApp(reply, e) => e.to_app(&reply, ctx),
        }
    }
}

impl<'a> B2cAuthorize<'a> {
    /// Validates an authorize request's parameters as B2C does.
    pub(crate) fn validate(
        state: &'a AppState,
        ctx: &RequestContext,
        segment: &str,
        policy: &str,
        form: &TokenForm,
    ) -> Result<B2cAuthorize<'a>, Failure> {
        let (tenant, policy) = tenant_and_policy(state, ctx, segment, policy).map_err(Failure::Page)?;
        let client_id = form
            .get("client_id")
            .ok_or_else(|| Failure::Page(B2cError::missing_client_id()))?;
        let client = state
            .directory()
            .app(client_id)
            .filter(|app| tenant.is_named(&app.tenant))
            .ok_or_else(|| Failure::Page(B2cError::unknown_client(client_id, &tenant.name)))?;
        let redirect_uri = form
            .get("redirect_uri")
            .ok_or_else(|| Failure::Page(B2cError::missing("redirect_uri")))?;
        if !client
            .redirect_uris
            .iter()
            .any(|r| redirect_matches(r, redirect_uri))
        {
            return Err(Failure::Page(B2cError::redirect_uri_not_registered(
                redirect_uri,
                &client.client_id,
            )));
        }
        let mode = ResponseMode::parse(form.get("response_mode")).ok_or_else(|| {
            Failure::Page(B2cError::unsupported(
                "response mode",
                form.get("response_mode").unwrap_or_default(),
                90014,
            ))
        })?;
        let reply = Reply {
            redirect_uri: redirect_uri.to_owned(),
            mode,
            state: form.get("state").map(str::to_owned),
        };
        let to_app = |e: B2cError| Failure::ToApp(reply.clone(), e);
        match form.get("response_type") {
            Some("code") => {}
            Some(other) => return Err(to_app(B2cError::unsupported("response type", other, 90013))),
            None => return Err(to_app(B2cError::missing("response_type"))),
        }
        let scope = form.get("scope").ok_or_else(|| {
            to_app(B2cError::new(
                "invalid_request",
                90010,
                "The request does not contain a scope parameter.",
            ))
        })?;
        let scopes = Scopes::parse(scope);
        resource_of(state, tenant, client, &scopes).map_err(to_app)?;
        let code_challenge = crate::authorize::pkce_challenge(form, client)
            .map_err(|e| to_app(B2cError::new("invalid_request", 90183, e.message)))?;
        Ok(B2cAuthorize {
            tenant,
            segment: segment.to_owned(),
            policy,
            client,
            reply,
            scopes,
            code_challenge,
            nonce: form.get("nonce").map(str::to_owned),
            client_info: form.get("client_info") == Some("1"),
            params: form
                .params()
                .iter()
                .filter(|(n, _)| n != "username" && n != "password")
                .cloned()
                .collect(),
        })
    }

    /// Stores a code for `user` (signed in with `idp`, or a local account)
    /// and sends it to the app.
    pub(crate) fn issue_code(&self, state: &AppState, user: &User, idp: Option<&str>) -> Response {
        let code = store::random_token("b2c.");
        let now = state.clock.now();
        state.store.codes().insert(
            code.clone(),
            AuthCode {
                client_id: self.client.client_id.clone(),
                redirect_uri: self.reply.redirect_uri.clone(),
                code_challenge: self.code_challenge.clone(),
                upn: user.upn.clone(),
                tenant_id: self.tenant.id.clone(),
                scopes: self.scopes.all(),
                nonce: self.nonce.clone(),
                auth_time: now,
                issued_at: now,
                redeemed: false,
                realm: Realm::B2c {
                    policy: self.policy.to_owned(),
                    idp: idp.map(str::to_owned),
                },
            },
        );
        tracing::info!(
            tenant = %self.tenant.id,
            policy = self.policy,
            client_id = %self.client.client_id,
            user = %user.upn,
            "issued B2C authorization code"
        );
        let mut fields = vec![("code", code)];
        if self.client_info {
            fields.push((
                "client_info",
                client_info(&user.object_id, self.policy, &self.tenant.id),
            ));
        }
        self.reply.send(fields)
    }

    /// The B2C sign-in page: the local account form and a button per
    /// external identity provider the tenant offers.
    fn page(&self, state: &AppState, ctx: &RequestContext, username: &str, error: Option<&str>) -> Response {
        let action = format!("/{}/{}/oauth2/v2.0/authorize", self.segment, self.policy);
        let mut body = format!(
            "<main>\n<h1>Sign in</h1>\n<p>{} &middot; <span id=\"policy\">{}</span></p>\n",
            escape(self.tenant.shown_name()),
            escape(self.policy)
        );
        if let Some(error) = error {
            body.push_str(&format!(
                "<div id=\"error\" role=\"alert\">{}</div>\n",
                escape(error)
            ));
        }
        body.push_str(&format!(
            "<form id=\"signin-form\" method=\"post\" action=\"{}\">\n",
            escape(&action)
        ));
        for (name, value) in &self.params {
            body.push_str(&format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                escape(name),
                escape(value)
            ));
        }
        body.push_str(&format!(
            "<label for=\"username\">Email Address</label>\n\
             <input id=\"username\" name=\"username\" type=\"email\" value=\"{}\" autocomplete=\"username\" autofocus>\n\
             <label for=\"password\">Password</label>\n\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\">\n\
             <button id=\"signin\" type=\"submit\">Sign in</button>\n</form>\n",
            escape(username)
        ));
        let providers: Vec<_> = self
            .tenant
            .identity_providers
            .iter()
            .filter_map(|name| state.directory().identity_provider(name))
            .collect();
        if !providers.is_empty() {
            body.push_str("<p>Sign in with your social account</p>\n");
        }
        for provider in providers {
            let href = social::start_url(ctx, self, provider);
            let label = if provider.display_name.is_empty() {
                &provider.name
            } else {
                &provider.display_name
            };
            body.push_str(&format!(
                "<p><a id=\"idp-{}\" class=\"idp\" href=\"{}\">{}</a></p>\n",
                escape(&provider.name),
                escape(&href),
                escape(label)
            ));
        }
        body.push_str(
            "<p><small>msal-emulator: a local Azure AD B2C for development and tests.</small></p>\n</main>\n",
        );
        page::html(StatusCode::OK, page::document("Sign in", "", &body))
    }
}

/// `GET|POST /{tenant}/{policy}/oauth2/v2.0/authorize`.
async fn authorize(
    State(state): State<Arc<AppState>>,
    ctx: RequestContext,
    Path((segment, policy)): Path<(String, String)>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let form = if parts.method == Method::POST {
        TokenForm::read(&parts.headers, body).await
    } else {
        TokenForm::from_query(parts.uri.query().unwrap_or(""))
    };
    let form = match form {
        Ok(form) => form,
        Err(e) => return B2cError::new("invalid_request", 90055, e.message).page(&ctx),
    };
    let details = AccessDetails::new(None, form.get("client_id"));
    let request = match B2cAuthorize::validate(&state, &ctx, &segment, &policy, &form) {
        Ok(request) => request,
        Err(failure) => return details.attach(failure.respond(&ctx)),
    };
    let response = if parts.method == Method::POST && form.raw("password").is_some() {
        let username = form.raw("username").unwrap_or("").trim();
        let password = form.raw("password").unwrap_or("");
        // Local accounts of this tenant only: social accounts sign in at
        // their provider.
        let user = state
            .directory()
            .user(username)
            .filter(|u| request.tenant.is_named(&u.tenant) && u.identity_provider.is_none());
        match user {
            None => request.page(
                &state,
                &ctx,
                username,
                Some("We can't seem to find your account."),
            ),
            Some(user) if !constant_time_eq(&user.password, password) => {
                request.page(&state, &ctx, username, Some("Your password is incorrect."))
            }
            Some(user) => request.issue_code(&state, user, None),
        }
    } else {
        request.page(&state, &ctx, form.get("login_hint").unwrap_or(""), None)
    };
    details.attach(response)
}

/// B2C's `client_info`: uid `{oid}-{policy lowercased}`, utid the tenant.
fn client_info(oid: &str, policy: &str, tenant_id: &str) -> String {
    let uid = format!("{oid}-{}", policy.to_ascii_lowercase());
    URL_SAFE_NO_PAD.encode(json!({ "uid": uid, "utid": tenant_id }).to_string())
}

/// What the resource scopes of a request ask for.
enum Access<'a> {
    /// Only OpenID Connect scopes: no access token.
    None,
    /// The client's own id as a scope: a token for the app itself.
    Client,
    /// A web API of the tenant and the scope values asked of it.
    Api(&'a App, Vec<String>),
}

/// The resource the request's resource scopes name: the client itself, or
/// one API of the tenant exposing every value asked for.
fn resource_of<'a>(
    state: &'a AppState,
    tenant: &Tenant,
    client: &App,
    scopes: &Scopes,
) -> Result<Access<'a>, B2cError> {
    let mut api: Option<(&App, Vec<String>)> = None;
    let mut client_asked = false;
    for scope in &scopes.resource {
        if scope.eq_ignore_ascii_case(&client.client_id) {
            client_asked = true;
            continue;
        }
        let Some((resource, value)) = scope.rsplit_once('/') else {
            return Err(B2cError::unsupported_scope(scope));
        };
        let app = match state.directory().resource_named(resource) {
            Some(Resource::App(app))
                if tenant.is_named(&app.tenant) && app.scopes.iter().any(|s| s == value) =>
            {
                app
            }
            _ => return Err(B2cError::unsupported_scope(scope)),
        };
        match &mut api {
            None => api = Some((app, vec![value.to_owned()])),
            Some((first, values)) if first.client_id == app.client_id => values.push(value.to_owned()),
            Some(_) => return Err(B2cError::unsupported_scope(scope)),
        }
    }
    Ok(match api {
        Some((app, values)) => Access::Api(app, values),
        None if client_asked => Access::Client,
        None => Access::None,
    })
}

/// Claims of a B2C ID token.
#[derive(Serialize)]
struct IdTokenClaims<'a> {
    exp: u64,
    nbf: u64,
    ver: &'static str,
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    iat: u64,
    auth_time: u64,
    oid: &'a str,
    name: &'a str,
    emails: [&'a str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    idp: Option<&'a str>,
    tfp: &'a str,
}

/// Claims of a B2C access token.
#[derive(Serialize)]
struct AccessTokenClaims<'a> {
    iss: &'a str,
    exp: u64,
    nbf: u64,
    aud: &'a str,
    oid: &'a str,
    sub: &'a str,
    name: &'a str,
    emails: [&'a str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    idp: Option<&'a str>,
    tfp: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    scp: Option<String>,
    azp: &'a str,
    ver: &'static str,
    iat: u64,
}

/// What B2C puts in `profile_info` (base64url JSON), which older MSALs read.
#[derive(Serialize, Deserialize)]
struct ProfileInfo<'a> {
    ver: &'static str,
    tid: &'a str,
    sub: Option<&'a str>,
    name: &'a str,
    preferred_username: Option<&'a str>,
    idp: Option<&'a str>,
}

/// One grant's worth of tokens to mint.
struct Mint<'a> {
    tenant: &'a Tenant,
    policy: &'a str,
    idp: Option<&'a str>,
    client: &'a App,
    user: &'a User,
    scopes: &'a Scopes,
    nonce: Option<&'a str>,
    auth_time: u64,
    client_info: bool,
}

/// Mints B2C's token response.
fn mint(state: &AppState, ctx: &RequestContext, m: &Mint<'_>) -> Result<Value, B2cError> {
    let server_error = || {
        B2cError::new(
            "server_error",
            90085,
            "The service has encountered an internal error. Please reauthenticate and try again.",
        )
    };
    let access = resource_of(state, m.tenant, m.client, m.scopes)?;
    let now = state.clock.now();
    let lifetime = state.directory().token_lifetime_secs;
    let iss = issuer(ctx, m.tenant);
    let name = shown_name(m.user);
    let mut body = serde_json::Map::new();
    let mut granted: Vec<String> = Vec::new();
    let audience = match &access {
        Access::None => None,
        Access::Client => Some((m.client.client_id.as_str(), None)),
        Access::Api(app, values) => {
            let prefix = app
                .identifier_uris
                .first()
                .map_or(app.client_id.as_str(), String::as_str);
            granted.extend(values.iter().map(|v| format!("{prefix}/{v}")));
            Some((app.client_id.as_str(), Some(values.join(" "))))
        }
    };
    if let Some((aud, scp)) = audience {
        let claims = AccessTokenClaims {
            iss: &iss,
            exp: now + lifetime,
            nbf: now,
            aud,
            oid: &m.user.object_id,
            sub: &m.user.object_id,
            name,
            emails: [&m.user.upn],
            idp: m.idp,
            tfp: m.policy,
            scp,
            azp: &m.client.client_id,
            ver: "1.0",
            iat: now,
        };
        let token = issue::sign(state, &claims).map_err(|_| server_error())?;
        body.insert("access_token".into(), json!(token));
        body.insert("resource".into(), json!(aud));
        body.insert("expires_in".into(), json!(lifetime));
        body.insert("expires_on".into(), json!(now + lifetime));
    }
    body.insert("token_type".into(), json!("Bearer"));
    body.insert("not_before".into(), json!(now));
    if m.scopes.has("openid") {
        let claims = IdTokenClaims {
            exp: now + lifetime,
            nbf: now,
            ver: "1.0",
            iss: &iss,
            sub: &m.user.object_id,
            aud: &m.client.client_id,
            nonce: m.nonce,
            iat: now,
            auth_time: m.auth_time,
            oid: &m.user.object_id,
            name,
            emails: [&m.user.upn],
            idp: m.idp,
            tfp: m.policy,
        };
        let token = issue::sign(state, &claims).map_err(|_| server_error())?;
        body.insert("id_token".into(), json!(token));
        body.insert("id_token_expires_in".into(), json!(lifetime));
    }
    let profile = ProfileInfo {
        ver: "1.0",
        tid: &m.tenant.id,
        sub: None,
        name,
        preferred_username: None,
        idp: m.idp,
    };
    let profile = serde_json::to_string(&profile).map_err(|_| server_error())?;
    body.insert("profile_info".into(), json!(URL_SAFE_NO_PAD.encode(profile)));
    granted.extend(m.scopes.oidc.iter().cloned());
    body.insert("scope".into(), json!(granted.join(" ")));
    if m.scopes.has("offline_access") {
        let rt = store::random_token("b2c.rt.");
        state.store.refresh_tokens().insert(
            rt.clone(),
            RefreshGrant {
                client_id: m.client.client_id.clone(),
                upn: m.user.upn.clone(),
                tenant_id: m.tenant.id.clone(),
                scopes: m.scopes.all(),
                auth_time: m.auth_time,
                issued_at: now,
                realm: Realm::B2c {
                    policy: m.policy.to_owned(),
                    idp: m.idp.map(str::to_owned),
                },
            },
        );
        body.insert("refresh_token".into(), json!(rt));
        body.insert(
            "refresh_token_expires_in".into(),
            json!(REFRESH_TOKEN_LIFETIME_SECS),
        );
    }
    if m.client_info {
        body.insert(
            "client_info".into(),
            json!(client_info(&m.user.object_id, m.policy, &m.tenant.id)),
        );
    }
    tracing::info!(
        tenant = %m.tenant.id,
        policy = m.policy,
        client_id = %m.client.client_id,
        user = %m.user.upn,
        "issued B2C tokens"
    );
    Ok(Value::Object(body))
}

/// `POST /{tenant}/{policy}/oauth2/v2.0/token`: `authorization_code` and
/// `refresh_token`, for the policy of the path only.
async fn token(
    State(state): State<Arc<AppState>>,
    ctx: RequestContext,
    Path((segment, policy)): Path<(String, String)>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let form = match TokenForm::read(&parts.headers, body).await {
        Ok(form) => form,
        Err(e) => return B2cError::new("invalid_request", 90055, e.message).to_response(&ctx),
    };
    let grant = form.get("grant_type");
    state.stats.record_grant(grant.unwrap_or(""));
    let details = AccessDetails::new(crate::token::logged_grant(grant), form.get("client_id"));
    let result = redeem(&state, &ctx, &segment, &policy, &form);
    let response = match result {
        Ok(body) => reply::json_no_store(StatusCode::OK, &body),
        Err(e) => e.to_response(&ctx),
    };
    details.attach(response)
}

fn redeem(
    state: &AppState,
    ctx: &RequestContext,
    segment: &str,
    policy: &str,
    form: &TokenForm,
) -> Result<Value, B2cError> {
    let (tenant, policy) = tenant_and_policy(state, ctx, segment, policy)?;
    let client_id = form.get("client_id").ok_or_else(B2cError::missing_client_id)?;
    let client = state
        .directory()
        .app(client_id)
        .filter(|app| tenant.is_named(&app.tenant))
        .ok_or_else(|| B2cError::unknown_client(client_id, &tenant.name))?;
    match (client.kind, form.get("client_secret")) {
        (AppKind::Public, None) => {}
        (AppKind::Public, Some(_)) => {
            return Err(B2cError::invalid_client(
                "A public client must not send a client_secret.",
            ));
        }
        (AppKind::Confidential, Some(secret))
            if client.secrets.iter().any(|s| constant_time_eq(s, secret)) => {}
        (AppKind::Confidential, _) => {
            return Err(B2cError::invalid_client(
                "Clients must send a valid client_secret when redeeming a confidential grant.",
            ));
        }
    }
    let wrong_policy = |issued: &str| {
        B2cError::invalid_grant(
            90088,
            format!(
                "The provided grant has not been issued for this endpoint. Actual Value : {issued} and Expected Value : {policy}"
            ),
        )
    };
    let now = state.clock.now();
    match form.get("grant_type") {
        Some("authorization_code") => {
            let code = form.get("code").ok_or_else(|| B2cError::missing("code"))?;
            let record = state.store.codes().get(code).cloned().ok_or_else(|| {
                B2cError::invalid_grant(90090, "The provided authorization code is not valid.")
            })?;
            let Realm::B2c { policy: issued, idp } = &record.realm else {
                return Err(B2cError::invalid_grant(
                    90090,
                    "The provided authorization code is not valid.",
                ));
            };
            if !issued.eq_ignore_ascii_case(policy) {
                return Err(wrong_policy(issued));
            }
            if !record.client_id.eq_ignore_ascii_case(&client.client_id) || record.tenant_id != tenant.id {
                return Err(B2cError::invalid_grant(
                    90090,
                    "The authorization code was issued to another client.",
                ));
            }
            if record.redeemed {
                return Err(B2cError::invalid_grant(
                    90080,
                    "The provided grant has already been redeemed.",
                ));
            }
            if now.saturating_sub(record.issued_at) >= CODE_LIFETIME_SECS {
                return Err(B2cError::invalid_grant(
                    90080,
                    "The provided grant has expired. Please re-authenticate and try again.",
                ));
            }
            if form.get("redirect_uri") != Some(record.redirect_uri.as_str()) {
                return Err(B2cError::invalid_grant(
                    90006,
                    "The redirect_uri does not match the one the code was issued for.",
                ));
            }
            if let Some(challenge) = &record.code_challenge {
                let verifier = form
                    .get("code_verifier")
                    .ok_or_else(|| B2cError::missing("code_verifier"))?;
                if !constant_time_eq(&s256(verifier), challenge) {
                    return Err(B2cError::invalid_grant(
                        90183,
                        "The supplied code_verifier is invalid.",
                    ));
                }
            }
            match state.store.codes().get_mut(code) {
                Some(c) if !c.redeemed => c.redeemed = true,
                _ => {
                    return Err(B2cError::invalid_grant(
                        90080,
                        "The provided grant has already been redeemed.",
                    ));
                }
            }
            let user = state
                .directory()
                .user(&record.upn)
                .ok_or_else(|| B2cError::invalid_grant(99002, "This user does not exist."))?;
            let scopes = Scopes::parse(&record.scopes.join(" "));
            mint(
                state,
                ctx,
                &Mint {
                    tenant,
                    policy,
                    idp: idp.as_deref(),
                    client,
                    user,
                    scopes: &scopes,
                    nonce: record.nonce.as_deref(),
                    auth_time: record.auth_time,
                    client_info: form.get("client_info") == Some("1"),
                },
            )
        }
        Some("refresh_token") => {
            let token = form
                .get("refresh_token")
                .ok_or_else(|| B2cError::missing("refresh_token"))?;
            let record = state.store.refresh_tokens().get(token).cloned().ok_or_else(|| {
                B2cError::invalid_grant(
                    90129,
                    "The provided grant has been revoked. Please reauthenticate and try again.",
                )
            })?;
            let Realm::B2c { policy: issued, idp } = &record.realm else {
                return Err(B2cError::invalid_grant(90129, "The provided grant is not valid."));
            };
            if !issued.eq_ignore_ascii_case(policy) {
                return Err(wrong_policy(issued));
            }
            if !record.client_id.eq_ignore_ascii_case(&client.client_id) || record.tenant_id != tenant.id {
                return Err(B2cError::invalid_grant(
                    90129,
                    "The refresh token was issued to another client.",
                ));
            }
            if now.saturating_sub(record.issued_at) >= REFRESH_TOKEN_LIFETIME_SECS {
                return Err(B2cError::invalid_grant(
                    90080,
                    "The provided grant has expired. Please re-authenticate and try again.",
                ));
            }
            let user = state
                .directory()
                .user(&record.upn)
                .ok_or_else(|| B2cError::invalid_grant(99002, "This user does not exist."))?;
            let issued_scopes = record.scopes.join(" ");
            let scopes = Scopes::parse(form.get("scope").unwrap_or(&issued_scopes));
            mint(
                state,
                ctx,
                &Mint {
                    tenant,
                    policy,
                    idp: idp.as_deref(),
                    client,
                    user,
                    scopes: &scopes,
                    nonce: None,
                    auth_time: record.auth_time,
                    client_info: form.get("client_info") == Some("1"),
                },
            )
        }
        Some(other) => Err(B2cError::new(
            "unsupported_grant_type",
            90086,
            format!("The supplied grant_type [{other}] is not supported."),
        )),
        None => Err(B2cError::missing("grant_type")),
    }
}

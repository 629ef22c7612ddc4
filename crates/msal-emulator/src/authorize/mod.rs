//! The v2.0 authorize endpoint (`GET|POST /{tenant}/oauth2/v2.0/authorize`):
//! validates the request as Entra does, signs the user in with a real HTML
//! form or an existing browser session, and sends an authorization code (or
//! an error) back to the app's redirect URI.
//!
//! Errors that must not reach an unverified redirect URI (unknown client,
//! unregistered redirect URI, unusable `response_type`/`response_mode`) are
//! shown as an HTML page; the rest go back to the app like a code does.

pub(crate) mod page;
pub(crate) mod session;

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::context::RequestContext;
use crate::directory::{App, AppKind, Tenant, TenantKind, User, is_loopback};
use crate::error::EntraError;
use crate::scopes::{self, Scopes};
use crate::server::{AccessDetails, AppState};
use crate::store::{self, AuthCode};
use crate::token::form::TokenForm;
use crate::token::{self, constant_time_eq};

use page::SignIn;

/// Parameters of the sign-in form itself, never carried as hidden inputs.
const CREDENTIAL_FIELDS: [&str; 2] = ["username", "password"];

/// `GET|POST /{tenant}/oauth2/v2.0/authorize`.
pub(crate) async fn authorize(
    State(state): State<Arc<AppState>>,
    ctx: RequestContext,
    Path(tenant): Path<String>,
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
        Err(e) => return page::error(&e, &ctx),
    };
    AccessDetails::new(None, form.get("client_id")).attach(respond(&state, &ctx, &tenant, &parts, &form))
}

/// Answers a parsed authorize request (or the sign-in form's post).
fn respond(
    state: &AppState,
    ctx: &RequestContext,
    tenant: &str,
    parts: &axum::http::request::Parts,
    form: &TokenForm,
) -> Response {
    let request = match AuthorizeRequest::validate(state, ctx, tenant, form) {
        Ok(request) => request,
        Err(Failure::Page(e)) => return page::error(&e, ctx),
        Err(Failure::ToApp(reply, e)) => return reply.error(&e, ctx),
    };
    let session_id = session::cookie(&parts.headers);
    // Only the sign-in form posts a password; a plain POST is an authorize request.
    if parts.method == Method::POST && form.raw("password").is_some() {
        sign_in(state, ctx, &request, form, session_id.as_deref())
    } else {
        from_session(state, ctx, &request, session_id.as_deref())
    }
}

/// The authority's tenant segment, resolved.
#[derive(Debug, Clone, Copy)]
enum Authority<'a> {
    /// A tenant of the directory (`consumers`: the personal accounts' one).
    Tenant(&'a Tenant),
    /// `common` or `organizations`: the user's home tenant; `organizations`
    /// refuses personal accounts.
    AnyTenant { organizations: bool },
}

impl<'a> Authority<'a> {
    fn resolve(
        state: &'a AppState,
        ctx: &RequestContext,
        segment: &str,
    ) -> Result<Authority<'a>, EntraError> {
        if token::is_multi_tenant(segment) && !matches!(ctx.site, crate::site::Site::Ciam(_)) {
            return Ok(Authority::AnyTenant {
                organizations: segment.eq_ignore_ascii_case("organizations"),
            });
        }
        crate::site::tenant_at(state.directory(), &ctx.site, segment)
            .map(Authority::Tenant)
            .ok_or_else(|| EntraError::invalid_tenant(segment))
    }

    /// Whether a user of `home` may sign in through this authority.
    fn admits(&self, home: &Tenant) -> bool {
        match self {
            Authority::Tenant(t) => t.id == home.id,
            Authority::AnyTenant { organizations } => !(*organizations && home.kind == TenantKind::Consumers),
        }
    }

    /// Entra's refusal of a user of `home` here, for the kinds of account
    /// the authority does not take: personal accounts at `organizations` or
    /// an organisation's tenant, work accounts at `consumers`.
    fn refusal(&self, user: &User, home: &Tenant) -> Option<EntraError> {
        let personal = home.kind == TenantKind::Consumers;
        match self {
            Authority::AnyTenant { organizations: true } if personal => {
                Some(EntraError::personal_account_not_supported(&user.upn))
            }
            Authority::Tenant(t) if t.kind == TenantKind::Consumers && !personal => {
                Some(EntraError::work_account_at_consumers(&user.upn))
            }
            Authority::Tenant(t) if t.id != home.id && personal => {
                Some(EntraError::personal_account_not_supported(&user.upn))
            }
            _ => None,
        }
    }
}

/// Which way results travel to the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

/// `prompt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prompt {
    Login,
    None,
    SelectAccount,
    Consent,
}

/// What an authorize request asks to get back: a code (the authorization
/// code flow), an ID token and/or an access token (the implicit grant), or
/// a code with an ID token (the hybrid flow), in any order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ResponseType {
    pub(crate) code: bool,
    pub(crate) id_token: bool,
    pub(crate) token: bool,
}

impl ResponseType {
    /// Parses a space-separated `response_type`; `None` for an unknown or
    /// repeated value, or none at all.
    pub(crate) fn parse(value: &str) -> Option<ResponseType> {
        let mut parsed = ResponseType::default();
        for part in value.split(' ').filter(|p| !p.is_empty()) {
            let flag = match part {
                "code" => &mut parsed.code,
                "id_token" => &mut parsed.id_token,
                "token" => &mut parsed.token,
                _ => return None,
            };
            if *flag {
                return None;
            }
            *flag = true;
        }
        (parsed != ResponseType::default()).then_some(parsed)
    }

    /// Whether a token travels in the response (not only a code).
    pub(crate) fn has_tokens(self) -> bool {
        self.id_token || self.token
    }
}

/// Where and how to answer the app: the verified redirect URI, the response
/// mode and the `state` to echo.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) redirect_uri: String,
    pub(crate) mode: ResponseMode,
    pub(crate) state: Option<String>,
}

impl ResponseMode {
    /// The `response_mode` parameter (`query` when absent); `None` for a
    /// mode the emulator does not know.
    pub(crate) fn parse(value: Option<&str>) -> Option<ResponseMode> {
        match value {
            None | Some("query") => Some(ResponseMode::Query),
            Some("fragment") => Some(ResponseMode::Fragment),
            Some("form_post") => Some(ResponseMode::FormPost),
            Some(_) => None,
        }
    }
}

impl Reply {
    /// Sends `fields` (plus `state`) to the redirect URI.
    pub(crate) fn send(&self, mut fields: Vec<(&str, String)>) -> Response {
        if let Some(state) = &self.state {
            // Entra puts `state` before `session_state`.
            let at = fields
                .iter()
                .position(|(n, _)| *n == "session_state")
                .unwrap_or(fields.len());
            fields.insert(at, ("state", state.clone()));
        }
        match self.mode {
            ResponseMode::FormPost => {
                let fields: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
                page::form_post(&self.redirect_uri, &fields)
            }
            ResponseMode::Query | ResponseMode::Fragment => {
                let Ok(mut url) = url::Url::parse(&self.redirect_uri) else {
                    // It parsed when matched against a registered URI; cannot happen.
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                };
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields.iter().map(|(n, v)| (*n, v.as_str())))
                    .finish();
                if self.mode == ResponseMode::Query {
                    let query = match url.query() {
                        Some(q) if !q.is_empty() => format!("{q}&{encoded}"),
                        _ => encoded,
                    };
                    url.set_query(Some(&query));
                } else {
                    url.set_fragment(Some(&encoded));
                }
                redirect(url.as_str())
            }
        }
    }

    /// Sends an Entra error to the app: `error`, `error_description`, `state`.
    fn error(&self, error: &EntraError, ctx: &RequestContext) -> Response {
        let timestamp = crate::clock::entra_timestamp();
        self.send(vec![
            ("error", error.error.to_owned()),
            ("error_description", error.description(ctx, &timestamp)),
            (
                "error_uri",
                format!("https://login.microsoftonline.com/error?code={}", error.code),
            ),
        ])
    }
}

/// A `302 Found` to `location`.
pub(crate) fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    match HeaderValue::from_str(location) {
        Ok(v) => {
            headers.insert(header::LOCATION, v);
        }
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    response
}

/// Why an authorize request failed, and where the error goes.
enum Failure {
    /// Shown to the user: the app cannot be trusted with it.
    Page(EntraError),
    /// Sent to the (verified) redirect URI.
    ToApp(Reply, EntraError),
}

/// A validated authorize request.
struct AuthorizeRequest<'a> {
    authority: Authority<'a>,
    /// The tenant segment as requested, for the form's action.
    segment: String,
    client: &'a App,
    reply: Reply,
    /// The `scope` parameter as sent, split on spaces.
    scope: Vec<String>,
    code_challenge: Option<String>,
    /// What the app asked to get back.
    response_type: ResponseType,
    nonce: Option<String>,
    prompt: Option<Prompt>,
    login_hint: Option<String>,
    max_age: Option<u64>,
    client_info: bool,
    /// The request's parameters, to carry through the sign-in form.
    params: Vec<(String, String)>,
}

impl<'a> AuthorizeRequest<'a> {
    fn validate(
        state: &'a AppState,
        ctx: &RequestContext,
        segment: &str,
        form: &TokenForm,
    ) -> Result<AuthorizeRequest<'a>, Failure> {
        let authority = Authority::resolve(state, ctx, segment).map_err(Failure::Page)?;
        let client_id = form.required("client_id").map_err(Failure::Page)?;
        let client = state
            .directory()
            .app(client_id)
            .filter(|app| match authority {
                Authority::Tenant(t) => app.usable_in(t),
                Authority::AnyTenant { .. } => true,
            })
            .ok_or_else(|| {
                let directory = match authority {
                    Authority::Tenant(t) => t.shown_name(),
                    Authority::AnyTenant { .. } => segment,
                };
                Failure::Page(EntraError::app_not_found(client_id, directory))
            })?;
        let redirect_uri = form.required("redirect_uri").map_err(Failure::Page)?;
        if !client
            .redirect_uris
            .iter()
            .any(|r| redirect_matches(r, redirect_uri))
        {
            return Err(Failure::Page(EntraError::redirect_uri_mismatch(
                redirect_uri,
                &client.client_id,
            )));
        }
        let response_type = match form.get("response_type") {
            Some(value) => ResponseType::parse(value)
                .ok_or_else(|| Failure::Page(EntraError::unsupported_response_type(value)))?,
            None => return Err(Failure::Page(EntraError::missing_parameter("response_type"))),
        };
        // Tokens never travel in a query string (browser history, server
        // logs): `fragment` is their default and `query` is refused, as the
        // implicit grant reference says of response_mode.
        let mode = match form.get("response_mode") {
            None if response_type.has_tokens() => ResponseMode::Fragment,
            None | Some("query") if !response_type.has_tokens() => ResponseMode::Query,
            Some("fragment") => ResponseMode::Fragment,
            Some("form_post") => ResponseMode::FormPost,
            Some("query") => {
                return Err(Failure::Page(EntraError::malformed(
                    "The response_mode 'query' is not allowed when the response_type includes a token; use fragment or form_post.",
                )));
            }
            Some(other) => {
                return Err(Failure::Page(EntraError::malformed(&format!(
                    "The response_mode '{other}' is not supported; use query, fragment or form_post."
                ))));
            }
            None => ResponseMode::Query,
        };
        let reply = Reply {
            redirect_uri: redirect_uri.to_owned(),
            mode,
            state: form.get("state").map(str::to_owned),
        };
        // From here on the redirect URI is trusted: errors go back to the app.
        let to_app = |e: EntraError| Failure::ToApp(reply.clone(), e);
        // The app registration's implicit grant settings, as Entra checks them.
        if response_type.id_token && !client.implicit_id_tokens {
            return Err(to_app(EntraError::response_type_not_enabled("id_token", 700054)));
        }
        if response_type.token && !client.implicit_access_tokens {
            return Err(to_app(EntraError::response_type_not_enabled("token", 700051)));
        }
        // OpenID Connect: an ID token from the authorize endpoint needs a nonce.
        if response_type.id_token && form.get("nonce").is_none_or(str::is_empty) {
            return Err(to_app(EntraError::missing_parameter("nonce")));
        }

        let scope = form.required("scope").map_err(to_app)?;
        let parsed = Scopes::parse(scope);
        let scope_tenant = match authority {
            Authority::Tenant(t) => Some(t),
            // Under `common` the client's home tenant holds its resources' service principals.
            Authority::AnyTenant { .. } => state.directory().tenant(&client.tenant),
        };
        if let Some(t) = scope_tenant {
            scopes::check(state.directory(), t, &client.client_id, &parsed).map_err(to_app)?;
        }
        let code_challenge = entra_pkce(form).map_err(to_app)?;
        let prompt = match form.get("prompt") {
            None => None,
            Some("login") => Some(Prompt::Login),
            Some("none") => Some(Prompt::None),
            Some("select_account") => Some(Prompt::SelectAccount),
            Some("consent") => Some(Prompt::Consent),
            Some(other) => {
                return Err(to_app(EntraError::malformed(&format!(
                    "The prompt value '{other}' is not supported; use login, none, select_account or consent."
                ))));
            }
        };
        let max_age = match form.get("max_age") {
            None => None,
            Some(v) => Some(v.parse::<u64>().map_err(|_| {
                to_app(EntraError::malformed(&format!(
                    "max_age must be a number of seconds, got '{v}'."
                )))
            })?),
        };
        Ok(AuthorizeRequest {
            authority,
            segment: segment.to_owned(),
            client,
            scope: scope.split_whitespace().map(str::to_owned).collect(),
            code_challenge,
            response_type,
            nonce: form.get("nonce").map(str::to_owned),
            prompt,
            login_hint: form.get("login_hint").map(str::to_owned),
            max_age,
            client_info: form.get("client_info") == Some("1"),
            params: form
                .params()
                .iter()
                .filter(|(n, _)| !CREDENTIAL_FIELDS.contains(&n.as_str()))
                .cloned()
                .collect(),
            reply,
        })
    }

    /// The sign-in page for this request.
    fn page(&self, ctx: &RequestContext, username: &str, error: Option<&EntraError>) -> Response {
        let action = format!("/{}/oauth2/v2.0/authorize", self.segment);
        page::sign_in(
            &SignIn {
                action: &action,
                params: &self.params,
                username,
                app_name: &self.client.display_name,
                error,
            },
            ctx,
        )
    }
}

/// Whether a requested redirect URI matches a registered one: exactly, or
/// for loopback `http` URIs on any port (same scheme, host, path and query),
/// as Entra matches native apps' loopback listeners.
pub(crate) fn redirect_matches(registered: &str, requested: &str) -> bool {
    let (Ok(r), Ok(q)) = (url::Url::parse(registered), url::Url::parse(requested)) else {
        return false;
    };
    if q.fragment().is_some() || !q.username().is_empty() || q.password().is_some() {
        return false;
    }
    if r.scheme() == "http" && is_loopback(&r) {
        return q.scheme() == r.scheme()
            && q.host() == r.host()
            && q.path() == r.path()
            && q.query() == r.query();
    }
    r == q
}

/// Length of an S256 challenge: base64url of 32 bytes, unpadded.
const S256_CHALLENGE_LEN: usize = 43;

/// The PKCE challenge: S256 only; required for public clients.
pub(crate) fn pkce_challenge(form: &TokenForm, client: &App) -> Result<Option<String>, EntraError> {
    let method = form.get("code_challenge_method");
    let Some(challenge) = form.get("code_challenge") else {
        if method.is_some() {
            return Err(EntraError::malformed(
                "code_challenge_method was sent without a code_challenge.",
            ));
        }
        return match client.kind {
            AppKind::Public => Err(EntraError::pkce_required()),
            AppKind::Confidential => Ok(None),
        };
    };
    // A missing method means `plain` (RFC 7636), which the emulator refuses.
    if method != Some("S256") {
        return Err(EntraError::malformed(
            "The code_challenge_method must be S256; plain PKCE is not accepted.",
        ));
    }
    let well_formed = challenge.len() == S256_CHALLENGE_LEN
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(EntraError::malformed(
            "The code_challenge is not a base64url SHA-256 value (43 characters).",
        ));
    }
    Ok(Some(challenge.to_owned()))
}

/// Longest PKCE value (RFC 7636: 43 to 128 characters).
const MAX_PKCE_LEN: usize = 128;

/// Entra's PKCE rules on authorize: `code_challenge_method` `S256` or
/// `plain` (the default when a challenge comes without one), "the Microsoft
/// identity platform supports both plain and S256" (authorization code flow
/// reference). Optional here: Entra requires PKCE only when a single-page
/// app redeems the code cross-origin, which the token endpoint checks.
/// Returns the challenge in its S256 form, so the token endpoint checks any
/// verifier one way (a `plain` challenge is the verifier itself).
pub(crate) fn entra_pkce(form: &TokenForm) -> Result<Option<String>, EntraError> {
    let method = form.get("code_challenge_method");
    let Some(challenge) = form.get("code_challenge") else {
        if method.is_some() {
            return Err(EntraError::malformed(
                "code_challenge_method was sent without a code_challenge.",
            ));
        }
        return Ok(None);
    };
    let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    match method {
        Some("S256") => {
            if challenge.len() != S256_CHALLENGE_LEN {
                return Err(EntraError::code_challenge_size());
            }
            if !challenge.bytes().all(base64url) {
                return Err(EntraError::malformed(
                    "The code_challenge is not a base64url SHA-256 value.",
                ));
            }
            Ok(Some(challenge.to_owned()))
        }
        None | Some("plain") => {
            if !(S256_CHALLENGE_LEN..=MAX_PKCE_LEN).contains(&challenge.len()) {
                return Err(EntraError::code_challenge_size());
            }
            // RFC 7636's unreserved characters.
            if !challenge.bytes().all(|b| base64url(b) || b == b'.' || b == b'~') {
                return Err(EntraError::malformed(
                    "The code_challenge has characters outside A-Z, a-z, 0-9, '-', '.', '_' and '~'.",
                ));
            }
            Ok(Some(token::authorization_code::s256(challenge)))
        }
        Some(other) => Err(EntraError::malformed(&format!(
            "The code_challenge_method '{other}' is not supported; use S256 or plain."
        ))),
    }
}

/// A request without credentials: answer from the browser session, or show the form.
fn from_session(
    state: &AppState,
    ctx: &RequestContext,
    request: &AuthorizeRequest<'_>,
    session_id: Option<&str>,
) -> Response {
    let login_hint = request.login_hint.as_deref().unwrap_or("");
    if request.prompt == Some(Prompt::Login) {
        return request.page(ctx, login_hint, None);
    }
    let session = session_id.and_then(|id| state.store.sessions().get(id).cloned());
    let now = state.clock.now();
    let mut candidates = Vec::new();
    if let Some(session) = &session {
        for signed_in in &session.users {
            let Some((user, home)) = user_and_home(state, &signed_in.upn) else {
                continue;
            };
            let hinted = request
                .login_hint
                .as_deref()
                .is_none_or(|h| h.eq_ignore_ascii_case(&user.upn));
            if hinted && request.authority.admits(home) && request.client.usable_in(home) {
                candidates.push((session.session_state.as_str(), signed_in, user, home));
            }
        }
    }
    let fresh = |auth_time: u64| {
        request
            .max_age
            .is_none_or(|max| now.saturating_sub(auth_time) <= max)
    };
    match (request.prompt, candidates.as_slice()) {
        (Some(Prompt::None), []) => request.reply.error(&EntraError::login_required(), ctx),
        (Some(Prompt::None), [(session_state, signed_in, user, home)]) => {
            if fresh(signed_in.auth_time) {
                issue_code(
                    state,
                    ctx,
                    request,
                    (user, home, signed_in.auth_time),
                    session_state,
                    None,
                )
            } else {
                request.reply.error(&EntraError::login_required(), ctx)
            }
        }
        (Some(Prompt::None), _) => request.reply.error(&EntraError::interaction_required(), ctx),
        // One signed-in user who may use the app: Entra signs them in again silently.
        (_, [(session_state, signed_in, user, home)]) if fresh(signed_in.auth_time) => issue_code(
            state,
            ctx,
            request,
            (user, home, signed_in.auth_time),
            session_state,
            None,
        ),
        _ => request.page(ctx, login_hint, None),
    }
}

/// The user named `upn` and their home tenant.
fn user_and_home<'a>(state: &'a AppState, upn: &str) -> Option<(&'a User, &'a Tenant)> {
    let user = state.directory().user(upn)?;
    // B2C users sign in on their tenant's own host only.
    let home = state
        .directory()
        .tenant(&user.tenant)
        .filter(|t| t.kind != TenantKind::B2c)?;
    Some((user, home))
}

/// The sign-in form was posted: check the credentials, then sign the user in.
fn sign_in(
    state: &AppState,
    ctx: &RequestContext,
    request: &AuthorizeRequest<'_>,
    form: &TokenForm,
    session_id: Option<&str>,
) -> Response {
    let username = form.raw("username").unwrap_or("").trim();
    let password = form.raw("password").unwrap_or("");
    let Some((user, home)) = user_and_home(state, username) else {
        let directory = match request.authority {
            Authority::Tenant(t) => t.shown_name(),
            Authority::AnyTenant { .. } => username.rsplit_once('@').map_or(username, |(_, domain)| domain),
        };
        return request.page(
            ctx,
            username,
            Some(&EntraError::user_not_found(username, directory)),
        );
    };
    if !constant_time_eq(&user.password, password) {
        return request.page(ctx, username, Some(&EntraError::invalid_credentials()));
    }
    if let Some(error) = request.authority.refusal(user, home) {
        return request.page(ctx, username, Some(&error));
    }
    if home.kind == TenantKind::Consumers && !request.client.usable_in(home) {
        let error = EntraError::app_not_enabled_for_consumers(&request.client.client_id);
        return request.page(ctx, username, Some(&error));
    }
    let denied_in = match request.authority {
        Authority::Tenant(t) if t.id != home.id => Some(t.shown_name()),
        _ if !request.client.usable_in(home) => Some(
            state
                .directory()
                .tenant(&request.client.tenant)
                .map_or(request.client.tenant.as_str(), Tenant::shown_name),
        ),
        _ => None,
    };
    if let Some(tenant) = denied_in {
        let error = EntraError::user_not_in_tenant(&user.upn, tenant, &request.client.client_id);
        return request.page(ctx, username, Some(&error));
    }

    let now = state.clock.now();
    let (id, session_state) = session::sign_in(state, session_id, &user.upn, now);
    let cookie = session::set_cookie(&id);
    issue_code(state, ctx, request, (user, home, now), &session_state, cookie)
}

/// Sends the app what it asked for: a fresh authorization code (stored
/// for the token endpoint), and with the implicit grant or the hybrid flow
/// an access token and/or an ID token (its `c_hash`/`at_hash` binding the
/// code and access token that travel with it). `signed_in` is the user,
/// their home tenant and when they entered their password.
fn issue_code(
    state: &AppState,
    ctx: &RequestContext,
    request: &AuthorizeRequest<'_>,
    signed_in: (&User, &Tenant, u64),
    session_state: &str,
    set_cookie: Option<HeaderValue>,
) -> Response {
    let (user, home, auth_time) = signed_in;
    let mut fields = Vec::new();
    let mut hashes = token::issue::IdTokenHashes::default();
    if request.response_type.code {
        let code = store::random_token("1.AC.");
        state.store.codes().insert(
            code.clone(),
            AuthCode {
                client_id: request.client.client_id.clone(),
                redirect_uri: request.reply.redirect_uri.clone(),
                code_challenge: request.code_challenge.clone(),
                upn: user.upn.clone(),
                tenant_id: home.id.clone(),
                scopes: request.scope.clone(),
                nonce: request.nonce.clone(),
                auth_time,
                issued_at: state.clock.now(),
                redeemed: false,
                realm: store::Realm::Entra,
            },
        );
        tracing::info!(
            tenant = %home.id,
            client_id = %request.client.client_id,
            user = %user.upn,
            "issued authorization code"
        );
        hashes.c_hash = Some(token::issue::half_hash(&code));
        fields.push(("code", code));
    }
    if request.response_type.has_tokens() {
        match implicit_tokens(state, ctx, request, user, home, auth_time, hashes) {
            Ok(tokens) => fields.extend(tokens),
            Err(e) => return request.reply.error(&e, ctx),
        }
    }
    if request.client_info {
        fields.push(("client_info", token::client_info(&user.object_id, &home.id)));
    }
    fields.push(("session_state", session_state.to_owned()));
    let mut response = request.reply.send(fields);
    if let Some(cookie) = set_cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// The implicit grant's tokens: an access token (`token`) for the
/// request's resource scopes, an ID token (`id_token`) with the request's
/// nonce. No refresh token ever comes from the authorize endpoint.
fn implicit_tokens(
    state: &AppState,
    ctx: &RequestContext,
    request: &AuthorizeRequest<'_>,
    user: &User,
    home: &Tenant,
    auth_time: u64,
    mut hashes: token::issue::IdTokenHashes,
) -> Result<Vec<(&'static str, String)>, EntraError> {
    let mut scopes = Scopes::parse(&request.scope.join(" "));
    scopes.oidc.retain(|s| s != "offline_access");
    let tokens = token::issue::UserTokens {
        tenant: home,
        client: request.client,
        user,
        scopes: &scopes,
        nonce: request.nonce.as_deref(),
        auth_time,
        offline: false,
        client_info: false,
    };
    let mut fields = Vec::new();
    if request.response_type.token {
        // No client authenticates at the authorize endpoint: `azpacr` 0.
        let body = token::issue::user_tokens_with_claims(
            state,
            ctx,
            &tokens,
            &Default::default(),
            token::issue::ClientAcr::Public,
        )?;
        let text = |name: &str| match &body[name] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let access_token = text("access_token");
        hashes.at_hash = Some(token::issue::half_hash(&access_token));
        fields.push(("access_token", access_token));
        fields.push(("token_type", text("token_type")));
        fields.push(("expires_in", text("expires_in")));
        fields.push(("scope", text("scope")));
    }
    if request.response_type.id_token {
        fields.push((
            "id_token",
            token::issue::id_token(state, ctx, &tokens, Some(&hashes))?,
        ));
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_match_on_any_port() {
        assert!(redirect_matches("http://localhost", "http://localhost:51234"));
        assert!(redirect_matches("http://localhost", "http://localhost:51234/"));
        assert!(redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:8080/cb"
        ));
        assert!(!redirect_matches(
            "http://127.0.0.1/cb",
            "http://127.0.0.1:8080/other"
        ));
        assert!(!redirect_matches("http://localhost", "http://127.0.0.1:8080"));
        assert!(!redirect_matches("http://localhost", "https://localhost:8080"));
        assert!(!redirect_matches("http://localhost", "http://localhost:1/#frag"));
        assert!(!redirect_matches("http://localhost", "http://user@localhost:1/"));
        assert!(redirect_matches(
            "https://app.example/cb",
            "https://app.example/cb"
        ));
        assert!(!redirect_matches(
            "https://app.example/cb",
            "https://app.example:444/cb"
        ));
        assert!(!redirect_matches(
            "http://localhost:8400/redirect",
            "http://localhost:8400/redirect2"
        ));
    }
}

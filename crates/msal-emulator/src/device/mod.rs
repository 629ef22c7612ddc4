//! The device authorization grant (RFC 8628) as Entra runs it.
//!
//! - `POST /{tenant}/oauth2/v2.0/devicecode` hands a client a `device_code`
//!   (secret, for polling) and a `user_code` (short, for a human).
//! - `GET|POST /devicelogin` is the verification page: the user enters the
//!   code, signs in (skipped with a browser session), then approves or
//!   declines; each step is a form post back to `/devicelogin`.
//! - The token endpoint's device code grant (in `token::device_code`) polls
//!   the outcome.
//!
//! The browser steps after code entry are bound to a random `flow_token`
//! carried in hidden inputs, so the approval cannot be posted by someone who
//! merely knows the user code.

mod page;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use crate::authorize::session;
use crate::claims::ClaimsRequest;
use crate::context::RequestContext;
use crate::directory::{App, Tenant, User};
use crate::error::EntraError;
use crate::reply;
use crate::scopes::{self, Scopes};
use crate::server::{AccessDetails, AppState};
use crate::store::{self, Bounded, MAX_ENTRIES};
use crate::token::constant_time_eq;
use crate::token::form::TokenForm;
use crate::token::is_multi_tenant;

/// How long a device code can be used (Entra: 15 minutes).
pub(crate) const EXPIRES_IN_SECS: u64 = 900;

/// Characters of a user code: upper-case letters and digits without the
/// ones people confuse when reading or typing (`0`/`O`, `1`/`I`/`L`).
const USER_CODE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789#";

/// Length of a user code, as Entra's.
const USER_CODE_LEN: usize = 9;

/// Where a device authorization stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeviceStatus {
    /// Waiting for the user.
    Pending,
    /// The user approved; the next poll gets tokens.
    Approved {
        /// Who signed in.
        upn: String,
        /// When they entered their password.
        auth_time: u64,
    },
    /// The user declined.
    Declined,
    /// Tokens were issued; the code cannot be redeemed again.
    Redeemed,
}

/// The browser side of one device sign-in, after a correct code entry.
#[derive(Debug, Clone)]
pub(crate) struct BrowserFlow {
    /// Carried in hidden inputs; every later step must present it.
    token: String,
    /// The user who signed in (or came with a session) and when, once known.
    user: Option<(String, u64)>,
}

/// One device authorization request.
#[derive(Debug, Clone)]
pub(crate) struct DeviceAuthorization {
    pub(crate) user_code: String,
    pub(crate) client_id: String,
    /// The authority's tenant id; `None` for `common`/`organizations`.
    pub(crate) tenant_id: Option<String>,
    /// The `scope` parameter as sent, split on spaces.
    pub(crate) scopes: Vec<String>,
    /// What the request's `claims` parameter asked for.
    pub(crate) claims: ClaimsRequest,
    pub(crate) expires_at: u64,
    /// The previous poll (emulator clock, milliseconds), for `slow_down`.
    pub(crate) last_poll_ms: Option<u64>,
    pub(crate) status: DeviceStatus,
    browser: Option<BrowserFlow>,
}

/// Device authorizations by device code, and device codes by user code.
#[derive(Debug)]
pub(crate) struct DeviceCodes {
    inner: Mutex<Inner>,
}

/// The maps behind [`DeviceCodes`], under one lock so they stay in step.
#[derive(Debug)]
pub(crate) struct Inner {
    by_device_code: Bounded<DeviceAuthorization>,
    by_user_code: Bounded<String>,
}

impl Default for DeviceCodes {
    fn default() -> Self {
        DeviceCodes {
            inner: Mutex::new(Inner {
                by_device_code: Bounded::new(MAX_ENTRIES),
                by_user_code: Bounded::new(MAX_ENTRIES),
            }),
        }
    }
}

impl DeviceCodes {
    /// Locks the maps; poisoning is ignored as in [`crate::store`], since
    /// every update leaves them consistent.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    /// The authorization for a device code.
    pub(crate) fn get_mut(&mut self, device_code: &str) -> Option<&mut DeviceAuthorization> {
        self.by_device_code.get_mut(device_code)
    }

    /// The authorization for a user code as typed (any case, spaces and
    /// dashes ignored).
    fn by_user_code(&mut self, typed: &str) -> Option<&mut DeviceAuthorization> {
        let device_code = self.by_user_code.get(&normalize_user_code(typed))?.clone();
        self.by_device_code.get_mut(&device_code)
    }

    /// Stores a new authorization under a fresh device code and a user code
    /// no live authorization uses; returns the device code.
    fn insert(&mut self, mut authorization: DeviceAuthorization) -> String {
        let mut user_code = new_user_code();
        while self.by_user_code.get(&user_code).is_some() {
            user_code = new_user_code();
        }
        authorization.user_code = user_code.clone();
        let device_code = store::random_token("DAQABIQEAAAD");
        self.by_user_code.insert(user_code, device_code.clone());
        self.by_device_code.insert(device_code.clone(), authorization);
        device_code
    }
}

/// A user code as stored: upper case, without the separators people type.
fn normalize_user_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// A random user code of [`USER_CODE_LEN`] characters from the alphabet.
fn new_user_code() -> String {
    let mut bits = u128::from_le_bytes(*uuid::Uuid::new_v4().as_bytes());
    let mut code = String::with_capacity(USER_CODE_LEN);
    for _ in 0..USER_CODE_LEN {
        // 31 usable symbols: draw 5 bits and skip the filler, so every
        // symbol is equally likely. A v4 UUID has 122 random bits; refill
        // when they run low.
        loop {
            if bits < 32 {
                bits = u128::from_le_bytes(*uuid::Uuid::new_v4().as_bytes());
            }
            let index = (bits & 31) as usize;
            bits >>= 5;
            if let Some(&c) = USER_CODE_ALPHABET.get(index).filter(|c| **c != b'#') {
                code.push(char::from(c));
                break;
            }
        }
    }
    code
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub(crate) async fn devicecode(
    State(state): State<Arc<AppState>>,
    ctx: RequestContext,
    Path(tenant): Path<String>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let mut details = AccessDetails::default();
    let result = match TokenForm::read(&parts.headers, body).await {
        Ok(form) => {
            details = AccessDetails::new(None, form.get("client_id"));
            start(&state, &ctx, &tenant, &form)
        }
        Err(e) => Err(e),
    };
    let response = match result {
        Ok(body) => reply::json_no_store(StatusCode::OK, &body),
        Err(e) => e.to_response(&ctx),
    };
    details.attach(response)
}

/// Validates a device authorization request and stores it.
fn start(
    state: &AppState,
    ctx: &RequestContext,
    segment: &str,
    form: &TokenForm,
) -> Result<serde_json::Value, EntraError> {
    let tenant = if is_multi_tenant(segment) && !matches!(ctx.site, crate::site::Site::Ciam(_)) {
        None
    } else {
        Some(
            crate::site::tenant_at(state.directory(), &ctx.site, segment)
                .ok_or_else(|| EntraError::token_tenant_not_found(segment))?,
        )
    };
    let client_id = form.required("client_id")?;
    let client = state
        .directory()
        .app(client_id)
        .filter(|app| tenant.is_none_or(|t| app.usable_in(t)))
        .ok_or_else(|| EntraError::app_not_found(client_id, tenant.map_or(segment, Tenant::shown_name)))?;
    let scope = form.required("scope")?;
    // Under `common` the client's home tenant holds its resources' service principals.
    if let Some(t) = tenant.or_else(|| state.directory().tenant(&client.tenant)) {
        scopes::check(state.directory(), t, &client.client_id, &Scopes::parse(scope))?;
    }
    let claims = ClaimsRequest::parse(form.get("claims"))?;
    let interval = state.device_interval_secs;
    let mut codes = state.device.lock();
    let device_code = codes.insert(DeviceAuthorization {
        user_code: String::new(),
        client_id: client.client_id.clone(),
        tenant_id: tenant.map(|t| t.id.clone()),
        scopes: scope.split_whitespace().map(str::to_owned).collect(),
        claims,
        expires_at: state.clock.now().saturating_add(EXPIRES_IN_SECS),
        last_poll_ms: None,
        status: DeviceStatus::Pending,
        browser: None,
    });
    let user_code = codes
        .get_mut(&device_code)
        .map(|a| a.user_code.clone())
        .unwrap_or_default();
    drop(codes);
    let verification_uri = format!("{}/devicelogin", ctx.base_url);
    tracing::info!(client_id = %client.client_id, user_code, "issued device code");
    Ok(json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": verification_uri,
        "expires_in": EXPIRES_IN_SECS,
        "interval": interval,
        "message": format!(
            "To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."
        ),
    }))
}

/// `GET|POST /devicelogin`: the verification page and its steps.
pub(crate) async fn devicelogin(
    State(state): State<Arc<AppState>>,
    ctx: RequestContext,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    if parts.method != Method::POST {
        return page::enter_code(&ctx, None);
    }
    let form = match TokenForm::read(&parts.headers, body).await {
        Ok(form) => form,
        Err(e) => return page::enter_code(&ctx, Some(&e)),
    };
    let session_id = session::cookie(&parts.headers);
    let typed = form.raw("otc").unwrap_or("");
    match form.get("flow_token") {
        None => enter_code(&state, &ctx, typed, session_id.as_deref()),
        Some(flow) if form.raw("password").is_some() => {
            sign_in(&state, &ctx, typed, flow, &form, session_id.as_deref())
        }
        Some(flow) => decide(&state, &ctx, typed, flow, form.get("action")),
    }
}

/// What the pages need about a pending authorization.
struct Pending {
    user_code: String,
    client_id: String,
    tenant_id: Option<String>,
}

impl Pending {
    fn app<'a>(&self, state: &'a AppState) -> Option<&'a App> {
        state.directory().app(&self.client_id)
    }

    fn app_name(&self, state: &AppState) -> String {
        self.app(state)
            .map_or_else(|| self.client_id.clone(), |a| a.display_name.clone())
    }
}

/// Finds a pending, unexpired authorization by user code and (after code
/// entry) flow token, and lets `step` update it under the lock.
fn with_pending<T>(
    state: &AppState,
    typed: &str,
    flow: Option<&str>,
    step: impl FnOnce(&mut DeviceAuthorization) -> T,
) -> Option<(Pending, T)> {
    let now = state.clock.now();
    let mut codes = state.device.lock();
    let authorization = codes.by_user_code(typed)?;
    if authorization.status != DeviceStatus::Pending || now >= authorization.expires_at {
        return None;
    }
    if let Some(flow) = flow {
        let bound = authorization
            .browser
            .as_ref()
            .is_some_and(|b| constant_time_eq(&b.token, flow));
        if !bound {
            return None;
        }
    }
    let out = step(authorization);
    Some((
        Pending {
            user_code: authorization.user_code.clone(),
            client_id: authorization.client_id.clone(),
            tenant_id: authorization.tenant_id.clone(),
        },
        out,
    ))
}

/// The user typed a code: go on to sign-in, or to consent with a session.
fn enter_code(state: &AppState, ctx: &RequestContext, typed: &str, session_id: Option<&str>) -> Response {
    let flow_token = store::random_token("");
    let found = with_pending(state, typed, None, |a| {
        // A new code entry starts the browser steps afresh.
        a.browser = Some(BrowserFlow {
            token: flow_token.clone(),
            user: None,
        });
    });
    let Some((pending, ())) = found else {
        return page::enter_code(ctx, Some(&EntraError::bad_user_code()));
    };
    if let Some((upn, auth_time)) = session_user(state, &pending, session_id) {
        let bound = with_pending(state, &pending.user_code, Some(&flow_token), |a| {
            if let Some(b) = a.browser.as_mut() {
                b.user = Some((upn.clone(), auth_time));
            }
        });
        if bound.is_some() {
            return page::consent(&consent_page(state, &pending, &flow_token, &upn));
        }
    }
    sign_in_page(state, ctx, &pending, &flow_token, "", None)
}

/// The most recent user of the browser session who may sign in to the app
/// through the code's authority.
fn session_user(state: &AppState, pending: &Pending, session_id: Option<&str>) -> Option<(String, u64)> {
    let session = state.store.sessions().get(session_id?)?.clone();
    session.users.iter().rev().find_map(|signed_in| {
        let (user, home) = user_and_home(state, &signed_in.upn)?;
        admitted(state, pending, home)
            .is_ok()
            .then(|| (user.upn.clone(), signed_in.auth_time))
    })
}

/// The user named `upn` and their home tenant.
fn user_and_home<'a>(state: &'a AppState, upn: &str) -> Option<(&'a User, &'a Tenant)> {
    let user = state.directory().user(upn)?;
    let home = state.directory().tenant(&user.tenant)?;
    Some((user, home))
}

/// Whether a user of `home` may sign in to the code's app through its
/// authority; if not, the directory to name in the error.
fn admitted<'a>(state: &'a AppState, pending: &'a Pending, home: &Tenant) -> Result<(), &'a str> {
    if let Some(tenant_id) = &pending.tenant_id
        && !home.id.eq_ignore_ascii_case(tenant_id)
    {
        return Err(state
            .directory()
            .tenant(tenant_id)
            .map_or(tenant_id.as_str(), Tenant::shown_name));
    }
    match pending.app(state) {
        Some(app) if app.usable_in(home) => Ok(()),
        Some(app) => Err(state
            .directory()
            .tenant(&app.tenant)
            .map_or(app.tenant.as_str(), Tenant::shown_name)),
        None => Err(pending.client_id.as_str()),
    }
}

/// The sign-in form, posting back to `/devicelogin` with the flow.
fn sign_in_page(
    state: &AppState,
    ctx: &RequestContext,
    pending: &Pending,
    flow_token: &str,
    username: &str,
    error: Option<&EntraError>,
) -> Response {
    let params = [
        ("otc".to_owned(), pending.user_code.clone()),
        ("flow_token".to_owned(), flow_token.to_owned()),
    ];
    crate::authorize::page::sign_in(
        &crate::authorize::page::SignIn {
            action: "/devicelogin",
            params: &params,
            username,
            app_name: &pending.app_name(state),
            error,
        },
        ctx,
    )
}

fn consent_page<'a>(
    state: &AppState,
    pending: &'a Pending,
    flow_token: &'a str,
    upn: &'a str,
) -> page::Consent<'a> {
    page::Consent {
        app_name: pending.app_name(state),
        upn,
        user_code: &pending.user_code,
        flow_token,
    }
}

/// The sign-in form was posted: check the credentials, then ask for consent.
fn sign_in(
    state: &AppState,
    ctx: &RequestContext,
    typed: &str,
    flow_token: &str,
    form: &TokenForm,
    session_id: Option<&str>,
) -> Response {
    let Some((pending, ())) = with_pending(state, typed, Some(flow_token), |_| ()) else {
        return page::enter_code(ctx, Some(&EntraError::bad_user_code()));
    };
    let username = form.raw("username").unwrap_or("").trim();
    let password = form.raw("password").unwrap_or("");
    let Some((user, home)) = user_and_home(state, username) else {
        let directory = match &pending.tenant_id {
            Some(id) => state
                .directory()
                .tenant(id)
                .map_or(id.as_str(), Tenant::shown_name),
            None => username.rsplit_once('@').map_or(username, |(_, domain)| domain),
        };
        let error = EntraError::user_not_found(username, directory);
        return sign_in_page(state, ctx, &pending, flow_token, username, Some(&error));
    };
    if !constant_time_eq(&user.password, password) {
        let error = EntraError::invalid_credentials();
        return sign_in_page(state, ctx, &pending, flow_token, username, Some(&error));
    }
    if let Err(tenant) = admitted(state, &pending, home) {
        let error = EntraError::user_not_in_tenant(&user.upn, tenant, &pending.client_id);
        return sign_in_page(state, ctx, &pending, flow_token, username, Some(&error));
    }
    let now = state.clock.now();
    let bound = with_pending(state, &pending.user_code, Some(flow_token), |a| {
        if let Some(b) = a.browser.as_mut() {
            b.user = Some((user.upn.clone(), now));
        }
    });
    if bound.is_none() {
        return page::enter_code(ctx, Some(&EntraError::bad_user_code()));
    }
    let (id, _) = session::sign_in(state, session_id, &user.upn, now);
    let mut response = page::consent(&consent_page(state, &pending, flow_token, &user.upn));
    if let Some(cookie) = session::set_cookie(&id) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// The consent form was posted: record the user's decision.
fn decide(
    state: &AppState,
    ctx: &RequestContext,
    typed: &str,
    flow_token: &str,
    action: Option<&str>,
) -> Response {
    let approve = match action {
        Some("approve") => true,
        Some("decline") => false,
        _ => {
            let error = EntraError::malformed("The action must be approve or decline.");
            return page::enter_code(ctx, Some(&error));
        }
    };
    let decided = with_pending(state, typed, Some(flow_token), |a| {
        let user = a.browser.as_ref().and_then(|b| b.user.clone())?;
        a.status = match &user {
            (upn, auth_time) if approve => DeviceStatus::Approved {
                upn: upn.clone(),
                auth_time: *auth_time,
            },
            _ => DeviceStatus::Declined,
        };
        // The decision is final: the flow cannot be posted again.
        a.browser = None;
        Some(user.0)
    });
    let Some((pending, Some(upn))) = decided else {
        return page::enter_code(ctx, Some(&EntraError::bad_user_code()));
    };
    tracing::info!(client_id = %pending.client_id, user = %upn, approve, "device code decided");
    page::done(&pending.app_name(state), approve)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_unambiguous() {
        for _ in 0..200 {
            let code = new_user_code();
            assert_eq!(code.len(), USER_CODE_LEN);
            assert!(code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
            assert!(!code.contains(['0', 'O', '1', 'I', 'L']), "{code}");
        }
        assert_ne!(new_user_code(), new_user_code());
    }

    #[test]
    fn normalizes_typed_codes() {
        assert_eq!(normalize_user_code(" abc-def ghj "), "ABCDEFGHJ");
    }
}

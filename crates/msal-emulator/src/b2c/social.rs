//! An emulated external identity provider (a "social" account provider
//! such as Google) on a host of its own, and B2C's side of the round trip:
//! the B2C sign-in page's button sends the browser to the provider's
//! authorize page with B2C's own redirect URI
//! (`https://{b2c host}/{tenant}/oauth2/authresp`); the person signs in
//! there; the provider sends a code back; B2C redeems it (in process) for
//! the account, then issues its own code to the app, with the provider's
//! `idp` in the tokens.
//!
//! The original authorize request travels in the provider's `state`
//! (base64url JSON) and is validated again on the way back, as if it had
//! just arrived; the provider's codes are single-use and short-lived.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::{B2cAuthorize, B2cError};
use crate::authorize::page::{self, escape};
use crate::authorize::redirect;
use crate::context::RequestContext;
use crate::directory::IdentityProvider;
use crate::server::{AppState, counted};
use crate::site::{self, Site};
use crate::stats::Endpoint;
use crate::store::{self, Bounded};
use crate::token::constant_time_eq;
use crate::token::form::TokenForm;

/// How long a provider's code can be redeemed by B2C.
const CODE_LIFETIME_SECS: u64 = 300;

/// Most provider codes kept at once.
const MAX_CODES: usize = 1_000;

/// A provider's code: who signed in where, for which B2C return address.
#[derive(Debug, Clone)]
struct ProviderCode {
    provider: String,
    upn: String,
    redirect_uri: String,
    issued_at: u64,
}

/// The codes providers issued and B2C has not redeemed yet.
#[derive(Debug)]
pub(crate) struct Pending(Mutex<Bounded<ProviderCode>>);

impl Default for Pending {
    fn default() -> Self {
        Pending(Mutex::new(Bounded::new(MAX_CODES)))
    }
}

impl Pending {
    fn lock(&self) -> MutexGuard<'_, Bounded<ProviderCode>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The authorize request B2C carries through the provider in `state`.
#[derive(Serialize, Deserialize)]
struct Carried {
    /// The tenant segment as the app sent it.
    segment: String,
    policy: String,
    params: Vec<(String, String)>,
}

/// The port part of this request's base URL (`:PORT`, or empty).
fn port_suffix(ctx: &RequestContext) -> &str {
    let authority = ctx.base_url.trim_start_matches("https://");
    &authority[site::host_of(authority).len()..]
}

/// Where the B2C page's button for `provider` goes: the provider's
/// authorize page, with B2C's return address and the request in `state`.
pub(crate) fn start_url(
    ctx: &RequestContext,
    request: &B2cAuthorize<'_>,
    provider: &IdentityProvider,
) -> String {
    let carried = Carried {
        segment: request.segment.clone(),
        policy: request.policy.to_owned(),
        params: request.params.clone(),
    };
    let state = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&carried).unwrap_or_default());
    let redirect_uri = format!(
        "{}/{}/oauth2/authresp",
        ctx.base_url,
        request.tenant.domains.first().unwrap_or(&request.tenant.name)
    );
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &request.tenant.id)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email profile")
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("state", &state)
        .finish();
    format!(
        "https://{}{}/oauth2/authorize?{query}",
        provider.host.to_ascii_lowercase(),
        port_suffix(ctx)
    )
}

/// The provider site's routes.
pub(crate) fn router(state: &Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/oauth2/authorize",
            counted(
                state,
                Endpoint::Authorize,
                "GET or POST",
                get(provider_authorize).post(provider_authorize),
            ),
        )
        .fallback(provider_not_found)
        .with_state(state.clone())
}

/// A plain error page of the provider.
fn provider_error(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<main>\n<h1>Sign-in error</h1>\n<div id=\"error\" role=\"alert\">{}</div>\n</main>\n",
        escape(message)
    );
    page::html(status, page::document("Sign-in error", "", &body))
}

async fn provider_not_found(State(state): State<Arc<AppState>>) -> Response {
    state.stats.record(Endpoint::Other);
    provider_error(StatusCode::NOT_FOUND, "This page does not exist.")
}

/// `GET|POST /oauth2/authorize` at the provider: its sign-in page, and
/// the page's post, which sends a code back to B2C.
async fn provider_authorize(
    State(state): State<Arc<AppState>>,
    ctx: RequestContext,
    request: Request,
) -> Response {
    let Site::Social(name) = &ctx.site else {
        return provider_error(StatusCode::NOT_FOUND, "Unknown identity provider.");
    };
    let Some(provider) = state.directory().identity_provider(name) else {
        return provider_error(StatusCode::NOT_FOUND, "Unknown identity provider.");
    };
    let (parts, body) = request.into_parts();
    let form = if parts.method == Method::POST {
        TokenForm::read(&parts.headers, body).await
    } else {
        TokenForm::from_query(parts.uri.query().unwrap_or(""))
    };
    let Ok(form) = form else {
        return provider_error(StatusCode::BAD_REQUEST, "The request is malformed.");
    };
    // Only a B2C tenant offering this provider may use it, and only with
    // its own return address.
    let Some(redirect_uri) = form
        .get("redirect_uri")
        .filter(|uri| returns_to_tenant(&state, provider, form.get("client_id"), uri))
    else {
        return provider_error(
            StatusCode::BAD_REQUEST,
            "The client or its redirect_uri is not registered with this provider.",
        );
    };
    let params: Vec<(String, String)> = form
        .params()
        .iter()
        .filter(|(n, _)| n != "username" && n != "password")
        .cloned()
        .collect();
    if parts.method == Method::POST && form.raw("password").is_some() {
        let username = form.raw("username").unwrap_or("").trim();
        let password = form.raw("password").unwrap_or("");
        let user = state.directory().user(username).filter(|u| {
            u.identity_provider
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(&provider.name))
        });
        match user {
            Some(user) if constant_time_eq(&user.password, password) => {
                let code = store::random_token("idp.");
                state.social.lock().insert(
                    code.clone(),
                    ProviderCode {
                        provider: provider.name.clone(),
                        upn: user.upn.clone(),
                        redirect_uri: redirect_uri.to_owned(),
                        issued_at: state.clock.now(),
                    },
                );
                let Ok(mut url) = url::Url::parse(redirect_uri) else {
                    return provider_error(StatusCode::BAD_REQUEST, "The redirect_uri is not a URL.");
                };
                url.query_pairs_mut().append_pair("code", &code);
                if let Some(s) = form.get("state") {
                    url.query_pairs_mut().append_pair("state", s);
                }
                redirect(url.as_str())
            }
            _ => sign_in_page(provider, &params, username, Some("Wrong email or password.")),
        }
    } else {
        sign_in_page(provider, &params, form.get("login_hint").unwrap_or(""), None)
    }
}

/// Whether `redirect_uri` is `https://{b2c host}[:port]/{tenant}/oauth2/authresp`
/// of the B2C tenant `client_id` names, and that tenant offers `provider`.
fn returns_to_tenant(
    state: &AppState,
    provider: &IdentityProvider,
    client_id: Option<&str>,
    redirect_uri: &str,
) -> bool {
    let Some(tenant) = client_id.and_then(|id| state.directory().tenant(id)) else {
        return false;
    };
    if !tenant
        .identity_providers
        .iter()
        .any(|p| p.eq_ignore_ascii_case(&provider.name))
    {
        return false;
    }
    let Ok(url) = url::Url::parse(redirect_uri) else {
        return false;
    };
    url.scheme() == "https"
        && url
            .host_str()
            .is_some_and(|h| Some(h.to_ascii_lowercase()) == tenant.login_host())
        && url.path().ends_with("/oauth2/authresp")
        && url.query().is_none()
}

/// The provider's own sign-in page.
fn sign_in_page(
    provider: &IdentityProvider,
    params: &[(String, String)],
    username: &str,
    error: Option<&str>,
) -> Response {
    let title = if provider.display_name.is_empty() {
        &provider.name
    } else {
        &provider.display_name
    };
    let mut body = format!(
        "<main>\n<h1>{}</h1>\n<p>Sign in with your account</p>\n",
        escape(title)
    );
    if let Some(error) = error {
        body.push_str(&format!(
            "<div id=\"error\" role=\"alert\">{}</div>\n",
            escape(error)
        ));
    }
    body.push_str("<form id=\"signin-form\" method=\"post\" action=\"/oauth2/authorize\">\n");
    for (name, value) in params {
        body.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
            escape(name),
            escape(value)
        ));
    }
    body.push_str(&format!(
        "<label for=\"username\">Email</label>\n\
         <input id=\"username\" name=\"username\" type=\"email\" value=\"{}\" autocomplete=\"username\" autofocus>\n\
         <label for=\"password\">Password</label>\n\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\">\n\
         <button id=\"signin\" type=\"submit\">Next</button>\n</form>\n\
         <p><small>msal-emulator: an emulated external identity provider.</small></p>\n</main>\n",
        escape(username)
    ));
    page::html(StatusCode::OK, page::document(title, "", &body))
}

/// `GET /{tenant}/oauth2/authresp` at B2C: the provider's answer. Redeems
/// its code, validates the carried authorize request again, and sends the
/// app B2C's own code for the tenant's user linked to that account.
pub(crate) async fn authresp(
    State(state): State<Arc<AppState>>,
    ctx: RequestContext,
    Path(_tenant): Path<String>,
    request: Request,
) -> Response {
    let bad = |message: &str| B2cError::new("invalid_request", 90273, message.to_owned()).page(&ctx);
    let Ok(form) = TokenForm::from_query(request.uri().query().unwrap_or("")) else {
        return bad("The response from the identity provider is malformed.");
    };
    let carried: Option<Carried> = form
        .get("state")
        .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let Some(carried) = carried else {
        return bad("The state returned by the identity provider is not valid.");
    };
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(carried.params.iter())
        .finish();
    let Ok(original) = TokenForm::from_query(&query) else {
        return bad("The state returned by the identity provider is not valid.");
    };
    let request = match B2cAuthorize::validate(&state, &ctx, &carried.segment, &carried.policy, &original) {
        Ok(request) => request,
        Err(failure) => return failure.respond(&ctx),
    };
    let Some(code) = form.get("code") else {
        // The person gave up at the provider (or it failed): tell the app.
        let error = B2cError::new(
            "access_denied",
            90091,
            "The user has cancelled entering self-asserted information.",
        );
        return error.to_app(&request.reply, &ctx);
    };
    let Some(record) = state.social.lock().remove(code) else {
        return bad("The code from the identity provider is not valid or was already used.");
    };
    let fresh = state.clock.now().saturating_sub(record.issued_at) < CODE_LIFETIME_SECS;
    let offered = request
        .tenant
        .identity_providers
        .iter()
        .any(|p| p.eq_ignore_ascii_case(&record.provider));
    let same_return = url::Url::parse(&record.redirect_uri).is_ok_and(|u| {
        Some(u.host_str().unwrap_or_default().to_ascii_lowercase()) == request.tenant.login_host()
    });
    let Some(provider) = state
        .directory()
        .identity_provider(&record.provider)
        .filter(|_| fresh && offered && same_return)
    else {
        return bad("The code from the identity provider is not valid here.");
    };
    let user = state.directory().user(&record.upn).filter(|u| {
        request.tenant.is_named(&u.tenant)
            && u.identity_provider
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(&provider.name))
    });
    match user {
        Some(user) => request.issue_code(&state, user, Some(&provider.idp)),
        None => B2cError::new(
            "access_denied",
            99002,
            format!(
                "This user does not exist and profile '{}' cannot be used to create one.",
                request.policy
            ),
        )
        .to_app(&request.reply, &ctx),
    }
}

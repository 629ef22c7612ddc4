//! The OpenID Connect endpoints a relying party uses besides the token
//! endpoint, as the discovery document advertises them:
//!
//! - `GET|POST /oidc/userinfo` with a bearer access token the emulator
//!   issued to a user for Microsoft Graph: the user's `sub`
//!   (the same pairwise value as the ID token's for that client), `name`,
//!   `email`, `oid` is not included (as Entra's);
//! - `GET|POST /{tenant}/oauth2/v2.0/logout` (`end_session_endpoint`): ends
//!   the browser session (the session cookie's users are forgotten and the
//!   cookie expired), then redirects to `post_logout_redirect_uri` with
//!   `state` when that URI is registered (for the app the `id_token_hint`
//!   names, or any app when there is no hint), else shows a signed-out page.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::authorize::session;
use crate::context::RequestContext;
use crate::reply;
use crate::server::AppState;
use crate::token::issue::pairwise_subject;

/// `/oidc/userinfo`.
pub(crate) async fn userinfo(
    State(state): State<Arc<AppState>>,
    ctx: RequestContext,
    headers: HeaderMap,
) -> Response {
    let unauthorized = |error: Option<&str>, message: &str| {
        let mut value = "Bearer realm=\"\"".to_owned();
        if let Some(error) = error {
            value.push_str(&format!(", error=\"{error}\""));
        }
        let mut response = reply::json(
            StatusCode::UNAUTHORIZED,
            &json!({"error": {"code": "InvalidAuthenticationToken", "message": message,
                "innerError": {"request-id": ctx.trace_id.to_string(), "client-request-id": ctx.correlation_id}}}),
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        response
    };
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
    else {
        return unauthorized(None, "No bearer token was presented.");
    };
    let verified = match crate::token::issued_token::verify(&state, token) {
        Ok(verified) => verified,
        Err(_) => return unauthorized(Some("invalid_token"), "The access token is not valid."),
    };
    let graph = matches!(
        verified.str("aud"),
        Some(crate::directory::MICROSOFT_GRAPH_APP_ID | crate::directory::MICROSOFT_GRAPH_RESOURCE)
    );
    // A user's Graph token, as a client that asked for `openid` gets one.
    // (The emulator's `scp` lists the resource's scopes only, so `openid`
    // itself is not looked for there.)
    let user_token = verified.str("idtyp") == Some("user") || verified.str("scp").is_some();
    if !graph || !user_token {
        return unauthorized(
            Some("invalid_token"),
            "The access token must be a user's token for Microsoft Graph.",
        );
    }
    let (Some(oid), Some(client)) = (verified.str("oid"), verified.str("azp").or(verified.str("appid")))
    else {
        return unauthorized(Some("invalid_token"), "The access token names no user.");
    };
    let user = verified.str("upn").and_then(|upn| state.directory().user(upn));
    let mut body = Map::new();
    body.insert("sub".into(), json!(pairwise_subject(oid, client)));
    if let Some(user) = user {
        body.insert("name".into(), json!(user.display_name));
        body.insert("email".into(), json!(user.upn));
        let (given, family) = user
            .display_name
            .split_once(' ')
            .unwrap_or((&user.display_name, ""));
        body.insert("given_name".into(), json!(given));
        body.insert("family_name".into(), json!(family));
    }
    reply::json(StatusCode::OK, &Value::Object(body))
}

/// The sign-out request's parameters.
#[derive(Deserialize)]
pub(crate) struct LogoutParams {
    #[serde(default)]
    post_logout_redirect_uri: Option<String>,
    #[serde(default)]
    id_token_hint: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

/// `/{tenant}/oauth2/v2.0/logout`.
pub(crate) async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(params): Query<LogoutParams>,
) -> Response {
    if let Some(id) = session::cookie(&headers) {
        state.store.sessions().remove(&id);
    }
    let expire = HeaderValue::from_str(&format!(
        "{}=; Path=/; Secure; HttpOnly; SameSite=None; Max-Age=0",
        session::COOKIE_NAME
    ));
    let hinted_client = params.id_token_hint.as_deref().and_then(audience_of);
    let target = params.post_logout_redirect_uri.as_deref().filter(|uri| {
        state
            .directory()
            .apps
            .iter()
            .filter(|app| {
                hinted_client
                    .as_deref()
                    .is_none_or(|c| app.client_id.eq_ignore_ascii_case(c))
            })
            .any(|app| {
                app.redirect_uris
                    .iter()
                    .any(|r| crate::authorize::redirect_matches(r, uri))
            })
    });
    let mut response = match target.and_then(|uri| url::Url::parse(uri).ok()) {
        Some(mut url) => {
            if let Some(s) = &params.state {
                url.query_pairs_mut().append_pair("state", s);
            }
            let mut response = StatusCode::FOUND.into_response();
            if let Ok(location) = HeaderValue::from_str(url.as_str()) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        None => Html(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Signed out</title></head>\
             <body><p>You signed out of your account. Close this window.</p></body></html>",
        )
        .into_response(),
    };
    if let Ok(expire) = expire {
        response.headers_mut().insert(header::SET_COOKIE, expire);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The `aud` of an ID token hint (expired hints are fine, as at Entra: only
/// the client is read from it).
fn audience_of(id_token: &str) -> Option<String> {
    let payload = id_token.split('.').nth(1)?;
    let claims: Map<String, Value> = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get("aud")?.as_str().map(str::to_owned)
}

//! A web app (axum) that signs users in with the authorization code flow and
//! calls an API as them: `/login` sends the browser to the identity
//! provider, `/redirect` redeems the code, `/me` gets the user's token
//! silently (cached, or refreshed) and calls the downstream API with it.
//! Sessions live in this process's memory, keyed by a random cookie; the
//! tokens live in a bounded in-memory cache partitioned by user.
//!
//! ```sh
//! cargo run -p msal --example web_app      # then open http://localhost:8400
//! ```
//!
//! Without `MSAL_AUTHORITY` it starts the local emulator and uses its web
//! app (sign in as `alice@contoso.onmicrosoft.com` / `Alice-P@ssw0rd`);
//! with `MSAL_AUTHORITY`, `MSAL_CLIENT_ID` and `MSAL_CLIENT_SECRET` (or
//! `MSAL_CLIENT_SECRET_FILE`) it uses that registration, whose redirect URI
//! must be `http://localhost:8400/redirect` (`PORT` and `MSAL_REDIRECT_URI`
//! change it). See `examples/setup/mod.rs` for every variable.
//!
//! An example: it unwraps where a failure can only be a bug in it.

// See above: examples may unwrap.
#![allow(clippy::unwrap_used)]

mod setup;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use msal::cache::distributed::{DistributedTokenCache, MemoryPartitionStore};
use msal::{Account, AuthCodeFlow, AuthCodeFlowOptions, AuthResponse, ConfidentialClientApplication};
use serde_json::{Value, json};
use setup::{Role, Setup};

/// What the app asks for: the user's profile in Microsoft Graph.
const SCOPES: [&str; 1] = ["User.Read"];
const SESSION_COOKIE: &str = "session";

/// One browser's session, kept in memory.
enum Session {
    /// Sent to sign in: the flow to finish when the browser comes back.
    SigningIn(AuthCodeFlow),
    /// Signed in: the account whose tokens the cache holds.
    SignedIn(Account),
}

#[derive(Clone)]
struct AppState {
    msal: ConfidentialClientApplication,
    sessions: Arc<Mutex<HashMap<String, Session>>>,
    redirect_uri: String,
    web: reqwest::Client,
    downstream_url: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setup = Setup::from_env(Role::WebApp).await?;
    let (listener, port) = setup::listen(8400).await?;

    // 1. One application for the whole server. Its cache is a bounded
    // in-memory store, one partition per user (64 MiB here).
    let cache = DistributedTokenCache::in_memory(MemoryPartitionStore::with_byte_budget(64 << 20));
    let msal = ConfidentialClientApplication::builder(&setup.client_id)
        .authority(&setup.authority)
        .client_secret(setup.secret()?)
        .cache_hooks(cache)
        .http_client(setup.http.clone())
        .build()?;

    let state = AppState {
        msal,
        sessions: Arc::default(),
        redirect_uri: std::env::var("MSAL_REDIRECT_URI")
            .unwrap_or_else(|_| format!("http://localhost:{port}/redirect")),
        web: setup.web.clone(),
        downstream_url: setup.downstream_url.clone(),
    };
    let app = Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/redirect", get(redirect))
        .route("/me", get(me))
        .route("/logout", get(logout))
        .with_state(state);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn home() -> Html<&'static str> {
    Html(
        r#"<h1>msal web app</h1><p><a href="/login">Sign in</a> · <a href="/me">Me</a> · <a href="/logout">Sign out</a></p>"#,
    )
}

/// Step 2: sends the browser to the identity provider, remembering the flow in
/// a new session.
async fn login(State(state): State<AppState>) -> Response {
    let flow = match state
        .msal
        .initiate_auth_code_flow(SCOPES, &state.redirect_uri, &AuthCodeFlowOptions::default())
        .await
    {
        Ok(flow) => flow,
        Err(e) => return error(StatusCode::BAD_GATEWAY, &e),
    };
    let auth_uri = flow.auth_uri().to_owned();
    let id = new_session_id();
    state
        .sessions
        .lock()
        .unwrap()
        .insert(id.clone(), Session::SigningIn(flow));
    (
        [(header::SET_COOKIE, setup::session_cookie(SESSION_COOKIE, &id))],
        Redirect::to(&auth_uri),
    )
        .into_response()
}

/// Step 3: the identity provider sends the browser back here: msal checks the
/// response against the flow (state, nonce), redeems the code and caches
/// the user's tokens.
async fn redirect(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let Some(id) = setup::cookie(&headers, SESSION_COOKIE) else {
        return Redirect::to("/login").into_response();
    };
    let flow = match state.sessions.lock().unwrap().remove(id) {
        Some(Session::SigningIn(flow)) => flow,
        _ => return Redirect::to("/login").into_response(),
    };
    let response = AuthResponse::from_query(query.as_deref().unwrap_or_default());
    match state.msal.acquire_token_by_auth_code_flow(&flow, &response).await {
        Ok(result) => {
            let Some(account) = result.account else {
                return (StatusCode::BAD_GATEWAY, "the identity provider named no account").into_response();
            };
            // A new session id after sign-in, so a planted one is worthless.
            let id = new_session_id();
            state
                .sessions
                .lock()
                .unwrap()
                .insert(id.clone(), Session::SignedIn(account));
            (
                [(header::SET_COOKIE, setup::session_cookie(SESSION_COOKIE, &id))],
                Redirect::to("/me"),
            )
                .into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, &e),
    }
}

/// Step 4: the user's token from the cache (refreshed when needed), then the
/// downstream API called with it.
async fn me(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let account = {
        let sessions = state.sessions.lock().unwrap();
        match setup::cookie(&headers, SESSION_COOKIE).and_then(|id| sessions.get(id)) {
            Some(Session::SignedIn(account)) => account.clone(),
            _ => return Redirect::to("/login").into_response(),
        }
    };
    let token = match state.msal.acquire_token_silent(SCOPES, &account).await {
        Ok(token) => token,
        // Only the user can help (no refresh token, or it was revoked).
        Err(msal::Error::InteractionRequired { .. }) => return Redirect::to("/login").into_response(),
        Err(e) => return error(StatusCode::BAD_GATEWAY, &e),
    };
    let downstream = match call(
        &state.web,
        &state.downstream_url,
        token.access_token.expose_secret(),
    )
    .await
    {
        Ok(body) => body,
        Err(e) => {
            return (StatusCode::BAD_GATEWAY, format!("the downstream API failed: {e}")).into_response();
        }
    };
    axum::Json(json!({
        "user": account.username,
        "token_source": token.token_source.as_str(),
        "downstream": downstream,
    }))
    .into_response()
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let session =
        setup::cookie(&headers, SESSION_COOKIE).and_then(|id| state.sessions.lock().unwrap().remove(id));
    if let Some(Session::SignedIn(account)) = session {
        // Through the cache hooks: the user's partition loses their tokens.
        if let Err(e) = state.msal.sign_out(&account).await {
            return error(StatusCode::BAD_GATEWAY, &e);
        }
    }
    (
        [(header::SET_COOKIE, setup::expired_cookie(SESSION_COOKIE))],
        Redirect::to("/"),
    )
        .into_response()
}

/// GETs `url` with the bearer token; its JSON answer.
async fn call(web: &reqwest::Client, url: &str, token: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let response = web.get(url).bearer_auth(token).send().await?;
    let status = response.status();
    let body = response.text().await?;
    if !status.is_success() {
        return Err(format!("{status}: {body}").into());
    }
    Ok(serde_json::from_str(&body)?)
}

/// 32 random bytes, base64url: a session id nobody can guess.
fn new_session_id() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).unwrap();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// msal's errors name what failed and never hold a secret: safe to show.
fn error(status: StatusCode, e: &msal::Error) -> Response {
    (status, format!("sign-in failed: {e}")).into_response()
}

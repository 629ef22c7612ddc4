//! A web app run as a farm: any number of instances behind a load
//! balancer, sharing users' tokens through Redis, so any instance serves a
//! user who signed in on another. Users sign in (authorization code flow)
//! to the app's own API scope; `/me` gets that token from the cache and
//! trades it, on behalf of the user, for a Microsoft Graph token, which it
//! calls `/me` with. Both kinds of token live in a
//! [`DistributedTokenCache`]: a bounded memory layer per instance in front
//! of Redis, one partition per user and per on-behalf-of assertion,
//! optionally encrypted. The session is a cookie sealed (AES-256-GCM:
//! signed and encrypted) with a key every instance shares, so it holds no
//! server-side state.
//!
//! ```sh
//! redis-server --port 6379 &
//! msal emulator --port 8443 --cert-out /tmp/ca.pem &   # or a real tenant
//! export MSAL_AUTHORITY=https://127.0.0.1:8443/contoso MSAL_CA_CERT=/tmp/ca.pem \
//!   MSAL_CLIENT_ID=... MSAL_CLIENT_SECRET=... MSAL_API_SCOPE=api://.../access_as_user \
//!   MSAL_REDIS_URL=redis://127.0.0.1:6379/0 \
//!   MSAL_SESSION_KEY=$(openssl rand -base64 32) MSAL_CACHE_KEY=$(openssl rand -base64 32)
//! PORT=8400 cargo run -p msal --example web_farm &
//! PORT=8402 cargo run -p msal --example web_farm &
//! ```
//!
//! Sign in at `http://localhost:8400/login`, then open
//! `http://localhost:8402/me`: the second instance knows you. The
//! registration exposes an API (`MSAL_API_SCOPE`, default
//! `api://{client id}/access_as_user`), has the redirect URI
//! `http://localhost:8400/redirect` (`MSAL_REDIRECT_URI` changes it) and
//! a secret. Without `MSAL_AUTHORITY` one instance runs against an
//! emulator of its own (a farm needs one identity provider for all:
//! configure it). See `examples/setup/mod.rs` for every variable.
//!
//! An example: it unwraps where a failure can only be a bug in it.

// See above: examples may unwrap.
#![allow(clippy::unwrap_used)]

mod setup;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use msal::cache::distributed::{
    CacheEncryptionKey, DistributedTokenCache, MemoryPartitionStore, RedisConfig, RedisStore,
};
use msal::{
    Account, AuthCodeFlow, AuthCodeFlowOptions, AuthResponse, ConfidentialClientApplication, UserAssertion,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use setup::{Role, Setup};
use std::sync::Arc;

/// What `/me` needs downstream: the user's profile in Microsoft Graph.
const DOWNSTREAM_SCOPES: [&str; 1] = ["https://graph.microsoft.com/User.Read"];
const SESSION_COOKIE: &str = "farm_session";
/// How long a session cookie is honoured.
const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// A browser's session, carried in its cookie.
#[derive(Serialize, Deserialize)]
enum Session {
    /// Sent to sign in: the flow to finish when the browser comes back
    /// (to any instance). It holds the PKCE verifier, hence the encryption.
    SigningIn(AuthCodeFlow),
    /// Signed in: the account whose tokens are in Redis.
    SignedIn(Account),
}

#[derive(Serialize, Deserialize)]
struct SealedSession {
    session: Session,
    /// Epoch seconds after which the cookie is refused.
    expires_at: u64,
}

#[derive(Clone)]
struct AppState {
    msal: ConfidentialClientApplication,
    api_scope: String,
    sessions: Arc<SessionKey>,
    redirect_uri: String,
    instance: String,
    web: reqwest::Client,
    downstream_url: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setup = Setup::from_env(Role::WebAppWithApi).await?;
    let sessions = Arc::new(SessionKey::from_env()?);

    // 1. The token cache every instance shares: 64 MiB in memory here, in
    // front of Redis, its values sealed with the farm's key when given.
    let redis_url = std::env::var("MSAL_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    let mut redis = RedisConfig::single(&redis_url)?;
    if let Ok(key) = std::env::var("MSAL_CACHE_KEY") {
        redis = redis.encryption_key(CacheEncryptionKey::from_base64(&key)?);
    }
    let cache = DistributedTokenCache::with_redis(
        MemoryPartitionStore::with_byte_budget(64 << 20),
        RedisStore::new(redis)?,
    );

    let (listener, port) = setup::listen(8400).await?;

    // 2. One application per instance, its cache hooked to that store.
    let msal = ConfidentialClientApplication::builder(&setup.client_id)
        .authority(&setup.authority)
        .client_secret(setup.secret()?)
        .cache_hooks(cache)
        .http_client(setup.http.clone())
        .build()?;

    let state = AppState {
        msal,
        api_scope: setup.api_scope.clone(),
        sessions,
        redirect_uri: std::env::var("MSAL_REDIRECT_URI")
            .unwrap_or_else(|_| format!("http://localhost:{port}/redirect")),
        instance: std::env::var("MSAL_INSTANCE").unwrap_or_else(|_| format!("localhost:{port}")),
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
        r#"<h1>msal web farm</h1><p><a href="/login">Sign in</a> · <a href="/me">Me</a> · <a href="/logout">Sign out</a></p>"#,
    )
}

/// Step 3: sends the browser to sign in; the flow goes in its sealed cookie.
async fn login(State(state): State<AppState>) -> Response {
    let flow = match state
        .msal
        .initiate_auth_code_flow(
            [&state.api_scope],
            &state.redirect_uri,
            &AuthCodeFlowOptions::default(),
        )
        .await
    {
        Ok(flow) => flow,
        Err(e) => return error(StatusCode::BAD_GATEWAY, &e),
    };
    let auth_uri = flow.auth_uri().to_owned();
    let cookie = state.sessions.seal(Session::SigningIn(flow));
    (
        [(header::SET_COOKIE, setup::session_cookie(SESSION_COOKIE, &cookie))],
        Redirect::to(&auth_uri),
    )
        .into_response()
}

/// Step 4: back from the identity provider: redeem the code. The tokens go to
/// the user's partition (their home account id), in memory and in Redis.
async fn redirect(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let Some(Session::SigningIn(flow)) = state.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let response = AuthResponse::from_query(query.as_deref().unwrap_or_default());
    match state.msal.acquire_token_by_auth_code_flow(&flow, &response).await {
        Ok(result) => {
            let Some(account) = result.account else {
                return (StatusCode::BAD_GATEWAY, "the identity provider named no account").into_response();
            };
            let cookie = state.sessions.seal(Session::SignedIn(account));
            (
                [(header::SET_COOKIE, setup::session_cookie(SESSION_COOKIE, &cookie))],
                Redirect::to("/me"),
            )
                .into_response()
        }
        Err(e) => error(StatusCode::BAD_REQUEST, &e),
    }
}

/// Step 5: on any instance: the user's token for this app's API from the
/// shared cache (refreshed with the refresh token kept there when it
/// expired), traded on behalf of the user for a Graph token (cached in
/// Redis too, per incoming token), and Graph called with it.
async fn me(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(Session::SignedIn(account)) = state.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let token = match state
        .msal
        .acquire_token_silent([&state.api_scope], &account)
        .await
    {
        Ok(token) => token,
        Err(msal::Error::InteractionRequired { .. }) => return Redirect::to("/login").into_response(),
        Err(e) => return error(StatusCode::BAD_GATEWAY, &e),
    };
    let assertion = UserAssertion::new(token.access_token.expose_secret());
    let downstream_token = match state
        .msal
        .acquire_token_on_behalf_of(&assertion, DOWNSTREAM_SCOPES)
        .await
    {
        Ok(result) => result,
        Err(e) => return error(StatusCode::BAD_GATEWAY, &e),
    };
    let downstream = match call(
        &state.web,
        &state.downstream_url,
        downstream_token.access_token.expose_secret(),
    )
    .await
    {
        Ok(body) => body,
        Err(e) => {
            return (StatusCode::BAD_GATEWAY, format!("the downstream API failed: {e}")).into_response();
        }
    };
    axum::Json(json!({
        "instance": state.instance,
        "user": account.username,
        "token_source": token.token_source.as_str(),
        "downstream_token_source": downstream_token.token_source.as_str(),
        "downstream": downstream,
    }))
    .into_response()
}

/// Signs the user out of the farm: their partition loses its tokens.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(Session::SignedIn(account)) = state.session(&headers)
        && let Err(e) = state.msal.sign_out(&account).await
    {
        return error(StatusCode::BAD_GATEWAY, &e);
    }
    (
        [(header::SET_COOKIE, setup::expired_cookie(SESSION_COOKIE))],
        Redirect::to("/"),
    )
        .into_response()
}

impl AppState {
    /// The session in the request's cookie, if it opens with the farm's key
    /// and has not expired.
    fn session(&self, headers: &HeaderMap) -> Option<Session> {
        self.sessions.open(setup::cookie(headers, SESSION_COOKIE)?)
    }
}

/// The key that seals session cookies: the same on every instance.
struct SessionKey(RandomizedNonceKey);

impl SessionKey {
    /// From `MSAL_SESSION_KEY` (32 bytes, standard base64); else a random
    /// key, good for this instance only.
    fn from_env() -> Result<SessionKey, Box<dyn std::error::Error>> {
        let bytes = match std::env::var("MSAL_SESSION_KEY") {
            Ok(text) => STANDARD
                .decode(text.trim())
                .map_err(|_| "MSAL_SESSION_KEY is not base64")?,
            Err(_) => {
                eprintln!("No MSAL_SESSION_KEY: sessions work on this instance only");
                let mut bytes = vec![0u8; 32];
                SystemRandom::new().fill(&mut bytes).unwrap();
                bytes
            }
        };
        let key =
            RandomizedNonceKey::new(&AES_256_GCM, &bytes).map_err(|_| "MSAL_SESSION_KEY must be 32 bytes")?;
        Ok(SessionKey(key))
    }

    /// `session` sealed under a fresh nonce: base64url(nonce ‖ ciphertext ‖ tag).
    fn seal(&self, session: Session) -> String {
        let expires_at = now() + SESSION_LIFETIME.as_secs();
        let mut data = serde_json::to_vec(&SealedSession { session, expires_at }).unwrap();
        let nonce = self
            .0
            .seal_in_place_append_tag(Aad::from(SESSION_COOKIE), &mut data)
            .unwrap();
        let mut cookie = nonce.as_ref().to_vec();
        cookie.extend_from_slice(&data);
        URL_SAFE_NO_PAD.encode(cookie)
    }

    /// The session in `cookie`, or `None` if it was altered, sealed with
    /// another key, malformed or expired.
    fn open(&self, cookie: &str) -> Option<Session> {
        let bytes = URL_SAFE_NO_PAD.decode(cookie).ok()?;
        let (nonce, sealed) = bytes.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(SESSION_COOKIE), &mut sealed)
            .ok()?;
        let session: SealedSession = serde_json::from_slice(plain).ok()?;
        (session.expires_at > now()).then_some(session.session)
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
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

/// msal's errors name what failed and never hold a secret: safe to show.
fn error(status: StatusCode, e: &msal::Error) -> Response {
    (status, format!("failed: {e}")).into_response()
}

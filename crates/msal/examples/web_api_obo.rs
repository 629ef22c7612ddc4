//! A protected web API (axum) that calls another API for its caller, with
//! the on-behalf-of flow: `GET /me` takes the caller's bearer token,
//! checks it was issued for this API, trades it for a token to the
//! downstream API (Microsoft Graph) for the same user, and calls that.
//! On-behalf-of tokens are cached per incoming token, so a client calling
//! again with the same token costs no token request.
//!
//! ```sh
//! cargo run -p msal --example web_api_obo   # listens on http://localhost:8401
//! curl -H "Authorization: Bearer $TOKEN" http://localhost:8401/me
//! ```
//!
//! Without `MSAL_AUTHORITY` it starts the local emulator and acts as its
//! orders API (a caller gets a token with the scope
//! `api://7351786e-0dac-4468-bf34-f1235f4eb15e/Orders.Read`); with
//! `MSAL_AUTHORITY`, `MSAL_CLIENT_ID` and `MSAL_CLIENT_SECRET` (or
//! `MSAL_CLIENT_SECRET_FILE`) it is that registration. `MSAL_API_AUDIENCE`
//! names the audiences it accepts (comma-separated; default its client id
//! and `api://{client id}`). See `examples/setup/mod.rs` for every variable.
//!
//! The token check here is deliberately minimal (audience and expiry, read
//! without verifying the signature): the identity provider verifies the
//! token when it is exchanged, so a forged one gets nothing downstream. An
//! API that grants anything on its own must verify the signature against
//! the issuer's keys (a JWT library with the tenant's JWKS) before trusting
//! any claim.
//!
//! An example: it unwraps where a failure can only be a bug in it.

// See above: examples may unwrap.
#![allow(clippy::unwrap_used)]

mod setup;

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use msal::cache::distributed::{DistributedTokenCache, MemoryPartitionStore};
use msal::{ConfidentialClientApplication, UserAssertion};
use serde_json::{Value, json};
use setup::{Role, Setup};

/// What this API needs downstream: the user's profile in Microsoft Graph.
const DOWNSTREAM_SCOPES: [&str; 1] = ["https://graph.microsoft.com/User.Read"];

#[derive(Clone)]
struct AppState {
    msal: ConfidentialClientApplication,
    audiences: Vec<String>,
    web: reqwest::Client,
    downstream_url: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setup = Setup::from_env(Role::WebApi).await?;
    let (listener, _) = setup::listen(8401).await?;

    // 1. One application for the whole API, with a bounded in-memory cache
    // partitioned by incoming token (64 MiB here).
    let cache = DistributedTokenCache::in_memory(MemoryPartitionStore::with_byte_budget(64 << 20));
    let msal = ConfidentialClientApplication::builder(&setup.client_id)
        .authority(&setup.authority)
        .client_secret(setup.secret()?)
        .cache_hooks(cache)
        .http_client(setup.http.clone())
        .build()?;

    let audiences = match std::env::var("MSAL_API_AUDIENCE") {
        Ok(list) => list.split(',').map(|a| a.trim().to_owned()).collect(),
        Err(_) => vec![setup.client_id.clone(), format!("api://{}", setup.client_id)],
    };
    let state = AppState {
        msal,
        audiences,
        web: setup.web.clone(),
        downstream_url: setup.downstream_url.clone(),
    };
    let app = Router::new().route("/me", get(me)).with_state(state);
    axum::serve(listener, app).await?;
    Ok(())
}

/// Steps 2 and 3: checks the caller's token, gets a downstream token for the same
/// user (the cache first, the identity provider otherwise), and calls the
/// downstream API with it.
async fn me(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (token, claims) = match caller(&headers, &state.audiences) {
        Ok(found) => found,
        Err(reason) => return unauthorized(reason),
    };
    let assertion = UserAssertion::new(token);
    let downstream_token = match state
        .msal
        .acquire_token_on_behalf_of(&assertion, DOWNSTREAM_SCOPES)
        .await
    {
        Ok(result) => result,
        // The identity provider refused the token (forged, revoked, or not
        // consented): the caller's problem, not ours.
        Err(e @ (msal::Error::Service(_) | msal::Error::InteractionRequired { .. })) => {
            return unauthorized(&e.to_string());
        }
        Err(e) => return (StatusCode::BAD_GATEWAY, format!("on-behalf-of failed: {e}")).into_response(),
    };
    let response = state
        .web
        .get(&state.downstream_url)
        .bearer_auth(downstream_token.access_token.expose_secret())
        .send()
        .await;
    let downstream: Value = match response {
        Ok(r) if r.status().is_success() => match r.text().await.map(|body| serde_json::from_str(&body)) {
            Ok(Ok(json)) => json,
            _ => return (StatusCode::BAD_GATEWAY, "the downstream API's answer is not JSON").into_response(),
        },
        Ok(r) => {
            return (
                StatusCode::BAD_GATEWAY,
                format!("the downstream API answered {}", r.status()),
            )
                .into_response();
        }
        Err(e) => {
            return (StatusCode::BAD_GATEWAY, format!("the downstream API failed: {e}")).into_response();
        }
    };
    axum::Json(json!({
        "caller": claims.get("upn").or_else(|| claims.get("preferred_username")),
        "token_source": downstream_token.token_source.as_str(),
        "downstream": downstream,
    }))
    .into_response()
}

/// The bearer token and its claims, if it is addressed to this API and
/// unexpired (see the module's note on signatures).
fn caller(headers: &HeaderMap, audiences: &[String]) -> Result<(String, Value), &'static str> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or("no Authorization header")?
        .to_str()
        .map_err(|_| "a malformed Authorization header")?;
    let token = value.strip_prefix("Bearer ").ok_or("not a bearer token")?.trim();
    let payload = token.split('.').nth(1).ok_or("not a JWT")?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| "not a JWT")?;
    let claims: Value = serde_json::from_slice(&bytes).map_err(|_| "not a JWT")?;
    let aud = claims.get("aud").and_then(Value::as_str).unwrap_or_default();
    if !audiences.iter().any(|a| a == aud) {
        return Err("the token is not for this API");
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    if claims
        .get("exp")
        .and_then(Value::as_u64)
        .is_none_or(|exp| exp <= now)
    {
        return Err("the token has expired");
    }
    Ok((token.to_owned(), claims))
}

/// 401 with the reason in `WWW-Authenticate`, as RFC 6750 says.
fn unauthorized(reason: &str) -> Response {
    // A header value: printable ASCII only, no quotes to break out of.
    let reason: String = reason
        .chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c == ' ' || c.is_ascii_graphic() => c,
            _ => ' ',
        })
        .collect();
    let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{reason}\"");
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, challenge)],
        reason,
    )
        .into_response()
}

//! The test-control surface: the token endpoint's inspection layer (the
//! telemetry check, then injected faults; the managed identity endpoints
//! apply theirs in [`crate::managed_identity`]) and the admin HTTP endpoints
//! other MSALs and the CLI use to drive the emulator:
//!
//! | Method and path            | Does                                                         |
//! |----------------------------|--------------------------------------------------------------|
//! | `POST /_admin/faults`      | adds a fault, or an array of them ([`Fault`]'s JSON form)     |
//! | `GET /_admin/faults`       | lists the active faults                                      |
//! | `DELETE /_admin/faults`    | clears every fault                                           |
//! | `GET /_admin/telemetry`    | `{"checked": n, "violation_count": n, "violations": [...]}`  |
//! | `DELETE /_admin/telemetry` | forgets the telemetry check's findings                       |
//! | `GET /_admin/directory`    | the served directory (the config's JSON form, secrets too)   |
//! | `POST /_admin/apps`        | adds an app registration (an `apps` entry's JSON form)       |
//! | `POST /_admin/users`       | adds a user (a `users` entry's JSON form)                    |
//! | `POST /_admin/revoke`      | `{"upn": …}`: revokes the user's sessions and refresh tokens |
//! | `GET /_admin/clock`        | `{"now": unix seconds}` as the emulator's clock has it       |
//! | `POST /_admin/clock`       | `{"advance_seconds": n}`: moves the clock forward            |
//! | `POST /_admin/keys/roll`   | rolls the token-signing keys over (`{"kid": new current}`)   |
//!
//! Added apps and users are validated against the whole directory as a
//! config file is (a refusal names the field, and changes nothing); they
//! last until the emulator stops.
//!
//! Admin requests are not counted in the request statistics. Each needs
//! `Authorization: Bearer <admin token>` ([`Emulator::admin_token`](crate::Emulator::admin_token),
//! printed in `msal emulator`'s ready line), and a request that a browser
//! sent on a web page's behalf (an `Origin` other than the emulator's own)
//! is refused, so neither another local user nor a page can steer it.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};

use crate::context::RequestContext;
use crate::directory::{App, User};
use crate::error::EntraError;
use crate::faults::{self, Effect, Fault, FaultKind};
use crate::keys::SigningKey;
use crate::reply;
use crate::server::{AccessDetails, AppState};
use crate::stats::Endpoint;
use crate::token::form::MAX_BODY_BYTES;

/// Runs before the token endpoint's handler: checks the telemetry headers,
/// then applies the first matching fault. The body is read once here and
/// handed on unchanged.
pub(crate) async fn token_layer(
    State(state): State<Arc<AppState>>,
    ctx: RequestContext,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        // The handler refuses it as Entra does; it still counts for the check.
        state.telemetry.check(&parts.headers, "(none)", "(none)");
        return next.run(Request::from_parts(parts, body)).await;
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return EntraError::body_too_large(MAX_BODY_BYTES).to_response(&ctx);
    };
    let mut client_id = None;
    let mut grant_type = None;
    for (name, value) in url::form_urlencoded::parse(&bytes) {
        match name.as_ref() {
            "client_id" => client_id = Some(value.into_owned()),
            "grant_type" => grant_type = Some(value.into_owned()),
            _ => {}
        }
    }
    let problems = state.telemetry.check(
        &parts.headers,
        grant_type.as_deref().unwrap_or("(none)"),
        client_id.as_deref().unwrap_or("(none)"),
    );
    // The layer's own answers (refusals, faults) name the grant and client
    // in the access log as the handler's do; it has read the form already.
    let details = || {
        AccessDetails::new(
            crate::token::logged_grant(grant_type.as_deref()),
            client_id.as_deref(),
        )
    };
    if state.strict_telemetry && !problems.is_empty() {
        return details().attach(invalid_telemetry(&ctx, &problems));
    }
    let fault = state.faults.take(Endpoint::Token, client_id.as_deref(), |kind| {
        // The managed identity kinds mean nothing to Entra's token endpoint.
        !kind.is_arc_key() && *kind != FaultKind::WrongIdentity
    });
    let mut strip_access_token = false;
    if let Some(kind) = fault {
        tracing::info!(
            ?kind,
            client_id = client_id.as_deref().unwrap_or(""),
            "injecting a fault"
        );
        match faults::effect(kind) {
            Effect::Delay(delay) => tokio::time::sleep(delay).await,
            Effect::Error(error) => return details().attach(faults::entra_response(&error, &ctx)),
            Effect::Replace(response) => return details().attach(response),
            Effect::StripAccessToken => strip_access_token = true,
            Effect::Endpoint(_) => {}
        }
    }
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    if strip_access_token {
        faults::strip_access_token(response).await
    } else {
        response
    }
}

fn invalid_telemetry(ctx: &RequestContext, problems: &[String]) -> Response {
    reply::json(
        StatusCode::BAD_REQUEST,
        &json!({
            "error": "invalid_request",
            "error_description": format!(
                "AADSTS900144: The request's MSAL telemetry headers are invalid (strict emulator): {}. \
                 Trace ID: {} Correlation ID: {}",
                problems.join("; "),
                ctx.trace_id,
                ctx.correlation_id
            ),
            "error_codes": [900144],
            "trace_id": ctx.trace_id.to_string(),
            "correlation_id": ctx.correlation_id,
        }),
    )
}

/// Admits an admin request only with the admin token and without a
/// foreign `Origin`.
pub(crate) async fn guard(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let own = origin.to_str().is_ok_and(|o| o.eq_ignore_ascii_case(&state.url));
        if !own {
            return refuse(StatusCode::FORBIDDEN, "cross-origin admin requests are refused");
        }
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let expected = state.admin_token.as_bytes();
    if aws_lc_rs::constant_time::verify_slices_are_equal(presented.trim().as_bytes(), expected).is_err() {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "the admin endpoints need Authorization: Bearer <admin token> (see the ready line)",
        );
    }
    next.run(request).await
}

fn refuse(status: StatusCode, reason: &str) -> Response {
    let mut response = reply::json(
        status,
        &json!({ "error": "unauthorized_client", "error_description": reason }),
    );
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// `POST /_admin/faults`.
pub(crate) async fn add_faults(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let faults: Vec<Fault> = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(items)) => match items.into_iter().map(serde_json::from_value).collect() {
            Ok(faults) => faults,
            Err(e) => return bad_request(&e.to_string()),
        },
        Ok(one) => match serde_json::from_value(one) {
            Ok(fault) => vec![fault],
            Err(e) => return bad_request(&e.to_string()),
        },
        Err(e) => return bad_request(&e.to_string()),
    };
    for fault in faults {
        if !state.faults.add(fault) {
            return bad_request("too many faults; clear them first");
        }
    }
    list(&state)
}

/// `GET /_admin/faults`.
pub(crate) async fn get_faults(State(state): State<Arc<AppState>>) -> Response {
    list(&state)
}

/// `DELETE /_admin/faults`.
pub(crate) async fn clear_faults(State(state): State<Arc<AppState>>) -> Response {
    state.faults.clear();
    list(&state)
}

/// `GET /_admin/telemetry`.
pub(crate) async fn get_telemetry(State(state): State<Arc<AppState>>) -> Response {
    reply::json(
        StatusCode::OK,
        &json!({
            "checked": state.telemetry.checked(),
            "violation_count": state.telemetry.violation_count(),
            "violations": state.telemetry.violations(),
        }),
    )
}

/// `DELETE /_admin/telemetry`.
pub(crate) async fn clear_telemetry(State(state): State<Arc<AppState>>) -> Response {
    state.telemetry.clear();
    get_telemetry(State(state)).await
}

fn list(state: &AppState) -> Response {
    reply::json(StatusCode::OK, &json!({ "faults": state.faults.list() }))
}

fn bad_request(reason: &str) -> Response {
    reply::json(
        StatusCode::BAD_REQUEST,
        &json!({ "error": "invalid_request", "error_description": reason }),
    )
}

/// The longest clock advance one request may ask for (ten years): far past
/// every lifetime the emulator models, short of overflowing timestamps.
const MAX_CLOCK_ADVANCE_SECS: u64 = 10 * 365 * 86_400;

/// Parses a JSON body as `T`, naming the offending field on failure.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| format!("invalid JSON at `{}`: {}", e.path(), e.inner()))?;
    de.end().map_err(|e| format!("invalid JSON: {e}"))?;
    Ok(value)
}

/// `GET /_admin/directory`.
pub(crate) async fn get_directory(State(state): State<Arc<AppState>>) -> Response {
    match serde_json::to_value(state.directory()) {
        Ok(body) => reply::json(StatusCode::OK, &body),
        Err(e) => reply::json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({ "error": "server_error", "error_description": e.to_string() }),
        ),
    }
}

/// `POST /_admin/apps`.
pub(crate) async fn add_app(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let app: App = match parse_body(&body) {
        Ok(app) => app,
        Err(reason) => return bad_request(&reason),
    };
    let client_id = app.client_id.clone();
    match state.add_app(app) {
        Ok(()) => reply::json(StatusCode::CREATED, &json!({ "client_id": client_id })),
        Err(e) => bad_request(&e.to_string()),
    }
}

/// `POST /_admin/users`.
pub(crate) async fn add_user(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let user: User = match parse_body(&body) {
        Ok(user) => user,
        Err(reason) => return bad_request(&reason),
    };
    let upn = user.upn.clone();
    match state.add_user(user) {
        Ok(()) => reply::json(StatusCode::CREATED, &json!({ "upn": upn })),
        Err(e) => bad_request(&e.to_string()),
    }
}

/// The body of `POST /_admin/revoke`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Revoke {
    upn: String,
}

/// `POST /_admin/revoke`: what an administrator's "revoke sessions" does:
/// refresh tokens are revoked, the user is signed out of every browser
/// session, and access tokens issued before now fail the resource's
/// Continuous Access Evaluation check.
pub(crate) async fn revoke(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let Revoke { upn } = match parse_body(&body) {
        Ok(revoke) => revoke,
        Err(reason) => return bad_request(&reason),
    };
    let Some(user) = state.directory().user(&upn) else {
        return not_found(&format!("no user named '{upn}'"));
    };
    let upn = user.upn.clone();
    let refresh_tokens = state.revoke_refresh_tokens(&upn);
    let sessions = state.sign_out_everywhere(&upn);
    state.revoke_user_sessions(&upn);
    reply::json(
        StatusCode::OK,
        &json!({
            "upn": upn,
            "refresh_tokens_revoked": refresh_tokens,
            "sessions_signed_out": sessions,
        }),
    )
}

/// The body of `POST /_admin/clock`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceClock {
    advance_seconds: u64,
}

/// `GET /_admin/clock`.
pub(crate) async fn get_clock(State(state): State<Arc<AppState>>) -> Response {
    reply::json(StatusCode::OK, &json!({ "now": state.clock.now() }))
}

/// `POST /_admin/clock`.
pub(crate) async fn advance_clock(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let AdvanceClock { advance_seconds } = match parse_body(&body) {
        Ok(advance) => advance,
        Err(reason) => return bad_request(&reason),
    };
    if advance_seconds == 0 || advance_seconds > MAX_CLOCK_ADVANCE_SECS {
        return bad_request(&format!(
            "advance_seconds must be between 1 and {MAX_CLOCK_ADVANCE_SECS}, got {advance_seconds}"
        ));
    }
    state.clock.advance(advance_seconds);
    tracing::info!(advance_seconds, "advanced the clock");
    get_clock(State(state)).await
}

/// `POST /_admin/keys/roll`.
pub(crate) async fn roll_signing_keys(State(state): State<Arc<AppState>>) -> Response {
    match roll_keys(&state).await {
        Ok(kid) => {
            let jwks = state.signing_keys.jwks("");
            let kids: Vec<Value> = jwks["keys"]
                .as_array()
                .map(|keys| keys.iter().map(|k| k["kid"].clone()).collect())
                .unwrap_or_default();
            reply::json(StatusCode::OK, &json!({ "kid": kid, "published": kids }))
        }
        Err(e) => reply::json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({ "error": "server_error", "error_description": e }),
        ),
    }
}

/// Generates the new next key (off the async workers: RSA), rolls, and
/// keeps the keys in the state directory if there is one.
pub(crate) async fn roll_keys(state: &AppState) -> Result<String, String> {
    let fresh = tokio::task::spawn_blocking(SigningKey::generate)
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let kid = state.signing_keys.roll(fresh);
    tracing::info!(kid, "rolled the token-signing keys over");
    if let Some(dir) = state.state_dir.clone() {
        let ring = state.signing_keys.persisted();
        tokio::task::spawn_blocking(move || dir.save_signing_keys(&ring))
            .await
            .map_err(|e| e.to_string())??;
    }
    Ok(kid)
}

fn not_found(reason: &str) -> Response {
    reply::json(
        StatusCode::NOT_FOUND,
        &json!({ "error": "not_found", "error_description": reason }),
    )
}

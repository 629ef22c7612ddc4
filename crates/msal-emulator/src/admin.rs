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
use crate::error::EntraError;
use crate::faults::{self, Effect, Fault, FaultKind};
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

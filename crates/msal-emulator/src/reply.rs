//! JSON responses as Entra sends them (content type and caching headers).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// Entra's content type for every JSON response.
const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// A JSON response with Entra's `Content-Type`.
pub(crate) fn json(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    response
}

/// A JSON response that must not be cached (token responses, as Entra sends them).
pub(crate) fn json_no_store(status: StatusCode, body: &Value) -> Response {
    let mut response = json(status, body);
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// A resource's `401 invalid_token` with a `WWW-Authenticate` challenge of
/// `scheme` (`PoP`, `mtls_pop`) saying why.
pub(crate) fn invalid_token(scheme: &str, reason: &str) -> Response {
    let mut response = json(
        StatusCode::UNAUTHORIZED,
        &serde_json::json!({"error": "invalid_token", "error_description": reason}),
    );
    let challenge = format!(
        "{scheme} error=\"invalid_token\", error_description=\"{}\"",
        reason.replace('"', "'")
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

//! JSON requests to the emulator and its replies, and the shape of an
//! Entra error reply (the clients come from `msal-test-support`).

use reqwest::header::HeaderMap;
use reqwest::{Client, StatusCode};
use serde_json::Value;

/// A response: status, headers and body parsed as JSON.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Reply {
    pub(crate) async fn from_response(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body reads");
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// The header's value as a string.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// GETs `url` and parses the JSON reply.
pub(crate) async fn get(client: &Client, url: &str) -> Reply {
    Reply::from_response(client.get(url).send().await.expect("GET succeeds")).await
}

/// POSTs a form to `url` and parses the JSON reply.
pub(crate) async fn post_form(client: &Client, url: &str, form: &[(&str, &str)]) -> Reply {
    Reply::from_response(client.post(url).form(form).send().await.expect("POST succeeds")).await
}

/// Asserts `reply` is an Entra error with this status, error and AADSTS code.
pub(crate) fn assert_entra_error(reply: &Reply, status: u16, error: &str, code: u64) {
    let body = &reply.body;
    assert_eq!(reply.status.as_u16(), status, "status of {body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"], serde_json::json!([code]), "{body}");
    let description = body["error_description"].as_str().expect("description");
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    let trace_id = body["trace_id"].as_str().expect("trace_id");
    let correlation_id = body["correlation_id"].as_str().expect("correlation_id");
    let timestamp = body["timestamp"].as_str().expect("timestamp");
    assert!(uuid::Uuid::parse_str(trace_id).is_ok(), "{trace_id}");
    assert!(
        description.ends_with(&format!(
            " Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}"
        )),
        "{description}"
    );
    // `YYYY-MM-DD HH:MM:SSZ`
    let b = timestamp.as_bytes();
    assert_eq!(b.len(), 20, "{timestamp}");
    assert!(b[4] == b'-' && b[7] == b'-' && b[10] == b' ' && b[13] == b':' && b[19] == b'Z');
    assert_eq!(
        body["error_uri"],
        format!("https://login.microsoftonline.com/error?code={code}")
    );
    assert_eq!(
        reply.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(reply.header("x-ms-request-id"), Some(trace_id));
}

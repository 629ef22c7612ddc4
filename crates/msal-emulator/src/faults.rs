//! Fault injection: answers the token endpoint with throttling (429 with or
//! without `Retry-After`), server errors, added latency or a dropped
//! connection, for every app or one client id, a number of times or until
//! cleared. Faults come from [`EmulatorConfig`](crate::EmulatorConfig), from
//! [`Emulator::inject_fault`](crate::Emulator::inject_fault), or from the
//! admin endpoint `POST /_admin/faults` (see [`crate::admin`]), whose JSON
//! form is [`Fault`]'s serde form:
//!
//! ```json
//! {"kind": "too_many_requests", "retry_after": 3, "client_id": "…", "count": 1}
//! {"kind": "server_error", "status": 503}
//! {"kind": "latency", "millis": 1500}
//! {"kind": "drop_connection", "count": 2}
//! ```

use std::io;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use http_body::Frame;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::RequestContext;
use crate::reply;

/// One injected fault: what happens, to whom, how many times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WireFault", into = "WireFault")]
pub struct Fault {
    /// What the token endpoint does instead of answering normally.
    pub kind: FaultKind,
    /// Only requests with this `client_id` (any case); `None`: every app.
    pub client_id: Option<String>,
    /// How many matching requests it applies to; `None`: until cleared.
    pub count: Option<u32>,
}

/// What an injected [`Fault`] does to a token request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultKind {
    /// HTTP 429 `temporarily_unavailable`, with `Retry-After: n` when given.
    TooManyRequests {
        /// Seconds for the `Retry-After` header; `None` sends none.
        retry_after: Option<u64>,
    },
    /// This 5xx status (500 `server_error`, 503 `temporarily_unavailable`, ...).
    ServerError(u16),
    /// Waits this long, then answers normally.
    Latency(Duration),
    /// Reads the request, then breaks the connection without an answer.
    DropConnection,
}

impl Fault {
    /// A fault for every app, until cleared.
    pub fn new(kind: FaultKind) -> Self {
        Fault {
            kind,
            client_id: None,
            count: None,
        }
    }

    /// The same fault, only for requests with `client_id`.
    pub fn for_client(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The same fault, for the next `count` matching requests only.
    pub fn times(mut self, count: u32) -> Self {
        self.count = Some(count);
        self
    }
}

/// The JSON form of a [`Fault`].
#[derive(Serialize, Deserialize)]
struct WireFault {
    #[serde(flatten)]
    kind: WireKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    count: Option<u32>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum WireKind {
    TooManyRequests {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
    ServerError {
        status: u16,
    },
    Latency {
        millis: u64,
    },
    DropConnection,
}

/// Longest injectable latency: below the emulator's request timeout.
const MAX_LATENCY: Duration = Duration::from_secs(25);

impl TryFrom<WireFault> for Fault {
    type Error = String;

    fn try_from(wire: WireFault) -> Result<Self, String> {
        let kind = match wire.kind {
            WireKind::TooManyRequests { retry_after } => FaultKind::TooManyRequests { retry_after },
            WireKind::ServerError { status } if (500..=599).contains(&status) => {
                FaultKind::ServerError(status)
            }
            WireKind::ServerError { status } => return Err(format!("status {status} is not a 5xx")),
            WireKind::Latency { millis } if Duration::from_millis(millis) <= MAX_LATENCY => {
                FaultKind::Latency(Duration::from_millis(millis))
            }
            WireKind::Latency { millis } => {
                return Err(format!("latency {millis} ms is above the {MAX_LATENCY:?} limit"));
            }
            WireKind::DropConnection => FaultKind::DropConnection,
        };
        Ok(Fault {
            kind,
            client_id: wire.client_id,
            count: wire.count,
        })
    }
}

impl From<Fault> for WireFault {
    fn from(fault: Fault) -> Self {
        let kind = match fault.kind {
            FaultKind::TooManyRequests { retry_after } => WireKind::TooManyRequests { retry_after },
            FaultKind::ServerError(status) => WireKind::ServerError { status },
            FaultKind::Latency(d) => WireKind::Latency {
                millis: u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            },
            FaultKind::DropConnection => WireKind::DropConnection,
        };
        WireFault {
            kind,
            client_id: fault.client_id,
            count: fault.count,
        }
    }
}

/// Most faults held at once: enough for any test, bounded for the admin API.
const MAX_FAULTS: usize = 256;

/// The active faults, first match wins.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    active: Mutex<Vec<Fault>>,
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, Vec<Fault>> {
        self.active.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a fault; `false` when the list is full.
    pub(crate) fn add(&self, fault: Fault) -> bool {
        let mut active = self.lock();
        if active.len() >= MAX_FAULTS {
            return false;
        }
        if fault.count != Some(0) {
            active.push(fault);
        }
        true
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    pub(crate) fn list(&self) -> Vec<Fault> {
        self.lock().clone()
    }

    /// The fault for a request from `client_id`, used up by one.
    pub(crate) fn take(&self, client_id: Option<&str>) -> Option<FaultKind> {
        let mut active = self.lock();
        let index = active.iter().position(|f| match (&f.client_id, client_id) {
            (None, _) => true,
            (Some(wanted), Some(got)) => wanted.eq_ignore_ascii_case(got),
            (Some(_), None) => false,
        })?;
        let kind = active[index].kind.clone();
        match &mut active[index].count {
            Some(1) => {
                active.remove(index);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(kind)
    }
}

/// The answer of a fault that replaces the real one (all but latency).
pub(crate) fn response(kind: &FaultKind, ctx: &RequestContext) -> Option<Response> {
    let (status, error, code, message, retry_after) = match kind {
        FaultKind::Latency(_) => return None,
        FaultKind::DropConnection => return Some(dropped()),
        FaultKind::TooManyRequests { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            50196,
            "The server terminated an operation because it encountered a client request loop. \
             Please contact your app vendor. (emulated fault)",
            *retry_after,
        ),
        FaultKind::ServerError(status) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let error = if status == StatusCode::SERVICE_UNAVAILABLE {
                "temporarily_unavailable"
            } else {
                "server_error"
            };
            (
                status,
                error,
                90033,
                "A transient error has occurred. Please try again. (emulated fault)",
                None,
            )
        }
    };
    let timestamp = crate::clock::entra_timestamp();
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {message} Trace ID: {} Correlation ID: {} Timestamp: {timestamp}",
            ctx.trace_id, ctx.correlation_id
        ),
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": ctx.trace_id.to_string(),
        "correlation_id": ctx.correlation_id,
    });
    let mut response = reply::json(status, &body);
    if let Some(seconds) = retry_after
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    Some(response)
}

/// A response whose body fails at once: the server then drops the
/// connection, and the client sees it close without a complete answer.
fn dropped() -> Response {
    let mut response = Response::new(Body::new(BrokenBody));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

struct BrokenBody;

impl http_body::Body for BrokenBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "emulated dropped connection",
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_form_round_trips_and_is_validated() {
        let fault: Fault =
            serde_json::from_str(r#"{"kind":"too_many_requests","retry_after":3,"client_id":"a","count":2}"#)
                .unwrap();
        assert_eq!(
            fault,
            Fault::new(FaultKind::TooManyRequests { retry_after: Some(3) })
                .for_client("a")
                .times(2)
        );
        let again: Fault = serde_json::from_value(serde_json::to_value(&fault).unwrap()).unwrap();
        assert_eq!(again, fault);
        let latency: Fault = serde_json::from_str(r#"{"kind":"latency","millis":10}"#).unwrap();
        assert_eq!(latency.kind, FaultKind::Latency(Duration::from_millis(10)));
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"server_error","status":404}"#).is_err());
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"latency","millis":999999}"#).is_err());
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"meteor"}"#).is_err());
    }

    #[test]
    fn faults_match_by_client_and_run_out() {
        let faults = Faults::default();
        faults.add(Fault::new(FaultKind::ServerError(500)).for_client("A").times(2));
        faults.add(Fault::new(FaultKind::DropConnection).times(1));
        assert_eq!(faults.take(Some("a")), Some(FaultKind::ServerError(500)));
        assert_eq!(faults.take(Some("b")), Some(FaultKind::DropConnection));
        assert_eq!(faults.take(Some("b")), None);
        assert_eq!(faults.take(Some("A")), Some(FaultKind::ServerError(500)));
        assert_eq!(faults.take(Some("A")), None);
        faults.add(Fault::new(FaultKind::ServerError(503)));
        for _ in 0..5 {
            assert_eq!(faults.take(None), Some(FaultKind::ServerError(503)));
        }
        faults.clear();
        assert!(faults.list().is_empty());
    }
}

//! Fault injection: answers the token endpoint, or one of the managed
//! identity endpoints, with throttling (429 with or without `Retry-After`),
//! server errors, any error status, added latency, a dropped connection, a
//! body that is not JSON, a token response without a token, or (managed
//! identity) a token for another identity and broken Azure Arc challenges;
//! for every client or one client id, a number of times or until cleared.
//! Faults come from [`EmulatorConfig`](crate::EmulatorConfig), from
//! [`Emulator::inject_fault`](crate::Emulator::inject_fault), or from the
//! admin endpoint `POST /_admin/faults` (see [`crate::admin`]), whose JSON
//! form is [`Fault`]'s serde form (`endpoint` defaults to `token`; the
//! others are the managed identity endpoints, named as [`Endpoint::name`]
//! names them: `imds`, `imds_instance`, `app_service`, `azure_ml`,
//! `service_fabric`, `azure_arc`, `cloud_shell`):
//!
//! ```json
//! {"kind": "too_many_requests", "retry_after": 3, "client_id": "…", "count": 1}
//! {"kind": "server_error", "status": 503}
//! {"kind": "latency", "millis": 1500}
//! {"kind": "drop_connection", "count": 2}
//! {"kind": "status", "status": 410, "endpoint": "imds", "count": 3}
//! {"kind": "not_json", "endpoint": "app_service"}
//! {"kind": "missing_access_token"}
//! {"kind": "wrong_identity", "endpoint": "azure_arc"}
//! {"kind": "arc_key_too_large", "endpoint": "azure_arc"}
//! ```
//!
//! On a managed identity endpoint, `client_id` matches the identity the
//! request names by client id (`client_id`, `clientid`), and error bodies
//! take that host's shape.

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
use crate::stats::Endpoint;

/// One injected fault: what happens, where, to whom, how many times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WireFault", into = "WireFault")]
pub struct Fault {
    /// What the endpoint does instead of answering normally.
    pub kind: FaultKind,
    /// Only requests with this `client_id` (any case); `None`: every app.
    pub client_id: Option<String>,
    /// How many matching requests it applies to; `None`: until cleared.
    pub count: Option<u32>,
    /// The endpoint it applies to: [`Endpoint::Token`] (the default) or a
    /// managed identity endpoint ([`Endpoint::Imds`], [`Endpoint::ImdsInstance`],
    /// [`Endpoint::AppService`], [`Endpoint::AzureMl`],
    /// [`Endpoint::ServiceFabric`], [`Endpoint::AzureArc`],
    /// [`Endpoint::CloudShell`]). Faults for other endpoints never fire.
    pub endpoint: Endpoint,
}

/// What an injected [`Fault`] does to a request.
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
    /// This error status (400 to 599; e.g. 410 as IMDS answers while its
    /// host is being upgraded, or 404), with the endpoint's JSON error body.
    Status(u16),
    /// 200 with an HTML body, as a captive portal or a misrouted proxy answers.
    NotJson,
    /// The endpoint's successful JSON answer, without its `access_token`.
    MissingAccessToken,
    /// A managed identity endpoint's successful answer naming another
    /// identity's `client_id` than the one asked for (Azure Arc, IMDS and
    /// App Service answers name it), as a misconfigured host would.
    WrongIdentity,
    /// Azure Arc: the challenge's realm names a `.key` file (with a valid
    /// secret) written in another directory than the agent's token directory.
    ArcKeyOutsideDirectory,
    /// Azure Arc: the challenge's key file is 5000 bytes, above the 4096
    /// clients accept.
    ArcKeyTooLarge,
    /// Azure Arc: the challenge's realm names a key file never written.
    ArcKeyMissing,
}

impl FaultKind {
    /// Whether this kind concerns only Azure Arc's challenge.
    pub(crate) fn is_arc_key(&self) -> bool {
        matches!(
            self,
            FaultKind::ArcKeyOutsideDirectory | FaultKind::ArcKeyTooLarge | FaultKind::ArcKeyMissing
        )
    }
}

/// The endpoints faults can target.
const FAULTABLE: [Endpoint; 8] = [
    Endpoint::Token,
    Endpoint::Imds,
    Endpoint::ImdsInstance,
    Endpoint::AppService,
    Endpoint::AzureMl,
    Endpoint::ServiceFabric,
    Endpoint::AzureArc,
    Endpoint::CloudShell,
];

impl Fault {
    /// A fault for every app at the token endpoint, until cleared.
    pub fn new(kind: FaultKind) -> Self {
        Fault {
            kind,
            client_id: None,
            count: None,
            endpoint: Endpoint::Token,
        }
    }

    /// The same fault, at `endpoint` instead (see [`Fault::endpoint`]).
    pub fn at(mut self, endpoint: Endpoint) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// Why this fault can never fire, if so: an endpoint faults do not
    /// reach, a status outside 400..=599 (500..=599 for `ServerError`), an
    /// Azure Arc challenge fault elsewhere than [`Endpoint::AzureArc`], or
    /// a latency above the emulator's request timeout.
    pub fn check(&self) -> Result<(), String> {
        if !FAULTABLE.contains(&self.endpoint) {
            return Err(format!(
                "faults reach the token and managed identity endpoints, not '{}'",
                self.endpoint.name()
            ));
        }
        match &self.kind {
            FaultKind::ServerError(status) if !(500..=599).contains(status) => {
                Err(format!("status {status} is not a 5xx"))
            }
            FaultKind::Status(status) if !(400..=599).contains(status) => {
                Err(format!("status {status} is not an error status (400 to 599)"))
            }
            FaultKind::Latency(d) if *d > MAX_LATENCY => Err(format!(
                "latency {} ms is above the {MAX_LATENCY:?} limit",
                d.as_millis()
            )),
            kind if kind.is_arc_key() && self.endpoint != Endpoint::AzureArc => {
                Err("Azure Arc key file faults need \"endpoint\": \"azure_arc\"".to_owned())
            }
            FaultKind::WrongIdentity if self.endpoint == Endpoint::Token => {
                Err("wrong_identity applies to managed identity endpoints".to_owned())
            }
            _ => Ok(()),
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
    /// [`Endpoint::name`]; absent for the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
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
    Status {
        status: u16,
    },
    NotJson,
    MissingAccessToken,
    WrongIdentity,
    ArcKeyOutsideDirectory,
    ArcKeyTooLarge,
    ArcKeyMissing,
}

/// Longest injectable latency: below the emulator's request timeout.
const MAX_LATENCY: Duration = Duration::from_secs(25);

impl TryFrom<WireFault> for Fault {
    type Error = String;

    fn try_from(wire: WireFault) -> Result<Self, String> {
        let kind = match wire.kind {
            WireKind::TooManyRequests { retry_after } => FaultKind::TooManyRequests { retry_after },
            WireKind::ServerError { status } => FaultKind::ServerError(status),
            WireKind::Latency { millis } => FaultKind::Latency(Duration::from_millis(millis)),
            WireKind::DropConnection => FaultKind::DropConnection,
            WireKind::Status { status } => FaultKind::Status(status),
            WireKind::NotJson => FaultKind::NotJson,
            WireKind::MissingAccessToken => FaultKind::MissingAccessToken,
            WireKind::WrongIdentity => FaultKind::WrongIdentity,
            WireKind::ArcKeyOutsideDirectory => FaultKind::ArcKeyOutsideDirectory,
            WireKind::ArcKeyTooLarge => FaultKind::ArcKeyTooLarge,
            WireKind::ArcKeyMissing => FaultKind::ArcKeyMissing,
        };
        let endpoint = match wire.endpoint.as_deref() {
            None => Endpoint::Token,
            Some(name) => Endpoint::from_name(name).ok_or_else(|| format!("unknown endpoint '{name}'"))?,
        };
        let fault = Fault {
            kind,
            client_id: wire.client_id,
            count: wire.count,
            endpoint,
        };
        fault.check()?;
        Ok(fault)
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
            FaultKind::Status(status) => WireKind::Status { status },
            FaultKind::NotJson => WireKind::NotJson,
            FaultKind::MissingAccessToken => WireKind::MissingAccessToken,
            FaultKind::WrongIdentity => WireKind::WrongIdentity,
            FaultKind::ArcKeyOutsideDirectory => WireKind::ArcKeyOutsideDirectory,
            FaultKind::ArcKeyTooLarge => WireKind::ArcKeyTooLarge,
            FaultKind::ArcKeyMissing => WireKind::ArcKeyMissing,
        };
        WireFault {
            kind,
            client_id: fault.client_id,
            count: fault.count,
            endpoint: (fault.endpoint != Endpoint::Token).then(|| fault.endpoint.name().to_owned()),
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

    /// Adds a fault; `false` when the list is full (a fault that can never
    /// fire, see [`Fault::check`], is dropped with a warning).
    pub(crate) fn add(&self, fault: Fault) -> bool {
        if let Err(reason) = fault.check() {
            tracing::warn!(?fault, reason, "ignoring a fault that can never fire");
            return true;
        }
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

    /// The first fault for a request to `endpoint` from `client_id` whose
    /// kind is `applicable` to this request, used up by one.
    pub(crate) fn take(
        &self,
        endpoint: Endpoint,
        client_id: Option<&str>,
        applicable: impl Fn(&FaultKind) -> bool,
    ) -> Option<FaultKind> {
        let mut active = self.lock();
        let index = active.iter().position(|f| {
            let client = match (&f.client_id, client_id) {
                (None, _) => true,
                (Some(wanted), Some(got)) => wanted.eq_ignore_ascii_case(got),
                (Some(_), None) => false,
            };
            f.endpoint == endpoint && client && applicable(&f.kind)
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

/// An error answer a fault asks for, before it takes an endpoint's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FaultError {
    pub(crate) status: StatusCode,
    /// The OAuth-style error code (`temporarily_unavailable`, ...).
    pub(crate) error: &'static str,
    /// The AADSTS code Entra would send.
    pub(crate) code: u32,
    pub(crate) message: &'static str,
    /// Seconds for `Retry-After`.
    pub(crate) retry_after: Option<u64>,
}

impl FaultError {
    /// Adds `Retry-After` to `response` when the fault asked for one.
    pub(crate) fn with_retry_after(&self, mut response: Response) -> Response {
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// How a fault changes one request's answer.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Answer with this error (in the endpoint's shape) instead.
    Error(FaultError),
    /// Answer with this instead (dropped connection, HTML).
    Replace(Response),
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Answer normally, then remove `access_token` from a successful JSON answer.
    StripAccessToken,
    /// Up to the endpoint (wrong identity, Azure Arc challenges).
    Endpoint(FaultKind),
}

/// What `kind` does, endpoint shapes aside.
pub(crate) fn effect(kind: FaultKind) -> Effect {
    let transient = "A transient error has occurred. Please try again. (emulated fault)";
    match kind {
        FaultKind::Latency(delay) => Effect::Delay(delay),
        FaultKind::DropConnection => Effect::Replace(dropped()),
        FaultKind::NotJson => Effect::Replace(not_json()),
        FaultKind::MissingAccessToken => Effect::StripAccessToken,
        FaultKind::TooManyRequests { retry_after } => Effect::Error(FaultError {
            status: StatusCode::TOO_MANY_REQUESTS,
            error: "temporarily_unavailable",
            code: 50196,
            message: "The server terminated an operation because it encountered a client request loop. \
                      Please contact your app vendor. (emulated fault)",
            retry_after,
        }),
        FaultKind::ServerError(status) | FaultKind::Status(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let (error, code, message) = match status.as_u16() {
                400 => (
                    "invalid_request",
                    900144,
                    "The request is invalid. (emulated fault)",
                ),
                401 => ("invalid_client", 7000215, "Unauthorized. (emulated fault)"),
                403 => ("access_denied", 50105, "Forbidden. (emulated fault)"),
                404 => ("not_found", 90027, "Not found. (emulated fault)"),
                410 => (
                    "temporarily_unavailable",
                    90033,
                    "Gone: the host is being upgraded. Please try again. (emulated fault)",
                ),
                429 | 503 => ("temporarily_unavailable", 90033, transient),
                500..=599 => ("server_error", 90033, transient),
                _ => ("invalid_request", 90033, "The request failed. (emulated fault)"),
            };
            Effect::Error(FaultError {
                status,
                error,
                code,
                message,
                retry_after: None,
            })
        }
        kind @ (FaultKind::WrongIdentity
        | FaultKind::ArcKeyOutsideDirectory
        | FaultKind::ArcKeyTooLarge
        | FaultKind::ArcKeyMissing) => Effect::Endpoint(kind),
    }
}

/// The token endpoint's answer for a fault error: Entra's error shape.
pub(crate) fn entra_response(fault: &FaultError, ctx: &RequestContext) -> Response {
    let FaultError {
        status,
        error,
        code,
        message,
        ..
    } = fault;
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
    fault.with_retry_after(reply::json(*status, &body))
}

/// A 200 whose body is an HTML page, not JSON.
fn not_json() -> Response {
    let mut response = Response::new(Body::from(
        "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\
         <body><p>emulated fault: this is not JSON</p></body></html>\n",
    ));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// Largest answer body [`strip_access_token`] reads.
const MAX_REWRITTEN_BODY: usize = 1 << 20;

/// `response` with its JSON object body changed by `edit` when it is a
/// success; other answers are passed on unchanged.
pub(crate) async fn rewrite_json(
    response: Response,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> Response {
    if !response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REWRITTEN_BODY).await else {
        return dropped();
    };
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut fields)) => {
            edit(&mut fields);
            Bytes::from(serde_json::Value::Object(fields).to_string())
        }
        _ => bytes,
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// `response` without `access_token` in its JSON body, when it succeeded.
pub(crate) async fn strip_access_token(response: Response) -> Response {
    rewrite_json(response, |fields| {
        fields.remove("access_token");
    })
    .await
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

        let storm: Fault =
            serde_json::from_str(r#"{"kind":"status","status":410,"endpoint":"imds","count":3}"#).unwrap();
        assert_eq!(
            storm,
            Fault::new(FaultKind::Status(410)).at(Endpoint::Imds).times(3)
        );
        let json = serde_json::to_value(&storm).unwrap();
        assert_eq!(json["endpoint"], "imds");
        assert_eq!(serde_json::from_value::<Fault>(json).unwrap(), storm);
        // The token endpoint stays the default, and is not written out.
        let json = serde_json::to_value(Fault::new(FaultKind::NotJson)).unwrap();
        assert!(json.get("endpoint").is_none(), "{json}");
        for bad in [
            r#"{"kind":"status","status":200}"#,
            r#"{"kind":"not_json","endpoint":"moon"}"#,
            r#"{"kind":"not_json","endpoint":"jwks"}"#,
            r#"{"kind":"arc_key_missing"}"#,
            r#"{"kind":"arc_key_missing","endpoint":"imds"}"#,
            r#"{"kind":"wrong_identity"}"#,
        ] {
            assert!(serde_json::from_str::<Fault>(bad).is_err(), "{bad}");
        }
        let arc: Fault =
            serde_json::from_str(r#"{"kind":"arc_key_too_large","endpoint":"azure_arc"}"#).unwrap();
        assert_eq!(arc.kind, FaultKind::ArcKeyTooLarge);
    }

    #[test]
    fn faults_match_by_client_and_run_out() {
        let faults = Faults::default();
        let take = |client: Option<&str>| faults.take(Endpoint::Token, client, |_| true);
        faults.add(Fault::new(FaultKind::ServerError(500)).for_client("A").times(2));
        faults.add(Fault::new(FaultKind::DropConnection).times(1));
        assert_eq!(take(Some("a")), Some(FaultKind::ServerError(500)));
        assert_eq!(take(Some("b")), Some(FaultKind::DropConnection));
        assert_eq!(take(Some("b")), None);
        assert_eq!(take(Some("A")), Some(FaultKind::ServerError(500)));
        assert_eq!(take(Some("A")), None);
        faults.add(Fault::new(FaultKind::ServerError(503)));
        for _ in 0..5 {
            assert_eq!(take(None), Some(FaultKind::ServerError(503)));
        }
        faults.clear();
        assert!(faults.list().is_empty());
    }

    #[test]
    fn faults_match_by_endpoint_and_applicability() {
        let faults = Faults::default();
        faults.add(
            Fault::new(FaultKind::ArcKeyMissing)
                .at(Endpoint::AzureArc)
                .times(1),
        );
        faults.add(Fault::new(FaultKind::Status(410)).at(Endpoint::Imds).times(2));
        // Never fires: not added.
        faults.add(Fault::new(FaultKind::NotJson).at(Endpoint::Jwks));
        assert_eq!(faults.list().len(), 2);
        assert_eq!(faults.take(Endpoint::Token, None, |_| true), None);
        assert_eq!(faults.take(Endpoint::AzureArc, None, |k| !k.is_arc_key()), None);
        assert_eq!(
            faults.take(Endpoint::AzureArc, None, |_| true),
            Some(FaultKind::ArcKeyMissing)
        );
        assert_eq!(
            faults.take(Endpoint::Imds, Some("x"), |_| true),
            Some(FaultKind::Status(410))
        );
        assert_eq!(
            faults.take(Endpoint::Imds, None, |_| true),
            Some(FaultKind::Status(410))
        );
        assert_eq!(faults.take(Endpoint::Imds, None, |_| true), None);
    }
}

//! Retry policies: which failures are tried again, and after how long.

use std::time::Duration;

use crate::error::{TransportError, TransportErrorKind};
use crate::http::{HttpClient, HttpRequest, HttpResponse};

/// Wait before the one retry of a failed connection or a 5xx without `Retry-After`.
const RETRY_BACKOFF: Duration = Duration::from_millis(300);
/// Longest `Retry-After` on a 5xx that is waited out in place for the retry;
/// longer ones are left to the caller through the throttle.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(2);

/// How a purpose's requests are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RetryPolicy {
    /// Never: the caller has its own fallback (IMDS probes have a deadline).
    Never,
    /// Once, after a connection failure or a 5xx whose `Retry-After` is
    /// absent or short, as MSAL Python does. Timeouts are not retried: the
    /// request may have been served, and a second full timeout would double
    /// the caller's wait.
    OnceOnConnectOr5xx,
}

/// Sends `request` under `policy`.
pub(super) async fn send(
    transport: &dyn HttpClient,
    policy: RetryPolicy,
    request: HttpRequest,
) -> Result<HttpResponse, TransportError> {
    if policy == RetryPolicy::Never {
        return transport.execute(request).await;
    }
    let first = transport.execute(request.clone()).await;
    let wait = match &first {
        Err(e) if matches!(e.kind, TransportErrorKind::Connect | TransportErrorKind::Other) => {
            Some(RETRY_BACKOFF)
        }
        Ok(response) if response.status >= 500 => match super::retry_after(response) {
            None => Some(RETRY_BACKOFF),
            Some(wait) if wait <= MAX_RETRY_WAIT => Some(wait),
            // The server asks for a longer pause: the throttle holds the request.
            Some(_) => None,
        },
        _ => None,
    };
    let Some(wait) = wait else {
        return first;
    };
    match &first {
        Ok(response) => {
            tracing::debug!(target: "msal::http", status = response.status, ?wait, "server error; retrying once")
        }
        Err(error) => tracing::debug!(target: "msal::http", %error, ?wait, "request failed; retrying once"),
    }
    tokio::time::sleep(wait).await;
    transport.execute(request).await
}

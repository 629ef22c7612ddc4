//! Retry policies: which failures are tried again, and after how long.
//! Waits go through the pipeline's [`Sleeper`], so tests check a schedule
//! without waiting it out.

use std::time::Duration;

use crate::error::{TransportError, TransportErrorKind};
use crate::http::{HttpClient, HttpRequest, HttpResponse, Sleeper};

/// Wait before the one retry of a failed connection or a 5xx without `Retry-After`.
const RETRY_BACKOFF: Duration = Duration::from_millis(300);
/// Longest `Retry-After` on a 5xx that is waited out in place for the retry;
/// longer ones are left to the caller through the throttle.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(2);

/// Managed identity hosts: how many times a transient failure is retried,
/// and the exponential backoff before each retry (MSAL .NET: 1 s minimum,
/// 4 s maximum).
const MI_RETRIES: usize = 3;
const MI_BACKOFF: [Duration; MI_RETRIES] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];
/// IMDS answers 410 while its host is upgrading, for up to about 70 s:
/// up to seven retries, ten seconds apart.
const IMDS_GONE_RETRIES: usize = 7;
const IMDS_GONE_WAIT: Duration = Duration::from_secs(10);
/// The most a managed identity request spends waiting between attempts,
/// whatever `Retry-After` says: the caller gets the last answer then.
const MI_WAIT_BUDGET: Duration = Duration::from_secs(75);

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
    /// What managed identity hosts ask for: connection failures, 408, 429
    /// and 500/502/503/504 retried [`MI_RETRIES`] times with exponential
    /// backoff, `Retry-After` honoured; IMDS (`imds`) also retries 404, 410
    /// and every 5xx, a 410 up to [`IMDS_GONE_RETRIES`] times ten seconds
    /// apart. All within [`MI_WAIT_BUDGET`].
    ManagedIdentity {
        /// The host is IMDS.
        imds: bool,
    },
}

/// Sends `request` under `policy`.
pub(super) async fn send(
    transport: &dyn HttpClient,
    sleeper: &dyn Sleeper,
    policy: RetryPolicy,
    request: HttpRequest,
) -> Result<HttpResponse, TransportError> {
    match policy {
        RetryPolicy::Never => transport.execute(request).await,
        RetryPolicy::OnceOnConnectOr5xx => once(transport, sleeper, request).await,
        RetryPolicy::ManagedIdentity { imds } => managed_identity(transport, sleeper, imds, request).await,
    }
}

async fn once(
    transport: &dyn HttpClient,
    sleeper: &dyn Sleeper,
    request: HttpRequest,
) -> Result<HttpResponse, TransportError> {
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
    sleeper.sleep(wait).await;
    transport.execute(request).await
}

/// Whether a managed identity host's answer is worth another attempt.
fn transient(outcome: &Result<HttpResponse, TransportError>, imds: bool) -> bool {
    match outcome {
        // Not a timeout: the host may have served it, and the caller's wait would double.
        Err(e) => matches!(e.kind, TransportErrorKind::Connect),
        Ok(response) if imds => matches!(response.status, 404 | 408 | 410 | 429 | 500..=599),
        Ok(response) => matches!(response.status, 408 | 429 | 500 | 502 | 503 | 504),
    }
}

async fn managed_identity(
    transport: &dyn HttpClient,
    sleeper: &dyn Sleeper,
    imds: bool,
    request: HttpRequest,
) -> Result<HttpResponse, TransportError> {
    let (mut retries, mut gone_retries) = (0usize, 0usize);
    let mut waited = Duration::ZERO;
    loop {
        let outcome = transport.execute(request.clone()).await;
        if !transient(&outcome, imds) {
            return outcome;
        }
        let status = outcome.as_ref().map(|r| r.status).ok();
        let backoff = if imds && status == Some(410) {
            if gone_retries == IMDS_GONE_RETRIES {
                return outcome;
            }
            gone_retries += 1;
            IMDS_GONE_WAIT
        } else {
            let Some(backoff) = MI_BACKOFF.get(retries) else {
                return outcome;
            };
            retries += 1;
            *backoff
        };
        let asked = outcome.as_ref().ok().and_then(super::retry_after);
        let wait = asked.map_or(backoff, |asked| asked.max(backoff));
        if waited + wait > MI_WAIT_BUDGET {
            tracing::debug!(target: "msal::http", ?status, ?wait, ?waited, "managed identity host still failing; out of retry time");
            return outcome;
        }
        match &outcome {
            Ok(response) => {
                tracing::debug!(target: "msal::http", status = response.status, ?wait, "managed identity host answered a transient error; retrying")
            }
            Err(error) => {
                tracing::debug!(target: "msal::http", %error, ?wait, "managed identity host unreachable; retrying")
            }
        }
        sleeper.sleep(wait).await;
        waited += wait;
    }
}

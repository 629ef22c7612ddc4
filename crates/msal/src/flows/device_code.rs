//! The device authorization grant (RFC 8628), for devices and terminals
//! without a browser: `initiate_device_flow` asks the identity provider for
//! a user code, which the user enters at the verification page on any other
//! device; `acquire_token_by_device_flow` polls the token endpoint until the
//! user finishes, declines, or the code expires.
//!
//! Polling follows RFC 8628 section 3.5 as MSAL Python does: wait
//! `interval` seconds after each answer (never less, so the identity
//! provider has no reason to say `slow_down`), add five seconds on
//! `slow_down`, and stop at the flow's `expires_at`. The poll loop is a
//! plain future: dropping it stops polling at once, since nothing is spawned
//! behind it, and a [`CancellationHandle`] stops it from another thread.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::cancel::CancellationHandle;
use crate::core::{AppCore, Call, Grant, save};
use crate::credential::ClientCredential;
use crate::error::{Error, Result, ServiceError};
use crate::oauth2::{self, DevicePollError};
use crate::result::AuthenticationResult;
use crate::secret::CachedSecret;
use crate::telemetry::ApiId;

/// RFC 8628 section 3.5: each `slow_down` adds five seconds to the interval.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// Longest wait this library plans for; keeps clock arithmetic on absurd
/// `expires_at` values (a hand-edited flow) from overflowing.
const MAX_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

/// Options of `initiate_device_flow_with`. Every field is optional.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct DeviceFlowOptions {
    /// A claims challenge from a resource's `WWW-Authenticate` header (a
    /// JSON object), sent with the device code request and every poll.
    pub claims_challenge: Option<String>,
}

impl DeviceFlowOptions {
    /// Sets [`claims_challenge`](Self::claims_challenge).
    pub fn claims_challenge(mut self, claims: impl Into<String>) -> Self {
        self.claims_challenge = Some(claims.into());
        self
    }
}

/// A started device flow: show [`message`](Self::message) to the user (or
/// [`verification_uri`](Self::verification_uri) and
/// [`user_code`](Self::user_code)), then pass the flow to
/// `acquire_token_by_device_flow`.
///
/// It serializes with serde to the same JSON object MSAL Python's
/// `initiate_device_flow` returns: the identity provider's answer (fields
/// this library does not know included) with `interval`, `expires_in` and
/// `expires_at` (epoch seconds) filled in. The device code redeems the
/// user's tokens once they sign in, so `Debug` never shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeviceFlow {
    user_code: String,
    device_code: CachedSecret,
    verification_uri: String,
    message: String,
    /// Seconds the device code lives, from the identity provider (default 1800).
    expires_in: u64,
    /// Seconds between polls, from the identity provider (default 5).
    interval: u64,
    /// Epoch seconds (with a fraction, as MSAL Python writes it) when the code expires.
    expires_at: f64,
    /// The decorated scopes asked for: the cache target when the token
    /// response names none. Absent from flows MSAL Python made.
    #[serde(rename = "scope", default)]
    scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claims_challenge: Option<String>,
    /// One correlation id for the device code request and every poll, as in
    /// MSAL Python (which keeps it under this key).
    #[serde(rename = "_correlation_id", default)]
    correlation_id: String,
    /// The identity provider's other fields, such as `verification_uri_complete`.
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl DeviceFlow {
    /// The code the user enters at the verification page.
    pub fn user_code(&self) -> &str {
        &self.user_code
    }

    /// The device code itself. It redeems the user's tokens once they have
    /// signed in: never log or display it.
    pub fn device_code(&self) -> &str {
        self.device_code.expose()
    }

    /// The page where the user enters the code.
    pub fn verification_uri(&self) -> &str {
        &self.verification_uri
    }

    /// The page with the code already filled in, when the identity provider
    /// offers one (RFC 8628 `verification_uri_complete`; Entra does not).
    pub fn verification_uri_complete(&self) -> Option<&str> {
        self.extra.get("verification_uri_complete")?.as_str()
    }

    /// Instructions for the user, naming the page and the code. The
    /// identity provider's own text when it sends one (Entra does, in the
    /// user's language), else one built from the page and the code.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// How long the device code lives, as the identity provider said.
    pub fn expires_in(&self) -> Duration {
        Duration::from_secs(self.expires_in)
    }

    /// When the device code expires; polling stops then.
    pub fn expires_at(&self) -> SystemTime {
        // Not `seconds()`: its cap is for waits, and this is a point in time.
        let since_epoch = Duration::try_from_secs_f64(self.expires_at.max(0.0)).unwrap_or(Duration::ZERO);
        UNIX_EPOCH.checked_add(since_epoch).unwrap_or(UNIX_EPOCH)
    }

    /// The minimum time between polls the identity provider asked for.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval)
    }

    /// The scopes the tokens are requested for, including `openid`,
    /// `profile` and `offline_access`.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The claims challenge the flow was started with.
    pub fn claims_challenge(&self) -> Option<&str> {
        self.claims_challenge.as_deref()
    }

    /// The correlation id sent with every request of this flow.
    pub fn correlation_id(&self) -> &str {
        &self.correlation_id
    }

    /// Any other field of the identity provider's answer, by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.extra.get(name)
    }
}

/// A progress callback for device code polling; see [`DeviceFlowPolling::on_poll`].
pub type OnDevicePoll = Arc<dyn Fn(&DeviceFlowPoll) + Send + Sync>;

/// How `acquire_token_by_device_flow_with` polls. Every field is optional.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct DeviceFlowPolling {
    /// Stops polling when cancelled, with [`Error::Cancelled`]: hand a clone
    /// to a Ctrl-C handler or a "Cancel" button. Async callers may instead
    /// drop the call's future.
    pub cancellation: Option<CancellationHandle>,
    /// Called after each answer that means "keep waiting", before the wait,
    /// for progress displays. It runs on the polling task: keep it short.
    pub on_poll: Option<OnDevicePoll>,
}

impl DeviceFlowPolling {
    /// Sets [`cancellation`](Self::cancellation).
    pub fn cancellation(mut self, handle: CancellationHandle) -> Self {
        self.cancellation = Some(handle);
        self
    }

    /// Sets [`on_poll`](Self::on_poll).
    pub fn on_poll(mut self, callback: impl Fn(&DeviceFlowPoll) + Send + Sync + 'static) -> Self {
        self.on_poll = Some(Arc::new(callback));
        self
    }
}

impl fmt::Debug for DeviceFlowPolling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceFlowPolling")
            .field("cancellation", &self.cancellation)
            .field("on_poll", &self.on_poll.as_ref().map(|_| "Fn"))
            .finish()
    }
}

/// What [`DeviceFlowPolling::on_poll`] is told after a poll the user has not
/// finished yet.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DeviceFlowPoll {
    /// Polls made so far, this one included.
    pub polls: u32,
    /// The identity provider's answer: `authorization_pending` or `slow_down`.
    pub error: String,
    /// The wait before the next poll (the interval, grown by each `slow_down`).
    pub interval: Duration,
    /// Time left before the device code expires.
    pub expires_in: Duration,
}

/// A non-negative number of seconds as a duration; garbage and negatives
/// are zero, and huge values are capped, so a hand-edited flow cannot panic.
fn seconds(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(secs).map_or(MAX_WAIT, |d| d.min(MAX_WAIT))
}

fn now_epoch_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Starts a flow: checks the scopes and claims (before any request),
/// discovers the device authorization endpoint and asks it for codes.
pub(crate) async fn initiate<I, S>(
    core: &AppCore,
    scopes: I,
    options: &DeviceFlowOptions,
) -> Result<DeviceFlow>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let scopes = super::decorate_scopes(scopes)?;
    let challenge = options
        .claims_challenge
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let claims = core.claims(challenge)?;
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let metadata = core.metadata(&correlation_id).await?;
    let Some(endpoint) = &metadata.device_authorization_endpoint else {
        return Err(Error::InvalidResponse {
            endpoint: core.authority().openid_configuration_url(),
            status: 200,
            reason: "the OpenID configuration has no device_authorization_endpoint: \
                     this identity provider does not offer the device code flow"
                .into(),
        });
    };
    let call = core.call(ApiId::AcquireTokenByDeviceFlow, &correlation_id, metadata);
    let response = call
        .device_authorization(endpoint, &scopes, claims.as_deref())
        .await?;
    let expires_in = response.expires_in.unwrap_or(oauth2::DEFAULT_DEVICE_EXPIRES_IN);
    let interval = response.interval.unwrap_or(oauth2::DEFAULT_DEVICE_INTERVAL);
    let message = match response.message.filter(|m| !m.trim().is_empty()) {
        Some(message) => message,
        // RFC 8628 has no `message`; standard providers need one built.
        None => format!(
            "To sign in, use a web browser to open the page {} and enter the code {} to authenticate.",
            response.verification_uri, response.user_code
        ),
    };
    Ok(DeviceFlow {
        user_code: response.user_code,
        device_code: response.device_code,
        verification_uri: response.verification_uri,
        message,
        expires_in,
        interval,
        expires_at: now_epoch_f64() + expires_in as f64,
        scopes,
        claims_challenge: challenge.map(str::to_owned),
        correlation_id,
        extra: response.extra,
    })
}

/// Polls until the user finishes, then caches the tokens and the account.
/// `credential` authenticates confidential clients.
pub(crate) async fn acquire(
    core: &AppCore,
    credential: Option<&ClientCredential>,
    flow: &DeviceFlow,
    polling: &DeviceFlowPolling,
) -> Result<AuthenticationResult> {
    if flow.device_code.expose().trim().is_empty() {
        return Err(Error::InvalidArgument(
            "the device flow has no device_code: pass the flow initiate_device_flow returned".into(),
        ));
    }
    let Some(handle) = &polling.cancellation else {
        return poll(core, credential, flow, polling).await;
    };
    if handle.is_cancelled() {
        return Err(Error::Cancelled);
    }
    // Cancellation drops the poll future, request in flight included.
    tokio::select! {
        biased;
        () = handle.cancelled() => Err(Error::Cancelled),
        result = poll(core, credential, flow, polling) => result,
    }
}

async fn poll(
    core: &AppCore,
    credential: Option<&ClientCredential>,
    flow: &DeviceFlow,
    polling: &DeviceFlowPolling,
) -> Result<AuthenticationResult> {
    let api = ApiId::AcquireTokenByDeviceFlow;
    let correlation_id = match flow.correlation_id.trim() {
        "" => uuid::Uuid::new_v4().to_string(),
        id => id.to_owned(),
    };
    let claims = core.claims(flow.claims_challenge.as_deref())?;
    // The deadline is taken on the monotonic clock once, so a wall clock
    // change during a long wait neither cuts polling short nor extends it.
    let started = Instant::now();
    let deadline = started + seconds(flow.expires_at - now_epoch_f64());
    let metadata = core.metadata(&correlation_id).await?;
    // An interval of 0 would poll in a tight loop; one second is RFC 8628's
    // smallest meaningful unit.
    let mut interval = Duration::from_secs(flow.interval.max(1));
    let mut polls = 0u32;
    let poller = Poller {
        call: core.call(api, &correlation_id, metadata),
        credential,
        flow,
        claims: claims.as_deref(),
    };
    loop {
        // At the deadline itself the code is as good as expired: no poll.
        if Instant::now() >= deadline {
            return Err(Error::DeviceCodeExpired { service: None });
        }
        polls = polls.saturating_add(1);
        let service = match poller.request().await {
            Ok(response) => return poller.save(response),
            Err(Error::Service(service)) => service,
            // The network or the response failed: the caller decides whether to
            // poll again with the same flow, as MSAL Python lets exceptions through.
            Err(other) => return Err(other),
        };
        match oauth2::device_poll_error(&service) {
            DevicePollError::Pending => {}
            DevicePollError::SlowDown => interval = interval.saturating_add(SLOW_DOWN_STEP),
            kind => return Err(terminal(kind, service)),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        tracing::debug!(client_id = %core.client_id, answer = %service.error, polls, ?interval, "device code not redeemed yet");
        if let Some(on_poll) = &polling.on_poll {
            on_poll(&DeviceFlowPoll {
                polls,
                error: service.error.clone(),
                interval,
                expires_in: left,
            });
        }
        if left < interval {
            // No poll fits before the code expires. Waiting out the rest keeps
            // the promise that polling stops at expires_at, not before.
            tokio::time::sleep_until(deadline).await;
            return Err(Error::DeviceCodeExpired { service: None });
        }
        // Measured from the answer, not from the request: the next request
        // then reaches the identity provider at least `interval` after this
        // one did, however long this one took, so it never answers slow_down.
        tokio::time::sleep(interval).await;
    }
}

/// The error a final poll answer becomes.
fn terminal(kind: DevicePollError, service: Box<ServiceError>) -> Error {
    match kind {
        DevicePollError::Expired => Error::DeviceCodeExpired {
            service: Some(service),
        },
        DevicePollError::Declined => Error::AuthorizationDeclined { service },
        _ => Error::Service(service),
    }
}

/// What every poll of one flow shares.
struct Poller<'a> {
    call: Call<'a>,
    credential: Option<&'a ClientCredential>,
    flow: &'a DeviceFlow,
    claims: Option<&'a str>,
}

impl Poller<'_> {
    /// One token request with the device code.
    async fn request(&self) -> Result<oauth2::TokenResponse> {
        let device_code = self.flow.device_code.expose();
        let grant = Grant::new(oauth2::DEVICE_CODE_GRANT, &[])
            .subject("device_code", device_code)
            // MSAL Python also sends the code as `code` (its comment: Entra once
            // needed both); identity providers that follow RFC 8628 ignore it.
            .param("code", device_code)
            .claims(self.claims)
            .credential(self.credential)
            .device_poll();
        self.call.token(grant).await
    }

    /// Caches the tokens; the account records the device code grant as its source.
    fn save(&self, response: oauth2::TokenResponse) -> Result<AuthenticationResult> {
        let claims = save::id_token_claims(&response)?;
        let issued = self.call.issued(&self.flow.scopes, oauth2::DEVICE_CODE_GRANT);
        save::save(&issued, response, claims)
    }
}

#[cfg(test)]
mod tests;

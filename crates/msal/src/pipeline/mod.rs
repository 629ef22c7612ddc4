//! The request pipeline between the protocol layer and the transport: every
//! request this library sends goes through [`Pipeline::send`], tagged with
//! its [`Purpose`] by the code that built it. The purpose, never the method
//! or the body, decides what happens to it:
//!
//! | purpose | HTTP cache | throttle | 'ui required' memo | retry |
//! |---|---|---|---|---|
//! | discovery (OpenID configuration, instance discovery, user realm, MEX) | 24 h, successes only | no | no | once |
//! | token request, device code request, WS-Trust | never | yes | public clients | once |
//! | device code poll | never | yes | no (polls repeat by design) | once |
//! | managed identity (App Service, Azure ML, Service Fabric, Arc, Cloud Shell) | never | yes | no | 408/429/5xx, 3 times, backoff |
//! | managed identity on IMDS | never | yes | no | 404/408/410/429/5xx, backoff; 410 up to 7 times, 10 s apart |
//! | IMDS probe (region detection) | never | no | no | never |
//! | ID token signing keys (JWKS) | never (the validator keeps them) | no | no | once |
//!
//! Token responses are never cached: a bearer token must not sit in an HTTP
//! cache. Throttling keys come from the request's [`ThrottleKey`], built by
//! the protocol layer from what it sent, not parsed back out of the body.
//! Each request is logged (`tracing`, target `msal::http`): purpose,
//! correlation id, endpoint without its query (or without the personal
//! data it names, see [`Outgoing::log_as`]), status and duration, and never
//! a header value or a body.

mod retry;
mod throttle;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tracing::Instrument as _;

use crate::error::TransportError;
use crate::http::{HttpClient, HttpRequest, HttpResponse, Method, Sleeper, TokioSleeper};

pub use throttle::HttpCache;
pub(crate) use throttle::retry_after;

use retry::RetryPolicy;

/// Why a request is sent; decides caching, throttling and retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A public, cacheable document: OpenID configuration, instance
    /// discovery, user realm, WS-Trust metadata.
    Discovery,
    /// A token request (any grant but device code polls).
    TokenRequest,
    /// A device authorization request (the start of the device code flow).
    DeviceCode,
    /// A device code poll: repeats until the user finishes.
    DevicePoll,
    /// A WS-Trust request to a federation server.
    Federation,
    /// A managed identity token request (often a GET) to a host other than IMDS.
    ManagedIdentity,
    /// A managed identity token request to the instance metadata service
    /// (IMDS), which asks for its own retries.
    ManagedIdentityImds,
    /// A short probe of the Azure instance metadata service.
    ImdsProbe,
    /// The keys that sign ID tokens (JWKS): fetched again when a token names
    /// an unknown key, so never from the HTTP cache (the validator keeps them).
    Keys,
}

impl Purpose {
    /// The name logs show.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Purpose::Discovery => "discovery",
            Purpose::TokenRequest => "token",
            Purpose::DeviceCode => "device_code",
            Purpose::DevicePoll => "device_code_poll",
            Purpose::Federation => "federation",
            Purpose::ManagedIdentity => "managed_identity",
            Purpose::ManagedIdentityImds => "managed_identity_imds",
            Purpose::ImdsProbe => "imds_probe",
            Purpose::Keys => "keys",
        }
    }

    /// Whether successful answers may be reused from the HTTP cache.
    fn cacheable(self) -> bool {
        self == Purpose::Discovery
    }

    /// Whether 429/5xx answers hold identical requests back.
    fn throttled(self) -> bool {
        !matches!(self, Purpose::Discovery | Purpose::ImdsProbe | Purpose::Keys)
    }

    /// Whether a public client's 'ui required' answer is replayed for a
    /// while instead of asking again.
    fn remembers_ui_required(self) -> bool {
        matches!(self, Purpose::TokenRequest | Purpose::DeviceCode)
    }

    fn retry(self) -> RetryPolicy {
        match self {
            Purpose::ImdsProbe => RetryPolicy::Never,
            Purpose::ManagedIdentity => RetryPolicy::ManagedIdentity { imds: false },
            Purpose::ManagedIdentityImds => RetryPolicy::ManagedIdentity { imds: true },
            _ => RetryPolicy::OnceOnConnectOr5xx,
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What makes two token requests "identical" for the throttle: who asks
/// (client id), for what (scopes), and on whose behalf (a hash of the user's
/// grant: refresh token, code, username, assertion or device code), so one
/// throttled user does not hold back others and no secret is kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ThrottleKey {
    client_id: String,
    scope: String,
    subject_hash: String,
}

impl ThrottleKey {
    /// The key of a request by `client_id` for `scope`, on behalf of the
    /// user whose grant is `subject` (hashed here; the grant is not kept).
    pub(crate) fn new(client_id: &str, scope: &str, subject: Option<&str>) -> Self {
        ThrottleKey {
            client_id: client_id.to_owned(),
            scope: scope.to_owned(),
            subject_hash: subject.map(|s| sha256_hex(s.as_bytes())).unwrap_or_default(),
        }
    }
}

/// A request and what the pipeline needs to know about it.
pub(crate) struct Outgoing {
    pub purpose: Purpose,
    pub request: HttpRequest,
    /// For throttled purposes; `None` keys the request by its URL alone.
    pub throttle: Option<ThrottleKey>,
    /// How logs name the endpoint when its URL holds personal data (a user
    /// realm URL names the user); by default the URL without its query.
    pub log_as: Option<String>,
    /// Another transport than the pipeline's for this request (the Service
    /// Fabric endpoint's pinned-certificate client).
    pub via: Option<Arc<dyn HttpClient>>,
}

impl Outgoing {
    /// A request for `purpose` without a throttle key.
    pub(crate) fn new(purpose: Purpose, request: HttpRequest) -> Self {
        Outgoing {
            purpose,
            request,
            throttle: None,
            log_as: None,
            via: None,
        }
    }

    /// Sends the request over `transport` instead of the pipeline's own.
    pub(crate) fn via(mut self, transport: Arc<dyn HttpClient>) -> Self {
        self.via = Some(transport);
        self
    }

    /// Names the endpoint `endpoint` in logs instead of its URL.
    pub(crate) fn log_as(mut self, endpoint: impl Into<String>) -> Self {
        self.log_as = Some(endpoint.into());
        self
    }

    /// Sets the throttle key.
    pub(crate) fn throttle_key(mut self, key: ThrottleKey) -> Self {
        self.throttle = Some(key);
        self
    }
}

/// An answer, and whether the throttle holds requests like it (the time left).
#[derive(Debug)]
pub(crate) struct Delivered {
    pub response: HttpResponse,
    /// `Some` when the answer was a throttling one (sent now or replayed):
    /// the protocol layer reports it as [`Error::Throttled`](crate::Error::Throttled).
    pub throttled: Option<Duration>,
}

impl Delivered {
    fn plain(response: HttpResponse) -> Self {
        Delivered {
            response,
            throttled: None,
        }
    }
}

/// The pipeline of one or more applications: their transport, the shared
/// [`HttpCache`] (throttle state and discovery documents), and the headers
/// that name the application.
pub(crate) struct Pipeline {
    transport: Arc<dyn HttpClient>,
    cache: HttpCache,
    /// Public clients get MSAL's longer default throttle window and the 'ui required' memo.
    public: bool,
    /// `x-app-name` / `x-app-ver`, added to every request.
    app_headers: Vec<(String, String)>,
    /// How retries wait.
    sleeper: Arc<dyn Sleeper>,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("public", &self.public)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    pub(crate) fn new(
        transport: Arc<dyn HttpClient>,
        cache: HttpCache,
        public: bool,
        app_headers: Vec<(String, String)>,
    ) -> Self {
        Pipeline {
            transport,
            cache,
            public,
            app_headers,
            sleeper: Arc::new(TokioSleeper),
        }
    }

    /// Waits between retries with `sleeper` instead of tokio's timer.
    pub(crate) fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Sends `outgoing` under its purpose's policy (see the module docs).
    pub(crate) async fn send(&self, outgoing: Outgoing) -> Result<Delivered, TransportError> {
        let Outgoing {
            purpose,
            mut request,
            throttle,
            log_as,
            via,
        } = outgoing;
        request.headers.extend(self.app_headers.iter().cloned());
        let endpoint = log_as.unwrap_or_else(|| without_query(&request.url));
        let correlation_id = request.header("client-request-id").unwrap_or_default().to_owned();
        let method = match request.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        let span = tracing::debug_span!(
            target: "msal::http",
            "http_request",
            purpose = purpose.as_str(),
            correlation_id = %correlation_id,
            method,
            endpoint = %endpoint,
        );
        let started = Instant::now();
        let outcome = self
            .dispatch(purpose, request, throttle, via.as_deref())
            .instrument(span.clone())
            .await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let _entered = span.enter();
        match &outcome {
            Ok(delivered) => tracing::info!(
                target: "msal::http",
                purpose = purpose.as_str(),
                correlation_id = %correlation_id,
                method,
                endpoint = %endpoint,
                status = delivered.response.status,
                duration_ms,
                throttled = delivered.throttled.is_some(),
                "{method} {endpoint} -> {}",
                delivered.response.status,
            ),
            Err(error) => tracing::info!(
                target: "msal::http",
                purpose = purpose.as_str(),
                correlation_id = %correlation_id,
                method,
                endpoint = %endpoint,
                duration_ms,
                error = %error,
                "{method} {endpoint} failed",
            ),
        }
        outcome
    }

    async fn dispatch(
        &self,
        purpose: Purpose,
        request: HttpRequest,
        throttle: Option<ThrottleKey>,
        via: Option<&dyn HttpClient>,
    ) -> Result<Delivered, TransportError> {
        let transport = via.unwrap_or(self.transport.as_ref());
        if purpose.cacheable() && request.method == Method::Get {
            let key = format!("GET {}", request.url);
            if let Some((response, _)) = self.cache.lookup(&key) {
                tracing::debug!(target: "msal::http", "answered from the HTTP cache");
                return Ok(Delivered::plain(response));
            }
            let response = retry::send(transport, self.sleeper.as_ref(), purpose.retry(), request).await?;
            if (200..300).contains(&response.status) {
                self.cache.store(key, &response, throttle::DISCOVERY_TTL);
            }
            return Ok(Delivered::plain(response));
        }
        if !purpose.throttled() {
            return retry::send(transport, self.sleeper.as_ref(), purpose.retry(), request)
                .await
                .map(Delivered::plain);
        }
        throttle::send(self, transport, purpose, request, throttle.unwrap_or_default()).await
    }
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// A URL for logs and keys that must not carry query parameters.
pub(crate) fn without_query(url: &url::Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

#[cfg(test)]
mod tests;

//! Throttling, retries and the HTTP response cache that sit between every
//! application and its transport, with MSAL Python's semantics:
//!
//! - a POST answered with 429 or 5xx (or any error carrying `Retry-After`)
//!   is remembered for `Retry-After` seconds (HTTP-date accepted, capped at
//!   an hour), or a default window when there is none (60 s for public
//!   clients, 5 s for confidential ones); identical requests in that window
//!   are answered from memory, without reaching the network, and surface as
//!   [`Error::Throttled`](crate::Error::Throttled). "Identical" is the URL,
//!   the client id, the scopes and a SHA-256 of the request's user-specific
//!   grant (refresh token, code, username, assertion or device code), so one
//!   throttled user does not hold back others and no secret is kept;
//! - a public client's 'ui required' 400 (`invalid_grant`,
//!   `interaction_required`, ...) is remembered for 60 s, keyed by a hash of
//!   the whole body, so a silent call retried in a loop with a revoked
//!   refresh token does not hammer the identity provider (device code polls
//!   are exempt: their retries are the protocol);
//! - successful GETs (OpenID configuration, instance discovery, user realm,
//!   federation metadata) are cached for 24 hours;
//! - a connection failure, or a 5xx whose `Retry-After` is absent or short,
//!   is retried once; nothing the throttle holds is ever retried.
//!
//! The state lives in an [`HttpCache`]: one per application unless several
//! applications are given the same one (they then also share discovery).
//! It applies on top of any [`HttpClient`], including injected ones, and
//! adds the `x-app-name` / `x-app-ver` headers of the application.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{ServiceError, TransportError, TransportErrorKind};
use crate::http::{BoxFuture, HttpClient, HttpRequest, HttpResponse, Method};

/// Longest `Retry-After` honoured; longer values are cut to it, as in MSAL.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Throttle window after a 429/5xx without `Retry-After`, for public clients.
pub const DEFAULT_PUBLIC_WINDOW: Duration = Duration::from_secs(60);
/// Throttle window after a 429/5xx without `Retry-After`, for confidential clients.
pub const DEFAULT_CONFIDENTIAL_WINDOW: Duration = Duration::from_secs(5);
/// How long a public client's 'ui required' answer is remembered.
pub const UI_REQUIRED_WINDOW: Duration = Duration::from_secs(60);
/// How long a successful GET (discovery document) is reused.
pub const DISCOVERY_TTL: Duration = Duration::from_secs(24 * 3600);
/// Most entries an [`HttpCache`] holds, as MSAL Python's.
pub const CAPACITY: usize = 1024;

/// Wait before the one retry of a failed connection or a 5xx without `Retry-After`.
const RETRY_BACKOFF: Duration = Duration::from_millis(300);
/// Longest `Retry-After` on a 5xx that is waited out in place for the retry;
/// longer ones are left to the caller through the throttle.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(2);

/// Internal header the throttle puts on a throttled answer (the original
/// response or its replay), with the time left in milliseconds; the OAuth2
/// layer turns such an answer into [`Error::Throttled`](crate::Error::Throttled).
/// Stripped from whatever the network sends, so a server cannot set it.
pub(crate) const THROTTLED_HEADER: &str = "x-msal-rust-throttled-ms";

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// "Now" for the throttle, injectable so tests advance time without sleeping.
type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The throttling state and discovery cache of one or more applications.
/// Cheap to clone: clones share the state. Give the same one to several
/// applications (`.http_cache(...)` on their builders) to share throttling
/// and discovery between them.
#[derive(Clone)]
pub struct HttpCache {
    inner: Arc<Inner>,
}

struct Inner {
    clock: Clock,
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    expires: Instant,
    response: HttpResponse,
}

impl Default for HttpCache {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for HttpCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCache").field("entries", &self.len()).finish()
    }
}

impl HttpCache {
    /// An empty cache on the real monotonic clock.
    pub fn new() -> Self {
        Self::with_clock(Instant::now)
    }

    /// An empty cache whose "now" is `clock`: tests move it forward to let a
    /// throttle window pass without sleeping. It should never go backwards.
    pub fn with_clock(clock: impl Fn() -> Instant + Send + Sync + 'static) -> Self {
        HttpCache {
            inner: Arc::new(Inner {
                clock: Arc::new(clock),
                entries: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// How many entries are live (throttled requests and cached documents).
    pub fn len(&self) -> usize {
        let now = self.now();
        self.entries().values().filter(|e| e.expires > now).count()
    }

    /// Whether no entry is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every throttled request and cached document.
    pub fn clear(&self) {
        self.entries().clear();
    }

    fn now(&self) -> Instant {
        (self.inner.clock)()
    }

    /// A panic elsewhere cannot leave a half-written entry: the map is
    /// only ever updated with whole entries.
    fn entries(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.inner.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live entry under `key` and the time it has left.
    fn lookup(&self, key: &str) -> Option<(HttpResponse, Duration)> {
        let now = self.now();
        let mut entries = self.entries();
        match entries.get(key) {
            Some(entry) if entry.expires > now => Some((
                entry.response.clone(),
                entry.expires.saturating_duration_since(now),
            )),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn store(&self, key: String, response: &HttpResponse, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        let now = self.now();
        let mut entries = self.entries();
        if entries.len() >= CAPACITY && !entries.contains_key(&key) {
            entries.retain(|_, e| e.expires > now);
            // Still full: drop the entry closest to expiring, the least useful one.
            if entries.len() >= CAPACITY
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        // Only what replaying needs: status, body and content type. Error
        // bodies and discovery documents carry no secrets.
        let kept = HttpResponse {
            status: response.status,
            headers: response
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                .cloned()
                .collect(),
            body: response.body.clone(),
        };
        entries.insert(
            key,
            Entry {
                expires: now + ttl,
                response: kept,
            },
        );
    }
}

/// The transport every application sends through: throttling, the GET
/// cache and retries (see the module docs) over the real transport.
pub(crate) struct ThrottledHttpClient {
    inner: Arc<dyn HttpClient>,
    cache: HttpCache,
    public: bool,
    /// `x-app-name` / `x-app-ver`, added to every request.
    app_headers: Vec<(String, String)>,
}

impl ThrottledHttpClient {
    pub(crate) fn new(
        inner: Arc<dyn HttpClient>,
        cache: HttpCache,
        public: bool,
        app_headers: Vec<(String, String)>,
    ) -> Self {
        Self {
            inner,
            cache,
            public,
            app_headers,
        }
    }

    fn default_window(&self) -> Duration {
        if self.public {
            DEFAULT_PUBLIC_WINDOW
        } else {
            DEFAULT_CONFIDENTIAL_WINDOW
        }
    }

    async fn get(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let key = format!("GET {}", request.url);
        if let Some((response, _)) = self.cache.lookup(&key) {
            tracing::debug!(url = %without_query(&request.url), "GET answered from the HTTP cache");
            return Ok(response);
        }
        let response = self.send_with_retry(request).await?;
        if (200..300).contains(&response.status) {
            self.cache.store(key, &response, DISCOVERY_TTL);
        }
        Ok(response)
    }

    async fn post(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let fields = FormFields::parse(&request.body);
        let throttle_key = format!(
            "POST {} client_id={} scope={} user={} 429/5xx",
            request.url, fields.client_id, fields.scope, fields.user_hash
        );
        if let Some((response, left)) = self.cache.lookup(&throttle_key) {
            tracing::debug!(url = %without_query(&request.url), ?left, "request held by the throttle; not sent");
            return Ok(mark_throttled(response, left));
        }
        // Device code polls are expected to repeat; their pace is the protocol's.
        let ui_key = (self.public && !fields.device_code)
            .then(|| format!("POST {} body={} 400", request.url, sha256_hex(&request.body)));
        if let Some(key) = &ui_key
            && let Some((response, left)) = self.cache.lookup(key)
        {
            tracing::debug!(url = %without_query(&request.url), ?left, "'ui required' answer replayed; not sent");
            return Ok(response);
        }

        let response = self.send_with_retry(request).await?;
        if let Some(window) = throttle_window(&response, self.default_window()) {
            tracing::warn!(
                status = response.status,
                ?window,
                "the identity provider throttled the request"
            );
            self.cache.store(throttle_key, &response, window);
            return Ok(mark_throttled(response, window));
        }
        if let Some(key) = ui_key
            && response.status == 400
            && is_ui_required(&response)
        {
            self.cache.store(key, &response, UI_REQUIRED_WINDOW);
        }
        Ok(response)
    }

    /// Sends `request`, and once more after a connection failure or a 5xx
    /// whose `Retry-After` is absent or short.
    async fn send_with_retry(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let first = self.inner.execute(request.clone()).await.map(strip_internal);
        let wait = match &first {
            // Timeouts are not retried: the request may have been served, and
            // a second full timeout would double the caller's wait.
            Err(e) if matches!(e.kind, TransportErrorKind::Connect | TransportErrorKind::Other) => {
                Some(RETRY_BACKOFF)
            }
            Ok(response) if response.status >= 500 => match retry_after(response) {
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
            Ok(response) => tracing::debug!(status = response.status, ?wait, "server error; retrying once"),
            Err(error) => tracing::debug!(%error, ?wait, "request failed; retrying once"),
        }
        tokio::time::sleep(wait).await;
        self.inner.execute(request).await.map(strip_internal)
    }
}

impl HttpClient for ThrottledHttpClient {
    fn execute(&self, mut request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        request.headers.extend(self.app_headers.iter().cloned());
        Box::pin(async move {
            match request.method {
                Method::Get => self.get(request).await,
                Method::Post => self.post(request).await,
            }
        })
    }
}

/// What a token request's body says about who asks for what. The user's
/// grant is only kept as a hash.
struct FormFields {
    client_id: String,
    scope: String,
    user_hash: String,
    device_code: bool,
}

impl FormFields {
    fn parse(body: &[u8]) -> Self {
        let mut client_id = String::new();
        let mut scope = String::new();
        let mut grant_type = String::new();
        // Secrets are copied out of the body only to be hashed, and zeroed after.
        let mut user: [Option<Zeroizing<String>>; 5] = Default::default();
        const USER_FIELDS: [&str; 5] = ["refresh_token", "code", "username", "assertion", "device_code"];
        for (name, value) in url::form_urlencoded::parse(body) {
            match name.as_ref() {
                "client_id" => client_id = value.into_owned(),
                "scope" => scope = value.into_owned(),
                "grant_type" => grant_type = value.into_owned(),
                other => {
                    if let Some(i) = USER_FIELDS.iter().position(|f| *f == other) {
                        user[i] = Some(Zeroizing::new(value.into_owned()));
                    }
                }
            }
        }
        // The first present field, in MSAL Python's order: the request's "account".
        let user_hash = user
            .iter()
            .flatten()
            .next()
            .map(|v| sha256_hex(v.as_bytes()))
            .unwrap_or_default();
        FormFields {
            client_id,
            scope,
            user_hash,
            device_code: grant_type == DEVICE_CODE_GRANT,
        }
    }
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn without_query(url: &url::Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

/// How long to hold requests like the one `response` answered: `None` when
/// it is not a throttling answer.
fn throttle_window(response: &HttpResponse, default: Duration) -> Option<Duration> {
    let has_retry_after = response.header("retry-after").is_some();
    let throttled =
        response.status == 429 || response.status >= 500 || (response.status >= 400 && has_retry_after);
    throttled.then(|| retry_after(response).unwrap_or(default))
}

/// `Retry-After` as a delay: delta-seconds or an HTTP-date (RFC 9110
/// 10.2.3), capped at [`MAX_RETRY_AFTER`]. `None` when absent or unreadable.
pub(crate) fn retry_after(response: &HttpResponse) -> Option<Duration> {
    let value = response.header("retry-after")?.trim();
    let delay = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO)
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// Whether a 400 says only the user can help, and carries no `Retry-After`
/// (which the throttle window handles instead).
fn is_ui_required(response: &HttpResponse) -> bool {
    response.header("retry-after").is_none()
        && serde_json::from_slice::<ServiceError>(&response.body).is_ok_and(|e| e.requires_interaction())
}

fn strip_internal(mut response: HttpResponse) -> HttpResponse {
    response
        .headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case(THROTTLED_HEADER));
    response
}

fn mark_throttled(mut response: HttpResponse, left: Duration) -> HttpResponse {
    let millis = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
    response
        .headers
        .push((THROTTLED_HEADER.to_owned(), millis.to_string()));
    response
}

#[cfg(test)]
mod tests;

//! Throttling, and the [`HttpCache`] that holds its state and the
//! discovery documents, with MSAL Python's semantics:
//!
//! - a throttled purpose's request answered with 429 or 5xx (or any error
//!   carrying `Retry-After`) is remembered for `Retry-After` seconds
//!   (HTTP-date accepted, capped at an hour), or a default window when there
//!   is none (60 s for public clients, 5 s for confidential ones); identical
//!   requests in that window are answered from memory, without reaching the
//!   network, and surface as [`Error::Throttled`](crate::Error::Throttled).
//!   "Identical" is the URL plus the request's [`ThrottleKey`];
//! - a public client's 'ui required' 400 (`invalid_grant`,
//!   `interaction_required`, ...) to a token request is remembered for 60 s,
//!   keyed by a hash of the whole body, so a silent call retried in a loop
//!   with a revoked refresh token does not hammer the identity provider;
//! - nothing the throttle holds is ever retried.
//!
//! An [`HttpCache`] belongs to one application unless several applications
//! are given the same one (they then also share discovery).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::error::{ServiceError, TransportError};
use crate::http::{HttpClient, HttpRequest, HttpResponse, Method};

use super::{Delivered, Pipeline, Purpose, ThrottleKey, retry};

/// Longest `Retry-After` honoured; longer values are cut to it, as in MSAL.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Throttle window after a 429/5xx without `Retry-After`, for public clients.
pub(crate) const DEFAULT_PUBLIC_WINDOW: Duration = Duration::from_secs(60);
/// Throttle window after a 429/5xx without `Retry-After`, for confidential clients.
pub(crate) const DEFAULT_CONFIDENTIAL_WINDOW: Duration = Duration::from_secs(5);
/// How long a public client's 'ui required' answer is remembered.
pub(crate) const UI_REQUIRED_WINDOW: Duration = Duration::from_secs(60);
/// How long a successful GET (discovery document) is reused.
pub(crate) const DISCOVERY_TTL: Duration = Duration::from_secs(24 * 3600);
/// Most entries an [`HttpCache`] holds, as MSAL Python's.
pub(crate) const CAPACITY: usize = 1024;

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

pub(super) struct Entry {
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
    pub(super) fn entries(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.inner.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live entry under `key` and the time it has left.
    pub(super) fn lookup(&self, key: &str) -> Option<(HttpResponse, Duration)> {
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

    pub(super) fn store(&self, key: String, response: &HttpResponse, ttl: Duration) {
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

/// Sends a throttled purpose's request: held back while an identical one
/// is throttled, its 'ui required' answer replayed for public clients.
pub(super) async fn send(
    pipeline: &Pipeline,
    transport: &dyn HttpClient,
    purpose: Purpose,
    request: HttpRequest,
    key: ThrottleKey,
) -> Result<Delivered, TransportError> {
    let cache = &pipeline.cache;
    let throttle_key = format!(
        "{} {} client_id={} scope={} user={} 429/5xx",
        method_name(request.method),
        request.url,
        key.client_id,
        key.scope,
        key.subject_hash
    );
    if let Some((response, left)) = cache.lookup(&throttle_key) {
        tracing::debug!(target: "msal::http", ?left, "request held by the throttle; not sent");
        return Ok(Delivered {
            response,
            throttled: Some(left),
        });
    }
    let ui_key = (pipeline.public && purpose.remembers_ui_required()).then(|| {
        format!(
            "POST {} body={} 400",
            request.url,
            super::sha256_hex(&request.body)
        )
    });
    if let Some(key) = &ui_key
        && let Some((response, left)) = cache.lookup(key)
    {
        tracing::debug!(target: "msal::http", ?left, "'ui required' answer replayed; not sent");
        return Ok(Delivered::plain(response));
    }

    let default_window = if pipeline.public {
        DEFAULT_PUBLIC_WINDOW
    } else {
        DEFAULT_CONFIDENTIAL_WINDOW
    };
    let response = retry::send(transport, pipeline.sleeper.as_ref(), purpose.retry(), request).await?;
    if let Some(window) = throttle_window(&response, default_window) {
        tracing::warn!(
            target: "msal::http",
            status = response.status,
            ?window,
            "the identity provider throttled the request"
        );
        cache.store(throttle_key, &response, window);
        return Ok(Delivered {
            response,
            throttled: Some(window),
        });
    }
    if let Some(key) = ui_key
        && response.status == 400
        && is_ui_required(&response)
    {
        cache.store(key, &response, UI_REQUIRED_WINDOW);
    }
    Ok(Delivered::plain(response))
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
    }
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

//! Server-side telemetry headers in MSAL's schema 4, shared with MSAL Python:
//! `x-client-current-telemetry` names the API and why the cache was bypassed;
//! `x-client-last-telemetry` reports cache hits and failures since the last
//! request, so the identity provider sees the library's health.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Which public API made a request (MSAL's API ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::enum_variant_names, reason = "the names of MSAL's public APIs")]
pub(crate) enum ApiId {
    /// `acquire_token_silent`.
    AcquireTokenSilent = 84,
    /// `acquire_token_by_refresh_token`.
    AcquireTokenByRefreshToken = 85,
    /// `acquire_token_by_device_flow`.
    AcquireTokenByDeviceFlow = 622,
    /// `acquire_token_for_client`.
    AcquireTokenForClient = 730,
    /// `acquire_token_by_auth_code_flow`.
    AcquireTokenByAuthCode = 832,
    /// `acquire_token_interactive`.
    AcquireTokenInteractive = 169,
    /// `acquire_token_by_username_password`.
    AcquireTokenByUsernamePassword = 301,
    /// `acquire_token_on_behalf_of`.
    AcquireTokenOnBehalfOf = 523,
    /// `acquire_token_by_user_federated_identity_credential`.
    AcquireTokenByUserFic = 950,
}

/// Why a request went to the network instead of the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefreshReason {
    /// Not a silent call.
    NonSilent = 0,
    /// The caller forced a refresh (or sent a claims challenge).
    ForceRefresh = 1,
    /// No access token was cached.
    AccessTokenAbsent = 2,
    /// The cached access token had expired.
    AccessTokenExpired = 3,
    /// The cached access token was past its `refresh_on`.
    AccessTokenAging = 4,
}

/// Largest failure list sent in `x-client-last-telemetry`, as MSAL does.
const LAST_HEADER_LIMIT: usize = 350;

#[derive(Debug, Default)]
struct Buffer {
    failures: Vec<(u32, String, String)>,
    failure_size: usize,
}

/// The telemetry an application accumulates between requests.
#[derive(Debug, Default)]
pub(crate) struct Telemetry {
    /// Cache hits since the last successful request: atomics, not in the
    /// buffer, because every hit counts one and hits must stay cheap.
    cache_hits: HitCounter,
    buffer: Mutex<Buffer>,
}

/// Slots of [`HitCounter`]: enough that the threads of a busy process
/// rarely share one.
const HIT_SLOTS: usize = 16;

/// A counter that threads add to in slots of their own (each on its own
/// cache line), summed when read: one shared atomic would make every cache
/// hit on every core write the same cache line, and hits would not scale
/// with cores.
#[derive(Debug, Default)]
struct HitCounter([Slot; HIT_SLOTS]);

/// One slot, alone on its cache line (128 bytes: adjacent lines are
/// fetched in pairs on common CPUs).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Slot(AtomicU64);

impl HitCounter {
    fn add_one(&self) {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed) % HIT_SLOTS;
        }
        let slot = SLOT.try_with(|slot| *slot).unwrap_or(0);
        if let Some(Slot(count)) = self.0.get(slot) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn total(&self) -> u64 {
        self.0
            .iter()
            .map(|Slot(count)| count.load(Ordering::Relaxed))
            .sum()
    }

    fn reset(&self) {
        for Slot(count) in &self.0 {
            count.store(0, Ordering::Relaxed);
        }
    }
}

impl Telemetry {
    /// Records a request served from the cache.
    pub(crate) fn cache_hit(&self) {
        self.cache_hits.add_one();
    }

    /// The two telemetry headers for a request.
    pub(crate) fn headers(&self, api: ApiId, reason: RefreshReason) -> [(String, String); 2] {
        let current = format!("4|{},{}|", api as u32, reason as u32);
        let last = match self.buffer.lock() {
            Ok(buffer) => {
                let requests: Vec<String> = buffer
                    .failures
                    .iter()
                    .map(|(api, correlation, _)| format!("{api},{correlation}"))
                    .collect();
                let errors: Vec<&str> = buffer.failures.iter().map(|(_, _, e)| e.as_str()).collect();
                format!(
                    "4|{}|{}|{}|",
                    self.cache_hits.total(),
                    requests.join(","),
                    errors.join(",")
                )
            }
            Err(_) => "4|0|||".to_owned(),
        };
        [
            ("x-client-current-telemetry".to_owned(), current),
            ("x-client-last-telemetry".to_owned(), last),
        ]
    }

    /// Records a failed request when the identity provider answered with
    /// an OAuth2 error (including a throttled one), as MSAL Python records
    /// error responses; transport failures never reached it.
    pub(crate) fn record_error(&self, api: ApiId, correlation_id: &str, error: &crate::Error) {
        if let Some(service) = error.service_error() {
            self.record(api, correlation_id, Some(&service.error));
        }
    }

    /// Records the outcome of a request: success clears the buffer, a failure is remembered.
    pub(crate) fn record(&self, api: ApiId, correlation_id: &str, error: Option<&str>) {
        let Ok(mut buffer) = self.buffer.lock() else {
            return;
        };
        match error {
            None => {
                *buffer = Buffer::default();
                self.cache_hits.reset();
            }
            Some(error) => {
                let size = format!(",{},{correlation_id},{error}", api as u32).len();
                if buffer.failure_size + size < LAST_HEADER_LIMIT {
                    buffer.failure_size += size;
                    buffer
                        .failures
                        .push((api as u32, correlation_id.to_owned(), error.to_owned()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_from_many_threads_are_all_counted_and_reset_together() {
        let counter = std::sync::Arc::new(HitCounter::default());
        let threads: Vec<_> = (0..HIT_SLOTS + 3)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| counter.add_one()))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(counter.total(), 1000 * (HIT_SLOTS as u64 + 3));
        counter.reset();
        assert_eq!(counter.total(), 0);
    }

    #[test]
    fn headers_follow_schema_4() {
        let t = Telemetry::default();
        t.cache_hit();
        t.cache_hit();
        let [(_, current), (_, last)] =
            t.headers(ApiId::AcquireTokenForClient, RefreshReason::AccessTokenAbsent);
        assert_eq!(current, "4|730,2|");
        assert_eq!(last, "4|2|||");
        t.record(ApiId::AcquireTokenForClient, "c1", Some("invalid_client"));
        let [_, (_, last)] = t.headers(ApiId::AcquireTokenForClient, RefreshReason::NonSilent);
        assert_eq!(last, "4|2|730,c1|invalid_client|");
        t.record(ApiId::AcquireTokenForClient, "c2", None);
        let [_, (_, last)] = t.headers(ApiId::AcquireTokenForClient, RefreshReason::NonSilent);
        assert_eq!(last, "4|0|||");
    }
}

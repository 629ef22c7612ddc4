//! Regional hosts (Entra's ESTS-R): requests addressed to
//! `{region}.login.microsoft.com` or `{region}.login.microsoftonline.com`
//! are answered by the same server as the global host. This module owns
//! recognising such hosts, counting requests per region, and the fault
//! option that makes a region fail so clients' fallback can be tested.
//!
//! Clients reach these names only through their own resolver (tests route
//! them to 127.0.0.1 in the HTTP client, never through `/etc/hosts`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use crate::context::RequestContext;
use crate::error::EntraError;
use crate::server::AppState;

/// Parents of regional hosts: `{region}.{parent}` is a regional host. The
/// certificate has a wildcard name for each (one label, as TLS allows).
pub(crate) const REGIONAL_PARENTS: &[&str] = &["login.microsoft.com", "login.microsoftonline.com"];

/// The most distinct regions counted, so a client inventing names cannot grow the map forever.
const MAX_REGIONS: usize = 256;

/// The region of `host` (lowercase, without the port) when it is a
/// regional host: one DNS label before a regional parent.
pub(crate) fn region_of(host: &str) -> Option<&str> {
    REGIONAL_PARENTS.iter().find_map(|parent| {
        let label = host.strip_suffix(parent)?.strip_suffix('.')?;
        let well_formed = !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        well_formed.then_some(label)
    })
}

/// Per-region request counts and the regions made to fail.
#[derive(Debug, Default)]
pub(crate) struct Regions {
    counts: Mutex<HashMap<String, u64>>,
    failing: Mutex<HashSet<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Regions {
    fn record(&self, region: &str) {
        let mut counts = lock(&self.counts);
        if let Some(n) = counts.get_mut(region) {
            *n += 1;
        } else if counts.len() < MAX_REGIONS {
            counts.insert(region.to_owned(), 1);
        }
    }

    /// Requests to `region`'s hosts so far.
    pub(crate) fn count(&self, region: &str) -> u64 {
        lock(&self.counts)
            .get(&region.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    /// Requests to any regional host so far.
    pub(crate) fn total(&self) -> u64 {
        lock(&self.counts).values().sum()
    }

    /// Forgets the counts.
    pub(crate) fn reset(&self) {
        lock(&self.counts).clear();
    }

    /// Makes `region` answer every request with 503 (`fail`) or serve again.
    pub(crate) fn set_failing(&self, region: &str, fail: bool) {
        let region = region.to_ascii_lowercase();
        let mut failing = lock(&self.failing);
        if fail {
            failing.insert(region);
        } else {
            failing.remove(&region);
        }
    }

    fn is_failing(&self, region: &str) -> bool {
        lock(&self.failing).contains(region)
    }
}

/// Counts requests to regional hosts and fails those of failing regions
/// with Entra's 503 `temporarily_unavailable` (no `Retry-After`: a client
/// should go to the global host, not wait).
pub(crate) async fn middleware(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().host())
        .map(|h| {
            h.rsplit_once(':')
                .map_or(h, |(host, _)| host)
                .to_ascii_lowercase()
        });
    let Some(region) = host.as_deref().and_then(region_of).map(str::to_owned) else {
        return next.run(request).await;
    };
    state.regions.record(&region);
    if state.regions.is_failing(&region) {
        tracing::info!(region, "failing a request to a failing region");
        let ctx = request.extensions().get::<RequestContext>().cloned();
        if let Some(ctx) = ctx {
            return EntraError::temporarily_unavailable().to_response(&ctx);
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regional_hosts_are_one_label_before_a_regional_parent() {
        assert_eq!(region_of("westus2.login.microsoft.com"), Some("westus2"));
        assert_eq!(region_of("eastus.login.microsoftonline.com"), Some("eastus"));
        assert_eq!(region_of("login.microsoft.com"), None);
        assert_eq!(region_of("a.b.login.microsoft.com"), None);
        assert_eq!(region_of("evil-login.microsoft.com"), None);
        assert_eq!(region_of("127.0.0.1"), None);
    }
}

//! Per-endpoint request counters, readable while the server runs.

use std::sync::atomic::{AtomicU64, Ordering};

/// The kinds of endpoint the emulator counts requests for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `/{tenant}/v2.0/.well-known/openid-configuration`.
    OpenIdConfiguration,
    /// `/{tenant}/discovery/instance`.
    InstanceDiscovery,
    /// `/{tenant}/discovery/v2.0/keys`.
    Jwks,
    /// `/{tenant}/oauth2/v2.0/token`.
    Token,
    /// `/{tenant}/oauth2/v2.0/authorize` (the sign-in page and its form posts).
    Authorize,
    /// `/{tenant}/userrealm/{username}` (user realm discovery).
    UserRealm,
    /// The federation server: `/adfs/services/trust/mex` and the WS-Trust
    /// `usernamemixed` endpoints.
    Federation,
    /// Any other path (answered with 404).
    Other,
}

impl Endpoint {
    /// Every endpoint kind, in counter order.
    const ALL: [Endpoint; 8] = [
        Endpoint::OpenIdConfiguration,
        Endpoint::InstanceDiscovery,
        Endpoint::Jwks,
        Endpoint::Token,
        Endpoint::Authorize,
        Endpoint::UserRealm,
        Endpoint::Federation,
        Endpoint::Other,
    ];

    fn index(self) -> usize {
        match self {
            Endpoint::OpenIdConfiguration => 0,
            Endpoint::InstanceDiscovery => 1,
            Endpoint::Jwks => 2,
            Endpoint::Token => 3,
            Endpoint::Authorize => 4,
            Endpoint::UserRealm => 5,
            Endpoint::Federation => 6,
            Endpoint::Other => 7,
        }
    }
}

/// One atomic counter per [`Endpoint`].
#[derive(Debug, Default)]
pub(crate) struct Stats {
    counts: [AtomicU64; Endpoint::ALL.len()],
}

impl Stats {
    /// Records one request to `endpoint`.
    pub(crate) fn record(&self, endpoint: Endpoint) {
        self.counts[endpoint.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests served by `endpoint` so far.
    pub(crate) fn count(&self, endpoint: Endpoint) -> u64 {
        self.counts[endpoint.index()].load(Ordering::Relaxed)
    }

    /// Requests served by all endpoints.
    pub(crate) fn total(&self) -> u64 {
        Endpoint::ALL.iter().map(|e| self.count(*e)).sum()
    }

    /// Sets every counter back to zero.
    pub(crate) fn reset(&self) {
        for c in &self.counts {
            c.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_resets() {
        let stats = Stats::default();
        stats.record(Endpoint::Token);
        stats.record(Endpoint::Token);
        stats.record(Endpoint::Other);
        stats.record(Endpoint::Authorize);
        assert_eq!(stats.count(Endpoint::Token), 2);
        assert_eq!(stats.count(Endpoint::Authorize), 1);
        assert_eq!(stats.count(Endpoint::Jwks), 0);
        assert_eq!(stats.total(), 4);
        stats.reset();
        assert_eq!(stats.total(), 0);
    }
}

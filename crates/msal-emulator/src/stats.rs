//! Per-endpoint request counters and per-grant-type token request
//! counters, readable while the server runs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

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
    /// `/{tenant}/oauth2/v2.0/devicecode` (device authorization requests).
    DeviceCode,
    /// `/devicelogin` (the device code verification page and its form posts).
    DeviceLogin,
    /// `/resource/me` (the emulated protected resource).
    Resource,
    /// `/{tenant}/userrealm/{username}` (user realm discovery).
    UserRealm,
    /// The federation server: `/adfs/services/trust/mex` and the WS-Trust
    /// `usernamemixed` endpoints.
    Federation,
    /// Any other path (answered with 404), on any listener.
    Other,
    /// The Azure Instance Metadata Service token endpoint (VMs, AKS pod
    /// identity): `/metadata/identity/oauth2/token` on the IMDS listener.
    Imds,
    /// IMDS's instance metadata (`/metadata/instance`, `.../compute`,
    /// `.../compute/location`), used for region discovery.
    ImdsInstance,
    /// The App Service (and Functions, Automation) identity endpoint `/msi/token`.
    AppService,
    /// The Azure Machine Learning identity endpoint `/msi/auth`.
    AzureMl,
    /// The Service Fabric identity endpoint (HTTPS, its own certificate).
    ServiceFabric,
    /// The Azure Arc agent's identity endpoint (challenge and token requests).
    AzureArc,
    /// The Cloud Shell identity endpoint `POST /oauth2/token`.
    CloudShell,
    /// The OpenID Connect userinfo endpoint `/oidc/userinfo`.
    UserInfo,
    /// The sign-out (`end_session_endpoint`) `/{tenant}/oauth2/v2.0/logout`.
    Logout,
}

impl Endpoint {
    /// Every endpoint kind, in counter order.
    const ALL: [Endpoint; 20] = [
        Endpoint::OpenIdConfiguration,
        Endpoint::InstanceDiscovery,
        Endpoint::Jwks,
        Endpoint::Token,
        Endpoint::Authorize,
        Endpoint::UserRealm,
        Endpoint::Federation,
        Endpoint::Other,
        Endpoint::DeviceCode,
        Endpoint::DeviceLogin,
        Endpoint::Resource,
        Endpoint::Imds,
        Endpoint::ImdsInstance,
        Endpoint::AppService,
        Endpoint::AzureMl,
        Endpoint::ServiceFabric,
        Endpoint::AzureArc,
        Endpoint::CloudShell,
        Endpoint::UserInfo,
        Endpoint::Logout,
    ];

    /// The endpoint's name in the JSON forms (faults' `endpoint`):
    /// `token`, `imds`, `app_service`, ... (snake case of the variant).
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::OpenIdConfiguration => "open_id_configuration",
            Endpoint::InstanceDiscovery => "instance_discovery",
            Endpoint::Jwks => "jwks",
            Endpoint::Token => "token",
            Endpoint::Authorize => "authorize",
            Endpoint::DeviceCode => "device_code",
            Endpoint::DeviceLogin => "device_login",
            Endpoint::Resource => "resource",
            Endpoint::UserRealm => "user_realm",
            Endpoint::Federation => "federation",
            Endpoint::Other => "other",
            Endpoint::Imds => "imds",
            Endpoint::ImdsInstance => "imds_instance",
            Endpoint::AppService => "app_service",
            Endpoint::AzureMl => "azure_ml",
            Endpoint::ServiceFabric => "service_fabric",
            Endpoint::AzureArc => "azure_arc",
            Endpoint::CloudShell => "cloud_shell",
            Endpoint::UserInfo => "user_info",
            Endpoint::Logout => "logout",
        }
    }

    /// The endpoint [`Endpoint::name`] names.
    pub fn from_name(name: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.name() == name)
    }

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
            Endpoint::DeviceCode => 8,
            Endpoint::DeviceLogin => 9,
            Endpoint::Resource => 10,
            Endpoint::Imds => 11,
            Endpoint::ImdsInstance => 12,
            Endpoint::AppService => 13,
            Endpoint::AzureMl => 14,
            Endpoint::ServiceFabric => 15,
            Endpoint::AzureArc => 16,
            Endpoint::CloudShell => 17,
            Endpoint::UserInfo => 18,
            Endpoint::Logout => 19,
        }
    }
}

/// One atomic counter per [`Endpoint`], and one per `grant_type` sent to
/// the token endpoint.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    counts: [AtomicU64; Endpoint::ALL.len()],
    /// Keyed by the `grant_type` value as sent; a map because clients may
    /// send any string, and tests ask about grants by their wire name.
    grants: Mutex<HashMap<String, u64>>,
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
        self.grants.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }

    /// Records one token request with this `grant_type`.
    pub(crate) fn record_grant(&self, grant_type: &str) {
        // Only a few distinct values are expected; cap the map so a client
        // inventing grant types cannot grow it without bound.
        const MAX_GRANT_TYPES: usize = 64;
        let mut grants = self.grants.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = grants.get_mut(grant_type) {
            *n += 1;
        } else if grants.len() < MAX_GRANT_TYPES {
            grants.insert(grant_type.to_owned(), 1);
        }
    }

    /// Token requests with this `grant_type` so far.
    pub(crate) fn grant_count(&self, grant_type: &str) -> u64 {
        self.grants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(grant_type)
            .copied()
            .unwrap_or(0)
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
        stats.record_grant("refresh_token");
        stats.record_grant("refresh_token");
        assert_eq!(stats.grant_count("refresh_token"), 2);
        assert_eq!(stats.grant_count("password"), 0);
        stats.reset();
        assert_eq!(stats.total(), 0);
        assert_eq!(stats.grant_count("refresh_token"), 0);
    }

    #[test]
    fn every_endpoint_has_its_own_counter_and_name() {
        let mut indices: Vec<usize> = Endpoint::ALL.iter().map(|e| e.index()).collect();
        indices.sort_unstable();
        assert_eq!(indices, (0..Endpoint::ALL.len()).collect::<Vec<_>>());
        for e in Endpoint::ALL {
            assert_eq!(Endpoint::from_name(e.name()), Some(e));
        }
        assert_eq!(Endpoint::from_name("nope"), None);
        let stats = Stats::default();
        stats.record(Endpoint::Imds);
        stats.record(Endpoint::CloudShell);
        assert_eq!(stats.count(Endpoint::Imds), 1);
        assert_eq!(stats.count(Endpoint::CloudShell), 1);
        assert_eq!(stats.total(), 2);
    }
}

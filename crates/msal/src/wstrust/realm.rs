//! User realm discovery's answer, and the memo of user realm and MEX
//! answers a username/password sign-in keeps (by URL, for a day, as MSAL
//! Python's HTTP cache keeps GETs), so repeated sign-ins cost one request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{DEFAULT_CLOUD_AUDIENCE_URN, Endpoint};

/// How long user realm and MEX answers are reused.
const DISCOVERY_TTL: Duration = Duration::from_secs(24 * 3600);
/// Most remembered answers per application; the memo starts over beyond it.
const DISCOVERY_CAPACITY: usize = 256;

/// What the user realm endpoint says about a user's domain; only the
/// fields this flow uses. Every field is optional: an empty answer means a
/// managed (or unknown) user.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct UserRealm {
    #[serde(default)]
    pub account_type: Option<String>,
    #[serde(default)]
    pub federation_metadata_url: Option<String>,
    #[serde(default)]
    pub federation_active_auth_url: Option<String>,
    #[serde(default)]
    pub cloud_audience_urn: Option<String>,
}

impl UserRealm {
    /// Whether the domain is federated: the password goes to its federation
    /// server. `Managed` and `Unknown` users use the password grant.
    pub(crate) fn is_federated(&self) -> bool {
        self.account_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("Federated"))
    }

    /// The audience the SAML assertion must be issued for.
    pub(crate) fn cloud_audience_urn(&self) -> &str {
        self.cloud_audience_urn
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .unwrap_or(DEFAULT_CLOUD_AUDIENCE_URN)
    }
}

/// Remembered user realm and MEX answers, by URL.
#[derive(Debug, Default)]
pub(crate) struct FederationMemo {
    entries: Mutex<HashMap<String, (Instant, Discovered)>>,
}

#[derive(Clone, Debug)]
pub(crate) enum Discovered {
    Realm(UserRealm),
    Mex(Endpoint),
}

impl FederationMemo {
    pub(crate) fn get(&self, key: &str) -> Option<Discovered> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < DISCOVERY_TTL)
            .map(|(_, value)| value.clone())
    }

    pub(crate) fn put(&self, key: String, value: Discovered) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= DISCOVERY_CAPACITY {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), value));
    }
}

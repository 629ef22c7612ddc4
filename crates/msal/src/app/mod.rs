//! Applications: the public types ([`PublicClientApplication`] and
//! [`ConfidentialClientApplication`]) are thin handles over one shared core
//! that owns the client id, authority, transport, cache and telemetry. Flows
//! in [`crate::flows`] work on the core.

mod claims_memo;
mod confidential;
mod public;
mod shared_methods;
mod single_flight;

pub use confidential::{ConfidentialClientApplication, ConfidentialClientApplicationBuilder};
pub use public::{PublicClientApplication, PublicClientApplicationBuilder};

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::OnceCell;

use crate::authority::{self, Authority};
use crate::cache::TokenCache;
use crate::discovery::{self, AuthorityMetadata};
use crate::error::{Error, Result};
use crate::http::{HttpClient, ReqwestHttpClient};
use crate::result::AuthenticationResult;
use crate::telemetry::Telemetry;
use crate::throttle::{HttpCache, ThrottledHttpClient};

pub(crate) use claims_memo::ClaimsMemo;
pub(crate) use single_flight::SingleFlight;

/// How many per-call authorities' endpoints an application remembers.
const MAX_OTHER_AUTHORITIES: usize = 32;

/// The cache location a tenant-specific authority implies without discovery:
/// its host and tenant. `None` for `common`, `organizations`, `consumers`
/// and OIDC authorities, whose realm only discovery tells.
fn tenant_location(authority: &Authority) -> Option<(Cow<'_, str>, Cow<'_, str>)> {
    let tenant = authority.tenant()?;
    let multi_tenant = ["common", "organizations", "consumers"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(tenant));
    (!multi_tenant).then(|| (lowercase(authority.host()), Cow::Borrowed(tenant)))
}

/// `text` in ASCII lowercase, borrowed when it already is (URL hosts are).
pub(crate) fn lowercase(text: &str) -> Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(text.to_ascii_lowercase())
    } else {
        Cow::Borrowed(text)
    }
}

/// A lock that survives a panic elsewhere: the map holds whole entries only.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The authority every application uses unless told otherwise.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com/common";

/// State shared by every application type.
pub(crate) struct ClientCore {
    pub client_id: String,
    pub authority: Authority,
    pub instance_discovery: bool,
    /// Capabilities the client declares (e.g. `cp1` for CAE), sent in `claims`.
    pub client_capabilities: Vec<String>,
    pub http: Arc<dyn HttpClient>,
    pub cache: TokenCache,
    pub telemetry: Telemetry,
    /// Token requests in flight, so concurrent callers for one token share one request.
    pub flights: SingleFlight<Result<AuthenticationResult>>,
    /// Claims of cached ID tokens, decoded once for the silent cache hits that return them.
    pub id_token_claims: ClaimsMemo,
    /// Discovered once, on first use; concurrent first callers share one discovery.
    metadata: OnceCell<AuthorityMetadata>,
    /// Endpoints of per-call authorities (silent calls may name another tenant), by URL.
    other_metadata: Mutex<HashMap<String, AuthorityMetadata>>,
    /// User realm and federation metadata answers of username/password sign-ins.
    pub federation: crate::flows::username_password::DiscoveryCache,
    /// The regional token endpoint setting (client credentials only); off for public clients.
    pub region: crate::region::RegionSettings,
}

impl ClientCore {
    /// The cache `environment` and `realm` when they are known without a
    /// request: from earlier discovery, or from an authority that names a
    /// specific tenant (the realm is then that tenant, as discovery would say
    /// for a GUID authority). `None` for `common`, `organizations`, `consumers`
    /// and OIDC authorities, whose realm only discovery tells. Borrowed when
    /// it can be: cache hits ask for it on every call.
    pub(crate) fn offline_cache_location(&self) -> Option<(Cow<'_, str>, Cow<'_, str>)> {
        if let Some(metadata) = self.metadata.get() {
            return Some((
                Cow::Borrowed(metadata.environment.as_str()),
                Cow::Borrowed(metadata.realm.as_str()),
            ));
        }
        tenant_location(&self.authority)
    }

    /// [`offline_cache_location`](Self::offline_cache_location) of a per-call
    /// authority (`None`: this application's own).
    pub(crate) fn offline_cache_location_of<'a>(
        &'a self,
        authority: Option<&'a Authority>,
    ) -> Option<(Cow<'a, str>, Cow<'a, str>)> {
        match authority {
            None => self.offline_cache_location(),
            Some(authority) => {
                let key = authority.url().to_ascii_lowercase();
                let known = lock(&self.other_metadata)
                    .get(&key)
                    .map(|m| (Cow::Owned(m.environment.clone()), Cow::Owned(m.realm.clone())));
                known.or_else(|| tenant_location(authority))
            }
        }
    }

    /// The endpoints of a per-call authority (`None`: this application's
    /// own), discovered once per authority and remembered, so a caller that
    /// passes the same tenant on every call pays for discovery once.
    pub(crate) async fn metadata_of(
        &self,
        authority: Option<&Authority>,
        correlation_id: &str,
    ) -> Result<AuthorityMetadata> {
        let Some(authority) = authority else {
            return self.metadata(correlation_id).await.cloned();
        };
        if *authority == self.authority {
            return self.metadata(correlation_id).await.cloned();
        }
        let key = authority.url().to_ascii_lowercase();
        if let Some(metadata) = lock(&self.other_metadata).get(&key) {
            return Ok(metadata.clone());
        }
        let metadata = discovery::resolve(
            self.http.as_ref(),
            authority,
            self.instance_discovery,
            correlation_id,
        )
        .await?;
        let mut known = lock(&self.other_metadata);
        // Bounded, so callers cycling through many tenants cannot grow it forever.
        if known.len() >= MAX_OTHER_AUTHORITIES {
            known.clear();
        }
        known.insert(key, metadata.clone());
        Ok(metadata)
    }

    /// The cache environments to search for `metadata`'s authority: its
    /// own first, then the other hosts of its cloud (see
    /// [`environment_aliases`](Self::environment_aliases)).
    pub(crate) fn environments_of(&self, environment: &str, discovered_aliases: &[String]) -> Vec<String> {
        let mut out = vec![environment.to_ascii_lowercase()];
        if !self.instance_discovery {
            return out;
        }
        let candidates = authority::known_aliases(environment)
            .into_iter()
            .chain(discovered_aliases.iter().map(|a| a.to_ascii_lowercase()));
        for alias in candidates {
            if !out.iter().any(|e| e.eq_ignore_ascii_case(&alias)) {
                out.push(alias);
            }
        }
        out
    }

    /// The cache `environment` of this application's authority: its host.
    pub(crate) fn environment(&self) -> String {
        match self.metadata.get() {
            Some(metadata) => metadata.environment.clone(),
            None => self.authority.host().to_ascii_lowercase(),
        }
    }

    /// Other hosts of the authority's cloud, where an older cache may have
    /// put its entries: the known Microsoft clouds' aliases, and those
    /// instance discovery reported. None when instance discovery is off, as
    /// in MSAL Python (the authority is then the developer's own business).
    pub(crate) fn environment_aliases(&self) -> Vec<String> {
        if !self.instance_discovery {
            return Vec::new();
        }
        let environment = self.environment();
        let mut aliases = authority::known_aliases(&environment);
        if let Some(metadata) = self.metadata.get() {
            for alias in &metadata.aliases {
                if !alias.eq_ignore_ascii_case(&environment)
                    && !aliases.iter().any(|a| a.eq_ignore_ascii_case(alias))
                {
                    aliases.push(alias.to_ascii_lowercase());
                }
            }
        }
        aliases
    }

    /// The authority's endpoints, discovering them on first use. A failed
    /// discovery is not remembered, so the next call tries again.
    pub(crate) async fn metadata(&self, correlation_id: &str) -> Result<&AuthorityMetadata> {
        self.metadata
            .get_or_try_init(|| {
                discovery::resolve(
                    self.http.as_ref(),
                    &self.authority,
                    self.instance_discovery,
                    correlation_id,
                )
            })
            .await
    }
}

/// Settings common to every application builder.
pub(crate) struct CoreBuilder {
    client_id: String,
    authority: Option<Result<Authority>>,
    instance_discovery: bool,
    client_capabilities: Vec<String>,
    http: Option<Arc<dyn HttpClient>>,
    cache: Option<TokenCache>,
    /// Public clients get MSAL's longer default throttle window and the 'ui required' cache.
    public: bool,
    app_name: Option<String>,
    app_version: Option<String>,
    http_cache: Option<HttpCache>,
    region: crate::region::RegionSettings,
}

impl CoreBuilder {
    pub(crate) fn new(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            authority: None,
            instance_discovery: true,
            client_capabilities: Vec::new(),
            http: None,
            cache: None,
            public: false,
            app_name: None,
            app_version: None,
            http_cache: None,
            region: crate::region::RegionSettings::default(),
        }
    }

    /// Marks the application as a public client (see [`crate::throttle`]).
    pub(crate) fn public_client(&mut self) {
        self.public = true;
    }

    pub(crate) fn app_name(&mut self, name: String) {
        self.app_name = Some(name);
    }

    pub(crate) fn app_version(&mut self, version: String) {
        self.app_version = Some(version);
    }

    pub(crate) fn http_cache(&mut self, cache: HttpCache) {
        self.http_cache = Some(cache);
    }

    pub(crate) fn authority(&mut self, authority: Result<Authority>) {
        self.authority = Some(authority);
    }

    pub(crate) fn instance_discovery(&mut self, enabled: bool) {
        self.instance_discovery = enabled;
    }

    pub(crate) fn client_capabilities(&mut self, capabilities: Vec<String>) {
        // Blank entries would only produce an odd `claims` parameter.
        self.client_capabilities = capabilities
            .into_iter()
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect();
    }

    pub(crate) fn http_client(&mut self, http: Arc<dyn HttpClient>) {
        self.http = Some(http);
    }

    pub(crate) fn token_cache(&mut self, cache: TokenCache) {
        self.cache = Some(cache);
    }

    pub(crate) fn region(&mut self, region: crate::region::RegionSettings) {
        self.region = region;
    }

    pub(crate) fn build(self) -> Result<ClientCore> {
        let client_id = self.client_id.trim().to_owned();
        if client_id.is_empty() {
            return Err(Error::InvalidArgument("the client id is empty".into()));
        }
        let authority = match self.authority {
            Some(authority) => authority?,
            None => Authority::parse(DEFAULT_AUTHORITY)?,
        };
        let transport: Arc<dyn HttpClient> = match self.http {
            Some(http) => http,
            None => Arc::new(ReqwestHttpClient::new()?),
        };
        let mut app_headers = Vec::new();
        for (header, value) in [("x-app-name", self.app_name), ("x-app-ver", self.app_version)] {
            if let Some(value) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
                // A header value with control characters would be refused by
                // the transport on every request; refuse it once, here.
                if value.chars().any(|c| !c.is_ascii() || c.is_ascii_control()) {
                    return Err(Error::InvalidArgument(format!(
                        "{header} must be printable ASCII"
                    )));
                }
                app_headers.push((header.to_owned(), value));
            }
        }
        // Throttling applies over any transport, the default or an injected one.
        let http: Arc<dyn HttpClient> = Arc::new(ThrottledHttpClient::new(
            transport,
            self.http_cache.unwrap_or_default(),
            self.public,
            app_headers,
        ));
        Ok(ClientCore {
            client_id,
            authority,
            instance_discovery: self.instance_discovery,
            client_capabilities: self.client_capabilities,
            http,
            cache: self.cache.unwrap_or_default(),
            telemetry: Telemetry::default(),
            flights: SingleFlight::default(),
            id_token_claims: ClaimsMemo::default(),
            metadata: OnceCell::new(),
            other_metadata: Mutex::new(HashMap::new()),
            federation: Default::default(),
            region: self.region,
        })
    }
}

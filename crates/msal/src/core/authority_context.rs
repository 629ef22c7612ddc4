//! The authority side of an application: its [`Authority`], the endpoints
//! discovery resolves for it (lazily, on the first cache miss), the other
//! hosts of its cloud, per-call authorities, and where its tokens sit in the
//! cache. A managed identity client has none of this.
//!
//! Cache hits need no discovery: [`AuthorityContext::offline_location`]
//! answers from what is known without a request (earlier discovery in this
//! process, a tenant GUID in the authority, or the tenant-to-realm mapping a
//! previous discovery left in the token cache, see
//! [`TokenCache::known_realm`](crate::cache::TokenCache)).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::sync::OnceCell;

use crate::authority::{self, Authority};
use crate::cache::TokenCache;
use crate::discovery::{self, AuthorityMetadata, InstanceDiscoverySetting};
use crate::error::Result;
use crate::pipeline::Pipeline;
use crate::region::RegionSettings;
use crate::wstrust::FederationMemo;

/// How many per-call authorities' endpoints an application remembers.
const MAX_OTHER_AUTHORITIES: usize = 32;

/// A lock that survives a panic elsewhere: the map holds whole entries only.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `text` in ASCII lowercase, borrowed when it already is (URL hosts are).
pub(crate) fn lowercase(text: &str) -> Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(text.to_ascii_lowercase())
    } else {
        Cow::Borrowed(text)
    }
}

/// Whether `tenant` names no single tenant.
fn is_multi_tenant(tenant: &str) -> bool {
    ["common", "organizations", "consumers"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(tenant))
}

/// A location in the cache: `environment` and `realm`.
pub(crate) type Location<'a> = (Cow<'a, str>, Cow<'a, str>);

/// Whether `tenant` is a tenant id (a GUID), which is its own cache realm.
fn is_tenant_id(tenant: &str) -> bool {
    uuid::Uuid::try_parse(tenant).is_ok()
}

/// The cache location a tenant-specific authority implies without
/// discovery: its host, and as the realm its tenant id, or the realm an
/// earlier discovery mapped its tenant name (`contoso.onmicrosoft.com`,
/// `contoso`) to, which the token cache keeps for later processes, or else
/// the tenant as written (AD FS's `adfs` is its own realm). `None` for
/// `common`, `organizations`, `consumers` and OIDC authorities, whose realm
/// only discovery tells.
fn tenant_location<'a>(authority: &'a Authority, cache: &TokenCache) -> Option<Location<'a>> {
    let tenant = authority.tenant()?;
    if is_multi_tenant(tenant) {
        return None;
    }
    let environment = lowercase(authority.host());
    if !is_tenant_id(tenant) {
        // Written down by a process that may have used another host of the cloud.
        let known = cache.known_realm(&environment, tenant).or_else(|| {
            authority::known_aliases(&environment)
                .iter()
                .find_map(|alias| cache.known_realm(alias, tenant))
        });
        if let Some(realm) = known {
            return Some((environment, Cow::Owned(realm)));
        }
    }
    Some((environment, Cow::Borrowed(tenant)))
}

/// An application's authority and what discovery learns about it.
pub(crate) struct AuthorityContext {
    pub authority: Authority,
    pub instance_discovery: InstanceDiscoverySetting,
    /// The regional token endpoint setting (client credentials only); off
    /// for public clients. Shared with the per-request tenants' contexts.
    pub region: Arc<RegionSettings>,
    /// User realm and federation metadata answers of username/password sign-ins.
    pub federation: FederationMemo,
    /// Discovered once, on first use; concurrent first callers share one discovery.
    metadata: OnceCell<AuthorityMetadata>,
    /// Endpoints of per-call authorities (silent calls may name another tenant), by URL.
    other_metadata: Mutex<HashMap<String, AuthorityMetadata>>,
    /// The authority's realm once settled without discovery: its tenant id,
    /// or the realm the token cache maps its tenant name to.
    mapped_realm: OnceLock<String>,
    /// Contexts of per-request tenants, by lowercase tenant, each keeping
    /// its own discovery; bounded like `other_metadata`.
    tenants: Mutex<HashMap<String, Arc<AuthorityContext>>>,
}

impl AuthorityContext {
    pub(crate) fn new(
        authority: Authority,
        instance_discovery: InstanceDiscoverySetting,
        region: RegionSettings,
    ) -> Self {
        Self::sharing_region(authority, instance_discovery, Arc::new(region))
    }

    fn sharing_region(
        authority: Authority,
        instance_discovery: InstanceDiscoverySetting,
        region: Arc<RegionSettings>,
    ) -> Self {
        AuthorityContext {
            authority,
            instance_discovery,
            region,
            federation: FederationMemo::default(),
            metadata: OnceCell::new(),
            other_metadata: Mutex::new(HashMap::new()),
            mapped_realm: OnceLock::new(),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// The context of this authority with another tenant (a per-request
    /// tenant override), made once per tenant and kept, so its discovery
    /// and realm are worked out once.
    pub(crate) fn for_tenant(&self, tenant: &str) -> Result<Arc<AuthorityContext>> {
        let authority = self.authority.with_tenant(tenant)?;
        let key = authority.url().to_ascii_lowercase();
        let mut tenants = lock(&self.tenants);
        if let Some(context) = tenants.get(&key) {
            return Ok(context.clone());
        }
        if tenants.len() >= MAX_OTHER_AUTHORITIES {
            tenants.clear();
        }
        let context = Arc::new(AuthorityContext::sharing_region(
            authority,
            self.instance_discovery.clone(),
            self.region.clone(),
        ));
        tenants.insert(key, context.clone());
        Ok(context)
    }

    /// The cache `environment` and `realm` when they are known without a
    /// request (see the module docs). Borrowed when it can be: cache hits
    /// ask for it on every call.
    pub(crate) fn offline_location<'a>(&'a self, cache: &TokenCache) -> Option<Location<'a>> {
        if let Some(metadata) = self.metadata.get() {
            return Some((
                Cow::Borrowed(metadata.environment.as_str()),
                Cow::Borrowed(metadata.realm.as_str()),
            ));
        }
        if let Some(realm) = self.mapped_realm.get() {
            return Some((lowercase(self.authority.host()), Cow::Borrowed(realm.as_str())));
        }
        let location = tenant_location(&self.authority, cache)?;
        // A tenant id, or a name the cache mapped: settled, so worked out
        // once (cache hits ask on every call). A name not mapped yet may be
        // after the next discovery, which then answers above.
        let (_, realm) = &location;
        if matches!(realm, Cow::Owned(_)) || is_tenant_id(realm) {
            let _ = self.mapped_realm.set(realm.to_string());
        }
        Some(location)
    }

    /// [`offline_location`](Self::offline_location) of a per-call
    /// authority (`None`: this application's own).
    pub(crate) fn offline_location_of<'a>(
        &'a self,
        authority: Option<&'a Authority>,
        cache: &TokenCache,
    ) -> Option<Location<'a>> {
        match authority {
            None => self.offline_location(cache),
            Some(authority) => {
                let key = authority.url().to_ascii_lowercase();
                let known = lock(&self.other_metadata)
                    .get(&key)
                    .map(|m| (Cow::Owned(m.environment.clone()), Cow::Owned(m.realm.clone())));
                known.or_else(|| tenant_location(authority, cache))
            }
        }
    }

    /// The authority's endpoints, discovering them on first use. A failed
    /// discovery is not remembered, so the next call tries again. What it
    /// learns about a tenant name is written down in `cache`.
    pub(crate) async fn metadata(
        &self,
        pipeline: &Pipeline,
        cache: &TokenCache,
        correlation_id: &str,
    ) -> Result<&AuthorityMetadata> {
        self.metadata
            .get_or_try_init(|| async {
                let metadata = discovery::resolve(
                    pipeline,
                    &self.authority,
                    &self.instance_discovery,
                    correlation_id,
                )
                .await?;
                remember_realm(&self.authority, &metadata, cache);
                Ok(metadata)
            })
            .await
    }

    /// The endpoints of a per-call authority (`None`: this application's
    /// own), discovered once per authority and remembered, so a caller that
    /// passes the same tenant on every call pays for discovery once.
    pub(crate) async fn metadata_of(
        &self,
        authority: Option<&Authority>,
        pipeline: &Pipeline,
        cache: &TokenCache,
        correlation_id: &str,
    ) -> Result<AuthorityMetadata> {
        let Some(authority) = authority else {
            return self.metadata(pipeline, cache, correlation_id).await.cloned();
        };
        if *authority == self.authority {
            return self.metadata(pipeline, cache, correlation_id).await.cloned();
        }
        let key = authority.url().to_ascii_lowercase();
        if let Some(metadata) = lock(&self.other_metadata).get(&key) {
            return Ok(metadata.clone());
        }
        let metadata =
            discovery::resolve(pipeline, authority, &self.instance_discovery, correlation_id).await?;
        remember_realm(authority, &metadata, cache);
        let mut known = lock(&self.other_metadata);
        // Bounded, so callers cycling through many tenants cannot grow it forever.
        if known.len() >= MAX_OTHER_AUTHORITIES {
            known.clear();
        }
        known.insert(key, metadata.clone());
        Ok(metadata)
    }

    /// The cache environments to search for an authority on
    /// `environment`: its own first, then the other hosts of its cloud (see
    /// [`environment_aliases`](Self::environment_aliases)).
    pub(crate) fn environments_of(&self, environment: &str, discovered_aliases: &[String]) -> Vec<String> {
        let mut out = vec![environment.to_ascii_lowercase()];
        if !self.instance_discovery.is_on() {
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

    /// Other hosts of the authority's cloud, where an older cache (or an
    /// application configured with another alias) may have put its
    /// entries: the known Microsoft clouds' aliases, and those instance
    /// discovery reported. None when instance discovery is off, as in MSAL
    /// Python (the authority is then the developer's own business).
    pub(crate) fn environment_aliases(&self) -> Vec<String> {
        if !self.instance_discovery.is_on() {
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
}

/// Writes down the realm discovery found for an authority that names its
/// tenant by name, so a later process finds cached tokens without asking.
fn remember_realm(authority: &Authority, metadata: &AuthorityMetadata, cache: &TokenCache) {
    if let Some(tenant) = authority.tenant()
        && !is_tenant_id(tenant)
        && !is_multi_tenant(tenant)
        && !metadata.realm.eq_ignore_ascii_case(tenant)
    {
        cache.remember_realm(&metadata.environment, tenant, &metadata.realm);
    }
}

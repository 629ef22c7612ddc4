//! [`ManagedIdentityClient`]: tokens for the managed identity of the Azure
//! resource the code runs on, from whichever host it is (IMDS, App
//! Service, Azure ML, Service Fabric, Azure Arc, Cloud Shell), cached in
//! the unified format MSAL Python writes. It shares the
//! [`ClientCore`](crate::core::ClientCore) with the applications, without
//! an authority: the host is the authority.

use std::sync::Arc;

use crate::cache::TokenCache;
use crate::core::{ClientCore, CoreBuilder};
use crate::discovery::AuthorityMetadata;
use crate::error::Result;
use crate::flows::managed_identity::{self as flow, ManagedIdentityOptions, Target};
use crate::http::{HttpClient, Sleeper};
use crate::managed_identity::{Host, ManagedIdentity, ManagedIdentityEnvironment, ManagedIdentitySource};
use crate::pipeline::HttpCache;
use crate::result::AuthenticationResult;

/// Gets tokens for a managed identity: build it once and reuse it (clones
/// share its cache). The host is detected when it is built, from the
/// process environment or the one given to
/// [`environment`](ManagedIdentityClientBuilder::environment).
///
/// ```no_run
/// # async fn run() -> msal::Result<()> {
/// use msal::{ManagedIdentity, ManagedIdentityClient};
///
/// let client = ManagedIdentityClient::builder(ManagedIdentity::SystemAssigned).build()?;
/// let token = client.acquire_token_for_client("https://vault.azure.net").await?;
/// println!("from {}, expires {:?}", client.source(), token.expires_on);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ManagedIdentityClient {
    inner: Arc<Inner>,
}

struct Inner {
    core: ClientCore,
    host: Host,
    identity: ManagedIdentity,
    cache_location: AuthorityMetadata,
}

impl std::fmt::Debug for ManagedIdentityClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedIdentityClient")
            .field("identity", &self.inner.identity)
            .field("host", &self.inner.host)
            .finish_non_exhaustive()
    }
}

impl ManagedIdentityClient {
    /// A builder for a client of `identity`.
    pub fn builder(identity: ManagedIdentity) -> ManagedIdentityClientBuilder {
        // The core's client id is the cache's name for the identity.
        let core = CoreBuilder::new(identity.cache_client_id());
        ManagedIdentityClientBuilder {
            identity,
            environment: None,
            core,
        }
    }

    /// The host this process runs on, from its environment (as MSAL
    /// Python's `get_managed_identity_source`).
    pub fn detect_source() -> ManagedIdentitySource {
        ManagedIdentityEnvironment::from_process().source()
    }

    /// The host this client gets its tokens from.
    pub fn source(&self) -> ManagedIdentitySource {
        self.inner.host.source
    }

    /// The identity this client gets tokens for.
    pub fn identity(&self) -> &ManagedIdentity {
        &self.inner.identity
    }

    /// The token cache.
    pub fn token_cache(&self) -> &TokenCache {
        &self.inner.core.cache
    }

    /// A token for `resource` (`https://vault.azure.net`; a scope such as
    /// `https://vault.azure.net/.default` names the same resource), from
    /// the cache when it holds one with more than five minutes left.
    pub async fn acquire_token_for_client(&self, resource: &str) -> Result<AuthenticationResult> {
        self.acquire_token_for_client_with(resource, &ManagedIdentityOptions::default())
            .await
    }

    /// [`acquire_token_for_client`](Self::acquire_token_for_client) with options
    /// (a claims challenge, a forced refresh).
    pub async fn acquire_token_for_client_with(
        &self,
        resource: &str,
        options: &ManagedIdentityOptions,
    ) -> Result<AuthenticationResult> {
        let inner = &*self.inner;
        let target = Target {
            core: &inner.core,
            host: &inner.host,
            identity: &inner.identity,
            cache_location: &inner.cache_location,
        };
        flow::acquire(&target, resource, options).await
    }
}

/// Builds a [`ManagedIdentityClient`].
pub struct ManagedIdentityClientBuilder {
    identity: ManagedIdentity,
    environment: Option<ManagedIdentityEnvironment>,
    core: CoreBuilder,
}

impl std::fmt::Debug for ManagedIdentityClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedIdentityClientBuilder")
            .field("identity", &self.identity)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

impl ManagedIdentityClientBuilder {
    /// Detects the host from `environment` instead of this process's.
    pub fn environment(mut self, environment: ManagedIdentityEnvironment) -> Self {
        self.environment = Some(environment);
        self
    }

    /// Uses this token cache (e.g. one loaded from a file) instead of a new one.
    pub fn token_cache(mut self, cache: TokenCache) -> Self {
        self.core.token_cache(cache);
        self
    }

    /// Sends requests through this transport instead of the default one.
    /// Service Fabric's endpoint is always reached over the library's own
    /// transport, which pins its certificate.
    pub fn http_client(mut self, http: impl HttpClient) -> Self {
        self.core.http_client(Arc::new(http));
        self
    }

    /// Shares throttling state with other clients.
    pub fn http_cache(mut self, cache: HttpCache) -> Self {
        self.core.http_cache(cache);
        self
    }

    /// Capabilities the client declares (`cp1`), sent to hosts that take
    /// them (Service Fabric's `xms_cc`).
    pub fn client_capabilities<I, S>(mut self, capabilities: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.core
            .client_capabilities(capabilities.into_iter().map(Into::into).collect());
        self
    }

    /// Waits between retries with `sleeper` (see [`Sleeper`]).
    pub fn sleeper(mut self, sleeper: impl Sleeper) -> Self {
        self.core.sleeper(Arc::new(sleeper));
        self
    }

    /// Detects the host and builds the client. Fails on an environment a
    /// host would not set (an endpoint that is not a URL, a Service Fabric
    /// thumbprint that is not 40 hex digits, an http Service Fabric endpoint).
    pub fn build(self) -> Result<ManagedIdentityClient> {
        let environment = self
            .environment
            .unwrap_or_else(ManagedIdentityEnvironment::from_process);
        let host = environment.host()?;
        if let Some(id) = self.identity.id()
            && id.trim().is_empty()
        {
            return Err(crate::Error::InvalidArgument(
                "the user-assigned identity's id is empty".into(),
            ));
        }
        let core = self.core.build_client()?;
        tracing::debug!(source = %host.source, identity = self.identity.cache_client_id(), "managed identity host detected");
        Ok(ManagedIdentityClient {
            inner: Arc::new(Inner {
                core,
                host,
                identity: self.identity,
                cache_location: crate::managed_identity::cache_location()?,
            }),
        })
    }
}

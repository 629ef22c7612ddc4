//! The core every flow runs on, below `flows` and above the protocol and
//! domain layers:
//!
//! - [`ClientCore`]: what every client has, a managed identity client
//!   included: the client id, the request [`Pipeline`], the token cache,
//!   telemetry, single-flight and the ID-token claims memo;
//! - [`AuthorityContext`]: what an application with an authority adds
//!   (the authority, lazily discovered endpoints, aliases, region);
//! - [`AppCore`]: the two together, what the public and confidential
//!   applications hold;
//! - [`call`]: the ONE token-request path. A flow says what is particular
//!   to its grant ([`Grant`]); headers, client authentication, the
//!   correlation id, sending, telemetry, logs and turning the response into
//!   cache entries ([`save`]) happen there, once;
//! - [`TokenShape`]: the extra parameters that shape a token, sent and
//!   keyed into the cache in one place.

mod authority_context;
mod hooked;
pub(crate) use hooked::Partition;
pub(crate) mod call;
mod claims_memo;
pub(crate) use claims_memo::Known;
mod id_token;
pub(crate) mod save;
mod shape;
mod single_flight;

use std::ops::Deref;
use std::sync::Arc;

pub(crate) use authority_context::{AuthorityContext, Location, lowercase};
pub(crate) use call::{Call, Grant};
pub(crate) use claims_memo::ClaimsMemo;
pub(crate) use id_token::{DEFAULT_CLOCK_SKEW, IdTokenValidator};
pub(crate) use shape::TokenShape;
pub(crate) use single_flight::SingleFlight;

use crate::authority::Authority;
use crate::cache::{CacheHooks, TokenCache};
use crate::discovery::{AuthorityMetadata, InstanceDiscoverySetting};
use crate::error::{Error, Result};
use crate::http::{HttpClient, ReqwestHttpClient, Sleeper};
use crate::pipeline::{HttpCache, Pipeline};
use crate::region::RegionSettings;
use crate::result::AuthenticationResult;
use crate::telemetry::Telemetry;

/// A new `client-request-id`. Only requests need one (a cache hit sends
/// nothing), and making one costs a system call for randomness, so flows
/// make it when they first go to the network.
pub(crate) fn new_correlation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// What every client has: what its calls share, and the cache they use.
///
/// The cache is apart from the rest so that, with [`CacheHooks`], each call
/// runs on a cache of its own (see [`AppCore::with_hooks`]) while sharing
/// everything else by reference.
pub(crate) struct ClientCore {
    shared: Arc<ClientShared>,
    pub cache: TokenCache,
}

impl Deref for ClientCore {
    type Target = ClientShared;

    fn deref(&self) -> &ClientShared {
        &self.shared
    }
}

/// What every call of one client shares.
pub(crate) struct ClientShared {
    pub client_id: String,
    /// Capabilities the client declares (e.g. `cp1` for CAE), sent in `claims`.
    pub client_capabilities: Vec<String>,
    pub pipeline: Pipeline,
    pub telemetry: Telemetry,
    /// Token requests in flight, so concurrent callers for one token share one request.
    pub flights: SingleFlight<Result<AuthenticationResult>>,
    /// Claims of cached ID tokens, decoded once for the silent cache hits that return them.
    pub id_token_claims: ClaimsMemo,
    /// Opt-in validation of the ID tokens the identity provider sends.
    pub id_tokens: IdTokenValidator,
    /// Where the application's cache is loaded from and saved to, if anywhere.
    pub hooks: Option<Arc<dyn CacheHooks>>,
}

/// A client with an authority: the public and confidential applications.
pub(crate) struct AppCore {
    base: ClientCore,
    pub authority: Arc<AuthorityContext>,
}

impl Deref for AppCore {
    type Target = ClientCore;

    fn deref(&self) -> &ClientCore {
        &self.base
    }
}

impl AppCore {
    /// The application's authority.
    pub(crate) fn authority(&self) -> &Authority {
        &self.authority.authority
    }

    /// The authority's endpoints, discovered on first use.
    pub(crate) async fn metadata(&self, correlation_id: &str) -> Result<&AuthorityMetadata> {
        self.authority
            .metadata(&self.pipeline, &self.cache, correlation_id)
            .await
    }

    /// The endpoints of a per-call authority (`None`: the application's own).
    pub(crate) async fn metadata_of(
        &self,
        authority: Option<&Authority>,
        correlation_id: &str,
    ) -> Result<AuthorityMetadata> {
        self.authority
            .metadata_of(authority, &self.pipeline, &self.cache, correlation_id)
            .await
    }

    /// Where this application's tokens are in the cache, when known
    /// without a request.
    pub(crate) fn offline_cache_location(&self) -> Option<Location<'_>> {
        self.authority.offline_location(&self.cache)
    }

    /// [`offline_cache_location`](Self::offline_cache_location) of a per-call authority.
    pub(crate) fn offline_cache_location_of<'a>(
        &'a self,
        authority: Option<&'a Authority>,
    ) -> Option<Location<'a>> {
        self.authority.offline_location_of(authority, &self.cache)
    }

    /// The cache environments to search for `environment`: it, then its cloud's aliases.
    pub(crate) fn environments_of(&self, environment: &str, discovered_aliases: &[String]) -> Vec<String> {
        self.authority.environments_of(environment, discovered_aliases)
    }

    /// The application's cache environment.
    pub(crate) fn environment(&self) -> String {
        self.authority.environment()
    }

    /// Other hosts of the application's cloud.
    pub(crate) fn environment_aliases(&self) -> Vec<String> {
        self.authority.environment_aliases()
    }

    /// Starts a call of `api` with `correlation_id` against `metadata`.
    pub(crate) fn call<'a>(
        &'a self,
        api: crate::telemetry::ApiId,
        correlation_id: &'a str,
        metadata: &'a AuthorityMetadata,
    ) -> Call<'a> {
        Call::new(self, api, correlation_id, metadata)
    }
}

/// The authority every application uses unless told otherwise.
pub(crate) const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com/common";

/// A configured instance discovery endpoint: https, no query, fragment or credentials.
fn trusted_endpoint(endpoint: &str) -> Result<url::Url> {
    let refuse =
        |reason: &str| Error::InvalidArgument(format!("instance discovery endpoint {endpoint:?}: {reason}"));
    let url = url::Url::parse(endpoint).map_err(|e| refuse(&e.to_string()))?;
    if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("must be an https URL"));
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(refuse("must not have a query, fragment or credentials"));
    }
    Ok(url)
}

/// Settings common to every application builder.
pub(crate) struct CoreBuilder {
    client_id: String,
    authority: Option<Result<Authority>>,
    instance_discovery: bool,
    instance_discovery_endpoint: Option<String>,
    client_capabilities: Vec<String>,
    http: Option<Arc<dyn HttpClient>>,
    cache: Option<TokenCache>,
    hooks: Option<Arc<dyn CacheHooks>>,
    /// Public clients get MSAL's longer default throttle window and the 'ui required' memo.
    public: bool,
    app_name: Option<String>,
    app_version: Option<String>,
    http_cache: Option<HttpCache>,
    region: RegionSettings,
    sleeper: Option<Arc<dyn Sleeper>>,
    validate_id_tokens: bool,
    id_token_clock_skew: std::time::Duration,
}

impl CoreBuilder {
    pub(crate) fn new(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            authority: None,
            instance_discovery: true,
            instance_discovery_endpoint: None,
            client_capabilities: Vec::new(),
            http: None,
            cache: None,
            hooks: None,
            public: false,
            app_name: None,
            app_version: None,
            http_cache: None,
            region: RegionSettings::default(),
            sleeper: None,
            validate_id_tokens: false,
            id_token_clock_skew: DEFAULT_CLOCK_SKEW,
        }
    }

    pub(crate) fn validate_id_tokens(&mut self, enabled: bool) {
        self.validate_id_tokens = enabled;
    }

    pub(crate) fn id_token_clock_skew(&mut self, skew: std::time::Duration) {
        self.id_token_clock_skew = skew;
    }

    pub(crate) fn sleeper(&mut self, sleeper: Arc<dyn Sleeper>) {
        self.sleeper = Some(sleeper);
    }

    /// Marks the application as a public client (see [`crate::pipeline`]).
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

    pub(crate) fn instance_discovery_endpoint(&mut self, endpoint: String) {
        self.instance_discovery_endpoint = Some(endpoint);
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

    pub(crate) fn cache_hooks(&mut self, hooks: Arc<dyn CacheHooks>) {
        self.hooks = Some(hooks);
    }

    pub(crate) fn region(&mut self, region: RegionSettings) {
        self.region = region;
    }

    /// The core of an application with an authority.
    pub(crate) fn build(mut self) -> Result<AppCore> {
        let authority = self.authority.take();
        let instance_discovery = match (self.instance_discovery, self.instance_discovery_endpoint.take()) {
            (false, _) => InstanceDiscoverySetting::Off,
            (true, None) => InstanceDiscoverySetting::default(),
            (true, Some(endpoint)) => InstanceDiscoverySetting::Trusted(trusted_endpoint(&endpoint)?),
        };
        let region = std::mem::take(&mut self.region);
        let base = self.build_client()?;
        let authority = match authority {
            Some(authority) => authority?,
            None => Authority::parse(DEFAULT_AUTHORITY)?,
        };
        Ok(AppCore {
            base,
            authority: Arc::new(AuthorityContext::new(authority, instance_discovery, region)),
        })
    }

    /// The core of a client without an authority (managed identity).
    pub(crate) fn build_client(self) -> Result<ClientCore> {
        let client_id = self.client_id.trim().to_owned();
        if client_id.is_empty() {
            return Err(Error::InvalidArgument("the client id is empty".into()));
        }
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
        // The pipeline applies over any transport, the default or an injected one.
        let mut pipeline = Pipeline::new(
            transport,
            self.http_cache.unwrap_or_default(),
            self.public,
            app_headers,
        );
        if let Some(sleeper) = self.sleeper {
            pipeline = pipeline.with_sleeper(sleeper);
        }
        Ok(ClientCore {
            shared: Arc::new(ClientShared {
                client_id,
                client_capabilities: self.client_capabilities,
                pipeline,
                telemetry: Telemetry::default(),
                flights: SingleFlight::default(),
                id_token_claims: ClaimsMemo::default(),
                id_tokens: IdTokenValidator::new(self.validate_id_tokens, self.id_token_clock_skew),
                hooks: self.hooks,
            }),
            cache: self.cache.unwrap_or_default(),
        })
    }
}

//! Applications: the public types ([`ConfidentialClientApplication`]) are
//! thin handles over one shared core that owns the client id, authority,
//! transport, cache and telemetry. Flows in [`crate::flows`] work on the core.

mod confidential;
mod single_flight;

pub use confidential::{ConfidentialClientApplication, ConfidentialClientApplicationBuilder};

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::authority::Authority;
use crate::cache::TokenCache;
use crate::discovery::{self, AuthorityMetadata};
use crate::error::{Error, Result};
use crate::http::{HttpClient, ReqwestHttpClient};
use crate::result::AuthenticationResult;
use crate::telemetry::Telemetry;

pub(crate) use single_flight::SingleFlight;

/// The authority every application uses unless told otherwise.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com/common";

/// State shared by every application type.
pub(crate) struct ClientCore {
    pub client_id: String,
    pub authority: Authority,
    pub instance_discovery: bool,
    pub http: Arc<dyn HttpClient>,
    pub cache: TokenCache,
    pub telemetry: Telemetry,
    /// Token requests in flight, so concurrent callers for one token share one request.
    pub flights: SingleFlight<Result<AuthenticationResult>>,
    /// Discovered once, on first use; concurrent first callers share one discovery.
    metadata: OnceCell<AuthorityMetadata>,
}

impl ClientCore {
    /// The cache `environment` and `realm` when they are known without a
    /// request: from earlier discovery, or from an authority that names a
    /// specific tenant (the realm is then that tenant, as discovery would say
    /// for a GUID authority). `None` for `common`, `organizations`, `consumers`
    /// and OIDC authorities, whose realm only discovery tells.
    pub(crate) fn offline_cache_location(&self) -> Option<(String, String)> {
        if let Some(metadata) = self.metadata.get() {
            return Some((metadata.environment.clone(), metadata.realm.clone()));
        }
        let tenant = self.authority.tenant()?;
        let multi_tenant = ["common", "organizations", "consumers"]
            .iter()
            .any(|t| t.eq_ignore_ascii_case(tenant));
        (!multi_tenant).then(|| (self.authority.host().to_ascii_lowercase(), tenant.to_owned()))
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
    http: Option<Arc<dyn HttpClient>>,
    cache: Option<TokenCache>,
}

impl CoreBuilder {
    pub(crate) fn new(client_id: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            authority: None,
            instance_discovery: true,
            http: None,
            cache: None,
        }
    }

    pub(crate) fn authority(&mut self, authority: Result<Authority>) {
        self.authority = Some(authority);
    }

    pub(crate) fn instance_discovery(&mut self, enabled: bool) {
        self.instance_discovery = enabled;
    }

    pub(crate) fn http_client(&mut self, http: Arc<dyn HttpClient>) {
        self.http = Some(http);
    }

    pub(crate) fn token_cache(&mut self, cache: TokenCache) {
        self.cache = Some(cache);
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
        let http: Arc<dyn HttpClient> = match self.http {
            Some(http) => http,
            None => Arc::new(ReqwestHttpClient::new()?),
        };
        Ok(ClientCore {
            client_id,
            authority,
            instance_discovery: self.instance_discovery,
            http,
            cache: self.cache.unwrap_or_default(),
            telemetry: Telemetry::default(),
            flights: SingleFlight::default(),
            metadata: OnceCell::new(),
        })
    }
}

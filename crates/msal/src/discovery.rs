//! Instance and tenant discovery: from an [`Authority`] to the endpoints
//! its identity provider publishes in its OpenID configuration document.

use serde::Deserialize;
use url::Url;

use crate::authority::{Authority, AuthorityKind};
use crate::error::{Error, Result};
use crate::issuer;
use crate::oauth2;
use crate::pipeline::Pipeline;

/// The resolved endpoints of an authority, and the values the token cache
/// keys its entries by.
#[derive(Clone, Debug)]
pub(crate) struct AuthorityMetadata {
    /// Where tokens are requested.
    pub token_endpoint: Url,
    /// Where users sign in, when the provider has one.
    pub authorization_endpoint: Option<Url>,
    /// The device code endpoint, when the provider has one.
    pub device_authorization_endpoint: Option<Url>,
    /// The cache `environment`: the authority's host, without the port.
    pub environment: String,
    /// The cache `realm`: the tenant segment of the token endpoint (the tenant
    /// GUID for Entra), as MSAL Python derives it.
    pub realm: String,
    /// Other host names of the same cloud, from instance discovery.
    pub aliases: Vec<String>,
    /// The `issuer` ID tokens must name (Entra's multi-tenant documents
    /// carry a `{tenantid}` template), when the document gives one.
    pub issuer: Option<String>,
    /// Where the keys that sign ID tokens are, when the document says.
    pub jwks_uri: Option<Url>,
    /// Whether each token request needs a client assertion of its own:
    /// generic OpenID providers may accept a `jti` once (RFC 7523 3), where
    /// Entra accepts MSAL's assertion reused for minutes.
    pub single_use_assertions: bool,
}

#[derive(Deserialize)]
struct OpenIdConfiguration {
    token_endpoint: String,
    #[serde(default)]
    authorization_endpoint: Option<String>,
    #[serde(default)]
    device_authorization_endpoint: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    jwks_uri: Option<String>,
}

#[derive(Deserialize)]
struct InstanceDiscovery {
    tenant_discovery_endpoint: String,
    #[serde(default)]
    metadata: Vec<InstanceMetadata>,
}

#[derive(Deserialize)]
struct InstanceMetadata {
    #[serde(default)]
    aliases: Vec<String>,
}

/// Where instance discovery asks whether a host is a Microsoft cloud,
/// unless the authority answers for itself (see
/// [`Authority::discovers_itself`]).
pub(crate) const DEFAULT_INSTANCE_DISCOVERY_ENDPOINT: &str =
    "https://login.microsoftonline.com/common/discovery/instance";

/// How an application validates its authority's host.
#[derive(Clone, Debug)]
pub(crate) enum InstanceDiscoverySetting {
    /// Ask this trusted endpoint about hosts that are not known clouds.
    Trusted(Url),
    /// Trust the authority as configured (`instance_discovery(false)`).
    Off,
}

impl Default for InstanceDiscoverySetting {
    fn default() -> Self {
        match Url::parse(DEFAULT_INSTANCE_DISCOVERY_ENDPOINT) {
            Ok(url) => Self::Trusted(url),
            Err(_) => Self::Off,
        }
    }
}

impl InstanceDiscoverySetting {
    pub(crate) fn is_on(&self) -> bool {
        matches!(self, Self::Trusted(_))
    }
}

/// Resolves `authority`: instance discovery first (when it is on and the
/// authority needs it), then the OpenID configuration document.
///
/// Instance discovery asks a trusted endpoint (Entra's global one unless
/// configured otherwise), never the authority's own host, which would vouch
/// for itself; only the sovereign clouds that discover on their own host and
/// loopback development providers answer for themselves. A host it does not
/// know is an [`Error::InvalidInstance`]. An OIDC authority's document must
/// name the authority as its issuer ([`Error::IssuerMismatch`]).
pub(crate) async fn resolve(
    pipeline: &Pipeline,
    authority: &Authority,
    instance_discovery: &InstanceDiscoverySetting,
    correlation_id: &str,
) -> Result<AuthorityMetadata> {
    let mut aliases = Vec::new();
    let mut configuration_url = authority.openid_configuration_url();
    if let InstanceDiscoverySetting::Trusted(trusted) = instance_discovery
        && authority.needs_instance_discovery()
    {
        let mut url = if authority.discovers_itself() {
            parse_url(
                authority,
                &format!("https://{}/common/discovery/instance", authority.host_and_port()),
            )?
        } else {
            trusted.clone()
        };
        url.query_pairs_mut()
            .append_pair("api-version", "1.1")
            .append_pair(
                "authorization_endpoint",
                &authority.authorization_endpoint_guess(),
            );
        let discovery: InstanceDiscovery = match oauth2::get_json(pipeline, &url, correlation_id).await {
            Ok(discovery) => discovery,
            Err(Error::Service(service)) if service.error == "invalid_instance" => {
                return Err(Error::InvalidInstance {
                    authority: authority.url().to_owned(),
                    description: service.error_description.clone().unwrap_or_default(),
                });
            }
            Err(e) => return Err(e),
        };
        configuration_url = discovery.tenant_discovery_endpoint;
        // Only the authority's own cloud: the document lists every cloud.
        aliases = discovery
            .metadata
            .into_iter()
            .find(|m| m.aliases.iter().any(|a| a.eq_ignore_ascii_case(authority.host())))
            .map(|m| m.aliases)
            .unwrap_or_default();
    }
    let url = parse_url(authority, &configuration_url)?;
    let config: OpenIdConfiguration = oauth2::get_json(pipeline, &url, correlation_id).await?;
    // Before any endpoint of the document is used, as MSAL Python checks it.
    if authority.kind() == AuthorityKind::Oidc
        && !config
            .issuer
            .as_deref()
            .is_some_and(|issuer| issuer::is_valid_issuer(authority, issuer))
    {
        return Err(Error::IssuerMismatch {
            authority: authority.url().to_owned(),
            issuer: config.issuer,
        });
    }
    let token_endpoint = parse_url(authority, &config.token_endpoint)?;
    let realm = token_endpoint
        .path_segments()
        .and_then(|mut s| s.next())
        .unwrap_or_default()
        .to_owned();
    Ok(AuthorityMetadata {
        authorization_endpoint: config
            .authorization_endpoint
            .as_deref()
            .map(|u| parse_url(authority, u))
            .transpose()?,
        device_authorization_endpoint: config
            .device_authorization_endpoint
            .as_deref()
            .map(|u| parse_url(authority, u))
            .transpose()?,
        token_endpoint,
        environment: authority.host().to_ascii_lowercase(),
        realm,
        aliases,
        issuer: config.issuer,
        jwks_uri: config
            .jwks_uri
            .as_deref()
            .map(|u| parse_url(authority, u))
            .transpose()?,
        single_use_assertions: authority.kind() == AuthorityKind::Oidc,
    })
}

/// Endpoints from a discovery document must be https, like the authority.
fn parse_url(authority: &Authority, url: &str) -> Result<Url> {
    match Url::parse(url) {
        Ok(parsed) if parsed.scheme() == "https" && parsed.host_str().is_some() => Ok(parsed),
        _ => Err(Error::InvalidResponse {
            endpoint: authority.openid_configuration_url(),
            status: 200,
            reason: format!("endpoint {url:?} is not an https URL"),
        }),
    }
}

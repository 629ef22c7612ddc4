//! Regional token endpoints (Entra's ESTS-R): which Azure region a
//! confidential client's client credentials requests go to.
//!
//! This module owns the [`AzureRegion`] setting, the region name rules, the
//! environment variables (`MSAL_FORCE_REGION`, `REGION_NAME`), the Azure
//! Instance Metadata Service (IMDS) look-up, and the mapping from a global
//! host to its regional host. As in MSAL Python, only the client credentials
//! grant uses the regional host, tokens are cached under the global host (so
//! regional and global tokens are one cache), and the region is found once
//! per application.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;
use url::Url;

use crate::authority::{Authority, AuthorityKind};
use crate::error::{Error, Result};
use crate::http::{HttpRequest, Method};
use crate::pipeline::{Delivered, Outgoing, Pipeline, Purpose};

/// The environment variable that turns a region on when the application
/// sets none (as in MSAL Python, .NET and Go).
pub const MSAL_FORCE_REGION: &str = "MSAL_FORCE_REGION";

/// The environment variable auto-detection reads first (set by Azure
/// Functions and App Service).
pub const REGION_NAME: &str = "REGION_NAME";

/// Where auto-detection asks an Azure VM for its location, when
/// `REGION_NAME` is not set: the compute metadata's JSON `location`, as
/// MSAL Python 1.38 reads it...
pub(crate) const IMDS_COMPUTE_URL: &str =
    "http://169.254.169.254/metadata/instance/compute?api-version=2021-02-01";
/// ...and, when that answer is unusable, IMDS's plain-text compute
/// location, as MSAL Go and .NET ask it.
pub(crate) const IMDS_LOCATION_URL: &str =
    "http://169.254.169.254/metadata/instance/compute/location?format=text&api-version=2021-01-01";

/// How long auto-detection waits for IMDS: outside Azure the address does
/// not answer at all, so a short bound (MSAL Go's) keeps that cheap.
pub(crate) const IMDS_TIMEOUT: Duration = Duration::from_secs(2);

/// Global hosts of the public cloud, whose regional host is
/// `{region}.login.microsoft.com` rather than `{region}.{host}`.
const PUBLIC_CLOUD_HOSTS: &[&str] = &[
    "login.microsoftonline.com",
    "login.microsoft.com",
    "login.windows.net",
    "sts.windows.net",
];

/// Whether a confidential client sends its client credentials requests to a
/// regional token endpoint, and which.
///
/// Unset (the builder default), the region named by the `MSAL_FORCE_REGION`
/// environment variable is used, if any. Only
/// [`acquire_token_for_client`](crate::ConfidentialClientApplication::acquire_token_for_client)
/// uses the region; user flows always use the global host.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AzureRegion {
    /// This region, such as `westus2`: lowercase letters, digits and
    /// hyphens, starting with a letter and not ending with a hyphen, at most
    /// 63 characters (MSAL Python's rule). Checked when the application is built.
    Explicit(String),
    /// The region the program runs in: the `REGION_NAME` environment
    /// variable, else the VM's location from the Instance Metadata Service
    /// (waiting at most 2 seconds). No region when neither answers.
    AutoDetect,
    /// No region, even when `MSAL_FORCE_REGION` is set.
    Off,
}

impl AzureRegion {
    /// Whether `name` is a well-formed region name:
    /// `^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$`.
    pub fn is_valid_name(name: &str) -> bool {
        let bytes = name.as_bytes();
        let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
            return false;
        };
        bytes.len() <= 63
            && first.is_ascii_lowercase()
            && (last.is_ascii_lowercase() || last.is_ascii_digit())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
    }
}

impl fmt::Debug for AzureRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AzureRegion::Explicit(name) => f.debug_tuple("Explicit").field(name).finish(),
            AzureRegion::AutoDetect => f.write_str("AutoDetect"),
            AzureRegion::Off => f.write_str("Off"),
        }
    }
}

/// Where a region in use came from, for logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RegionSource {
    /// [`AzureRegion::Explicit`].
    Configured,
    /// `MSAL_FORCE_REGION`.
    ForceRegionVariable,
    /// `REGION_NAME`.
    RegionNameVariable,
    /// The Instance Metadata Service.
    Imds,
}

/// A region in use and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    pub(crate) name: String,
    pub(crate) source: RegionSource,
}

/// Reads one environment variable; replaceable so tests (and programs that
/// keep their configuration elsewhere) need not touch the process environment.
pub(crate) type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

fn process_env() -> EnvLookup {
    Arc::new(|name| std::env::var(name).ok())
}

/// An application's region setting and, once found, the region it uses.
pub(crate) struct RegionSettings {
    /// What the application asked for; `None`: unset, so `MSAL_FORCE_REGION` decides.
    configured: Option<AzureRegion>,
    env: EnvLookup,
    /// Found on first use and kept, failures included, so IMDS is asked at
    /// most once per application.
    resolved: OnceCell<Option<Region>>,
}

impl Default for RegionSettings {
    /// No region, whatever the environment says (public clients).
    fn default() -> Self {
        Self::new(Some(AzureRegion::Off), None)
    }
}

impl RegionSettings {
    /// `configured` (`None`: unset) read through `env` (`None`: the process environment).
    /// Fails on an invalid explicit region name.
    pub(crate) fn validated(configured: Option<AzureRegion>, env: Option<EnvLookup>) -> Result<Self> {
        if let Some(AzureRegion::Explicit(name)) = &configured
            && !AzureRegion::is_valid_name(name)
        {
            return Err(Error::InvalidArgument(format!(
                "invalid Azure region {name:?}: use a region name such as \"westus2\" \
                 (lowercase letters, digits and hyphens)"
            )));
        }
        Ok(Self::new(configured, env))
    }

    fn new(configured: Option<AzureRegion>, env: Option<EnvLookup>) -> Self {
        Self {
            configured,
            env: env.unwrap_or_else(process_env),
            resolved: OnceCell::new(),
        }
    }

    /// The region to use, found on the first call.
    pub(crate) async fn region(&self, pipeline: &Pipeline) -> Option<&Region> {
        self.resolved
            .get_or_init(|| self.resolve(pipeline))
            .await
            .as_ref()
    }

    async fn resolve(&self, pipeline: &Pipeline) -> Option<Region> {
        let region = match &self.configured {
            Some(AzureRegion::Off) => None,
            Some(AzureRegion::Explicit(name)) => Some(Region {
                name: name.clone(),
                source: RegionSource::Configured,
            }),
            Some(AzureRegion::AutoDetect) => self.detect(pipeline).await,
            None => {
                let forced = self.var(MSAL_FORCE_REGION)?;
                valid(&forced, MSAL_FORCE_REGION).map(|name| Region {
                    name,
                    source: RegionSource::ForceRegionVariable,
                })
            }
        };
        match &region {
            Some(region) => {
                tracing::info!(region = %region.name, source = ?region.source, "using a regional token endpoint")
            }
            None if self.configured != Some(AzureRegion::Off) && self.configured.is_some() => {
                tracing::info!("no region detected; using the global token endpoint");
            }
            None => {}
        }
        region
    }

    /// `REGION_NAME`, else IMDS, as MSAL Python's `_detect_region`: a
    /// malformed `REGION_NAME` means no region (IMDS is then not asked).
    async fn detect(&self, pipeline: &Pipeline) -> Option<Region> {
        if let Some(name) = self.var(REGION_NAME) {
            return valid(&name, REGION_NAME).map(|name| Region {
                name,
                source: RegionSource::RegionNameVariable,
            });
        }
        let name = imds_location(pipeline).await?;
        valid(&name, "the Instance Metadata Service").map(|name| Region {
            name,
            source: RegionSource::Imds,
        })
    }

    /// A non-empty variable.
    fn var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.is_empty())
    }
}

/// `name` if it is a well-formed region name; else logged and dropped.
fn valid(name: &str, source: &str) -> Option<String> {
    if AzureRegion::is_valid_name(name) {
        Some(name.to_owned())
    } else {
        tracing::warn!(source, region = ?name, "ignoring a malformed region name");
        None
    }
}

/// The VM's location from IMDS, or `None` when IMDS does not answer (not on
/// Azure), answers late or answers with anything but a location. The
/// compute metadata's JSON first, then the plain-text location, both
/// within [`IMDS_TIMEOUT`].
async fn imds_location(pipeline: &Pipeline) -> Option<String> {
    let ask = async {
        match imds_get(pipeline, IMDS_COMPUTE_URL).await? {
            Ok(body) => {
                let document: serde_json::Value = match serde_json::from_slice(&body) {
                    Ok(document) => document,
                    Err(_) => {
                        tracing::info!("IMDS compute metadata is not JSON; asking for the location alone");
                        return imds_text_location(pipeline).await;
                    }
                };
                match document.get("location") {
                    Some(serde_json::Value::String(location)) => Some(location.trim().to_owned()),
                    _ => {
                        tracing::info!("IMDS compute metadata names no location");
                        None
                    }
                }
            }
            Err(status) => {
                tracing::info!(
                    status,
                    "IMDS compute metadata unavailable; asking for the location alone"
                );
                imds_text_location(pipeline).await
            }
        }
    };
    match tokio::time::timeout(IMDS_TIMEOUT, ask).await {
        Ok(location) => location.filter(|l| !l.is_empty()),
        Err(_) => {
            tracing::info!(timeout = ?IMDS_TIMEOUT, "IMDS did not answer in time");
            None
        }
    }
}

/// The plain-text location.
async fn imds_text_location(pipeline: &Pipeline) -> Option<String> {
    match imds_get(pipeline, IMDS_LOCATION_URL).await? {
        Ok(body) => Some(String::from_utf8(body).ok()?.trim().to_owned()),
        Err(status) => {
            tracing::info!(status, "IMDS did not tell the region");
            None
        }
    }
}

/// A GET to IMDS: `None` when it is unreachable, the body of a 200, or the
/// status of anything else.
async fn imds_get(pipeline: &Pipeline, url: &str) -> Option<Result<Vec<u8>, u16>> {
    let url = Url::parse(url).ok()?;
    let request = HttpRequest::new(Method::Get, url).with_header("Metadata", "true");
    match pipeline.send(Outgoing::new(Purpose::ImdsProbe, request)).await {
        Ok(Delivered { response, .. }) if response.status == 200 => Some(Ok(response.body)),
        Ok(Delivered { response, .. }) => Some(Err(response.status)),
        Err(e) => {
            tracing::info!(error = %e, "IMDS unavailable; perhaps not on an Azure VM");
            None
        }
    }
}

/// The regional host for `host` in `region`: `{region}.login.microsoft.com`
/// for the public cloud's hosts, else `{region}.{host}`. `None` for an IP
/// address, which has no regional names.
pub(crate) fn regional_host(region: &str, host: &str) -> Option<String> {
    if host.parse::<IpAddr>().is_ok() || host.starts_with('[') {
        return None;
    }
    if PUBLIC_CLOUD_HOSTS.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        Some(format!("{region}.login.microsoft.com"))
    } else {
        Some(format!("{region}.{}", host.to_ascii_lowercase()))
    }
}

/// `token_endpoint` with its host swapped for `region`'s (path, query and
/// port unchanged). `None` for authorities that are not Entra ones (ADFS and
/// generic OIDC providers have no regions) and for IP-address hosts.
pub(crate) fn regional_endpoint(authority: &Authority, token_endpoint: &Url, region: &str) -> Option<Url> {
    if authority.kind() != AuthorityKind::Aad {
        return None;
    }
    let host = regional_host(region, token_endpoint.host_str()?)?;
    let mut url = token_endpoint.clone();
    url.set_host(Some(&host)).ok()?;
    Some(url)
}

/// Whether a failed regional request should be sent to the global host
/// instead: the region could not be reached or failed on its side.
pub(crate) fn is_regional_outage(error: &Error) -> bool {
    match error {
        Error::Transport(_) => true,
        Error::Service(service) => service.status >= 500,
        Error::InvalidResponse { status, .. } => *status >= 500,
        // The throttle turns a 5xx it already retried into `Throttled` for
        // that URL; the global host is another URL, so it can still answer.
        // A 429 is the service asking to slow down: no fallback for that.
        Error::Throttled {
            service: Some(service),
            ..
        } => service.status >= 500,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_follow_msal_pythons_rule() {
        for good in ["westus2", "a", "east-us", "x1", &"a".repeat(63)] {
            assert!(AzureRegion::is_valid_name(good), "{good:?}");
        }
        for bad in [
            "",
            "WestUS2",
            "2westus",
            "westus-",
            "-westus",
            "west us",
            "west.us",
            "westus2.evil.com",
            &"a".repeat(64),
        ] {
            assert!(!AzureRegion::is_valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn regional_hosts() {
        for public in PUBLIC_CLOUD_HOSTS {
            assert_eq!(
                regional_host("westus2", public).as_deref(),
                Some("westus2.login.microsoft.com")
            );
        }
        assert_eq!(
            regional_host("usgovvirginia", "login.microsoftonline.us").as_deref(),
            Some("usgovvirginia.login.microsoftonline.us")
        );
        assert_eq!(regional_host("westus2", "127.0.0.1"), None);
        assert_eq!(regional_host("westus2", "[::1]"), None);
    }

    #[test]
    fn regional_endpoints_keep_path_and_port() {
        let authority = Authority::parse("https://login.microsoftonline.com/contoso").unwrap();
        let global = Url::parse("https://login.microsoftonline.com/tid/oauth2/v2.0/token").unwrap();
        assert_eq!(
            regional_endpoint(&authority, &global, "westus2")
                .unwrap()
                .as_str(),
            "https://westus2.login.microsoft.com/tid/oauth2/v2.0/token"
        );
        let local = Authority::parse("https://localhost:8443/contoso").unwrap();
        let global = Url::parse("https://localhost:8443/tid/oauth2/v2.0/token").unwrap();
        assert_eq!(
            regional_endpoint(&local, &global, "westus2").unwrap().as_str(),
            "https://westus2.localhost:8443/tid/oauth2/v2.0/token"
        );
        let adfs = Authority::parse("https://adfs.contoso.com/adfs").unwrap();
        let global = Url::parse("https://adfs.contoso.com/adfs/oauth2/token").unwrap();
        assert_eq!(regional_endpoint(&adfs, &global, "westus2"), None);
    }

    #[test]
    fn explicit_regions_are_checked_when_built() {
        assert!(matches!(
            RegionSettings::validated(Some(AzureRegion::Explicit("West US".into())), None),
            Err(Error::InvalidArgument(_))
        ));
        assert!(RegionSettings::validated(Some(AzureRegion::Explicit("westus".into())), None).is_ok());
    }
}

//! Managed identity's protocol: which Azure host the code runs on (from
//! the environment the host sets), and each host's token request and
//! answer, as MSAL Python 1.39 speaks them:
//!
//! | source | request | user-assigned by | expiry |
//! |---|---|---|---|
//! | IMDS | `GET {AZURE_POD_IDENTITY_AUTHORITY_HOST or http://169.254.169.254}/metadata/identity/oauth2/token?api-version=2018-02-01`, `Metadata: true` | `client_id`, `msi_res_id`, `object_id` | `expires_in` |
//! | App Service | `GET $IDENTITY_ENDPOINT?api-version=2019-08-01`, `X-IDENTITY-HEADER` | `client_id`, `mi_res_id`, `object_id` | `expires_on` |
//! | Azure ML | `GET $MSI_ENDPOINT?api-version=2017-09-01`, `secret` | `clientid` | `expires_on` |
//! | Service Fabric | `GET $IDENTITY_ENDPOINT?api-version=2019-07-01-preview`, `Secret`, pinned certificate | none | `expires_on` |
//! | Azure Arc | `GET ...?api-version=2020-06-01`, `Metadata: true`, then the 401 challenge's key file as `Authorization: Basic` | `client_id`, `msi_res_id`, `object_id` | `expires_in` |
//! | Cloud Shell | `POST $MSI_ENDPOINT` form `resource=`, `Metadata: true` | none | `expires_on` |
//!
//! Every answer is normalised into a [`TokenResponse`] carrying only an
//! access token, its lifetime (`refresh_in` at half of it for tokens of two
//! hours or more) and type; hosts' error bodies become [`ServiceError`]s.

mod arc;
mod service_fabric;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Map, Value};
use url::Url;

use crate::discovery::AuthorityMetadata;
pub use crate::error::ManagedIdentitySource;
use crate::error::{Error, ManagedIdentityError, Result, ServiceError};
use crate::http::{HttpClient, HttpRequest, Method};
use crate::oauth2::{self, Form, TokenResponse};
use crate::pipeline::{Delivered, Outgoing, Pipeline, Purpose, ThrottleKey};
use crate::time::now_epoch;

/// The client id under which a system-assigned identity's tokens are
/// cached, as every MSAL writes it.
pub const SYSTEM_ASSIGNED_MANAGED_IDENTITY: &str = "SYSTEM_ASSIGNED_MANAGED_IDENTITY";
/// The cache environment of managed identity tokens.
pub(crate) const CACHE_ENVIRONMENT: &str = "localhost";
/// The cache realm of managed identity tokens.
pub(crate) const CACHE_REALM: &str = "managed_identity";
/// The token endpoint MSAL Python records managed identity tokens under.
pub(crate) const CACHE_TOKEN_ENDPOINT: &str = "https://localhost/managed_identity";

const IMDS_DEFAULT_HOST: &str = "http://169.254.169.254";
const IMDS_TOKEN_PATH: &str = "/metadata/identity/oauth2/token";
const ARC_DEFAULT_ENDPOINT: &str = "http://localhost:40342/metadata/identity/oauth2/token";
const CLOUD_SHELL_DEFAULT_ENDPOINT: &str = "http://localhost:50342/oauth2/token";
/// The Azure Arc agent, whose presence means Arc when the environment does not say so.
const ARC_AGENT_LINUX: &str = "/opt/azcmagent/bin/himds";

/// The environment variables the hosts set, read by [`ManagedIdentityEnvironment::from_process`].
const VARIABLES: [&str; 9] = [
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZUREPS_HOST_ENVIRONMENT",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "DEFAULT_IDENTITY_CLIENT_ID",
];

/// Which managed identity a token is for: the host's own (system-assigned)
/// or a user-assigned one, chosen by its client id, its Azure resource id
/// or its object (principal) id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ManagedIdentity {
    /// The identity of the Azure resource the code runs on.
    SystemAssigned,
    /// A user-assigned identity, by client (application) id.
    ClientId(String),
    /// A user-assigned identity, by Azure resource id
    /// (`/subscriptions/.../userAssignedIdentities/name`).
    ResourceId(String),
    /// A user-assigned identity, by object (principal) id.
    ObjectId(String),
}

impl ManagedIdentity {
    /// The id a user-assigned identity was chosen by; `None` for the
    /// system-assigned one.
    pub fn id(&self) -> Option<&str> {
        match self {
            ManagedIdentity::SystemAssigned => None,
            ManagedIdentity::ClientId(id)
            | ManagedIdentity::ResourceId(id)
            | ManagedIdentity::ObjectId(id) => Some(id),
        }
    }

    /// Whether this is a user-assigned identity.
    pub fn is_user_assigned(&self) -> bool {
        self.id().is_some()
    }

    /// The client id its tokens are cached under: the id it was chosen by,
    /// or [`SYSTEM_ASSIGNED_MANAGED_IDENTITY`].
    pub fn cache_client_id(&self) -> &str {
        self.id().unwrap_or(SYSTEM_ASSIGNED_MANAGED_IDENTITY)
    }

    /// How it was chosen, for messages.
    fn kind(&self) -> &'static str {
        match self {
            ManagedIdentity::SystemAssigned => "system-assigned",
            ManagedIdentity::ClientId(_) => "client id",
            ManagedIdentity::ResourceId(_) => "resource id",
            ManagedIdentity::ObjectId(_) => "object id",
        }
    }
}

/// What a host tells the code running on it: the environment variables
/// that say which host it is and where its token endpoint listens, whether
/// the Azure Arc agent is installed, and where that agent keeps its keys.
///
/// [`from_process`](Self::from_process) reads this process's environment;
/// [`from_vars`](Self::from_vars) takes the variables from the caller, so
/// tests and embedders need not change the process environment. `Debug`
/// shows variable names only: `IDENTITY_HEADER` and `MSI_SECRET` are secrets.
#[derive(Clone)]
pub struct ManagedIdentityEnvironment {
    vars: BTreeMap<String, String>,
    arc_agent: bool,
    arc_token_directory: PathBuf,
}

impl fmt::Debug for ManagedIdentityEnvironment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedIdentityEnvironment")
            .field("variables", &self.vars.keys().collect::<Vec<_>>())
            .field("arc_agent", &self.arc_agent)
            .field("arc_token_directory", &self.arc_token_directory)
            .finish()
    }
}

impl ManagedIdentityEnvironment {
    /// This process's environment, and whether the Azure Arc agent is
    /// installed (`/opt/azcmagent/bin/himds` on Linux,
    /// `%ProgramFiles%\AzureConnectedMachineAgent\himds.exe` on Windows).
    pub fn from_process() -> Self {
        let vars = VARIABLES
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), std::env::var(name).ok()?)))
            .collect();
        let agent = if cfg!(windows) {
            std::env::var_os("ProgramFiles").map(|p| {
                PathBuf::from(p)
                    .join("AzureConnectedMachineAgent")
                    .join("himds.exe")
            })
        } else {
            Some(PathBuf::from(ARC_AGENT_LINUX))
        };
        ManagedIdentityEnvironment {
            vars,
            arc_agent: agent.is_some_and(|p| p.exists()),
            arc_token_directory: arc::default_token_directory(),
        }
    }

    /// The given variables, as a host would set them; the Azure Arc agent
    /// counts as absent unless [`with_arc_agent`](Self::with_arc_agent) says otherwise.
    pub fn from_vars<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        ManagedIdentityEnvironment {
            vars: vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
            arc_agent: false,
            arc_token_directory: arc::default_token_directory(),
        }
    }

    /// Whether the Azure Arc agent is installed (it listens on
    /// `localhost:40342` without setting any variable).
    pub fn with_arc_agent(mut self, installed: bool) -> Self {
        self.arc_agent = installed;
        self
    }

    /// Where the Azure Arc agent writes its challenge keys (by default
    /// `/var/opt/azcmagent/tokens` on Linux,
    /// `%ProgramData%\AzureConnectedMachineAgent\Tokens` on Windows). Key
    /// files elsewhere are refused.
    pub fn with_arc_token_directory(mut self, directory: impl Into<PathBuf>) -> Self {
        self.arc_token_directory = directory.into();
        self
    }

    /// A variable's value, when set and not blank.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    fn has(&self, name: &str) -> bool {
        self.var(name).is_some()
    }

    /// Which host this is, in MSAL Python's order: Service Fabric
    /// (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER` + `IDENTITY_SERVER_THUMBPRINT`),
    /// App Service (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`), Azure ML
    /// (`MSI_ENDPOINT` + `MSI_SECRET`), Azure Arc (`IDENTITY_ENDPOINT` +
    /// `IMDS_ENDPOINT`, or the agent installed), Cloud Shell (`MSI_ENDPOINT`
    /// alone, or `AZUREPS_HOST_ENVIRONMENT` starting with `cloud-shell`),
    /// else IMDS.
    pub fn source(&self) -> ManagedIdentitySource {
        let identity = self.has("IDENTITY_ENDPOINT") && self.has("IDENTITY_HEADER");
        if identity && self.has("IDENTITY_SERVER_THUMBPRINT") {
            ManagedIdentitySource::ServiceFabric
        } else if identity {
            ManagedIdentitySource::AppService
        } else if self.has("MSI_ENDPOINT") && self.has("MSI_SECRET") {
            ManagedIdentitySource::AzureMl
        } else if (self.has("IDENTITY_ENDPOINT") && self.has("IMDS_ENDPOINT")) || self.arc_agent {
            ManagedIdentitySource::AzureArc
        } else if self.has("MSI_ENDPOINT")
            || self
                .var("AZUREPS_HOST_ENVIRONMENT")
                .is_some_and(|v| v.starts_with("cloud-shell"))
        {
            ManagedIdentitySource::CloudShell
        } else {
            ManagedIdentitySource::Imds
        }
    }

    /// The detected host, with its endpoint and secrets checked.
    pub(crate) fn host(&self) -> Result<Host> {
        let source = self.source();
        let url = |variable: &'static str, value: &str| {
            let invalid = |reason: String| ManagedIdentityError::InvalidEnvironment {
                host: source,
                variable,
                reason,
            };
            let url = Url::parse(value.trim()).map_err(|e| invalid(format!("not a URL: {e}")))?;
            match url.scheme() {
                "http" | "https" if url.host().is_some() => Ok(url),
                _ => Err(invalid("not an http(s) URL".into())),
            }
        };
        let secret = |name: &str| self.var(name).map(|v| HostSecret(v.to_owned()));
        let mut host = Host {
            source,
            endpoint: Url::parse(ARC_DEFAULT_ENDPOINT).map_err(|e| Error::InvalidArgument(e.to_string()))?,
            secret: None,
            pinned: None,
            arc_token_directory: self.arc_token_directory.clone(),
            default_client_id: self.var("DEFAULT_IDENTITY_CLIENT_ID").map(str::to_owned),
        };
        match source {
            ManagedIdentitySource::Imds => {
                let base = self
                    .var("AZURE_POD_IDENTITY_AUTHORITY_HOST")
                    .unwrap_or(IMDS_DEFAULT_HOST);
                let base = base.trim().trim_end_matches('/');
                host.endpoint = url(
                    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
                    &format!("{base}{IMDS_TOKEN_PATH}"),
                )?;
            }
            ManagedIdentitySource::AppService => {
                host.endpoint = url(
                    "IDENTITY_ENDPOINT",
                    self.var("IDENTITY_ENDPOINT").unwrap_or_default(),
                )?;
                host.secret = secret("IDENTITY_HEADER");
            }
            ManagedIdentitySource::AzureMl => {
                host.endpoint = url("MSI_ENDPOINT", self.var("MSI_ENDPOINT").unwrap_or_default())?;
                host.secret = secret("MSI_SECRET");
            }
            ManagedIdentitySource::ServiceFabric => {
                let endpoint = url(
                    "IDENTITY_ENDPOINT",
                    self.var("IDENTITY_ENDPOINT").unwrap_or_default(),
                )?;
                if endpoint.scheme() != "https" {
                    return Err(ManagedIdentityError::InvalidEnvironment {
                        host: source,
                        variable: "IDENTITY_ENDPOINT",
                        reason: "Service Fabric's endpoint must be https".into(),
                    }
                    .into());
                }
                host.endpoint = endpoint;
                host.secret = secret("IDENTITY_HEADER");
                let thumbprint = service_fabric::parse_thumbprint(
                    self.var("IDENTITY_SERVER_THUMBPRINT").unwrap_or_default(),
                )?;
                host.pinned = Some(Arc::new(service_fabric::PinnedTransport::new(thumbprint)?));
            }
            ManagedIdentitySource::AzureArc => {
                if let Some(endpoint) = self
                    .var("IDENTITY_ENDPOINT")
                    .filter(|_| self.has("IMDS_ENDPOINT"))
                {
                    host.endpoint = url("IDENTITY_ENDPOINT", endpoint)?;
                }
            }
            ManagedIdentitySource::CloudShell => {
                let endpoint = self.var("MSI_ENDPOINT").unwrap_or(CLOUD_SHELL_DEFAULT_ENDPOINT);
                host.endpoint = url("MSI_ENDPOINT", endpoint)?;
            }
        }
        Ok(host)
    }
}

/// A host's secret header value; `Debug` never shows it.
#[derive(Clone)]
struct HostSecret(String);

impl fmt::Debug for HostSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HostSecret(..)")
    }
}

/// A detected host: where its token endpoint is and what it needs.
#[derive(Clone)]
pub(crate) struct Host {
    pub source: ManagedIdentitySource,
    endpoint: Url,
    /// `IDENTITY_HEADER` or `MSI_SECRET`.
    secret: Option<HostSecret>,
    /// Service Fabric's pinned-certificate transport.
    pinned: Option<Arc<service_fabric::PinnedTransport>>,
    arc_token_directory: PathBuf,
    /// Azure ML's `DEFAULT_IDENTITY_CLIENT_ID`, sent for the system-assigned identity.
    default_client_id: Option<String>,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("source", &self.source)
            .field("endpoint", &crate::pipeline::without_query(&self.endpoint))
            .finish_non_exhaustive()
    }
}

/// What a token request carries besides the identity and the resource.
#[derive(Default)]
pub(crate) struct Extras<'a> {
    /// SHA-256 (hex) of a revoked token to replace (claims challenge).
    pub token_sha256_to_refresh: Option<&'a str>,
    /// The client's capabilities (`xms_cc`).
    pub client_capabilities: &'a [String],
}

impl Host {
    /// The token endpoint, without its query.
    pub(crate) fn endpoint(&self) -> String {
        crate::pipeline::without_query(&self.endpoint)
    }

    /// Refuses, before any request, an identity the host cannot serve.
    pub(crate) fn check(&self, identity: &ManagedIdentity) -> Result<()> {
        let supported = match self.source {
            ManagedIdentitySource::Imds
            | ManagedIdentitySource::AppService
            | ManagedIdentitySource::AzureArc => true,
            ManagedIdentitySource::AzureMl => {
                matches!(
                    identity,
                    ManagedIdentity::SystemAssigned | ManagedIdentity::ClientId(_)
                )
            }
            ManagedIdentitySource::ServiceFabric | ManagedIdentitySource::CloudShell => {
                !identity.is_user_assigned()
            }
        };
        if supported {
            return Ok(());
        }
        Err(ManagedIdentityError::UserAssignedNotSupported {
            host: self.source,
            id_kind: identity.kind(),
        }
        .into())
    }

    /// The parameter name this host gives a user-assigned id.
    fn id_parameter(&self, identity: &ManagedIdentity) -> Option<&'static str> {
        let name = match (self.source, identity) {
            (_, ManagedIdentity::SystemAssigned) => return None,
            (ManagedIdentitySource::AzureMl, ManagedIdentity::ClientId(_)) => "clientid",
            (_, ManagedIdentity::ClientId(_)) => "client_id",
            (ManagedIdentitySource::AppService, ManagedIdentity::ResourceId(_)) => "mi_res_id",
            (_, ManagedIdentity::ResourceId(_)) => "msi_res_id",
            (_, ManagedIdentity::ObjectId(_)) => "object_id",
        };
        Some(name)
    }

    fn purpose(&self) -> Purpose {
        if self.source == ManagedIdentitySource::Imds {
            Purpose::ManagedIdentityImds
        } else {
            Purpose::ManagedIdentity
        }
    }

    /// The token request for `resource`.
    fn request(
        &self,
        identity: &ManagedIdentity,
        resource: &str,
        extras: &Extras<'_>,
        correlation_id: &str,
    ) -> HttpRequest {
        let mut url = self.endpoint.clone();
        let mut headers = oauth2::library_headers(correlation_id);
        if self.source == ManagedIdentitySource::CloudShell {
            // The one POST: the resource goes in a form.
            headers.push(("Metadata".into(), "true".into()));
            headers.push(("Content-Type".into(), "application/x-www-form-urlencoded".into()));
            let mut request =
                HttpRequest::new(Method::Post, url).with_body(Form::new().add("resource", resource).finish());
            request.headers = headers;
            return request;
        }
        {
            let mut query = url.query_pairs_mut();
            let api_version = match self.source {
                ManagedIdentitySource::Imds => "2018-02-01",
                ManagedIdentitySource::AppService => "2019-08-01",
                ManagedIdentitySource::AzureMl => "2017-09-01",
                ManagedIdentitySource::ServiceFabric => "2019-07-01-preview",
                ManagedIdentitySource::AzureArc | ManagedIdentitySource::CloudShell => "2020-06-01",
            };
            query.append_pair("api-version", api_version);
            query.append_pair("resource", resource);
            match (self.id_parameter(identity), identity.id()) {
                (Some(name), Some(id)) => {
                    query.append_pair(name, id);
                }
                // Azure ML's own default identity, as MSAL .NET and Node send it.
                _ if self.source == ManagedIdentitySource::AzureMl => {
                    if let Some(id) = &self.default_client_id {
                        query.append_pair("clientid", id);
                    }
                }
                _ => {}
            }
            if self.source == ManagedIdentitySource::ServiceFabric {
                if let Some(hash) = extras.token_sha256_to_refresh {
                    query.append_pair("token_sha256_to_refresh", hash);
                }
                if !extras.client_capabilities.is_empty() {
                    query.append_pair("xms_cc", &extras.client_capabilities.join(","));
                }
            }
        }
        let secret = self.secret.as_ref().map(|s| s.0.clone()).unwrap_or_default();
        match self.source {
            ManagedIdentitySource::Imds | ManagedIdentitySource::AzureArc => {
                headers.push(("Metadata".into(), "true".into()));
            }
            ManagedIdentitySource::AppService => {
                headers.push(("X-IDENTITY-HEADER".into(), secret));
                // Azure Automation needs it; App Service ignores it.
                headers.push(("Metadata".into(), "true".into()));
            }
            ManagedIdentitySource::AzureMl => headers.push(("secret".into(), secret)),
            ManagedIdentitySource::ServiceFabric => headers.push(("Secret".into(), secret)),
            ManagedIdentitySource::CloudShell => {}
        }
        let mut request = HttpRequest::new(Method::Get, url);
        request.headers = headers;
        request
    }

    /// Sends `request` through the pipeline (Service Fabric's over its pinned transport).
    async fn send(
        &self,
        pipeline: &Pipeline,
        request: HttpRequest,
        throttle: ThrottleKey,
    ) -> Result<Delivered> {
        let mut outgoing = Outgoing::new(self.purpose(), request)
            .throttle_key(throttle)
            .log_as(self.endpoint());
        if let Some(pinned) = &self.pinned {
            outgoing = outgoing.via(pinned.clone() as Arc<dyn HttpClient>);
        }
        match pipeline.send(outgoing).await {
            Ok(delivered) => Ok(delivered),
            Err(error) => match self.pinned.as_ref().and_then(|p| p.take_refused()) {
                Some(actual) => Err(ManagedIdentityError::ServerCertificateMismatch { actual }.into()),
                None => Err(error.into()),
            },
        }
    }
}

/// Asks `host` for a token for `resource` on behalf of `identity`, and
/// normalises the answer. Azure Arc's challenge is answered here.
pub(crate) async fn obtain(
    pipeline: &Pipeline,
    host: &Host,
    identity: &ManagedIdentity,
    resource: &str,
    extras: &Extras<'_>,
    correlation_id: &str,
) -> Result<TokenResponse> {
    host.check(identity)?;
    let throttle = ThrottleKey::new(identity.cache_client_id(), resource, None);
    let request = host.request(identity, resource, extras, correlation_id);
    let delivered = if host.source == ManagedIdentitySource::AzureArc {
        let challenged = host.send(pipeline, request.clone(), throttle.clone()).await?;
        let status = challenged.response.status;
        if status != 401 {
            // An error the agent states is reported as such; anything else
            // (even a token) without the challenge is not Arc's protocol.
            parse_error(&challenged)?;
            return Err(ManagedIdentityError::ArcChallenge {
                status,
                reason: "the first request must be answered with 401 and a challenge".into(),
            }
            .into());
        }
        let path = arc::challenge_path(challenged.response.header("www-authenticate"), status)?;
        let key = arc::read_key(&path, &host.arc_token_directory)?;
        let answered = request.with_header("Authorization", format!("Basic {}", key.as_str()));
        host.send(pipeline, answered, throttle).await?
    } else {
        host.send(pipeline, request, throttle).await?
    };
    parse(host, identity, &delivered)
}

/// The token in a host's answer, or the error it states.
fn parse(host: &Host, identity: &ManagedIdentity, delivered: &Delivered) -> Result<TokenResponse> {
    let response = &delivered.response;
    if !(200..300).contains(&response.status) || delivered.throttled.is_some() {
        return parse_error(delivered).and_then(|()| {
            Err(Error::InvalidResponse {
                endpoint: host.endpoint(),
                status: response.status,
                reason: "an error without a body this library understands".into(),
            })
        });
    }
    let invalid = |reason: String| Error::InvalidResponse {
        endpoint: host.endpoint(),
        status: response.status,
        reason,
    };
    let body: Map<String, Value> =
        serde_json::from_slice(&response.body).map_err(|e| invalid(format!("not a JSON object: {e}")))?;
    check_identity(host, identity, &body)?;
    let mut token: TokenResponse = serde_json::from_value(Value::Object(body))
        .map_err(|e| invalid(format!("not the expected JSON: {e}")))?;
    if token.access_token.as_ref().is_none_or(|t| t.expose().is_empty()) {
        return Err(invalid("the answer has no access_token".into()));
    }
    let now = now_epoch();
    // Hosts give the lifetime (IMDS, Arc) or the expiry instant (the others).
    let expires_in = match (token.expires_in, token.expires_on) {
        (Some(expires_in), _) => expires_in,
        (None, Some(expires_on)) => expires_on.saturating_sub(now),
        (None, None) => return Err(invalid("the answer has neither expires_in nor expires_on".into())),
    };
    token.expires_in = Some(expires_in);
    token.expires_on = None;
    if token.refresh_in.is_none() && expires_in >= 7200 {
        token.refresh_in = Some(expires_in / 2);
    }
    // A managed identity answer carries an access token only (Cloud Shell
    // sends an empty refresh_token): nothing else is cached from it.
    token.refresh_token = None;
    token.id_token = None;
    token.client_info = None;
    token.foci = None;
    token.scope = None;
    Ok(token)
}

/// Whether the answer names the identity asked for. Azure Arc must name it;
/// other hosts are checked when they name a client id.
fn check_identity(host: &Host, identity: &ManagedIdentity, body: &Map<String, Value>) -> Result<()> {
    let (field, expected) = match identity {
        ManagedIdentity::SystemAssigned => return Ok(()),
        ManagedIdentity::ClientId(id) => ("client_id", id),
        ManagedIdentity::ResourceId(id) => ("msi_res_id", id),
        ManagedIdentity::ObjectId(id) => ("object_id", id),
    };
    let named = body.get(field).and_then(Value::as_str);
    let required = host.source == ManagedIdentitySource::AzureArc;
    match named {
        Some(actual) if actual.eq_ignore_ascii_case(expected) => Ok(()),
        None if !required => Ok(()),
        actual => Err(ManagedIdentityError::IdentityMismatch {
            host: host.source,
            expected: expected.clone(),
            actual: actual.unwrap_or("none named").to_owned(),
        }
        .into()),
    }
}

/// The error a host's non-2xx (or throttled) answer states: `Err` with it,
/// or `Ok(())` when the body says nothing this library understands.
fn parse_error(delivered: &Delivered) -> Result<()> {
    let response = &delivered.response;
    let service = serde_json::from_slice::<Value>(&response.body)
        .ok()
        .and_then(|body| service_error(&body, response.status));
    if let Some(retry_after) = delivered.throttled {
        return Err(Error::Throttled {
            retry_after,
            service: service.map(Box::new),
        });
    }
    match service {
        Some(service) => Err(service.into()),
        None => Ok(()),
    }
}

/// A host's error body as a [`ServiceError`]: OAuth2's `{error,
/// error_description}` (IMDS, Arc), App Service's `{statusCode, message}`,
/// Service Fabric's `{error: {code, message, correlationId}}` (its codes
/// mapped to OAuth2 errors as MSAL Python maps them).
fn service_error(body: &Value, status: u16) -> Option<ServiceError> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let mut error = ServiceError {
        status,
        ..ServiceError::default()
    };
    match body.get("error") {
        Some(Value::String(code)) if !code.is_empty() => {
            error.error = code.clone();
            error.error_description = text(body.get("error_description"));
            error.correlation_id = text(body.get("correlation_id"));
        }
        Some(Value::Object(inner)) => {
            let code = text(inner.get("code"))?;
            error.error = match code.as_str() {
                "SecretHeaderNotFound" => "unauthorized_client",
                "ManagedIdentityNotFound" => "invalid_client",
                "ArgumentNullOrEmpty" => "invalid_scope",
                _ => "invalid_request",
            }
            .to_owned();
            let message = text(inner.get("message")).unwrap_or_default();
            error.error_description = Some(format!("{code}: {message}"));
            error.correlation_id = text(inner.get("correlationId"));
        }
        _ => {
            let message = text(body.get("message").or_else(|| body.get("Message")))?;
            error.error = match status {
                401 | 403 => "unauthorized_client",
                404 => "invalid_client",
                _ => "invalid_request",
            }
            .to_owned();
            error.error_description = Some(message);
        }
    }
    Some(error)
}

/// Azure Arc's challenge parsing, for the fuzz targets.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_arc_challenge(header: &str) -> Option<PathBuf> {
    arc::challenge_path(Some(header), 401).ok()
}

/// A host's answer parsed as `source` would be, for the fuzz targets.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_answer(
    source: ManagedIdentitySource,
    identity: &ManagedIdentity,
    status: u16,
    header: Option<&str>,
    body: &[u8],
) -> Result<TokenResponse> {
    let host = Host {
        source,
        endpoint: Url::parse("http://127.0.0.1/token").map_err(|e| Error::InvalidArgument(e.to_string()))?,
        secret: None,
        pinned: None,
        arc_token_directory: PathBuf::from("/nonexistent"),
        default_client_id: None,
    };
    let mut headers = Vec::new();
    if let Some(header) = header {
        headers.push(("retry-after".to_owned(), header.to_owned()));
        let _ = arc::challenge_path(Some(header), status);
    }
    let delivered = Delivered {
        response: crate::http::HttpResponse::new(status, headers, body.to_vec()),
        throttled: None,
    };
    let token = parse(&host, identity, &delivered)?;
    // What is cached from an answer: a token, its lifetime, nothing else.
    assert!(token.access_token.is_some() && token.expires_in.is_some());
    assert!(token.refresh_token.is_none() && token.id_token.is_none());
    Ok(token)
}

/// Where managed identity tokens are keyed in the cache: the location MSAL
/// Python records them under (`https://localhost/managed_identity`).
pub(crate) fn cache_location() -> Result<AuthorityMetadata> {
    Ok(AuthorityMetadata {
        token_endpoint: Url::parse(CACHE_TOKEN_ENDPOINT)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?,
        authorization_endpoint: None,
        device_authorization_endpoint: None,
        environment: CACHE_ENVIRONMENT.to_owned(),
        realm: CACHE_REALM.to_owned(),
        aliases: Vec::new(),
        issuer: None,
        jwks_uri: None,
        single_use_assertions: false,
    })
}

/// The resource a scope names: `https://vault.azure.net/.default` is
/// `https://vault.azure.net`; anything else is taken as the resource.
pub(crate) fn resource_of(scope: &str) -> &str {
    scope.trim().strip_suffix("/.default").unwrap_or(scope.trim())
}

#[cfg(test)]
mod tests;

//! Managed identity: the host-local token endpoints Azure hosts give their
//! workloads, one module per kind of host, each on a listener of its own on
//! `127.0.0.1` (they share paths but differ in behaviour):
//!
//! | module            | host                              | transport                     |
//! |-------------------|-----------------------------------|-------------------------------|
//! | [`imds`]          | VMs, AKS pod identity (IMDS)      | HTTP                          |
//! | [`app_service`]   | App Service, Functions, Automation| HTTP                          |
//! | [`azure_ml`]      | Azure Machine Learning            | HTTP                          |
//! | [`service_fabric`]| Service Fabric                    | HTTPS, its own self-signed cert |
//! | [`azure_arc`]     | Azure Arc agent (`himds`)         | HTTP, file-based challenge    |
//! | [`cloud_shell`]   | Cloud Shell                       | HTTP                          |
//!
//! This module owns what they share: the sources and the environment
//! variables each host kind sets ([`ManagedIdentitySource`]), the
//! per-start secrets and listeners ([`Hosts`], [`Listeners`]), reading the
//! identity a request selects, minting tokens, and applying injected faults.
//! Started only with [`EmulatorConfig::with_managed_identity`](crate::EmulatorConfig::with_managed_identity).

pub(crate) mod app_service;
pub(crate) mod azure_arc;
pub(crate) mod azure_ml;
pub(crate) mod cloud_shell;
pub(crate) mod imds;
pub(crate) mod service_fabric;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::MethodRouter;
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::context::{self, RequestContext};
use crate::directory::{ManagedIdentity, Resource};
use crate::faults::{self, Effect, FaultError, FaultKind};
use crate::reply;
use crate::server::{AccessDetails, AppState, EmulatorError};
use crate::stats::Endpoint;

/// A kind of Azure host whose managed identity endpoint the emulator plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ManagedIdentitySource {
    /// The Azure Instance Metadata Service (VMs, scale sets, AKS pod identity).
    Imds,
    /// App Service, Azure Functions, Azure Automation.
    AppService,
    /// Azure Machine Learning.
    AzureMl,
    /// Service Fabric.
    ServiceFabric,
    /// An Azure Arc-enabled server (the agent's `himds`).
    AzureArc,
    /// Azure Cloud Shell.
    CloudShell,
}

impl ManagedIdentitySource {
    /// Every source, in MSAL Python's detection order but IMDS first.
    pub const ALL: [ManagedIdentitySource; 6] = [
        ManagedIdentitySource::Imds,
        ManagedIdentitySource::AppService,
        ManagedIdentitySource::AzureMl,
        ManagedIdentitySource::ServiceFabric,
        ManagedIdentitySource::AzureArc,
        ManagedIdentitySource::CloudShell,
    ];

    /// Its name: `imds`, `app_service`, `azure_ml`, `service_fabric`,
    /// `azure_arc`, `cloud_shell` (the keys of
    /// [`Emulator::managed_identity_json`](crate::Emulator::managed_identity_json)).
    pub fn name(self) -> &'static str {
        match self {
            ManagedIdentitySource::Imds => "imds",
            ManagedIdentitySource::AppService => "app_service",
            ManagedIdentitySource::AzureMl => "azure_ml",
            ManagedIdentitySource::ServiceFabric => "service_fabric",
            ManagedIdentitySource::AzureArc => "azure_arc",
            ManagedIdentitySource::CloudShell => "cloud_shell",
        }
    }

    /// The source [`ManagedIdentitySource::name`] names.
    pub fn from_name(name: &str) -> Option<ManagedIdentitySource> {
        ManagedIdentitySource::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The endpoint counting its token requests.
    pub fn endpoint(self) -> Endpoint {
        match self {
            ManagedIdentitySource::Imds => Endpoint::Imds,
            ManagedIdentitySource::AppService => Endpoint::AppService,
            ManagedIdentitySource::AzureMl => Endpoint::AzureMl,
            ManagedIdentitySource::ServiceFabric => Endpoint::ServiceFabric,
            ManagedIdentitySource::AzureArc => Endpoint::AzureArc,
            ManagedIdentitySource::CloudShell => Endpoint::CloudShell,
        }
    }

    fn index(self) -> usize {
        match self {
            ManagedIdentitySource::Imds => 0,
            ManagedIdentitySource::AppService => 1,
            ManagedIdentitySource::AzureMl => 2,
            ManagedIdentitySource::ServiceFabric => 3,
            ManagedIdentitySource::AzureArc => 4,
            ManagedIdentitySource::CloudShell => 5,
        }
    }
}

/// The managed identity listeners, bound before the state exists (their
/// ports go into the environment maps).
pub(crate) struct Listeners {
    sockets: Vec<(ManagedIdentitySource, TcpListener)>,
}

impl Listeners {
    /// Binds one free port on `127.0.0.1` per source.
    pub(crate) fn bind() -> Result<Listeners, EmulatorError> {
        let mut sockets = Vec::with_capacity(ManagedIdentitySource::ALL.len());
        for source in ManagedIdentitySource::ALL {
            let socket = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .map_err(|source| EmulatorError::Bind { port: 0, source })?;
            sockets.push((source, socket));
        }
        Ok(Listeners { sockets })
    }

    /// Each source's port, in [`ManagedIdentitySource::ALL`] order.
    pub(crate) fn ports(&self) -> Result<[u16; 6], EmulatorError> {
        let mut ports = [0; 6];
        for (source, socket) in &self.sockets {
            ports[source.index()] = socket
                .local_addr()
                .map_err(|source| EmulatorError::Bind { port: 0, source })?
                .port();
        }
        Ok(ports)
    }
}

/// The state of the emulated hosts, fixed at start but for Azure Arc's
/// outstanding challenges.
pub(crate) struct Hosts {
    ports: [u16; 6],
    /// App Service's `IDENTITY_HEADER` (`X-IDENTITY-HEADER`).
    pub(crate) app_service_secret: String,
    /// Azure ML's `MSI_SECRET` (`secret` header).
    pub(crate) azure_ml_secret: String,
    /// Service Fabric's `IDENTITY_HEADER` (`Secret` header).
    pub(crate) service_fabric_secret: String,
    /// Service Fabric's own TLS identity.
    pub(crate) service_fabric_tls: service_fabric::Tls,
    /// Azure Arc's key files and the secrets they hold.
    pub(crate) arc: azure_arc::Challenges,
    /// IMDS's compute metadata.
    pub(crate) instance: imds::Instance,
    /// Lifetime of managed identity tokens, whole seconds (at least 2).
    pub(crate) lifetime_secs: u64,
}

/// What [`Hosts::new`] needs from the emulator's configuration.
pub(crate) struct HostsConfig {
    pub(crate) tls: service_fabric::Tls,
    pub(crate) arc: azure_arc::Challenges,
    pub(crate) region: String,
    pub(crate) lifetime_secs: u64,
}

impl Hosts {
    /// Fresh secrets for the hosts listening on `listeners`.
    pub(crate) fn new(
        listeners: &Listeners,
        config: HostsConfig,
        directory: &crate::Directory,
    ) -> Result<Hosts, EmulatorError> {
        Ok(Hosts {
            ports: listeners.ports()?,
            app_service_secret: random_secret(),
            azure_ml_secret: random_secret(),
            service_fabric_secret: random_secret(),
            service_fabric_tls: config.tls,
            arc: config.arc,
            instance: imds::Instance::new(config.region, directory),
            lifetime_secs: config.lifetime_secs.max(2),
        })
    }

    /// The port `source` listens on.
    pub(crate) fn port(&self, source: ManagedIdentitySource) -> u16 {
        self.ports[source.index()]
    }

    /// The environment variables a host of kind `source` sets, pointing at
    /// this emulator.
    pub(crate) fn env(
        &self,
        source: ManagedIdentitySource,
        directory: &crate::Directory,
    ) -> Vec<(String, String)> {
        let port = self.port(source);
        let http = format!("http://127.0.0.1:{port}");
        let pairs: Vec<(&str, String)> = match source {
            ManagedIdentitySource::Imds => vec![("AZURE_POD_IDENTITY_AUTHORITY_HOST", http)],
            ManagedIdentitySource::AppService => vec![
                ("IDENTITY_ENDPOINT", format!("{http}{}", app_service::PATH)),
                ("IDENTITY_HEADER", self.app_service_secret.clone()),
            ],
            ManagedIdentitySource::AzureMl => {
                let mut pairs = vec![
                    ("MSI_ENDPOINT", format!("{http}{}", azure_ml::PATH)),
                    ("MSI_SECRET", self.azure_ml_secret.clone()),
                ];
                // Azure ML names the compute's system-assigned identity too;
                // MSAL .NET and Node send it as `clientid`.
                if let Some(mi) = directory.system_assigned_identity() {
                    pairs.push(("DEFAULT_IDENTITY_CLIENT_ID", mi.client_id.clone()));
                }
                pairs
            }
            ManagedIdentitySource::ServiceFabric => vec![
                (
                    "IDENTITY_ENDPOINT",
                    format!("https://127.0.0.1:{port}{}", service_fabric::PATH),
                ),
                ("IDENTITY_HEADER", self.service_fabric_secret.clone()),
                (
                    "IDENTITY_SERVER_THUMBPRINT",
                    self.service_fabric_tls.thumbprint.clone(),
                ),
            ],
            ManagedIdentitySource::AzureArc => vec![
                ("IDENTITY_ENDPOINT", format!("{http}{}", azure_arc::PATH)),
                ("IMDS_ENDPOINT", http),
            ],
            ManagedIdentitySource::CloudShell => vec![
                ("MSI_ENDPOINT", format!("{http}{}", cloud_shell::PATH)),
                ("AZUREPS_HOST_ENVIRONMENT", "cloud-shell/1.0".to_owned()),
            ],
        };
        pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// Every source's environment, as a JSON object of objects.
    pub(crate) fn env_json(&self, directory: &crate::Directory) -> Value {
        let mut sources = serde_json::Map::new();
        for source in ManagedIdentitySource::ALL {
            let vars: serde_json::Map<String, Value> = self
                .env(source, directory)
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            sources.insert(source.name().to_owned(), Value::Object(vars));
        }
        Value::Object(sources)
    }
}

/// 32 random bytes, hex: a per-start secret or key file content (64
/// printable ASCII characters, safe in headers and files).
pub(crate) fn random_secret() -> String {
    let mut hex = String::with_capacity(64);
    for _ in 0..2 {
        for b in uuid::Uuid::new_v4().as_bytes() {
            hex.push_str(&format!("{b:02x}"));
        }
    }
    hex
}

/// One running managed identity listener.
pub(crate) struct Server {
    pub(crate) handle: Handle<SocketAddr>,
    pub(crate) task: JoinHandle<std::io::Result<()>>,
}

/// Serves every source on its listener; returns once all accept connections.
pub(crate) async fn serve(state: &Arc<AppState>, listeners: Listeners) -> Result<Vec<Server>, EmulatorError> {
    let Some(hosts) = state.managed_identity.as_ref() else {
        return Ok(Vec::new());
    };
    let mut servers = Vec::with_capacity(listeners.sockets.len());
    for (source, socket) in listeners.sockets {
        let handle = Handle::new();
        let app = router(state.clone(), source).into_make_service();
        let task = if source == ManagedIdentitySource::ServiceFabric {
            let tls = RustlsConfig::from_pem(
                hosts.service_fabric_tls.cert_pem.clone().into_bytes(),
                hosts.service_fabric_tls.key_pem.clone().into_bytes(),
            )
            .await
            .map_err(|e| EmulatorError::Crypto {
                what: "Service Fabric TLS",
                message: e.to_string(),
            })?;
            let server = axum_server::from_tcp_rustls(socket, tls)
                .map_err(|source| EmulatorError::Bind { port: 0, source })?
                .map(|tls| {
                    tls.handshake_timeout(state.idle_timeout)
                        .acceptor(axum_server::accept::NoDelayAcceptor::new())
                })
                .handle(handle.clone());
            tokio::spawn(crate::server::bounded(server, state.idle_timeout).serve(app))
        } else {
            let server = axum_server::from_tcp(socket)
                .map_err(|source| EmulatorError::Bind { port: 0, source })?
                .acceptor(axum_server::accept::NoDelayAcceptor::new())
                .handle(handle.clone());
            tokio::spawn(crate::server::bounded(server, state.idle_timeout).serve(app))
        };
        servers.push(Server { handle, task });
    }
    for server in &servers {
        if server.handle.listening().await.is_none() {
            for s in &servers {
                s.handle.shutdown();
            }
            return Err(EmulatorError::NotReady(
                "a managed identity listener stopped before it was ready".to_owned(),
            ));
        }
    }
    tracing::info!(
        ports = ?ManagedIdentitySource::ALL.map(|s| (s.name(), hosts.port(s))),
        "managed identity endpoints listening"
    );
    Ok(servers)
}

/// The routes of `source`'s listener, with the emulator's context and
/// access log layers.
fn router(state: Arc<AppState>, source: ManagedIdentitySource) -> Router {
    let routes = match source {
        ManagedIdentitySource::Imds => imds::routes(&state),
        ManagedIdentitySource::AppService => app_service::routes(&state),
        ManagedIdentitySource::AzureMl => azure_ml::routes(&state),
        ManagedIdentitySource::ServiceFabric => service_fabric::routes(&state),
        ManagedIdentitySource::AzureArc => azure_arc::routes(&state),
        ManagedIdentitySource::CloudShell => cloud_shell::routes(&state),
    };
    let shape = Shape::of(source.endpoint());
    routes
        .fallback(
            move |State(state): State<Arc<AppState>>, ctx: RequestContext, uri: Uri| async move {
                state.stats.record(Endpoint::Other);
                shape.error(
                    &ctx,
                    StatusCode::NOT_FOUND,
                    "not_found",
                    &format!("No such endpoint: {}", uri.path()),
                )
            },
        )
        .layer(middleware::from_fn_with_state(state.clone(), context::middleware))
        .layer(middleware::from_fn(crate::server::access_log))
        .with_state(state)
}

/// A managed identity route: counted under `endpoint`, other methods
/// refused in the host's error shape, injected faults applied.
pub(crate) fn route(
    state: &Arc<AppState>,
    endpoint: Endpoint,
    allowed: &'static str,
    route: MethodRouter<Arc<AppState>>,
) -> MethodRouter<Arc<AppState>> {
    let shape = Shape::of(endpoint);
    let counting = state.clone();
    route
        .fallback(move |ctx: RequestContext, request: Request| async move {
            shape.error(
                &ctx,
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                &format!(
                    "The {} method is not allowed here; use {allowed}.",
                    request.method()
                ),
            )
        })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            move |State(state): State<Arc<AppState>>, ctx: RequestContext, request: Request, next: Next| {
                apply_fault(state, endpoint, ctx, request, next)
            },
        ))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            counting.stats.record(endpoint);
            next.run(request)
        }))
}

/// A fault the endpoint itself carries out (Azure Arc's key file faults),
/// handed to the handler as a request extension.
#[derive(Debug, Clone)]
pub(crate) struct InjectedFault(pub(crate) FaultKind);

/// Applies the first matching fault for `endpoint` to this request.
async fn apply_fault(
    state: Arc<AppState>,
    endpoint: Endpoint,
    ctx: RequestContext,
    mut request: Request,
    next: Next,
) -> Response {
    let query = Query::parse(request.uri());
    let client_id = query.first("client_id").or_else(|| query.first("clientid"));
    // Arc's key file faults concern its challenge (requests without
    // credentials), the faults that change a token answer the requests
    // that may get one.
    let challenge = endpoint == Endpoint::AzureArc && !request.headers().contains_key(header::AUTHORIZATION);
    let applicable = |kind: &FaultKind| match kind {
        kind if kind.is_arc_key() => challenge,
        FaultKind::MissingAccessToken | FaultKind::WrongIdentity => !challenge,
        _ => true,
    };
    let Some(kind) = state.faults.take(endpoint, client_id, applicable) else {
        return next.run(request).await;
    };
    tracing::info!(?kind, endpoint = endpoint.name(), "injecting a fault");
    match faults::effect(kind) {
        Effect::Delay(delay) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        Effect::Error(error) => Shape::of(endpoint).fault_error(&ctx, &error),
        Effect::Replace(response) => response,
        Effect::StripAccessToken => faults::strip_access_token(next.run(request).await).await,
        Effect::Endpoint(FaultKind::WrongIdentity) => {
            let response = next.run(request).await;
            faults::rewrite_json(response, |fields| {
                let named = fields.get("client_id").and_then(Value::as_str).map(str::to_owned);
                let other = other_identity(&state, named.as_deref());
                fields.insert("client_id".into(), Value::String(other));
            })
            .await
        }
        Effect::Endpoint(kind) => {
            request.extensions_mut().insert(InjectedFault(kind));
            next.run(request).await
        }
    }
}

/// A client id of another identity than `named` (for the wrong identity
/// fault): another of the directory's, else a fixed one nobody has.
fn other_identity(state: &AppState, named: Option<&str>) -> String {
    state
        .directory()
        .managed_identities
        .iter()
        .map(|m| m.client_id.as_str())
        .find(|id| named.is_none_or(|n| !n.eq_ignore_ascii_case(id)))
        .unwrap_or("00000000-0000-0000-0000-00000000dead")
        .to_owned()
}

/// The error body shape of each host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// IMDS, Azure Arc, Azure ML, Cloud Shell: `{"error", "error_description"}`.
    OAuth,
    /// App Service: `{"statusCode", "message"}`.
    AppService,
    /// Service Fabric: `{"error": {"correlationId", "code", "message"}}`.
    ServiceFabric,
}

impl Shape {
    fn of(endpoint: Endpoint) -> Shape {
        match endpoint {
            Endpoint::AppService => Shape::AppService,
            Endpoint::ServiceFabric => Shape::ServiceFabric,
            _ => Shape::OAuth,
        }
    }

    /// An error answer: `code` is the OAuth error (OAuth shape) or Service
    /// Fabric's code; App Service's shape has only the message.
    pub(crate) fn error(
        self,
        ctx: &RequestContext,
        status: StatusCode,
        code: &str,
        message: &str,
    ) -> Response {
        let body = match self {
            Shape::OAuth => json!({ "error": code, "error_description": message }),
            Shape::AppService => json!({ "statusCode": status.as_u16(), "message": message }),
            Shape::ServiceFabric => json!({
                "error": { "correlationId": ctx.correlation_id, "code": code, "message": message }
            }),
        };
        reply::json(status, &body)
    }

    fn fault_error(self, ctx: &RequestContext, fault: &FaultError) -> Response {
        let code = match self {
            Shape::ServiceFabric => match fault.status.as_u16() {
                400 => "BadRequest",
                401 => "SecretHeaderNotFound",
                404 => "ManagedIdentityNotFound",
                410 => "Gone",
                429 => "TooManyRequests",
                503 => "ServiceUnavailable",
                _ => "InternalServerError",
            },
            _ => fault.error,
        };
        fault.with_retry_after(self.error(ctx, fault.status, code, fault.message))
    }
}

/// A request's query parameters, in order, decoded.
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub(crate) fn parse(uri: &Uri) -> Query {
        Query::from_form(uri.query().unwrap_or("").as_bytes())
    }

    /// Parameters from a form body (`application/x-www-form-urlencoded`).
    pub(crate) fn from_form(bytes: &[u8]) -> Query {
        Query {
            pairs: url::form_urlencoded::parse(bytes).into_owned().collect(),
        }
    }

    /// The first value of `name`.
    pub(crate) fn first(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `name`'s value when given once and not empty; which is wrong otherwise.
    pub(crate) fn single(&self, name: &'static str) -> Result<Option<&str>, ParamError> {
        let mut values = self
            .pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (None, _) => Ok(None),
            (Some(_), Some(_)) => Err(ParamError::Repeated(name)),
            (Some(v), None) if v.trim().is_empty() => Err(ParamError::Empty(name)),
            (Some(v), None) => Ok(Some(v)),
        }
    }

    /// `name`'s value, which must be given once and not empty.
    pub(crate) fn required(&self, name: &'static str) -> Result<&str, ParamError> {
        self.single(name)?.ok_or(ParamError::Missing(name))
    }
}

/// Why a parameter cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParamError {
    Missing(&'static str),
    Empty(&'static str),
    Repeated(&'static str),
}

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamError::Missing(name) => write!(f, "Required query variable '{name}' is missing"),
            ParamError::Empty(name) => write!(f, "Query variable '{name}' must not be empty"),
            ParamError::Repeated(name) => write!(f, "Query variable '{name}' is given more than once"),
        }
    }
}

/// How a request names a user-assigned identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdKind {
    /// A client id.
    Client,
    /// An object (principal) id.
    Object,
    /// An Azure resource id.
    Resource,
}

/// Why no identity was selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SelectError {
    /// A parameter is malformed (empty, repeated).
    Param(ParamError),
    /// More than one of the id parameters was given.
    Several(Vec<&'static str>),
    /// No identity has this id (or, `None`, the host has no system-assigned one).
    NotFound(Option<(&'static str, String)>),
}

impl std::fmt::Display for SelectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SelectError::Param(e) => e.fmt(f),
            SelectError::Several(names) => write!(
                f,
                "Only one of {} may be given, got {}",
                names.join(", "),
                names.len()
            ),
            SelectError::NotFound(None) => f.write_str("No system-assigned identity is enabled on this host"),
            SelectError::NotFound(Some((name, value))) => {
                write!(
                    f,
                    "No managed identity assigned to this host has {name} '{value}'"
                )
            }
        }
    }
}

/// The identity `query` selects with one of `params` (name, what it
/// holds), or the system-assigned one when none is given.
pub(crate) fn select<'a>(
    state: &'a AppState,
    query: &Query,
    params: &[(&'static str, IdKind)],
) -> Result<&'a ManagedIdentity, SelectError> {
    let mut given = Vec::new();
    for (name, kind) in params {
        if let Some(value) = query.single(name).map_err(SelectError::Param)? {
            given.push((*name, *kind, value));
        }
    }
    let directory = state.directory();
    match given.as_slice() {
        [] => directory
            .system_assigned_identity()
            .ok_or(SelectError::NotFound(None)),
        [(name, kind, value)] => {
            let found = match kind {
                IdKind::Client => directory.managed_identity_by_client_id(value),
                IdKind::Object => directory.managed_identity_by_object_id(value),
                IdKind::Resource => directory.managed_identity_by_resource_id(value),
            };
            found.ok_or_else(|| SelectError::NotFound(Some((name, (*value).to_owned()))))
        }
        several => Err(SelectError::Several(several.iter().map(|(n, _, _)| *n).collect())),
    }
}

/// A minted managed identity (or Cloud Shell) access token.
pub(crate) struct Issued {
    pub(crate) access_token: String,
    /// `iat` and `nbf`.
    pub(crate) issued_at: u64,
    /// `exp`.
    pub(crate) expires_on: u64,
    /// What hosts report as `expires_in`: a second under the lifetime, as
    /// they answer a moment after minting (`86399` for a day).
    pub(crate) expires_in: u64,
}

/// Why no token was minted.
#[derive(Debug)]
pub(crate) enum IssueError {
    /// No resource of this name is usable in the identity's tenant:
    /// Entra's AADSTS500011 message.
    UnknownResource(String),
    /// Signing failed (an emulator bug).
    Signing,
}

/// Claims of a managed identity's access token: an app-only token with the
/// identity's ids and its Azure resource id (`xms_mirid`).
#[derive(Debug, Serialize)]
struct ManagedIdentityClaims<'a> {
    aud: &'a str,
    iss: String,
    iat: u64,
    nbf: u64,
    exp: u64,
    appid: &'a str,
    /// `2`: the identity authenticated with a certificate (the host's).
    appidacr: &'static str,
    azp: &'a str,
    azpacr: &'static str,
    idtyp: &'static str,
    oid: &'a str,
    sub: &'a str,
    tid: &'a str,
    uti: String,
    ver: &'static str,
    xms_mirid: &'a str,
    /// Client capabilities the request declared (Service Fabric's `xms_cc`).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    xms_cc: &'a [String],
}

/// The Entra message for a resource that does not exist in `tenant`.
pub(crate) fn unknown_resource_message(resource: &str, tenant: &str) -> String {
    format!(
        "AADSTS500011: The resource principal named {resource} was not found in the tenant named {tenant}. \
         This can happen if the application has not been installed by the administrator of the tenant or \
         consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
    )
}

/// Whether `resource` names a resource usable in `tenant`.
pub(crate) fn resource_exists(state: &AppState, resource: &str, tenant: &crate::Tenant) -> bool {
    match state.directory().resource_named(resource) {
        Some(Resource::MicrosoftGraph) => true,
        Some(Resource::App(app)) => app.usable_in(tenant),
        None => false,
    }
}

/// Mints `identity`'s access token for `resource` (as the request named it,
/// which becomes `aud`), timed by the emulator's clock.
pub(crate) fn issue(
    state: &AppState,
    hosts: &Hosts,
    identity: &ManagedIdentity,
    resource: &str,
    xms_cc: &[String],
) -> Result<Issued, IssueError> {
    let Some(tenant) = state.directory().tenant(&identity.tenant) else {
        // Validation guarantees the tenant; answer as for a bad resource.
        return Err(IssueError::UnknownResource(unknown_resource_message(
            resource,
            &identity.tenant,
        )));
    };
    if !resource_exists(state, resource, tenant) {
        return Err(IssueError::UnknownResource(unknown_resource_message(
            resource,
            tenant.shown_name(),
        )));
    }
    let now = state.clock.now();
    let exp = now.saturating_add(hosts.lifetime_secs);
    let claims = ManagedIdentityClaims {
        aud: resource,
        iss: format!("{}/{}/v2.0", state.url, tenant.id),
        iat: now,
        nbf: now,
        exp,
        appid: &identity.client_id,
        appidacr: "2",
        azp: &identity.client_id,
        azpacr: "2",
        idtyp: "app",
        oid: &identity.object_id,
        sub: &identity.object_id,
        tid: &tenant.id,
        uti: unique_token_id(),
        ver: "2.0",
        xms_mirid: &identity.resource_id,
        xms_cc,
    };
    let access_token = state.signing_keys.sign(&claims).map_err(|e| {
        tracing::error!(error = %e, "signing a managed identity token failed");
        IssueError::Signing
    })?;
    tracing::info!(
        client_id = %identity.client_id,
        audience = resource,
        "issued managed identity token"
    );
    Ok(Issued {
        access_token,
        issued_at: now,
        expires_on: exp,
        expires_in: hosts.lifetime_secs - 1,
    })
}

/// Entra's `uti`: an opaque, unique token id.
pub(crate) fn unique_token_id() -> String {
    URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

/// Whether the request carries `Metadata: true` (any case), as IMDS, Azure
/// Arc and Cloud Shell require against server-side request forgery.
pub(crate) fn has_metadata_header(headers: &HeaderMap) -> bool {
    headers
        .get("metadata")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Whether header `name` equals `secret` (compared in constant time: these
/// are the hosts' credentials).
pub(crate) fn header_matches(headers: &HeaderMap, name: &str, secret: &str) -> bool {
    headers
        .get(name)
        .is_some_and(|v| constant_time_eq(v.as_bytes(), secret.as_bytes()))
}

/// Byte equality whose time does not depend on where the inputs differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `response` naming `identity` and `source` in the access log.
pub(crate) fn logged(source: ManagedIdentitySource, client_id: Option<&str>, response: Response) -> Response {
    AccessDetails::new(Some(source.name()), client_id).attach(response)
}

/// The hosts' state; the routes exist only when it does.
pub(crate) fn hosts(state: &AppState) -> Option<&Hosts> {
    state.managed_identity.as_ref()
}

/// The answer when the hosts' state is missing (cannot happen: the
/// listeners start only with it).
pub(crate) fn not_enabled(ctx: &RequestContext, shape: Shape) -> Response {
    shape.error(
        ctx,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "Managed identity is not enabled on this emulator",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_read_strictly() {
        let q = Query::from_form(b"resource=https%3A%2F%2Fvault.azure.net&a=1&a=2&e=&client_id=x");
        assert_eq!(q.required("resource"), Ok("https://vault.azure.net"));
        assert_eq!(q.single("a"), Err(ParamError::Repeated("a")));
        assert_eq!(q.single("e"), Err(ParamError::Empty("e")));
        assert_eq!(q.required("nope"), Err(ParamError::Missing("nope")));
        assert_eq!(q.first("client_id"), Some("x"));
    }

    #[test]
    fn secrets_are_long_hex_and_fresh() {
        let a = random_secret();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, random_secret());
        assert!(constant_time_eq(a.as_bytes(), a.clone().as_bytes()));
        assert!(!constant_time_eq(b"ab", b"ac"));
        assert!(!constant_time_eq(b"ab", b"abc"));
    }

    #[test]
    fn sources_have_names_and_endpoints() {
        for s in ManagedIdentitySource::ALL {
            assert_eq!(ManagedIdentitySource::from_name(s.name()), Some(s));
            assert_eq!(ManagedIdentitySource::ALL[s.index()], s);
        }
        assert_eq!(ManagedIdentitySource::AzureArc.endpoint(), Endpoint::AzureArc);
    }
}

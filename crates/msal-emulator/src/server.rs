//! The HTTPS server: configuration, router, start and stop, and the
//! [`Emulator`] handle tests and the CLI hold.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};
use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::context::{self, RequestContext};
use crate::directory::{Directory, DirectoryError};
use crate::error::EntraError;
use crate::faults::{Fault, Faults};
use crate::federation::key::FederationKey;
use crate::keys::KeyRing;
use crate::live_directory::LiveDirectory;
use crate::managed_identity::{self, ManagedIdentitySource, azure_arc, service_fabric};
use crate::oidc;
use crate::state_dir::StateDir;
use crate::stats::{Endpoint, Stats};
use crate::store::Store;
use crate::telemetry::TelemetryCheck;
use crate::{admin, authorize, cert, device, discovery, federation, regional, resource, token, userrealm};

/// The device code polling interval when none is configured (Entra's).
pub const DEFAULT_DEVICE_CODE_INTERVAL: Duration = Duration::from_secs(5);

/// The lifetime of managed identity tokens when none is configured (a day,
/// as real hosts issue them).
pub const DEFAULT_MANAGED_IDENTITY_TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);

/// The region IMDS reports when none is configured.
pub const DEFAULT_IMDS_REGION: &str = "eastus";

/// How long [`Emulator::shutdown`] lets in-flight requests finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How to run an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// The directory to serve.
    pub directory: Directory,
    /// Port on `127.0.0.1`; `0` picks any free port.
    pub port: u16,
    /// The device code `interval`: clients must wait this long between
    /// polls of one device code, else they get `slow_down`. Whole seconds,
    /// at least one (fractions are dropped).
    pub device_code_interval: Duration,
    /// Faults injected from the start (see [`Fault`]).
    pub faults: Vec<Fault>,
    /// Refuse token requests whose MSAL telemetry headers are missing or
    /// malformed (`invalid_request`), instead of only recording them.
    pub strict_telemetry: bool,
    /// Also run the managed identity endpoints of the Azure hosts (IMDS,
    /// App Service, Azure ML, Service Fabric, Azure Arc, Cloud Shell), each
    /// on its own port; see [`Emulator::managed_identity_env`]. Off by
    /// default: they cost six listeners and a certificate.
    pub managed_identity: bool,
    /// The Azure Arc agent's token directory, where its challenges write key
    /// files; created if missing (start fails if it cannot be). `None`:
    /// the agent's own, [`DEFAULT_ARC_TOKEN_DIRECTORY`](crate::DEFAULT_ARC_TOKEN_DIRECTORY), or, if that cannot
    /// be created, `msal-emulator-arc-tokens-<port>` in the temporary
    /// directory (with a warning).
    pub arc_token_directory: Option<PathBuf>,
    /// Lifetime of managed identity tokens (whole seconds, at least 2).
    pub managed_identity_token_lifetime: Duration,
    /// The Azure region IMDS's instance metadata reports (region discovery).
    pub imds_region: String,
    /// How long a connection may take to finish its TLS handshake, to send
    /// its first request, or to send the next request's headers: idle and
    /// trickling connections are closed after it, so they cannot pile up.
    pub idle_timeout: Duration,
    /// A directory that keeps the CA, the TLS and token-signing keys and the
    /// sign-in state (sessions, codes, refresh tokens) across restarts;
    /// `None`: everything is fresh at every start.
    pub state_dir: Option<PathBuf>,
}

/// The default [`EmulatorConfig::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Bounds what an idle or trickling connection can hold on `server` (see
/// [`EmulatorConfig::idle_timeout`]); every listener of the emulator gets it.
pub(crate) fn bounded<A: axum_server::Address, Acc>(
    mut server: axum_server::Server<A, Acc>,
    idle: Duration,
) -> axum_server::Server<A, Acc> {
    server
        .http_builder()
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(idle);
    server.first_request_timeout(idle)
}

impl Default for EmulatorConfig {
    /// The built-in directory on any free port.
    fn default() -> Self {
        EmulatorConfig {
            directory: Directory::builtin(),
            port: 0,
            device_code_interval: DEFAULT_DEVICE_CODE_INTERVAL,
            faults: Vec::new(),
            strict_telemetry: false,
            managed_identity: false,
            arc_token_directory: None,
            managed_identity_token_lifetime: DEFAULT_MANAGED_IDENTITY_TOKEN_LIFETIME,
            imds_region: DEFAULT_IMDS_REGION.to_owned(),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            state_dir: None,
        }
    }
}

impl EmulatorConfig {
    /// A config serving `directory` on any free port.
    pub fn new(directory: Directory) -> Self {
        EmulatorConfig {
            directory,
            ..EmulatorConfig::default()
        }
    }

    /// The same config keeping its keys and sign-in state in `dir` (see
    /// [`EmulatorConfig::state_dir`]).
    pub fn with_state_dir(mut self, dir: PathBuf) -> Self {
        self.state_dir = Some(dir);
        self
    }

    /// The same config with this [`EmulatorConfig::idle_timeout`].
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The same config with this device code polling interval.
    pub fn with_device_code_interval(mut self, interval: Duration) -> Self {
        self.device_code_interval = interval;
        self
    }

    /// The same config with `fault` injected from the start.
    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// The same config, refusing token requests with bad telemetry headers.
    pub fn with_strict_telemetry(mut self, strict: bool) -> Self {
        self.strict_telemetry = strict;
        self
    }

    /// The same config with the managed identity endpoints on or off
    /// (see [`EmulatorConfig::managed_identity`]).
    pub fn with_managed_identity(mut self, enabled: bool) -> Self {
        self.managed_identity = enabled;
        self
    }

    /// The same config with this Azure Arc token directory (see
    /// [`EmulatorConfig::arc_token_directory`]).
    pub fn with_arc_token_directory(mut self, directory: PathBuf) -> Self {
        self.arc_token_directory = Some(directory);
        self
    }

    /// The same config with this managed identity token lifetime.
    pub fn with_managed_identity_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.managed_identity_token_lifetime = lifetime;
        self
    }

    /// The same config with IMDS reporting this region.
    pub fn with_imds_region(mut self, region: impl Into<String>) -> Self {
        self.imds_region = region.into();
        self
    }

    /// The same config on `port` (`0` = any free port).
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// The directory is inconsistent.
    #[error("invalid directory: {0}")]
    Directory(#[from] DirectoryError),
    /// The state directory cannot be created or read.
    #[error("state directory {path}: {reason}")]
    StateDir {
        /// The directory given.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The port could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The requested port.
        port: u16,
        /// The socket error.
        source: std::io::Error,
    },
    /// Generating certificates or keys, or configuring TLS, failed.
    #[error("cannot set up {what}: {message}")]
    Crypto {
        /// What was being set up.
        what: &'static str,
        /// The underlying error.
        message: String,
    },
    /// The server stopped before it accepted connections.
    #[error("the server stopped before it was ready: {0}")]
    NotReady(String),
    /// The Azure Arc token directory could not be created.
    #[error("cannot create the Azure Arc token directory {}: {source}", path.display())]
    ArcTokenDirectory {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn crypto(what: &'static str) -> impl FnOnce(String) -> EmulatorError {
    move |message| EmulatorError::Crypto { what, message }
}

/// State shared by every request handler.
pub(crate) struct AppState {
    /// The directory served, with the administrator's changes.
    pub(crate) live: LiveDirectory,
    /// The token-signing keys (current, next, previous).
    pub(crate) signing_keys: KeyRing,
    /// Where keys and sign-in state are kept, if anywhere.
    pub(crate) state_dir: Option<StateDir>,
    /// The SSH certificate authority (see [`crate::ssh`]).
    pub(crate) ssh_ca: crate::ssh::SshCa,
    /// The federation server's assertion-signing key.
    pub(crate) federation_key: FederationKey,
    pub(crate) stats: Stats,
    /// Sessions, authorization codes and refresh tokens.
    pub(crate) store: Store,
    /// "Now" for tokens, codes, sessions and refresh tokens.
    pub(crate) clock: Clock,
    pub(crate) port: u16,
    /// `https://127.0.0.1:PORT`.
    pub(crate) url: String,
    /// Every host name served (see [`crate::site::served_hosts`]).
    pub(crate) hosts: Vec<String>,
    /// Pending sign-ins at external identity providers (B2C).
    pub(crate) social: crate::b2c::social::Pending,
    /// Device authorizations (device and user codes).
    pub(crate) device: device::DeviceCodes,
    /// The device code polling interval, whole seconds (at least one).
    pub(crate) device_interval_secs: u64,
    /// Session revocation instants, per user.
    pub(crate) revocations: resource::Revocations,
    /// SHR nonces the PoP resource has seen (replay protection).
    pub(crate) pop_nonces: crate::pop::SeenNonces,
    /// Injected faults (token endpoint).
    pub(crate) faults: Faults,
    /// Telemetry header violations seen on token requests.
    pub(crate) telemetry: TelemetryCheck,
    /// Refuse token requests with bad telemetry headers.
    pub(crate) strict_telemetry: bool,
    /// Requests per regional host, and the regions made to fail.
    pub(crate) regions: regional::Regions,
    /// Client assertion `jti`s seen, against replay.
    pub(crate) assertions: token::assertion::SeenAssertions,
    /// The managed identity hosts, when enabled.
    pub(crate) managed_identity: Option<managed_identity::Hosts>,
    /// The bearer token the admin endpoints require (fresh at every start).
    pub(crate) admin_token: String,
    /// See [`EmulatorConfig::idle_timeout`].
    pub(crate) idle_timeout: Duration,
}

/// A refused admin change as a [`DirectoryError`] (too many changes is one
/// of the directory's problems too: it would not be served).
fn admin_change_error(e: crate::live_directory::ChangeError) -> DirectoryError {
    match e {
        crate::live_directory::ChangeError::Invalid(e) => e,
        too_many @ crate::live_directory::ChangeError::TooMany => DirectoryError::Invalid {
            field: ".".into(),
            message: too_many.to_string(),
        },
    }
}

impl AppState {
    /// See [`Emulator::revoke_refresh_tokens`].
    pub(crate) fn revoke_refresh_tokens(&self, upn: &str) -> usize {
        let revoked = self
            .store
            .refresh_tokens()
            .retain(|rt| !rt.upn.eq_ignore_ascii_case(upn));
        tracing::info!(upn, revoked, "revoked refresh tokens");
        revoked
    }

    /// See [`Emulator::revoke_user_sessions`].
    pub(crate) fn revoke_user_sessions(&self, upn: &str) {
        // Token times are whole seconds: count the current second as
        // revoked too, so a token issued earlier in it is refused; tokens
        // issued afterwards get `iat` at least this instant.
        let at = self.clock.now().saturating_add(1);
        self.revocations.revoke(upn, at);
        tracing::info!(upn, at, "revoked user sessions");
    }

    /// Signs the user out of every browser session, as an administrator's
    /// "revoke sessions" invalidates session cookies; returns how many
    /// sessions the user was in.
    pub(crate) fn sign_out_everywhere(&self, upn: &str) -> usize {
        self.store.sessions().edit_all(|session| {
            let before = session.users.len();
            session.users.retain(|u| !u.upn.eq_ignore_ascii_case(upn));
            session.users.len() != before
        })
    }

    /// Adds an app registration (see [`Emulator::add_app`]).
    pub(crate) fn add_app(
        &self,
        app: crate::directory::App,
    ) -> Result<(), crate::live_directory::ChangeError> {
        let client_id = app.client_id.clone();
        self.live.change(|d| {
            d.apps.push(app);
            Ok(())
        })?;
        tracing::info!(client_id, "added an app registration");
        Ok(())
    }

    /// Adds a user (see [`Emulator::add_user`]).
    pub(crate) fn add_user(
        &self,
        user: crate::directory::User,
    ) -> Result<(), crate::live_directory::ChangeError> {
        let upn = user.upn.clone();
        self.live.change(|d| {
            d.users.push(user);
            Ok(())
        })?;
        tracing::info!(upn, "added a user");
        Ok(())
    }

    /// The directory as it is now (see [`LiveDirectory`]).
    pub(crate) fn directory(&self) -> &Directory {
        self.live.current()
    }

    /// Whether `authority` (`host:port` or `host`, lowercase) addresses
    /// this emulator: `127.0.0.1` or `localhost` with its port, or (when a
    /// client's resolver sends them here) any other host it serves (the
    /// clouds', regional ones, the directory's B2C, CIAM, AD FS and identity
    /// provider hosts), with its port or none.
    pub(crate) fn serves_host(&self, authority: &str) -> bool {
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let ours = port == Some(self.port.to_string().as_str());
        if host == "127.0.0.1" || host == "localhost" {
            return ours;
        }
        // Without a port the client dialled 443 and its resolver chose us.
        let named = self.hosts.iter().any(|h| h == host) || regional::region_of(host).is_some();
        named && (port.is_none() || ours)
    }
}

/// A running emulator. Dropping it stops the server.
pub struct Emulator {
    state: Arc<AppState>,
    ca_cert_pem: String,
    handle: Handle<SocketAddr>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    /// The managed identity listeners (none when disabled).
    managed_identity_servers: Vec<managed_identity::Server>,
    /// The mTLS listener.
    mtls: crate::mtls::Listener,
    /// Keeps the sign-in state in the state directory, if there is one.
    saver: Option<StateSaver>,
}

/// Writes the sign-in state to the state directory whenever it changed
/// (checked twice a second), and once more when the emulator stops.
struct StateSaver {
    dir: StateDir,
    state: Arc<AppState>,
    task: JoinHandle<()>,
}

impl StateSaver {
    fn start(dir: StateDir, state: Arc<AppState>) -> StateSaver {
        let task = tokio::spawn({
            let (dir, state) = (dir.clone(), state.clone());
            async move {
                let mut saved = state.store.generation();
                loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let now = state.store.generation();
                    if now != saved {
                        saved = now;
                        let snapshot = state.store.snapshot();
                        let dir = dir.clone();
                        let _ = tokio::task::spawn_blocking(move || dir.save_state(&snapshot)).await;
                    }
                }
            }
        });
        StateSaver { dir, state, task }
    }

    /// The last write, on the caller's thread.
    fn finish(&self) {
        self.task.abort();
        self.dir.save_state(&self.state.store.snapshot());
    }
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("url", &self.state.url)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Generates TLS and signing keys, binds `127.0.0.1:{port}` and serves
    /// HTTPS (and, with [`EmulatorConfig::managed_identity`], the managed
    /// identity endpoints); returns once the servers accept connections.
    /// Needs a Tokio runtime.
    pub async fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        config.directory.validate()?;
        let with_mi = config.managed_identity;
        let state_dir = match &config.state_dir {
            Some(path) => Some(StateDir::open(path).map_err(|source| EmulatorError::StateDir {
                path: path.clone(),
                reason: source.to_string(),
            })?),
            None => None,
        };
        let keys_from = state_dir.clone();
        let hosts = crate::site::served_hosts(&config.directory);
        let cert_hosts = hosts.clone();
        // Key generation is CPU-bound (RSA); keep it off the async workers.
        let (tls, signing_key, federation_key, sf_tls) = tokio::task::spawn_blocking(move || {
            let (tls, key) = match &keys_from {
                Some(dir) => dir
                    .keys(&cert_hosts)
                    .map_err(crypto("the state directory's keys"))?,
                None => (
                    cert::generate(&cert_hosts).map_err(|e| crypto("TLS certificates")(e.to_string()))?,
                    KeyRing::generate().map_err(|e| crypto("the token signing keys")(e.to_string()))?,
                ),
            };
            let federation = FederationKey::generate().map_err(crypto("the federation signing key"))?;
            let sf_tls = if with_mi {
                let sf = service_fabric::Tls::generate()
                    .map_err(|e| crypto("the Service Fabric certificate")(e.to_string()))?;
                Some(sf)
            } else {
                None
            };
            Ok::<_, EmulatorError>((tls, key, federation, sf_tls))
        })
        .await
        .map_err(|e| crypto("keys")(e.to_string()))??;
        let mi_listeners = if with_mi {
            Some(managed_identity::Listeners::bind()?)
        } else {
            None
        };

        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, config.port)).map_err(|source| EmulatorError::Bind {
                port: config.port,
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                port: config.port,
                source,
            })?
            .port();
        let rustls = RustlsConfig::from_pem(
            tls.chain_pem.clone().into_bytes(),
            tls.key_pem.clone().into_bytes(),
        )
        .await
        .map_err(|e| crypto("TLS")(e.to_string()))?;

        let mi_hosts = match (mi_listeners.as_ref(), sf_tls) {
            (Some(listeners), Some(sf_tls)) => {
                let arc_port = listeners.ports()?[4];
                let (directory, outside) = arc_token_directory(config.arc_token_directory, arc_port)?;
                Some(managed_identity::Hosts::new(
                    listeners,
                    managed_identity::HostsConfig {
                        tls: sf_tls,
                        arc: azure_arc::Challenges::new(directory, outside),
                        region: config.imds_region,
                        lifetime_secs: config.managed_identity_token_lifetime.as_secs(),
                    },
                    &config.directory,
                )?)
            }
            _ => None,
        };
        // Ed25519 generation is cheap: no need for the blocking pool.
        let ssh_ca = crate::ssh::SshCa::generate().map_err(crypto("the SSH CA key"))?;
        let state = Arc::new(AppState {
            live: LiveDirectory::new(config.directory),
            signing_keys: signing_key,
            state_dir: state_dir.clone(),
            ssh_ca,
            federation_key,
            stats: Stats::default(),
            store: Store::default(),
            clock: Clock::default(),
            port,
            url: format!("https://127.0.0.1:{port}"),
            hosts,
            social: Default::default(),
            device: device::DeviceCodes::default(),
            device_interval_secs: config.device_code_interval.as_secs().max(1),
            revocations: resource::Revocations::default(),
            pop_nonces: crate::pop::SeenNonces::default(),
            faults: Faults::default(),
            telemetry: TelemetryCheck::default(),
            strict_telemetry: config.strict_telemetry,
            regions: regional::Regions::default(),
            assertions: token::assertion::SeenAssertions::default(),
            managed_identity: mi_hosts,
            admin_token: managed_identity::random_secret(),
            idle_timeout: config.idle_timeout,
        });
        for fault in config.faults {
            state.faults.add(fault);
        }
        let handle = Handle::new();
        let server = axum_server::from_tcp_rustls(listener, rustls)
            .map_err(|source| EmulatorError::Bind {
                port: config.port,
                source,
            })?
            // TCP_NODELAY: without it, Nagle holds the first response behind the
            // TLS 1.3 session tickets until the client's delayed ACK (40 ms).
            .map(|tls| {
                tls.handshake_timeout(config.idle_timeout)
                    .acceptor(axum_server::accept::NoDelayAcceptor::new())
            })
            .handle(handle.clone());
        let server = bounded(server, config.idle_timeout);
        let app = router(state.clone());
        let task = tokio::spawn(server.serve(app.into_make_service()));
        if handle.listening().await.is_none() {
            let reason = match task.await {
                Ok(Err(e)) => e.to_string(),
                Ok(Ok(())) => "stopped".to_owned(),
                Err(e) => e.to_string(),
            };
            return Err(EmulatorError::NotReady(reason));
        }
        let managed_identity_servers = match mi_listeners {
            Some(listeners) => match managed_identity::serve(&state, listeners).await {
                Ok(servers) => servers,
                Err(e) => {
                    handle.shutdown();
                    return Err(e);
                }
            },
            None => Vec::new(),
        };
        let mtls = match crate::mtls::serve(&state, &tls.chain_pem, &tls.key_pem, config.idle_timeout).await {
            Ok(mtls) => mtls,
            Err(e) => {
                handle.shutdown();
                for server in &managed_identity_servers {
                    server.handle.shutdown();
                }
                return Err(e);
            }
        };
        tracing::info!(url = %state.url, mtls_port = mtls.port, "emulator listening");
        let saver = state_dir.map(|dir| {
            if let Some(persisted) = dir.load_state() {
                state.store.restore(persisted);
            }
            StateSaver::start(dir, state.clone())
        });
        Ok(Emulator {
            state,
            ca_cert_pem: tls.ca_cert_pem,
            handle,
            task: Some(task),
            managed_identity_servers,
            mtls,
            saver,
        })
    }

    /// `https://127.0.0.1:MTLS_PORT`: the mTLS listener (see [`crate::mtls`]),
    /// Entra's `{region}.mtlsauth.microsoft.com`. It requires a client
    /// certificate; its token endpoint
    /// (`{mtls_url}/{tenant}/oauth2/v2.0/token`) issues `mtls_pop` app
    /// tokens bound to it, and `{mtls_url}/resource/mtls` accepts them
    /// (`Authorization: mtls_pop <token>`) over a connection presenting it.
    pub fn mtls_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.mtls.port)
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.state.url.clone()
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.state.port
    }

    /// Every host name the emulator serves and its TLS certificate names
    /// (lowercase): `localhost`, the public cloud's hosts
    /// (`login.microsoftonline.com`, `login.windows.net`,
    /// `login.microsoft.com`, `sts.windows.net`), the sovereign clouds'
    /// (`login.microsoftonline.us`, `login.usgovcloudapi.net`,
    /// `login.chinacloudapi.cn`, `login.partner.microsoftonline.cn`,
    /// `login.sovcloud-identity.fr`/`.de`/`.sg`), then the directory's: each
    /// B2C tenant's `{name}.b2clogin.com`, each CIAM tenant's
    /// `{name}.ciamlogin.com` and `{tenant id}.ciamlogin.com`, each AD FS
    /// server's and external identity provider's host. A client whose
    /// resolver sends these names to `127.0.0.1` (with this port, or with
    /// none when it listens on 443) reaches the authority each one stands
    /// for; `127.0.0.1` itself and regional hosts
    /// (`{region}.login.microsoft.com`) are served too.
    pub fn hosts(&self) -> Vec<String> {
        self.state.hosts.clone()
    }

    /// The authority URL for `tenant`: `https://127.0.0.1:PORT/{tenant}`.
    pub fn authority(&self, tenant: &str) -> String {
        format!("{}/{tenant}", self.state.url)
    }

    /// The token the admin endpoints (`/_admin/...`) require, as
    /// `Authorization: Bearer <token>`; fresh at every start, printed in
    /// `msal emulator`'s ready line. Without it no other local process (or
    /// web page) can inject faults.
    pub fn admin_token(&self) -> &str {
        &self.state.admin_token
    }

    /// The CA certificate (PEM) that signed the server certificate; clients trust it.
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    /// The public key (`ssh-ed25519 AAAA... msal-emulator-ca`, an OpenSSH
    /// `authorized_keys` line) of the SSH certificate authority that signs
    /// the SSH certificates the token endpoint issues (`token_type=ssh-cert`):
    /// what `TrustedUserCAKeys` would name.
    pub fn ssh_ca_public_key(&self) -> String {
        self.state.ssh_ca.public_key()
    }

    /// Writes [`Emulator::ca_cert_pem`] to `path`.
    pub fn write_ca_cert(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, &self.ca_cert_pem)
    }

    /// The directory being served, with the apps and users added over
    /// the admin endpoints since the start.
    pub fn directory(&self) -> &Directory {
        self.state.directory()
    }

    /// How many requests `endpoint` served so far, whatever their status.
    pub fn request_count(&self, endpoint: Endpoint) -> u64 {
        self.state.stats.count(endpoint)
    }

    /// How many requests all endpoints served so far.
    pub fn total_requests(&self) -> u64 {
        self.state.stats.total()
    }

    /// Revokes every refresh token issued to the user `upn` (any case), as an
    /// administrator's "revoke sessions" does; returns how many were revoked.
    /// Redeeming one afterwards fails with `invalid_grant` (AADSTS70000).
    pub fn revoke_refresh_tokens(&self, upn: &str) -> usize {
        self.state.revoke_refresh_tokens(upn)
    }

    /// Revokes the sessions of the user `upn` (any case), as an
    /// administrator's "revoke sessions" does for Continuous Access
    /// Evaluation: `/resource/me` then refuses access tokens issued before
    /// now, with an `insufficient_claims` challenge for tokens whose client
    /// declared the `cp1` capability, else `invalid_token`. Tokens issued
    /// afterwards are accepted. Refresh tokens stay valid (see
    /// [`Emulator::revoke_refresh_tokens`]).
    pub fn revoke_user_sessions(&self, upn: &str) {
        self.state.revoke_user_sessions(upn);
    }

    /// Rolls the token-signing keys over, as `POST /_admin/keys/roll` does:
    /// the published next key signs from now on, the current one stays
    /// published (so tokens it signed still verify) until the next roll,
    /// and a fresh next key is published; kept in the state directory if
    /// there is one. Returns the new signing key's id.
    pub async fn roll_signing_keys(&self) -> Result<String, EmulatorError> {
        admin::roll_keys(&self.state)
            .await
            .map_err(crypto("the next signing key"))
    }

    /// Adds an app registration to the served directory, as
    /// `POST /_admin/apps` does; refused (and nothing changes) if the
    /// directory would not validate.
    pub fn add_app(&self, app: crate::directory::App) -> Result<(), DirectoryError> {
        self.state.add_app(app).map_err(admin_change_error)
    }

    /// Adds a user to the served directory, as `POST /_admin/users` does;
    /// refused (and nothing changes) if the directory would not validate.
    pub fn add_user(&self, user: crate::directory::User) -> Result<(), DirectoryError> {
        self.state.add_user(user).map_err(admin_change_error)
    }

    /// The id (`kid`) of the key that signs tokens now.
    pub fn signing_key_id(&self) -> String {
        self.state.signing_keys.current_kid()
    }

    /// How many token requests carried `grant_type` (its wire value, e.g.
    /// `refresh_token` or `urn:ietf:params:oauth:grant-type:device_code`),
    /// whatever their outcome: for device code, the number of polls.
    pub fn grant_count(&self, grant_type: &str) -> u64 {
        self.state.stats.grant_count(grant_type)
    }

    /// Moves the emulator's clock forward by `by` (whole seconds), so tests
    /// can expire authorization codes (10 minutes), sign-in sessions
    /// (`max_age`) and refresh tokens (90 days) without waiting. Timestamps in
    /// tokens issued afterwards use the moved clock too. It never goes back.
    pub fn advance_clock(&self, by: Duration) {
        self.state.clock.advance(by.as_secs());
    }

    /// The federation server's token-signing certificate (PEM), which signs
    /// the SAML assertions its WS-Trust endpoints issue.
    pub fn federation_certificate_pem(&self) -> &str {
        self.state.federation_key.cert_pem()
    }

    /// The federation server's public key: DER PKCS#1 `RSAPublicKey` (the
    /// key in [`Emulator::federation_certificate_pem`]), so tests can check
    /// assertion signatures without an X.509 parser.
    pub fn federation_public_key_der(&self) -> &[u8] {
        self.state.federation_key.public_key_der()
    }

    /// Injects `fault` into the token endpoint: the next matching requests
    /// (all of them, or [`Fault::count`]) get it instead of their answer.
    /// Faults apply in the order they were added, first match wins.
    pub fn inject_fault(&self, fault: Fault) {
        if !self.state.faults.add(fault) {
            tracing::warn!("too many faults injected; this one is ignored");
        }
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// The faults still active (with their remaining counts).
    pub fn faults(&self) -> Vec<Fault> {
        self.state.faults.list()
    }

    /// Every telemetry header problem seen on token requests so far, one
    /// line per problem, naming the grant and client id: missing
    /// `x-client-sku`/`x-client-ver`/`x-client-os`, a `client-request-id`
    /// that is not a UUID, a missing or malformed `x-client-current-telemetry`,
    /// a malformed `x-client-last-telemetry`. Kept up to 1000 lines.
    pub fn telemetry_violations(&self) -> Vec<String> {
        self.state.telemetry.violations()
    }

    /// How many token requests the telemetry check has looked at.
    pub fn telemetry_checked(&self) -> u64 {
        self.state.telemetry.checked()
    }

    /// Forgets the telemetry check's findings.
    pub fn clear_telemetry_violations(&self) {
        self.state.telemetry.clear();
    }

    /// Sets every request counter (and [`Emulator::grant_count`]) back to zero.
    pub fn reset_counts(&self) {
        self.state.stats.reset();
        self.state.regions.reset();
    }

    /// How many requests arrived for any regional host
    /// (`{region}.login.microsoft.com`, `{region}.login.microsoftonline.com`)
    /// so far. Requests [`Emulator::fail_region`] refused are counted here
    /// only; the others are also counted per endpoint.
    pub fn regional_requests(&self) -> u64 {
        self.state.regions.total()
    }

    /// How many requests arrived for `region`'s hosts so far.
    pub fn regional_requests_to(&self, region: &str) -> u64 {
        self.state.regions.count(region)
    }

    /// Makes every request to `region`'s hosts fail with 503
    /// `temporarily_unavailable`, as in a regional outage, until
    /// [`Emulator::restore_region`]. The global host keeps serving.
    pub fn fail_region(&self, region: &str) {
        self.state.regions.set_failing(region, true);
    }

    /// Undoes [`Emulator::fail_region`].
    pub fn restore_region(&self, region: &str) {
        self.state.regions.set_failing(region, false);
    }

    /// The environment variables a host of kind `source` sets, pointing at
    /// this emulator's endpoint for it; empty when managed identity is off.
    ///
    /// | source | variables |
    /// |---|---|
    /// | `imds` | `AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:P` |
    /// | `app_service` | `IDENTITY_ENDPOINT=http://127.0.0.1:P/msi/token`, `IDENTITY_HEADER` |
    /// | `azure_ml` | `MSI_ENDPOINT=http://127.0.0.1:P/msi/auth`, `MSI_SECRET`, `DEFAULT_IDENTITY_CLIENT_ID` (the system-assigned identity's, if any) |
    /// | `service_fabric` | `IDENTITY_ENDPOINT=https://127.0.0.1:P/metadata/identity/oauth2/token`, `IDENTITY_HEADER`, `IDENTITY_SERVER_THUMBPRINT` |
    /// | `azure_arc` | `IDENTITY_ENDPOINT=http://127.0.0.1:P/metadata/identity/oauth2/token`, `IMDS_ENDPOINT=http://127.0.0.1:P` |
    /// | `cloud_shell` | `MSI_ENDPOINT=http://127.0.0.1:P/oauth2/token`, `AZUREPS_HOST_ENVIRONMENT=cloud-shell/1.0` |
    ///
    /// Each source has its own port `P`. The secrets are fresh at every start.
    pub fn managed_identity_env(&self, source: ManagedIdentitySource) -> Vec<(String, String)> {
        self.state
            .managed_identity
            .as_ref()
            .map(|hosts| hosts.env(source, self.state.directory()))
            .unwrap_or_default()
    }

    /// Every source's [`Emulator::managed_identity_env`] as a JSON object:
    /// `{"imds": {"AZURE_POD_IDENTITY_AUTHORITY_HOST": "..."}, "app_service": {...}, ...}`;
    /// `{}` when managed identity is off.
    pub fn managed_identity_json(&self) -> serde_json::Value {
        self.state
            .managed_identity
            .as_ref()
            .map(|hosts| hosts.env_json(self.state.directory()))
            .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new()))
    }

    /// The base URL of `source`'s listener (`http://127.0.0.1:P`, `https://`
    /// for Service Fabric), when managed identity is on.
    pub fn managed_identity_url(&self, source: ManagedIdentitySource) -> Option<String> {
        let hosts = self.state.managed_identity.as_ref()?;
        let scheme = if source == ManagedIdentitySource::ServiceFabric {
            "https"
        } else {
            "http"
        };
        Some(format!("{scheme}://127.0.0.1:{}", hosts.port(source)))
    }

    /// The Service Fabric endpoint's self-signed certificate (PEM), which
    /// clients pin by thumbprint (`IDENTITY_SERVER_THUMBPRINT`) or trust;
    /// `None` when managed identity is off.
    pub fn service_fabric_cert_pem(&self) -> Option<&str> {
        self.state
            .managed_identity
            .as_ref()
            .map(|hosts| hosts.service_fabric_tls.cert_pem.as_str())
    }

    /// The Azure Arc token directory its challenges write key files into,
    /// when managed identity is on.
    pub fn arc_token_directory(&self) -> Option<&Path> {
        self.state
            .managed_identity
            .as_ref()
            .map(|hosts| hosts.arc.directory())
    }

    /// Stops accepting connections, lets in-flight requests finish (up to a
    /// few seconds) and waits for the servers to stop.
    pub async fn shutdown(mut self) {
        self.handle.graceful_shutdown(Some(SHUTDOWN_GRACE));
        self.mtls.handle.graceful_shutdown(Some(SHUTDOWN_GRACE));
        for server in &self.managed_identity_servers {
            server.handle.graceful_shutdown(Some(SHUTDOWN_GRACE));
        }
        for server in std::mem::take(&mut self.managed_identity_servers) {
            if let Ok(Err(e)) = server.task.await {
                tracing::warn!(error = %e, "a managed identity server stopped with an error");
            }
        }
        let Some(task) = self.task.take() else {
            return;
        };
        if let Ok(Err(e)) = task.await {
            tracing::warn!(error = %e, "emulator server stopped with an error");
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(saver) = self.saver.take() {
            saver.finish();
        }
        // Stop the server tasks so a dropped emulator never leaks its ports.
        if self.task.is_some() {
            self.handle.shutdown();
        }
        self.mtls.handle.shutdown();
        for server in &self.managed_identity_servers {
            server.handle.shutdown();
        }
    }
}

/// The Azure Arc token directory (created if missing) and the directory
/// the "key outside the token directory" fault writes into.
fn arc_token_directory(configured: Option<PathBuf>, port: u16) -> Result<(PathBuf, PathBuf), EmulatorError> {
    let outside = std::env::temp_dir().join(format!("msal-emulator-arc-outside-{port}"));
    // Absolute: the realm names the key file to clients, whose working
    // directory is not the emulator's.
    let create =
        |path: PathBuf| match std::fs::create_dir_all(&path).and_then(|()| std::path::absolute(&path)) {
            Ok(absolute) => Ok(absolute),
            Err(source) => Err(EmulatorError::ArcTokenDirectory { path, source }),
        };
    match configured {
        Some(path) => Ok((create(path)?, outside)),
        None => match create(PathBuf::from(azure_arc::DEFAULT_ARC_TOKEN_DIRECTORY)) {
            Ok(path) => Ok((path, outside)),
            Err(e) => {
                let fallback = std::env::temp_dir().join(format!("msal-emulator-arc-tokens-{port}"));
                tracing::warn!(error = %e, fallback = %fallback.display(), "using another Azure Arc token directory");
                Ok((create(fallback)?, outside))
            }
        },
    }
}

/// Every route, each counted under its [`Endpoint`].
fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            counted(
                &state,
                Endpoint::OpenIdConfiguration,
                "GET or OPTIONS",
                get(discovery::openid_configuration).options(discovery::preflight),
            ),
        )
        .route(
            "/{tenant}/discovery/instance",
            counted(
                &state,
                Endpoint::InstanceDiscovery,
                "GET",
                get(discovery::instance_discovery),
            ),
        )
        .route(
            "/{tenant}/discovery/v2.0/keys",
            counted(
                &state,
                Endpoint::Jwks,
                "GET or OPTIONS",
                get(discovery::jwks).options(discovery::preflight),
            ),
        )
        .route(
            "/{tenant}/discovery/keys",
            counted(
                &state,
                Endpoint::Jwks,
                "GET or OPTIONS",
                get(discovery::jwks).options(discovery::preflight),
            ),
        )
        .route(
            "/{tenant}/oauth2/v2.0/token",
            counted(
                &state,
                Endpoint::Token,
                "POST",
                post(token::token_endpoint)
                    .layer(middleware::from_fn_with_state(state.clone(), admin::token_layer)),
            ),
        )
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            counted(
                &state,
                Endpoint::Authorize,
                "GET or POST",
                get(authorize::authorize).post(authorize::authorize),
            ),
        )
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            counted(&state, Endpoint::DeviceCode, "POST", post(device::devicecode)),
        )
        .route(
            "/devicelogin",
            counted(
                &state,
                Endpoint::DeviceLogin,
                "GET or POST",
                get(device::devicelogin).post(device::devicelogin),
            ),
        )
        .route(
            "/oidc/userinfo",
            counted(
                &state,
                Endpoint::UserInfo,
                "GET",
                get(oidc::userinfo).post(oidc::userinfo),
            ),
        )
        .route(
            "/{tenant}/oauth2/v2.0/logout",
            counted(
                &state,
                Endpoint::Logout,
                "GET",
                get(oidc::logout).post(oidc::logout),
            ),
        )
        .route(
            "/resource/me",
            counted(&state, Endpoint::Resource, "GET", get(resource::me)),
        )
        // Signed-request PoP: the protected resource that verifies SHRs.
        .route(
            "/resource/pop",
            counted(
                &state,
                Endpoint::Resource,
                "GET, POST",
                get(crate::pop::resource).post(crate::pop::resource),
            ),
        )
        .route(
            "/{tenant}/userrealm/{username}",
            counted(&state, Endpoint::UserRealm, "GET", get(userrealm::user_realm)),
        )
        .route(
            federation::MEX_PATH,
            counted(&state, Endpoint::Federation, "GET", get(federation::mex)),
        )
        .route(
            federation::TRUST_13_PATH,
            counted(&state, Endpoint::Federation, "POST", post(federation::trust_13)),
        )
        .route(
            federation::TRUST_2005_PATH,
            counted(&state, Endpoint::Federation, "POST", post(federation::trust_2005)),
        )
        .route(
            "/_admin/faults",
            post(admin::add_faults)
                .get(admin::get_faults)
                .delete(admin::clear_faults)
                .route_layer(middleware::from_fn_with_state(state.clone(), admin::guard)),
        )
        .route(
            "/_admin/keys/roll",
            post(admin::roll_signing_keys)
                .route_layer(middleware::from_fn_with_state(state.clone(), admin::guard)),
        )
        .route(
            "/_admin/directory",
            get(admin::get_directory)
                .route_layer(middleware::from_fn_with_state(state.clone(), admin::guard)),
        )
        .route(
            "/_admin/apps",
            post(admin::add_app).route_layer(middleware::from_fn_with_state(state.clone(), admin::guard)),
        )
        .route(
            "/_admin/users",
            post(admin::add_user).route_layer(middleware::from_fn_with_state(state.clone(), admin::guard)),
        )
        .route(
            "/_admin/revoke",
            post(admin::revoke).route_layer(middleware::from_fn_with_state(state.clone(), admin::guard)),
        )
        .route(
            "/_admin/clock",
            get(admin::get_clock)
                .post(admin::advance_clock)
                .route_layer(middleware::from_fn_with_state(state.clone(), admin::guard)),
        )
        .route(
            "/_admin/telemetry",
            get(admin::get_telemetry)
                .delete(admin::clear_telemetry)
                .route_layer(middleware::from_fn_with_state(state.clone(), admin::guard)),
        )
        .fallback(not_found)
        // B2C, AD FS and identity provider hosts have routes of their own.
        .layer(middleware::from_fn_with_state(
            Arc::new(SiteRouters {
                b2c: crate::b2c::router(&state),
                adfs: crate::adfs::router(&state),
                social: crate::b2c::social::router(&state),
            }),
            by_site,
        ))
        // Inside the context layer, so its failures carry Entra's ids.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            regional::middleware,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), context::middleware))
        // Outermost: the time and status it logs are the client's.
        .layer(middleware::from_fn(access_log))
        .with_state(state)
}

/// The routers of the sites that do not speak Entra's protocol.
struct SiteRouters {
    b2c: Router,
    adfs: Router,
    social: Router,
}

/// Hands a request to the router of the [`Site`](crate::site::Site) its
/// host names; Entra's (and CIAM's) requests go on to Entra's routes.
async fn by_site(State(routers): State<Arc<SiteRouters>>, request: Request, next: Next) -> Response {
    use crate::site::Site;
    use tower::ServiceExt as _;
    let site = request
        .extensions()
        .get::<RequestContext>()
        .map(|ctx| ctx.site.clone());
    let router = match site {
        Some(Site::B2c(_)) => routers.b2c.clone(),
        Some(Site::Adfs(_)) => routers.adfs.clone(),
        Some(Site::Social(_)) => routers.social.clone(),
        Some(Site::Entra | Site::Ciam(_)) | None => return next.run(request).await,
    };
    match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The log target of the per-request access lines `msal emulator` prints.
pub const ACCESS_LOG_TARGET: &str = "msal_emulator::access";

/// Longest client id the access log shows; longer ones are shown as `(long)`.
const MAX_LOGGED_CLIENT_ID_LEN: usize = 128;

/// What a handler tells the access log about its request, as a response
/// extension, so the log never reads the body again: the grant type (token
/// requests) and the client id the request named. Nothing secret goes here.
#[derive(Debug, Clone, Default)]
pub(crate) struct AccessDetails {
    /// The grant type's wire value, for token requests with a known grant;
    /// `unsupported` for others (the value sent is not repeated).
    pub(crate) grant_type: Option<&'static str>,
    /// The client id the request named, if printable.
    pub(crate) client_id: Option<String>,
}

impl AccessDetails {
    /// Details naming `client_id` (cleaned for the log: printable ASCII
    /// without spaces, at most 128 characters) and `grant_type`.
    pub(crate) fn new(grant_type: Option<&'static str>, client_id: Option<&str>) -> AccessDetails {
        let client_id = client_id.map(|id| {
            if id.len() > MAX_LOGGED_CLIENT_ID_LEN {
                "(long)".to_owned()
            } else if id.bytes().all(|b| b.is_ascii_graphic()) {
                id.to_owned()
            } else {
                "(unprintable)".to_owned()
            }
        });
        AccessDetails {
            grant_type,
            client_id,
        }
    }

    /// `response` carrying these details for the access log.
    pub(crate) fn attach(self, mut response: Response) -> Response {
        response.extensions_mut().insert(self);
        response
    }
}

/// Logs one line per request at INFO under [`ACCESS_LOG_TARGET`]: method,
/// path (never the query string, which may carry codes), status, grant type
/// and client id when the handler reported them (see [`AccessDetails`]),
/// the client's `client-request-id` and the time taken. Never bodies,
/// secrets, codes, assertions, passwords or tokens.
pub(crate) async fn access_log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // The client's own id for the request, to match its logs; not a secret.
    let correlation_id = request
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| {
            !v.is_empty() && v.len() <= MAX_LOGGED_CLIENT_ID_LEN && v.bytes().all(|b| b.is_ascii_graphic())
        })
        .map(str::to_owned);
    let response = next.run(request).await;
    let details = response.extensions().get::<AccessDetails>();
    let elapsed = started.elapsed();
    tracing::info!(
        target: ACCESS_LOG_TARGET,
        %method,
        path,
        status = response.status().as_u16(),
        grant = details.and_then(|d| d.grant_type),
        client_id = details.and_then(|d| d.client_id.as_deref()),
        correlation_id = correlation_id.as_deref(),
        duration_ms = elapsed.as_micros() as f64 / 1000.0,
        "request"
    );
    response
}

/// Adds an Entra-style 405 for other methods and counts every request.
pub(crate) fn counted(
    state: &Arc<AppState>,
    endpoint: Endpoint,
    allowed: &'static str,
    route: MethodRouter<Arc<AppState>>,
) -> MethodRouter<Arc<AppState>> {
    let stats = state.clone();
    route
        .fallback(move |ctx: RequestContext, request: Request| async move {
            EntraError::method_not_allowed(allowed, request.method()).to_response(&ctx)
        })
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            stats.stats.record(endpoint);
            next.run(request)
        }))
}

/// Any path the emulator does not serve.
async fn not_found(State(state): State<Arc<AppState>>, ctx: RequestContext, request: Request) -> Response {
    state.stats.record(Endpoint::Other);
    EntraError::not_found(request.uri().path()).to_response(&ctx)
}

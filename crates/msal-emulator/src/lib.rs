//! A local Microsoft identity platform (Entra ID) emulator.
//!
//! The emulator speaks Entra's real wire protocol over HTTPS on `127.0.0.1`:
//! OpenID Connect discovery, instance discovery, the JWKS endpoint, the v2.0
//! authorize endpoint with a real HTML sign-in page, and the v2.0 token
//! endpoint (client credentials, authorization code with PKCE, refresh
//! token, device code, password, SAML bearer), with Entra's paths, response
//! shapes and error bodies. It also runs user realm discovery and an AD FS-like
//! federation server (WS-MetadataExchange, WS-Trust 1.3 and 2005) for
//! federated domains, the device code verification page (`/devicelogin`), the
//! family of client ids (FOCI: family apps redeem each other's refresh
//! tokens), client capabilities and claims challenges (`claims` with
//! `xms_cc`), and a protected resource (`/resource/me`) that challenges
//! tokens issued before [`Emulator::revoke_user_sessions`].
//! With [`EmulatorConfig::with_managed_identity`] it also plays the managed
//! identity endpoints of Azure hosts (IMDS, App Service, Azure ML, Service
//! Fabric, Azure Arc, Cloud Shell), each on a port of its own; see
//! [`Emulator::managed_identity_env`].
//! Every start generates a fresh local CA, a TLS certificate for `127.0.0.1`
//! and `localhost` signed by it, and an RSA token-signing key.
//!
//! ```no_run
//! # async fn demo() -> Result<(), msal_emulator::EmulatorError> {
//! use msal_emulator::{Emulator, EmulatorConfig, Endpoint, builtin};
//!
//! let emulator = Emulator::start(EmulatorConfig::default()).await?;
//! let authority = emulator.authority(builtin::CONTOSO_TENANT_NAME);
//! // ... point a client at `authority`, trusting `emulator.ca_cert_pem()` ...
//! assert_eq!(emulator.request_count(Endpoint::Token), 0);
//! emulator.shutdown().await;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod adfs;
mod admin;
mod authorize;
mod b2c;
pub mod builtin;
mod cert;
mod claims;
mod clock;
mod clouds;
mod context;
mod device;
pub mod directory;
mod discovery;
mod error;
mod faults;
mod federation;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod keys;
mod live_directory;
mod managed_identity;
mod mtls;
mod oidc;
mod pop;
mod regional;
mod reply;
mod resource;
mod scopes;
mod server;
mod site;
mod ssh;
mod state_dir;
mod stats;
mod store;
mod telemetry;
mod token;
mod userrealm;

pub use directory::{
    AdfsServer, App, AppKind, AppPermission, Directory, DirectoryError, IdentityProvider, ManagedIdentity,
    Tenant, TenantKind, User,
};
pub use faults::{Fault, FaultKind};
pub use managed_identity::ManagedIdentitySource;
pub use managed_identity::azure_arc::DEFAULT_ARC_TOKEN_DIRECTORY;
pub use server::{
    ACCESS_LOG_TARGET, DEFAULT_DEVICE_CODE_INTERVAL, DEFAULT_IDLE_TIMEOUT, DEFAULT_IMDS_REGION,
    DEFAULT_MANAGED_IDENTITY_TOKEN_LIFETIME, Emulator, EmulatorConfig, EmulatorError,
};
pub use stats::Endpoint;

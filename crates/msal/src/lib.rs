//! # msal: the Microsoft Authentication Library for Rust
//!
//! Acquire tokens from the Microsoft identity platform (Entra ID) and other
//! OpenID Connect providers, with a token cache in the unified MSAL format
//! that MSAL Python and the other MSALs share.
//!
//! The three-step MSAL pattern:
//!
//! ```no_run
//! # async fn run() -> msal::Result<()> {
//! use msal::{ClientSecret, ConfidentialClientApplication};
//!
//! // 1. Build the application once, and reuse it.
//! let app = ConfidentialClientApplication::builder("my-client-id")
//!     .authority("https://login.microsoftonline.com/contoso.onmicrosoft.com")
//!     .client_secret(ClientSecret::new(std::env::var("CLIENT_SECRET").unwrap_or_default()))
//!     .build()?;
//!
//! // 2 and 3. Ask for a token: the cache answers when it can, the identity provider otherwise.
//! let result = app.acquire_token_for_client(["https://graph.microsoft.com/.default"]).await?;
//! println!("token from {:?}, expires in {:?}", result.token_source, result.expires_in());
//! # Ok(()) }
//! ```
//!
//! Programs without an async runtime use [`blocking`].
//!
//! ## Layout
//! Everything an application needs is re-exported here, flat; the public
//! modules are [`blocking`] (the facade without async), [`http`] (for a
//! transport of one's own) and [`cache`] (the token cache). Inside, layers
//! import only downwards (a test keeps the module graph free of cycles):
//! leaves (`error`, `secret`, `time`), the transport (`http`), the request
//! `pipeline` (HTTP cache, throttle, retry, by purpose), the protocol
//! (`oauth2`, `discovery`), the domain (`authority`, `credential`, `cache`,
//! `wstrust`), the `core` (one token-request path), `flows` (one module per
//! grant) and `app` (the applications).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod account;
mod app;
mod authority;
pub mod blocking;
pub mod cache;
mod cancel;
mod challenge;
mod core;
mod credential;
mod discovery;
mod error;
mod flows;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
mod issuer;
#[cfg(test)]
mod layering;
mod loopback;
mod managed_identity;
pub mod mtls;
mod oauth2;
mod pipeline;
pub mod pop;
mod region;
mod result;
mod secret;
mod shared_str;
pub mod ssh_cert;
mod telemetry;
#[cfg(test)]
mod testing;
mod time;
mod wstrust;

pub use account::{Account, Accounts, AccountsIntoIter};
pub use app::{
    BackgroundRefresh, ClientApplication, ClientApplicationBuilder, Confidential,
    ConfidentialClientApplication, ConfidentialClientApplicationBuilder, ConfidentialSettings,
    DEFAULT_AUTHORITY, Kind, ManagedIdentityClient, ManagedIdentityClientBuilder, Public,
    PublicClientApplication, PublicClientApplicationBuilder,
};
pub use authority::{
    Authority, AuthorityKind, CONSUMERS_TENANT_ID, KNOWN_AUTHORITY_HOSTS, SELF_DISCOVERING_HOSTS,
};
pub use cache::TokenCache;
pub use cancel::CancellationHandle;
pub use challenge::BearerChallenge;
pub use credential::{
    AssertionRequest, CLIENT_ASSERTION_TYPE_JWT, CertificatePassphrase, ClientAssertion, ClientCertificate,
    ClientCredential, CredentialError,
};
pub use error::{
    CacheError, Error, IdTokenError, InteractionReason, KeyringError, ManagedIdentityError, Result,
    ServiceError, TransportError, TransportErrorKind,
};
pub use flows::auth_code::{AuthCodeFlow, AuthCodeFlowOptions, AuthResponse, Prompt, ResponseMode};
pub use flows::client_credentials::ClientCredentialsOptions;
pub use flows::device_code::{
    DeviceFlow, DeviceFlowOptions, DeviceFlowPoll, DeviceFlowPolling, OnDevicePoll,
};
pub use flows::interactive::{DEFAULT_INTERACTIVE_TIMEOUT, InteractiveOptions};
pub use flows::managed_identity::ManagedIdentityOptions;
pub use flows::on_behalf_of::OnBehalfOfOptions;
pub use flows::silent::SilentOptions;
pub use flows::user_fic::{TargetUser, UserFicOptions};
pub use flows::username_password::UsernamePasswordOptions;
pub use http::{HttpClient, HttpRequest, HttpResponse, ReqwestHttpClient};
pub use loopback::{BrowserCallback, BrowserLauncher, LoopbackListener, ResponsePages, open_browser};
pub use managed_identity::{
    ManagedIdentity, ManagedIdentityEnvironment, ManagedIdentitySource, SYSTEM_ASSIGNED_MANAGED_IDENTITY,
};
pub use pipeline::HttpCache;
pub use region::{AzureRegion, MSAL_FORCE_REGION, REGION_NAME};
pub use result::{AuthenticationResult, IdTokenClaims, TokenSource};
pub use secret::{AccessToken, ClientSecret, FederatedCredential, IdToken, Password, UserAssertion};
pub use shared_str::SharedStr;
pub use ssh_cert::SshCertRequest;

/// The README's Rust snippets, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

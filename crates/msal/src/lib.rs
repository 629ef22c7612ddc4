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
//! [`authority`] parses authorities, [`discovery`] resolves their endpoints,
//! [`http`] is the transport, `oauth2` the wire protocol, [`cache`] the token
//! cache, [`account`] the users it remembers, [`credential`] and [`secret`]
//! what proves identity, [`flows`] the grants, [`app`] the public
//! applications.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod account;
pub mod app;
pub mod authority;
pub mod blocking;
pub mod cache;
pub mod cancel;
pub mod challenge;
pub mod credential;
pub mod discovery;
pub mod error;
pub mod flows;
pub mod http;
pub mod loopback;
mod oauth2;
pub mod region;
pub mod result;
pub mod secret;
pub mod telemetry;
#[cfg(test)]
mod testing;
pub mod throttle;
mod time;
mod wstrust;

pub use account::{Account, Accounts, AccountsIntoIter};
pub use app::{
    ConfidentialClientApplication, ConfidentialClientApplicationBuilder, PublicClientApplication,
    PublicClientApplicationBuilder,
};
pub use authority::{Authority, AuthorityKind};
pub use cache::TokenCache;
pub use cancel::CancellationHandle;
pub use challenge::BearerChallenge;
pub use credential::{
    AssertionRequest, CertificatePassphrase, ClientAssertion, ClientCertificate, ClientCredential,
    CredentialError,
};
pub use error::{CacheError, Error, InteractionReason, Result, ServiceError, TransportError};
pub use flows::auth_code::{AuthCodeFlow, AuthCodeFlowOptions, AuthResponse, Prompt, ResponseMode};
pub use flows::client_credentials::ClientCredentialsOptions;
pub use flows::device_code::{
    DeviceFlow, DeviceFlowOptions, DeviceFlowPoll, DeviceFlowPolling, OnDevicePoll,
};
pub use flows::interactive::InteractiveOptions;
pub use flows::on_behalf_of::OnBehalfOfOptions;
pub use flows::silent::SilentOptions;
pub use flows::user_fic::{TargetUser, UserFicOptions};
pub use flows::username_password::UsernamePasswordOptions;
pub use http::{HttpClient, HttpRequest, HttpResponse, ReqwestHttpClient};
pub use loopback::{BrowserLauncher, ResponsePages};
pub use region::AzureRegion;
pub use result::{AuthenticationResult, IdTokenClaims, TokenSource};
pub use secret::{AccessToken, ClientSecret, FederatedCredential, IdToken, Password, UserAssertion};
pub use throttle::HttpCache;

/// The README's Rust snippets, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

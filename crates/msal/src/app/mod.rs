//! Applications: one type, [`ClientApplication`], generic over its
//! [`Kind`]: [`Public`] (desktop, mobile and command-line apps, no secret)
//! or [`Confidential`] (web apps, web APIs and daemons, which authenticate
//! with a credential). The names users know are aliases:
//! [`PublicClientApplication`] and [`ConfidentialClientApplication`]. The
//! methods every kind has are written once, here; `public` and
//! `confidential` add what only one kind has. All of them are thin over
//! the [`AppCore`](crate::core::AppCore) that owns the client id,
//! authority, pipeline, cache and telemetry; flows in [`crate::flows`] work
//! on the core, and nothing below this module knows the application types.

mod background;
mod confidential;
mod managed_identity;
mod public;

use crate::core::Partition;
use std::sync::Arc;

use crate::core::{AppCore, CoreBuilder};
use crate::credential::ClientCredential;

pub use background::BackgroundRefresh;
pub use confidential::{Confidential, ConfidentialSettings};
pub use managed_identity::{ManagedIdentityClient, ManagedIdentityClientBuilder};
pub use public::Public;

/// The authority every application uses unless told otherwise.
pub const DEFAULT_AUTHORITY: &str = crate::core::DEFAULT_AUTHORITY;

/// An application that signs users in without a credential of its own:
/// build it once with [`builder`](ClientApplication::<Public>::builder) and
/// reuse it; clones share the cache and the discovered endpoints.
pub type PublicClientApplication = ClientApplication<Public>;

/// An application that authenticates as itself: build it once with
/// [`builder`](ClientApplication::<Confidential>::builder) and reuse it;
/// clones share the cache and the discovered endpoints.
pub type ConfidentialClientApplication = ClientApplication<Confidential>;

/// Builds a [`PublicClientApplication`].
pub type PublicClientApplicationBuilder = ClientApplicationBuilder<Public>;

/// Builds a [`ConfidentialClientApplication`].
pub type ConfidentialClientApplicationBuilder = ClientApplicationBuilder<Confidential>;

mod sealed {
    pub trait Sealed {}
}

/// What kind of client an application is: [`Public`] or [`Confidential`].
/// Sealed: the library defines the kinds.
pub trait Kind: sealed::Sealed + Clone + std::fmt::Debug + Send + Sync + 'static {
    /// What the kind's builder collects beyond the shared settings.
    type Settings: Default + Send;

    /// The credential the application's user flows authenticate with.
    #[doc(hidden)]
    fn credential(&self) -> Option<&ClientCredential>;

    /// The kind's name, for `Debug`.
    #[doc(hidden)]
    fn name() -> &'static str;
}

/// An application of kind `K`; see [`PublicClientApplication`] and
/// [`ConfidentialClientApplication`]. Cheap to clone: clones share
/// everything.
#[derive(Clone)]
pub struct ClientApplication<K: Kind> {
    core: Arc<AppCore>,
    kind: K,
}

impl<K: Kind> ClientApplication<K> {
    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.core.client_id
    }

    /// The authority tokens are requested from.
    pub fn authority(&self) -> &crate::authority::Authority {
        self.core.authority()
    }

    /// The token cache this application reads and writes (with
    /// [cache hooks](ClientApplicationBuilder::cache_hooks), each call has a
    /// cache of its own and this one stays as it was built).
    pub fn token_cache(&self) -> &crate::cache::TokenCache {
        &self.core.cache
    }

    /// Starts an authorization code flow (with PKCE) for `scopes`, the
    /// scopes of one API, such as `User.Read`. `openid`, `profile` and
    /// `offline_access` are added, and passing them is an
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument).
    ///
    /// Send the user to [`AuthCodeFlow::auth_uri`](crate::AuthCodeFlow::auth_uri); when the
    /// identity provider redirects to `redirect_uri`, pass the flow and the
    /// redirect's parameters to
    /// [`acquire_token_by_auth_code_flow`](Self::acquire_token_by_auth_code_flow).
    pub async fn initiate_auth_code_flow<I, S>(
        &self,
        scopes: I,
        redirect_uri: &str,
        options: &crate::flows::auth_code::AuthCodeFlowOptions,
    ) -> crate::Result<crate::flows::auth_code::AuthCodeFlow>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        crate::flows::auth_code::initiate(&self.core, scopes, redirect_uri, options).await
    }

    /// Completes an authorization code flow: checks `auth_response` against
    /// `flow` (state, then the identity provider's error if any), redeems the
    /// code (a confidential client authenticates with its credential), checks
    /// the ID token's nonce and `auth_time`, and caches the tokens and the
    /// account.
    pub async fn acquire_token_by_auth_code_flow(
        &self,
        flow: &crate::flows::auth_code::AuthCodeFlow,
        auth_response: &crate::flows::auth_code::AuthResponse,
    ) -> crate::Result<crate::AuthenticationResult> {
        self.core
            .with_hooks(
                |_| Partition::FromResult,
                async |core| {
                    crate::flows::auth_code::acquire(
                        core,
                        self.kind.credential(),
                        flow,
                        auth_response,
                        crate::telemetry::ApiId::AcquireTokenByAuthCode,
                    )
                    .await
                },
            )
            .await
    }

    /// A token for `account` without the user: the cached access token when
    /// one covers `scopes` (API scopes such as `User.Read`; `openid`,
    /// `profile` and `offline_access` are added and may not be passed),
    /// else new tokens for one of the account's cached refresh tokens.
    /// Concurrent calls that need the same refresh share one request.
    ///
    /// Fails with [`Error::InteractionRequired`](crate::Error::InteractionRequired)
    /// when only the user can help (no refresh token, or the identity
    /// provider refused it): then sign the user in interactively.
    pub fn acquire_token_silent<'a, I, S>(
        &'a self,
        scopes: I,
        account: &'a crate::Account,
    ) -> impl Future<Output = crate::Result<crate::AuthenticationResult>> + use<'a, I, S, K>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        // Not an `async fn` of its own: a layer of future less to move a result through.
        self.acquire_token_silent_with(scopes, account, &crate::flows::silent::DEFAULT_OPTIONS)
    }

    /// [`acquire_token_silent`](Self::acquire_token_silent) with options:
    /// force a refresh, pass a claims challenge, or name another authority.
    pub async fn acquire_token_silent_with<I, S>(
        &self,
        scopes: I,
        account: &crate::Account,
        options: &crate::flows::silent::SilentOptions,
    ) -> crate::Result<crate::AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let credential = self.kind.credential();
        if self.core.is_direct(options.tenant.as_deref()) {
            return crate::flows::silent::acquire(&self.core, credential, scopes, account, options).await;
        }
        let partition = |_: &AppCore| Partition::Known(Some(account.home_account_id.to_string()));
        let call = self
            .core
            .in_tenant(options.tenant.as_deref(), partition, async |core| {
                crate::flows::silent::acquire(core, credential, scopes, account, options).await
            });
        // Boxed: this future is large, and a direct call's should not carry it.
        Box::pin(call).await
    }

    /// Redeems a refresh token obtained elsewhere (ADAL, another OAuth2
    /// library) for `scopes`, the scopes it was granted for (`openid`,
    /// `profile` and `offline_access` are added and may not be passed). The
    /// tokens, the new refresh token and the account are cached, so
    /// [`acquire_token_silent`](Self::acquire_token_silent) serves the user
    /// from then on; the refresh token passed in is not kept.
    ///
    /// For migrating into this library only: refresh tokens it obtained
    /// itself are already in the cache.
    pub async fn acquire_token_by_refresh_token<I, S>(
        &self,
        refresh_token: &str,
        scopes: I,
    ) -> crate::Result<crate::AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.core
            .with_hooks(
                |_| Partition::FromResult,
                async |core| {
                    crate::flows::refresh_token::acquire(core, self.kind.credential(), refresh_token, scopes)
                        .await
                },
            )
            .await
    }

    /// The accounts in the cache for this application's cloud, one per user,
    /// optionally only those with this username (case-insensitive).
    ///
    /// The list is shared and read-only: while the cache's accounts do not
    /// change, every call returns the same list without copying it (so a web
    /// app may list accounts on every request); see [`Accounts`](crate::Accounts).
    pub fn get_accounts(&self, username: Option<&str>) -> crate::Accounts {
        crate::flows::accounts::get_accounts(&self.core, username)
    }

    /// Signs the account out of this application and forgets it: its refresh
    /// tokens for this client (and its family), all its access tokens, ID
    /// tokens and account entries.
    /// [`TokenCache::has_state_changed`](crate::TokenCache::has_state_changed)
    /// then tells whether to persist the cache.
    pub fn remove_account(&self, account: &crate::Account) {
        crate::flows::accounts::remove_account(&self.core, account);
        self.core.id_token_claims.forget(&account.home_account_id);
    }

    /// [`get_accounts`](Self::get_accounts) through the application's
    /// [cache hooks](ClientApplicationBuilder::cache_hooks) (loaded with no
    /// partition key, so a store keyed by partition has nothing to list):
    /// for caches kept outside the process. Without hooks it is
    /// `get_accounts`.
    pub async fn accounts(&self, username: Option<&str>) -> crate::Result<crate::Accounts> {
        self.core
            .with_hooks(
                |_| Partition::Known(None),
                async |core| Ok(crate::flows::accounts::get_accounts(core, username)),
            )
            .await
    }

    /// [`remove_account`](Self::remove_account) through the application's
    /// [cache hooks](ClientApplicationBuilder::cache_hooks): the account's
    /// partition is loaded, the account removed from it, and the result
    /// saved. Without hooks it is `remove_account`.
    pub async fn sign_out(&self, account: &crate::Account) -> crate::Result<()> {
        let partition = |_: &AppCore| Partition::Known(Some(account.home_account_id.to_string()));
        self.core
            .with_hooks(partition, async |core| {
                crate::flows::accounts::remove_account(core, account);
                Ok(())
            })
            .await?;
        self.core.id_token_claims.forget(&account.home_account_id);
        Ok(())
    }

    /// Signs a user in with a username and password (ROPC), as MSAL Python's
    /// `acquire_token_by_username_password` does (a confidential client
    /// authenticates with its credential too): user realm discovery, then
    /// the password grant for managed users, or WS-Trust at the user's
    /// federation server and a SAML bearer grant for federated ones. The
    /// tokens and the account land in the cache, so later calls can be
    /// silent. `scopes` are API scopes such as `User.Read`; `openid`,
    /// `profile` and `offline_access` are added and may not be passed.
    ///
    /// A wrong password is an [`Error::Service`](crate::Error::Service)
    /// (`invalid_grant`, AADSTS50126) for managed users and an
    /// [`Error::WsTrustFault`](crate::Error::WsTrustFault) for federated
    /// ones. Prefer interactive or device code sign-in: this flow cannot do
    /// multi-factor authentication or consent.
    pub async fn acquire_token_by_username_password<I, S>(
        &self,
        username: &str,
        password: crate::Password,
        scopes: I,
    ) -> crate::Result<crate::AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.acquire_token_by_username_password_with(
            username,
            password,
            scopes,
            &crate::flows::username_password::UsernamePasswordOptions::default(),
        )
        .await
    }

    /// [`acquire_token_by_username_password`](Self::acquire_token_by_username_password)
    /// with options (a claims challenge).
    pub async fn acquire_token_by_username_password_with<I, S>(
        &self,
        username: &str,
        password: crate::Password,
        scopes: I,
        options: &crate::flows::username_password::UsernamePasswordOptions,
    ) -> crate::Result<crate::AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.core
            .in_tenant(
                options.tenant.as_deref(),
                |_| Partition::FromResult,
                async |core| {
                    crate::flows::username_password::acquire(
                        core,
                        self.kind.credential(),
                        username,
                        &password,
                        scopes,
                        options,
                    )
                    .await
                },
            )
            .await
    }
}

impl<K: Kind> std::fmt::Debug for ClientApplication<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(K::name())
            .field("client_id", &self.core.client_id)
            .field("authority", self.core.authority())
            .field("kind", &self.kind)
            .finish()
    }
}

/// Builds a [`ClientApplication`] of kind `K`: the settings every kind
/// shares are here; `public` and `confidential` add their own and `build`.
pub struct ClientApplicationBuilder<K: Kind> {
    core: CoreBuilder,
    settings: K::Settings,
}

impl<K: Kind> ClientApplicationBuilder<K> {
    fn new(core: CoreBuilder) -> Self {
        ClientApplicationBuilder {
            core,
            settings: K::Settings::default(),
        }
    }

    /// An Entra-style authority, `https://host/tenant`. Only `https` is accepted.
    pub fn authority(mut self, authority: &str) -> Self {
        self.core.authority(crate::authority::Authority::parse(authority));
        self
    }

    /// A generic OpenID Connect authority (its issuer URL).
    pub fn oidc_authority(mut self, issuer: &str) -> Self {
        self.core.authority(crate::authority::Authority::oidc(issuer));
        self
    }

    /// Whether to validate an Entra authority on a host that is not a known
    /// Microsoft cloud through instance discovery (default on): the trusted
    /// endpoint must know the host, else the call fails with
    /// [`Error::InvalidInstance`](crate::Error::InvalidInstance) before any
    /// token request. Turn it off only for a host you trust yourself (a
    /// private deployment); it also stops the lookup of the cloud's other
    /// host names in the cache.
    pub fn instance_discovery(mut self, enabled: bool) -> Self {
        self.core.instance_discovery(enabled);
        self
    }

    /// MSAL Python's name for [`instance_discovery`](Self::instance_discovery).
    pub fn validate_authority(self, enabled: bool) -> Self {
        self.instance_discovery(enabled)
    }

    /// The trusted instance discovery endpoint (default
    /// `https://login.microsoftonline.com/common/discovery/instance`), for
    /// private clouds and emulators; an https URL. Sovereign clouds that
    /// discover on their own host and loopback authorities ask their own
    /// host regardless.
    pub fn instance_discovery_endpoint(mut self, endpoint: &str) -> Self {
        self.core.instance_discovery_endpoint(endpoint.to_owned());
        self
    }

    /// Capabilities the client declares to the identity provider, such as
    /// `cp1` (it handles claims challenges, so it can get long-lived CAE tokens).
    pub fn client_capabilities<I, S>(mut self, capabilities: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.core
            .client_capabilities(capabilities.into_iter().map(Into::into).collect());
        self
    }

    /// Uses this token cache (shared with whoever else holds a clone).
    pub fn token_cache(mut self, cache: crate::cache::TokenCache) -> Self {
        self.core.token_cache(cache);
        self
    }

    /// Keeps the cache outside the process: every call's cache is loaded
    /// by `hooks` before it and saved by them after it, with the call's
    /// partition key (see [`CacheHooks`](crate::cache::CacheHooks)). For a
    /// file shared with other processes, the OS keyring, or a distributed
    /// store such as Redis.
    pub fn cache_hooks(mut self, hooks: impl crate::cache::CacheHooks) -> Self {
        self.core.cache_hooks(std::sync::Arc::new(hooks));
        self
    }

    /// Validates every ID token the identity provider sends before anything
    /// is cached (off by default, as in MSAL Python, which decodes ID tokens
    /// without validating them): the signature with the issuer's published
    /// keys, the issuer, the audience (this client id), and `exp`/`nbf`
    /// (see [`id_token_clock_skew`](Self::id_token_clock_skew)). A refused
    /// token is an [`Error::IdToken`](crate::Error::IdToken).
    pub fn validate_id_tokens(mut self, enabled: bool) -> Self {
        self.core.validate_id_tokens(enabled);
        self
    }

    /// The clock skew allowed on an ID token's `exp` and `nbf` when
    /// [`validate_id_tokens`](Self::validate_id_tokens) is on (5 minutes by default).
    pub fn id_token_clock_skew(mut self, skew: std::time::Duration) -> Self {
        self.core.id_token_clock_skew(skew);
        self
    }

    /// Sends requests through this transport instead of the default one.
    pub fn http_client(mut self, http: impl crate::http::HttpClient) -> Self {
        self.core.http_client(std::sync::Arc::new(http));
        self
    }

    /// The application's name, sent as `x-app-name` so the identity
    /// provider's logs tell it apart (as MSAL's `app_name`).
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.core.app_name(name.into());
        self
    }

    /// The application's version, sent as `x-app-ver` (as MSAL's `app_version`).
    pub fn app_version(mut self, version: impl Into<String>) -> Self {
        self.core.app_version(version.into());
        self
    }

    /// Shares throttling state and cached discovery documents with the
    /// other applications given the same [`HttpCache`](crate::pipeline::HttpCache);
    /// by default each application has its own (see the pipeline docs).
    pub fn http_cache(mut self, cache: crate::pipeline::HttpCache) -> Self {
        self.core.http_cache(cache);
        self
    }
}

//! [`PublicClientApplication`]: desktop, mobile and command-line apps, which
//! run on the user's device and cannot keep a secret.

use std::sync::Arc;

use crate::account::{self, Account, Accounts};
use crate::authority::Authority;
use crate::cache::TokenCache;
use crate::error::Result;
use crate::flows::auth_code::{self, AuthCodeFlow, AuthCodeFlowOptions, AuthResponse};
use crate::flows::device_code::{self, DeviceFlow, DeviceFlowOptions, DeviceFlowPolling};
use crate::flows::interactive::{self, InteractiveOptions};
use crate::flows::refresh_token;
use crate::flows::silent::{self, SilentOptions};
use crate::http::HttpClient;
use crate::result::AuthenticationResult;
use crate::telemetry::ApiId;
use crate::throttle::HttpCache;

use crate::flows::username_password::{self, UsernamePasswordOptions};
use crate::secret::Password;

use super::{ClientCore, CoreBuilder};

/// An application that signs users in without a credential of its own:
/// build it once with [`builder`](Self::builder) and reuse it; clones share
/// the cache and the discovered endpoints.
#[derive(Clone)]
pub struct PublicClientApplication {
    core: Arc<ClientCore>,
}

impl PublicClientApplication {
    /// Starts building an application with this client (application) id.
    pub fn builder(client_id: impl Into<String>) -> PublicClientApplicationBuilder {
        let mut core = CoreBuilder::new(client_id);
        core.public_client();
        PublicClientApplicationBuilder { core }
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.core.client_id
    }

    /// The authority tokens are requested from.
    pub fn authority(&self) -> &Authority {
        &self.core.authority
    }

    /// The token cache this application reads and writes.
    pub fn token_cache(&self) -> &TokenCache {
        &self.core.cache
    }

    /// Starts an authorization code flow (with PKCE) for `scopes`, the
    /// scopes of one API, such as `User.Read`. `openid`, `profile` and
    /// `offline_access` are added, and passing them is an
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument).
    ///
    /// Send the user to [`AuthCodeFlow::auth_uri`]; when the identity
    /// provider redirects to `redirect_uri`, pass the flow and the redirect's
    /// parameters to [`acquire_token_by_auth_code_flow`](Self::acquire_token_by_auth_code_flow).
    pub async fn initiate_auth_code_flow<I, S>(
        &self,
        scopes: I,
        redirect_uri: &str,
        options: &AuthCodeFlowOptions,
    ) -> Result<AuthCodeFlow>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        auth_code::initiate(&self.core, scopes, redirect_uri, options).await
    }

    /// Completes an authorization code flow: checks `auth_response` against
    /// `flow` (state, then the identity provider's error if any), redeems the
    /// code, checks the ID token's nonce and `auth_time`, and caches the
    /// tokens and the account.
    pub async fn acquire_token_by_auth_code_flow(
        &self,
        flow: &AuthCodeFlow,
        auth_response: &AuthResponse,
    ) -> Result<AuthenticationResult> {
        auth_code::acquire(
            &self.core,
            None,
            flow,
            auth_response,
            ApiId::AcquireTokenByAuthCode,
        )
        .await
    }

    /// Signs a user in through the browser: listens on a loopback port,
    /// opens the authorization URI (in the system browser, or through the
    /// launcher in `options`), waits for the redirect and redeems the code.
    /// The tokens and the account land in the cache, so later calls can be
    /// silent.
    ///
    /// Fails with [`Error::InteractionTimeout`](crate::Error::InteractionTimeout)
    /// when the user does not finish within `options.timeout`, and with
    /// [`Error::Service`](crate::Error::Service) when the identity provider
    /// answers with an error (the user declined, `prompt=none` without a
    /// session, ...).
    pub async fn acquire_token_interactive<I, S>(
        &self,
        scopes: I,
        options: &InteractiveOptions,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        interactive::acquire(&self.core, scopes, options).await
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
    pub async fn acquire_token_silent<I, S>(
        &self,
        scopes: I,
        account: &Account,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.acquire_token_silent_with(scopes, account, &SilentOptions::default())
            .await
    }

    /// [`acquire_token_silent`](Self::acquire_token_silent) with options:
    /// force a refresh, pass a claims challenge, or name another authority.
    pub async fn acquire_token_silent_with<I, S>(
        &self,
        scopes: I,
        account: &Account,
        options: &SilentOptions,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        silent::acquire(&self.core, None, scopes, account, options).await
    }

    /// Starts a device code flow (RFC 8628) for `scopes` (API scopes;
    /// `openid`, `profile` and `offline_access` are added and may not be
    /// passed): for devices without a browser, or terminals. Show the user
    /// [`DeviceFlow::message`], then call
    /// [`acquire_token_by_device_flow`](Self::acquire_token_by_device_flow).
    pub async fn initiate_device_flow<I, S>(&self, scopes: I) -> Result<DeviceFlow>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.initiate_device_flow_with(scopes, &DeviceFlowOptions::default())
            .await
    }

    /// [`initiate_device_flow`](Self::initiate_device_flow) with options (a claims challenge).
    pub async fn initiate_device_flow_with<I, S>(
        &self,
        scopes: I,
        options: &DeviceFlowOptions,
    ) -> Result<DeviceFlow>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        device_code::initiate(&self.core, scopes, options).await
    }

    /// Waits for the user to finish the device flow, polling the token
    /// endpoint every [`DeviceFlow::interval`] (longer when the identity
    /// provider says `slow_down`), and caches the tokens and the account.
    /// Drop the future to stop polling.
    ///
    /// Fails with [`Error::DeviceCodeExpired`](crate::Error::DeviceCodeExpired)
    /// when the code expires first, with
    /// [`Error::AuthorizationDeclined`](crate::Error::AuthorizationDeclined)
    /// when the user declines, and with [`Error::Service`](crate::Error::Service)
    /// for any other answer of the identity provider.
    pub async fn acquire_token_by_device_flow(&self, flow: &DeviceFlow) -> Result<AuthenticationResult> {
        self.acquire_token_by_device_flow_with(flow, &DeviceFlowPolling::default())
            .await
    }

    /// [`acquire_token_by_device_flow`](Self::acquire_token_by_device_flow)
    /// with a [`CancellationHandle`](crate::CancellationHandle) (then
    /// [`Error::Cancelled`](crate::Error::Cancelled)) and a progress callback.
    pub async fn acquire_token_by_device_flow_with(
        &self,
        flow: &DeviceFlow,
        polling: &DeviceFlowPolling,
    ) -> Result<AuthenticationResult> {
        device_code::acquire(&self.core, None, flow, polling).await
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
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        refresh_token::acquire(&self.core, None, refresh_token, scopes).await
    }

    /// The accounts in the cache for this application's cloud, one per user,
    /// optionally only those with this username (case-insensitive).
    ///
    /// The list is shared and read-only: while the cache's accounts do not
    /// change, every call returns the same list without copying it (so a web
    /// app may list accounts on every request); see [`Accounts`].
    pub fn get_accounts(&self, username: Option<&str>) -> Accounts {
        account::get_accounts(&self.core, username)
    }

    /// Signs the account out of this application and forgets it: its refresh
    /// tokens for this client (and its family), all its access tokens, ID
    /// tokens and account entries. [`TokenCache::has_state_changed`] then
    /// tells whether to persist the cache.
    pub fn remove_account(&self, account: &Account) {
        account::remove_account(&self.core, account);
        self.core.id_token_claims.forget(&account.home_account_id);
    }

    /// Signs a user in with a username and password (ROPC), as MSAL Python's
    /// `acquire_token_by_username_password` does: user realm discovery, then
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
        password: Password,
        scopes: I,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.acquire_token_by_username_password_with(
            username,
            password,
            scopes,
            &UsernamePasswordOptions::default(),
        )
        .await
    }

    /// [`acquire_token_by_username_password`](Self::acquire_token_by_username_password)
    /// with options (a claims challenge).
    pub async fn acquire_token_by_username_password_with<I, S>(
        &self,
        username: &str,
        password: Password,
        scopes: I,
        options: &UsernamePasswordOptions,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        username_password::acquire(&self.core, None, username, &password, scopes, options).await
    }
}

impl std::fmt::Debug for PublicClientApplication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicClientApplication")
            .field("client_id", &self.core.client_id)
            .field("authority", &self.core.authority)
            .finish()
    }
}

/// Builds a [`PublicClientApplication`].
pub struct PublicClientApplicationBuilder {
    core: CoreBuilder,
}

impl PublicClientApplicationBuilder {
    /// An Entra-style authority, `https://host/tenant`. Only `https` is accepted.
    pub fn authority(mut self, authority: &str) -> Self {
        self.core.authority(Authority::parse(authority));
        self
    }

    /// A generic OpenID Connect authority (its issuer URL).
    pub fn oidc_authority(mut self, issuer: &str) -> Self {
        self.core.authority(Authority::oidc(issuer));
        self
    }

    /// Whether to validate an unknown Entra host through instance discovery
    /// (default on). Turn off for hosts that do not serve it.
    pub fn instance_discovery(mut self, enabled: bool) -> Self {
        self.core.instance_discovery(enabled);
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
    pub fn token_cache(mut self, cache: TokenCache) -> Self {
        self.core.token_cache(cache);
        self
    }

    /// Sends requests through this transport instead of the default one.
    pub fn http_client(mut self, http: impl HttpClient) -> Self {
        self.core.http_client(Arc::new(http));
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
    /// other applications given the same [`HttpCache`]; by default each
    /// application has its own (see [`crate::throttle`]).
    pub fn http_cache(mut self, cache: HttpCache) -> Self {
        self.core.http_cache(cache);
        self
    }

    /// Builds the application. Fails on an invalid authority or client id.
    pub fn build(self) -> Result<PublicClientApplication> {
        Ok(PublicClientApplication {
            core: Arc::new(self.core.build()?),
        })
    }

    /// Builds the application behind the blocking facade.
    pub fn build_blocking(self) -> Result<crate::blocking::PublicClientApplication> {
        crate::blocking::PublicClientApplication::new(self.build()?)
    }
}

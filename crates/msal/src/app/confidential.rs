//! [`ConfidentialClientApplication`]: web apps, web APIs and daemons, which
//! can keep a credential secret.

use std::sync::Arc;

use crate::account::{self, Account, Accounts};
use crate::authority::Authority;
use crate::cache::TokenCache;
use crate::credential::ClientCredential;
use crate::error::{Error, Result};
use crate::flows::auth_code::{self, AuthCodeFlow, AuthCodeFlowOptions, AuthResponse};
use crate::flows::client_credentials::{self, ClientCredentialsOptions};
use crate::flows::refresh_token;
use crate::flows::silent::{self, SilentOptions};
use crate::http::HttpClient;
use crate::region::{AzureRegion, EnvLookup, RegionSettings};
use crate::result::AuthenticationResult;
use crate::telemetry::ApiId;
use crate::throttle::HttpCache;

use crate::flows::on_behalf_of::{self, OnBehalfOfOptions};
use crate::flows::user_fic::{self, TargetUser, UserFicOptions};
use crate::flows::username_password::{self, UsernamePasswordOptions};
use crate::secret::{ClientSecret, FederatedCredential, Password, UserAssertion};

use super::{ClientCore, CoreBuilder};

/// An application that authenticates as itself: build it once with
/// [`builder`](Self::builder) and reuse it; clones share the cache and the
/// discovered endpoints.
#[derive(Clone)]
pub struct ConfidentialClientApplication {
    core: Arc<ClientCore>,
    credential: Arc<ClientCredential>,
}

impl ConfidentialClientApplication {
    /// Starts building an application with this client (application) id.
    pub fn builder(client_id: impl Into<String>) -> ConfidentialClientApplicationBuilder {
        ConfidentialClientApplicationBuilder {
            core: CoreBuilder::new(client_id),
            credential: None,
            azure_region: None,
            region_environment: None,
        }
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

    /// A token for the application itself (client credentials grant), from
    /// the cache when a valid one is there, else from the identity provider.
    ///
    /// `scopes` are resource scopes ending in `/.default`, such as
    /// `https://graph.microsoft.com/.default`.
    pub async fn acquire_token_for_client<I, S>(&self, scopes: I) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.acquire_token_for_client_with(scopes, &ClientCredentialsOptions::default())
            .await
    }

    /// [`acquire_token_for_client`](Self::acquire_token_for_client) with options.
    pub async fn acquire_token_for_client_with<I, S>(
        &self,
        scopes: I,
        options: &ClientCredentialsOptions,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        client_credentials::acquire(&self.core, &self.credential, scopes, options).await
    }

    /// Starts an authorization code flow to sign a user in to this web app;
    /// see [`PublicClientApplication::initiate_auth_code_flow`](crate::PublicClientApplication::initiate_auth_code_flow).
    /// Keep the flow in the user's session until the redirect arrives.
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

    /// Completes an authorization code flow, authenticating with the
    /// application's credential; see
    /// [`PublicClientApplication::acquire_token_by_auth_code_flow`](crate::PublicClientApplication::acquire_token_by_auth_code_flow).
    pub async fn acquire_token_by_auth_code_flow(
        &self,
        flow: &AuthCodeFlow,
        auth_response: &AuthResponse,
    ) -> Result<AuthenticationResult> {
        auth_code::acquire(
            &self.core,
            Some(&self.credential),
            flow,
            auth_response,
            ApiId::AcquireTokenByAuthCode,
        )
        .await
    }

    /// A token for `account` without the user: the cached access token when
    /// one covers `scopes` (API scopes such as `User.Read`; `openid`,
    /// `profile` and `offline_access` are added and may not be passed),
    /// else new tokens for one of the account's cached refresh tokens.
    /// Concurrent calls that need the same refresh share one request. The
    /// refresh request carries the application's credential.
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
        silent::acquire(
            &self.core,
            Some(self.credential.as_ref()),
            scopes,
            account,
            options,
        )
        .await
    }

    /// Redeems a refresh token obtained elsewhere, authenticating with the
    /// application's credential, and caches the results; see
    /// [`PublicClientApplication::acquire_token_by_refresh_token`](crate::PublicClientApplication::acquire_token_by_refresh_token).
    pub async fn acquire_token_by_refresh_token<I, S>(
        &self,
        refresh_token: &str,
        scopes: I,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        refresh_token::acquire(&self.core, Some(&self.credential), refresh_token, scopes).await
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

    /// Signs the account out of this application and forgets it; see
    /// [`PublicClientApplication::remove_account`](crate::PublicClientApplication::remove_account).
    pub fn remove_account(&self, account: &Account) {
        account::remove_account(&self.core, account);
        self.core.id_token_claims.forget(&account.home_account_id);
    }

    /// Signs a user in with a username and password (ROPC), authenticating
    /// with the application's credential, as MSAL Python's
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
        username_password::acquire(
            &self.core,
            Some(self.credential.as_ref()),
            username,
            &password,
            scopes,
            options,
        )
        .await
    }
}

impl ConfidentialClientApplication {
    /// The on-behalf-of flow: this web API was called with `user_assertion`
    /// (the user's access token, addressed to this API) and needs a token
    /// for a downstream API (`scopes`, e.g.
    /// `https://graph.microsoft.com/User.Read`), for the same user.
    ///
    /// Unlike MSAL Python, the cache is read first, partitioned by the
    /// incoming token as MSAL .NET does: a second call with the same
    /// incoming token and scopes costs no request, and another incoming
    /// token never receives these tokens. An expired access token is
    /// renewed with the refresh token obtained alongside it (so long-running
    /// work outlives the incoming token); only when that fails is a new
    /// on-behalf-of request sent. `openid`, `profile` and `offline_access`
    /// are added and may not be passed.
    ///
    /// An incoming token the identity provider refuses is an
    /// [`Error::Service`](crate::Error::Service): `invalid_grant` with
    /// AADSTS500131 when it is addressed to another app, AADSTS50013 when it
    /// does not verify, AADSTS500133 when it has expired.
    pub async fn acquire_token_on_behalf_of<I, S>(
        &self,
        user_assertion: &UserAssertion,
        scopes: I,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.acquire_token_on_behalf_of_with(user_assertion, scopes, &OnBehalfOfOptions::default())
            .await
    }

    /// [`acquire_token_on_behalf_of`](Self::acquire_token_on_behalf_of)
    /// with options: a claims challenge from the downstream API, or a
    /// forced refresh (both skip the cache).
    pub async fn acquire_token_on_behalf_of_with<I, S>(
        &self,
        user_assertion: &UserAssertion,
        scopes: I,
        options: &OnBehalfOfOptions,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        on_behalf_of::acquire(&self.core, &self.credential, user_assertion, scopes, options).await
    }

    /// Exchanges a federated identity credential this application holds (a
    /// token for `api://AzureADTokenExchange`, such as an agent identity's
    /// instance token) and the application's own credential for `user`'s
    /// tokens: MSAL Python's `user_fic` grant. Every call asks the identity
    /// provider; the tokens and the account land in the cache, so later
    /// calls for the user can be [silent](Self::acquire_token_silent).
    /// `openid`, `profile` and `offline_access` are added and may not be
    /// passed.
    pub async fn acquire_token_by_user_federated_identity_credential<I, S>(
        &self,
        scopes: I,
        credential: &FederatedCredential,
        user: &TargetUser,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.acquire_token_by_user_federated_identity_credential_with(
            scopes,
            credential,
            user,
            &UserFicOptions::default(),
        )
        .await
    }

    /// [`acquire_token_by_user_federated_identity_credential`](Self::acquire_token_by_user_federated_identity_credential)
    /// with options (a claims challenge).
    pub async fn acquire_token_by_user_federated_identity_credential_with<I, S>(
        &self,
        scopes: I,
        credential: &FederatedCredential,
        user: &TargetUser,
        options: &UserFicOptions,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        user_fic::acquire(&self.core, &self.credential, scopes, credential, user, options).await
    }

    /// Removes the tokens this application obtained for itself
    /// ([`acquire_token_for_client`](Self::acquire_token_for_client)) from
    /// the cache, in every tenant of its cloud, as MSAL Python's
    /// `remove_tokens_for_client` does; those obtained with an `fmi_path`
    /// go too. User tokens and other applications' tokens stay. Returns how
    /// many access tokens were removed.
    pub fn remove_tokens_for_client(&self) -> usize {
        let mut environments = vec![self.core.environment()];
        environments.extend(self.core.environment_aliases());
        self.core
            .cache
            .remove_app_tokens(&self.core.client_id, &environments)
    }
}

impl std::fmt::Debug for ConfidentialClientApplication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfidentialClientApplication")
            .field("client_id", &self.core.client_id)
            .field("authority", &self.core.authority)
            .field("credential", &self.credential)
            .finish()
    }
}

/// Builds a [`ConfidentialClientApplication`].
pub struct ConfidentialClientApplicationBuilder {
    core: CoreBuilder,
    credential: Option<ClientCredential>,
    /// `None`: unset, so `MSAL_FORCE_REGION` decides.
    azure_region: Option<AzureRegion>,
    region_environment: Option<EnvLookup>,
}

impl ConfidentialClientApplicationBuilder {
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

    /// Capabilities the client declares to the identity provider, such as `cp1`.
    pub fn client_capabilities<I, S>(mut self, capabilities: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.core
            .client_capabilities(capabilities.into_iter().map(Into::into).collect());
        self
    }

    /// Authenticates with a client secret.
    pub fn client_secret(mut self, secret: ClientSecret) -> Self {
        self.credential = Some(ClientCredential::Secret(secret));
        self
    }

    /// Authenticates with any supported credential.
    pub fn client_credential(mut self, credential: impl Into<ClientCredential>) -> Self {
        self.credential = Some(credential.into());
        self
    }

    /// Authenticates with a certificate: every request carries a client
    /// assertion signed with its private key.
    pub fn client_certificate(mut self, certificate: crate::credential::ClientCertificate) -> Self {
        self.credential = Some(ClientCredential::Certificate(certificate));
        self
    }

    /// Authenticates with a client assertion the application supplies (a
    /// signed JWT, or a callback returning one).
    pub fn client_assertion(mut self, assertion: crate::credential::ClientAssertion) -> Self {
        self.credential = Some(ClientCredential::Assertion(assertion));
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

    /// Sends client credentials requests
    /// ([`acquire_token_for_client`](ConfidentialClientApplication::acquire_token_for_client))
    /// to a regional token endpoint, as MSAL Python's `azure_region`: an
    /// explicit region, the detected one, or none. Unset, the
    /// `MSAL_FORCE_REGION` environment variable names the region, if any.
    ///
    /// The regional host is `{region}.login.microsoft.com` for the public
    /// cloud, `{region}.{host}` for other Entra clouds; tokens are still
    /// cached under the authority's global host. When the region cannot be
    /// reached or answers with a server error, that request goes to the
    /// global host instead. User flows never use the region. An invalid
    /// region name fails [`build`](Self::build) with
    /// [`Error::InvalidArgument`].
    pub fn azure_region(mut self, region: AzureRegion) -> Self {
        self.azure_region = Some(region);
        self
    }

    /// Where the region settings `MSAL_FORCE_REGION` and `REGION_NAME` are
    /// read: `lookup` returns a variable's value (default: the process
    /// environment). For tests, and for programs that keep their settings
    /// somewhere other than the environment.
    pub fn region_environment<F>(mut self, lookup: F) -> Self
    where
        F: Fn(&str) -> Option<String> + Send + Sync + 'static,
    {
        self.region_environment = Some(Arc::new(lookup));
        self
    }

    /// Builds the application. Fails on an invalid authority, a missing
    /// credential or an invalid region name.
    pub fn build(mut self) -> Result<ConfidentialClientApplication> {
        self.core.region(RegionSettings::validated(
            self.azure_region.take(),
            self.region_environment.take(),
        )?);
        let credential = self.credential.ok_or_else(|| {
            Error::InvalidArgument("a confidential client needs a credential, such as a client secret".into())
        })?;
        Ok(ConfidentialClientApplication {
            core: Arc::new(self.core.build()?),
            credential: Arc::new(credential),
        })
    }

    /// Builds the application behind the blocking facade.
    pub fn build_blocking(self) -> Result<crate::blocking::ConfidentialClientApplication> {
        crate::blocking::ConfidentialClientApplication::new(self.build()?)
    }
}

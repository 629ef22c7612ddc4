//! The methods both application types have, written once: the accessors and
//! the user flows that work the same for a public client (no credential)
//! and a confidential one (its credential authenticates every request).
//! Each application provides `fn flow_credential(&self) -> Option<&ClientCredential>`.
//! Likewise the builders' common settings.

/// Expands, inside `impl App`, to the shared methods. The type provides
/// `core: Arc<AppCore>` and `flow_credential`.
macro_rules! shared_methods {
    () => {
        /// The client id.
        pub fn client_id(&self) -> &str {
            &self.core.client_id
        }

        /// The authority tokens are requested from.
        pub fn authority(&self) -> &crate::authority::Authority {
            self.core.authority()
        }

        /// The token cache this application reads and writes.
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
            crate::flows::auth_code::acquire(
                &self.core,
                self.flow_credential(),
                flow,
                auth_response,
                crate::telemetry::ApiId::AcquireTokenByAuthCode,
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
        pub async fn acquire_token_silent<I, S>(
            &self,
            scopes: I,
            account: &crate::Account,
        ) -> crate::Result<crate::AuthenticationResult>
        where
            I: IntoIterator<Item = S>,
            S: AsRef<str>,
        {
            self.acquire_token_silent_with(
                scopes,
                account,
                &crate::flows::silent::SilentOptions::default(),
            )
            .await
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
            crate::flows::silent::acquire(&self.core, self.flow_credential(), scopes, account, options).await
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
            crate::flows::refresh_token::acquire(&self.core, self.flow_credential(), refresh_token, scopes)
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
            crate::flows::username_password::acquire(
                &self.core,
                self.flow_credential(),
                username,
                &password,
                scopes,
                options,
            )
            .await
        }
    };
}

/// Expands, inside `impl AppBuilder`, to the settings both builders share.
/// The builder has `core: CoreBuilder`.
macro_rules! shared_builder_methods {
    () => {
        /// An Entra-style authority, `https://host/tenant`. Only `https` is accepted.
        pub fn authority(mut self, authority: &str) -> Self {
            self.core
                .authority(crate::authority::Authority::parse(authority));
            self
        }

        /// A generic OpenID Connect authority (its issuer URL).
        pub fn oidc_authority(mut self, issuer: &str) -> Self {
            self.core
                .authority(crate::authority::Authority::oidc(issuer));
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
        pub fn token_cache(mut self, cache: crate::cache::TokenCache) -> Self {
            self.core.token_cache(cache);
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
        /// by default each application has its own (see [`crate::throttle`]).
        pub fn http_cache(mut self, cache: crate::pipeline::HttpCache) -> Self {
            self.core.http_cache(cache);
            self
        }
    };
}

pub(super) use {shared_builder_methods, shared_methods};

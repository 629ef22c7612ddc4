//! What only confidential clients do ([`Confidential`] applications: web
//! apps, web APIs and daemons, which can keep a credential secret): app
//! tokens, on-behalf-of, user federated identity credentials, regions.

use crate::core::{AppCore, Partition};
use std::sync::Arc;

use crate::credential::ClientCredential;
use crate::error::{Error, Result};
use crate::flows::client_credentials::{self, ClientCredentialsOptions};
use crate::region::{AzureRegion, EnvLookup, RegionSettings};
use crate::result::AuthenticationResult;

use crate::flows::on_behalf_of::{self, OnBehalfOfOptions};
use crate::flows::user_fic::{self, TargetUser, UserFicOptions};
use crate::secret::{ClientSecret, FederatedCredential, UserAssertion};

use crate::core::CoreBuilder;

use super::{ClientApplication, ClientApplicationBuilder, Kind};

/// The confidential client kind: the application's credential (a secret,
/// a certificate or an assertion), which every request authenticates with.
#[derive(Clone, Debug)]
pub struct Confidential {
    pub(super) credential: Arc<ClientCredential>,
}

impl super::sealed::Sealed for Confidential {}

impl Kind for Confidential {
    type Settings = ConfidentialSettings;

    fn credential(&self) -> Option<&ClientCredential> {
        Some(&self.credential)
    }

    fn name() -> &'static str {
        "ConfidentialClientApplication"
    }
}

/// What a confidential client's builder collects: its credential and region.
#[derive(Default)]
pub struct ConfidentialSettings {
    credential: Option<ClientCredential>,
    /// `None`: unset, so `MSAL_FORCE_REGION` decides.
    azure_region: Option<AzureRegion>,
    region_environment: Option<EnvLookup>,
}

impl ClientApplication<Confidential> {
    /// Starts building an application with this client (application) id.
    pub fn builder(client_id: impl Into<String>) -> ClientApplicationBuilder<Confidential> {
        ClientApplicationBuilder::new(CoreBuilder::new(client_id))
    }

    /// A token for the application itself (client credentials grant), from
    /// the cache when a valid one is there, else from the identity provider.
    ///
    /// `scopes` are resource scopes ending in `/.default`, such as
    /// `https://graph.microsoft.com/.default`.
    pub fn acquire_token_for_client<I, S>(
        &self,
        scopes: I,
    ) -> impl Future<Output = Result<AuthenticationResult>> + use<'_, I, S>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        // Not an `async fn` of its own: a layer of future less to move a result through.
        self.acquire_token_for_client_with(scopes, &client_credentials::DEFAULT_OPTIONS)
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
        if self.core.is_direct(options.tenant.as_deref()) {
            return client_credentials::acquire(&self.core, &self.kind.credential, scopes, options).await;
        }
        let partition = |core: &AppCore| Partition::Known(Some(core.app_token_partition()));
        let call = self
            .core
            .in_tenant(options.tenant.as_deref(), partition, async |core| {
                client_credentials::acquire(core, &self.kind.credential, scopes, options).await
            });
        // Boxed: this future is large, and a direct call's should not carry it.
        Box::pin(call).await
    }
}

impl ClientApplication<Confidential> {
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
        let partition = |_: &AppCore| {
            Partition::Known(Some(crate::cache::assertion_hash(
                user_assertion.expose_secret().trim(),
            )))
        };
        self.core
            .in_tenant(options.tenant.as_deref(), partition, async |core| {
                on_behalf_of::acquire(core, &self.kind.credential, user_assertion, scopes, options).await
            })
            .await
    }

    /// Starts a long-running on-behalf-of process (MSAL .NET's
    /// `InitiateLongRunningProcessInWebApi`): a web API called with
    /// `user_assertion` gets a token for `scopes` now, and keeps the tokens
    /// (the refresh token included) under a session key, so a background
    /// job can go on with [`acquire_token_in_long_running_process`](Self::acquire_token_in_long_running_process)
    /// after the incoming token has expired. The key is `session_key` when
    /// given, else the incoming token's hash; it is returned with the
    /// token. Calling again with the same key and a new incoming token
    /// serves the session's cached tokens first.
    pub async fn initiate_long_running_process_in_web_api<I, S>(
        &self,
        user_assertion: &UserAssertion,
        scopes: I,
        session_key: Option<&str>,
    ) -> Result<(AuthenticationResult, String)>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let incoming = on_behalf_of::incoming_of(user_assertion)?;
        let session = on_behalf_of::Session::new(Some(incoming), session_key.map(str::to_owned));
        let key = session.key().to_owned();
        let partition = |_: &AppCore| Partition::Known(Some(key.clone()));
        let options = OnBehalfOfOptions::default();
        let result = self
            .core
            .in_tenant(None, partition, async |core| {
                on_behalf_of::acquire_in(core, &self.kind.credential, session, scopes, &options).await
            })
            .await?;
        Ok((result, key))
    }

    /// A token for a long-running process started with
    /// [`initiate_long_running_process_in_web_api`](Self::initiate_long_running_process_in_web_api)
    /// (MSAL .NET's `AcquireTokenInLongRunningProcess`), with no incoming
    /// token: the session's cached access token, else new tokens for its
    /// refresh token. Fails with
    /// [`Error::OnBehalfOfSessionNotFound`](crate::Error::OnBehalfOfSessionNotFound)
    /// when the cache holds nothing usable under `session_key`.
    pub async fn acquire_token_in_long_running_process<I, S>(
        &self,
        session_key: &str,
        scopes: I,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let session = on_behalf_of::Session::new(None, Some(session_key.to_owned()));
        let partition = |_: &AppCore| Partition::Known(Some(session_key.to_owned()));
        let options = OnBehalfOfOptions::default();
        self.core
            .in_tenant(None, partition, async |core| {
                on_behalf_of::acquire_in(core, &self.kind.credential, session, scopes, &options).await
            })
            .await
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
        self.core
            .with_hooks(
                |_| Partition::FromResult,
                async |core| {
                    user_fic::acquire(core, &self.kind.credential, scopes, credential, user, options).await
                },
            )
            .await
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

    /// A reqwest client presenting this application's certificate in every
    /// handshake (trusting `settings`' roots): what sends an mTLS PoP token
    /// ([`ClientCredentialsOptions::mtls_pop`]) to its resource. Fails unless
    /// the credential is a certificate with its chain and key.
    pub fn mtls_client(&self, settings: &crate::mtls::MtlsPop) -> Result<reqwest::Client> {
        match &*self.kind.credential {
            ClientCredential::Certificate(certificate) => settings.client(certificate),
            _ => Err(crate::mtls::no_certificate()),
        }
    }
}

impl ClientApplicationBuilder<Confidential> {
    /// Authenticates with a client secret.
    pub fn client_secret(mut self, secret: ClientSecret) -> Self {
        self.settings.credential = Some(ClientCredential::Secret(secret));
        self
    }

    /// Authenticates with any supported credential.
    pub fn client_credential(mut self, credential: impl Into<ClientCredential>) -> Self {
        self.settings.credential = Some(credential.into());
        self
    }

    /// Authenticates with a certificate: every request carries a client
    /// assertion signed with its private key.
    pub fn client_certificate(mut self, certificate: crate::credential::ClientCertificate) -> Self {
        self.settings.credential = Some(ClientCredential::Certificate(certificate));
        self
    }

    /// Authenticates with a client assertion the application supplies (a
    /// signed JWT, or a callback returning one).
    pub fn client_assertion(mut self, assertion: crate::credential::ClientAssertion) -> Self {
        self.settings.credential = Some(ClientCredential::Assertion(assertion));
        self
    }

    /// Sends client credentials requests
    /// ([`acquire_token_for_client`](ClientApplication::<Confidential>::acquire_token_for_client))
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
        self.settings.azure_region = Some(region);
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
        self.settings.region_environment = Some(Arc::new(lookup));
        self
    }

    /// Builds the application. Fails on an invalid authority, a missing
    /// credential or an invalid region name.
    pub fn build(mut self) -> Result<ClientApplication<Confidential>> {
        self.core.region(RegionSettings::validated(
            self.settings.azure_region.take(),
            self.settings.region_environment.take(),
        )?);
        let credential = self.settings.credential.ok_or_else(|| {
            Error::InvalidArgument("a confidential client needs a credential, such as a client secret".into())
        })?;
        Ok(ClientApplication {
            core: Arc::new(self.core.build()?),
            kind: Confidential {
                credential: Arc::new(credential),
            },
        })
    }
}

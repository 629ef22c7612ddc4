//! What only public clients do ([`Public`] applications: desktop, mobile
//! and command-line apps, which run on the user's device and cannot keep a
//! secret): interactive sign-in and the device code flow.

use crate::core::Partition;
use std::sync::Arc;

use crate::credential::ClientCredential;
use crate::error::Result;
use crate::flows::device_code::{self, DeviceFlow, DeviceFlowOptions, DeviceFlowPolling};
use crate::flows::interactive::{self, InteractiveOptions};
use crate::result::AuthenticationResult;

use crate::core::CoreBuilder;

use super::{ClientApplication, ClientApplicationBuilder, Kind};

/// The public client kind: no credential of its own.
#[derive(Clone, Copy, Debug, Default)]
pub struct Public;

impl super::sealed::Sealed for Public {}

impl Kind for Public {
    type Settings = ();

    fn credential(&self) -> Option<&ClientCredential> {
        None
    }

    fn name() -> &'static str {
        "PublicClientApplication"
    }
}

impl ClientApplication<Public> {
    /// Starts building an application with this client (application) id.
    pub fn builder(client_id: impl Into<String>) -> ClientApplicationBuilder<Public> {
        let mut core = CoreBuilder::new(client_id);
        core.public_client();
        ClientApplicationBuilder::new(core)
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
        self.core
            .in_tenant(
                options.tenant.as_deref(),
                |_| Partition::FromResult,
                async |core| interactive::acquire(core, scopes, options).await,
            )
            .await
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
        self.core
            .with_hooks(
                |_| Partition::FromResult,
                async |core| device_code::acquire(core, None, flow, polling).await,
            )
            .await
    }
}

impl ClientApplicationBuilder<Public> {
    /// Builds the application. Fails on an invalid authority or client id.
    pub fn build(self) -> Result<ClientApplication<Public>> {
        Ok(ClientApplication {
            core: Arc::new(self.core.build()?),
            kind: Public,
        })
    }
}

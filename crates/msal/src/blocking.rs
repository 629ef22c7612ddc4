//! A blocking facade for programs without an async runtime: the same
//! applications, driven by a private single-threaded tokio runtime.
//!
//! Do not call it from inside an async runtime; such calls return
//! [`Error::BlockingInAsyncContext`] instead of deadlocking.

use std::sync::Arc;

use tokio::runtime::Runtime;

use crate::account::Account;
use crate::cache::TokenCache;
use crate::error::{Error, Result};
use crate::flows::auth_code::{AuthCodeFlow, AuthCodeFlowOptions, AuthResponse};
use crate::flows::client_credentials::ClientCredentialsOptions;
use crate::flows::device_code::{DeviceFlow, DeviceFlowOptions, DeviceFlowPolling};
use crate::flows::interactive::InteractiveOptions;
use crate::flows::silent::SilentOptions;
use crate::flows::username_password::UsernamePasswordOptions;
use crate::result::AuthenticationResult;
use crate::secret::Password;

/// The user-flow methods both blocking applications share, each a thin
/// `block_on` over the async method of the same name on `$app`.
macro_rules! user_flow_methods {
    ($app:literal) => {
        #[doc = concat!("See [`", $app, "::initiate_auth_code_flow`].")]
        pub fn initiate_auth_code_flow<I, S>(
            &self,
            scopes: I,
            redirect_uri: &str,
            options: &AuthCodeFlowOptions,
        ) -> Result<AuthCodeFlow>
        where
            I: IntoIterator<Item = S>,
            S: AsRef<str>,
        {
            block_on(
                &self.runtime,
                self.inner
                    .initiate_auth_code_flow(scopes, redirect_uri, options),
            )?
        }

        #[doc = concat!("See [`", $app, "::acquire_token_by_auth_code_flow`].")]
        pub fn acquire_token_by_auth_code_flow(
            &self,
            flow: &AuthCodeFlow,
            auth_response: &AuthResponse,
        ) -> Result<AuthenticationResult> {
            block_on(
                &self.runtime,
                self.inner
                    .acquire_token_by_auth_code_flow(flow, auth_response),
            )?
        }

        #[doc = concat!("See [`", $app, "::acquire_token_silent`].")]
        pub fn acquire_token_silent<I, S>(&self, scopes: I, account: &Account) -> Result<AuthenticationResult>
        where
            I: IntoIterator<Item = S>,
            S: AsRef<str>,
        {
            self.acquire_token_silent_with(scopes, account, &SilentOptions::default())
        }

        #[doc = concat!("See [`", $app, "::acquire_token_silent_with`].")]
        pub fn acquire_token_silent_with<I, S>(
            &self,
            scopes: I,
            account: &Account,
            options: &SilentOptions,
        ) -> Result<AuthenticationResult>
        where
            I: IntoIterator<Item = S>,
            S: AsRef<str>,
        {
            block_on(
                &self.runtime,
                self.inner
                    .acquire_token_silent_with(scopes, account, options),
            )?
        }

        #[doc = concat!("See [`", $app, "::acquire_token_by_refresh_token`].")]
        pub fn acquire_token_by_refresh_token<I, S>(
            &self,
            refresh_token: &str,
            scopes: I,
        ) -> Result<AuthenticationResult>
        where
            I: IntoIterator<Item = S>,
            S: AsRef<str>,
        {
            block_on(
                &self.runtime,
                self.inner
                    .acquire_token_by_refresh_token(refresh_token, scopes),
            )?
        }

        #[doc = concat!("See [`", $app, "::get_accounts`].")]
        pub fn get_accounts(&self, username: Option<&str>) -> crate::Accounts {
            self.inner.get_accounts(username)
        }

        #[doc = concat!("See [`", $app, "::remove_account`].")]
        pub fn remove_account(&self, account: &Account) {
            self.inner.remove_account(account);
        }

        #[doc = concat!("See [`", $app, "::acquire_token_by_username_password`].")]
        pub fn acquire_token_by_username_password<I, S>(
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
        }

        #[doc = concat!("See [`", $app, "::acquire_token_by_username_password_with`].")]
        pub fn acquire_token_by_username_password_with<I, S>(
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
            block_on(
                &self.runtime,
                self.inner
                    .acquire_token_by_username_password_with(username, password, scopes, options),
            )?
        }
    };
}

/// The blocking form of [`crate::ConfidentialClientApplication`]. Build it
/// with [`crate::ConfidentialClientApplicationBuilder::build_blocking`].
#[derive(Clone, Debug)]
pub struct ConfidentialClientApplication {
    inner: crate::ConfidentialClientApplication,
    runtime: Arc<Runtime>,
}

impl ConfidentialClientApplication {
    /// Wraps an async application.
    pub fn new(inner: crate::ConfidentialClientApplication) -> Result<Self> {
        Ok(Self {
            inner,
            runtime: new_runtime()?,
        })
    }

    /// The async application behind this facade.
    pub fn as_async(&self) -> &crate::ConfidentialClientApplication {
        &self.inner
    }

    /// The token cache.
    pub fn token_cache(&self) -> &TokenCache {
        self.inner.token_cache()
    }

    /// See [`crate::ConfidentialClientApplication::acquire_token_for_client`].
    pub fn acquire_token_for_client<I, S>(&self, scopes: I) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.acquire_token_for_client_with(scopes, &ClientCredentialsOptions::default())
    }

    /// See [`crate::ConfidentialClientApplication::acquire_token_for_client_with`].
    pub fn acquire_token_for_client_with<I, S>(
        &self,
        scopes: I,
        options: &ClientCredentialsOptions,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        block_on(
            &self.runtime,
            self.inner.acquire_token_for_client_with(scopes, options),
        )?
    }

    user_flow_methods!("crate::ConfidentialClientApplication");
}

// The confidential client's web API and agent flows, in their own block so
// that each flow family's blocking wrappers stay together.
impl ConfidentialClientApplication {
    /// See [`crate::ConfidentialClientApplication::acquire_token_on_behalf_of`].
    pub fn acquire_token_on_behalf_of<I, S>(
        &self,
        user_assertion: &crate::UserAssertion,
        scopes: I,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.acquire_token_on_behalf_of_with(user_assertion, scopes, &Default::default())
    }

    /// See [`crate::ConfidentialClientApplication::acquire_token_on_behalf_of_with`].
    pub fn acquire_token_on_behalf_of_with<I, S>(
        &self,
        user_assertion: &crate::UserAssertion,
        scopes: I,
        options: &crate::OnBehalfOfOptions,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        block_on(
            &self.runtime,
            self.inner
                .acquire_token_on_behalf_of_with(user_assertion, scopes, options),
        )?
    }

    /// See [`crate::ConfidentialClientApplication::acquire_token_by_user_federated_identity_credential_with`].
    pub fn acquire_token_by_user_federated_identity_credential_with<I, S>(
        &self,
        scopes: I,
        credential: &crate::FederatedCredential,
        user: &crate::TargetUser,
        options: &crate::UserFicOptions,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        block_on(
            &self.runtime,
            self.inner
                .acquire_token_by_user_federated_identity_credential_with(scopes, credential, user, options),
        )?
    }

    /// See [`crate::ConfidentialClientApplication::remove_tokens_for_client`].
    pub fn remove_tokens_for_client(&self) -> usize {
        self.inner.remove_tokens_for_client()
    }
}

/// The blocking form of [`crate::PublicClientApplication`]. Build it with
/// [`crate::PublicClientApplicationBuilder::build_blocking`].
#[derive(Clone, Debug)]
pub struct PublicClientApplication {
    inner: crate::PublicClientApplication,
    runtime: Arc<Runtime>,
}

impl PublicClientApplication {
    /// Wraps an async application.
    pub fn new(inner: crate::PublicClientApplication) -> Result<Self> {
        Ok(Self {
            inner,
            runtime: new_runtime()?,
        })
    }

    /// The async application behind this facade.
    pub fn as_async(&self) -> &crate::PublicClientApplication {
        &self.inner
    }

    /// The token cache.
    pub fn token_cache(&self) -> &TokenCache {
        self.inner.token_cache()
    }

    /// See [`crate::PublicClientApplication::acquire_token_interactive`].
    pub fn acquire_token_interactive<I, S>(
        &self,
        scopes: I,
        options: &InteractiveOptions,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        block_on(
            &self.runtime,
            self.inner.acquire_token_interactive(scopes, options),
        )?
    }

    /// See [`crate::PublicClientApplication::initiate_device_flow`].
    pub fn initiate_device_flow<I, S>(&self, scopes: I) -> Result<DeviceFlow>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.initiate_device_flow_with(scopes, &DeviceFlowOptions::default())
    }

    /// See [`crate::PublicClientApplication::initiate_device_flow_with`].
    pub fn initiate_device_flow_with<I, S>(
        &self,
        scopes: I,
        options: &DeviceFlowOptions,
    ) -> Result<DeviceFlow>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        block_on(
            &self.runtime,
            self.inner.initiate_device_flow_with(scopes, options),
        )?
    }

    /// See [`crate::PublicClientApplication::acquire_token_by_device_flow`].
    /// Blocks until the user finishes, declines, or the code expires; to stop
    /// earlier (Ctrl-C), use
    /// [`acquire_token_by_device_flow_with`](Self::acquire_token_by_device_flow_with)
    /// with a [`CancellationHandle`](crate::CancellationHandle).
    pub fn acquire_token_by_device_flow(&self, flow: &DeviceFlow) -> Result<AuthenticationResult> {
        self.acquire_token_by_device_flow_with(flow, &DeviceFlowPolling::default())
    }

    /// See [`crate::PublicClientApplication::acquire_token_by_device_flow_with`].
    /// Call [`CancellationHandle::cancel`](crate::CancellationHandle::cancel)
    /// on a clone of `polling.cancellation` from another thread (a Ctrl-C
    /// handler) to return [`Error::Cancelled`] at once.
    pub fn acquire_token_by_device_flow_with(
        &self,
        flow: &DeviceFlow,
        polling: &DeviceFlowPolling,
    ) -> Result<AuthenticationResult> {
        block_on(
            &self.runtime,
            self.inner.acquire_token_by_device_flow_with(flow, polling),
        )?
    }

    user_flow_methods!("crate::PublicClientApplication");
}

fn new_runtime() -> Result<Arc<Runtime>> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(Arc::new)
        .map_err(|e| Error::InvalidArgument(format!("cannot start the blocking runtime: {e}")))
}

fn block_on<F: std::future::Future>(runtime: &Runtime, future: F) -> Result<F::Output> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::BlockingInAsyncContext);
    }
    Ok(runtime.block_on(future))
}

// The async builders' `build_blocking`, here rather than in `app`: the
// facade is derived from the applications, so `app` never names it.
impl crate::PublicClientApplicationBuilder {
    /// Builds the application behind the blocking facade.
    pub fn build_blocking(self) -> Result<PublicClientApplication> {
        PublicClientApplication::new(self.build()?)
    }
}

impl crate::ConfidentialClientApplicationBuilder {
    /// Builds the application behind the blocking facade.
    pub fn build_blocking(self) -> Result<ConfidentialClientApplication> {
        ConfidentialClientApplication::new(self.build()?)
    }
}

#[cfg(test)]
mod tests {
    use crate::flows::auth_code::AuthCodeFlowOptions;
    use crate::testing::{AUTHORITY, CLIENT_ID, FakeIdp, REDIRECT_URI};
    use crate::{Error, PublicClientApplication};

    #[test]
    fn public_client_works_blocking_and_refuses_inside_a_runtime() {
        let app = PublicClientApplication::builder(CLIENT_ID)
            .authority(AUTHORITY)
            .http_client(FakeIdp::new())
            .build_blocking()
            .unwrap();
        let flow = app
            .initiate_auth_code_flow(["User.Read"], REDIRECT_URI, &AuthCodeFlowOptions::default())
            .unwrap();
        assert!(flow.auth_uri().contains("code_challenge="));
        assert!(app.get_accounts(None).is_empty());
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let inside = runtime.block_on(async {
            app.initiate_auth_code_flow(["User.Read"], REDIRECT_URI, &AuthCodeFlowOptions::default())
        });
        assert!(matches!(inside, Err(Error::BlockingInAsyncContext)));
    }
}

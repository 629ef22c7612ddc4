//! A blocking facade for programs without an async runtime: the same
//! applications, driven by a private single-threaded tokio runtime.
//!
//! Do not call it from inside an async runtime; such calls return
//! [`Error::BlockingInAsyncContext`] instead of deadlocking.

use std::sync::Arc;

use tokio::runtime::Runtime;

use crate::cache::TokenCache;
use crate::error::{Error, Result};
use crate::flows::client_credentials::ClientCredentialsOptions;
use crate::result::AuthenticationResult;

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
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::InvalidArgument(format!("cannot start the blocking runtime: {e}")))?;
        Ok(Self {
            inner,
            runtime: Arc::new(runtime),
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
        self.block_on(self.inner.acquire_token_for_client_with(scopes, options))?
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> Result<F::Output> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::BlockingInAsyncContext);
        }
        Ok(self.runtime.block_on(future))
    }
}

//! A blocking facade for programs without an async runtime: the same
//! applications, driven by a private tokio runtime on a background thread,
//! as reqwest's blocking client is.
//!
//! Each application built with `build_blocking` (or wrapped with `new`)
//! starts one thread, `msal-blocking`, that owns a single-threaded runtime.
//! A call sends its work to that thread and waits for the answer; calls made
//! at the same time from several threads (on clones of one application) run
//! concurrently there. The thread stops when the application and all its
//! clones are dropped. Creating and dropping an application is fine
//! anywhere, inside an async runtime too.
//!
//! Do not call it from inside an async runtime: such calls return
//! [`Error::BlockingInAsyncContext`] instead of blocking a worker thread
//! (use the async applications there, or [`as_async`](PublicClientApplication::as_async)).
//! Methods that need no request (`client_id`, `get_accounts`, ...) work
//! everywhere.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::account::Account;
use crate::app::{Confidential, Kind, Public};
use crate::authority::Authority;
use crate::cache::TokenCache;
use crate::error::{Error, Result};
use crate::flows::auth_code::{AuthCodeFlow, AuthCodeFlowOptions, AuthResponse};
use crate::flows::client_credentials::ClientCredentialsOptions;
use crate::flows::device_code::{DeviceFlow, DeviceFlowOptions, DeviceFlowPolling};
use crate::flows::interactive::InteractiveOptions;
use crate::flows::managed_identity::ManagedIdentityOptions;
use crate::flows::silent::SilentOptions;
use crate::flows::username_password::UsernamePasswordOptions;
use crate::managed_identity::{ManagedIdentity, ManagedIdentitySource};
use crate::result::AuthenticationResult;
use crate::secret::Password;

/// One unit of work for the runtime thread.
type Job = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The name of the runtime threads, as shown by debuggers and `top -H`.
const THREAD_NAME: &str = "msal-blocking";

/// The background thread and its runtime, shared by an application's
/// clones; dropping the last one closes the queue and joins the thread.
struct Worker {
    /// The queue to the runtime thread; `None` once dropping.
    jobs: Option<UnboundedSender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("thread", &self.thread.as_ref().map(|t| t.thread().id()))
            .finish()
    }
}

impl Worker {
    /// Starts the runtime thread; returns once its runtime is built.
    fn start() -> Result<Arc<Worker>> {
        let (jobs, mut queue) = unbounded_channel::<Job>();
        let (ready, started) = std::sync::mpsc::sync_channel::<std::io::Result<()>>(1);
        let thread = std::thread::Builder::new()
            .name(THREAD_NAME.to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let _ = ready.send(Ok(()));
                runtime.block_on(async move {
                    // Each call is its own task, so concurrent callers do
                    // not wait for each other.
                    while let Some(job) = queue.recv().await {
                        tokio::spawn(job);
                    }
                });
                // The runtime is dropped here, on its own thread and outside
                // `block_on`, which tokio allows; leftover tasks (idle
                // connections) are cancelled.
            })
            .map_err(start_error)?;
        match started.recv() {
            Ok(Ok(())) => Ok(Arc::new(Worker {
                jobs: Some(jobs),
                thread: Some(thread),
            })),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(start_error(e))
            }
            Err(_) => {
                let _ = thread.join();
                Err(Error::InvalidArgument(
                    "the blocking runtime thread stopped while starting".into(),
                ))
            }
        }
    }

    /// Runs `future` on the runtime thread and waits for its output. Refuses
    /// to block inside an async runtime. A panic in `future` is resumed
    /// here, as if the call had run on this thread.
    fn run<F>(&self, future: F) -> Result<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::BlockingInAsyncContext);
        }
        let (done, outcome) = std::sync::mpsc::sync_channel(1);
        let job: Job = Box::pin(async move {
            // A task of its own, so a panic comes back as a `JoinError`.
            let _ = done.send(tokio::spawn(future).await);
        });
        let queued = self.jobs.as_ref().is_some_and(|jobs| jobs.send(job).is_ok());
        if !queued {
            return Err(stopped());
        }
        match outcome.recv() {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Ok(Err(_)) | Err(_) => Err(stopped()),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the queue ends the thread's loop, and the thread with it.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            // When the last clone is dropped by work running on the thread
            // itself (a callback holding it), the thread ends on its own.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

fn start_error(e: std::io::Error) -> Error {
    Error::InvalidArgument(format!("cannot start the blocking runtime: {e}"))
}

fn stopped() -> Error {
    Error::InvalidArgument("the blocking runtime thread has stopped".into())
}

/// `scopes` as owned strings, to send to the runtime thread.
fn owned_scopes<I, S>(scopes: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    scopes.into_iter().map(|s| s.as_ref().to_owned()).collect()
}

/// A blocking application of kind `K`: [`PublicClientApplication`] or
/// [`ConfidentialClientApplication`]. Clones share the application and its
/// runtime thread.
#[derive(Clone, Debug)]
pub struct ClientApplication<K: Kind> {
    inner: crate::ClientApplication<K>,
    worker: Arc<Worker>,
}

/// The blocking form of [`crate::PublicClientApplication`]. Build it with
/// [`crate::PublicClientApplicationBuilder::build_blocking`].
pub type PublicClientApplication = ClientApplication<Public>;

/// The blocking form of [`crate::ConfidentialClientApplication`]. Build it
/// with [`crate::ConfidentialClientApplicationBuilder::build_blocking`].
pub type ConfidentialClientApplication = ClientApplication<Confidential>;

/// What every kind has: the accessors, called directly, and the user
/// flows, each the async method of the same name run on the runtime thread
/// (the arguments are copied to it).
impl<K: Kind> ClientApplication<K> {
    /// Wraps an async application, starting its runtime thread.
    pub fn new(inner: crate::ClientApplication<K>) -> Result<Self> {
        Ok(Self {
            inner,
            worker: Worker::start()?,
        })
    }

    /// The async application behind this facade (for async code; it shares
    /// the cache and the discovered endpoints).
    pub fn as_async(&self) -> &crate::ClientApplication<K> {
        &self.inner
    }

    /// See [`crate::ClientApplication::client_id`].
    pub fn client_id(&self) -> &str {
        self.inner.client_id()
    }

    /// See [`crate::ClientApplication::authority`].
    pub fn authority(&self) -> &Authority {
        self.inner.authority()
    }

    /// See [`crate::ClientApplication::token_cache`].
    pub fn token_cache(&self) -> &TokenCache {
        self.inner.token_cache()
    }

    /// See [`crate::ClientApplication::initiate_auth_code_flow`].
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
        let (app, scopes) = (self.inner.clone(), owned_scopes(scopes));
        let (redirect_uri, options) = (redirect_uri.to_owned(), options.clone());
        self.worker
            .run(async move { app.initiate_auth_code_flow(scopes, &redirect_uri, &options).await })?
    }

    /// See [`crate::ClientApplication::acquire_token_by_auth_code_flow`].
    pub fn acquire_token_by_auth_code_flow(
        &self,
        flow: &AuthCodeFlow,
        auth_response: &AuthResponse,
    ) -> Result<AuthenticationResult> {
        let app = self.inner.clone();
        let (flow, auth_response) = (flow.clone(), auth_response.clone());
        self.worker
            .run(async move { app.acquire_token_by_auth_code_flow(&flow, &auth_response).await })?
    }

    /// See [`crate::ClientApplication::acquire_token_silent`].
    pub fn acquire_token_silent<I, S>(&self, scopes: I, account: &Account) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.acquire_token_silent_with(scopes, account, &SilentOptions::default())
    }

    /// See [`crate::ClientApplication::acquire_token_silent_with`].
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
        let (app, scopes) = (self.inner.clone(), owned_scopes(scopes));
        let (account, options) = (account.clone(), options.clone());
        self.worker
            .run(async move { app.acquire_token_silent_with(scopes, &account, &options).await })?
    }

    /// See [`crate::ClientApplication::acquire_token_by_refresh_token`].
    pub fn acquire_token_by_refresh_token<I, S>(
        &self,
        refresh_token: &str,
        scopes: I,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let (app, scopes) = (self.inner.clone(), owned_scopes(scopes));
        // The copy sent to the runtime thread is wiped after use.
        let refresh_token = zeroize::Zeroizing::new(refresh_token.to_owned());
        self.worker.run(async move {
            app.acquire_token_by_refresh_token(refresh_token.as_str(), scopes)
                .await
        })?
    }

    /// See [`crate::ClientApplication::get_accounts`].
    pub fn get_accounts(&self, username: Option<&str>) -> crate::Accounts {
        self.inner.get_accounts(username)
    }

    /// See [`crate::ClientApplication::remove_account`].
    pub fn remove_account(&self, account: &Account) {
        self.inner.remove_account(account);
    }

    /// See [`crate::ClientApplication::accounts`].
    pub fn accounts(&self, username: Option<&str>) -> Result<crate::Accounts> {
        let (app, username) = (self.inner.clone(), username.map(str::to_owned));
        self.worker
            .run(async move { app.accounts(username.as_deref()).await })?
    }

    /// See [`crate::ClientApplication::sign_out`].
    pub fn sign_out(&self, account: &Account) -> Result<()> {
        let (app, account) = (self.inner.clone(), account.clone());
        self.worker.run(async move { app.sign_out(&account).await })?
    }

    /// See [`crate::ClientApplication::acquire_token_by_username_password`].
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

    /// See [`crate::ClientApplication::acquire_token_by_username_password_with`].
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
        let (app, scopes) = (self.inner.clone(), owned_scopes(scopes));
        let (username, options) = (username.to_owned(), options.clone());
        self.worker.run(async move {
            app.acquire_token_by_username_password_with(&username, password, scopes, &options)
                .await
        })?
    }
}

impl ClientApplication<Confidential> {
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
        let (app, scopes, options) = (self.inner.clone(), owned_scopes(scopes), options.clone());
        self.worker
            .run(async move { app.acquire_token_for_client_with(scopes, &options).await })?
    }
}

// The confidential client's web API and agent flows, in their own block so
// that each flow family's blocking wrappers stay together.
impl ClientApplication<Confidential> {
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
        let (app, scopes) = (self.inner.clone(), owned_scopes(scopes));
        let (user_assertion, options) = (user_assertion.clone(), options.clone());
        self.worker.run(async move {
            app.acquire_token_on_behalf_of_with(&user_assertion, scopes, &options)
                .await
        })?
    }

    /// See [`crate::ConfidentialClientApplication::refresh_in_background`]:
    /// the refresh runs on this facade's runtime thread.
    pub fn refresh_in_background<I, S>(
        &self,
        scopes: I,
        options: &crate::ClientCredentialsOptions,
    ) -> Result<crate::BackgroundRefresh>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let (app, scopes, options) = (self.inner.clone(), owned_scopes(scopes), options.clone());
        self.worker
            .run(async move { app.refresh_in_background(scopes, &options).await })?
    }

    /// See [`crate::ConfidentialClientApplication::initiate_long_running_process_in_web_api`].
    pub fn initiate_long_running_process_in_web_api<I, S>(
        &self,
        user_assertion: &crate::UserAssertion,
        scopes: I,
        session_key: Option<&str>,
    ) -> Result<(AuthenticationResult, String)>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let (app, scopes) = (self.inner.clone(), owned_scopes(scopes));
        let (user_assertion, session_key) = (user_assertion.clone(), session_key.map(str::to_owned));
        self.worker.run(async move {
            app.initiate_long_running_process_in_web_api(&user_assertion, scopes, session_key.as_deref())
                .await
        })?
    }

    /// See [`crate::ConfidentialClientApplication::acquire_token_in_long_running_process`].
    pub fn acquire_token_in_long_running_process<I, S>(
        &self,
        session_key: &str,
        scopes: I,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let (app, scopes, session_key) = (self.inner.clone(), owned_scopes(scopes), session_key.to_owned());
        self.worker.run(async move {
            app.acquire_token_in_long_running_process(&session_key, scopes)
                .await
        })?
    }

    /// See [`crate::ConfidentialClientApplication::acquire_token_by_user_federated_identity_credential`].
    pub fn acquire_token_by_user_federated_identity_credential<I, S>(
        &self,
        scopes: I,
        credential: &crate::FederatedCredential,
        user: &crate::TargetUser,
    ) -> Result<AuthenticationResult>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.acquire_token_by_user_federated_identity_credential_with(
            scopes,
            credential,
            user,
            &crate::UserFicOptions::default(),
        )
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
        let (app, scopes) = (self.inner.clone(), owned_scopes(scopes));
        let (credential, user, options) = (credential.clone(), user.clone(), options.clone());
        self.worker.run(async move {
            app.acquire_token_by_user_federated_identity_credential_with(scopes, &credential, &user, &options)
                .await
        })?
    }

    /// See [`crate::ConfidentialClientApplication::remove_tokens_for_client`].
    pub fn remove_tokens_for_client(&self) -> usize {
        self.inner.remove_tokens_for_client()
    }

    /// See [`crate::ConfidentialClientApplication::mtls_client`] (an async
    /// reqwest client: the certificate and roots are what it adds).
    pub fn mtls_client(&self, settings: &crate::mtls::MtlsPop) -> Result<reqwest::Client> {
        self.inner.mtls_client(settings)
    }
}

impl ClientApplication<Public> {
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
        let (app, scopes, options) = (self.inner.clone(), owned_scopes(scopes), options.clone());
        self.worker
            .run(async move { app.acquire_token_interactive(scopes, &options).await })?
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
        let (app, scopes, options) = (self.inner.clone(), owned_scopes(scopes), options.clone());
        self.worker
            .run(async move { app.initiate_device_flow_with(scopes, &options).await })?
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
    /// handler) to return [`Error::Cancelled`] at once. `polling.on_poll`
    /// runs on the runtime thread.
    pub fn acquire_token_by_device_flow_with(
        &self,
        flow: &DeviceFlow,
        polling: &DeviceFlowPolling,
    ) -> Result<AuthenticationResult> {
        let (app, flow, polling) = (self.inner.clone(), flow.clone(), polling.clone());
        self.worker
            .run(async move { app.acquire_token_by_device_flow_with(&flow, &polling).await })?
    }
}

/// The blocking form of [`crate::ManagedIdentityClient`], on its own
/// runtime thread like the applications. Build it with
/// [`crate::ManagedIdentityClientBuilder::build_blocking`]; clones share
/// the client and the thread.
#[derive(Clone, Debug)]
pub struct ManagedIdentityClient {
    inner: crate::ManagedIdentityClient,
    worker: Arc<Worker>,
}

impl ManagedIdentityClient {
    /// Wraps an async client, starting its runtime thread.
    pub fn new(inner: crate::ManagedIdentityClient) -> Result<Self> {
        Ok(Self {
            inner,
            worker: Worker::start()?,
        })
    }

    /// The async client behind this facade (it shares the cache).
    pub fn as_async(&self) -> &crate::ManagedIdentityClient {
        &self.inner
    }

    /// See [`crate::ManagedIdentityClient::detect_source`].
    pub fn detect_source() -> ManagedIdentitySource {
        crate::ManagedIdentityClient::detect_source()
    }

    /// See [`crate::ManagedIdentityClient::source`].
    pub fn source(&self) -> ManagedIdentitySource {
        self.inner.source()
    }

    /// See [`crate::ManagedIdentityClient::identity`].
    pub fn identity(&self) -> &ManagedIdentity {
        self.inner.identity()
    }

    /// See [`crate::ManagedIdentityClient::token_cache`].
    pub fn token_cache(&self) -> &TokenCache {
        self.inner.token_cache()
    }

    /// See [`crate::ManagedIdentityClient::acquire_token_for_client`].
    pub fn acquire_token_for_client(&self, resource: &str) -> Result<AuthenticationResult> {
        self.acquire_token_for_client_with(resource, &ManagedIdentityOptions::default())
    }

    /// See [`crate::ManagedIdentityClient::acquire_token_for_client_with`].
    pub fn acquire_token_for_client_with(
        &self,
        resource: &str,
        options: &ManagedIdentityOptions,
    ) -> Result<AuthenticationResult> {
        let (client, resource, options) = (self.inner.clone(), resource.to_owned(), options.clone());
        self.worker
            .run(async move { client.acquire_token_for_client_with(&resource, &options).await })?
    }
}

/// Each async method next to its blocking twin, by path, so renaming or
/// removing either breaks the build (the test `every_async_method_has_a_blocking_twin`
/// finds async methods missing from this list and from the facade).
macro_rules! twins {
    ($ty:ident: $($method:ident $(::<$($generic:ty),+>)?),+ $(,)?) => {
        $(
            let _ = (
                crate::$ty::$method $(::<$($generic),+>)?,
                $ty::$method $(::<$($generic),+>)?,
            );
        )+
    };
}

const _: () = {
    twins!(PublicClientApplication:
        client_id,
        authority,
        token_cache,
        initiate_auth_code_flow::<Vec<String>, String>,
        acquire_token_by_auth_code_flow,
        acquire_token_silent::<Vec<String>, String>,
        acquire_token_silent_with::<Vec<String>, String>,
        acquire_token_by_refresh_token::<Vec<String>, String>,
        get_accounts,
        remove_account,
        accounts,
        sign_out,
        acquire_token_by_username_password::<Vec<String>, String>,
        acquire_token_by_username_password_with::<Vec<String>, String>,
        acquire_token_interactive::<Vec<String>, String>,
        initiate_device_flow::<Vec<String>, String>,
        initiate_device_flow_with::<Vec<String>, String>,
        acquire_token_by_device_flow,
        acquire_token_by_device_flow_with,
    );
    twins!(ConfidentialClientApplication:
        client_id,
        authority,
        token_cache,
        initiate_auth_code_flow::<Vec<String>, String>,
        acquire_token_by_auth_code_flow,
        acquire_token_silent::<Vec<String>, String>,
        acquire_token_silent_with::<Vec<String>, String>,
        acquire_token_by_refresh_token::<Vec<String>, String>,
        get_accounts,
        remove_account,
        accounts,
        sign_out,
        acquire_token_by_username_password::<Vec<String>, String>,
        acquire_token_by_username_password_with::<Vec<String>, String>,
        acquire_token_for_client::<Vec<String>, String>,
        acquire_token_for_client_with::<Vec<String>, String>,
        acquire_token_on_behalf_of::<Vec<String>, String>,
        acquire_token_on_behalf_of_with::<Vec<String>, String>,
        initiate_long_running_process_in_web_api::<Vec<String>, String>,
        refresh_in_background::<Vec<String>, String>,
        acquire_token_in_long_running_process::<Vec<String>, String>,
        acquire_token_by_user_federated_identity_credential::<Vec<String>, String>,
        acquire_token_by_user_federated_identity_credential_with::<Vec<String>, String>,
        remove_tokens_for_client,
        mtls_client,
    );
    twins!(ManagedIdentityClient:
        detect_source,
        source,
        identity,
        token_cache,
        acquire_token_for_client,
        acquire_token_for_client_with,
    );
};

// The async builders' `build_blocking`, here rather than in `app`: the
// facade is derived from the applications, so `app` never names it.
impl crate::PublicClientApplicationBuilder {
    /// Builds the application behind the blocking facade.
    pub fn build_blocking(self) -> Result<PublicClientApplication> {
        ClientApplication::new(self.build()?)
    }
}

impl crate::ConfidentialClientApplicationBuilder {
    /// Builds the application behind the blocking facade.
    pub fn build_blocking(self) -> Result<ConfidentialClientApplication> {
        ClientApplication::new(self.build()?)
    }
}

impl crate::ManagedIdentityClientBuilder {
    /// Builds the client behind the blocking facade.
    pub fn build_blocking(self) -> Result<ManagedIdentityClient> {
        ManagedIdentityClient::new(self.build()?)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use serde_json::json;

    use crate::flows::auth_code::AuthCodeFlowOptions;
    use crate::testing::{AUTHORITY, CLIENT_ID, FakeIdp, REDIRECT_URI};
    use crate::{ClientSecret, ConfidentialClientApplication, Error, PublicClientApplication};

    fn public_app() -> super::PublicClientApplication {
        PublicClientApplication::builder(CLIENT_ID)
            .authority(AUTHORITY)
            .http_client(FakeIdp::new())
            .build_blocking()
            .unwrap()
    }

    fn confidential_app(idp: &FakeIdp) -> super::ConfidentialClientApplication {
        ConfidentialClientApplication::builder(CLIENT_ID)
            .authority(AUTHORITY)
            .client_secret(ClientSecret::new("s3cret"))
            .http_client(idp.clone())
            .build_blocking()
            .unwrap()
    }

    #[test]
    fn public_client_works_blocking_and_refuses_inside_a_runtime() {
        let app = public_app();
        let flow = app
            .initiate_auth_code_flow(["User.Read"], REDIRECT_URI, &AuthCodeFlowOptions::default())
            .unwrap();
        assert!(flow.auth_uri().contains("code_challenge="));
        assert!(app.get_accounts(None).is_empty());
        assert_eq!(app.client_id(), CLIENT_ID);
        assert_eq!(app.authority(), app.as_async().authority());
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let inside = runtime.block_on(async {
            app.initiate_auth_code_flow(["User.Read"], REDIRECT_URI, &AuthCodeFlowOptions::default())
        });
        assert!(matches!(inside, Err(Error::BlockingInAsyncContext)));
    }

    #[tokio::test]
    async fn created_used_and_dropped_inside_a_current_thread_runtime_without_panic() {
        let app = public_app();
        let clone = app.clone();
        // Calls that need a request refuse to block this runtime's thread...
        let refused =
            app.initiate_auth_code_flow(["User.Read"], REDIRECT_URI, &AuthCodeFlowOptions::default());
        assert!(matches!(refused, Err(Error::BlockingInAsyncContext)));
        // ...those that need none work.
        assert_eq!(clone.client_id(), CLIENT_ID);
        assert!(clone.get_accounts(None).is_empty());
        drop(app);
        drop(clone);
        let idp = FakeIdp::new();
        drop(confidential_app(&idp));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn created_outside_and_dropped_inside_a_multi_thread_runtime_without_panic() {
        let app = std::thread::spawn(public_app).join().unwrap();
        let refused = app.initiate_device_flow(["User.Read"]);
        assert!(matches!(refused, Err(Error::BlockingInAsyncContext)));
        tokio::task::yield_now().await;
        drop(app);
    }

    #[test]
    fn clones_share_one_thread_which_ends_with_the_last_clone() {
        let idp = FakeIdp::new();
        let app = confidential_app(&idp);
        for _ in 0..2 {
            idp.respond(
                200,
                json!({"access_token": "at", "token_type": "Bearer", "expires_in": 3600}),
            );
        }
        // Concurrent calls from two threads, on clones, both answered.
        let calls: Vec<_> = ["https://a.example/.default", "https://b.example/.default"]
            .into_iter()
            .map(|scope| {
                let app = app.clone();
                std::thread::spawn(move || app.acquire_token_for_client([scope]))
            })
            .collect();
        for call in calls {
            assert_eq!(call.join().unwrap().unwrap().access_token.expose_secret(), "at");
        }
        assert!(std::sync::Arc::ptr_eq(&app.worker, &app.clone().worker));

        // A task parked on the runtime holds `alive` until the runtime is dropped.
        let (alive, ended) = std::sync::mpsc::channel::<()>();
        let parked: super::Job = Box::pin(async move {
            let _alive = alive;
            std::future::pending::<()>().await;
        });
        assert!(app.worker.jobs.as_ref().unwrap().send(parked).is_ok());
        let clone = app.clone();
        drop(app);
        assert_eq!(
            ended.recv_timeout(Duration::from_millis(50)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout),
            "a clone still holds the thread"
        );
        drop(clone);
        // Dropping the last clone joined the thread: the runtime is gone already.
        assert_eq!(ended.try_recv(), Err(std::sync::mpsc::TryRecvError::Disconnected));
    }

    #[test]
    fn a_panic_on_the_runtime_thread_reaches_the_caller_and_the_thread_goes_on() {
        let app = public_app();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            app.worker.run(async { panic!("boom in a flow") })
        }));
        let payload = caught.expect_err("the panic is resumed in the caller");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in a flow"));
        assert_eq!(app.worker.run(async { 7 }).unwrap(), 7);
    }

    /// Methods that are not operations of an application, so they have no
    /// blocking twin: `builder` (blocking applications come from the async
    /// builders' `build_blocking`, or `new`).
    const NOT_TWINNED: &[&str] = &["builder"];

    /// The application types whose methods the facade mirrors.
    const APP_TYPES: &[&str] = &[
        "PublicClientApplication",
        "ConfidentialClientApplication",
        "ManagedIdentityClient",
    ];

    /// Every `.rs` file under `dir`, recursively.
    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// What a top-level item line opens: the inherent `impl` of a type, a
    /// `macro_rules!`, or something else.
    #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
    enum Scope {
        Impl(String),
        Macro(String),
        Other,
    }

    fn scope_of(line: &str) -> Scope {
        let words: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == '{')
            .filter(|w| !w.is_empty())
            .collect();
        match words.as_slice() {
            ["macro_rules!", name, ..] => Scope::Macro(name.to_string()),
            [impl_, rest @ ..] if impl_.starts_with("impl") && !rest.contains(&"for") => {
                // `impl Type`, `impl<T> Type<T>` or `impl path::Type`: its last
                // segment. `ClientApplication<Public>` and
                // `ClientApplication<Confidential>` are the two application
                // types; `ClientApplication<K>` is what both share.
                let full = rest.last().copied().unwrap_or("");
                let full = full.rsplit("::").next().unwrap_or(full);
                let (ty, argument) = match full.split_once('<') {
                    Some((ty, argument)) => (ty, argument.trim_end_matches('>')),
                    None => (full, ""),
                };
                let name = match (ty, argument) {
                    ("ClientApplication", "Public") => "PublicClientApplication",
                    ("ClientApplication", "Confidential") => "ConfidentialClientApplication",
                    (ty, _) => ty,
                };
                Scope::Impl(name.to_owned())
            }
            _ => Scope::Other,
        }
    }

    /// The public methods (`pub fn`, `pub async fn`) of each `impl` in
    /// `files`, including those of the `macro_rules!` the impl invokes
    /// (and the macros those invoke). Relies on rustfmt layout: items at
    /// column 0, their bodies indented.
    fn public_methods(files: &[PathBuf]) -> BTreeMap<String, BTreeSet<String>> {
        let mut direct: BTreeMap<Scope, BTreeSet<String>> = BTreeMap::new();
        let mut invokes: BTreeMap<Scope, BTreeSet<String>> = BTreeMap::new();
        for file in files {
            let text = std::fs::read_to_string(file).unwrap();
            let mut scope = Scope::Other;
            for line in text.lines() {
                let starts_item = line
                    .chars()
                    .next()
                    .is_some_and(|c| !c.is_whitespace() && !matches!(c, '}' | ')' | ']' | '/' | '#'));
                if starts_item {
                    scope = scope_of(line);
                    continue;
                }
                if scope == Scope::Other {
                    continue;
                }
                let code = line.trim_start();
                let name_after = |prefix: &str| {
                    code.strip_prefix(prefix).map(|rest| {
                        rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                            .next()
                            .unwrap_or("")
                            .to_owned()
                    })
                };
                if let Some(name) = name_after("pub fn ").or_else(|| name_after("pub async fn ")) {
                    direct.entry(scope.clone()).or_default().insert(name);
                }
                for (at, _) in code.match_indices("!(") {
                    let before = &code[..at];
                    let name = before
                        .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or("");
                    if !name.is_empty() {
                        invokes.entry(scope.clone()).or_default().insert(name.to_owned());
                    }
                }
            }
        }
        fn expand(
            scope: &Scope,
            direct: &BTreeMap<Scope, BTreeSet<String>>,
            invokes: &BTreeMap<Scope, BTreeSet<String>>,
            seen: &mut BTreeSet<Scope>,
            out: &mut BTreeSet<String>,
        ) {
            if !seen.insert(scope.clone()) {
                return;
            }
            out.extend(direct.get(scope).into_iter().flatten().cloned());
            for name in invokes.get(scope).into_iter().flatten() {
                expand(&Scope::Macro(name.clone()), direct, invokes, seen, out);
            }
        }
        let mut methods: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for scope in direct.keys().chain(invokes.keys()) {
            if let Scope::Impl(ty) = scope {
                let mut out = BTreeSet::new();
                expand(scope, &direct, &invokes, &mut BTreeSet::new(), &mut out);
                methods.entry(ty.clone()).or_default().extend(out);
            }
        }
        // What `impl<K: Kind> ClientApplication<K>` has, both kinds have.
        let shared = methods.get("ClientApplication").cloned().unwrap_or_default();
        for ty in APP_TYPES {
            methods
                .entry((*ty).to_owned())
                .or_default()
                .extend(shared.iter().cloned());
        }
        methods
    }

    #[test]
    fn every_async_method_has_a_blocking_twin() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let is_blocking = |p: &PathBuf| {
            p.strip_prefix(&src)
                .is_ok_and(|rel| rel.starts_with("blocking") || rel.starts_with("blocking.rs"))
        };
        let (blocking_files, async_files): (Vec<PathBuf>, Vec<PathBuf>) =
            files.into_iter().partition(is_blocking);
        assert!(
            !blocking_files.is_empty(),
            "no blocking facade under {}",
            src.display()
        );
        let async_methods = public_methods(&async_files);
        let blocking_methods = public_methods(&blocking_files);

        let mut missing = Vec::new();
        for ty in APP_TYPES {
            let methods = async_methods
                .get(*ty)
                .unwrap_or_else(|| panic!("no `impl {ty}` found under {}", src.display()));
            // The scan sees the macro-generated methods too, or it is broken.
            for expected in ["client_id", "authority", "acquire_token_silent", "get_accounts"] {
                assert!(
                    methods.contains(expected),
                    "the scan missed {ty}::{expected}: {methods:?}"
                );
            }
            let twins = blocking_methods.get(*ty).cloned().unwrap_or_default();
            for method in methods {
                if !NOT_TWINNED.contains(&method.as_str()) && !twins.contains(method) {
                    missing.push(format!("{ty}::{method}"));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "async methods without a blocking twin in src/blocking.rs: {missing:?}"
        );
        assert!(async_methods["ConfidentialClientApplication"].contains("acquire_token_for_client"));
        assert!(async_methods["PublicClientApplication"].contains("acquire_token_interactive"));
    }
}

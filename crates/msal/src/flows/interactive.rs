//! Interactive sign-in: the authorization code flow with a browser and a
//! loopback redirect, as MSAL Python's `acquire_token_interactive` does it.
//!
//! The sequence is: bind a [`LoopbackListener`] on `127.0.0.1`, start an
//! authorization code flow whose redirect URI is `http://localhost:{port}`
//! with `response_mode=form_post` (the code never travels in a URL that
//! browser history or logs could keep), hand the authorization URI to the
//! browser, wait (bounded) for the redirect, then redeem the code.

use std::time::Duration;

use url::Url;

use crate::core::AppCore;
use crate::error::{Error, Result};
use crate::flows::auth_code::{self, AuthCodeFlowOptions, AuthResponse, Prompt, ResponseMode};
use crate::loopback::{BrowserLauncher, LoopbackListener, ResponsePages};
use crate::result::AuthenticationResult;
use crate::telemetry::ApiId;

/// How long [`InteractiveOptions`] waits for the user by default.
pub const DEFAULT_INTERACTIVE_TIMEOUT: Duration = Duration::from_secs(300);

/// Options of `acquire_token_interactive`, as MSAL Python names them.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct InteractiveOptions {
    /// `prompt`: force the sign-in form, consent, or an account picker.
    pub prompt: Option<Prompt>,
    /// `login_hint`: pre-fills the username.
    pub login_hint: Option<String>,
    /// `domain_hint`: skips home realm discovery (`organizations`, `consumers`, a domain).
    pub domain_hint: Option<String>,
    /// A claims challenge from a resource (conditional access, CAE).
    pub claims_challenge: Option<String>,
    /// `max_age` in seconds: how recently the user must have signed in.
    pub max_age: Option<u64>,
    /// Scopes of other APIs the user consents to now, to avoid a prompt later.
    pub extra_scopes_to_consent: Vec<String>,
    /// Loopback port to listen on; `0` (the default) picks any free port.
    pub port: u16,
    /// How long to wait for the user to finish signing in.
    pub timeout: Duration,
    /// Who opens the authorization URI: the system browser by default.
    pub browser: BrowserLauncher,
    /// The pages the browser shows when the redirect arrives.
    pub pages: ResponsePages,
    /// The tenant to ask instead of the application's own (a tenant id or
    /// domain): a multi-tenant application uses one object for many
    /// tenants, each tenant's tokens cached under its own realm. Entra ID
    /// and External ID authorities only.
    pub tenant: Option<String>,
}

impl Default for InteractiveOptions {
    fn default() -> Self {
        Self {
            prompt: None,
            login_hint: None,
            domain_hint: None,
            claims_challenge: None,
            max_age: None,
            extra_scopes_to_consent: Vec::new(),
            port: 0,
            timeout: DEFAULT_INTERACTIVE_TIMEOUT,
            browser: BrowserLauncher::System,
            pages: ResponsePages::default(),
            tenant: None,
        }
    }
}

impl InteractiveOptions {
    /// Sets [`tenant`](Self::tenant).
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets `prompt`.
    pub fn prompt(mut self, prompt: Prompt) -> Self {
        self.prompt = Some(prompt);
        self
    }

    /// Sets `login_hint`.
    pub fn login_hint(mut self, login_hint: impl Into<String>) -> Self {
        self.login_hint = Some(login_hint.into());
        self
    }

    /// Sets `domain_hint`.
    pub fn domain_hint(mut self, domain_hint: impl Into<String>) -> Self {
        self.domain_hint = Some(domain_hint.into());
        self
    }

    /// Passes a claims challenge.
    pub fn claims_challenge(mut self, claims: impl Into<String>) -> Self {
        self.claims_challenge = Some(claims.into());
        self
    }

    /// Sets `max_age` in seconds.
    pub fn max_age(mut self, seconds: u64) -> Self {
        self.max_age = Some(seconds);
        self
    }

    /// Adds scopes of other APIs to consent to now.
    pub fn extra_scopes_to_consent<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.extra_scopes_to_consent = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Listens on this loopback port (`0` = any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Gives up after this long with [`Error::InteractionTimeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Opens the authorization URI with this launcher instead of the system
    /// browser, e.g. [`BrowserLauncher::callback`] for headless use or tests.
    pub fn browser(mut self, browser: BrowserLauncher) -> Self {
        self.browser = browser;
        self
    }

    /// Shows these pages when the redirect arrives.
    pub fn pages(mut self, pages: ResponsePages) -> Self {
        self.pages = pages;
        self
    }

    fn auth_code_options(&self) -> AuthCodeFlowOptions {
        AuthCodeFlowOptions {
            prompt: self.prompt,
            login_hint: self.login_hint.clone(),
            domain_hint: self.domain_hint.clone(),
            claims_challenge: self.claims_challenge.clone(),
            max_age: self.max_age,
            response_mode: Some(ResponseMode::FormPost),
            extra_scopes_to_consent: self.extra_scopes_to_consent.clone(),
            ..AuthCodeFlowOptions::default()
        }
    }
}

/// Signs a user in through the browser and returns their tokens.
pub(crate) async fn acquire<I, S>(
    core: &AppCore,
    scopes: I,
    options: &InteractiveOptions,
) -> Result<AuthenticationResult>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    // Form posts only: a code arriving in a GET query is refused, as MSAL does.
    let listener = LoopbackListener::bind(options.port)
        .await?
        .require_form_post(true);
    let flow = auth_code::initiate(
        core,
        scopes,
        &listener.redirect_uri(),
        &options.auth_code_options(),
    )
    .await?;
    let auth_uri = Url::parse(flow.auth_uri())
        .map_err(|e| Error::InvalidArgument(format!("the authorization URI is not a URL: {e}")))?;
    launch(&options.browser, auth_uri).await?;
    tracing::debug!(port = listener.port(), "waiting for the sign-in redirect");
    let params = listener
        .wait_for_auth_response(flow.state(), options.timeout, &options.pages)
        .await?;
    auth_code::acquire(
        core,
        None,
        &flow,
        &AuthResponse::from(params),
        ApiId::AcquireTokenInteractive,
    )
    .await
}

/// Opening the system browser may block while it starts: keep that off the
/// async workers.
async fn launch(browser: &BrowserLauncher, uri: Url) -> Result<()> {
    let browser = browser.clone();
    tokio::task::spawn_blocking(move || browser.launch(&uri))
        .await
        .map_err(|e| Error::BrowserUnavailable {
            reason: format!("the browser launcher stopped: {e}"),
        })?
}

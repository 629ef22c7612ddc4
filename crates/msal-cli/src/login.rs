//! `msal login`: signs a user in through the browser (authorization code
//! flow with PKCE and a loopback redirect), a device code or a password,
//! and keeps the tokens and the account in the token cache; with a client
//! secret or certificate, signs the application itself in instead (see
//! [`crate::confidential`]).

use crate::output::outln;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use msal::{
    AuthenticationResult, BrowserLauncher, Error, InteractiveOptions, Password, Prompt,
    PublicClientApplication,
};

use crate::cache_file::CacheStore;
use crate::config::{CacheArgs, Settings};
use crate::credentials::CredentialArgs;
use crate::{cache_file, output, token};

/// The authority when none is given: any work or school or personal account.
pub(crate) const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com/common";

/// Arguments of `msal login`.
#[derive(Args)]
pub(crate) struct LoginArgs {
    /// Authority URL (https only): .../common, .../organizations, .../consumers or a tenant
    /// [env: MSAL_AUTHORITY, else AZURE_TENANT_ID on AZURE_AUTHORITY_HOST; config: authority;
    /// default: https://login.microsoftonline.com/common].
    #[arg(long)]
    pub authority: Option<String>,
    /// A generic OpenID Connect provider instead of Entra ID: its issuer URL
    /// (https only), whose configuration is at URL/.well-known/openid-configuration
    /// and must name that issuer (as MSAL Python's oidc_authority).
    #[arg(long, value_name = "URL", conflicts_with_all = ["authority", "no_instance_discovery"])]
    pub oidc_authority: Option<String>,
    /// The application (client) id of a public client app registration (or, with
    /// a credential, of the application signing in) [env: MSAL_CLIENT_ID, else
    /// AZURE_CLIENT_ID; config: client_id].
    #[arg(long)]
    pub client_id: Option<String>,
    /// A scope to ask for, e.g. User.Read (repeat for several). For a user, openid,
    /// profile and offline_access are always added.
    #[arg(long = "scope", required = true, num_args = 1)]
    pub scopes: Vec<String>,
    #[command(flatten)]
    pub cache_args: CacheArgs,
    /// Extra CA certificate (PEM) to trust, such as the emulator's [config: ca_cert].
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Skip instance discovery (for hosts that do not serve it) [config:
    /// instance_discovery = false].
    #[arg(long)]
    pub no_instance_discovery: bool,
    /// Pre-fill the username on the sign-in page.
    #[arg(long, conflicts_with_all = APP_CREDENTIALS)]
    pub login_hint: Option<String>,
    /// What the sign-in page must do even when the user has a session.
    #[arg(long, value_enum, conflicts_with_all = APP_CREDENTIALS)]
    pub prompt: Option<PromptArg>,
    /// Loopback port for the redirect (http://localhost:PORT); 0 picks a free one.
    #[arg(long, default_value_t = 0, conflicts_with_all = APP_CREDENTIALS)]
    pub port: u16,
    /// Seconds to wait for the user to finish signing in.
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: u64,
    /// Do not open a browser: print the sign-in URL on stderr and wait for the redirect.
    #[arg(long, conflicts_with_all = APP_CREDENTIALS)]
    pub no_browser: bool,
    /// Print the whole result as JSON, access token and account included.
    #[arg(long)]
    pub json: bool,
    /// Sign in on another device instead (device code flow): shows a code and a
    /// URL to open anywhere, then waits, with the time left, until the user has
    /// signed in there. Ctrl-C stops waiting.
    #[arg(long, conflicts_with_all = ["no_browser", "port", "prompt", "login_hint", "app", "client_secret_file", "certificate"])]
    pub device_code: bool,
    /// Sign in with this username and a password instead (resource owner
    /// password credentials; managed and federated users). The password comes
    /// from the MSAL_PASSWORD environment variable, else a prompt that does not
    /// echo; never from a flag. Prefer the browser or --device-code: this flow
    /// cannot do multi-factor authentication.
    #[arg(long, value_name = "USERNAME", conflicts_with_all = [
        "no_browser", "port", "prompt", "login_hint", "device_code", "app", "client_secret_file", "certificate"
    ])]
    pub username: Option<String>,
    /// Sign the application itself in (client credentials) with its secret
    /// (MSAL_CLIENT_SECRET, --client-secret-file or client_secret_file in
    /// the config file) or certificate, and cache its token for --scope
    /// (e.g. https://graph.microsoft.com/.default); `msal token --client-id
    /// ID --scope S` then needs nothing else. Implied by --client-secret-file
    /// and --certificate.
    #[arg(long)]
    pub app: bool,
    #[command(flatten)]
    pub credential: CredentialArgs,
}

/// The options that sign an application in, which the user sign-in options conflict with.
const APP_CREDENTIALS: [&str; 3] = ["app", "client_secret_file", "certificate"];

/// Where and as which application a user signs in, from the arguments and
/// the settings (see [`crate::config`]).
pub(crate) struct SignInTarget {
    pub authority: String,
    pub oidc: bool,
    pub client_id: String,
    pub ca_cert: Option<PathBuf>,
    pub no_instance_discovery: bool,
}

impl SignInTarget {
    fn resolve(args: &LoginArgs, settings: &Settings) -> Result<SignInTarget, Error> {
        let client_id = settings.client_id(args.client_id.as_deref()).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "no client id: pass --client-id (a public client app registration), set MSAL_CLIENT_ID or \
                 AZURE_CLIENT_ID, or set {}",
                settings.config_hint("client_id")
            ))
        })?;
        let (authority, oidc) = match &args.oidc_authority {
            Some(issuer) => (issuer.clone(), true),
            None => (
                settings
                    .authority(args.authority.as_deref())
                    .map_or_else(|| DEFAULT_AUTHORITY.to_owned(), |a| a.value),
                false,
            ),
        };
        Ok(SignInTarget {
            authority,
            oidc,
            client_id: client_id.value,
            ca_cert: settings.ca_cert(args.ca_cert.as_deref()),
            no_instance_discovery: settings.no_instance_discovery(args.no_instance_discovery),
        })
    }
}

/// Environment variable holding the password for `--username`.
pub(crate) const PASSWORD_ENV: &str = "MSAL_PASSWORD";

/// The `prompt` values a user can ask for.
#[derive(Clone, Copy, ValueEnum)]
pub enum PromptArg {
    /// Ask for credentials even when a session exists.
    Login,
    /// No interaction at all: fail if the user would have to act.
    None,
    /// Show the consent screen even when consent was given.
    Consent,
    /// Let the user pick an account, or add one.
    #[value(name = "select_account")]
    SelectAccount,
}

impl From<PromptArg> for Prompt {
    fn from(prompt: PromptArg) -> Self {
        match prompt {
            PromptArg::Login => Prompt::Login,
            PromptArg::None => Prompt::None,
            PromptArg::Consent => Prompt::Consent,
            PromptArg::SelectAccount => Prompt::SelectAccount,
        }
    }
}

pub(crate) async fn run(args: LoginArgs, store: cache_file::StoreChoice) -> Result<(), ExitCode> {
    let json = args.json;
    match login(args, store).await {
        Ok(()) => Ok(()),
        Err(e) => {
            let code = output::fail(&e, json);
            if matches!(e, Error::InteractionTimeout { .. }) && !json {
                eprintln!("hint: nobody finished signing in; a longer --timeout gives more time");
            }
            Err(code)
        }
    }
}

async fn login(args: LoginArgs, store: cache_file::StoreChoice) -> Result<(), Error> {
    let settings = Settings::load(args.cache_args.config.as_deref())?;
    let cache = store.target(&settings, args.cache_args.cache.as_deref());
    if args.app || args.credential.given() {
        let login = crate::confidential::AppLogin {
            client_id: args.client_id.as_deref(),
            authority: args.authority.as_deref(),
            oidc_authority: args.oidc_authority.as_deref(),
            ca_cert: args.ca_cert.as_deref(),
            no_instance_discovery: args.no_instance_discovery,
            scopes: &args.scopes,
            credential: &args.credential,
            json: args.json,
        };
        return crate::confidential::login(login, &settings, cache, DEFAULT_AUTHORITY).await;
    }
    let target = SignInTarget::resolve(&args, &settings)?;
    // Fails now, not after the user signed in, when the store cannot be
    // read or written (a file, its directory, an unreachable keyring or Redis).
    let store = cache.open().await?;
    store.read().await?;
    store.ensure_writable().await?;
    if args.device_code {
        return crate::device::login(&args, &target, store).await;
    }
    if let Some(username) = &args.username {
        return login_with_password(&args, &target, username, store).await;
    }
    // The sign-in writes into a cache of its own, merged into the store under its lock.
    let scratch = msal::TokenCache::new();
    let app = app(&target, &scratch)?;

    let mut options = InteractiveOptions::default()
        .port(args.port)
        .timeout(Duration::from_secs(args.timeout))
        .browser(launcher(args.no_browser));
    if let Some(hint) = &args.login_hint {
        options = options.login_hint(hint);
    }
    if let Some(prompt) = args.prompt {
        options = options.prompt(prompt.into());
    }
    let result = app.acquire_token_interactive(&args.scopes, &options).await?;
    finish(&args, &target, store, &scratch, &result).await
}

/// `--username`: the password from the environment or a no-echo prompt.
async fn login_with_password(
    args: &LoginArgs,
    target: &SignInTarget,
    username: &str,
    store: CacheStore,
) -> Result<(), Error> {
    let password = match std::env::var(PASSWORD_ENV) {
        Ok(password) if !password.is_empty() => password,
        _ => {
            let prompt = format!("Password for {username}: ");
            // The prompt reads the terminal, not stdin; it blocks, so keep it off the runtime.
            tokio::task::spawn_blocking(move || rpassword::prompt_password(prompt))
                .await
                .map_err(|e| Error::InvalidArgument(format!("the password prompt stopped: {e}")))?
                .map_err(|e| {
                    Error::InvalidArgument(format!(
                        "cannot read a password ({e}): set {PASSWORD_ENV} when there is no terminal"
                    ))
                })?
        }
    };
    let scratch = msal::TokenCache::new();
    let app = app(target, &scratch)?;
    let result = app
        .acquire_token_by_username_password(username, Password::new(password), &args.scopes)
        .await?;
    finish(args, target, store, &scratch, &result).await
}

/// After a sign-in: its tokens merged into the cache and how it signed in
/// remembered (both under the cache's lock), then who signed in reported.
pub(crate) async fn finish(
    args: &LoginArgs,
    target: &SignInTarget,
    store: CacheStore,
    scratch: &msal::TokenCache,
    result: &AuthenticationResult,
) -> Result<(), Error> {
    let sign_in = result.account.as_ref().map(|account| crate::remembered::SignIn {
        username: account.username.to_string(),
        authority: target.authority.clone(),
        oidc: target.oidc,
        client_id: target.client_id.clone(),
        ca_cert: target
            .ca_cert
            .as_ref()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
        no_instance_discovery: target.no_instance_discovery,
    });
    let (store, lock) = cache_file::merge_into(store, scratch).await?;
    if let Some(sign_in) = sign_in {
        store
            .update_remembered(|r| {
                r.remember(sign_in);
                true
            })
            .await;
    }
    drop(lock);
    report(result, args.json);
    Ok(())
}

/// Builds the public client app a user signs in with, over `cache`.
pub(crate) fn app(target: &SignInTarget, cache: &msal::TokenCache) -> Result<PublicClientApplication, Error> {
    let authority = if target.oidc {
        token::AuthorityArg::Oidc(&target.authority)
    } else {
        token::AuthorityArg::Entra(&target.authority)
    };
    authority
        .configure(PublicClientApplication::builder(&target.client_id))
        .instance_discovery(!target.no_instance_discovery)
        .token_cache(cache.clone())
        .http_client(token::http_client(target.ca_cert.as_deref())?)
        .build()
}

/// Prints who signed in (text) or the whole result (`--json`).
pub(crate) fn report(result: &AuthenticationResult, json: bool) {
    if json {
        outln!("{}", login_json(result));
    } else {
        let (username, home_account_id) = match &result.account {
            Some(account) => (account.username.as_str(), account.home_account_id.as_str()),
            None => (
                result
                    .id_token_claims
                    .as_ref()
                    .and_then(|c| c.preferred_username())
                    .unwrap_or_default(),
                "unknown",
            ),
        };
        outln!("Signed in as {username} (home account id {home_account_id})");
    }
}

/// Who opens the sign-in URL. Either way the URL is printed when no browser
/// opens it, so a headless machine (SSH, containers) can still sign in from
/// another device's browser as long as it can reach the loopback port.
fn launcher(no_browser: bool) -> BrowserLauncher {
    BrowserLauncher::callback(move |url| {
        let fallback = "No browser? `msal login --device-code` signs in from another device.";
        if no_browser {
            eprintln!("Open this URL in a browser to sign in:\n{url}\n{fallback}");
            return Ok(());
        }
        if let Some(why) = headless() {
            eprintln!(
                "Not opening a browser: {why}.\nOpen this URL in a browser to sign in:\n{url}\n{fallback}"
            );
            return Ok(());
        }
        match msal::open_browser(url) {
            Ok(()) => eprintln!(
                "Opened a browser to sign in; waiting for you to finish there.\n\
                 If it did not open, open this URL:\n{url}\n{fallback}"
            ),
            Err(e) => {
                eprintln!(
                    "Could not open a browser ({e}).\nOpen this URL in a browser to sign in:\n{url}\n{fallback}"
                )
            }
        }
        Ok(())
    })
}

/// Why no browser can be shown here, if that is plain from the
/// environment: on Linux and the BSDs, no graphical session (`DISPLAY`,
/// `WAYLAND_DISPLAY`) and no `BROWSER` to try.
fn headless() -> Option<&'static str> {
    if !cfg!(unix) || cfg!(target_os = "macos") {
        return None;
    }
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("DISPLAY") || set("WAYLAND_DISPLAY") || set("BROWSER") {
        return None;
    }
    Some("there is no graphical session (DISPLAY and WAYLAND_DISPLAY are unset)")
}

/// The result as `msal token --json` prints it, plus the account and the ID
/// token's claims (personal data, not credentials; the ID token itself is left out).
fn login_json(result: &AuthenticationResult) -> serde_json::Value {
    let mut json = output::result_json(result);
    json["account"] = result
        .account
        .as_ref()
        .map(output::account_json)
        .unwrap_or_default();
    json["id_token_claims"] = result
        .id_token_claims
        .as_ref()
        .map(|c| serde_json::Value::Object(c.as_map().clone()))
        .unwrap_or_default();
    json
}

//! `msal token`: an application token through the client credentials flow,
//! or on behalf of a user (see [`crate::confidential`]); with `--account`,
//! a user's token through the silent path (cache, else the refresh token);
//! with `--managed-identity`, the managed identity's token from the Azure
//! host this runs on (see [`crate::managed_identity`]). Every one of them
//! from the cache when it holds a valid token, and `--claims` for a
//! resource's claims challenge.

use crate::output::outln;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use msal::{
    ClientApplicationBuilder, Error, Kind, PublicClientApplication, ReqwestHttpClient, SilentOptions,
};

use crate::cache_file::{CacheTarget, StoreChoice};
use crate::config::{CacheArgs, Settings};
use crate::credentials::CredentialArgs;
use crate::output;

/// Arguments of `msal token`.
#[derive(Args)]
pub(crate) struct TokenArgs {
    /// Authority URL, e.g. https://login.microsoftonline.com/contoso.onmicrosoft.com
    /// (https only) [env: MSAL_AUTHORITY, else AZURE_TENANT_ID on
    /// AZURE_AUTHORITY_HOST; config: authority; else the one `msal login`
    /// used for the account or application].
    #[arg(long)]
    pub authority: Option<String>,
    /// A generic OpenID Connect provider instead of Entra ID: its issuer URL
    /// (https only), whose configuration is at URL/.well-known/openid-configuration
    /// and must name that issuer (as MSAL Python's oidc_authority).
    #[arg(long, value_name = "URL", conflicts_with_all = ["authority", "no_instance_discovery"])]
    pub oidc_authority: Option<String>,
    /// The application (client) id; with --managed-identity, the client id
    /// of a user-assigned identity [env: MSAL_CLIENT_ID, else AZURE_CLIENT_ID;
    /// config: client_id; with --account, else the one `msal login` used].
    #[arg(long)]
    pub client_id: Option<String>,
    /// A scope to ask for, e.g. https://graph.microsoft.com/.default (repeat for several).
    #[arg(long = "scope", required_unless_present_any = ["managed_identity", "ssh_cert"], num_args = 1)]
    pub scopes: Vec<String>,
    /// The managed identity's token, from the Azure host this runs on
    /// (IMDS, App Service, Azure ML, Service Fabric, Azure Arc, Cloud Shell,
    /// detected from the environment); the system-assigned identity unless
    /// --client-id, --resource-id or --object-id names a user-assigned one.
    #[arg(long, conflicts_with_all = [
        "authority", "oidc_authority", "account", "client_secret_file", "certificate",
        "no_instance_discovery", "scopes", "on_behalf_of", "tenant"
    ])]
    pub managed_identity: bool,
    /// With --managed-identity: the resource to get a token for, e.g. https://vault.azure.net.
    #[arg(long, requires = "managed_identity")]
    pub resource: Option<String>,
    /// With --managed-identity: a user-assigned identity by its Azure resource id.
    #[arg(long, requires = "managed_identity", conflicts_with_all = ["client_id", "object_id"])]
    pub resource_id: Option<String>,
    /// With --managed-identity: a user-assigned identity by its object (principal) id.
    #[arg(long, requires = "managed_identity", conflicts_with = "client_id")]
    pub object_id: Option<String>,
    /// With --managed-identity: print which host was detected, and get no token.
    #[arg(long, requires = "managed_identity")]
    pub show_source: bool,
    #[command(flatten)]
    pub cache_args: CacheArgs,
    /// Extra CA certificate (PEM) to trust, such as the emulator's [config: ca_cert].
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    #[command(flatten)]
    pub credential: CredentialArgs,
    /// Print the whole result as JSON instead of only the token.
    #[arg(long)]
    pub json: bool,
    /// Ask the identity provider even when the cache holds a valid token.
    #[arg(long)]
    pub force_refresh: bool,
    /// Skip instance discovery (for hosts that do not serve it) [config:
    /// instance_discovery = false].
    #[arg(long)]
    pub no_instance_discovery: bool,
    /// The trusted instance discovery endpoint (an https URL) that vouches
    /// for authority hosts that are not Microsoft clouds, for a private cloud
    /// [config: instance_discovery_endpoint].
    #[arg(
        long,
        value_name = "URL",
        env = "MSAL_INSTANCE_DISCOVERY_ENDPOINT",
        conflicts_with = "no_instance_discovery"
    )]
    pub instance_discovery_endpoint: Option<String>,
    /// Ask this tenant (an id or domain) instead of the authority's own: one
    /// multi-tenant app registration serving many tenants, each tenant's
    /// tokens cached under its own realm [env: MSAL_TENANT; config: tenant].
    #[arg(long, conflicts_with = "oidc_authority")]
    pub tenant: Option<String>,
    /// A signed-in user's token instead of the app's: the account's username, as
    /// `msal accounts` lists it. Served from the cache, else refreshed with the
    /// cached refresh token; no secret needed.
    #[arg(long, value_name = "USERNAME")]
    pub account: Option<String>,
    /// A middle tier's token for a downstream API on behalf of the user
    /// who called it (the on-behalf-of flow): the incoming token from
    /// --assertion-file, the middle tier's --client-id and its secret or
    /// certificate. Cached per incoming token.
    #[arg(long, requires = "assertion_file", conflicts_with = "account")]
    pub on_behalf_of: bool,
    /// With --on-behalf-of: the file holding the incoming token (the access
    /// token the middle tier was called with), or - for standard input.
    /// Never a flag value: it is a credential.
    #[arg(long, value_name = "FILE", requires = "on_behalf_of")]
    pub assertion_file: Option<PathBuf>,
    /// A claims challenge (the JSON, or its base64 as a WWW-Authenticate
    /// header carries it) from a resource that refused a token: skips the
    /// cache and asks for a token that satisfies it. With --account,
    /// --on-behalf-of or --managed-identity.
    #[arg(long, value_name = "JSON")]
    pub claims: Option<String>,
    /// With --account: an SSH certificate for the key of --public-key
    /// instead of a token (scope https://pas.windows.net/CheckMyAccess/Linux/.default
    /// unless --scope says otherwise), cached per key; written to
    /// KEY-cert.pub beside the key, or --out.
    #[arg(long, requires_all = ["account", "public_key"])]
    pub ssh_cert: bool,
    /// With --ssh-cert: the user's OpenSSH public key file (ssh-rsa or ssh-ed25519).
    #[arg(long, value_name = "FILE", requires = "ssh_cert")]
    pub public_key: Option<PathBuf>,
    /// With --ssh-cert: where to write the certificate (default: KEY-cert.pub).
    #[arg(long, value_name = "FILE", requires = "ssh_cert")]
    pub out: Option<PathBuf>,
    /// An application's signed-request proof-of-possession token for one
    /// request: a new key is made, a PoP token bound to it obtained, and a
    /// ready `Authorization` header value (`PoP <signed request>`) for
    /// --method and --url printed. The key lives only in this process, so
    /// each run asks for a new token.
    #[arg(long, requires = "url", conflicts_with_all = ["managed_identity", "account", "on_behalf_of"])]
    pub pop: bool,
    /// With --pop: the HTTP method of the request to sign.
    #[arg(long, default_value = "GET", requires = "pop")]
    pub method: String,
    /// With --pop: the absolute URL of the request to sign.
    #[arg(long, value_name = "URL", requires = "pop")]
    pub url: Option<String>,
}

pub(crate) async fn run(args: TokenArgs, store: StoreChoice) -> Result<(), ExitCode> {
    let json = args.json;
    acquire(args, store).await.map_err(|e| output::fail(&e, json))
}

async fn acquire(args: TokenArgs, store: StoreChoice) -> Result<(), Error> {
    let claims = claims_challenge(args.claims.as_deref())?;
    let settings = Settings::load(args.cache_args.config.as_deref())?;
    let target = store.target(&settings, args.cache_args.cache.as_deref());
    if args.managed_identity {
        return crate::managed_identity::acquire(&args, target, claims).await;
    }
    if let Some(username) = &args.account {
        return acquire_for_user(&args, username, &settings, target, claims).await;
    }
    crate::confidential::acquire(&args, &settings, target, claims).await
}

/// `--claims`: a JSON object, given as is or base64-encoded (as in a
/// `WWW-Authenticate` header's `claims`); refused naming what was typed.
fn claims_challenge(claims: Option<&str>) -> Result<Option<String>, Error> {
    let Some(given) = claims.map(str::trim) else {
        return Ok(None);
    };
    let object = |text: &str| {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .filter(serde_json::Value::is_object)
            .is_some()
    };
    if object(given) {
        return Ok(Some(given.to_owned()));
    }
    use base64::Engine as _;
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
    ];
    for engine in engines {
        if let Some(text) = engine
            .decode(given.trim_end_matches('='))
            .or_else(|_| engine.decode(given))
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .filter(|text| object(text))
        {
            return Ok(Some(text));
        }
    }
    Err(Error::InvalidArgument(format!(
        "--claims {given:?} is not a JSON object (nor its base64): pass the claims challenge the resource \
         sent, e.g. --claims '{{\"access_token\":{{\"nbf\":{{\"essential\":true,\"value\":\"1700000000\"}}}}}}'"
    )))
}

/// The token alone, or the whole result as JSON.
pub(crate) fn print_result(result: &msal::AuthenticationResult, json: bool) {
    if json {
        outln!("{}", output::result_json(result));
    } else {
        outln!("{}", result.access_token.expose_secret());
    }
}

/// The authority a command names: Entra-style (`--authority`) or a generic
/// OpenID Connect provider (`--oidc-authority`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum AuthorityArg<'a> {
    /// `https://host/tenant`.
    Entra(&'a str),
    /// An OpenID provider's issuer URL.
    Oidc(&'a str),
}

impl AuthorityArg<'_> {
    /// `builder` with this authority.
    pub(crate) fn configure<K: Kind>(
        self,
        builder: ClientApplicationBuilder<K>,
    ) -> ClientApplicationBuilder<K> {
        match self {
            AuthorityArg::Entra(url) => builder.authority(url),
            AuthorityArg::Oidc(url) => builder.oidc_authority(url),
        }
    }
}

/// Instance discovery as the command line says: off, or through a trusted
/// endpoint of the user's choice (else the library's default).
pub(crate) fn discovery<K: Kind>(
    builder: ClientApplicationBuilder<K>,
    off: bool,
    endpoint: Option<&str>,
) -> ClientApplicationBuilder<K> {
    let builder = builder.instance_discovery(!off);
    match endpoint {
        Some(endpoint) => builder.instance_discovery_endpoint(endpoint),
        None => builder,
    }
}

/// A user's token through the silent path, from the shared cache; what
/// the command line leaves out comes from the environment, the config
/// file, then how `msal login` signed the user in.
async fn acquire_for_user(
    args: &TokenArgs,
    username: &str,
    settings: &Settings,
    target: CacheTarget,
    claims: Option<String>,
) -> Result<(), Error> {
    let store = target.open().await?;
    let remembered = store.remembered().await?.account(username).cloned();
    let location = store.location();
    let missing = |what: &str, flag: &str, key: &str| {
        Error::InvalidArgument(format!(
            "no {what} for {username}: pass {flag}, set it in the environment or as {}, \
             or sign {username} in with `msal login` (using the cache {location})",
            settings.config_hint(key)
        ))
    };
    let (authority, oidc) = match (
        &args.oidc_authority,
        settings.authority(args.authority.as_deref()),
        &remembered,
    ) {
        (Some(issuer), _, _) => (issuer.clone(), true),
        (None, Some(setting), _) => (setting.value, false),
        (None, None, Some(r)) => (r.authority.clone(), r.oidc),
        (None, None, None) => return Err(missing("authority", "--authority", "authority")),
    };
    let client_id = match (settings.client_id(args.client_id.as_deref()), &remembered) {
        (Some(setting), _) => setting.value,
        (None, Some(r)) => r.client_id.clone(),
        (None, None) => return Err(missing("client id", "--client-id", "client_id")),
    };
    let authority = if oidc {
        AuthorityArg::Oidc(&authority)
    } else {
        AuthorityArg::Entra(&authority)
    };
    let ca_cert = settings
        .ca_cert(args.ca_cert.as_deref())
        .or_else(|| remembered.as_ref().and_then(|r| r.ca_cert.clone()));
    let no_instance_discovery = settings.no_instance_discovery(args.no_instance_discovery)
        || remembered.as_ref().is_some_and(|r| r.no_instance_discovery);
    // Under the cache's lock: a refresh rotates the refresh token, which a
    // concurrent command must not overwrite with the old one.
    let locked = store.lock().await?;
    let cache = locked.cache.clone();
    let builder = authority.configure(PublicClientApplication::builder(client_id));
    let app = discovery(
        builder,
        no_instance_discovery,
        settings
            .instance_discovery_endpoint(args.instance_discovery_endpoint.as_deref())
            .as_deref(),
    )
    .token_cache(cache.clone())
    .http_client(http_client(ca_cert.as_deref())?)
    .build()?;
    let account = app
        .get_accounts(Some(username))
        .into_iter()
        .next()
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "no account '{username}' in the token cache ({location}) (`msal login` signs one in)",
            ))
        })?;
    let mut options = SilentOptions::default().force_refresh(args.force_refresh);
    if let Some(tenant) = settings.tenant(args.tenant.as_deref()) {
        options = options.tenant(tenant.value);
    }
    if let Some(claims) = claims {
        options = options.claims_challenge(claims);
    }
    // --ssh-cert: see crate::ssh_cert.
    let ssh_key = args.public_key.as_deref().filter(|_| args.ssh_cert);
    let mut scopes = args.scopes.clone();
    if let Some(key) = ssh_key {
        options = options.ssh_cert(crate::ssh_cert::request(key)?);
        scopes = crate::ssh_cert::scopes(&scopes);
    }
    let result = app.acquire_token_silent_with(&scopes, &account, &options).await?;
    locked.save_if_changed().await?;
    if let Some(key) = ssh_key {
        let path = crate::ssh_cert::certificate_path(key, args.out.as_deref());
        crate::ssh_cert::write(&result, &path)?;
        if !args.json {
            outln!("{}", path.display());
            return Ok(());
        }
    }
    print_result(&result, args.json);
    Ok(())
}

/// The default transport, trusting `ca_cert` in addition to the system roots.
pub(crate) fn http_client(ca_cert: Option<&Path>) -> Result<ReqwestHttpClient, Error> {
    let mut builder = ReqwestHttpClient::builder();
    if let Some(path) = ca_cert {
        let pem = std::fs::read(path).map_err(|e| {
            Error::InvalidArgument(format!("cannot read CA certificate {}: {e}", path.display()))
        })?;
        builder = builder.add_root_certificates_pem(&pem)?;
    }
    builder.build()
}

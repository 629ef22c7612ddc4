//! `msal token`: an application token through the client credentials flow,
//! from the cache file when it holds a valid one; with `--account`, a user's
//! token through the silent path (cache, else the refresh token); with
//! `--managed-identity`, the managed identity's token from the Azure host
//! this runs on (see [`crate::managed_identity`]).

use crate::output::outln;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use msal::{
    ClientApplicationBuilder, ClientCredentialsOptions, ClientSecret, ConfidentialClientApplication, Error,
    Kind, PublicClientApplication, ReqwestHttpClient, SilentOptions, TokenCache,
};

use crate::cache_file::StoreChoice;
use crate::{cache_file, output};

/// Environment variable holding the client secret.
pub(crate) const SECRET_ENV: &str = "MSAL_CLIENT_SECRET";

/// Arguments of `msal token`.
#[derive(Args)]
pub(crate) struct TokenArgs {
    /// Authority URL, e.g. https://login.microsoftonline.com/contoso.onmicrosoft.com
    /// (https only). With --account, defaults to the one `msal login` used.
    #[arg(long, required_unless_present_any = ["managed_identity", "account", "oidc_authority"])]
    pub authority: Option<String>,
    /// A generic OpenID Connect provider instead of Entra ID: its issuer URL
    /// (https only), whose configuration is at URL/.well-known/openid-configuration
    /// and must name that issuer (as MSAL Python's oidc_authority).
    #[arg(long, value_name = "URL", conflicts_with_all = ["authority", "no_instance_discovery"])]
    pub oidc_authority: Option<String>,
    /// The application (client) id; with --managed-identity, the client id
    /// of a user-assigned identity. With --account, defaults to the one
    /// `msal login` used.
    #[arg(long, required_unless_present_any = ["managed_identity", "account"])]
    pub client_id: Option<String>,
    /// A scope to ask for, e.g. https://graph.microsoft.com/.default (repeat for several).
    #[arg(long = "scope", required_unless_present = "managed_identity", num_args = 1)]
    pub scopes: Vec<String>,
    /// The managed identity's token, from the Azure host this runs on
    /// (IMDS, App Service, Azure ML, Service Fabric, Azure Arc, Cloud Shell,
    /// detected from the environment); the system-assigned identity unless
    /// --client-id, --resource-id or --object-id names a user-assigned one.
    #[arg(long, conflicts_with_all = ["authority", "oidc_authority", "account", "client_secret_file", "no_instance_discovery", "scopes"])]
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
    /// Token cache file in the unified MSAL format (shared with MSAL Python and others).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Extra CA certificate (PEM) to trust, such as the emulator's.
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// File holding the client secret (instead of the MSAL_CLIENT_SECRET environment variable).
    #[arg(long)]
    pub client_secret_file: Option<PathBuf>,
    /// Print the whole result as JSON instead of only the token.
    #[arg(long)]
    pub json: bool,
    /// Ask the identity provider even when the cache holds a valid token.
    #[arg(long)]
    pub force_refresh: bool,
    /// Skip instance discovery (for hosts that do not serve it).
    #[arg(long)]
    pub no_instance_discovery: bool,
    /// The trusted instance discovery endpoint (an https URL) that vouches
    /// for authority hosts that are not Microsoft clouds, for a private cloud.
    #[arg(
        long,
        value_name = "URL",
        env = "MSAL_INSTANCE_DISCOVERY_ENDPOINT",
        conflicts_with = "no_instance_discovery"
    )]
    pub instance_discovery_endpoint: Option<String>,
    /// Ask this tenant (an id or domain) instead of the authority's own: one
    /// multi-tenant app registration serving many tenants, each tenant's
    /// tokens cached under its own realm.
    #[arg(long, conflicts_with_all = ["managed_identity", "oidc_authority"])]
    pub tenant: Option<String>,
    /// A signed-in user's token instead of the app's: the account's username, as
    /// `msal accounts` lists it. Served from the cache, else refreshed with the
    /// cached refresh token; no secret needed. The cache defaults to the one
    /// `msal login` uses.
    #[arg(long, value_name = "USERNAME")]
    pub account: Option<String>,
}

pub(crate) async fn run(args: TokenArgs, store: StoreChoice) -> Result<(), ExitCode> {
    let json = args.json;
    acquire(args, store).await.map_err(|e| output::fail(&e, json))
}

async fn acquire(args: TokenArgs, store: StoreChoice) -> Result<(), Error> {
    if args.managed_identity {
        return crate::managed_identity::acquire(&args, store).await;
    }
    if let Some(username) = &args.account {
        return acquire_for_user(&args, username, store).await;
    }
    let (authority, client_id) = app_identity(&args)?;
    let secret = read_secret(args.client_secret_file.as_deref())?;
    let locked = match &args.cache {
        Some(path) => Some(cache_file::LockedCache::open(store, Some(path)).await?),
        None => None,
    };
    let cache = locked.as_ref().map_or_else(TokenCache::new, |l| l.cache.clone());
    let builder = authority.configure(ConfidentialClientApplication::builder(client_id));
    let app = discovery(
        builder,
        args.no_instance_discovery,
        args.instance_discovery_endpoint.as_deref(),
    )
    .client_secret(secret)
    .token_cache(cache.clone())
    .http_client(http_client(args.ca_cert.as_deref())?)
    .build()?;
    let mut options = ClientCredentialsOptions::default().force_refresh(args.force_refresh);
    if let Some(tenant) = &args.tenant {
        options = options.tenant(tenant.as_str());
    }
    let result = app.acquire_token_for_client_with(&args.scopes, &options).await?;
    if let Some(locked) = locked {
        locked.save_if_changed().await?;
    }
    print_result(&result, args.json);
    Ok(())
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

impl<'a> AuthorityArg<'a> {
    /// The one given, if any (clap lets only one through).
    pub(crate) fn given(authority: Option<&'a str>, oidc_authority: Option<&'a str>) -> Option<Self> {
        oidc_authority.map(Self::Oidc).or(authority.map(Self::Entra))
    }

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

    /// The URL, whichever kind.
    pub(crate) fn url(self) -> &'a str {
        match self {
            AuthorityArg::Entra(url) | AuthorityArg::Oidc(url) => url,
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

/// The authority and `--client-id`, which clap requires without `--managed-identity`.
fn app_identity(args: &TokenArgs) -> Result<(AuthorityArg<'_>, &str), Error> {
    let authority = AuthorityArg::given(args.authority.as_deref(), args.oidc_authority.as_deref());
    match (authority, &args.client_id) {
        (Some(authority), Some(client_id)) => Ok((authority, client_id)),
        _ => Err(Error::InvalidArgument(
            "--authority (or --oidc-authority) and --client-id are required".into(),
        )),
    }
}

/// A user's token through the silent path, from the shared cache file;
/// what the command line leaves out comes from how `msal login` signed
/// the user in.
async fn acquire_for_user(args: &TokenArgs, username: &str, store: StoreChoice) -> Result<(), Error> {
    let path = store.path(args.cache.as_deref())?;
    let remembered = crate::remembered::sign_in_of(&path, username);
    let missing = || {
        Error::InvalidArgument(format!(
            "no --authority and --client-id given, and `msal login` has not signed {username} in \
             with the cache {}",
            path.display()
        ))
    };
    let given = AuthorityArg::given(args.authority.as_deref(), args.oidc_authority.as_deref());
    let authority = match (given, &remembered) {
        (Some(authority), _) => authority,
        (None, Some(r)) if r.oidc => AuthorityArg::Oidc(&r.authority),
        (None, Some(r)) => AuthorityArg::Entra(&r.authority),
        (None, None) => return Err(missing()),
    };
    let client_id = match (&args.client_id, &remembered) {
        (Some(client_id), _) => client_id.clone(),
        (None, Some(r)) => r.client_id.clone(),
        (None, None) => return Err(missing()),
    };
    let ca_cert = args
        .ca_cert
        .clone()
        .or_else(|| remembered.as_ref().and_then(|r| r.ca_cert.clone()));
    let no_instance_discovery =
        args.no_instance_discovery || remembered.as_ref().is_some_and(|r| r.no_instance_discovery);
    // Under the cache's lock: a refresh rotates the refresh token, which a
    // concurrent command must not overwrite with the old one.
    let locked = cache_file::LockedCache::open(store, args.cache.as_deref()).await?;
    let location = locked.store.location();
    let cache = locked.cache.clone();
    let builder = authority.configure(PublicClientApplication::builder(client_id));
    let app = discovery(
        builder,
        no_instance_discovery,
        args.instance_discovery_endpoint.as_deref(),
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
    if let Some(tenant) = &args.tenant {
        options = options.tenant(tenant.as_str());
    }
    let result = app
        .acquire_token_silent_with(&args.scopes, &account, &options)
        .await?;
    locked.save_if_changed().await?;
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

/// The secret from a file (first line, surrounding whitespace trimmed) or the environment.
fn read_secret(file: Option<&Path>) -> Result<ClientSecret, Error> {
    let secret = match file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| {
                Error::InvalidArgument(format!(
                    "cannot read the client secret file {}: {e}",
                    path.display()
                ))
            })?
            .trim()
            .to_owned(),
        None => std::env::var(SECRET_ENV).unwrap_or_default(),
    };
    if secret.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "no client secret: set {SECRET_ENV} or pass --client-secret-file"
        )));
    }
    Ok(ClientSecret::new(secret))
}

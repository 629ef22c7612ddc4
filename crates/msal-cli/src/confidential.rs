//! The application's own commands (a confidential client): `msal login`
//! with a client secret or certificate signs the application in (client
//! credentials) and caches its token; `msal token` then serves that token
//! from the cache (no credential needed while it is valid), or gets one;
//! `msal token --on-behalf-of` trades a user's incoming token for a
//! downstream API's, cached per incoming token.
//!
//! The authority and client id come from the command line, the
//! environment, the config file, then what `msal login` remembered about
//! the application (see [`crate::config`]).

use std::path::PathBuf;

use msal::pop::{PopKey, SignedHttpRequest};
use msal::{
    AuthenticationResult, ClientCredential, ClientCredentialsOptions, ConfidentialClientApplication, Error,
    OnBehalfOfOptions, TokenCache,
};
use serde_json::json;

use crate::cache_file::{CacheStore, CacheTarget};
use crate::config::{Origin, Settings};
use crate::credentials::{self, CredentialArgs};
use crate::output::{self, outln};
use crate::remembered::AppSignIn;
use crate::token::{AuthorityArg, TokenArgs, discovery, http_client, print_result};

/// An application as the settings describe it.
struct AppConfig {
    client_id: String,
    authority: String,
    authority_origin: Origin,
    oidc: bool,
    ca_cert: Option<PathBuf>,
    no_instance_discovery: bool,
    instance_discovery_endpoint: Option<String>,
}

/// What the command line gave that names the application.
struct AppFlags<'a> {
    client_id: Option<&'a str>,
    authority: Option<&'a str>,
    oidc_authority: Option<&'a str>,
    ca_cert: Option<&'a std::path::Path>,
    no_instance_discovery: bool,
    instance_discovery_endpoint: Option<&'a str>,
}

impl AppConfig {
    /// The application from the settings' layers; `default_authority`
    /// (for `msal login`) comes last.
    fn resolve(
        flags: &AppFlags<'_>,
        settings: &Settings,
        store: &CacheStore,
        remembered: Option<&AppSignIn>,
        default_authority: Option<&str>,
    ) -> Result<AppConfig, Error> {
        let client_id = settings.client_id(flags.client_id).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "no client id: pass --client-id, set MSAL_CLIENT_ID or AZURE_CLIENT_ID, or set {}",
                settings.config_hint("client_id")
            ))
        })?;
        let (authority, authority_origin, oidc) = match (
            flags.oidc_authority,
            settings.authority(flags.authority),
            remembered,
        ) {
            (Some(issuer), _, _) => (issuer.to_owned(), Origin::Flag("--oidc-authority"), true),
            (None, Some(setting), _) => (setting.value, setting.origin, false),
            (None, None, Some(r)) => (r.authority.clone(), Origin::Remembered, r.oidc),
            (None, None, None) => match default_authority {
                Some(authority) => (authority.to_owned(), Origin::Default, false),
                None => {
                    return Err(Error::InvalidArgument(format!(
                        "no authority for the application {}: pass --authority, set MSAL_AUTHORITY or \
                             AZURE_TENANT_ID, set {}, or sign the application in with `msal login \
                             --client-secret-file` or `--certificate` (using the cache {})",
                        client_id.value,
                        settings.config_hint("authority"),
                        store.location()
                    )));
                }
            },
        };
        Ok(AppConfig {
            ca_cert: settings
                .ca_cert(flags.ca_cert)
                .or_else(|| remembered.and_then(|r| r.ca_cert.clone())),
            no_instance_discovery: settings.no_instance_discovery(flags.no_instance_discovery)
                || remembered.is_some_and(|r| r.no_instance_discovery),
            instance_discovery_endpoint: settings
                .instance_discovery_endpoint(flags.instance_discovery_endpoint),
            client_id: client_id.value,
            authority,
            authority_origin,
            oidc,
        })
    }

    /// The application over `cache`, authenticating with `credential`.
    fn build(
        &self,
        credential: ClientCredential,
        cache: &TokenCache,
    ) -> Result<ConfidentialClientApplication, Error> {
        let authority = if self.oidc {
            AuthorityArg::Oidc(&self.authority)
        } else {
            AuthorityArg::Entra(&self.authority)
        };
        let builder = authority.configure(ConfidentialClientApplication::builder(&self.client_id));
        discovery(
            builder,
            self.no_instance_discovery,
            self.instance_discovery_endpoint.as_deref(),
        )
        .client_credential(credential)
        .token_cache(cache.clone())
        .http_client(http_client(self.ca_cert.as_deref())?)
        .build()
        .inspect_err(|_| self.note_origin())
    }

    /// Says where an authority that was refused came from, when it was not typed.
    fn note_origin(&self) {
        if !matches!(self.authority_origin, Origin::Flag(_)) {
            eprintln!(
                "note: the authority {} came from {}",
                self.authority, self.authority_origin
            );
        }
    }

    /// What `msal login` remembers about this application.
    fn sign_in(&self) -> AppSignIn {
        AppSignIn {
            client_id: self.client_id.clone(),
            authority: self.authority.clone(),
            oidc: self.oidc,
            ca_cert: self
                .ca_cert
                .as_ref()
                .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
            no_instance_discovery: self.no_instance_discovery,
        }
    }
}

/// `msal token` for the application (client credentials), or with
/// `--on-behalf-of` for a downstream API on a user's behalf.
pub(crate) async fn acquire(
    args: &TokenArgs,
    settings: &Settings,
    target: CacheTarget,
    claims: Option<String>,
) -> Result<(), Error> {
    // Read first: a missing incoming token is reported before anything else.
    // --pop: the request to sign is checked before anything else too.
    let pop = match (args.pop, &args.url) {
        (true, Some(url)) => Some((
            SignedHttpRequest::new(&args.method, url)?,
            PopKey::generate_p256()?,
        )),
        _ => None,
    };
    let incoming = match &args.assertion_file {
        Some(path) if args.on_behalf_of => Some(credentials::incoming_token(path)?),
        _ => None,
    };
    let store = target.open().await?;
    let client_id = settings.client_id(args.client_id.as_deref());
    let remembered = match &client_id {
        Some(id) => store.remembered().await?.app(&id.value).cloned(),
        None => None,
    };
    let flags = AppFlags {
        client_id: args.client_id.as_deref(),
        authority: args.authority.as_deref(),
        oidc_authority: args.oidc_authority.as_deref(),
        ca_cert: args.ca_cert.as_deref(),
        no_instance_discovery: args.no_instance_discovery,
        instance_discovery_endpoint: args.instance_discovery_endpoint.as_deref(),
    };
    let config = AppConfig::resolve(&flags, settings, &store, remembered.as_ref(), None)?;
    // Without a credential a cached token is still served; the message says
    // what is missing if the identity provider has to be asked.
    let missing = credentials::missing(settings);
    let credential = credentials::resolve(&args.credential, settings)?
        .unwrap_or_else(|| credentials::none_given(missing.clone()));
    // Locked (so also known to be writable) before any request.
    let locked = store.lock().await?;
    let app = config.build(credential, &locked.cache)?;
    let tenant = settings.tenant(args.tenant.as_deref()).map(|t| t.value);
    let result = match incoming {
        Some(incoming) => {
            let mut options = OnBehalfOfOptions::default().force_refresh(args.force_refresh);
            if let Some(tenant) = tenant {
                options = options.tenant(tenant);
            }
            if let Some(claims) = claims {
                options = options.claims_challenge(claims);
            }
            app.acquire_token_on_behalf_of_with(&incoming, &args.scopes, &options)
                .await
        }
        None => {
            let mut options = ClientCredentialsOptions::default().force_refresh(args.force_refresh);
            if let Some(tenant) = tenant {
                options = options.tenant(tenant);
            }
            if let Some(claims) = claims {
                options = options.claims_challenge(claims);
            }
            if let Some((_, key)) = &pop {
                options = options.pop(key.clone());
            }
            app.acquire_token_for_client_with(&args.scopes, &options).await
        }
    }
    .map_err(|e| credentials::explain(e, &missing))?;
    locked.save_if_changed().await?;
    match &pop {
        Some((request, key)) => {
            let authorization = request.authorization(result.access_token.expose_secret(), key)?;
            if args.json {
                outln!(
                    "{}",
                    json!({ "authorization": authorization, "token_type": result.token_type })
                );
            } else {
                outln!("{authorization}");
            }
        }
        None => print_result(&result, args.json),
    }
    Ok(())
}

/// What `msal login` of an application needs from its arguments.
pub(crate) struct AppLogin<'a> {
    pub client_id: Option<&'a str>,
    pub authority: Option<&'a str>,
    pub oidc_authority: Option<&'a str>,
    pub ca_cert: Option<&'a std::path::Path>,
    pub no_instance_discovery: bool,
    pub scopes: &'a [String],
    pub credential: &'a CredentialArgs,
    pub json: bool,
}

/// `msal login` of an application: a new token with its credential (which
/// proves the credential works), cached, and the application remembered
/// so `msal token --client-id ID --scope S` needs nothing else.
pub(crate) async fn login(
    login: AppLogin<'_>,
    settings: &Settings,
    target: CacheTarget,
    default_authority: &str,
) -> Result<(), Error> {
    let credential = credentials::resolve(login.credential, settings)?
        .ok_or_else(|| Error::InvalidArgument(credentials::missing(settings)))?;
    let store = target.open().await?;
    let flags = AppFlags {
        client_id: login.client_id,
        authority: login.authority,
        oidc_authority: login.oidc_authority,
        ca_cert: login.ca_cert,
        no_instance_discovery: login.no_instance_discovery,
        instance_discovery_endpoint: None,
    };
    let config = AppConfig::resolve(&flags, settings, &store, None, Some(default_authority))?;
    // Fails now, before the identity provider is asked, when the cache cannot be written.
    store.read().await?;
    store.ensure_writable().await?;
    let scratch = TokenCache::new();
    let app = config.build(credential, &scratch)?;
    let options = ClientCredentialsOptions::default().force_refresh(true);
    let result = app.acquire_token_for_client_with(login.scopes, &options).await?;
    let (store, lock) = crate::cache_file::merge_into(store, &scratch).await?;
    let sign_in = config.sign_in();
    store
        .update_remembered(|r| {
            r.remember_app(sign_in);
            true
        })
        .await;
    drop(lock);
    report(&result, &config.client_id, login.json);
    Ok(())
}

/// Says which application signed in (text), or the whole result (`--json`).
fn report(result: &AuthenticationResult, client_id: &str, as_json: bool) {
    if as_json {
        let mut value = output::result_json(result);
        value["client_id"] = json!(client_id);
        outln!("{value}");
    } else {
        outln!(
            "Signed in as the application {client_id} (tenant {})",
            result.tenant_id.as_deref().unwrap_or("unknown")
        );
    }
}

//! `msal accounts` and `msal logout`: the users the token cache
//! remembers. Both work on the cache alone and never send a request to the
//! identity provider.

use crate::output::outln;
use std::process::ExitCode;

use clap::Args;
use msal::{Account, Error, TokenCache};

use crate::cache_file::StoreChoice;
use crate::config::{CacheArgs, Settings};
use crate::{cache_file, output};

/// Arguments of `msal accounts`.
#[derive(Args)]
pub(crate) struct AccountsArgs {
    #[command(flatten)]
    pub cache_args: CacheArgs,
    /// Only the accounts of this authority's cloud (and its known aliases)
    /// [default: every cloud in the cache].
    #[arg(long)]
    pub authority: Option<String>,
    /// Accepted for symmetry with `login`: accounts are shared by every app
    /// using the cache, so every client's accounts are listed anyway.
    #[arg(long)]
    pub client_id: Option<String>,
    /// Print a JSON array with MSAL Python's field names.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `msal logout`.
#[derive(Args)]
pub(crate) struct LogoutArgs {
    /// The username of the account to sign out, as `msal accounts` lists it.
    #[arg(long, value_name = "USERNAME")]
    pub account: String,
    #[command(flatten)]
    pub cache_args: CacheArgs,
    /// Sign out of this application (and its family) only, as MSAL's
    /// remove_account does: other apps keep their refresh tokens
    /// [default: every application in the cache].
    #[arg(long)]
    pub client_id: Option<String>,
    /// Only the account in this authority's cloud (and its known aliases)
    /// [default: every cloud in the cache].
    #[arg(long)]
    pub authority: Option<String>,
}

pub(crate) async fn run_accounts(args: AccountsArgs, store: StoreChoice) -> Result<(), ExitCode> {
    let json = args.json;
    list(args, store).await.map_err(|e| output::fail(&e, json))
}

pub(crate) async fn run_logout(args: LogoutArgs, store: StoreChoice) -> Result<(), ExitCode> {
    logout(args, store).await.map_err(|e| output::fail(&e, false))
}

async fn list(args: AccountsArgs, store: StoreChoice) -> Result<(), Error> {
    let settings = Settings::load(args.cache_args.config.as_deref())?;
    let store = store
        .target(&settings, args.cache_args.cache.as_deref())
        .open()
        .await?;
    let cache = store.read().await?;
    let client_id = args
        .client_id
        .as_deref()
        .unwrap_or(cache_file::PLACEHOLDER_CLIENT_ID);
    let accounts = find_accounts(&cache, client_id, args.authority.as_deref(), None)?;
    if args.json {
        let list: Vec<_> = accounts.iter().map(output::account_json).collect();
        outln!("{}", serde_json::Value::Array(list));
    } else if accounts.is_empty() {
        eprintln!("No accounts in the token cache ({})", store.location());
    } else {
        for account in &accounts {
            outln!(
                "{}\t{}\t{}\t{}",
                account.username,
                account.home_account_id,
                account.environment,
                account.realm
            );
        }
    }
    Ok(())
}

async fn logout(args: LogoutArgs, store: StoreChoice) -> Result<(), Error> {
    // Under the cache's lock, so a sign-in finishing meanwhile cannot bring the user back.
    let settings = Settings::load(args.cache_args.config.as_deref())?;
    let locked = store
        .target(&settings, args.cache_args.cache.as_deref())
        .lock()
        .await?;
    let location = locked.store.location();
    let cache = locked.cache.clone();
    let lookup_client = args
        .client_id
        .as_deref()
        .unwrap_or(cache_file::PLACEHOLDER_CLIENT_ID);
    let accounts = find_accounts(
        &cache,
        lookup_client,
        args.authority.as_deref(),
        Some(&args.account),
    )?;
    if accounts.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "no account '{}' in the token cache ({location}) (`msal accounts` lists them)",
            args.account,
        )));
    }
    for account in &accounts {
        // remove_account drops the refresh tokens of one client (and its
        // family) only; without --client-id the user is signed out of every
        // app that holds one, so no refresh token is left behind.
        let mut clients = match &args.client_id {
            Some(client_id) => vec![client_id.clone()],
            None => cache.refresh_token_client_ids(&account.home_account_id, &account.environment),
        };
        if clients.is_empty() {
            // Access and ID tokens and the account entry still go.
            clients.push(cache_file::PLACEHOLDER_CLIENT_ID.to_owned());
        }
        let authority = environment_authority(&account.environment);
        for client_id in &clients {
            cache_file::offline_app(client_id, &authority, false, &cache)?.remove_account(account);
        }
        outln!(
            "Signed out {} (home account id {})",
            account.username,
            account.home_account_id
        );
    }
    let (_, lock, store) = locked.save_keeping_lock().await?;
    store.update_remembered(|r| r.forget(&args.account)).await;
    drop(lock);
    Ok(())
}

/// The accounts of `authority`'s cloud, or of every cloud in the cache,
/// optionally only those with this username (case-insensitive).
fn find_accounts(
    cache: &TokenCache,
    client_id: &str,
    authority: Option<&str>,
    username: Option<&str>,
) -> Result<Vec<Account>, Error> {
    if let Some(authority) = authority {
        // Instance discovery on: an account cached under an alias of a
        // Microsoft cloud (login.windows.net) is found, as in MSAL.
        return Ok(cache_file::offline_app(client_id, authority, true, cache)?
            .get_accounts(username)
            .to_vec());
    }
    // Exactly each cloud as written (MSAL Node keeps a loopback port in it).
    let username = username.map(str::to_lowercase);
    Ok(cache
        .account_environments()
        .iter()
        .flat_map(|environment| cache.accounts_in(environment))
        .filter(|a| username.as_ref().is_none_or(|u| a.username.to_lowercase() == *u))
        .collect())
}

/// An authority naming a cloud host: all the library needs to look up and
/// remove that cloud's accounts.
fn environment_authority(environment: &str) -> String {
    format!("https://{environment}/common")
}

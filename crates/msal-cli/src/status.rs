//! `msal status`: who is signed in (every account in the cache, every
//! cloud), and the access tokens held for each: scopes and time left. No
//! network requests. Exit code 3 (interaction required) when nobody is
//! signed in, so scripts can `msal status || msal login ...`.

use std::process::ExitCode;
use std::time::SystemTime;

use clap::Args;
use msal::Error;
use serde_json::json;

use crate::cache_file;
use crate::config::{CacheArgs, Settings};
use crate::output::{self, exit, outln};

/// Arguments of `msal status`.
#[derive(Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub cache_args: CacheArgs,
    /// Print JSON: an array of accounts with their tokens.
    #[arg(long)]
    pub json: bool,
}

pub(crate) async fn run(args: StatusArgs, store: cache_file::StoreChoice) -> Result<(), ExitCode> {
    let json = args.json;
    match status(args, store).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ExitCode::from(exit::INTERACTION_REQUIRED)),
        Err(e) => Err(output::fail(&e, json)),
    }
}

/// Prints the status; whether anybody is signed in.
async fn status(args: StatusArgs, store: cache_file::StoreChoice) -> Result<bool, Error> {
    let settings = Settings::load(args.cache_args.config.as_deref())?;
    let store = store
        .target(&settings, args.cache_args.cache.as_deref())
        .open()
        .await?;
    let cache = store.read().await?;
    let now = SystemTime::now();
    let accounts: Vec<_> = cache
        .account_environments()
        .iter()
        .flat_map(|environment| cache.accounts_in(environment))
        .collect();
    let entries: Vec<_> = accounts
        .iter()
        .map(|account| {
            let tokens: Vec<_> = cache
                .access_tokens_of(&account.home_account_id)
                .into_iter()
                .map(|t| {
                    let left = t.expires_on.duration_since(now).map(|d| d.as_secs()).unwrap_or(0);
                    json!({"client_id": t.client_id, "scopes": t.scopes, "expires_in": left, "expired": left == 0})
                })
                .collect();
            json!({
                "username": account.username,
                "home_account_id": account.home_account_id,
                "environment": account.environment,
                "tokens": tokens,
            })
        })
        .collect();
    if args.json {
        outln!("{}", serde_json::Value::Array(entries.clone()));
        return Ok(!entries.is_empty());
    }
    outln!("Token cache: {}", store.location());
    if entries.is_empty() {
        eprintln!("Nobody is signed in: run `msal login`.");
    } else {
        for entry in &entries {
            outln!(
                "{} ({})",
                entry["username"].as_str().unwrap_or_default(),
                entry["environment"].as_str().unwrap_or_default()
            );
            for token in entry["tokens"].as_array().into_iter().flatten() {
                let scopes: Vec<&str> = token["scopes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str())
                    .collect();
                let left = token["expires_in"].as_u64().unwrap_or(0);
                let when = if left == 0 {
                    "expired (a refresh token may renew it)".to_owned()
                } else {
                    format!("expires in {}m {}s", left / 60, left % 60)
                };
                outln!("  {}: {when}", scopes.join(" "));
            }
        }
    }
    Ok(!entries.is_empty())
}

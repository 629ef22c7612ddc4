//! A desktop or CLI app signing a user in through the browser, then finding
//! the account in the cache next time: the seed's headline example.
//!
//! With `MSAL_AUTHORITY` and `MSAL_CLIENT_ID` set it signs in at that
//! authority in the system browser (`MSAL_NO_BROWSER=1` prints the URL
//! instead). Without them it starts the local emulator and prints the
//! sign-in URL: open it (accept the emulator's self-signed certificate)
//! and sign in as `alice@contoso.onmicrosoft.com` / `Alice-P@ssw0rd`. The
//! cache is saved in the temporary directory, so a second run is silent
//! (against the same authority). See `examples/setup/mod.rs` for every
//! variable.
//!
//! ```sh
//! cargo run -p msal --example interactive
//! ```

mod setup;

use std::io::Write as _;

use msal::{BrowserLauncher, InteractiveOptions, PublicClientApplication, TokenCache};
use setup::{Role, Setup};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setup = Setup::from_env(Role::PublicClient).await?;
    let cache_path = std::env::temp_dir().join("msal-example-interactive-cache.json");
    let cache = TokenCache::load_from_file(&cache_path)?;

    // 1. One application object for the program's lifetime.
    let app = PublicClientApplication::builder(&setup.client_id)
        .authority(&setup.authority)
        .token_cache(cache.clone())
        .http_client(setup.http.clone())
        .build()?;

    // 2. A known account: its token from the cache (refreshed when needed).
    let known = app.get_accounts(None).first().cloned();
    let cached = match &known {
        Some(account) => {
            println!("known account: {}", account.username);
            app.acquire_token_silent(["User.Read"], account).await.ok()
        }
        None => None,
    };

    // 3. Otherwise, sign in interactively.
    let result = match cached {
        Some(result) => result,
        None => {
            let mut options = InteractiveOptions::default();
            if setup.emulator.is_some() || std::env::var_os("MSAL_NO_BROWSER").is_some() {
                options = options.browser(BrowserLauncher::callback(|uri| {
                    println!("Open this URL in a browser to sign in:\n{uri}");
                    let _ = std::io::stdout().flush();
                    Ok(())
                }));
            }
            app.acquire_token_interactive(["User.Read"], &options).await?
        }
    };
    let username = result.account.as_ref().map_or("?", |a| a.username.as_str());
    println!(
        "signed in as {username}; token from {}, expires in {} s",
        result.token_source.as_str(),
        result.expires_in().as_secs()
    );
    if cache.has_state_changed() {
        cache.save_to_file(&cache_path)?;
    }
    Ok(())
}

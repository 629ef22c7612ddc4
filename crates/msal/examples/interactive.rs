//! A desktop or CLI app signing a user in through the browser, then finding
//! the account in the cache next time: the seed's headline example.
//!
//! With `MSAL_AUTHORITY` and `MSAL_CLIENT_ID` set it signs in at that
//! authority in the system browser. Without them it starts the local
//! emulator and prints the sign-in URL instead of opening a browser: open it
//! (accept the emulator's self-signed certificate) and sign in as
//! `alice@contoso.onmicrosoft.com` / `Alice-P@ssw0rd`.
//!
//! ```sh
//! cargo run -p msal --example interactive
//! ```

use msal::{BrowserLauncher, InteractiveOptions, PublicClientApplication, ReqwestHttpClient, TokenCache};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cache_path = std::env::temp_dir().join("msal-example-interactive-cache.json");
    let cache = TokenCache::load_from_file(&cache_path)?;
    let mut _emulator = None;
    let builder = match std::env::var("MSAL_AUTHORITY") {
        Ok(authority) => {
            PublicClientApplication::builder(std::env::var("MSAL_CLIENT_ID")?).authority(&authority)
        }
        Err(_) => {
            use msal_emulator::{Emulator, EmulatorConfig, builtin};
            let emulator = Emulator::start(EmulatorConfig::default()).await?;
            let http = ReqwestHttpClient::builder()
                .add_root_certificates_pem(emulator.ca_cert_pem().as_bytes())?
                .build()?;
            let builder = PublicClientApplication::builder(builtin::PUBLIC_CLIENT_ID)
                .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
                .http_client(http);
            _emulator = Some(emulator);
            builder
        }
    };
    // 1. One application object for the program's lifetime.
    let app = builder.token_cache(cache.clone()).build()?;

    // 2. Known accounts come from the cache (the silent path uses them).
    for account in app.get_accounts(None) {
        println!("known account: {}", account.username);
    }

    // 3. Otherwise, sign in interactively.
    let mut options = InteractiveOptions::default();
    if _emulator.is_some() {
        options = options.browser(BrowserLauncher::callback(|uri| {
            println!("Open this URL in a browser to sign in:\n{uri}");
            Ok(())
        }));
    }
    let result = app.acquire_token_interactive(["User.Read"], &options).await?;
    let username = result.account.as_ref().map_or("?", |a| a.username.as_str());
    println!(
        "signed in as {username}; token expires in {:?}",
        result.expires_in()
    );
    if cache.has_state_changed() {
        cache.save_to_file(&cache_path)?;
    }
    Ok(())
}

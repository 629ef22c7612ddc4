//! Signing a user in on another device: for programs without a browser
//! (over SSH, in a container, on a TV). The program prints a URL and a
//! code; the user opens the URL anywhere, enters the code and signs in,
//! while the program waits for the identity provider to say they did.
//! Then the token comes from the cache.
//!
//! ```sh
//! cargo run -p msal --example device_code
//! ```
//!
//! Without `MSAL_AUTHORITY` it starts the local emulator and uses its
//! public client: open the printed URL (accept the emulator's self-signed
//! certificate) and sign in as `alice@contoso.onmicrosoft.com` /
//! `Alice-P@ssw0rd`. With `MSAL_AUTHORITY` and `MSAL_CLIENT_ID` it uses
//! that registration (a public client with "allow public client flows").
//! See `examples/setup/mod.rs` for every variable.

mod setup;

use std::io::Write as _;

use msal::{PublicClientApplication, TokenCache};
use setup::{Role, Setup};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let setup = Setup::from_env(Role::PublicClient).await?;

    // 1. One application object for the program's lifetime.
    let app = PublicClientApplication::builder(&setup.client_id)
        .authority(&setup.authority)
        .token_cache(TokenCache::new())
        .http_client(setup.http.clone())
        .build()?;

    // 2. Start the flow and show the user what to do.
    let flow = app.initiate_device_flow(["User.Read"]).await?;
    println!("{}", flow.message());
    std::io::stdout().flush()?;

    // 3. Wait until they signed in (or declined, or the code expired).
    let result = app.acquire_token_by_device_flow(&flow).await?;
    let account = result.account.ok_or("the identity provider named no account")?;
    println!(
        "signed in as {}; token from {}",
        account.username,
        result.token_source.as_str()
    );

    // Next time the cache answers, without the user.
    let again = app.acquire_token_silent(["User.Read"], &account).await?;
    println!("token from {}", again.token_source.as_str());
    Ok(())
}

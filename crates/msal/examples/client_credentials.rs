//! A daemon's token for Microsoft Graph, through the client credentials flow.
//!
//! With `MSAL_AUTHORITY`, `MSAL_CLIENT_ID` and `MSAL_CLIENT_SECRET` set, it asks
//! that authority; without them it starts the local emulator and uses its
//! built-in daemon app, so it runs anywhere:
//!
//! ```sh
//! cargo run -p msal --example client_credentials
//! ```

use msal::{ClientSecret, ConfidentialClientApplication, ReqwestHttpClient, TokenCache};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Keep the emulator alive for the whole run when we use it.
    let mut _emulator = None;
    let (authority, client_id, secret, http) = match std::env::var("MSAL_AUTHORITY") {
        Ok(authority) => (
            authority,
            std::env::var("MSAL_CLIENT_ID")?,
            std::env::var("MSAL_CLIENT_SECRET")?,
            ReqwestHttpClient::new()?,
        ),
        Err(_) => {
            use msal_emulator::{Emulator, EmulatorConfig, builtin};
            let emulator = Emulator::start(EmulatorConfig::default()).await?;
            let http = ReqwestHttpClient::builder()
                .add_root_certificates_pem(emulator.ca_cert_pem().as_bytes())?
                .build()?;
            let authority = emulator.authority(builtin::CONTOSO_TENANT_NAME);
            _emulator = Some(emulator);
            (
                authority,
                builtin::DAEMON_CLIENT_ID.into(),
                builtin::DAEMON_CLIENT_SECRET.into(),
                http,
            )
        }
    };

    // 1. One application, reused.
    let app = ConfidentialClientApplication::builder(client_id)
        .authority(&authority)
        .client_secret(ClientSecret::new(secret))
        .token_cache(TokenCache::new())
        .http_client(http)
        .build()?;

    // 2 and 3. Cache first, identity provider otherwise.
    for _ in 0..2 {
        let result = app
            .acquire_token_for_client(["https://graph.microsoft.com/.default"])
            .await?;
        println!(
            "token from {}, expires in {} s",
            result.token_source.as_str(),
            result.expires_in().as_secs()
        );
    }
    Ok(())
}

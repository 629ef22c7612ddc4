//! A token for the managed identity of the Azure host this runs on (a VM,
//! App Service, Azure ML, Service Fabric, an Azure Arc server, Cloud
//! Shell), detected from the environment the host sets.
//!
//! On an Azure host: `cargo run -p msal --example managed_identity`. Off
//! Azure (set `MSAL_EMULATE_HOST=app_service`, or any host kind), it starts
//! the local emulator's managed identity endpoints and uses the variables
//! such a host would set, so it runs anywhere.

use msal::{ManagedIdentity, ManagedIdentityClient, ManagedIdentityEnvironment};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Keep the emulator alive for the whole run when we use it.
    let mut _emulator = None;
    let environment = match std::env::var("MSAL_EMULATE_HOST") {
        Err(_) => ManagedIdentityEnvironment::from_process(),
        Ok(host) => {
            use msal_emulator::{Emulator, EmulatorConfig, ManagedIdentitySource};
            let source = ManagedIdentitySource::from_name(&host).ok_or("unknown host kind")?;
            let arc_tokens = std::env::temp_dir().join("msal-example-arc-tokens");
            let emulator = Emulator::start(
                EmulatorConfig::default()
                    .with_managed_identity(true)
                    .with_arc_token_directory(arc_tokens.clone()),
            )
            .await?;
            let vars = emulator.managed_identity_env(source);
            _emulator = Some(emulator);
            ManagedIdentityEnvironment::from_vars(vars).with_arc_token_directory(arc_tokens)
        }
    };

    // 1. One client, reused: the host is detected once.
    let client = ManagedIdentityClient::builder(ManagedIdentity::SystemAssigned)
        .environment(environment)
        .build()?;
    println!("managed identity host: {}", client.source());

    // 2 and 3. Cache first, the host otherwise.
    for _ in 0..2 {
        let result = client.acquire_token_for_client("https://vault.azure.net").await?;
        println!(
            "token from {}, expires in {} s",
            result.token_source.as_str(),
            result.expires_in().as_secs()
        );
    }
    Ok(())
}

//! `msal demo`: the walking skeleton end to end. Starts an embedded emulator,
//! gets an application token, gets it again, and shows that the second one
//! came from the cache without a request.

use crate::output::outln;
use std::process::ExitCode;

use msal::{AuthenticationResult, ClientSecret, ConfidentialClientApplication, Error, TokenCache};
use msal_emulator::{Emulator, EmulatorConfig, Endpoint, builtin};

pub(crate) async fn run() -> Result<(), ExitCode> {
    let fail = |message: String| {
        eprintln!("error: {message}");
        ExitCode::FAILURE
    };
    let emulator = Emulator::start(EmulatorConfig::default())
        .await
        .map_err(|e| fail(e.to_string()))?;
    let outcome = demo(&emulator).await.map_err(|e| fail(e.to_string()));
    emulator.shutdown().await;
    outcome
}

async fn demo(emulator: &Emulator) -> Result<(), Error> {
    let authority = emulator.authority(builtin::CONTOSO_TENANT_NAME);
    outln!(
        "emulator running at {} (CA trusted for this run only)",
        emulator.url()
    );
    outln!("authority {authority}, client {}", builtin::DAEMON_CLIENT_ID);

    let http = msal::ReqwestHttpClient::builder()
        .add_root_certificates_pem(emulator.ca_cert_pem().as_bytes())?
        .build()?;
    let cache = TokenCache::new();
    let app = ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(&authority)
        .client_secret(ClientSecret::new(builtin::DAEMON_CLIENT_SECRET))
        .token_cache(cache.clone())
        .http_client(http)
        .build()?;
    let scopes = ["https://graph.microsoft.com/.default"];

    for attempt in ["first", "second"] {
        let before = emulator.request_count(Endpoint::Token);
        let result = app.acquire_token_for_client(scopes).await?;
        let requests = emulator.request_count(Endpoint::Token) - before;
        show(attempt, &result, requests);
    }
    outln!(
        "\ncache now holds {} access token(s); as MSAL Python would store it:",
        cache.access_token_count()
    );
    outln!("{}", redact_secrets(&cache.serialize()));
    Ok(())
}

fn show(attempt: &str, result: &AuthenticationResult, token_requests: u64) {
    let token = result.access_token.expose_secret();
    let preview: String = token.chars().take(16).collect();
    outln!(
        "\n{attempt} call: token {preview}... ({} chars) from {}, expires in {} s, {token_requests} request(s) to the token endpoint",
        token.len(),
        result.token_source.as_str(),
        result.expires_in().as_secs(),
    );
}

/// The demo prints the cache for show; tokens in it are cut short.
fn redact_secrets(json: &str) -> String {
    json.lines()
        .map(|line| match line.trim_start().strip_prefix("\"secret\": \"") {
            Some(rest) => {
                let indent = &line[..line.len() - line.trim_start().len()];
                format!(
                    "{indent}\"secret\": \"{}...\",",
                    rest.chars().take(12).collect::<String>()
                )
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

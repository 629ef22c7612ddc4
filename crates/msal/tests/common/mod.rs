//! Shared test setup: an emulator on a free port and applications that trust it.

#![allow(dead_code)]

pub mod python;
pub mod user_agent;
pub mod webdriver;

use msal::{
    ClientSecret, ConfidentialClientApplication, PublicClientApplication, ReqwestHttpClient, TokenCache,
};
use msal_emulator::{Emulator, EmulatorConfig, builtin};

pub const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";

pub async fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig::default())
        .await
        .expect("emulator starts")
}

/// A transport that trusts only the emulator's CA.
pub fn http(emulator: &Emulator) -> ReqwestHttpClient {
    ReqwestHttpClient::builder()
        .add_root_certificates_pem(emulator.ca_cert_pem().as_bytes())
        .expect("CA parses")
        .only_added_roots(true)
        .build()
        .expect("client builds")
}

/// The built-in daemon app against `tenant`, with `secret` and `cache`.
pub fn daemon(
    emulator: &Emulator,
    tenant: &str,
    secret: &str,
    cache: &TokenCache,
) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(&emulator.authority(tenant))
        .client_secret(ClientSecret::new(secret))
        .token_cache(cache.clone())
        .http_client(http(emulator))
        .build()
        .expect("app builds")
}

/// The built-in public client (desktop/CLI) against `tenant`, with `cache`.
pub fn public_app(emulator: &Emulator, tenant: &str, cache: &TokenCache) -> PublicClientApplication {
    PublicClientApplication::builder(builtin::PUBLIC_CLIENT_ID)
        .authority(&emulator.authority(tenant))
        .token_cache(cache.clone())
        .http_client(http(emulator))
        .build()
        .expect("app builds")
}

/// The built-in confidential web app against `tenant`, with `cache`.
pub fn web_app(emulator: &Emulator, tenant: &str, cache: &TokenCache) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(builtin::WEBAPP_CLIENT_ID)
        .authority(&emulator.authority(tenant))
        .client_secret(ClientSecret::new(builtin::WEBAPP_CLIENT_SECRET))
        .token_cache(cache.clone())
        .http_client(http(emulator))
        .build()
        .expect("app builds")
}

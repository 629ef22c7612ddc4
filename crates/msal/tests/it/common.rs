//! The applications the tests drive: the emulator's built-in apps, built
//! with a transport that trusts only that emulator.

use msal::{ClientSecret, ConfidentialClientApplication, PublicClientApplication, TokenCache};
use msal_emulator::{Emulator, builtin};
use msal_test_support::msal_http;

pub(crate) const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";

/// The built-in daemon app against `tenant`, with `secret` and `cache`.
pub(crate) fn daemon(
    emulator: &Emulator,
    tenant: &str,
    secret: &str,
    cache: &TokenCache,
) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(&emulator.authority(tenant))
        .client_secret(ClientSecret::new(secret))
        .token_cache(cache.clone())
        .http_client(msal_http(emulator).unwrap())
        .build()
        .expect("app builds")
}

/// The built-in public client (desktop/CLI) against `tenant`, with `cache`.
pub(crate) fn public_app(emulator: &Emulator, tenant: &str, cache: &TokenCache) -> PublicClientApplication {
    PublicClientApplication::builder(builtin::PUBLIC_CLIENT_ID)
        .authority(&emulator.authority(tenant))
        .token_cache(cache.clone())
        .http_client(msal_http(emulator).unwrap())
        .build()
        .expect("app builds")
}

/// The built-in confidential web app against `tenant`, with `cache`.
pub(crate) fn web_app(
    emulator: &Emulator,
    tenant: &str,
    cache: &TokenCache,
) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(builtin::WEBAPP_CLIENT_ID)
        .authority(&emulator.authority(tenant))
        .client_secret(ClientSecret::new(builtin::WEBAPP_CLIENT_SECRET))
        .token_cache(cache.clone())
        .http_client(msal_http(emulator).unwrap())
        .build()
        .expect("app builds")
}

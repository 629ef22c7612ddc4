//! Cache first, network only when needed: a new application object (as in
//! a new process, the cache reloaded from its JSON) is served a cached
//! access token with zero requests, for an app token, a user's token
//! (silent, with the account) and an on-behalf-of token, whether the
//! authority names the tenant by id, by domain, or through another alias
//! of the cloud (`login.windows.net` vs `login.microsoftonline.com`, both
//! resolved to the emulator). Checked twice: with the emulator running
//! (its request counter stays at zero) and with the emulator stopped.

use msal::{
    ClientSecret, ConfidentialClientApplication, PublicClientApplication, ReqwestHttpClient, TokenCache,
    TokenSource, UserAssertion,
};
use msal_emulator::{Emulator, builtin};

const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";
const USER_READ: &str = "User.Read";
const GLOBAL: &str = "login.microsoftonline.com";
const ALIAS: &str = "login.windows.net";

fn cloud_http(emulator: &Emulator) -> ReqwestHttpClient {
    msal_test_support::msal_http_for_cloud(emulator).unwrap()
}

/// The authority as users write it: no port (the transport's resolver
/// sends the host to the emulator's port).
fn authority(host: &str, tenant: &str) -> String {
    format!("https://{host}/{tenant}")
}

fn daemon(authority: &str, cache: &TokenCache, http: ReqwestHttpClient) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(authority)
        .client_secret(ClientSecret::new(builtin::DAEMON_CLIENT_SECRET))
        .token_cache(cache.clone())
        .http_client(http)
        .build()
        .unwrap()
}

fn desktop(authority: &str, cache: &TokenCache, http: ReqwestHttpClient) -> PublicClientApplication {
    PublicClientApplication::builder(builtin::PUBLIC_CLIENT_ID)
        .authority(authority)
        .token_cache(cache.clone())
        .http_client(http)
        .build()
        .unwrap()
}

fn api(authority: &str, cache: &TokenCache, http: ReqwestHttpClient) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(builtin::API_CLIENT_ID)
        .authority(authority)
        .client_secret(ClientSecret::new(builtin::API_CLIENT_SECRET))
        .token_cache(cache.clone())
        .http_client(http)
        .build()
        .unwrap()
}

/// One way of naming the authority: the one the tokens were obtained with,
/// and the one a later process uses.
struct Case {
    name: &'static str,
    first: (&'static str, &'static str),
    later: (&'static str, &'static str),
}

const CASES: [Case; 4] = [
    Case {
        name: "tenant id",
        first: (GLOBAL, builtin::CONTOSO_TENANT_ID),
        later: (GLOBAL, builtin::CONTOSO_TENANT_ID),
    },
    Case {
        name: "domain",
        first: (GLOBAL, builtin::CONTOSO_DOMAIN),
        later: (GLOBAL, builtin::CONTOSO_DOMAIN),
    },
    Case {
        name: "alias, tenant id",
        first: (GLOBAL, builtin::CONTOSO_TENANT_ID),
        later: (ALIAS, builtin::CONTOSO_TENANT_ID),
    },
    Case {
        name: "alias, domain",
        first: (ALIAS, builtin::CONTOSO_DOMAIN),
        later: (GLOBAL, builtin::CONTOSO_DOMAIN),
    },
];

/// The caches each case filled, with the tokens they hold.
struct Filled {
    cache_json: String,
    app_token: String,
    user_token: String,
    obo_token: String,
    incoming: UserAssertion,
}

async fn fill(emulator: &Emulator, case: &Case) -> Filled {
    let first = authority(case.first.0, case.first.1);
    let cache = TokenCache::new();
    let app_token = daemon(&first, &cache, cloud_http(emulator))
        .acquire_token_for_client([GRAPH_DEFAULT])
        .await
        .unwrap();
    let user = desktop(&first, &cache, cloud_http(emulator))
        .acquire_token_by_username_password(
            builtin::ALICE_UPN,
            msal::Password::new(builtin::ALICE_PASSWORD),
            [USER_READ],
        )
        .await
        .unwrap();
    // Alice calls the API with a token for it; the API asks for Graph on her behalf.
    let incoming = desktop(&first, &TokenCache::new(), cloud_http(emulator))
        .acquire_token_by_username_password(
            builtin::ALICE_UPN,
            msal::Password::new(builtin::ALICE_PASSWORD),
            [format!("{}/Orders.Read", builtin::API_IDENTIFIER_URI)],
        )
        .await
        .unwrap();
    let incoming = UserAssertion::new(incoming.access_token.expose_secret());
    let obo = api(&first, &cache, cloud_http(emulator))
        .acquire_token_on_behalf_of(&incoming, [USER_READ])
        .await
        .unwrap();
    Filled {
        cache_json: cache.serialize(),
        app_token: app_token.access_token.expose_secret().to_owned(),
        user_token: user.access_token.expose_secret().to_owned(),
        obo_token: obo.access_token.expose_secret().to_owned(),
        incoming,
    }
}

/// A new process's view: the cache reloaded from JSON, new applications on
/// the later authority; every token comes from the cache.
async fn serve_from_cache(http: impl Fn() -> ReqwestHttpClient, case: &Case, filled: &Filled) {
    let later = authority(case.later.0, case.later.1);
    let cache = TokenCache::from_json(&filled.cache_json).unwrap();
    let name = case.name;

    let app = daemon(&later, &cache, http())
        .acquire_token_for_client([GRAPH_DEFAULT])
        .await
        .unwrap_or_else(|e| panic!("{name}: app token: {e}"));
    assert_eq!(app.token_source, TokenSource::Cache, "{name}");
    assert_eq!(app.access_token.expose_secret(), filled.app_token, "{name}");

    let desktop = desktop(&later, &cache, http());
    let account = desktop
        .get_accounts(Some(builtin::ALICE_UPN))
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("{name}: Alice's account is listed"));
    let user = desktop
        .acquire_token_silent([USER_READ], &account)
        .await
        .unwrap_or_else(|e| panic!("{name}: silent: {e}"));
    assert_eq!(user.token_source, TokenSource::Cache, "{name}");
    assert_eq!(user.access_token.expose_secret(), filled.user_token, "{name}");

    let obo = api(&later, &cache, http())
        .acquire_token_on_behalf_of(&filled.incoming, [USER_READ])
        .await
        .unwrap_or_else(|e| panic!("{name}: on behalf of: {e}"));
    assert_eq!(obo.token_source, TokenSource::Cache, "{name}");
    assert_eq!(obo.access_token.expose_secret(), filled.obo_token, "{name}");
}

#[tokio::test]
async fn cached_tokens_are_served_without_discovery_or_requests() {
    let emulator = msal_test_support::start().await.unwrap();
    let mut filled = Vec::new();
    for case in &CASES {
        filled.push(fill(&emulator, case).await);
    }
    // The domain's tenant id was written down beside the tokens.
    assert!(
        filled[1].cache_json.contains(builtin::CONTOSO_TENANT_ID)
            && filled[1].cache_json.contains("\"TenantRealm\""),
        "the tenant mapping is in the cache file"
    );

    // Running: new applications send nothing.
    emulator.reset_counts();
    for (case, filled) in CASES.iter().zip(&filled) {
        serve_from_cache(|| cloud_http(&emulator), case, filled).await;
        assert_eq!(emulator.total_requests(), 0, "{}: requests sent", case.name);
    }

    // Stopped: the same, with nothing to answer a request (the transport
    // still sends the cloud's hosts to the emulator's port, now closed).
    let stopped = cloud_http(&emulator);
    emulator.shutdown().await;
    let offline_http = || stopped.clone();
    for (case, filled) in CASES.iter().zip(&filled) {
        serve_from_cache(offline_http, case, filled).await;
    }

    // The check can fail: a miss needs the network, which is gone.
    let cache = TokenCache::from_json(&filled[0].cache_json).unwrap();
    let miss = daemon(
        &authority(GLOBAL, builtin::FABRIKAM_TENANT_ID),
        &cache,
        offline_http(),
    )
    .acquire_token_for_client([GRAPH_DEFAULT])
    .await;
    assert!(matches!(miss, Err(msal::Error::Transport(_))), "{miss:?}");
}

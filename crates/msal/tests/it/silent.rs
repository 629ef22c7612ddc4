//! Silent acquisition against the emulator over real HTTPS: sign a user in
//! with the auth code flow, then get tokens without them, from the cache or
//! by redeeming the cached refresh token, and fail over to interaction when
//! only the user can help.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::common::{public_app, web_app};
use msal::{
    Account, AuthCodeFlowOptions, AuthenticationResult, ClientSecret, ConfidentialClientApplication, Error,
    InteractionReason, PublicClientApplication, ResponseMode, SilentOptions, TokenCache, TokenSource,
};
use msal_emulator::{Emulator, Endpoint, builtin};
use msal_test_support::{msal_http, start, user};
use serde_json::{Value, json};

const SCOPES: [&str; 2] = ["User.Read", "Mail.Read"];

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Signs Alice in to the public app through the emulator's sign-in page.
async fn sign_in_public(
    emulator: &Emulator,
    cache: &TokenCache,
) -> (PublicClientApplication, Account, AuthenticationResult) {
    let app = public_app(emulator, builtin::CONTOSO_TENANT_NAME, cache);
    let flow = app
        .initiate_auth_code_flow(
            SCOPES,
            "http://localhost:8765",
            &AuthCodeFlowOptions::default().response_mode(ResponseMode::Query),
        )
        .await
        .unwrap();
    let response = user::sign_in(
        emulator,
        flow.auth_uri(),
        builtin::ALICE_UPN,
        builtin::ALICE_PASSWORD,
    )
    .await
    .unwrap();
    let result = app
        .acquire_token_by_auth_code_flow(&flow, &response)
        .await
        .unwrap();
    let account = result.account.clone().expect("an account");
    (app, account, result)
}

/// Rewrites every entry of a cache section, as another process editing the
/// persisted cache would.
fn edit_section(cache: &TokenCache, section: &str, edit: impl Fn(&mut Value)) {
    let mut json: Value = serde_json::from_str(&cache.serialize()).unwrap();
    for entry in json[section].as_object_mut().unwrap().values_mut() {
        edit(entry);
    }
    cache.deserialize(&json.to_string()).unwrap();
}

fn section(cache: &TokenCache, name: &str) -> serde_json::Map<String, Value> {
    let json: Value = serde_json::from_str(&cache.serialize()).unwrap();
    json[name].as_object().unwrap().clone()
}

/// The only refresh token's secret.
fn refresh_token(cache: &TokenCache) -> String {
    let rts = section(cache, "RefreshToken");
    assert_eq!(rts.len(), 1, "{rts:#?}");
    rts.values().next().unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Makes the cached access token expire within the five-minute margin.
fn expire_access_token(cache: &TokenCache) {
    edit_section(cache, "AccessToken", |at| {
        at["expires_on"] = json!((now() + 60).to_string())
    });
}

#[tokio::test]
async fn the_cached_token_serves_its_scopes_and_any_subset_without_a_request() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let (app, account, signed_in) = sign_in_public(&emulator, &cache).await;
    emulator.reset_counts();

    let hit = app.acquire_token_silent(SCOPES, &account).await.unwrap();
    assert_eq!(hit.token_source, TokenSource::Cache);
    assert_eq!(hit.access_token, signed_in.access_token);
    assert_eq!(hit.account.as_ref(), Some(&account));
    let claims = hit
        .id_token_claims
        .as_ref()
        .expect("claims of the cached ID token");
    assert_eq!(claims.object_id(), Some(builtin::ALICE_OBJECT_ID));
    assert_eq!(hit.tenant_id.as_deref(), Some(builtin::CONTOSO_TENANT_ID));

    let subset = app.acquire_token_silent(["mail.read"], &account).await.unwrap();
    assert_eq!(subset.token_source, TokenSource::Cache);
    assert_eq!(subset.access_token, signed_in.access_token);
    assert_eq!(emulator.request_count(Endpoint::Token), 0);
    assert_eq!(emulator.total_requests(), 0, "not even discovery");

    // Reserved scopes are the library's business, as in the auth code flow.
    let refused = app.acquire_token_silent(["User.Read", "openid"], &account).await;
    assert!(matches!(refused, Err(Error::InvalidArgument(_))), "{refused:?}");
    let empty = app.acquire_token_silent(Vec::<String>::new(), &account).await;
    assert!(matches!(empty, Err(Error::InvalidArgument(_))), "{empty:?}");
}

#[tokio::test]
async fn force_refresh_redeems_the_refresh_token_once_and_replaces_it() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let (app, account, signed_in) = sign_in_public(&emulator, &cache).await;
    let old_rt = refresh_token(&cache);
    emulator.reset_counts();

    let fresh = app
        .acquire_token_silent_with(SCOPES, &account, &SilentOptions::default().force_refresh(true))
        .await
        .unwrap();
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
    assert_eq!(fresh.token_source, TokenSource::IdentityProvider);
    assert_ne!(fresh.access_token, signed_in.access_token);
    assert_eq!(fresh.account.as_ref(), Some(&account));
    // The new refresh token took the old one's place.
    let new_rt = refresh_token(&cache);
    assert_ne!(new_rt, old_rt);
    assert_eq!(section(&cache, "AccessToken").len(), 1);
    assert_eq!(section(&cache, "Account").len(), 1);

    // The next call is served the new token from the cache.
    let hit = app.acquire_token_silent(SCOPES, &account).await.unwrap();
    assert_eq!(hit.token_source, TokenSource::Cache);
    assert_eq!(hit.access_token, fresh.access_token);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
}

#[tokio::test]
async fn an_access_token_about_to_expire_is_refreshed() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let (app, account, signed_in) = sign_in_public(&emulator, &cache).await;
    expire_access_token(&cache);
    emulator.reset_counts();

    let fresh = app.acquire_token_silent(SCOPES, &account).await.unwrap();
    assert_eq!(fresh.token_source, TokenSource::IdentityProvider);
    assert_ne!(fresh.access_token, signed_in.access_token);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
    assert!(fresh.expires_in().as_secs() > 600);
}

#[tokio::test]
async fn past_refresh_on_the_token_is_refreshed_and_kept_when_the_idp_fails() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let (app, account, _) = sign_in_public(&emulator, &cache).await;
    let aging = || {
        edit_section(&cache, "AccessToken", |at| {
            at["refresh_on"] = json!((now() - 10).to_string())
        })
    };

    aging();
    emulator.reset_counts();
    let refreshed = app.acquire_token_silent(SCOPES, &account).await.unwrap();
    assert_eq!(refreshed.token_source, TokenSource::IdentityProvider);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);

    aging();
    assert!(emulator.revoke_refresh_tokens(builtin::ALICE_UPN) > 0);
    emulator.reset_counts();
    let kept = app.acquire_token_silent(SCOPES, &account).await.unwrap();
    assert_eq!(
        emulator.request_count(Endpoint::Token),
        1,
        "the refresh was tried"
    );
    assert_eq!(kept.token_source, TokenSource::Cache);
    assert_eq!(kept.access_token, refreshed.access_token, "the still-valid token");
}

#[tokio::test]
async fn a_revoked_refresh_token_without_a_usable_access_token_requires_interaction() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let (app, account, _) = sign_in_public(&emulator, &cache).await;
    let rt = refresh_token(&cache);
    expire_access_token(&cache);
    emulator.revoke_refresh_tokens(builtin::ALICE_UPN);
    emulator.reset_counts();

    let error = app.acquire_token_silent(SCOPES, &account).await.unwrap_err();
    assert!(error.is_interaction_required());
    let Error::InteractionRequired { reason, service } = &error else {
        panic!("expected InteractionRequired, got {error:?}");
    };
    assert_eq!(*reason, InteractionReason::RefreshTokenRejected);
    let service = service.as_ref().expect("the identity provider's answer");
    assert_eq!(service.error, "invalid_grant");
    assert_eq!(service.aadsts_code(), Some(70000));
    assert_eq!(service.status, 400);
    let message = error.to_string();
    assert!(message.contains("sign in interactively"), "{message}");
    assert!(
        !message.contains(&rt) && !format!("{error:?}").contains(&rt),
        "{message}"
    );
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
    // MSAL keeps a refused refresh token: it may still serve other scopes or tenants.
    assert_eq!(refresh_token(&cache), rt);
}

#[tokio::test]
async fn without_a_refresh_token_or_an_account_interaction_is_required_without_a_request() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let (app, account, _) = sign_in_public(&emulator, &cache).await;
    expire_access_token(&cache);
    let mut json: Value = serde_json::from_str(&cache.serialize()).unwrap();
    json["RefreshToken"] = json!({});
    cache.deserialize(&json.to_string()).unwrap();
    emulator.reset_counts();

    let error = app.acquire_token_silent(SCOPES, &account).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::InteractionRequired {
                reason: InteractionReason::NoRefreshToken,
                service: None
            }
        ),
        "{error:?}"
    );
    app.remove_account(&account);
    let error = app.acquire_token_silent(SCOPES, &account).await.unwrap_err();
    assert!(
        matches!(
            error,
            Error::InteractionRequired {
                reason: InteractionReason::NoAccount,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_interaction_required());
    assert_eq!(emulator.request_count(Endpoint::Token), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_calls_on_an_expired_token_share_one_refresh() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let (app, account, signed_in) = sign_in_public(&emulator, &cache).await;
    expire_access_token(&cache);
    emulator.reset_counts();

    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let (app, account) = (app.clone(), account.clone());
        tasks.push(tokio::spawn(async move {
            app.acquire_token_silent(SCOPES, &account).await
        }));
    }
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.unwrap().unwrap().access_token);
    }
    assert_eq!(emulator.request_count(Endpoint::Token), 1, "one refresh for all");
    assert_ne!(tokens[0], signed_in.access_token);
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "everyone got the new token"
    );
}

#[tokio::test]
async fn a_confidential_web_app_refreshes_with_its_secret() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = web_app(&emulator, builtin::CONTOSO_TENANT_NAME, &cache);
    let flow = app
        .initiate_auth_code_flow(
            SCOPES,
            builtin::WEBAPP_REDIRECT_URI,
            &AuthCodeFlowOptions::default().response_mode(ResponseMode::Query),
        )
        .await
        .unwrap();
    let response = user::sign_in(
        &emulator,
        flow.auth_uri(),
        builtin::BOB_UPN,
        builtin::BOB_PASSWORD,
    )
    .await
    .unwrap();
    let signed_in = app
        .acquire_token_by_auth_code_flow(&flow, &response)
        .await
        .unwrap();
    let account = signed_in.account.clone().unwrap();
    expire_access_token(&cache);
    emulator.reset_counts();

    // The same web app with a wrong secret is refused as a client, not as a user.
    let impostor = ConfidentialClientApplication::builder(builtin::WEBAPP_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .client_secret(ClientSecret::new("not-the-secret"))
        .token_cache(cache.clone())
        .http_client(msal_http(&emulator).unwrap())
        .build()
        .unwrap();
    let error = impostor.acquire_token_silent(SCOPES, &account).await.unwrap_err();
    assert_eq!(
        error.service_error().map(|e| e.error.as_str()),
        Some("invalid_client"),
        "{error:?}"
    );
    assert!(!error.is_interaction_required());

    let fresh = app.acquire_token_silent(SCOPES, &account).await.unwrap();
    assert_eq!(fresh.token_source, TokenSource::IdentityProvider);
    assert_ne!(fresh.access_token, signed_in.access_token);
    assert_eq!(fresh.account.unwrap().username, builtin::BOB_UPN);
    assert_eq!(emulator.request_count(Endpoint::Token), 2);
}

#[test]
fn the_blocking_facade_is_silent_too() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let emulator = runtime.block_on(start()).unwrap();
    let cache = TokenCache::new();
    let (_, account, signed_in) = runtime.block_on(sign_in_public(&emulator, &cache));
    let app = PublicClientApplication::builder(builtin::PUBLIC_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .token_cache(cache.clone())
        .http_client(msal_http(&emulator).unwrap())
        .build_blocking()
        .unwrap();
    let hit = app.acquire_token_silent(SCOPES, &account).unwrap();
    assert_eq!(hit.access_token, signed_in.access_token);
    let fresh = app
        .acquire_token_silent_with(SCOPES, &account, &SilentOptions::default().force_refresh(true))
        .unwrap();
    assert_eq!(fresh.token_source, TokenSource::IdentityProvider);
}

#[tokio::test]
async fn a_per_call_authority_finds_the_tenant_s_tokens() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let (app, account, signed_in) = sign_in_public(&emulator, &cache).await;
    emulator.reset_counts();

    // The tenant id names the realm the tokens are cached under: no request at all.
    let by_id = SilentOptions::default().authority(emulator.authority(builtin::CONTOSO_TENANT_ID));
    let hit = app
        .acquire_token_silent_with(SCOPES, &account, &by_id)
        .await
        .unwrap();
    assert_eq!(hit.token_source, TokenSource::Cache);
    assert_eq!(hit.access_token, signed_in.access_token);
    assert_eq!(emulator.total_requests(), 0);

    // A tenant name needs discovery once to learn the realm; then the cache answers.
    let by_domain = SilentOptions::default().authority(emulator.authority(builtin::CONTOSO_DOMAIN));
    for _ in 0..2 {
        let hit = app
            .acquire_token_silent_with(SCOPES, &account, &by_domain)
            .await
            .unwrap();
        assert_eq!(hit.access_token, signed_in.access_token);
    }
    assert_eq!(emulator.request_count(Endpoint::Token), 0);
    assert_eq!(emulator.request_count(Endpoint::OpenIdConfiguration), 1);

    let refused = app
        .acquire_token_silent_with(
            SCOPES,
            &account,
            &SilentOptions::default().authority("http://insecure/contoso"),
        )
        .await;
    assert!(
        matches!(refused, Err(Error::InvalidAuthority { .. })),
        "{refused:?}"
    );
}

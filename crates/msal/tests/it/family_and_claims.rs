//! Family refresh tokens (FOCI) and claims challenges (CAE) against the
//! emulator over real HTTPS: sign in with one family app and get tokens
//! silently for another; have a protected resource challenge a token after
//! the user's sessions are revoked, and answer the challenge silently.

use msal::{
    AuthCodeFlowOptions, BearerChallenge, PublicClientApplication, ResponseMode, SilentOptions, TokenCache,
    TokenSource,
};
use msal_emulator::{Emulator, Endpoint, builtin};
use msal_test_support::{browser, msal_http, start, user};
use serde_json::Value;

fn app(
    emulator: &Emulator,
    client_id: &str,
    cache: &TokenCache,
    capabilities: &[&str],
) -> PublicClientApplication {
    PublicClientApplication::builder(client_id)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .client_capabilities(capabilities.iter().copied())
        .token_cache(cache.clone())
        .http_client(msal_http(emulator).unwrap())
        .build()
        .unwrap()
}

async fn sign_in_alice(emulator: &Emulator, app: &PublicClientApplication) -> msal::AuthenticationResult {
    let flow = app
        .initiate_auth_code_flow(
            ["User.Read"],
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
    app.acquire_token_by_auth_code_flow(&flow, &response)
        .await
        .unwrap()
}

/// The claims of a JWT, unverified (the emulator's tests verify signatures).
fn claims(jwt: &str) -> Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_family_app_is_signed_in_silently_with_another_family_apps_refresh_token() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let office = app(&emulator, builtin::FOCI_APP_A_CLIENT_ID, &cache, &[]);
    sign_in_alice(&emulator, &office).await;
    let cached: Value = serde_json::from_str(&cache.serialize()).unwrap();
    let rt = cached["RefreshToken"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    assert_eq!(
        rt["family_id"], "1",
        "the IdP marked the refresh token as a family token"
    );

    // Teams has never signed anyone in, but shares the cache and the family.
    let teams = app(&emulator, builtin::FOCI_APP_B_CLIENT_ID, &cache, &[]);
    let account = teams.get_accounts(Some(builtin::ALICE_UPN))[0].clone();
    let before = emulator.grant_count("refresh_token");
    let result = teams.acquire_token_silent(["User.Read"], &account).await.unwrap();
    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    // `appid`: Graph's tokens are v1.0, which have no `azp`.
    assert_eq!(
        claims(result.access_token.expose_secret())["appid"],
        builtin::FOCI_APP_B_CLIENT_ID
    );
    assert_eq!(
        emulator.grant_count("refresh_token"),
        before + 1,
        "one family refresh"
    );
    // Then Teams is served from the cache like any app.
    let again = teams.acquire_token_silent(["User.Read"], &account).await.unwrap();
    assert_eq!(again.token_source, TokenSource::Cache);
    assert_eq!(emulator.grant_count("refresh_token"), before + 1);

    // An app outside the family gets client_mismatch for the family token and
    // has none of its own: only the user can help.
    let desktop = app(&emulator, builtin::PUBLIC_CLIENT_ID, &cache, &[]);
    let error = desktop
        .acquire_token_silent(["User.Read"], &account)
        .await
        .unwrap_err();
    assert!(error.is_interaction_required(), "{error:?}");
}

#[tokio::test]
async fn a_claims_challenge_from_the_resource_is_answered_silently() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = app(&emulator, builtin::PUBLIC_CLIENT_ID, &cache, &["cp1"]);
    let signed_in = sign_in_alice(&emulator, &app).await;
    let token = signed_in.access_token.expose_secret().to_owned();
    assert_eq!(
        claims(&token)["xms_cc"],
        serde_json::json!(["cp1"]),
        "the client declared cp1"
    );

    let resource = format!("{}/resource/me", emulator.url());
    let client = browser(&emulator).unwrap();
    let call = |token: String| {
        let request = client.get(&resource).bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    let me = call(token.clone()).await;
    assert_eq!(me.status(), 200);

    // An administrator revokes Alice's sessions: the resource challenges the old token.
    emulator.revoke_user_sessions(builtin::ALICE_UPN);
    let refused = call(token.clone()).await;
    assert_eq!(refused.status(), 401);
    let header = refused.headers()["www-authenticate"].to_str().unwrap().to_owned();
    let challenge = BearerChallenge::parse(&header).expect("a Bearer challenge");
    assert!(challenge.is_claims_challenge(), "{header}");

    // The cached token is still valid by its expiry, but the challenge skips it.
    let account = signed_in.account.unwrap();
    let before = emulator.request_count(Endpoint::Token);
    let options = SilentOptions::default().claims_challenge(challenge.claims.unwrap());
    let fresh = app
        .acquire_token_silent_with(["User.Read"], &account, &options)
        .await
        .unwrap();
    assert_eq!(fresh.token_source, TokenSource::IdentityProvider);
    assert_eq!(emulator.request_count(Endpoint::Token), before + 1);
    assert_eq!(
        claims(fresh.access_token.expose_secret())["xms_cc"],
        serde_json::json!(["cp1"])
    );
    assert_eq!(
        call(fresh.access_token.expose_secret().to_owned()).await.status(),
        200
    );
    // And the next plain silent call gets the fresh token from the cache.
    let cached = app.acquire_token_silent(["User.Read"], &account).await.unwrap();
    assert_eq!(cached.token_source, TokenSource::Cache);
    assert_eq!(
        cached.access_token.expose_secret(),
        fresh.access_token.expose_secret()
    );
}

#[tokio::test]
async fn an_app_token_answers_a_claims_challenge_by_skipping_the_cache() {
    let emulator = msal_test_support::start().await.unwrap();
    let cache = TokenCache::new();
    let app = crate::common::daemon(
        &emulator,
        builtin::CONTOSO_TENANT_NAME,
        builtin::DAEMON_CLIENT_SECRET,
        &cache,
    );
    let first = app
        .acquire_token_for_client([crate::common::GRAPH_DEFAULT])
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let challenge = format!(r#"{{"access_token":{{"nbf":{{"essential":true,"value":"{now}"}}}}}}"#);
    let options = msal::ClientCredentialsOptions::default().claims_challenge(challenge);
    let fresh = app
        .acquire_token_for_client_with([crate::common::GRAPH_DEFAULT], &options)
        .await
        .unwrap();
    assert_eq!(fresh.token_source, TokenSource::IdentityProvider);
    assert_eq!(emulator.request_count(Endpoint::Token), 2);
    let nbf = claims(fresh.access_token.expose_secret())["nbf"]
        .as_u64()
        .unwrap();
    assert!(nbf >= now, "nbf {nbf} before the challenge's {now}");
    let _ = first;
    // Not JSON: refused before any request.
    let bad = msal::ClientCredentialsOptions::default().claims_challenge("nbf-please");
    let err = app
        .acquire_token_for_client_with([crate::common::GRAPH_DEFAULT], &bad)
        .await
        .unwrap_err();
    assert!(matches!(err, msal::Error::InvalidArgument(_)), "{err:?}");
    assert_eq!(emulator.request_count(Endpoint::Token), 2);
}

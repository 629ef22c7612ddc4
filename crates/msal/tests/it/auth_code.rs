//! The authorization code flow as a web app uses it, against the emulator
//! over real HTTPS: initiate, sign the user in on the emulator's page,
//! redeem; and every way a tampered or replayed response is refused.

use crate::common::{public_app, web_app};
use msal::{AuthCodeFlow, AuthCodeFlowOptions, Error, ResponseMode, TokenCache, TokenSource};
use msal_emulator::{Endpoint, builtin};
use msal_test_support::{browser, start, user};
use serde_json::Value;

const REDIRECT: &str = builtin::WEBAPP_REDIRECT_URI;

fn query() -> AuthCodeFlowOptions {
    AuthCodeFlowOptions::default().response_mode(ResponseMode::Query)
}

/// A flow with one of its kept fields replaced, as a tampered session store would hold it.
fn with_field(flow: &AuthCodeFlow, field: &str, value: &str) -> AuthCodeFlow {
    let mut json = serde_json::to_value(flow).unwrap();
    assert!(json.get(field).is_some(), "the flow keeps {field}");
    json[field] = Value::String(value.into());
    serde_json::from_value(json).unwrap()
}

fn service_error(result: msal::Result<msal::AuthenticationResult>) -> msal::ServiceError {
    match result {
        Err(Error::Service(e)) => *e,
        other => panic!("expected an error from the identity provider, got {other:?}"),
    }
}

#[tokio::test]
async fn web_app_signs_a_user_in_and_caches_tokens_and_account() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = web_app(&emulator, builtin::CONTOSO_TENANT_NAME, &cache);
    let flow = app
        .initiate_auth_code_flow(["User.Read"], REDIRECT, &query().login_hint(builtin::ALICE_UPN))
        .await
        .unwrap();
    // The flow survives the web app's session store.
    let flow: AuthCodeFlow = serde_json::from_str(&serde_json::to_string(&flow).unwrap()).unwrap();
    let response = user::sign_in(
        &emulator,
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

    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    assert_eq!(result.token_type, "Bearer");
    let account = result.account.clone().expect("an account");
    assert_eq!(account.username, builtin::ALICE_UPN);
    assert_eq!(
        account.home_account_id,
        format!("{}.{}", builtin::ALICE_OBJECT_ID, builtin::CONTOSO_TENANT_ID)
    );
    let claims = result.id_token_claims.as_ref().expect("id token claims");
    assert_eq!(claims.object_id(), Some(builtin::ALICE_OBJECT_ID));
    assert_eq!(claims.tenant_id(), Some(builtin::CONTOSO_TENANT_ID));

    // The five kinds of entry MSAL Python writes, one each.
    let json: Value = serde_json::from_str(&cache.serialize()).unwrap();
    for section in ["AccessToken", "RefreshToken", "IdToken", "Account", "AppMetadata"] {
        assert_eq!(json[section].as_object().unwrap().len(), 1, "{section}: {json:#}");
    }
    assert_eq!(app.get_accounts(None), vec![account.clone()]);
    assert_eq!(app.get_accounts(Some("ALICE@contoso.onmicrosoft.com")).len(), 1);
    assert!(app.get_accounts(Some(builtin::BOB_UPN)).is_empty());

    app.remove_account(&account);
    assert!(app.get_accounts(None).is_empty());
    let json: Value = serde_json::from_str(&cache.serialize()).unwrap();
    for section in ["AccessToken", "RefreshToken", "IdToken", "Account"] {
        assert!(json[section].as_object().unwrap().is_empty(), "{section} emptied");
    }
}

#[tokio::test]
async fn tampered_state_is_refused_before_any_token_request() {
    let emulator = start().await.unwrap();
    let app = web_app(&emulator, builtin::CONTOSO_TENANT_NAME, &TokenCache::new());
    let flow = app
        .initiate_auth_code_flow(["User.Read"], REDIRECT, &query())
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
    let forged: msal::AuthResponse = [
        ("code", response.get("code").unwrap()),
        ("state", "attacker-state"),
    ]
    .into_iter()
    .collect();
    emulator.reset_counts();
    let error = app
        .acquire_token_by_auth_code_flow(&flow, &forged)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::StateMismatch), "{error:?}");
    assert_eq!(emulator.request_count(Endpoint::Token), 0);
    // The genuine response still works afterwards.
    app.acquire_token_by_auth_code_flow(&flow, &response)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_replayed_code_is_invalid_grant() {
    let emulator = start().await.unwrap();
    let app = web_app(&emulator, builtin::CONTOSO_TENANT_NAME, &TokenCache::new());
    let flow = app
        .initiate_auth_code_flow(["User.Read"], REDIRECT, &query())
        .await
        .unwrap();
    let response = user::sign_in(
        &emulator,
        flow.auth_uri(),
        builtin::ALICE_UPN,
        builtin::ALICE_PASSWORD,
    )
    .await
    .unwrap();
    app.acquire_token_by_auth_code_flow(&flow, &response)
        .await
        .unwrap();
    let error = service_error(app.acquire_token_by_auth_code_flow(&flow, &response).await);
    assert_eq!(error.error, "invalid_grant");
    assert_eq!(error.aadsts_code(), Some(54005), "{error}");
}

#[tokio::test]
async fn a_wrong_pkce_verifier_is_invalid_grant() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = public_app(&emulator, builtin::CONTOSO_TENANT_NAME, &cache);
    let flow = app
        .initiate_auth_code_flow(["User.Read"], "http://localhost:8765", &query())
        .await
        .unwrap();
    let response = user::sign_in(
        &emulator,
        flow.auth_uri(),
        builtin::ALICE_UPN,
        builtin::ALICE_PASSWORD,
    )
    .await
    .unwrap();
    let tampered = with_field(&flow, "code_verifier", &"x".repeat(43));
    let error = service_error(app.acquire_token_by_auth_code_flow(&tampered, &response).await);
    assert_eq!(error.error, "invalid_grant");
    assert_eq!(error.aadsts_code(), Some(501481), "{error}");
    assert!(app.get_accounts(None).is_empty(), "nothing cached");
    assert!(
        !format!("{error:?}").contains(&"x".repeat(43)),
        "the verifier stays out of errors"
    );
}

#[tokio::test]
async fn a_wrong_nonce_is_refused_and_nothing_is_cached() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = web_app(&emulator, builtin::CONTOSO_TENANT_NAME, &cache);
    let flow = app
        .initiate_auth_code_flow(["User.Read"], REDIRECT, &query())
        .await
        .unwrap();
    let response = user::sign_in(
        &emulator,
        flow.auth_uri(),
        builtin::ALICE_UPN,
        builtin::ALICE_PASSWORD,
    )
    .await
    .unwrap();
    let tampered = with_field(&flow, "nonce", "not-the-nonce-that-was-sent");
    let error = app
        .acquire_token_by_auth_code_flow(&tampered, &response)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::NonceMismatch), "{error:?}");
    assert!(app.get_accounts(None).is_empty());
    assert_eq!(cache.access_token_count(), 0);
}

#[tokio::test]
async fn an_error_in_the_redirect_is_the_identity_providers_error() {
    let emulator = start().await.unwrap();
    let app = public_app(&emulator, builtin::CONTOSO_TENANT_NAME, &TokenCache::new());
    // prompt=none with no session: Entra sends login_required back to the app.
    let flow = app
        .initiate_auth_code_flow(
            ["User.Read"],
            "http://localhost:8765",
            &query().prompt(msal::Prompt::None),
        )
        .await
        .unwrap();
    let http = browser(&emulator).unwrap();
    let redirect = http.get(flow.auth_uri()).send().await.unwrap();
    assert_eq!(redirect.status(), 302);
    let location = redirect.headers()["location"].to_str().unwrap();
    let response = msal::AuthResponse::from_redirect_url(location).unwrap();
    let error = service_error(app.acquire_token_by_auth_code_flow(&flow, &response).await);
    assert_eq!(error.error, "login_required");
    assert!(
        error
            .error_description
            .as_deref()
            .unwrap_or_default()
            .starts_with("AADSTS50058")
    );
}

#[tokio::test]
async fn form_post_responses_work_too() {
    let emulator = start().await.unwrap();
    let app = public_app(&emulator, builtin::CONTOSO_TENANT_NAME, &TokenCache::new());
    let flow = app
        .initiate_auth_code_flow(
            ["User.Read"],
            "http://127.0.0.1:8765",
            &AuthCodeFlowOptions::default().response_mode(ResponseMode::FormPost),
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
    let result = app
        .acquire_token_by_auth_code_flow(&flow, &response)
        .await
        .unwrap();
    assert_eq!(result.account.unwrap().username, builtin::BOB_UPN);
}

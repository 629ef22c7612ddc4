//! Username/password sign-in against the emulator over real HTTPS: a
//! managed user through the password grant, a federated user through the
//! emulated AD FS (MEX, WS-Trust, SAML bearer grant), wrong passwords for
//! both, and silent calls served from the cache afterwards.

use crate::common::public_app;
use msal::{
    ClientSecret, ConfidentialClientApplication, Error, Password, PublicClientApplication, TokenCache,
    TokenSource,
};
use msal_emulator::{Emulator, Endpoint, builtin};
use msal_test_support::{msal_http, start};
use serde_json::Value;
use std::sync::{Arc, Mutex};

const SCOPES: [&str; 1] = ["User.Read"];

fn accounts_section(cache: &TokenCache) -> serde_json::Map<String, Value> {
    let json: Value = serde_json::from_str(&cache.serialize()).unwrap();
    json["Account"].as_object().cloned().unwrap_or_default()
}

fn woodgrove_app(emulator: &Emulator, cache: &TokenCache) -> PublicClientApplication {
    public_app(emulator, builtin::WOODGROVE_TENANT_NAME, cache)
}

fn woodgrove_recorded(emulator: &Emulator, cache: &TokenCache) -> (PublicClientApplication, Recorder) {
    let http = Recorder::new(emulator, false);
    let app = PublicClientApplication::builder(builtin::PUBLIC_CLIENT_ID)
        .authority(&emulator.authority(builtin::WOODGROVE_TENANT_NAME))
        .token_cache(cache.clone())
        .http_client(http.clone())
        .build()
        .unwrap();
    (app, http)
}

#[tokio::test]
async fn managed_user_signs_in_with_the_password_grant_then_silently() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = public_app(&emulator, builtin::CONTOSO_TENANT_NAME, &cache);
    let result = app
        .acquire_token_by_username_password(
            builtin::ALICE_UPN,
            Password::new(builtin::ALICE_PASSWORD),
            SCOPES,
        )
        .await
        .unwrap();
    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    let account = result.account.clone().expect("an account");
    assert_eq!(account.username, builtin::ALICE_UPN);
    assert_eq!(account.account_source.as_deref(), Some("password"));
    assert_eq!(emulator.request_count(Endpoint::UserRealm), 1);
    assert_eq!(emulator.request_count(Endpoint::Federation), 0);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);

    let accounts = app.get_accounts(None);
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts_section(&cache).len(), 1);
    let silent = app.acquire_token_silent(SCOPES, &accounts[0]).await.unwrap();
    assert_eq!(silent.token_source, TokenSource::Cache);
    assert_eq!(silent.access_token, result.access_token);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
}

#[tokio::test]
async fn federated_user_signs_in_through_ws_trust_then_silently() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let (app, recorder) = woodgrove_recorded(&emulator, &cache);
    let result = app
        .acquire_token_by_username_password(builtin::DAVE_UPN, Password::new(builtin::DAVE_PASSWORD), SCOPES)
        .await
        .unwrap();
    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    let claims = result.id_token_claims.as_ref().expect("an ID token");
    assert_eq!(claims.tenant_id(), Some(builtin::WOODGROVE_TENANT_ID));
    let account = result.account.clone().expect("an account");
    assert_eq!(account.username.to_lowercase(), builtin::DAVE_UPN);
    // MEX, then one WS-Trust 1.3 request, whose SAML 2.0 assertion is redeemed.
    assert_eq!(
        recorder.grants(),
        ["urn:ietf:params:oauth:grant-type:saml2-bearer"]
    );
    assert_eq!(emulator.request_count(Endpoint::UserRealm), 1);
    assert_eq!(emulator.request_count(Endpoint::Federation), 2);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);

    let accounts = app.get_accounts(Some(builtin::DAVE_UPN));
    assert_eq!(accounts.len(), 1);
    let silent = app.acquire_token_silent(SCOPES, &accounts[0]).await.unwrap();
    assert_eq!(silent.token_source, TokenSource::Cache);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);

    // A second sign-in reuses the user realm and MEX answers: one WS-Trust request more.
    app.acquire_token_by_username_password(builtin::DAVE_UPN, Password::new(builtin::DAVE_PASSWORD), SCOPES)
        .await
        .unwrap();
    assert_eq!(emulator.request_count(Endpoint::UserRealm), 1);
    assert_eq!(emulator.request_count(Endpoint::Federation), 3);
}

#[tokio::test]
async fn wrong_passwords_are_typed_errors_and_cache_nothing() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();

    let app = public_app(&emulator, builtin::CONTOSO_TENANT_NAME, &cache);
    let wrong = "Wrong-P@ssw0rd<&>";
    let err = app
        .acquire_token_by_username_password(builtin::ALICE_UPN, Password::new(wrong), SCOPES)
        .await
        .unwrap_err();
    let service = err.service_error().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(service.error, "invalid_grant");
    assert_eq!(service.aadsts_code(), Some(50126));
    assert!(!format!("{err} {err:?}").contains(wrong));

    let app = woodgrove_app(&emulator, &cache);
    let err = app
        .acquire_token_by_username_password(builtin::DAVE_UPN, Password::new(wrong), SCOPES)
        .await
        .unwrap_err();
    match &err {
        Error::WsTrustFault { code, reason, .. } => {
            assert!(!code.is_empty() || !reason.is_empty(), "{err:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains(wrong));
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
    assert!(accounts_section(&cache).is_empty());
    assert_eq!(cache.access_token_count(), 0);
}

#[tokio::test]
async fn confidential_client_signs_a_managed_user_in() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = ConfidentialClientApplication::builder(builtin::WEBAPP_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .client_secret(ClientSecret::new(builtin::WEBAPP_CLIENT_SECRET))
        .token_cache(cache.clone())
        .http_client(msal_http(&emulator).unwrap())
        .build()
        .unwrap();
    let result = app
        .acquire_token_by_username_password(
            builtin::ALICE_UPN,
            Password::new(builtin::ALICE_PASSWORD),
            SCOPES,
        )
        .await
        .unwrap();
    let account = result.account.expect("an account");
    let silent = app.acquire_token_silent(SCOPES, &account).await.unwrap();
    assert_eq!(silent.token_source, TokenSource::Cache);
}

#[test]
fn blocking_facade_signs_both_users_in() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(start()).unwrap();
    let cache = TokenCache::new();
    let managed = PublicClientApplication::builder(builtin::PUBLIC_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .token_cache(cache.clone())
        .http_client(msal_http(&emulator).unwrap())
        .build_blocking()
        .unwrap();
    managed
        .acquire_token_by_username_password(
            builtin::ALICE_UPN,
            Password::new(builtin::ALICE_PASSWORD),
            SCOPES,
        )
        .unwrap();
    let federated = PublicClientApplication::builder(builtin::PUBLIC_CLIENT_ID)
        .authority(&emulator.authority(builtin::WOODGROVE_TENANT_NAME))
        .token_cache(cache.clone())
        .http_client(msal_http(&emulator).unwrap())
        .build_blocking()
        .unwrap();
    federated
        .acquire_token_by_username_password(builtin::DAVE_UPN, Password::new(builtin::DAVE_PASSWORD), SCOPES)
        .unwrap();
    assert_eq!(accounts_section(&cache).len(), 2);
    drop(runtime);
}

/// The real transport, recording the grant types of the token requests it
/// carries, and optionally removing the user realm's
/// `federation_metadata_url`: the library must then use
/// `federation_active_auth_url` (the WS-Trust 2005 endpoint) and redeem a
/// SAML 1.1 assertion.
#[derive(Clone)]
struct Recorder {
    inner: msal::ReqwestHttpClient,
    grants: Arc<Mutex<Vec<String>>>,
    drop_mex: bool,
}

impl Recorder {
    fn new(emulator: &Emulator, drop_mex: bool) -> Self {
        Self {
            inner: msal_http(emulator).unwrap(),
            grants: Arc::default(),
            drop_mex,
        }
    }

    fn grants(&self) -> Vec<String> {
        self.grants.lock().unwrap().clone()
    }
}

impl msal::HttpClient for Recorder {
    fn execute(
        &self,
        request: msal::HttpRequest,
    ) -> msal::http::BoxFuture<'_, Result<msal::HttpResponse, msal::TransportError>> {
        Box::pin(async move {
            let realm = self.drop_mex && request.url.path().contains("/userrealm/");
            if request.url.path().ends_with("/oauth2/v2.0/token") {
                let grant = url::form_urlencoded::parse(&request.body)
                    .find(|(name, _)| name == "grant_type")
                    .map(|(_, value)| value.into_owned());
                self.grants.lock().unwrap().extend(grant);
            }
            let mut response = self.inner.execute(request).await?;
            if realm {
                let mut json: Value = serde_json::from_slice(&response.body).unwrap();
                json.as_object_mut().unwrap().remove("federation_metadata_url");
                response.body = json.to_string().into_bytes();
            }
            Ok(response)
        })
    }
}

#[tokio::test]
async fn federated_user_without_mex_uses_ws_trust_2005_and_saml11() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let http = Recorder::new(&emulator, true);
    let app = PublicClientApplication::builder(builtin::PUBLIC_CLIENT_ID)
        .authority(&emulator.authority(builtin::WOODGROVE_TENANT_NAME))
        .token_cache(cache.clone())
        .http_client(http.clone())
        .build()
        .unwrap();
    let result = app
        .acquire_token_by_username_password(builtin::DAVE_UPN, Password::new(builtin::DAVE_PASSWORD), SCOPES)
        .await
        .unwrap();
    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    // No MEX request: only the WS-Trust one.
    assert_eq!(emulator.request_count(Endpoint::Federation), 1);
    assert_eq!(http.grants(), ["urn:ietf:params:oauth:grant-type:saml1_1-bearer"]);
    let account = result.account.expect("an account");
    let silent = app.acquire_token_silent(SCOPES, &account).await.unwrap();
    assert_eq!(silent.token_source, TokenSource::Cache);
}

#[tokio::test]
async fn passwords_and_assertions_stay_out_of_the_library_logs() {
    // Every event this test's thread logs (the library's and the
    // emulator's), at every level; see msal_test_support::logs for why not
    // a subscriber of the test's own.
    let logs = msal_test_support::logs::capture().unwrap();

    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let contoso = public_app(&emulator, builtin::CONTOSO_TENANT_NAME, &cache);
    let woodgrove = woodgrove_app(&emulator, &cache);
    let wrong = "Wr0ng-And-Unique";
    for (app, user, password) in [
        (&contoso, builtin::ALICE_UPN, builtin::ALICE_PASSWORD),
        (&woodgrove, builtin::DAVE_UPN, builtin::DAVE_PASSWORD),
    ] {
        app.acquire_token_by_username_password(user, Password::new(password), SCOPES)
            .await
            .unwrap();
        let err = app
            .acquire_token_by_username_password(user, Password::new(wrong), SCOPES)
            .await
            .unwrap_err();
        tracing::error!("sign-in failed: {err} / {err:?}");
    }
    let logs = logs.text();
    let library: Vec<&str> = logs.lines().filter(|l| !l.contains("msal_emulator")).collect();
    assert!(
        library.iter().any(|l| l.contains("WS-Trust")),
        "the federated path logs: {library:#?}"
    );
    for line in library {
        for secret in [
            builtin::ALICE_PASSWORD,
            builtin::DAVE_PASSWORD,
            wrong,
            "Assertion",
            "PHNhbWw",
        ] {
            assert!(!line.contains(secret), "{secret} in {line}");
        }
    }
}

//! Generic OIDC (`oidc_authority`) against a real OpenID Certified provider,
//! panva's `oidc-provider`, over HTTPS on loopback (see
//! `msal_test_support::oidc_provider`): client credentials with a secret
//! and with `private_key_jwt`, the authorization code flow with PKCE through
//! its login and consent pages, interactive sign-in in headless Chromium,
//! the discovery document's issuer check, and MSAL Python 1.39 with
//! `oidc_authority` against the same provider, sharing cache files with us.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use msal::{
    AuthCodeFlowOptions, BrowserLauncher, ClientCertificate, ClientCredentialsOptions, ClientSecret,
    ConfidentialClientApplication, Error, InteractiveOptions, Prompt, PublicClientApplication, SilentOptions,
    TokenCache, TokenSource,
};
use msal_test_support::oidc_provider::{
    ASSERTION_CLIENT_ID, CONFIDENTIAL_CLIENT_ID, DISPLAY_NAME, OidcProvider, PASSWORD, PUBLIC_CLIENT_ID,
    RESOURCE, SUBJECT, USERNAME, WEB_REDIRECT_URI,
};
use msal_test_support::webdriver::{Browser, artifact_path};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The API scope the tests ask for.
const API_READ: &str = "api.read";

/// The provider's `environment` in the cache: its host, without the port.
const ENVIRONMENT: &str = "127.0.0.1";

/// The realm MSAL Python derives: the first path segment of the token
/// endpoint (`https://127.0.0.1:PORT/op/token`).
const REALM: &str = "op";

fn secret_app(op: &OidcProvider, cache: &TokenCache) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(CONFIDENTIAL_CLIENT_ID)
        .oidc_authority(op.issuer())
        .client_secret(ClientSecret::new(op.client_secret()))
        .token_cache(cache.clone())
        .http_client(op.msal_http().unwrap())
        .build()
        .expect("app builds")
}

fn public_app(op: &OidcProvider, cache: &TokenCache) -> PublicClientApplication {
    PublicClientApplication::builder(PUBLIC_CLIENT_ID)
        .oidc_authority(op.issuer())
        .token_cache(cache.clone())
        // The provider signs with the key its jwks_uri lists: check it.
        .validate_id_tokens(true)
        .http_client(op.msal_http().unwrap())
        .build()
        .expect("app builds")
}

/// The claims of a JWT (not verified: the provider's own tokens).
fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The cache as MSAL's JSON.
fn cache_json(cache: &TokenCache) -> Value {
    serde_json::from_str(&cache.serialize()).unwrap()
}

/// The keys of one section of a serialized cache, sorted.
fn keys(cache: &Value, section: &str) -> Vec<String> {
    let mut keys: Vec<String> = cache[section]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

/// An entry with what differs between two runs (secrets, times) removed.
fn shape(entry: &Value) -> Value {
    let mut entry = entry.clone();
    if let Some(map) = entry.as_object_mut() {
        for field in [
            "secret",
            "cached_at",
            "expires_on",
            "extended_expires_on",
            "last_modification_time",
            "refresh_on",
        ] {
            map.remove(field);
        }
    }
    entry
}

/// Every entry of a serialized cache, by section and key, in [`shape`].
/// Empty sections are left out: MSAL Python writes a section only once it
/// has an entry, we write all five (each reads the other's either way).
fn shapes(cache: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (section, entries) in cache.as_object().unwrap() {
        if entries.as_object().is_some_and(serde_json::Map::is_empty) {
            continue;
        }
        let entries: serde_json::Map<String, Value> = entries
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), shape(v)))
            .collect();
        out.insert(section.clone(), Value::Object(entries));
    }
    Value::Object(out)
}

fn read_cache_file(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn client_credentials_with_a_secret_are_cached_under_the_issuer_host() {
    let op = OidcProvider::start().await.unwrap();
    let cache = TokenCache::new();
    let app = secret_app(&op, &cache);
    let first = app.acquire_token_for_client([API_READ]).await.unwrap();
    assert_eq!(first.token_source, TokenSource::IdentityProvider);
    assert_eq!(first.scopes, [API_READ]);
    let claims = jwt_claims(first.access_token.expose_secret());
    assert_eq!(claims["iss"], op.issuer());
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["client_id"], CONFIDENTIAL_CLIENT_ID);
    assert_eq!(claims["scope"], API_READ);

    let again = app.acquire_token_for_client([API_READ]).await.unwrap();
    assert_eq!(again.token_source, TokenSource::Cache);
    assert_eq!(
        again.access_token.expose_secret(),
        first.access_token.expose_secret()
    );

    let json = cache_json(&cache);
    assert_eq!(
        keys(&json, "AccessToken"),
        [format!(
            "-{ENVIRONMENT}-accesstoken-{CONFIDENTIAL_CLIENT_ID}-{REALM}-{API_READ}"
        )]
    );
    let entry = json["AccessToken"].as_object().unwrap().values().next().unwrap();
    assert_eq!(entry["environment"], ENVIRONMENT);
    assert_eq!(entry["realm"], REALM);
    assert_eq!(entry["home_account_id"], Value::Null);
    assert_eq!(keys(&json, "Account"), Vec::<String>::new());
    assert_eq!(
        keys(&json, "AppMetadata"),
        [format!("appmetadata-{ENVIRONMENT}-{CONFIDENTIAL_CLIENT_ID}")]
    );

    // A wrong secret is the provider's invalid_client, as it said it.
    let wrong = ConfidentialClientApplication::builder(CONFIDENTIAL_CLIENT_ID)
        .oidc_authority(op.issuer())
        .client_secret(ClientSecret::new("not-the-secret"))
        .http_client(op.msal_http().unwrap())
        .build()
        .unwrap();
    let error = wrong.acquire_token_for_client([API_READ]).await.unwrap_err();
    let service = error.service_error().expect("the provider's error");
    assert_eq!(service.error, "invalid_client", "{error:?}");
}

#[tokio::test]
async fn client_credentials_with_private_key_jwt_in_both_assertion_forms() {
    let op = OidcProvider::start().await.unwrap();
    let pem = ClientCertificate::from_pem(op.assertion_key_pem(), op.assertion_certificate_pem()).unwrap();
    let sha1 = pem.sha1_thumbprint();
    // PS256 with x5t#S256 (a certificate), then RS256 with x5t (a thumbprint).
    let credentials = [
        ("PS256", pem),
        (
            "RS256",
            ClientCertificate::from_pem_with_thumbprint(op.assertion_key_pem(), &sha1).unwrap(),
        ),
    ];
    for (alg, credential) in credentials {
        let cache = TokenCache::new();
        let app = ConfidentialClientApplication::builder(ASSERTION_CLIENT_ID)
            .oidc_authority(op.issuer())
            .client_certificate(credential)
            .token_cache(cache.clone())
            .http_client(op.msal_http().unwrap())
            .build()
            .unwrap();
        let result = app.acquire_token_for_client([API_READ]).await.unwrap();
        assert_eq!(result.token_source, TokenSource::IdentityProvider, "{alg}");
        let claims = jwt_claims(result.access_token.expose_secret());
        assert_eq!(claims["client_id"], ASSERTION_CLIENT_ID, "{alg}");
        assert_eq!(claims["aud"], RESOURCE, "{alg}");
        assert_eq!(
            keys(&cache_json(&cache), "AccessToken"),
            [format!(
                "-{ENVIRONMENT}-accesstoken-{ASSERTION_CLIENT_ID}-{REALM}-{API_READ}"
            )]
        );
        // The provider accepts an assertion once (RFC 7523 3, jti): a
        // second token request must carry a new one.
        let forced = app
            .acquire_token_for_client_with(
                [API_READ],
                &ClientCredentialsOptions::default().force_refresh(true),
            )
            .await
            .unwrap();
        assert_eq!(forced.token_source, TokenSource::IdentityProvider, "{alg}");
    }

    // A key the provider does not know is refused.
    let stranger = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let stranger_cert = rcgen::CertificateParams::default()
        .self_signed(&stranger)
        .unwrap();
    let app = ConfidentialClientApplication::builder(ASSERTION_CLIENT_ID)
        .oidc_authority(op.issuer())
        .client_certificate(
            ClientCertificate::from_pem(&stranger.serialize_pem(), &stranger_cert.pem()).unwrap(),
        )
        .http_client(op.msal_http().unwrap())
        .build()
        .unwrap();
    let error = app.acquire_token_for_client([API_READ]).await.unwrap_err();
    assert_eq!(
        error.service_error().map(|s| s.error.as_str()),
        Some("invalid_client"),
        "{error:?}"
    );
}

/// Auth code flow options asking for consent: OIDC Core 11 grants
/// `offline_access` (a refresh token) only with `prompt=consent`, and the
/// provider follows it, as strict OpenID providers do.
fn consent() -> AuthCodeFlowOptions {
    AuthCodeFlowOptions::default().prompt(Prompt::Consent)
}

/// Checks what a sign-in of the provider's user left in `cache` for `client_id`.
fn assert_user_cached(cache: &TokenCache, client_id: &str, account_source: &str) {
    let json = cache_json(cache);
    let account_key = format!("{SUBJECT}-{ENVIRONMENT}-{REALM}");
    assert_eq!(keys(&json, "Account"), std::slice::from_ref(&account_key));
    let account = &json["Account"][&account_key];
    assert_eq!(account["home_account_id"], SUBJECT);
    assert_eq!(account["local_account_id"], SUBJECT);
    assert_eq!(account["username"], USERNAME);
    assert_eq!(account["authority_type"], "MSSTS");
    assert_eq!(account["account_source"], account_source);
    assert_eq!(
        keys(&json, "IdToken"),
        [format!("{SUBJECT}-{ENVIRONMENT}-idtoken-{client_id}-{REALM}-")]
    );
    let at_keys = keys(&json, "AccessToken");
    assert_eq!(at_keys.len(), 1, "{at_keys:?}");
    assert!(
        at_keys[0].starts_with(&format!(
            "{SUBJECT}-{ENVIRONMENT}-accesstoken-{client_id}-{REALM}-"
        )),
        "{at_keys:?}"
    );
    assert!(at_keys[0].contains(API_READ), "{at_keys:?}");
    let rt_keys = keys(&json, "RefreshToken");
    assert_eq!(rt_keys.len(), 1, "{rt_keys:?}");
    assert!(
        rt_keys[0].starts_with(&format!("{SUBJECT}-{ENVIRONMENT}-refreshtoken-{client_id}--")),
        "{rt_keys:?}"
    );
}

#[tokio::test]
async fn auth_code_with_pkce_through_the_login_and_consent_pages() {
    let op = OidcProvider::start().await.unwrap();
    let cache = TokenCache::new();
    let app = public_app(&op, &cache);
    // Any port on the loopback redirect URI: the provider applies RFC 8252.
    let flow = app
        .initiate_auth_code_flow([API_READ], "http://localhost:51234", &consent())
        .await
        .unwrap();
    assert!(
        flow.auth_uri().starts_with(&format!("{}/auth?", op.issuer())),
        "{}",
        flow.auth_uri()
    );
    assert!(flow.auth_uri().contains("code_challenge_method=S256"));

    // A wrong password keeps the user on the login page.
    let refused = op
        .user("not-the-password")
        .unwrap()
        .sign_in(flow.auth_uri())
        .await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("Invalid username or password")),
        "{refused:?}"
    );

    let signed_in = op.user(PASSWORD).unwrap().sign_in(flow.auth_uri()).await.unwrap();
    let response = signed_in.into_auth_response().unwrap();
    let result = app
        .acquire_token_by_auth_code_flow(&flow, &response)
        .await
        .unwrap();
    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    let claims = result.id_token_claims.as_ref().expect("an ID token");
    assert_eq!(claims.subject(), Some(SUBJECT));
    assert_eq!(claims.get_str("iss"), Some(op.issuer()));
    assert_eq!(claims.name(), Some(DISPLAY_NAME));
    assert_eq!(jwt_claims(result.access_token.expose_secret())["aud"], RESOURCE);
    let account = result.account.clone().expect("an account");
    assert_eq!(account.home_account_id, SUBJECT);
    assert_eq!(account.environment, ENVIRONMENT);
    assert_eq!(account.realm, REALM);
    assert_eq!(account.username, USERNAME);
    assert_user_cached(&cache, PUBLIC_CLIENT_ID, "authorization_code");

    // Silent: the cached access token, then the refresh token.
    assert_eq!(app.get_accounts(None).to_vec(), std::slice::from_ref(&account));
    let cached = app.acquire_token_silent([API_READ], &account).await.unwrap();
    assert_eq!(cached.token_source, TokenSource::Cache);
    assert_eq!(
        cached.access_token.expose_secret(),
        result.access_token.expose_secret()
    );
    let refreshed = app
        .acquire_token_silent_with(
            [API_READ],
            &account,
            &SilentOptions::default().force_refresh(true),
        )
        .await
        .unwrap();
    assert_eq!(refreshed.token_source, TokenSource::IdentityProvider);
    assert_ne!(
        refreshed.access_token.expose_secret(),
        result.access_token.expose_secret()
    );
    assert_user_cached(&cache, PUBLIC_CLIENT_ID, "authorization_code");
}

#[tokio::test]
async fn a_web_app_redeems_the_code_with_its_secret() {
    let op = OidcProvider::start().await.unwrap();
    let cache = TokenCache::new();
    let app = secret_app(&op, &cache);
    let flow = app
        .initiate_auth_code_flow([API_READ], WEB_REDIRECT_URI, &consent())
        .await
        .unwrap();
    let signed_in = op.user(PASSWORD).unwrap().sign_in(flow.auth_uri()).await.unwrap();
    let response = signed_in.into_auth_response().unwrap();
    let result = app
        .acquire_token_by_auth_code_flow(&flow, &response)
        .await
        .unwrap();
    assert_eq!(result.account.expect("an account").home_account_id, SUBJECT);
    assert_user_cached(&cache, CONFIDENTIAL_CLIENT_ID, "authorization_code");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_sign_in_in_headless_chromium() {
    let op = OidcProvider::start().await.unwrap();
    let cache = TokenCache::new();
    let app = public_app(&op, &cache);
    let (tx, auth_uri) = oneshot::channel();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let launcher = BrowserLauncher::callback(move |url| {
        if let Some(tx) = tx.lock().unwrap().take() {
            let _ = tx.send(url.to_string());
        }
        Ok(())
    });
    let options = InteractiveOptions::default()
        .prompt(Prompt::Consent)
        .login_hint(USERNAME)
        .timeout(Duration::from_secs(60))
        .browser(launcher);
    let signing_in = tokio::spawn({
        let app = app.clone();
        async move { app.acquire_token_interactive([API_READ], &options).await }
    });
    let auth_uri = auth_uri.await.expect("the app opened a browser");
    assert!(
        auth_uri.starts_with(&format!("{}/auth?", op.issuer())),
        "{auth_uri}"
    );
    assert!(auth_uri.contains("response_mode=form_post"), "{auth_uri}");

    let browser = Browser::start().await.unwrap();
    browser.goto(&auth_uri).await.unwrap();
    assert_eq!(
        browser.value_of("#username").await.unwrap(),
        USERNAME,
        "login_hint pre-fills the form"
    );
    browser.type_into("#password", PASSWORD).await.unwrap();
    browser.click("#signin").await.unwrap();
    browser.click("#approve").await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(60), signing_in)
        .await
        .expect("the flow finishes")
        .expect("the task runs")
        .expect("the sign-in succeeds");
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .starts_with("http://localhost:"),
        "the browser ends on the app's loopback listener"
    );
    browser
        .screenshot(&artifact_path("oidc-provider-interactive-done.png"))
        .await
        .unwrap();
    browser.quit().await;

    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    let account = result.account.expect("an account");
    assert_eq!(account.home_account_id, SUBJECT);
    assert_eq!(account.username, USERNAME);
    assert_user_cached(&cache, PUBLIC_CLIENT_ID, "authorization_code");
}

#[tokio::test]
async fn a_discovery_document_naming_another_issuer_is_refused() {
    let op = OidcProvider::start().await.unwrap();
    let cache = TokenCache::new();
    // The document points at the real provider's endpoints, where this
    // secret works: only the issuer check stands in the way.
    let app = ConfidentialClientApplication::builder(CONFIDENTIAL_CLIENT_ID)
        .oidc_authority(&op.impostor_authority())
        .client_secret(ClientSecret::new(op.client_secret()))
        .token_cache(cache.clone())
        .http_client(op.msal_http().unwrap())
        .build()
        .unwrap();
    let error = app.acquire_token_for_client([API_READ]).await.unwrap_err();
    match &error {
        Error::IssuerMismatch { authority, issuer } => {
            assert_eq!(authority, &op.impostor_authority());
            assert_eq!(issuer.as_deref(), Some(op.impostor_issuer()));
        }
        other => panic!("expected an issuer mismatch, got {other:?}"),
    }
    assert!(error.to_string().contains(op.impostor_issuer()), "{error}");
    assert_eq!(cache.access_token_count(), 0);

    // MSAL Python refuses the same document, and accepts the real one.
    let refused = op
        .run_python(
            &json!({"action": "discover", "oidc_authority": op.impostor_authority(), "client_id": PUBLIC_CLIENT_ID}),
            None,
        )
        .await
        .unwrap();
    assert!(
        refused["refused"]
            .as_str()
            .is_some_and(|m| m.contains(op.impostor_issuer())),
        "{refused}"
    );
    let accepted = op
        .run_python(
            &json!({"action": "discover", "client_id": PUBLIC_CLIENT_ID}),
            None,
        )
        .await
        .unwrap();
    assert_eq!(accepted["refused"], Value::Null, "{accepted}");
}

#[tokio::test]
async fn msal_python_and_msal_rs_share_client_credentials_tokens() {
    let op = OidcProvider::start().await.unwrap();
    let dir = op.scratch_dir();
    let python_cache = dir.join("python-cc.json");
    let args = json!({
        "action": "client_credentials",
        "client_id": CONFIDENTIAL_CLIENT_ID,
        "scopes": [API_READ],
        "cache_path": python_cache,
    });
    let python = op.run_python(&args, Some(op.client_secret())).await.unwrap();
    assert_eq!(python["error"], Value::Null, "{python}");
    assert_eq!(python["token_source"], "identity_provider", "{python}");

    // We serve MSAL Python's token from its file, without a token request.
    let cache = TokenCache::load_from_file(&python_cache).unwrap();
    let app = secret_app(&op, &cache);
    let ours = app.acquire_token_for_client([API_READ]).await.unwrap();
    assert_eq!(ours.token_source, TokenSource::Cache);
    assert_eq!(
        Some(ours.access_token.expose_secret()),
        python["access_token"].as_str()
    );

    // Ours, written from scratch, has the same entries as MSAL Python's.
    let fresh = TokenCache::new();
    secret_app(&op, &fresh)
        .acquire_token_for_client([API_READ])
        .await
        .unwrap();
    assert_eq!(
        shapes(&cache_json(&fresh)),
        shapes(&read_cache_file(&python_cache))
    );

    // And MSAL Python serves ours from our file.
    let rust_cache = dir.join("rust-cc.json");
    std::fs::write(&rust_cache, fresh.serialize()).unwrap();
    let mut args = args;
    args["cache_path"] = json!(rust_cache);
    let python = op.run_python(&args, Some(op.client_secret())).await.unwrap();
    assert_eq!(python["token_source"], "cache", "{python}");

    // MSAL Python with private_key_jwt against the same provider.
    let key = dir.join("assertion-key.pem");
    let certificate = dir.join("assertion-cert.pem");
    std::fs::write(&key, op.assertion_key_pem()).unwrap();
    std::fs::write(&certificate, op.assertion_certificate_pem()).unwrap();
    let python = op
        .run_python(
            &json!({
                "action": "client_credentials",
                "client_id": ASSERTION_CLIENT_ID,
                "scopes": [API_READ],
                "private_key_path": key,
                "public_certificate_path": certificate,
            }),
            None,
        )
        .await
        .unwrap();
    assert_eq!(python["error"], Value::Null, "{python}");
    assert_eq!(python["token_source"], "identity_provider", "{python}");
}

#[tokio::test]
async fn msal_python_and_msal_rs_share_a_signed_in_user() {
    let op = OidcProvider::start().await.unwrap();
    let dir = op.scratch_dir();

    // MSAL Python signs the user in; we find the account and its token.
    let python_cache = dir.join("python-user.json");
    let python = op
        .run_python(
            &json!({
                "action": "sign_in",
                "client_id": PUBLIC_CLIENT_ID,
                "scopes": [API_READ],
                "cache_path": python_cache,
                "username": USERNAME,
                "password": PASSWORD,
                "redirect_uri": "http://localhost:52345",
                "prompt": "consent",
            }),
            None,
        )
        .await
        .unwrap();
    assert_eq!(python["error"], Value::Null, "{python}");
    let python_json = read_cache_file(&python_cache);
    let cache = TokenCache::load_from_file(&python_cache).unwrap();
    let app = public_app(&op, &cache);
    let accounts = app.get_accounts(None).to_vec();
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    assert_eq!(accounts[0].home_account_id, SUBJECT);
    let silent = app.acquire_token_silent([API_READ], &accounts[0]).await.unwrap();
    assert_eq!(silent.token_source, TokenSource::Cache);
    assert_eq!(
        Some(silent.access_token.expose_secret()),
        python["access_token"].as_str()
    );

    // We sign the user in with our own flow: the same entries, key for key
    // and field for field (secrets and times aside).
    let ours = TokenCache::new();
    let ours_app = public_app(&op, &ours);
    let flow = ours_app
        .initiate_auth_code_flow([API_READ], "http://localhost:52346", &consent())
        .await
        .unwrap();
    let signed_in = op.user(PASSWORD).unwrap().sign_in(flow.auth_uri()).await.unwrap();
    ours_app
        .acquire_token_by_auth_code_flow(&flow, &signed_in.into_auth_response().unwrap())
        .await
        .unwrap();
    assert_eq!(shapes(&cache_json(&ours)), shapes(&python_json));

    // MSAL Python finds our account, serves our token, and redeems our refresh token.
    let rust_cache = dir.join("rust-user.json");
    std::fs::write(&rust_cache, ours.serialize()).unwrap();
    let args = json!({
        "action": "accounts",
        "client_id": PUBLIC_CLIENT_ID,
        "scopes": [API_READ],
        "cache_path": rust_cache,
    });
    let python = op.run_python(&args, None).await.unwrap();
    assert_eq!(python["accounts"][0]["home_account_id"], SUBJECT, "{python}");
    assert_eq!(python["accounts"][0]["username"], USERNAME, "{python}");
    assert_eq!(python["silent"]["token_source"], "cache", "{python}");
    let mut refresh = args;
    refresh["action"] = json!("refresh");
    let python = op.run_python(&refresh, None).await.unwrap();
    assert_eq!(python["silent"]["error"], Value::Null, "{python}");
    assert_eq!(python["silent"]["token_source"], "identity_provider", "{python}");

    // We serve the token MSAL Python got with our refresh token.
    let after = TokenCache::load_from_file(&rust_cache).unwrap();
    let app = public_app(&op, &after);
    let account = app.get_accounts(None).to_vec().remove(0);
    let silent = app.acquire_token_silent([API_READ], &account).await.unwrap();
    assert_eq!(silent.token_source, TokenSource::Cache);
    assert_eq!(
        Some(silent.access_token.expose_secret()),
        python["silent"]["access_token"].as_str()
    );
}

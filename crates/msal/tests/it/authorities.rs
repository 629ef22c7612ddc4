//! Authority kinds and tenants over real HTTPS against the emulator: the
//! per-request tenant override (one multi-tenant app object, each tenant's
//! tokens under its own realm), and instance discovery that asks a trusted
//! endpoint rather than the authority's own host; and a sign-in for every
//! kind of account: personal (common, consumers), B2C (local and social,
//! policy kept through refresh), External ID, AD FS, a sovereign cloud.

use std::sync::{Arc, Mutex};

use msal::{
    AuthCodeFlowOptions, AuthenticationResult, AuthorityKind, ClientCredentialsOptions, ClientSecret,
    ConfidentialClientApplication, Error, PublicClientApplication, ResponseMode, SilentOptions, TokenCache,
    TokenSource,
};
use msal_emulator::{Directory, Emulator, EmulatorConfig, Endpoint, builtin};
use msal_test_support::{host_url, msal_http, msal_http_all_hosts, python, start, start_with, user};
use serde_json::{Value, json};

use crate::common::GRAPH_DEFAULT;

fn realms_of_access_tokens(cache: &TokenCache) -> Vec<String> {
    let json: Value = serde_json::from_str(&cache.serialize()).unwrap();
    let mut realms: Vec<String> = json["AccessToken"]
        .as_object()
        .unwrap()
        .values()
        .map(|at| at["realm"].as_str().unwrap().to_owned())
        .collect();
    realms.sort();
    realms
}

#[tokio::test]
async fn one_multi_tenant_app_gets_each_tenants_token_under_its_own_realm() {
    let mut directory = Directory::builtin();
    let daemon = directory
        .apps
        .iter_mut()
        .find(|a| a.client_id == builtin::DAEMON_CLIENT_ID)
        .unwrap();
    daemon.multi_tenant = true;
    let emulator = start_with(EmulatorConfig::new(directory)).await.unwrap();
    let cache = TokenCache::new();
    let app = ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .client_secret(ClientSecret::new(builtin::DAEMON_CLIENT_SECRET))
        .token_cache(cache.clone())
        .http_client(msal_http(&emulator).unwrap())
        .build()
        .unwrap();

    let in_fabrikam = ClientCredentialsOptions::default().tenant(builtin::FABRIKAM_TENANT_NAME);
    let fabrikam = app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &in_fabrikam)
        .await
        .unwrap();
    assert_eq!(fabrikam.tenant_id.as_deref(), Some(builtin::FABRIKAM_TENANT_ID));
    let contoso = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(contoso.tenant_id.as_deref(), Some(builtin::CONTOSO_TENANT_ID));
    assert_ne!(
        fabrikam.access_token.expose_secret(),
        contoso.access_token.expose_secret()
    );
    let mut expected = vec![
        builtin::CONTOSO_TENANT_ID.to_owned(),
        builtin::FABRIKAM_TENANT_ID.to_owned(),
    ];
    expected.sort();
    assert_eq!(realms_of_access_tokens(&cache), expected);

    // Each tenant's token is served from the cache, never the other's.
    let again = app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &in_fabrikam)
        .await
        .unwrap();
    assert_eq!(again.token_source, TokenSource::Cache);
    assert_eq!(
        again.access_token.expose_secret(),
        fabrikam.access_token.expose_secret()
    );
    let by_id = ClientCredentialsOptions::default().tenant(builtin::FABRIKAM_TENANT_ID);
    let again = app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &by_id)
        .await
        .unwrap();
    assert_eq!(
        again.access_token.expose_secret(),
        fabrikam.access_token.expose_secret()
    );
    assert_eq!(emulator.request_count(Endpoint::Token), 2);

    // A tenant that is not one path segment is refused before any request.
    let bad = ClientCredentialsOptions::default().tenant("fabrikam/../contoso");
    let err = app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &bad)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert_eq!(emulator.request_count(Endpoint::Token), 2);
}

/// A public client of `client_id` at `authority`, reaching every emulator host.
fn public_at(
    emulator: &Emulator,
    client_id: &str,
    authority: &str,
    cache: &TokenCache,
) -> PublicClientApplication {
    PublicClientApplication::builder(client_id)
        .authority(authority)
        .token_cache(cache.clone())
        .http_client(msal_http_all_hosts(emulator).unwrap())
        .build()
        .unwrap()
}

/// The authorization code flow with the scripted user (through `provider`'s
/// button when given).
async fn code_flow(
    emulator: &Emulator,
    app: &PublicClientApplication,
    scopes: &[&str],
    (username, password): (&str, &str),
    provider: Option<&str>,
) -> msal::Result<AuthenticationResult> {
    let flow = app
        .initiate_auth_code_flow(
            scopes,
            "http://localhost:8765",
            &AuthCodeFlowOptions::default().response_mode(ResponseMode::Query),
        )
        .await?;
    let response = match provider {
        None => user::sign_in(emulator, flow.auth_uri(), username, password).await,
        Some(p) => user::sign_in_with_provider(emulator, flow.auth_uri(), p, username, password).await,
    }
    .unwrap();
    app.acquire_token_by_auth_code_flow(&flow, &response).await
}

fn claims(jwt: &str) -> Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn accounts_section(cache: &TokenCache) -> Vec<Value> {
    let json: Value = serde_json::from_str(&cache.serialize()).unwrap();
    json["Account"].as_object().unwrap().values().cloned().collect()
}

#[tokio::test]
async fn personal_accounts_sign_in_through_common_and_consumers() {
    let emulator = start().await.unwrap();
    let erin = (builtin::ERIN_UPN, builtin::ERIN_PASSWORD);
    for tenant in ["common", "consumers"] {
        let cache = TokenCache::new();
        let authority = format!("{}/{tenant}", host_url(&emulator, "login.microsoftonline.com"));
        let app = public_at(&emulator, builtin::PUBLIC_CLIENT_ID, &authority, &cache);
        let result = code_flow(&emulator, &app, &["User.Read"], erin, None)
            .await
            .unwrap();
        assert_eq!(
            result.tenant_id.as_deref(),
            Some(msal::CONSUMERS_TENANT_ID),
            "{tenant}"
        );
        let account = result.account.clone().unwrap();
        assert_eq!(
            account.home_account_id,
            format!("{}.{}", builtin::ERIN_OBJECT_ID, msal::CONSUMERS_TENANT_ID)
        );
        // The realm is the authority's tenant segment, as MSAL Python records it.
        assert_eq!(account.realm, tenant);
        assert_eq!(account.username, builtin::ERIN_UPN);
        assert_eq!(account.environment, "login.microsoftonline.com");
        // Silent from then on, in the personal accounts' realm.
        let silent = app.acquire_token_silent(["User.Read"], &account).await.unwrap();
        assert_eq!(silent.token_source, TokenSource::Cache);
    }
    // A work account may not use the consumers authority.
    let cache = TokenCache::new();
    let authority = format!("{}/consumers", host_url(&emulator, "login.microsoftonline.com"));
    let app = public_at(&emulator, builtin::PUBLIC_CLIENT_ID, &authority, &cache);
    let flow = app
        .initiate_auth_code_flow(
            ["User.Read"],
            "http://localhost:8765",
            &AuthCodeFlowOptions::default(),
        )
        .await
        .unwrap();
    assert!(
        user::sign_in(
            &emulator,
            flow.auth_uri(),
            builtin::ALICE_UPN,
            builtin::ALICE_PASSWORD
        )
        .await
        .is_err()
    );
}

#[tokio::test]
async fn b2c_keeps_its_policy_through_local_and_social_sign_in_and_refresh() {
    let emulator = start().await.unwrap();
    let authority = format!(
        "{}/{}/{}",
        host_url(&emulator, builtin::B2C_HOST),
        builtin::B2C_DOMAIN,
        builtin::B2C_SIGNUP_SIGNIN_POLICY
    );
    let scope = format!(
        "{}/{}",
        builtin::B2C_API_IDENTIFIER_URI,
        builtin::B2C_API_SCOPES[0]
    );
    let policy = builtin::B2C_SIGNUP_SIGNIN_POLICY.to_ascii_lowercase();
    for (who, provider, object_id) in [
        (
            (builtin::EMMA_EMAIL, builtin::EMMA_PASSWORD),
            None,
            builtin::EMMA_OBJECT_ID,
        ),
        (
            (builtin::FRANK_EMAIL, builtin::FRANK_PASSWORD),
            Some("social"),
            builtin::FRANK_OBJECT_ID,
        ),
    ] {
        let cache = TokenCache::new();
        let app = public_at(&emulator, builtin::B2C_CLIENT_ID, &authority, &cache);
        assert_eq!(app.authority().kind(), AuthorityKind::B2c);
        let result = code_flow(&emulator, &app, &[&scope], who, provider)
            .await
            .unwrap();
        let access = claims(result.access_token.expose_secret());
        assert_eq!(access["tfp"], builtin::B2C_SIGNUP_SIGNIN_POLICY);
        match provider {
            Some(_) => assert_eq!(access["idp"], "social.emulator.test"),
            None => assert_eq!(access.get("idp"), None),
        }
        let account = result.account.clone().unwrap();
        assert_eq!(
            account.home_account_id,
            format!("{object_id}-{policy}.{}", builtin::B2C_TENANT_ID)
        );
        assert_eq!(account.environment, builtin::B2C_HOST);
        // B2C is the developer's own authority: no instance discovery.
        assert_eq!(emulator.request_count(Endpoint::InstanceDiscovery), 0);

        // A forced refresh goes to the same user flow and keeps it.
        let refreshes = emulator.grant_count("refresh_token");
        let refreshed = app
            .acquire_token_silent_with(
                [scope.as_str()],
                &account,
                &SilentOptions::default().force_refresh(true),
            )
            .await
            .unwrap();
        assert_eq!(refreshed.token_source, TokenSource::IdentityProvider);
        assert_eq!(emulator.grant_count("refresh_token"), refreshes + 1);
        assert_eq!(
            claims(refreshed.access_token.expose_secret())["tfp"],
            builtin::B2C_SIGNUP_SIGNIN_POLICY
        );
        let cached = app
            .acquire_token_silent([scope.as_str()], &account)
            .await
            .unwrap();
        assert_eq!(cached.token_source, TokenSource::Cache);
    }
}

#[tokio::test]
async fn ciam_signs_in_from_its_path_less_authority() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let authority = host_url(&emulator, builtin::CIAM_HOST);
    let app = public_at(&emulator, builtin::CIAM_CLIENT_ID, &authority, &cache);
    assert_eq!(app.authority().kind(), AuthorityKind::Ciam);
    assert_eq!(app.authority().tenant(), Some(builtin::CIAM_DOMAIN));
    let result = code_flow(
        &emulator,
        &app,
        &["User.Read"],
        (builtin::GRACE_EMAIL, builtin::GRACE_PASSWORD),
        None,
    )
    .await
    .unwrap();
    assert_eq!(result.tenant_id.as_deref(), Some(builtin::CIAM_TENANT_ID));
    let account = result.account.clone().unwrap();
    assert_eq!(account.realm, builtin::CIAM_TENANT_ID);
    assert_eq!(account.environment, builtin::CIAM_HOST);
    assert_eq!(emulator.request_count(Endpoint::InstanceDiscovery), 0);
    let silent = app.acquire_token_silent(["User.Read"], &account).await.unwrap();
    assert_eq!(silent.token_source, TokenSource::Cache);
}

#[tokio::test]
async fn adfs_signs_in_without_client_info_and_is_cached_as_adfs() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let authority = format!("{}/adfs", host_url(&emulator, builtin::ADFS_HOST));
    let app = public_at(&emulator, builtin::PUBLIC_CLIENT_ID, &authority, &cache);
    assert_eq!(app.authority().kind(), AuthorityKind::Adfs);
    let result = code_flow(
        &emulator,
        &app,
        &["User.Read"],
        (builtin::DAVE_UPN, builtin::DAVE_PASSWORD),
        None,
    )
    .await
    .unwrap();
    let id_token = result.id_token_claims.clone().unwrap();
    let account = result.account.clone().unwrap();
    // No client_info: the account is keyed by the ID token's subject, as MSAL Python keys it.
    assert_eq!(Some(account.home_account_id.as_str()), id_token.subject());
    let entries = accounts_section(&cache);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["authority_type"], "ADFS");
    assert_eq!(entries[0]["realm"], "adfs");
    let silent = app.acquire_token_silent(["User.Read"], &account).await.unwrap();
    assert_eq!(silent.token_source, TokenSource::Cache);
}

#[tokio::test]
async fn a_sovereign_cloud_serves_client_credentials_without_instance_discovery() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let host = "login.microsoftonline.us";
    let app = ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(&format!(
            "{}/{}",
            host_url(&emulator, host),
            builtin::CONTOSO_TENANT_NAME
        ))
        .client_secret(ClientSecret::new(builtin::DAEMON_CLIENT_SECRET))
        .token_cache(cache.clone())
        .http_client(msal_http_all_hosts(&emulator).unwrap())
        .build()
        .unwrap();
    let result = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    // Microsoft Graph takes v1.0 tokens, whose issuer is Entra's STS
    // whichever host was asked; the cache's environment shows the host.
    assert_eq!(claims(result.access_token.expose_secret())["ver"], "1.0");
    assert_eq!(emulator.request_count(Endpoint::InstanceDiscovery), 0);
    let json: Value = serde_json::from_str(&cache.serialize()).unwrap();
    let at = json["AccessToken"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert_eq!(at["environment"], host);
}

/// Records the URLs an application sends requests to.
#[derive(Clone)]
struct Urls {
    inner: msal::ReqwestHttpClient,
    seen: Arc<Mutex<Vec<url::Url>>>,
}

impl msal::HttpClient for Urls {
    fn execute(
        &self,
        request: msal::HttpRequest,
    ) -> msal::http::BoxFuture<'_, Result<msal::HttpResponse, msal::TransportError>> {
        self.seen.lock().unwrap().push(request.url.clone());
        Box::pin(self.inner.execute(request))
    }
}

#[tokio::test]
async fn an_unknown_host_is_checked_by_the_trusted_endpoint_never_by_itself() {
    let emulator = start().await.unwrap();
    // An Entra-shaped authority on a host that is no Microsoft cloud.
    let authority = format!(
        "{}/{}",
        host_url(&emulator, builtin::ADFS_HOST),
        builtin::CONTOSO_TENANT_NAME
    );
    let urls = Urls {
        inner: msal_http_all_hosts(&emulator).unwrap(),
        seen: Arc::default(),
    };
    let daemon = |validate: bool| {
        ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
            .authority(&authority)
            .client_secret(ClientSecret::new(builtin::DAEMON_CLIENT_SECRET))
            .http_client(urls.clone())
            .validate_authority(validate)
            .build()
            .unwrap()
    };
    let err = daemon(true)
        .acquire_token_for_client([GRAPH_DEFAULT])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInstance { authority: a, .. } if *a == authority),
        "{err:?}"
    );
    let seen = std::mem::take(&mut *urls.seen.lock().unwrap());
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].host_str(), Some("login.microsoftonline.com"));
    assert_eq!(seen[0].path(), "/common/discovery/instance");
    let asked: Vec<(String, String)> = seen[0].query_pairs().into_owned().collect();
    assert!(asked.contains(&(
        "authorization_endpoint".into(),
        format!("{authority}/oauth2/v2.0/authorize")
    )));
    assert_eq!(emulator.request_count(Endpoint::Token), 0);

    // Validation off: the developer vouches for the host, which is asked directly.
    let _ = daemon(false).acquire_token_for_client([GRAPH_DEFAULT]).await;
    let seen = urls.seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    assert!(
        seen.iter().all(|u| u.host_str() == Some(builtin::ADFS_HOST)),
        "{seen:?}"
    );
    assert_eq!(
        seen[0].path(),
        format!(
            "/{}/v2.0/.well-known/openid-configuration",
            builtin::CONTOSO_TENANT_NAME
        )
    );

    // A private cloud's own trusted endpoint is honoured.
    let private = ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(&authority)
        .client_secret(ClientSecret::new(builtin::DAEMON_CLIENT_SECRET))
        .http_client(urls.clone())
        .instance_discovery_endpoint(&format!(
            "{}/common/discovery/instance",
            host_url(&emulator, "login.microsoftonline.us")
        ))
        .build()
        .unwrap();
    urls.seen.lock().unwrap().clear();
    let err = private
        .acquire_token_for_client([GRAPH_DEFAULT])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInstance { .. }), "{err:?}");
    assert_eq!(
        urls.seen.lock().unwrap()[0].host_str(),
        Some("login.microsoftonline.us")
    );
}

/// MSAL Python 1.39 and this library on one cache file for a customer
/// tenant: Python signs the user in and Rust serves Python's token from
/// the cache; Rust signs the user in again and Python serves Rust's token.
async fn python_and_rust_share_a_customer_tenant(
    authority: &str,
    client_id: &str,
    scopes: &[&str],
    python_user: (&str, &str),
    rust_user: (&str, &str),
) {
    let emulator = start().await.unwrap();
    let authority = authority.replace("PORT", &emulator.port().to_string());
    let dir = tempfile::tempdir().unwrap();
    let cache_path = dir.path().join("cache.json");
    let routing = json!({
        "authority": authority, "client_id": client_id, "scopes": scopes, "cache_path": cache_path,
        "route_hosts": emulator.hosts(), "connect": format!("127.0.0.1:{}", emulator.port()),
    });
    let mut args = routing.clone();
    args["action"] = json!("sign_in");
    args["redirect_uri"] = json!("http://localhost:8765");
    args["username"] = json!(python_user.0);
    args["password"] = json!(python_user.1);
    let out = python::run(&emulator, "user_flows.py", &args, None)
        .await
        .unwrap();
    assert_eq!(out["error"], Value::Null, "{out}");
    let python_token = out["access_token"].as_str().unwrap().to_owned();

    // Rust finds Python's user and serves Python's token from the cache.
    let cache = TokenCache::load_from_file(&cache_path).unwrap();
    let app = public_at(&emulator, client_id, &authority, &cache);
    // By home account id: B2C ID tokens carry no preferred_username, so
    // both libraries record an empty username.
    let accounts = app.get_accounts(None);
    assert_eq!(accounts.len(), 1, "{}", cache.serialize());
    let served = app.acquire_token_silent(scopes, &accounts[0]).await.unwrap();
    assert_eq!(served.token_source, TokenSource::Cache);
    assert_eq!(served.access_token.expose_secret(), python_token);

    // Python finds Rust's user and serves Rust's token from the cache.
    let signed_in = code_flow(&emulator, &app, scopes, rust_user, None).await.unwrap();
    cache.save_to_file(&cache_path).unwrap();
    let mut args = routing;
    args["action"] = json!("accounts");
    let out = python::run(&emulator, "user_flows.py", &args, None)
        .await
        .unwrap();
    assert_eq!(out["accounts"].as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(
        out["accounts"][0]["home_account_id"],
        signed_in.account.unwrap().home_account_id.as_str()
    );
    assert_eq!(out["silent"]["token_source"], "cache", "{out}");
    assert_eq!(
        out["silent"]["access_token"],
        signed_in.access_token.expose_secret()
    );
}

#[tokio::test]
async fn msal_python_and_rust_share_b2c_users() {
    let scope = format!(
        "{}/{}",
        builtin::B2C_API_IDENTIFIER_URI,
        builtin::B2C_API_SCOPES[0]
    );
    python_and_rust_share_a_customer_tenant(
        &format!(
            "https://{}:PORT/{}/{}",
            builtin::B2C_HOST,
            builtin::B2C_DOMAIN,
            builtin::B2C_SIGNUP_SIGNIN_POLICY
        ),
        builtin::B2C_CLIENT_ID,
        &[&scope],
        (builtin::EMMA_EMAIL, builtin::EMMA_PASSWORD),
        (builtin::EMMA_EMAIL, builtin::EMMA_PASSWORD),
    )
    .await;
}

#[tokio::test]
async fn msal_python_and_rust_share_ciam_users() {
    python_and_rust_share_a_customer_tenant(
        &format!("https://{}:PORT", builtin::CIAM_HOST),
        builtin::CIAM_CLIENT_ID,
        &["User.Read"],
        (builtin::GRACE_EMAIL, builtin::GRACE_PASSWORD),
        (builtin::GRACE_EMAIL, builtin::GRACE_PASSWORD),
    )
    .await;
}

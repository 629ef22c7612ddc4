//! Confidential client flows beyond client credentials, over real HTTPS
//! against the emulator: on-behalf-of (cache first, partitioned by the
//! incoming token), `fmi_path` cache separation (interoperable with MSAL
//! Python's extended cache key), `remove_tokens_for_client`, and the user
//! federated identity credential grant.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::{GRAPH_DEFAULT, daemon, public_app, web_app};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use msal::{
    AuthCodeFlowOptions, ClientCredentialsOptions, ClientSecret, ConfidentialClientApplication, Error,
    FederatedCredential, OnBehalfOfOptions, ResponseMode, TargetUser, TokenCache, TokenSource, UserAssertion,
};
use msal_emulator::{Emulator, Endpoint, builtin};
use msal_test_support::{msal_http, python, start, user};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const OBO_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const GRAPH_USER_READ: &str = "https://graph.microsoft.com/User.Read";
const TOKEN_EXCHANGE: &str = "api://AzureADTokenExchange/.default";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The claims of a JWT (the emulator's tests verify signatures).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

fn cache_json(cache: &TokenCache) -> Value {
    serde_json::from_str(&cache.serialize()).unwrap()
}

/// Rewrites every entry of a cache section, as another process editing the
/// persisted cache would.
fn edit_section(cache: &TokenCache, section: &str, edit: impl Fn(&mut Value)) {
    let mut json = cache_json(cache);
    for entry in json[section].as_object_mut().unwrap().values_mut() {
        edit(entry);
    }
    cache.deserialize(&json.to_string()).unwrap();
}

/// The orders API (the middle tier) against Contoso, with `cache`.
fn api_app(emulator: &Emulator, cache: &TokenCache) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(builtin::API_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_ID))
        .client_secret(ClientSecret::new(builtin::API_CLIENT_SECRET))
        .token_cache(cache.clone())
        .http_client(msal_http(emulator).unwrap())
        .build()
        .unwrap()
}

/// `user` signs in to the desktop app, which gets a token for `scope`: the
/// token a client would call the middle tier with.
async fn user_token(emulator: &Emulator, user: (&str, &str), scope: &str) -> UserAssertion {
    let app = public_app(emulator, builtin::CONTOSO_TENANT_NAME, &TokenCache::new());
    let flow = app
        .initiate_auth_code_flow(
            [scope],
            "http://localhost:8765",
            &AuthCodeFlowOptions::default().response_mode(ResponseMode::Query),
        )
        .await
        .unwrap();
    let response = user::sign_in(emulator, flow.auth_uri(), user.0, user.1)
        .await
        .unwrap();
    let result = app
        .acquire_token_by_auth_code_flow(&flow, &response)
        .await
        .unwrap();
    UserAssertion::new(result.access_token.expose_secret())
}

fn orders_read() -> String {
    format!("{}/Orders.Read", builtin::API_IDENTIFIER_URI)
}

const ALICE: (&str, &str) = (builtin::ALICE_UPN, builtin::ALICE_PASSWORD);
const BOB: (&str, &str) = (builtin::BOB_UPN, builtin::BOB_PASSWORD);

#[tokio::test]
async fn obo_keeps_the_user_and_a_second_call_is_served_from_the_cache() {
    let emulator = start().await.unwrap();
    let incoming = user_token(&emulator, ALICE, &orders_read()).await;
    assert_eq!(claims(incoming.expose_secret())["aud"], builtin::API_CLIENT_ID);
    let cache = TokenCache::new();
    let api = api_app(&emulator, &cache);
    emulator.reset_counts();

    let first = api
        .acquire_token_on_behalf_of(&incoming, [GRAPH_USER_READ])
        .await
        .unwrap();
    assert_eq!(first.token_source, TokenSource::IdentityProvider);
    let access = claims(first.access_token.expose_secret());
    assert_eq!(access["oid"], builtin::ALICE_OBJECT_ID);
    assert_eq!(access["upn"], builtin::ALICE_UPN);
    // `appid`: Graph's tokens are v1.0, which have no `azp`.
    assert_eq!(access["appid"], builtin::API_CLIENT_ID);
    assert_eq!(access["aud"], "https://graph.microsoft.com");
    let account = first.account.clone().expect("the user's account");
    assert_eq!(account.username, builtin::ALICE_UPN);
    assert_eq!(emulator.grant_count(OBO_GRANT), 1);

    // The AT and RT carry the incoming token's hash (MSAL .NET's field).
    let hash = URL_SAFE_NO_PAD.encode(Sha256::digest(incoming.expose_secret().as_bytes()));
    let json = cache_json(&cache);
    for section in ["AccessToken", "RefreshToken"] {
        let entries = json[section].as_object().unwrap();
        assert_eq!(entries.len(), 1, "{section}");
        let entry = entries.values().next().unwrap();
        assert_eq!(entry["user_assertion_hash"], hash.as_str(), "{section}");
    }
    assert!(
        !cache.serialize().contains(incoming.expose_secret()),
        "the incoming token itself is never cached"
    );

    emulator.reset_counts();
    let second = api
        .acquire_token_on_behalf_of(&incoming, [GRAPH_USER_READ])
        .await
        .unwrap();
    assert_eq!(second.token_source, TokenSource::Cache);
    assert_eq!(second.access_token, first.access_token);
    assert_eq!(second.account.as_ref(), Some(&account));
    assert_eq!(emulator.request_count(Endpoint::Token), 0, "no token request");

    // Another process: the partition tag survives serialization.
    let reloaded = TokenCache::from_json(&cache.serialize()).unwrap();
    let other = api_app(&emulator, &reloaded);
    let third = other
        .acquire_token_on_behalf_of(&incoming, [GRAPH_USER_READ])
        .await
        .unwrap();
    assert_eq!(third.token_source, TokenSource::Cache);
    assert_eq!(emulator.total_requests(), 0, "not even discovery");

    // force_refresh goes to the identity provider.
    let forced = api
        .acquire_token_on_behalf_of_with(
            &incoming,
            [GRAPH_USER_READ],
            &OnBehalfOfOptions::default().force_refresh(true),
        )
        .await
        .unwrap();
    assert_eq!(forced.token_source, TokenSource::IdentityProvider);
    assert_eq!(emulator.grant_count(OBO_GRANT), 1);

    // Reserved scopes are refused before any request, as in user flows.
    let refused = api
        .acquire_token_on_behalf_of(&incoming, [GRAPH_USER_READ, "offline_access"])
        .await;
    assert!(matches!(refused, Err(Error::InvalidArgument(_))), "{refused:?}");
    let empty = api
        .acquire_token_on_behalf_of(&UserAssertion::new(" "), [GRAPH_USER_READ])
        .await;
    assert!(matches!(empty, Err(Error::InvalidArgument(_))), "{empty:?}");
    assert!(!format!("{incoming:?}").contains(incoming.expose_secret()));
}

#[tokio::test]
async fn another_incoming_token_is_never_served_the_first_ones_tokens() {
    let emulator = start().await.unwrap();
    let alice = user_token(&emulator, ALICE, &orders_read()).await;
    let bob = user_token(&emulator, BOB, &orders_read()).await;
    let cache = TokenCache::new();
    let api = api_app(&emulator, &cache);
    api.acquire_token_on_behalf_of(&alice, [GRAPH_USER_READ])
        .await
        .unwrap();
    emulator.reset_counts();

    let for_bob = api
        .acquire_token_on_behalf_of(&bob, [GRAPH_USER_READ])
        .await
        .unwrap();
    assert_eq!(for_bob.token_source, TokenSource::IdentityProvider);
    assert_eq!(
        claims(for_bob.access_token.expose_secret())["oid"],
        builtin::BOB_OBJECT_ID
    );
    assert_eq!(emulator.grant_count(OBO_GRANT), 1);

    // Alice's second token (same user, new incoming token) is its own partition.
    let alice_again = user_token(&emulator, ALICE, &orders_read()).await;
    assert_ne!(alice_again.expose_secret(), alice.expose_secret());
    emulator.reset_counts();
    let result = api
        .acquire_token_on_behalf_of(&alice_again, [GRAPH_USER_READ])
        .await
        .unwrap();
    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    assert_eq!(emulator.grant_count(OBO_GRANT), 1);
    // And Bob is still served from the cache.
    let bob_cached = api
        .acquire_token_on_behalf_of(&bob, [GRAPH_USER_READ])
        .await
        .unwrap();
    assert_eq!(bob_cached.token_source, TokenSource::Cache);
    assert_eq!(bob_cached.access_token, for_bob.access_token);
}

#[tokio::test]
async fn an_expired_obo_token_is_renewed_with_the_obo_refresh_token() {
    let emulator = start().await.unwrap();
    let incoming = user_token(&emulator, ALICE, &orders_read()).await;
    let cache = TokenCache::new();
    let api = api_app(&emulator, &cache);
    let first = api
        .acquire_token_on_behalf_of(&incoming, [GRAPH_USER_READ])
        .await
        .unwrap();

    // Long-running work: the incoming token has expired at the identity
    // provider, and so has the cached access token.
    emulator.advance_clock(Duration::from_secs(2 * 3600));
    let past = (now() - 10).to_string();
    edit_section(&cache, "AccessToken", |at| at["expires_on"] = json!(past));
    emulator.reset_counts();

    let renewed = api
        .acquire_token_on_behalf_of(&incoming, [GRAPH_USER_READ])
        .await
        .unwrap();
    assert_eq!(renewed.token_source, TokenSource::IdentityProvider);
    assert_ne!(renewed.access_token, first.access_token);
    assert_eq!(
        claims(renewed.access_token.expose_secret())["oid"],
        builtin::ALICE_OBJECT_ID
    );
    assert_eq!(
        emulator.grant_count("refresh_token"),
        1,
        "the OBO refresh token was redeemed"
    );
    assert_eq!(emulator.grant_count(OBO_GRANT), 0, "no new on-behalf-of request");

    // The renewed tokens keep the partition: the next call is a cache hit.
    emulator.reset_counts();
    let cached = api
        .acquire_token_on_behalf_of(&incoming, [GRAPH_USER_READ])
        .await
        .unwrap();
    assert_eq!(cached.token_source, TokenSource::Cache);
    assert_eq!(cached.access_token, renewed.access_token);
    assert_eq!(emulator.request_count(Endpoint::Token), 0);

    // A revoked refresh token falls back to the assertion, which has expired
    // by now: the typed error says so.
    edit_section(&cache, "AccessToken", |at| at["expires_on"] = json!(past));
    emulator.revoke_refresh_tokens(builtin::ALICE_UPN);
    let err = api
        .acquire_token_on_behalf_of(&incoming, [GRAPH_USER_READ])
        .await
        .unwrap_err();
    let service = err.service_error().expect("the identity provider's answer");
    assert_eq!(service.aadsts_code(), Some(500133), "{err}");
    assert_eq!(emulator.grant_count(OBO_GRANT), 1);
}

#[tokio::test]
async fn bad_incoming_tokens_are_typed_errors_with_the_aadsts_code() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let api = api_app(&emulator, &cache);

    // A token for Graph was not addressed to the API.
    let graph = user_token(&emulator, ALICE, "User.Read").await;
    let err = api
        .acquire_token_on_behalf_of(&graph, [GRAPH_USER_READ])
        .await
        .unwrap_err();
    match &err {
        Error::Service(service) => {
            assert_eq!(service.error, "invalid_grant");
            assert_eq!(service.aadsts_code(), Some(500131));
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains(graph.expose_secret()));

    // A tampered token fails the signature check.
    let incoming = user_token(&emulator, ALICE, &orders_read()).await;
    let mut parts: Vec<String> = incoming.expose_secret().split('.').map(str::to_owned).collect();
    let mut payload = claims(incoming.expose_secret());
    payload["upn"] = json!(builtin::BOB_UPN);
    payload["oid"] = json!(builtin::BOB_OBJECT_ID);
    parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
    let tampered = UserAssertion::new(parts.join("."));
    let err = api
        .acquire_token_on_behalf_of(&tampered, [GRAPH_USER_READ])
        .await
        .unwrap_err();
    assert_eq!(
        err.service_error().and_then(|e| e.aadsts_code()),
        Some(50013),
        "{err}"
    );
    assert_eq!(cache.access_token_count(), 0, "nothing cached for refused tokens");
}

fn fmi(path: &str) -> ClientCredentialsOptions {
    ClientCredentialsOptions::default().fmi_path(path)
}

/// MSAL Python's extended cache key of `{"fmi_path": path}`.
fn ext_key(path: &str) -> String {
    let netstring = format!("8:fmi_path{}:{path}", path.len());
    URL_SAFE_NO_PAD
        .encode(Sha256::digest(netstring.as_bytes()))
        .to_lowercase()
}

#[tokio::test]
async fn fmi_paths_are_cached_apart() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_ID,
        builtin::DAEMON_CLIENT_SECRET,
        &cache,
    );
    let a = app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &fmi("agents/a"))
        .await
        .unwrap();
    assert_eq!(a.token_source, TokenSource::IdentityProvider);
    assert_eq!(claims(a.access_token.expose_secret())["fmi_path"], "agents/a");
    let b = app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &fmi("agents/b"))
        .await
        .unwrap();
    assert_eq!(b.token_source, TokenSource::IdentityProvider);
    let plain = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(
        plain.token_source,
        TokenSource::IdentityProvider,
        "not served an FMI token"
    );
    assert!(
        claims(plain.access_token.expose_secret())
            .get("fmi_path")
            .is_none()
    );
    assert_eq!(emulator.request_count(Endpoint::Token), 3);
    assert_eq!(cache.access_token_count(), 3);

    emulator.reset_counts();
    for (options, expected) in [
        (fmi("agents/a"), &a),
        (fmi("agents/b"), &b),
        (ClientCredentialsOptions::default(), &plain),
    ] {
        let again = app
            .acquire_token_for_client_with([GRAPH_DEFAULT], &options)
            .await
            .unwrap();
        assert_eq!(again.token_source, TokenSource::Cache, "{options:?}");
        assert_eq!(again.access_token, expected.access_token, "{options:?}");
    }
    assert_eq!(emulator.request_count(Endpoint::Token), 0);

    // MSAL Python's key and field, kept through serialization.
    let json = cache_json(&cache);
    let ats = json["AccessToken"].as_object().unwrap();
    let key = format!(
        "-{}-atext-{}-{}-{}-{}",
        ats.values().next().unwrap()["environment"].as_str().unwrap(),
        builtin::DAEMON_CLIENT_ID,
        builtin::CONTOSO_TENANT_ID,
        GRAPH_DEFAULT,
        ext_key("agents/a")
    );
    assert_eq!(
        ats[&key]["ext_cache_key"],
        ext_key("agents/a"),
        "{key} in {ats:?}"
    );
    let reloaded = TokenCache::from_json(&cache.serialize()).unwrap();
    let other = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_ID,
        builtin::DAEMON_CLIENT_SECRET,
        &reloaded,
    );
    let again = other
        .acquire_token_for_client_with([GRAPH_DEFAULT], &fmi("agents/b"))
        .await
        .unwrap();
    assert_eq!(again.access_token, b.access_token);

    let empty = app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &fmi(" "))
        .await;
    assert!(matches!(empty, Err(Error::InvalidArgument(_))), "{empty:?}");
}

#[tokio::test]
async fn rust_serves_an_fmi_token_msal_python_cached() {
    let emulator = start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache_path = dir.path().join("python-cache.json");
    let args = json!({
        "authority": emulator.authority(builtin::CONTOSO_TENANT_ID),
        "client_id": builtin::DAEMON_CLIENT_ID,
        "scopes": [GRAPH_DEFAULT],
        "cache_path": cache_path,
        "fmi_path": "agents/python",
    });
    let out = python::run(
        &emulator,
        "client_credentials.py",
        &args,
        Some(builtin::DAEMON_CLIENT_SECRET),
    )
    .await
    .unwrap();
    assert_eq!(out["wrote_cache"], true, "{out}");
    let python_token = out["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&python_token)["fmi_path"], "agents/python");
    emulator.reset_counts();

    let cache = TokenCache::load_from_file(&cache_path).unwrap();
    let app = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_ID,
        builtin::DAEMON_CLIENT_SECRET,
        &cache,
    );
    // Without the path, MSAL Python's FMI token is not served.
    let plain = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(plain.token_source, TokenSource::IdentityProvider);
    let result = app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &fmi("agents/python"))
        .await
        .unwrap();
    assert_eq!(result.token_source, TokenSource::Cache);
    assert_eq!(result.access_token.expose_secret(), python_token);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);

    // And MSAL Python finds the token Rust cached for another path, by its key.
    let rust = app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &fmi("agents/rust"))
        .await
        .unwrap();
    cache.save_to_file(&cache_path).unwrap();
    let mut args = args;
    args["fmi_path"] = json!("agents/rust");
    let out = python::run(
        &emulator,
        "client_credentials.py",
        &args,
        Some(builtin::DAEMON_CLIENT_SECRET),
    )
    .await
    .unwrap();
    assert_eq!(out["token_source"], "cache", "{out}");
    assert_eq!(
        out["access_token"].as_str(),
        Some(rust.access_token.expose_secret())
    );
}

#[tokio::test]
async fn remove_tokens_for_client_removes_only_this_apps_own_tokens() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let daemon_app = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_ID,
        builtin::DAEMON_CLIENT_SECRET,
        &cache,
    );
    let api = api_app(&emulator, &cache);
    daemon_app
        .acquire_token_for_client([GRAPH_DEFAULT])
        .await
        .unwrap();
    daemon_app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &fmi("agents/a"))
        .await
        .unwrap();
    api.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    let incoming = user_token(&emulator, ALICE, &orders_read()).await;
    api.acquire_token_on_behalf_of(&incoming, [GRAPH_USER_READ])
        .await
        .unwrap();
    assert_eq!(cache.access_token_count(), 4);

    assert_eq!(daemon_app.remove_tokens_for_client(), 2);
    assert_eq!(cache.access_token_count(), 2);
    assert!(cache.has_state_changed());
    let clients: Vec<String> = cache_json(&cache)["AccessToken"]
        .as_object()
        .unwrap()
        .values()
        .map(|at| at["client_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(clients, [builtin::API_CLIENT_ID, builtin::API_CLIENT_ID]);
    assert_eq!(daemon_app.remove_tokens_for_client(), 0);

    emulator.reset_counts();
    let fresh = daemon_app
        .acquire_token_for_client([GRAPH_DEFAULT])
        .await
        .unwrap();
    assert_eq!(fresh.token_source, TokenSource::IdentityProvider);
    let obo = api
        .acquire_token_on_behalf_of(&incoming, [GRAPH_USER_READ])
        .await
        .unwrap();
    assert_eq!(obo.token_source, TokenSource::Cache, "user tokens stay");
}

#[tokio::test]
async fn a_user_fic_signs_the_user_in_and_silent_calls_follow() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_ID,
        builtin::DAEMON_CLIENT_SECRET,
        &cache,
    );
    let fic = app.acquire_token_for_client([TOKEN_EXCHANGE]).await.unwrap();
    assert_eq!(
        claims(fic.access_token.expose_secret())["aud"],
        "api://AzureADTokenExchange"
    );
    let fic = FederatedCredential::new(fic.access_token.expose_secret());

    let result = app
        .acquire_token_by_user_federated_identity_credential(
            ["User.Read"],
            &fic,
            &TargetUser::Username(builtin::ALICE_UPN.into()),
        )
        .await
        .unwrap();
    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    let access = claims(result.access_token.expose_secret());
    assert_eq!(access["upn"], builtin::ALICE_UPN);
    // `appid`: Graph's tokens are v1.0, which have no `azp`.
    assert_eq!(access["appid"], builtin::DAEMON_CLIENT_ID);
    let account = result.account.clone().expect("an account");
    assert_eq!(account.username, builtin::ALICE_UPN);
    assert_eq!(emulator.grant_count("user_fic"), 1);
    let json = cache_json(&cache);
    let accounts: Vec<&Value> = json["Account"].as_object().unwrap().values().collect();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["account_source"], "user_fic");
    // The FIC is cached once: as the app token it was obtained as, never with the user's entries.
    assert_eq!(cache.serialize().matches(fic.expose_secret()).count(), 1);

    let silent = app.acquire_token_silent(["User.Read"], &account).await.unwrap();
    assert_eq!(silent.token_source, TokenSource::Cache);
    assert_eq!(silent.access_token, result.access_token);

    let by_oid = app
        .acquire_token_by_user_federated_identity_credential(
            ["User.Read"],
            &fic,
            &TargetUser::ObjectId(builtin::ALICE_OBJECT_ID.into()),
        )
        .await
        .unwrap();
    assert_eq!(
        claims(by_oid.access_token.expose_secret())["oid"],
        builtin::ALICE_OBJECT_ID
    );
    assert_eq!(emulator.grant_count("user_fic"), 2);
}

#[tokio::test]
async fn bad_user_fics_are_refused() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_ID,
        builtin::DAEMON_CLIENT_SECRET,
        &cache,
    );
    let alice = TargetUser::Username(builtin::ALICE_UPN.into());
    let code = |result: Result<msal::AuthenticationResult, Error>| {
        let err = result.unwrap_err();
        err.service_error()
            .and_then(|e| e.aadsts_code())
            .unwrap_or_else(|| panic!("{err:?}"))
    };

    // A Graph token is no federated credential.
    let graph = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    let not_a_fic = FederatedCredential::new(graph.access_token.expose_secret());
    let result = app
        .acquire_token_by_user_federated_identity_credential(["User.Read"], &not_a_fic, &alice)
        .await;
    assert_eq!(code(result), 700212);

    // Another app's credential is not this app's.
    let web = web_app(&emulator, builtin::CONTOSO_TENANT_ID, &TokenCache::new());
    let theirs = web.acquire_token_for_client([TOKEN_EXCHANGE]).await.unwrap();
    let result = app
        .acquire_token_by_user_federated_identity_credential(
            ["User.Read"],
            &FederatedCredential::new(theirs.access_token.expose_secret()),
            &alice,
        )
        .await;
    assert_eq!(code(result), 700213);

    // Garbage, and empty input before any request.
    let result = app
        .acquire_token_by_user_federated_identity_credential(
            ["User.Read"],
            &FederatedCredential::new("not.a.jwt"),
            &alice,
        )
        .await;
    assert_eq!(code(result), 50027);
    emulator.reset_counts();
    let empty = app
        .acquire_token_by_user_federated_identity_credential(
            ["User.Read"],
            &FederatedCredential::new(""),
            &alice,
        )
        .await;
    assert!(matches!(empty, Err(Error::InvalidArgument(_))), "{empty:?}");
    let no_user = app
        .acquire_token_by_user_federated_identity_credential(
            ["User.Read"],
            &not_a_fic,
            &TargetUser::ObjectId(" ".into()),
        )
        .await;
    assert!(matches!(no_user, Err(Error::InvalidArgument(_))), "{no_user:?}");
    assert_eq!(emulator.total_requests(), 0);
    assert_eq!(cache.access_token_count(), 1, "only the Graph app token");
}

#[tokio::test]
async fn the_blocking_facade_shares_the_obo_partition() {
    let emulator = start().await.unwrap();
    let incoming = user_token(&emulator, ALICE, &orders_read()).await;
    let cache = TokenCache::new();
    let first = api_app(&emulator, &cache)
        .acquire_token_on_behalf_of(&incoming, [GRAPH_USER_READ])
        .await
        .unwrap();
    let builder = ConfidentialClientApplication::builder(builtin::API_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_ID))
        .client_secret(ClientSecret::new(builtin::API_CLIENT_SECRET))
        .token_cache(cache.clone())
        .http_client(msal_http(&emulator).unwrap());
    emulator.reset_counts();
    // On a plain thread (the facade refuses to run in a runtime's context,
    // which spawn_blocking threads have), while the test's runtime keeps
    // serving the emulator.
    let (second, removed) = tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || {
            let blocking = builder.build_blocking().unwrap();
            let second = blocking.acquire_token_on_behalf_of(&incoming, [GRAPH_USER_READ]);
            (second, blocking.remove_tokens_for_client())
        })
        .join()
        .unwrap()
    })
    .await
    .unwrap();
    let second = second.unwrap();
    assert_eq!(second.token_source, TokenSource::Cache);
    assert_eq!(second.access_token, first.access_token);
    assert_eq!(removed, 0, "the OBO token is the user's, not the app's");
    assert_eq!(emulator.total_requests(), 0);
}

#[tokio::test]
async fn a_long_running_process_goes_on_with_its_session_key_and_no_incoming_token() {
    let emulator = start().await.unwrap();
    let incoming = user_token(&emulator, ALICE, &orders_read()).await;
    let cache = TokenCache::new();
    let api = api_app(&emulator, &cache);
    emulator.reset_counts();

    let (first, key) = api
        .initiate_long_running_process_in_web_api(&incoming, [GRAPH_USER_READ], Some("report-job-42"))
        .await
        .unwrap();
    assert_eq!(key, "report-job-42");
    assert_eq!(first.token_source, TokenSource::IdentityProvider);
    assert_eq!(emulator.grant_count(OBO_GRANT), 1);
    // Every entry of the session is keyed by the session key.
    for section in ["AccessToken", "RefreshToken"] {
        let json = cache_json(&cache);
        let entries: Vec<&Value> = json[section].as_object().unwrap().values().collect();
        assert_eq!(entries.len(), 1, "{section}");
        assert_eq!(entries[0]["user_assertion_hash"], "report-job-42", "{section}");
    }

    // The background job, with no incoming token: the cached token first.
    let cached = api
        .acquire_token_in_long_running_process("report-job-42", [GRAPH_USER_READ])
        .await
        .unwrap();
    assert_eq!(cached.token_source, TokenSource::Cache);
    assert_eq!(
        cached.access_token.expose_secret(),
        first.access_token.expose_secret()
    );

    // Once the access token has expired, the session's refresh token renews it.
    edit_section(&cache, "AccessToken", |at| {
        at["expires_on"] = json!((now() - 60).to_string());
        at["refresh_on"] = json!((now() - 120).to_string());
    });
    let renewed = api
        .acquire_token_in_long_running_process("report-job-42", [GRAPH_USER_READ])
        .await
        .unwrap();
    assert_eq!(renewed.token_source, TokenSource::IdentityProvider);
    assert_ne!(
        renewed.access_token.expose_secret(),
        first.access_token.expose_secret()
    );
    assert_eq!(
        claims(renewed.access_token.expose_secret())["oid"],
        builtin::ALICE_OBJECT_ID
    );
    assert_eq!(emulator.grant_count("refresh_token"), 1);
    assert_eq!(emulator.grant_count(OBO_GRANT), 1, "no new on-behalf-of request");

    // An unknown session is a typed error, with no request.
    let before = emulator.request_count(Endpoint::Token);
    let err = api
        .acquire_token_in_long_running_process("no-such-job", [GRAPH_USER_READ])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::OnBehalfOfSessionNotFound { session_key } if session_key == "no-such-job"),
        "{err:?}"
    );
    assert_eq!(emulator.request_count(Endpoint::Token), before);

    // A revoked refresh token ends the session: only a new incoming token helps.
    emulator.revoke_refresh_tokens(builtin::ALICE_UPN);
    edit_section(&cache, "AccessToken", |at| {
        at["expires_on"] = json!((now() - 60).to_string());
        at["refresh_on"] = json!((now() - 120).to_string());
    });
    let err = api
        .acquire_token_in_long_running_process("report-job-42", [GRAPH_USER_READ])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OnBehalfOfSessionNotFound { .. }), "{err:?}");

    // Without a key of its own, the session is keyed by the incoming token's hash.
    let (_, default_key) = api
        .initiate_long_running_process_in_web_api(&incoming, [GRAPH_USER_READ], None)
        .await
        .unwrap();
    assert_eq!(
        default_key,
        URL_SAFE_NO_PAD.encode(Sha256::digest(incoming.expose_secret().as_bytes()))
    );
}

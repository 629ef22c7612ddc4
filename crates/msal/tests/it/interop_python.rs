//! Interop with the real MSAL Python 1.39.0: it accepts our emulator, and
//! the two libraries serve each other's cache files.

use crate::common;
use crate::common::{GRAPH_DEFAULT, daemon};
use msal::{TokenCache, TokenSource};
use msal_emulator::{Endpoint, builtin};
use msal_test_support::{python, start, start_with, user};
use serde_json::json;

#[tokio::test]
async fn msal_python_gets_a_token_from_the_emulator() {
    let emulator = start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (i, authority) in [
        json!({ "authority": emulator.authority(builtin::CONTOSO_TENANT_NAME) }),
        json!({ "oidc_authority": format!("{}/v2.0", emulator.authority(builtin::CONTOSO_TENANT_ID)) }),
    ]
    .into_iter()
    .enumerate()
    {
        let mut args = authority;
        args["client_id"] = json!(builtin::DAEMON_CLIENT_ID);
        args["scopes"] = json!([GRAPH_DEFAULT]);
        args["cache_path"] = json!(dir.path().join(format!("cache{i}.json")));
        let out = python::run(
            &emulator,
            "client_credentials.py",
            &args,
            Some(builtin::DAEMON_CLIENT_SECRET),
        )
        .await
        .unwrap();
        assert_eq!(out["error"], json!(null), "{out}");
        assert_eq!(out["token_source"], "identity_provider", "{out}");
        assert_eq!(out["token_type"], "Bearer");
        assert_eq!(out["access_token"].as_str().unwrap().split('.').count(), 3);
        // The same app, a new process, the cache file: served from it.
        let again = python::run(
            &emulator,
            "client_credentials.py",
            &args,
            Some(builtin::DAEMON_CLIENT_SECRET),
        )
        .await
        .unwrap();
        assert_eq!(again["token_source"], "cache", "{again}");
        assert_eq!(again["access_token"], out["access_token"]);
    }
    assert_eq!(emulator.request_count(Endpoint::Token), 2);

    // MSAL Python sees the emulator's errors as Entra's.
    let args = json!({
        "authority": emulator.authority(builtin::CONTOSO_TENANT_NAME),
        "client_id": builtin::DAEMON_CLIENT_ID,
        "scopes": [GRAPH_DEFAULT],
    });
    let out = python::run(&emulator, "client_credentials.py", &args, Some("wrong-secret"))
        .await
        .unwrap();
    assert_eq!(out["error"], "invalid_client", "{out}");
    assert_eq!(out["error_codes"], json!([7000215]));
}

#[tokio::test]
async fn rust_serves_a_token_from_a_cache_msal_python_wrote() {
    let emulator = start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache_path = dir.path().join("python-cache.json");
    let args = json!({
        "authority": emulator.authority(builtin::CONTOSO_TENANT_NAME),
        "client_id": builtin::DAEMON_CLIENT_ID,
        "scopes": [GRAPH_DEFAULT],
        "cache_path": cache_path,
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
    emulator.reset_counts();

    let cache = TokenCache::load_from_file(&cache_path).unwrap();
    let app = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_ID,
        builtin::DAEMON_CLIENT_SECRET,
        &cache,
    );
    let result = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(result.token_source, TokenSource::Cache);
    assert_eq!(
        Some(result.access_token.expose_secret()),
        out["access_token"].as_str()
    );
    assert_eq!(emulator.total_requests(), 0, "served with zero requests");

    // With the tenant's name the realm needs one discovery, and still no token request.
    let by_name = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_NAME,
        builtin::DAEMON_CLIENT_SECRET,
        &cache,
    );
    let result = by_name.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(result.token_source, TokenSource::Cache);
    assert_eq!(emulator.request_count(Endpoint::Token), 0);
}

#[tokio::test]
async fn msal_python_serves_a_token_from_a_cache_rust_wrote() {
    let emulator = start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache_path = dir.path().join("rust-cache.json");
    let cache = TokenCache::new();
    let app = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_NAME,
        builtin::DAEMON_CLIENT_SECRET,
        &cache,
    );
    let result = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    cache.save_to_file(&cache_path).unwrap();
    emulator.reset_counts();

    let args = json!({
        "authority": emulator.authority(builtin::CONTOSO_TENANT_NAME),
        "client_id": builtin::DAEMON_CLIENT_ID,
        "scopes": [GRAPH_DEFAULT],
        "cache_path": cache_path,
    });
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
        Some(result.access_token.expose_secret())
    );
    assert_eq!(emulator.request_count(Endpoint::Token), 0);
}

/// The realm this library writes down for a tenant name (its own cache
/// section) survives MSAL Python reading the file and writing it back with
/// entries of its own, so the next process still needs no discovery.
#[tokio::test]
async fn msal_python_keeps_the_tenant_realm_section_rust_wrote() {
    let emulator = start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache_path = dir.path().join("rust-realm-cache.json");
    let cache = TokenCache::new();
    let app = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_NAME,
        builtin::DAEMON_CLIENT_SECRET,
        &cache,
    );
    let graph = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    cache.save_to_file(&cache_path).unwrap();
    let section = |path: &std::path::Path| {
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        doc["TenantRealm"].clone()
    };
    let written = section(&cache_path);
    assert!(
        written.to_string().contains(builtin::CONTOSO_TENANT_ID),
        "the realm of 'contoso' is written down: {written}"
    );

    // MSAL Python gets a token for another resource: it writes the file.
    let orders = format!("{}/.default", builtin::API_IDENTIFIER_URI);
    let args = json!({
        "authority": emulator.authority(builtin::CONTOSO_TENANT_NAME),
        "client_id": builtin::DAEMON_CLIENT_ID,
        "scopes": [orders],
        "cache_path": cache_path,
    });
    let out = python::run(
        &emulator,
        "client_credentials.py",
        &args,
        Some(builtin::DAEMON_CLIENT_SECRET),
    )
    .await
    .unwrap();
    assert_eq!(out["token_source"], "identity_provider", "{out}");
    assert_eq!(out["wrote_cache"], true, "{out}");
    assert_eq!(
        section(&cache_path),
        written,
        "MSAL Python kept the section as it was"
    );

    // A new process serves both tokens by the tenant's name, without a request.
    emulator.reset_counts();
    let reloaded = TokenCache::load_from_file(&cache_path).unwrap();
    let again = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_NAME,
        builtin::DAEMON_CLIENT_SECRET,
        &reloaded,
    );
    let hit = again.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(hit.access_token, graph.access_token);
    let python_token = again.acquire_token_for_client([orders.as_str()]).await.unwrap();
    assert_eq!(python_token.token_source, TokenSource::Cache);
    assert_eq!(
        out["access_token"].as_str(),
        Some(python_token.access_token.expose_secret())
    );
    assert_eq!(emulator.total_requests(), 0, "no discovery, no token request");
}

/// The public client's loopback redirect URI for scripted sign-ins.
const LOOPBACK: &str = "http://localhost:8765";

#[tokio::test]
async fn a_user_signed_in_by_rust_is_seen_and_served_by_msal_python() {
    let emulator = start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache_path = dir.path().join("rust-user-cache.json");
    let cache = TokenCache::new();
    let app = common::public_app(&emulator, builtin::CONTOSO_TENANT_NAME, &cache);
    let options = msal::AuthCodeFlowOptions::default().response_mode(msal::ResponseMode::Query);
    let flow = app
        .initiate_auth_code_flow(["User.Read"], LOOPBACK, &options)
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
    let result = app
        .acquire_token_by_auth_code_flow(&flow, &response)
        .await
        .unwrap();
    cache.save_to_file(&cache_path).unwrap();
    emulator.reset_counts();

    let args = json!({
        "action": "accounts",
        "authority": emulator.authority(builtin::CONTOSO_TENANT_NAME),
        "client_id": builtin::PUBLIC_CLIENT_ID,
        "scopes": ["User.Read"],
        "cache_path": cache_path,
    });
    let out = python::run(&emulator, "user_flows.py", &args, None)
        .await
        .unwrap();
    let accounts = out["accounts"].as_array().expect("accounts listed");
    assert_eq!(accounts.len(), 1, "{out}");
    // Field for field what Rust's get_accounts returns.
    let rust_account = serde_json::to_value(result.account.as_ref().unwrap()).unwrap();
    assert_eq!(accounts[0], rust_account);
    assert_eq!(out["silent"]["token_source"], "cache", "{out}");
    assert_eq!(
        out["silent"]["access_token"].as_str(),
        Some(result.access_token.expose_secret())
    );
    assert_eq!(emulator.request_count(Endpoint::Token), 0);
}

#[tokio::test]
async fn a_user_signed_in_by_msal_python_is_seen_and_served_by_rust() {
    let emulator = start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache_path = dir.path().join("python-user-cache.json");
    let args = json!({
        "action": "sign_in",
        "authority": emulator.authority(builtin::CONTOSO_TENANT_NAME),
        "client_id": builtin::PUBLIC_CLIENT_ID,
        "scopes": ["User.Read"],
        "cache_path": cache_path,
        "redirect_uri": LOOPBACK,
        "username": builtin::BOB_UPN,
        "password": builtin::BOB_PASSWORD,
    });
    let out = python::run(&emulator, "user_flows.py", &args, None)
        .await
        .unwrap();
    assert_eq!(out["error"], json!(null), "{out}");
    assert_eq!(out["token_source"], "identity_provider");
    emulator.reset_counts();

    let cache = TokenCache::load_from_file(&cache_path).unwrap();
    // A tenant-GUID authority tells the cache realm without discovery.
    let app = common::public_app(&emulator, builtin::CONTOSO_TENANT_ID, &cache);
    let accounts = app.get_accounts(None);
    assert_eq!(accounts.len(), 1);
    let account = &accounts[0];
    assert_eq!(account.username, builtin::BOB_UPN);
    assert_eq!(
        account.home_account_id,
        format!("{}.{}", builtin::BOB_OBJECT_ID, builtin::CONTOSO_TENANT_ID)
    );
    assert_eq!(account.account_source.as_deref(), Some("authorization_code"));
    let result = app.acquire_token_silent(["User.Read"], account).await.unwrap();
    assert_eq!(result.token_source, TokenSource::Cache);
    assert_eq!(
        Some(result.access_token.expose_secret()),
        out["access_token"].as_str()
    );
    assert_eq!(
        emulator.total_requests(),
        0,
        "served from Python's cache with zero requests"
    );
}

#[tokio::test]
async fn refresh_tokens_written_by_either_library_are_redeemed_by_the_other() {
    let emulator = start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    // Rust signs Alice in; MSAL Python refreshes with the refresh token Rust wrote.
    let rust_path = dir.path().join("rust-rt-cache.json");
    let cache = TokenCache::new();
    let app = common::public_app(&emulator, builtin::CONTOSO_TENANT_NAME, &cache);
    let options = msal::AuthCodeFlowOptions::default().response_mode(msal::ResponseMode::Query);
    let flow = app
        .initiate_auth_code_flow(["User.Read"], LOOPBACK, &options)
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
    let signed_in = app
        .acquire_token_by_auth_code_flow(&flow, &response)
        .await
        .unwrap();
    cache.save_to_file(&rust_path).unwrap();
    let before = emulator.grant_count("refresh_token");
    let args = json!({
        "action": "refresh",
        "authority": emulator.authority(builtin::CONTOSO_TENANT_NAME),
        "client_id": builtin::PUBLIC_CLIENT_ID,
        "scopes": ["User.Read"],
        "cache_path": rust_path,
        "username": builtin::ALICE_UPN,
    });
    let out = python::run(&emulator, "user_flows.py", &args, None)
        .await
        .unwrap();
    assert_eq!(out["error"], json!(null), "{out}");
    assert_eq!(out["token_source"], "identity_provider", "{out}");
    assert_ne!(
        out["access_token"].as_str(),
        Some(signed_in.access_token.expose_secret())
    );
    assert_eq!(emulator.grant_count("refresh_token"), before + 1);

    // MSAL Python signs Bob in; Rust refreshes with the refresh token Python wrote.
    let python_path = dir.path().join("python-rt-cache.json");
    let args = json!({
        "action": "sign_in",
        "authority": emulator.authority(builtin::CONTOSO_TENANT_NAME),
        "client_id": builtin::PUBLIC_CLIENT_ID,
        "scopes": ["User.Read"],
        "cache_path": python_path,
        "redirect_uri": LOOPBACK,
        "username": builtin::BOB_UPN,
        "password": builtin::BOB_PASSWORD,
    });
    let out = python::run(&emulator, "user_flows.py", &args, None)
        .await
        .unwrap();
    assert_eq!(out["error"], json!(null), "{out}");
    let cache = TokenCache::load_from_file(&python_path).unwrap();
    let app = common::public_app(&emulator, builtin::CONTOSO_TENANT_NAME, &cache);
    let bob = app.get_accounts(Some(builtin::BOB_UPN))[0].clone();
    let before = emulator.grant_count("refresh_token");
    let refreshed = app
        .acquire_token_silent_with(
            ["User.Read"],
            &bob,
            &msal::SilentOptions::default().force_refresh(true),
        )
        .await
        .unwrap();
    assert_eq!(refreshed.token_source, TokenSource::IdentityProvider);
    assert_ne!(
        Some(refreshed.access_token.expose_secret()),
        out["access_token"].as_str()
    );
    assert_eq!(emulator.grant_count("refresh_token"), before + 1);
}

#[tokio::test]
async fn msal_python_device_flow_works_against_the_emulator() {
    let config =
        msal_emulator::EmulatorConfig::default().with_device_code_interval(std::time::Duration::from_secs(1));
    let emulator = start_with(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache_path = dir.path().join("python-device-cache.json");
    let args = json!({
        "action": "device_flow",
        "authority": emulator.authority(builtin::CONTOSO_TENANT_NAME),
        "client_id": builtin::PUBLIC_CLIENT_ID,
        "scopes": ["User.Read"],
        "cache_path": cache_path,
        "username": builtin::ALICE_UPN,
        "password": builtin::ALICE_PASSWORD,
    });
    let out = python::run(&emulator, "user_flows.py", &args, None)
        .await
        .unwrap();
    assert_eq!(out["error"], json!(null), "{out}");
    assert_eq!(out["token_source"], "identity_provider", "{out}");
    assert_eq!(out["interval"], 1);
    // MSAL Python polled at the interval: never faster than once a second.
    let polls = emulator.grant_count("urn:ietf:params:oauth:grant-type:device_code");
    let seconds = out["seconds"].as_f64().unwrap();
    assert!(
        polls >= 1 && polls as f64 <= seconds + 1.0,
        "{polls} polls in {seconds} s"
    );
    // Rust finds the account MSAL Python's device flow cached.
    let cache = TokenCache::load_from_file(&cache_path).unwrap();
    let app = common::public_app(&emulator, builtin::CONTOSO_TENANT_ID, &cache);
    let account = app.get_accounts(Some(builtin::ALICE_UPN))[0].clone();
    assert_eq!(
        account.account_source.as_deref(),
        Some("urn:ietf:params:oauth:grant-type:device_code")
    );
    let result = app.acquire_token_silent(["User.Read"], &account).await.unwrap();
    assert_eq!(
        Some(result.access_token.expose_secret()),
        out["access_token"].as_str()
    );
}

#[tokio::test]
async fn msal_python_username_password_works_for_managed_and_federated_users() {
    let emulator = start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (tenant, username, password) in [
        (
            builtin::CONTOSO_TENANT_NAME,
            builtin::ALICE_UPN,
            builtin::ALICE_PASSWORD,
        ),
        (
            builtin::WOODGROVE_TENANT_NAME,
            builtin::DAVE_UPN,
            builtin::DAVE_PASSWORD,
        ),
    ] {
        let cache_path = dir.path().join(format!("python-ropc-{tenant}.json"));
        let args = json!({
            "action": "username_password",
            "authority": emulator.authority(tenant),
            "client_id": builtin::PUBLIC_CLIENT_ID,
            "scopes": ["User.Read"],
            "cache_path": cache_path,
            "username": username,
            "password": password,
        });
        let out = python::run(&emulator, "user_flows.py", &args, None)
            .await
            .unwrap();
        assert_eq!(out["error"], json!(null), "{username}: {out}");
        assert_eq!(out["token_source"], "identity_provider");
        assert_eq!(out["id_token_claims"]["preferred_username"], username);
        let cache = TokenCache::load_from_file(&cache_path).unwrap();
        let app = common::public_app(&emulator, tenant, &cache);
        assert_eq!(app.get_accounts(Some(username)).len(), 1, "{username} cached");
    }
    assert!(emulator.request_count(Endpoint::UserRealm) >= 2);
    assert!(
        emulator.request_count(Endpoint::Federation) >= 2,
        "MEX and WS-Trust for the federated user"
    );
}

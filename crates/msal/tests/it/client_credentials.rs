//! The client credentials flow over real HTTPS against the emulator.

use crate::common::{GRAPH_DEFAULT, daemon};
use msal::{
    ClientCredentialsOptions, ClientSecret, ConfidentialClientApplication, Error, TokenCache, TokenSource,
};
use msal_emulator::{Endpoint, builtin};
use msal_test_support::{msal_http, start};

#[tokio::test]
async fn second_call_is_served_from_the_cache_without_a_request() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_NAME,
        builtin::DAEMON_CLIENT_SECRET,
        &cache,
    );

    let first = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(first.token_source, TokenSource::IdentityProvider);
    assert_eq!(first.token_type, "Bearer");
    assert_eq!(first.tenant_id.as_deref(), Some(builtin::CONTOSO_TENANT_ID));
    assert!(first.expires_in().as_secs() > 3000, "{:?}", first.expires_in());
    assert_eq!(first.access_token.expose_secret().split('.').count(), 3, "a JWT");
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
    assert_eq!(emulator.request_count(Endpoint::OpenIdConfiguration), 1);

    let second = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(second.token_source, TokenSource::Cache);
    assert_eq!(second.access_token, first.access_token);
    assert_eq!(second.expires_on, first.expires_on);
    assert_eq!(
        emulator.request_count(Endpoint::Token),
        1,
        "no second token request"
    );

    // A clone of the app and a new app over the same cache both hit it too.
    let other = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_ID,
        builtin::DAEMON_CLIENT_SECRET,
        &cache,
    );
    let third = other.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(third.token_source, TokenSource::Cache);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);

    // force_refresh goes to the network and replaces the cached token.
    let options = ClientCredentialsOptions::default().force_refresh(true);
    let fresh = app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &options)
        .await
        .unwrap();
    assert_eq!(fresh.token_source, TokenSource::IdentityProvider);
    assert_eq!(emulator.request_count(Endpoint::Token), 2);
    assert_eq!(cache.access_token_count(), 1);
}

#[tokio::test]
async fn a_guid_authority_with_a_warm_cache_sends_no_request_at_all() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    daemon(
        &emulator,
        builtin::CONTOSO_TENANT_ID,
        builtin::DAEMON_CLIENT_SECRET,
        &cache,
    )
    .acquire_token_for_client([GRAPH_DEFAULT])
    .await
    .unwrap();
    emulator.reset_counts();
    // A new process: a new app, the cache loaded from its serialized form.
    let reloaded = TokenCache::from_json(&cache.serialize()).unwrap();
    let app = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_ID,
        builtin::DAEMON_CLIENT_SECRET,
        &reloaded,
    );
    let result = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(result.token_source, TokenSource::Cache);
    assert_eq!(emulator.total_requests(), 0);
}

#[tokio::test]
async fn different_scopes_are_different_tokens() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = daemon(
        &emulator,
        builtin::CONTOSO_DOMAIN,
        builtin::DAEMON_CLIENT_SECRET,
        &cache,
    );
    let graph = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    let api_scope = format!("{}/.default", builtin::API_IDENTIFIER_URI);
    let api = app.acquire_token_for_client([api_scope.as_str()]).await.unwrap();
    assert_eq!(api.token_source, TokenSource::IdentityProvider);
    assert_ne!(graph.access_token, api.access_token);
    assert_eq!(cache.access_token_count(), 2);
    assert_eq!(emulator.request_count(Endpoint::Token), 2);
}

fn service_error(result: Result<msal::AuthenticationResult, Error>) -> msal::ServiceError {
    match result {
        Err(Error::Service(e)) => *e,
        other => panic!("expected an error from the identity provider, got {other:?}"),
    }
}

#[tokio::test]
async fn wrong_secret_is_invalid_client() {
    let emulator = start().await.unwrap();
    let app = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_NAME,
        "not-the-secret",
        &TokenCache::new(),
    );
    let e = service_error(app.acquire_token_for_client([GRAPH_DEFAULT]).await);
    assert_eq!(e.error, "invalid_client");
    assert_eq!(e.status, 401);
    assert_eq!(e.aadsts_code(), Some(7000215));
    assert!(
        e.error_description
            .as_deref()
            .unwrap_or_default()
            .starts_with("AADSTS7000215")
    );
    assert!(e.correlation_id.is_some() && e.trace_id.is_some() && e.timestamp.is_some());
}

#[tokio::test]
async fn unknown_client_is_unauthorized_client() {
    let emulator = start().await.unwrap();
    let app = ConfidentialClientApplication::builder("00000000-1111-2222-3333-444444444444")
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .client_secret(ClientSecret::new("whatever"))
        .http_client(msal_http(&emulator).unwrap())
        .build()
        .unwrap();
    let e = service_error(app.acquire_token_for_client([GRAPH_DEFAULT]).await);
    assert_eq!(e.aadsts_code(), Some(700016));
    assert_eq!(e.error, "unauthorized_client");
}

#[tokio::test]
async fn unknown_tenant_is_reported_with_its_code() {
    let emulator = start().await.unwrap();
    let app = daemon(
        &emulator,
        "no-such-tenant.onmicrosoft.com",
        builtin::DAEMON_CLIENT_SECRET,
        &TokenCache::new(),
    );
    let e = service_error(app.acquire_token_for_client([GRAPH_DEFAULT]).await);
    assert_eq!(e.aadsts_code(), Some(90002));
    assert_eq!(emulator.request_count(Endpoint::Token), 0, "stopped at discovery");
}

#[tokio::test]
async fn scope_without_default_is_invalid_scope() {
    let emulator = start().await.unwrap();
    let app = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_NAME,
        builtin::DAEMON_CLIENT_SECRET,
        &TokenCache::new(),
    );
    let e = service_error(app.acquire_token_for_client(["User.Read"]).await);
    assert_eq!(e.aadsts_code(), Some(1002012));
    assert_eq!(e.error, "invalid_scope");
}

#[tokio::test]
async fn http_authority_is_refused_before_any_request() {
    let emulator = start().await.unwrap();
    let http_url = emulator
        .authority(builtin::CONTOSO_TENANT_NAME)
        .replacen("https://", "http://", 1);
    let built = ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(&http_url)
        .client_secret(ClientSecret::new(builtin::DAEMON_CLIENT_SECRET))
        .http_client(msal_http(&emulator).unwrap())
        .build();
    match built {
        Err(Error::InvalidAuthority { authority, reason }) => {
            assert_eq!(authority, http_url);
            assert!(reason.contains("https"), "{reason}");
        }
        other => panic!("expected InvalidAuthority, got {other:?}"),
    }
    assert_eq!(emulator.total_requests(), 0);
}

#[tokio::test]
async fn instance_discovery_is_used_for_unknown_hosts() {
    let emulator = start().await.unwrap();
    let app = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_NAME,
        builtin::DAEMON_CLIENT_SECRET,
        &TokenCache::new(),
    );
    app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(emulator.request_count(Endpoint::InstanceDiscovery), 1);
    // Turned off, it is skipped.
    emulator.reset_counts();
    let app = ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .instance_discovery(false)
        .client_secret(ClientSecret::new(builtin::DAEMON_CLIENT_SECRET))
        .http_client(msal_http(&emulator).unwrap())
        .build()
        .unwrap();
    app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(emulator.request_count(Endpoint::InstanceDiscovery), 0);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
}

#[tokio::test]
async fn a_server_that_does_not_answer_in_time_is_a_timeout() {
    // A listener that accepts and never answers: the request must end, typed, not hang.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let http = msal::ReqwestHttpClient::builder()
        .timeout(std::time::Duration::from_millis(500))
        .build()
        .unwrap();
    let app = ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(&format!("https://127.0.0.1:{port}/contoso"))
        .client_secret(ClientSecret::new("s"))
        .http_client(http)
        .build()
        .unwrap();
    match app.acquire_token_for_client([GRAPH_DEFAULT]).await {
        Err(Error::Transport(e)) => assert_eq!(e.kind, msal::TransportErrorKind::Timeout, "{e}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[test]
fn the_blocking_facade_works_without_a_runtime() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(start()).unwrap();
    let app = ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .client_secret(ClientSecret::new(builtin::DAEMON_CLIENT_SECRET))
        .http_client(msal_http(&emulator).unwrap())
        .build_blocking()
        .unwrap();
    let first = app.acquire_token_for_client([GRAPH_DEFAULT]).unwrap();
    let second = app.acquire_token_for_client([GRAPH_DEFAULT]).unwrap();
    assert_eq!(first.token_source, TokenSource::IdentityProvider);
    assert_eq!(second.token_source, TokenSource::Cache);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
    // Inside a runtime, the facade refuses instead of deadlocking.
    let inside = runtime.block_on(async { app.acquire_token_for_client([GRAPH_DEFAULT]) });
    assert!(matches!(inside, Err(Error::BlockingInAsyncContext)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_cause_one_token_request() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_NAME,
        builtin::DAEMON_CLIENT_SECRET,
        &cache,
    );
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.acquire_token_for_client([GRAPH_DEFAULT]).await })
        })
        .collect();
    let mut tokens = std::collections::HashSet::new();
    for task in tasks {
        let result = task.await.unwrap().unwrap();
        tokens.insert(result.access_token.expose_secret().to_owned());
    }
    assert_eq!(tokens.len(), 1, "every caller got the same token");
    assert_eq!(
        emulator.request_count(Endpoint::Token),
        1,
        "exactly one token request"
    );
    assert_eq!(
        emulator.request_count(Endpoint::OpenIdConfiguration),
        1,
        "exactly one discovery"
    );
}

#[tokio::test]
async fn an_oidc_authority_is_discovered_through_its_issuer() {
    let emulator = start().await.unwrap();
    let issuer = format!("{}/v2.0", emulator.authority(builtin::CONTOSO_TENANT_ID));
    let app = ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .oidc_authority(&issuer)
        .client_secret(ClientSecret::new(builtin::DAEMON_CLIENT_SECRET))
        .http_client(msal_http(&emulator).unwrap())
        .build()
        .unwrap();
    assert_eq!(app.authority().kind(), msal::AuthorityKind::Oidc);
    let first = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(first.tenant_id.as_deref(), Some(builtin::CONTOSO_TENANT_ID));
    let second = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(second.token_source, TokenSource::Cache);
    assert_eq!(emulator.request_count(Endpoint::InstanceDiscovery), 0);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
}

//! Throttling, retries, the discovery cache and MSAL's client headers,
//! against the emulator's fault injection and telemetry check. Time moves
//! through the HttpCache's injected clock, never by sleeping.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::GRAPH_DEFAULT;
use msal::{
    AuthCodeFlowOptions, ClientSecret, ConfidentialClientApplication, Error, HttpCache,
    PublicClientApplication, ResponseMode, TokenCache,
};
use msal_emulator::{Emulator, Endpoint, Fault, FaultKind, builtin};
use msal_test_support::{msal_http, start, user};
use serde_json::{Value, json};

/// An HttpCache on a clock the test moves.
struct TestClock {
    offset: Arc<Mutex<Duration>>,
    cache: HttpCache,
}

impl TestClock {
    fn new() -> Self {
        let offset = Arc::new(Mutex::new(Duration::ZERO));
        let base = Instant::now();
        let now = offset.clone();
        let cache = HttpCache::with_clock(move || base + *now.lock().unwrap());
        TestClock { offset, cache }
    }

    fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap() += by;
    }
}

fn daemon(emulator: &Emulator, cache: &HttpCache) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .client_secret(ClientSecret::new(builtin::DAEMON_CLIENT_SECRET))
        .http_client(msal_http(emulator).unwrap())
        .http_cache(cache.clone())
        .app_name("throttling-tests")
        .app_version("1.2.3")
        .build()
        .unwrap()
}

fn token_requests(emulator: &Emulator) -> u64 {
    emulator.request_count(Endpoint::Token)
}

fn assert_no_violations(emulator: &Emulator) {
    assert!(emulator.telemetry_checked() > 0, "the check ran");
    assert_eq!(emulator.telemetry_violations(), Vec::<String>::new());
}

#[tokio::test]
async fn retry_after_holds_every_call_until_it_passes() {
    let emulator = start().await.unwrap();
    let clock = TestClock::new();
    let app = daemon(&emulator, &clock.cache);
    emulator.inject_fault(Fault::new(FaultKind::TooManyRequests { retry_after: Some(3) }));

    // Concurrent callers share one request, sequential ones are held without one.
    let (a, b, c) = tokio::join!(
        app.acquire_token_for_client([GRAPH_DEFAULT]),
        app.acquire_token_for_client([GRAPH_DEFAULT]),
        app.acquire_token_for_client([GRAPH_DEFAULT]),
    );
    let mut errors = vec![a.unwrap_err(), b.unwrap_err(), c.unwrap_err()];
    for _ in 0..5 {
        clock.advance(Duration::from_millis(500));
        errors.push(app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap_err());
    }
    assert_eq!(
        token_requests(&emulator),
        1,
        "exactly one request within the window"
    );
    let waits: Vec<Duration> = errors
        .iter()
        .map(|e| match e {
            Error::Throttled { retry_after, service } => {
                let service = service.as_ref().expect("the identity provider's answer");
                assert_eq!(
                    (service.status, service.error.as_str()),
                    (429, "temporarily_unavailable")
                );
                assert!(e.to_string().contains("retry after"), "{e}");
                *retry_after
            }
            other => panic!("expected Throttled, got {other:?}"),
        })
        .collect();
    assert_eq!(waits[0], Duration::from_secs(3));
    assert_eq!(
        waits[7],
        Duration::from_millis(500),
        "the time left shrinks: {waits:?}"
    );
    assert_eq!(
        errors[0].service_error().unwrap().error,
        "temporarily_unavailable"
    );

    // Once the window has passed, the next call goes out (and is throttled again).
    clock.advance(Duration::from_millis(500));
    assert!(matches!(
        app.acquire_token_for_client([GRAPH_DEFAULT]).await,
        Err(Error::Throttled { .. })
    ));
    assert_eq!(token_requests(&emulator), 2);

    // ... and succeeds when the identity provider recovered.
    emulator.clear_faults();
    clock.advance(Duration::from_secs(3));
    let result = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert!(!result.access_token.expose_secret().is_empty());
    assert_eq!(token_requests(&emulator), 3);
    assert_no_violations(&emulator);
}

#[tokio::test]
async fn throttled_without_retry_after_uses_the_default_window() {
    let emulator = start().await.unwrap();
    let clock = TestClock::new();
    let app = daemon(&emulator, &clock.cache);
    emulator.inject_fault(Fault::new(FaultKind::TooManyRequests { retry_after: None }).times(1));
    let Err(Error::Throttled { retry_after, .. }) = app.acquire_token_for_client([GRAPH_DEFAULT]).await
    else {
        panic!("expected Throttled");
    };
    assert_eq!(
        retry_after,
        Duration::from_secs(5),
        "a confidential client's default"
    );
    clock.advance(Duration::from_secs(4));
    assert!(app.acquire_token_for_client([GRAPH_DEFAULT]).await.is_err());
    assert_eq!(token_requests(&emulator), 1);
    clock.advance(Duration::from_secs(1));
    app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(token_requests(&emulator), 2);
}

#[tokio::test]
async fn one_server_error_or_dropped_connection_is_retried() {
    let emulator = start().await.unwrap();
    let clock = TestClock::new();
    let app = daemon(&emulator, &clock.cache);
    emulator.inject_fault(Fault::new(FaultKind::ServerError(500)).times(1));
    app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(token_requests(&emulator), 2, "the failure and its retry");

    emulator.inject_fault(Fault::new(FaultKind::DropConnection).times(1));
    let options = msal::ClientCredentialsOptions::default().force_refresh(true);
    app.acquire_token_for_client_with([GRAPH_DEFAULT], &options)
        .await
        .unwrap();
    assert_eq!(token_requests(&emulator), 4);

    // Two in a row: the error surfaces (after one retry), throttled briefly.
    emulator.inject_fault(Fault::new(FaultKind::ServerError(503)).times(2));
    let error = app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &options)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Throttled { .. }), "{error:?}");
    assert_eq!(error.service_error().unwrap().status, 503);
    assert_eq!(token_requests(&emulator), 6);
    assert_no_violations(&emulator);
}

#[tokio::test]
async fn discovery_is_shared_by_apps_on_one_http_cache() {
    let emulator = start().await.unwrap();
    let shared = HttpCache::new();
    let first = daemon(&emulator, &shared);
    let second = daemon(&emulator, &shared);
    first.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    second.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(emulator.request_count(Endpoint::OpenIdConfiguration), 1);
    assert_eq!(emulator.request_count(Endpoint::InstanceDiscovery), 1);

    // Without sharing, each application discovers for itself.
    let third = daemon(&emulator, &HttpCache::new());
    third.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(emulator.request_count(Endpoint::OpenIdConfiguration), 2);
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Makes every cached access token expire within the five-minute margin.
fn expire_access_tokens(cache: &TokenCache) {
    let mut json: Value = serde_json::from_str(&cache.serialize()).unwrap();
    for at in json["AccessToken"].as_object_mut().unwrap().values_mut() {
        at["expires_on"] = json!((now() + 60).to_string());
    }
    cache.deserialize(&json.to_string()).unwrap();
}

#[tokio::test]
async fn a_public_clients_ui_required_answer_is_remembered_for_a_minute() {
    let emulator = start().await.unwrap();
    let clock = TestClock::new();
    let cache = TokenCache::new();
    let app = PublicClientApplication::builder(builtin::PUBLIC_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .token_cache(cache.clone())
        .http_client(msal_http(&emulator).unwrap())
        .http_cache(clock.cache.clone())
        .app_name("throttling-tests")
        .build()
        .unwrap();
    let flow = app
        .initiate_auth_code_flow(
            ["User.Read"],
            "http://localhost:8765",
            &AuthCodeFlowOptions::default().response_mode(ResponseMode::Query),
        )
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
    let account = signed_in.account.unwrap();

    expire_access_tokens(&cache);
    emulator.revoke_refresh_tokens(builtin::ALICE_UPN);
    let before = token_requests(&emulator);
    let first = app
        .acquire_token_silent(["User.Read"], &account)
        .await
        .unwrap_err();
    assert!(first.is_interaction_required(), "{first:?}");
    assert_eq!(token_requests(&emulator), before + 1);
    clock.advance(Duration::from_secs(59));
    let second = app
        .acquire_token_silent(["User.Read"], &account)
        .await
        .unwrap_err();
    assert!(second.is_interaction_required(), "{second:?}");
    assert_eq!(
        second.service_error().map(|e| e.error.as_str()),
        Some("invalid_grant"),
        "the same answer, replayed"
    );
    assert_eq!(token_requests(&emulator), before + 1, "no request within 60 s");
    clock.advance(Duration::from_secs(1));
    app.acquire_token_silent(["User.Read"], &account)
        .await
        .unwrap_err();
    assert_eq!(token_requests(&emulator), before + 2);
    assert_no_violations(&emulator);
}

#[tokio::test]
async fn the_telemetry_check_counts_requests_without_msal_headers() {
    let emulator = start().await.unwrap();
    let app = daemon(&emulator, &HttpCache::new());
    app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_no_violations(&emulator);

    // A bare request, as a hand-written client would send it.
    let url = format!(
        "{}/oauth2/v2.0/token",
        emulator.authority(builtin::CONTOSO_TENANT_NAME)
    );
    let client = msal_test_support::client(&emulator).unwrap();
    let form = format!(
        "client_id={}&client_secret={}&grant_type=client_credentials&scope={}",
        builtin::DAEMON_CLIENT_ID,
        url::form_urlencoded::byte_serialize(builtin::DAEMON_CLIENT_SECRET.as_bytes()).collect::<String>(),
        url::form_urlencoded::byte_serialize(GRAPH_DEFAULT.as_bytes()).collect::<String>(),
    );
    let response = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("client-request-id", "not-a-uuid")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "counted, not refused (strict mode is off)"
    );
    let violations = emulator.telemetry_violations();
    assert_eq!(violations.len(), 5, "{violations:#?}");
    assert!(
        violations
            .iter()
            .any(|v| v.contains("client-request-id \"not-a-uuid\" is not a UUID"))
    );
    assert!(
        violations
            .iter()
            .all(|v| v.starts_with("grant client_credentials"))
    );
}

//! The device code flow and `acquire_token_by_refresh_token` against the
//! emulator over real HTTPS: a scripted user completes (or declines) the
//! sign-in on the emulator's `/devicelogin` pages while the library polls,
//! with a one-second interval so the tests stay quick.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::public_app;
use msal::{
    AuthCodeFlowOptions, CancellationHandle, DeviceFlow, DeviceFlowPolling, Error, PublicClientApplication,
    ResponseMode, SilentOptions, TokenCache, TokenSource,
};
use msal_emulator::{Emulator, EmulatorConfig, Endpoint, builtin};
use msal_test_support::user::{self, DeviceDecision};
use msal_test_support::{msal_http, start_with};
use serde_json::Value;

const SCOPES: [&str; 2] = ["User.Read", "Mail.Read"];
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const INTERVAL: Duration = Duration::from_secs(1);

async fn emulator() -> Emulator {
    start_with(EmulatorConfig::default().with_device_code_interval(INTERVAL))
        .await
        .unwrap()
}

async fn start(emulator: &Emulator, cache: &TokenCache) -> (PublicClientApplication, DeviceFlow) {
    let app = public_app(emulator, builtin::CONTOSO_TENANT_NAME, cache);
    let flow = app
        .initiate_device_flow(SCOPES)
        .await
        .expect("device flow starts");
    (app, flow)
}

/// Polls in a task of its own, as a CLI waits while the user is elsewhere;
/// records every "keep waiting" answer.
fn poll_in_background(
    app: &PublicClientApplication,
    flow: &DeviceFlow,
    polling: DeviceFlowPolling,
) -> (
    tokio::task::JoinHandle<msal::Result<msal::AuthenticationResult>>,
    Arc<Mutex<Vec<String>>>,
) {
    let answers = Arc::new(Mutex::new(Vec::new()));
    let record = answers.clone();
    let polling = polling.on_poll(move |poll| record.lock().unwrap().push(poll.error.clone()));
    let (app, flow) = (app.clone(), flow.clone());
    let task = tokio::spawn(async move { app.acquire_token_by_device_flow_with(&flow, &polling).await });
    (task, answers)
}

fn section(cache: &TokenCache, name: &str) -> serde_json::Map<String, Value> {
    let json: Value = serde_json::from_str(&cache.serialize()).unwrap();
    json[name].as_object().cloned().unwrap_or_default()
}

/// At most one poll per interval (plus the first one) in `elapsed`.
fn assert_interval_honoured(emulator: &Emulator, elapsed: Duration) {
    let polls = emulator.grant_count(DEVICE_GRANT);
    let allowed = elapsed.as_secs_f64() / INTERVAL.as_secs_f64() + 1.0;
    assert!(
        polls as f64 <= allowed,
        "{polls} polls in {elapsed:?} with a {INTERVAL:?} interval"
    );
}

#[tokio::test]
async fn the_user_signs_in_on_another_device_and_the_poll_gets_the_tokens() {
    let emulator = emulator().await;
    let cache = TokenCache::new();
    let (app, flow) = start(&emulator, &cache).await;
    assert!(
        flow.verification_uri().starts_with(&emulator.url()),
        "{}",
        flow.verification_uri()
    );
    assert!(flow.verification_uri().ends_with("/devicelogin"));
    assert!(flow.message().contains(flow.user_code()), "{}", flow.message());
    assert_eq!(flow.interval(), INTERVAL);
    assert_eq!(flow.expires_in(), Duration::from_secs(900));
    assert_eq!(emulator.request_count(Endpoint::DeviceCode), 1);

    let started = Instant::now();
    let (task, answers) = poll_in_background(&app, &flow, DeviceFlowPolling::default());
    // Let a few polls find the user still away.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let done = user::device_login(
        &emulator,
        flow.verification_uri(),
        flow.user_code(),
        builtin::ALICE_UPN,
        builtin::ALICE_PASSWORD,
        DeviceDecision::Approve,
    )
    .await
    .unwrap();
    assert!(done.contains("You have signed in"), "{done}");
    let result = task.await.unwrap().expect("tokens after approval");
    let elapsed = started.elapsed();

    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    let account = result.account.clone().expect("an account");
    assert!(
        account.username.eq_ignore_ascii_case(builtin::ALICE_UPN),
        "{account:?}"
    );
    assert!(
        result.scopes.iter().any(|s| s == "User.Read"),
        "{:?}",
        result.scopes
    );
    let answers = answers.lock().unwrap().clone();
    assert!(answers.len() >= 2, "{answers:?}");
    assert!(
        answers.iter().all(|a| a == "authorization_pending"),
        "waiting the interval never earns slow_down: {answers:?}"
    );
    assert_interval_honoured(&emulator, elapsed);
    assert_eq!(emulator.grant_count(DEVICE_GRANT), answers.len() as u64 + 1);

    // The account records how it was established, and silent calls now work.
    let accounts = section(&cache, "Account");
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts.values().next().unwrap()["account_source"], DEVICE_GRANT);
    let silent = app.acquire_token_silent(SCOPES, &account).await.unwrap();
    assert_eq!(silent.token_source, TokenSource::Cache);
    let refreshed = app
        .acquire_token_silent_with(SCOPES, &account, &SilentOptions::default().force_refresh(true))
        .await
        .expect("the device flow's refresh token works");
    assert_eq!(refreshed.token_source, TokenSource::IdentityProvider);

    // A device code redeems once.
    let again = app.acquire_token_by_device_flow(&flow).await.unwrap_err();
    assert!(matches!(again, Error::Service(_)), "{again:?}");
}

#[tokio::test]
async fn a_declined_sign_in_is_a_typed_error() {
    let emulator = emulator().await;
    let (app, flow) = start(&emulator, &TokenCache::new()).await;
    let (task, _) = poll_in_background(&app, &flow, DeviceFlowPolling::default());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let done = user::device_login(
        &emulator,
        flow.verification_uri(),
        flow.user_code(),
        builtin::ALICE_UPN,
        builtin::ALICE_PASSWORD,
        DeviceDecision::Decline,
    )
    .await
    .unwrap();
    assert!(done.contains("declined"), "{done}");
    match task.await.unwrap() {
        Err(Error::AuthorizationDeclined { service }) => {
            assert_eq!(service.error, "authorization_declined");
            assert_eq!(service.status, 400);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_expired_code_is_a_typed_error() {
    let emulator = emulator().await;
    let (app, flow) = start(&emulator, &TokenCache::new()).await;
    let (task, _) = poll_in_background(&app, &flow, DeviceFlowPolling::default());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The identity provider's clock passes the code's 15 minutes.
    emulator.advance_clock(Duration::from_secs(901));
    match tokio::time::timeout(Duration::from_secs(10), task).await {
        Ok(Ok(Err(Error::DeviceCodeExpired {
            service: Some(service),
        }))) => {
            assert_eq!(service.error, "expired_token");
        }
        other => panic!("{other:?}"),
    }

    // The flow's own expires_at stops polling too, when it comes first.
    let (app, flow) = start(&emulator, &TokenCache::new()).await;
    let mut json = serde_json::to_value(&flow).unwrap();
    let soon = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        + 2.5;
    json["expires_at"] = soon.into();
    let flow: DeviceFlow = serde_json::from_value(json).unwrap();
    emulator.reset_counts();
    let started = Instant::now();
    let err = app.acquire_token_by_device_flow(&flow).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(err, Error::DeviceCodeExpired { service: None }),
        "{err:?}"
    );
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(4),
        "{elapsed:?}"
    );
    assert_interval_honoured(&emulator, elapsed);
}

#[tokio::test]
async fn a_cancellation_handle_stops_polling_against_the_emulator() {
    let emulator = emulator().await;
    let (app, flow) = start(&emulator, &TokenCache::new()).await;
    let handle = CancellationHandle::new();
    let (task, _) = poll_in_background(
        &app,
        &flow,
        DeviceFlowPolling::default().cancellation(handle.clone()),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    handle.cancel();
    let outcome = tokio::time::timeout(Duration::from_millis(500), task).await;
    assert!(matches!(outcome, Ok(Ok(Err(Error::Cancelled)))), "{outcome:?}");
    let polls = emulator.grant_count(DEVICE_GRANT);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        emulator.grant_count(DEVICE_GRANT),
        polls,
        "no poll after cancellation"
    );
}

#[test]
fn the_blocking_facade_completes_a_device_flow() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime.block_on(emulator());
    let app = PublicClientApplication::builder(builtin::PUBLIC_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .http_client(msal_http(&emulator).unwrap())
        .build_blocking()
        .unwrap();
    let flow = app.initiate_device_flow(SCOPES).unwrap();
    // The user signs in elsewhere while this thread blocks on polling.
    let user = {
        let (uri, code) = (flow.verification_uri().to_owned(), flow.user_code().to_owned());
        let emulator_handle = runtime.handle().clone();
        let emulator = &emulator;
        std::thread::scope(|scope| {
            let signer = scope.spawn(move || {
                std::thread::sleep(Duration::from_millis(1200));
                emulator_handle.block_on(user::device_login(
                    emulator,
                    &uri,
                    &code,
                    builtin::ALICE_UPN,
                    builtin::ALICE_PASSWORD,
                    DeviceDecision::Approve,
                ))
            });
            let result = app.acquire_token_by_device_flow(&flow);
            (signer.join().unwrap().unwrap(), result)
        })
    };
    let (done, result) = user;
    assert!(done.contains("You have signed in"), "{done}");
    let result = result.expect("tokens");
    assert!(result.account.is_some());
    assert_eq!(app.get_accounts(None).len(), 1);
}

#[tokio::test]
async fn a_refresh_token_from_elsewhere_moves_into_the_cache() {
    let emulator = emulator().await;
    // Another program signed Alice in and kept her refresh token.
    let elsewhere = TokenCache::new();
    let other = public_app(&emulator, builtin::CONTOSO_TENANT_NAME, &elsewhere);
    let auth = other
        .initiate_auth_code_flow(
            SCOPES,
            "http://localhost:8765",
            &AuthCodeFlowOptions::default().response_mode(ResponseMode::Query),
        )
        .await
        .unwrap();
    let response = user::sign_in(
        &emulator,
        auth.auth_uri(),
        builtin::ALICE_UPN,
        builtin::ALICE_PASSWORD,
    )
    .await
    .unwrap();
    other
        .acquire_token_by_auth_code_flow(&auth, &response)
        .await
        .unwrap();
    let rts = section(&elsewhere, "RefreshToken");
    let old_rt = rts.values().next().unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();

    // This program starts with an empty cache and migrates the refresh token.
    let cache = TokenCache::new();
    let app = public_app(&emulator, builtin::CONTOSO_TENANT_NAME, &cache);
    emulator.reset_counts();
    let result = app
        .acquire_token_by_refresh_token(&old_rt, SCOPES)
        .await
        .expect("the refresh token is redeemed");
    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    assert_eq!(emulator.grant_count("refresh_token"), 1);
    let accounts = app.get_accounts(Some(builtin::ALICE_UPN));
    assert_eq!(accounts.len(), 1, "the migration writes the account");
    let new_rts = section(&cache, "RefreshToken");
    assert_eq!(new_rts.len(), 1);
    assert_ne!(
        new_rts.values().next().unwrap()["secret"].as_str(),
        Some(old_rt.as_str()),
        "the identity provider's new refresh token is kept, not the migrated one"
    );

    // From now on the cache serves the user silently.
    let silent = app.acquire_token_silent(SCOPES, &accounts[0]).await.unwrap();
    assert_eq!(silent.token_source, TokenSource::Cache);
    assert_eq!(silent.access_token, result.access_token);
    let refreshed = app
        .acquire_token_silent_with(
            ["User.Read"],
            &accounts[0],
            &SilentOptions::default().force_refresh(true),
        )
        .await
        .unwrap();
    assert_eq!(refreshed.token_source, TokenSource::IdentityProvider);
    assert_eq!(emulator.grant_count("refresh_token"), 2);

    // A garbage refresh token is the identity provider's invalid_grant.
    let err = app
        .acquire_token_by_refresh_token("not-a-refresh-token", SCOPES)
        .await
        .unwrap_err();
    assert!(err.is_interaction_required(), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_code_is_entered_and_approved_in_headless_chromium() {
    use msal_test_support::webdriver::{Browser, artifact_path};

    let emulator = emulator().await;
    let cache = TokenCache::new();
    let (app, flow) = start(&emulator, &cache).await;
    let polling = tokio::spawn({
        let app = app.clone();
        let flow = flow.clone();
        async move { app.acquire_token_by_device_flow(&flow).await }
    });

    let browser = Browser::start().await.unwrap();
    browser.goto(flow.verification_uri()).await.unwrap();
    browser.type_into("#otc", flow.user_code()).await.unwrap();
    browser
        .screenshot(&artifact_path("device-code-entry-page.png"))
        .await
        .unwrap();
    browser.click("#next").await.unwrap();
    browser.type_into("#username", builtin::BOB_UPN).await.unwrap();
    browser
        .type_into("#password", builtin::BOB_PASSWORD)
        .await
        .unwrap();
    browser.click("#signin").await.unwrap();
    browser.find("#approve").await.unwrap();
    browser
        .screenshot(&artifact_path("device-code-consent-page.png"))
        .await
        .unwrap();
    assert!(
        !polling.is_finished(),
        "nothing is granted before the user approves"
    );
    browser.click("#approve").await.unwrap();
    browser.find("#done").await.unwrap();

    let result = tokio::time::timeout(Duration::from_secs(30), polling)
        .await
        .expect("the poll ends")
        .unwrap()
        .expect("tokens after approval");
    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    assert_eq!(result.account.unwrap().username, builtin::BOB_UPN);
    assert_eq!(app.get_accounts(None).len(), 1);
    browser.quit().await;
}

//! Background refresh of an app token against the emulator, whose tokens
//! here live 303 s, so the cache stops serving them 3 s after issue (five
//! minutes before expiry): the refresher renews ahead with no caller,
//! callers that miss the cache meanwhile share its request, failures back
//! off, and dropping the handle stops it.

use std::time::Duration;

use msal::{ClientCredentialsOptions, ClientSecret, ConfidentialClientApplication, TokenCache, TokenSource};
use msal_emulator::{Directory, Emulator, EmulatorConfig, Endpoint, Fault, FaultKind, builtin};
use msal_test_support::{msal_http, start_with};

use crate::common::GRAPH_DEFAULT;

async fn short_lived_emulator() -> Emulator {
    let mut directory = Directory::builtin();
    directory.token_lifetime_secs = 303;
    start_with(EmulatorConfig::new(directory)).await.unwrap()
}

fn daemon(emulator: &Emulator) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .client_secret(ClientSecret::new(builtin::DAEMON_CLIENT_SECRET))
        .token_cache(TokenCache::new())
        .http_client(msal_http(emulator).unwrap())
        .build()
        .unwrap()
}

fn token_requests(emulator: &Emulator) -> u64 {
    emulator.request_count(Endpoint::Token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_renewed_ahead_with_no_caller_and_callers_find_it_fresh() {
    let emulator = short_lived_emulator().await;
    let app = daemon(&emulator);
    let refresher = app
        .refresh_in_background([GRAPH_DEFAULT], &ClientCredentialsOptions::default())
        .await
        .unwrap();
    assert_eq!(token_requests(&emulator), 1);
    tokio::time::sleep(Duration::from_millis(4500)).await;
    // Renewed with nobody asking: the first token stopped being servable at ~3 s.
    assert!(token_requests(&emulator) >= 2, "{}", token_requests(&emulator));
    assert!(refresher.is_running());
    let served = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(
        served.token_source,
        TokenSource::Cache,
        "the caller finds a fresh token"
    );

    // Dropped: no request after that, though the next renewal was due within seconds.
    drop(refresher);
    let after_drop = token_requests(&emulator);
    tokio::time::sleep(Duration::from_millis(4000)).await;
    assert_eq!(token_requests(&emulator), after_drop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_that_miss_the_cache_share_the_refreshers_request() {
    let emulator = short_lived_emulator().await;
    let app = daemon(&emulator);
    let _refresher = app
        .refresh_in_background([GRAPH_DEFAULT], &ClientCredentialsOptions::default())
        .await
        .unwrap();
    // The renewal (due at ~3 s) takes 3 s to answer; callers come at 4 s,
    // when the cache no longer serves the first token.
    emulator.inject_fault(
        Fault::new(FaultKind::Latency(Duration::from_secs(3)))
            .at(Endpoint::Token)
            .times(1),
    );
    tokio::time::sleep(Duration::from_millis(4000)).await;
    assert_eq!(token_requests(&emulator), 2, "the renewal is in flight");
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap() })
        })
        .collect();
    let mut tokens = Vec::new();
    for caller in callers {
        tokens.push(caller.await.unwrap().access_token.expose_secret().to_owned());
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "every caller got the renewed token");
    assert_eq!(
        token_requests(&emulator),
        2,
        "one request for the refresher and all callers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_back_off_and_the_refresher_recovers() {
    let emulator = short_lived_emulator().await;
    let app = daemon(&emulator);
    let _refresher = app
        .refresh_in_background([GRAPH_DEFAULT], &ClientCredentialsOptions::default())
        .await
        .unwrap();
    emulator.inject_fault(Fault::new(FaultKind::Status(400)).at(Endpoint::Token));
    // First renewal at ~3 s fails; retries after 0.5-1 s, 1-2 s, 2-4 s: by
    // 9.5 s at most four attempts, where a loop without backoff sends thousands.
    tokio::time::sleep(Duration::from_millis(9500)).await;
    let attempts = token_requests(&emulator) - 1;
    assert!((2..=4).contains(&attempts), "{attempts} attempts");
    emulator.clear_faults();
    // The next retry (at most 8 s of backoff away) succeeds; then callers
    // are served from the cache.
    let failed = token_requests(&emulator);
    let mut waited = Duration::ZERO;
    while token_requests(&emulator) == failed {
        assert!(
            waited < Duration::from_secs(20),
            "no retry after the faults cleared"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        waited += Duration::from_millis(250);
    }
    tokio::time::sleep(Duration::from_millis(250)).await;
    let served = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(served.token_source, TokenSource::Cache);
}

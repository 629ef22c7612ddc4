//! No secret (client secret, access token) appears in any `Debug` output,
//! log line or error message, at any log level, on success or failure.

use crate::common::{GRAPH_DEFAULT, daemon};
use msal::TokenCache;
use msal_emulator::builtin;
use msal_test_support::start;

#[tokio::test]
async fn secrets_stay_out_of_logs_debug_and_errors() {
    // Every event this test's thread logs, at every level.
    let logs = msal_test_support::logs::capture().unwrap();

    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_NAME,
        builtin::DAEMON_CLIENT_SECRET,
        &cache,
    );
    let first = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    let second = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    let token = first.access_token.expose_secret().to_owned();
    let signature = token.rsplit('.').next().unwrap().to_owned();

    let wrong_secret = "wrong-secret-value-1234";
    let bad = daemon(
        &emulator,
        builtin::CONTOSO_TENANT_NAME,
        wrong_secret,
        &TokenCache::new(),
    );
    let error = bad.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap_err();

    let mut seen = logs.text();
    assert!(
        seen.contains("requesting an app token"),
        "our own log lines are captured: {seen}"
    );
    for shown in [
        format!("{app:?}"),
        format!("{bad:?}"),
        format!("{first:?}"),
        format!("{second:?}"),
        format!("{cache:?}"),
        format!("{error:?}"),
        error.to_string(),
    ] {
        seen.push_str(&shown);
    }
    for secret in [builtin::DAEMON_CLIENT_SECRET, wrong_secret, &token, &signature] {
        assert!(!seen.contains(secret), "a secret leaked");
    }
    // The Debug output still says what the objects are.
    assert!(format!("{first:?}").contains("AccessToken([REDACTED])"));
    assert!(format!("{app:?}").contains("ClientSecret([REDACTED])"));
}

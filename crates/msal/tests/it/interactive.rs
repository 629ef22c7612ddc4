//! `acquire_token_interactive` end to end in the real headless Chromium:
//! the browser opens the authorization URI, a user fills in the emulator's
//! sign-in form, the emulator form-posts the code to the app's loopback
//! listener, and the app redeems it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{GRAPH_DEFAULT, public_app};
use msal::{BrowserLauncher, Error, InteractiveOptions, Prompt, TokenCache, TokenSource};
use msal_emulator::{Endpoint, builtin};
use msal_test_support::html::{Form, read_form};
use msal_test_support::webdriver::{Browser, artifact_path};
use msal_test_support::{browser, start};
use tokio::sync::oneshot;

/// A launcher that hands the authorization URI to the test instead of a browser.
fn capture() -> (BrowserLauncher, oneshot::Receiver<String>) {
    let (tx, rx) = oneshot::channel();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let launcher = BrowserLauncher::callback(move |url| {
        if let Some(tx) = tx.lock().unwrap().take() {
            let _ = tx.send(url.to_string());
        }
        Ok(())
    });
    (launcher, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interactive_sign_in_in_headless_chromium() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = public_app(&emulator, builtin::CONTOSO_TENANT_NAME, &cache);
    let (launcher, auth_uri) = capture();
    let options = InteractiveOptions::default()
        .login_hint(builtin::ALICE_UPN)
        .timeout(Duration::from_secs(60))
        .browser(launcher);
    let signing_in = tokio::spawn({
        let app = app.clone();
        async move { app.acquire_token_interactive(["User.Read"], &options).await }
    });
    let auth_uri = auth_uri.await.expect("the app opened a browser");
    assert!(auth_uri.contains("response_mode=form_post"), "{auth_uri}");
    assert!(auth_uri.contains("code_challenge_method=S256"), "{auth_uri}");

    let browser = Browser::start().await.unwrap();
    browser.goto(&auth_uri).await.unwrap();
    assert_eq!(
        browser.value_of("#username").await.unwrap(),
        builtin::ALICE_UPN,
        "login_hint pre-fills the form"
    );
    browser
        .screenshot(&artifact_path("interactive-sign-in-page.png"))
        .await
        .unwrap();

    // A wrong password first: the page comes back with Entra's error.
    browser.type_into("#password", "not-her-password").await.unwrap();
    browser.click("#signin").await.unwrap();
    browser.wait_for("AADSTS50126").await.unwrap();
    assert!(
        !signing_in.is_finished(),
        "a failed attempt does not end the flow"
    );

    browser
        .type_into("#password", builtin::ALICE_PASSWORD)
        .await
        .unwrap();
    browser.click("#signin").await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(60), signing_in)
        .await
        .expect("the flow finishes")
        .expect("the task runs")
        .expect("the sign-in succeeds");
    // The browser landed on the loopback listener's success page.
    assert!(
        browser
            .current_url()
            .await
            .unwrap()
            .starts_with("http://localhost:")
    );
    browser
        .screenshot(&artifact_path("interactive-sign-in-done.png"))
        .await
        .unwrap();

    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    let account = result.account.clone().expect("an account");
    assert_eq!(account.username, builtin::ALICE_UPN);
    assert_eq!(app.get_accounts(None), vec![account]);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);

    // A second sign-in in the same browser: the session cookie skips the form.
    let (launcher, auth_uri) = capture();
    let options = InteractiveOptions::default()
        .timeout(Duration::from_secs(60))
        .browser(launcher);
    let again = tokio::spawn({
        let app = app.clone();
        async move { app.acquire_token_interactive([GRAPH_DEFAULT], &options).await }
    });
    browser.goto(&auth_uri.await.unwrap()).await.unwrap();
    let second = tokio::time::timeout(Duration::from_secs(60), again)
        .await
        .expect("the flow finishes")
        .unwrap()
        .expect("silent-in-browser sign-in succeeds");
    assert_eq!(second.account.unwrap().username, builtin::ALICE_UPN);
    browser.quit().await;
}

#[tokio::test]
async fn nobody_signing_in_is_a_timeout_not_a_hang() {
    let emulator = start().await.unwrap();
    let app = public_app(&emulator, builtin::CONTOSO_TENANT_NAME, &TokenCache::new());
    let (launcher, _uri) = capture();
    let options = InteractiveOptions::default()
        .timeout(Duration::from_millis(300))
        .browser(launcher);
    let started = Instant::now();
    let error = app
        .acquire_token_interactive(["User.Read"], &options)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::InteractionTimeout { .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(emulator.request_count(Endpoint::Token), 0);
}

#[tokio::test]
async fn prompt_none_without_a_session_reports_login_required() {
    let emulator = start().await.unwrap();
    let app = public_app(&emulator, builtin::CONTOSO_TENANT_NAME, &TokenCache::new());
    // A "browser" that follows the emulator's answer: prompt=none without a
    // session comes straight back to the loopback listener with an error.
    let http = browser(&emulator).unwrap();
    let launcher = BrowserLauncher::callback(move |url| {
        let http = http.clone();
        let url = url.to_string();
        tokio::spawn(async move {
            let page = http.get(&url).send().await.unwrap().text().await.unwrap();
            let Form { action, fields } = read_form(&page, None).unwrap();
            reqwest::Client::new()
                .post(action)
                .form(&fields)
                .send()
                .await
                .unwrap();
        });
        Ok(())
    });
    let options = InteractiveOptions::default()
        .prompt(Prompt::None)
        .timeout(Duration::from_secs(30))
        .browser(launcher);
    let error = app
        .acquire_token_interactive(["User.Read"], &options)
        .await
        .unwrap_err();
    let service = error.service_error().expect("the identity provider's error");
    assert_eq!(service.error, "login_required");
    assert!(
        service
            .error_description
            .as_deref()
            .unwrap_or_default()
            .contains("AADSTS50058")
    );
}

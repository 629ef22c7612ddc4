//! Helpers for driving the device code flow over HTTPS: the device
//! authorization request, polling, and the verification page steps a
//! browser would take (scripted as plain form posts).

use msal_test_support::{browser, client};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use msal_emulator::{Emulator, EmulatorConfig};
use msal_test_support::html::hidden_inputs;
use reqwest::{Client, Response, StatusCode};
use serde_json::Value;

use crate::common::{Reply, post_form};

/// The device code grant type.
pub(crate) const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Starts an emulator with the built-in directory and a 1 s polling interval.
pub(crate) async fn start() -> Emulator {
    start_with(EmulatorConfig::default()).await
}

/// Starts an emulator from `config` with a 1 s polling interval.
pub(crate) async fn start_with(config: EmulatorConfig) -> Emulator {
    msal_test_support::start_with(config.with_device_code_interval(Duration::from_secs(1)))
        .await
        .unwrap()
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub(crate) async fn device_code(
    em: &Emulator,
    tenant: &str,
    client_id: &str,
    scope: &str,
    claims: Option<&str>,
) -> Reply {
    let mut form = vec![("client_id", client_id), ("scope", scope)];
    if let Some(c) = claims {
        form.push(("claims", c));
    }
    post_form(
        &client(em).unwrap(),
        &format!("{}/oauth2/v2.0/devicecode", em.authority(tenant)),
        &form,
    )
    .await
}

/// One poll of the token endpoint for `device_code`, as MSAL Python sends it
/// (with the legacy `code` too), plus `extra` parameters.
pub(crate) async fn poll(em: &Emulator, client_id: &str, device_code: &str, extra: &[(&str, &str)]) -> Reply {
    let mut form = vec![
        ("grant_type", DEVICE_GRANT),
        ("client_id", client_id),
        ("device_code", device_code),
        ("code", device_code),
        ("client_info", "1"),
    ];
    form.extend_from_slice(extra);
    post_form(
        &client(em).unwrap(),
        &format!("{}/oauth2/v2.0/token", em.authority("organizations")),
        &form,
    )
    .await
}

/// POSTs `form` to `/devicelogin` with an optional cookie.
pub(crate) async fn post_page(
    http: &Client,
    em: &Emulator,
    form: &[(String, String)],
    cookie: Option<&str>,
) -> Response {
    let mut req = http.post(format!("{}/devicelogin", em.url())).form(form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

/// A page's status and HTML.
pub(crate) async fn html(response: Response) -> (StatusCode, String) {
    let status = response.status();
    (status, response.text().await.unwrap())
}

/// Enters `user_code` on the verification page.
pub(crate) async fn enter_code(
    http: &Client,
    em: &Emulator,
    user_code: &str,
    cookie: Option<&str>,
) -> String {
    let response = post_page(http, em, &[("otc".into(), user_code.into())], cookie).await;
    let (status, page) = html(response).await;
    assert_eq!(status, 200);
    page
}

/// Posts the sign-in form of `page` with these credentials; returns the
/// next page and the session cookie it set, if any.
pub(crate) async fn sign_in(
    http: &Client,
    em: &Emulator,
    page: &str,
    username: &str,
    password: &str,
) -> (String, Option<String>) {
    assert!(
        page.contains("<form id=\"signin-form\" method=\"post\" action=\"/devicelogin\">"),
        "{page}"
    );
    let mut form = hidden_inputs(page);
    form.push(("username".into(), username.into()));
    form.push(("password".into(), password.into()));
    let response = post_page(http, em, &form, None).await;
    let cookie = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().trim().to_owned());
    let (status, page) = html(response).await;
    assert_eq!(status, 200);
    (page, cookie)
}

/// Posts the consent form of `page` with `action` (approve or decline); returns the final page.
pub(crate) async fn decide(http: &Client, em: &Emulator, page: &str, action: &str) -> String {
    assert!(page.contains("<form id=\"consent-form\""), "{page}");
    assert!(page.contains("<button id=\"approve\" name=\"action\" value=\"approve\""));
    assert!(page.contains("<button id=\"decline\" name=\"action\" value=\"decline\""));
    let mut form = hidden_inputs(page);
    form.push(("action".into(), action.into()));
    let (status, page) = html(post_page(http, em, &form, None).await).await;
    assert_eq!(status, 200);
    page
}

/// Enters the code, signs in and approves or declines; returns the final
/// page and the session cookie.
pub(crate) async fn complete(
    em: &Emulator,
    user_code: &str,
    username: &str,
    password: &str,
    action: &str,
) -> (String, String) {
    let http = browser(em).unwrap();
    let page = enter_code(&http, em, user_code, None).await;
    let (consent, cookie) = sign_in(&http, em, &page, username, password).await;
    let done = decide(&http, em, &consent, action).await;
    (done, cookie.expect("sign-in sets a session cookie"))
}

/// The whole flow for `username`: device code, approval, one successful
/// poll; `claims` go on the device code request. Returns the token response.
pub(crate) async fn tokens(
    em: &Emulator,
    client_id: &str,
    scope: &str,
    username: &str,
    password: &str,
    claims: Option<&str>,
) -> Value {
    let start = device_code(em, "organizations", client_id, scope, claims).await;
    assert_eq!(start.status, 200, "{}", start.body);
    let user_code = start.body["user_code"].as_str().unwrap().to_owned();
    let device = start.body["device_code"].as_str().unwrap().to_owned();
    complete(em, &user_code, username, password, "approve").await;
    let reply = poll(em, client_id, &device, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

/// A JWT's claims, unverified.
pub(crate) fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

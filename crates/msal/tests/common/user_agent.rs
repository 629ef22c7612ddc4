//! A scripted user at the emulator's sign-in page, over real HTTPS: what a
//! browser does (GET the page, POST its form), without the browser. The
//! headless Chromium tests use [`super::webdriver`] instead.

use std::collections::HashMap;

use msal::AuthResponse;
use msal_emulator::Emulator;
use reqwest::{Certificate, Client, StatusCode};

/// A cookie-less client that trusts only the emulator and never follows redirects.
pub fn client(emulator: &Emulator) -> Client {
    let ca = Certificate::from_pem(emulator.ca_cert_pem().as_bytes()).expect("CA parses");
    Client::builder()
        .tls_certs_only([ca])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client builds")
}

/// The `name`/`value` pairs of a page's `<input>` elements, and the action
/// of the form with `form_id` (or of the first form).
pub fn read_form(html: &str, form_id: Option<&str>) -> (String, Vec<(String, String)>) {
    let mut action = None;
    let mut fields = Vec::new();
    for tag in html.split('<').skip(1) {
        let tag = tag.split('>').next().unwrap_or_default();
        if tag.starts_with("form ") {
            let matches_id = form_id.is_none_or(|id| attribute(tag, "id").as_deref() == Some(id));
            if action.is_none() && matches_id {
                action = attribute(tag, "action");
            }
        } else if tag.starts_with("input ")
            && let Some(name) = attribute(tag, "name")
        {
            fields.push((name, attribute(tag, "value").unwrap_or_default()));
        }
    }
    (action.expect("the page has a form with an action"), fields)
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

fn unescape(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Signs `username` in at `auth_uri` and returns the authorization response
/// the app would receive: the redirect's query (`response_mode=query`) or the
/// auto-submitted form's fields (`form_post`).
pub async fn sign_in(emulator: &Emulator, auth_uri: &str, username: &str, password: &str) -> AuthResponse {
    let http = client(emulator);
    let page = http.get(auth_uri).send().await.expect("sign-in page");
    assert_eq!(page.status(), StatusCode::OK, "the sign-in page is served");
    let html = page.text().await.expect("page body");
    let (action, mut fields) = read_form(&html, Some("signin-form"));
    fields.retain(|(name, _)| name != "username" && name != "password");
    fields.push(("username".into(), username.into()));
    fields.push(("password".into(), password.into()));
    let action = url::Url::parse(auth_uri)
        .expect("auth URI")
        .join(&action)
        .expect("form action");
    let done = http
        .post(action)
        .form(&fields)
        .send()
        .await
        .expect("sign-in POST");
    match done.status() {
        StatusCode::FOUND => {
            let location = done.headers()["location"].to_str().expect("ASCII location");
            AuthResponse::from_redirect_url(location).expect("a redirect URL")
        }
        StatusCode::OK => {
            let html = done.text().await.expect("form_post page");
            let (_, fields) = read_form(&html, None);
            fields.into_iter().collect::<HashMap<_, _>>().into()
        }
        other => panic!(
            "sign-in failed with {other}: {}",
            done.text().await.unwrap_or_default()
        ),
    }
}

/// What the user does on the device code consent page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceDecision {
    Approve,
    Decline,
}

/// A user at the emulator's device code page (`verification_uri`): enters
/// `user_code`, signs in as `username`, then approves or declines. Returns
/// the text of the final page (`<div id="done">`).
pub async fn device_login(
    emulator: &Emulator,
    verification_uri: &str,
    user_code: &str,
    username: &str,
    password: &str,
    decision: DeviceDecision,
) -> String {
    let http = client(emulator);
    let base = url::Url::parse(verification_uri).expect("verification URI");
    let page = http.get(base.clone()).send().await.expect("code entry page");
    assert_eq!(page.status(), StatusCode::OK, "the code entry page is served");
    let html = page.text().await.expect("page body");
    assert!(html.contains("id=\"otc\""), "{html}");
    let (action, _) = read_form(&html, Some("device-form"));

    // Typed the way people do: lower case, with a separator.
    let typed = format!("{}-{}", &user_code[..4], &user_code[4..]).to_lowercase();
    let html = post(&http, &base, &action, &[("otc".to_owned(), typed)]).await;
    assert!(!html.contains("id=\"error\""), "the code is accepted: {html}");
    let (action, mut fields) = read_form(&html, Some("signin-form"));
    fields.retain(|(name, _)| name != "username" && name != "password");
    fields.push(("username".into(), username.into()));
    fields.push(("password".into(), password.into()));

    let html = post(&http, &base, &action, &fields).await;
    assert!(
        html.contains("id=\"consent-form\""),
        "the consent page follows sign-in: {html}"
    );
    let (action, mut fields) = read_form(&html, Some("consent-form"));
    let value = match decision {
        DeviceDecision::Approve => "approve",
        DeviceDecision::Decline => "decline",
    };
    fields.push(("action".into(), value.into()));
    let html = post(&http, &base, &action, &fields).await;
    let start = html.find("<div id=\"done\">").expect("the final page") + "<div id=\"done\">".len();
    let end = html[start..].find("</div>").expect("closed") + start;
    html[start..end].to_owned()
}

/// POSTs a form to `action` (relative to `base`) and returns the page.
async fn post(http: &Client, base: &url::Url, action: &str, fields: &[(String, String)]) -> String {
    let url = base.join(action).expect("form action");
    let response = http.post(url).form(fields).send().await.expect("form POST");
    assert_eq!(response.status(), StatusCode::OK, "form POST answered");
    response.text().await.expect("page body")
}

//! The authorize endpoint (sign-in page, sessions, redirects) and the
//! authorization_code and refresh_token grants, over HTTPS.

use std::collections::HashMap;
use std::time::Duration;

use crate::common;
use crate::common::{Reply, assert_entra_error, post_form};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use msal_emulator::builtin::*;
use msal_emulator::{Emulator, Endpoint};
use msal_test_support::html::{hidden_inputs, input_value, unescape};
use msal_test_support::{browser, client, start};
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const LOOPBACK: &str = "http://localhost:51234";
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn authorize_url(em: &Emulator, tenant: &str) -> String {
    format!("{}/oauth2/v2.0/authorize", em.authority(tenant))
}

fn token_url(em: &Emulator, tenant: &str) -> String {
    format!("{}/oauth2/v2.0/token", em.authority(tenant))
}

/// An authorize request of the public client, as MSAL sends it.
fn public_params(scope: &str) -> Vec<(&'static str, String)> {
    vec![
        ("client_id", PUBLIC_CLIENT_ID.into()),
        ("response_type", "code".into()),
        ("redirect_uri", LOOPBACK.into()),
        ("scope", scope.into()),
        ("state", "st-123".into()),
        ("nonce", "nonce-456".into()),
        ("code_challenge", challenge(VERIFIER)),
        ("code_challenge_method", "S256".into()),
        ("client_info", "1".into()),
    ]
}

fn set(params: &mut Vec<(&'static str, String)>, name: &'static str, value: &str) {
    params.retain(|(n, _)| *n != name);
    params.push((name, value.into()));
}

async fn get_authorize(
    http: &Client,
    em: &Emulator,
    tenant: &str,
    params: &[(&str, String)],
    cookie: Option<&str>,
) -> Response {
    let mut url = url::Url::parse(&authorize_url(em, tenant)).unwrap();
    url.query_pairs_mut()
        .extend_pairs(params.iter().map(|(n, v)| (*n, v.as_str())));
    let mut req = http.get(url);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

/// Posts the sign-in form found in `page_html` with these credentials.
async fn submit(
    http: &Client,
    em: &Emulator,
    page_html: &str,
    username: &str,
    password: &str,
    cookie: Option<&str>,
) -> Response {
    let action = page_html
        .split_once("<form id=\"signin-form\" method=\"post\" action=\"")
        .unwrap()
        .1
        .split_once('"')
        .unwrap()
        .0;
    let mut form = hidden_inputs(page_html);
    form.push(("username".into(), username.into()));
    form.push(("password".into(), password.into()));
    let mut req = http.post(format!("{}{}", em.url(), unescape(action))).form(&form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

/// The query (or fragment) parameters of a 302's `Location`.
fn location_params(response: &Response) -> (String, HashMap<String, String>) {
    assert_eq!(response.status(), StatusCode::FOUND, "expected a redirect");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let url = url::Url::parse(&location).unwrap();
    let params = url.query_pairs().into_owned().collect();
    (location, params)
}

/// `name=value` of the session cookie set by `response`.
fn session_cookie(response: &Response) -> String {
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    set_cookie.split(';').next().unwrap().trim().to_owned()
}

/// Signs `username` in through the form; returns the redirect's params and the session cookie.
async fn sign_in(
    em: &Emulator,
    tenant: &str,
    params: &[(&str, String)],
    username: &str,
    password: &str,
) -> (HashMap<String, String>, String) {
    let http = browser(em).unwrap();
    let page = get_authorize(&http, em, tenant, params, None).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let done = submit(&http, em, &html, username, password, None).await;
    let cookie = session_cookie(&done);
    (location_params(&done).1, cookie)
}

async fn redeem(em: &Emulator, tenant: &str, form: &[(&str, &str)]) -> Reply {
    post_form(&client(em).unwrap(), &token_url(em, tenant), form).await
}

async fn redeem_public(em: &Emulator, code: &str, scope: &str) -> Reply {
    redeem(
        em,
        CONTOSO_TENANT_NAME,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", PUBLIC_CLIENT_ID),
            ("code", code),
            ("redirect_uri", LOOPBACK),
            ("code_verifier", VERIFIER),
            ("scope", scope),
            ("client_info", "1"),
        ],
    )
    .await
}

/// Verifies `token` with the JWKS and returns its claims.
async fn verify(em: &Emulator, token: &str, audience: &str, tenant_id: &str) -> Value {
    let jwks = common::get(
        &client(em).unwrap(),
        &format!("{}/common/discovery/v2.0/keys", em.url()),
    )
    .await
    .body;
    let key = &jwks["keys"][0];
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let decoding =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience]);
    // v2.0 tokens name the endpoint's issuer, v1.0 ones (Microsoft Graph's)
    // Entra's STS; `ver` tells which, and the tests check it.
    validation.set_issuer(&[
        format!("{}/{tenant_id}/v2.0", em.url()),
        format!("https://sts.windows.net/{tenant_id}/"),
    ]);
    validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
    jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .expect("token verifies against the JWKS")
        .claims
}

fn decode_client_info(info: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(info).unwrap()).unwrap()
}

#[tokio::test]
async fn sign_in_page_has_the_contract_shape_and_escapes_values() {
    let em = start().await.unwrap();
    let http = browser(&em).unwrap();
    let mut params = public_params("openid profile offline_access User.Read");
    set(&mut params, "state", "<script>alert('x')</script>\"&");
    set(&mut params, "login_hint", ALICE_UPN);
    set(&mut params, "domain_hint", "contoso.onmicrosoft.com");
    let response = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &params, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert!(response.headers().get("set-cookie").is_none());
    let html = response.text().await.unwrap();

    let form = "<form id=\"signin-form\" method=\"post\" action=\"/contoso/oauth2/v2.0/authorize\">";
    assert_eq!(html.matches(form).count(), 1, "{html}");
    assert_eq!(html.matches("<form").count(), 1);
    assert!(html.contains("<input id=\"username\" name=\"username\" type=\"email\""));
    assert!(html.contains("<input id=\"password\" name=\"password\" type=\"password\""));
    assert!(html.contains("<button id=\"signin\" type=\"submit\">"));
    assert!(!html.contains("id=\"error\""));
    assert_eq!(input_value(&html, "username").unwrap(), ALICE_UPN);

    // Every authorize parameter comes back as one hidden input, escaped.
    let hidden = hidden_inputs(&html);
    let sent: Vec<(String, String)> = params.iter().map(|(n, v)| ((*n).to_owned(), v.clone())).collect();
    assert_eq!(hidden, sent);
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("value=\"&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;\""));
    assert!(!html.contains("<script"));
    assert_eq!(em.request_count(Endpoint::Authorize), 1);

    // POST is an authorize request too (Entra accepts both).
    let response = http
        .post(authorize_url(&em, CONTOSO_TENANT_NAME))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains(form));
    assert_eq!(em.request_count(Endpoint::Authorize), 2);
}

#[tokio::test]
async fn wrong_password_unknown_user_and_foreign_user_show_the_page_again() {
    let em = start().await.unwrap();
    let http = browser(&em).unwrap();
    let params = public_params("openid User.Read");
    let html = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &params, None)
        .await
        .text()
        .await
        .unwrap();

    let cases = [
        (ALICE_UPN, "wrong", "AADSTS50126"),
        ("nobody@contoso.onmicrosoft.com", "x", "AADSTS50034"),
        (CAROL_UPN, CAROL_PASSWORD, "AADSTS50020"),
    ];
    for (user, password, code) in cases {
        let response = submit(&http, &em, &html, user, password, None).await;
        assert_eq!(response.status(), 200, "{user}");
        assert!(response.headers().get("set-cookie").is_none());
        assert!(response.headers().get("location").is_none());
        let again = response.text().await.unwrap();
        let start = again
            .find("<div id=\"error\" role=\"alert\">")
            .expect("error div");
        let div = &again[start..start + again[start..].find("</div>").unwrap()];
        assert!(div.contains(code), "{user}: {div}");
        // The form is back, with the request and the typed user name.
        assert_eq!(again.matches("id=\"signin-form\"").count(), 1);
        assert_eq!(input_value(&again, "username").unwrap(), user);
        let carried: Vec<String> = hidden_inputs(&again).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            carried,
            params.iter().map(|(n, _)| (*n).to_owned()).collect::<Vec<_>>()
        );
    }
    // A user name with markup is escaped on the page.
    let response = submit(&http, &em, &html, "<b>x</b>@contoso", "x", None).await;
    let again = response.text().await.unwrap();
    assert!(!again.contains("<b>x</b>"));
    assert!(again.contains("&lt;b&gt;x&lt;/b&gt;@contoso"));
}

#[tokio::test]
async fn requests_that_cannot_go_back_to_the_app_get_an_error_page() {
    let em = start().await.unwrap();
    let http = browser(&em).unwrap();
    let check = |response: Response, status: u16, code: &'static str| async move {
        assert_eq!(response.status().as_u16(), status, "{code}");
        assert!(response.headers().get("location").is_none(), "{code}");
        assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
        let html = response.text().await.unwrap();
        assert!(html.contains("<div id=\"error\" role=\"alert\">"), "{html}");
        assert!(html.contains(code), "{code}: {html}");
        assert!(!html.contains("signin-form"));
    };

    let mut params = public_params("User.Read");
    set(&mut params, "client_id", "00000000-0000-0000-0000-000000000001");
    check(
        get_authorize(&http, &em, CONTOSO_TENANT_NAME, &params, None).await,
        400,
        "AADSTS700016",
    )
    .await;

    // A single-tenant Contoso app does not exist in Fabrikam.
    let params = public_params("User.Read");
    check(
        get_authorize(&http, &em, FABRIKAM_TENANT_NAME, &params, None).await,
        400,
        "AADSTS700016",
    )
    .await;

    let mut params = public_params("User.Read");
    set(&mut params, "redirect_uri", "https://evil.example/cb");
    check(
        get_authorize(&http, &em, CONTOSO_TENANT_NAME, &params, None).await,
        400,
        "AADSTS50011",
    )
    .await;

    // An unknown response type is shown, not sent (`token` is a known
    // one: see `implicit_grant_follows_the_app_registration`).
    let mut params = public_params("User.Read");
    set(&mut params, "response_type", "code bogus");
    check(
        get_authorize(&http, &em, CONTOSO_TENANT_NAME, &params, None).await,
        400,
        "AADSTS70005",
    )
    .await;

    let mut params = public_params("User.Read");
    params.retain(|(n, _)| *n != "client_id");
    check(
        get_authorize(&http, &em, CONTOSO_TENANT_NAME, &params, None).await,
        400,
        "AADSTS900144",
    )
    .await;

    check(
        get_authorize(&http, &em, "nowhere", &public_params("User.Read"), None).await,
        400,
        "AADSTS90002",
    )
    .await;

    // Other methods get Entra's 405.
    let response = http
        .put(authorize_url(&em, CONTOSO_TENANT_NAME))
        .send()
        .await
        .unwrap();
    let reply = Reply::from_response(response).await;
    assert_entra_error(&reply, 405, "invalid_request", 900561);
    assert!(
        reply.body["error_description"]
            .as_str()
            .unwrap()
            .contains("GET or POST")
    );
}

#[tokio::test]
async fn loopback_redirect_uris_match_on_any_port() {
    let em = start().await.unwrap();
    let http = browser(&em).unwrap();
    for (uri, ok) in [
        ("http://localhost:51234", true),
        ("http://localhost:1/", true),
        ("http://127.0.0.1:8080", true),
        ("http://localhost:51234/other", false),
        ("https://localhost:51234", false),
        ("http://localhost.evil.example:51234", false),
    ] {
        let mut params = public_params("User.Read");
        set(&mut params, "redirect_uri", uri);
        let response = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &params, None).await;
        let html = response.text().await.unwrap();
        assert_eq!(html.contains("signin-form"), ok, "{uri}");
        assert_eq!(html.contains("AADSTS50011"), !ok, "{uri}");
    }
    // The web app's registered loopback URI matches on another port too, same path only.
    let mut params = public_params("User.Read");
    set(&mut params, "client_id", WEBAPP_CLIENT_ID);
    set(&mut params, "redirect_uri", "http://localhost:9999/redirect");
    let html = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &params, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("signin-form"));
}

#[tokio::test]
async fn code_flow_with_query_response_issues_verifiable_tokens() {
    let em = start().await.unwrap();
    let http = browser(&em).unwrap();
    let params = public_params("openid profile offline_access User.Read");
    let html = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &params, None)
        .await
        .text()
        .await
        .unwrap();
    let done = submit(
        &http,
        &em,
        &html,
        "ALICE@contoso.onmicrosoft.com",
        ALICE_PASSWORD,
        None,
    )
    .await;
    let set_cookie = done.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.starts_with("msal_emulator_session="), "{set_cookie}");
    for attribute in ["HttpOnly", "Secure", "SameSite=None", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let (location, query) = location_params(&done);
    assert!(
        location.starts_with("http://localhost:51234/?code="),
        "{location}"
    );
    let keys: Vec<&str> = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .map(|(k, _)| match k.as_ref() {
            "code" => "code",
            "client_info" => "client_info",
            "state" => "state",
            "session_state" => "session_state",
            _ => "other",
        })
        .collect();
    assert_eq!(keys, ["code", "client_info", "state", "session_state"]);
    assert_eq!(query["state"], "st-123");
    assert!(uuid::Uuid::parse_str(&query["session_state"]).is_ok());
    assert_eq!(
        decode_client_info(&query["client_info"]),
        json!({"uid": ALICE_OBJECT_ID, "utid": CONTOSO_TENANT_ID})
    );

    let reply = redeem_public(&em, &query["code"], "openid profile offline_access User.Read").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store, no-cache"));
    let body = &reply.body;
    let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access_token",
            "client_info",
            "expires_in",
            "ext_expires_in",
            "id_token",
            "refresh_token",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "User.Read openid profile");
    assert_eq!(body["expires_in"], json!(3599));
    assert_eq!(body["ext_expires_in"], json!(3599));
    assert_eq!(
        decode_client_info(body["client_info"].as_str().unwrap()),
        json!({"uid": ALICE_OBJECT_ID, "utid": CONTOSO_TENANT_ID})
    );

    let at = verify(
        &em,
        body["access_token"].as_str().unwrap(),
        GRAPH_APP_ID,
        CONTOSO_TENANT_ID,
    )
    .await;
    assert_eq!(at["scp"], "User.Read");
    assert_eq!(at["oid"], ALICE_OBJECT_ID);
    assert_eq!(at["tid"], CONTOSO_TENANT_ID);
    assert_eq!(at["upn"], ALICE_UPN);
    assert_eq!(at["name"], ALICE_DISPLAY_NAME);
    // Microsoft Graph accepts v1.0 tokens, which Entra issues whichever
    // endpoint asked ("access tokens ... are created based on the audience
    // of the token"; access token claims reference): `iss` is the STS,
    // `unique_name` and `appid`/`appidacr` ("0": a public client) stand
    // where v2.0 has `preferred_username` and `azp`/`azpacr`.
    assert_eq!(at["ver"], "1.0");
    assert_eq!(at["iss"], format!("https://sts.windows.net/{CONTOSO_TENANT_ID}/"));
    assert_eq!(at["unique_name"], ALICE_UPN);
    assert_eq!(at["appid"], PUBLIC_CLIENT_ID);
    assert_eq!(at["appidacr"], "0");
    assert!(at.get("azp").is_none() && at.get("azpacr").is_none());
    assert!(at.get("preferred_username").is_none());
    assert!(at.get("roles").is_none());

    let id = verify(
        &em,
        body["id_token"].as_str().unwrap(),
        PUBLIC_CLIENT_ID,
        CONTOSO_TENANT_ID,
    )
    .await;
    assert_eq!(id["ver"], "2.0");
    assert_eq!(id["nonce"], "nonce-456");
    assert_eq!(id["oid"], ALICE_OBJECT_ID);
    assert_eq!(id["tid"], CONTOSO_TENANT_ID);
    assert_eq!(id["preferred_username"], ALICE_UPN);
    assert_eq!(id["name"], ALICE_DISPLAY_NAME);
    let expected_sub = URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{ALICE_OBJECT_ID}{PUBLIC_CLIENT_ID}")));
    assert_eq!(id["sub"], expected_sub.as_str());
    assert_eq!(at["sub"], id["sub"]);
    let (iat, auth_time) = (id["iat"].as_u64().unwrap(), id["auth_time"].as_u64().unwrap());
    assert!(auth_time <= iat && iat - auth_time < 60);
    assert!(!body["refresh_token"].as_str().unwrap().is_empty());
    assert_eq!(em.request_count(Endpoint::Authorize), 2);
}

#[tokio::test]
async fn form_post_response_and_confidential_redemption() {
    let em = start().await.unwrap();
    let params = vec![
        ("client_id", WEBAPP_CLIENT_ID.to_owned()),
        ("response_type", "code".into()),
        ("redirect_uri", WEBAPP_REDIRECT_URI.into()),
        ("scope", format!("openid {API_IDENTIFIER_URI}/Orders.Read")),
        ("response_mode", "form_post".into()),
        ("state", "a\"b<c>".into()),
    ];
    let http = browser(&em).unwrap();
    let html = get_authorize(&http, &em, CONTOSO_DOMAIN, &params, None)
        .await
        .text()
        .await
        .unwrap();
    let done = submit(&http, &em, &html, BOB_UPN, BOB_PASSWORD, None).await;
    assert_eq!(done.status(), 200);
    assert!(done.headers().get("set-cookie").is_some());
    let page = done.text().await.unwrap();
    assert!(
        page.contains(&format!(
            "<form method=\"post\" action=\"{WEBAPP_REDIRECT_URI}\">"
        )),
        "{page}"
    );
    assert!(page.contains("<body onload=\"document.forms[0].submit()\">"));
    assert!(page.contains("<noscript>"));
    let fields = hidden_inputs(&page);
    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["code", "state", "session_state"],
        "no client_info unless asked"
    );
    assert_eq!(fields[1].1, "a\"b<c>");
    assert!(page.contains("value=\"a&quot;b&lt;c&gt;\""));
    let code = fields[0].1.clone();

    let form = |secret: Option<&'static str>| {
        let mut f = vec![
            ("grant_type", "authorization_code"),
            ("client_id", WEBAPP_CLIENT_ID),
            ("redirect_uri", WEBAPP_REDIRECT_URI),
            (
                "scope",
                "openid api://7351786e-0dac-4468-bf34-f1235f4eb15e/Orders.Read",
            ),
        ];
        if let Some(s) = secret {
            f.push(("client_secret", s));
        }
        f
    };
    let mut missing = form(None);
    missing.push(("code", &code));
    assert_entra_error(
        &redeem(&em, CONTOSO_TENANT_NAME, &missing).await,
        400,
        "invalid_client",
        7000218,
    );
    let mut wrong = form(Some("nope"));
    wrong.push(("code", &code));
    assert_entra_error(
        &redeem(&em, CONTOSO_TENANT_NAME, &wrong).await,
        401,
        "invalid_client",
        7000215,
    );

    let mut good = form(Some(WEBAPP_CLIENT_SECRET));
    good.push(("code", &code));
    let reply = redeem(&em, CONTOSO_TENANT_NAME, &good).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["scope"],
        format!("{API_IDENTIFIER_URI}/Orders.Read openid")
    );
    assert!(
        reply.body.get("refresh_token").is_none(),
        "no offline_access asked"
    );
    assert!(reply.body.get("client_info").is_none());
    let at = verify(
        &em,
        reply.body["access_token"].as_str().unwrap(),
        API_CLIENT_ID,
        CONTOSO_TENANT_ID,
    )
    .await;
    assert_eq!(at["scp"], "Orders.Read");
    assert_eq!(at["azpacr"], "1");
    assert_eq!(at["upn"], BOB_UPN);
    let id = verify(
        &em,
        reply.body["id_token"].as_str().unwrap(),
        WEBAPP_CLIENT_ID,
        CONTOSO_TENANT_ID,
    )
    .await;
    assert!(id.get("nonce").is_none());
    assert_eq!(id["oid"], BOB_OBJECT_ID);

    // A public client sending a secret is refused, and the code is not used up.
    let (q, _) = sign_in(
        &em,
        CONTOSO_TENANT_NAME,
        &public_params("User.Read"),
        ALICE_UPN,
        ALICE_PASSWORD,
    )
    .await;
    let reply = redeem(
        &em,
        CONTOSO_TENANT_NAME,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", PUBLIC_CLIENT_ID),
            ("client_secret", "x"),
            ("code", &q["code"]),
            ("redirect_uri", LOOPBACK),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_entra_error(&reply, 401, "invalid_client", 700025);
    assert_eq!(redeem_public(&em, &q["code"], "User.Read").await.status, 200);
}

#[tokio::test]
async fn sessions_prompt_none_and_prompt_login() {
    let em = start().await.unwrap();
    let http = browser(&em).unwrap();
    let mut none = public_params("openid User.Read");
    set(&mut none, "prompt", "none");

    // No session: the error goes back to the app, with state.
    let response = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &none, None).await;
    let (location, q) = location_params(&response);
    assert!(location.starts_with(LOOPBACK), "{location}");
    assert_eq!(q["error"], "login_required");
    assert!(
        q["error_description"].starts_with("AADSTS50058: "),
        "{}",
        q["error_description"]
    );
    assert_eq!(q["state"], "st-123");
    assert!(!q.contains_key("code"));
    // An unknown cookie is no session either.
    let response = get_authorize(
        &http,
        &em,
        CONTOSO_TENANT_NAME,
        &none,
        Some("msal_emulator_session=forged"),
    )
    .await;
    assert_eq!(location_params(&response).1["error"], "login_required");

    let (first, cookie) = sign_in(
        &em,
        CONTOSO_TENANT_NAME,
        &public_params("openid User.Read"),
        ALICE_UPN,
        ALICE_PASSWORD,
    )
    .await;

    // With the session: a code without the form, same session_state.
    let response = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &none, Some(&cookie)).await;
    let (_, q) = location_params(&response);
    assert!(q.contains_key("code"), "{q:?}");
    assert_eq!(q["session_state"], first["session_state"]);
    let reply = redeem_public(&em, &q["code"], "openid User.Read").await;
    let id = verify(
        &em,
        reply.body["id_token"].as_str().unwrap(),
        PUBLIC_CLIENT_ID,
        CONTOSO_TENANT_ID,
    )
    .await;
    assert_eq!(id["oid"], ALICE_OBJECT_ID);

    // prompt unset, select_account (one user) and consent skip the form too.
    for prompt in [None, Some("select_account"), Some("consent")] {
        let mut params = public_params("openid User.Read");
        if let Some(p) = prompt {
            set(&mut params, "prompt", p);
        }
        let response = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &params, Some(&cookie)).await;
        assert!(location_params(&response).1.contains_key("code"), "{prompt:?}");
    }
    // /common finds the Contoso session as well.
    let response = get_authorize(&http, &em, "common", &none, Some(&cookie)).await;
    assert!(location_params(&response).1.contains_key("code"));

    // prompt=login always shows the form.
    let mut login = public_params("openid User.Read");
    set(&mut login, "prompt", "login");
    let response = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &login, Some(&cookie)).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("signin-form"));

    // A login_hint naming someone else does not use Alice's session.
    let mut bob = none.clone();
    set(&mut bob, "login_hint", BOB_UPN);
    let response = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &bob, Some(&cookie)).await;
    assert_eq!(location_params(&response).1["error"], "login_required");

    // Alice's session does not sign her in to Fabrikam.
    let mut fabrikam = none.clone();
    set(&mut fabrikam, "client_id", WEBAPP_CLIENT_ID);
    set(&mut fabrikam, "redirect_uri", WEBAPP_REDIRECT_URI);
    let response = get_authorize(&http, &em, FABRIKAM_TENANT_NAME, &fabrikam, Some(&cookie)).await;
    assert_eq!(response.status(), 400, "the web app is not in Fabrikam");

    // Bob signs in within the same browser: two users, prompt=none is ambiguous.
    let html = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &login, Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    let done = submit(&http, &em, &html, BOB_UPN, BOB_PASSWORD, Some(&cookie)).await;
    assert_eq!(session_cookie(&done), cookie, "the session is kept");
    let response = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &none, Some(&cookie)).await;
    let (_, q) = location_params(&response);
    assert_eq!(q["error"], "interaction_required");
    assert!(q["error_description"].starts_with("AADSTS16000: "));
    // ... unless a login_hint picks one.
    let response = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &bob, Some(&cookie)).await;
    assert!(location_params(&response).1.contains_key("code"));
}

#[tokio::test]
async fn max_age_forces_the_form_and_auth_time_is_the_sign_in_time() {
    let em = start().await.unwrap();
    let http = browser(&em).unwrap();
    let (first, cookie) = sign_in(
        &em,
        CONTOSO_TENANT_NAME,
        &public_params("openid User.Read"),
        ALICE_UPN,
        ALICE_PASSWORD,
    )
    .await;
    let reply = redeem_public(&em, &first["code"], "openid User.Read").await;
    let id = verify(
        &em,
        reply.body["id_token"].as_str().unwrap(),
        PUBLIC_CLIENT_ID,
        CONTOSO_TENANT_ID,
    )
    .await;
    let signed_in_at = id["auth_time"].as_u64().unwrap();

    em.advance_clock(Duration::from_secs(120));

    let mut young = public_params("openid User.Read");
    set(&mut young, "max_age", "60");
    let response = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &young, Some(&cookie)).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("signin-form"));

    let mut silent = young.clone();
    set(&mut silent, "prompt", "none");
    let response = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &silent, Some(&cookie)).await;
    assert_eq!(location_params(&response).1["error"], "login_required");

    let mut old_enough = public_params("openid User.Read");
    set(&mut old_enough, "max_age", "3600");
    let response = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &old_enough, Some(&cookie)).await;
    let (_, q) = location_params(&response);
    let reply = redeem_public(&em, &q["code"], "openid User.Read").await;
    let id = verify(
        &em,
        reply.body["id_token"].as_str().unwrap(),
        PUBLIC_CLIENT_ID,
        CONTOSO_TENANT_ID,
    )
    .await;
    assert_eq!(id["auth_time"].as_u64().unwrap(), signed_in_at);
    assert!(id["iat"].as_u64().unwrap() >= signed_in_at + 120);

    let mut bad = public_params("openid User.Read");
    set(&mut bad, "max_age", "soon");
    let response = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &bad, None).await;
    assert_eq!(location_params(&response).1["error"], "invalid_request");
}

#[tokio::test]
async fn pkce_rules_on_authorize() {
    let em = start().await.unwrap();
    let http = browser(&em).unwrap();

    // Entra requires PKCE only for a single-page app's cross-origin
    // redemption (AADSTS9002325, below); a native public client may leave
    // it out ("recommended for all application types", authorization code
    // flow reference).
    let mut no_pkce = public_params("User.Read");
    no_pkce.retain(|(n, _)| !n.starts_with("code_challenge"));
    let response = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &no_pkce, None).await;
    assert_eq!(response.status(), 200, "the sign-in page");

    // "The Microsoft identity platform supports both plain and S256"; a
    // challenge without a method is plain. Each must be 43 to 128
    // characters (AADSTS501491 otherwise).
    for (method, challenge, status) in [
        (Some("plain"), VERIFIER.to_owned(), 200),
        (None, VERIFIER.to_owned(), 200),
        (Some("S256"), challenge(VERIFIER), 200),
        (Some("plain"), "short".to_owned(), 302),
        (Some("S256"), format!("{}x", challenge(VERIFIER)), 302),
        (Some("S512"), challenge(VERIFIER), 302),
    ] {
        let mut params = public_params("User.Read");
        params.retain(|(n, _)| !n.starts_with("code_challenge"));
        set(&mut params, "code_challenge", &challenge);
        if let Some(method) = method {
            set(&mut params, "code_challenge_method", method);
        }
        let response = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &params, None).await;
        assert_eq!(response.status(), status, "{method:?} {challenge}");
        if status == 302 {
            let (_, q) = location_params(&response);
            assert_eq!(q["error"], "invalid_request");
            assert_eq!(q["state"], "st-123");
            let code = if challenge.len() == 5 || challenge.len() == 44 {
                "AADSTS501491: "
            } else {
                "AADSTS9002313: "
            };
            assert!(
                q["error_description"].starts_with(code),
                "{}",
                q["error_description"]
            );
        }
    }

    // Confidential clients may leave PKCE out.
    let mut web = no_pkce.clone();
    set(&mut web, "client_id", WEBAPP_CLIENT_ID);
    set(&mut web, "redirect_uri", WEBAPP_REDIRECT_URI);
    let response = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &web, None).await;
    assert_eq!(response.status(), 200);

    // Scope problems go back to the app too.
    let mut unknown_scope = public_params(&format!("{API_IDENTIFIER_URI}/Nope"));
    set(&mut unknown_scope, "response_mode", "form_post");
    let response = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &unknown_scope, None).await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    let fields: HashMap<String, String> = hidden_inputs(&page).into_iter().collect();
    assert_eq!(fields["error"], "invalid_scope");
    assert!(fields["error_description"].starts_with("AADSTS650053: "));
    let mut no_scope = public_params("");
    no_scope.retain(|(n, _)| *n != "scope");
    let (_, q) = location_params(&get_authorize(&http, &em, CONTOSO_TENANT_NAME, &no_scope, None).await);
    assert!(q["error_description"].starts_with("AADSTS900144: "));
}

async fn post_owned(em: &Emulator, tenant: &str, form: Vec<(&'static str, String)>) -> Reply {
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    redeem(em, tenant, &form).await
}

#[tokio::test]
async fn code_redemption_errors() {
    let em = start().await.unwrap();
    let scope = "openid offline_access User.Read";
    let new_code = || async {
        sign_in(
            &em,
            CONTOSO_TENANT_NAME,
            &public_params(scope),
            ALICE_UPN,
            ALICE_PASSWORD,
        )
        .await
        .0["code"]
            .clone()
    };
    let with = |code: &str, changes: &[(&'static str, &'static str)]| {
        let mut form: Vec<(&'static str, String)> = vec![
            ("grant_type", "authorization_code".into()),
            ("client_id", PUBLIC_CLIENT_ID.into()),
            ("code", code.into()),
            ("redirect_uri", LOOPBACK.into()),
            ("code_verifier", VERIFIER.into()),
            ("scope", scope.into()),
        ];
        for (n, v) in changes {
            form.retain(|(k, _)| k != n);
            if !v.is_empty() {
                form.push((n, (*v).into()));
            }
        }
        form
    };
    let post = |form: Vec<(&'static str, String)>| post_owned(&em, CONTOSO_TENANT_NAME, form);

    let code = new_code().await;
    let wrong_verifier = post(with(
        &code,
        &[("code_verifier", "wrong-verifier-wrong-verifier-wrong-verifier")],
    ))
    .await;
    assert_entra_error(&wrong_verifier, 400, "invalid_grant", 501481);
    assert_entra_error(
        &post(with(&code, &[("code_verifier", "")])).await,
        400,
        "invalid_request",
        900144,
    );
    let wrong_redirect = post(with(&code, &[("redirect_uri", "http://localhost:1")])).await;
    assert_entra_error(&wrong_redirect, 400, "invalid_grant", 70000);
    let other_client = post(with(&code, &[("client_id", WEBAPP_CLIENT_ID)])).await;
    assert_entra_error(&other_client, 400, "invalid_grant", 70000);
    // Fabrikam is not Alice's tenant.
    let form = with(&code, &[]);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_entra_error(
        &redeem(&em, FABRIKAM_TENANT_NAME, &form).await,
        400,
        "invalid_grant",
        70000,
    );

    // Failed attempts did not use the code up; the first success does.
    assert_eq!(post(with(&code, &[])).await.status, 200);
    assert_entra_error(&post(with(&code, &[])).await, 400, "invalid_grant", 54005);

    assert_entra_error(&post(with("not-a-code", &[])).await, 400, "invalid_grant", 70000);

    // Codes expire after 10 minutes.
    let code = new_code().await;
    em.advance_clock(Duration::from_secs(9 * 60));
    let fresh = new_code().await;
    em.advance_clock(Duration::from_secs(2 * 60));
    assert_entra_error(&post(with(&code, &[])).await, 400, "invalid_grant", 70008);
    assert_eq!(post(with(&fresh, &[])).await.status, 200);

    // Redeeming at /common finds the user's tenant.
    let code = new_code().await;
    let form = with(&code, &[]);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let reply = redeem(&em, "organizations", &form).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_can_be_revoked_or_expire() {
    let em = start().await.unwrap();
    let scope = "openid profile offline_access User.Read";
    let (q, _) = sign_in(
        &em,
        CONTOSO_TENANT_NAME,
        &public_params(scope),
        ALICE_UPN,
        ALICE_PASSWORD,
    )
    .await;
    let first = redeem_public(&em, &q["code"], scope).await;
    let rt1 = first.body["refresh_token"].as_str().unwrap().to_owned();
    let first_id = verify(
        &em,
        first.body["id_token"].as_str().unwrap(),
        PUBLIC_CLIENT_ID,
        CONTOSO_TENANT_ID,
    )
    .await;

    let refresh = |rt: String, scope: String| {
        let em = &em;
        async move {
            redeem(
                em,
                CONTOSO_TENANT_NAME,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", PUBLIC_CLIENT_ID),
                    ("refresh_token", &rt),
                    ("scope", &scope),
                    ("client_info", "1"),
                ],
            )
            .await
        }
    };

    // Another resource with the same refresh token.
    let api_scope = format!("openid profile offline_access {API_IDENTIFIER_URI}/Orders.Read");
    let second = refresh(rt1.clone(), api_scope.clone()).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(
        second.body["scope"],
        format!("{API_IDENTIFIER_URI}/Orders.Read openid profile")
    );
    let rt2 = second.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2);
    let at = verify(
        &em,
        second.body["access_token"].as_str().unwrap(),
        API_CLIENT_ID,
        CONTOSO_TENANT_ID,
    )
    .await;
    assert_eq!(at["scp"], "Orders.Read");
    assert_eq!(at["oid"], ALICE_OBJECT_ID);
    let id = verify(
        &em,
        second.body["id_token"].as_str().unwrap(),
        PUBLIC_CLIENT_ID,
        CONTOSO_TENANT_ID,
    )
    .await;
    assert_eq!(id["sub"], first_id["sub"]);
    assert_eq!(id["auth_time"], first_id["auth_time"]);
    assert!(id.get("nonce").is_none());
    assert_eq!(
        decode_client_info(second.body["client_info"].as_str().unwrap())["uid"],
        ALICE_OBJECT_ID
    );

    // The old refresh token stays valid (Entra does not revoke on rotation).
    assert_eq!(refresh(rt1.clone(), scope.into()).await.status, 200);

    // Errors.
    let mixed = refresh(rt2.clone(), format!("User.Read {API_IDENTIFIER_URI}/Orders.Read")).await;
    assert_entra_error(&mixed, 400, "invalid_scope", 28000);
    assert_entra_error(
        &refresh("bogus".into(), scope.into()).await,
        400,
        "invalid_grant",
        70000,
    );
    let other_client = redeem(
        &em,
        CONTOSO_TENANT_NAME,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", WEBAPP_CLIENT_ID),
            ("client_secret", WEBAPP_CLIENT_SECRET),
            ("refresh_token", &rt2),
        ],
    )
    .await;
    assert_entra_error(&other_client, 400, "invalid_grant", 70000);

    // Revocation: every refresh token of Alice stops working; Bob's are untouched.
    let (bq, _) = sign_in(
        &em,
        CONTOSO_TENANT_NAME,
        &public_params(scope),
        BOB_UPN,
        BOB_PASSWORD,
    )
    .await;
    let bob_rt = redeem_public(&em, &bq["code"], scope).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(em.revoke_refresh_tokens("ALICE@contoso.onmicrosoft.com") >= 3);
    for rt in [&rt1, &rt2] {
        let reply = refresh(rt.clone(), scope.into()).await;
        assert_entra_error(&reply, 400, "invalid_grant", 70000);
    }
    assert_eq!(em.revoke_refresh_tokens(ALICE_UPN), 0);
    assert_eq!(refresh(bob_rt.clone(), scope.into()).await.status, 200);

    // Refresh tokens expire after 90 days.
    em.advance_clock(Duration::from_secs(91 * 86_400));
    let expired = refresh(bob_rt, scope.into()).await;
    assert_entra_error(&expired, 400, "invalid_grant", 700082);
}

#[tokio::test]
async fn no_refresh_token_without_offline_access() {
    let em = start().await.unwrap();
    let (q, _) = sign_in(
        &em,
        CONTOSO_TENANT_NAME,
        &public_params("User.Read"),
        ALICE_UPN,
        ALICE_PASSWORD,
    )
    .await;
    let reply = redeem_public(&em, &q["code"], "User.Read").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.get("refresh_token").is_none());
    assert!(reply.body.get("id_token").is_none(), "no openid, no id_token");
    assert_eq!(reply.body["scope"], "User.Read");
}

#[tokio::test]
async fn common_authority_resolves_the_home_tenant() {
    let em = start().await.unwrap();
    let scope = "openid offline_access User.Read";
    let (q, _) = sign_in(&em, "common", &public_params(scope), ALICE_UPN, ALICE_PASSWORD).await;
    let reply = redeem(
        &em,
        "common",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", PUBLIC_CLIENT_ID),
            ("code", &q["code"]),
            ("redirect_uri", LOOPBACK),
            ("code_verifier", VERIFIER),
            ("scope", scope),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let id = verify(
        &em,
        reply.body["id_token"].as_str().unwrap(),
        PUBLIC_CLIENT_ID,
        CONTOSO_TENANT_ID,
    )
    .await;
    assert_eq!(id["tid"], CONTOSO_TENANT_ID);

    // Carol (Fabrikam) cannot use Contoso's single-tenant app through /common.
    let http = browser(&em).unwrap();
    let html = get_authorize(&http, &em, "organizations", &public_params(scope), None)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("action=\"/organizations/oauth2/v2.0/authorize\""));
    let again = submit(&http, &em, &html, CAROL_UPN, CAROL_PASSWORD, None).await;
    assert_eq!(again.status(), 200);
    assert!(again.text().await.unwrap().contains("AADSTS50020"));

    // Client credentials name no user: /common cannot say which tenant.
    let reply = redeem(
        &em,
        "common",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DAEMON_CLIENT_ID),
            ("client_secret", DAEMON_CLIENT_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_entra_error(&reply, 400, "invalid_request", 50059);
}

/// The fragment parameters of a 302's `Location` (implicit and hybrid).
fn fragment_params(response: &Response) -> HashMap<String, String> {
    assert_eq!(response.status(), StatusCode::FOUND, "expected a redirect");
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(
        location.query().is_none(),
        "tokens never travel in the query: {location}"
    );
    url::form_urlencoded::parse(location.fragment().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// The built-in directory plus a single-page app whose registration
/// allows the implicit grant's ID and access tokens.
const SPA_CLIENT_ID: &str = "5d9c1b5e-6f3a-4c1e-9a7b-2f0e8d4c3b21";

async fn start_with_spa() -> Emulator {
    let mut directory = msal_emulator::Directory::builtin();
    let mut spa = directory
        .apps
        .iter()
        .find(|a| a.client_id == PUBLIC_CLIENT_ID)
        .unwrap()
        .clone();
    spa.client_id = SPA_CLIENT_ID.into();
    spa.provisioned_in.clear();
    spa.personal_accounts = false;
    spa.implicit_id_tokens = true;
    spa.implicit_access_tokens = true;
    directory.apps.push(spa);
    msal_test_support::start_with(msal_emulator::EmulatorConfig::new(directory))
        .await
        .unwrap()
}

/// Signs Alice in through the form for `params`; the final response.
async fn sign_alice_in(em: &Emulator, params: &[(&str, String)]) -> Response {
    let http = browser(em).unwrap();
    let page = get_authorize(&http, em, CONTOSO_TENANT_NAME, params, None).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    submit(&http, em, &html, ALICE_UPN, ALICE_PASSWORD, None).await
}

/// OpenID Connect's `c_hash`/`at_hash` for RS256.
fn half_hash(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(value.as_bytes())[..16])
}

#[tokio::test]
async fn implicit_grant_follows_the_app_registration() {
    let em = start_with_spa().await;
    let http = browser(&em).unwrap();

    // The registration's implicit grant settings are off by default: Entra
    // answers AADSTS700054 "response_type 'id_token' is not enabled for
    // the application" (AADSTS700051 for 'token'), to the app, in the
    // fragment that is the default response_mode for tokens.
    for (response_type, code) in [("id_token", 700054), ("token", 700051)] {
        let mut params = public_params("openid User.Read");
        set(&mut params, "response_type", response_type);
        let q = fragment_params(&get_authorize(&http, &em, CONTOSO_TENANT_NAME, &params, None).await);
        assert_eq!(q["error"], "unsupported_response_type");
        assert!(
            q["error_description"].starts_with(&format!(
                "AADSTS{code}: response_type '{response_type}' is not enabled"
            )),
            "{}",
            q["error_description"]
        );
        assert_eq!(q["state"], "st-123");
    }

    let spa_params = |response_type: &str| {
        let mut params = public_params("openid User.Read");
        set(&mut params, "client_id", SPA_CLIENT_ID);
        set(&mut params, "response_type", response_type);
        params
    };
    // "The query parameter is not supported when requesting an ID token
    // by using the implicit flow" (implicit grant reference): refused on
    // the page, nothing goes to the app.
    let mut query = spa_params("id_token");
    set(&mut query, "response_mode", "query");
    let response = get_authorize(&http, &em, CONTOSO_TENANT_NAME, &query, None).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("response_mode"));
    // An ID token from the authorize endpoint needs a nonce (OpenID Connect
    // Core 3.2.2.1; the implicit grant reference marks it required).
    let mut no_nonce = spa_params("id_token");
    no_nonce.retain(|(n, _)| *n != "nonce");
    let q = fragment_params(&get_authorize(&http, &em, CONTOSO_TENANT_NAME, &no_nonce, None).await);
    assert_eq!(q["error"], "invalid_request");
    assert!(
        q["error_description"].contains("'nonce'"),
        "{}",
        q["error_description"]
    );

    // Hybrid: a code and an ID token whose c_hash binds the code.
    let q = fragment_params(&sign_alice_in(&em, &spa_params("code id_token")).await);
    let id = verify(&em, &q["id_token"], SPA_CLIENT_ID, CONTOSO_TENANT_ID).await;
    assert_eq!(id["nonce"], "nonce-456");
    assert_eq!(id["c_hash"], half_hash(&q["code"]));
    assert!(id.get("at_hash").is_none());
    assert_eq!(q["state"], "st-123");
    assert!(q.contains_key("session_state") && !q.contains_key("access_token"));
    let reply = redeem(
        &em,
        CONTOSO_TENANT_NAME,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", SPA_CLIENT_ID),
            ("code", &q["code"]),
            ("redirect_uri", LOOPBACK),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    // Implicit: an access token (Graph's, v1.0; no client authenticated, so
    // appidacr 0) and an ID token whose at_hash binds it; never a refresh token.
    let q = fragment_params(&sign_alice_in(&em, &spa_params("id_token token")).await);
    assert_eq!(q["token_type"], "Bearer");
    assert_eq!(q["expires_in"], "3599");
    assert_eq!(q["scope"], "User.Read openid");
    assert!(!q.contains_key("refresh_token") && !q.contains_key("code"));
    let at = verify(&em, &q["access_token"], GRAPH_APP_ID, CONTOSO_TENANT_ID).await;
    assert_eq!(at["ver"], "1.0");
    assert_eq!(at["appidacr"], "0");
    assert_eq!(at["upn"], ALICE_UPN);
    let id = verify(&em, &q["id_token"], SPA_CLIENT_ID, CONTOSO_TENANT_ID).await;
    assert_eq!(id["at_hash"], half_hash(&q["access_token"]));

    // form_post is allowed too.
    let mut posted = spa_params("id_token");
    set(&mut posted, "response_mode", "form_post");
    let response = sign_alice_in(&em, &posted).await;
    assert_eq!(response.status(), 200);
    let fields: HashMap<String, String> = hidden_inputs(&response.text().await.unwrap())
        .into_iter()
        .collect();
    let id = verify(&em, &fields["id_token"], SPA_CLIENT_ID, CONTOSO_TENANT_ID).await;
    assert_eq!(id["nonce"], "nonce-456");
}

#[tokio::test]
async fn pkce_verifiers_are_checked_at_redemption() {
    let em = start().await.unwrap();
    let redeem_code = |code: String, verifier: Option<&'static str>, origin: Option<&'static str>| {
        let em = &em;
        async move {
            let mut form = vec![
                ("grant_type", "authorization_code".to_owned()),
                ("client_id", PUBLIC_CLIENT_ID.to_owned()),
                ("code", code),
                ("redirect_uri", LOOPBACK.to_owned()),
            ];
            if let Some(v) = verifier {
                form.push(("code_verifier", v.to_owned()));
            }
            let mut request = client(em)
                .unwrap()
                .post(token_url(em, CONTOSO_TENANT_NAME))
                .form(&form);
            if let Some(origin) = origin {
                request = request.header("origin", origin);
            }
            Reply::from_response(request.send().await.unwrap()).await
        }
    };
    let code_for = |method: Option<&'static str>| {
        let em = &em;
        async move {
            let mut params = public_params("openid User.Read");
            params.retain(|(n, _)| !n.starts_with("code_challenge"));
            match method {
                Some("S256") => set(&mut params, "code_challenge", &challenge(VERIFIER)),
                Some(_) => set(&mut params, "code_challenge", VERIFIER),
                None => {}
            }
            if let Some(method) = method {
                set(&mut params, "code_challenge_method", method);
            }
            let (q, _) = sign_in(em, CONTOSO_TENANT_NAME, &params, ALICE_UPN, ALICE_PASSWORD).await;
            q["code"].clone()
        }
    };
    const OTHER: &str = "another-verifier-that-is-at-least-forty-three-characters";

    // A verifier that does not match: invalid_grant AADSTS501481, for
    // plain and S256 challenges alike.
    for method in ["plain", "S256"] {
        let wrong = redeem_code(code_for(Some(method)).await, Some(OTHER), None).await;
        assert_entra_error(&wrong, 400, "invalid_grant", 501481);
        let right = redeem_code(code_for(Some(method)).await, Some(VERIFIER), None).await;
        assert_eq!(right.status, 200, "{method}: {}", right.body);
    }
    // A code issued with a challenge needs the verifier.
    let missing = redeem_code(code_for(Some("S256")).await, None, None).await;
    assert_entra_error(&missing, 400, "invalid_request", 900144);
    // Without PKCE: fine for a native client, refused for a browser's
    // cross-origin redemption ("Proof Key for Code Exchange is required for
    // cross-origin authorization code redemption", AADSTS9002325).
    let browser_side = redeem_code(code_for(None).await, None, Some("https://spa.example")).await;
    assert_entra_error(&browser_side, 400, "invalid_request", 9002325);
    let native = redeem_code(code_for(None).await, None, None).await;
    assert_eq!(native.status, 200, "{}", native.body);
}

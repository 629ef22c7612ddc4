//! The device code flow over HTTPS: the devicecode endpoint, the
//! `/devicelogin` verification page steps, and polling the token endpoint.

use std::time::Duration;

use crate::common;
use crate::common::assert_entra_error;
use crate::device_support::*;
use msal_emulator::builtin::*;
use msal_emulator::{Directory, EmulatorConfig, Endpoint};
use msal_test_support::html::hidden_inputs;
use msal_test_support::{browser, client};

const SCOPE: &str = "openid profile offline_access User.Read";

#[tokio::test]
async fn device_flow_happy_path() {
    let em = start().await;
    let start = device_code(&em, "organizations", PUBLIC_CLIENT_ID, SCOPE, None).await;
    assert_eq!(start.status, 200, "{}", start.body);
    assert_eq!(start.header("cache-control"), Some("no-store, no-cache"));
    let body = &start.body;
    let user_code = body["user_code"].as_str().unwrap();
    let device = body["device_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9);
    assert!(
        user_code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );
    let verification_uri = format!("https://127.0.0.1:{}/devicelogin", em.port());
    assert_eq!(body["verification_uri"], verification_uri.as_str());
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["interval"], 1);
    assert_eq!(
        body["message"],
        format!(
            "To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."
        )
    );
    assert_eq!(em.request_count(Endpoint::DeviceCode), 1);

    // Pending before the user does anything.
    let pending = poll(&em, PUBLIC_CLIENT_ID, device, &[]).await;
    assert_entra_error(&pending, 400, "authorization_pending", 70016);

    // The verification page, as a browser sees it.
    let http = browser(&em).unwrap();
    let (status, page) = html(http.get(&verification_uri).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(page.contains("<form id=\"device-form\" method=\"post\" action=\"/devicelogin\">"));
    assert!(page.contains("<input id=\"otc\" name=\"otc\""));
    assert!(page.contains("<button id=\"next\" type=\"submit\">"));
    assert!(!page.contains("id=\"error\""));

    // The code is case-insensitive on entry; then sign in, then consent.
    let page = enter_code(&http, &em, &user_code.to_lowercase(), None).await;
    assert!(page.contains("Contoso Desktop"), "{page}");
    assert!(page.contains("<input id=\"username\""));
    assert!(page.contains("<input id=\"password\""));
    assert!(page.contains("<button id=\"signin\""));
    let (consent, cookie) = sign_in(&http, &em, &page, ALICE_UPN, ALICE_PASSWORD).await;
    assert!(cookie.unwrap().starts_with("msal_emulator_session="));
    assert!(consent.contains(ALICE_UPN), "{consent}");
    let done = decide(&http, &em, &consent, "approve").await;
    assert!(
        done.contains("<div id=\"done\">You have signed in to Contoso Desktop"),
        "{done}"
    );
    assert_eq!(em.request_count(Endpoint::DeviceLogin), 4);

    // Polled sooner than the interval, but the answer is ready: tokens.
    let reply = poll(&em, PUBLIC_CLIENT_ID, device, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let tokens = &reply.body;
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["refresh_token"].is_string());
    assert!(tokens["client_info"].is_string());
    assert!(tokens.get("foci").is_none(), "not a family app: {tokens}");
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["preferred_username"], ALICE_UPN);
    assert_eq!(id["oid"], ALICE_OBJECT_ID);
    assert_eq!(id["aud"], PUBLIC_CLIENT_ID);
    let access = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["upn"], ALICE_UPN);
    assert_eq!(access["scp"], "User.Read");
    assert!(access.get("xms_cc").is_none());

    // A device code redeems once.
    let again = poll(&em, PUBLIC_CLIENT_ID, device, &[]).await;
    assert_entra_error(&again, 400, "invalid_grant", 70000);
    assert_eq!(em.grant_count(DEVICE_GRANT), 3);
    assert_eq!(em.grant_count("refresh_token"), 0);
}

#[tokio::test]
async fn polling_too_fast_gets_slow_down() {
    let em = start().await;
    let start = device_code(&em, CONTOSO_TENANT_NAME, PUBLIC_CLIENT_ID, SCOPE, None).await;
    let device = start.body["device_code"].as_str().unwrap();
    assert_entra_error(
        &poll(&em, PUBLIC_CLIENT_ID, device, &[]).await,
        400,
        "authorization_pending",
        70016,
    );
    // Immediately again: sooner than the 1 s interval.
    let fast = poll(&em, PUBLIC_CLIENT_ID, device, &[]).await;
    assert_entra_error(&fast, 400, "slow_down", 70016);
    // Waiting the interval (on the emulator's clock) is enough.
    em.advance_clock(Duration::from_secs(1));
    assert_entra_error(
        &poll(&em, PUBLIC_CLIENT_ID, device, &[]).await,
        400,
        "authorization_pending",
        70016,
    );
    // Another device code has its own pace.
    let other = device_code(&em, CONTOSO_TENANT_NAME, PUBLIC_CLIENT_ID, SCOPE, None).await;
    let other = other.body["device_code"].as_str().unwrap();
    assert_entra_error(
        &poll(&em, PUBLIC_CLIENT_ID, other, &[]).await,
        400,
        "authorization_pending",
        70016,
    );
    assert_eq!(em.grant_count(DEVICE_GRANT), 4);
    em.reset_counts();
    assert_eq!(em.grant_count(DEVICE_GRANT), 0);
}

#[tokio::test]
async fn declined_expired_unknown_and_wrong_client() {
    let em = start().await;
    let start = device_code(&em, "organizations", PUBLIC_CLIENT_ID, SCOPE, None).await;
    let user_code = start.body["user_code"].as_str().unwrap();
    let device = start.body["device_code"].as_str().unwrap();
    let (done, _) = complete(&em, user_code, BOB_UPN, BOB_PASSWORD, "decline").await;
    assert!(done.contains("<div id=\"done\">You have declined"), "{done}");
    let declined = poll(&em, PUBLIC_CLIENT_ID, device, &[]).await;
    assert_entra_error(&declined, 400, "authorization_declined", 70000);

    // Unknown device code.
    let unknown = poll(&em, PUBLIC_CLIENT_ID, "DAQABIQEAAADnot-a-code", &[]).await;
    assert_entra_error(&unknown, 400, "bad_verification_code", 70019);

    // A code polled by another client than the one it was issued to.
    let start = device_code(&em, "organizations", PUBLIC_CLIENT_ID, SCOPE, None).await;
    let device = start.body["device_code"].as_str().unwrap().to_owned();
    let user_code = start.body["user_code"].as_str().unwrap().to_owned();
    let other = poll(&em, FOCI_APP_A_CLIENT_ID, &device, &[]).await;
    assert_entra_error(&other, 400, "invalid_grant", 70000);

    // Expiry on the emulator's clock: both the poll and the page refuse it.
    em.advance_clock(Duration::from_secs(901));
    let expired = poll(&em, PUBLIC_CLIENT_ID, &device, &[]).await;
    assert_entra_error(&expired, 400, "expired_token", 70020);
    let page = enter_code(&browser(&em).unwrap(), &em, &user_code, None).await;
    assert!(
        page.contains("<div id=\"error\" role=\"alert\">AADSTS70000"),
        "{page}"
    );
    assert!(page.contains("<form id=\"device-form\""));

    // The device_code parameter is required.
    let missing = common::post_form(
        &client(&em).unwrap(),
        &format!("{}/oauth2/v2.0/token", em.authority("organizations")),
        &[("grant_type", DEVICE_GRANT), ("client_id", PUBLIC_CLIENT_ID)],
    )
    .await;
    assert_entra_error(&missing, 400, "invalid_request", 900144);
}

#[tokio::test]
async fn approved_code_expires_unredeemed() {
    let em = start().await;
    let start = device_code(&em, "organizations", PUBLIC_CLIENT_ID, SCOPE, None).await;
    let device = start.body["device_code"].as_str().unwrap();
    complete(
        &em,
        start.body["user_code"].as_str().unwrap(),
        ALICE_UPN,
        ALICE_PASSWORD,
        "approve",
    )
    .await;
    em.advance_clock(Duration::from_secs(900));
    assert_entra_error(
        &poll(&em, PUBLIC_CLIENT_ID, device, &[]).await,
        400,
        "expired_token",
        70020,
    );
}

#[tokio::test]
async fn wrong_codes_and_credentials_show_errors() {
    let em = start().await;
    let http = browser(&em).unwrap();
    let page = enter_code(&http, &em, "NOTACODE9", None).await;
    assert!(
        page.contains("<div id=\"error\" role=\"alert\">AADSTS70000: "),
        "{page}"
    );
    assert!(page.contains("<input id=\"otc\" name=\"otc\""));

    let start = device_code(&em, CONTOSO_TENANT_NAME, PUBLIC_CLIENT_ID, SCOPE, None).await;
    let user_code = start.body["user_code"].as_str().unwrap();
    // Separators people type are ignored.
    let spaced = format!("{}-{} {}", &user_code[..3], &user_code[3..6], &user_code[6..]);
    let page = enter_code(&http, &em, &spaced, None).await;
    let (again, cookie) = sign_in(&http, &em, &page, ALICE_UPN, "wrong").await;
    assert!(cookie.is_none());
    assert!(again.contains("AADSTS50126"), "{again}");
    // Carol is in Fabrikam; the code was issued for Contoso.
    let (again, _) = sign_in(&http, &em, &again, CAROL_UPN, CAROL_PASSWORD).await;
    assert!(again.contains("AADSTS50020"), "{again}");
    // A forged flow token gets nowhere.
    let mut forged = hidden_inputs(&again);
    for (name, value) in &mut forged {
        if name == "flow_token" {
            value.push('x');
        }
    }
    forged.push(("action".into(), "approve".into()));
    let (_, page) = html(post_page(&http, &em, &forged, None).await).await;
    assert!(page.contains("id=\"error\""), "{page}");
    let device = start.body["device_code"].as_str().unwrap();
    assert_entra_error(
        &poll(&em, PUBLIC_CLIENT_ID, device, &[]).await,
        400,
        "authorization_pending",
        70016,
    );
}

#[tokio::test]
async fn session_cookie_skips_sign_in() {
    let em = start().await;
    let first = device_code(&em, "organizations", PUBLIC_CLIENT_ID, SCOPE, None).await;
    let (_, cookie) = complete(
        &em,
        first.body["user_code"].as_str().unwrap(),
        ALICE_UPN,
        ALICE_PASSWORD,
        "approve",
    )
    .await;

    let second = device_code(&em, "organizations", FOCI_APP_A_CLIENT_ID, SCOPE, None).await;
    let http = browser(&em).unwrap();
    let page = enter_code(
        &http,
        &em,
        second.body["user_code"].as_str().unwrap(),
        Some(&cookie),
    )
    .await;
    assert!(page.contains("<form id=\"consent-form\""), "{page}");
    assert!(!page.contains("id=\"password\""));
    assert!(page.contains(ALICE_UPN));
    let done = decide(&http, &em, &page, "approve").await;
    assert!(done.contains("You have signed in to Contoso Office"), "{done}");
    let device = second.body["device_code"].as_str().unwrap();
    let reply = poll(&em, FOCI_APP_A_CLIENT_ID, device, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["foci"], "1");
    assert_eq!(
        jwt_claims(reply.body["access_token"].as_str().unwrap())["upn"],
        ALICE_UPN
    );
}

#[tokio::test]
async fn devicecode_request_errors() {
    let em = start().await;
    let unknown_app = device_code(
        &em,
        CONTOSO_TENANT_NAME,
        "11111111-2222-3333-4444-555555555555",
        SCOPE,
        None,
    )
    .await;
    assert_entra_error(&unknown_app, 400, "unauthorized_client", 700016);
    let unknown_tenant = device_code(&em, "nowhere", PUBLIC_CLIENT_ID, SCOPE, None).await;
    assert_entra_error(&unknown_tenant, 400, "invalid_request", 90002);
    let no_scope = common::post_form(
        &client(&em).unwrap(),
        &format!("{}/oauth2/v2.0/devicecode", em.authority(CONTOSO_TENANT_NAME)),
        &[("client_id", PUBLIC_CLIENT_ID)],
    )
    .await;
    assert_entra_error(&no_scope, 400, "invalid_request", 900144);
    let bad_claims = device_code(&em, CONTOSO_TENANT_NAME, PUBLIC_CLIENT_ID, SCOPE, Some("{nope")).await;
    assert_entra_error(&bad_claims, 400, "invalid_request", 9002313);
    let get = client(&em)
        .unwrap()
        .get(format!(
            "{}/oauth2/v2.0/devicecode",
            em.authority(CONTOSO_TENANT_NAME)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(em.request_count(Endpoint::DeviceCode), 5);
}

#[tokio::test]
async fn pages_escape_what_they_show() {
    let mut directory = Directory::builtin();
    let evil = "<script>alert('x')</script> & \"Co\"";
    for app in &mut directory.apps {
        if app.client_id == PUBLIC_CLIENT_ID {
            app.display_name = evil.into();
        }
    }
    let em = start_with(EmulatorConfig::new(directory)).await;
    let start = device_code(&em, "organizations", PUBLIC_CLIENT_ID, SCOPE, None).await;
    let user_code = start.body["user_code"].as_str().unwrap();
    let http = browser(&em).unwrap();
    let escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;Co&quot;";

    let page = enter_code(&http, &em, user_code, None).await;
    assert!(page.contains(escaped) && !page.contains("<script>"), "{page}");
    let typed = "\"><img src=x onerror=alert(1)>";
    let (again, _) = sign_in(&http, &em, &page, typed, "pw").await;
    assert!(!again.contains("<img"), "{again}");
    assert!(again.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    let (consent, _) = sign_in(&http, &em, &again, ALICE_UPN, ALICE_PASSWORD).await;
    assert!(
        consent.contains(escaped) && !consent.contains("<script>"),
        "{consent}"
    );
    let done = decide(&http, &em, &consent, "approve").await;
    assert!(done.contains(escaped) && !done.contains("<script>"), "{done}");
    // Nothing typed on the code page is echoed back.
    let page = enter_code(&http, &em, "<b>bold</b>", None).await;
    assert!(!page.contains("<b>") && !page.contains("&lt;b&gt;"), "{page}");
}

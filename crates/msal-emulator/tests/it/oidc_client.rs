//! A certified OpenID Connect relying party library (Node `openid-client`,
//! pinned) completes discovery, the authorization code flow with PKCE, a
//! refresh, userinfo and sign-out against the emulator; and the emulator's
//! userinfo and end-session endpoints behave as Entra's.

use msal_emulator::Endpoint;
use msal_emulator::builtin::*;
use msal_test_support::user::{SignedIn, User};
use msal_test_support::{browser, node, start};
use serde_json::{Value, json};

async fn openid_client(ca: &std::path::Path, args: Value) -> Value {
    node::run_with_env("oidc_client.mjs", &args, &[("NODE_EXTRA_CA_CERTS", ca)])
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_signs_in_refreshes_reads_userinfo_and_signs_out() {
    let em = start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    em.write_ca_cert(&ca).unwrap();
    let issuer = format!("{}/{CONTOSO_TENANT_ID}/v2.0", em.url());
    let redirect_uri = "http://localhost:8765/";
    let base = json!({"issuer": issuer, "client_id": PUBLIC_CLIENT_ID, "redirect_uri": redirect_uri});

    let mut start_args = base.clone();
    start_args["step"] = json!("start");
    let started = openid_client(&ca, start_args).await;
    let url = started["url"].as_str().unwrap();
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    let callback = match User::new(&em, ALICE_UPN, ALICE_PASSWORD)
        .unwrap()
        .sign_in(url)
        .await
        .unwrap()
    {
        SignedIn::Redirect(location) => location,
        other => panic!("{other:?}"),
    };
    let mut finish_args = base.clone();
    finish_args["step"] = json!("finish");
    finish_args["callback"] = json!(callback);
    for name in ["verifier", "state", "nonce"] {
        finish_args[name] = started[name].clone();
    }
    let finished = openid_client(&ca, finish_args).await;
    let claims = &finished["id_token_claims"];
    assert_eq!(claims["aud"], PUBLIC_CLIENT_ID);
    assert_eq!(claims["iss"], issuer);
    assert_eq!(finished["refreshed"]["has_access_token"], true);
    assert_eq!(finished["userinfo"]["sub"], claims["sub"], "{finished}");
    assert_eq!(finished["userinfo"]["email"], ALICE_UPN);
    assert_eq!(em.request_count(Endpoint::UserInfo), 1);

    // Sign-out: back to the registered URI with the state.
    let end_session = finished["end_session_url"].as_str().unwrap();
    let signed_out = browser(&em).unwrap().get(end_session).send().await.unwrap();
    assert_eq!(signed_out.status(), 302);
    let location = signed_out.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with(redirect_uri) && location.contains("state=signed-out-state"),
        "{location}"
    );
    assert!(
        signed_out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0"),
        "the session cookie is cleared"
    );
}

#[tokio::test]
async fn userinfo_wants_a_graph_token_with_openid_and_logout_only_goes_to_registered_uris() {
    let em = start().await.unwrap();
    let http = browser(&em).unwrap();
    let userinfo = format!("{}/oidc/userinfo", em.url());
    let none = http.get(&userinfo).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert!(
        none.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    // An app token (no user, not for Graph with openid) is refused.
    let app = http
        .post(format!("{}/{CONTOSO_TENANT_ID}/oauth2/v2.0/token", em.url()))
        .form(&[
            ("client_id", DAEMON_CLIENT_ID),
            ("client_secret", DAEMON_CLIENT_SECRET),
            ("grant_type", "client_credentials"),
            ("scope", &format!("api://{API_CLIENT_ID}/.default")),
        ])
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let app: Value = serde_json::from_slice(&app).unwrap();
    let refused = http
        .get(&userinfo)
        .bearer_auth(app["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // An unregistered post-logout URI: the signed-out page, no redirect.
    let logout = format!(
        "{}/{CONTOSO_TENANT_ID}/oauth2/v2.0/logout?post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F",
        em.url()
    );
    let page = http.get(&logout).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("signed out"));
}

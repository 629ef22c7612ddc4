//! Two independent JWT libraries from other ecosystems, pinned (PyJWT for
//! Python, jose for Node), validate the emulator's tokens against its JWKS:
//! an access token for an API asked for as `api://{id}/.default` (`aud` =
//! the API's client id) and an ID token (`aud` = the client). A token with
//! a changed payload is refused by both, so the check can fail.

use msal_emulator::Emulator;
use msal_emulator::builtin::*;
use msal_test_support::{client, node, python, start};
use serde_json::{Value, json};

use crate::common::{get, post_form};

async fn tokens(em: &Emulator) -> (String, String) {
    let http = client(em).unwrap();
    let token_url = format!("{}/{CONTOSO_TENANT_ID}/oauth2/v2.0/token", em.url());
    let app = post_form(
        &http,
        &token_url,
        &[
            ("client_id", DAEMON_CLIENT_ID),
            ("client_secret", DAEMON_CLIENT_SECRET),
            ("grant_type", "client_credentials"),
            ("scope", &format!("api://{API_CLIENT_ID}/.default")),
        ],
    )
    .await;
    assert_eq!(app.status, 200, "{}", app.body);
    let user = post_form(
        &http,
        &token_url,
        &[
            ("client_id", PUBLIC_CLIENT_ID),
            ("grant_type", "password"),
            ("username", ALICE_UPN),
            ("password", ALICE_PASSWORD),
            ("scope", "openid profile User.Read"),
        ],
    )
    .await;
    assert_eq!(user.status, 200, "{}", user.body);
    (
        app.body["access_token"].as_str().unwrap().to_owned(),
        user.body["id_token"].as_str().unwrap().to_owned(),
    )
}

/// The token with one claim changed and the signature kept.
fn tampered(token: &str) -> String {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
    claims["oid"] = json!("00000000-0000-0000-0000-000000000000");
    let payload = engine.encode(serde_json::to_vec(&claims).unwrap());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

#[tokio::test]
async fn pyjwt_and_jose_accept_the_emulators_tokens_and_refuse_a_forged_one() {
    let em = start().await.unwrap();
    let jwks = get(
        &client(&em).unwrap(),
        &format!("{}/{CONTOSO_TENANT_ID}/discovery/v2.0/keys", em.url()),
    )
    .await
    .body;
    let issuer = format!("{}/{CONTOSO_TENANT_ID}/v2.0", em.url());
    let (access_token, id_token) = tokens(&em).await;
    for (what, token, audience) in [
        ("API access token", access_token.as_str(), API_CLIENT_ID),
        ("ID token", id_token.as_str(), PUBLIC_CLIENT_ID),
    ] {
        let good = json!({"token": token, "jwks": jwks, "issuer": issuer, "audience": audience});
        let forged = json!({"token": tampered(token), "jwks": jwks, "issuer": issuer, "audience": audience});
        let pyjwt = python::run(&em, "validate_jwt.py", &good, None).await.unwrap();
        assert_eq!(pyjwt["valid"], true, "PyJWT, {what}: {pyjwt}");
        assert_eq!(pyjwt["claims"]["aud"], audience);
        let jose = node::run("validate_jwt.mjs", &good).await.unwrap();
        assert_eq!(jose["valid"], true, "jose, {what}: {jose}");
        assert_eq!(jose["alg"], "RS256");
        assert_eq!(
            python::run(&em, "validate_jwt.py", &forged, None).await.unwrap()["valid"],
            false,
            "{what}"
        );
        assert_eq!(
            node::run("validate_jwt.mjs", &forged).await.unwrap()["valid"],
            false,
            "{what}"
        );
    }
}

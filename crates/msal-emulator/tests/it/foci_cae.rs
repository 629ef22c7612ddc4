//! The family of client ids (cross-app refresh token redemption) and
//! claims challenges (`xms_cc`, `/resource/me`, session revocation), over HTTPS.

use std::time::Duration;

use crate::common::{Reply, assert_entra_error, post_form};
use crate::device_support::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use msal_emulator::builtin::*;
use msal_emulator::{Emulator, Endpoint};
use msal_test_support::client;
use serde_json::{Value, json};

const SCOPE: &str = "openid profile offline_access User.Read";
const CP1: &str = r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#;

async fn refresh(em: &Emulator, client_id: &str, refresh_token: &str, claims: Option<&str>) -> Reply {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("client_id", client_id),
        ("refresh_token", refresh_token),
        ("scope", SCOPE),
        ("client_info", "1"),
    ];
    if let Some(c) = claims {
        form.push(("claims", c));
    }
    post_form(
        &client(em).unwrap(),
        &format!("{}/oauth2/v2.0/token", em.authority("organizations")),
        &form,
    )
    .await
}

/// `GET /resource/me` with `token`.
async fn me(em: &Emulator, token: Option<&str>) -> Reply {
    let mut req = client(em).unwrap().get(format!("{}/resource/me", em.url()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    Reply::from_response(req.send().await.unwrap()).await
}

/// The `name="value"` parameters of a Bearer challenge.
fn challenge_params(header: &str) -> Vec<(String, String)> {
    let rest = header.strip_prefix("Bearer ").expect("a Bearer challenge");
    rest.split(", ")
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap();
            (name.to_owned(), value.trim_matches('"').to_owned())
        })
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn rt(body: &Value) -> &str {
    body["refresh_token"].as_str().expect("a refresh token")
}

#[tokio::test]
async fn family_apps_redeem_each_others_refresh_tokens() {
    let em = start().await;
    let a = tokens(&em, FOCI_APP_A_CLIENT_ID, SCOPE, ALICE_UPN, ALICE_PASSWORD, None).await;
    assert_eq!(a["foci"], "1");

    let b = refresh(&em, FOCI_APP_B_CLIENT_ID, rt(&a), None).await;
    assert_eq!(b.status, 200, "{}", b.body);
    assert_eq!(b.body["foci"], "1");
    let access = jwt_claims(b.body["access_token"].as_str().unwrap());
    assert_eq!(access["appid"], FOCI_APP_B_CLIENT_ID);
    assert_eq!(access["upn"], ALICE_UPN);
    let id = jwt_claims(b.body["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], FOCI_APP_B_CLIENT_ID);
    // The new refresh token belongs to app B, and is a family one too.
    let back = refresh(&em, FOCI_APP_A_CLIENT_ID, rt(&b.body), None).await;
    assert_eq!(back.status, 200, "{}", back.body);

    // A family refresh token offered to a non-family app.
    let mismatch = refresh(&em, PUBLIC_CLIENT_ID, rt(&a), None).await;
    assert_entra_error(&mismatch, 400, "invalid_grant", 70000);
    assert_eq!(mismatch.body["suberror"], "client_mismatch");
    assert_eq!(mismatch.body["error_additional_info"], json!(["client_mismatch"]));
    assert_eq!(em.grant_count("refresh_token"), 3);
}

#[tokio::test]
async fn non_family_refresh_token_is_a_client_mismatch() {
    let em = start().await;
    let desktop = tokens(&em, PUBLIC_CLIENT_ID, SCOPE, BOB_UPN, BOB_PASSWORD, None).await;
    assert!(desktop.get("foci").is_none());
    let reply = refresh(&em, FOCI_APP_A_CLIENT_ID, rt(&desktop), None).await;
    assert_entra_error(&reply, 400, "invalid_grant", 70000);
    assert_eq!(reply.body["suberror"], "client_mismatch");
    assert_eq!(reply.body["error_additional_info"], json!(["client_mismatch"]));
    // Its own client still redeems it.
    let own = refresh(&em, PUBLIC_CLIENT_ID, rt(&desktop), None).await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert!(own.body.get("foci").is_none());
}

#[tokio::test]
async fn claims_challenge_after_session_revocation() {
    let em = start().await;
    // Capabilities on the device code request reach the token.
    let first = tokens(&em, PUBLIC_CLIENT_ID, SCOPE, ALICE_UPN, ALICE_PASSWORD, Some(CP1)).await;
    let capable = first["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_claims(&capable)["xms_cc"], json!(["cp1"]));
    // Without the capability, no xms_cc.
    let plain = refresh(&em, PUBLIC_CLIENT_ID, rt(&first), None).await;
    let plain = plain.body["access_token"].as_str().unwrap().to_owned();
    assert!(jwt_claims(&plain).get("xms_cc").is_none());

    let ok = me(&em, Some(&capable)).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        ok.body,
        json!({
            "oid": ALICE_OBJECT_ID,
            "upn": ALICE_UPN,
            "name": ALICE_DISPLAY_NAME,
            "tid": CONTOSO_TENANT_ID,
        })
    );

    em.revoke_user_sessions(ALICE_UPN);
    let challenged = me(&em, Some(&capable)).await;
    assert_eq!(challenged.status, 401);
    let header = challenged.header("www-authenticate").unwrap().to_owned();
    let params = challenge_params(&header);
    assert_eq!(param(&params, "realm"), Some(""));
    assert_eq!(
        param(&params, "authorization_uri"),
        Some(format!("https://127.0.0.1:{}/common/oauth2/authorize", em.port()).as_str())
    );
    assert_eq!(param(&params, "error"), Some("insufficient_claims"));
    let claims = STANDARD.decode(param(&params, "claims").unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&claims).unwrap();
    assert_eq!(claims["access_token"]["nbf"]["essential"], true);
    let nbf: u64 = claims["access_token"]["nbf"]["value"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // A token without the capability is just invalid.
    let refused = me(&em, Some(&plain)).await;
    assert_eq!(refused.status, 401);
    let params = challenge_params(refused.header("www-authenticate").unwrap());
    assert_eq!(param(&params, "error"), Some("invalid_token"));
    assert_eq!(param(&params, "claims"), None);

    // Revoking sessions leaves refresh tokens valid: answer the challenge
    // (merged with the capability, as MSAL does).
    let mut answer = claims.clone();
    answer["access_token"]["xms_cc"] = json!({"values": ["cp1"]});
    let renewed = refresh(&em, PUBLIC_CLIENT_ID, rt(&first), Some(&answer.to_string())).await;
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    let token = renewed.body["access_token"].as_str().unwrap();
    let renewed_claims = jwt_claims(token);
    assert!(renewed_claims["iat"].as_u64().unwrap() >= nbf);
    assert!(renewed_claims["nbf"].as_u64().unwrap() >= nbf);
    assert_eq!(renewed_claims["xms_cc"], json!(["cp1"]));
    let ok = me(&em, Some(token)).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(em.request_count(Endpoint::Resource), 4);
}

#[tokio::test]
async fn resource_refuses_bad_tokens() {
    let em = start().await;
    let none = me(&em, None).await;
    assert_eq!(none.status, 401);
    let params = challenge_params(none.header("www-authenticate").unwrap());
    assert_eq!(param(&params, "error"), None);

    let garbage = me(&em, Some("not.a.jwt")).await;
    assert_eq!(garbage.status, 401);
    let params = challenge_params(garbage.header("www-authenticate").unwrap());
    assert_eq!(param(&params, "error"), Some("invalid_token"));

    let body = tokens(&em, PUBLIC_CLIENT_ID, SCOPE, BOB_UPN, BOB_PASSWORD, None).await;
    let token = body["access_token"].as_str().unwrap();
    // A tampered payload breaks the signature.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = parts[1].chars().rev().collect();
    let tampered = me(&em, Some(&parts.join("."))).await;
    assert_eq!(tampered.status, 401);
    assert_eq!(me(&em, Some(token)).await.status, 200);
    // Expiry follows the emulator's clock.
    em.advance_clock(Duration::from_secs(3600));
    let expired = me(&em, Some(token)).await;
    assert_eq!(expired.status, 401);
    let params = challenge_params(expired.header("www-authenticate").unwrap());
    assert_eq!(param(&params, "error"), Some("invalid_token"));
}

#[tokio::test]
async fn app_tokens_carry_client_capabilities() {
    let em = start().await;
    let reply = post_form(
        &client(&em).unwrap(),
        &format!("{}/oauth2/v2.0/token", em.authority(CONTOSO_TENANT_NAME)),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DAEMON_CLIENT_ID),
            ("client_secret", DAEMON_CLIENT_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
            ("claims", CP1),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let claims = jwt_claims(reply.body["access_token"].as_str().unwrap());
    assert_eq!(claims["xms_cc"], json!(["cp1"]));
    assert_eq!(em.grant_count("client_credentials"), 1);

    let bad = post_form(
        &client(&em).unwrap(),
        &format!("{}/oauth2/v2.0/token", em.authority(CONTOSO_TENANT_NAME)),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DAEMON_CLIENT_ID),
            ("client_secret", DAEMON_CLIENT_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
            ("claims", "[1]"),
        ],
    )
    .await;
    assert_entra_error(&bad, 400, "invalid_request", 9002313);
}

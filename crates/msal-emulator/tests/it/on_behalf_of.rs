//! The on-behalf-of grant, `fmi_path` on client credentials, and the
//! `user_fic` grant, over HTTPS.

use std::time::Duration;

use crate::common::{Reply, assert_entra_error, post_form};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use msal_emulator::Emulator;
use msal_emulator::builtin::*;
use msal_test_support::{client, start};
use serde_json::Value;

const OBO_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const GRAPH_USER_READ: &str = "https://graph.microsoft.com/User.Read";

fn token_url(em: &Emulator, tenant: &str) -> String {
    format!("{}/oauth2/v2.0/token", em.authority(tenant))
}

async fn post(em: &Emulator, form: &[(&str, &str)]) -> Reply {
    post_form(&client(em).unwrap(), &token_url(em, CONTOSO_TENANT_ID), form).await
}

/// The claims of a JWT, unverified (the emulator's own tests verify signatures).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

/// Alice's token for the orders API, from the desktop app (password grant).
async fn alice_token_for_api(em: &Emulator) -> String {
    let scope = format!("{API_IDENTIFIER_URI}/Orders.Read");
    let reply = post(
        em,
        &[
            ("grant_type", "password"),
            ("client_id", PUBLIC_CLIENT_ID),
            ("username", ALICE_UPN),
            ("password", ALICE_PASSWORD),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["access_token"].as_str().unwrap().to_owned()
}

async fn obo(em: &Emulator, assertion: &str, scope: &str) -> Reply {
    post(
        em,
        &[
            ("grant_type", OBO_GRANT),
            ("client_id", API_CLIENT_ID),
            ("client_secret", API_CLIENT_SECRET),
            ("assertion", assertion),
            ("requested_token_use", "on_behalf_of"),
            ("scope", scope),
            ("client_info", "1"),
        ],
    )
    .await
}

#[tokio::test]
async fn obo_keeps_the_user_and_names_the_api_as_client() {
    let em = start().await.unwrap();
    let incoming = alice_token_for_api(&em).await;
    // v2.0: the API's client id, though the scope named its URI.
    assert_eq!(claims(&incoming)["aud"], API_CLIENT_ID);

    let reply = obo(
        &em,
        &incoming,
        &format!("{GRAPH_USER_READ} openid profile offline_access"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let access = claims(reply.body["access_token"].as_str().unwrap());
    assert_eq!(access["oid"], ALICE_OBJECT_ID);
    assert_eq!(access["upn"], ALICE_UPN);
    assert_eq!(access["tid"], CONTOSO_TENANT_ID);
    // Graph's token is v1.0: `appid`/`appidacr` ("1": the API's secret).
    assert_eq!(access["appid"], API_CLIENT_ID);
    assert_eq!(access["aud"], "https://graph.microsoft.com");
    assert_eq!(access["scp"], "User.Read");
    assert_eq!(access["appidacr"], "1");
    assert!(
        reply.body["refresh_token"].is_string(),
        "offline_access was asked"
    );
    assert!(reply.body["id_token"].is_string());
    assert!(reply.body["client_info"].is_string());

    // The OBO refresh token serves the API later, for the same user.
    let rt = reply.body["refresh_token"].as_str().unwrap();
    let refreshed = post(
        &em,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", API_CLIENT_ID),
            ("client_secret", API_CLIENT_SECRET),
            ("refresh_token", rt),
            ("scope", GRAPH_USER_READ),
        ],
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert_eq!(
        claims(refreshed.body["access_token"].as_str().unwrap())["oid"],
        ALICE_OBJECT_ID
    );

    // Without offline_access there is no refresh token.
    let reply = obo(&em, &incoming, GRAPH_USER_READ).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.get("refresh_token").is_none());
    assert_eq!(em.grant_count(OBO_GRANT), 2);
}

#[tokio::test]
async fn obo_rejects_bad_assertions_as_entra_does() {
    let em = start().await.unwrap();
    let incoming = alice_token_for_api(&em).await;

    // A token for Graph is not addressed to the API.
    let graph = post(
        &em,
        &[
            ("grant_type", "password"),
            ("client_id", PUBLIC_CLIENT_ID),
            ("username", ALICE_UPN),
            ("password", ALICE_PASSWORD),
            ("scope", "User.Read"),
        ],
    )
    .await;
    let graph_token = graph.body["access_token"].as_str().unwrap();
    let reply = obo(&em, graph_token, GRAPH_USER_READ).await;
    assert_entra_error(&reply, 400, "invalid_grant", 500131);

    // The web app may not use a token addressed to the API.
    let reply = post(
        &em,
        &[
            ("grant_type", OBO_GRANT),
            ("client_id", WEBAPP_CLIENT_ID),
            ("client_secret", WEBAPP_CLIENT_SECRET),
            ("assertion", &incoming),
            ("requested_token_use", "on_behalf_of"),
            ("scope", GRAPH_USER_READ),
        ],
    )
    .await;
    assert_entra_error(&reply, 400, "invalid_grant", 500131);

    // A tampered payload fails the signature check.
    let mut parts: Vec<String> = incoming.split('.').map(str::to_owned).collect();
    let mut payload = claims(&incoming);
    payload["oid"] = Value::String(BOB_OBJECT_ID.into());
    parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
    let reply = obo(&em, &parts.join("."), GRAPH_USER_READ).await;
    assert_entra_error(&reply, 400, "invalid_grant", 50013);

    // Not a JWT at all.
    let reply = obo(&em, "not-a-jwt", GRAPH_USER_READ).await;
    assert_entra_error(&reply, 400, "invalid_request", 50027);

    // An app-only token names no user.
    let app = post(
        &em,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DAEMON_CLIENT_ID),
            ("client_secret", DAEMON_CLIENT_SECRET),
            ("scope", &format!("{API_IDENTIFIER_URI}/.default")),
        ],
    )
    .await;
    let reply = obo(&em, app.body["access_token"].as_str().unwrap(), GRAPH_USER_READ).await;
    assert_entra_error(&reply, 400, "invalid_grant", 50013);

    // A wrong client secret is refused before anything is issued.
    let reply = post(
        &em,
        &[
            ("grant_type", OBO_GRANT),
            ("client_id", API_CLIENT_ID),
            ("client_secret", "wrong"),
            ("assertion", &incoming),
            ("requested_token_use", "on_behalf_of"),
            ("scope", GRAPH_USER_READ),
        ],
    )
    .await;
    assert_entra_error(&reply, 401, "invalid_client", 7000215);

    // requested_token_use is required and must say on_behalf_of.
    let reply = post(
        &em,
        &[
            ("grant_type", OBO_GRANT),
            ("client_id", API_CLIENT_ID),
            ("client_secret", API_CLIENT_SECRET),
            ("assertion", &incoming),
            ("scope", GRAPH_USER_READ),
        ],
    )
    .await;
    assert_entra_error(&reply, 400, "invalid_request", 900144);

    // Expired: the emulator's clock moves past the incoming token's lifetime.
    em.advance_clock(Duration::from_secs(2 * 3600));
    let reply = obo(&em, &incoming, GRAPH_USER_READ).await;
    assert_entra_error(&reply, 400, "invalid_grant", 500133);
}

async fn daemon_token(em: &Emulator, scope: &str, fmi_path: Option<&str>) -> Reply {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", DAEMON_CLIENT_ID),
        ("client_secret", DAEMON_CLIENT_SECRET),
        ("scope", scope),
    ];
    if let Some(path) = fmi_path {
        form.push(("fmi_path", path));
    }
    post(em, &form).await
}

#[tokio::test]
async fn fmi_path_lands_in_the_app_token() {
    let em = start().await.unwrap();
    let reply = daemon_token(&em, "https://graph.microsoft.com/.default", Some("agents/one")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        claims(reply.body["access_token"].as_str().unwrap())["fmi_path"],
        "agents/one"
    );
    let plain = daemon_token(&em, "https://graph.microsoft.com/.default", None).await;
    assert!(
        claims(plain.body["access_token"].as_str().unwrap())
            .get("fmi_path")
            .is_none()
    );
}

async fn user_fic(em: &Emulator, client: (&str, &str), fic: &str, user: (&str, &str)) -> Reply {
    post(
        em,
        &[
            ("grant_type", "user_fic"),
            ("client_id", client.0),
            ("client_secret", client.1),
            ("user_federated_identity_credential", fic),
            (user.0, user.1),
            ("scope", "User.Read openid profile offline_access"),
            ("client_info", "1"),
        ],
    )
    .await
}

#[tokio::test]
async fn user_fic_exchanges_the_apps_credential_for_the_users_tokens() {
    let em = start().await.unwrap();
    let fic = daemon_token(&em, "api://AzureADTokenExchange/.default", None).await;
    assert_eq!(fic.status, 200, "{}", fic.body);
    let fic = fic.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&fic)["aud"], "api://AzureADTokenExchange");
    let daemon = (DAEMON_CLIENT_ID, DAEMON_CLIENT_SECRET);

    for user in [("username", ALICE_UPN), ("user_id", ALICE_OBJECT_ID)] {
        let reply = user_fic(&em, daemon, &fic, user).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let access = claims(reply.body["access_token"].as_str().unwrap());
        assert_eq!(access["upn"], ALICE_UPN);
        assert_eq!(access["appid"], DAEMON_CLIENT_ID);
        assert!(reply.body["refresh_token"].is_string());
    }

    // Another app cannot use the daemon's credential.
    let reply = user_fic(
        &em,
        (WEBAPP_CLIENT_ID, WEBAPP_CLIENT_SECRET),
        &fic,
        ("username", ALICE_UPN),
    )
    .await;
    assert_entra_error(&reply, 400, "invalid_client", 700213);

    // A token for another audience is no federated credential.
    let graph = daemon_token(&em, "https://graph.microsoft.com/.default", None).await;
    let reply = user_fic(
        &em,
        daemon,
        graph.body["access_token"].as_str().unwrap(),
        ("username", ALICE_UPN),
    )
    .await;
    assert_entra_error(&reply, 400, "invalid_client", 700212);

    // Tampered.
    let mut parts: Vec<String> = fic.split('.').map(str::to_owned).collect();
    let mut payload = claims(&fic);
    payload["exp"] = Value::from(4_000_000_000u64);
    parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
    let tampered = parts.join(".");
    let reply = user_fic(&em, daemon, &tampered, ("username", ALICE_UPN)).await;
    assert_entra_error(&reply, 400, "invalid_client", 700027);

    // An unknown user; a user of another tenant.
    let reply = user_fic(&em, daemon, &fic, ("username", "nobody@contoso.onmicrosoft.com")).await;
    assert_entra_error(&reply, 400, "invalid_grant", 50034);
    let reply = user_fic(&em, daemon, &fic, ("username", CAROL_UPN)).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
}

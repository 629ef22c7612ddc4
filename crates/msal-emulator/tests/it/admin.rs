//! The admin surface over HTTP (`/_admin/...`): key rollover, directory
//! changes, session revocation and the clock, as `msal emulator admin`
//! and other MSALs' test suites drive them.

use crate::common::{Reply, get, post_form};
use msal_emulator::builtin::*;
use msal_emulator::{Emulator, EmulatorConfig};
use msal_test_support::{client, start, start_with};
use serde_json::{Value, json};

async fn admin(em: &Emulator, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
    let mut request = client(em)
        .unwrap()
        .request(method, format!("{}{path}", em.url()))
        .bearer_auth(em.admin_token());
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    Reply::from_response(request.send().await.unwrap()).await
}

async fn post(em: &Emulator, path: &str, body: Value) -> Reply {
    admin(em, reqwest::Method::POST, path, Some(body)).await
}

async fn kids(em: &Emulator) -> Vec<String> {
    let jwks = get(
        &client(em).unwrap(),
        &format!("{}/common/discovery/v2.0/keys", em.url()),
    )
    .await;
    jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn alice_graph_token(em: &Emulator) -> String {
    let reply = post_form(
        &client(em).unwrap(),
        &format!("{}/oauth2/v2.0/token", em.authority(CONTOSO_TENANT_NAME)),
        &[
            ("grant_type", "password"),
            ("client_id", PUBLIC_CLIENT_ID),
            ("username", ALICE_UPN),
            ("password", ALICE_PASSWORD),
            ("scope", "User.Read offline_access"),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["access_token"].as_str().unwrap().to_owned()
}

async fn call_resource(em: &Emulator, token: &str) -> u16 {
    client(em)
        .unwrap()
        .get(format!("{}/resource/me", em.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn key_rollover_keeps_old_tokens_verifiable_while_their_key_is_published() {
    let state = tempfile::tempdir().unwrap();
    let config = || EmulatorConfig::default().with_state_dir(state.path().to_owned());
    let em = start_with(config()).await.unwrap();
    let before = kids(&em).await;
    assert_eq!(before.len(), 2);
    let old_token = alice_graph_token(&em).await;
    assert_eq!(kid_of(&old_token), before[0]);

    // Without the admin token nothing rolls.
    let refused = client(&em)
        .unwrap()
        .post(format!("{}/_admin/keys/roll", em.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(kids(&em).await, before);

    // "Signing key rollover": the next key becomes current (it was
    // published ahead), a new next key is published, and the old key stays
    // until the following roll, so the tokens it signed still verify.
    let rolled = post(&em, "/_admin/keys/roll", json!({})).await;
    assert_eq!(rolled.status, 200, "{}", rolled.body);
    assert_eq!(rolled.body["kid"], before[1]);
    let after = kids(&em).await;
    assert_eq!(after.len(), 3);
    assert_eq!((&after[0], &after[2]), (&before[1], &before[0]));
    assert_eq!(em.signing_key_id(), before[1]);
    let new_token = alice_graph_token(&em).await;
    assert_eq!(kid_of(&new_token), before[1]);
    assert_eq!(call_resource(&em, &old_token).await, 200);
    assert_eq!(call_resource(&em, &new_token).await, 200);

    // --state-dir keeps the rolled keys across a restart.
    em.shutdown().await;
    let em = start_with(config()).await.unwrap();
    assert_eq!(kids(&em).await, after);
    assert_eq!(call_resource(&em, &old_token).await, 200);

    // The next roll withdraws the first key: its tokens no longer verify.
    let rolled = post(&em, "/_admin/keys/roll", json!({})).await;
    assert_eq!(rolled.status, 200, "{}", rolled.body);
    assert!(!kids(&em).await.contains(&before[0]));
    assert_eq!(call_resource(&em, &old_token).await, 401);
    assert_eq!(call_resource(&em, &new_token).await, 200);
}

#[tokio::test]
async fn apps_and_users_are_added_with_the_config_files_validation() {
    let em = start().await.unwrap();
    let app = json!({
        "client_id": "a1b2c3d4-0000-4000-8000-000000000001",
        "display_name": "Added daemon",
        "tenant": CONTOSO_TENANT_NAME,
        "secrets": ["added-secret"],
        "app_permissions": [{"resource": "https://graph.microsoft.com", "roles": ["User.Read.All"]}],
    });
    let added = post(&em, "/_admin/apps", app.clone()).await;
    assert_eq!(added.status, 201, "{}", added.body);
    let token = post_form(
        &client(&em).unwrap(),
        &format!("{}/oauth2/v2.0/token", em.authority(CONTOSO_TENANT_NAME)),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "a1b2c3d4-0000-4000-8000-000000000001"),
            ("client_secret", "added-secret"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(token.status, 200, "{}", token.body);

    // Refusals name the problem and change nothing.
    let again = post(&em, "/_admin/apps", app).await;
    assert_eq!(again.status, 400);
    assert!(
        again.body["error_description"]
            .as_str()
            .unwrap()
            .contains("duplicate client id")
    );
    let typo = post(
        &em,
        "/_admin/apps",
        json!({"client_id": "x", "tenant": "contoso", "kind": "daemon"}),
    )
    .await;
    assert_eq!(typo.status, 400);
    assert!(
        typo.body["error_description"]
            .as_str()
            .unwrap()
            .contains("`kind`"),
        "{}",
        typo.body
    );
    let foreign = json!({
        "upn": "zoe@fabrikam.onmicrosoft.com",
        "password": "Zoe-P@ssw0rd",
        "object_id": "a1b2c3d4-0000-4000-8000-000000000002",
        "tenant": CONTOSO_TENANT_NAME,
    });
    let refused = post(&em, "/_admin/users", foreign).await;
    assert_eq!(refused.status, 400);
    let why = refused.body["error_description"].as_str().unwrap();
    assert!(
        why.contains("fabrikam.onmicrosoft.com") && why.contains("contoso.onmicrosoft.com"),
        "{why}"
    );

    let zoe = json!({
        "upn": "zoe@contoso.onmicrosoft.com",
        "password": "Zoe-P@ssw0rd",
        "object_id": "a1b2c3d4-0000-4000-8000-000000000002",
        "tenant": CONTOSO_TENANT_NAME,
    });
    assert_eq!(post(&em, "/_admin/users", zoe).await.status, 201);
    let signed_in = post_form(
        &client(&em).unwrap(),
        &format!("{}/oauth2/v2.0/token", em.authority(CONTOSO_TENANT_NAME)),
        &[
            ("grant_type", "password"),
            ("client_id", PUBLIC_CLIENT_ID),
            ("username", "zoe@contoso.onmicrosoft.com"),
            ("password", "Zoe-P@ssw0rd"),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);

    let directory = admin(&em, reqwest::Method::GET, "/_admin/directory", None).await;
    assert_eq!(directory.status, 200);
    let users = directory.body["users"].as_array().unwrap();
    assert!(users.iter().any(|u| u["upn"] == "zoe@contoso.onmicrosoft.com"));
    assert_eq!(em.directory().users.len(), users.len());
}

#[tokio::test]
async fn revoke_ends_sessions_and_refresh_tokens_and_the_clock_moves() {
    let em = start().await.unwrap();
    let token_url = format!("{}/oauth2/v2.0/token", em.authority(CONTOSO_TENANT_NAME));
    let http = client(&em).unwrap();
    let first = post_form(
        &http,
        &token_url,
        &[
            ("grant_type", "password"),
            ("client_id", PUBLIC_CLIENT_ID),
            ("username", ALICE_UPN),
            ("password", ALICE_PASSWORD),
            ("scope", "User.Read offline_access"),
        ],
    )
    .await;
    let access = first.body["access_token"].as_str().unwrap().to_owned();
    let refresh = first.body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(call_resource(&em, &access).await, 200);

    let revoked = post(&em, "/_admin/revoke", json!({"upn": ALICE_UPN.to_uppercase()})).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(revoked.body["upn"], ALICE_UPN);
    assert_eq!(revoked.body["refresh_tokens_revoked"], 1);
    // The refresh token is gone and the access token fails the resource's
    // continuous access evaluation check.
    let refreshed = post_form(
        &http,
        &token_url,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", PUBLIC_CLIENT_ID),
            ("refresh_token", &refresh),
            ("scope", "User.Read"),
        ],
    )
    .await;
    assert_eq!(refreshed.status, 400);
    assert_eq!(refreshed.body["error"], "invalid_grant");
    assert_eq!(call_resource(&em, &access).await, 401);
    let nobody = post(
        &em,
        "/_admin/revoke",
        json!({"upn": "nobody@contoso.onmicrosoft.com"}),
    )
    .await;
    assert_eq!(nobody.status, 404);

    let clock = admin(&em, reqwest::Method::GET, "/_admin/clock", None).await;
    let now = clock.body["now"].as_u64().unwrap();
    let moved = post(&em, "/_admin/clock", json!({"advance_seconds": 7200})).await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    assert!(moved.body["now"].as_u64().unwrap() >= now + 7200);
    for bad in [
        json!({"advance_seconds": 0}),
        json!({"advance_seconds": -5}),
        json!({"seconds": 5}),
    ] {
        assert_eq!(post(&em, "/_admin/clock", bad.clone()).await.status, 400, "{bad}");
    }
}

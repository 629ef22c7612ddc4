//! The token endpoint's client_credentials grant and its errors, over HTTPS.

use std::collections::HashSet;

use crate::common::{Reply, assert_entra_error, get, post_form};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use msal_emulator::builtin::*;
use msal_emulator::{Emulator, EmulatorConfig};
use msal_test_support::{client, start};
use serde_json::{Value, json};

fn token_url(em: &Emulator, tenant: &str) -> String {
    format!("{}/oauth2/v2.0/token", em.authority(tenant))
}

fn daemon_form(scope: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", DAEMON_CLIENT_ID.into()),
        ("client_secret", DAEMON_CLIENT_SECRET.into()),
        ("scope", scope.into()),
        ("client_info", "1".into()),
    ]
}

async fn post(em: &Emulator, tenant: &str, form: &[(&str, String)]) -> Reply {
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    post_form(&client(em).unwrap(), &token_url(em, tenant), &form).await
}

/// Verifies `token` against the emulator's JWKS and returns its claims.
async fn verify(em: &Emulator, token: &str, audience: &str) -> Value {
    let jwks = get(
        &client(em).unwrap(),
        &format!("{}/common/discovery/v2.0/keys", em.url()),
    )
    .await
    .body;
    let key = &jwks["keys"][0];
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    let decoding =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience]);
    // v2.0 tokens name the endpoint's issuer, v1.0 ones Entra's STS.
    validation.set_issuer(&[
        format!("{}/{CONTOSO_TENANT_ID}/v2.0", em.url()),
        format!("https://sts.windows.net/{CONTOSO_TENANT_ID}/"),
    ]);
    validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
    jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .expect("token verifies against the JWKS")
        .claims
}

#[tokio::test]
async fn graph_token_verifies_and_carries_roles() {
    let em = start().await.unwrap();
    let reply = post(
        &em,
        CONTOSO_TENANT_ID,
        &daemon_form("https://graph.microsoft.com/.default"),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store, no-cache"));
    let body = &reply.body;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], json!(3599));
    assert_eq!(body["ext_expires_in"], json!(3599));
    let keys: HashSet<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        HashSet::from(["token_type", "expires_in", "ext_expires_in", "access_token"])
    );

    let claims = verify(
        &em,
        body["access_token"].as_str().unwrap(),
        "https://graph.microsoft.com",
    )
    .await;
    assert_eq!(claims["tid"], CONTOSO_TENANT_ID);
    // Microsoft Graph takes v1.0 tokens (access token claims reference:
    // `appidacr` "1" = client secret; `iss` the STS; `idp` the tenant's STS
    // for app tokens), not v2.0's `azp`/`azpacr`.
    assert_eq!(claims["appid"], DAEMON_CLIENT_ID);
    assert_eq!(claims["appidacr"], "1");
    assert!(claims.get("azp").is_none() && claims.get("azpacr").is_none());
    assert_eq!(
        claims["iss"],
        format!("https://sts.windows.net/{CONTOSO_TENANT_ID}/")
    );
    assert_eq!(claims["idp"], claims["iss"]);
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["ver"], "1.0");
    assert_eq!(claims["roles"], json!(DAEMON_GRAPH_ROLES));
    assert_eq!(claims["oid"], claims["sub"]);
    assert!(uuid::Uuid::parse_str(claims["oid"].as_str().unwrap()).is_ok());
    assert!(!claims["uti"].as_str().unwrap().is_empty());
    let (iat, nbf, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["nbf"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert!(nbf <= iat);
    assert_eq!(exp - iat, 3599);

    // The service principal id is stable across tokens; `uti` is not.
    let again = post(
        &em,
        CONTOSO_TENANT_NAME,
        &daemon_form("https://graph.microsoft.com/.default"),
    )
    .await;
    let claims2 = verify(
        &em,
        again.body["access_token"].as_str().unwrap(),
        "https://graph.microsoft.com",
    )
    .await;
    assert_eq!(claims2["oid"], claims["oid"]);
    assert_ne!(claims2["uti"], claims["uti"]);
}

#[tokio::test]
async fn custom_api_token_by_uri_and_by_client_id() {
    let em = start().await.unwrap();
    let reply = post(
        &em,
        CONTOSO_DOMAIN,
        &daemon_form(&format!("{API_IDENTIFIER_URI}/.default")),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // v2.0 tokens: `aud` is the API's client id even when the scope named its URI.
    let claims = verify(&em, reply.body["access_token"].as_str().unwrap(), API_CLIENT_ID).await;
    assert_eq!(claims["roles"], json!(DAEMON_API_ROLES));

    let reply = post(
        &em,
        CONTOSO_TENANT_ID,
        &daemon_form(&format!("{API_CLIENT_ID}/.default")),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let claims = verify(&em, reply.body["access_token"].as_str().unwrap(), API_CLIENT_ID).await;
    assert_eq!(claims["roles"], json!(DAEMON_API_ROLES));
}

#[tokio::test]
async fn no_roles_claim_without_grants() {
    let em = start().await.unwrap();
    let form = vec![
        ("grant_type", "client_credentials".to_owned()),
        ("client_id", WEBAPP_CLIENT_ID.to_owned()),
        ("client_secret", WEBAPP_CLIENT_SECRET.to_owned()),
        ("scope", "https://graph.microsoft.com/.default".to_owned()),
    ];
    let reply = post(&em, CONTOSO_TENANT_ID, &form).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let claims = verify(
        &em,
        reply.body["access_token"].as_str().unwrap(),
        "https://graph.microsoft.com",
    )
    .await;
    assert!(claims.get("roles").is_none(), "{claims}");
    assert_eq!(claims["appid"], WEBAPP_CLIENT_ID);
}

#[tokio::test]
async fn basic_authentication_works() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let response = http
        .post(token_url(&em, CONTOSO_TENANT_ID))
        .basic_auth(DAEMON_CLIENT_ID, Some(DAEMON_CLIENT_SECRET))
        .form(&form)
        .send()
        .await
        .unwrap();
    let reply = Reply::from_response(response).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let claims = verify(
        &em,
        reply.body["access_token"].as_str().unwrap(),
        "https://graph.microsoft.com",
    )
    .await;
    assert_eq!(claims["appid"], DAEMON_CLIENT_ID);

    let response = http
        .post(token_url(&em, CONTOSO_TENANT_ID))
        .basic_auth(DAEMON_CLIENT_ID, Some("wrong"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_entra_error(
        &Reply::from_response(response).await,
        401,
        "invalid_client",
        7000215,
    );
}

#[tokio::test]
async fn client_and_credential_errors() {
    let em = start().await.unwrap();
    let graph = "https://graph.microsoft.com/.default";

    let mut form = daemon_form(graph);
    form[1].1 = "00000000-0000-0000-0000-000000000001".into();
    let reply = post(&em, CONTOSO_TENANT_ID, &form).await;
    assert_entra_error(&reply, 400, "unauthorized_client", 700016);
    assert!(reply.body["error_description"].as_str().unwrap().starts_with(
        "AADSTS700016: Application with identifier '00000000-0000-0000-0000-000000000001' was not found in the directory 'Contoso'."
    ));

    // A single-tenant app is unknown in another tenant.
    let reply = post(&em, FABRIKAM_TENANT_NAME, &daemon_form(graph)).await;
    assert_entra_error(&reply, 400, "unauthorized_client", 700016);

    let mut form = daemon_form(graph);
    form[2].1 = "not-the-secret".into();
    let reply = post(&em, CONTOSO_TENANT_ID, &form).await;
    assert_entra_error(&reply, 401, "invalid_client", 7000215);
    assert!(
        reply.body["error_description"]
            .as_str()
            .unwrap()
            .contains(DAEMON_CLIENT_ID)
    );

    let mut form = daemon_form(graph);
    form.remove(2);
    assert_entra_error(
        &post(&em, CONTOSO_TENANT_ID, &form).await,
        400,
        "invalid_client",
        7000218,
    );

    let public = vec![
        ("grant_type", "client_credentials".to_owned()),
        ("client_id", PUBLIC_CLIENT_ID.to_owned()),
        ("scope", graph.to_owned()),
    ];
    assert_entra_error(
        &post(&em, CONTOSO_TENANT_ID, &public).await,
        400,
        "unauthorized_client",
        700025,
    );

    let mut form = daemon_form(graph);
    form.remove(1);
    assert_entra_error(
        &post(&em, CONTOSO_TENANT_ID, &form).await,
        400,
        "invalid_request",
        900144,
    );
}

#[tokio::test]
async fn scope_resource_and_tenant_errors() {
    let em = start().await.unwrap();

    let reply = post(&em, CONTOSO_TENANT_ID, &daemon_form("User.Read")).await;
    assert_entra_error(&reply, 400, "invalid_scope", 1002012);
    assert!(reply.body["error_description"].as_str().unwrap().starts_with(
        "AADSTS1002012: The provided value for scope User.Read is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
    ));

    let reply = post(&em, CONTOSO_TENANT_ID, &daemon_form("api://unknown/.default")).await;
    assert_entra_error(&reply, 400, "invalid_resource", 500011);
    assert!(
        reply.body["error_description"]
            .as_str()
            .unwrap()
            .contains("api://unknown")
    );

    let mut form = daemon_form("");
    form.remove(3);
    let reply = post(&em, CONTOSO_TENANT_ID, &form).await;
    assert_entra_error(&reply, 400, "invalid_request", 900144);
    assert!(
        reply.body["error_description"]
            .as_str()
            .unwrap()
            .contains("'scope'")
    );

    let reply = post(
        &em,
        "nowhere",
        &daemon_form("https://graph.microsoft.com/.default"),
    )
    .await;
    assert_entra_error(&reply, 400, "invalid_request", 90002);
}

#[tokio::test]
async fn request_shape_errors() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let url = token_url(&em, CONTOSO_TENANT_ID);

    let reply = post_form(&http, &url, &[("client_id", DAEMON_CLIENT_ID)]).await;
    assert_entra_error(&reply, 400, "invalid_request", 900144);
    assert!(
        reply.body["error_description"].as_str().unwrap().starts_with(
            "AADSTS900144: The request body must contain the following parameter: 'grant_type'."
        )
    );

    let reply = post_form(&http, &url, &[("grant_type", "urn:nope")]).await;
    assert_entra_error(&reply, 400, "unsupported_grant_type", 70003);

    let json_body = http
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"grant_type":"client_credentials"}"#)
        .send()
        .await
        .unwrap();
    assert_entra_error(
        &Reply::from_response(json_body).await,
        400,
        "invalid_request",
        9002313,
    );

    let garbage = http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(vec![0xff, 0xfe, b'=', 0x00])
        .send()
        .await
        .unwrap();
    assert_entra_error(
        &Reply::from_response(garbage).await,
        400,
        "invalid_request",
        9002313,
    );

    let huge = http
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&pad={}",
            "a".repeat(100 * 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_entra_error(&Reply::from_response(huge).await, 413, "invalid_request", 9002313);

    let duplicated = post_form(
        &http,
        &url,
        &[("grant_type", "client_credentials"), ("grant_type", "password")],
    )
    .await;
    assert_entra_error(&duplicated, 400, "invalid_request", 9002313);

    let bad_basic = http
        .post(&url)
        .header("authorization", "Basic %%%")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_entra_error(
        &Reply::from_response(bad_basic).await,
        400,
        "invalid_request",
        9002313,
    );
}

#[tokio::test]
async fn custom_lifetime_is_reported() {
    let mut directory = msal_emulator::Directory::builtin();
    directory.token_lifetime_secs = 600;
    let em = Emulator::start(EmulatorConfig::new(directory)).await.unwrap();
    let reply = post(
        &em,
        CONTOSO_TENANT_ID,
        &daemon_form("https://graph.microsoft.com/.default"),
    )
    .await;
    assert_eq!(reply.body["expires_in"], json!(600));
    let claims = verify(
        &em,
        reply.body["access_token"].as_str().unwrap(),
        "https://graph.microsoft.com",
    )
    .await;
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        600
    );
}

//! Entra behaviours clients see in tokens and discovery responses: how an
//! access token says the client authenticated (`azpacr`, `appidacr`), the
//! v1.0 and v2.0 token shapes by what the resource accepts, and the cache
//! and CORS headers of the discovery documents and keys.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::common::{Reply, get, post_form};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use msal_emulator::builtin::*;
use msal_emulator::{Directory, Emulator, EmulatorConfig};
use msal_test_support::{client, start_with};
use serde_json::{Value, json};

/// An API registered without `access_token_version`: it gets v1.0 tokens.
const V1_API_CLIENT_ID: &str = "7b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const V1_API_URI: &str = "api://orders-v1";

async fn start_with_v1_api() -> Emulator {
    let mut directory = Directory::builtin();
    let mut api = directory
        .apps
        .iter()
        .find(|a| a.client_id == API_CLIENT_ID)
        .unwrap()
        .clone();
    api.client_id = V1_API_CLIENT_ID.into();
    api.identifier_uris = vec![V1_API_URI.into()];
    api.access_token_version = None;
    directory.apps.push(api);
    start_with(EmulatorConfig::new(directory)).await.unwrap()
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn token_url(em: &Emulator) -> String {
    format!("{}/{CONTOSO_TENANT_ID}/oauth2/v2.0/token", em.url())
}

/// The daemon's client assertion, signed with its registered certificate.
fn daemon_assertion(em: &Emulator) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let thumbprint: Vec<u8> = (0..DAEMON_CERTIFICATE_SHA1_THUMBPRINT.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&DAEMON_CERTIFICATE_SHA1_THUMBPRINT[i..i + 2], 16).unwrap())
        .collect();
    let header = json!({"alg": "RS256", "typ": "JWT", "x5t": URL_SAFE_NO_PAD.encode(thumbprint)});
    let body = json!({
        "aud": token_url(em),
        "iss": DAEMON_CLIENT_ID,
        "sub": DAEMON_CLIENT_ID,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(body.to_string())
    );
    let pkcs8 = rcgen::KeyPair::from_pem(DAEMON_PRIVATE_KEY_PEM)
        .unwrap()
        .serialize_der();
    let key = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&pkcs8).unwrap();
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

async fn daemon_token(em: &Emulator, scope: &str, certificate: bool) -> Value {
    let secret_or_assertion = if certificate {
        vec![
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion", daemon_assertion(em)),
        ]
    } else {
        vec![("client_secret", DAEMON_CLIENT_SECRET.to_owned())]
    };
    let mut form = vec![
        ("grant_type", "client_credentials".to_owned()),
        ("client_id", DAEMON_CLIENT_ID.to_owned()),
        ("scope", scope.to_owned()),
    ];
    form.extend(secret_or_assertion);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let reply = post_form(&client(em).unwrap(), &token_url(em), &form).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    claims(reply.body["access_token"].as_str().unwrap())
}

#[tokio::test]
async fn tokens_say_how_the_client_authenticated_in_the_resources_shape() {
    let em = start_with_v1_api().await;
    // Access token claims reference: `azpacr` (v2.0 only) and `appidacr`
    // (v1.0 only) are "0" for a public client, "1" when the client
    // authenticated with its client id and secret, "2" with a certificate.
    // The built-in API accepts v2.0 tokens; Graph takes v1.0 ones.
    let api_scope = format!("{API_IDENTIFIER_URI}/.default");
    let by_secret = daemon_token(&em, &api_scope, false).await;
    assert_eq!(by_secret["ver"], "2.0");
    assert_eq!(by_secret["azpacr"], "1");
    assert!(by_secret.get("appidacr").is_none());
    let by_certificate = daemon_token(&em, &api_scope, true).await;
    assert_eq!(by_certificate["azpacr"], "2");
    assert_eq!(by_certificate["azp"], DAEMON_CLIENT_ID);
    // v2.0: `aud` is the API's client id whichever form the scope used.
    assert_eq!(by_certificate["aud"], API_CLIENT_ID);
    assert_eq!(
        by_certificate["iss"],
        format!("{}/{CONTOSO_TENANT_ID}/v2.0", em.url())
    );

    let graph = daemon_token(&em, "https://graph.microsoft.com/.default", true).await;
    assert_eq!(graph["ver"], "1.0");
    assert_eq!(graph["appidacr"], "2");
    assert!(graph.get("azpacr").is_none() && graph.get("azp").is_none());

    // An API whose manifest does not set accessTokenAcceptedVersion gets
    // v1.0 tokens ("If null, defaults to 1", apiApplication
    // requestedAccessTokenVersion): `iss` is https://sts.windows.net/{tid}/
    // and `aud` the resource as requested, URI or app id.
    let v1 = daemon_token(&em, &format!("{V1_API_URI}/.default"), false).await;
    assert_eq!(v1["ver"], "1.0");
    assert_eq!(v1["aud"], V1_API_URI);
    assert_eq!(v1["iss"], format!("https://sts.windows.net/{CONTOSO_TENANT_ID}/"));
    assert_eq!(v1["appid"], DAEMON_CLIENT_ID);
    assert_eq!(v1["appidacr"], "1");
    assert_eq!(v1["idtyp"], "app");
    let by_id = daemon_token(&em, &format!("{V1_API_CLIENT_ID}/.default"), false).await;
    assert_eq!(by_id["aud"], V1_API_CLIENT_ID);
}

#[tokio::test]
async fn user_tokens_for_a_v1_api_carry_upn_and_unique_name() {
    let em = start_with_v1_api().await;
    let reply = post_form(
        &client(&em).unwrap(),
        &token_url(&em),
        &[
            ("grant_type", "password"),
            ("client_id", PUBLIC_CLIENT_ID),
            ("username", ALICE_UPN),
            ("password", ALICE_PASSWORD),
            ("scope", &format!("{V1_API_URI}/Orders.Read openid")),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let at = claims(reply.body["access_token"].as_str().unwrap());
    // v1.0 user tokens: `upn` and `unique_name`, `appid` and `appidacr`.
    assert_eq!(at["ver"], "1.0");
    assert_eq!(at["upn"], ALICE_UPN);
    assert_eq!(at["unique_name"], ALICE_UPN);
    assert_eq!(at["appidacr"], "0");
    assert_eq!(at["scp"], "Orders.Read");
    assert!(at.get("preferred_username").is_none());
    // The ID token stays v2.0: its version follows the endpoint.
    let id = claims(reply.body["id_token"].as_str().unwrap());
    assert_eq!(id["ver"], "2.0");
}

fn assert_discovery_headers(reply: &Reply, what: &str) {
    // As login.microsoftonline.com sends them with its OpenID configuration
    // and keys: cacheable for a day by the client, readable from any origin.
    assert_eq!(
        reply.header("cache-control"),
        Some("max-age=86400, private"),
        "{what}"
    );
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"), "{what}");
    assert_eq!(
        reply.header("access-control-allow-methods"),
        Some("GET, OPTIONS"),
        "{what}"
    );
}

#[tokio::test]
async fn discovery_documents_and_keys_are_cacheable_and_cross_origin() {
    let em = start_with(EmulatorConfig::default()).await.unwrap();
    let http = client(&em).unwrap();
    let paths = [
        format!("/{CONTOSO_TENANT_NAME}/v2.0/.well-known/openid-configuration"),
        "/common/v2.0/.well-known/openid-configuration".to_owned(),
        format!("/{CONTOSO_TENANT_ID}/discovery/v2.0/keys"),
        "/common/discovery/keys".to_owned(),
    ];
    for path in &paths {
        let url = format!("{}{path}", em.url());
        let reply = get(&http, &url).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_discovery_headers(&reply, path);

        // A single-page app's preflight is answered for any origin.
        let preflight = http
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", "https://spa.example")
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        assert_eq!(preflight.status(), 200, "{path}");
        let headers = preflight.headers();
        assert_eq!(headers["access-control-allow-origin"], "*", "{path}");
        assert_eq!(headers["access-control-allow-methods"], "GET, OPTIONS", "{path}");
    }
    // Token responses stay uncacheable.
    let token = post_form(&http, &token_url(&em), &[("grant_type", "client_credentials")]).await;
    assert_ne!(token.header("cache-control"), Some("max-age=86400, private"));
    // The keys' x5c is the certificate of the key (DER, standard base64).
    let keys = get(&http, &format!("{}{}", em.url(), paths[2])).await;
    let der = STANDARD
        .decode(keys.body["keys"][1]["x5c"][0].as_str().unwrap())
        .unwrap();
    assert_eq!(der[0], 0x30);
}

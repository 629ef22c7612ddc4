//! The managed identity endpoints of the emulated Azure hosts, over real
//! HTTP(S): each host's success shape with a token the JWKS verifies, the
//! user-assigned identity parameters, each error shape, Azure Arc's key
//! file challenge, Service Fabric's pinned certificate, instance metadata,
//! faults and counters, and the environment map.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use msal_emulator::{Emulator, EmulatorConfig, Endpoint, Fault, FaultKind, ManagedIdentitySource, builtin};
use reqwest::{Certificate, Client};
use serde_json::{Value, json};

use crate::common::Reply;

const ARM: &str = builtin::ARM_RESOURCE;
const VAULT: &str = builtin::KEY_VAULT_RESOURCE;

/// An emulator with managed identity on, writing Arc key files into `tokens`.
async fn start(tokens: &Path) -> Emulator {
    start_with(EmulatorConfig::default(), tokens).await
}

async fn start_with(config: EmulatorConfig, tokens: &Path) -> Emulator {
    Emulator::start(
        config
            .with_managed_identity(true)
            .with_arc_token_directory(tokens.to_owned()),
    )
    .await
    .unwrap()
}

/// A plain HTTP client that ignores the machine's proxy settings.
fn http() -> Client {
    Client::builder().no_proxy().build().unwrap()
}

/// A client trusting only Service Fabric's own certificate.
fn service_fabric_client(emulator: &Emulator) -> Client {
    let cert = Certificate::from_pem(emulator.service_fabric_cert_pem().unwrap().as_bytes()).unwrap();
    Client::builder()
        .tls_certs_only([cert])
        .tls_info(true)
        .no_proxy()
        .build()
        .unwrap()
}

fn env(emulator: &Emulator, source: ManagedIdentitySource) -> HashMap<String, String> {
    emulator.managed_identity_env(source).into_iter().collect()
}

/// `base` with the query `params` (URL-encoded).
fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(base).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

fn imds_url(emulator: &Emulator, params: &[(&str, &str)]) -> String {
    let host = &env(emulator, ManagedIdentitySource::Imds)["AZURE_POD_IDENTITY_AUTHORITY_HOST"];
    with_query(&format!("{host}/metadata/identity/oauth2/token"), params)
}

async fn imds(emulator: &Emulator, params: &[(&str, &str)]) -> Reply {
    let response = http()
        .get(imds_url(emulator, params))
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    Reply::from_response(response).await
}

/// Verifies `token` with the emulator's JWKS and returns its claims.
async fn verified_claims(emulator: &Emulator, token: &str) -> Value {
    let client = msal_test_support::client(emulator).unwrap();
    let jwks = crate::common::get(
        &client,
        &format!("{}/discovery/v2.0/keys", emulator.authority("contoso")),
    )
    .await
    .body;
    let key = &jwks["keys"][0];
    let decoding =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .unwrap()
        .claims
}

/// Checks a managed identity token's claims name `client_id`'s identity and `resource`.
async fn assert_identity_token(emulator: &Emulator, token: &str, client_id: &str, resource: &str) -> Value {
    let claims = verified_claims(emulator, token).await;
    let identity = emulator
        .directory()
        .managed_identity_by_client_id(client_id)
        .unwrap();
    assert_eq!(claims["aud"], resource, "{claims}");
    assert_eq!(claims["appid"], client_id, "{claims}");
    assert_eq!(claims["azp"], client_id, "{claims}");
    assert_eq!(claims["oid"], identity.object_id.as_str(), "{claims}");
    assert_eq!(claims["sub"], identity.object_id.as_str(), "{claims}");
    assert_eq!(claims["tid"], builtin::CONTOSO_TENANT_ID, "{claims}");
    assert_eq!(claims["idtyp"], "app", "{claims}");
    assert_eq!(claims["xms_mirid"], identity.resource_id.as_str(), "{claims}");
    claims
}

fn as_u64(value: &Value) -> u64 {
    match value {
        Value::String(s) => s.parse().unwrap(),
        other => other.as_u64().unwrap(),
    }
}

#[tokio::test]
async fn imds_issues_tokens_for_each_identity_and_id_kind() {
    let tokens = tempfile::tempdir().unwrap();
    let emulator = start(tokens.path()).await;

    let r = imds(&emulator, &[("api-version", "2018-02-01"), ("resource", ARM)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.body.as_object().unwrap();
    let mut keys: Vec<&str> = body.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access_token",
            "client_id",
            "expires_in",
            "expires_on",
            "ext_expires_in",
            "not_before",
            "resource",
            "token_type"
        ]
    );
    // Numbers as strings, as real IMDS sends them.
    assert_eq!(r.body["expires_in"], "86399");
    assert_eq!(r.body["ext_expires_in"], "86399");
    assert!(r.body["expires_on"].is_string() && r.body["not_before"].is_string());
    assert_eq!(r.body["resource"], ARM);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["client_id"], builtin::MI_SYSTEM_ASSIGNED_CLIENT_ID);
    let claims = assert_identity_token(
        &emulator,
        r.body["access_token"].as_str().unwrap(),
        builtin::MI_SYSTEM_ASSIGNED_CLIENT_ID,
        ARM,
    )
    .await;
    assert_eq!(as_u64(&claims["exp"]), as_u64(&r.body["expires_on"]));
    assert_eq!(as_u64(&claims["iat"]), as_u64(&r.body["not_before"]));

    for (param, value, client_id) in [
        (
            "client_id",
            builtin::MI_USER_ASSIGNED_CLIENT_ID,
            builtin::MI_USER_ASSIGNED_CLIENT_ID,
        ),
        (
            "msi_res_id",
            builtin::MI_USER_ASSIGNED_RESOURCE_ID,
            builtin::MI_USER_ASSIGNED_CLIENT_ID,
        ),
        (
            "object_id",
            builtin::MI_SECOND_USER_ASSIGNED_OBJECT_ID,
            builtin::MI_SECOND_USER_ASSIGNED_CLIENT_ID,
        ),
    ] {
        let r = imds(
            &emulator,
            &[("api-version", "2018-02-01"), ("resource", VAULT), (param, value)],
        )
        .await;
        assert_eq!(r.status, 200, "{param}: {}", r.body);
        assert_eq!(r.body["client_id"], client_id, "{param}");
        assert_identity_token(
            &emulator,
            r.body["access_token"].as_str().unwrap(),
            client_id,
            VAULT,
        )
        .await;
    }
    assert_eq!(emulator.request_count(Endpoint::Imds), 4);
    assert_eq!(emulator.request_count(Endpoint::Token), 0);
}

#[tokio::test]
async fn imds_errors_have_its_shape() {
    let tokens = tempfile::tempdir().unwrap();
    let emulator = start(tokens.path()).await;

    let no_header = Reply::from_response(
        http()
            .get(imds_url(
                &emulator,
                &[("api-version", "2018-02-01"), ("resource", ARM)],
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(no_header.status, 400);
    assert_eq!(
        no_header.body,
        json!({"error": "invalid_request", "error_description": "Required metadata header not specified"})
    );

    let invalid_request = |r: &Reply, what: &str| {
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        assert_eq!(r.body["error"], "invalid_request", "{what}: {}", r.body);
    };
    invalid_request(&imds(&emulator, &[("resource", ARM)]).await, "no api-version");
    invalid_request(
        &imds(&emulator, &[("api-version", "2019-08-01"), ("resource", ARM)]).await,
        "other api-version",
    );
    invalid_request(
        &imds(&emulator, &[("api-version", "2018-02-01")]).await,
        "no resource",
    );
    invalid_request(
        &imds(
            &emulator,
            &[
                ("api-version", "2018-02-01"),
                ("resource", ARM),
                ("client_id", builtin::MI_USER_ASSIGNED_CLIENT_ID),
                ("object_id", builtin::MI_USER_ASSIGNED_OBJECT_ID),
            ],
        )
        .await,
        "two ids",
    );
    let unknown = imds(
        &emulator,
        &[
            ("api-version", "2018-02-01"),
            ("resource", ARM),
            ("client_id", "11111111-2222-3333-4444-555555555555"),
        ],
    )
    .await;
    assert_eq!(
        unknown.body,
        json!({"error": "invalid_request", "error_description": "Identity not found"})
    );
    let resource = imds(
        &emulator,
        &[
            ("api-version", "2018-02-01"),
            ("resource", "https://nothing.example"),
        ],
    )
    .await;
    assert_eq!(resource.status, 400);
    assert_eq!(resource.body["error"], "invalid_resource");
    let description = resource.body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with("AADSTS500011: ") && description.contains("https://nothing.example"),
        "{description}"
    );
    assert_eq!(emulator.request_count(Endpoint::Imds), 7);
}

#[tokio::test]
async fn imds_instance_metadata_gives_the_region() {
    let tokens = tempfile::tempdir().unwrap();
    let emulator = start_with(
        EmulatorConfig::default().with_imds_region("westeurope"),
        tokens.path(),
    )
    .await;
    let host = env(&emulator, ManagedIdentitySource::Imds)["AZURE_POD_IDENTITY_AUTHORITY_HOST"].clone();

    let location = http()
        .get(format!(
            "{host}/metadata/instance/compute/location?format=text&api-version=2021-01-01"
        ))
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(location.status(), 200);
    assert!(
        location.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(location.text().await.unwrap(), "westeurope");

    let compute = Reply::from_response(
        http()
            .get(format!("{host}/metadata/instance/compute?api-version=2021-01-01"))
            .header("Metadata", "true")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(compute.status, 200);
    assert_eq!(compute.body["location"], "westeurope");
    assert_eq!(compute.body["name"], builtin::MI_SYSTEM_ASSIGNED_NAME);
    assert_eq!(compute.body["azEnvironment"], "AzurePublicCloud");
    assert!(uuid::Uuid::parse_str(compute.body["vmId"].as_str().unwrap()).is_ok());

    let no_header = http()
        .get(format!("{host}/metadata/instance/compute?api-version=2021-01-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_header.status(), 400);
    let no_version = http()
        .get(format!("{host}/metadata/instance/compute/location?format=text"))
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(no_version.status(), 400);
    assert_eq!(emulator.request_count(Endpoint::ImdsInstance), 4);
    assert_eq!(emulator.request_count(Endpoint::Imds), 0);
}

async fn app_service(emulator: &Emulator, header: Option<&str>, params: &[(&str, &str)]) -> Reply {
    let vars = env(emulator, ManagedIdentitySource::AppService);
    let mut request = http().get(with_query(&vars["IDENTITY_ENDPOINT"], params));
    if let Some(header) = header {
        request = request.header("X-IDENTITY-HEADER", header);
    }
    Reply::from_response(request.send().await.unwrap()).await
}

#[tokio::test]
async fn app_service_checks_its_header_and_answers_with_expires_on() {
    let tokens = tempfile::tempdir().unwrap();
    let emulator = start(tokens.path()).await;
    let secret = env(&emulator, ManagedIdentitySource::AppService)["IDENTITY_HEADER"].clone();
    let ok = [("api-version", "2019-08-01"), ("resource", ARM)];

    let r = app_service(&emulator, Some(&secret), &ok).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut keys: Vec<&str> = r.body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access_token",
            "client_id",
            "expires_on",
            "resource",
            "token_type"
        ]
    );
    assert!(r.body["expires_on"].is_string());
    assert_eq!(r.body["client_id"], builtin::MI_SYSTEM_ASSIGNED_CLIENT_ID);
    assert_identity_token(
        &emulator,
        r.body["access_token"].as_str().unwrap(),
        builtin::MI_SYSTEM_ASSIGNED_CLIENT_ID,
        ARM,
    )
    .await;

    for (param, value) in [
        ("client_id", builtin::MI_USER_ASSIGNED_CLIENT_ID),
        ("mi_res_id", builtin::MI_USER_ASSIGNED_RESOURCE_ID),
        ("object_id", builtin::MI_USER_ASSIGNED_OBJECT_ID),
    ] {
        let r = app_service(&emulator, Some(&secret), &[ok[0], ok[1], (param, value)]).await;
        assert_eq!(r.status, 200, "{param}: {}", r.body);
        assert_eq!(r.body["client_id"], builtin::MI_USER_ASSIGNED_CLIENT_ID);
    }

    for header in [None, Some("wrong")] {
        let r = app_service(&emulator, header, &ok).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.body["statusCode"], 401);
        assert!(r.body["message"].is_string());
    }
    for params in [
        vec![("resource", ARM)],
        vec![("api-version", "2019-08-01")],
        vec![
            ok[0],
            ok[1],
            ("client_id", "11111111-2222-3333-4444-555555555555"),
        ],
        vec![ok[0], ("resource", "https://nothing.example")],
    ] {
        let r = app_service(&emulator, Some(&secret), &params).await;
        assert_eq!(r.status, 400, "{params:?}");
        assert_eq!(r.body["statusCode"], 400, "{params:?}");
        assert!(r.body["message"].is_string(), "{params:?}");
    }
    assert_eq!(emulator.request_count(Endpoint::AppService), 10);
}

#[tokio::test]
async fn azure_ml_checks_its_secret_and_answers_with_expires_in() {
    let tokens = tempfile::tempdir().unwrap();
    let emulator = start(tokens.path()).await;
    let vars = env(&emulator, ManagedIdentitySource::AzureMl);
    assert_eq!(
        vars["DEFAULT_IDENTITY_CLIENT_ID"],
        builtin::MI_SYSTEM_ASSIGNED_CLIENT_ID
    );
    let call = |secret: &str, params: &[(&str, &str)]| {
        http()
            .get(with_query(&vars["MSI_ENDPOINT"], params))
            .header("secret", secret)
            .send()
    };
    let ok = [("api-version", "2017-09-01"), ("resource", VAULT)];

    let r = Reply::from_response(call(&vars["MSI_SECRET"], &ok).await.unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["expires_in"], 86399, "a number: {}", r.body);
    assert!(r.body["expires_on"].is_string());
    assert_eq!(r.body["resource"], VAULT);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_identity_token(
        &emulator,
        r.body["access_token"].as_str().unwrap(),
        builtin::MI_SYSTEM_ASSIGNED_CLIENT_ID,
        VAULT,
    )
    .await;

    let ua = [
        ok[0],
        ok[1],
        ("clientid", builtin::MI_SECOND_USER_ASSIGNED_CLIENT_ID),
    ];
    let r = Reply::from_response(call(&vars["MSI_SECRET"], &ua).await.unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_identity_token(
        &emulator,
        r.body["access_token"].as_str().unwrap(),
        builtin::MI_SECOND_USER_ASSIGNED_CLIENT_ID,
        VAULT,
    )
    .await;

    let r = Reply::from_response(call("wrong", &ok).await.unwrap()).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "unauthorized");
    let unknown = [ok[0], ok[1], ("clientid", "11111111-2222-3333-4444-555555555555")];
    let r = Reply::from_response(call(&vars["MSI_SECRET"], &unknown).await.unwrap()).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["error"], "not_found");
    let r = Reply::from_response(call(&vars["MSI_SECRET"], &[ok[1]]).await.unwrap()).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "invalid_request");
    assert_eq!(emulator.request_count(Endpoint::AzureMl), 5);
}

#[tokio::test]
async fn service_fabric_serves_its_own_pinned_certificate() {
    let tokens = tempfile::tempdir().unwrap();
    let emulator = start(tokens.path()).await;
    let vars = env(&emulator, ManagedIdentitySource::ServiceFabric);
    let endpoint = &vars["IDENTITY_ENDPOINT"];
    assert!(endpoint.starts_with("https://127.0.0.1:"), "{endpoint}");
    let client = service_fabric_client(&emulator);
    let ok = [("api-version", "2019-07-01-preview"), ("resource", ARM)];

    let response = client
        .get(with_query(endpoint, &[ok[0], ok[1], ("xms_cc", "cp1")]))
        .header("Secret", &vars["IDENTITY_HEADER"])
        .send()
        .await
        .unwrap();
    let served = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .unwrap()
        .to_vec();
    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &served);
    let hex: String = sha1.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(vars["IDENTITY_SERVER_THUMBPRINT"], hex);

    let r = Reply::from_response(response).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["expires_on"].is_u64(), "a number: {}", r.body);
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["resource"], ARM);
    let claims = assert_identity_token(
        &emulator,
        r.body["access_token"].as_str().unwrap(),
        builtin::MI_SYSTEM_ASSIGNED_CLIENT_ID,
        ARM,
    )
    .await;
    assert_eq!(claims["xms_cc"], json!(["cp1"]));

    // Not signed by the emulator's CA: a client trusting only that CA refuses it.
    let ca_only = msal_test_support::client(&emulator).unwrap();
    assert!(ca_only.get(with_query(endpoint, &ok)).send().await.is_err());

    let sf_error = |r: &Reply, status: u16, code: &str| {
        assert_eq!(r.status.as_u16(), status, "{}", r.body);
        assert_eq!(r.body["error"]["code"], code, "{}", r.body);
        assert!(r.body["error"]["message"].is_string());
        assert!(uuid::Uuid::parse_str(r.body["error"]["correlationId"].as_str().unwrap()).is_ok());
    };
    let r = Reply::from_response(client.get(with_query(endpoint, &ok)).send().await.unwrap()).await;
    sf_error(&r, 401, "SecretHeaderNotFound");
    let r = Reply::from_response(
        client
            .get(with_query(endpoint, &[ok[0]]))
            .header("Secret", &vars["IDENTITY_HEADER"])
            .send()
            .await
            .unwrap(),
    )
    .await;
    sf_error(&r, 400, "ArgumentNullOrEmpty");
    let r = Reply::from_response(
        client
            .get(with_query(
                endpoint,
                &[
                    ok[0],
                    ok[1],
                    ("principalId", "11111111-2222-3333-4444-555555555555"),
                ],
            ))
            .header("Secret", &vars["IDENTITY_HEADER"])
            .send()
            .await
            .unwrap(),
    )
    .await;
    sf_error(&r, 404, "ManagedIdentityNotFound");
    // The refused TLS handshake never reached the handler.
    assert_eq!(emulator.request_count(Endpoint::ServiceFabric), 4);
}

fn arc_call(emulator: &Emulator, params: &[(&str, &str)], secret: Option<&str>) -> reqwest::RequestBuilder {
    let vars = env(emulator, ManagedIdentitySource::AzureArc);
    let mut request = http()
        .get(with_query(&vars["IDENTITY_ENDPOINT"], params))
        .header("Metadata", "true");
    if let Some(secret) = secret {
        request = request.header("Authorization", format!("Basic {secret}"));
    }
    request
}

/// The key file path a 401 challenge names.
fn realm(response: &reqwest::Response) -> std::path::PathBuf {
    assert_eq!(response.status(), 401);
    let value = response.headers()["www-authenticate"].to_str().unwrap();
    value
        .strip_prefix("Basic realm=")
        .unwrap_or_else(|| panic!("{value}"))
        .into()
}

#[tokio::test]
async fn azure_arc_challenge_and_key_file_round_trip() {
    let tokens = tempfile::tempdir().unwrap();
    let emulator = start(tokens.path()).await;
    let vars = env(&emulator, ManagedIdentitySource::AzureArc);
    assert_eq!(
        vars["IDENTITY_ENDPOINT"],
        format!("{}/metadata/identity/oauth2/token", vars["IMDS_ENDPOINT"])
    );
    let ok = [("api-version", "2020-06-01"), ("resource", ARM)];

    let challenge = arc_call(&emulator, &ok, None).send().await.unwrap();
    let key = realm(&challenge);
    assert_eq!(key.parent(), Some(tokens.path()));
    assert_eq!(key.extension().and_then(|e| e.to_str()), Some("key"));
    let secret = std::fs::read_to_string(&key).unwrap();
    assert!(secret.len() >= 32 && secret.bytes().all(|b| b.is_ascii_graphic()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    let r = Reply::from_response(arc_call(&emulator, &ok, Some(&secret)).send().await.unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["client_id"], builtin::MI_SYSTEM_ASSIGNED_CLIENT_ID);
    assert_eq!(r.body["expires_in"], "86399");
    assert!(r.body["expires_on"].is_string());
    assert_identity_token(
        &emulator,
        r.body["access_token"].as_str().unwrap(),
        builtin::MI_SYSTEM_ASSIGNED_CLIENT_ID,
        ARM,
    )
    .await;

    // Single use.
    let again = arc_call(&emulator, &ok, Some(&secret)).send().await.unwrap();
    realm(&again);
    // A wrong secret gets a new challenge.
    let wrong = arc_call(&emulator, &ok, Some("not-the-secret"))
        .send()
        .await
        .unwrap();
    realm(&wrong);

    // A user-assigned identity, named in the answer.
    let ua = [
        ok[0],
        ok[1],
        ("msi_res_id", builtin::MI_USER_ASSIGNED_RESOURCE_ID),
    ];
    let key = realm(&arc_call(&emulator, &ua, None).send().await.unwrap());
    let secret = std::fs::read_to_string(&key).unwrap();
    let r = Reply::from_response(arc_call(&emulator, &ua, Some(&secret)).send().await.unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["client_id"], builtin::MI_USER_ASSIGNED_CLIENT_ID);

    // Secrets expire after a minute of the emulator's clock.
    let key = realm(&arc_call(&emulator, &ok, None).send().await.unwrap());
    let secret = std::fs::read_to_string(&key).unwrap();
    emulator.advance_clock(Duration::from_secs(61));
    realm(&arc_call(&emulator, &ok, Some(&secret)).send().await.unwrap());

    let no_header = http()
        .get(with_query(&vars["IDENTITY_ENDPOINT"], &ok))
        .send()
        .await
        .unwrap();
    assert_eq!(no_header.status(), 400);
    assert_eq!(emulator.request_count(Endpoint::AzureArc), 9);
}

#[tokio::test]
async fn azure_arc_key_file_faults() {
    let tokens = tempfile::tempdir().unwrap();
    let emulator = start(tokens.path()).await;
    let ok = [("api-version", "2020-06-01"), ("resource", ARM)];
    let fault = |kind| Fault::new(kind).at(Endpoint::AzureArc).times(1);

    emulator.inject_fault(fault(FaultKind::ArcKeyMissing));
    let key = realm(&arc_call(&emulator, &ok, None).send().await.unwrap());
    assert_eq!(key.parent(), Some(tokens.path()));
    assert!(!key.exists());

    emulator.inject_fault(fault(FaultKind::ArcKeyTooLarge));
    let key = realm(&arc_call(&emulator, &ok, None).send().await.unwrap());
    assert_eq!(std::fs::metadata(&key).unwrap().len(), 5000);

    emulator.inject_fault(fault(FaultKind::ArcKeyOutsideDirectory));
    let key = realm(&arc_call(&emulator, &ok, None).send().await.unwrap());
    assert_ne!(key.parent(), Some(tokens.path()));
    assert!(key.exists());

    // Key file faults wait for a challenge: an authorized request does not use them up.
    emulator.inject_fault(fault(FaultKind::ArcKeyMissing));
    realm(&arc_call(&emulator, &ok, Some("whatever")).send().await.unwrap());
    assert_eq!(emulator.faults().len(), 1);
    emulator.clear_faults();

    // The wrong identity: the answer names another client id than asked
    // for (the challenge does not use the fault up).
    emulator.inject_fault(fault(FaultKind::WrongIdentity));
    let ua = [ok[0], ok[1], ("client_id", builtin::MI_USER_ASSIGNED_CLIENT_ID)];
    let key = realm(&arc_call(&emulator, &ua, None).send().await.unwrap());
    let secret = std::fs::read_to_string(&key).unwrap();
    let r = Reply::from_response(arc_call(&emulator, &ua, Some(&secret)).send().await.unwrap()).await;
    assert_eq!(r.status, 200);
    assert!(r.body["access_token"].is_string());
    assert_ne!(r.body["client_id"], builtin::MI_USER_ASSIGNED_CLIENT_ID);
    assert!(emulator.faults().is_empty());
}

#[tokio::test]
async fn cloud_shell_issues_the_signed_in_users_token() {
    let tokens = tempfile::tempdir().unwrap();
    let emulator = start(tokens.path()).await;
    let vars = env(&emulator, ManagedIdentitySource::CloudShell);
    assert_eq!(vars["AZUREPS_HOST_ENVIRONMENT"], "cloud-shell/1.0");
    let call = |form: &[(&str, &str)], metadata: bool| {
        let mut request = http().post(&vars["MSI_ENDPOINT"]).form(form);
        if metadata {
            request = request.header("Metadata", "true");
        }
        request.send()
    };

    let r = Reply::from_response(call(&[("resource", ARM)], true).await.unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["refresh_token"], "");
    assert_eq!(r.body["expires_in"], "3599");
    assert!(r.body["expires_on"].is_string() && r.body["not_before"].is_string());
    assert_eq!(r.body["resource"], ARM);
    assert_eq!(r.body["token_type"], "Bearer");
    let claims = verified_claims(&emulator, r.body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["aud"], ARM);
    assert_eq!(claims["idtyp"], "user");
    assert_eq!(claims["oid"], builtin::ALICE_OBJECT_ID);
    assert_eq!(claims["upn"], builtin::ALICE_UPN);
    assert_eq!(claims["appid"], builtin::CLOUD_SHELL_CLIENT_ID);

    for (form, metadata, error) in [
        (vec![("resource", ARM)], false, "invalid_request"),
        (vec![], true, "invalid_request"),
        (
            vec![
                ("resource", ARM),
                ("client_id", builtin::MI_USER_ASSIGNED_CLIENT_ID),
            ],
            true,
            "invalid_request",
        ),
        (
            vec![("resource", "https://nothing.example")],
            true,
            "invalid_resource",
        ),
    ] {
        let r = Reply::from_response(call(&form, metadata).await.unwrap()).await;
        assert_eq!(r.status, 400, "{form:?}");
        assert_eq!(r.body["error"], error, "{form:?}: {}", r.body);
    }
    let get = http()
        .get(&vars["MSI_ENDPOINT"])
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(emulator.request_count(Endpoint::CloudShell), 6);
}

#[tokio::test]
async fn faults_reach_managed_identity_endpoints_and_are_counted() {
    let tokens = tempfile::tempdir().unwrap();
    let emulator = start(tokens.path()).await;
    let ok = [("api-version", "2018-02-01"), ("resource", ARM)];

    // A 410 storm, as while the host is upgraded, then the token.
    emulator.inject_fault(Fault::new(FaultKind::Status(410)).at(Endpoint::Imds).times(3));
    for _ in 0..3 {
        let r = imds(&emulator, &ok).await;
        assert_eq!(r.status, 410);
        assert!(r.body["error"].is_string() && r.body["error_description"].is_string());
    }
    assert_eq!(imds(&emulator, &ok).await.status, 200);
    assert_eq!(emulator.request_count(Endpoint::Imds), 4);

    // Faults for one identity only.
    emulator.inject_fault(
        Fault::new(FaultKind::TooManyRequests { retry_after: Some(7) })
            .at(Endpoint::Imds)
            .for_client(builtin::MI_USER_ASSIGNED_CLIENT_ID)
            .times(1),
    );
    assert_eq!(imds(&emulator, &ok).await.status, 200);
    let r = imds(
        &emulator,
        &[ok[0], ok[1], ("client_id", builtin::MI_USER_ASSIGNED_CLIENT_ID)],
    )
    .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("7"));

    // App Service's shape for fault errors too.
    let secret = env(&emulator, ManagedIdentitySource::AppService)["IDENTITY_HEADER"].clone();
    let app_ok = [("api-version", "2019-08-01"), ("resource", ARM)];
    emulator.inject_fault(
        Fault::new(FaultKind::ServerError(503))
            .at(Endpoint::AppService)
            .times(1),
    );
    let r = app_service(&emulator, Some(&secret), &app_ok).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body["statusCode"], 503);

    // Not JSON, then JSON without a token.
    emulator.inject_fault(Fault::new(FaultKind::NotJson).at(Endpoint::AppService).times(1));
    emulator.inject_fault(
        Fault::new(FaultKind::MissingAccessToken)
            .at(Endpoint::AppService)
            .times(1),
    );
    let vars = env(&emulator, ManagedIdentitySource::AppService);
    let html = http()
        .get(with_query(&vars["IDENTITY_ENDPOINT"], &app_ok))
        .header("X-IDENTITY-HEADER", &secret)
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), 200);
    assert!(html.text().await.unwrap().starts_with("<!DOCTYPE html>"));
    let r = app_service(&emulator, Some(&secret), &app_ok).await;
    assert_eq!(r.status, 200);
    assert!(r.body.get("access_token").is_none(), "{}", r.body);
    assert_eq!(r.body["resource"], ARM);
    assert_eq!(emulator.request_count(Endpoint::AppService), 3);

    // A dropped connection, and latency.
    emulator.inject_fault(Fault::new(FaultKind::DropConnection).at(Endpoint::Imds).times(1));
    let outcome = match http()
        .get(imds_url(&emulator, &ok))
        .header("Metadata", "true")
        .send()
        .await
    {
        Ok(r) => r.bytes().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(outcome.is_err(), "the connection is dropped");
    emulator.inject_fault(
        Fault::new(FaultKind::Latency(Duration::from_millis(300)))
            .at(Endpoint::ImdsInstance)
            .times(1),
    );
    let host = env(&emulator, ManagedIdentitySource::Imds)["AZURE_POD_IDENTITY_AUTHORITY_HOST"].clone();
    let started = std::time::Instant::now();
    let location = http()
        .get(format!(
            "{host}/metadata/instance/compute/location?format=text&api-version=2021-01-01"
        ))
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(location.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    // The token endpoint is untouched by all of it.
    assert_eq!(emulator.request_count(Endpoint::Token), 0);
    assert!(emulator.faults().is_empty());
}

#[tokio::test]
async fn faults_for_managed_identity_through_the_admin_endpoint() {
    let tokens = tempfile::tempdir().unwrap();
    let emulator = start(tokens.path()).await;
    let admin = msal_test_support::client(&emulator).unwrap();
    let added = admin
        .post(format!("{}/_admin/faults", emulator.url()))
        .bearer_auth(emulator.admin_token())
        .body(json!({"kind": "status", "status": 404, "endpoint": "imds", "count": 1}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 200);
    let listed: Value = serde_json::from_slice(&added.bytes().await.unwrap()).unwrap();
    assert_eq!(listed["faults"][0]["endpoint"], "imds");
    let refused = admin
        .post(format!("{}/_admin/faults", emulator.url()))
        .bearer_auth(emulator.admin_token())
        .body(json!({"kind": "arc_key_missing", "endpoint": "imds"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);

    let ok = [("api-version", "2018-02-01"), ("resource", ARM)];
    assert_eq!(imds(&emulator, &ok).await.status, 404);
    assert_eq!(imds(&emulator, &ok).await.status, 200);
}

#[tokio::test]
async fn tokens_follow_the_emulator_clock_and_configured_lifetime() {
    let tokens = tempfile::tempdir().unwrap();
    let emulator = start_with(
        EmulatorConfig::default().with_managed_identity_token_lifetime(Duration::from_secs(3600)),
        tokens.path(),
    )
    .await;
    let ok = [("api-version", "2018-02-01"), ("resource", ARM)];
    let before = imds(&emulator, &ok).await;
    assert_eq!(before.body["expires_in"], "3599");
    emulator.advance_clock(Duration::from_secs(7200));
    let after = imds(&emulator, &ok).await;
    let claims = verified_claims(&emulator, after.body["access_token"].as_str().unwrap()).await;
    assert!(as_u64(&claims["iat"]) >= as_u64(&before.body["not_before"]) + 7200);
    assert_eq!(as_u64(&claims["exp"]), as_u64(&claims["iat"]) + 3600);
}

#[tokio::test]
async fn the_environment_map_points_at_each_listener() {
    let tokens = tempfile::tempdir().unwrap();
    let emulator = start(tokens.path()).await;
    let json = emulator.managed_identity_json();
    let mut ports = std::collections::HashSet::new();
    for source in ManagedIdentitySource::ALL {
        let vars = env(&emulator, source);
        assert!(!vars.is_empty(), "{}", source.name());
        assert_eq!(json[source.name()].as_object().unwrap().len(), vars.len());
        for (name, value) in &vars {
            assert_eq!(json[source.name()][name], value.as_str());
        }
        let url = emulator.managed_identity_url(source).unwrap();
        ports.insert(url::Url::parse(&url).unwrap().port().unwrap());
    }
    assert_eq!(ports.len(), 6, "one port per source");
    let expected: [(&str, &[&str]); 6] = [
        ("imds", &["AZURE_POD_IDENTITY_AUTHORITY_HOST"]),
        ("app_service", &["IDENTITY_ENDPOINT", "IDENTITY_HEADER"]),
        (
            "azure_ml",
            &["DEFAULT_IDENTITY_CLIENT_ID", "MSI_ENDPOINT", "MSI_SECRET"],
        ),
        (
            "service_fabric",
            &[
                "IDENTITY_ENDPOINT",
                "IDENTITY_HEADER",
                "IDENTITY_SERVER_THUMBPRINT",
            ],
        ),
        ("azure_arc", &["IDENTITY_ENDPOINT", "IMDS_ENDPOINT"]),
        ("cloud_shell", &["AZUREPS_HOST_ENVIRONMENT", "MSI_ENDPOINT"]),
    ];
    for (source, names) in expected {
        let mut got: Vec<&str> = json[source]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        got.sort_unstable();
        assert_eq!(got, names, "{source}");
    }
    assert_eq!(emulator.arc_token_directory(), Some(tokens.path()));
    emulator.shutdown().await;

    // Off by default: nothing to point at.
    let plain = msal_test_support::start().await.unwrap();
    assert!(plain.managed_identity_env(ManagedIdentitySource::Imds).is_empty());
    assert_eq!(plain.managed_identity_json(), json!({}));
    assert!(plain.service_fabric_cert_pem().is_none());
    assert!(plain.managed_identity_url(ManagedIdentitySource::Imds).is_none());
}

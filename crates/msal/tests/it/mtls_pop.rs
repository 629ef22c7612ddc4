//! mTLS proof of possession end to end: an app token requested over mutual
//! TLS from the emulator's mTLS listener, bound (`cnf.x5t#S256`) to the
//! daemon's certificate, accepted by the emulator's `/resource/mtls` only
//! over a connection presenting that certificate; cached apart from bearer
//! tokens, under the certificate's thumbprint.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use msal::mtls::{self, MtlsPop};
use msal::{
    ClientCertificate, ClientCredentialsOptions, ConfidentialClientApplication, TokenCache, TokenSource,
};
use msal_emulator::{Emulator, Endpoint, builtin};
use msal_test_support::{msal_http, start};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::GRAPH_DEFAULT;

fn claims(jwt: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

/// The daemon app, authenticating with its registered certificate.
fn app(emulator: &Emulator, cache: &TokenCache) -> ConfidentialClientApplication {
    let certificate =
        ClientCertificate::from_pem(builtin::DAEMON_PRIVATE_KEY_PEM, builtin::DAEMON_CERTIFICATE_PEM)
            .unwrap();
    ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .client_certificate(certificate)
        .http_client(msal_http(emulator).unwrap())
        .token_cache(cache.clone())
        .build()
        .unwrap()
}

/// mTLS settings pointing at the emulator's mTLS token endpoint.
fn settings(emulator: &Emulator) -> MtlsPop {
    MtlsPop::new()
        .token_endpoint(&format!(
            "{}/{}/oauth2/v2.0/token",
            emulator.mtls_url(),
            builtin::CONTOSO_TENANT_ID
        ))
        .unwrap()
        .add_root_certificates_pem(emulator.ca_cert_pem().as_bytes())
        .unwrap()
}

/// The daemon certificate's `x5t#S256`.
fn daemon_x5t() -> String {
    let body: String = builtin::DAEMON_CERTIFICATE_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    URL_SAFE_NO_PAD.encode(Sha256::digest(STANDARD.decode(body).unwrap()))
}

/// A client trusting the emulator and presenting `identity` (if any).
fn other_client(emulator: &Emulator, identity: Option<reqwest::Identity>) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(emulator.ca_cert_pem().as_bytes()).unwrap();
    let mut builder = reqwest::Client::builder().tls_certs_only([ca]);
    if let Some(identity) = identity {
        builder = builder.identity(identity);
    }
    builder.build().unwrap()
}

/// A fresh self-signed certificate, registered nowhere.
fn stranger() -> reqwest::Identity {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["stranger".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    reqwest::Identity::from_pem(format!("{}{}", key.serialize_pem(), cert.pem()).as_bytes()).unwrap()
}

#[tokio::test]
async fn an_mtls_token_works_only_over_its_certificate_and_is_cached_apart() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = app(&emulator, &cache);
    let settings = settings(&emulator);
    let options = ClientCredentialsOptions::default().mtls_pop(settings.clone());

    let token = app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &options)
        .await
        .unwrap();
    assert_eq!(token.token_source, TokenSource::IdentityProvider);
    assert_eq!(token.token_type, "mtls_pop");
    let at = token.access_token.expose_secret().to_owned();
    assert_eq!(claims(&at)["cnf"]["x5t#S256"], daemon_x5t());
    let issued = emulator.request_count(Endpoint::Token);

    // The resource, over a connection presenting the daemon's certificate.
    let resource = format!("{}/resource/mtls", emulator.mtls_url());
    let response = app
        .mtls_client(&settings)
        .unwrap()
        .get(&resource)
        .header("authorization", mtls::authorization_value(&at))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["x5t#S256"], daemon_x5t());
    assert_eq!(body["appid"], builtin::DAEMON_CLIENT_ID);

    // The same token over a connection with another certificate: refused.
    let response = other_client(&emulator, Some(stranger()))
        .get(&resource)
        .header("authorization", mtls::authorization_value(&at))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("another certificate"),
        "{body}"
    );

    // Without a certificate the handshake itself fails.
    let refused = other_client(&emulator, None)
        .get(&resource)
        .header("authorization", mtls::authorization_value(&at))
        .send()
        .await;
    assert!(refused.is_err(), "{refused:?}");

    // Served from the cache, under the certificate's thumbprint.
    let again = app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &options)
        .await
        .unwrap();
    assert_eq!(again.token_source, TokenSource::Cache);
    assert_eq!(again.access_token.expose_secret(), at);
    assert_eq!(again.token_type, "mtls_pop");
    assert_eq!(emulator.request_count(Endpoint::Token), issued);

    // A bearer request never gets the mTLS token: it asks the main endpoint.
    let bearer = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(bearer.token_source, TokenSource::IdentityProvider);
    assert_ne!(bearer.access_token.expose_secret(), at);
    assert!(claims(bearer.access_token.expose_secret()).get("cnf").is_none());
    assert_eq!(emulator.request_count(Endpoint::Token), issued + 1);
    // And the mTLS request still finds its own token.
    let third = app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &options)
        .await
        .unwrap();
    assert_eq!(third.access_token.expose_secret(), at);

    // A bearer token is refused by the mTLS resource, even over the right certificate.
    let response = app
        .mtls_client(&settings)
        .unwrap()
        .get(&resource)
        .header(
            "authorization",
            mtls::authorization_value(bearer.access_token.expose_secret()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn the_mtls_endpoint_takes_registered_certificates_and_mtls_pop_requests_only() {
    let emulator = start().await.unwrap();
    let token_path = format!("{}/oauth2/v2.0/token", builtin::CONTOSO_TENANT_ID);
    let form = [
        ("client_id", builtin::DAEMON_CLIENT_ID),
        ("grant_type", "client_credentials"),
        ("scope", GRAPH_DEFAULT),
        ("token_type", "mtls_pop"),
    ];
    // A certificate the app has not registered: Entra's AADSTS700027.
    let response = other_client(&emulator, Some(stranger()))
        .post(format!("{}/{token_path}", emulator.mtls_url()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"][0], 700027);
    // mtls_pop at the ordinary endpoint: refused.
    let response = other_client(&emulator, None)
        .post(format!("{}/{token_path}", emulator.url()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // A credential that cannot do mutual TLS: refused before any request.
    let secret_app = crate::common::daemon(
        &emulator,
        builtin::CONTOSO_TENANT_NAME,
        builtin::DAEMON_CLIENT_SECRET,
        &TokenCache::new(),
    );
    let before = emulator.total_requests();
    let options = ClientCredentialsOptions::default().mtls_pop(settings(&emulator));
    let err = secret_app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &options)
        .await
        .unwrap_err();
    assert!(matches!(err, msal::Error::InvalidArgument(_)), "{err:?}");
    assert_eq!(emulator.total_requests(), before);
}

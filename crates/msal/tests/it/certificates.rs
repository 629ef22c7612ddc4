//! Certificate and client assertion credentials over real HTTPS against the
//! emulator, which verifies every assertion (signature, audience, times, jti).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::common::GRAPH_DEFAULT;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use msal::{
    CertificatePassphrase, ClientAssertion, ClientCertificate, ClientCredentialsOptions,
    ConfidentialClientApplication, CredentialError, Error, TokenSource,
};
use msal_emulator::{Emulator, Endpoint, builtin};
use msal_test_support::{msal_http, start};
use serde_json::{Map, Value, json};

fn app(emulator: &Emulator, credential: impl Into<msal::ClientCredential>) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .client_credential(credential)
        .http_client(msal_http(emulator).unwrap())
        .build()
        .expect("app builds")
}

fn daemon_certificate() -> ClientCertificate {
    ClientCertificate::from_pem(builtin::DAEMON_PRIVATE_KEY_PEM, builtin::DAEMON_CERTIFICATE_PEM).unwrap()
}

/// The DER inside the first PEM block of `pem`.
fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

/// The PKCS#12 file MSAL Python users export: the daemon key and certificate.
fn daemon_pfx(passphrase: &str) -> Vec<u8> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let key = PrivateKey::from_der(&pem_der(builtin::DAEMON_PRIVATE_KEY_PEM)).unwrap();
    let cert = Certificate::from_der(&pem_der(builtin::DAEMON_CERTIFICATE_PEM)).unwrap();
    let mut store = KeyStore::new();
    store.add_entry(
        "daemon",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new("daemon", key, [cert])),
    );
    store.writer(passphrase).write().unwrap()
}

/// An RS256 assertion signed outside the library (as a workload identity
/// token service would), for the assertion-string and callback credentials.
fn external_assertion(audience: &str) -> String {
    let key = RsaKeyPair::from_pkcs8(&pem_der(builtin::DAEMON_PRIVATE_KEY_PEM)).unwrap();
    let cert = pem_der(builtin::DAEMON_CERTIFICATE_PEM);
    let x5t = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &cert);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = json!({"alg": "RS256", "typ": "JWT", "x5t": URL_SAFE_NO_PAD.encode(x5t)});
    let id = builtin::DAEMON_CLIENT_ID;
    let claims = json!({"aud": audience, "iss": id, "sub": id, "iat": now, "exp": now + 3600,
                        "jti": uuid::Uuid::new_v4().to_string()});
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let input = format!("{}.{}", enc(&header), enc(&claims));
    let mut sig = vec![0; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn token_endpoint(emulator: &Emulator) -> String {
    format!(
        "{}/{}/oauth2/v2.0/token",
        emulator.url(),
        builtin::CONTOSO_TENANT_ID
    )
}

/// The AADSTS code of a service error.
fn aadsts(err: &Error) -> i64 {
    match err {
        Error::Service(service) => {
            assert_eq!(service.error, "invalid_client", "{service:?}");
            service.error_codes.first().copied().unwrap_or_default()
        }
        other => panic!("expected a service error, got {other:?}"),
    }
}

fn forced() -> ClientCredentialsOptions {
    ClientCredentialsOptions::default().force_refresh(true)
}

#[tokio::test]
async fn pem_certificate_gets_tokens_with_ps256_and_with_rs256() {
    let emulator = start().await.unwrap();
    // PS256 + x5t#S256 (MSAL Python's public_certificate form), with x5c.
    let ps256 = app(&emulator, daemon_certificate().with_x5c(true));
    let token = ps256.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(token.token_source, TokenSource::IdentityProvider);

    // RS256 + x5t (MSAL Python's thumbprint form).
    let sha1 = daemon_certificate().sha1_thumbprint();
    assert_eq!(sha1, builtin::DAEMON_CERTIFICATE_SHA1_THUMBPRINT);
    let rs256 = ClientCertificate::from_pem_with_thumbprint(builtin::DAEMON_PRIVATE_KEY_PEM, &sha1).unwrap();
    let token = app(&emulator, rs256)
        .acquire_token_for_client([GRAPH_DEFAULT])
        .await
        .unwrap();
    assert_eq!(token.token_source, TokenSource::IdentityProvider);

    // The assertion is reused: a forced refresh 0 s later sends the same one,
    // which the emulator accepts (MSAL's reuse is not a replay).
    ps256
        .acquire_token_for_client_with([GRAPH_DEFAULT], &forced())
        .await
        .unwrap();
    assert_eq!(emulator.request_count(Endpoint::Token), 3);
}

#[tokio::test]
async fn pkcs12_with_passphrase_gets_a_token_and_a_wrong_passphrase_is_typed() {
    let emulator = start().await.unwrap();
    let pfx = daemon_pfx("pfx-Passw0rd");
    let wrong = ClientCertificate::from_pkcs12(&pfx, &CertificatePassphrase::new("nope")).unwrap_err();
    assert!(matches!(wrong, CredentialError::WrongPassphrase), "{wrong:?}");
    assert!(matches!(
        ClientCertificate::from_pkcs12(b"not a pfx", &CertificatePassphrase::new("x")),
        Err(CredentialError::InvalidPkcs12(_))
    ));
    let certificate =
        ClientCertificate::from_pkcs12(&pfx, &CertificatePassphrase::new("pfx-Passw0rd")).unwrap();
    assert_eq!(
        certificate.sha1_thumbprint(),
        builtin::DAEMON_CERTIFICATE_SHA1_THUMBPRINT
    );
    let token = app(&emulator, certificate)
        .acquire_token_for_client([GRAPH_DEFAULT])
        .await
        .unwrap();
    assert_eq!(token.token_source, TokenSource::IdentityProvider);
}

#[tokio::test]
async fn bad_pem_is_a_typed_error_that_shows_no_key_material() {
    let emulator = start().await.unwrap();
    // Some other RSA certificate: the federation server's.
    let other_cert = emulator.federation_certificate_pem();
    let mismatch = ClientCertificate::from_pem(builtin::DAEMON_PRIVATE_KEY_PEM, other_cert).unwrap_err();
    assert!(
        matches!(mismatch, CredentialError::KeyCertificateMismatch),
        "{mismatch:?}"
    );
    let damaged = builtin::DAEMON_PRIVATE_KEY_PEM.replace("-----END PRIVATE KEY-----", "");
    let err = ClientCertificate::from_pem(&damaged, builtin::DAEMON_CERTIFICATE_PEM).unwrap_err();
    assert!(matches!(err, CredentialError::InvalidPem(_)), "{err:?}");
    let body = builtin::DAEMON_PRIVATE_KEY_PEM.lines().nth(1).unwrap();
    assert!(!format!("{err} {err:?} {:?}", daemon_certificate()).contains(body));
    assert!(matches!(
        ClientCertificate::from_pem_with_thumbprint(builtin::DAEMON_PRIVATE_KEY_PEM, "abc"),
        Err(CredentialError::InvalidThumbprint)
    ));
}

#[tokio::test]
async fn assertion_string_and_callbacks_get_tokens() {
    let emulator = start().await.unwrap();
    let fixed = ClientAssertion::new(external_assertion(&token_endpoint(&emulator)));
    let token = app(&emulator, fixed)
        .acquire_token_for_client([GRAPH_DEFAULT])
        .await
        .unwrap();
    assert_eq!(token.token_source, TokenSource::IdentityProvider);

    // A callback (as reading a projected token file): called once, its
    // assertion reused by the next request.
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    let callback = ClientAssertion::from_callback(move |request| {
        seen.fetch_add(1, Ordering::SeqCst);
        assert_eq!(request.client_id, builtin::DAEMON_CLIENT_ID);
        Ok(external_assertion(&request.token_endpoint))
    });
    let app_cb = app(&emulator, callback);
    app_cb.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    app_cb
        .acquire_token_for_client_with([GRAPH_DEFAULT], &forced())
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // An async callback, asked every time when reuse is off.
    let calls = Arc::new(AtomicU32::new(0));
    let seen = calls.clone();
    let callback = ClientAssertion::from_async_callback(move |request| {
        seen.fetch_add(1, Ordering::SeqCst);
        async move { Ok(external_assertion(&request.token_endpoint)) }
    })
    .with_reuse_for(Duration::ZERO);
    let app_async = app(&emulator, callback);
    app_async.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    app_async
        .acquire_token_for_client_with([GRAPH_DEFAULT], &forced())
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // A failing callback is a typed error, and nothing is sent.
    let before = emulator.request_count(Endpoint::Token);
    let failing = ClientAssertion::from_callback(|_| Err("no token file at /var/run/secrets/token".into()));
    let err = app(&emulator, failing)
        .acquire_token_for_client([GRAPH_DEFAULT])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Credential(CredentialError::AssertionCallback(_))),
        "{err:?}"
    );
    assert_eq!(emulator.request_count(Endpoint::Token), before);
}

#[tokio::test]
async fn emulator_rejects_bad_signature_wrong_audience_expiry_and_replay() {
    let emulator = start().await.unwrap();

    // Bad signature: another key, presenting the registered certificate's thumbprint.
    let other = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pkcs8 = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&other).unwrap();
    let other_pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(pkcs8.as_ref())
    );
    let forged =
        ClientCertificate::from_pem_with_thumbprint(&other_pem, builtin::DAEMON_CERTIFICATE_SHA1_THUMBPRINT)
            .unwrap();
    let err = app(&emulator, forged)
        .acquire_token_for_client([GRAPH_DEFAULT])
        .await
        .unwrap_err();
    assert_eq!(aadsts(&err), 700027, "{err}");

    // Wrong audience (client_claims override the standard claims, as in MSAL Python).
    let mut claims = Map::new();
    claims.insert(
        "aud".into(),
        json!(format!(
            "{}/{}/oauth2/v2.0/token",
            emulator.url(),
            builtin::FABRIKAM_TENANT_ID
        )),
    );
    let err = app(&emulator, daemon_certificate().with_client_claims(claims))
        .acquire_token_for_client([GRAPH_DEFAULT])
        .await
        .unwrap_err();
    assert_eq!(aadsts(&err), 700023, "{err}");

    // Replay: a second, different assertion with a jti already used.
    let mut claims = Map::new();
    claims.insert("jti".into(), json!("fixed-jti-1"));
    let first = daemon_certificate().with_client_claims(claims.clone());
    app(&emulator, first)
        .acquire_token_for_client([GRAPH_DEFAULT])
        .await
        .unwrap();
    let second = daemon_certificate().with_client_claims(claims);
    let err = app(&emulator, second)
        .acquire_token_for_client_with([GRAPH_DEFAULT], &forced())
        .await
        .unwrap_err();
    assert_eq!(aadsts(&err), 700027, "{err}");
    assert!(err.to_string().contains("fixed-jti-1"), "{err}");

    // Expired: the library reuses its assertion, the emulator's clock moves
    // past its exp (600 s) and skew (300 s).
    let app_cert = app(&emulator, daemon_certificate());
    app_cert.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    emulator.advance_clock(Duration::from_secs(1000));
    let err = app_cert
        .acquire_token_for_client_with([GRAPH_DEFAULT], &forced())
        .await
        .unwrap_err();
    assert_eq!(aadsts(&err), 700024, "{err}");
    let Error::Service(service) = &err else {
        unreachable!()
    };
    assert!(
        service
            .error_description
            .as_deref()
            .unwrap_or("")
            .contains("valid time range")
    );
}

//! Interop with the real MSAL Python 1.39.0 and a certificate credential:
//! the emulator verifies the assertions a real peer signs (RS256 with `x5t`,
//! PS256 with `x5t#S256` and `x5c`, and from a PKCS#12 file).

use crate::common::GRAPH_DEFAULT;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use msal_emulator::{Endpoint, builtin};
use msal_test_support::{python, start};
use serde_json::{Value, json};

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

#[tokio::test]
async fn msal_python_with_a_certificate_gets_a_token_from_the_emulator() {
    let emulator = start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("daemon-key.pem");
    let cert_path = dir.path().join("daemon-cert.pem");
    let pfx_path = dir.path().join("daemon.pfx");
    std::fs::write(&key_path, builtin::DAEMON_PRIVATE_KEY_PEM).unwrap();
    std::fs::write(&cert_path, builtin::DAEMON_CERTIFICATE_PEM).unwrap();
    {
        use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
        let key = PrivateKey::from_der(&pem_der(builtin::DAEMON_PRIVATE_KEY_PEM)).unwrap();
        let cert = Certificate::from_der(&pem_der(builtin::DAEMON_CERTIFICATE_PEM)).unwrap();
        let mut store = KeyStore::new();
        store.add_entry(
            "daemon",
            KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new("daemon", key, [cert])),
        );
        std::fs::write(&pfx_path, store.writer("pfx-Passw0rd").write().unwrap()).unwrap();
    }
    let base = json!({
        "authority": emulator.authority(builtin::CONTOSO_TENANT_NAME),
        "client_id": builtin::DAEMON_CLIENT_ID,
        "scopes": [GRAPH_DEFAULT],
    });
    let with = |extra: Value| {
        let mut args = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        args
    };
    let forms = [
        with(json!({"key_path": key_path, "thumbprint": builtin::DAEMON_CERTIFICATE_SHA1_THUMBPRINT})),
        with(json!({"key_path": key_path, "cert_path": cert_path})),
        with(json!({"pfx_path": pfx_path, "passphrase": "pfx-Passw0rd"})),
    ];
    for args in &forms {
        let out = python::run(&emulator, "certificate.py", args, None)
            .await
            .unwrap();
        assert_eq!(out["error"], json!(null), "{args}: {out}");
        assert_eq!(out["token_source"], "identity_provider", "{out}");
        assert_eq!(out["access_token"].as_str().unwrap().split('.').count(), 3);
    }
    assert_eq!(emulator.request_count(Endpoint::Token), 3);

    // A thumbprint of no registered certificate: Entra's AADSTS700027.
    let args = with(json!({"key_path": key_path, "thumbprint": "00".repeat(20)}));
    let out = python::run(&emulator, "certificate.py", &args, None)
        .await
        .unwrap();
    assert_eq!(out["error"], "invalid_client", "{out}");
    assert_eq!(out["error_codes"], json!([700027]));
}

//! The real MSAL Python (1.39, from the venv `scripts/python-venv` makes)
//! signs in a managed and a federated user with
//! `acquire_token_by_username_password` against the emulator: user realm,
//! MEX, WS-Trust 1.3, the SAML 2.0 bearer grant and the password grant.
//! Skipped when no interpreter is found (`MSAL_PYTHON`, else the default venv).

mod common;

use std::path::PathBuf;

use msal_emulator::Endpoint;
use msal_emulator::builtin::*;
use serde_json::Value;

fn msal_python() -> Option<PathBuf> {
    let path = std::env::var_os("MSAL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/msal-python-venv/bin/python")
        });
    path.exists().then_some(path)
}

#[tokio::test]
async fn msal_python_signs_in_managed_and_federated_users() {
    let Some(python) = msal_python() else {
        eprintln!("skipped: no MSAL Python venv (run scripts/python-venv)");
        return;
    };
    let em = common::start().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    em.write_ca_cert(&ca).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/ropc.py");
    let port = em.port().to_string();
    // A blocking thread runs Python while the runtime keeps serving it.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .arg(port)
            .arg(PUBLIC_CLIENT_ID)
            .env("REQUESTS_CA_BUNDLE", &ca)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Value = serde_json::from_str(&stdout).unwrap();

    let managed = &results["managed"];
    assert_eq!(managed["access_token"], true, "{results}");
    assert_eq!(managed["refresh_token"], true);
    assert_eq!(managed["username"], ALICE_UPN);
    assert_eq!(managed["tid"], CONTOSO_TENANT_ID);
    assert_eq!(managed["accounts"], serde_json::json!([ALICE_UPN]));

    let federated = &results["federated"];
    assert_eq!(federated["access_token"], true, "{results}");
    assert_eq!(federated["username"], DAVE_UPN);
    assert_eq!(federated["tid"], WOODGROVE_TENANT_ID);
    assert_eq!(federated["accounts"], serde_json::json!([DAVE_UPN]));

    let fault = results["federated_wrong_password"]["exception"]
        .as_str()
        .unwrap_or("");
    assert!(fault.contains("FailedAuthentication"), "{results}");
    assert_eq!(
        results["managed_wrong_password"]["error_codes"],
        serde_json::json!([50126])
    );
    assert_eq!(em.request_count(Endpoint::UserRealm), 4);
    // MEX + RST for each federated attempt.
    assert_eq!(em.request_count(Endpoint::Federation), 4);
    em.shutdown().await;
}

//! `msal token --tenant`: one multi-tenant app registration, each tenant's
//! token from its own tenant and cached under its own realm; and a bad
//! `--instance-discovery-endpoint` refused as bad input before any request.

use std::process::Command;

use msal_emulator::{Directory, EmulatorConfig, Endpoint, builtin};
use serde_json::Value;

const MSAL: &str = env!("CARGO_BIN_EXE_msal");
const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";

#[tokio::test(flavor = "multi_thread")]
async fn one_registration_gets_each_tenants_token() {
    let mut directory = Directory::builtin();
    for app in directory
        .apps
        .iter_mut()
        .filter(|a| a.client_id == builtin::DAEMON_CLIENT_ID)
    {
        app.multi_tenant = true;
    }
    let emulator = msal_test_support::start_with(EmulatorConfig::new(directory))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, cache) = (dir.path().join("ca.pem"), dir.path().join("cache.json"));
    emulator.write_ca_cert(&ca).unwrap();
    let authority = emulator.authority(builtin::CONTOSO_TENANT_NAME);
    let token = |extra: &[&str]| {
        let mut command = Command::new(MSAL);
        command
            .args([
                "token",
                "--authority",
                &authority,
                "--client-id",
                builtin::DAEMON_CLIENT_ID,
            ])
            .args(["--scope", GRAPH_DEFAULT, "--json", "--cache"])
            .arg(&cache)
            .arg("--ca-cert")
            .arg(&ca)
            .args(extra)
            .env("MSAL_CLIENT_SECRET", builtin::DAEMON_CLIENT_SECRET)
            .env_remove("MSAL_INSTANCE_DISCOVERY_ENDPOINT");
        command.output().unwrap()
    };
    let json = |out: &std::process::Output| -> Value {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let run = |extra: Vec<String>| {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        token(&extra)
    };

    let fabrikam = json(&tokio::task::block_in_place(|| {
        run(vec!["--tenant".into(), builtin::FABRIKAM_TENANT_NAME.into()])
    }));
    assert_eq!(fabrikam["tenant_id"], builtin::FABRIKAM_TENANT_ID);
    let contoso = json(&tokio::task::block_in_place(|| run(vec![])));
    assert_eq!(contoso["tenant_id"], builtin::CONTOSO_TENANT_ID);
    assert_ne!(fabrikam["access_token"], contoso["access_token"]);
    // A new process serves each tenant's token from the file.
    let again = json(&tokio::task::block_in_place(|| {
        run(vec!["--tenant".into(), builtin::FABRIKAM_TENANT_ID.into()])
    }));
    assert_eq!(again["access_token"], fabrikam["access_token"]);
    assert_eq!(again["token_source"], "cache");
    assert_eq!(emulator.request_count(Endpoint::Token), 2);

    // A trusted discovery endpoint must be https: bad input, exit 2, no request.
    let bad = tokio::task::block_in_place(|| {
        run(vec![
            "--instance-discovery-endpoint".into(),
            "http://127.0.0.1/discovery".into(),
            "--force-refresh".into(),
        ])
    });
    assert_eq!(
        bad.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    // With --json the error is the JSON on stdout.
    let error: Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert!(
        error.to_string().contains("instance discovery endpoint"),
        "{error}"
    );
    assert_eq!(emulator.request_count(Endpoint::Token), 2);
}

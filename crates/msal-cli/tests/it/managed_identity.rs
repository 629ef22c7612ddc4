//! `msal token --managed-identity` on each host kind, reached through the
//! environment the emulator says such a host sets; the cache file it shares
//! with MSAL Python, both ways.

use std::path::Path;
use std::process::{Command, Output};

use msal_emulator::{
    DEFAULT_ARC_TOKEN_DIRECTORY, Emulator, EmulatorConfig, ManagedIdentitySource as Host, builtin,
};
use serde_json::{Value, json};

const MSAL: &str = env!("CARGO_BIN_EXE_msal");
const RESOURCE: &str = builtin::KEY_VAULT_RESOURCE;
/// What hosts set; the CLI under test sees only what a test gives it.
const HOST_VARIABLES: [&str; 9] = [
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZUREPS_HOST_ENVIRONMENT",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "DEFAULT_IDENTITY_CLIENT_ID",
];

async fn emulator() -> Emulator {
    // The CLI reads Azure Arc keys from the agent's own directory.
    let config = EmulatorConfig::default()
        .with_managed_identity(true)
        .with_arc_token_directory(DEFAULT_ARC_TOKEN_DIRECTORY.into());
    msal_test_support::start_with(config).await.unwrap()
}

/// Runs `msal` with `args` and host `source`'s environment, off the runtime
/// that serves the emulator.
async fn msal(emulator: &Emulator, source: Host, args: &[&str]) -> Output {
    let env = emulator.managed_identity_env(source);
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(MSAL);
        command.args(&args);
        for name in HOST_VARIABLES {
            command.env_remove(name);
        }
        command.envs(env).output().unwrap()
    })
    .await
    .unwrap()
}

fn json_of(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout} / {}", String::from_utf8_lossy(&out.stderr)))
}

fn token_args<'a>(cache: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "token",
        "--managed-identity",
        "--resource",
        RESOURCE,
        "--json",
        "--cache",
        cache.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args
}

#[tokio::test]
async fn each_host_gives_a_token_then_the_cache_file_serves_it() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    for source in Host::ALL {
        let shown = msal(
            &emulator,
            source,
            &["token", "--managed-identity", "--show-source"],
        )
        .await;
        assert_eq!(String::from_utf8_lossy(&shown.stdout).trim(), source.name());

        let cache = dir.path().join(format!("{}.json", source.name()));
        let first = msal(&emulator, source, &token_args(&cache, &[])).await;
        assert!(
            first.status.success(),
            "{source:?}: {}",
            String::from_utf8_lossy(&first.stderr)
        );
        let first = json_of(&first);
        assert_eq!(first["token_source"], "identity_provider", "{source:?}");
        let requests = emulator.request_count(source.endpoint());

        let again = json_of(&msal(&emulator, source, &token_args(&cache, &[])).await);
        assert_eq!(again["token_source"], "cache", "{source:?}");
        assert_eq!(again["access_token"], first["access_token"]);
        assert_eq!(emulator.request_count(source.endpoint()), requests, "{source:?}");

        // A claims challenge skips the cache.
        let claims = r#"{"access_token":{"nbf":{"essential":true,"value":"1"}}}"#;
        let challenged = json_of(&msal(&emulator, source, &token_args(&cache, &["--claims", claims])).await);
        assert_eq!(challenged["token_source"], "identity_provider", "{source:?}");
        assert!(emulator.request_count(source.endpoint()) > requests, "{source:?}");
    }
}

#[tokio::test]
async fn user_assigned_identities_and_the_hosts_that_refuse_them() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    for (source, flag, id, works) in [
        (
            Host::Imds,
            "--client-id",
            builtin::MI_USER_ASSIGNED_CLIENT_ID,
            true,
        ),
        (
            Host::AppService,
            "--resource-id",
            builtin::MI_USER_ASSIGNED_RESOURCE_ID,
            true,
        ),
        (
            Host::AzureArc,
            "--object-id",
            builtin::MI_USER_ASSIGNED_OBJECT_ID,
            true,
        ),
        (
            Host::ServiceFabric,
            "--client-id",
            builtin::MI_USER_ASSIGNED_CLIENT_ID,
            false,
        ),
        (
            Host::CloudShell,
            "--object-id",
            builtin::MI_USER_ASSIGNED_OBJECT_ID,
            false,
        ),
    ] {
        let cache = dir.path().join(format!("{}-user.json", source.name()));
        let before = emulator.request_count(source.endpoint());
        let out = msal(&emulator, source, &token_args(&cache, &[flag, id])).await;
        assert_eq!(
            out.status.success(),
            works,
            "{source:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if works {
            assert_eq!(json_of(&out)["token_source"], "identity_provider");
        } else {
            let error = json_of(&out);
            assert!(
                error.to_string().contains("does not support a user-assigned"),
                "{source:?}: {error}"
            );
            assert_eq!(emulator.request_count(source.endpoint()), before);
        }
    }
}

#[tokio::test]
async fn the_cli_and_msal_python_serve_each_others_managed_identity_tokens() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let source = Host::Imds;
    let env = emulator.managed_identity_env(source);
    let identity = json!({"ManagedIdentityIdType": "ClientId", "Id": builtin::MI_USER_ASSIGNED_CLIENT_ID});
    let extra = ["--client-id", builtin::MI_USER_ASSIGNED_CLIENT_ID];

    // MSAL Python writes; `msal token` reads.
    let python_cache = dir.path().join("python.json");
    let args = json!({"resource": RESOURCE, "cache_path": python_cache, "identity": identity});
    let theirs = msal_test_support::python::run_with_env(&emulator, "managed_identity.py", &args, None, &env)
        .await
        .unwrap();
    assert_eq!(theirs["token_source"], "identity_provider", "{theirs}");
    let requests = emulator.request_count(source.endpoint());
    let ours = json_of(&msal(&emulator, source, &token_args(&python_cache, &extra)).await);
    assert_eq!(ours["token_source"], "cache");
    assert_eq!(ours["access_token"], theirs["access_token"]);

    // `msal token` writes; MSAL Python reads.
    let cli_cache = dir.path().join("cli.json");
    let ours = json_of(&msal(&emulator, source, &token_args(&cli_cache, &extra)).await);
    assert_eq!(ours["token_source"], "identity_provider");
    let args = json!({"resource": RESOURCE, "cache_path": cli_cache, "identity": identity});
    let theirs = msal_test_support::python::run_with_env(&emulator, "managed_identity.py", &args, None, &env)
        .await
        .unwrap();
    assert_eq!(theirs["token_source"], "cache", "{theirs}");
    assert_eq!(theirs["access_token"], ours["access_token"]);
    assert_eq!(emulator.request_count(source.endpoint()), requests + 1);
}

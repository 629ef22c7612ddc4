//! The `msal` binary end to end: the emulator as a separate process, tokens
//! through the CLI with a cache file, and the CLI's public contract.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

const MSAL: &str = env!("CARGO_BIN_EXE_msal");
const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";

/// `msal emulator` in the background, killed on drop.
struct EmulatorProcess {
    child: Child,
    url: String,
    ca_cert: String,
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_emulator(cert_out: &Path) -> EmulatorProcess {
    let mut child = Command::new(MSAL)
        .args(["emulator", "--port", "0", "--cert-out"])
        .arg(cert_out)
        .stdout(Stdio::piped())
        .spawn()
        .expect("msal emulator starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("ready line");
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    let url = ready["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let ca_cert = ready["ca_cert"].as_str().expect("ca_cert").to_owned();
    assert_eq!(Path::new(&ca_cert), cert_out);
    assert!(
        std::fs::read_to_string(&ca_cert)
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );
    EmulatorProcess { child, url, ca_cert }
}

fn defaults() -> Value {
    let out = Command::new(MSAL)
        .args(["emulator", "defaults"])
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).expect("defaults are JSON")
}

/// A built-in app granted roles on Microsoft Graph: (client id, secret), as a newcomer would find it.
fn daemon_app(directory: &Value) -> (String, String) {
    let app = directory["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["app_permissions"]
                .to_string()
                .contains("https://graph.microsoft.com")
        })
        .expect("an app with Graph permissions");
    let secret = app["secrets"][0].as_str().unwrap().to_owned();
    (app["client_id"].as_str().unwrap().to_owned(), secret)
}

fn token(emulator: &EmulatorProcess, client_id: &str, secret: &str, cache: &Path, extra: &[&str]) -> Output {
    Command::new(MSAL)
        .args(["token", "--authority", &format!("{}/contoso", emulator.url)])
        .args([
            "--client-id",
            client_id,
            "--scope",
            GRAPH_DEFAULT,
            "--ca-cert",
            &emulator.ca_cert,
        ])
        .arg("--cache")
        .arg(cache)
        .args(extra)
        .env("MSAL_CLIENT_SECRET", secret)
        .output()
        .unwrap()
}

#[test]
fn token_twice_through_the_cli_second_from_the_cache_file() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(&dir.path().join("ca.pem"));
    let (client_id, secret) = daemon_app(&defaults());
    let cache = dir.path().join("msal_cache.json");

    let first = token(&emulator, &client_id, &secret, &cache, &["--json"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let first: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(first["token_source"], "identity_provider");
    assert_eq!(first["token_type"], "Bearer");
    assert!(first["expires_in"].as_u64().unwrap() > 3000);

    let second = token(&emulator, &client_id, &secret, &cache, &[]);
    assert!(second.status.success());
    // Without --json only the token is printed, the same one, from the cache file.
    assert_eq!(
        String::from_utf8_lossy(&second.stdout).trim(),
        first["access_token"].as_str().unwrap()
    );
    let third: Value =
        serde_json::from_slice(&token(&emulator, &client_id, &secret, &cache, &["--json"]).stdout).unwrap();
    assert_eq!(third["token_source"], "cache");

    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    assert_eq!(saved["AccessToken"].as_object().unwrap().len(), 1);
}

#[test]
fn errors_are_typed_and_a_malformed_cache_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(&dir.path().join("ca.pem"));
    let (client_id, _) = daemon_app(&defaults());
    let cache = dir.path().join("cache.json");

    let wrong = token(&emulator, &client_id, "wrong-secret", &cache, &["--json"]);
    assert_eq!(wrong.status.code(), Some(1));
    let error: Value = serde_json::from_slice(&wrong.stdout).unwrap();
    assert_eq!(error["error"], "invalid_client");
    assert_eq!(error["error_codes"][0], 7000215);
    assert!(!String::from_utf8_lossy(&wrong.stdout).contains("wrong-secret"));

    std::fs::write(&cache, "{ this is not a cache").unwrap();
    let out = token(&emulator, &client_id, "s", &cache, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("malformed token cache"));
    assert_eq!(std::fs::read_to_string(&cache).unwrap(), "{ this is not a cache");

    let no_secret = Command::new(MSAL)
        .args([
            "token",
            "--authority",
            &format!("{}/contoso", emulator.url),
            "--client-id",
            &client_id,
        ])
        .args(["--scope", GRAPH_DEFAULT, "--ca-cert", &emulator.ca_cert])
        .env_remove("MSAL_CLIENT_SECRET")
        .output()
        .unwrap();
    assert_eq!(no_secret.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_secret.stderr).contains("MSAL_CLIENT_SECRET"));

    // A secret is never accepted as a flag: it would show in `ps`.
    let flag = Command::new(MSAL)
        .args([
            "token",
            "--authority",
            "https://x/y",
            "--client-id",
            "c",
            "--scope",
            "s",
        ])
        .args(["--client-secret", "visible"])
        .output()
        .unwrap();
    assert!(!flag.status.success());

    let http = Command::new(MSAL)
        .args([
            "token",
            "--authority",
            "http://127.0.0.1:1/contoso",
            "--client-id",
            "c",
            "--scope",
            "s",
        ])
        .env("MSAL_CLIENT_SECRET", "s")
        .output()
        .unwrap();
    assert_eq!(http.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&http.stderr).contains("only https"));
}

#[test]
fn secret_from_a_file_works() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(&dir.path().join("ca.pem"));
    let (client_id, secret) = daemon_app(&defaults());
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let out = Command::new(MSAL)
        .args([
            "token",
            "--authority",
            &format!("{}/contoso.onmicrosoft.com", emulator.url),
        ])
        .args([
            "--client-id",
            &client_id,
            "--scope",
            GRAPH_DEFAULT,
            "--ca-cert",
            &emulator.ca_cert,
        ])
        .arg("--client-secret-file")
        .arg(&secret_file)
        .env_remove("MSAL_CLIENT_SECRET")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim().split('.').count(), 3);
}

#[test]
fn defaults_list_tenants_apps_and_users() {
    let directory = defaults();
    let tenants = directory["tenants"].as_array().unwrap();
    assert!(
        tenants
            .iter()
            .any(|t| t.to_string().contains("contoso.onmicrosoft.com"))
    );
    assert!(
        directory["users"]
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["password"].is_string())
    );
    assert!(directory["apps"].as_array().unwrap().len() >= 3);
}

#[test]
fn demo_shows_the_second_token_from_the_cache() {
    let out = Command::new(MSAL).arg("demo").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("first call") && text.contains("from identity_provider"),
        "{text}"
    );
    assert!(
        text.contains("second call") && text.contains("from cache, expires in"),
        "{text}"
    );
    assert!(text.contains("0 request(s) to the token endpoint"), "{text}");
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["token", "--help"],
        &["emulator", "--help"],
        &["demo", "--help"],
        &["login", "--help"],
        &["accounts", "--help"],
        &["logout", "--help"],
    ] {
        let out = Command::new(MSAL).args(args).output().unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
}

//! The `msal` binary end to end: the emulator as a separate process, tokens
//! through the CLI with a cache file, and the CLI's public contract.

use std::io::{BufRead, BufReader, Read, Write};
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
    start_emulator_with_ready_line(cert_out).0
}

/// [`start_emulator`], also returning the ready line. The Azure Arc token
/// directory is a sibling of `cert_out`, not the machine's agent directory.
fn start_emulator_with_ready_line(cert_out: &Path) -> (EmulatorProcess, Value) {
    start_emulator_with(cert_out, &[])
}

/// [`start_emulator_with_ready_line`] with more arguments.
fn start_emulator_with(cert_out: &Path, extra: &[&str]) -> (EmulatorProcess, Value) {
    let arc_tokens = cert_out.with_file_name("arc-tokens");
    let mut child = Command::new(MSAL)
        .args(["emulator", "--port", "0", "--cert-out"])
        .arg(cert_out)
        .arg("--arc-token-directory")
        .arg(&arc_tokens)
        .args(extra)
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
    (EmulatorProcess { child, url, ca_cert }, ready)
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
    crate::isolated(cache.parent().unwrap())
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

    let no_secret = crate::isolated(dir.path())
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

    let http = crate::isolated(dir.path())
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
fn identity_provider_text_reaches_the_terminal_escaped_and_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(&dir.path().join("ca.pem"));
    // The emulator echoes an unknown client id in its error description,
    // as Entra does: an ANSI sequence in it must not reach the terminal raw.
    let hostile = "\u{1b}[2J\u{1b}]0;owned\u{7}evil";
    let out = token(&emulator, hostile, "s", &dir.path().join("c.json"), &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AADSTS700016"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
        "{stderr:?}"
    );
    assert!(stderr.contains("\\u{1b}[2J"), "escaped, still readable: {stderr}");

    // A reader that goes away at once: no panic, exit 0.
    let mut child = Command::new(MSAL)
        .args(["emulator", "defaults"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn decode_shows_a_tokens_claims_and_completions_are_printed() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(&dir.path().join("ca.pem"));
    let (client_id, secret) = daemon_app(&defaults());
    let out = token(
        &emulator,
        &client_id,
        &secret,
        &dir.path().join("c.json"),
        &["--json"],
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    let access_token = result["access_token"].as_str().unwrap();
    // From an argument, and from stdin.
    let decoded = Command::new(MSAL)
        .args(["decode", access_token])
        .output()
        .unwrap();
    assert!(decoded.status.success());
    let decoded: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(decoded["header"]["alg"], "RS256");
    assert_eq!(decoded["claims"]["appid"], client_id.as_str());
    assert_eq!(decoded["signature"], "not verified");
    let mut piped = Command::new(MSAL)
        .arg("decode")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    piped
        .stdin
        .take()
        .unwrap()
        .write_all(access_token.as_bytes())
        .unwrap();
    let from_stdin: Value = serde_json::from_slice(&piped.wait_with_output().unwrap().stdout).unwrap();
    assert_eq!(from_stdin, decoded);
    let bad = Command::new(MSAL)
        .args(["decode", "not-a-token"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a JWT"));

    let completions = Command::new(MSAL).args(["completions", "bash"]).output().unwrap();
    assert!(completions.status.success());
    let script = String::from_utf8_lossy(&completions.stdout);
    assert!(
        script.contains("_msal()") && script.contains("complete -F _msal"),
        "{script}"
    );
    assert!(script.contains("login") && script.contains("--managed-identity"));
}

/// `msal emulator --state-dir`: a restarted emulator has the same CA and
/// redeems the refresh token the last run issued.
#[test]
fn the_emulator_state_directory_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state_arg = state.to_str().unwrap();
    let cache = dir.path().join("cache.json");
    let login = |emulator: &EmulatorProcess| {
        Command::new(MSAL)
            .env("MSAL_PASSWORD", "Alice-P@ssw0rd")
            .args([
                "login",
                "--username",
                "alice@contoso.onmicrosoft.com",
                "--authority",
            ])
            .arg(format!("{}/contoso", emulator.url))
            .args([
                "--client-id",
                "c78dd7b7-8e8b-4105-8d0d-b50d7ea15ccb",
                "--scope",
                "User.Read",
                "--ca-cert",
            ])
            .arg(&emulator.ca_cert)
            .arg("--cache")
            .arg(&cache)
            .output()
            .unwrap()
    };
    let (first, _) = start_emulator_with(&dir.path().join("ca1.pem"), &["--state-dir", state_arg]);
    let signed_in = login(&first);
    assert!(
        signed_in.status.success(),
        "{}",
        String::from_utf8_lossy(&signed_in.stderr)
    );
    let ca = std::fs::read_to_string(&first.ca_cert).unwrap();
    // Ctrl-C: the emulator saves its state as it stops.
    let interrupted = Command::new("kill")
        .args(["-INT", &first.child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let mut first = first;
    let _ = first.child.wait();

    let (second, _) = start_emulator_with(&dir.path().join("ca2.pem"), &["--state-dir", state_arg]);
    assert_eq!(
        std::fs::read_to_string(&second.ca_cert).unwrap(),
        ca,
        "the same CA"
    );
    let refreshed = Command::new(MSAL)
        .args([
            "token",
            "--account",
            "alice@contoso.onmicrosoft.com",
            "--scope",
            "User.Read",
            "--json",
        ])
        .args(["--force-refresh", "--authority"])
        .arg(format!("{}/contoso", second.url))
        .arg("--cache")
        .arg(&cache)
        .output()
        .unwrap();
    assert!(
        refreshed.status.success(),
        "{}",
        String::from_utf8_lossy(&refreshed.stderr)
    );
    let result: Value = serde_json::from_slice(&refreshed.stdout).unwrap();
    assert_eq!(
        result["token_source"], "identity_provider",
        "the old refresh token was redeemed"
    );
}

/// Exit codes: 4 when the identity provider cannot be reached, with a hint.
#[test]
fn an_unreachable_identity_provider_is_exit_code_4() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let home = tempfile::tempdir().unwrap();
    let out = crate::isolated(home.path())
        .args([
            "token",
            "--authority",
            &format!("https://127.0.0.1:{port}/contoso"),
        ])
        .args(["--client-id", "c", "--scope", "s", "--no-instance-discovery"])
        .env("MSAL_CLIENT_SECRET", "s")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("reachable"));
}

#[test]
fn secret_from_a_file_works() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = start_emulator(&dir.path().join("ca.pem"));
    let (client_id, secret) = daemon_app(&defaults());
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let out = crate::isolated(dir.path())
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
fn ready_line_has_each_managed_identity_hosts_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (_emulator, ready) = start_emulator_with_ready_line(&dir.path().join("ca.pem"));
    let admin_token = ready["admin_token"].as_str().unwrap();
    assert!(admin_token.len() >= 32 && admin_token.bytes().all(|b| b.is_ascii_hexdigit()));
    // The host names to map to 127.0.0.1: clouds, B2C, CIAM, AD FS, identity provider.
    let hosts: Vec<&str> = ready["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h.as_str())
        .collect();
    for host in [
        "localhost",
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "fabrikamb2c.b2clogin.com",
        "contosociam.ciamlogin.com",
        "adfs.woodgrove.com",
        "social.emulator.test",
    ] {
        assert!(hosts.contains(&host), "{host} in {hosts:?}");
    }
    let sf_cert = ready["service_fabric_ca_cert"]
        .as_str()
        .expect("service_fabric_ca_cert");
    assert_eq!(Path::new(sf_cert), dir.path().join("ca.service-fabric.pem"));
    let pem = std::fs::read_to_string(sf_cert).unwrap();
    assert!(pem.contains("BEGIN CERTIFICATE"));
    assert_ne!(pem, std::fs::read_to_string(dir.path().join("ca.pem")).unwrap());
    assert_eq!(
        ready["arc_token_directory"].as_str().map(Path::new),
        Some(dir.path().join("arc-tokens").as_path())
    );
    assert!(dir.path().join("arc-tokens").is_dir());

    let mi = &ready["managed_identity"];
    let http = |key: &str, var: &str| {
        let value = mi[key][var]
            .as_str()
            .unwrap_or_else(|| panic!("{key}.{var} in {mi}"));
        assert!(value.starts_with("http://127.0.0.1:"), "{key}.{var} = {value}");
    };
    http("imds", "AZURE_POD_IDENTITY_AUTHORITY_HOST");
    http("app_service", "IDENTITY_ENDPOINT");
    http("azure_ml", "MSI_ENDPOINT");
    http("azure_arc", "IDENTITY_ENDPOINT");
    http("azure_arc", "IMDS_ENDPOINT");
    http("cloud_shell", "MSI_ENDPOINT");
    let sf = &mi["service_fabric"];
    assert!(
        sf["IDENTITY_ENDPOINT"]
            .as_str()
            .unwrap()
            .starts_with("https://127.0.0.1:"),
        "{sf}"
    );
    assert_eq!(
        sf["IDENTITY_SERVER_THUMBPRINT"].as_str().unwrap().len(),
        40,
        "{sf}"
    );
    for (key, var) in [
        ("app_service", "IDENTITY_HEADER"),
        ("azure_ml", "MSI_SECRET"),
        ("service_fabric", "IDENTITY_HEADER"),
    ] {
        assert!(
            !mi[key][var].as_str().unwrap_or("").is_empty(),
            "{key}.{var} in {mi}"
        );
    }
    assert_eq!(mi["cloud_shell"]["AZUREPS_HOST_ENVIRONMENT"], "cloud-shell/1.0");
    let defaults = defaults();
    let system_assigned = defaults["managed_identities"]
        .as_array()
        .expect("defaults list the managed identities")
        .iter()
        .find(|m| m["user_assigned"] == false)
        .expect("a system-assigned identity");
    assert_eq!(
        mi["azure_ml"]["DEFAULT_IDENTITY_CLIENT_ID"],
        system_assigned["client_id"]
    );

    // The IMDS endpoint answers with a token for the system-assigned identity.
    let host = mi["imds"]["AZURE_POD_IDENTITY_AUTHORITY_HOST"].as_str().unwrap();
    let authority = host.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    write!(
        stream,
        "GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/ HTTP/1.1\r\n\
         Host: {authority}\r\nMetadata: true\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body: Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["client_id"], system_assigned["client_id"]);
    assert!(body["access_token"].is_string());
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
        &["emulator", "schema", "--help"],
        &["emulator", "admin", "--help"],
        &["emulator", "admin", "fault", "add", "--help"],
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

/// `msal emulator admin ARGS` against `emulator`, with the admin token in
/// the environment (as scripts pass it) and `env` set.
fn admin(emulator: &EmulatorProcess, token: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(MSAL);
    command
        .args([
            "emulator",
            "admin",
            "--url",
            &emulator.url,
            "--ca-cert",
            &emulator.ca_cert,
        ])
        .args(args)
        .env_remove("MSAL_EMULATOR_ADMIN_TOKEN")
        .env_remove("MSAL_PASSWORD")
        .env_remove("MSAL_CLIENT_SECRET");
    if !token.is_empty() {
        command.env("MSAL_EMULATOR_ADMIN_TOKEN", token);
    }
    command.envs(env.iter().copied());
    command.output().unwrap()
}

fn stdout_json(out: &Output) -> Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn emulator_admin_drives_a_running_emulator() {
    let dir = tempfile::tempdir().unwrap();
    let (emulator, ready) = start_emulator_with_ready_line(&dir.path().join("ca.pem"));
    let token = ready["admin_token"].as_str().unwrap().to_owned();
    let cache = dir.path().join("cache.json");

    // An app from a file, with a Graph permission; the CLI then gets its token.
    let app_file = dir.path().join("app.json");
    std::fs::write(
        &app_file,
        serde_json::json!({
            "client_id": "a1b2c3d4-0000-4000-8000-00000000c11e",
            "tenant": "contoso",
            "secrets": ["cli-added-secret"],
            "app_permissions": [{"resource": "https://graph.microsoft.com", "roles": ["User.Read.All"]}],
        })
        .to_string(),
    )
    .unwrap();
    let added = stdout_json(&admin(
        &emulator,
        &token,
        &["add-app", "--file", app_file.to_str().unwrap()],
        &[],
    ));
    assert_eq!(added["client_id"], "a1b2c3d4-0000-4000-8000-00000000c11e");
    let got = token_with(
        &emulator,
        "a1b2c3d4-0000-4000-8000-00000000c11e",
        "cli-added-secret",
        &cache,
    );
    assert!(got.status.success(), "{}", String::from_utf8_lossy(&got.stderr));

    // A user from flags, the password from the environment; a foreign UPN
    // domain is refused naming both domains (exit 2).
    let user_flags = [
        "add-user",
        "--upn",
        "zoe@contoso.onmicrosoft.com",
        "--tenant",
        "contoso",
    ];
    let added = stdout_json(&admin(
        &emulator,
        &token,
        &user_flags,
        &[("MSAL_PASSWORD", "Zoe-P@ssw0rd")],
    ));
    assert_eq!(added["upn"], "zoe@contoso.onmicrosoft.com");
    let no_password = admin(&emulator, &token, &user_flags, &[]);
    assert_eq!(no_password.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_password.stderr).contains("MSAL_PASSWORD"));
    let foreign = admin(
        &emulator,
        &token,
        &[
            "add-user",
            "--upn",
            "yan@fabrikam.onmicrosoft.com",
            "--tenant",
            "contoso",
        ],
        &[("MSAL_PASSWORD", "Yan-P@ssw0rd")],
    );
    assert_eq!(foreign.status.code(), Some(2));
    let why = String::from_utf8_lossy(&foreign.stderr);
    assert!(
        why.contains("fabrikam.onmicrosoft.com") && why.contains("contoso.onmicrosoft.com"),
        "{why}"
    );

    let directory = stdout_json(&admin(&emulator, &token, &["directory"], &[]));
    let users = directory["users"].as_array().unwrap();
    assert!(users.iter().any(|u| u["upn"] == "zoe@contoso.onmicrosoft.com"));
    assert!(!users.iter().any(|u| u["upn"] == "yan@fabrikam.onmicrosoft.com"));

    // Faults: token requests fail with 503 (exit 4: msal's one retry
    // fails too) until cleared.
    let fault = ["fault", "add", "--kind", "server_error", "--status", "503"];
    let faults = stdout_json(&admin(&emulator, &token, &fault, &[]));
    assert_eq!(faults["faults"][0]["status"], 503);
    let failed = token_with(
        &emulator,
        "a1b2c3d4-0000-4000-8000-00000000c11e",
        "cli-added-secret",
        &dir.path().join("other.json"),
    );
    assert_eq!(
        failed.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    stdout_json(&admin(
        &emulator,
        &token,
        &["fault", "add", "--json", r#"{"kind": "not_json"}"#],
        &[],
    ));
    let cleared = stdout_json(&admin(&emulator, &token, &["fault", "clear"], &[]));
    assert_eq!(cleared["faults"], serde_json::json!([]));

    let revoked = stdout_json(&admin(
        &emulator,
        &token,
        &["revoke", "--user", "alice@contoso.onmicrosoft.com"],
        &[],
    ));
    assert_eq!(revoked["upn"], "alice@contoso.onmicrosoft.com");
    let nobody = admin(
        &emulator,
        &token,
        &["revoke", "--user", "nobody@contoso.onmicrosoft.com"],
        &[],
    );
    assert_eq!(nobody.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("no user named"));

    let before = stdout_json(&admin(
        &emulator,
        &token,
        &["advance-clock", "--seconds", "1"],
        &[],
    ));
    let after = stdout_json(&admin(
        &emulator,
        &token,
        &["advance-clock", "--seconds", "3600"],
        &[],
    ));
    assert!(after["now"].as_u64().unwrap() >= before["now"].as_u64().unwrap() + 3600);
    let zero = admin(&emulator, &token, &["advance-clock", "--seconds", "0"], &[]);
    assert_eq!(zero.status.code(), Some(2));

    let rolled = stdout_json(&admin(&emulator, &token, &["roll-keys"], &[]));
    assert_eq!(rolled["published"].as_array().unwrap().len(), 3);

    // The token from a file works too; without one, or with a wrong one,
    // nothing is done (exit 2); an unreachable emulator is exit 4.
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let from_file = admin(
        &emulator,
        "",
        &["--admin-token-file", token_file.to_str().unwrap(), "directory"],
        &[],
    );
    assert!(
        from_file.status.success(),
        "{}",
        String::from_utf8_lossy(&from_file.stderr)
    );
    let missing = admin(&emulator, "", &["directory"], &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("MSAL_EMULATOR_ADMIN_TOKEN"));
    let wrong = admin(&emulator, "not-the-token", &["roll-keys"], &[]);
    assert_eq!(wrong.status.code(), Some(2));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gone = Command::new(MSAL)
        .args(["emulator", "admin", "--url", &format!("https://127.0.0.1:{port}")])
        .args(["--ca-cert", &emulator.ca_cert, "directory"])
        .env("MSAL_EMULATOR_ADMIN_TOKEN", &token)
        .output()
        .unwrap();
    assert_eq!(
        gone.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );
}

/// `msal token` for an app with a secret, against `emulator`.
fn token_with(emulator: &EmulatorProcess, client_id: &str, secret: &str, cache: &Path) -> Output {
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
        .env("MSAL_CLIENT_SECRET", secret)
        .output()
        .unwrap()
}

#[test]
fn config_schema_is_in_sync_and_validates_the_defaults() {
    let out = Command::new(MSAL).args(["emulator", "schema"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/emulator-config.schema.json");
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &printed).unwrap();
    }
    let kept = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        kept, printed,
        "docs/emulator-config.schema.json is not what `msal emulator schema` prints; rerun with UPDATE_SCHEMA=1 if the change is deliberate"
    );

    let schema: Value = serde_json::from_str(&printed).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let defaults = defaults();
    let errors: Vec<String> = validator
        .iter_errors(&defaults)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // What the schema refuses, and the emulator with a clear error (exit 2).
    let mut typo = defaults.clone();
    typo["apps"][0]["kind"] = "daemon".into();
    assert!(!validator.is_valid(&typo));
    assert!(!validator.is_valid(&serde_json::json!({})));
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "{}").unwrap();
    let refused = Command::new(MSAL)
        .args(["emulator", "--port", "0", "--config"])
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("at least one tenant"), "{why}");
}

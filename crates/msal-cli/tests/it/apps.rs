//! The application's own commands end to end against the in-process
//! emulator: `msal login` of an application with a secret file, a PEM
//! certificate and a PKCS#12 file; `msal token` serving that token from the
//! cache with no credential; `msal token --on-behalf-of` with the incoming
//! token from a file or stdin; `--claims` for a user's and a middle tier's
//! token; and the errors of each, with exit codes and `--json`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use msal_emulator::{Emulator, Endpoint, builtin};
use msal_test_support::start;
use serde_json::Value;

use crate::login::{Finished, Running, json_of, msal};

const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";
const GRAPH_USER_READ: &str = "https://graph.microsoft.com/User.Read";
const OBO_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn api_default() -> String {
    format!("{}/.default", builtin::API_IDENTIFIER_URI)
}

fn orders_read() -> String {
    format!("{}/Orders.Read", builtin::API_IDENTIFIER_URI)
}

/// Runs `command` to completion off the emulator's runtime threads.
fn finish(command: &mut Command) -> Finished {
    tokio::task::block_in_place(|| Running::spawn(command).finish())
}

/// The claims of a JWT (the emulator's tests verify its signatures).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The DER in a one-block PEM text.
fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

/// The daemon's key and certificate as a PKCS#12 file, as users export it.
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

/// `msal ARGS` for the daemon at Contoso, trusting the emulator.
fn daemon(home: &Path, emulator: &Emulator, ca: &Path, args: &[&str]) -> Command {
    let mut command = msal(home);
    command
        .args(args)
        .args(["--client-id", builtin::DAEMON_CLIENT_ID, "--authority"])
        .arg(emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .arg("--ca-cert")
        .arg(ca);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_signs_in_with_a_secret_or_certificate_and_its_token_is_served_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let emulator = start().await.unwrap();
    let ca = home.join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();
    let secret = home.join("secret.txt");
    std::fs::write(&secret, format!("{}\n", builtin::DAEMON_CLIENT_SECRET)).unwrap();

    // A secret file: a new token (the credential is checked), in the default cache.
    let login = finish(
        daemon(
            home,
            &emulator,
            &ca,
            &["login", "--scope", GRAPH_DEFAULT, "--json"],
        )
        .arg("--client-secret-file")
        .arg(&secret),
    );
    let login = json_of(&login);
    assert_eq!(login["client_id"], builtin::DAEMON_CLIENT_ID);
    assert_eq!(login["tenant_id"], builtin::CONTOSO_TENANT_ID);
    assert_eq!(login["token_source"], "identity_provider");
    assert!(home.join("xdg/msal/token_cache.json").exists());
    let remembered = std::fs::read_to_string(home.join("xdg/msal/token_cache.json.msal-cli.json")).unwrap();
    assert!(
        remembered.contains(builtin::DAEMON_CLIENT_ID) && !remembered.contains(builtin::DAEMON_CLIENT_SECRET),
        "{remembered}"
    );

    // A PEM file holding the key and the certificate, in text mode.
    let pem = home.join("daemon.pem");
    std::fs::write(
        &pem,
        format!(
            "{}{}",
            builtin::DAEMON_PRIVATE_KEY_PEM,
            builtin::DAEMON_CERTIFICATE_PEM
        ),
    )
    .unwrap();
    let text = finish(
        daemon(home, &emulator, &ca, &["login", "--scope", GRAPH_DEFAULT])
            .arg("--certificate")
            .arg(&pem),
    );
    assert!(text.status.success(), "{}", text.stderr);
    assert_eq!(
        text.stdout.trim(),
        format!(
            "Signed in as the application {} (tenant {})",
            builtin::DAEMON_CLIENT_ID,
            builtin::CONTOSO_TENANT_ID
        )
    );

    // `msal token` with the client id and scope alone: the authority and CA
    // as login used, no credential, no request.
    let token_requests = emulator.request_count(Endpoint::Token);
    let token = |extra: &[&str]| {
        let mut command = msal(home);
        command
            .args(["token", "--client-id", builtin::DAEMON_CLIENT_ID, "--json"])
            .args(extra);
        finish(&mut command)
    };
    let cached = json_of(&token(&["--scope", GRAPH_DEFAULT]));
    assert_eq!(cached["token_source"], "cache");
    assert_eq!(cached["tenant_id"], builtin::CONTOSO_TENANT_ID);
    assert_eq!(emulator.request_count(Endpoint::Token), token_requests);

    // Another scope needs the identity provider, and so a credential: the
    // error says where one can come from, and no token request is sent.
    let api = api_default();
    let missing = token(&["--scope", &api]);
    assert_eq!(missing.status.code(), Some(2), "{}", missing.stderr);
    let error: Value = serde_json::from_str(&missing.stdout).unwrap();
    let description = error["error_description"].as_str().unwrap();
    for named in ["MSAL_CLIENT_SECRET", "--client-secret-file", "--certificate"] {
        assert!(description.contains(named), "{description}");
    }
    assert_eq!(emulator.request_count(Endpoint::Token), token_requests);

    // A PKCS#12 file and its passphrase from a file.
    let pfx = home.join("daemon.pfx");
    std::fs::write(&pfx, daemon_pfx("pfx-Passw0rd")).unwrap();
    let passphrase = home.join("pfx-pass");
    std::fs::write(&passphrase, "pfx-Passw0rd\n").unwrap();
    let pfx_arg = pfx.to_str().unwrap();
    let passphrase_arg = passphrase.to_str().unwrap();
    let from_pfx = json_of(&token(&[
        "--scope",
        &api,
        "--certificate",
        pfx_arg,
        "--certificate-password-file",
        passphrase_arg,
    ]));
    assert_eq!(from_pfx["token_source"], "identity_provider");
    assert_eq!(
        claims(from_pfx["access_token"].as_str().unwrap())["roles"][0],
        "Orders.Read.All"
    );
    // Now cached too: no credential needed for it either.
    assert_eq!(json_of(&token(&["--scope", &api]))["token_source"], "cache");

    // A wrong passphrase is bad input that names the file and where the passphrase goes.
    std::fs::write(&passphrase, "wrong\n").unwrap();
    let wrong = finish(
        msal(home)
            .args(["token", "--client-id", builtin::DAEMON_CLIENT_ID, "--scope", &api])
            .args(["--force-refresh", "--certificate", pfx_arg])
            .args(["--certificate-password-file", passphrase_arg]),
    );
    assert_eq!(wrong.status.code(), Some(2), "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains(pfx_arg) && wrong.stderr.contains("--certificate-password-file"),
        "{}",
        wrong.stderr
    );
    assert!(!wrong.stderr.contains("wrong\n"), "{}", wrong.stderr);

    // A wrong secret: the identity provider refuses (exit 1), the secret is never shown.
    let wrong_secret = finish(
        daemon(
            home,
            &emulator,
            &ca,
            &["login", "--app", "--scope", GRAPH_DEFAULT, "--json"],
        )
        .env("MSAL_CLIENT_SECRET", "not-the-secret"),
    );
    assert_eq!(wrong_secret.status.code(), Some(1), "{}", wrong_secret.stderr);
    let error: Value = serde_json::from_str(&wrong_secret.stdout).unwrap();
    assert_eq!(error["error"], "invalid_client");
    assert!(
        !wrong_secret.stdout.contains("not-the-secret") && !wrong_secret.stderr.contains("not-the-secret")
    );

    // --app without any credential: bad input before any request.
    let requests = emulator.total_requests();
    let none = finish(&mut daemon(
        home,
        &emulator,
        &ca,
        &["login", "--app", "--scope", GRAPH_DEFAULT],
    ));
    assert_eq!(none.status.code(), Some(2), "{}", none.stderr);
    assert!(none.stderr.contains("no client credential"), "{}", none.stderr);
    // A user sign-in option does not mix with an application's credential.
    let mixed = finish(
        daemon(
            home,
            &emulator,
            &ca,
            &["login", "--scope", GRAPH_DEFAULT, "--device-code"],
        )
        .arg("--client-secret-file")
        .arg(&secret),
    );
    assert_eq!(mixed.status.code(), Some(2), "{}", mixed.stderr);
    assert_eq!(emulator.total_requests(), requests);
    emulator.shutdown().await;
}

/// Runs `command` with `input` on its standard input.
fn with_stdin(command: &mut Command, input: &str) -> std::process::Output {
    tokio::task::block_in_place(|| {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_behalf_of_from_a_file_or_stdin_and_claims_challenges() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let emulator = start().await.unwrap();
    let ca = home.join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();
    let authority = emulator.authority(builtin::CONTOSO_TENANT_NAME);

    // Alice signs in to the desktop app for the orders API: the token a
    // client would call the middle tier with.
    let signed_in = finish(
        msal(home)
            .env("MSAL_PASSWORD", builtin::ALICE_PASSWORD)
            .args([
                "login",
                "--username",
                builtin::ALICE_UPN,
                "--authority",
                &authority,
            ])
            .args([
                "--client-id",
                builtin::PUBLIC_CLIENT_ID,
                "--scope",
                &orders_read(),
                "--json",
            ])
            .arg("--ca-cert")
            .arg(&ca),
    );
    let incoming = json_of(&signed_in)["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&incoming)["aud"], builtin::API_CLIENT_ID);
    let incoming_file = home.join("incoming.jwt");
    std::fs::write(&incoming_file, format!("{incoming}\n")).unwrap();

    // The middle tier: its own client id and secret, the incoming token from a file.
    let middle_tier = |extra: &[&str]| {
        let mut command = msal(home);
        command
            .args(["token", "--on-behalf-of", "--authority", &authority])
            .args([
                "--client-id",
                builtin::API_CLIENT_ID,
                "--scope",
                GRAPH_USER_READ,
                "--json",
            ])
            .arg("--ca-cert")
            .arg(&ca)
            .args(extra)
            .env("MSAL_CLIENT_SECRET", builtin::API_CLIENT_SECRET);
        command
    };
    let first = json_of(&finish(
        middle_tier(&[]).arg("--assertion-file").arg(&incoming_file),
    ));
    assert_eq!(first["token_source"], "identity_provider");
    let downstream = claims(first["access_token"].as_str().unwrap());
    assert_eq!(downstream["upn"], builtin::ALICE_UPN);
    // Graph gets v1.0 tokens from Entra: the client is `appid`.
    assert_eq!(downstream["appid"], builtin::API_CLIENT_ID);
    assert_eq!(downstream["aud"], "https://graph.microsoft.com");
    assert_eq!(emulator.grant_count(OBO_GRANT), 1);

    // From stdin, in another process: the same token, from the cache.
    let again = with_stdin(
        middle_tier(&["--assertion-file", "-"]).env_remove("MSAL_CLIENT_SECRET"),
        &incoming,
    );
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["token_source"], "cache");
    assert_eq!(again["access_token"], first["access_token"]);
    assert_eq!(emulator.grant_count(OBO_GRANT), 1);

    // A claims challenge skips the cache and reaches the identity provider,
    // whose token then satisfies it (nbf no earlier than asked).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let challenge = format!(r#"{{"access_token":{{"nbf":{{"essential":true,"value":"{now}"}}}}}}"#);
    let challenged = json_of(&finish(
        middle_tier(&["--claims", &challenge])
            .arg("--assertion-file")
            .arg(&incoming_file),
    ));
    assert_eq!(challenged["token_source"], "identity_provider");
    assert_ne!(challenged["access_token"], first["access_token"]);
    assert_eq!(emulator.grant_count(OBO_GRANT), 2);

    // For a signed-in user too, with the challenge base64-encoded as a
    // WWW-Authenticate header carries it.
    let user_token = |extra: &[&str]| {
        let mut command = msal(home);
        command
            .args([
                "token",
                "--account",
                builtin::ALICE_UPN,
                "--scope",
                &orders_read(),
                "--json",
            ])
            .args(extra);
        finish(&mut command)
    };
    let cached = json_of(&user_token(&[]));
    assert_eq!(cached["token_source"], "cache");
    let encoded = STANDARD.encode(&challenge);
    let refreshed = json_of(&user_token(&["--claims", &encoded]));
    assert_eq!(refreshed["token_source"], "identity_provider");
    assert_ne!(refreshed["access_token"], cached["access_token"]);
    let nbf = claims(refreshed["access_token"].as_str().unwrap())["nbf"]
        .as_u64()
        .unwrap();
    assert!(nbf >= now, "nbf {nbf} before the challenge's {now}");

    // Errors, each bad input (exit 2) before any request, naming what was given.
    let requests = emulator.total_requests();
    let not_json = user_token(&["--claims", "nbf-please"]);
    assert_eq!(not_json.status.code(), Some(2), "{}", not_json.stderr);
    let error: Value = serde_json::from_str(&not_json.stdout).unwrap();
    let description = error["error_description"].as_str().unwrap();
    assert!(
        description.contains("--claims") && description.contains("nbf-please"),
        "{description}"
    );
    let empty = with_stdin(&mut middle_tier(&["--assertion-file", "-"]), " \n");
    assert_eq!(empty.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&empty.stdout).contains("no incoming token"));
    let no_file = finish(&mut middle_tier(&[
        "--assertion-file",
        "/nonexistent/incoming.jwt",
    ]));
    assert_eq!(no_file.status.code(), Some(2));
    assert!(
        no_file.stdout.contains("/nonexistent/incoming.jwt"),
        "{}",
        no_file.stdout
    );
    // The incoming token is never a flag value.
    let no_assertion = finish(&mut middle_tier(&[]));
    assert_eq!(no_assertion.status.code(), Some(2));
    assert!(
        no_assertion.stderr.contains("--assertion-file"),
        "{}",
        no_assertion.stderr
    );
    assert_eq!(emulator.total_requests(), requests, "bad input sends nothing");

    // An application token answers a claims challenge too: from the identity
    // provider, satisfying it.
    let app_claims = finish(
        msal(home)
            .args([
                "token",
                "--client-id",
                builtin::DAEMON_CLIENT_ID,
                "--authority",
                &authority,
            ])
            .args(["--scope", GRAPH_DEFAULT, "--claims", &challenge, "--json"])
            .arg("--ca-cert")
            .arg(&ca)
            .env("MSAL_CLIENT_SECRET", builtin::DAEMON_CLIENT_SECRET),
    );
    let app_claims = json_of(&app_claims);
    assert_eq!(app_claims["token_source"], "identity_provider");
    let nbf = claims(app_claims["access_token"].as_str().unwrap())["nbf"]
        .as_u64()
        .unwrap();
    assert!(nbf >= now, "nbf {nbf} before the challenge's {now}");
    emulator.shutdown().await;
}

//! `msal token --ssh-cert`: after `msal login`, an SSH certificate for a key
//! made by the real `ssh-keygen`, written as KEY-cert.pub (or --out), which
//! `ssh-keygen -L` reads (checking the emulator CA's signature) and shows
//! with the user as principal and the token's validity; a second call is
//! served from the cache.

use std::path::Path;
use std::process::Command;

use crate::login::{json_of, password_login, run};
use msal_emulator::{Endpoint, builtin};
use msal_test_support::start;

const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";

fn ssh_keygen(args: &[&str], file: &Path) -> String {
    let output = Command::new(SSH_KEYGEN).args(args).arg(file).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_ssh_cert_writes_a_certificate_ssh_keygen_reads() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let emulator = start().await.unwrap();
    let ca = home.join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();
    let login = password_login(
        home,
        &emulator,
        &ca,
        builtin::CONTOSO_TENANT_NAME,
        builtin::ALICE_UPN,
        builtin::ALICE_PASSWORD,
    )
    .finish();
    assert!(login.status.success(), "{}", login.stderr);
    let key = home.join("id_rsa");
    let made = Command::new(SSH_KEYGEN)
        .args(["-q", "-N", "", "-t", "rsa", "-b", "2048", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    let public = home.join("id_rsa.pub");
    let public_arg = public.to_str().unwrap();
    let token_requests = emulator.request_count(Endpoint::Token);

    let first = run(
        home,
        &[
            "token",
            "--account",
            builtin::ALICE_UPN,
            "--ssh-cert",
            "--public-key",
            public_arg,
        ],
    );
    assert!(first.status.success(), "{}", first.stderr);
    let cert = home.join("id_rsa-cert.pub");
    assert_eq!(first.stdout.trim(), cert.to_str().unwrap());
    assert_eq!(emulator.request_count(Endpoint::Token), token_requests + 1);

    let listing = ssh_keygen(&["-L", "-f"], &cert);
    assert!(
        listing.contains("ssh-rsa-cert-v01@openssh.com user certificate"),
        "{listing}"
    );
    let principals: Vec<&str> = listing
        .lines()
        .skip_while(|l| !l.trim().starts_with("Principals:"))
        .skip(1)
        .take_while(|l| !l.trim().starts_with("Critical Options:"))
        .map(str::trim)
        .collect();
    assert_eq!(principals, [builtin::ALICE_UPN], "{listing}");
    let valid = listing
        .lines()
        .find(|l| l.trim().starts_with("Valid: from "))
        .unwrap();
    assert!(valid.contains(" to "), "{listing}");
    // Signed by the emulator's CA.
    let ca_key = home.join("emulator-ca.pub");
    std::fs::write(&ca_key, emulator.ssh_ca_public_key()).unwrap();
    let ca_fingerprint = ssh_keygen(&["-l", "-f"], &ca_key)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    assert!(
        listing
            .lines()
            .any(|l| l.contains("Signing CA: ED25519") && l.contains(&ca_fingerprint)),
        "{listing}"
    );

    // Again, to --out, as JSON: from the cache, the same certificate.
    let out = home.join("again-cert.pub");
    let again = run(
        home,
        &[
            "token",
            "--account",
            builtin::ALICE_UPN,
            "--ssh-cert",
            "--public-key",
            public_arg,
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(again.status.success(), "{}", again.stderr);
    let json = json_of(&again);
    assert_eq!(json["token_source"], "cache");
    assert_eq!(json["token_type"], "ssh-cert");
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&cert).unwrap());
    assert_eq!(emulator.request_count(Endpoint::Token), token_requests + 1);

    // A file that is not a public key: a clear error, no request.
    let bad = run(
        home,
        &[
            "token",
            "--account",
            builtin::ALICE_UPN,
            "--ssh-cert",
            "--public-key",
            ca.to_str().unwrap(),
        ],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("SSH public key"), "{}", bad.stderr);
    assert_eq!(emulator.request_count(Endpoint::Token), token_requests + 1);
}

//! SSH certificates as a token type against the emulator over real HTTPS:
//! keys made by the real `ssh-keygen`, certificates requested with
//! `token_type=ssh-cert` through the password grant and silently, cached by
//! key id apart from bearer tokens, and read back by `ssh-keygen -L`, which
//! checks the emulator CA's signature and shows the principal and validity.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::public_app;
use msal::ssh_cert::{SSH_CERT_SCOPE, certificate_line};
use msal::{Password, SilentOptions, SshCertRequest, TokenCache, TokenSource, UsernamePasswordOptions};
use msal_emulator::{Emulator, Endpoint, builtin};
use msal_test_support::start;

const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";

/// A fresh key pair made by `ssh-keygen`; returns the public key file.
fn keygen(dir: &Path, name: &str, kind: &str) -> PathBuf {
    let private = dir.join(name);
    let mut command = Command::new(SSH_KEYGEN);
    command
        .args(["-q", "-N", "", "-C", name, "-t", kind, "-f"])
        .arg(&private);
    if kind == "rsa" {
        command.args(["-b", "2048"]);
    }
    let status = command.status().expect("ssh-keygen runs (openssh-client)");
    assert!(status.success());
    private.with_extension("pub")
}

/// `ssh-keygen` with `args`, its stdout (the test fails on an error).
fn ssh_keygen(args: &[&str], file: &Path) -> String {
    let output = Command::new(SSH_KEYGEN).args(args).arg(file).output().unwrap();
    assert!(
        output.status.success(),
        "ssh-keygen {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The SHA256 fingerprint `ssh-keygen -l` shows for a public key file.
fn fingerprint(file: &Path) -> String {
    let listed = ssh_keygen(&["-l", "-f"], file);
    listed.split_whitespace().nth(1).unwrap().to_owned()
}

/// Writes the certificate of `access_token` beside `public_key` as OpenSSH
/// names it (`id_rsa.pub` → `id_rsa-cert.pub`) and returns `ssh-keygen -L`'s listing.
fn list_certificate(public_key: &Path, access_token: &str) -> String {
    let stem = public_key.file_stem().unwrap().to_str().unwrap();
    let cert = public_key.with_file_name(format!("{stem}-cert.pub"));
    std::fs::write(&cert, certificate_line(access_token).unwrap() + "\n").unwrap();
    ssh_keygen(&["-L", "-f"], &cert)
}

/// The value of a `ssh-keygen -L` line such as `Signing CA: ...`.
fn field<'a>(listing: &'a str, name: &str) -> &'a str {
    listing
        .lines()
        .find_map(|l| l.trim().strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in {listing}"))
        .trim()
}

fn ca_fingerprint(emulator: &Emulator, dir: &Path) -> String {
    let ca = dir.join("emulator-ca.pub");
    std::fs::write(&ca, emulator.ssh_ca_public_key() + "\n").unwrap();
    fingerprint(&ca)
}

#[tokio::test]
async fn ssh_certificates_are_signed_by_the_emulator_ca_and_cached_by_key_id() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = keygen(dir.path(), "id_rsa", "rsa");
    let ed = keygen(dir.path(), "id_ed25519", "ed25519");
    let rsa_request = SshCertRequest::from_public_key(&std::fs::read_to_string(&rsa).unwrap()).unwrap();
    let ed_request = SshCertRequest::from_public_key(&std::fs::read_to_string(&ed).unwrap()).unwrap();
    assert_ne!(rsa_request.key_id(), ed_request.key_id());

    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = public_app(&emulator, builtin::CONTOSO_TENANT_NAME, &cache);
    let bearer = app
        .acquire_token_by_username_password(
            builtin::ALICE_UPN,
            Password::new(builtin::ALICE_PASSWORD),
            ["User.Read"],
        )
        .await
        .unwrap();
    let account = bearer.account.clone().unwrap();

    // The first certificate comes from the identity provider through the refresh token.
    let options = SilentOptions::default().ssh_cert(rsa_request.clone());
    let first = app
        .acquire_token_silent_with([SSH_CERT_SCOPE], &account, &options)
        .await
        .unwrap();
    assert_eq!(first.token_source, TokenSource::IdentityProvider);
    assert_eq!(first.token_type, "ssh-cert");
    assert_eq!(emulator.request_count(Endpoint::Token), 2);

    let listing = list_certificate(&rsa, first.access_token.expose_secret());
    assert!(
        listing.contains("Type: ssh-rsa-cert-v01@openssh.com user certificate"),
        "{listing}"
    );
    assert_eq!(field(&listing, "Principals:"), "");
    assert!(
        listing.contains(&format!("\n                {}\n", builtin::ALICE_UPN)),
        "{listing}"
    );
    assert!(field(&listing, "Valid:").starts_with("from "), "{listing}");
    assert!(
        field(&listing, "Key ID:").contains(rsa_request.key_id()),
        "{listing}"
    );
    // The certificate is for the user's key, signed by the emulator's CA.
    assert!(
        field(&listing, "Public key:").ends_with(&fingerprint(&rsa)),
        "{listing}"
    );
    let ca = ca_fingerprint(&emulator, dir.path());
    assert!(field(&listing, "Signing CA:").contains(&ca), "{listing}");

    // The same key: the certificate from the cache, no request.
    let again = app
        .acquire_token_silent_with([SSH_CERT_SCOPE], &account, &options)
        .await
        .unwrap();
    assert_eq!(again.token_source, TokenSource::Cache);
    assert_eq!(again.token_type, "ssh-cert");
    assert_eq!(again.access_token, first.access_token);
    assert_eq!(emulator.request_count(Endpoint::Token), 2);

    // The cache entry carries the key id, as MSAL Python writes it.
    let json: serde_json::Value = serde_json::from_str(&cache.serialize()).unwrap();
    let entries: Vec<&serde_json::Value> = json["AccessToken"].as_object().unwrap().values().collect();
    assert!(
        entries
            .iter()
            .any(|e| e["key_id"] == rsa_request.key_id() && e["token_type"] == "ssh-cert")
    );

    // A bearer lookup never gets the certificate, nor a certificate lookup the bearer token.
    let bearer_again = app.acquire_token_silent(["User.Read"], &account).await.unwrap();
    assert_eq!(bearer_again.access_token, bearer.access_token);
    assert_eq!(bearer_again.token_type, "Bearer");
    let no_key = app.acquire_token_silent([SSH_CERT_SCOPE], &account).await;
    assert!(no_key.is_err() || no_key.unwrap().access_token != first.access_token);
    let requests = emulator.request_count(Endpoint::Token);

    // Another key: another certificate, for that key.
    let other = app
        .acquire_token_silent_with(
            [SSH_CERT_SCOPE],
            &account,
            &SilentOptions::default().ssh_cert(ed_request),
        )
        .await
        .unwrap();
    assert_eq!(other.token_source, TokenSource::IdentityProvider);
    assert_ne!(other.access_token, first.access_token);
    assert_eq!(emulator.request_count(Endpoint::Token), requests + 1);
    let listing = list_certificate(&ed, other.access_token.expose_secret());
    assert!(
        listing.contains("ssh-ed25519-cert-v01@openssh.com user certificate"),
        "{listing}"
    );
    assert!(
        field(&listing, "Public key:").ends_with(&fingerprint(&ed)),
        "{listing}"
    );
}

#[tokio::test]
async fn the_password_grant_issues_a_certificate_and_a_tampered_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = keygen(dir.path(), "id_rsa", "rsa");
    let request = SshCertRequest::from_public_key(&std::fs::read_to_string(&rsa).unwrap())
        .unwrap()
        .with_key_id("alice-laptop")
        .unwrap();
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = public_app(&emulator, builtin::CONTOSO_TENANT_NAME, &cache);
    let result = app
        .acquire_token_by_username_password_with(
            builtin::ALICE_UPN,
            Password::new(builtin::ALICE_PASSWORD),
            [SSH_CERT_SCOPE],
            &UsernamePasswordOptions::default().ssh_cert(request.clone()),
        )
        .await
        .unwrap();
    assert_eq!(result.token_type, "ssh-cert");
    let listing = list_certificate(&rsa, result.access_token.expose_secret());
    assert!(field(&listing, "Key ID:").contains("alice-laptop"), "{listing}");
    assert!(listing.contains(builtin::ALICE_UPN), "{listing}");

    // Served from the cache under the caller's key id.
    let account = result.account.clone().unwrap();
    let cached = app
        .acquire_token_silent_with(
            [SSH_CERT_SCOPE],
            &account,
            &SilentOptions::default().ssh_cert(request),
        )
        .await
        .unwrap();
    assert_eq!(cached.token_source, TokenSource::Cache);

    // ssh-keygen checks the CA's signature: a certificate altered after
    // signing (one byte of its key id) does not load.
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut blob = engine.decode(result.access_token.expose_secret()).unwrap();
    let at = blob.windows(12).position(|w| w == b"alice-laptop").unwrap();
    blob[at] ^= 0x20;
    let tampered = dir.path().join("tampered-cert.pub");
    std::fs::write(&tampered, certificate_line(&engine.encode(blob)).unwrap()).unwrap();
    let output = Command::new(SSH_KEYGEN)
        .args(["-L", "-f"])
        .arg(&tampered)
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

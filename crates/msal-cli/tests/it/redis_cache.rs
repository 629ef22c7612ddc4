//! `--cache redis://HOST:PORT/DB` against a real `redis-server`: a user
//! signs in with the cache in Redis, another process gets their token from
//! it (no file written anywhere), `accounts` and `status` read it, and with
//! Redis down every command fails with exit code 4 before asking the
//! identity provider anything.

use std::path::Path;

use msal_emulator::{Endpoint, builtin};
use msal_test_support::redis::{RedisServer, query};
use serde_json::Value;

use crate::login::{Finished, Running, json_of, msal};

fn run(home: &Path, args: &[&str]) -> Finished {
    tokio::task::block_in_place(|| Running::spawn(msal(home).args(args)).finish())
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path.display().to_string());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_cache_in_one_redis_key_shared_by_processes() {
    let mut redis = RedisServer::start().await.unwrap();
    let emulator = msal_test_support::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let ca = home.join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();
    let url = format!("redis://127.0.0.1:{}/0", redis.port());
    let authority = emulator.authority(builtin::CONTOSO_TENANT_NAME);

    let login = tokio::task::block_in_place(|| {
        Running::spawn(
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
                    "User.Read",
                    "--json",
                ])
                .args(["--cache", &url, "--ca-cert"])
                .arg(&ca),
        )
        .finish()
    });
    let signed_in = json_of(&login);
    assert_eq!(signed_in["account"]["username"], builtin::ALICE_UPN);
    // One key holds the cache, another how the account signed in.
    assert_eq!(
        query(redis.port(), &["EXISTS", "msal:msal-cli"]).await.unwrap(),
        "1"
    );
    let stored = query(redis.port(), &["GET", "msal:msal-cli"]).await.unwrap();
    assert!(stored.contains("RefreshToken") && stored.contains(builtin::ALICE_UPN));
    let ttl: i64 = query(redis.port(), &["TTL", "msal:msal-cli"])
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert!(ttl > 0, "the key expires with its refresh token: {ttl}");

    // Another process, with the cache named by MSAL_CACHE this time: the
    // token from Redis, the authority and client id as login used, no request.
    let tokens = emulator.request_count(Endpoint::Token);
    let cached = tokio::task::block_in_place(|| {
        Running::spawn(msal(home).env("MSAL_CACHE", &url).args([
            "token",
            "--account",
            builtin::ALICE_UPN,
            "--scope",
            "User.Read",
            "--json",
        ]))
        .finish()
    });
    let cached = json_of(&cached);
    assert_eq!(cached["token_source"], "cache");
    assert_eq!(cached["access_token"], signed_in["access_token"]);
    assert_eq!(emulator.request_count(Endpoint::Token), tokens);
    // A refresh writes the new tokens back to Redis.
    let refreshed = json_of(&run(
        home,
        &[
            "token",
            "--account",
            builtin::ALICE_UPN,
            "--scope",
            "User.Read",
            "--json",
            "--force-refresh",
            "--cache",
            &url,
        ],
    ));
    assert_eq!(refreshed["token_source"], "identity_provider");
    let stored = query(redis.port(), &["GET", "msal:msal-cli"]).await.unwrap();
    assert!(stored.contains(refreshed["access_token"].as_str().unwrap()));

    let accounts = json_of(&run(home, &["accounts", "--cache", &url, "--json"]));
    assert_eq!(accounts[0]["username"], builtin::ALICE_UPN);
    let status = run(home, &["status", "--cache", &url]);
    assert!(status.status.success(), "{}", status.stderr);
    assert!(
        status.stdout.contains(&format!("{url} (key msal:msal-cli)")),
        "{}",
        status.stdout
    );
    // Nothing but the CA certificate was ever written to disk.
    assert_eq!(files_under(home), [ca.display().to_string()]);

    // Redis down: exit code 4, the URL named, nothing asked of the identity provider.
    redis.stop().unwrap();
    let requests = emulator.total_requests();
    let down = run(
        home,
        &[
            "token",
            "--account",
            builtin::ALICE_UPN,
            "--scope",
            "User.Read",
            "--cache",
            &url,
        ],
    );
    assert_eq!(down.status.code(), Some(4), "{}", down.stderr);
    assert!(
        down.stderr.contains(&url) && down.stderr.contains("Redis"),
        "{}",
        down.stderr
    );
    let down_json = run(home, &["accounts", "--cache", &url, "--json"]);
    assert_eq!(down_json.status.code(), Some(4));
    let error: Value = serde_json::from_str(&down_json.stdout).unwrap();
    assert!(
        error["error_description"].as_str().unwrap().contains(&url),
        "{error}"
    );
    let login_down = tokio::task::block_in_place(|| {
        Running::spawn(
            msal(home)
                .env("MSAL_PASSWORD", builtin::BOB_PASSWORD)
                .args(["login", "--username", builtin::BOB_UPN, "--authority", &authority])
                .args(["--client-id", builtin::PUBLIC_CLIENT_ID, "--scope", "User.Read"])
                .args(["--cache", &url, "--ca-cert"])
                .arg(&ca),
        )
        .finish()
    });
    assert_eq!(login_down.status.code(), Some(4), "{}", login_down.stderr);
    assert_eq!(emulator.total_requests(), requests);

    // A password in the URL is never shown.
    let secret_url = format!("redis://:hunter2-secret@127.0.0.1:{}/0", redis.port());
    let hidden = run(home, &["status", "--cache", &secret_url]);
    assert_eq!(hidden.status.code(), Some(4));
    assert!(!hidden.stderr.contains("hunter2-secret"), "{}", hidden.stderr);
    // Redis is a store of its own: not with the keyring.
    let mixed = run(home, &["accounts", "--cache", &url, "--cache-store", "keyring"]);
    assert_eq!(mixed.status.code(), Some(2));
    emulator.shutdown().await;
}

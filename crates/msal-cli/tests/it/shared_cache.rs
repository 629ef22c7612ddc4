//! One cache file, many processes at once: `msal` CLI processes, MSAL
//! Python processes with msal-extensions and MSAL Node processes with
//! @azure/msal-node-extensions (their persisted caches and the shared
//! cross-process lock file), each signing its own user in, while another
//! `msal` process signs a user out. At the end every account is there, the
//! signed-out user is not, and all three libraries read the file.

use std::path::Path;
use std::process::Command;

use msal_emulator::directory::User;
use msal_emulator::{Directory, EmulatorConfig, builtin};
use msal_test_support::{node, python, start_with};
use serde_json::{Value, json};

const MSAL: &str = env!("CARGO_BIN_EXE_msal");

/// Users signed in at once: a third each by `msal`, MSAL Python and MSAL Node.
const USERS: usize = 12;

fn user(i: usize) -> User {
    User {
        upn: format!("user{i}@contoso.onmicrosoft.com"),
        password: format!("User{i}-P@ssw0rd"),
        object_id: format!("00000000-0000-4000-8000-{i:012}"),
        display_name: format!("User {i}"),
        tenant: builtin::CONTOSO_TENANT_NAME.to_owned(),
        identity_provider: None,
    }
}

/// `msal` run to completion off the runtime that serves the emulator.
async fn msal(args: Vec<String>, password: Option<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(MSAL);
        command.args(&args).env_remove("MSAL_PASSWORD");
        if let Some(password) = password {
            command.env("MSAL_PASSWORD", password);
        }
        command.output().unwrap()
    })
    .await
    .unwrap()
}

fn login_args(authority: &str, cache: &Path, ca: &Path, username: &str) -> Vec<String> {
    [
        "login",
        "--username",
        username,
        "--authority",
        authority,
        "--client-id",
        builtin::PUBLIC_CLIENT_ID,
        "--scope",
        "User.Read",
        "--json",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([
        "--cache".into(),
        cache.display().to_string(),
        "--ca-cert".into(),
        ca.display().to_string(),
    ])
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_python_and_node_processes_share_one_cache_file_without_losing_updates() {
    let mut directory = Directory::builtin();
    directory.users.extend((1..=USERS).map(user));
    let emulator = start_with(EmulatorConfig::new(directory)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("shared_cache.json");
    let ca = dir.path().join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();
    let authority = emulator.authority(builtin::CONTOSO_TENANT_NAME);

    // Alice is signed in first; she signs out while the others sign in.
    let alice = msal(
        login_args(&authority, &cache, &ca, builtin::ALICE_UPN),
        Some(builtin::ALICE_PASSWORD.into()),
    )
    .await;
    assert!(
        alice.status.success(),
        "{}",
        String::from_utf8_lossy(&alice.stderr)
    );

    let mut rust = Vec::new();
    let mut python_runs = Vec::new();
    let mut node_runs = Vec::new();
    for i in 1..=USERS {
        let u = user(i);
        let args = json!({
            "cache_path": cache, "authority": authority, "client_id": builtin::PUBLIC_CLIENT_ID,
            "scopes": ["User.Read"], "username": u.upn, "password": u.password,
        });
        match i % 3 {
            0 => rust.push(tokio::spawn(msal(
                login_args(&authority, &cache, &ca, &u.upn),
                Some(u.password),
            ))),
            1 => python_runs.push(args),
            _ => node_runs.push(args),
        }
    }
    let logout = tokio::spawn(msal(
        vec![
            "logout".into(),
            "--account".into(),
            builtin::ALICE_UPN.into(),
            "--cache".into(),
            cache.display().to_string(),
        ],
        None,
    ));
    let python = python_runs
        .iter()
        .map(|args| python::run(&emulator, "extensions_login.py", args, None));
    let node_env = [("NODE_EXTRA_CA_CERTS", ca.as_path())];
    let node = node_runs
        .iter()
        .map(|args| node::run_with_env("extensions_login.mjs", args, &node_env));
    let (python_results, node_results) = tokio::join!(join_all(python), join_all(node));
    for out in python_results.into_iter().chain(node_results) {
        let out = out.unwrap();
        assert_eq!(out["error"], Value::Null, "{out}");
    }
    for run in rust {
        let out = run.await.unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = logout.await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let expected: Vec<String> = (1..=USERS).map(|i| user(i).upn).collect();
    let mut expected = expected;
    expected.sort();
    // The Rust CLI reads the file...
    let listed = msal(
        vec![
            "accounts".into(),
            "--json".into(),
            "--cache".into(),
            cache.display().to_string(),
        ],
        None,
    )
    .await;
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let mut ours: Vec<String> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["username"].as_str().unwrap().to_owned())
        .collect();
    ours.sort();
    assert_eq!(ours, expected, "every account, and Alice signed out");
    // ... and so does MSAL Python through msal-extensions.
    let theirs = python::run(
        &emulator,
        "extensions_login.py",
        &json!({"cache_path": cache, "authority": authority, "client_id": builtin::PUBLIC_CLIENT_ID, "list": true}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(theirs["usernames"], json!(expected));
    // ... and so does MSAL Node through msal-node-extensions.
    let node_list = node::run_with_env(
        "extensions_login.mjs",
        &json!({"cache_path": cache, "authority": authority, "client_id": builtin::PUBLIC_CLIENT_ID, "list": true}),
        &[("NODE_EXTRA_CA_CERTS", &ca)],
    )
    .await
    .unwrap();
    // MSAL Node reads every account; it names by username only those written
    // for its environment, which on loopback keeps the port (on real hosts
    // all three libraries write the same), so compare home account ids.
    let mut home_ids: Vec<String> = (1..=USERS)
        .map(|i| format!("{}.{}", user(i).object_id, builtin::CONTOSO_TENANT_ID))
        .collect();
    home_ids.sort();
    assert_eq!(node_list["home_account_ids"], json!(home_ids), "{node_list}");
    assert!(
        !Path::new(&format!("{}.lockfile", cache.display())).exists(),
        "no lock left behind"
    );
}

/// Polls every future to completion concurrently (no extra crate).
async fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

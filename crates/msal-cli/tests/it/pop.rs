//! `msal token --pop --method M --url URL`: the printed header value is
//! accepted by the emulator's PoP resource, once; a bad URL is bad input.

use std::process::Command;

use msal_emulator::{Emulator, builtin};
use msal_test_support::{client, start};
use serde_json::Value;

use crate::login::{Finished, Running, msal};

const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";

fn finish(command: &mut Command) -> Finished {
    tokio::task::block_in_place(|| Running::spawn(command).finish())
}

fn pop(
    home: &std::path::Path,
    emulator: &Emulator,
    ca: &std::path::Path,
    method: &str,
    url: &str,
) -> Finished {
    finish(
        msal(home)
            .args([
                "token",
                "--scope",
                GRAPH_DEFAULT,
                "--pop",
                "--method",
                method,
                "--url",
                url,
            ])
            .args(["--client-id", builtin::DAEMON_CLIENT_ID, "--authority"])
            .arg(emulator.authority(builtin::CONTOSO_TENANT_NAME))
            .arg("--ca-cert")
            .arg(ca)
            .env("MSAL_CLIENT_SECRET", builtin::DAEMON_CLIENT_SECRET),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_pop_header_is_accepted_by_the_resource() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let emulator = start().await.unwrap();
    let ca = home.join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();
    let url = format!("{}/resource/pop", emulator.url());

    let out = pop(home, &emulator, &ca, "POST", &url);
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let header = out.stdout.trim().to_owned();
    assert!(header.starts_with("PoP "), "{header}");
    let http = client(&emulator).unwrap();
    let send = |method: &str| {
        let request = http
            .request(method.parse().unwrap(), &url)
            .header("authorization", &header);
        async move { request.send().await.unwrap() }
    };
    // Signed for POST: a GET with it is refused, the POST accepted once.
    assert_eq!(send("GET").await.status(), 401);
    let accepted = send("POST").await;
    assert_eq!(accepted.status(), 200);
    let body: Value = serde_json::from_slice(&accepted.bytes().await.unwrap()).unwrap();
    assert_eq!(body["appid"], builtin::DAEMON_CLIENT_ID);
    assert_eq!(send("POST").await.status(), 401, "a replay");

    // Not a URL: bad input (exit 2) before any request.
    let bad = pop(home, &emulator, &ca, "GET", "not a url");
    assert_eq!(bad.status.code(), Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("URL"), "{}", bad.stderr);
}

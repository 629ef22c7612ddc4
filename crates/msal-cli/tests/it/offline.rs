//! `msal token` in a new process serves a cached access token with zero
//! requests: an app token (no `--account`) and a user's (`--account`), for
//! an authority given by tenant id, by domain, and through another alias of
//! the cloud; with the emulator running (its counter stays at zero) and
//! with it stopped.

use std::path::Path;
use std::process::{Command, Output};

use msal::{
    ClientSecret, ConfidentialClientApplication, Password, PublicClientApplication, ReqwestHttpClient,
    TokenCache,
};
use msal_emulator::{Emulator, builtin};

const MSAL: &str = env!("CARGO_BIN_EXE_msal");
const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";
const USER_READ: &str = "User.Read";

fn cloud_http(emulator: &Emulator) -> ReqwestHttpClient {
    msal_test_support::msal_http_for_cloud(emulator).unwrap()
}

/// Fills `cache` with an app token and Alice's tokens from `authority`;
/// returns (app token, Alice's token).
async fn fill(
    emulator: &Emulator,
    authority: &str,
    http: impl Fn() -> ReqwestHttpClient,
    cache: &TokenCache,
) -> (String, String) {
    let app = ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(authority)
        .client_secret(ClientSecret::new(builtin::DAEMON_CLIENT_SECRET))
        .token_cache(cache.clone())
        .http_client(http())
        .build()
        .unwrap()
        .acquire_token_for_client([GRAPH_DEFAULT])
        .await
        .unwrap();
    let user = PublicClientApplication::builder(builtin::PUBLIC_CLIENT_ID)
        .authority(authority)
        .token_cache(cache.clone())
        .http_client(http())
        .build()
        .unwrap()
        .acquire_token_by_username_password(
            builtin::ALICE_UPN,
            Password::new(builtin::ALICE_PASSWORD),
            [USER_READ],
        )
        .await
        .unwrap();
    let _ = emulator;
    (
        app.access_token.expose_secret().to_owned(),
        user.access_token.expose_secret().to_owned(),
    )
}

/// `msal token` for the app (or, with `account`, for the user) from `cache`.
fn cli_token(authority: &str, cache: &Path, ca: &Path, account: Option<&str>) -> Output {
    let mut command = Command::new(MSAL);
    command
        .args(["token", "--authority", authority, "--scope"])
        .arg(if account.is_some() {
            USER_READ
        } else {
            GRAPH_DEFAULT
        })
        .arg("--cache")
        .arg(cache)
        .arg("--ca-cert")
        .arg(ca)
        .env("MSAL_CLIENT_SECRET", builtin::DAEMON_CLIENT_SECRET);
    match account {
        Some(username) => command.args(["--client-id", builtin::PUBLIC_CLIENT_ID, "--account", username]),
        None => command.args(["--client-id", builtin::DAEMON_CLIENT_ID]),
    };
    command.output().unwrap()
}

fn assert_token(output: &Output, expected: &str, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{what}: {stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), expected, "{what}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_process_serves_cached_tokens_without_requests() {
    let emulator = msal_test_support::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();
    let base = emulator.url();
    let local_http = || msal_test_support::msal_http(&emulator).unwrap();

    // (name, authority the tokens come from, authority the CLI is given)
    let by_id = format!("{base}/{}", builtin::CONTOSO_TENANT_ID);
    let by_domain = format!("{base}/{}", builtin::CONTOSO_DOMAIN);
    let global = format!("https://login.microsoftonline.com/{}", builtin::CONTOSO_TENANT_ID);
    let alias = format!("https://login.windows.net/{}", builtin::CONTOSO_TENANT_ID);
    let mut cases = Vec::new();
    for (name, first, later) in [
        ("tenant id", &by_id, &by_id),
        ("domain", &by_domain, &by_domain),
        ("alias", &global, &alias),
    ] {
        let cache = TokenCache::new();
        let tokens = if first.starts_with("https://login.") {
            fill(&emulator, first, || cloud_http(&emulator), &cache).await
        } else {
            fill(&emulator, first, local_http, &cache).await
        };
        let file = dir.path().join(format!("{}.json", name.replace(' ', "-")));
        cache.save_to_file(&file).unwrap();
        cases.push((name, later.clone(), file, tokens));
    }

    // Running: the CLI sends nothing (the alias host is not even resolvable to it).
    emulator.reset_counts();
    for (name, authority, file, (app_token, user_token)) in &cases {
        assert_token(
            &cli_token(authority, file, &ca, None),
            app_token,
            &format!("{name}, app, running"),
        );
        assert_token(
            &cli_token(authority, file, &ca, Some(builtin::ALICE_UPN)),
            user_token,
            &format!("{name}, user, running"),
        );
        assert_eq!(emulator.total_requests(), 0, "{name}: requests sent");
    }

    // Stopped.
    emulator.shutdown().await;
    for (name, authority, file, (app_token, user_token)) in &cases {
        assert_token(
            &cli_token(authority, file, &ca, None),
            app_token,
            &format!("{name}, app, stopped"),
        );
        assert_token(
            &cli_token(authority, file, &ca, Some(builtin::ALICE_UPN)),
            user_token,
            &format!("{name}, user, stopped"),
        );
    }

    // And the check can fail: with --force-refresh the CLI must reach the emulator, which is gone.
    let (_, authority, file, _) = &cases[0];
    let forced = Command::new(MSAL)
        .args([
            "token",
            "--authority",
            authority,
            "--scope",
            GRAPH_DEFAULT,
            "--force-refresh",
            "--cache",
        ])
        .arg(file)
        .arg("--ca-cert")
        .arg(&ca)
        .args(["--client-id", builtin::DAEMON_CLIENT_ID])
        .env("MSAL_CLIENT_SECRET", builtin::DAEMON_CLIENT_SECRET)
        .output()
        .unwrap();
    assert!(!forced.status.success(), "a forced refresh needs the network");
}

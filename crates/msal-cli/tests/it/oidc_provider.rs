//! `--oidc-authority` against a real OpenID provider (panva's
//! `oidc-provider`, see `msal_test_support::oidc_provider`): `msal token`
//! with a client secret, `msal login --no-browser` through its login and
//! consent pages, then `msal token --account` from what the login
//! remembered; and an impostor's discovery document refused.

use std::time::Duration;

use msal_test_support::oidc_provider::{
    CONFIDENTIAL_CLIENT_ID, OidcProvider, PASSWORD, PUBLIC_CLIENT_ID, SUBJECT, USERNAME,
};
use msal_test_support::user::SignedIn;
use serde_json::Value;

use crate::login::{Running, msal, run};

fn json_of(out: &crate::login::Finished) -> Value {
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_and_login_with_an_oidc_authority() {
    let op = OidcProvider::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let ca = op.ca_path().to_str().unwrap().to_owned();
    let secret_file = home.join("secret");
    std::fs::write(&secret_file, op.client_secret()).unwrap();
    let secret_file = secret_file.to_str().unwrap().to_owned();
    let app_cache = home.join("app-cache.json");
    let app_cache = app_cache.to_str().unwrap().to_owned();

    // The app's token, then the same one from the cache file.
    let token = |extra: &[&str]| {
        let mut args = vec![
            "token",
            "--oidc-authority",
            op.issuer(),
            "--client-id",
            CONFIDENTIAL_CLIENT_ID,
            "--client-secret-file",
            &secret_file,
            "--scope",
            "api.read",
            "--ca-cert",
            &ca,
            "--cache",
            &app_cache,
            "--json",
        ];
        args.extend_from_slice(extra);
        run(home, &args)
    };
    let first = json_of(&token(&[]));
    assert_eq!(first["token_source"], "identity_provider", "{first}");
    let second = json_of(&token(&[]));
    assert_eq!(second["token_source"], "cache", "{second}");
    assert_eq!(second["access_token"], first["access_token"]);

    // A discovery document naming another issuer: bad input (exit 2), no token.
    let impostor = op.impostor_authority();
    let refused = run(
        home,
        &[
            "token",
            "--oidc-authority",
            &impostor,
            "--client-id",
            CONFIDENTIAL_CLIENT_ID,
            "--client-secret-file",
            &secret_file,
            "--scope",
            "api.read",
            "--ca-cert",
            &ca,
        ],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", refused.stderr);
    assert!(
        refused.stderr.contains(op.impostor_issuer()),
        "{}",
        refused.stderr
    );
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);

    // --authority and --oidc-authority together are a usage error.
    let both = run(
        home,
        &[
            "token",
            "--authority",
            op.issuer(),
            "--oidc-authority",
            op.issuer(),
            "--client-id",
            "x",
            "--scope",
            "s",
        ],
    );
    assert_eq!(both.status.code(), Some(2), "{}", both.stderr);

    // The user signs in through `msal login --oidc-authority`.
    let user_cache = home.join("user-cache.json");
    let user_cache = user_cache.to_str().unwrap().to_owned();
    let running = Running::spawn(msal(home).args([
        "login",
        "--no-browser",
        "--oidc-authority",
        op.issuer(),
        "--client-id",
        PUBLIC_CLIENT_ID,
        "--scope",
        "api.read",
        // OIDC Core 11: offline_access (a refresh token) needs consent.
        "--prompt",
        "consent",
        "--login-hint",
        USERNAME,
        "--timeout",
        "50",
        "--ca-cert",
        &ca,
        "--cache",
        &user_cache,
        "--json",
    ]));
    let url = running.sign_in_url();
    assert!(url.starts_with(&format!("{}/auth?", op.issuer())), "{url}");
    let SignedIn::FormPost(redirect) = op.user(PASSWORD).unwrap().sign_in(&url).await.unwrap() else {
        panic!("the provider answers with the form_post page");
    };
    assert!(
        redirect.action.starts_with("http://localhost:"),
        "{}",
        redirect.action
    );
    let delivered = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
        .post(&redirect.action)
        .form(&redirect.fields)
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status(), 200);
    let login = json_of(&running.finish());
    assert_eq!(login["account"]["home_account_id"], SUBJECT, "{login}");
    assert_eq!(login["account"]["username"], USERNAME, "{login}");

    // `msal token --account` needs nothing else: the login remembered the OIDC authority.
    let user_token = |extra: &[&str]| {
        let mut args = vec![
            "token",
            "--account",
            USERNAME,
            "--scope",
            "api.read",
            "--cache",
            &user_cache,
            "--json",
        ];
        args.extend_from_slice(extra);
        json_of(&run(home, &args))
    };
    let cached = user_token(&[]);
    assert_eq!(cached["token_source"], "cache", "{cached}");
    let refreshed = user_token(&["--force-refresh"]);
    assert_eq!(refreshed["token_source"], "identity_provider", "{refreshed}");
    assert_ne!(refreshed["access_token"], cached["access_token"]);

    // And `msal accounts` lists the user under the provider's host.
    let accounts = json_of(&run(home, &["accounts", "--cache", &user_cache, "--json"]));
    assert_eq!(accounts[0]["username"], USERNAME, "{accounts}");
    assert_eq!(accounts[0]["environment"], "127.0.0.1", "{accounts}");
}

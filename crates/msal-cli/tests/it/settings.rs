//! Where `msal` takes its settings from, end to end: each layer (flags,
//! `MSAL_*`, `AZURE_*`, the config file, what `msal login` remembered)
//! overriding the next, seen in which tenant a token comes from, whether
//! the client id is known, and which file the cache goes to; a config file
//! that does not parse; and a cache location that cannot be written,
//! refused before a single request.

use std::path::Path;
use std::process::Command;

use msal_emulator::{Directory, EmulatorConfig, builtin};
use serde_json::Value;

use crate::login::{Finished, Running, msal};

const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";

fn finish(command: &mut Command) -> Finished {
    tokio::task::block_in_place(|| Running::spawn(command).finish())
}

fn tenant_of(out: &Finished) -> String {
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    let json: Value = serde_json::from_str(&out.stdout).unwrap();
    json["tenant_id"].as_str().unwrap().to_owned()
}

fn write_config(home: &Path, text: &str) {
    let dir = home.join("config/msal");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_layer_overrides_the_next() {
    // One multi-tenant registration: the tenant a token comes from shows
    // which authority was used.
    let mut directory = Directory::builtin();
    for app in directory
        .apps
        .iter_mut()
        .filter(|a| a.client_id == builtin::DAEMON_CLIENT_ID)
    {
        app.multi_tenant = true;
    }
    let emulator = msal_test_support::start_with(EmulatorConfig::new(directory))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let ca = home.join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();
    let ca_arg = ca.to_str().unwrap().to_owned();
    let host = emulator.url().trim_start_matches("https://").to_owned();
    let secret = home.join("secret.txt");
    std::fs::write(&secret, builtin::DAEMON_CLIENT_SECRET).unwrap();

    // Remembered: the application signs in at Contoso.
    let login = finish(
        msal(home)
            .args([
                "login",
                "--client-id",
                builtin::DAEMON_CLIENT_ID,
                "--scope",
                GRAPH_DEFAULT,
            ])
            .args(["--authority", &emulator.authority(builtin::CONTOSO_TENANT_NAME)])
            .args(["--ca-cert", &ca_arg, "--client-secret-file"])
            .arg(&secret),
    );
    assert!(login.status.success(), "{}", login.stderr);
    // Every later token is asked for anew, with the secret from the environment.
    let token = |configure: &dyn Fn(&mut Command)| {
        let mut command = msal(home);
        command
            .args(["token", "--scope", GRAPH_DEFAULT, "--json", "--force-refresh"])
            .env("MSAL_CLIENT_SECRET", builtin::DAEMON_CLIENT_SECRET);
        configure(&mut command);
        finish(&mut command)
    };
    let with_client = |command: &mut Command| {
        command.args(["--client-id", builtin::DAEMON_CLIENT_ID]);
    };
    assert_eq!(tenant_of(&token(&with_client)), builtin::CONTOSO_TENANT_ID);

    // The config file beats what login remembered.
    write_config(
        home,
        &format!(
            "authority = \"{}\"\nca_cert = \"{ca_arg}\"\nclient_id = \"{}\"\n",
            emulator.authority(builtin::FABRIKAM_TENANT_NAME),
            builtin::DAEMON_CLIENT_ID
        ),
    );
    assert_eq!(
        tenant_of(&token(&|_| {})),
        builtin::FABRIKAM_TENANT_ID,
        "client id from the file too"
    );
    // AZURE_TENANT_ID on AZURE_AUTHORITY_HOST beats the file...
    let azure = |command: &mut Command| {
        command
            .env("AZURE_TENANT_ID", builtin::WOODGROVE_TENANT_NAME)
            .env("AZURE_AUTHORITY_HOST", &host);
    };
    assert_eq!(tenant_of(&token(&azure)), builtin::WOODGROVE_TENANT_ID);
    // ...MSAL_AUTHORITY beats AZURE_*...
    let msal_env = |command: &mut Command| {
        azure(command);
        command.env("MSAL_AUTHORITY", emulator.authority(builtin::CONTOSO_TENANT_NAME));
    };
    assert_eq!(tenant_of(&token(&msal_env)), builtin::CONTOSO_TENANT_ID);
    // ...and the flag beats them all.
    let flag = |command: &mut Command| {
        msal_env(command);
        command.args(["--authority", &emulator.authority(builtin::FABRIKAM_TENANT_NAME)]);
    };
    assert_eq!(tenant_of(&token(&flag)), builtin::FABRIKAM_TENANT_ID);

    // The client id: an unknown one in a layer shows that layer won (the
    // identity provider refuses it: exit 1).
    let unknown = |out: Finished| {
        assert_eq!(out.status.code(), Some(1), "{}\n{}", out.stdout, out.stderr);
        assert!(out.stdout.contains("700016"), "{}", out.stdout);
    };
    unknown(token(&|command: &mut Command| {
        command.env("AZURE_CLIENT_ID", "00000000-0000-0000-0000-0000000a2a2e");
    }));
    assert_eq!(
        tenant_of(&token(&|command: &mut Command| {
            command
                .env("AZURE_CLIENT_ID", "00000000-0000-0000-0000-0000000a2a2e")
                .env("MSAL_CLIENT_ID", builtin::DAEMON_CLIENT_ID);
        })),
        builtin::FABRIKAM_TENANT_ID
    );
    unknown(token(&|command: &mut Command| {
        command
            .env("MSAL_CLIENT_ID", builtin::DAEMON_CLIENT_ID)
            .args(["--client-id", "00000000-0000-0000-0000-00000000f1a9"]);
    }));

    // The tenant asked: the file's, then MSAL_TENANT, then --tenant.
    write_config(
        home,
        &format!(
            "authority = \"{}\"\nca_cert = \"{ca_arg}\"\nclient_id = \"{}\"\ntenant = \"{}\"\n",
            emulator.authority(builtin::CONTOSO_TENANT_NAME),
            builtin::DAEMON_CLIENT_ID,
            builtin::FABRIKAM_TENANT_NAME
        ),
    );
    assert_eq!(tenant_of(&token(&|_| {})), builtin::FABRIKAM_TENANT_ID);
    let msal_tenant = |command: &mut Command| {
        command.env("MSAL_TENANT", builtin::WOODGROVE_TENANT_NAME);
    };
    assert_eq!(tenant_of(&token(&msal_tenant)), builtin::WOODGROVE_TENANT_ID);
    assert_eq!(
        tenant_of(&token(&|command: &mut Command| {
            msal_tenant(command);
            command.args(["--tenant", builtin::CONTOSO_TENANT_NAME]);
        })),
        builtin::CONTOSO_TENANT_ID
    );

    // The cache location: the default, then the file's `cache` (relative to
    // the file), then MSAL_CACHE, then --cache. Tokens are cached by every
    // command; each file receives one.
    let default_cache = home.join("xdg/msal/token_cache.json");
    let from_file = home.join("config/msal/from-file.json");
    let from_env = home.join("from-env.json");
    let from_flag = home.join("from-flag.json");
    write_config(
        home,
        &format!(
            "authority = \"{}\"\nca_cert = \"{ca_arg}\"\nclient_id = \"{}\"\ncache = \"from-file.json\"\n",
            emulator.authority(builtin::CONTOSO_TENANT_NAME),
            builtin::DAEMON_CLIENT_ID
        ),
    );
    let cached_in = |path: &Path| {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .contains("AccessToken")
    };
    std::fs::remove_file(&default_cache).unwrap();
    tenant_of(&token(&|_| {}));
    assert!(cached_in(&from_file) && !default_cache.exists());
    tenant_of(&token(&|command: &mut Command| {
        command.env("MSAL_CACHE", &from_env);
    }));
    assert!(cached_in(&from_env));
    tenant_of(&token(&|command: &mut Command| {
        command
            .env("MSAL_CACHE", &from_env)
            .arg("--cache")
            .arg(&from_flag);
    }));
    assert!(cached_in(&from_flag));
    assert!(!default_cache.exists(), "nothing went to the default meanwhile");

    // --config names another file, which must exist; MSAL_CONFIG too.
    let other = home.join("other.toml");
    std::fs::write(
        &other,
        format!(
            "authority = \"{}\"\nca_cert = \"{ca_arg}\"\nclient_id = \"{}\"\n",
            emulator.authority(builtin::WOODGROVE_TENANT_NAME),
            builtin::DAEMON_CLIENT_ID
        ),
    )
    .unwrap();
    assert_eq!(
        tenant_of(&token(&|command: &mut Command| {
            command.arg("--config").arg(&other);
        })),
        builtin::WOODGROVE_TENANT_ID
    );
    assert_eq!(
        tenant_of(&token(&|command: &mut Command| {
            command.env("MSAL_CONFIG", &other);
        })),
        builtin::WOODGROVE_TENANT_ID
    );
    emulator.reset_counts();
    let missing = token(&|command: &mut Command| {
        command.args(["--config", "/nonexistent/msal.toml"]);
    });
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        missing.stdout.contains("/nonexistent/msal.toml"),
        "{}",
        missing.stdout
    );
    // A typo in the file: refused, naming the file and the key.
    write_config(home, "client_idd = \"x\"\n");
    let typo = token(&|_| {});
    assert_eq!(typo.status.code(), Some(2));
    let error: Value = serde_json::from_str(&typo.stdout).unwrap();
    let description = error["error_description"].as_str().unwrap();
    assert!(
        description.contains("config/msal/config.toml") && description.contains("client_idd"),
        "{description}"
    );
    assert_eq!(emulator.total_requests(), 0);
    emulator.shutdown().await;
}

/// A directory this process cannot write: read-only, or (for root, who
/// may write anyway) a read-only file system's.
fn read_only_dir(parent: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = parent.join("read-only");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(dir.join("probe"), "").is_ok() {
        // Root ignores the mode bits; sysfs takes no new files from anyone.
        return std::path::PathBuf::from("/sys");
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_that_cannot_be_written_is_refused_before_any_request() {
    let emulator = msal_test_support::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let ca = home.join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();
    let read_only = read_only_dir(home);
    let cache = read_only.join("token_cache.json");
    let cache_arg = cache.to_str().unwrap();
    let authority = emulator.authority(builtin::CONTOSO_TENANT_NAME);

    let app = finish(
        msal(home)
            .args([
                "token",
                "--client-id",
                builtin::DAEMON_CLIENT_ID,
                "--authority",
                &authority,
            ])
            .args([
                "--scope",
                GRAPH_DEFAULT,
                "--cache",
                cache_arg,
                "--json",
                "--ca-cert",
            ])
            .arg(&ca)
            .env("MSAL_CLIENT_SECRET", builtin::DAEMON_CLIENT_SECRET),
    );
    assert_eq!(app.status.code(), Some(2), "{}\n{}", app.stdout, app.stderr);
    let error: Value = serde_json::from_str(&app.stdout).unwrap();
    let description = error["error_description"].as_str().unwrap();
    assert!(
        description.contains(cache_arg) && description.contains("--cache"),
        "{description}"
    );

    let user = finish(
        msal(home)
            .env("MSAL_PASSWORD", builtin::ALICE_PASSWORD)
            .args([
                "login",
                "--username",
                builtin::ALICE_UPN,
                "--authority",
                &authority,
            ])
            .args(["--client-id", builtin::PUBLIC_CLIENT_ID, "--scope", "User.Read"])
            .args(["--cache", cache_arg, "--ca-cert"])
            .arg(&ca),
    );
    assert_eq!(user.status.code(), Some(2), "{}", user.stderr);
    assert!(user.stderr.contains(cache_arg), "{}", user.stderr);
    // Not one request reached the identity provider.
    assert_eq!(emulator.total_requests(), 0);
    emulator.shutdown().await;
}

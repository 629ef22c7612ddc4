//! `msal --cache-store keyring` end to end: the real binary signs a user in
//! (password, against the in-process emulator) into a real GNOME Keyring
//! on a private D-Bus session bus, then lists, uses, describes and signs
//! out the account; no file in the cache directory ever holds a token.
//! Without a reachable keyring: exit 2 and what to do, unless the opt-in
//! unencrypted fallback is asked for, which says so.

use std::path::Path;
use std::process::Command;

use msal_emulator::{Emulator, builtin};
use msal_test_support::keyring::SecretService;
use msal_test_support::start;

use crate::login::{Finished, Running, json_of, msal, usernames};

/// `msal --cache-store keyring ARGS` on `service`'s bus.
fn keyring_msal(home: &Path, service: &SecretService, args: &[&str]) -> Finished {
    let mut command = msal(home);
    service
        .apply(&mut command)
        .args(["--cache-store", "keyring"])
        .args(args);
    Running::spawn(&mut command).finish()
}

/// `msal login --username alice` with the password from the environment.
fn alice_login(command: &mut Command, emulator: &Emulator, ca: &Path) -> Finished {
    command
        .env("MSAL_PASSWORD", builtin::ALICE_PASSWORD)
        .args(["login", "--username", builtin::ALICE_UPN, "--authority"])
        .arg(emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .args([
            "--client-id",
            builtin::PUBLIC_CLIENT_ID,
            "--scope",
            "User.Read",
            "--ca-cert",
        ])
        .arg(ca);
    Running::spawn(command).finish()
}

/// The files under `dir` (recursively) holding `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_token_accounts_status_and_logout_with_the_keyring() {
    let service = SecretService::start().unwrap();
    let emulator = start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let ca = home.join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();

    let mut login = msal(home);
    service.apply(&mut login).args(["--cache-store", "keyring"]);
    let out = alice_login(&mut login, &emulator, &ca);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.starts_with("Signed in as alice@"), "{}", out.stdout);
    assert_eq!(service.item_count().unwrap(), 1, "one keyring entry");

    // The environment variable chooses the store as well as the flag.
    let mut accounts = msal(home);
    service
        .apply(&mut accounts)
        .env("MSAL_CACHE_STORE", "keyring")
        .args(["accounts", "--json"]);
    let listed = json_of(&Running::spawn(&mut accounts).finish());
    assert_eq!(usernames(&listed), [builtin::ALICE_UPN]);

    // The user's token, from the keyring's cache, with nothing but the account.
    let token = keyring_msal(
        home,
        &service,
        &["token", "--account", builtin::ALICE_UPN, "--scope", "User.Read"],
    );
    assert!(token.status.success(), "{}", token.stderr);
    let access_token = token.stdout.trim().to_owned();
    assert!(access_token.len() > 100, "{access_token}");

    let status = keyring_msal(home, &service, &["status"]);
    assert!(status.status.success(), "{}", status.stderr);
    assert!(
        status
            .stdout
            .starts_with("Token cache: the OS keyring (Secret Service")
            && status.stdout.contains("token_cache.keyring")
            && status.stdout.contains(builtin::ALICE_UPN),
        "{}",
        status.stdout
    );

    // On disk: the empty signal file and the remembered sign-in (no
    // secret), no cache file; no file anywhere holds the token.
    let cache_dir = home.join("xdg/msal");
    let mut names: Vec<String> = std::fs::read_dir(&cache_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["token_cache.keyring", "token_cache.keyring.msal-cli.json"]
    );
    assert_eq!(std::fs::read(cache_dir.join("token_cache.keyring")).unwrap(), b"");
    assert_eq!(files_containing(home, &access_token[..64]), Vec::<String>::new());
    assert_eq!(
        files_containing(service.dir(), &access_token[..64]),
        Vec::<String>::new()
    );
    let remembered = std::fs::read_to_string(cache_dir.join("token_cache.keyring.msal-cli.json")).unwrap();
    assert!(
        remembered.contains(builtin::ALICE_UPN) && !remembered.contains("secret"),
        "{remembered}"
    );

    // The file store is another cache: nobody there.
    let file_store =
        Running::spawn(msal(home).args(["--cache-store", "file", "accounts", "--json"])).finish();
    assert_eq!(usernames(&json_of(&file_store)), Vec::<String>::new());

    // Sign out: gone from the keyring's cache, and forgotten.
    let logout = keyring_msal(home, &service, &["logout", "--account", builtin::ALICE_UPN]);
    assert!(logout.status.success(), "{}", logout.stderr);
    let listed = json_of(&keyring_msal(home, &service, &["accounts", "--json"]));
    assert_eq!(usernames(&listed), Vec::<String>::new());
    let after = keyring_msal(
        home,
        &service,
        &["token", "--account", builtin::ALICE_UPN, "--scope", "User.Read"],
    );
    assert_eq!(after.status.code(), Some(2), "{}", after.stderr);
    assert!(
        !std::fs::read_to_string(cache_dir.join("token_cache.keyring.msal-cli.json"))
            .unwrap()
            .contains(builtin::ALICE_UPN)
    );
    assert!(
        !cache_dir.join("token_cache.keyring.lockfile").exists(),
        "lock released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_keyring_an_error_or_the_opt_in_unencrypted_file() {
    let emulator = start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let ca = home.join("ca.pem");
    emulator.write_ca_cert(&ca).unwrap();
    let runtime_dir = home.join("run");
    std::fs::create_dir_all(&runtime_dir).unwrap();
    // As over SSH: no session bus address, and no bus at the default place.
    let no_bus = |extra: &[&str]| {
        let mut command = msal(home);
        command
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            .args(["--cache-store", "keyring"])
            .args(extra);
        command
    };

    let refused = alice_login(&mut no_bus(&[]), &emulator, &ca);
    assert_eq!(refused.status.code(), Some(2), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("no D-Bus session bus")
            && refused.stderr.contains("DBUS_SESSION_BUS_ADDRESS is not set")
            && refused.stderr.contains("--allow-unencrypted-cache"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stdout.contains("Signed in"), "refused before signing in");
    let listed = Running::spawn(&mut no_bus(&["accounts"])).finish();
    assert_eq!(listed.status.code(), Some(2), "{}", listed.stderr);

    // Opted in: the plain file, and a warning naming it.
    let signal = home.join("xdg/msal/token_cache.keyring");
    let fallback = alice_login(&mut no_bus(&["--allow-unencrypted-cache"]), &emulator, &ca);
    assert!(fallback.status.success(), "{}", fallback.stderr);
    assert!(
        fallback.stderr.contains("WARN")
            && fallback.stderr.contains("UNENCRYPTED")
            && fallback.stderr.contains(&signal.display().to_string()),
        "{}",
        fallback.stderr
    );
    assert!(
        std::fs::read_to_string(&signal)
            .unwrap()
            .contains("\"RefreshToken\"")
    );
    let mut by_env = no_bus(&["accounts", "--json"]);
    by_env.env("MSAL_ALLOW_UNENCRYPTED_CACHE", "1");
    let listed = json_of(&Running::spawn(&mut by_env).finish());
    assert_eq!(usernames(&listed), [builtin::ALICE_UPN]);
}

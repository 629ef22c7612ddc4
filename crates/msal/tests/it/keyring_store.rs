//! The token cache in a real Secret Service (GNOME Keyring on a private
//! D-Bus session bus, see `msal_test_support::keyring`): tokens from the
//! emulator round-trip through `KeyringPersistence` to a second reader, the
//! signal file tells readers to reload, no file holds a token (the
//! keyring's own files included: it encrypts them), and each way the
//! keyring can be unusable (no bus, no service, locked, hung) is its typed
//! error, or with the opt-in fallback a plain file and a warning.

use std::path::Path;
use std::time::Duration;

use crate::common::public_app;
use msal::cache::{FilePersistence, KeyringOptions, KeyringPersistence, PersistedCache, Persistence};
use msal::{CacheError, KeyringError, Password, TokenCache, TokenSource};
use msal_emulator::builtin;
use msal_test_support::keyring::SecretService;
use msal_test_support::start;

const SCOPES: [&str; 1] = ["User.Read"];

fn keyring_at(service: &SecretService, signal: &Path) -> KeyringPersistence {
    KeyringPersistence::with_options(signal, KeyringOptions::default().bus_address(service.address()))
}

/// Every file under `dir` (recursively) that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file()
                && let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[tokio::test]
async fn tokens_round_trip_through_the_keyring_and_no_file_holds_them() {
    let service = SecretService::start().unwrap();
    let emulator = start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let signal = dir.path().join("msal_cache.bin");
    let persisted = PersistedCache::new(keyring_at(&service, &signal));
    assert!(persisted.persistence().is_encrypted());
    assert!(persisted.persistence().location().contains("msal_cache.bin"));

    // Sign in under the lock, then save: the cache goes to the keyring.
    let guard = persisted.lock().unwrap();
    assert!(dir.path().join("msal_cache.bin.lockfile").exists(), "locked");
    let app = public_app(&emulator, builtin::CONTOSO_TENANT_NAME, persisted.cache());
    let result = app
        .acquire_token_by_username_password(
            builtin::ALICE_UPN,
            Password::new(builtin::ALICE_PASSWORD),
            SCOPES,
        )
        .await
        .unwrap();
    assert!(guard.save_if_changed().unwrap());
    drop(guard);
    assert!(!dir.path().join("msal_cache.bin.lockfile").exists(), "released");
    assert_eq!(service.item_count().unwrap(), 1);

    // A second instance (another process would do the same) reads it all.
    let second = PersistedCache::new(keyring_at(&service, &signal));
    assert!(second.refresh().unwrap());
    let reader = public_app(&emulator, builtin::CONTOSO_TENANT_NAME, second.cache());
    let account = reader
        .get_accounts(Some(builtin::ALICE_UPN))
        .into_iter()
        .next()
        .unwrap();
    let silent = reader.acquire_token_silent(SCOPES, &account).await.unwrap();
    assert_eq!(silent.token_source, TokenSource::Cache);
    assert_eq!(silent.access_token, result.access_token);
    let refresh_token = {
        let json: serde_json::Value = serde_json::from_str(&second.cache().serialize()).unwrap();
        let tokens = json["RefreshToken"].as_object().unwrap();
        tokens.values().next().unwrap()["secret"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    // No file anywhere holds a token: not the signal file (empty), not the
    // directory, not the keyring daemon's own files.
    assert_eq!(
        std::fs::read(&signal).unwrap(),
        b"",
        "the signal file holds nothing"
    );
    for secret in [result.access_token.expose_secret(), refresh_token.as_str()] {
        let needle = &secret.as_bytes()[..secret.len().min(48)];
        assert_eq!(files_containing(dir.path(), needle), Vec::<String>::new());
        assert_eq!(files_containing(service.dir(), needle), Vec::<String>::new());
    }

    // Saving again replaces the entry instead of adding one; clearing removes it.
    second
        .modify(|cache| cache.merge_from(&TokenCache::from_json(&cache.serialize()).unwrap()))
        .unwrap();
    assert_eq!(service.item_count().unwrap(), 1);
    let keyring = keyring_at(&service, &signal);
    assert!(keyring.clear().unwrap());
    assert!(!keyring.clear().unwrap());
    assert!(keyring.load().unwrap().is_none(), "nothing stored any more");
}

#[test]
fn the_signal_file_tells_another_reader_to_reload() {
    let service = SecretService::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let signal = dir.path().join("cache.bin");
    let writer = PersistedCache::new(keyring_at(&service, &signal));
    let reader = PersistedCache::new(keyring_at(&service, &signal));
    assert!(
        reader.persistence().load().unwrap().is_none(),
        "nothing saved yet"
    );
    assert_eq!(
        reader.persistence().modified().unwrap(),
        None,
        "no signal file yet"
    );
    assert!(reader.refresh().unwrap(), "the first read always loads");
    assert!(!reader.refresh().unwrap(), "no change, no load");

    let token = |client: &str, secret: &str| {
        TokenCache::from_json(
            &serde_json::json!({"AccessToken": {format!("-e-accesstoken-{client}-r-t"): {
                "credential_type": "AccessToken", "secret": secret, "home_account_id": null,
                "environment": "e", "client_id": client, "target": "t", "realm": "r",
                "cached_at": "1", "expires_on": "4102444800", "extended_expires_on": "4102444800"}}})
            .to_string(),
        )
        .unwrap()
    };
    writer
        .modify(|cache| cache.merge_from(&token("a", "first-secret")))
        .unwrap();
    let first_signal = writer.persistence().modified().unwrap().unwrap();
    assert!(reader.refresh().unwrap(), "the signal file changed: reload");
    assert_eq!(reader.cache().access_token_count(), 1);
    assert!(!reader.refresh().unwrap());

    // The reader writes next, on top of what it read; the writer reloads
    // under the lock before its own change, so neither update is lost.
    reader
        .modify(|cache| cache.merge_from(&token("b", "second-secret")))
        .unwrap();
    assert_ne!(writer.persistence().modified().unwrap(), Some(first_signal));
    writer
        .modify(|cache| cache.merge_from(&token("c", "third-secret")))
        .unwrap();
    assert!(reader.refresh().unwrap());
    assert_eq!(reader.cache().access_token_count(), 3);
    assert_eq!(files_containing(dir.path(), b"-secret"), Vec::<String>::new());
}

#[test]
fn an_unusable_keyring_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let signal = dir.path().join("cache.bin");
    // No bus at all (as over SSH): NoSession, from load, save and probe alike.
    let nowhere = KeyringPersistence::with_options(
        &signal,
        KeyringOptions::default().bus_address(format!("unix:path={}", dir.path().join("no-bus").display())),
    );
    for outcome in [
        nowhere.load().map(drop),
        nowhere.save(&TokenCache::new()),
        nowhere.probe(),
    ] {
        match outcome {
            Err(CacheError::Keyring(KeyringError::NoSession { reason })) => {
                assert!(reason.contains("no-bus"), "{reason}")
            }
            other => panic!("expected NoSession, got {other:?}"),
        }
    }
    assert!(!signal.exists(), "a failed save touches nothing");

    // A bus without a Secret Service.
    let bare = SecretService::bus_only().unwrap();
    let message = match keyring_at(&bare, &signal).probe() {
        Err(e @ CacheError::Keyring(KeyringError::NoService { .. })) => e.to_string(),
        other => panic!("expected NoService, got {other:?}"),
    };
    assert!(message.contains("no Secret Service"), "{message}");
}

#[test]
fn a_locked_collection_is_an_error_and_never_a_prompt() {
    let service = SecretService::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keyring = keyring_at(&service, &dir.path().join("cache.bin"));
    let cache = TokenCache::from_json(r#"{"AppMetadata": {}}"#).unwrap();
    keyring.save(&cache).unwrap();
    service.lock_collection().unwrap();
    for outcome in [keyring.load().map(drop), keyring.save(&cache), keyring.probe()] {
        match outcome {
            Err(CacheError::Keyring(KeyringError::Locked { collection })) => {
                assert!(collection.contains("/collection/login"), "{collection}")
            }
            other => panic!("expected Locked, got {other:?}"),
        }
    }
}

#[test]
fn a_hung_keyring_times_out() {
    let service = SecretService::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keyring = KeyringPersistence::with_options(
        dir.path().join("cache.bin"),
        KeyringOptions::default()
            .bus_address(service.address())
            .timeout(Duration::from_millis(500)),
    );
    keyring.probe().unwrap();
    service.pause_keyring(true).unwrap();
    let outcome = keyring.load().map(drop);
    service.pause_keyring(false).unwrap();
    match outcome {
        Err(CacheError::Keyring(KeyringError::Timeout { after, .. })) => {
            assert_eq!(after, Duration::from_millis(500))
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    keyring.probe().unwrap();
}

#[test]
fn the_opt_in_fallback_is_a_plain_file_with_a_warning() {
    let logs = msal_test_support::logs::capture().unwrap();
    let bare = SecretService::bus_only().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain.json");
    let store =
        keyring_at(&bare, &dir.path().join("cache.bin")).or_plaintext_fallback(FilePersistence::new(&file));
    assert!(!store.is_encrypted());
    assert_eq!(store.location(), file.display().to_string());
    let text = logs.text();
    assert!(
        text.contains("WARN") && text.contains("UNENCRYPTED") && text.contains(&file.display().to_string()),
        "{text}"
    );
    let persisted = PersistedCache::from_boxed(store);
    persisted
        .modify(|cache| {
            cache.merge_from(
                &TokenCache::from_json(r#"{"AppMetadata": {"k": {"client_id": "c", "environment": "e"}}}"#)
                    .unwrap(),
            )
        })
        .unwrap();
    assert!(std::fs::read_to_string(&file).unwrap().contains("AppMetadata"));

    // With a working keyring the keyring is used, and nothing more is said.
    let service = SecretService::start().unwrap();
    let store = keyring_at(&service, &dir.path().join("cache.bin"))
        .or_plaintext_fallback(FilePersistence::new(dir.path().join("unused.json")));
    assert!(store.is_encrypted());
    assert_eq!(logs.text().matches("UNENCRYPTED").count(), 1, "{}", logs.text());
}

/// MSAL Python's msal-extensions (pinned 1.3.1) through libsecret, with the
/// `LibsecretPersistence(location)` defaults, in the test's keyring;
/// `mode` `save` stores stdin, `load` prints what is stored.
fn msal_extensions(service: &SecretService, location: &Path, mode: &str, input: &str) -> String {
    use std::io::Write;
    let python = msal_test_support::python::interpreter().unwrap();
    let script = "import sys\nfrom msal_extensions import LibsecretPersistence\n\
                  p = LibsecretPersistence(sys.argv[1])\n\
                  if sys.argv[2] == 'save':\n    p.save(sys.stdin.read())\n\
                  else:\n    sys.stdout.write(p.load())\n";
    let mut command = std::process::Command::new(python);
    // libsecret's Python binding (python3-gi, gir1.2-secret-1) is Debian's.
    command
        .env("PYTHONPATH", "/usr/lib/python3/dist-packages")
        .args(["-c", script])
        .arg(location)
        .arg(mode)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = service.apply(&mut command).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn msal_python_extensions_and_msal_share_the_keyring_entry() {
    let service = SecretService::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("shared_cache.bin");
    let account = |username: &str| {
        serde_json::json!({"Account": {format!("{username}-login.microsoftonline.com-utid"): {
            "home_account_id": username, "environment": "login.microsoftonline.com", "realm": "utid",
            "local_account_id": "uid", "username": username, "authority_type": "MSSTS"}}})
        .to_string()
    };
    // Python writes, msal reads.
    msal_extensions(&service, &location, "save", &account("python"));
    let ours = KeyringPersistence::with_options(
        &location,
        KeyringOptions::default().bus_address(service.address()),
    );
    let read = ours.load().unwrap().expect("the entry MSAL Python stored");
    assert!(read.serialize().contains("\"username\": \"python\""));
    // msal writes (replacing the same entry), Python reads.
    ours.save(&TokenCache::from_json(&account("rust")).unwrap())
        .unwrap();
    assert_eq!(service.item_count().unwrap(), 1, "one entry for both libraries");
    let theirs: serde_json::Value =
        serde_json::from_str(&msal_extensions(&service, &location, "load", "")).unwrap();
    let accounts = theirs["Account"].as_object().unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts.values().next().unwrap()["username"], "rust");
}

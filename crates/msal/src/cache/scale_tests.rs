//! The serialized form is unchanged by the index (byte for byte), a cache
//! of 10,000 accounts goes through files and still answers lookups, and the
//! cache is shared safely between threads.

use std::sync::mpsc;
use std::time::Duration;

use serde::Serialize;

use super::index::Indexed;
use super::schema::CacheData;
use super::tests::PYTHON_CACHE;
use super::*;

/// How the cache was written before it was indexed: the document's maps,
/// pretty-printed with four spaces.
fn schema_writer(json: &str) -> String {
    let data: CacheData = serde_json::from_str(json).unwrap();
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    data.serialize(&mut serializer).unwrap();
    String::from_utf8(out).unwrap()
}

/// MSAL Python's fixture as this library has always written it.
const PYTHON_CACHE_SERIALIZED: &str = r#"{
    "AccessToken": {
        "-127.0.0.1-accesstoken-client-1-tenant-guid-https://graph.microsoft.com/.default": {
            "credential_type": "AccessToken",
            "secret": "at-secret-value",
            "home_account_id": null,
            "environment": "127.0.0.1",
            "client_id": "client-1",
            "target": "https://graph.microsoft.com/.default",
            "realm": "tenant-guid",
            "token_type": "Bearer",
            "cached_at": "1000",
            "expires_on": "4600",
            "extended_expires_on": "4600",
            "node_specific": {
                "kept": true
            }
        }
    },
    "RefreshToken": {},
    "IdToken": {},
    "Account": {},
    "AppMetadata": {
        "appmetadata-127.0.0.1-client-1": {
            "client_id": "client-1",
            "environment": "127.0.0.1"
        }
    },
    "GoOnlySection": {
        "x": 1
    }
}"#;

const ENV: &str = "login.example.com";
const CLIENT: &str = "client-1";
const TENANT: &str = "tenant-1";

fn hid(n: usize) -> String {
    format!("{n:08}-0000-0000-0000-000000000000.{TENANT}")
}

/// One interactive sign-in's worth of entries for account `n`, with
/// JWT-sized secrets so the document has a realistic size.
fn sign_in(n: usize, padding: &str) -> CacheWrite {
    let home_account_id: Option<Str> = Some(hid(n).into());
    CacheWrite {
        access_token: Some(AccessTokenEntry {
            credential_type: "AccessToken".into(),
            secret: CachedSecret::new(format!("at-{n}-{padding}")),
            home_account_id: home_account_id.clone(),
            environment: ENV.into(),
            client_id: CLIENT.into(),
            target: "openid profile user.read mail.read".into(),
            realm: TENANT.into(),
            token_type: Some("Bearer".into()),
            cached_at: 1_000,
            expires_on: 100_000 + n as u64,
            extended_expires_on: Some(100_000),
            ..Default::default()
        }),
        refresh_token: Some(RefreshTokenEntry {
            credential_type: "RefreshToken".into(),
            secret: CachedSecret::new(format!("rt-{n}-{padding}")),
            home_account_id: home_account_id.clone(),
            environment: ENV.into(),
            client_id: CLIENT.into(),
            target: None,
            last_modification_time: Some(1_000),
            family_id: Some("1".into()),
            extra: Default::default(),
        }),
        id_token: Some(IdTokenEntry {
            credential_type: "IdToken".into(),
            secret: CachedSecret::new(format!("idt-{n}-{padding}")),
            home_account_id: home_account_id.clone(),
            environment: ENV.into(),
            realm: TENANT.into(),
            client_id: CLIENT.into(),
            extra: Default::default(),
        }),
        account: Some(AccountEntry {
            home_account_id,
            environment: ENV.into(),
            realm: TENANT.into(),
            local_account_id: Some(format!("{n:08}").into()),
            username: format!("user{n}@example.com").into(),
            authority_type: AUTHORITY_TYPE_MSSTS.into(),
            account_source: None,
            extra: Default::default(),
        }),
        app_metadata: AppMetadataEntry {
            client_id: CLIENT.into(),
            environment: ENV.into(),
            family_id: Some("1".into()),
            extra: Default::default(),
        },
    }
}

#[test]
fn serialized_form_is_byte_identical_to_the_schema_writer() {
    let cache = TokenCache::from_json(PYTHON_CACHE).unwrap();
    let json = cache.serialize();
    assert_eq!(json, PYTHON_CACHE_SERIALIZED);
    assert_eq!(json, schema_writer(PYTHON_CACHE));

    // A richer document: several accounts, realms and sections, written
    // through memory and through a file.
    let rich = TokenCache::new();
    for n in 0..20 {
        rich.add(sign_in(n, "x"));
    }
    rich.deserialize(&{
        let mut doc: serde_json::Value = serde_json::from_str(&rich.serialize()).unwrap();
        doc["NodeOnly"] = serde_json::json!({"k": [1, 2, 3]});
        doc.to_string()
    })
    .unwrap();
    let json = rich.serialize();
    assert_eq!(json, schema_writer(&json));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.json");
    rich.save_to_file(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), json);
    let reloaded = TokenCache::load_from_file(&path).unwrap();
    assert_eq!(reloaded.serialize(), json);
}

#[test]
fn ten_thousand_accounts_load_save_and_answer_lookups() {
    const ACCOUNTS: usize = 10_000;
    let padding = "p".repeat(900);
    let cache = TokenCache::new();
    for n in 0..ACCOUNTS {
        cache.add(sign_in(n, &padding));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big").join("cache.json");
    cache.save_to_file(&path).unwrap();
    assert!(!cache.has_state_changed());
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(
        size > 30_000_000,
        "a 10,000-account cache is tens of megabytes, got {size}"
    );

    let loaded = TokenCache::load_from_file(&path).unwrap();
    assert!(!loaded.has_state_changed());
    assert_eq!(loaded.access_token_count(), ACCOUNTS);
    let accounts = loaded.accounts("LOGIN.example.com");
    assert_eq!(accounts.len(), ACCOUNTS);
    // Key order: the zero-padded home account ids sort by number.
    assert_eq!(accounts[0].username, "user0@example.com");
    assert_eq!(
        accounts[ACCOUNTS - 1].username,
        format!("user{}@example.com", ACCOUNTS - 1)
    );

    // A subset-scope lookup for one account finds that account's token.
    let wanted = hid(7_777);
    let query = AccessTokenQuery {
        home_account_id: Some(&wanted),
        environment: ENV,
        client_id: CLIENT,
        realm: TENANT,
    };
    let scopes = vec!["User.Read".to_owned(), "openid".to_owned()];
    let hit = loaded.find_access_token(&query, &scopes, 2_000).unwrap();
    assert_eq!(hit.secret.expose(), format!("at-7777-{padding}"));
    assert_eq!(hit.expires_on, 107_777);
    let rts = loaded.refresh_tokens_of(&wanted, &[ENV.to_owned()], |_| true);
    assert_eq!(rts.len(), 1);
    assert_eq!(rts[0].secret.expose(), format!("rt-7777-{padding}"));
    assert_eq!(loaded.accounts_of(&wanted, &[ENV.to_owned()]).len(), 1);

    // Signing one account out leaves the others and a consistent index.
    assert!(loaded.remove_account(ENV, &wanted, CLIENT));
    assert!(loaded.find_access_token(&query, &scopes, 2_000).is_none());
    assert_eq!(loaded.accounts(ENV).len(), ACCOUNTS - 1);

    // Saving again streams the same bytes a serialize gives.
    let again = dir.path().join("again.json");
    loaded.save_to_file(&again).unwrap();
    let written = std::fs::read_to_string(&again).unwrap();
    assert_eq!(written, loaded.serialize());
    let state = loaded.read();
    let rebuilt = Indexed::new(serde_json::from_str(&written).unwrap());
    assert!(state.data.index() == rebuilt.index());
}

#[test]
fn blank_and_truncated_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.json");
    std::fs::write(&path, " \n\t\n").unwrap();
    assert_eq!(TokenCache::load_from_file(&path).unwrap().access_token_count(), 0);
    std::fs::write(&path, "").unwrap();
    assert_eq!(TokenCache::load_from_file(&path).unwrap().access_token_count(), 0);
    std::fs::write(&path, "\n\n  {\"AccessToken\": ").unwrap();
    match TokenCache::load_from_file(&path) {
        Err(CacheError::Malformed { line, reason, .. }) => {
            assert_eq!(line, 3);
            assert_eq!(reason, "the document ends early");
        }
        other => panic!("{other:?}"),
    }
    std::fs::write(&path, "{} trailing").unwrap();
    assert!(matches!(
        TokenCache::load_from_file(&path),
        Err(CacheError::Malformed { .. })
    ));
    // A directory cannot be read as a file: an I/O error naming the path.
    match TokenCache::load_from_file(dir.path()) {
        Err(CacheError::Io { path, .. }) => assert!(path.contains(&*dir.path().to_string_lossy())),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_cache_is_shared_across_threads() {
    fn shared<T: Send + Sync + Clone + 'static>() {}
    shared::<TokenCache>();

    let cache = TokenCache::new();
    cache.add(sign_in(0, "x"));
    // A reader holding the lock does not stop other readers, serializing included.
    let held = cache.read();
    let (done, finished) = mpsc::channel();
    let other = cache.clone();
    let reader = std::thread::spawn(move || {
        let found = other.accounts(ENV).len();
        let json = other.serialize();
        done.send((found, json.len())).unwrap();
    });
    let (found, length) = finished
        .recv_timeout(Duration::from_secs(60))
        .expect("a reader waited for another reader");
    assert_eq!(found, 1);
    assert!(length > 0);
    drop(held);
    reader.join().unwrap();

    // Writers and readers on several threads: every write lands, the index stays whole.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let cache = cache.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    let n = 1 + t * 100 + i;
                    cache.add(sign_in(n, "x"));
                    let wanted = hid(n);
                    let query = AccessTokenQuery {
                        home_account_id: Some(&wanted),
                        environment: ENV,
                        client_id: CLIENT,
                        realm: TENANT,
                    };
                    let hit = cache.find_access_token(&query, &["openid".to_owned()], 0);
                    assert_eq!(hit.map(|e| e.expires_on), Some(100_000 + n as u64));
                    if i % 10 == 0 {
                        assert!(cache.remove_account(ENV, &wanted, CLIENT));
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(cache.accounts(ENV).len(), 1 + 400 - 40);
    let json = cache.serialize();
    let state = cache.read();
    assert!(state.data.index() == Indexed::new(serde_json::from_str(&json).unwrap()).index());
}

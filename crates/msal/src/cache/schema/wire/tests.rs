//! The reader against plain JSON: what it loads is what `serde_json`'s
//! own map reading sees (later duplicates winning), the index it builds
//! while reading equals one built from the finished maps, text is shared
//! as the module doc says, and secrets stay readable while held.

use serde_json::{Value, json};

use super::super::key;
use super::*;
use crate::cache::{AccessTokenQuery, TokenCache};

const ENV: &str = "login.example.com";
const CLIENT: &str = "client-1";
const REALM: &str = "tenant-1";

fn hid(n: usize) -> String {
    format!("uid-{n:05}.utid")
}

/// A cache of `accounts` accounts in our own layout (keys sorted, each
/// starting with the home account id), secrets of assorted lengths.
fn document(accounts: usize) -> Value {
    let mut ats = serde_json::Map::new();
    let mut rts = serde_json::Map::new();
    let mut idts = serde_json::Map::new();
    let mut accts = serde_json::Map::new();
    for n in 0..accounts {
        let hid = hid(n);
        let at_key = key::access_token(Some(&hid), ENV, CLIENT, REALM, "read write");
        ats.insert(
            at_key,
            json!({"credential_type": "AccessToken", "secret": format!("at-{n}-{}", "x".repeat(n % 700)),
                   "home_account_id": hid, "environment": ENV, "client_id": CLIENT, "target": "read write",
                   "realm": REALM, "token_type": "Bearer", "cached_at": "1", "expires_on": "9000000000"}),
        );
        rts.insert(
            key::refresh_token(Some(&hid), ENV, CLIENT, None),
            json!({"credential_type": "RefreshToken", "secret": format!("rt-{n}"), "home_account_id": hid,
                   "environment": ENV, "client_id": CLIENT}),
        );
        idts.insert(
            key::id_token(Some(&hid), ENV, CLIENT, REALM),
            json!({"credential_type": "IdToken", "secret": format!("idt-{n}"), "home_account_id": hid,
                   "environment": ENV, "realm": REALM, "client_id": CLIENT}),
        );
        accts.insert(
            key::account(Some(&hid), ENV, REALM),
            json!({"home_account_id": hid, "environment": ENV, "realm": REALM, "local_account_id": format!("l{n}"),
                   "username": format!("user{n}@example.com"), "authority_type": "MSSTS"}),
        );
    }
    json!({"AccessToken": ats, "RefreshToken": rts, "IdToken": idts, "Account": accts,
           "AppMetadata": {format!("appmetadata-{ENV}-{CLIENT}"): {"client_id": CLIENT, "environment": ENV}}})
}

/// Each section as plain JSON, key to entry.
fn sections(value: &Value) -> Vec<(&'static str, Value)> {
    ["AccessToken", "RefreshToken", "IdToken", "Account", "AppMetadata"]
        .into_iter()
        .map(|name| (name, value.get(name).cloned().unwrap_or(json!({}))))
        .collect()
}

fn load(json: &str) -> Loaded {
    serde_json::from_str(json).unwrap()
}

/// What the reader loaded equals what `serde_json` reads; the index built
/// while reading equals one built afterwards, and is not empty.
fn assert_loaded_as_json(json: &str) -> Loaded {
    let loaded = load(json);
    let expected: Value = serde_json::from_str(json).unwrap();
    let written = serde_json::to_value(&loaded.data).unwrap();
    for ((name, want), (_, got)) in sections(&expected).into_iter().zip(sections(&written)) {
        assert_eq!(got, want, "section {name}");
    }
    assert!(
        loaded.index == Index::of(&loaded.data),
        "the index built while reading"
    );
    assert!(loaded.index != Index::default());
    loaded
}

#[test]
fn a_large_cache_loads_as_json_reads_it_with_the_index_of_its_maps() {
    // Over two chunks' worth, so the Account section is read in halves.
    let accounts = 2 * MIN_CHUNK + 300;
    let json = serde_json::to_string_pretty(&document(accounts)).unwrap();
    let loaded = assert_loaded_as_json(&json);
    assert_eq!(loaded.data.accounts.len(), accounts);
    // Keys share the entries' text: every one of ours is split.
    assert!(loaded.data.access_tokens.iter().all(|(k, _)| k.is_split()));
    assert!(loaded.data.accounts.iter().all(|(k, _)| k.is_split()));
    assert!(loaded.data.app_metadata.iter().all(|(k, _)| !k.is_split()));
    // One copy of each home account id, in every section.
    let at = loaded.data.access_tokens.values().nth(77).unwrap();
    let hid = at.home_account_id.clone().unwrap();
    let rt = loaded
        .data
        .refresh_tokens
        .get(&key::refresh_token(Some(&hid), ENV, CLIENT, None))
        .unwrap();
    let account = loaded
        .data
        .accounts
        .get(&key::account(Some(&hid), ENV, REALM))
        .unwrap();
    assert!(Str::ptr_eq(&hid, rt.home_account_id.as_ref().unwrap()));
    assert!(Str::ptr_eq(&hid, account.home_account_id.as_ref().unwrap()));
    // Our own output comes back byte for byte.
    let cache = TokenCache::from_json(&json).unwrap();
    let saved = cache.serialize();
    assert_eq!(TokenCache::from_json(&saved).unwrap().serialize(), saved);
}

#[test]
fn foreign_unsorted_and_duplicate_keys_load_as_json_reads_them() {
    let accounts = 2 * MIN_CHUNK + 10;
    let mut doc = document(accounts);
    let first = key::account(Some(&hid(0)), ENV, REALM);
    let last = key::account(Some(&hid(accounts - 1)), ENV, REALM);
    let text = serde_json::to_string(&doc).unwrap();
    let moved = json!({"home_account_id": "moved.utid", "environment": "other.example.com", "realm": REALM,
                       "local_account_id": "l", "username": "moved@example.com", "authority_type": "MSSTS"});
    // Duplicates across the two halves of the Account section: the later
    // entry wins, and the index has its groups, not the replaced one's.
    let within = text.replacen(
        "},\"AppMetadata\":",
        &format!(",\"{first}\":{moved}}},\"AppMetadata\":"),
        1,
    );
    let loaded = assert_loaded_as_json(&within);
    assert_eq!(loaded.data.accounts.len(), accounts);
    let replaced = loaded.data.accounts.get(&first).unwrap();
    assert_eq!(replaced.home_account_id.as_deref(), Some("moved.utid"));
    // A section named twice replaces the first.
    let twice = text.replacen(
        "\"AppMetadata\":",
        &format!(
            "\"Account\": {{\"{first}\": {moved}, \"{last}\": {moved}}}, \"IdToken\": {{\"x\": {{\"credential_type\": \"IdToken\", \"home_account_id\": \"X.Y\", \"environment\": \"{ENV}\", \"realm\": \"r\", \"client_id\": \"c\", \"secret\": \"s\"}}}}, \"AppMetadata\":"
        ),
        1,
    );
    assert_eq!(assert_loaded_as_json(&twice).data.accounts.len(), 2);

    // Another MSAL's keys: unsorted, in upper case, not starting with the
    // home account id, app tokens without one, a duplicate in one section.
    let ats = doc["AccessToken"].as_object_mut().unwrap();
    let sample = ats.values().next().unwrap().clone();
    let mut upper = sample.clone();
    upper["home_account_id"] = json!("UPPER.Case");
    let mut app = sample.clone();
    app["home_account_id"] = Value::Null;
    let mut foreign = serde_json::Map::new();
    foreign.insert("zzz-foreign".into(), sample.clone());
    foreign.insert("upper.case-login.example.com-accesstoken-x".into(), upper);
    foreign.insert("-login.example.com-accesstoken-app".into(), app);
    foreign.extend(std::mem::take(ats));
    *ats = foreign;
    let dup_key = key::refresh_token(Some(&hid(5)), ENV, CLIENT, None);
    let text = serde_json::to_string(&doc).unwrap().replacen(
        "\"RefreshToken\":{",
        &format!("\"RefreshToken\":{{\"{dup_key}\": {{\"secret\": \"early\", \"home_account_id\": \"gone.utid\", \"environment\": \"{ENV}\", \"client_id\": \"{CLIENT}\"}},"),
        1,
    );
    let loaded = assert_loaded_as_json(&text);
    assert_eq!(
        loaded.data.refresh_tokens.get(&dup_key).unwrap().secret.expose(),
        "rt-5"
    );
}

#[test]
fn a_served_token_stays_readable_after_the_cache_is_replaced() {
    let huge = "h".repeat(300 * 1024);
    let mut doc = document(3);
    let at_key = key::access_token(Some(&hid(1)), ENV, CLIENT, REALM, "read write");
    doc["AccessToken"][&at_key]["secret"] = json!(huge);
    doc["RefreshToken"][key::refresh_token(Some(&hid(2)), ENV, CLIENT, None)]["secret"] = json!("");
    let cache = TokenCache::from_json(&doc.to_string()).unwrap();
    let query = |n: usize| {
        let hid = hid(n);
        let query = AccessTokenQuery {
            home_account_id: Some(&hid),
            environment: ENV,
            client_id: CLIENT,
            realm: REALM,
        };
        cache.find_access_token(&query, &["read".to_owned()], 0).unwrap()
    };
    let (small, large) = (query(0), query(1));
    cache.deserialize("{}").unwrap();
    assert_eq!(cache.access_token_count(), 0);
    assert_eq!(small.secret.expose(), "at-0-");
    assert_eq!(large.secret.expose(), huge);
    let saved = TokenCache::from_json(&doc.to_string()).unwrap().serialize();
    assert!(saved.contains("\"secret\": \"\""));
}

#[test]
fn keys_of_an_entry_without_its_owner_prefix_are_kept_whole() {
    let mut loader = Loader {
        key: "other-prefix".into(),
        ..Default::default()
    };
    let owner = Str::from("uid.utid");
    assert!(!loader.key_for(Some(&owner)).is_split());
    loader.key = "uid.utid".into();
    assert!(!loader.key_for(Some(&owner)).is_split(), "no tail");
    loader.key = "UID.utid-rest".into();
    let key = loader.key_for(Some(&owner));
    assert!(key.is_split());
    assert_eq!(key.to_string(), "UID.utid-rest");
    loader.key = "ü".into();
    assert!(
        !loader.key_for(Some(&Str::from("u"))).is_split(),
        "not a character boundary"
    );
}

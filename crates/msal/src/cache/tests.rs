use super::*;
use crate::secret::CachedSecret;

/// A cache as MSAL Python 1.39 writes it after a client-credentials call,
/// plus fields and a section another MSAL added.
pub(super) const PYTHON_CACHE: &str = r#"{
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
            "node_specific": {"kept": true}
        }
    },
    "AppMetadata": {
        "appmetadata-127.0.0.1-client-1": {"client_id": "client-1", "environment": "127.0.0.1"}
    },
    "GoOnlySection": {"x": 1}
}"#;

fn query() -> AccessTokenQuery<'static> {
    AccessTokenQuery {
        home_account_id: None,
        environment: "127.0.0.1",
        client_id: "client-1",
        realm: "tenant-guid",
    }
}

fn scopes(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

#[test]
fn reads_msal_python_cache_and_finds_the_token() {
    let cache = TokenCache::from_json(PYTHON_CACHE).unwrap();
    let hit = cache
        .find_access_token(&query(), &scopes(&["https://graph.microsoft.com/.default"]), 2000)
        .unwrap();
    assert_eq!(hit.secret.expose(), "at-secret-value");
    assert_eq!(hit.expires_on, 4600);
    // Within five minutes of expiry the token is not served.
    assert!(
        cache
            .find_access_token(&query(), &scopes(&["https://graph.microsoft.com/.default"]), 4400)
            .is_none()
    );
    // Another client, realm or an app token query with an account do not match.
    let other = AccessTokenQuery {
        client_id: "client-2",
        ..query()
    };
    assert!(
        cache
            .find_access_token(&other, &scopes(&["https://graph.microsoft.com/.default"]), 2000)
            .is_none()
    );
    let user = AccessTokenQuery {
        home_account_id: Some("uid.utid"),
        ..query()
    };
    assert!(
        cache
            .find_access_token(&user, &scopes(&["https://graph.microsoft.com/.default"]), 2000)
            .is_none()
    );
}

#[test]
fn round_trip_keeps_unknown_fields_and_sections() {
    let cache = TokenCache::from_json(PYTHON_CACHE).unwrap();
    let out: serde_json::Value = serde_json::from_str(&cache.serialize()).unwrap();
    let original: serde_json::Value = serde_json::from_str(PYTHON_CACHE).unwrap();
    for section in ["AccessToken", "AppMetadata", "GoOnlySection"] {
        assert_eq!(out[section], original[section], "section {section}");
    }
    // Sections MSAL Python expects are present even when empty.
    assert_eq!(out["RefreshToken"], serde_json::json!({}));
}

#[test]
fn subset_scopes_match_a_wider_token() {
    let cache = TokenCache::new();
    let entry = AccessTokenEntry {
        credential_type: "AccessToken".into(),
        secret: CachedSecret::new("wide"),
        environment: "127.0.0.1".into(),
        client_id: "client-1".into(),
        realm: "tenant-guid".into(),
        target: target(&scopes(&["b", "a", "c"])).into(),
        expires_on: 10_000,
        ..Default::default()
    };
    assert_eq!(&*entry.target, "a b c");
    cache.add_access_token(entry);
    assert!(cache.has_state_changed());
    let hit = cache
        .find_access_token(&query(), &scopes(&["c", "a"]), 0)
        .unwrap();
    assert_eq!(hit.secret.expose(), "wide");
    assert!(
        cache
            .find_access_token(&query(), &scopes(&["a", "d"]), 0)
            .is_none()
    );
    let json: serde_json::Value = serde_json::from_str(&cache.serialize()).unwrap();
    assert!(!cache.has_state_changed());
    let key = "-127.0.0.1-accesstoken-client-1-tenant-guid-a b c";
    assert_eq!(
        json["AccessToken"][key]["home_account_id"],
        serde_json::Value::Null
    );
    assert_eq!(json["AccessToken"][key]["expires_on"], "10000");
    assert_eq!(
        json["AppMetadata"]["appmetadata-127.0.0.1-client-1"]["client_id"],
        "client-1"
    );
}

#[test]
fn malformed_input_is_a_typed_error_and_changes_nothing() {
    let cache = TokenCache::from_json(PYTHON_CACHE).unwrap();
    for bad in [
        "{not json",
        "[]",
        r#"{"AccessToken": "eyJ-token-in-the-wrong-place"}"#,
        r#"{"AccessToken": {"k": {"expires_on": "tomorrow"}}}"#,
    ] {
        match cache.deserialize(bad) {
            Err(CacheError::Malformed { line, reason, .. }) => {
                assert!(line >= 1);
                assert!(!reason.contains("eyJ-token"), "{reason}");
            }
            other => panic!("{bad:?} gave {other:?}"),
        }
        assert_eq!(cache.access_token_count(), 1, "cache changed after {bad:?}");
    }
    assert!(TokenCache::from_json("").unwrap().access_token_count() == 0);
}

#[test]
fn debug_shows_counts_not_secrets() {
    let cache = TokenCache::from_json(PYTHON_CACHE).unwrap();
    let debug = format!("{cache:?}");
    assert!(debug.contains("access_tokens: 1"));
    assert!(!debug.contains("at-secret-value"));
}

#[test]
fn file_round_trip_and_malformed_file_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("cache.json");
    assert_eq!(TokenCache::load_from_file(&path).unwrap().access_token_count(), 0);
    TokenCache::from_json(PYTHON_CACHE)
        .unwrap()
        .save_to_file(&path)
        .unwrap();
    assert_eq!(TokenCache::load_from_file(&path).unwrap().access_token_count(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    std::fs::write(&path, "{\"AccessToken\": {").unwrap();
    assert!(matches!(
        TokenCache::load_from_file(&path),
        Err(CacheError::Malformed { .. })
    ));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"AccessToken\": {");
}

#[test]
fn times_past_u64_and_null_client_ids_load_and_are_served() {
    // Times of 10^20 seconds (a hostile or hand-edited file MSAL Python
    // serves as it is) and MSAL Python 1.39's null client id of a
    // system-assigned managed identity.
    let huge = "100000000000000000000";
    let json = format!(
        r#"{{"AccessToken": {{"-localhost-accesstoken--managed_identity-r": {{
            "credential_type": "AccessToken", "secret": "s", "home_account_id": null,
            "environment": "localhost", "client_id": null, "target": "r", "realm": "managed_identity",
            "token_type": "Bearer", "cached_at": "1", "expires_on": "{huge}",
            "extended_expires_on": {huge}, "refresh_on": "{huge}"}}}}}}"#
    );
    let cache = TokenCache::new();
    cache.deserialize(&json).unwrap();
    let query = AccessTokenQuery {
        home_account_id: None,
        environment: "localhost",
        client_id: "",
        realm: "managed_identity",
    };
    let found = cache
        .find_access_token(&query, &["r".to_owned()], crate::time::now_epoch())
        .expect("served");
    assert_eq!(found.expires_on, u64::MAX);
    let result = crate::flows::cached_result(&found, vec!["r".to_owned()]);
    assert_eq!(result.expires_on, crate::time::from_epoch(crate::time::MAX_EPOCH));
    // Written back, it loads again.
    TokenCache::new().deserialize(&cache.serialize()).unwrap();
}

#[test]
fn account_environments_and_refresh_token_clients_are_listed() {
    let entry = |hid: &str, env: &str, client: &str| {
        serde_json::json!({
            "credential_type": "RefreshToken", "secret": "rt", "home_account_id": hid,
            "environment": env, "client_id": client, "target": "s"
        })
    };
    let account = |hid: &str, env: &str| {
        serde_json::json!({
            "home_account_id": hid, "environment": env, "realm": "r", "local_account_id": "l",
            "username": "u", "authority_type": "MSSTS"
        })
    };
    let doc = serde_json::json!({
        "Account": {
            "a": account("u.t", "login.microsoftonline.com"),
            "b": account("u.t", "127.0.0.1"),
            "c": account("v.t", "LOGIN.microsoftonline.com"),
        },
        "RefreshToken": {
            "r1": entry("u.t", "127.0.0.1", "one"),
            "r2": entry("U.T", "127.0.0.1", "two"),
            "r3": entry("other", "127.0.0.1", "three"),
            "r4": entry("u.t", "elsewhere", "four"),
            "r5": entry("u.t", "127.0.0.1", "ONE"),
        },
    });
    let cache = TokenCache::from_json(&doc.to_string()).unwrap();
    assert_eq!(
        cache.account_environments(),
        ["login.microsoftonline.com", "127.0.0.1"]
    );
    assert_eq!(cache.refresh_token_client_ids("u.t", "127.0.0.1"), ["one", "two"]);
    assert!(TokenCache::new().account_environments().is_empty());
}

/// Found by the `cache_entries` fuzz target: a lookup at the end of time
/// overflowed `now + margin` (debug builds panicked).
#[test]
fn lookups_at_the_end_of_time_do_not_overflow() {
    let cache = TokenCache::from_json(PYTHON_CACHE).unwrap();
    let query = AccessTokenQuery {
        home_account_id: None,
        environment: "127.0.0.1",
        client_id: "client-1",
        realm: "tenant-guid",
    };
    let scopes = ["https://graph.microsoft.com/.default".to_owned()];
    assert!(cache.find_access_token(&query, &scopes, u64::MAX).is_none());
}

/// The thread's memo of the last lookup (see `KeyMemo`) answers only for
/// the cache and the version it was made at: a change, another cache with
/// the same key, or the token ageing past the margin is seen at once.
#[test]
fn the_thread_s_lookup_memo_never_serves_a_stale_or_foreign_token() {
    let graph = scopes(&["https://graph.microsoft.com/.default"]);
    let cache = TokenCache::from_json(PYTHON_CACHE).unwrap();
    // Three hits: the first fills the memo, the second makes its copy private.
    for _ in 0..3 {
        let hit = cache.find_access_token(&query(), &graph, 2000).unwrap();
        assert_eq!(hit.secret.expose(), "at-secret-value");
    }
    // Another cache, same key, another token: its own token, not the memo's.
    let other = TokenCache::from_json(&PYTHON_CACHE.replace("at-secret-value", "other-secret")).unwrap();
    for _ in 0..2 {
        let hit = other.find_access_token(&query(), &graph, 2000).unwrap();
        assert_eq!(hit.secret.expose(), "other-secret");
    }
    assert_eq!(
        cache
            .find_access_token(&query(), &graph, 2000)
            .unwrap()
            .secret
            .expose(),
        "at-secret-value"
    );
    // The cache changes (a newer token under the same key): served at once.
    cache
        .deserialize(&PYTHON_CACHE.replace("at-secret-value", "renewed-secret"))
        .unwrap();
    assert_eq!(
        cache
            .find_access_token(&query(), &graph, 2000)
            .unwrap()
            .secret
            .expose(),
        "renewed-secret"
    );
    // Near expiry the memo does not answer either.
    assert!(cache.find_access_token(&query(), &graph, 4400).is_none());
    // Removed from the cache: gone for the memo too.
    cache.deserialize("{}").unwrap();
    assert!(cache.find_access_token(&query(), &graph, 2000).is_none());
}

/// The memo's copies are the thread's own: what it returns shares no
/// allocation with the cache's entry (hits on many cores then touch no
/// shared reference count), and equals it field for field.
#[test]
fn repeated_hits_are_served_from_the_thread_s_own_copy() {
    let graph = scopes(&["https://graph.microsoft.com/.default"]);
    let cache = TokenCache::from_json(PYTHON_CACHE).unwrap();
    let first = cache.find_access_token(&query(), &graph, 2000).unwrap();
    let second = cache.find_access_token(&query(), &graph, 2000).unwrap();
    let third = cache.find_access_token(&query(), &graph, 2000).unwrap();
    assert!(!Arc::ptr_eq(&first, &second), "the second hit is a private copy");
    assert!(Arc::ptr_eq(&second, &third), "and the copy is reused");
    assert!(!std::ptr::eq(first.secret.expose(), second.secret.expose()));
    assert_eq!(*first, *second);
    // From another thread: that thread's own lookup, the same token.
    let cache2 = cache.clone();
    let graph2 = graph.clone();
    let elsewhere = std::thread::spawn(move || cache2.find_access_token(&query(), &graph2, 2000))
        .join()
        .unwrap()
        .unwrap();
    assert!(!Arc::ptr_eq(&elsewhere, &third));
    assert_eq!(*elsewhere, *third);
}

/// A load builds the account listing with the entries: the first listing
/// after it is the one already built (shared, not rebuilt), and a change
/// of the accounts makes a new one.
#[test]
fn a_load_lists_its_accounts_at_once() {
    let account = |hid: &str| {
        serde_json::json!({
            "home_account_id": hid, "environment": "login.microsoftonline.com", "realm": "tenant",
            "local_account_id": "oid", "username": format!("{hid}@contoso.com"), "authority_type": "MSSTS",
        })
    };
    let doc = serde_json::json!({"Account": {
        "a.t-login.microsoftonline.com-tenant": account("a.t"),
        "b.t-login.microsoftonline.com-tenant": account("b.t"),
    }});
    let cache = TokenCache::from_json(&doc.to_string()).unwrap();
    {
        let state = cache.read();
        let listings = state.listings.lock().unwrap();
        assert_eq!(listings.version, state.data.account_version());
        assert_eq!(listings.by_environment["login.microsoftonline.com"].len(), 2);
    }
    let first = cache.accounts("Login.MicrosoftOnline.com");
    assert!(Arc::ptr_eq(&first, &cache.accounts("login.microsoftonline.com")));
    assert_eq!(first.len(), 2);
    assert!(cache.accounts("login.windows.net").is_empty());
    // Signed out of one: the next listing is new, and current.
    assert!(cache.remove_account("login.microsoftonline.com", "a.t", "client"));
    let after = cache.accounts("login.microsoftonline.com");
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].home_account_id, "b.t");
}

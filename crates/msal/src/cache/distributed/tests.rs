//! The partitioned cache without Redis: loads and saves through L1, the
//! partition lifetime, and the hooks' contract (no key: hands off; saves
//! only what changed).

use super::*;

/// A partition in the unified schema: one access token for `client`
/// expiring at `expires_on`, and a refresh token when `refresh` is set.
fn partition_json(client: &str, expires_on: u64, refresh: bool) -> String {
    let refresh_section = if refresh {
        format!(
            r#","RefreshToken": {{"uid.utid-login.example-refreshtoken-{client}--": {{
                "credential_type": "RefreshToken", "secret": "rt-{client}",
                "home_account_id": "uid.utid", "environment": "login.example", "client_id": "{client}"}}}}"#
        )
    } else {
        String::new()
    };
    format!(
        r#"{{"AccessToken": {{"uid.utid-login.example-accesstoken-{client}-tenant-scope": {{
            "credential_type": "AccessToken", "secret": "at-{client}", "home_account_id": "uid.utid",
            "environment": "login.example", "client_id": "{client}", "target": "scope", "realm": "tenant",
            "token_type": "Bearer", "cached_at": "1", "expires_on": "{expires_on}"}}}}{refresh_section}}}"#
    )
}

fn cache_of(json: &str) -> TokenCache {
    TokenCache::from_json(json).unwrap()
}

#[tokio::test]
async fn a_saved_partition_loads_back_from_memory() {
    let store = DistributedTokenCache::in_memory(MemoryPartitionStore::with_byte_budget(1 << 20));
    let now = now_epoch();
    let written = cache_of(&partition_json("app-1", now + 3600, false));
    let saved = store.save("user-1", &written).await;
    assert_eq!(
        saved,
        Saved {
            memory: true,
            redis: false
        }
    );

    let read = TokenCache::new();
    assert_eq!(store.load("user-1", &read).await, Loaded::Memory);
    assert_eq!(read.serialize(), written.serialize());
    assert!(!read.has_state_changed(), "a load is not a change");

    // Another partition is not there: the cache is emptied, not left holding user-1's tokens.
    assert_eq!(store.load("user-2", &read).await, Loaded::Empty);
    assert_eq!(read.access_token_count(), 0);
}

#[tokio::test]
async fn a_partition_lives_as_long_as_its_latest_token() {
    let store = DistributedTokenCache::in_memory(MemoryPartitionStore::with_byte_budget(1 << 20))
        .refresh_token_lifetime(Duration::from_secs(7 * 24 * 3600));
    let now = now_epoch();
    let access_only = cache_of(&partition_json("app", now + 600, false));
    assert_eq!(store.expiry(&access_only, now), Some(now + 600));
    let with_refresh = cache_of(&partition_json("app", now + 600, true));
    assert_eq!(store.expiry(&with_refresh, now), Some(now + 7 * 24 * 3600));

    // Only expired tokens: nothing worth keeping, and saving deletes the partition.
    store.save("p", &access_only).await;
    assert!(store.memory().contains("p"));
    let expired = cache_of(&partition_json("app", now - 1, false));
    assert_eq!(store.expiry(&expired, now), None);
    assert_eq!(store.expiry(&TokenCache::new(), now), None);
    store.save("p", &expired).await;
    assert!(!store.memory().contains("p"));
    assert_eq!(store.load("p", &TokenCache::new()).await, Loaded::Empty);
}

#[tokio::test]
async fn hooks_load_before_and_save_after_only_what_changed() {
    let store = DistributedTokenCache::in_memory(MemoryPartitionStore::with_byte_budget(1 << 20));
    let now = now_epoch();
    let app_cache = TokenCache::new();

    // Before access: the partition is loaded into the app's cache.
    store
        .save("p", &cache_of(&partition_json("app", now + 3600, false)))
        .await;
    store
        .before_access(&CacheAccess::new(&app_cache, Some("p"), false))
        .await
        .unwrap();
    assert_eq!(app_cache.access_token_count(), 1);

    // Without a partition key the app's cache is left as it is, both ways.
    store
        .before_access(&CacheAccess::new(&app_cache, None, false))
        .await
        .unwrap();
    assert_eq!(app_cache.access_token_count(), 1);
    store
        .after_access(&CacheAccess::new(&app_cache, None, true))
        .await
        .unwrap();

    // After access: saved only when the operation changed the cache.
    let other = cache_of(&partition_json("other-app", now + 3600, false));
    store
        .after_access(&CacheAccess::new(&other, Some("q"), false))
        .await
        .unwrap();
    assert!(!store.memory().contains("q"), "unchanged: not written");
    store
        .after_access(&CacheAccess::new(&other, Some("q"), true))
        .await
        .unwrap();
    let read = TokenCache::new();
    assert_eq!(store.load("q", &read).await, Loaded::Memory);
    assert_eq!(read.serialize(), other.serialize());
}

#[tokio::test]
async fn a_partition_over_the_budget_stays_out_of_memory_without_error() {
    let store = DistributedTokenCache::in_memory(MemoryPartitionStore::with_byte_budget(300));
    let big = cache_of(&partition_json("app", now_epoch() + 3600, true));
    assert_eq!(
        store.save("p", &big).await,
        Saved {
            memory: false,
            redis: false
        }
    );
    assert_eq!(store.load("p", &TokenCache::new()).await, Loaded::Empty);
}

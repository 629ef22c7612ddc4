//! Cache hooks over real HTTPS against the emulator: every call loads its
//! partition before and saves it after, with the partition keys MSAL .NET
//! suggests; sign-ins are merged into their user's partition; hook errors
//! fail the call; and partitions never leak into each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use msal::cache::{CacheAccess, CacheHooks};
use msal::http::BoxFuture;
use msal::{
    CacheError, ClientSecret, ConfidentialClientApplication, Error, Password, PublicClientApplication,
    TokenSource, UserAssertion,
};
use msal_emulator::{Emulator, Endpoint, builtin};
use msal_test_support::{msal_http, start};
use serde_json::Value;

use crate::common::GRAPH_DEFAULT;

const SCOPES: [&str; 1] = ["User.Read"];

/// One recorded hook call.
#[derive(Clone, Debug, PartialEq)]
enum Seen {
    Before(Option<String>),
    After(Option<String>, bool),
}

/// A partitioned store in memory, as a distributed cache keeps it.
#[derive(Clone, Default)]
struct Store {
    partitions: Arc<Mutex<HashMap<String, String>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    fail_before: Arc<Mutex<bool>>,
}

impl Store {
    fn partition(&self, key: &str) -> Option<Value> {
        let partitions = self.partitions.lock().unwrap();
        partitions
            .get(key)
            .map(|json| serde_json::from_str(json).unwrap())
    }

    fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.partitions.lock().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl CacheHooks for Store {
    fn before_access<'a>(&'a self, access: &'a CacheAccess<'a>) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(async move {
            let key = access.partition_key().map(str::to_owned);
            self.seen.lock().unwrap().push(Seen::Before(key.clone()));
            if *self.fail_before.lock().unwrap() {
                return Err(CacheError::Malformed {
                    line: 1,
                    column: 1,
                    reason: "the store is broken".into(),
                });
            }
            let stored = key.and_then(|k| self.partitions.lock().unwrap().get(&k).cloned());
            if let Some(json) = stored {
                access.cache().deserialize(&json)?;
            }
            Ok(())
        })
    }

    fn after_access<'a>(&'a self, access: &'a CacheAccess<'a>) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(async move {
            let key = access.partition_key().map(str::to_owned);
            self.seen
                .lock()
                .unwrap()
                .push(Seen::After(key.clone(), access.has_changed()));
            if let (Some(key), true) = (key, access.has_changed()) {
                let json = access.cache().serialize();
                self.partitions.lock().unwrap().insert(key, json);
            }
            Ok(())
        })
    }
}

fn daemon(emulator: &Emulator, store: &Store) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .client_secret(ClientSecret::new(builtin::DAEMON_CLIENT_SECRET))
        .http_client(msal_http(emulator).unwrap())
        .cache_hooks(store.clone())
        .build()
        .unwrap()
}

fn desktop(emulator: &Emulator, store: &Store) -> PublicClientApplication {
    PublicClientApplication::builder(builtin::PUBLIC_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .http_client(msal_http(emulator).unwrap())
        .cache_hooks(store.clone())
        .build()
        .unwrap()
}

fn section_len(partition: &Value, section: &str) -> usize {
    partition[section].as_object().map_or(0, |m| m.len())
}

#[tokio::test]
async fn app_tokens_live_in_the_app_partition_and_a_second_instance_hits_it() {
    let emulator = start().await.unwrap();
    let store = Store::default();
    let key = format!(
        "{}_{}_AppTokenCache",
        builtin::DAEMON_CLIENT_ID,
        builtin::CONTOSO_TENANT_NAME
    );

    let first = daemon(&emulator, &store)
        .acquire_token_for_client([GRAPH_DEFAULT])
        .await
        .unwrap();
    assert_eq!(first.token_source, TokenSource::IdentityProvider);
    assert_eq!(
        store.take_seen(),
        [
            Seen::Before(Some(key.clone())),
            Seen::After(Some(key.clone()), true)
        ]
    );
    assert_eq!(store.keys(), std::slice::from_ref(&key));
    assert_eq!(section_len(&store.partition(&key).unwrap(), "AccessToken"), 1);

    // Another instance (another node of a farm) finds it through the store.
    let second = daemon(&emulator, &store);
    let hit = second.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(hit.token_source, TokenSource::Cache);
    assert_eq!(
        hit.access_token.expose_secret(),
        first.access_token.expose_secret()
    );
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
    assert_eq!(
        store.take_seen(),
        [Seen::Before(Some(key.clone())), Seen::After(Some(key), false)]
    );
    // The app's own cache is not where hooked calls work.
    assert_eq!(second.token_cache().access_token_count(), 0);
}

#[tokio::test]
async fn each_user_gets_a_partition_of_their_own_and_silent_calls_read_only_theirs() {
    let emulator = start().await.unwrap();
    let store = Store::default();
    let app = desktop(&emulator, &store);

    let alice = app
        .acquire_token_by_username_password(
            builtin::ALICE_UPN,
            Password::new(builtin::ALICE_PASSWORD),
            SCOPES,
        )
        .await
        .unwrap();
    let bob = app
        .acquire_token_by_username_password(builtin::BOB_UPN, Password::new(builtin::BOB_PASSWORD), SCOPES)
        .await
        .unwrap();
    let alice_key = alice.account.clone().unwrap().home_account_id.to_string();
    let bob_key = bob.account.clone().unwrap().home_account_id.to_string();
    assert_ne!(alice_key, bob_key);
    // A sign-in's partition is known from its result: loaded, merged, saved.
    let seen = store.take_seen();
    assert_eq!(
        seen,
        [
            Seen::Before(Some(alice_key.clone())),
            Seen::After(Some(alice_key.clone()), true),
            Seen::Before(Some(bob_key.clone())),
            Seen::After(Some(bob_key.clone()), true),
        ]
    );
    let mut expected = vec![alice_key.clone(), bob_key.clone()];
    expected.sort();
    assert_eq!(store.keys(), expected);
    for (key, other) in [(&alice_key, &bob_key), (&bob_key, &alice_key)] {
        let partition = serde_json::to_string(&store.partition(key).unwrap()).unwrap();
        assert!(partition.contains(key.as_str()));
        assert!(
            !partition.contains(other.as_str()),
            "{other} leaked into {key}'s partition"
        );
    }

    // A fresh instance serves Alice silently from her partition alone.
    let other = desktop(&emulator, &store);
    let account = alice.account.clone().unwrap();
    let silent = other.acquire_token_silent(SCOPES, &account).await.unwrap();
    assert_eq!(silent.token_source, TokenSource::Cache);
    assert_eq!(
        silent.access_token.expose_secret(),
        alice.access_token.expose_secret()
    );
    assert_eq!(
        store.take_seen(),
        [
            Seen::Before(Some(alice_key.clone())),
            Seen::After(Some(alice_key.clone()), false)
        ]
    );

    // A second sign-in of Alice keeps what her partition had (merged, not replaced).
    let before = section_len(&store.partition(&alice_key).unwrap(), "AccessToken");
    other
        .acquire_token_by_username_password(
            builtin::ALICE_UPN,
            Password::new(builtin::ALICE_PASSWORD),
            ["https://graph.microsoft.com/Mail.Read"],
        )
        .await
        .unwrap();
    assert_eq!(
        section_len(&store.partition(&alice_key).unwrap(), "AccessToken"),
        before + 1
    );
    store.take_seen();

    // Signing out goes through the hooks too; Bob's partition is untouched.
    let bob_before = store.partition(&bob_key).unwrap();
    other.sign_out(&account).await.unwrap();
    let alice_after = store.partition(&alice_key).unwrap();
    assert_eq!(section_len(&alice_after, "AccessToken"), 0);
    assert_eq!(section_len(&alice_after, "RefreshToken"), 0);
    assert_eq!(section_len(&alice_after, "Account"), 0);
    assert_eq!(store.partition(&bob_key).unwrap(), bob_before);
    let err = other.acquire_token_silent(SCOPES, &account).await.unwrap_err();
    assert!(matches!(err, Error::InteractionRequired { .. }), "{err:?}");
}

#[tokio::test]
async fn on_behalf_of_is_partitioned_by_the_incoming_token() {
    let emulator = start().await.unwrap();
    let store = Store::default();
    let desktop_app = desktop(&emulator, &Store::default());
    let user = desktop_app
        .acquire_token_by_username_password(
            builtin::ALICE_UPN,
            Password::new(builtin::ALICE_PASSWORD),
            [format!("{}/Orders.Read", builtin::API_IDENTIFIER_URI)],
        )
        .await
        .unwrap();
    let incoming = user.access_token.expose_secret().to_owned();
    let api = ConfidentialClientApplication::builder(builtin::API_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .client_secret(ClientSecret::new(builtin::API_CLIENT_SECRET))
        .http_client(msal_http(&emulator).unwrap())
        .cache_hooks(store.clone())
        .build()
        .unwrap();
    let assertion = UserAssertion::new(incoming.clone());
    let first = api
        .acquire_token_on_behalf_of(&assertion, ["https://graph.microsoft.com/User.Read"])
        .await
        .unwrap();
    assert_eq!(first.token_source, TokenSource::IdentityProvider);
    use base64::Engine as _;
    use sha2::Digest as _;
    let hash =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(incoming.as_bytes()));
    assert_eq!(store.keys(), std::slice::from_ref(&hash));
    let again = api
        .acquire_token_on_behalf_of(&assertion, ["https://graph.microsoft.com/User.Read"])
        .await
        .unwrap();
    assert_eq!(again.token_source, TokenSource::Cache);
}

#[tokio::test]
async fn a_failing_hook_fails_the_call_with_its_error_and_sends_nothing() {
    let emulator = start().await.unwrap();
    let store = Store::default();
    *store.fail_before.lock().unwrap() = true;
    let err = daemon(&emulator, &store)
        .acquire_token_for_client([GRAPH_DEFAULT])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Cache(CacheError::Malformed { reason, .. }) if reason.contains("store is broken")),
        "{err:?}"
    );
    assert_eq!(emulator.request_count(Endpoint::Token), 0);
}

#[tokio::test]
async fn listing_accounts_through_hooks_uses_no_partition() {
    let emulator = start().await.unwrap();
    let store = Store::default();
    let app = desktop(&emulator, &store);
    let accounts = app.accounts(None).await.unwrap();
    assert!(accounts.is_empty());
    assert_eq!(store.take_seen(), [Seen::Before(None), Seen::After(None, false)]);
}

//! Secondary indexes over the cache's entries, so that every lookup a flow
//! makes touches only the entries it could match instead of scanning whole
//! sections.
//!
//! The [`CacheData`] maps stay the single source of truth (and the serialized
//! form, in their key order); the index holds only keys, grouped by the
//! fields lookups filter on. Each key is one shared `Arc<str>` per entry, so
//! an entry in several indexes costs one allocation.
//!
//! Grouping fields are compared the way the cache has always compared them:
//! environment, realm and client id case-insensitively (ASCII lowercase in
//! the index), an access token's `home_account_id` exactly, and the
//! `home_account_id` of account-wide operations case-insensitively. Index
//! entries come from each entry's own fields, not from its map key, so
//! entries other MSALs wrote under differently spelled keys are found too.
//!
//! Invariant: every entry of `CacheData` is in exactly the index sets its
//! fields select, and no set holds a key that is not in `CacheData` or an
//! empty set. All changes to `CacheData` go through [`Indexed`]'s methods.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::sync::Arc;

use super::schema::{
    AccessTokenEntry, AccountEntry, AppMetadataEntry, CacheData, IdTokenEntry, RefreshTokenEntry,
};

/// A map key shared between the indexes of one entry.
pub(crate) type Key = Arc<str>;

/// Keys in map order, so results come out in the order a linear scan over
/// the (sorted) section gives them.
pub(crate) type Keys = BTreeSet<Key>;

/// The extra field under which on-behalf-of entries carry the hash of the
/// assertion they were obtained with (MSAL Python's `user_assertion_hash`).
pub(crate) const USER_ASSERTION_HASH: &str = "user_assertion_hash";

/// Which access tokens can answer a query: everything but the scopes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct AccessTokenBucket {
    /// Lowercase.
    pub client_id: String,
    /// Lowercase.
    pub environment: String,
    /// Lowercase.
    pub realm: String,
    /// Exactly as stored: `None` for app-only tokens.
    pub home_account_id: Option<String>,
}

impl AccessTokenBucket {
    pub(crate) fn new(
        client_id: &str,
        environment: &str,
        realm: &str,
        home_account_id: Option<&str>,
    ) -> Self {
        Self {
            client_id: client_id.to_ascii_lowercase(),
            environment: environment.to_ascii_lowercase(),
            realm: realm.to_ascii_lowercase(),
            home_account_id: home_account_id.map(str::to_owned),
        }
    }

    fn of(entry: &AccessTokenEntry) -> Self {
        Self::new(
            &entry.client_id,
            &entry.environment,
            &entry.realm,
            entry.home_account_id.as_deref(),
        )
    }
}

/// One account in one environment, both lowercase: what sign-out, account
/// listing and refresh-token lookups group by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct AccountBucket {
    pub environment: String,
    pub home_account_id: String,
}

impl AccountBucket {
    pub(crate) fn new(environment: &str, home_account_id: &str) -> Self {
        Self {
            environment: environment.to_ascii_lowercase(),
            home_account_id: home_account_id.to_ascii_lowercase(),
        }
    }

    /// Entries without a `home_account_id` belong to no account.
    fn of(environment: &str, home_account_id: Option<&str>) -> Option<Self> {
        home_account_id.map(|hid| Self::new(environment, hid))
    }
}

/// On-behalf-of entries of one client and environment (lowercase) obtained
/// with one user assertion (its hash, exact).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct AssertionBucket {
    pub client_id: String,
    pub environment: String,
    pub user_assertion_hash: String,
}

impl AssertionBucket {
    pub(crate) fn new(client_id: &str, environment: &str, user_assertion_hash: &str) -> Self {
        Self {
            client_id: client_id.to_ascii_lowercase(),
            environment: environment.to_ascii_lowercase(),
            user_assertion_hash: user_assertion_hash.to_owned(),
        }
    }

    fn of(client_id: &str, environment: &str, extra: &super::schema::Extra) -> Option<Self> {
        extra
            .get(USER_ASSERTION_HASH)
            .and_then(|v| v.as_str())
            .map(|hash| Self::new(client_id, environment, hash))
    }
}

/// The indexes. Compared in tests against one rebuilt from scratch.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Index {
    access_tokens: HashMap<AccessTokenBucket, Keys>,
    access_tokens_by_account: HashMap<AccountBucket, Keys>,
    access_tokens_by_assertion: HashMap<AssertionBucket, Keys>,
    refresh_tokens_by_account: HashMap<AccountBucket, Keys>,
    refresh_tokens_by_assertion: HashMap<AssertionBucket, Keys>,
    id_tokens_by_account: HashMap<AccountBucket, Keys>,
    accounts_by_environment: HashMap<String, Keys>,
    accounts_by_account: HashMap<AccountBucket, Keys>,
}

static EMPTY: Keys = BTreeSet::new();

fn add<B: Eq + Hash>(map: &mut HashMap<B, Keys>, bucket: Option<B>, key: &Key) {
    if let Some(bucket) = bucket {
        map.entry(bucket).or_default().insert(key.clone());
    }
}

fn remove<B: Eq + Hash>(map: &mut HashMap<B, Keys>, bucket: Option<B>, key: &str) {
    let Some(bucket) = bucket else { return };
    if let Some(keys) = map.get_mut(&bucket) {
        keys.remove(key);
        if keys.is_empty() {
            map.remove(&bucket);
        }
    }
}

impl Index {
    /// The keys of access tokens in `bucket`.
    pub(crate) fn access_tokens(&self, bucket: &AccessTokenBucket) -> &Keys {
        self.access_tokens.get(bucket).unwrap_or(&EMPTY)
    }

    /// The keys of every access token of an account in an environment.
    pub(crate) fn access_tokens_of(&self, bucket: &AccountBucket) -> &Keys {
        self.access_tokens_by_account.get(bucket).unwrap_or(&EMPTY)
    }

    /// The keys of access tokens carrying a `user_assertion_hash`.
    #[allow(
        dead_code,
        reason = "for the on-behalf-of lookups, which key tokens by assertion"
    )]
    pub(crate) fn access_tokens_by_assertion(&self, bucket: &AssertionBucket) -> &Keys {
        self.access_tokens_by_assertion.get(bucket).unwrap_or(&EMPTY)
    }

    /// The keys of every refresh token of an account in an environment.
    pub(crate) fn refresh_tokens_of(&self, bucket: &AccountBucket) -> &Keys {
        self.refresh_tokens_by_account.get(bucket).unwrap_or(&EMPTY)
    }

    /// The keys of refresh tokens carrying a `user_assertion_hash`.
    #[allow(
        dead_code,
        reason = "for the on-behalf-of lookups, which key tokens by assertion"
    )]
    pub(crate) fn refresh_tokens_by_assertion(&self, bucket: &AssertionBucket) -> &Keys {
        self.refresh_tokens_by_assertion.get(bucket).unwrap_or(&EMPTY)
    }

    /// The keys of every ID token of an account in an environment.
    pub(crate) fn id_tokens_of(&self, bucket: &AccountBucket) -> &Keys {
        self.id_tokens_by_account.get(bucket).unwrap_or(&EMPTY)
    }

    /// The keys of the `Account` entries in a (lowercase) environment.
    pub(crate) fn accounts_in(&self, environment_lowercase: &str) -> &Keys {
        self.accounts_by_environment
            .get(environment_lowercase)
            .unwrap_or(&EMPTY)
    }

    /// The keys of an account's `Account` entries (one per realm) in an environment.
    pub(crate) fn accounts_of(&self, bucket: &AccountBucket) -> &Keys {
        self.accounts_by_account.get(bucket).unwrap_or(&EMPTY)
    }

    fn add_access_token(&mut self, key: &Key, e: &AccessTokenEntry) {
        add(&mut self.access_tokens, Some(AccessTokenBucket::of(e)), key);
        let account = AccountBucket::of(&e.environment, e.home_account_id.as_deref());
        add(&mut self.access_tokens_by_account, account, key);
        let assertion = AssertionBucket::of(&e.client_id, &e.environment, &e.extra);
        add(&mut self.access_tokens_by_assertion, assertion, key);
    }

    fn remove_access_token(&mut self, key: &str, e: &AccessTokenEntry) {
        remove(&mut self.access_tokens, Some(AccessTokenBucket::of(e)), key);
        let account = AccountBucket::of(&e.environment, e.home_account_id.as_deref());
        remove(&mut self.access_tokens_by_account, account, key);
        let assertion = AssertionBucket::of(&e.client_id, &e.environment, &e.extra);
        remove(&mut self.access_tokens_by_assertion, assertion, key);
    }

    fn add_refresh_token(&mut self, key: &Key, e: &RefreshTokenEntry) {
        let account = AccountBucket::of(&e.environment, e.home_account_id.as_deref());
        add(&mut self.refresh_tokens_by_account, account, key);
        let assertion = AssertionBucket::of(&e.client_id, &e.environment, &e.extra);
        add(&mut self.refresh_tokens_by_assertion, assertion, key);
    }

    fn remove_refresh_token(&mut self, key: &str, e: &RefreshTokenEntry) {
        let account = AccountBucket::of(&e.environment, e.home_account_id.as_deref());
        remove(&mut self.refresh_tokens_by_account, account, key);
        let assertion = AssertionBucket::of(&e.client_id, &e.environment, &e.extra);
        remove(&mut self.refresh_tokens_by_assertion, assertion, key);
    }

    fn add_id_token(&mut self, key: &Key, e: &IdTokenEntry) {
        let account = AccountBucket::of(&e.environment, e.home_account_id.as_deref());
        add(&mut self.id_tokens_by_account, account, key);
    }

    fn remove_id_token(&mut self, key: &str, e: &IdTokenEntry) {
        let account = AccountBucket::of(&e.environment, e.home_account_id.as_deref());
        remove(&mut self.id_tokens_by_account, account, key);
    }

    fn add_account(&mut self, key: &Key, e: &AccountEntry) {
        let environment = Some(e.environment.to_ascii_lowercase());
        add(&mut self.accounts_by_environment, environment, key);
        let account = AccountBucket::of(&e.environment, e.home_account_id.as_deref());
        add(&mut self.accounts_by_account, account, key);
    }

    fn remove_account(&mut self, key: &str, e: &AccountEntry) {
        let environment = Some(e.environment.to_ascii_lowercase());
        remove(&mut self.accounts_by_environment, environment, key);
        let account = AccountBucket::of(&e.environment, e.home_account_id.as_deref());
        remove(&mut self.accounts_by_account, account, key);
    }
}

/// The cache's entries together with their index, changed only through
/// methods that keep the two consistent.
#[derive(Debug, Default)]
pub(crate) struct Indexed {
    data: CacheData,
    index: Index,
}

impl Indexed {
    /// Indexes freshly read entries in one pass over them.
    pub(crate) fn new(data: CacheData) -> Self {
        let mut index = Index::default();
        for (key, entry) in &data.access_tokens {
            index.add_access_token(&Key::from(key.as_str()), entry);
        }
        for (key, entry) in &data.refresh_tokens {
            index.add_refresh_token(&Key::from(key.as_str()), entry);
        }
        for (key, entry) in &data.id_tokens {
            index.add_id_token(&Key::from(key.as_str()), entry);
        }
        for (key, entry) in &data.accounts {
            index.add_account(&Key::from(key.as_str()), entry);
        }
        Self { data, index }
    }

    /// The entries, to read (also through `Deref`).
    pub(crate) fn data(&self) -> &CacheData {
        &self.data
    }

    /// The index, to find keys in [`data`](Self::data).
    pub(crate) fn index(&self) -> &Index {
        &self.index
    }

    /// Stores an access token under `key`, replacing (and unindexing) the one there.
    pub(crate) fn put_access_token(&mut self, key: Key, entry: AccessTokenEntry) {
        if let Some(old) = self.data.access_tokens.remove(&*key) {
            self.index.remove_access_token(&key, &old);
        }
        self.index.add_access_token(&key, &entry);
        self.data.access_tokens.insert(key.to_string(), entry);
    }

    /// Stores a refresh token under `key`, replacing (and unindexing) the one there.
    pub(crate) fn put_refresh_token(&mut self, key: Key, entry: RefreshTokenEntry) {
        if let Some(old) = self.data.refresh_tokens.remove(&*key) {
            self.index.remove_refresh_token(&key, &old);
        }
        self.index.add_refresh_token(&key, &entry);
        self.data.refresh_tokens.insert(key.to_string(), entry);
    }

    /// Stores an ID token under `key`, replacing (and unindexing) the one there.
    pub(crate) fn put_id_token(&mut self, key: Key, entry: IdTokenEntry) {
        if let Some(old) = self.data.id_tokens.remove(&*key) {
            self.index.remove_id_token(&key, &old);
        }
        self.index.add_id_token(&key, &entry);
        self.data.id_tokens.insert(key.to_string(), entry);
    }

    /// Stores an `Account` entry under `key`, replacing (and unindexing) the one there.
    pub(crate) fn put_account(&mut self, key: Key, entry: AccountEntry) {
        if let Some(old) = self.data.accounts.remove(&*key) {
            self.index.remove_account(&key, &old);
        }
        self.index.add_account(&key, &entry);
        self.data.accounts.insert(key.to_string(), entry);
    }

    /// Stores an `AppMetadata` entry (looked up by exact key: not indexed).
    pub(crate) fn put_app_metadata(&mut self, key: String, entry: AppMetadataEntry) {
        self.data.app_metadata.insert(key, entry);
    }

    /// Removes an access token; returns whether there was one.
    pub(crate) fn remove_access_token(&mut self, key: &str) -> bool {
        match self.data.access_tokens.remove(key) {
            Some(old) => {
                self.index.remove_access_token(key, &old);
                true
            }
            None => false,
        }
    }

    /// Removes a refresh token; returns whether there was one.
    pub(crate) fn remove_refresh_token(&mut self, key: &str) -> bool {
        match self.data.refresh_tokens.remove(key) {
            Some(old) => {
                self.index.remove_refresh_token(key, &old);
                true
            }
            None => false,
        }
    }

    /// Removes an ID token; returns whether there was one.
    pub(crate) fn remove_id_token(&mut self, key: &str) -> bool {
        match self.data.id_tokens.remove(key) {
            Some(old) => {
                self.index.remove_id_token(key, &old);
                true
            }
            None => false,
        }
    }

    /// Removes an `Account` entry; returns whether there was one.
    pub(crate) fn remove_account(&mut self, key: &str) -> bool {
        match self.data.accounts.remove(key) {
            Some(old) => {
                self.index.remove_account(key, &old);
                true
            }
            None => false,
        }
    }

    /// Changes a refresh token in place. `change` must not touch the fields
    /// the index groups by (environment, `home_account_id`, client id, extra
    /// `user_assertion_hash`); the entry is reindexed anyway in case it did.
    pub(crate) fn update_refresh_token<R>(
        &mut self,
        key: &str,
        change: impl FnOnce(&mut RefreshTokenEntry) -> R,
    ) -> Option<R> {
        let mut entry = self.data.refresh_tokens.remove(key)?;
        let shared: Key = Key::from(key);
        self.index.remove_refresh_token(key, &entry);
        let result = change(&mut entry);
        self.index.add_refresh_token(&shared, &entry);
        self.data.refresh_tokens.insert(key.to_owned(), entry);
        Some(result)
    }
}

/// Reading the entries is free; changing them goes through the methods above
/// (there is deliberately no `DerefMut`), so the index cannot go stale.
impl std::ops::Deref for Indexed {
    type Target = CacheData;

    fn deref(&self) -> &CacheData {
        &self.data
    }
}

#[cfg(test)]
mod tests;

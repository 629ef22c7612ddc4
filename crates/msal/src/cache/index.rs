//! Secondary indexes over the cache's entries, so that every lookup a flow
//! makes touches only the entries it could match instead of scanning whole
//! sections.
//!
//! The [`CacheData`] maps stay the single source of truth (and the serialized
//! form, in their key order); the index holds only keys, grouped by the
//! fields lookups filter on: app tokens by client, environment and realm;
//! everything of a user by environment and home account (one slot per
//! account, its lists inline when they hold one key); on-behalf-of entries
//! by client, environment and assertion hash. Keys are clones of the map's
//! own [`Key`]s (shared text), so indexing an entry allocates no key. A
//! loaded document is indexed as it is read (see `schema::wire`);
//! [`Index::of`] builds the same index from finished maps.
//!
//! Grouping fields are compared case-insensitively (ASCII lowercase in the
//! group names), but an assertion hash exactly. A group can hold more than a
//! query wants (a user's access tokens of every client and realm): callers
//! match the entries' fields exactly. Index entries come from each entry's
//! own fields, not from its map key, so entries other MSALs wrote under
//! differently spelled keys are found too.
//!
//! Invariant: every entry of `CacheData` is in exactly the groups its
//! fields select, and no group holds a key that is not in `CacheData` or is
//! empty. All changes to `CacheData` go through [`Indexed`]'s methods.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

pub(crate) use super::schema::Key;
use super::schema::wire::Loaded;
use super::schema::{
    AccessTokenEntry, AccountEntry, AppMetadataEntry, CacheData, Extra, IdTokenEntry, KeyText,
    RefreshTokenEntry,
};

/// The extra field under which on-behalf-of entries carry the hash of the
/// assertion they were obtained with (MSAL Python's `user_assertion_hash`).
pub(crate) const USER_ASSERTION_HASH: &str = "user_assertion_hash";

/// The keys of one group, sorted, so results come out in the order a linear
/// scan over the (sorted) section gives them. Most groups hold one key,
/// which is kept inline.
#[derive(Clone, Debug, PartialEq)]
enum Keys {
    One(Key),
    /// No key (`None`), or two and more. Boxed, and no third variant, so
    /// that a list is the size of one key: a slot holds four lists.
    #[allow(
        clippy::box_collection,
        reason = "a thin pointer keeps the list one key wide; a bare Vec would widen every slot"
    )]
    Other(Option<Box<Vec<Key>>>),
}

impl Default for Keys {
    fn default() -> Self {
        Keys::Other(None)
    }
}

impl Keys {
    fn as_slice(&self) -> &[Key] {
        match self {
            Keys::One(key) => std::slice::from_ref(key),
            Keys::Other(Some(keys)) => keys,
            Keys::Other(None) => &[],
        }
    }

    fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    fn insert(&mut self, key: &Key) {
        match self {
            Keys::Other(None) => *self = Keys::One(key.clone()),
            Keys::One(one) => match (*one).cmp(key) {
                std::cmp::Ordering::Equal => {}
                std::cmp::Ordering::Less => {
                    *self = Keys::Other(Some(Box::new(vec![one.clone(), key.clone()])))
                }
                std::cmp::Ordering::Greater => {
                    *self = Keys::Other(Some(Box::new(vec![key.clone(), one.clone()])))
                }
            },
            Keys::Other(Some(keys)) => {
                if let Err(at) = keys.binary_search_by(|k| k.cmp(key)) {
                    keys.insert(at, key.clone());
                }
            }
        }
    }

    fn remove(&mut self, key: &dyn KeyText) {
        match self {
            Keys::Other(None) => {}
            Keys::One(one) => {
                if **one == *key {
                    *self = Keys::default();
                }
            }
            Keys::Other(Some(keys)) => {
                if let Ok(at) = keys.binary_search_by(|k| (**k).cmp(key)) {
                    keys.remove(at);
                }
                match keys.as_slice() {
                    [only] => *self = Keys::One(only.clone()),
                    [] => *self = Keys::default(),
                    _ => {}
                }
            }
        }
    }
}

/// A group's id: a hash of its fields lowercased (but the last when
/// `exact_last`), each with its length so no two field lists run together.
/// No allocation, which matters on the cache-hit path. Two groups may share
/// an id (the hasher is seeded per process, so this cannot be arranged from
/// outside, but it is not ruled out): the index then returns both groups'
/// keys, and every caller matches entries' fields exactly.
fn group_id(fields: &[&str], exact_last: bool) -> u64 {
    #[cfg(test)]
    if tests::ALL_GROUPS_COLLIDE.get() {
        return 0;
    }
    static STATE: OnceLock<foldhash::fast::RandomState> = OnceLock::new();
    let mut hasher = STATE.get_or_init(Default::default).build_hasher();
    for (i, field) in fields.iter().enumerate() {
        let exact = exact_last && i + 1 == fields.len();
        hasher.write_usize(field.len());
        // In fixed chunks, so the same field always feeds the hasher alike.
        let mut chunk = [0u8; 64];
        for part in field.as_bytes().chunks(chunk.len()) {
            let chunk = &mut chunk[..part.len()];
            chunk.copy_from_slice(part);
            if !exact {
                chunk.make_ascii_lowercase();
            }
            hasher.write(chunk);
        }
    }
    hasher.finish()
}

/// Which access tokens can answer a query: everything but the scopes.
pub(crate) struct AccessTokenBucket<'a> {
    pub client_id: &'a str,
    pub environment: &'a str,
    pub realm: &'a str,
    /// `None` for app-only tokens.
    pub home_account_id: Option<&'a str>,
}

impl<'a> AccessTokenBucket<'a> {
    pub(crate) fn new(
        client_id: &'a str,
        environment: &'a str,
        realm: &'a str,
        home_account_id: Option<&'a str>,
    ) -> Self {
        Self {
            client_id,
            environment,
            realm,
            home_account_id,
        }
    }
}

/// One account in one environment, compared case-insensitively: what
/// sign-out, account listing and refresh-token lookups group by.
pub(crate) struct AccountBucket(u64);

impl AccountBucket {
    pub(crate) fn new(environment: &str, home_account_id: &str) -> Self {
        Self(group_id(&[environment, home_account_id], false))
    }

    /// Entries without a `home_account_id` belong to no account.
    fn of(environment: &str, home_account_id: Option<&str>) -> Option<Self> {
        home_account_id.map(|hid| Self::new(environment, hid))
    }
}

/// On-behalf-of entries of one client and environment (case-insensitive)
/// obtained with one user assertion (its hash, exact).
pub(crate) struct AssertionBucket(u64);

impl AssertionBucket {
    pub(crate) fn new(client_id: &str, environment: &str, user_assertion_hash: &str) -> Self {
        Self(group_id(&[client_id, environment, user_assertion_hash], true))
    }

    fn of(client_id: &str, environment: &str, extra: &Extra) -> Option<Self> {
        extra
            .get(USER_ASSERTION_HASH)
            .and_then(|v| v.as_str())
            .map(|hash| Self::new(client_id, environment, hash))
    }
}

/// App-only access tokens of one client, environment and realm (case-insensitive).
fn app_group(client_id: &str, environment: &str, realm: &str) -> u64 {
    group_id(&[client_id, environment, realm], false)
}

/// Everything of one account in one environment.
#[derive(Clone, Debug, Default, PartialEq)]
struct AccountSlot {
    access_tokens: Keys,
    refresh_tokens: Keys,
    id_tokens: Keys,
    accounts: Keys,
}

impl AccountSlot {
    fn is_empty(&self) -> bool {
        self.access_tokens.is_empty()
            && self.refresh_tokens.is_empty()
            && self.id_tokens.is_empty()
            && self.accounts.is_empty()
    }
}

/// Keyed by group id (already a hash; foldhash mixes it cheaply).
type HashMap<K, V> = foldhash::HashMap<K, V>;

/// Account slots by group id, the slots kept densely in a list and the
/// table holding only their positions: a table of slots would hold a third
/// again as many (mostly empty) buckets as there are accounts, each a slot
/// wide. Group ids are hashes already, so they are the table's hashes.
#[derive(Debug, Default)]
struct Groups {
    /// Positions in `slots`, found by group id.
    positions: hashbrown::HashTable<u32>,
    slots: Vec<(u64, AccountSlot)>,
}

impl Groups {
    /// The group id of the slot at `at` (to rehash the table).
    fn group_at(slots: &[(u64, AccountSlot)], at: u32) -> u64 {
        slots.get(at as usize).map_or(0, |(group, _)| *group)
    }

    /// The position of `group`'s slot.
    fn position(&self, group: u64) -> Option<usize> {
        let slots = &self.slots;
        let found = self
            .positions
            .find(group, |&at| Self::group_at(slots, at) == group)?;
        Some(*found as usize)
    }

    fn get(&self, group: u64) -> Option<&AccountSlot> {
        self.slots.get(self.position(group)?).map(|(_, slot)| slot)
    }

    /// Makes room for `groups` groups in all (not `groups` more).
    fn reserve(&mut self, groups: usize) {
        let more = groups.saturating_sub(self.slots.len());
        let slots = &self.slots;
        self.positions.reserve(more, |&at| Self::group_at(slots, at));
        self.slots.reserve_exact(more);
    }

    fn add(&mut self, group: u64, pick: Pick, key: &Key) {
        let at = match self.position(group) {
            Some(at) => at,
            None => match u32::try_from(self.slots.len()) {
                Ok(new) => {
                    self.slots.push((group, AccountSlot::default()));
                    let slots = &self.slots;
                    self.positions
                        .insert_unique(group, new, |&at| Self::group_at(slots, at));
                    new as usize
                }
                // Four billion accounts: not indexed (lookups would not find
                // them; the cache cannot get there in memory anyway).
                Err(_) => return,
            },
        };
        if let Some((_, slot)) = self.slots.get_mut(at) {
            pick(slot).insert(key);
        }
    }

    /// Removes `key` from the group's list, and the group once it is empty
    /// (the last slot moves into its place).
    fn remove(&mut self, group: u64, pick: Pick, key: &dyn KeyText) {
        let Some(at) = self.position(group) else {
            return;
        };
        let Some((_, slot)) = self.slots.get_mut(at) else {
            return;
        };
        pick(slot).remove(key);
        if !slot.is_empty() {
            return;
        }
        if let Ok(entry) = self.positions.find_entry(group, |&p| p as usize == at) {
            entry.remove();
        }
        self.slots.swap_remove(at);
        // The slot that was last is now at `at`: repoint its position.
        let last = self.slots.len();
        if let (Some((moved, _)), Ok(at)) = (self.slots.get(at), u32::try_from(at))
            && let Some(position) = self.positions.find_mut(*moved, |&p| p as usize == last)
        {
            *position = at;
        }
    }

    fn len(&self) -> usize {
        self.slots.len()
    }
}

/// Equal when they hold the same groups, whatever the order of the slots.
impl PartialEq for Groups {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self.positions.len() == self.len()
            && self
                .slots
                .iter()
                .all(|(group, slot)| other.get(*group) == Some(slot))
    }
}

/// The indexes. Compared in tests against one rebuilt from scratch.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Index {
    /// Access tokens without an account, by client, environment and realm.
    app_tokens: HashMap<u64, Keys>,
    /// By environment and home account.
    accounts: Groups,
    /// By client, environment and `user_assertion_hash` (only access and
    /// refresh tokens carry one).
    assertions: Groups,
}

/// Which list of a slot an entry goes to.
type Pick = fn(&mut AccountSlot) -> &mut Keys;

fn add_to(groups: &mut Groups, group: Option<u64>, pick: Pick, key: &Key) {
    if let Some(group) = group {
        groups.add(group, pick, key);
    }
}

fn remove_from(groups: &mut Groups, group: Option<u64>, pick: Pick, key: &dyn KeyText) {
    if let Some(group) = group {
        groups.remove(group, pick, key);
    }
}

fn slot_keys(groups: &Groups, group: u64, pick: fn(&AccountSlot) -> &Keys) -> &[Key] {
    groups.get(group).map_or(&[], |slot| pick(slot).as_slice())
}

impl Index {
    /// The keys of access tokens that may be in `bucket`: exactly those of
    /// an app bucket; for an account, all of the account's in the
    /// environment (callers match client, realm and account exactly).
    pub(crate) fn access_tokens(&self, bucket: &AccessTokenBucket<'_>) -> &[Key] {
        match bucket.home_account_id {
            None => self
                .app_tokens
                .get(&app_group(bucket.client_id, bucket.environment, bucket.realm))
                .map_or(&[], Keys::as_slice),
            Some(hid) => self.access_tokens_of(&AccountBucket::new(bucket.environment, hid)),
        }
    }

    /// The keys of every access token of an account in an environment.
    pub(crate) fn access_tokens_of(&self, bucket: &AccountBucket) -> &[Key] {
        slot_keys(&self.accounts, bucket.0, |s| &s.access_tokens)
    }

    /// The keys of access tokens carrying a `user_assertion_hash`.
    pub(crate) fn access_tokens_by_assertion(&self, bucket: &AssertionBucket) -> &[Key] {
        slot_keys(&self.assertions, bucket.0, |s| &s.access_tokens)
    }

    /// The keys of every refresh token of an account in an environment.
    pub(crate) fn refresh_tokens_of(&self, bucket: &AccountBucket) -> &[Key] {
        slot_keys(&self.accounts, bucket.0, |s| &s.refresh_tokens)
    }

    /// The keys of refresh tokens carrying a `user_assertion_hash`.
    pub(crate) fn refresh_tokens_by_assertion(&self, bucket: &AssertionBucket) -> &[Key] {
        slot_keys(&self.assertions, bucket.0, |s| &s.refresh_tokens)
    }

    /// The keys of every ID token of an account in an environment.
    pub(crate) fn id_tokens_of(&self, bucket: &AccountBucket) -> &[Key] {
        slot_keys(&self.accounts, bucket.0, |s| &s.id_tokens)
    }

    /// The keys of an account's `Account` entries (one per realm) in an environment.
    pub(crate) fn accounts_of(&self, bucket: &AccountBucket) -> &[Key] {
        slot_keys(&self.accounts, bucket.0, |s| &s.accounts)
    }

    fn account_group(environment: &str, home_account_id: Option<&str>) -> Option<u64> {
        AccountBucket::of(environment, home_account_id).map(|b| b.0)
    }

    fn assertion_group(client_id: &str, environment: &str, extra: &Extra) -> Option<u64> {
        AssertionBucket::of(client_id, environment, extra).map(|b| b.0)
    }

    /// The index of finished maps, entry by entry.
    pub(crate) fn of(data: &CacheData) -> Self {
        let mut index = Index::default();
        // About one group per account entry: sized once rather than grown.
        index.reserve_accounts(data.accounts.len());
        for (key, entry) in &data.access_tokens {
            index.add_access_token(key, entry);
        }
        for (key, entry) in &data.refresh_tokens {
            index.add_refresh_token(key, entry);
        }
        for (key, entry) in &data.id_tokens {
            index.add_id_token(key, entry);
        }
        for (key, entry) in &data.accounts {
            index.add_account(key, entry);
        }
        index
    }

    /// Makes room for `groups` account groups in all (not `groups` more).
    pub(crate) fn reserve_accounts(&mut self, groups: usize) {
        self.accounts.reserve(groups);
    }

    pub(crate) fn add_access_token(&mut self, key: &Key, e: &AccessTokenEntry) {
        let account = Self::account_group(&e.environment, e.home_account_id.as_deref());
        match account {
            Some(group) => add_to(&mut self.accounts, Some(group), |s| &mut s.access_tokens, key),
            None => self
                .app_tokens
                .entry(app_group(&e.client_id, &e.environment, &e.realm))
                .or_default()
                .insert(key),
        }
        let assertion = Self::assertion_group(&e.client_id, &e.environment, &e.extra);
        add_to(&mut self.assertions, assertion, |s| &mut s.access_tokens, key);
    }

    fn remove_access_token(&mut self, key: &dyn KeyText, e: &AccessTokenEntry) {
        let account = Self::account_group(&e.environment, e.home_account_id.as_deref());
        match account {
            Some(group) => remove_from(&mut self.accounts, Some(group), |s| &mut s.access_tokens, key),
            None => {
                let group = app_group(&e.client_id, &e.environment, &e.realm);
                if let Some(keys) = self.app_tokens.get_mut(&group) {
                    keys.remove(key);
                    if keys.is_empty() {
                        self.app_tokens.remove(&group);
                    }
                }
            }
        }
        let assertion = Self::assertion_group(&e.client_id, &e.environment, &e.extra);
        remove_from(&mut self.assertions, assertion, |s| &mut s.access_tokens, key);
    }

    pub(crate) fn add_refresh_token(&mut self, key: &Key, e: &RefreshTokenEntry) {
        let account = Self::account_group(&e.environment, e.home_account_id.as_deref());
        add_to(&mut self.accounts, account, |s| &mut s.refresh_tokens, key);
        let assertion = Self::assertion_group(&e.client_id, &e.environment, &e.extra);
        add_to(&mut self.assertions, assertion, |s| &mut s.refresh_tokens, key);
    }

    fn remove_refresh_token(&mut self, key: &dyn KeyText, e: &RefreshTokenEntry) {
        let account = Self::account_group(&e.environment, e.home_account_id.as_deref());
        remove_from(&mut self.accounts, account, |s| &mut s.refresh_tokens, key);
        let assertion = Self::assertion_group(&e.client_id, &e.environment, &e.extra);
        remove_from(&mut self.assertions, assertion, |s| &mut s.refresh_tokens, key);
    }

    pub(crate) fn add_id_token(&mut self, key: &Key, e: &IdTokenEntry) {
        let account = Self::account_group(&e.environment, e.home_account_id.as_deref());
        add_to(&mut self.accounts, account, |s| &mut s.id_tokens, key);
    }

    fn remove_id_token(&mut self, key: &dyn KeyText, e: &IdTokenEntry) {
        let account = Self::account_group(&e.environment, e.home_account_id.as_deref());
        remove_from(&mut self.accounts, account, |s| &mut s.id_tokens, key);
    }

    pub(crate) fn add_account(&mut self, key: &Key, e: &AccountEntry) {
        let account = Self::account_group(&e.environment, e.home_account_id.as_deref());
        add_to(&mut self.accounts, account, |s| &mut s.accounts, key);
    }

    fn remove_account(&mut self, key: &dyn KeyText, e: &AccountEntry) {
        let account = Self::account_group(&e.environment, e.home_account_id.as_deref());
        remove_from(&mut self.accounts, account, |s| &mut s.accounts, key);
    }
}

/// Versions of the `Account` section, unique across caches, so a listing
/// computed from one state is never mistaken for one of another.
static ACCOUNT_VERSIONS: AtomicU64 = AtomicU64::new(1);

fn next_account_version() -> u64 {
    ACCOUNT_VERSIONS.fetch_add(1, Ordering::Relaxed)
}

/// The cache's entries together with their index, changed only through
/// methods that keep the two consistent.
#[derive(Debug)]
pub(crate) struct Indexed {
    data: CacheData,
    index: Index,
    /// Changes whenever an `Account` entry is added, changed or removed.
    account_version: u64,
}

impl Default for Indexed {
    fn default() -> Self {
        Self::new(CacheData::default())
    }
}

impl Indexed {
    /// Indexes entries in one pass over them.
    pub(crate) fn new(data: CacheData) -> Self {
        let index = Index::of(&data);
        Self::loaded(Loaded { data, index })
    }

    /// A document read with its index (see `schema::wire`).
    pub(crate) fn loaded(Loaded { data, index }: Loaded) -> Self {
        Self {
            data,
            index,
            account_version: next_account_version(),
        }
    }

    /// The entries, to read (also through `Deref`).
    pub(crate) fn data(&self) -> &CacheData {
        &self.data
    }

    /// The index, to find keys in [`data`](Self::data).
    pub(crate) fn index(&self) -> &Index {
        &self.index
    }

    /// The version of the `Account` section (see [`next_account_version`]).
    pub(crate) fn account_version(&self) -> u64 {
        self.account_version
    }

    /// Stores an access token under `key`, replacing (and unindexing) the one there.
    pub(crate) fn put_access_token(&mut self, key: Key, entry: AccessTokenEntry) {
        // Removed first so that the map keeps `key`, the allocation the index shares.
        if let Some(old) = self.data.access_tokens.remove(&key) {
            self.index.remove_access_token(&key, &old);
        }
        self.index.add_access_token(&key, &entry);
        self.data.access_tokens.insert(key, Arc::new(entry));
    }

    /// Stores a refresh token under `key`, replacing (and unindexing) the one there.
    pub(crate) fn put_refresh_token(&mut self, key: Key, entry: RefreshTokenEntry) {
        if let Some(old) = self.data.refresh_tokens.remove(&key) {
            self.index.remove_refresh_token(&key, &old);
        }
        self.index.add_refresh_token(&key, &entry);
        self.data.refresh_tokens.insert(key, entry);
    }

    /// Stores an ID token under `key`, replacing (and unindexing) the one there.
    pub(crate) fn put_id_token(&mut self, key: Key, entry: IdTokenEntry) {
        if let Some(old) = self.data.id_tokens.remove(&key) {
            self.index.remove_id_token(&key, &old);
        }
        self.index.add_id_token(&key, &entry);
        self.data.id_tokens.insert(key, entry);
    }

    /// Stores an `Account` entry under `key`, replacing (and unindexing) the
    /// one there. Rewriting an identical entry (every sign-in and refresh
    /// does) keeps the version, so account listings stay valid.
    pub(crate) fn put_account(&mut self, key: Key, entry: AccountEntry) {
        if self.data.accounts.get(&key) == Some(&entry) {
            return;
        }
        if let Some(old) = self.data.accounts.remove(&key) {
            self.index.remove_account(&key, &old);
        }
        self.index.add_account(&key, &entry);
        self.data.accounts.insert(key, entry);
        self.account_version = next_account_version();
    }

    /// Stores an `AppMetadata` entry (looked up by exact key: not indexed).
    pub(crate) fn put_app_metadata(&mut self, key: Key, entry: AppMetadataEntry) {
        self.data.app_metadata.insert(key, entry);
    }

    /// Removes an access token; returns whether there was one.
    pub(crate) fn remove_access_token<Q: KeyText + ?Sized>(&mut self, key: &Q) -> bool {
        match self.data.access_tokens.remove(key) {
            Some(old) => {
                self.index.remove_access_token(&key.parts(), &old);
                true
            }
            None => false,
        }
    }

    /// Removes a refresh token; returns whether there was one.
    pub(crate) fn remove_refresh_token<Q: KeyText + ?Sized>(&mut self, key: &Q) -> bool {
        match self.data.refresh_tokens.remove(key) {
            Some(old) => {
                self.index.remove_refresh_token(&key.parts(), &old);
                true
            }
            None => false,
        }
    }

    /// Removes an ID token; returns whether there was one.
    pub(crate) fn remove_id_token<Q: KeyText + ?Sized>(&mut self, key: &Q) -> bool {
        match self.data.id_tokens.remove(key) {
            Some(old) => {
                self.index.remove_id_token(&key.parts(), &old);
                true
            }
            None => false,
        }
    }

    /// Removes an `Account` entry; returns whether there was one.
    pub(crate) fn remove_account<Q: KeyText + ?Sized>(&mut self, key: &Q) -> bool {
        match self.data.accounts.remove(key) {
            Some(old) => {
                self.index.remove_account(&key.parts(), &old);
                self.account_version = next_account_version();
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
        key: &(impl KeyText + ?Sized),
        change: impl FnOnce(&mut RefreshTokenEntry) -> R,
    ) -> Option<R> {
        let (shared, mut entry) = self.data.refresh_tokens.remove_entry(key)?;
        self.index.remove_refresh_token(&shared, &entry);
        let result = change(&mut entry);
        self.index.add_refresh_token(&shared, &entry);
        self.data.refresh_tokens.insert(shared, entry);
        Some(result)
    }
}

impl Indexed {
    /// The sections other than the five credential ones: not indexed, so
    /// they may be changed directly.
    pub(crate) fn extra_sections_mut(&mut self) -> &mut serde_json::Map<String, serde_json::Value> {
        &mut self.data.extra
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

//! The token cache: tokens, accounts and app metadata in the unified MSAL
//! schema, shared in memory by every clone and serializable to the JSON that
//! MSAL Python's `SerializableTokenCache` (and the other MSALs) read and write.
//!
//! Entries live in sorted maps (the serialized form, key order included) and
//! are found through an `index` keyed by account, client, environment and
//! realm, so a lookup reads only the entries it could match. Access tokens
//! are shared (`Arc`) with the lookups that return them, and an account
//! listing is built from the `Account` entries once per change of them and
//! then shared by every caller.
//!
//! Concurrency: one `RwLock` guards entries and index together. Reads
//! (lookups, listing, serializing) take it shared and never block each
//! other; writers prepare keys and entries before taking it exclusively and
//! do only map inserts and removals under it. A whole new cache (deserialize)
//! is parsed and indexed outside the lock and swapped in, and the old one is
//! dropped after the lock is released. Listings are built under the shared
//! lock behind a small mutex of their own, so concurrent first listings
//! build once.

mod assertion;
mod bound;
pub mod distributed;
mod file;
mod hooks;
pub(crate) mod index;
#[cfg(all(feature = "keyring", target_os = "linux"))]
mod keyring;
mod lock;
mod persistence;
mod schema;
mod surrogates;

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::Serialize;

use crate::account::Account;
use crate::error::CacheError;
use crate::secret::CachedSecret;
pub(crate) use assertion::{
    EXT_CACHE_KEY, PartitionQuery, USER_ASSERTION_HASH, assertion_hash, ext_cache_key,
};
pub(crate) use bound::KEY_ID;
pub use distributed::{DistributedTokenCache, MemoryPartitionStore};
pub use hooks::{CacheAccess, CacheHooks};
use index::{AccessTokenBucket, AccountBucket, Indexed, Key};
#[cfg(all(feature = "keyring", target_os = "linux"))]
pub use keyring::{DEFAULT_KEYRING_TIMEOUT, KeyringOptions, KeyringPersistence};
pub use lock::{CacheFileLock, DEFAULT_LOCK_WAIT};
pub use persistence::{FilePersistence, PersistedCache, PersistedCacheGuard, Persistence};

/// One cached access token, described without its secret (see
/// [`TokenCache::access_tokens_of`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CachedTokenInfo {
    /// The application it was issued to.
    pub client_id: String,
    /// The cloud host (`login.microsoftonline.com`).
    pub environment: String,
    /// The tenant.
    pub realm: String,
    /// The scopes it grants.
    pub scopes: Vec<String>,
    /// When it expires.
    pub expires_on: std::time::SystemTime,
}
pub(crate) use schema::Str;

/// A cached access token as lookups return it: shared with the cache, so a
/// hit copies a pointer, not the entry.
pub(crate) type CachedAccessToken = Arc<AccessTokenEntry>;
use schema::wire::Loaded;
pub(crate) use schema::{AccessTokenEntry, AccountEntry, AppMetadataEntry, IdTokenEntry, RefreshTokenEntry};
use schema::{CacheData, Section, key};

thread_local! {
    /// Where lookups build a key; reused, so the hot path allocates nothing.
    static KEY_BUFFER: RefCell<String> = const { RefCell::new(String::new()) };
    /// The access-token key this thread built last, and from what (boxed:
    /// taken out and put back on every lookup, it moves as a pointer).
    static ACCESS_KEY_MEMO: RefCell<Option<Box<KeyMemo>>> = const { RefCell::new(None) };
}

/// Runs `f` on a value kept in a thread-local cell (taken out and put
/// back, so a nested call or an exiting thread just gets a fresh value).
fn with_kept<T: Default, R>(
    cell: &'static std::thread::LocalKey<RefCell<T>>,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    let mut kept = cell
        .try_with(|cell| cell.try_borrow_mut().map(|mut kept| std::mem::take(&mut *kept)))
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let result = f(&mut kept);
    let _ = cell.try_with(|cell| {
        if let Ok(mut slot) = cell.try_borrow_mut() {
            *slot = kept;
        }
    });
    result
}

/// Runs `f` on this thread's key buffer.
fn with_key_buffer<R>(f: impl FnOnce(&mut String) -> R) -> R {
    with_kept(&KEY_BUFFER, f)
}

/// An access-token key and the lookup fields it was built from. A service
/// asks for the same token over and over, so the key (fields lowercased
/// and joined, scopes sorted) is built once and reused while the fields
/// are the same: comparing them is a few `memcmp`s, building it a pass
/// over every byte and, for several scopes, a sort and two allocations.
#[derive(Default)]
struct KeyMemo {
    /// The fields, one after another; `ends[i]` is where field `i` ends.
    fields: String,
    ends: Vec<usize>,
    key: String,
    /// What the lookup with these fields found last, in which cache and at
    /// which version of it: served again while that version is current.
    found: Option<Found>,
}

/// A lookup's answer as a thread remembers it (see [`KeyMemo`]).
struct Found {
    cache: u64,
    version: u64,
    entry: CachedAccessToken,
    /// Whether `entry` is this thread's own copy (see [`private_copy`]),
    /// made when the memo answers a second time: a token asked for once
    /// (another user's, in a web app) is not copied.
    private: bool,
}

impl KeyMemo {
    /// Whether the memo was built from exactly `fields`.
    fn holds<'a>(&self, fields: impl Iterator<Item = &'a str>) -> bool {
        let mut count = 0;
        let mut start = 0;
        for field in fields {
            let Some(&end) = self.ends.get(count) else {
                return false;
            };
            // Bytes, not `str` ranges: no char-boundary checks on this path.
            if self.fields.as_bytes().get(start..end) != Some(field.as_bytes()) {
                return false;
            }
            count += 1;
            start = end;
        }
        count == self.ends.len()
    }

    fn remember<'a>(&mut self, fields: impl Iterator<Item = &'a str>) {
        self.found = None;
        self.fields.clear();
        self.ends.clear();
        for field in fields {
            self.fields.push_str(field);
            self.ends.push(self.fields.len());
        }
    }
}

/// Runs `f` on this thread's memo for the access token `query` asks for
/// with `scopes`: its exact cache key, and what was found with it last.
fn with_access_token_memo<R>(
    query: &AccessTokenQuery<'_>,
    scopes: &[String],
    f: impl FnOnce(&mut KeyMemo) -> R,
) -> R {
    let fields = || {
        [
            query.home_account_id.unwrap_or_default(),
            query.environment,
            query.client_id,
            query.realm,
        ]
        .into_iter()
        .chain(scopes.iter().map(String::as_str))
    };
    with_kept(&ACCESS_KEY_MEMO, |kept| {
        let memo = kept.get_or_insert_with(Box::default);
        if !memo.holds(fields()) {
            // The target in the memo's field buffer first (remember()
            // rewrites that buffer next), so no string is allocated.
            memo.fields.clear();
            target_into(&mut memo.fields, scopes);
            let target = std::mem::take(&mut memo.fields);
            key::access_token_into(
                &mut memo.key,
                query.home_account_id,
                query.environment,
                query.client_id,
                query.realm,
                &target,
            );
            memo.fields = target;
            memo.remember(fields());
        }
        f(memo)
    })
}

/// A copy of `entry` whose text and secret are this thread's own. A
/// thread's memo serves it (see [`KeyMemo`]): results built from it clone
/// and drop reference counts that no other thread touches, so hits on many
/// cores do not fight over the cache lines of one shared entry. The secret
/// is zeroed when the last holder of the copy drops it, as any other.
fn private_copy(entry: &AccessTokenEntry) -> AccessTokenEntry {
    let own = |text: &Str| Str::from(&**text);
    AccessTokenEntry {
        credential_type: own(&entry.credential_type),
        secret: CachedSecret::new(entry.secret.expose()),
        home_account_id: entry.home_account_id.as_ref().map(own),
        environment: own(&entry.environment),
        client_id: own(&entry.client_id),
        target: own(&entry.target),
        realm: own(&entry.realm),
        token_type: entry.token_type.as_ref().map(own),
        cached_at: entry.cached_at,
        expires_on: entry.expires_on,
        extended_expires_on: entry.extended_expires_on,
        refresh_on: entry.refresh_on,
        extra: entry.extra.clone(),
    }
}

/// What a silent cache hit serves beside its access token (see
/// [`TokenCache::hit_context`]).
pub(crate) struct HitContext {
    /// The account's ID token for the client and realm, shared with the cache.
    pub(crate) id_token: Option<CachedSecret>,
    /// The account's entry there.
    pub(crate) account: Option<Account>,
    /// The cache's version these were read at (see [`TokenCache::generation`]).
    pub(crate) version: u64,
}

/// An access token is treated as expired this many seconds before it does,
/// so a caller never receives one that dies in flight (MSAL's 5 minutes).
pub(crate) const EXPIRY_MARGIN_SECS: u64 = 300;

/// A token cache in the unified MSAL schema. Cloning is cheap and every clone
/// shares the same entries, so one cache can back several applications.
#[derive(Clone, Default)]
pub struct TokenCache {
    inner: Arc<Inner>,
}

struct Inner {
    /// Unique in the process (never reused, unlike an address), so a
    /// thread's memo of another cache's entry can never answer here.
    id: u64,
    /// Bumped whenever the entries may change (each exclusive lock), so a
    /// memo of an entry is known current without taking the lock.
    version: AtomicU64,
    state: RwLock<State>,
}

impl Default for Inner {
    fn default() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            version: AtomicU64::new(0),
            state: RwLock::default(),
        }
    }
}

#[derive(Default)]
struct State {
    /// Entries and their index; reads deref to the entries, writes go
    /// through `Indexed`'s methods.
    data: Indexed,
    /// Atomic so that serializing, which resets it, needs only a shared lock.
    changed: AtomicBool,
    /// Account listings of the current `Account` section, built on first
    /// use under a shared lock (hence the mutex) and shared by every caller.
    listings: Mutex<Listings>,
}

/// Account listings per (lowercase) environment, valid for one version of
/// the `Account` section.
#[derive(Default)]
struct Listings {
    version: u64,
    by_environment: HashMap<String, Arc<Vec<Account>>>,
}

impl Listings {
    /// The listings of every environment that `data`'s accounts are in.
    fn of(data: &Indexed) -> Self {
        let mut environments: Vec<String> = Vec::new();
        for account in data.accounts.values() {
            if !environments
                .iter()
                .any(|e| e.eq_ignore_ascii_case(&account.environment))
            {
                environments.push(account.environment.to_ascii_lowercase());
            }
        }
        let by_environment = environments
            .into_iter()
            .map(|environment| {
                let listed = list_accounts(&data.accounts, &environment);
                (environment, listed)
            })
            .collect();
        Self {
            version: data.account_version(),
            by_environment,
        }
    }
}

impl State {
    fn mark_changed(&mut self) {
        *self.changed.get_mut() = true;
    }
}

/// The cache section where tenant names map to the realms discovery found
/// for them. Other MSALs keep sections they do not know as they are.
pub(crate) const TENANT_REALMS: &str = "TenantRealm";

/// The key of a [`TENANT_REALMS`] entry: `{environment}-{tenant}`, lowercase.
fn tenant_realm_key(environment: &str, tenant: &str) -> String {
    format!("{environment}-{tenant}").to_ascii_lowercase()
}

/// `authority_type` of accounts signed in through Entra ID (work, school and
/// personal Microsoft accounts).
pub(crate) const AUTHORITY_TYPE_MSSTS: &str = "MSSTS";
/// `authority_type` of accounts signed in through AD FS.
pub(crate) const AUTHORITY_TYPE_ADFS: &str = "ADFS";

/// Everything one token response adds to the cache, as MSAL Python's
/// `TokenCache.add` writes it: each entry replaces the one with its key.
pub(crate) struct CacheWrite {
    pub access_token: Option<AccessTokenEntry>,
    pub refresh_token: Option<RefreshTokenEntry>,
    pub id_token: Option<IdTokenEntry>,
    pub account: Option<AccountEntry>,
    pub app_metadata: AppMetadataEntry,
}

/// What identifies an access token besides its scopes.
pub(crate) struct AccessTokenQuery<'a> {
    pub home_account_id: Option<&'a str>,
    pub environment: &'a str,
    pub client_id: &'a str,
    pub realm: &'a str,
}

impl TokenCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// A cache holding the entries of a serialized cache.
    pub fn from_json(json: &str) -> Result<Self, CacheError> {
        let cache = Self::new();
        cache.deserialize(json)?;
        Ok(cache)
    }

    /// Replaces this cache's entries with those of `json` (as written by
    /// [`serialize`](Self::serialize) or any MSAL). An empty string is an
    /// empty cache. On error the cache is left exactly as it was.
    pub fn deserialize(&self, json: &str) -> Result<(), CacheError> {
        let fresh = if json.trim().is_empty() {
            Indexed::default()
        } else {
            // Indexed while read (see `schema::wire`).
            let loaded = match serde_json::from_str::<Loaded>(json) {
                Ok(loaded) => loaded,
                // One lone surrogate (MSAL Python reads it) must not cost every entry.
                Err(e) if surrogates::is_lone_surrogate(&e) => {
                    serde_json::from_str::<Loaded>(&surrogates::replace_lone_surrogates(json))
                        .map_err(|e| malformed(&e))?
                }
                Err(e) => return Err(malformed(&e)),
            };
            Indexed::loaded(loaded)
        };
        self.install(fresh);
        Ok(())
    }

    /// Installs entries made elsewhere, indexed before the lock is taken.
    fn replace(&self, data: CacheData) {
        self.install(Indexed::new(data));
    }

    /// Installs an indexed cache; the old entries are dropped after the
    /// lock is released.
    fn install(&self, fresh: Indexed) {
        // Its account listings are built now, before the lock is taken and
        // while the entries just read are still in the CPU's caches: the
        // first `get_accounts` after a load is then as cheap as a repeated
        // one (listings are kept current: after this, one that the
        // accounts' changes made stale is rebuilt on its next call).
        let listings = Listings::of(&fresh);
        let old = {
            let mut state = self.write();
            *state.changed.get_mut() = false;
            *state.listings.get_mut().unwrap_or_else(|p| p.into_inner()) = listings;
            std::mem::replace(&mut state.data, fresh)
        };
        drop(old);
    }

    /// The cache as JSON in the unified schema, indented like MSAL Python's.
    /// Resets [`has_state_changed`](Self::has_state_changed).
    pub fn serialize(&self) -> String {
        let mut out = Vec::new();
        // Writing into memory cannot fail.
        if self.write_json(&mut out).is_err() {
            return "{}".to_owned();
        }
        String::from_utf8(out).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Streams the serialized cache into `writer` under a shared lock (other
    /// readers go on meanwhile) and resets `has_state_changed`.
    fn write_json(&self, writer: impl Write) -> serde_json::Result<()> {
        let state = self.read();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut serializer = serde_json::Serializer::with_formatter(writer, formatter);
        state.data.data().serialize(&mut serializer)?;
        // No writer can run while the shared lock is held, so nothing
        // changed between the snapshot written and this reset.
        state.changed.store(false, Ordering::Release);
        Ok(())
    }

    /// Whether entries were added or removed since the last
    /// [`serialize`](Self::serialize) or [`deserialize`](Self::deserialize):
    /// persist the cache only when this is true.
    pub fn has_state_changed(&self) -> bool {
        self.read().changed.load(Ordering::Acquire)
    }

    /// The number of access tokens held (expired ones included).
    pub fn access_token_count(&self) -> usize {
        self.read().data.access_tokens.len()
    }

    /// The clouds (`environment`s, lowercase, in key order) that hold
    /// accounts: where to look for every signed-in user, whichever cloud.
    pub fn account_environments(&self) -> Vec<String> {
        let state = self.read();
        let mut environments: Vec<String> = Vec::new();
        for account in state.data.accounts.values() {
            let environment = account.environment.to_ascii_lowercase();
            if !environment.is_empty() && !environments.contains(&environment) {
                environments.push(environment);
            }
        }
        environments
    }

    /// The accounts cached under exactly `environment` (any case; a port
    /// included, as MSAL Node writes loopback hosts), one per user, as
    /// `get_accounts` lists them: for tools that show every cloud's users
    /// without an application, such as `msal accounts`.
    pub fn accounts_in(&self, environment: &str) -> Vec<Account> {
        self.accounts(environment).to_vec()
    }

    /// What the cache holds for the account `home_account_id` (any case):
    /// one line per access token, no secret. For "who is signed in, with
    /// what, until when" displays such as `msal status`.
    pub fn access_tokens_of(&self, home_account_id: &str) -> Vec<CachedTokenInfo> {
        let state = self.read();
        let mut tokens: Vec<CachedTokenInfo> = state
            .data
            .access_tokens
            .values()
            .filter(|t| {
                t.home_account_id
                    .as_deref()
                    .is_some_and(|h| h.eq_ignore_ascii_case(home_account_id))
            })
            .map(|t| CachedTokenInfo {
                client_id: t.client_id.to_string(),
                environment: t.environment.to_string(),
                realm: t.realm.to_string(),
                scopes: t.target.split_whitespace().map(str::to_owned).collect(),
                expires_on: crate::time::from_epoch(t.expires_on),
            })
            .collect();
        tokens.sort_by_key(|t| std::cmp::Reverse(t.expires_on));
        tokens
    }

    /// The client ids that hold a refresh token of the account
    /// `home_account_id` in `environment` (both any case): the applications
    /// a user is signed in to.
    pub fn refresh_token_client_ids(&self, home_account_id: &str, environment: &str) -> Vec<String> {
        let state = self.read();
        let mut clients: Vec<String> = Vec::new();
        for token in state.data.refresh_tokens.values() {
            let owned = token
                .home_account_id
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(home_account_id))
                && token.environment.eq_ignore_ascii_case(environment);
            if owned && !clients.iter().any(|c| c.eq_ignore_ascii_case(&token.client_id)) {
                clients.push(token.client_id.to_string());
            }
        }
        clients
    }

    /// The newest access token matching `query` whose target covers `scopes`
    /// and that stays valid past the expiry margin. Looks up the exact key
    /// first and then only the tokens of the query's client, environment,
    /// realm and account.
    pub(crate) fn find_access_token(
        &self,
        query: &AccessTokenQuery<'_>,
        scopes: &[String],
        now: u64,
    ) -> Option<CachedAccessToken> {
        let usable = |entry: &AccessTokenEntry| entry.expires_on > now.saturating_add(EXPIRY_MARGIN_SECS);
        let cache = self.inner.id;
        with_access_token_memo(query, scopes, |memo| {
            // This thread found it last time, and the cache has not changed
            // since: no lock, no key, no map. Still usable now means still
            // the answer: usable entries only drop out as time passes.
            let current = self.inner.version.load(Ordering::Acquire);
            if let Some(found) = &mut memo.found
                && found.cache == cache
                && found.version == current
                && usable(&found.entry)
            {
                if !found.private {
                    found.entry = Arc::new(private_copy(&found.entry));
                    found.private = true;
                }
                return Some(found.entry.clone());
            }
            let state = self.read();
            // Read under the shared lock: no writer is between it and the entries read.
            let version = self.inner.version.load(Ordering::Acquire);
            let tokens = &state.data.access_tokens;
            let found = tokens
                .get(memo.key.as_str())
                .filter(|e| matches(e, query) && usable(e))
                .or_else(|| {
                    grouped_tokens(&state, query)
                        .filter(|e| matches(e, query) && usable(e) && covers(&e.target, scopes))
                        .max_by_key(|e| e.expires_on)
                })?;
            memo.found = Some(Found {
                cache,
                version,
                entry: found.clone(),
                private: false,
            });
            Some(found.clone())
        })
    }

    /// What a silent cache hit serves beside its access token, read under
    /// one shared lock without allocating a key: the ID token of
    /// `home_account_id` for this client in `environment` and `realm`, and
    /// its `Account` entry there (by its key, else, for an entry another
    /// MSAL keyed differently, through the index) as an [`Account`] sharing
    /// the entry's text.
    pub(crate) fn hit_context(
        &self,
        home_account_id: &str,
        environment: &str,
        client_id: &str,
        realm: &str,
    ) -> HitContext {
        let state = self.read();
        let data = &state.data;
        let belongs = |a: &AccountEntry| {
            same_ignoring_case(&a.realm, realm)
                && owned_by(
                    a.home_account_id.as_deref(),
                    &a.environment,
                    home_account_id,
                    &[environment],
                )
        };
        let (id_token, account) = with_key_buffer(|buffer| {
            key::id_token_into(buffer, home_account_id, environment, client_id, realm);
            let id_token = data.id_tokens.get(buffer.as_str()).map(|t| t.secret.clone());
            key::account_into(buffer, home_account_id, environment, realm);
            let account = data.accounts.get(buffer.as_str()).filter(|a| belongs(a));
            (id_token, account.and_then(AccountEntry::to_account))
        });
        let account = account.or_else(|| {
            let bucket = AccountBucket::new(environment, home_account_id);
            data.index()
                .accounts_of(&bucket)
                .iter()
                .filter_map(|key| data.accounts.get(&**key))
                .find(|a| belongs(a))
                .and_then(AccountEntry::to_account)
        });
        HitContext {
            id_token,
            account,
            version: self.inner.version.load(Ordering::Acquire),
        }
    }

    /// Which cache this is (unique in the process) and its version: what
    /// was read from it at one generation is current while the generation
    /// is the same.
    pub(crate) fn generation(&self) -> (u64, u64) {
        (self.inner.id, self.inner.version.load(Ordering::Acquire))
    }

    /// The `Account` entries of `home_account_id` in `environments`, in any
    /// realm, in key order.
    pub(crate) fn accounts_of(
        &self,
        home_account_id: &str,
        environments: &[impl AsRef<str>],
    ) -> Vec<AccountEntry> {
        let buckets = account_buckets(home_account_id, environments);
        let state = self.read();
        let index = state.data.index();
        sorted_keys(buckets.iter().map(|b| index.accounts_of(b)))
            .into_iter()
            .filter_map(|key| state.data.accounts.get(&**key))
            .filter(|a| {
                owned_by(
                    a.home_account_id.as_deref(),
                    &a.environment,
                    home_account_id,
                    environments,
                )
            })
            .cloned()
            .collect()
    }

    /// The refresh tokens of `home_account_id` in `environments` that `wanted`
    /// accepts, newest first (by `last_modification_time`; entries without
    /// one, as some SDKs write them, come last), so the most recently issued
    /// and therefore most likely valid token is tried first.
    pub(crate) fn refresh_tokens_of(
        &self,
        home_account_id: &str,
        environments: &[String],
        wanted: impl Fn(&RefreshTokenEntry) -> bool,
    ) -> Vec<RefreshTokenEntry> {
        let buckets = account_buckets(home_account_id, environments);
        let mut found: Vec<RefreshTokenEntry> = {
            let state = self.read();
            let index = state.data.index();
            sorted_keys(buckets.iter().map(|b| index.refresh_tokens_of(b)))
                .into_iter()
                .filter_map(|key| state.data.refresh_tokens.get(&**key))
                .filter(|rt| {
                    owned_by(
                        rt.home_account_id.as_deref(),
                        &rt.environment,
                        home_account_id,
                        environments,
                    )
                })
                .filter(|rt| wanted(rt))
                .cloned()
                .collect()
        };
        // Stable: ties keep key order.
        found.sort_by_key(|rt| std::cmp::Reverse(rt.last_modification_time));
        found
    }

    /// This client's `AppMetadata` entry in the first of `environments` that has one.
    pub(crate) fn app_metadata(&self, environments: &[String], client_id: &str) -> Option<AppMetadataEntry> {
        let keys: Vec<String> = environments
            .iter()
            .map(|environment| key::app_metadata(environment, client_id))
            .collect();
        let state = self.read();
        keys.iter()
            .find_map(|key| state.data.app_metadata.get(key.as_str()).cloned())
    }

    /// After `old` was redeemed for `new_secret`: when the new refresh token
    /// landed under another key (the granted scopes differ from the old
    /// entry's target), the old entry is updated in place too, as MSAL
    /// Python's `update_rt` does, so no superseded secret stays behind. An
    /// entry another caller changed meanwhile is left alone.
    pub(crate) fn update_refresh_token(&self, old: &RefreshTokenEntry, new_secret: &CachedSecret, now: u64) {
        let key = key::refresh_token(
            old.home_account_id.as_deref(),
            &old.environment,
            &old.client_id,
            old.target.as_deref(),
        );
        let mut state = self.write();
        let stale = state
            .data
            .refresh_tokens
            .get(key.as_str())
            .is_some_and(|entry| entry.secret == old.secret && entry.secret != *new_secret);
        if stale {
            // Only the secret and time change: the entry stays in its index sets.
            state.data.update_refresh_token(&key, |entry| {
                entry.secret = new_secret.clone();
                entry.last_modification_time = Some(now);
            });
            state.mark_changed();
        }
    }

    /// Stores an access token (replacing the one with the same key) and the
    /// app's metadata entry, as MSAL Python's `TokenCache.add` does for an
    /// app-only token response. Flows go through [`add`](Self::add).
    #[cfg(test)]
    pub(crate) fn add_access_token(&self, entry: AccessTokenEntry) {
        let app_metadata = AppMetadataEntry {
            client_id: entry.client_id.clone(),
            environment: entry.environment.clone(),
            ..Default::default()
        };
        self.add(CacheWrite {
            access_token: Some(entry),
            refresh_token: None,
            id_token: None,
            account: None,
            app_metadata,
        });
    }

    /// The realm (tenant id) an earlier discovery found for the tenant
    /// named `tenant` (a domain such as `contoso.onmicrosoft.com`) on
    /// `environment`, from the [`TENANT_REALMS`] section. Lets a new process
    /// find the tokens of a domain authority without asking the network.
    pub(crate) fn known_realm(&self, environment: &str, tenant: &str) -> Option<String> {
        let key = tenant_realm_key(environment, tenant);
        let state = self.read();
        let entry = state.data.extra.get(TENANT_REALMS)?.get(&key)?;
        let realm = entry.get("realm")?.as_str()?.trim();
        (!realm.is_empty()).then(|| realm.to_owned())
    }

    /// Writes down that `tenant` on `environment` is the realm `realm`
    /// (see [`known_realm`](Self::known_realm)); a no-op when already known.
    /// It does not count as a change ([`has_state_changed`](Self::has_state_changed)):
    /// it matters only with the tokens cached under that realm, and is
    /// saved with them.
    pub(crate) fn remember_realm(&self, environment: &str, tenant: &str, realm: &str) {
        if self.known_realm(environment, tenant).as_deref() == Some(realm) {
            return;
        }
        let key = tenant_realm_key(environment, tenant);
        let mut state = self.write();
        let sections = state.data.extra_sections_mut();
        let section = sections
            .entry(TENANT_REALMS)
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
        if !section.is_object() {
            // Someone else's junk under our name: ours now.
            *section = serde_json::Value::Object(Default::default());
        }
        if let Some(map) = section.as_object_mut() {
            map.insert(
                key,
                serde_json::json!({
                    "environment": environment.to_ascii_lowercase(),
                    "tenant": tenant.to_ascii_lowercase(),
                    "realm": realm,
                }),
            );
        }
    }

    /// Stores the entries of one token response under one lock, so readers
    /// never see an account without its tokens. Keys are built before the
    /// lock is taken; under it only these entries and their index sets change.
    pub(crate) fn add(&self, write: CacheWrite) {
        let access_token = write.access_token.map(|entry| {
            // MSAL Python's extended key when the token is shaped by extra parameters.
            let key = assertion::access_token_key(&entry);
            (Key::from(key), entry)
        });
        let account = write.account.map(|entry| {
            let key = key::account(entry.home_account_id.as_deref(), &entry.environment, &entry.realm);
            (Key::from(key), entry)
        });
        let id_token = write.id_token.map(|entry| {
            let key = key::id_token(
                entry.home_account_id.as_deref(),
                &entry.environment,
                &entry.client_id,
                &entry.realm,
            );
            (Key::from(key), entry)
        });
        let refresh_token = write.refresh_token.map(|entry| {
            let key = key::refresh_token(
                entry.home_account_id.as_deref(),
                &entry.environment,
                &entry.client_id,
                entry.target.as_deref(),
            );
            (Key::from(key), entry)
        });
        let app_metadata = write.app_metadata;
        let app_metadata_key = key::app_metadata(&app_metadata.environment, &app_metadata.client_id);

        let mut state = self.write();
        let data = &mut state.data;
        if let Some((key, entry)) = access_token {
            data.put_access_token(key, entry);
        }
        if let Some((key, entry)) = account {
            data.put_account(key, entry);
        }
        if let Some((key, entry)) = id_token {
            data.put_id_token(key, entry);
        }
        if let Some((key, entry)) = refresh_token {
            data.put_refresh_token(key, entry);
        }
        data.put_app_metadata(Key::from(app_metadata_key), app_metadata);
        state.mark_changed();
    }

    /// The accounts of `environment` signed in through Entra ID or AD FS,
    /// one per home account, in first-seen key order; an account that
    /// visited several tenants has an entry per realm and the last one
    /// stands for it, as in MSAL Python. Built once per change of the
    /// `Account` section (reading only `Account` entries) and then shared:
    /// listing an unchanged cache copies nothing.
    pub(crate) fn accounts(&self, environment: &str) -> Arc<Vec<Account>> {
        let environment = environment.to_ascii_lowercase();
        let state = self.read();
        let version = state.data.account_version();
        let mut listings = state.listings.lock().unwrap_or_else(|p| p.into_inner());
        if listings.version != version {
            listings.version = version;
            listings.by_environment.clear();
        }
        match listings.by_environment.entry(environment) {
            Entry::Occupied(listed) => listed.get().clone(),
            Entry::Vacant(slot) => {
                let listed = list_accounts(&state.data.accounts, slot.key());
                slot.insert(listed).clone()
            }
        }
    }

    /// Signs an account out of `client_id` and forgets it, as MSAL Python's
    /// `remove_account` does, in every realm of `environment`: the refresh
    /// tokens of this client and of its family (other apps' own refresh
    /// tokens stay, so their single sign-on keeps working), every access
    /// token, ID token and account entry of the home account. Returns whether
    /// anything was removed.
    pub(crate) fn remove_account(&self, environment: &str, home_account_id: &str, client_id: &str) -> bool {
        let bucket = AccountBucket::new(environment, home_account_id);
        let metadata_key = key::app_metadata(environment, client_id);
        let mut state = self.write();
        let data = &mut state.data;
        let family = data
            .app_metadata
            .get(metadata_key.as_str())
            .and_then(|m| m.family_id.clone())
            .filter(|f| !f.is_empty());
        let index = data.index();
        let environments = [environment.to_owned()];
        let owner =
            |hid: &Option<Str>, env: &str| owned_by(hid.as_deref(), env, home_account_id, &environments);
        let refresh_tokens = keys_where(index.refresh_tokens_of(&bucket), &data.refresh_tokens, |rt| {
            owner(&rt.home_account_id, &rt.environment)
                && (rt.client_id.eq_ignore_ascii_case(client_id)
                    || (family.is_some() && rt.family_id == family))
        });
        // Every client's access tokens go: without this client's refresh token the
        // account is signed out here, and other apps keep their refresh tokens anyway.
        let access_tokens = keys_where(index.access_tokens_of(&bucket), &data.access_tokens, |e| {
            owner(&e.home_account_id, &e.environment)
        });
        let id_tokens = keys_where(index.id_tokens_of(&bucket), &data.id_tokens, |e| {
            owner(&e.home_account_id, &e.environment)
        });
        let accounts = keys_where(index.accounts_of(&bucket), &data.accounts, |e| {
            owner(&e.home_account_id, &e.environment)
        });
        let mut removed = false;
        for key in &refresh_tokens {
            removed |= data.remove_refresh_token(key);
        }
        for key in &access_tokens {
            removed |= data.remove_access_token(key);
        }
        for key in &id_tokens {
            removed |= data.remove_id_token(key);
        }
        for key in &accounts {
            removed |= data.remove_account(key);
        }
        if removed {
            state.mark_changed();
        }
        removed
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic elsewhere cannot leave entries and index disagreeing (each
        // change updates both before returning), so recover.
        self.inner
            .state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        let state = self
            .inner
            .state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Under the exclusive lock, before any change: a reader that sees
        // the old version read the entries as they were before this write.
        self.inner.version.fetch_add(1, Ordering::AcqRel);
        state
    }
}

/// See [`TokenCache::accounts`]. Linear in the number of `Account` entries.
fn list_accounts(entries: &Section<AccountEntry>, environment: &str) -> Arc<Vec<Account>> {
    let mut accounts: Vec<Account> = Vec::with_capacity(entries.len());
    let mut positions: foldhash::HashMap<&str, usize> = foldhash::HashMap::default();
    positions.reserve(entries.len());
    let listed = entries.values().filter(|a| {
        a.environment.eq_ignore_ascii_case(environment)
            && [AUTHORITY_TYPE_MSSTS, AUTHORITY_TYPE_ADFS].contains(&&*a.authority_type)
    });
    for (entry, account) in listed.filter_map(|e| Some((e, e.to_account()?))) {
        let hid = entry.home_account_id.as_deref().unwrap_or_default();
        match positions.entry(hid) {
            Entry::Occupied(at) => accounts[*at.get()] = account,
            Entry::Vacant(slot) => {
                slot.insert(accounts.len());
                accounts.push(account);
            }
        }
    }
    Arc::new(accounts)
}

/// The access tokens in `query`'s index group (its client, environment,
/// realm and account): what every lookup that is not by exact key filters.
fn grouped_tokens<'s>(
    state: &'s State,
    query: &AccessTokenQuery<'_>,
) -> impl Iterator<Item = &'s CachedAccessToken> {
    let bucket = AccessTokenBucket::new(
        query.client_id,
        query.environment,
        query.realm,
        query.home_account_id,
    );
    let tokens = &state.data.access_tokens;
    state
        .data
        .index()
        .access_tokens(&bucket)
        .iter()
        .filter_map(move |key| tokens.get(&**key))
}

/// The keys among `keys` whose entries in `section` `keep` accepts.
fn keys_where<T>(keys: &[Key], section: &Section<T>, keep: impl Fn(&T) -> bool) -> Vec<Key> {
    keys.iter()
        .filter(|key| section.get(&***key).is_some_and(&keep))
        .cloned()
        .collect()
}

/// Whether an entry belongs to `home_account_id` (case-insensitively) in
/// one of `environments`: index groups may hold more (see `index`).
fn owned_by(
    hid: Option<&str>,
    environment: &str,
    home_account_id: &str,
    environments: &[impl AsRef<str>],
) -> bool {
    hid.is_some_and(|h| h.eq_ignore_ascii_case(home_account_id))
        && environments
            .iter()
            .any(|e| e.as_ref().eq_ignore_ascii_case(environment))
}

/// One account bucket per environment asked for.
fn account_buckets(home_account_id: &str, environments: &[impl AsRef<str>]) -> Vec<AccountBucket> {
    environments
        .iter()
        .map(|environment| AccountBucket::new(environment.as_ref(), home_account_id))
        .collect()
}

/// The union of some index sets in key order: the order a scan of the
/// sorted section would give (environments spelled twice count once).
fn sorted_keys<'a>(sets: impl Iterator<Item = &'a [Key]>) -> Vec<&'a Key> {
    let mut keys: Vec<&Key> = sets.flatten().collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

fn malformed(error: &serde_json::Error) -> CacheError {
    CacheError::Malformed {
        line: error.line(),
        column: error.column(),
        reason: describe(error),
    }
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.read();
        f.debug_struct("TokenCache")
            .field("access_tokens", &state.data.access_tokens.len())
            .field("refresh_tokens", &state.data.refresh_tokens.len())
            .field("id_tokens", &state.data.id_tokens.len())
            .field("accounts", &state.data.accounts.len())
            .finish()
    }
}

/// The cache `target`: scopes sorted and joined by spaces.
pub(crate) fn target(scopes: &[String]) -> String {
    let mut joined = String::new();
    target_into(&mut joined, scopes);
    joined
}

/// [`target`] written into `out` (appended). Up to eight scopes (every
/// request in practice) are sorted on the stack: lookups call this.
fn target_into(out: &mut String, scopes: &[String]) {
    let mut push_all = |sorted: &mut [&str]| {
        sorted.sort_unstable();
        let mut previous = None;
        for scope in sorted.iter().copied() {
            if previous == Some(scope) {
                continue;
            }
            if previous.is_some() {
                out.push(' ');
            }
            out.push_str(scope);
            previous = Some(scope);
        }
    };
    let mut stack = [""; 8];
    match stack.get_mut(..scopes.len()) {
        Some(sorted) => {
            for (slot, scope) in sorted.iter_mut().zip(scopes) {
                *slot = scope;
            }
            push_all(sorted);
        }
        None => push_all(&mut scopes.iter().map(String::as_str).collect::<Vec<_>>()),
    }
}

fn matches(entry: &AccessTokenEntry, query: &AccessTokenQuery<'_>) -> bool {
    matches_location(entry, query)
        // Tokens shaped by extra parameters (`fmi_path`) serve only lookups that name them.
        && !assertion::is_extended(entry)
        // Key-bound tokens (PoP, SSH certificates) are no bearer tokens,
        // whoever wrote them: they serve only lookups for their key.
        && !bound::is_key_bound(entry)
}

/// Whether an access token is the query's account, environment, client and realm.
fn matches_location(entry: &AccessTokenEntry, query: &AccessTokenQuery<'_>) -> bool {
    entry.home_account_id.as_deref() == query.home_account_id
        && same_ignoring_case(&entry.environment, query.environment)
        && same_ignoring_case(&entry.client_id, query.client_id)
        && same_ignoring_case(&entry.realm, query.realm)
}

/// ASCII case-insensitive equality, with the exact comparison (one
/// `memcmp`, the usual outcome on a lookup) tried first.
pub(crate) fn same_ignoring_case(a: &str, b: &str) -> bool {
    a == b || a.eq_ignore_ascii_case(b)
}

/// Whether a cached target (space separated) includes every requested scope.
fn covers(target: &str, scopes: &[String]) -> bool {
    scopes
        .iter()
        .all(|scope| target.split(' ').any(|t| t.eq_ignore_ascii_case(scope)))
}

/// serde_json's error text without its "at line X column Y" suffix (kept separately).
/// Data errors would quote the offending value, which may be a token: describe
/// those without it.
fn describe(error: &serde_json::Error) -> String {
    match error.classify() {
        serde_json::error::Category::Data => "an entry does not match the MSAL cache schema".to_owned(),
        serde_json::error::Category::Eof => "the document ends early".to_owned(),
        _ => {
            let text = error.to_string();
            match text.rfind(" at line ") {
                Some(cut) => text[..cut].to_owned(),
                None => text,
            }
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod scale_tests;

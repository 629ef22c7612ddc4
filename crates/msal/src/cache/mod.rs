//! The token cache: tokens, accounts and app metadata in the unified MSAL
//! schema, shared in memory by every clone and serializable to the JSON that
//! MSAL Python's `SerializableTokenCache` (and the other MSALs) read and write.
//!
//! Reads take a shared lock and never block each other; a token response is
//! added under one short exclusive lock.

mod assertion;
mod file;
mod schema;

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::Serialize;

use crate::error::CacheError;
use crate::secret::CachedSecret;
pub(crate) use assertion::{
    EXT_CACHE_KEY, PartitionQuery, USER_ASSERTION_HASH, assertion_hash, ext_cache_key,
};
pub(crate) use schema::{AccessTokenEntry, AccountEntry, AppMetadataEntry, IdTokenEntry, RefreshTokenEntry};
use schema::{CacheData, key};

/// An access token is treated as expired this many seconds before it does,
/// so a caller never receives one that dies in flight (MSAL's 5 minutes).
pub(crate) const EXPIRY_MARGIN_SECS: u64 = 300;

/// A token cache in the unified MSAL schema. Cloning is cheap and every clone
/// shares the same entries, so one cache can back several applications.
#[derive(Clone, Default)]
pub struct TokenCache {
    inner: Arc<RwLock<State>>,
}

#[derive(Default)]
struct State {
    data: CacheData,
    changed: bool,
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
        let data = if json.trim().is_empty() {
            CacheData::default()
        } else {
            serde_json::from_str::<CacheData>(json).map_err(|e| CacheError::Malformed {
                line: e.line(),
                column: e.column(),
                reason: describe(&e),
            })?
        };
        let mut state = self.write();
        state.data = data;
        state.changed = false;
        Ok(())
    }

    /// The cache as JSON in the unified schema, indented like MSAL Python's.
    /// Resets [`has_state_changed`](Self::has_state_changed).
    pub fn serialize(&self) -> String {
        let mut state = self.write();
        state.changed = false;
        let mut out = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
        // Serializing maps of strings into memory cannot fail.
        if state.data.serialize(&mut serializer).is_err() {
            return "{}".to_owned();
        }
        String::from_utf8(out).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Whether entries were added or removed since the last
    /// [`serialize`](Self::serialize) or [`deserialize`](Self::deserialize):
    /// persist the cache only when this is true.
    pub fn has_state_changed(&self) -> bool {
        self.read().changed
    }

    /// The number of access tokens held (expired ones included).
    pub fn access_token_count(&self) -> usize {
        self.read().data.access_tokens.len()
    }

    /// The newest access token matching `query` whose target covers `scopes`
    /// and that stays valid past the expiry margin. Looks up the exact key
    /// first and only then scans.
    pub(crate) fn find_access_token(
        &self,
        query: &AccessTokenQuery<'_>,
        scopes: &[String],
        now: u64,
    ) -> Option<AccessTokenEntry> {
        let state = self.read();
        let tokens = &state.data.access_tokens;
        let usable = |entry: &AccessTokenEntry| entry.expires_on > now + EXPIRY_MARGIN_SECS;
        let exact = key::access_token(
            query.home_account_id,
            query.environment,
            query.client_id,
            query.realm,
            &target(scopes),
        );
        if let Some(entry) = tokens.get(&exact).filter(|e| matches(e, query) && usable(e)) {
            return Some(entry.clone());
        }
        tokens
            .values()
            .filter(|e| matches(e, query) && usable(e) && covers(&e.target, scopes))
            .max_by_key(|e| e.expires_on)
            .cloned()
    }

    /// The ID token of `home_account_id` for this client and realm, in the
    /// first of `environments` that has one.
    pub(crate) fn find_id_token(
        &self,
        home_account_id: &str,
        environments: &[String],
        client_id: &str,
        realm: &str,
    ) -> Option<IdTokenEntry> {
        let state = self.read();
        environments.iter().find_map(|environment| {
            let key = key::id_token(Some(home_account_id), environment, client_id, realm);
            state.data.id_tokens.get(&key).cloned()
        })
    }

    /// The `Account` entries of `home_account_id` in `environments`, in any realm.
    pub(crate) fn accounts_of(&self, home_account_id: &str, environments: &[String]) -> Vec<AccountEntry> {
        self.read()
            .data
            .accounts
            .values()
            .filter(|a| {
                a.home_account_id
                    .as_deref()
                    .is_some_and(|h| h.eq_ignore_ascii_case(home_account_id))
                    && environments
                        .iter()
                        .any(|e| e.eq_ignore_ascii_case(&a.environment))
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
        let mut found: Vec<RefreshTokenEntry> = self
            .read()
            .data
            .refresh_tokens
            .values()
            .filter(|rt| {
                rt.home_account_id
                    .as_deref()
                    .is_some_and(|h| h.eq_ignore_ascii_case(home_account_id))
                    && environments
                        .iter()
                        .any(|e| e.eq_ignore_ascii_case(&rt.environment))
                    && wanted(rt)
            })
            .cloned()
            .collect();
        found.sort_by_key(|rt| std::cmp::Reverse(rt.last_modification_time));
        found
    }

    /// This client's `AppMetadata` entry in the first of `environments` that has one.
    pub(crate) fn app_metadata(&self, environments: &[String], client_id: &str) -> Option<AppMetadataEntry> {
        let state = self.read();
        environments.iter().find_map(|environment| {
            state
                .data
                .app_metadata
                .get(&key::app_metadata(environment, client_id))
                .cloned()
        })
    }

    /// After `old` was redeemed for `new_secret`: when the new refresh token
    /// landed under another key (the granted scopes differ from the old
    /// entry's target), the old entry is updated in place too, as MSAL
    /// Python's `update_rt` does, so no superseded secret stays behind. An
    /// entry another caller changed meanwhile is left alone.
    pub(crate) fn update_refresh_token(&self, old: &RefreshTokenEntry, new_secret: &CachedSecret, now: u64) {
        let mut state = self.write();
        let key = key::refresh_token(
            old.home_account_id.as_deref(),
            &old.environment,
            &old.client_id,
            old.target.as_deref(),
        );
        let Some(entry) = state.data.refresh_tokens.get_mut(&key) else {
            return;
        };
        if entry.secret == old.secret && entry.secret != *new_secret {
            entry.secret = new_secret.clone();
            entry.last_modification_time = Some(now);
            state.changed = true;
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

    /// Stores the entries of one token response under one lock, so readers
    /// never see an account without its tokens.
    pub(crate) fn add(&self, write: CacheWrite) {
        let mut state = self.write();
        let data = &mut state.data;
        if let Some(entry) = write.access_token {
            // MSAL Python's extended key when the token is shaped by extra parameters.
            let key = assertion::access_token_key(&entry);
            data.access_tokens.insert(key, entry);
        }
        if let Some(entry) = write.account {
            let key = key::account(entry.home_account_id.as_deref(), &entry.environment, &entry.realm);
            data.accounts.insert(key, entry);
        }
        if let Some(entry) = write.id_token {
            let key = key::id_token(
                entry.home_account_id.as_deref(),
                &entry.environment,
                &entry.client_id,
                &entry.realm,
            );
            data.id_tokens.insert(key, entry);
        }
        if let Some(entry) = write.refresh_token {
            let key = key::refresh_token(
                entry.home_account_id.as_deref(),
                &entry.environment,
                &entry.client_id,
                entry.target.as_deref(),
            );
            data.refresh_tokens.insert(key, entry);
        }
        let entry = write.app_metadata;
        let key = key::app_metadata(&entry.environment, &entry.client_id);
        data.app_metadata.insert(key, entry);
        state.changed = true;
    }

    /// The `Account` entries of `environment` whose authority type is one
    /// this library signs in with (Entra ID or AD FS). A linear scan: the
    /// account section is small, and an index can replace it without
    /// changing callers.
    pub(crate) fn accounts(&self, environment: &str) -> Vec<AccountEntry> {
        self.read()
            .data
            .accounts
            .values()
            .filter(|a| a.environment.eq_ignore_ascii_case(environment))
            .filter(|a| [AUTHORITY_TYPE_MSSTS, AUTHORITY_TYPE_ADFS].contains(&a.authority_type.as_str()))
            .cloned()
            .collect()
    }

    /// Signs an account out of `client_id` and forgets it, as MSAL Python's
    /// `remove_account` does, in every realm of `environment`: the refresh
    /// tokens of this client and of its family (other apps' own refresh
    /// tokens stay, so their single sign-on keeps working), every access
    /// token, ID token and account entry of the home account. Returns whether
    /// anything was removed.
    pub(crate) fn remove_account(&self, environment: &str, home_account_id: &str, client_id: &str) -> bool {
        let mut state = self.write();
        let data = &mut state.data;
        let owned = |hid: &Option<String>, env: &str| {
            hid.as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(home_account_id))
                && env.eq_ignore_ascii_case(environment)
        };
        let family = data
            .app_metadata
            .get(&key::app_metadata(environment, client_id))
            .and_then(|m| m.family_id.clone())
            .filter(|f| !f.is_empty());
        let before =
            data.refresh_tokens.len() + data.access_tokens.len() + data.id_tokens.len() + data.accounts.len();
        data.refresh_tokens.retain(|_, rt| {
            let mine =
                rt.client_id.eq_ignore_ascii_case(client_id) || (family.is_some() && rt.family_id == family);
            !(mine && owned(&rt.home_account_id, &rt.environment))
        });
        // Every client's access tokens go: without this client's refresh token the
        // account is signed out here, and other apps keep their refresh tokens anyway.
        data.access_tokens
            .retain(|_, at| !owned(&at.home_account_id, &at.environment));
        data.id_tokens
            .retain(|_, idt| !owned(&idt.home_account_id, &idt.environment));
        data.accounts
            .retain(|_, account| !owned(&account.home_account_id, &account.environment));
        let after =
            data.refresh_tokens.len() + data.access_tokens.len() + data.id_tokens.len() + data.accounts.len();
        let removed = after < before;
        if removed {
            state.changed = true;
        }
        removed
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic elsewhere cannot leave the maps half-written (each write is one insert), so recover.
        self.inner.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
    let mut sorted: Vec<&str> = scopes.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.join(" ")
}

fn matches(entry: &AccessTokenEntry, query: &AccessTokenQuery<'_>) -> bool {
    entry.home_account_id.as_deref() == query.home_account_id
        && entry.environment.eq_ignore_ascii_case(query.environment)
        && entry.client_id.eq_ignore_ascii_case(query.client_id)
        && entry.realm.eq_ignore_ascii_case(query.realm)
        // Tokens shaped by extra parameters (`fmi_path`) serve only lookups that name them.
        && !assertion::is_extended(entry)
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

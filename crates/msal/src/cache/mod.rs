//! The token cache: tokens, accounts and app metadata in the unified MSAL
//! schema, shared in memory by every clone and serializable to the JSON that
//! MSAL Python's `SerializableTokenCache` (and the other MSALs) read and write.
//!
//! Reads take a shared lock and never block each other; a token response is
//! added under one short exclusive lock.

mod file;
mod schema;

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::Serialize;

use crate::error::CacheError;
pub(crate) use schema::AccessTokenEntry;
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

    /// Stores an access token (replacing the one with the same key) and the
    /// app's metadata entry, as MSAL Python's `TokenCache.add` does for an
    /// app-only token response.
    pub(crate) fn add_access_token(&self, entry: AccessTokenEntry) {
        let key = key::access_token(
            entry.home_account_id.as_deref(),
            &entry.environment,
            &entry.client_id,
            &entry.realm,
            &entry.target,
        );
        let app_key = key::app_metadata(&entry.environment, &entry.client_id);
        let mut state = self.write();
        let metadata = state.data.app_metadata.entry(app_key).or_default();
        metadata.client_id.clone_from(&entry.client_id);
        metadata.environment.clone_from(&entry.environment);
        state.data.access_tokens.insert(key, entry);
        state.changed = true;
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

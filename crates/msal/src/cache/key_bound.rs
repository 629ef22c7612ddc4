//! Access tokens bound to a key (SSH certificates): entries carrying the
//! `key_id` field MSAL Python writes for them. They serve only lookups for
//! the same key id, and plain (bearer) lookups never see them. The entry's
//! cache key is the schema's, without the key id, as in MSAL Python: a
//! certificate for another key replaces it.

use super::index::AccessTokenBucket;
use super::{
    AccessTokenEntry, AccessTokenQuery, CachedAccessToken, EXPIRY_MARGIN_SECS, TokenCache, covers,
    matches_location,
};

/// The entry field holding the key id.
const KEY_ID: &str = "key_id";

/// The key id an access token is bound to, if any.
pub(crate) fn key_id(entry: &AccessTokenEntry) -> Option<&str> {
    entry
        .extra
        .get(KEY_ID)
        .and_then(serde_json::Value::as_str)
        .filter(|v| !v.is_empty())
}

impl TokenCache {
    /// The longest-lived usable access token of `query` bound to `key_id`
    /// whose target covers `scopes`.
    pub(crate) fn find_key_bound_access_token(
        &self,
        query: &AccessTokenQuery<'_>,
        key: &str,
        scopes: &[String],
        now: u64,
    ) -> Option<CachedAccessToken> {
        let state = self.read();
        let tokens = &state.data.access_tokens;
        let bucket = AccessTokenBucket::new(
            query.client_id,
            query.environment,
            query.realm,
            query.home_account_id,
        );
        state
            .data
            .index()
            .access_tokens(&bucket)
            .iter()
            .filter_map(|k| tokens.get(&**k))
            .filter(|e| matches_location(e, query) && key_id(e) == Some(key))
            .filter(|e| e.expires_on > now.saturating_add(EXPIRY_MARGIN_SECS) && covers(&e.target, scopes))
            .max_by_key(|e| e.expires_on)
            .cloned()
    }
}

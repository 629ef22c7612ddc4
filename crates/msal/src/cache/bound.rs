//! Access tokens bound to a key (signed-request PoP, mTLS PoP, SSH certificates):
//! which entries they are, so plain (bearer) lookups never serve them, and
//! finding the one bound to a given key (PoP tokens by key id and extended
//! cache key; SSH certificates by key id alone, as MSAL Python keys them). The key id is read under the name
//! each MSAL writes it: `key_id` (MSAL Python and Node, and this library),
//! `keyid` (MSAL Go) and `kid` (MSAL .NET).

use super::schema::Extra;
use super::{
    AccessTokenEntry, AccessTokenQuery, CachedAccessToken, EXPIRY_MARGIN_SECS, EXT_CACHE_KEY, TokenCache,
    covers, grouped_tokens, matches_location,
};

/// The entry field this library writes a bound token's key id in.
pub(crate) const KEY_ID: &str = "key_id";

/// Where the other MSALs write it, `KEY_ID` first.
const KEY_ID_FIELDS: [&str; 3] = [KEY_ID, "keyid", "kid"];

/// The key id an entry is bound to, under any MSAL's field name.
fn key_id_of(extra: &Extra) -> Option<&str> {
    KEY_ID_FIELDS
        .iter()
        .find_map(|name| extra.get(name).and_then(serde_json::Value::as_str))
        .filter(|id| !id.is_empty())
}

/// The key id an access token is bound to, under any MSAL's field name.
pub(crate) fn key_id(entry: &AccessTokenEntry) -> Option<&str> {
    key_id_of(&entry.extra)
}

/// Whether an access token is bound to a key (or is of any type other than
/// bearer), so it must not answer a bearer request.
pub(crate) fn is_key_bound(entry: &AccessTokenEntry) -> bool {
    key_id_of(&entry.extra).is_some()
        || entry
            .token_type
            .as_deref()
            .is_some_and(|t| !super::same_ignoring_case(t, "Bearer"))
}

impl TokenCache {
    /// The longest-lived usable access token of `query` bound to `key`
    /// whose target covers `scopes`, whatever its token type (SSH
    /// certificates: keyed as MSAL Python keys them, without the key id, so
    /// a certificate for another key replaces it).
    pub(crate) fn find_key_bound_access_token(
        &self,
        query: &AccessTokenQuery<'_>,
        key: &str,
        scopes: &[String],
        now: u64,
    ) -> Option<CachedAccessToken> {
        let state = self.read();
        grouped_tokens(&state, query)
            .filter(|e| matches_location(e, query) && key_id(e) == Some(key))
            .filter(|e| e.expires_on > now.saturating_add(EXPIRY_MARGIN_SECS) && covers(&e.target, scopes))
            .max_by_key(|e| e.expires_on)
            .cloned()
    }

    /// The longest-lived usable token of type `token_type` (`pop`,
    /// `mtls_pop`) of `query` bound to `key_id` whose target covers `scopes`. `ext_key` is the extended cache key
    /// this library would have written; an entry another MSAL wrote
    /// without one still matches when `plain_ext_key_ok` (no other
    /// parameter shapes the request).
    pub(crate) fn find_bound_access_token(
        &self,
        query: &AccessTokenQuery<'_>,
        token_type: &str,
        key_id: &str,
        (ext_key, plain_ext_key_ok): (&str, bool),
        scopes: &[String],
        now: u64,
    ) -> Option<CachedAccessToken> {
        let state = self.read();
        grouped_tokens(&state, query)
            .filter(|at| matches_location(at, query))
            .filter(|at| {
                at.token_type
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case(token_type))
            })
            .filter(|at| key_id_of(&at.extra) == Some(key_id))
            .filter(
                |at| match at.extra.get(EXT_CACHE_KEY).and_then(serde_json::Value::as_str) {
                    Some(found) if !found.is_empty() => found == ext_key,
                    _ => plain_ext_key_ok,
                },
            )
            .filter(|at| at.expires_on > now.saturating_add(EXPIRY_MARGIN_SECS))
            .filter(|at| covers(&at.target, scopes))
            .max_by_key(|at| at.expires_on)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::*;
    use crate::secret::CachedSecret;

    fn entry(secret: &str, token_type: &str, extra: Value) -> AccessTokenEntry {
        let extra: Map<String, Value> = extra.as_object().cloned().unwrap_or_default();
        AccessTokenEntry {
            credential_type: "AccessToken".into(),
            secret: CachedSecret::new(secret),
            environment: "login.example".into(),
            client_id: "client".into(),
            realm: "tenant".into(),
            target: "api/.default".into(),
            token_type: Some(token_type.into()),
            expires_on: 10_000,
            extra: extra.into(),
            ..Default::default()
        }
    }

    const QUERY: AccessTokenQuery<'static> = AccessTokenQuery {
        home_account_id: None,
        environment: "login.example",
        client_id: "client",
        realm: "tenant",
    };

    #[test]
    fn bound_tokens_are_recognised_under_every_msal_s_field() {
        assert!(!is_key_bound(&entry("a", "Bearer", json!({}))));
        assert!(!is_key_bound(&entry("a", "bearer", json!({}))));
        assert!(is_key_bound(&entry("a", "pop", json!({}))));
        assert!(is_key_bound(&entry("a", "ssh-cert", json!({}))));
        for field in KEY_ID_FIELDS {
            assert!(
                is_key_bound(&entry("a", "Bearer", json!({ field: "k1" }))),
                "{field}"
            );
        }
    }

    #[test]
    fn pop_tokens_other_msals_wrote_serve_only_their_key() {
        let scopes = ["api/.default".to_owned()];
        for field in KEY_ID_FIELDS {
            let cache = TokenCache::new();
            // Written as Go (`keyid`) or .NET (`kid`) would: no extended key.
            cache.add_access_token(entry("pop-token", "pop", json!({ field: "k1" })));
            assert!(
                cache.find_access_token(&QUERY, &scopes, 0).is_none(),
                "{field}: not a bearer token"
            );
            let found = cache.find_bound_access_token(&QUERY, "pop", "k1", ("ext", true), &scopes, 0);
            assert_eq!(
                found.map(|e| e.secret.expose().to_owned()).as_deref(),
                Some("pop-token")
            );
            assert!(
                cache
                    .find_bound_access_token(&QUERY, "pop", "k2", ("ext", true), &scopes, 0)
                    .is_none()
            );
            // Not when the request is shaped by more than the key.
            assert!(
                cache
                    .find_bound_access_token(&QUERY, "pop", "k1", ("ext", false), &scopes, 0)
                    .is_none()
            );
        }
    }
}

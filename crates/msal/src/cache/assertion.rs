//! Cache entries partitioned by more than the unified schema's key fields:
//!
//! - On-behalf-of tokens, tagged with `user_assertion_hash` (the SHA-256 of
//!   the incoming assertion, base64url without padding), the field MSAL .NET
//!   and Java write, so a web API finds the tokens it obtained for one
//!   incoming token without a request.
//! - App tokens shaped by extra request parameters (`fmi_path`), tagged with
//!   `ext_cache_key` and stored under MSAL Python's extended key (`atext`
//!   in place of `AccessToken`, the key appended), so tokens of different
//!   paths never serve each other, nor plain lookups.
//! - Removing a client's app tokens (`remove_tokens_for_client`).
//!
//! Both tags live in the entries' `extra` fields, so they survive
//! serialization and are read by the other MSALs.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::index::{AccessTokenBucket, AssertionBucket};
use super::schema::key;
use super::{AccessTokenEntry, CachedAccessToken, EXPIRY_MARGIN_SECS, RefreshTokenEntry, TokenCache, covers};

/// The entry field holding the hash of an on-behalf-of incoming assertion.
pub(crate) const USER_ASSERTION_HASH: &str = "user_assertion_hash";
/// The entry field holding the extended cache key of an access token.
pub(crate) const EXT_CACHE_KEY: &str = "ext_cache_key";

/// The `user_assertion_hash` of an incoming assertion: SHA-256,
/// base64url without padding, as MSAL .NET computes it.
pub(crate) fn assertion_hash(assertion: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(assertion.as_bytes()))
}

/// MSAL Python's (and Go's) extended cache key of extra request fields:
/// the non-empty fields sorted by name, each written as
/// `{byte length}:{name}{byte length}:{value}`, concatenated, hashed with
/// SHA-256, base64url without padding, lowercased. Empty when no field has
/// a value. The length prefixes keep `{"ab": "c"}` and `{"a": "bc"}` apart.
pub(crate) fn ext_cache_key(fields: &[(&str, &str)]) -> String {
    let mut fields: Vec<&(&str, &str)> = fields.iter().filter(|(_, v)| !v.is_empty()).collect();
    if fields.is_empty() {
        return String::new();
    }
    fields.sort_by(|a, b| a.0.cmp(b.0));
    let mut netstrings = String::new();
    for (name, value) in fields {
        netstrings.push_str(&format!("{}:{name}{}:{value}", name.len(), value.len()));
    }
    URL_SAFE_NO_PAD
        .encode(Sha256::digest(netstrings.as_bytes()))
        .to_lowercase()
}

/// A string tag of an entry's extra fields.
fn tag<'a>(extra: &'a super::schema::Extra, name: &str) -> Option<&'a str> {
    extra.get(name).and_then(Value::as_str).filter(|v| !v.is_empty())
}

/// Whether an access token is keyed by an extended cache key (so plain
/// lookups must not serve it).
pub(crate) fn is_extended(entry: &AccessTokenEntry) -> bool {
    tag(&entry.extra, EXT_CACHE_KEY).is_some()
}

/// The cache key of an access token entry: the schema's, or MSAL Python's
/// extended form when the entry carries an `ext_cache_key`.
pub(crate) fn access_token_key(entry: &AccessTokenEntry) -> String {
    let base = |credential: &str| {
        [
            entry.home_account_id.as_deref().unwrap_or_default(),
            &entry.environment,
            credential,
            &entry.client_id,
            &entry.realm,
            &entry.target,
        ]
        .join("-")
    };
    match tag(&entry.extra, EXT_CACHE_KEY) {
        Some(ext) => format!("{}-{ext}", base("atext")).to_lowercase(),
        None => key::access_token(
            entry.home_account_id.as_deref(),
            &entry.environment,
            &entry.client_id,
            &entry.realm,
            &entry.target,
        ),
    }
}

/// Where app or on-behalf-of tokens are looked for.
pub(crate) struct PartitionQuery<'a> {
    pub client_id: &'a str,
    /// Searched in order; the first environment with a match wins.
    pub environments: &'a [String],
    pub realm: &'a str,
}

impl PartitionQuery<'_> {
    fn environment_rank(&self, environment: &str) -> Option<usize> {
        self.environments
            .iter()
            .position(|e| e.eq_ignore_ascii_case(environment))
    }
}

impl TokenCache {
    /// The longest-lived usable app token (no account) of `query` whose
    /// `ext_cache_key` is `ext_key` and whose target covers `scopes`.
    pub(crate) fn find_extended_access_token(
        &self,
        query: &PartitionQuery<'_>,
        ext_key: &str,
        scopes: &[String],
        now: u64,
    ) -> Option<CachedAccessToken> {
        self.find_tagged_access_token(query, false, (EXT_CACHE_KEY, ext_key), scopes, now)
    }

    /// The longest-lived usable on-behalf-of access token of `query` obtained
    /// for the incoming assertion whose hash is `assertion_hash`.
    pub(crate) fn find_access_token_for_assertion(
        &self,
        query: &PartitionQuery<'_>,
        assertion_hash: &str,
        scopes: &[String],
        now: u64,
    ) -> Option<CachedAccessToken> {
        self.find_tagged_access_token(query, true, (USER_ASSERTION_HASH, assertion_hash), scopes, now)
    }

    /// Whether an on-behalf-of access token for this assertion and scopes is
    /// cached but no longer usable (for the telemetry's refresh reason).
    pub(crate) fn has_expired_access_token_for_assertion(
        &self,
        query: &PartitionQuery<'_>,
        assertion_hash: &str,
        scopes: &[String],
    ) -> bool {
        let state = self.read();
        let data = &state.data;
        query.environments.iter().any(|environment| {
            let bucket = AssertionBucket::new(query.client_id, environment, assertion_hash);
            data.index()
                .access_tokens_by_assertion(&bucket)
                .iter()
                .filter_map(|key| data.access_tokens.get(&**key))
                .filter(|at| tag(&at.extra, USER_ASSERTION_HASH) == Some(assertion_hash))
                .filter(|at| at.client_id.eq_ignore_ascii_case(query.client_id))
                .filter(|at| at.environment.eq_ignore_ascii_case(environment))
                .any(|at| at.realm.eq_ignore_ascii_case(query.realm) && covers(&at.target, scopes))
        })
    }

    /// `user`: whether the tokens sought belong to an account (on-behalf-of)
    /// or to the app itself.
    fn find_tagged_access_token(
        &self,
        query: &PartitionQuery<'_>,
        user: bool,
        (name, value): (&str, &str),
        scopes: &[String],
        now: u64,
    ) -> Option<CachedAccessToken> {
        let state = self.read();
        let data = &state.data;
        // Only the buckets that can hold a match: on-behalf-of tokens by the
        // assertion's hash, app tokens by (client, environment, realm, no account).
        let candidates = query.environments.iter().flat_map(|environment| {
            let keys = if user {
                data.index().access_tokens_by_assertion(&AssertionBucket::new(
                    query.client_id,
                    environment,
                    value,
                ))
            } else {
                data.index().access_tokens(&AccessTokenBucket::new(
                    query.client_id,
                    environment,
                    query.realm,
                    None,
                ))
            };
            keys.iter().filter_map(|key| data.access_tokens.get(&**key))
        });
        candidates
            .filter(|at| at.home_account_id.is_some() == user)
            .filter(|at| at.client_id.eq_ignore_ascii_case(query.client_id))
            .filter(|at| at.realm.eq_ignore_ascii_case(query.realm))
            .filter(|at| tag(&at.extra, name) == Some(value))
            .filter(|at| at.expires_on > now.saturating_add(EXPIRY_MARGIN_SECS))
            .filter(|at| covers(&at.target, scopes))
            .filter_map(|at| Some((query.environment_rank(&at.environment)?, at)))
            // First environment first, then the longest-lived.
            .min_by_key(|(rank, at)| (*rank, std::cmp::Reverse(at.expires_on)))
            .map(|(_, at)| at.clone())
    }

    /// The newest refresh token of `client_id` in `environments` obtained
    /// on behalf of the incoming assertion whose hash is `assertion_hash`.
    pub(crate) fn find_refresh_token_for_assertion(
        &self,
        client_id: &str,
        environments: &[String],
        assertion_hash: &str,
    ) -> Option<RefreshTokenEntry> {
        let state = self.read();
        let data = &state.data;
        environments
            .iter()
            .flat_map(|environment| {
                let bucket = AssertionBucket::new(client_id, environment, assertion_hash);
                data.index()
                    .refresh_tokens_by_assertion(&bucket)
                    .iter()
                    .filter_map(|key| data.refresh_tokens.get(&**key))
            })
            .filter(|rt| tag(&rt.extra, USER_ASSERTION_HASH) == Some(assertion_hash))
            .filter(|rt| rt.client_id.eq_ignore_ascii_case(client_id))
            .filter(|rt| {
                environments
                    .iter()
                    .any(|e| e.eq_ignore_ascii_case(&rt.environment))
            })
            .max_by_key(|rt| rt.last_modification_time)
            .cloned()
    }

    /// Removes every app token (no account) of `client_id` in `environments`,
    /// in every realm, those keyed by an `fmi_path` included. Returns how
    /// many were removed.
    pub(crate) fn remove_app_tokens(&self, client_id: &str, environments: &[String]) -> usize {
        let mut state = self.write();
        let keys: Vec<String> = state
            .data
            .access_tokens
            .iter()
            .filter(|(_, at)| {
                at.home_account_id.is_none()
                    && at.client_id.eq_ignore_ascii_case(client_id)
                    && environments
                        .iter()
                        .any(|e| e.eq_ignore_ascii_case(&at.environment))
            })
            .map(|(key, _)| key.to_string())
            .collect();
        let mut removed = 0;
        for key in &keys {
            if state.data.remove_access_token(key) {
                removed += 1;
            }
        }
        if removed > 0 {
            state.mark_changed();
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ext_cache_key_matches_msal_python() {
        // hashlib.sha256(b"8:fmi_path10:agents/one").digest(), base64url, no
        // padding, lowercased: what MSAL Python 1.39's _compute_ext_cache_key
        // returns for {"fmi_path": "agents/one"}.
        let expected = URL_SAFE_NO_PAD
            .encode(Sha256::digest(b"8:fmi_path10:agents/one"))
            .to_lowercase();
        assert_eq!(ext_cache_key(&[("fmi_path", "agents/one")]), expected);
        // Sorted by name, empty values skipped, lengths in bytes.
        assert_eq!(
            ext_cache_key(&[("z", "1"), ("a", "é")]),
            URL_SAFE_NO_PAD
                .encode(Sha256::digest("1:a2:é1:z1:1".as_bytes()))
                .to_lowercase()
        );
        assert_eq!(ext_cache_key(&[("fmi_path", "")]), "");
        assert_eq!(ext_cache_key(&[]), "");
        assert_ne!(ext_cache_key(&[("ab", "c")]), ext_cache_key(&[("a", "bc")]));
    }

    #[test]
    fn extended_keys_follow_msal_python() {
        let mut entry = AccessTokenEntry {
            environment: "login.microsoftonline.com".into(),
            client_id: "CID".into(),
            realm: "contoso".into(),
            target: "https://graph.microsoft.com/.default".into(),
            ..Default::default()
        };
        assert_eq!(
            access_token_key(&entry),
            "-login.microsoftonline.com-accesstoken-cid-contoso-https://graph.microsoft.com/.default"
        );
        entry
            .extra
            .insert(EXT_CACHE_KEY.into(), Value::String("abc".into()));
        assert_eq!(
            access_token_key(&entry),
            "-login.microsoftonline.com-atext-cid-contoso-https://graph.microsoft.com/.default-abc"
        );
        assert!(is_extended(&entry));
    }

    #[test]
    fn assertion_hash_is_unpadded_base64url_sha256() {
        let hash = assertion_hash("eyJ.a.b");
        assert_eq!(hash.len(), 43);
        assert!(!hash.contains('=') && !hash.contains('+') && !hash.contains('/'));
        assert_ne!(hash, assertion_hash("eyJ.a.c"));
    }
}

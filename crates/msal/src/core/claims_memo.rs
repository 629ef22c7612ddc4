//! Decoded ID token claims, remembered per cached ID token, so a silent
//! cache hit does not base64-decode and parse the same ID token (about a
//! kilobyte of JSON) on every call.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::oauth2;
use crate::result::IdTokenClaims;
use crate::secret::CachedSecret;
use crate::shared_str::SharedStr;

/// Keyed by home account id; foldhash: this is read on every silent hit.
type HashMap<K, V> = foldhash::HashMap<K, V>;

/// Accounts remembered before the memo starts afresh, so an application
/// serving ever new users cannot grow it forever.
const MAX_ACCOUNTS: usize = 1024;

/// One of an account's decoded ID tokens (one per host and tenant, as cached).
struct Decoded {
    environment: String,
    realm: String,
    /// The token the claims were decoded from (shared with the cache):
    /// claims are served only for exactly this token, so a replaced ID
    /// token is decoded anew.
    id_token: CachedSecret,
    known: Known,
}

/// What a silent hit takes from a decoded ID token.
#[derive(Clone)]
pub(crate) struct Known {
    pub(crate) claims: IdTokenClaims,
    /// `tid`, shared so that a hit does not copy it.
    pub(crate) tenant_id: Option<SharedStr>,
}

/// Whether two cached secrets are the same token: the same shared copy
/// (nearly always, so the kilobyte is not compared), else equal text.
fn same_token(a: &CachedSecret, b: &CachedSecret) -> bool {
    let (a, b) = (a.expose(), b.expose());
    (std::ptr::eq(a.as_ptr(), b.as_ptr()) && a.len() == b.len()) || a == b
}

#[derive(Default)]
pub(crate) struct ClaimsMemo {
    by_account: RwLock<HashMap<String, Vec<Decoded>>>,
}

impl ClaimsMemo {
    /// The claims of `id_token`, the ID token cached for `home_account_id`
    /// in `environment` and `realm`; `None` when it does not decode.
    pub(crate) fn claims(
        &self,
        home_account_id: &str,
        environment: &str,
        realm: &str,
        id_token: &CachedSecret,
    ) -> Option<Known> {
        let known = self.read().get(home_account_id).and_then(|decoded| {
            decoded
                .iter()
                .find(|d| same_token(&d.id_token, id_token))
                .map(|d| d.known.clone())
        });
        if known.is_some() {
            return known;
        }
        let claims = IdTokenClaims::new(oauth2::decode_jwt_payload(id_token.expose())?);
        let known = Known {
            tenant_id: claims.tenant_id().map(SharedStr::from),
            claims,
        };
        let mut memo = self.write();
        if memo.len() >= MAX_ACCOUNTS && !memo.contains_key(home_account_id) {
            memo.clear();
        }
        let decoded = memo.entry(home_account_id.to_owned()).or_default();
        let fresh = Decoded {
            environment: environment.to_owned(),
            realm: realm.to_owned(),
            id_token: id_token.clone(),
            known: known.clone(),
        };
        // The token this one replaced (same host and tenant) is dropped.
        match decoded
            .iter_mut()
            .find(|d| d.environment == environment && d.realm == realm)
        {
            Some(slot) => *slot = fresh,
            None => decoded.push(fresh),
        }
        Some(known)
    }

    /// Forgets an account's tokens (when it is removed from the cache).
    pub(crate) fn forget(&self, home_account_id: &str) {
        self.write().remove(home_account_id);
    }

    /// Poisoning cannot leave a half-written entry: recover the map.
    fn read(&self) -> RwLockReadGuard<'_, HashMap<String, Vec<Decoded>>> {
        self.by_account.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<String, Vec<Decoded>>> {
        self.by_account.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing;

    #[test]
    fn claims_are_decoded_once_per_token_and_a_new_token_is_decoded_anew() {
        let memo = ClaimsMemo::default();
        let first = CachedSecret::new(testing::jwt(&json!({"sub": "one", "tid": "t"})));
        let second = CachedSecret::new(testing::jwt(&json!({"sub": "two", "tid": "t"})));
        let a = memo.claims("hid", "env", "t", &first).unwrap();
        // An equal token in another copy is the same token.
        let b = memo
            .claims("hid", "env", "t", &CachedSecret::new(first.expose()))
            .unwrap();
        assert_eq!(a.claims.subject(), Some("one"));
        assert_eq!(a.tenant_id.as_deref(), Some("t"));
        assert!(
            std::ptr::eq(a.claims.as_map(), b.claims.as_map()),
            "shared, not decoded again"
        );
        // The ID token was replaced (a refresh): its own claims, not the old ones.
        assert_eq!(
            memo.claims("hid", "env", "t", &second).unwrap().claims.subject(),
            Some("two")
        );
        assert_eq!(memo.read()["hid"].len(), 1);
        // Another tenant of the account is remembered beside it.
        memo.claims("hid", "env", "other", &first).unwrap();
        assert_eq!(memo.read()["hid"].len(), 2);
        assert!(
            memo.claims("hid", "env", "t", &CachedSecret::new("not.a-jwt"))
                .is_none()
        );
        memo.forget("hid");
        assert!(memo.read().is_empty());
    }

    #[test]
    fn the_memo_is_bounded() {
        let memo = ClaimsMemo::default();
        let token = CachedSecret::new(testing::jwt(&json!({"sub": "s"})));
        for i in 0..=MAX_ACCOUNTS {
            memo.claims(&format!("hid-{i}"), "env", "t", &token).unwrap();
        }
        assert!(memo.read().len() <= MAX_ACCOUNTS);
    }
}

//! Decoded ID token claims, remembered per cached ID token, so a silent
//! cache hit does not base64-decode and parse the same ID token (about a
//! kilobyte of JSON) on every call.

use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::oauth2;
use crate::result::IdTokenClaims;
use crate::secret::IdToken;

/// Accounts remembered before the memo starts afresh, so an application
/// serving ever new users cannot grow it forever.
const MAX_ACCOUNTS: usize = 1024;

/// One of an account's decoded ID tokens (one per host and tenant, as cached).
struct Decoded {
    environment: String,
    realm: String,
    /// The token the claims were decoded from: claims are served only for
    /// exactly this token, so a replaced ID token is decoded anew.
    id_token: IdToken,
    claims: IdTokenClaims,
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
        id_token: &str,
    ) -> Option<IdTokenClaims> {
        let known = self.read().get(home_account_id).and_then(|decoded| {
            decoded
                .iter()
                .find(|d| d.id_token.expose_secret() == id_token)
                .map(|d| d.claims.clone())
        });
        if known.is_some() {
            return known;
        }
        let claims = IdTokenClaims::new(oauth2::decode_jwt_payload(id_token)?);
        let mut memo = self.write();
        if memo.len() >= MAX_ACCOUNTS && !memo.contains_key(home_account_id) {
            memo.clear();
        }
        let decoded = memo.entry(home_account_id.to_owned()).or_default();
        let fresh = Decoded {
            environment: environment.to_owned(),
            realm: realm.to_owned(),
            id_token: IdToken::new(id_token),
            claims: claims.clone(),
        };
        // The token this one replaced (same host and tenant) is dropped.
        match decoded
            .iter_mut()
            .find(|d| d.environment == environment && d.realm == realm)
        {
            Some(slot) => *slot = fresh,
            None => decoded.push(fresh),
        }
        Some(claims)
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
        let first = testing::jwt(&json!({"sub": "one", "tid": "t"}));
        let second = testing::jwt(&json!({"sub": "two", "tid": "t"}));
        let a = memo.claims("hid", "env", "t", &first).unwrap();
        let b = memo.claims("hid", "env", "t", &first).unwrap();
        assert_eq!(a.subject(), Some("one"));
        assert!(std::ptr::eq(a.as_map(), b.as_map()), "shared, not decoded again");
        // The ID token was replaced (a refresh): its own claims, not the old ones.
        assert_eq!(
            memo.claims("hid", "env", "t", &second).unwrap().subject(),
            Some("two")
        );
        assert_eq!(memo.read()["hid"].len(), 1);
        // Another tenant of the account is remembered beside it.
        memo.claims("hid", "env", "other", &first).unwrap();
        assert_eq!(memo.read()["hid"].len(), 2);
        assert!(memo.claims("hid", "env", "t", "not.a-jwt").is_none());
        memo.forget("hid");
        assert!(memo.read().is_empty());
    }

    #[test]
    fn the_memo_is_bounded() {
        let memo = ClaimsMemo::default();
        let token = testing::jwt(&json!({"sub": "s"}));
        for i in 0..=MAX_ACCOUNTS {
            memo.claims(&format!("hid-{i}"), "env", "t", &token).unwrap();
        }
        assert!(memo.read().len() <= MAX_ACCOUNTS);
    }
}

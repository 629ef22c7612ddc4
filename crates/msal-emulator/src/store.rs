//! Server-side state of user sign-in: browser sessions, authorization codes
//! and refresh tokens, all in memory.
//!
//! Each kind lives in a [`Bounded`] map that forgets its oldest entries past
//! [`MAX_ENTRIES`], so a flood of sign-ins or token requests cannot exhaust
//! memory; a forgotten code or refresh token is simply invalid, as in Entra.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Most entries of one kind kept; the oldest are evicted beyond this.
pub(crate) const MAX_ENTRIES: usize = 10_000;

/// A map from opaque string keys that keeps at most `capacity` entries,
/// evicting the oldest insertion first.
#[derive(Debug)]
pub(crate) struct Bounded<V> {
    entries: HashMap<String, (u64, V)>,
    /// Insertion sequence number → key, so the oldest key is found in O(log n).
    order: BTreeMap<u64, String>,
    next_seq: u64,
    /// In-place edits so far (for [`Bounded::generation`]).
    edits: u64,
    capacity: usize,
}

impl<V> Bounded<V> {
    /// An empty map holding at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Bounded {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            edits: 0,
            capacity: capacity.max(1),
        }
    }

    /// Inserts or replaces `key`; a replaced entry counts as new for eviction.
    pub(crate) fn insert(&mut self, key: String, value: V) {
        self.remove(&key);
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, key.clone());
        self.entries.insert(key, (seq, value));
    }

    /// The entry for `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.entries.get(key).map(|(_, v)| v)
    }

    /// The entry for `key`, mutably.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.entries.get_mut(key).map(|(_, v)| v)
    }

    /// Removes and returns the entry for `key`.
    pub(crate) fn remove(&mut self, key: &str) -> Option<V> {
        let (seq, value) = self.entries.remove(key)?;
        self.order.remove(&seq);
        Some(value)
    }

    /// Applies `edit` to every entry in place; returns how many it changed
    /// (those for which it returned true).
    pub(crate) fn edit_all(&mut self, mut edit: impl FnMut(&mut V) -> bool) -> usize {
        let changed: usize = self.entries.values_mut().map(|(_, v)| usize::from(edit(v))).sum();
        self.edits = self.edits.wrapping_add(changed as u64);
        changed
    }

    /// Keeps only the entries for which `keep` is true; returns how many went.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) -> usize {
        let before = self.entries.len();
        let order = &mut self.order;
        self.entries.retain(|_, (seq, v)| {
            let kept = keep(v);
            if !kept {
                order.remove(seq);
            }
            kept
        });
        before - self.entries.len()
    }

    /// The entries, oldest first (for a state directory).
    pub(crate) fn snapshot(&self) -> Vec<(String, V)>
    where
        V: Clone,
    {
        self.order
            .values()
            .filter_map(|key| Some((key.clone(), self.entries.get(key)?.1.clone())))
            .collect()
    }

    /// A number that changes whenever the map does (for a state directory
    /// to tell whether to write): insertions count up `next_seq`, removals
    /// shrink the map, in-place edits count up `edits`.
    pub(crate) fn generation(&self) -> (u64, usize) {
        (self.next_seq.wrapping_add(self.edits), self.entries.len())
    }

    /// How many entries are held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// A user signed in within a browser session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SessionUser {
    /// The user's UPN (looked up again on use, so directory edits apply).
    pub(crate) upn: String,
    /// When the user entered their password (the `auth_time` claim).
    pub(crate) auth_time: u64,
}

/// A browser session, named by the `msal_emulator_session` cookie.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Session {
    /// Entra's `session_state`, echoed on every redirect of this session.
    pub(crate) session_state: String,
    /// Users signed in with this browser, most recent last.
    pub(crate) users: Vec<SessionUser>,
}

/// Which protocol issued a code or refresh token: each token endpoint
/// redeems only its own (a B2C policy's grant only at that policy).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Realm {
    /// Entra ID (also CIAM): the v2.0 token endpoint.
    #[default]
    Entra,
    /// A B2C user flow, with the external identity provider's `idp` claim
    /// when the user signed in with a social account.
    B2c { policy: String, idp: Option<String> },
    /// An AD FS server (its host).
    Adfs { host: String },
}

impl Realm {
    fn is_entra(&self) -> bool {
        *self == Realm::Entra
    }
}

/// Everything an authorization code stands for until it is redeemed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AuthCode {
    pub(crate) client_id: String,
    /// The exact redirect URI of the authorize request (port included).
    pub(crate) redirect_uri: String,
    /// The PKCE S256 challenge, if the client sent one.
    pub(crate) code_challenge: Option<String>,
    pub(crate) upn: String,
    /// The user's home tenant id: tokens carry it whatever the authority said.
    pub(crate) tenant_id: String,
    /// The scopes asked for on authorize, as sent.
    pub(crate) scopes: Vec<String>,
    pub(crate) nonce: Option<String>,
    pub(crate) auth_time: u64,
    pub(crate) issued_at: u64,
    /// Set on first redemption; kept so a replay gets AADSTS54005, not "unknown".
    pub(crate) redeemed: bool,
    /// Who issued it (absent in state kept before B2C and AD FS: Entra).
    #[serde(default, skip_serializing_if = "Realm::is_entra")]
    pub(crate) realm: Realm,
}

/// What a refresh token stands for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RefreshGrant {
    pub(crate) client_id: String,
    pub(crate) upn: String,
    pub(crate) tenant_id: String,
    /// The scopes of the request that issued it.
    pub(crate) scopes: Vec<String>,
    pub(crate) auth_time: u64,
    pub(crate) issued_at: u64,
    /// Who issued it (absent in state kept before B2C and AD FS: Entra).
    #[serde(default, skip_serializing_if = "Realm::is_entra")]
    pub(crate) realm: Realm,
}

/// All sign-in state of one emulator.
#[derive(Debug)]
pub(crate) struct Store {
    sessions: Mutex<Bounded<Session>>,
    codes: Mutex<Bounded<AuthCode>>,
    refresh_tokens: Mutex<Bounded<RefreshGrant>>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            sessions: Mutex::new(Bounded::new(MAX_ENTRIES)),
            codes: Mutex::new(Bounded::new(MAX_ENTRIES)),
            refresh_tokens: Mutex::new(Bounded::new(MAX_ENTRIES)),
        }
    }
}

/// Locks `m`; a panic in another request must not take sign-in down with it,
/// and every update here leaves the maps consistent, so poisoning is ignored.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Store {
    /// The browser sessions.
    pub(crate) fn sessions(&self) -> MutexGuard<'_, Bounded<Session>> {
        lock(&self.sessions)
    }

    /// The authorization codes.
    pub(crate) fn codes(&self) -> MutexGuard<'_, Bounded<AuthCode>> {
        lock(&self.codes)
    }

    /// The refresh tokens.
    pub(crate) fn refresh_tokens(&self) -> MutexGuard<'_, Bounded<RefreshGrant>> {
        lock(&self.refresh_tokens)
    }
}

/// The sign-in state kept in a state directory.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Persisted {
    #[serde(default)]
    sessions: Vec<(String, Session)>,
    #[serde(default)]
    codes: Vec<(String, AuthCode)>,
    #[serde(default)]
    refresh_tokens: Vec<(String, RefreshGrant)>,
}

impl Store {
    /// Everything held, oldest first.
    pub(crate) fn snapshot(&self) -> Persisted {
        Persisted {
            sessions: self.sessions().snapshot(),
            codes: self.codes().snapshot(),
            refresh_tokens: self.refresh_tokens().snapshot(),
        }
    }

    /// Puts back what a snapshot held.
    pub(crate) fn restore(&self, persisted: Persisted) {
        let mut sessions = self.sessions();
        for (key, value) in persisted.sessions {
            sessions.insert(key, value);
        }
        drop(sessions);
        let mut codes = self.codes();
        for (key, value) in persisted.codes {
            codes.insert(key, value);
        }
        drop(codes);
        let mut refresh_tokens = self.refresh_tokens();
        for (key, value) in persisted.refresh_tokens {
            refresh_tokens.insert(key, value);
        }
    }

    /// Changes whenever any of the maps does.
    pub(crate) fn generation(&self) -> [(u64, usize); 3] {
        [
            self.sessions().generation(),
            self.codes().generation(),
            self.refresh_tokens().generation(),
        ]
    }
}

/// An unguessable opaque value (244 random bits, base64url) for codes,
/// refresh tokens and session ids.
pub(crate) fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(Uuid::new_v4().as_bytes());
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_oldest_past_capacity() {
        let mut map = Bounded::new(3);
        for k in ["a", "b", "c"] {
            map.insert(k.into(), k.to_uppercase());
        }
        // Re-inserting `a` makes it the newest, so `b` is evicted next.
        map.insert("a".into(), "A2".into());
        map.insert("d".into(), "D".into());
        assert_eq!(map.len(), 3);
        assert!(map.get("b").is_none());
        assert_eq!(map.get("a").map(String::as_str), Some("A2"));
        assert_eq!(map.remove("c").as_deref(), Some("C"));
        assert_eq!(map.retain(|v| v != "D"), 1);
        assert_eq!(map.len(), 1);
        map.insert("e".into(), "E".into());
        map.insert("f".into(), "F".into());
        map.insert("g".into(), "G".into());
        assert_eq!(map.len(), 3);
        assert!(map.get("a").is_none());
    }

    #[test]
    fn random_tokens_differ() {
        let a = random_token("x.");
        assert!(a.starts_with("x.") && a.len() > 40);
        assert_ne!(a, random_token("x."));
    }
}

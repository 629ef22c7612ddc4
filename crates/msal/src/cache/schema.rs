//! The unified MSAL cache schema: the JSON every MSAL (Python, .NET, Java,
//! Node, Go) reads and writes, one section per credential type.
//!
//! Each entry type lists the fields MSAL Python writes, in its order, and
//! keeps every other field in `extra` so that a round trip through this
//! library loses nothing another MSAL stored. Times are epoch seconds written
//! as strings, as the schema requires; numbers are accepted on input.
//!
//! Text fields are shared [`Str`]s: a cache read from JSON holds one copy of
//! each distinct environment, client id, realm, target and home account id
//! however many entries name it (see [`wire`]), and map keys are the same
//! [`Key`]s the index holds, made of those shared texts (see [`section`]).

mod section;
pub(crate) mod wire;

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::account::Account;
use crate::secret::CachedSecret;
use crate::shared_str::SharedStr;

/// Fields this library does not know, kept as they were. Boxed, and absent
/// when there are none (nearly always): an empty map would cost every entry
/// of a large cache some 70 bytes.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Extra(Option<Box<Map<String, Value>>>);

impl Extra {
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.0.as_ref()?.get(name)
    }

    pub(crate) fn insert(&mut self, name: String, value: Value) -> Option<Value> {
        self.0.get_or_insert_default().insert(name, value)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter().flat_map(|map| map.iter())
    }
}

impl From<Map<String, Value>> for Extra {
    fn from(map: Map<String, Value>) -> Self {
        Self((!map.is_empty()).then(|| Box::new(map)))
    }
}

/// Text shared between entries.
pub(crate) type Str = Arc<str>;

pub(crate) use section::{Key, KeyText, Section, Tail};

/// The whole cache document. Serialized and deserialized by hand in
/// [`wire`]: sections in this order, then the sections other MSALs add.
#[derive(Debug, Default)]
pub(crate) struct CacheData {
    /// Shared: lookups hand out the entry itself.
    pub access_tokens: Section<Arc<AccessTokenEntry>>,
    pub refresh_tokens: Section<RefreshTokenEntry>,
    pub id_tokens: Section<IdTokenEntry>,
    pub accounts: Section<AccountEntry>,
    pub app_metadata: Section<AppMetadataEntry>,
    /// Sections other MSALs add.
    pub extra: Map<String, Value>,
}

wire::entry! {
    /// An `AccessToken` entry.
    pub(crate) struct AccessTokenEntry {
        credential_type: Str,
        secret: CachedSecret,
        /// `null` for app-only tokens: MSAL Python matches on the explicit null.
        home_account_id: Option<Str> [owner],
        environment: Str,
        client_id: Str,
        target: Str,
        realm: Str,
        token_type: Option<Str> [skip_none],
        cached_at: u64,
        expires_on: u64,
        extended_expires_on: Option<u64> [skip_none],
        refresh_on: Option<u64> [skip_none],
    }
}

wire::entry! {
    /// A `RefreshToken` entry.
    pub(crate) struct RefreshTokenEntry {
        credential_type: Str,
        secret: CachedSecret,
        home_account_id: Option<Str> [owner],
        environment: Str,
        client_id: Str,
        target: Option<Str> [skip_none],
        last_modification_time: Option<u64> [skip_none],
        family_id: Option<Str> [skip_none],
    }
}

wire::entry! {
    /// An `IdToken` entry.
    pub(crate) struct IdTokenEntry {
        credential_type: Str,
        secret: CachedSecret,
        home_account_id: Option<Str> [owner],
        environment: Str,
        realm: Str,
        client_id: Str,
    }
}

wire::entry! {
    /// An `Account` entry.
    pub(crate) struct AccountEntry {
        home_account_id: Option<Str> [owner],
        environment: Str,
        realm: Str,
        local_account_id: Option<Str> [unique],
        username: Str [unique],
        authority_type: Str,
        account_source: Option<Str> [skip_none],
    }
}

wire::entry! {
    /// An `AppMetadata` entry.
    pub(crate) struct AppMetadataEntry {
        client_id: Str,
        environment: Str,
        family_id: Option<Str> [skip_none],
    }
}

/// Keys as MSAL Python's key makers build them: fields joined by `-`, lowercased.
pub(crate) mod key {
    fn join(parts: &[&str]) -> String {
        let mut key = parts.join("-");
        lowercase(&mut key);
        key
    }

    pub(crate) fn access_token(
        home_account_id: Option<&str>,
        environment: &str,
        client_id: &str,
        realm: &str,
        target: &str,
    ) -> String {
        let mut key = String::new();
        access_token_into(&mut key, home_account_id, environment, client_id, realm, target);
        key
    }

    /// [`access_token`] written into `key` (cleared first), to reuse its allocation.
    pub(crate) fn access_token_into(
        key: &mut String,
        home_account_id: Option<&str>,
        environment: &str,
        client_id: &str,
        realm: &str,
        target: &str,
    ) {
        join_into(
            key,
            &[
                home_account_id.unwrap_or_default(),
                environment,
                "AccessToken",
                client_id,
                realm,
                target,
            ],
        );
    }

    /// [`id_token`] written into `key` (cleared first), to reuse its allocation.
    pub(crate) fn id_token_into(
        key: &mut String,
        home_account_id: &str,
        environment: &str,
        client_id: &str,
        realm: &str,
    ) {
        join_into(
            key,
            &[home_account_id, environment, "IdToken", client_id, realm, ""],
        );
    }

    /// [`account`] written into `key` (cleared first), to reuse its allocation.
    pub(crate) fn account_into(key: &mut String, home_account_id: &str, environment: &str, realm: &str) {
        join_into(key, &[home_account_id, environment, realm]);
    }

    /// `parts` joined with `-` and lowercased, written into `key` (cleared first).
    fn join_into(key: &mut String, parts: &[&str]) {
        key.clear();
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                key.push('-');
            }
            key.push_str(part);
        }
        lowercase(key);
    }

    /// Lowercases a key in place: ASCII directly, anything else as Python's
    /// `lower()` (Unicode) does.
    fn lowercase(key: &mut String) {
        if key.is_ascii() {
            key.make_ascii_lowercase();
        } else {
            *key = key.to_lowercase();
        }
    }

    /// Refresh tokens are not tenant-specific: the realm slot stays empty.
    pub(crate) fn refresh_token(
        home_account_id: Option<&str>,
        environment: &str,
        client_id: &str,
        target: Option<&str>,
    ) -> String {
        join(&[
            home_account_id.unwrap_or_default(),
            environment,
            "RefreshToken",
            client_id,
            "",
            target.unwrap_or_default(),
        ])
    }

    /// The schema keeps an (always empty) target slot at the end.
    pub(crate) fn id_token(
        home_account_id: Option<&str>,
        environment: &str,
        client_id: &str,
        realm: &str,
    ) -> String {
        join(&[
            home_account_id.unwrap_or_default(),
            environment,
            "IdToken",
            client_id,
            realm,
            "",
        ])
    }

    pub(crate) fn account(home_account_id: Option<&str>, environment: &str, realm: &str) -> String {
        join(&[home_account_id.unwrap_or_default(), environment, realm])
    }

    /// Not lowercased: MSAL Python does not lowercase this one.
    pub(crate) fn app_metadata(environment: &str, client_id: &str) -> String {
        format!("appmetadata-{environment}-{client_id}")
    }
}

impl AccountEntry {
    /// The entry as an [`Account`]; `None` for an entry without a home
    /// account id (another SDK's leftover): it cannot be looked up or
    /// removed by account.
    pub(crate) fn to_account(&self) -> Option<Account> {
        // The entry's shared text, not copies: see `SharedStr`.
        let text = SharedStr::shared;
        Some(Account {
            home_account_id: self
                .home_account_id
                .as_ref()
                .filter(|h| !h.is_empty())
                .map(text)?,
            environment: text(&self.environment),
            username: text(&self.username),
            local_account_id: self.local_account_id.as_ref().map(text),
            realm: text(&self.realm),
            authority_type: text(&self.authority_type),
            account_source: self.account_source.as_ref().map(text),
        })
    }
}

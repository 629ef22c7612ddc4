//! The unified MSAL cache schema: the JSON every MSAL (Python, .NET, Java,
//! Node, Go) reads and writes, one section per credential type.
//!
//! Each entry type lists the fields MSAL Python writes, in its order, and
//! keeps every other field in `extra` so that a round trip through this
//! library loses nothing another MSAL stored. Times are epoch seconds written
//! as strings, as the schema requires; numbers are accepted on input.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

use crate::secret::CachedSecret;

/// Fields this library does not know, kept as they were.
pub(crate) type Extra = Map<String, Value>;

/// The whole cache document.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct CacheData {
    #[serde(rename = "AccessToken", default)]
    pub access_tokens: BTreeMap<String, AccessTokenEntry>,
    #[serde(rename = "RefreshToken", default)]
    pub refresh_tokens: BTreeMap<String, RefreshTokenEntry>,
    #[serde(rename = "IdToken", default)]
    pub id_tokens: BTreeMap<String, IdTokenEntry>,
    #[serde(rename = "Account", default)]
    pub accounts: BTreeMap<String, AccountEntry>,
    #[serde(rename = "AppMetadata", default)]
    pub app_metadata: BTreeMap<String, AppMetadataEntry>,
    /// Sections other MSALs add.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An `AccessToken` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct AccessTokenEntry {
    #[serde(default)]
    pub credential_type: String,
    #[serde(default)]
    pub secret: CachedSecret,
    /// `null` for app-only tokens: MSAL Python matches on the explicit null.
    #[serde(default)]
    pub home_account_id: Option<String>,
    #[serde(default)]
    pub environment: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub realm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(default, with = "epoch")]
    pub cached_at: u64,
    #[serde(default, with = "epoch")]
    pub expires_on: u64,
    #[serde(default, with = "epoch_opt", skip_serializing_if = "Option::is_none")]
    pub extended_expires_on: Option<u64>,
    #[serde(default, with = "epoch_opt", skip_serializing_if = "Option::is_none")]
    pub refresh_on: Option<u64>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A `RefreshToken` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct RefreshTokenEntry {
    #[serde(default)]
    pub credential_type: String,
    #[serde(default)]
    pub secret: CachedSecret,
    #[serde(default)]
    pub home_account_id: Option<String>,
    #[serde(default)]
    pub environment: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, with = "epoch_opt", skip_serializing_if = "Option::is_none")]
    pub last_modification_time: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An `IdToken` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct IdTokenEntry {
    #[serde(default)]
    pub credential_type: String,
    #[serde(default)]
    pub secret: CachedSecret,
    #[serde(default)]
    pub home_account_id: Option<String>,
    #[serde(default)]
    pub environment: String,
    #[serde(default)]
    pub realm: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An `Account` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct AccountEntry {
    #[serde(default)]
    pub home_account_id: Option<String>,
    #[serde(default)]
    pub environment: String,
    #[serde(default)]
    pub realm: String,
    #[serde(default)]
    pub local_account_id: Option<String>,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub authority_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_source: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// An `AppMetadata` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct AppMetadataEntry {
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub environment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_id: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Keys as MSAL Python's key makers build them: fields joined by `-`, lowercased.
pub(crate) mod key {
    fn join(parts: &[&str]) -> String {
        parts.join("-").to_lowercase()
    }

    pub(crate) fn access_token(
        home_account_id: Option<&str>,
        environment: &str,
        client_id: &str,
        realm: &str,
        target: &str,
    ) -> String {
        join(&[
            home_account_id.unwrap_or_default(),
            environment,
            "AccessToken",
            client_id,
            realm,
            target,
        ])
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

/// Epoch seconds, written as a string, read from a string or a number.
mod epoch {
    use super::*;

    pub(super) fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        super::epoch_opt::deserialize(deserializer).map(Option::unwrap_or_default)
    }
}

mod epoch_opt {
    use super::*;

    pub(super) fn serialize<S: Serializer>(value: &Option<u64>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => serializer.serialize_str(&v.to_string()),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
        match Option::<Value>::deserialize(deserializer)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.is_finite() && *f >= 0.0)
                        .map(|f| f as u64)
                })
                .map(Some)
                .ok_or_else(|| de::Error::custom("a time must be a non-negative number of seconds")),
            Some(Value::String(s)) => s
                .trim()
                .parse::<u64>()
                .map(Some)
                .map_err(|_| de::Error::custom(format!("a time must be epoch seconds, found {s:?}"))),
            Some(_) => Err(de::Error::custom("a time must be a string or a number")),
        }
    }
}

//! What `msal login` remembers about each account and each application it
//! signed in (authority, client id, CA certificate, instance discovery),
//! so `msal token --account USER --scope S` (or `--client-id APP --scope
//! S`) needs nothing else afterwards: the last layer of the settings (see
//! [`crate::config`]). Kept next to the cache file in
//! `<cache>.msal-cli.json`, or in Redis next to a Redis cache. Holds no
//! secret: tokens stay in the cache, credentials with the user. Written
//! atomically; a missing or unreadable record is just nothing remembered.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How one account signed in.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct SignIn {
    pub username: String,
    pub authority: String,
    /// `authority` is a generic OpenID provider's issuer (`--oidc-authority`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oidc: bool,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    #[serde(default)]
    pub no_instance_discovery: bool,
}

/// How one application signed in with its own credential (`msal login`
/// with a secret or certificate). The credential is not kept.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct AppSignIn {
    pub client_id: String,
    pub authority: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oidc: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    #[serde(default)]
    pub no_instance_discovery: bool,
}

/// Every remembered sign-in.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Remembered {
    /// By username, lowercase.
    #[serde(default)]
    accounts: BTreeMap<String, SignIn>,
    /// By client id, lowercase.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    apps: BTreeMap<String, AppSignIn>,
}

impl Remembered {
    /// Parses a record; anything unreadable is nothing remembered.
    pub(crate) fn parse(text: &str) -> Remembered {
        serde_json::from_str(text).unwrap_or_default()
    }

    /// The record as JSON.
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// How `username` last signed in, if remembered.
    pub(crate) fn account(&self, username: &str) -> Option<&SignIn> {
        self.accounts.get(&username.to_lowercase())
    }

    /// How the application `client_id` last signed in, if remembered.
    pub(crate) fn app(&self, client_id: &str) -> Option<&AppSignIn> {
        self.apps.get(&client_id.to_lowercase())
    }

    /// Remembers how `sign_in.username` signed in.
    pub(crate) fn remember(&mut self, sign_in: SignIn) {
        self.accounts.insert(sign_in.username.to_lowercase(), sign_in);
    }

    /// Remembers how an application signed in.
    pub(crate) fn remember_app(&mut self, sign_in: AppSignIn) {
        self.apps.insert(sign_in.client_id.to_lowercase(), sign_in);
    }

    /// Forgets `username`; whether it was remembered.
    pub(crate) fn forget(&mut self, username: &str) -> bool {
        self.accounts.remove(&username.to_lowercase()).is_some()
    }
}

/// The record next to the cache file `cache`.
pub(crate) fn file_of(cache: &Path) -> PathBuf {
    let mut name = cache.as_os_str().to_owned();
    name.push(".msal-cli.json");
    PathBuf::from(name)
}

/// The record next to the cache file `cache` (nothing if absent or unreadable).
pub(crate) fn read_file(cache: &Path) -> Remembered {
    std::fs::read_to_string(file_of(cache))
        .map(|text| Remembered::parse(&text))
        .unwrap_or_default()
}

/// Replaces the record next to `cache` through a temporary file and a rename.
pub(crate) fn write_file(cache: &Path, remembered: &Remembered) -> std::io::Result<()> {
    let path = file_of(cache);
    let temp = path.with_extension(format!("json.{}.tmp", std::process::id()));
    let written = serde_json::to_vec_pretty(remembered)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&temp, bytes))
        .and_then(|()| std::fs::rename(&temp, &path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_and_apps_are_remembered_case_insensitively_and_old_records_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache.json");
        let mut remembered = read_file(&cache);
        assert_eq!(remembered, Remembered::default());
        remembered.remember(SignIn {
            username: "Alice@Contoso.com".into(),
            authority: "https://a/t".into(),
            client_id: "c".into(),
            ..SignIn::default()
        });
        remembered.remember_app(AppSignIn {
            client_id: "APP".into(),
            authority: "https://a/t".into(),
            ..AppSignIn::default()
        });
        write_file(&cache, &remembered).unwrap();
        let mut again = read_file(&cache);
        assert_eq!(again.account("alice@contoso.com").unwrap().client_id, "c");
        assert_eq!(again.app("app").unwrap().authority, "https://a/t");
        assert!(again.forget("ALICE@contoso.com"));
        assert!(!again.forget("alice@contoso.com"));
        // A record written before apps were remembered.
        let old = Remembered::parse(
            r#"{"accounts": {"bob@x": {"username": "bob@x", "authority": "https://a/t", "client_id": "c"}}}"#,
        );
        assert_eq!(old.account("bob@x").unwrap().authority, "https://a/t");
        assert_eq!(Remembered::parse("not json"), Remembered::default());
    }
}

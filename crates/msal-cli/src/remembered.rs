//! What `msal login` remembers about each account it signed in (authority,
//! client id, CA certificate, instance discovery), next to the cache file
//! in `<cache>.msal-cli.json`, so `msal token --account USER --scope S`
//! needs nothing else afterwards. Holds no secret: tokens stay in the
//! cache. Written atomically; a missing or unreadable file is just nothing
//! remembered.

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

#[derive(Debug, Default, Serialize, Deserialize)]
struct Remembered {
    /// By username, lowercase.
    #[serde(default)]
    accounts: BTreeMap<String, SignIn>,
}

fn file_of(cache: &Path) -> PathBuf {
    let mut name = cache.as_os_str().to_owned();
    name.push(".msal-cli.json");
    PathBuf::from(name)
}

fn read(cache: &Path) -> Remembered {
    std::fs::read_to_string(file_of(cache))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// How `username` last signed in with the cache at `cache`, if remembered.
pub(crate) fn sign_in_of(cache: &Path, username: &str) -> Option<SignIn> {
    read(cache).accounts.remove(&username.to_lowercase())
}

/// Remembers how `sign_in.username` signed in. Call it under the cache
/// file's lock (concurrent logins then update this file in turn); a failure
/// to write is reported as a warning: the sign-in itself succeeded.
pub(crate) fn remember(cache: &Path, sign_in: SignIn) {
    let mut remembered = read(cache);
    remembered
        .accounts
        .insert(sign_in.username.to_lowercase(), sign_in);
    if let Err(e) = write(cache, &remembered) {
        eprintln!(
            "warning: could not remember this sign-in in {}: {e}",
            file_of(cache).display()
        );
    }
}

/// Forgets `username` (on logout; under the cache file's lock too).
pub(crate) fn forget(cache: &Path, username: &str) {
    let mut remembered = read(cache);
    if remembered.accounts.remove(&username.to_lowercase()).is_some()
        && let Err(e) = write(cache, &remembered)
    {
        eprintln!("warning: could not update {}: {e}", file_of(cache).display());
    }
}

/// Replaces the file through a temporary one and a rename.
fn write(cache: &Path, remembered: &Remembered) -> std::io::Result<()> {
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

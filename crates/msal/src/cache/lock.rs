//! The cross-process lock on a cache file that msal-extensions (Python),
//! msal-node-extensions and the .NET and Go extensions all take, so that
//! processes of any of them sharing one cache file never lose an update:
//! `<cache>.lockfile`, created exclusively (`O_EXCL`) **and** locked
//! (`flock`), holding `"{pid} {program}"`, removed on release. Waiting is
//! bounded: retries every 100-250 ms, then [`CacheError::Locked`] naming
//! the file; the cache is never touched without the lock.
//!
//! The pattern: take the lock, load the file, change the cache (a lookup
//! with a refresh, a removal, or merging what a sign-in produced in a
//! cache of its own, see [`TokenCache::merge_from`]), save, release. Long
//! waits (a user signing in) happen before the lock is taken.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::CacheError;

use super::TokenCache;

/// How long [`CacheFileLock::acquire`] waits by default.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(10);

/// The lock on a cache file, held until dropped (which removes the lock file).
#[derive(Debug)]
pub struct CacheFileLock {
    lock_file: PathBuf,
    file: Option<File>,
}

impl CacheFileLock {
    /// Takes the lock of the cache file at `cache`, waiting up to
    /// [`DEFAULT_LOCK_WAIT`].
    pub fn acquire(cache: &Path) -> Result<CacheFileLock, CacheError> {
        CacheFileLock::acquire_within(cache, DEFAULT_LOCK_WAIT)
    }

    /// Takes the lock of the cache file at `cache`, waiting up to `wait`.
    /// Blocking: call it from a blocking context (or accept a short stall).
    pub fn acquire_within(cache: &Path, wait: Duration) -> Result<CacheFileLock, CacheError> {
        let lock_file = lock_file_of(cache);
        if let Some(dir) = lock_file.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        }
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            match try_create(&lock_file) {
                Ok(file) => {
                    return Ok(CacheFileLock {
                        lock_file,
                        file: Some(file),
                    });
                }
                Err(e)
                    if e.kind() == io::ErrorKind::AlreadyExists || e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(io_error(&lock_file, e)),
            }
            let waited = started.elapsed();
            if waited >= wait {
                let holder = fs::read_to_string(&lock_file)
                    .map(|s| s.chars().take(200).collect::<String>().trim().to_owned())
                    .unwrap_or_else(|_| "unknown".to_owned());
                return Err(CacheError::Locked {
                    lock_file: lock_file.display().to_string(),
                    holder,
                    waited,
                });
            }
            // 100-250 ms, varied so waiting processes do not retry in step.
            attempt = attempt.wrapping_add(1);
            let pause =
                Duration::from_millis(100 + u64::from((attempt.wrapping_mul(37) ^ std::process::id()) % 151));
            std::thread::sleep(
                pause
                    .min(wait.saturating_sub(waited))
                    .max(Duration::from_millis(1)),
            );
        }
    }

    /// The lock file's path.
    pub fn lock_file(&self) -> &Path {
        &self.lock_file
    }
}

impl Drop for CacheFileLock {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            // Removed while still locked, so no other process takes a lock
            // on a file about to disappear; then unlocked by closing.
            let _ = fs::remove_file(&self.lock_file);
            let _ = file.unlock();
        }
    }
}

/// `<cache>.lockfile`, as every MSAL extension names it.
pub(crate) fn lock_file_of(cache: &Path) -> PathBuf {
    let mut name = cache.as_os_str().to_owned();
    name.push(".lockfile");
    PathBuf::from(name)
}

/// Creates the lock file exclusively and locks it; writes who holds it.
fn try_create(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    if let Err(e) = file.try_lock() {
        // Someone locked it between our create and lock (a library that
        // locks existing files): not ours.
        drop(file);
        return Err(match e {
            fs::TryLockError::WouldBlock => io::Error::from(io::ErrorKind::WouldBlock),
            fs::TryLockError::Error(e) => e,
        });
    }
    let program = std::env::args().next().unwrap_or_default();
    let _ = write!(file, "{} {program}", std::process::id());
    let _ = file.flush();
    Ok(file)
}

fn io_error(path: &Path, source: io::Error) -> CacheError {
    CacheError::Io {
        path: path.display().to_string(),
        source: std::sync::Arc::new(source),
    }
}

impl TokenCache {
    /// Adds every entry of `other` to this cache, replacing entries with
    /// the same keys, and the sections other MSALs added: what a sign-in
    /// produced in a cache of its own, applied to the file's current
    /// contents under the lock, so entries other processes wrote (or
    /// removed) meanwhile stay as they are.
    pub fn merge_from(&self, other: &TokenCache) {
        // Copied out first: `other` may share this cache's lock.
        let (access_tokens, refresh_tokens, id_tokens, accounts, app_metadata, extra) = {
            let theirs = other.read();
            let d = theirs.data.data();
            (
                d.access_tokens
                    .iter()
                    .map(|(k, v)| (k.clone(), (**v).clone()))
                    .collect::<Vec<_>>(),
                d.refresh_tokens.clone(),
                d.id_tokens.clone(),
                d.accounts.clone(),
                d.app_metadata.clone(),
                d.extra.clone(),
            )
        };
        let mut changed = false;
        let mut state = self.write();
        let data = &mut state.data;
        for (key, entry) in access_tokens {
            data.put_access_token(key, entry);
            changed = true;
        }
        for (key, entry) in refresh_tokens {
            data.put_refresh_token(key, entry);
            changed = true;
        }
        for (key, entry) in id_tokens {
            data.put_id_token(key, entry);
            changed = true;
        }
        for (key, entry) in accounts {
            data.put_account(key, entry);
            changed = true;
        }
        for (key, entry) in app_metadata {
            data.put_app_metadata(key, entry);
            changed = true;
        }
        let sections = data.extra_sections_mut();
        for (name, value) in extra {
            match (sections.get_mut(&name), value) {
                (Some(serde_json::Value::Object(mine)), serde_json::Value::Object(theirs)) => {
                    mine.extend(theirs)
                }
                (_, value) => {
                    sections.insert(name, value);
                }
            }
            changed = true;
        }
        if changed {
            state.mark_changed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_is_exclusive_bounded_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache.json");
        let held = CacheFileLock::acquire(&cache).unwrap();
        assert_eq!(held.lock_file(), dir.path().join("cache.json.lockfile"));
        let content = fs::read_to_string(held.lock_file()).unwrap();
        assert!(
            content.starts_with(&format!("{} ", std::process::id())),
            "{content}"
        );
        let started = Instant::now();
        match CacheFileLock::acquire_within(&cache, Duration::from_millis(300)) {
            Err(CacheError::Locked {
                lock_file, holder, ..
            }) => {
                assert!(lock_file.ends_with("cache.json.lockfile"));
                assert_eq!(holder, content.trim());
            }
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(held);
        assert!(
            !dir.path().join("cache.json.lockfile").exists(),
            "removed on release"
        );
        let again = CacheFileLock::acquire_within(&cache, Duration::from_millis(300)).unwrap();
        drop(again);
        // A lock file left behind by a killed process: bounded wait, then the error names it.
        fs::write(dir.path().join("cache.json.lockfile"), "12345 killed-program").unwrap();
        match CacheFileLock::acquire_within(&cache, Duration::from_millis(200)) {
            Err(e @ CacheError::Locked { .. }) => {
                let message = e.to_string();
                assert!(
                    message.contains("cache.json.lockfile") && message.contains("12345 killed-program"),
                    "{message}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn merging_adds_and_replaces_and_keeps_what_others_wrote() {
        let entry = |client: &str, secret: &str| {
            serde_json::json!({
                "credential_type": "AccessToken", "secret": secret, "home_account_id": null,
                "environment": "e", "client_id": client, "target": "t", "realm": "r",
                "cached_at": "1", "expires_on": "4102444800", "extended_expires_on": "4102444800"
            })
        };
        let file = TokenCache::from_json(
            &serde_json::json!({
                "AccessToken": {"-e-accesstoken-a-r-t": entry("a", "old-a"), "-e-accesstoken-b-r-t": entry("b", "b")},
                "Other": {"x": 1}
            })
            .to_string(),
        )
        .unwrap();
        let mine = TokenCache::from_json(
            &serde_json::json!({
                "AccessToken": {"-e-accesstoken-a-r-t": entry("a", "new-a"), "-e-accesstoken-c-r-t": entry("c", "c")},
                "Other": {"y": 2}
            })
            .to_string(),
        )
        .unwrap();
        file.merge_from(&mine);
        assert!(file.has_state_changed());
        let merged: serde_json::Value = serde_json::from_str(&file.serialize()).unwrap();
        let tokens = merged["AccessToken"].as_object().unwrap();
        assert_eq!(tokens.len(), 3);
        assert_eq!(tokens["-e-accesstoken-a-r-t"]["secret"], "new-a");
        assert_eq!(tokens["-e-accesstoken-b-r-t"]["secret"], "b");
        assert_eq!(merged["Other"], serde_json::json!({"x": 1, "y": 2}));
        // Merging an empty cache changes nothing.
        file.merge_from(&TokenCache::new());
        assert!(!file.has_state_changed());
    }
}

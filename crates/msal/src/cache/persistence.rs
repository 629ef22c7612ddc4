//! Where a [`TokenCache`] is kept between runs, behind one trait
//! ([`Persistence`], msal-extensions' `BasePersistence`): a plain file
//! ([`FilePersistence`]) or the OS keyring (`KeyringPersistence`, feature
//! `keyring`). [`PersistedCache`] owns the sequence every store shares,
//! "take the cross-process lock, reload if another process saved since we
//! last looked, change, save, release", so no caller writes it twice.
//!
//! Blocking throughout: async callers run it from `spawn_blocking`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::lock::{CacheFileLock, DEFAULT_LOCK_WAIT};
use super::{State, TokenCache};
use crate::error::CacheError;

/// A place a serialized token cache is kept. Object-safe, so stores can be
/// chosen at run time (`Box<dyn Persistence>`).
pub trait Persistence: Send + Sync + fmt::Debug {
    /// What is stored, as a cache of its own; `None` when nothing has been
    /// saved yet. Stores that receive the JSON as bytes zeroize their copy
    /// once it is parsed.
    fn load(&self) -> Result<Option<TokenCache>, CacheError>;

    /// Stores `cache` (the unified JSON), replacing what was there. Resets
    /// the cache's [`has_state_changed`](TokenCache::has_state_changed).
    fn save(&self, cache: &TokenCache) -> Result<(), CacheError>;

    /// When the stored cache last changed (the file's modification time, or
    /// the keyring's signal file's); `None` when nothing was saved yet.
    /// [`PersistedCache`] reloads when it differs from what it last saw.
    fn modified(&self) -> Result<Option<SystemTime>, CacheError>;

    /// Where the cache is, for people: messages and `msal status`.
    fn location(&self) -> String;

    /// The path the cross-process lock is derived from: the lock file is
    /// `<lock_path>.lockfile`, as every MSAL extension names it.
    fn lock_path(&self) -> &Path;

    /// Whether the store encrypts what it holds (msal-extensions'
    /// `is_encrypted`).
    fn is_encrypted(&self) -> bool {
        false
    }
}

/// A token cache in a plain JSON file, the form every MSAL shares: read as
/// a stream and written atomically by [`TokenCache::load_from_file`] and
/// [`TokenCache::save_to_file`].
#[derive(Clone, Debug)]
pub struct FilePersistence {
    path: PathBuf,
}

impl FilePersistence {
    /// The file at `path` (created on the first save, with its directory).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FilePersistence { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl FilePersistence {
    /// Refuses a symbolic link (see [`CacheError::SymlinkRefused`]); says
    /// whether the file exists.
    fn check_not_symlink(&self) -> Result<bool, CacheError> {
        match std::fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.file_type().is_symlink() => Err(CacheError::SymlinkRefused {
                path: self.path.display().to_string(),
                target: std::fs::read_link(&self.path)
                    .map(|t| t.display().to_string())
                    .unwrap_or_default(),
            }),
            Ok(_) => Ok(true),
            Err(_) => Ok(false),
        }
    }
}

impl Persistence for FilePersistence {
    fn load(&self) -> Result<Option<TokenCache>, CacheError> {
        // Absent means never saved; load_from_file refuses non-files itself.
        if !self.check_not_symlink()? {
            return Ok(None);
        }
        TokenCache::load_from_file(&self.path).map(Some)
    }

    fn save(&self, cache: &TokenCache) -> Result<(), CacheError> {
        self.check_not_symlink()?;
        cache.save_to_file(&self.path)
    }

    fn modified(&self) -> Result<Option<SystemTime>, CacheError> {
        modified_time(&self.path)
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn lock_path(&self) -> &Path {
        &self.path
    }
}

/// The modification time of `path`, `None` when it does not exist.
pub(crate) fn modified_time(path: &Path) -> Result<Option<SystemTime>, CacheError> {
    match std::fs::metadata(path).and_then(|m| m.modified()) {
        Ok(time) => Ok(Some(time)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CacheError::Io {
            path: path.display().to_string(),
            source: Arc::new(e),
        }),
    }
}

/// A [`TokenCache`] kept in a [`Persistence`] and shared with other
/// processes (msal-extensions' `PersistedTokenCache`): every change happens
/// under the cross-process lock on the freshest stored contents, so
/// concurrent programs never lose each other's updates. Cloning is cheap;
/// clones share the cache and the store.
#[derive(Clone)]
pub struct PersistedCache {
    inner: Arc<Inner>,
    lock_wait: Duration,
}

struct Inner {
    persistence: Box<dyn Persistence>,
    cache: TokenCache,
    /// The store's modification time when this cache last matched it;
    /// `None` until the first load.
    seen: Mutex<Option<Option<SystemTime>>>,
}

impl fmt::Debug for PersistedCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The cache itself is left out: it holds tokens.
        f.debug_struct("PersistedCache")
            .field("persistence", &self.inner.persistence)
            .finish_non_exhaustive()
    }
}

impl PersistedCache {
    /// An empty cache over `persistence`; nothing is read until first used.
    pub fn new(persistence: impl Persistence + 'static) -> Self {
        PersistedCache::from_boxed(Box::new(persistence))
    }

    /// The same, for a store chosen at run time.
    pub fn from_boxed(persistence: Box<dyn Persistence>) -> Self {
        PersistedCache {
            inner: Arc::new(Inner {
                persistence,
                cache: TokenCache::new(),
                seen: Mutex::new(None),
            }),
            lock_wait: DEFAULT_LOCK_WAIT,
        }
    }

    /// How long [`lock`](Self::lock) waits for another process's lock
    /// (default [`DEFAULT_LOCK_WAIT`]); clones made after keep it.
    pub fn with_lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// The in-memory cache: give it to applications (`.token_cache(...)`).
    pub fn cache(&self) -> &TokenCache {
        &self.inner.cache
    }

    /// The store.
    pub fn persistence(&self) -> &dyn Persistence {
        self.inner.persistence.as_ref()
    }

    /// Reloads the cache when the store changed since it was last read or
    /// written (or was never read), without the lock: for reads that
    /// change nothing. Whether it reloaded.
    pub fn refresh(&self) -> Result<bool, CacheError> {
        let mut seen = self.inner.seen.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.inner.persistence.modified()?;
        if *seen == Some(now) {
            return Ok(false);
        }
        match self.inner.persistence.load()? {
            Some(fresh) => self.inner.cache.adopt(fresh),
            // Nothing stored (or removed): nothing cached either.
            None => self.inner.cache.adopt(TokenCache::new()),
        }
        *seen = Some(now);
        Ok(true)
    }

    /// Takes the cross-process lock (waiting a bounded time) and reloads
    /// the cache if another process saved meanwhile. Change
    /// [`cache`](Self::cache), then [`PersistedCacheGuard::save_if_changed`];
    /// dropping the guard releases the lock.
    pub fn lock(&self) -> Result<PersistedCacheGuard, CacheError> {
        let lock = CacheFileLock::acquire_within(self.inner.persistence.lock_path(), self.lock_wait)?;
        self.refresh()?;
        Ok(PersistedCacheGuard {
            owner: self.clone(),
            _lock: lock,
        })
    }

    /// Lock, reload if changed, `change`, save if anything changed, unlock.
    pub fn modify<R>(&self, change: impl FnOnce(&TokenCache) -> R) -> Result<R, CacheError> {
        let guard = self.lock()?;
        let result = change(self.cache());
        guard.save_if_changed()?;
        Ok(result)
    }
}

/// The cross-process lock on a [`PersistedCache`], held until dropped.
#[derive(Debug)]
pub struct PersistedCacheGuard {
    owner: PersistedCache,
    _lock: CacheFileLock,
}

impl PersistedCacheGuard {
    /// The cache, as loaded under the lock.
    pub fn cache(&self) -> &TokenCache {
        self.owner.cache()
    }

    /// Saves the cache when entries were added or removed since it was
    /// loaded or saved, keeping the lock. Whether it saved: a command that
    /// changed nothing leaves the store (and its timestamp) alone.
    pub fn save_if_changed(&self) -> Result<bool, CacheError> {
        let inner = &self.owner.inner;
        if !inner.cache.has_state_changed() {
            return Ok(false);
        }
        let mut seen = inner.seen.lock().unwrap_or_else(|p| p.into_inner());
        inner.persistence.save(&inner.cache)?;
        *seen = Some(inner.persistence.modified()?);
        Ok(true)
    }
}

impl TokenCache {
    /// Takes over `other`'s entries (already indexed), dropping this
    /// cache's; marks the result unchanged, as freshly loaded.
    pub(crate) fn adopt(&self, other: TokenCache) {
        // The account listings its load built come along (see `install`).
        let (fresh, listings) = {
            let mut theirs = other.write();
            let listings = std::mem::take(theirs.listings.get_mut().unwrap_or_else(|p| p.into_inner()));
            (std::mem::take(&mut theirs.data), listings)
        };
        let old = {
            let mut state: std::sync::RwLockWriteGuard<'_, State> = self.write();
            *state.changed.get_mut() = false;
            *state.listings.get_mut().unwrap_or_else(|p| p.into_inner()) = listings;
            std::mem::replace(&mut state.data, fresh)
        };
        // Dropped outside the lock: a large cache takes a while to free.
        drop(old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE_TOKEN: &str = r#"{"AccessToken": {"-e-accesstoken-a-r-t": {
        "credential_type": "AccessToken", "secret": "secret-1", "home_account_id": null,
        "environment": "e", "client_id": "a", "target": "t", "realm": "r",
        "cached_at": "1", "expires_on": "4102444800", "extended_expires_on": "4102444800"}}}"#;

    #[cfg(unix)]
    #[test]
    fn a_symlinked_shared_cache_is_refused_and_its_target_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real.json");
        std::fs::write(&target, ONE_TOKEN).unwrap();
        let link = dir.path().join("cache.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let store = PersistedCache::new(FilePersistence::new(&link));
        for result in [
            store.refresh().map(|_| ()),
            store.modify(|c| c.merge_from(&TokenCache::new())),
        ] {
            match result {
                Err(CacheError::SymlinkRefused { path, target: to }) => {
                    assert_eq!(path, link.display().to_string());
                    assert_eq!(to, target.display().to_string());
                }
                other => panic!("{other:?}"),
            }
        }
        let direct = FilePersistence::new(&link);
        assert!(matches!(
            direct.save(&TokenCache::new()),
            Err(CacheError::SymlinkRefused { .. })
        ));
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            ONE_TOKEN,
            "target untouched"
        );
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    }

    #[test]
    fn a_file_store_reloads_what_another_instance_saved_and_saves_only_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        let first = PersistedCache::new(FilePersistence::new(&path));
        assert!(first.persistence().load().unwrap().is_none(), "nothing saved yet");
        assert_eq!(first.persistence().modified().unwrap(), None);
        assert_eq!(first.persistence().lock_path(), path);
        assert!(!first.persistence().is_encrypted());

        first
            .modify(|cache| cache.merge_from(&TokenCache::from_json(ONE_TOKEN).unwrap()))
            .unwrap();
        assert!(path.exists() && !dir.path().join("cache.json.lockfile").exists());

        let second = PersistedCache::new(FilePersistence::new(&path));
        assert!(second.refresh().unwrap(), "first read loads");
        assert_eq!(second.cache().access_token_count(), 1);
        assert!(!second.refresh().unwrap(), "unchanged: not read again");

        // An unchanged cache is not written: the file's time stays.
        let before = first.persistence().modified().unwrap();
        let guard = first.lock().unwrap();
        assert!(!guard.save_if_changed().unwrap());
        drop(guard);
        assert_eq!(first.persistence().modified().unwrap(), before);

        // The file removed by someone else: the next read empties the cache.
        std::fs::remove_file(&path).unwrap();
        assert!(second.refresh().unwrap());
        assert_eq!(second.cache().access_token_count(), 0);
    }

    #[test]
    fn a_malformed_file_is_an_error_and_the_cache_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        let persisted = PersistedCache::new(FilePersistence::new(&path));
        std::fs::write(&path, ONE_TOKEN).unwrap();
        assert!(persisted.refresh().unwrap());
        std::fs::write(&path, "{ not json").unwrap();
        assert!(matches!(persisted.refresh(), Err(CacheError::Malformed { .. })));
        assert_eq!(persisted.cache().access_token_count(), 1);
        assert!(matches!(persisted.lock(), Err(CacheError::Malformed { .. })));
        assert!(
            !dir.path().join("cache.json.lockfile").exists(),
            "lock released on error"
        );
    }
}

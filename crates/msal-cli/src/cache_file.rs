//! The token cache of the user commands (`login`, `token`, `accounts`,
//! `logout`, `status`): which store holds it (`--cache-store file|keyring`,
//! or a `redis://` `--cache`), where it lives by default (one location for
//! every command), that it can be written before anything is asked of the
//! identity provider, how it is read and saved under its cross-process
//! lock (the one sequence, [`PersistedCache`], for the file and the
//! keyring), and an application that can read it without ever touching the
//! network.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::ValueEnum;
use msal::TransportErrorKind;
use msal::cache::{FilePersistence, PersistedCache, PersistedCacheGuard, Persistence};
use msal::http::{BoxFuture, HttpClient, HttpRequest, HttpResponse};
use msal::{CacheError, Error, PublicClientApplication, TokenCache, TransportError};
use serde::Deserialize;

use crate::config::Settings;
use crate::redis_cache::{self, RedisCache};
use crate::remembered::Remembered;

/// The cache file's name inside the `msal` cache directory.
const CACHE_FILE_NAME: &str = "token_cache.json";

/// The client id used where one is needed only to build an application:
/// listing accounts reads entries of every client, so any id will do.
pub(crate) const PLACEHOLDER_CLIENT_ID: &str = "msal-cli";

/// The cache file to use: `explicit` when given, else the user's cache
/// directory, `$XDG_CACHE_HOME/msal/token_cache.json` or
/// `$HOME/.cache/msal/token_cache.json`.
pub(crate) fn cache_path(explicit: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    default_cache_path(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME")).ok_or_else(|| {
        Error::InvalidArgument(
            "no default token cache location: set XDG_CACHE_HOME or HOME, or pass --cache".into(),
        )
    })
}

/// The default path from the values of `XDG_CACHE_HOME` and `HOME`.
fn default_cache_path(xdg_cache_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    // The XDG base directory spec says relative values are invalid and must be ignored.
    let xdg = xdg_cache_home.map(PathBuf::from).filter(|p| p.is_absolute());
    let base = match xdg {
        Some(dir) => dir,
        None => PathBuf::from(home.filter(|h| !h.is_empty())?).join(".cache"),
    };
    Some(base.join("msal").join(CACHE_FILE_NAME))
}

/// Creates the directory the cache file goes in, before the user spends
/// time signing in, so a path that cannot be written fails first. New
/// directories are owner-only: the file holds credentials.
pub(crate) fn prepare_dir(path: &Path) -> Result<(), Error> {
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| {
        Error::Cache(CacheError::Io {
            path: dir.display().to_string(),
            source: Arc::new(e),
        })
    })
}

/// Checks that the cache file at `path` can be written, creating its
/// directory if needed: a file is created in the directory and removed, as
/// saving will (a temporary file, then a rename). Fails with a message
/// naming the directory, before anything is asked of the identity provider.
pub(crate) fn ensure_writable(path: &Path) -> Result<(), Error> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let unwritable = |e: std::io::Error| {
        Error::InvalidArgument(format!(
            "cannot write the token cache {} ({e} in {}): pass --cache with a location you can write, \
             or fix that directory's permissions",
            path.display(),
            dir.display()
        ))
    };
    prepare_dir(path).map_err(|e| match e {
        Error::Cache(CacheError::Io { source, .. }) => {
            unwritable(std::io::Error::new(source.kind(), source.to_string()))
        }
        other => other,
    })?;
    let mut name = path.file_name().map(OsString::from).unwrap_or_default();
    name.push(format!(".{}.write-check", std::process::id()));
    let probe = dir.join(name);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(unwritable)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Where the token cache is kept (`--cache-store`, `MSAL_CACHE_STORE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StoreKind {
    /// A plain JSON file, shared with MSAL Python and the other MSALs.
    #[default]
    File,
    /// The OS keyring (the Secret Service on Linux), encrypted; `--cache`
    /// then names its signal file.
    Keyring,
}

/// The store options every command shares (global flags).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StoreChoice {
    /// `--cache-store` (or `MSAL_CACHE_STORE`), if given.
    pub kind: Option<StoreKind>,
    /// With the keyring: fall back to an unencrypted file, with a warning,
    /// where no keyring is reachable (`--allow-unencrypted-cache`).
    pub allow_unencrypted: bool,
}

impl StoreChoice {
    /// The cache a command uses: the store and the location from the
    /// command line, else the environment, else the config file, else
    /// the defaults.
    pub(crate) fn target(self, settings: &Settings, cache_flag: Option<&Path>) -> CacheTarget {
        CacheTarget {
            kind: settings.cache_store(self.kind),
            allow_unencrypted: self.allow_unencrypted,
            location: settings.cache(cache_flag),
        }
    }
}

/// The token cache one command uses: which store, and where.
#[derive(Clone, Debug, Default)]
pub(crate) struct CacheTarget {
    pub kind: StoreKind,
    pub allow_unencrypted: bool,
    /// A file (the keyring's signal file), or a `redis://` URL; `None`: the default.
    pub location: Option<PathBuf>,
}

impl CacheTarget {
    /// The `redis://` URL, when the cache is in Redis.
    fn redis_url(&self) -> Option<&str> {
        self.location
            .as_deref()
            .and_then(Path::to_str)
            .filter(|l| redis_cache::is_redis_url(l))
    }

    /// The cache file (or keyring signal file): the location given, else
    /// the default of this kind of store. Not for Redis.
    pub(crate) fn path(&self) -> Result<PathBuf, Error> {
        let explicit = self.location.as_deref();
        let path = cache_path(explicit)?;
        if explicit.is_some() || self.kind == StoreKind::File {
            return Ok(path);
        }
        // Not the file store's name: the keyring's signal file is emptied on
        // every save, and a file store's cache there must not be.
        Ok(path.with_file_name(KEYRING_SIGNAL_NAME))
    }

    /// The store, ready to be read or locked. Nothing is read or created
    /// yet, except that the keyring is probed when a fallback is allowed.
    pub(crate) async fn open(&self) -> Result<CacheStore, Error> {
        if let Some(url) = self.redis_url() {
            if self.kind == StoreKind::Keyring {
                return Err(Error::InvalidArgument(format!(
                    "--cache {} is a Redis server, which is a store of its own: drop --cache-store keyring \
                     (or MSAL_CACHE_STORE, or cache_store in the config file)",
                    redis_cache::without_password(url)
                )));
            }
            return Ok(CacheStore {
                backend: Backend::Redis(Box::new(RedisCache::new(url)?)),
            });
        }
        let path = self.path()?;
        let persistence: Box<dyn Persistence> = match self.kind {
            StoreKind::File => Box::new(FilePersistence::new(&path)),
            StoreKind::Keyring => keyring_store(&path, self.allow_unencrypted).await?,
        };
        Ok(CacheStore {
            backend: Backend::Persisted {
                persisted: PersistedCache::from_boxed(persistence),
                path,
            },
        })
    }

    /// Opens the store and locks it, for a command that changes it.
    pub(crate) async fn lock(&self) -> Result<LockedCache, Error> {
        self.open().await?.lock().await
    }
}

/// The keyring store's signal file in the default cache directory.
const KEYRING_SIGNAL_NAME: &str = "token_cache.keyring";

/// The keyring entry of the cache at `path`: msal-extensions' defaults
/// (schema = SHA-256 of the path), so MSAL Python's
/// `build_encrypted_persistence(path)` shares it. With `allow_unencrypted`,
/// the keyring is probed and, where unusable, the file at `path` is used
/// instead, with a warning.
#[cfg(target_os = "linux")]
async fn keyring_store(path: &Path, allow_unencrypted: bool) -> Result<Box<dyn Persistence>, Error> {
    use msal::cache::{KeyringOptions, KeyringPersistence};
    let keyring = KeyringPersistence::with_options(
        path,
        KeyringOptions::default().label("MSAL token cache (msal command line)"),
    );
    if !allow_unencrypted {
        return Ok(Box::new(keyring));
    }
    let fallback = FilePersistence::new(path);
    // The probe talks to D-Bus (bounded): off the async runtime.
    blocking(move || Ok(keyring.or_plaintext_fallback(fallback))).await
}

/// No keyring store is built for this platform yet (macOS Keychain and
/// Windows DPAPI are not implemented): an error, or with
/// `allow_unencrypted` the file at `path`, with a warning.
#[cfg(not(target_os = "linux"))]
async fn keyring_store(path: &Path, allow_unencrypted: bool) -> Result<Box<dyn Persistence>, Error> {
    let unsupported =
        msal::KeyringError::Unsupported("the keyring store is implemented for the Linux Secret Service only");
    if !allow_unencrypted {
        return Err(Error::Cache(CacheError::Keyring(unsupported)));
    }
    eprintln!(
        "warning: {unsupported}; the token cache is stored UNENCRYPTED in {}",
        path.display()
    );
    Ok(Box::new(FilePersistence::new(path)))
}

/// Runs blocking store work (D-Bus, file locks) off the async runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, CacheError> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::InvalidArgument(format!("the token cache work stopped: {e}")))?
        .map_err(Error::Cache)
}

/// The token cache store one command uses.
pub(crate) struct CacheStore {
    backend: Backend,
}

enum Backend {
    /// A file, or the keyring with its signal file: under the file lock.
    Persisted {
        persisted: PersistedCache,
        path: PathBuf,
    },
    /// One Redis key; no lock (the last writer wins).
    Redis(Box<RedisCache>),
}

impl CacheStore {
    /// Where the cache is, for people.
    pub(crate) fn location(&self) -> String {
        match &self.backend {
            Backend::Persisted { persisted, .. } => persisted.persistence().location(),
            Backend::Redis(redis) => redis.location(),
        }
    }

    /// The cache as stored now, without the lock: for commands that only read.
    pub(crate) async fn read(&self) -> Result<TokenCache, Error> {
        match &self.backend {
            Backend::Persisted { persisted, .. } => {
                let persisted = persisted.clone();
                let cache = persisted.cache().clone();
                blocking(move || persisted.refresh()).await?;
                Ok(cache)
            }
            Backend::Redis(redis) => {
                redis.load().await?;
                Ok(redis.cache().clone())
            }
        }
    }

    /// Fails unless the cache can be saved: the file's directory can be
    /// written (created if needed), or Redis answers. Commands call it
    /// before anything is asked of the identity provider.
    pub(crate) async fn ensure_writable(&self) -> Result<(), Error> {
        match &self.backend {
            Backend::Persisted { path, .. } => ensure_writable(path),
            Backend::Redis(redis) => redis.check_reachable().await,
        }
    }

    /// Takes the lock (waiting a bounded time) and loads the cache.
    pub(crate) async fn lock(self) -> Result<LockedCache, Error> {
        let (cache, guard) = match &self.backend {
            Backend::Persisted { persisted, path } => {
                ensure_writable(path)?;
                let locking = persisted.clone();
                let guard = blocking(move || locking.lock()).await?;
                (persisted.cache().clone(), Some(guard))
            }
            Backend::Redis(redis) => {
                redis.load().await?;
                (redis.cache().clone(), None)
            }
        };
        Ok(LockedCache {
            cache,
            store: self,
            lock: CacheLock(guard),
        })
    }

    /// What `msal login` remembered next to this cache (nothing if it
    /// cannot be read: a sign-in can always be named on the command line).
    /// Fails only when Redis does not answer.
    pub(crate) async fn remembered(&self) -> Result<Remembered, Error> {
        match &self.backend {
            Backend::Persisted { path, .. } => Ok(crate::remembered::read_file(path)),
            Backend::Redis(redis) => Ok(redis
                .get_text(redis_cache::SIGN_INS_PARTITION)
                .await?
                .map(|text| Remembered::parse(&text))
                .unwrap_or_default()),
        }
    }

    /// Changes what is remembered. Call it under the cache's lock; a failure
    /// to write is a warning: the sign-in or sign-out itself is done.
    pub(crate) async fn update_remembered(&self, change: impl FnOnce(&mut Remembered) -> bool) {
        let mut remembered = match self.remembered().await {
            Ok(remembered) => remembered,
            Err(e) => {
                eprintln!("warning: could not remember how this sign-in was made: {e}");
                return;
            }
        };
        if !change(&mut remembered) {
            return;
        }
        let written = match &self.backend {
            Backend::Persisted { path, .. } => crate::remembered::write_file(path, &remembered)
                .map_err(|e| format!("{} ({e})", crate::remembered::file_of(path).display())),
            Backend::Redis(redis) => redis
                .set_text(redis_cache::SIGN_INS_PARTITION, &remembered.to_json())
                .await
                .map_err(|e| e.to_string()),
        };
        if let Err(e) = written {
            eprintln!("warning: could not remember how this sign-in was made: {e}");
        }
    }
}

/// The cross-process lock on the cache, where the store has one; released when dropped.
#[must_use = "the lock is released when this is dropped"]
pub(crate) struct CacheLock(Option<PersistedCacheGuard>);

/// A token cache loaded under its cross-process lock (msal-extensions'
/// `<cache>.lockfile`), held until the command has saved it: concurrent
/// `msal` commands, and other MSAL programs on the same store, never lose
/// each other's updates, whichever store holds the cache. (Redis has no
/// lock: the last writer wins.)
pub(crate) struct LockedCache {
    pub cache: TokenCache,
    pub store: CacheStore,
    lock: CacheLock,
}

impl LockedCache {
    /// Saves the cache if entries changed, then releases the lock.
    pub(crate) async fn save_if_changed(self) -> Result<bool, Error> {
        let (saved, _lock, _store) = self.save_keeping_lock().await?;
        Ok(saved)
    }

    /// Saves the cache if entries changed and hands back the lock and the
    /// store, for work that must still happen under the lock.
    pub(crate) async fn save_keeping_lock(self) -> Result<(bool, CacheLock, CacheStore), Error> {
        let LockedCache { store, lock, .. } = self;
        let saved = match (&store.backend, lock.0) {
            (Backend::Redis(redis), _) => (redis.save_if_changed().await?, CacheLock(None)),
            (Backend::Persisted { .. }, Some(guard)) => {
                blocking(move || {
                    let saved = guard.save_if_changed()?;
                    Ok((saved, CacheLock(Some(guard))))
                })
                .await?
            }
            (Backend::Persisted { .. }, None) => {
                return Err(Error::InvalidArgument(
                    "internal error: the token cache was saved without its lock".into(),
                ));
            }
        };
        Ok((saved.0, saved.1, store))
    }
}

/// Applies what a sign-in produced in `scratch` (a cache of its own, so the
/// user could take their time without holding the lock) to the store's
/// current contents, under its lock: entries other processes added or
/// removed meanwhile stay as they are. Hands back the store and the lock,
/// for what must still happen under it.
pub(crate) async fn merge_into(
    store: CacheStore,
    scratch: &TokenCache,
) -> Result<(CacheStore, CacheLock), Error> {
    let locked = store.lock().await?;
    locked.cache.merge_from(scratch);
    let (_, lock, store) = locked.save_keeping_lock().await?;
    Ok((store, lock))
}

/// A transport that refuses every request: the commands that only read or
/// edit the cache use it, so they provably never reach the network.
#[derive(Clone, Copy, Debug)]
struct OfflineHttp;

impl HttpClient for OfflineHttp {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let mut url = request.url;
        url.set_query(None);
        Box::pin(async move {
            Err(TransportError::new(
                TransportErrorKind::Other,
                url.to_string(),
                "this command works on the token cache only and sends no requests",
            ))
        })
    }
}

/// An application over `cache` that never sends a request. Instance
/// discovery only decides whether the known aliases of a Microsoft cloud
/// are searched too; it never causes a request here.
pub(crate) fn offline_app(
    client_id: &str,
    authority: &str,
    instance_discovery: bool,
    cache: &TokenCache,
) -> Result<PublicClientApplication, Error> {
    PublicClientApplication::builder(client_id)
        .authority(authority)
        .instance_discovery(instance_discovery)
        .token_cache(cache.clone())
        .http_client(OfflineHttp)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_path_prefers_an_absolute_xdg_cache_home() {
        let path = default_cache_path(Some("/x/cache".into()), Some("/home/u".into()));
        assert_eq!(path, Some(PathBuf::from("/x/cache/msal/token_cache.json")));
        let relative = default_cache_path(Some("rel".into()), Some("/home/u".into()));
        assert_eq!(
            relative,
            Some(PathBuf::from("/home/u/.cache/msal/token_cache.json"))
        );
        let empty = default_cache_path(Some("".into()), Some("/home/u".into()));
        assert_eq!(empty, Some(PathBuf::from("/home/u/.cache/msal/token_cache.json")));
        assert_eq!(default_cache_path(None, None), None);
        assert_eq!(default_cache_path(None, Some("".into())), None);
    }

    #[test]
    fn explicit_path_wins() {
        assert_eq!(
            cache_path(Some(Path::new("c.json"))).unwrap(),
            PathBuf::from("c.json")
        );
    }

    #[test]
    fn the_keyring_store_has_a_signal_file_of_its_own_by_default() {
        let at = |kind, location: Option<&str>| CacheTarget {
            kind,
            allow_unencrypted: false,
            location: location.map(PathBuf::from),
        };
        let explicit = "/x/c.json";
        assert_eq!(
            at(StoreKind::Keyring, Some(explicit)).path().unwrap(),
            Path::new(explicit)
        );
        assert_eq!(
            at(StoreKind::File, Some(explicit)).path().unwrap(),
            Path::new(explicit)
        );
        let default_file = at(StoreKind::File, None).path().unwrap();
        let default_keyring = at(StoreKind::Keyring, None).path().unwrap();
        assert_eq!(default_file.file_name().unwrap(), CACHE_FILE_NAME);
        assert_eq!(default_keyring, default_file.with_file_name(KEYRING_SIGNAL_NAME));
    }

    #[test]
    fn a_cache_that_cannot_be_written_is_named_before_anything_else() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b/cache.json");
        ensure_writable(&nested).unwrap();
        assert!(nested.parent().unwrap().is_dir());
        assert_eq!(
            std::fs::read_dir(nested.parent().unwrap()).unwrap().count(),
            0,
            "the probe is removed"
        );
        // A directory where a file is: the message names the cache.
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let error = ensure_writable(&file.join("cache.json")).unwrap_err().to_string();
        assert!(
            error.contains(&file.join("cache.json").display().to_string()),
            "{error}"
        );
        assert!(error.contains("--cache"), "{error}");
    }

    #[tokio::test]
    async fn redis_and_the_keyring_do_not_mix() {
        let target = CacheTarget {
            kind: StoreKind::Keyring,
            allow_unencrypted: false,
            location: Some(PathBuf::from("redis://:pw@127.0.0.1:1/0")),
        };
        let Err(error) = target.open().await else {
            panic!("refused");
        };
        let message = error.to_string();
        assert!(
            message.contains("--cache-store keyring") && !message.contains("pw"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn the_offline_transport_refuses_requests() {
        let request = HttpRequest::new(
            msal::http::Method::Get,
            "https://example.com/x?secret=1".parse().unwrap(),
        );
        let error = OfflineHttp.execute(request).await.unwrap_err();
        assert_eq!(error.url, "https://example.com/x");
    }
}

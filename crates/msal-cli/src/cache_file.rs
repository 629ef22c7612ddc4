//! The token cache of the user commands (`login`, `token`, `accounts`,
//! `logout`, `status`): which store holds it (`--cache-store file|keyring`),
//! where it lives by default, how it is read and saved under its
//! cross-process lock (the one sequence, [`PersistedCache`], whichever
//! store), and an application that can read it without ever touching the
//! network.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::ValueEnum;
use msal::TransportErrorKind;
use msal::cache::{FilePersistence, PersistedCache, PersistedCacheGuard, Persistence};
use msal::http::{BoxFuture, HttpClient, HttpRequest, HttpResponse};
use msal::{CacheError, Error, PublicClientApplication, TokenCache, TransportError};

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

/// Where the token cache is kept (`--cache-store`, `MSAL_CACHE_STORE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
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
    pub kind: StoreKind,
    /// With the keyring: fall back to an unencrypted file, with a warning,
    /// where no keyring is reachable (`--allow-unencrypted-cache`).
    pub allow_unencrypted: bool,
}

impl StoreChoice {
    /// The cache location: `explicit` when given, else the default of this
    /// kind of store.
    pub(crate) fn path(&self, explicit: Option<&Path>) -> Result<PathBuf, Error> {
        let path = cache_path(explicit)?;
        if explicit.is_some() || self.kind == StoreKind::File {
            return Ok(path);
        }
        // Not the file store's name: the keyring's signal file is emptied on
        // every save, and a file store's cache there must not be.
        Ok(path.with_file_name(KEYRING_SIGNAL_NAME))
    }

    /// The store at `explicit` (or the default), ready to be read or locked.
    /// Nothing is read or created yet, except that the keyring is probed
    /// when a fallback is allowed.
    pub(crate) async fn open(self, explicit: Option<&Path>) -> Result<CacheStore, Error> {
        let path = self.path(explicit)?;
        let persistence: Box<dyn Persistence> = match self.kind {
            StoreKind::File => Box::new(FilePersistence::new(&path)),
            StoreKind::Keyring => keyring_store(&path, self.allow_unencrypted).await?,
        };
        Ok(CacheStore {
            persisted: PersistedCache::from_boxed(persistence),
            path,
        })
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
    persisted: PersistedCache,
    path: PathBuf,
}

impl CacheStore {
    /// The cache file, or the keyring's signal file: what the lock file,
    /// the remembered sign-ins and messages are named after.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Where the cache is, for people.
    pub(crate) fn location(&self) -> String {
        self.persisted.persistence().location()
    }

    /// The cache as stored now, without the lock: for commands that only read.
    pub(crate) async fn read(&self) -> Result<TokenCache, Error> {
        let persisted = self.persisted.clone();
        blocking(move || persisted.refresh()).await?;
        Ok(self.persisted.cache().clone())
    }

    /// Takes the lock (waiting a bounded time) and loads the cache.
    pub(crate) async fn lock(self) -> Result<LockedCache, Error> {
        prepare_dir(&self.path)?;
        let persisted = self.persisted.clone();
        let guard = blocking(move || persisted.lock()).await?;
        Ok(LockedCache {
            cache: self.persisted.cache().clone(),
            guard,
            store: self,
        })
    }
}

/// A token cache loaded under its cross-process lock (msal-extensions'
/// `<cache>.lockfile`), held until the command has saved it: concurrent
/// `msal` commands, and other MSAL programs on the same store, never lose
/// each other's updates, whichever store holds the cache.
pub(crate) struct LockedCache {
    pub cache: TokenCache,
    pub store: CacheStore,
    guard: PersistedCacheGuard,
}

impl LockedCache {
    /// Opens the chosen store at `explicit` (or the default) and locks it.
    pub(crate) async fn open(choice: StoreChoice, explicit: Option<&Path>) -> Result<LockedCache, Error> {
        choice.open(explicit).await?.lock().await
    }

    /// Saves the cache if entries changed, then releases the lock.
    pub(crate) async fn save_if_changed(self) -> Result<bool, Error> {
        let (saved, _guard) = self.save_keeping_lock().await?;
        Ok(saved)
    }

    /// Saves the cache if entries changed and hands back the lock, for
    /// work that must still happen under it.
    pub(crate) async fn save_keeping_lock(self) -> Result<(bool, PersistedCacheGuard), Error> {
        blocking(move || {
            let saved = self.guard.save_if_changed()?;
            Ok((saved, self.guard))
        })
        .await
    }
}

/// Applies what a sign-in produced in `scratch` (a cache of its own, so the
/// user could take their time without holding the lock) to the store's
/// current contents, under its lock: entries other processes added or
/// removed meanwhile stay as they are.
/// `then` runs under the lock too, after the save.
pub(crate) async fn merge_into(
    store: CacheStore,
    scratch: &TokenCache,
    then: impl FnOnce(),
) -> Result<(), Error> {
    let locked = store.lock().await?;
    locked.cache.merge_from(scratch);
    let (_, lock) = locked.save_keeping_lock().await?;
    then();
    drop(lock);
    Ok(())
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
        let keyring = StoreChoice {
            kind: StoreKind::Keyring,
            allow_unencrypted: false,
        };
        let file = StoreChoice::default();
        let explicit = Path::new("/x/c.json");
        assert_eq!(keyring.path(Some(explicit)).unwrap(), explicit);
        assert_eq!(file.path(Some(explicit)).unwrap(), explicit);
        let default_file = file.path(None).unwrap();
        let default_keyring = keyring.path(None).unwrap();
        assert_eq!(default_file.file_name().unwrap(), CACHE_FILE_NAME);
        assert_eq!(default_keyring, default_file.with_file_name(KEYRING_SIGNAL_NAME));
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

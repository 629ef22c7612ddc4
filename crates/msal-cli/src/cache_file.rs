//! The token cache file of the user commands (`login`, `accounts`, `logout`):
//! where it lives by default, how it is saved, and an application that can
//! read it without ever touching the network.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use msal::TransportErrorKind;
use msal::cache::CacheFileLock;
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

/// A cache file loaded under its cross-process lock (msal-extensions'
/// `<cache>.lockfile`), held until the command has saved it: concurrent
/// `msal` commands, and other MSAL programs on the same file, never lose
/// each other's updates.
pub(crate) struct LockedCache {
    pub cache: TokenCache,
    path: PathBuf,
    _lock: CacheFileLock,
}

impl LockedCache {
    /// Takes the lock (waiting a bounded time, off the async runtime) and loads the file.
    pub(crate) async fn open(path: &Path) -> Result<LockedCache, Error> {
        prepare_dir(path)?;
        let owned = path.to_owned();
        let lock = tokio::task::spawn_blocking(move || CacheFileLock::acquire(&owned))
            .await
            .map_err(|e| Error::InvalidArgument(format!("waiting for the cache lock stopped: {e}")))??;
        let cache = TokenCache::load_from_file(path)?;
        Ok(LockedCache {
            cache,
            path: path.to_owned(),
            _lock: lock,
        })
    }

    /// Saves the file if entries changed, then releases the lock.
    pub(crate) fn save_if_changed(self) -> Result<bool, Error> {
        save_if_changed(&self.cache, &self.path)
    }

    /// Saves the file if entries changed and hands back the lock, for work
    /// that must still happen under it.
    pub(crate) fn save_keeping_lock(self) -> Result<CacheFileLock, Error> {
        save_if_changed(&self.cache, &self.path)?;
        Ok(self._lock)
    }
}

/// Applies what a sign-in produced in `scratch` (a cache of its own, so the
/// user could take their time without holding the lock) to the file's
/// current contents, under its lock: entries other processes added or
/// removed meanwhile stay as they are.
/// `then` runs under the lock too, after the save.
pub(crate) async fn merge_into(path: &Path, scratch: &TokenCache, then: impl FnOnce()) -> Result<(), Error> {
    let locked = LockedCache::open(path).await?;
    locked.cache.merge_from(scratch);
    let lock = locked.save_keeping_lock()?;
    then();
    drop(lock);
    Ok(())
}

/// Writes the cache to `path` when entries were added or removed, so that a
/// command that changed nothing leaves the file (and its timestamp) alone.
pub(crate) fn save_if_changed(cache: &TokenCache, path: &Path) -> Result<bool, Error> {
    if !cache.has_state_changed() {
        return Ok(false);
    }
    cache.save_to_file(path)?;
    Ok(true)
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

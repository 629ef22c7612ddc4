//! Persisting a [`TokenCache`] to a plain JSON file, the form every MSAL can
//! share: loaded whole, written atomically (a temporary file renamed over the
//! old one, owner-only permissions), so a crash never leaves half a cache.

use std::fs;
use std::io::Write;
use std::path::Path;

use super::TokenCache;
use crate::error::CacheError;

impl TokenCache {
    /// Loads a cache file. A missing file is an empty cache; a malformed one
    /// is a [`CacheError::Malformed`] and is left untouched on disk.
    pub fn load_from_file(path: &Path) -> Result<Self, CacheError> {
        match fs::read_to_string(path) {
            Ok(json) => Self::from_json(&json),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::new()),
            Err(source) => Err(io_error(path, source)),
        }
    }

    /// Writes the cache to `path` atomically, creating parent directories.
    pub fn save_to_file(&self, path: &Path) -> Result<(), CacheError> {
        let json = self.serialize();
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("cache");
        let temp = dir.join(format!(".{file_name}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let result = write_private(&temp, json.as_bytes()).and_then(|()| fs::rename(&temp, path));
        if let Err(source) = result {
            let _ = fs::remove_file(&temp);
            return Err(io_error(path, source));
        }
        Ok(())
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Tokens are credentials: only the owner may read them.
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn io_error(path: &Path, source: std::io::Error) -> CacheError {
    CacheError::Io {
        path: path.display().to_string(),
        source: std::sync::Arc::new(source),
    }
}

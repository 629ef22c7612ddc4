//! Persisting a [`TokenCache`] to a plain JSON file, the form every MSAL can
//! share: read and written as a stream (no copy of the whole document is
//! built in memory, which matters at tens of megabytes), written atomically
//! (a temporary file renamed over the old one, owner-only permissions), so a
//! crash never leaves half a cache.

use std::fs;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use super::schema::CacheData;
use super::{TokenCache, malformed};
use crate::error::CacheError;

/// Large enough that a 40 MB cache takes few system calls.
const BUFFER: usize = 256 * 1024;

impl TokenCache {
    /// Loads a cache file. A missing or blank file is an empty cache; a
    /// malformed one is a [`CacheError::Malformed`] and is left untouched on
    /// disk.
    pub fn load_from_file(path: &Path) -> Result<Self, CacheError> {
        let file = match fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::new()),
            Err(source) => return Err(io_error(path, source)),
        };
        let mut reader = BufReader::with_capacity(
            BUFFER,
            Blank {
                inner: file,
                content: false,
            },
        );
        let data = match serde_json::from_reader::<_, CacheData>(&mut reader) {
            Ok(data) => data,
            Err(e) if e.is_io() => return Err(io_error(path, io::Error::from(e))),
            // Like `deserialize("")`: nothing but whitespace is an empty cache.
            Err(e) if e.is_eof() && !reader.get_ref().content => CacheData::default(),
            Err(e) => return Err(malformed(&e)),
        };
        let cache = Self::new();
        cache.replace(data);
        Ok(cache)
    }

    /// Writes the cache to `path` atomically, creating parent directories.
    /// Resets [`has_state_changed`](Self::has_state_changed).
    pub fn save_to_file(&self, path: &Path) -> Result<(), CacheError> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("cache");
        let temp = dir.join(format!(".{file_name}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let result = self.write_private(&temp).and_then(|()| fs::rename(&temp, path));
        if let Err(source) = result {
            let _ = fs::remove_file(&temp);
            return Err(io_error(path, source));
        }
        Ok(())
    }

    /// Streams the cache into a new owner-only file and syncs it to disk
    /// (after the cache's lock is released).
    fn write_private(&self, path: &Path) -> io::Result<()> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Tokens are credentials: only the owner may read them.
            options.mode(0o600);
        }
        let mut writer = BufWriter::with_capacity(BUFFER, options.open(path)?);
        self.write_json(&mut writer).map_err(io::Error::from)?;
        writer.flush()?;
        let file = writer.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()
    }
}

/// A reader that notes whether anything but whitespace went through it, so a
/// blank file can be told from a truncated one without reading it twice.
struct Blank<R> {
    inner: R,
    content: bool,
}

impl<R: Read> Read for Blank<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if !self.content {
            self.content = buf
                .get(..n)
                .is_some_and(|read| read.iter().any(|b| !b.is_ascii_whitespace()));
        }
        Ok(n)
    }
}

fn io_error(path: &Path, source: io::Error) -> CacheError {
    CacheError::Io {
        path: path.display().to_string(),
        source: std::sync::Arc::new(source),
    }
}
